"""Every scenario, reduced to what a repository holds: the manifests people
write (no Pods, ReplicaSets, endpoints, events, status or server-set
metadata; no namespace on the app's own objects), read as
`why5xx diagnose -n NS --bundle repo/` reads them.

Where the cause is visible in the manifests, the report names the same cause
(read off the pod templates: `likely`); where it is not (it shows only in pod
statuses, events or logs), the report never claims a cause with certainty:
`unknown`, or a `likely` cause with what to capture next."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from why5xx.engine import Target, diagnose
from why5xx.model import Status
from why5xx.scenarios import Scenario, all_scenarios, read_bundle
from why5xx.snapshot import Obj
from why5xx.sources import kubeyaml
from why5xx.sources.bundle import load_bundle

SCENARIOS = all_scenarios(Path(__file__).parent / "scenarios")
# What the cluster makes and reports, which no repository holds.
RUNTIME_KINDS = frozenset(
    {"Pod", "ReplicaSet", "Endpoints", "EndpointSlice", "Event", "Node", "ControllerRevision"}
)
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "ownerReferences",
    "managedFields",
    "deletionTimestamp",
)
# Scenarios whose cause shows only in what the cluster reports, and why.
INVISIBLE = {
    "connection-pool-exhausted/autoscaler-at-ceiling-json": "the HPA's status shows the ceiling",
    "crash-loop/": "restarts and exit codes are pod status",
    "endpoints-terminating/": "terminating endpoints are cluster state",
    "external-name-dns/partner-host-unresolvable-logs": "the resolver's failure is in the logs",
    "image-pull/": "the pull failure is pod status and events",
    "oom-killed/": "the OOM kill is pod status",
    "outlier-ejected/": "ejections show in the proxy's logs and endpoints",
    "pods-pending/": "scheduling and mount failures are events",
    "readiness-probe-failing/": "probe failures are kubelet events (known miss: the probe on an "
    "undeclared named port, or on a port no container declares, is in the template)",
    "rollout-no-prestop/terminating-pod-refuses-connections": "the trigger is a terminating pod",
    "rollout-no-prestop/rolling-update-one-terminating": "the trigger is a terminating pod",
    "slow-startup/": "start times and probe kills are pod status and events",
    "upstream-header-too-big/only-the-logs-tell": "only the proxy's log shows it",
    "healthy/": "health needs ready endpoints, which a repository cannot show",
}


def _invisible(scenario: Scenario) -> str | None:
    name = scenario.name.removeprefix("scenarios/")
    return next((why for prefix, why in INVISIBLE.items() if name.startswith(prefix)), None)


def as_in_a_repository(objects: Iterable[Obj], namespace: str) -> list[Mapping[str, Any]]:
    """The manifests someone wrote: runtime kinds, status and server-set
    metadata dropped, and the namespace left off the app's own objects."""
    out: list[Mapping[str, Any]] = []
    for obj in objects:
        if obj.kind in RUNTIME_KINDS:
            continue
        raw = {key: value for key, value in obj.raw.items() if key != "status"}
        metadata = {
            key: value
            for key, value in (obj.raw.get("metadata") or {}).items()
            if key not in SERVER_METADATA and not (key == "namespace" and value == namespace)
        }
        out.append({**raw, "metadata": metadata})
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_manifests_only(scenario: Scenario, tmp_path: Path) -> None:
    truth = scenario.truth
    manifests = as_in_a_repository(read_bundle(scenario).objects, truth.namespace)
    repo = tmp_path / "k8s"
    repo.mkdir()
    (repo / "app.yaml").write_text("---\n".join(kubeyaml.dump(doc) for doc in manifests))
    bundle = load_bundle([str(repo)])
    assert not bundle.errors
    snap = bundle.snapshot(truth.namespace)

    report = diagnose(snap, Target.parse(truth.target, truth.namespace))

    assert not [s for s in report.skipped if "crashed" in s.reason]
    if report.status in (Status.UNKNOWN, Status.LIKELY):
        assert report.capture_next, "an uncertain report says what to capture next"
    why = _invisible(scenario)
    if why is None:
        found = [(f.cause, f.severity.value) for f in report.findings]
        assert report.verdict == truth.cause, found
        assert report.status is not Status.UNKNOWN
        if any(e.from_template for e in report.findings[0].evidence):
            assert report.status is Status.LIKELY
    else:  # never a certain cause the manifests cannot show
        assert report.status in (Status.UNKNOWN, Status.LIKELY), (why, report.verdict)
