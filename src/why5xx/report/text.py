"""Human output: the verdict in one line, then why, the evidence, how to
confirm and how to fix. Built as rich renderables; the CLI prints them (with
colour on a terminal, plain otherwise)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from why5xx.model import Evidence, Finding, Report, Severity, Status
from why5xx.scrub import scrub

_STATUS_STYLE = {
    Status.FAILING: ("✗", "bold red"),
    Status.DEGRADED: ("!", "bold yellow"),
    Status.LIKELY: ("~", "bold magenta"),
    Status.HEALTHY: ("✓", "bold green"),
    Status.UNKNOWN: ("?", "bold blue"),
}
_SEVERITY_STYLE = {Severity.CRITICAL: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def _codes(finding: Finding) -> str:
    return "/".join(str(code) for code in finding.http_status)


def _headline(report: Report) -> Text:
    mark, style = _STATUS_STYLE[report.status]
    line = Text()
    line.append(f"{mark} {report.target}  ", style=style)
    line.append(report.status.value.upper(), style=style)
    if report.findings and report.status is not Status.HEALTHY:
        top = report.findings[0]
        line.append(f" ({_codes(top)}): ", style=style)
        line.append(top.cause, style="bold")
    return line


def _evidence_line(evidence: Evidence) -> Text:
    line = Text("    ")
    line.append(str(evidence.object), style="cyan")
    line.append(f"  {evidence.field} = {scrub(evidence.observed)}")
    if evidence.expected is not None:
        line.append(f"  (expected {evidence.expected})", style="dim")
    if evidence.source:
        line.append(f"  [{evidence.source}]", style="dim")
    return line


def _finding_block(finding: Finding, *, primary: bool) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if not primary:  # the verdict's cause and title are in the headline already
        head = Text("  ")
        head.append(f"{finding.severity.value} ", style=_SEVERITY_STYLE[finding.severity])
        head.append(finding.cause, style="bold")
        head.append(f" [{_codes(finding)}]: {finding.title}")
        parts.append(head)
    parts.append(Text(f"    {finding.explanation}"))
    parts.append(Text("  Evidence", style="bold"))
    parts += [_evidence_line(e) for e in finding.evidence]
    if finding.confirm:
        parts.append(Text("  Confirm", style="bold"))
        parts += [Text(f"    $ {command}", style="green") for command in finding.confirm]
    parts.append(Text("  Fix", style="bold"))
    parts.append(Text(f"    {finding.fix.summary}"))
    if finding.fix.patch:
        parts += [
            Text(f"    {line}", style="dim" if line.startswith("#") else "green")
            for line in finding.fix.patch.splitlines()
        ]
    return parts


def _skipped_block(report: Report, *, verbose: bool) -> list[RenderableType]:
    """The rules that did not run: one line counting them, unless `verbose`
    or one of them is among the report's candidates (then each is listed)."""
    if not report.skipped:
        return []
    candidates = {f.cause for f in report.findings}
    listed = [s for s in report.skipped if verbose or s.rule in candidates]
    parts: list[RenderableType] = [Text("")]
    if listed:
        parts.append(Text("  Not checked", style="bold"))
        parts += [Text(f"    {s.rule}: {s.reason}", style="dim") for s in listed]
    rest = len(report.skipped) - len(listed)
    if rest:
        more = " more" if listed else ""
        parts.append(
            Text(f"  {rest}{more} rules not checked for lack of input (-v lists them)", style="dim")
        )
    return parts


def render_report(report: Report, *, verbose: bool = False) -> RenderableType:
    """`verbose` lists each rule that was not checked, and why."""
    parts: list[RenderableType] = [_headline(report)]
    parts += [Text(f"  Note: {note}", style="yellow") for note in report.notes]
    has_verdict = bool(report.findings) and report.status is not Status.HEALTHY
    if has_verdict:
        parts.append(Text(f"  {report.findings[0].title}", style="bold"))
        parts += _finding_block(report.findings[0], primary=True)
    if report.status is Status.HEALTHY or (report.healthy_evidence and not report.findings):
        parts.append(Text(""))
        parts.append(Text("  Serving", style="bold"))
        parts += [_evidence_line(e) for e in report.healthy_evidence]
    if report.status is Status.UNKNOWN and not report.findings:
        parts.append(
            Text("  No cause found, and no ready endpoints to prove it healthy.", style="dim")
        )
    others = report.findings[1:] if has_verdict else report.findings
    if others:
        parts.append(Text(""))
        heading = "Also found (ranked after the verdict):" if has_verdict else "Notes:"
        parts.append(Text(heading, style="bold"))
    for finding in others:
        parts.append(Text(""))
        parts += _finding_block(finding, primary=False)
    parts += _skipped_block(report, verbose=verbose)
    if report.capture_next:
        parts.append(Text(""))
        parts.append(Text("Capture next (read-only) to confirm or decide:", style="bold"))
        parts += [Text(f"    $ {command}", style="green") for command in report.capture_next]
    if report.crashed:
        parts.append(Text(""))
        parts.append(Text("  Crashed (a bug of why5xx: please report it)", style="bold red"))
        parts += [Text(f"    {c.rule} on {c.target}: {c.error}") for c in report.crashed]
    return Group(*parts)


def render_summary(reports: Sequence[Report]) -> RenderableType:
    """`--all`: one line per target, worst first."""
    lines: list[RenderableType] = []
    for report in reports:
        mark, style = _STATUS_STYLE[report.status]
        line = Text()
        line.append(f"{mark} {report.status.value:<9}", style=style)
        line.append(f"{report.target!s:<40} ", style="cyan")
        line.append(f"{report.verdict:<24}", style="bold")
        if report.findings and report.status is not Status.HEALTHY:
            line.append(report.findings[0].title)
        elif report.healthy_evidence:
            line.append(scrub(report.healthy_evidence[0].observed), style="dim")
        lines.append(line)
    counts = {s: sum(r.status is s for r in reports) for s in Status}
    lines.append(
        Text(
            f"{len(reports)} services: "
            + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n),
            style="bold",
        )
    )
    return Group(*lines)
