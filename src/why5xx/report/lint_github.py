"""GitHub Actions workflow commands: one `::error file=...,line=...::`
annotation per finding that counts, shown on the pull request's diff.

Escaping follows actions/toolkit (`command.ts`): `%`, CR and LF in the
message; also `:` and `,` in properties."""

from __future__ import annotations

from why5xx.lint.model import Finding, Level, LintReport

_COMMAND = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    properties = []
    where = finding.location
    if where.path:
        properties.append(f"file={_property(where.path)}")
        if where.line:
            properties.append(f"line={where.line}")
    properties.append(f"title={_property(f'{finding.code} {finding.name} ({finding.object})')}")
    message = _data(f"{finding.message}\nfix: {finding.fix}")
    return f"::{_COMMAND[finding.level]} {','.join(properties)}::{message}"


def render(report: LintReport) -> str:
    return "\n".join(annotation(f) for f in report.active)
