"""`why5xx bench` output for the real corpus: the score by judgement and by
who named the cause, the tables per source and per cause, and each miss with
the reason its case records (text as rich renderables, and Markdown for the
README)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from why5xx.benchmark.real import SOLVABLE, RealResult, Tally
from why5xx.benchmark.score import BenchResult

_COLUMNS = ("n", "yes: top-1", "partly: top-3", "no: safe + asks")
_LEGEND = (
    "yes: the artifacts decide it, the verdict must be the thread's cause; partly: they "
    "narrow it down, the cause must be among the first three; no: the thread needed more, "
    "the report must not claim a wrong cause (failing/degraded) and its Capture next must ask "
    "for what was needed. thread: the thread resolved the cause; expert: our reading of the "
    "artifacts, scored apart."
)
_NO_REASON = "NEW: no known_miss recorded"


def render_json(real: RealResult | None, scenarios: BenchResult | None) -> str:
    """One document: `why5xx/bench/v1` with the real corpus under `real`,
    or the real corpus's own `why5xx/bench-real/v1` alone."""
    doc = scenarios.to_json() if scenarios is not None else {}
    if real is not None:
        doc = {**doc, "real": real.to_json()} if doc else real.to_json()
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def _cell(tally: Tally, kind: str) -> str:
    cases = tally.cases.get(kind, 0)
    if not cases:
        return "-"
    hits = tally.hits.get(kind, 0)
    return f"{hits}/{cases} {hits / cases:.0%}"


def _row(name: str, tally: Tally) -> list[str]:
    return [name, str(tally.total), *(_cell(tally, kind) for kind in SOLVABLE)]


def _sections(result: RealResult) -> Iterator[tuple[str, str, list[list[str]]]]:
    """(title, first column, rows) of each table."""
    basis = [_row(name, tally) for name, tally in result.by_basis().items()]
    basis.append(_row("all", result.overall))
    yield "by who named the cause", "cause named by", basis
    yield "per source", "source", [_row(n, t) for n, t in result.by_source().items()]
    yield "per cause", "cause", [_row(n, t) for n, t in result.by_cause().items()]


def _headline(result: RealResult) -> str:
    overall = result.overall
    bases = ", ".join(f"{t.total} {name}" for name, t in result.by_basis().items())
    return (
        f"real corpus: {overall.total} public incident threads ({bases}); "
        f"{overall.total_hits} scored right; {len(result.misses())} misses "
        f"({len(result.new_misses())} without a recorded reason) in {result.seconds:.1f} s"
    )


def _miss_lines(result: RealResult) -> list[str]:
    lines = [
        f"{o.case.name} [{o.case.solvable}, {o.case.cause}]: {o.problem} -- "
        f"{o.case.known_miss or _NO_REASON}"
        for o in result.misses()
    ]
    lines += [
        f"{o.case.name}: passes now; remove its known_miss ({o.case.known_miss})"
        for o in result.fixed()
    ]
    return lines


def render_text(result: RealResult) -> RenderableType:
    parts: list[RenderableType] = [Text(_headline(result), style="bold")]
    for title, first, rows in _sections(result):
        table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold", title=title)
        for index, header in enumerate((first, *_COLUMNS)):
            table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        parts += [Text(), table]
    parts.append(Text(_LEGEND, style="dim"))
    parts += [Text(f"why5xx: {error}", style="red") for error in result.errors]
    misses = _miss_lines(result)
    if misses:
        parts.append(Text("\nreal-corpus misses (case [judgement, cause]: what happened -- why):"))
        parts += [Text(f"  {line}") for line in misses]
    return Group(*parts)


def render_markdown(result: RealResult) -> str:
    lines = [_headline(result), ""]
    for title, first, rows in _sections(result):
        lines += [f"{title}:", ""]
        lines.append("| " + " | ".join((first, *_COLUMNS)) + " |")
        lines.append("|---|" + "---:|" * len(_COLUMNS))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    lines.append(_LEGEND)
    misses = _miss_lines(result)
    if misses:
        lines += ["", "Misses:", ""]
        lines += [f"- `{line}`" for line in misses]
    return "\n".join(lines) + "\n"
