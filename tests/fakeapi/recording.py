"""A small recorded cluster for the fake server's own tests: objects of
every scope (namespaced, cluster-scoped, a custom resource and its CRD),
labels for every selector operator, and Events in both APIs' shapes.
Written the way `kubectl get -o json` prints them (resourceVersions, uids)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

Raw = dict[str, Any]
T0 = "2026-11-25T09:00:00Z"


def _meta(name: str, namespace: str | None, rv: int, **extra: Any) -> Raw:
    meta: Raw = {
        "name": name,
        "uid": f"00000000-0000-4000-8000-{rv:012d}",
        "resourceVersion": str(rv),
        "creationTimestamp": T0,
        **extra,
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _pod(name: str, namespace: str, rv: int, labels: dict[str, str], phase: str) -> Raw:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, namespace, rv, labels=labels),
        "spec": {
            "containers": [{"name": "app", "image": "web:1", "ports": [{"containerPort": 8080}]}],
            "nodeName": "node-1",
        },
        "status": {"phase": phase, "podIP": f"10.0.0.{rv}"},
    }


def objects() -> list[Raw]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta("shop", None, 101)},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta("other", None, 102)},
        _pod("web-1", "shop", 111, {"app": "web", "env": "prod", "canary": "true"}, "Running"),
        _pod("web-2", "shop", 112, {"app": "web", "env": "stage"}, "Running"),
        _pod("db-0", "shop", 113, {"app": "db", "env": "prod", "tier": "data"}, "Pending"),
        _pod("web-x", "other", 114, {"app": "web", "env": "dev"}, "Succeeded"),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("web", "shop", 121, labels={"app": "web"}),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": _meta(
                "web-abcde", "shop", 122, labels={"kubernetes.io/service-name": "web"}
            ),
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": ["10.0.0.111"],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-1"},
                }
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("web", "shop", 131, labels={"app": "web"}),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": _meta("web.1", "shop", 141),
            "involvedObject": {
                "kind": "Service",
                "namespace": "shop",
                "name": "web",
                "uid": "00000000-0000-4000-8000-000000000121",
                "apiVersion": "v1",
            },
            "reason": "SyncLoadBalancerFailed",
            "message": "Error syncing load balancer",
            "type": "Warning",
            "count": 3,
            "firstTimestamp": T0,
            "lastTimestamp": T0,
            "source": {"component": "service-controller"},
        },
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": _meta("db-0.2", "shop", 142),
            "regarding": {"kind": "Pod", "namespace": "shop", "name": "db-0"},
            "reason": "FailedScheduling",
            "note": "0/3 nodes are available: 3 Insufficient memory.",
            "type": "Warning",
            "reportingController": "default-scheduler",
            "deprecatedCount": 4,
            "deprecatedFirstTimestamp": T0,
            "deprecatedLastTimestamp": T0,
            "eventTime": None,
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": _meta("nginx", None, 151),
            "spec": {"controller": "k8s.io/ingress-nginx"},
        },
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": _meta("destinationrules.networking.istio.io", None, 161),
            "spec": {
                "group": "networking.istio.io",
                "scope": "Namespaced",
                "names": {
                    "kind": "DestinationRule",
                    "plural": "destinationrules",
                    "singular": "destinationrule",
                    "shortNames": ["dr"],
                },
                "versions": [{"name": "v1", "served": True, "storage": True}],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": _meta("web", "shop", 162),
            "spec": {
                "host": "web",
                "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 1}}},
            },
        },
    ]


def write(directory: Path) -> Path:
    """One `List` file per kind, as `kubectl get <kind> -A -o json > <kind>.json`."""
    directory.mkdir(parents=True, exist_ok=True)
    by_kind: dict[str, list[Raw]] = {}
    for raw in objects():
        by_kind.setdefault(f"{raw['kind']}-{raw['apiVersion'].replace('/', '_')}", []).append(raw)
    for name, items in by_kind.items():
        document = {"apiVersion": "v1", "kind": "List", "items": items}
        (directory / f"{name.lower()}.json").write_bytes(orjson.dumps(document))
    return directory
