"""Ready endpoints prove a Service healthy only on the Service's own ports:
proxies pair an endpoint port with the Service port of the same name, so
hand-written Endpoints under another port name serve nothing (the Traefik
thread in tests/corpus/real/traefik-8818: "no endpoints found")."""

from __future__ import annotations

from typing import Any

import pytest

from why5xx.engine import Target, diagnose
from why5xx.snapshot import Obj, Snapshot


def _objects(endpoint_port: dict[str, Any]) -> list[dict[str, Any]]:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "vscode", "namespace": "dev"},
        "spec": {"ports": [{"name": "https", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
    }
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "vscode", "namespace": "dev"},
        "subsets": [{"addresses": [{"ip": "172.19.52.40"}], "ports": [endpoint_port]}],
    }
    return [service, endpoints]


def _report(endpoint_port: dict[str, Any]) -> tuple[str, int]:
    snap = Snapshot.build(Obj.from_raw(raw, "test") for raw in _objects(endpoint_port))
    report = diagnose(snap, Target.parse("vscode", "dev"))
    return report.status.value, len(report.healthy_evidence)


@pytest.mark.parametrize(
    "port",
    [
        {"port": 8080, "protocol": "TCP"},  # unnamed, as in the thread
        {"name": "http", "port": 8080, "protocol": "TCP"},  # another name
    ],
)
def test_endpoints_under_another_port_name_are_no_proof_of_health(port: dict[str, Any]) -> None:
    status, evidence = _report(port)
    assert status != "healthy"
    assert evidence == 0


def test_endpoints_under_the_service_port_name_are_healthy() -> None:
    status, evidence = _report({"name": "https", "port": 8080, "protocol": "TCP"})
    assert status == "healthy"
    assert evidence == 1
