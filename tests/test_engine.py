"""The engine's isolation of a broken rule: a crash is its own kind of
result, neither a finding nor a skip, and the other rules still run."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from why5xx.engine import Target, diagnose
from why5xx.model import Draft
from why5xx.report.text import render_report
from why5xx.rules import RULES
from why5xx.rules.base import rule
from why5xx.scenarios import judge, load_scenario, read_bundle
from why5xx.snapshot import Snapshot
from why5xx.views.service import ServiceTarget

EXAMPLE = Path(__file__).parent.parent / "examples" / "selector-version-bump"


@rule(cause="outlier-ejected", inputs=("Service",))
def broken(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """A rule with a bug: it reads a key the Service does not have."""
    yield from ()
    raise KeyError("trafficPolicy")


def test_a_crashing_rule_is_reported_as_a_crash_and_the_others_still_run() -> None:
    scenario = load_scenario(EXAMPLE)
    snap = read_bundle(scenario).snapshot()
    target = Target.parse(scenario.truth.target, scenario.truth.namespace)

    report = diagnose(snap, target, rules=(broken, *RULES))

    assert [(c.rule, str(c.target), c.error) for c in report.crashed] == [
        ("outlier-ejected", "Service/shop/checkout", "KeyError: 'trafficPolicy'")
    ]
    assert all(s.rule != "outlier-ejected" or "crash" not in s.reason for s in report.skipped)
    assert report.verdict == scenario.truth.cause  # the other rules ran
    assert report.to_json()["crashed"] == [
        {
            "rule": "outlier-ejected",
            "target": "Service/shop/checkout",
            "error": "KeyError: 'trafficPolicy'",
        }
    ]
    assert judge(scenario, report).problems == (
        "rule outlier-ejected crashed on Service/shop/checkout: KeyError: 'trafficPolicy'",
    )
    out = io.StringIO()
    Console(file=out, width=200, no_color=True).print(render_report(report))
    assert "outlier-ejected on Service/shop/checkout: KeyError: 'trafficPolicy'" in out.getvalue()


def test_a_report_without_crash_has_no_crashed_key() -> None:
    scenario = load_scenario(EXAMPLE)
    snap = read_bundle(scenario).snapshot()
    report = diagnose(snap, Target.parse(scenario.truth.target, scenario.truth.namespace))
    assert report.crashed == ()
    assert "crashed" not in report.to_json()
