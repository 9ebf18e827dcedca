"""Every scenario twice: from its bundle, and live through the fake API
server serving the same objects. The two JSON reports must be identical,
except where evidence names its source (`bundle:<file>` or
`live:<context>`): that one field is normalised, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fakeapi.fixtures import CONTEXT, StartCluster
from scenario import Scenario, all_scenarios
from why5xx.engine import Target, diagnose
from why5xx.sources.bundle import load_bundle
from why5xx.sources.kubeapi import KubeApi, load_config
from why5xx.sources.live import read_target

SCENARIOS = all_scenarios(Path(__file__).parent / "scenarios")


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
    target = Target.parse(scenario.target, scenario.namespace)
    from_bundle = diagnose(load_bundle(scenario.bundle).snapshot(), target).to_json()
    cluster = fake_cluster([Path(p) for p in scenario.bundle], served="recorded")
    api = KubeApi(load_config(str(cluster.kubeconfig)))
    try:
        read = read_target(api, target)
    finally:
        api.close()
    live = diagnose(read.snapshot, target).to_json()

    assert normalised(live) == normalised(from_bundle)
    sources = {e.get("source") for f in live["findings"] for e in f["evidence"]}
    assert sources <= {f"live:{CONTEXT}", None}
