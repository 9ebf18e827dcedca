"""`make bench` (lint corpus part): how many of the findings `why5xx lint`
lists on the manifests of eight public repositories are real 5xx risks.

Lints ../shared/corpus/lint-repos (or $WHY5XX_LINT_CORPUS) from its root,
as a new user would, and scores the findings listed by default (warning and
error) against the reviewed verdicts of tests/lint/corpus.yaml: precision
per check and per level, recall of the true findings, the findings without
a verdict. Prints the Markdown table of the README's lint section; writes
bench/out/lint-corpus.json. Fails when a finding has no verdict or a true
one is no longer listed.

    python bench/lint_corpus.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from why5xx.lint.inputs import read_files
from why5xx.lint.review import find_corpus, finding_key, load_verdicts, markdown, score
from why5xx.lint.runner import lint_applications

BENCH = Path(__file__).resolve().parent
VERDICTS = BENCH.parent / "tests" / "lint" / "corpus.yaml"


def main() -> None:
    corpus = find_corpus(BENCH)
    if corpus is None:
        print("lint corpus: no shared/corpus/lint-repos here (set $WHY5XX_LINT_CORPUS); skipped")
        return
    start = time.perf_counter()
    read = read_files([str(corpus)])
    report = lint_applications(read.objects, releases=read.releases)
    seconds = time.perf_counter() - start
    result = score(report, corpus, load_verdicts(VERDICTS))
    print(
        f"why5xx lint on {corpus}: {report.objects} objects in {report.applications} "
        f"applications, {seconds:.2f} s"
    )
    print(markdown(result))
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    rows = [*result.checks, *result.levels]
    (out / "lint-corpus.json").write_text(
        json.dumps(
            {
                "objects": report.objects,
                "applications": report.applications,
                "seconds": round(seconds, 3),
                "recall": result.recall,
                "rows": [
                    {
                        "name": r.name,
                        "listed": r.listed,
                        "true": r.true,
                        "false": r.false,
                        "unreviewed": r.unreviewed,
                        "precision": r.precision,
                    }
                    for r in rows
                ],
            },
            indent=2,
        )
    )
    problems = [f"no verdict: {' '.join(finding_key(f, corpus))}" for f in result.unreviewed]
    problems += [f"true finding not listed: {v.code} {v.at} {v.object}" for v in result.missed]
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
