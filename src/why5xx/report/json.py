"""The `why5xx/diagnosis/v1` JSON documents."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from why5xx.model import Report


def render_report(report: Report) -> str:
    return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode()


def render_reports(reports: Sequence[Report]) -> str:
    """`--all`: one document holding every report, worst first."""
    body = {"schema": "why5xx/diagnosis-list/v1", "reports": [r.to_json() for r in reports]}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
