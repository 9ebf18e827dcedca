"""docs/lint/ is generated from the checks (`make docs`): it must match the
code; every check documents what it finds, why it is a 5xx and the fix, and
compares itself with kube-linter, popeye and k8sgpt."""

from __future__ import annotations

from pathlib import Path

import pytest

from why5xx.cli import main
from why5xx.docs import stale_files
from why5xx.lint import docs
from why5xx.lint.base import PEER_TOOLS, Check
from why5xx.lint.checks import CHECKS
from why5xx.sources import kubeyaml

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs" / "lint"


def test_docs_up_to_date() -> None:
    stale = stale_files(DOCS, docs.render_docs())
    assert not stale, f"docs/lint/ is out of date ({', '.join(stale)}): run `make docs`"


@pytest.mark.parametrize("check", CHECKS, ids=[c.code for c in CHECKS])
def test_every_check_documents_itself(check: Check) -> None:
    for section in ("**What it finds**", "**Why it is a 5xx**", "**Fix**"):
        assert section in check.doc, f"{check.code} has no {section} section"
    assert {check.peer(tool).tool for tool in PEER_TOOLS} == set(PEER_TOOLS)


def test_explain_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    check = CHECKS[0]
    with pytest.raises(SystemExit):
        main(["lint", "--explain", check.code])
    out = capsys.readouterr().out
    assert docs.GENERATED + out == (DOCS / f"{check.code}.md").read_text(encoding="utf-8")


def test_pre_commit_hook_runs_lint() -> None:
    hooks = kubeyaml.load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["why5xx-lint"]
    assert hooks[0]["entry"] == "why5xx lint"
