"""Every scenario (and example) twice: from its bundle, and live through
the fake API server serving the same objects, with its proxy logs either
way. The two JSON reports must be identical, except where evidence names
its source (`bundle:<file>` or `live:<context>`): that one field is
normalised, nothing else.

The fake serves only the kinds the bundle holds (`served="recorded"`): a
bundle without NetworkPolicies says nothing about them, and neither does a
cluster that does not serve that API, so rules needing them are skipped
alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fakeapi.fixtures import CONTEXT, StartCluster
from why5xx.engine import Target, read_plan
from why5xx.scenarios import Scenario, all_scenarios, diagnose_scenario, read_bundle
from why5xx.sources.kubeapi import KubeApi, load_config
from why5xx.sources.live import read_target

ROOT = Path(__file__).parent
SCENARIOS = all_scenarios(ROOT / "scenarios") + all_scenarios(ROOT.parent / "examples")


def normalised(report: dict[str, Any]) -> str:
    """The report as indented JSON, every evidence `source` replaced."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: "<source>" if k == "source" and isinstance(v, str) else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return orjson.dumps(walk(report), option=orjson.OPT_INDENT_2).decode()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_live_report_equals_bundle_report(scenario: Scenario, fake_cluster: StartCluster) -> None:
    target = Target.parse(scenario.truth.target, scenario.truth.namespace)
    from_bundle = diagnose_scenario(scenario, read_bundle(scenario).snapshot()).to_json()
    cluster = fake_cluster([Path(p) for p in scenario.bundle], served="recorded")
    api = KubeApi(load_config(str(cluster.kubeconfig)))
    try:
        read = read_target(api, target.ref, read_plan())
    finally:
        api.close()
    live = diagnose_scenario(scenario, read.snapshot).to_json()

    assert normalised(live) == normalised(from_bundle)
    sources = {e.get("source") for f in live["findings"] for e in f["evidence"]}
    read_from_cluster = {s for s in sources if not str(s).startswith("logs:")}  # logs: either way
    assert read_from_cluster <= {f"live:{CONTEXT}", None}
