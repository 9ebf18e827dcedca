"""`why5xx lint` for people: findings grouped by object, each object headed
by the file and line it starts at, then a one-line summary. Built as rich
renderables; the CLI prints them (in colour on a terminal only)."""

from __future__ import annotations

from itertools import groupby

from rich.console import Group, RenderableType
from rich.text import Text

from why5xx.lint.model import Finding, Level, LintReport

_STYLE = {Level.ERROR: "bold red", Level.WARNING: "yellow", Level.INFO: "blue"}


def _header(finding: Finding) -> Text:
    line = Text()
    if finding.location.path:
        line.append(f"{finding.location} ", style="bold")
    line.append(str(finding.object), style="cyan")
    return line


def _finding(finding: Finding) -> list[Text]:
    head = Text("  ")
    head.append(f"{finding.level.value:<7} ", style=_STYLE[finding.level])
    head.append(f"{finding.code} {finding.name}", style="bold")
    head.append(f"  {finding.field}", style="dim")
    lines = [head, Text(f"    {finding.message}")]
    lines.append(Text(f"    fix: {finding.fix}", style="green"))
    return lines


def _count(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def summary(report: LintReport) -> str:
    """`2 errors, 1 warning in 14 objects (1 suppressed)`."""
    counts = report.counts()
    found = ", ".join(
        _count(counts[level.value], level.value, "info" if level is Level.INFO else f"{level}s")
        for level in Level
        if counts[level.value]
    )
    suppressed = len(report.listed) - len(report.active)
    notes = [f"{suppressed} suppressed"] if suppressed else []
    if report.hidden:
        below = "info" if report.shown_from is Level.WARNING else "lower-level"
        notes.append(f"{report.hidden} {below} not shown: --min-severity info")
    tail = f" ({'; '.join(notes)})" if notes else ""
    unread = (
        f", {_count(len(report.unread), 'document', 'documents')} not read" if report.unread else ""
    )
    objects = _count(report.objects, "object", "objects")
    return f"{found or 'no problems'} in {objects}{unread}{tail}"


def render(report: LintReport) -> RenderableType:
    parts: list[RenderableType] = []
    for _, grouped in groupby(report.active, key=lambda f: (f.location, f.object)):
        findings = list(grouped)
        if parts:
            parts.append(Text(""))
        parts.append(_header(findings[0]))
        for finding in findings:
            parts += _finding(finding)
    if parts:
        parts.append(Text(""))
    parts.append(Text(summary(report), style="bold"))
    return Group(*parts)
