"""`why5xx bench` output: the accuracy table (text as rich renderables, and
Markdown for the README and CI comments) and the `why5xx/bench/v1` JSON."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from why5xx.benchmark.generate import GENERATED
from why5xx.benchmark.score import BASELINE, BenchResult, Outcome, Tally, worst
from why5xx.scenarios import HEALTHY

_MAX_PROBLEM = 160
_HEADERS = ("cause", "n", "top-1", "top-3", "false", "evidence", "ms", "kubectl")
_LEGEND = (
    "top-1/top-3: the true cause is the verdict / among the first three causes; false: "
    "faulty targets reported healthy (healthy: false alarms); evidence: truth objects the "
    f"finding names; ms: diagnosis per scenario; kubectl: what the {BASELINE} baseline gets "
    "right (faulty: flags it for having no ready endpoint; healthy: passes it)"
)


def _pct(share: float | None) -> str:
    if share is None:
        return "-"
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
        _pct(tally.baseline_detected),
    ]


def _rows(result: BenchResult) -> Iterator[list[str]]:
    for cause, tally in result.per_cause().items():
        yield _row(cause, tally)


def _headline(result: BenchResult) -> str:
    overall = result.overall
    sources = ", ".join(
        f"{count} generated" if name == GENERATED else f"{count} from {name}/"
        for name, count in result.sources().items()
    )
    generated = (
        f", {result.generated_seconds:.1f} s of it generating them"
        if result.generated_seconds is not None
        else ""
    )
    return (
        f"self-consistency (scenarios written next to the rules; not accuracy): "
        f"{overall.scenarios} scenarios ({sources}) in {result.seconds:.1f} s"
        f"{generated}; diagnosis {overall.mean_seconds * 1000:.1f} ms each "
        f"(p95 {overall.p95_seconds * 1000:.1f} ms)"
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


def _miss_groups(result: BenchResult) -> list[str]:
    """One line per (truth, verdict) pair that went wrong: how often, and the
    first scenario with what happened in it and the first problem found."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in result.misses():
        key = (outcome.expected, outcome.judgement.predicted)
        groups.setdefault(key, []).append(outcome)
    lines = []
    for (expected, predicted), found in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        first = found[0]
        problem = first.judgement.problems[0] if first.judgement.problems else ""
        if len(problem) > _MAX_PROBLEM:
            problem = problem[: _MAX_PROBLEM - 1] + "…"
        note = f" ({first.scenario.note})" if first.scenario.note else ""
        lines.append(
            f"{expected} -> {predicted} x{len(found)}: e.g. {first.scenario.name}{note}: {problem}"
        )
    return lines


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
    misses = _miss_groups(result)
    if misses:
        parts.append(Text("\nmisses (truth -> verdict; -o json lists each):", style="bold"))
        parts += [Text(f"  {line}") for line in misses]
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
    misses = _miss_groups(result)
    if misses:
        lines += ["", "Misses (truth -> verdict):", ""]
        lines += [f"- `{line}`" for line in misses]
    return "\n".join(lines) + "\n"
