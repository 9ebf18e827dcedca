"""Scoring lint against reviewed findings: how many of the findings it
lists are real 5xx risks (precision, per check and per level), and whether
every finding a reviewer judged real is still listed (recall).

The reviewed findings are a YAML list (tests/lint/corpus.yaml for the
public repositories of `../shared/corpus/lint-repos`), one entry per
finding: its check code, file and line (`at`, relative to the corpus),
object and field, the `verdict` (true: a real 502/503/504 risk; false:
noise lint must not list) and `why`. A listed finding with no entry is
unreviewed: the corpus test fails on it, as on a true finding no longer
listed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from why5xx.lint.model import Finding, Level, LintReport
from why5xx.sources import decode

Key = tuple[str, str, str, str]  # code, file:line, object, field
CORPUS_ENV = "WHY5XX_LINT_CORPUS"
_CORPUS = Path("shared") / "corpus" / "lint-repos"


def find_corpus(start: Path) -> Path | None:
    """The public manifests corpus: `$WHY5XX_LINT_CORPUS`, else
    `shared/corpus/lint-repos` beside `start` or one of its parents (the
    project sits in the team's tree; its worktrees deeper)."""
    named = os.environ.get(CORPUS_ENV)
    if named:
        return Path(named) if Path(named).is_dir() else None
    return next((d / _CORPUS for d in (start, *start.parents) if (d / _CORPUS).is_dir()), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    code: str
    at: str
    object: str
    field: str
    true: bool
    why: str

    @property
    def key(self) -> Key:
        return (self.code, self.at, self.object, self.field)


def load_verdicts(path: Path) -> tuple[Verdict, ...]:
    entries: Any = decode.parse_text(path.read_text(encoding="utf-8"))
    if isinstance(entries, Exception) or not isinstance(entries, list):
        raise ValueError(f"{path}: not a YAML list of reviewed findings")
    return tuple(
        Verdict(
            code=str(e["code"]),
            at=str(e["at"]),
            object=str(e["object"]),
            field=str(e["field"]),
            true=bool(e["verdict"]),
            why=str(e["why"]),
        )
        for e in entries
    )


def finding_key(finding: Finding, root: Path) -> Key:
    where = finding.location
    path = Path(where.path or "")
    relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    return (finding.code, f"{relative}:{where.line}", str(finding.object), finding.field)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """The findings of one check (or level) lint lists, as reviewed."""

    name: str
    listed: int
    true: int
    false: int
    unreviewed: int
    silenced: int = 0  # findings reviewed false that lint no longer lists

    @property
    def precision(self) -> float | None:
        return self.true / self.listed if self.listed else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Score:
    checks: tuple[Row, ...]  # per check code, in code order
    levels: tuple[Row, ...]  # error, warning, and both together
    reviewed_true: int  # true verdicts
    missed: tuple[Verdict, ...]  # true verdicts lint no longer lists
    unreviewed: tuple[Finding, ...]  # listed findings without a verdict
    false_listed: tuple[Verdict, ...]  # false verdicts lint still lists
    hidden: int  # findings below the level listed

    @property
    def recall(self) -> float | None:
        found = self.reviewed_true - len(self.missed)
        return found / self.reviewed_true if self.reviewed_true else None


def _row(name: str, keys: Iterable[Key], verdicts: Mapping[Key, Verdict]) -> Row:
    found = [verdicts.get(k) for k in keys]
    return Row(
        name=name,
        listed=len(found),
        true=sum(1 for v in found if v is not None and v.true),
        false=sum(1 for v in found if v is not None and not v.true),
        unreviewed=sum(1 for v in found if v is None),
    )


def score(report: LintReport, root: Path, verdicts: Sequence[Verdict]) -> Score:
    """The report's listed findings (warning and error, unless configured
    otherwise) against the reviewed ones."""
    by_key = {v.key: v for v in verdicts}
    listed = [(finding_key(f, root), f) for f in report.active]
    keys = {k for k, _ in listed}
    codes = sorted({f.code for _, f in listed} | {v.code for v in verdicts})
    silenced = Counter(v.code for v in verdicts if not v.true and v.key not in keys)
    checks = tuple(
        replace(
            _row(code, (k for k, f in listed if f.code == code), by_key), silenced=silenced[code]
        )
        for code in codes
    )
    levels = (
        *(
            _row(level.value, (k for k, f in listed if f.level is level), by_key)
            for level in (Level.ERROR, Level.WARNING)
        ),
        _row("error+warning", (k for k, f in listed if f.level is not Level.INFO), by_key),
    )
    return Score(
        checks=checks,
        levels=levels,
        reviewed_true=sum(1 for v in verdicts if v.true),
        missed=tuple(v for v in verdicts if v.true and v.key not in keys),
        unreviewed=tuple(f for k, f in listed if k not in by_key),
        false_listed=tuple(v for v in verdicts if not v.true and v.key in keys),
        hidden=report.hidden,
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def markdown(result: Score) -> str:
    """The per-check and per-level table (README, `make bench`)."""
    lines = [
        "| check | listed | true | false | unreviewed | precision | noise no longer listed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in (*result.checks, *result.levels):
        name = f"**{row.name}**" if row in result.levels else f"`{row.name}`"
        silenced = "" if row in result.levels else str(row.silenced)
        lines.append(
            f"| {name} | {row.listed} | {row.true} | {row.false} | {row.unreviewed} | "
            f"{_percent(row.precision)} | {silenced} |"
        )
    lines.append("")
    lines.append(
        f"Recall of the reviewed true findings: {_percent(result.recall)} "
        f"({result.reviewed_true - len(result.missed)} of {result.reviewed_true}); "
        f"{result.hidden} info findings counted, not listed."
    )
    return "\n".join(lines)
