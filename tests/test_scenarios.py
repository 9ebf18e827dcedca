"""One runner for every scenario under tests/scenarios/<cause>/<case>/, and for
the examples/ of the README and `make demo`."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from scenario import EXPECTED, Scenario, all_scenarios
from why5xx.causes import CAUSES
from why5xx.engine import Target, diagnose
from why5xx.model import Severity
from why5xx.snapshot import Snapshot
from why5xx.sources.bundle import load_bundle

ROOT = Path(__file__).parent / "scenarios"
SCENARIOS = all_scenarios(ROOT)
# Checked like scenarios, but not counted towards a cause's scenarios.
EXAMPLES = all_scenarios(Path(__file__).parent.parent / "examples", f"*/{EXPECTED}")
MIN_PER_CAUSE = 2
MIN_HEALTHY = 6


@pytest.mark.parametrize(
    "scenario", SCENARIOS + EXAMPLES, ids=[s.name for s in SCENARIOS + EXAMPLES]
)
def test_scenario(scenario: Scenario) -> None:
    bundle = load_bundle(scenario.bundle)
    assert not bundle.errors, [str(e) for e in bundle.errors]
    snap = Snapshot.build(bundle.objects)
    before = orjson.dumps([o.raw for o in bundle.objects])

    report = diagnose(snap, Target.parse(scenario.target, scenario.namespace))

    assert orjson.dumps([o.raw for o in bundle.objects]) == before, "a rule mutated its input"
    assert not [s for s in report.skipped if "crashed" in s.reason], report.skipped
    found = [f"{f.severity.value} {f.cause}: {f.title}" for f in report.findings]
    assert report.status.value == scenario.status, found
    if scenario.cause == "healthy":
        assert not [f for f in report.findings if f.severity is not Severity.INFO], found
        assert report.healthy_evidence, "healthy needs positive evidence"
        return
    assert report.findings, "no finding"
    verdict = report.findings[0]
    assert verdict.cause == scenario.cause, found
    named = {e.object for e in verdict.evidence}
    named_text = {str(o) for o in named}
    for obj in scenario.evidence:
        assert obj in named_text, f"{obj} not in evidence {sorted(named_text)}"
    text = " ".join(
        [verdict.title, verdict.explanation, verdict.fix.summary, verdict.fix.patch or ""]
        + [f"{e.field} {e.observed} {e.expected}" for e in verdict.evidence]
    )
    for phrase in scenario.mentions:
        assert phrase in text, f"{phrase!r} not in {text!r}"
    reported = {f.cause for f in report.findings}
    for cause in scenario.absent:
        assert cause not in reported, found
    assert verdict.confirm, "a verdict must say how to confirm it"
    assert all(c.startswith("kubectl ") for c in verdict.confirm)


def test_every_cause_has_scenarios() -> None:
    """Each cause: at least two scenarios, at least one written as `-o json`;
    and enough healthy controls that no rule may flag."""
    by_cause: defaultdict[str, list[Scenario]] = defaultdict(list)
    for scenario in SCENARIOS:
        by_cause[scenario.cause].append(scenario)
    for cause in CAUSES:
        cases = by_cause[cause.id]
        assert len(cases) >= MIN_PER_CAUSE, f"{cause.id}: {len(cases)} scenario(s)"
        assert any(b.endswith(".json") for s in cases for b in s.bundle), (
            f"{cause.id}: no scenario as JSON"
        )
    assert len(by_cause["healthy"]) >= MIN_HEALTHY
