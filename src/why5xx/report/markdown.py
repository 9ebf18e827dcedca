"""GitHub-flavoured Markdown for tickets and pull-request comments: the
verdict first, evidence and patches folded in `<details>`. Templates over
the JSON documents (`templates/*.md.j2`), Markdown-escaped (`templating`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from why5xx.lint.model import LintReport
from why5xx.model import Report
from why5xx.report.lint_text import summary as lint_summary
from why5xx.report.templating import markdown_env
from why5xx.version import __version__


def render_report(report: Report) -> str:
    template = markdown_env().get_template("diagnosis.md.j2")
    return template.render(doc=report.to_json(), version=__version__)


def render_reports(reports: Sequence[Report]) -> str:
    """`--all`: a table of every Service, worst first, then the report of
    each one that is not healthy, folded."""
    docs = [r.to_json() for r in reports]
    counts = Counter(d["status"] for d in docs)
    line = f"{len(docs)} services: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    template = markdown_env().get_template("diagnosis-list.md.j2")
    return template.render(
        doc={"schema": "why5xx/diagnosis-list/v1", "reports": docs},
        counts=line,
        version=__version__,
    )


def render_lint(report: LintReport) -> str:
    """A comment a CI job can post on a pull request: the counts, then one
    row per finding that counts, its fix folded."""
    template = markdown_env().get_template("lint.md.j2")
    return template.render(doc=report.to_json(), summary=lint_summary(report), version=__version__)
