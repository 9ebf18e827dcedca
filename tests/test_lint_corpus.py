"""`why5xx lint` on the manifests of eight public repositories
(../shared/corpus/lint-repos, read where it is), against the reviewed
findings of tests/lint/corpus.yaml: every finding listed has a verdict,
every true one is still listed, precision is at least 90 % at warning and
error and 100 % at error, and no info finding is listed by default.
Linting the whole corpus equals the union of linting each application."""

from __future__ import annotations

from pathlib import Path

import pytest

from why5xx.lint.apps import applications
from why5xx.lint.inputs import read_files
from why5xx.lint.manifests import as_written
from why5xx.lint.model import Level, LintReport
from why5xx.lint.review import CORPUS_ENV, Score, find_corpus, finding_key, load_verdicts, score
from why5xx.lint.runner import lint_applications

FOUND = find_corpus(Path(__file__).resolve().parent)
CORPUS = FOUND or Path("lint-repos")
VERDICTS = Path(__file__).parent / "lint" / "corpus.yaml"

pytestmark = pytest.mark.skipif(
    FOUND is None,
    reason=f"no shared/corpus/lint-repos above the project (or ${CORPUS_ENV}): the public "
    "manifests corpus is not on this machine",
)


def _lint(paths: list[str]) -> LintReport:
    read = read_files(paths)
    return lint_applications(read.objects, releases=read.releases)


@pytest.fixture(scope="module")
def report() -> LintReport:
    return _lint([str(CORPUS)])


@pytest.fixture(scope="module")
def scored(report: LintReport) -> Score:
    return score(report, CORPUS, load_verdicts(VERDICTS))


def test_every_listed_finding_is_reviewed(scored: Score) -> None:
    unreviewed = [" ".join(finding_key(f, CORPUS)) for f in scored.unreviewed]
    assert not unreviewed, f"findings without a verdict in {VERDICTS.name}: {unreviewed}"


def test_every_true_finding_is_still_listed(scored: Score) -> None:
    assert not scored.missed, [f"{v.code} {v.at} {v.object}" for v in scored.missed]
    assert scored.recall == 1.0


def test_precision(scored: Score) -> None:
    levels = {row.name: row for row in scored.levels}
    both = levels["error+warning"]
    assert both.precision is not None
    assert both.precision >= 0.9, both
    assert levels["error"].precision in (None, 1.0), levels["error"]


def test_no_info_finding_is_listed_by_default(report: LintReport) -> None:
    assert report.hidden > 0  # there are some, counted
    assert all(f.level is not Level.INFO for f in report.listed)


def test_the_corpus_is_the_union_of_its_applications(report: LintReport) -> None:
    """Each application linted alone gives the findings it gives inside the
    whole; none is lost or added by linting the repositories together."""
    read = read_files([str(CORPUS)])
    apps = applications(as_written(read.objects, "default"), read.releases)
    assert len(apps) > 8  # more applications than repositories
    union: set[tuple[str, ...]] = set()
    for app in apps:
        objects = (*app.objects, *(o for alternative in app.alternatives for o in alternative))
        files = sorted({o.source.removeprefix("bundle:") for o in objects})
        alone = _lint(files)
        union |= {finding_key(f, CORPUS) for f in alone.findings}
    assert union == {finding_key(f, CORPUS) for f in report.findings}
