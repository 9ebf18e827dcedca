"""One runner for every scenario under tests/scenarios/<cause>/<case>/, and for
the examples/ of the README and `make demo`: the scenario format and the
scorer are `why5xx.scenarios`, which `why5xx bench` uses too."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from why5xx.causes import CAUSES
from why5xx.scenarios import Scenario, all_scenarios, diagnose_scenario, judge, read_bundle

ROOT = Path(__file__).parent / "scenarios"
SCENARIOS = all_scenarios(ROOT)
# Checked like scenarios, but not counted towards a cause's scenarios.
EXAMPLES = all_scenarios(Path(__file__).parent.parent / "examples")
MIN_PER_CAUSE = 2
MIN_HEALTHY = 6


@pytest.mark.parametrize(
    "scenario", SCENARIOS + EXAMPLES, ids=[s.name for s in SCENARIOS + EXAMPLES]
)
def test_scenario(scenario: Scenario) -> None:
    bundle = read_bundle(scenario)
    assert not bundle.errors, [str(e) for e in bundle.errors]
    before = orjson.dumps([o.raw for o in bundle.objects])

    report = diagnose_scenario(scenario, bundle.snapshot())

    assert orjson.dumps([o.raw for o in bundle.objects]) == before, "a rule mutated its input"
    judgement = judge(scenario, report)
    assert not judgement.problems, judgement.problems
    assert judgement.top1


def test_every_cause_has_scenarios() -> None:
    """Each cause: at least two scenarios, at least one written as `-o json`;
    and enough healthy controls that no rule may flag."""
    by_cause: defaultdict[str, list[Scenario]] = defaultdict(list)
    for scenario in SCENARIOS:
        by_cause[scenario.truth.cause].append(scenario)
    for cause in CAUSES:
        cases = by_cause[cause.id]
        assert len(cases) >= MIN_PER_CAUSE, f"{cause.id}: {len(cases)} scenario(s)"
        assert any(b.endswith(".json") for s in cases for b in s.bundle), (
            f"{cause.id}: no scenario as JSON"
        )
    assert len(by_cause["healthy"]) >= MIN_HEALTHY


def test_every_cause_has_a_near_miss() -> None:
    """Each cause: a scenario that looks like it but must not report it (a
    healthy control, or a scenario of the cause it could be confused with,
    naming it under `absent`), on which its rule runs: not skipped for lack
    of input, so the control can fail."""
    controls: defaultdict[str, list[Scenario]] = defaultdict(list)
    for scenario in SCENARIOS + EXAMPLES:
        for cause in scenario.truth.absent:
            if cause != scenario.truth.cause:
                controls[cause].append(scenario)
    without = []
    for known in CAUSES:
        ran = [
            scenario
            for scenario in controls[known.id]
            if known.id
            not in {
                s.rule
                for s in diagnose_scenario(scenario, read_bundle(scenario).snapshot()).skipped
            }
        ]
        if not ran:
            without.append(known.id)
    assert not without, f"causes without a near miss their rule runs on: {without}"
