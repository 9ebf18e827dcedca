"""Every lint check against its cases (tests/lint/cases.yaml): manifests that
must make it fire, naming the object and field, and near misses that must
not. A check without both kinds of case fails the build."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from why5xx.lint.checks import CHECKS
from why5xx.lint.inputs import read_files
from why5xx.lint.manifests import Manifests
from why5xx.lint.model import Level, LintReport
from why5xx.lint.runner import lint
from why5xx.sources import kubeyaml

CASES_FILE = Path(__file__).parent / "lint" / "cases.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    code: str
    fires: bool
    name: str
    manifests: str
    object: str | None
    field: str | None
    mentions: tuple[str, ...]
    level: Level | None  # the level it fires at: the check's unless the case says
    fix: str | None  # text the fix must hold

    @property
    def id(self) -> str:
        return f"{self.code}-{'fail' if self.fires else 'pass'}-{self.name}"


def _load() -> list[Case]:
    data: dict[str, dict[str, list[dict[str, Any]]]] = kubeyaml.load(CASES_FILE.read_text())
    return [
        Case(
            code=code,
            fires=kind == "fail",
            name=str(entry["name"]),
            manifests=str(entry["manifests"]),
            object=entry.get("object"),
            field=entry.get("field"),
            mentions=tuple(entry.get("mentions") or ()),
            level=Level(entry["level"]) if "level" in entry else None,
            fix=entry.get("fix"),
        )
        for code, kinds in data.items()
        for kind, entries in kinds.items()
        for entry in entries
    ]


CASES = _load()


def lint_text(manifests: str) -> LintReport:
    read = read_files(["-"], stdin=io.BytesIO(manifests.encode()))
    assert not read.errors, read.errors
    before = orjson.dumps([o.raw for o in read.objects])
    report = lint(Manifests(read.objects))
    assert orjson.dumps([o.raw for o in read.objects]) == before, "a check changed an object"
    assert not report.errors, report.errors
    return report


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case) -> None:
    report = lint_text(case.manifests)
    found = [f for f in report.findings if f.code == case.code]
    if not case.fires:
        assert not found, [f.message for f in found]
        return
    matching = [
        f
        for f in found
        if (case.object is None or str(f.object) == case.object)
        and (case.field is None or f.field == case.field)
    ]
    assert matching, [(str(f.object), f.field, f.message) for f in found]
    for text in case.mentions:
        assert any(text in f.message for f in matching), (text, [f.message for f in matching])
    check = next(c for c in CHECKS if c.code == case.code)
    for finding in matching:
        assert finding.fix, "every finding says what to change"
        assert finding.location.line is not None
        assert finding.level is (case.level or check.level), (finding.level, finding.message)
        assert case.fix is None or case.fix in finding.fix, finding.fix


def test_every_check_has_a_failing_and_a_passing_case() -> None:
    covered = {(c.code, c.fires) for c in CASES}
    missing = [
        f"{check.code} ({'fail' if fires else 'pass'})"
        for check in CHECKS
        for fires in (True, False)
        if (check.code, fires) not in covered
    ]
    assert not missing, f"checks without cases in {CASES_FILE.name}: {', '.join(missing)}"
    unknown = {c.code for c in CASES} - {check.code for check in CHECKS}
    assert not unknown, f"cases for unknown checks: {sorted(unknown)}"


def test_codes_and_names_are_unique_and_in_order() -> None:
    codes = [c.code for c in CHECKS]
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)
    assert len({c.name for c in CHECKS}) == len(CHECKS)
