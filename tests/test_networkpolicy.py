"""NetworkPolicy semantics the network-policy-block rule relies on."""

from __future__ import annotations

from typing import Any

import pytest

from why5xx.rules.networkpolicy import Endpoint, peer_admits, port_admits
from why5xx.snapshot import Obj
from why5xx.views.policy import policy_types

CONTROLLER = Endpoint(
    namespace="ingress-nginx",
    labels={"app.kubernetes.io/name": "ingress-nginx"},
    namespace_labels={"kubernetes.io/metadata.name": "ingress-nginx", "team": "edge"},
    ip="10.244.0.15",
    spec={},
    name="ingress-nginx-controller-5c8d66c76d-x7q2n",
)
BACKEND = Endpoint(
    namespace="shop",
    labels={"app": "cart"},
    namespace_labels=None,
    ip="10.244.1.40",
    spec={"containers": [{"name": "cart", "ports": [{"name": "http", "containerPort": 8080}]}]},
    name="cart-7d9f-abcde",
)
NGINX_PODS = {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}


@pytest.mark.parametrize(
    ("peer", "admits"),
    [
        ({"podSelector": NGINX_PODS}, False),  # pods of the policy's own namespace only
        ({"namespaceSelector": {"matchLabels": {"team": "edge"}}}, True),
        (
            {
                "namespaceSelector": {"matchLabels": {"team": "edge"}},
                "podSelector": {"matchLabels": {"app": "x"}},
            },
            False,  # both in one element: AND
        ),
        ({"namespaceSelector": {}, "podSelector": NGINX_PODS}, True),
        ({"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.0.0/24"]}}, False),
        ({"ipBlock": {"cidr": "10.244.0.0/16"}}, True),
    ],
)
def test_peer(peer: dict[str, Any], admits: bool) -> None:
    assert peer_admits(peer, "shop", CONTROLLER) is admits


def test_unknown_namespace_labels_leave_the_verdict_open() -> None:
    assert (
        peer_admits({"namespaceSelector": {"matchLabels": {"team": "shop"}}}, "x", BACKEND) is None
    )
    name = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}}
    assert peer_admits(name, "x", BACKEND) is True


@pytest.mark.parametrize(
    ("ports", "admits"),
    [
        ([], True),
        ([{"port": 8080}], True),
        ([{"port": "http"}], True),  # named port, resolved on the destination pod
        ([{"port": "metrics"}], False),
        ([{"port": 8000, "endPort": 8100, "protocol": "TCP"}], True),
        ([{"port": 8080, "protocol": "UDP"}], False),
        ([{"protocol": "TCP"}], True),
    ],
)
def test_ports(ports: list[dict[str, Any]], admits: bool) -> None:
    assert port_admits(ports, BACKEND, 8080) is admits


def test_policy_types_default() -> None:
    def policy(spec: dict[str, Any]) -> Obj:
        raw = {
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": spec,
        }
        return Obj.from_raw(raw, "test")

    assert policy_types(policy({"podSelector": {}})) == {"Ingress"}
    assert policy_types(policy({"podSelector": {}, "egress": []})) == {"Ingress", "Egress"}
    assert policy_types(policy({"podSelector": {}, "policyTypes": ["Egress"]})) == {"Egress"}
