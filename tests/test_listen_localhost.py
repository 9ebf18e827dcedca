"""listen-localhost calls a failure critical only when traffic fails now:
variations of the scenario `listen-localhost/uvicorn-default-host-yaml-list`
(uvicorn on its default 127.0.0.1, readiness probes refused)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from why5xx.engine import Target, diagnose
from why5xx.model import Finding, Severity
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources import kubeyaml

SCENARIO = Path(__file__).parent / "scenarios/listen-localhost/uvicorn-default-host-yaml-list"
Raw = dict[str, Any]


def _items() -> list[Raw]:
    items: list[Raw] = kubeyaml.load((SCENARIO / "catalog.yaml").read_text())["items"]
    return items


def _finding(items: list[Raw]) -> tuple[str, Finding]:
    snap = Snapshot.build(Obj.from_raw(raw, "test") for raw in items)
    report = diagnose(snap, Target.parse("service/catalog-api", "catalog"))
    found = next(f for f in report.findings if f.cause == "listen-localhost")
    return report.status.value, found


def _crashing(items: list[Raw]) -> None:
    """The app exits on its own (exit 1) and restarts: refused probes say
    nothing about where it would listen."""
    for pod in (i for i in items if i["kind"] == "Pod"):
        status = pod["status"]["containerStatuses"][0]
        status["restartCount"] = 6
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}
        status["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": "2026-11-20T08:58:40Z",
                "finishedAt": "2026-11-20T08:58:44Z",
            }
        }


def _old_pod_serves(items: list[Raw]) -> None:
    """A pod of the previous revision, listening on 0.0.0.0, is still ready
    and in the endpoints: the broken pods get no traffic."""
    pod = copy.deepcopy(next(i for i in items if i["kind"] == "Pod"))
    pod["metadata"]["name"] = "catalog-api-7d9f6b5c4-old01"
    pod["metadata"]["uid"] = "8c1f1f5e-2b7e-4a55-9d55-3c3c2f0e0a01"
    pod["spec"]["containers"][0]["command"] = [
        "uvicorn", "catalog.main:app", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip
    pod["status"]["podIP"] = "10.244.3.9"
    for condition in pod["status"]["conditions"]:
        condition["status"] = "True"
    pod["status"]["containerStatuses"][0]["ready"] = True
    endpoints = next(i for i in items if i["kind"] == "EndpointSlice")["endpoints"]
    endpoints.append(
        {
            "addresses": ["10.244.3.9"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": "catalog"},
        }
    )
    items.append(pod)


def test_refused_probes_of_running_pods_are_a_failure_now() -> None:
    status, found = _finding(_items())
    assert (status, found.severity) == ("failing", Severity.CRITICAL)
    assert found.http_status == (502, 503)


@pytest.mark.parametrize("change", [_crashing, _old_pod_serves])
def test_otherwise_a_warning(change: Callable[[list[Raw]], None]) -> None:
    items = _items()
    change(items)
    _, found = _finding(items)
    assert found.severity is Severity.WARNING
