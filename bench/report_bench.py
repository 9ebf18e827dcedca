"""`make bench` (report part): what the shared reports cost over the JSON
document they are rendered from, on the 10,000-pod synthetic cluster of
bench/generate.py (generated into bench/out/ if missing).

In one process, after loading the bundle and diagnosing once: `--all` over
every namespace as JSON (the baseline), as Markdown and as HTML (each with
the timelines of the Services that are not healthy), and one Service's
report with its timeline, as JSON and as HTML. Medians of `--runs` runs;
sizes of the output. Results go to bench/out/report-results.json. A
benchmark, not a test: it fails only when a renderer fails.

    python bench/report_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import generate
from why5xx import timeline
from why5xx.engine import Target, diagnose, diagnose_all
from why5xx.model import Report, Status
from why5xx.report import html, markdown
from why5xx.report import json as json_report
from why5xx.sources.bundle import load_bundle

OUT = Path(__file__).resolve().parent / "out"


def _timed(render: Callable[[], str], runs: int) -> tuple[float, int]:
    seconds = []
    size = 0
    for _ in range(runs):
        start = time.perf_counter()
        size = len(render())
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT, help="where the cluster is generated")
    args = parser.parse_args(argv)
    if not (args.out / generate.MANIFEST).exists():
        generate.generate(args.out)
    snap = load_bundle([str(args.out / "json")]).snapshot()
    reports = diagnose_all(snap, None)

    def with_timelines() -> list[Report]:
        return [r if r.status is Status.HEALTHY else timeline.attach(snap, r) for r in reports]

    failing = next(r for r in reports if r.status is not Status.HEALTHY)
    one = diagnose(
        snap, Target(kind="Service", namespace=failing.target.namespace, name=failing.target.name)
    )
    cases: dict[str, Callable[[], str]] = {
        "--all json (baseline)": lambda: json_report.render_reports(reports),
        "--all markdown": lambda: markdown.render_reports(with_timelines()),
        "--all html": lambda: html.render_reports(with_timelines()),
        "one json (baseline)": lambda: json_report.render_report(one),
        "one json --timeline": lambda: json_report.render_report(timeline.attach(snap, one)),
        "one html": lambda: html.render_report(timeline.attach(snap, one)),
    }
    results: dict[str, dict[str, float]] = {}
    print(
        f"{len(reports):,} services, {sum(r.status is not Status.HEALTHY for r in reports)} "
        f"not healthy; one: {one.target}"
    )
    print(f"{'output':<24} {'s':>8} {'x base':>7} {'bytes':>12}")
    for name, render in cases.items():
        seconds, size = _timed(render, args.runs)
        base = results.get(
            "--all json (baseline)" if name.startswith("--all") else "one json (baseline)",
            {"seconds": seconds},
        )["seconds"]
        results[name] = {"seconds": seconds, "bytes": size, "ratio": seconds / base}
        print(f"{name:<24} {seconds:>8.3f} {seconds / base:>7.1f} {size:>12,}")
    (args.out / "report-results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
