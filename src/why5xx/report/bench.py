"""`why5xx bench` output: the accuracy table (text as rich renderables, and
Markdown for the README and CI comments) and the `why5xx/bench/v1` JSON."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from why5xx.benchmark.score import BASELINE, BenchResult, Outcome, Tally, worst
from why5xx.scenarios import HEALTHY

_MAX_MISSES = 15
_MAX_PROBLEM = 160
_HEADERS = ("cause", "n", "top-1", "top-3", "false", "evidence", "ms", "kubectl")
_LEGEND = (
    "top-1/top-3: the true cause is the verdict / among the first three causes; false: "
    "faulty targets reported healthy (healthy: false alarms); evidence: truth objects the "
    f"finding names; ms: per scenario; kubectl: top-1 of the {BASELINE} baseline"
)


def render_json(result: BenchResult) -> str:
    return orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode()


def _pct(share: float | None) -> str:
    if share is None:
        return "–"
    return "100%" if share == 1.0 else f"{share:.1%}"


def _row(name: str, tally: Tally) -> list[str]:
    wrong = tally.false_alarms if name == HEALTHY else tally.false_healthy
    if name.endswith("overall"):
        wrong = tally.false_healthy + tally.false_alarms
    return [
        name,
        str(tally.scenarios),
        _pct(tally.top1),
        _pct(tally.top3),
        str(wrong),
        _pct(tally.evidence_recall),
        f"{tally.mean_seconds * 1000:.1f}",
        _pct(tally.baseline_top1),
    ]


def _rows(result: BenchResult) -> Iterator[list[str]]:
    for cause, tally in result.per_cause().items():
        yield _row(cause, tally)


def _headline(result: BenchResult) -> str:
    overall = result.overall
    sources = ", ".join(f"{count} {name}" for name, count in result.sources().items())
    generated = (
        f"; generated in {result.generated_seconds:.1f} s"
        if result.generated_seconds is not None
        else ""
    )
    return (
        f"why5xx bench: {overall.scenarios} scenarios ({sources}) scored in "
        f"{result.seconds:.1f} s, {overall.mean_seconds * 1000:.1f} ms each "
        f"(p95 {overall.p95_seconds * 1000:.1f} ms){generated}"
    )


def _summary(result: BenchResult) -> list[str]:
    overall = result.overall
    lines = [
        f"top-1 {overall.top1:.1%}, top-3 {overall.top3:.1%}; "
        f"false healthy {overall.false_healthy} of {overall.faulty} faulty, "
        f"false alarms {overall.false_alarms} of {overall.healthy} healthy",
        f"{BASELINE} (zero ready endpoints -> 'no endpoints', else healthy): top-1 "
        f"{overall.baseline_top1:.1%}, detects {overall.baseline_detected:.1%}; false healthy "
        f"{overall.baseline_false_healthy} of {overall.faulty}",
    ]
    weakest = worst(result.per_cause(), 3)
    if weakest:
        lines.append("worst: " + ", ".join(f"{cause} {tally.top1:.0%}" for cause, tally in weakest))
    return lines


def _miss_line(outcome: Outcome) -> str:
    judgement = outcome.judgement
    problem = judgement.problems[0] if judgement.problems else ""
    if len(problem) > _MAX_PROBLEM:
        problem = problem[: _MAX_PROBLEM - 1] + "…"
    note = f" ({outcome.scenario.note})" if outcome.scenario.note else ""
    return (
        f"{outcome.scenario.name}: expected {judgement.expected}, got {judgement.predicted} "
        f"[{judgement.status}]{note}: {problem}"
    )


def _confusion_lines(result: BenchResult) -> list[str]:
    return [
        f"{expected} -> {predicted}: {count}"
        for expected, row in result.confusion().items()
        for predicted, count in row.items()
        if predicted != expected
    ]


def render_text(result: BenchResult) -> RenderableType:
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for index, header in enumerate(_HEADERS):
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    for row in _rows(result):
        style = None if row[2] == _pct(1.0) else "yellow"
        table.add_row(*row, style=style)
    table.add_section()
    table.add_row(*_row("overall", result.overall), style="bold")
    parts: list[RenderableType] = [Text(_headline(result), style="bold"), Text(), table, Text()]
    parts += [Text(line) for line in _summary(result)]
    parts.append(Text(_LEGEND, style="dim"))
    misses = result.misses()
    if misses:
        parts.append(Text(f"\nmisses ({len(misses)}):", style="bold"))
        parts += [Text(f"  {_miss_line(o)}", style="dim") for o in misses[:_MAX_MISSES]]
        if len(misses) > _MAX_MISSES:
            parts.append(Text(f"  … and {len(misses) - _MAX_MISSES} more (-o json lists all)"))
        parts.append(Text("confusion (expected -> verdict):", style="bold"))
        parts += [Text(f"  {line}") for line in _confusion_lines(result)]
    return Group(*parts)


def render_markdown(result: BenchResult) -> str:
    lines = [_headline(result), ""]
    lines.append("| " + " | ".join(_HEADERS) + " |")
    lines.append("|---|" + "---:|" * (len(_HEADERS) - 1))
    for row in [*_rows(result), _row("**overall**", result.overall)]:
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"- {line}" for line in _summary(result)]
    lines += ["", _LEGEND]
    misses = result.misses()
    if misses:
        lines += ["", f"Misses ({len(misses)}):", ""]
        lines += [f"- `{_miss_line(o)}`" for o in misses[:_MAX_MISSES]]
    return "\n".join(lines) + "\n"
