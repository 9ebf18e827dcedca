"""docs/rules/ is generated from the rules (`make docs`): it must match the
code, every cause must have its rule, and the CLI prints the same pages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from why5xx import docs
from why5xx.causes import CAUSES
from why5xx.cli import main
from why5xx.rules import RULES

DOCS = Path(__file__).parent.parent / "docs" / "rules"


def test_docs_up_to_date() -> None:
    stale = docs.stale_files(DOCS, docs.render_docs())
    assert not stale, f"docs/rules/ is out of date ({', '.join(stale)}): run `make docs`"


def test_every_cause_has_a_rule() -> None:
    ruled = {r.cause for r in RULES}
    missing = [c.id for c in CAUSES if c.id not in ruled]
    assert not missing, f"causes without a rule in why5xx.rules.RULES: {', '.join(missing)}"


def test_one_rule_per_cause() -> None:
    """A cause names one rule: its docs page, `explain` and skip reports
    are keyed by the cause id."""
    shared = [cause for cause, n in Counter(r.cause for r in RULES).items() if n > 1]
    assert not shared, f"several rules claim {', '.join(shared)}"


def test_write_docs_removes_stale_pages(tmp_path: Path) -> None:
    (tmp_path / "retired-cause.md").write_text("# retired-cause\n")
    docs.write_docs(tmp_path)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == docs.render_docs()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_explain_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    rule = RULES[0]
    code, out, _ = _run(capsys, "explain", rule.cause)
    assert code == 0
    assert out == docs.rule_page(rule)
    assert docs.GENERATED + out == (DOCS / f"{rule.cause}.md").read_text(encoding="utf-8")


def test_explain_unknown_cause_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    misspelt = RULES[0].cause.replace("-", "", 1)
    code, out, err = _run(capsys, "explain", misspelt)
    assert code == 2
    assert not out
    assert f"did you mean {RULES[0].cause}" in err


def test_rules_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "rules")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CAUSE", "HTTP", "SEVERITY", "SCOPE", "SUMMARY"]
    assert [line.split()[0] for line in lines[1:]] == [r.cause for r in docs.ordered()]
