"""The `why5xx/logs/v1` JSON document."""

from __future__ import annotations

import orjson

from why5xx.logmodel import LogSummary


def render_summary(summary: LogSummary) -> str:
    return orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2).decode()
