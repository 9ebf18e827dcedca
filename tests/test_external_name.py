"""The external-name-dns rule on small hand-made inputs: what it may judge
offline, and the near misses it must leave alone (an external host it cannot
resolve, a namespace whose Services the input does not hold)."""

from __future__ import annotations

from typing import Any

import pytest

from why5xx.engine import Target, diagnose
from why5xx.model import Report
from why5xx.rules.externalname import nginx_port
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.routes import IngressBackend


def _service(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": ports, **spec},
    }


def _alias(host: str, **spec: Any) -> dict[str, Any]:
    return _service("shop", "payments", type="ExternalName", externalName=host, **spec)


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _nginx(*args: str, port: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """An ingress-nginx controller, its class, and an Ingress to `payments`."""
    controller = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "ingress-nginx"}},
                "spec": {
                    "containers": [
                        {
                            "name": "controller",
                            "image": "registry.k8s.io/ingress-nginx/controller:v1.11.3",
                            "args": ["/nginx-ingress-controller", *args],
                        }
                    ]
                },
            },
        },
    }
    ingress_class = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "nginx"},
        "spec": {"controller": "k8s.io/ingress-nginx"},
    }
    backend = {"service": {"name": "payments", "port": port or {"name": "http"}}}
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"http": {"paths": [{"path": "/pay", "backend": backend}]}}],
        },
    }
    return [controller, ingress_class, ingress]


def _diagnose(*objects: dict[str, Any]) -> Report:
    snap = Snapshot.build(Obj.from_raw(raw, "test") for raw in objects)
    return diagnose(snap, Target.parse("service/payments", "shop"))


def _causes(report: Report) -> list[str]:
    return [f.cause for f in report.findings]


@pytest.mark.parametrize(
    "objects",
    [
        # An external host: offline, nothing tells whether it resolves.
        [_alias("api.partner-bank.example")],
        # An existing in-cluster Service, named absolutely (trailing dot) or not.
        [_alias("ledger.data.svc.cluster.local."), _service("data", "ledger")],
        [_alias("ledger.shop.svc"), _service("shop", "ledger")],
        # Another namespace whose Services are not in the input.
        [_alias("ledger.data.svc.cluster.local"), _service("shop", "web")],
    ],
)
def test_quiet_without_evidence(objects: list[dict[str, Any]]) -> None:
    assert "external-name-dns" not in _causes(_diagnose(*objects))


@pytest.mark.parametrize(
    ("objects", "title"),
    [
        ([_alias("localhost")], "every client connects to itself"),
        ([_alias("10.20.31.7")], "names the IP address 10.20.31.7"),
        ([_alias("payments.shop.svc.cluster.local")], "points at its own name"),
        (
            [_alias("ledger.shop.svc.cluster.local"), _service("shop", "ledger-v2")],
            "points at Service ledger in shop, which does not exist (did you mean ledger-v2?)",
        ),
        (
            [_alias("ledger.data.svc"), _namespace("shop"), _namespace("web")],
            "points at Service ledger in data, which does not exist",
        ),
    ],
)
def test_names_that_cannot_serve(objects: list[dict[str, Any]], title: str) -> None:
    report = _diagnose(*objects)
    assert report.verdict == "external-name-dns"
    assert report.status.value == "failing"
    assert title in report.findings[0].title


def test_ingress_nginx_refuses_external_names_when_told_to() -> None:
    report = _diagnose(_alias("api.partner-bank.example"), *_nginx("--disable-svc-external-name"))
    top = report.findings[0]
    assert (top.cause, top.http_status) == ("external-name-dns", (503,))
    assert "--disable-svc-external-name" in top.title


def test_a_port_name_the_alias_lacks_is_port_0() -> None:
    report = _diagnose(_alias("api.partner-bank.example"), *_nginx(port={"name": "https"}))
    assert report.verdict == "external-name-dns"
    assert "connects to port 0" in report.findings[0].title


@pytest.mark.parametrize(
    ("ports", "name", "number", "expected"),
    [
        ([{"name": "http", "port": 80, "targetPort": 8080}], "http", None, 8080),
        ([{"name": "http", "port": 80, "targetPort": "web"}], "http", None, 80),
        ([{"name": "http", "port": 80, "targetPort": 8080}], "grpc", None, 0),
        ([{"name": "http", "port": 80, "targetPort": 8080}], None, 80, 8080),
        # ingress-nginx keeps a named targetPort for a numbered backend: IntValue() is 0.
        ([{"name": "http", "port": 80, "targetPort": "web"}], None, 80, 0),
        ([{"name": "http", "port": 80, "targetPort": 8080}], None, 443, 443),
        ([], None, 443, 443),
    ],
)
def test_nginx_port(
    ports: list[dict[str, Any]], name: str | None, number: int | None, expected: int
) -> None:
    service = Obj.from_raw(_alias("api.example.com", ports=ports), "test")
    backend = IngressBackend(
        service="payments", port_name=name, port_number=number, host="*", path="/", field="f"
    )
    assert nginx_port(service, backend) == expected
