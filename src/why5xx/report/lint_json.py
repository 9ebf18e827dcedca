"""The `why5xx/lint/v1` JSON document."""

from __future__ import annotations

import orjson

from why5xx.lint.model import LintReport


def render(report: LintReport) -> str:
    return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode()
