"""A deterministic synthetic cluster for `make bench`, written the way users
capture one: `kubectl get ... -A -o yaml` (one big `kind: List`) and
`kubectl get <kind> -A -o json > <kind>.json` (one `List` per kind).

10,000 pods, 2,000 Services, 100,000 Events, with the Deployments,
ReplicaSets (current and previous revision), StatefulSets, a DaemonSet,
EndpointSlices, Ingresses, an IngressClass, ConfigMaps and Namespaces around
them, and a few injected faults (selector mismatches, Services with no
workload, workloads scaled to zero, crash loops, OOM kills, image pulls,
unschedulable pods, failing readiness probes) so the rules do real work.

The YAML is emitted the way kubectl's printer (go-yaml v2) writes it: keys
sorted, sequences not indented under their key, strings that would read as
another type double-quoted, strings that cannot be plain single-quoted,
long scalars folded at 80 columns, multi-line strings as `|` block scalars.
That makes it a realistic (and tricky) input for the YAML decoders.

    python bench/generate.py [--out bench/out] [--seed 5]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

SEED = 5
PODS = 10_000
SERVICES = 2_000
EVENTS = 100_000
NAMESPACES = 100
NODES = 24
NOW = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
YAML_FILE = "cluster.yaml"
JSON_DIR = "json"
MANIFEST = "manifest.json"
# Bump when the generated content changes, so run.py regenerates stale output.
VERSION = 4

Raw = dict[str, Any]

_TEAMS = [
    "shop",
    "payments",
    "search",
    "identity",
    "catalog",
    "checkout",
    "billing",
    "ledger",
    "fraud",
    "inventory",
    "shipping",
    "orders",
    "notify",
    "media",
    "recs",
    "analytics",
    "gateway",
    "auth",
    "profile",
    "reviews",
    "pricing",
    "promo",
    "loyalty",
    "support",
    "chat",
    "mail",
    "sms",
    "push",
    "geo",
    "maps",
]
_NOUNS = [
    "api",
    "web",
    "worker",
    "frontend",
    "backend",
    "cache",
    "proxy",
    "indexer",
    "scheduler",
    "ingest",
    "export",
    "importer",
    "renderer",
    "resizer",
    "tracker",
    "router",
    "broker",
    "relay",
    "aggregator",
    "collector",
    "reporter",
    "monitor",
    "syncer",
    "sweeper",
    "notifier",
    "uploader",
    "gateway",
    "adapter",
    "bridge",
    "resolver",
    "validator",
    "planner",
    "matcher",
    "scorer",
    "ranker",
]
_ADJ = [
    "core",
    "edge",
    "public",
    "internal",
    "batch",
    "stream",
    "realtime",
    "legacy",
    "admin",
    "partner",
    "mobile",
    "grpc",
    "graphql",
    "rest",
    "events",
    "ml",
]
_HASH = "bcdfghjklmnpqrstvwxz2456789"
_REGISTRY = ("registry.example.com", "ghcr.io/acme", "123456789012.dkr.ecr.eu-west-1.amazonaws.com")

_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    + "\n".join(
        "".join(
            random.Random(line).choice(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            )
            for _ in range(64)
        )
        for line in range(17)
    )
    + "\nMIIC5zCCAc+gAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n"
    "-----END CERTIFICATE-----\n"
)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Workload:
    """One Deployment or StatefulSet and what the generator decided about it."""

    kind: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    replicas: int
    fault: str = ""  # crash-loop | oom | image-pull | pending | readiness | scaled-to-zero
    port: int = 8080
    image: str = ""
    created: datetime = NOW
    rs_hash: str = ""
    rs_uid: str = ""
    old_hash: str = ""
    old_uid: str = ""
    pods: list[Raw] = field(default_factory=list)


# The injected fault -> the cause a verdict should name.
_EXPECTED = {
    "": "healthy",
    "selector-mismatch": "selector-mismatch",
    "no-workload": "no-matching-workload",
    "scaled-to-zero": "scaled-to-zero",
    "crash-loop": "crash-loop",
    "oom": "oom-killed",
    "image-pull": "image-pull",
    "pending": "pods-pending",
    "readiness": "readiness-probe-failing",
}


class Cluster:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.version = 1_000_000
        self.objects: dict[str, list[Raw]] = {}
        self.nodes = [f"ip-10-0-{i // 8}-{20 + i}.eu-west-1.compute.internal" for i in range(NODES)]
        self.pod_ip = 0
        # Services whose selector misses their pods by one label: the target
        # diagnosed alone (the rule with the most lookups per target).
        self.mismatches: list[dict[str, str]] = []
        # The cause each Service's verdict should name ("Service/ns/name" -> cause).
        self.expected: dict[str, str] = {}

    # --- small helpers ----------------------------------------------------

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def rv(self) -> str:
        self.version += self.rng.randint(1, 40)
        return str(self.version)

    def token(self, length: int) -> str:
        return "".join(self.rng.choice(_HASH) for _ in range(length))

    def ago(self, low: float, high: float) -> datetime:
        """A moment between `low` and `high` seconds before capture."""
        return NOW - timedelta(seconds=int(self.rng.uniform(low, high)))

    def ip(self) -> str:
        self.pod_ip += 1
        return f"10.244.{self.pod_ip // 250}.{self.pod_ip % 250 + 2}"

    def add(self, kind: str, obj: Raw) -> Raw:
        self.objects.setdefault(kind, []).append(obj)
        return obj

    def meta(
        self,
        name: str,
        namespace: str | None,
        created: datetime,
        *,
        uid: str | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        owner: Raw | None = None,
        generate_name: str | None = None,
    ) -> Raw:
        metadata: Raw = {
            "name": name,
            "creationTimestamp": _ts(created),
            "resourceVersion": self.rv(),
            "uid": uid or self.uid(),
        }
        if namespace is not None:
            metadata["namespace"] = namespace
        if labels:
            metadata["labels"] = dict(labels)
        if annotations:
            metadata["annotations"] = annotations
        if owner is not None:
            metadata["ownerReferences"] = [owner]
        if generate_name:
            metadata["generateName"] = generate_name
        return metadata

    # --- the cluster --------------------------------------------------------

    def build(self) -> None:
        namespaces = self.namespaces()
        workloads, services = self.plan(namespaces)
        self.rebalance(workloads)
        self.add(
            "IngressClass",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": self.meta(
                    "nginx",
                    None,
                    self.ago(9e6, 9.1e6),
                    labels={"app.kubernetes.io/component": "controller"},
                    annotations={"ingressclass.kubernetes.io/is-default-class": "true"},
                ),
                "spec": {"controller": "k8s.io/ingress-nginx"},
            },
        )
        for ns in namespaces:
            self.namespace(ns)
        for workload in workloads:
            self.workload(workload)
        self.daemonset()
        for service in services:
            self.service(service)
        self.ingresses(services)
        self.events(workloads)

    def namespaces(self) -> list[str]:
        names: list[str] = []
        while len(names) < NAMESPACES:
            team = self.rng.choice(_TEAMS)
            env = self.rng.choice(("prod", "staging", "dev", "qa", "prod-eu", "prod-us"))
            name = f"{team}-{env}"
            if name not in names:
                names.append(name)
        return names

    def namespace(self, ns: str) -> None:
        created = self.ago(5e6, 9e6)
        self.add(
            "Namespace",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": self.meta(
                    ns, None, created, labels={"kubernetes.io/metadata.name": ns}
                ),
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )
        self.add(
            "ConfigMap",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": self.meta(
                    "kube-root-ca.crt",
                    ns,
                    created,
                    annotations={
                        "kubernetes.io/description": (
                            "Contains a CA bundle that can be used to verify the kube-apiserver "
                            "when using internal endpoints such as the internal service IP or "
                            "kubernetes.default.svc. No other usage is guaranteed across "
                            "distributions of Kubernetes clusters."
                        )
                    },
                ),
                "data": {"ca.crt": _CA},
            },
        )

    def plan(self, namespaces: list[str]) -> tuple[list[Workload], list[Raw]]:
        """Decide the workloads and the Services in front of them, faults included."""
        workloads: list[Workload] = []
        services: list[Raw] = []
        per_ns = SERVICES // len(namespaces)
        faults = (
            ["selector-mismatch"] * 24
            + ["no-workload"] * 12
            + ["scaled-to-zero"] * 16
            + ["crash-loop"] * 30
            + ["oom"] * 10
            + ["image-pull"] * 10
            + ["pending"] * 10
            + ["readiness"] * 20
        )
        faults += [""] * (SERVICES - len(faults))
        self.rng.shuffle(faults)
        index = 0
        for ns in namespaces:
            used: set[str] = set()
            for _ in range(per_ns):
                fault = faults[index]
                index += 1
                while True:
                    name = f"{self.rng.choice(_ADJ)}-{self.rng.choice(_NOUNS)}"
                    if self.rng.random() < 0.3:
                        name = f"{ns.split('-')[0]}-{name}"
                    if name not in used:
                        used.add(name)
                        break
                stateful = fault == "" and self.rng.random() < 0.04
                labels = {"app": name}
                if self.rng.random() < 0.5:
                    labels["version"] = f"v{self.rng.randint(1, 4)}"
                if self.rng.random() < 0.6:
                    labels["app.kubernetes.io/part-of"] = ns.split("-")[0]
                replicas = self.rng.choice((1, 2, 2, 3, 3, 3, 4, 5, 6, 8))
                workload = Workload(
                    kind="StatefulSet" if stateful else "Deployment",
                    namespace=ns,
                    name=name,
                    uid=self.uid(),
                    labels=labels,
                    replicas=replicas,
                    fault=fault if fault not in ("selector-mismatch", "no-workload") else "",
                    port=self.rng.choice((8080, 8080, 8080, 3000, 9000, 5000)),
                    image=(
                        f"{self.rng.choice(_REGISTRY)}/{ns.split('-')[0]}/{name}:"
                        f"{self.rng.randint(1, 9)}.{self.rng.randint(0, 40)}."
                        f"{self.rng.randint(0, 9)}"
                    ),
                    created=self.ago(1e6, 8e6),
                )
                if fault == "scaled-to-zero":
                    workload.replicas = 0
                selector = {k: v for k, v in labels.items() if k != "app.kubernetes.io/part-of"}
                if fault == "selector-mismatch":
                    if "version" in selector:
                        selector["version"] = f"v{int(selector['version'][1:]) + 1}"
                    else:
                        selector["app"] = f"{name}-v2"
                if fault == "selector-mismatch":
                    self.mismatches.append({"namespace": ns, "name": name})
                self.expected[f"Service/{ns}/{name}"] = _EXPECTED[fault]
                if fault == "no-workload":
                    selector = {"app": f"legacy-{name}"}
                if fault != "no-workload":
                    workloads.append(workload)
                services.append(
                    {"ns": ns, "name": name, "selector": selector, "workload": workload}
                )
        return workloads, services

    def rebalance(self, workloads: list[Workload]) -> None:
        """Exactly PODS pods: the DaemonSet has one per node; deployments take the rest."""
        target = PODS - NODES
        healthy = [w for w in workloads if not w.fault]
        total = sum(w.replicas for w in workloads)
        while total != target:
            workload = self.rng.choice(healthy)
            if total < target and workload.replicas < 12:
                workload.replicas += 1
                total += 1
            elif total > target and workload.replicas > 1:
                workload.replicas -= 1
                total -= 1

    def container(self, workload: Workload, name: str, image: str, port: int | None) -> Raw:
        container: Raw = {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "resources": {
                "limits": {"memory": self.rng.choice(("256Mi", "512Mi", "1Gi", "2Gi"))},
                "requests": {
                    "cpu": self.rng.choice(("50m", "100m", "250m", "500m")),
                    "memory": self.rng.choice(("128Mi", "256Mi", "512Mi")),
                },
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "volumeMounts": [
                {
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "name": "kube-api-access",
                    "readOnly": True,
                }
            ],
        }
        if port is not None:
            container["ports"] = [{"containerPort": port, "name": "http", "protocol": "TCP"}]
            probe = {
                "failureThreshold": 3,
                "httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                "periodSeconds": 10,
                "successThreshold": 1,
                "timeoutSeconds": 1,
            }
            container["readinessProbe"] = probe
            container["livenessProbe"] = {**probe, "initialDelaySeconds": 15}
            container["env"] = [
                {"name": "PORT", "value": str(port)},
                {"name": "LOG_LEVEL", "value": self.rng.choice(("info", "debug", "warn"))},
                {
                    "name": "POD_NAME",
                    "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
                },
                {
                    "name": "JAVA_OPTS",
                    "value": "-XX:+UseContainerSupport -XX:MaxRAMPercentage=75.0 "
                    "-Dfile.encoding=UTF-8",
                },
            ]
            if workload.fault == "pending":
                container["envFrom"] = [{"configMapRef": {"name": f"{workload.name}-config"}}]
        return container

    def pod_spec(self, workload: Workload) -> Raw:
        containers = [self.container(workload, "app", workload.image, workload.port)]
        if self.rng.random() < 0.25:
            containers.append(
                self.container(workload, "istio-proxy", "docker.io/istio/proxyv2:1.22.3", None)
            )
        spec: Raw = {
            "containers": containers,
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": True,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {"runAsNonRoot": True, "fsGroup": 2000},
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
        }
        if self.rng.random() < 0.5:
            spec["affinity"] = {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "podAffinityTerm": {
                                "labelSelector": {"matchLabels": {"app": workload.name}},
                                "topologyKey": "kubernetes.io/hostname",
                            },
                            "weight": 100,
                        }
                    ]
                }
            }
        return spec

    def workload(self, workload: Workload) -> None:
        ns, name = workload.namespace, workload.name
        template_labels = dict(workload.labels)
        spec = self.pod_spec(workload)
        config = (
            "server:\n"
            f"  port: {workload.port}\n"
            "  # keep in sync with the Service\n"
            "  shutdownDelay: 5s\n"
            "---\n"
            "features:\n"
            f"  - {name}-beta\n"
            "  - 'quoted: value'\n"
            "\n"
            "note: |\n"
            "  - not a list item\n"
            "  --- not a separator\n"
        )
        if workload.fault != "pending":
            self.add(
                "ConfigMap",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": self.meta(
                        f"{name}-config", ns, workload.created, labels={"app": name}
                    ),
                    "data": {"application.yaml": config, "LOG_FORMAT": "json"},
                },
            )
        last_applied = orjson.dumps(
            {
                "apiVersion": "apps/v1",
                "kind": workload.kind,
                "metadata": {"name": name, "namespace": ns, "labels": workload.labels},
                "spec": {
                    "replicas": max(workload.replicas, 1),
                    "selector": {"matchLabels": {"app": name}},
                },
            }
        ).decode()
        annotations = {"kubectl.kubernetes.io/last-applied-configuration": last_applied + "\n"}
        if workload.kind == "StatefulSet":
            self.statefulset(workload, template_labels, spec, annotations)
            return
        revision = self.rng.randint(2, 40)
        annotations["deployment.kubernetes.io/revision"] = str(revision)
        ready = 0 if workload.fault else workload.replicas
        conditions = [
            {
                "lastTransitionTime": _ts(self.ago(5e5, 9e5)),
                "lastUpdateTime": _ts(self.ago(5e5, 9e5)),
                "message": (
                    "Deployment has minimum availability."
                    if ready or not workload.replicas
                    else "Deployment does not have minimum availability."
                ),
                "reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable",
                "status": "True" if ready or not workload.replicas else "False",
                "type": "Available",
            },
            {
                "lastTransitionTime": _ts(self.ago(9e5, 1e6)),
                "lastUpdateTime": _ts(self.ago(3e3, 4e5)),
                "message": f'ReplicaSet "{name}-HASH" has successfully progressed.',
                "reason": "NewReplicaSetAvailable",
                "status": "True",
                "type": "Progressing",
            },
        ]
        status: Raw = {"conditions": conditions, "observedGeneration": revision + 1}
        if workload.replicas:
            status |= {
                "replicas": workload.replicas,
                "updatedReplicas": workload.replicas,
                "readyReplicas": ready,
                "availableReplicas": ready,
            }
            if not ready:
                status["unavailableReplicas"] = workload.replicas
        deployment: Raw = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.meta(
                name,
                ns,
                workload.created,
                uid=workload.uid,
                labels=workload.labels,
                annotations=annotations,
            ),
            "spec": {
                "progressDeadlineSeconds": 600,
                "replicas": workload.replicas,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": name}},
                "strategy": {
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                    "type": "RollingUpdate",
                },
                "template": {
                    "metadata": {"creationTimestamp": None, "labels": template_labels},
                    "spec": spec,
                },
            },
            "status": status,
        }
        self.add("Deployment", deployment)
        owner = {
            "apiVersion": "apps/v1",
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": "Deployment",
            "name": name,
            "uid": workload.uid,
        }
        workload.rs_hash, workload.rs_uid = self.token(10), self.uid()
        workload.old_hash, workload.old_uid = self.token(10), self.uid()
        conditions[1]["message"] = (
            f'ReplicaSet "{name}-{workload.rs_hash}" has successfully progressed.'
        )
        for rs_hash, rs_uid, replicas, rev in (
            (workload.old_hash, workload.old_uid, 0, revision - 1),
            (workload.rs_hash, workload.rs_uid, workload.replicas, revision),
        ):
            rs_labels = {**template_labels, "pod-template-hash": rs_hash}
            rs_status: Raw = {"observedGeneration": 2, "replicas": replicas}
            if replicas:
                rs_status |= {
                    "availableReplicas": ready,
                    "fullyLabeledReplicas": replicas,
                    "readyReplicas": ready,
                }
            self.add(
                "ReplicaSet",
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": self.meta(
                        f"{name}-{rs_hash}",
                        ns,
                        self.ago(1e4, 9e5),
                        uid=rs_uid,
                        labels=rs_labels,
                        annotations={
                            "deployment.kubernetes.io/desired-replicas": str(workload.replicas),
                            "deployment.kubernetes.io/max-replicas": str(
                                workload.replicas + max(1, workload.replicas // 4)
                            ),
                            "deployment.kubernetes.io/revision": str(rev),
                        },
                        owner=owner,
                    ),
                    "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": {"app": name, "pod-template-hash": rs_hash}},
                        "template": {
                            "metadata": {"creationTimestamp": None, "labels": rs_labels},
                            "spec": spec,
                        },
                    },
                    "status": rs_status,
                },
            )
        rs_owner = {
            "apiVersion": "apps/v1",
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": "ReplicaSet",
            "name": f"{name}-{workload.rs_hash}",
            "uid": workload.rs_uid,
        }
        for _ in range(workload.replicas):
            pod_name = f"{name}-{workload.rs_hash}-{self.token(5)}"
            labels = {**template_labels, "pod-template-hash": workload.rs_hash}
            self.pod(workload, pod_name, labels, rs_owner, spec)

    def statefulset(
        self, workload: Workload, labels: dict[str, str], spec: Raw, annotations: dict[str, str]
    ) -> None:
        ns, name = workload.namespace, workload.name
        revision = f"{name}-{self.token(10)}"
        self.add(
            "StatefulSet",
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": self.meta(
                    name,
                    ns,
                    workload.created,
                    uid=workload.uid,
                    labels=labels,
                    annotations=annotations,
                ),
                "spec": {
                    "persistentVolumeClaimRetentionPolicy": {
                        "whenDeleted": "Retain",
                        "whenScaled": "Retain",
                    },
                    "podManagementPolicy": "OrderedReady",
                    "replicas": workload.replicas,
                    "revisionHistoryLimit": 10,
                    "selector": {"matchLabels": {"app": name}},
                    "serviceName": name,
                    "template": {
                        "metadata": {"creationTimestamp": None, "labels": labels},
                        "spec": spec,
                    },
                    "updateStrategy": {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"},
                },
                "status": {
                    "availableReplicas": workload.replicas,
                    "collisionCount": 0,
                    "currentReplicas": workload.replicas,
                    "currentRevision": revision,
                    "observedGeneration": 3,
                    "readyReplicas": workload.replicas,
                    "replicas": workload.replicas,
                    "updateRevision": revision,
                    "updatedReplicas": workload.replicas,
                },
            },
        )
        owner = {
            "apiVersion": "apps/v1",
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": "StatefulSet",
            "name": name,
            "uid": workload.uid,
        }
        for ordinal in range(workload.replicas):
            pod_labels = {
                **labels,
                "apps.kubernetes.io/pod-index": str(ordinal),
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": f"{name}-{ordinal}",
            }
            self.pod(workload, f"{name}-{ordinal}", pod_labels, owner, spec)

    def daemonset(self) -> None:
        name, ns = "kube-proxy", "kube-system"
        workload = Workload(
            kind="DaemonSet",
            namespace=ns,
            name=name,
            uid=self.uid(),
            labels={"k8s-app": name},
            replicas=NODES,
            image="registry.k8s.io/kube-proxy:v1.31.2",
            created=self.ago(8e6, 9e6),
        )
        spec = self.pod_spec(workload)
        self.add(
            "DaemonSet",
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": self.meta(
                    name, ns, workload.created, uid=workload.uid, labels=workload.labels
                ),
                "spec": {
                    "selector": {"matchLabels": workload.labels},
                    "template": {"metadata": {"labels": workload.labels}, "spec": spec},
                },
                "status": {
                    "currentNumberScheduled": NODES,
                    "desiredNumberScheduled": NODES,
                    "numberAvailable": NODES,
                    "numberReady": NODES,
                },
            },
        )
        owner = {
            "apiVersion": "apps/v1",
            "blockOwnerDeletion": True,
            "controller": True,
            "kind": "DaemonSet",
            "name": name,
            "uid": workload.uid,
        }
        for node in range(NODES):
            self.pod(workload, f"{name}-{self.token(5)}", workload.labels, owner, spec, node=node)

    def pod(
        self,
        workload: Workload,
        name: str,
        labels: dict[str, str],
        owner: Raw,
        template: Raw,
        node: int | None = None,
    ) -> None:
        created = self.ago(600, 9e5)
        started = created + timedelta(seconds=self.rng.randint(2, 40))
        node_name = self.nodes[node if node is not None else self.rng.randrange(NODES)]
        fault = workload.fault
        if fault == "crash-loop" and self.rng.random() < 0.2:
            fault = ""  # a crash loop rarely takes every replica
        spec = dict(template) | {
            "nodeName": node_name,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "serviceAccount": "default",
            "tolerations": [
                {
                    "effect": "NoExecute",
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "tolerationSeconds": 300,
                },
                {
                    "effect": "NoExecute",
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "tolerationSeconds": 300,
                },
            ],
            "volumes": [
                {
                    "name": "kube-api-access",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "expirationSeconds": 3607,
                                    "path": "token",
                                }
                            },
                            {
                                "configMap": {
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                    "name": "kube-root-ca.crt",
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                            "path": "namespace",
                                        }
                                    ]
                                }
                            },
                        ],
                    },
                }
            ],
        }
        if fault == "pending":
            spec.pop("nodeName")
        ready = not fault
        ip = self.ip()
        statuses = []
        for container in template["containers"]:
            main = container["name"] == "app" or workload.kind == "DaemonSet"
            restarts = self.rng.choice((0, 0, 0, 0, 0, 0, 1, 2))
            state: Raw = {"running": {"startedAt": _ts(started)}}
            last: Raw = {}
            container_ready = ready or not main
            if main and fault in ("crash-loop", "oom"):
                restarts = self.rng.randint(6, 250)
                exit_code, reason = (137, "OOMKilled") if fault == "oom" else (1, "Error")
                finished = self.ago(30, 300)
                last = {
                    "terminated": {
                        "containerID": f"containerd://{self.token(64)}",
                        "exitCode": exit_code,
                        "finishedAt": _ts(finished),
                        "reason": reason,
                        "startedAt": _ts(finished - timedelta(seconds=self.rng.randint(1, 20))),
                    }
                }
                state = {
                    "waiting": {
                        "message": (
                            f"back-off 5m0s restarting failed container={container['name']} "
                            f"pod={name}_{workload.namespace}({self.uid()})"
                        ),
                        "reason": "CrashLoopBackOff",
                    }
                }
            elif main and fault == "image-pull":
                state = {
                    "waiting": {
                        "message": f'Back-off pulling image "{container["image"]}"',
                        "reason": "ImagePullBackOff",
                    }
                }
            elif fault == "pending":
                state = {}
            elif restarts:
                finished = started - timedelta(seconds=self.rng.randint(60, 90_000))
                last = {
                    "terminated": {
                        "containerID": f"containerd://{self.token(64)}",
                        "exitCode": self.rng.choice((0, 1, 143)),
                        "finishedAt": _ts(finished),
                        "reason": self.rng.choice(("Completed", "Error")),
                        "startedAt": _ts(
                            finished - timedelta(seconds=self.rng.randint(600, 900_000))
                        ),
                    }
                }
            if fault == "pending":
                continue
            status: Raw = {
                "image": container["image"],
                "imageID": ""
                if "waiting" in state and fault == "image-pull"
                else f"{container['image'].split(':')[0]}@sha256:{self.token(64)}",
                "lastState": last,
                "name": container["name"],
                "ready": container_ready,
                "restartCount": restarts,
                "started": "running" in state,
                "state": state,
                "volumeMounts": [
                    {
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        "name": "kube-api-access",
                        "readOnly": True,
                        "recursiveReadOnly": "Disabled",
                    }
                ],
            }
            if "running" in state or last:
                status["containerID"] = f"containerd://{self.token(64)}"
            statuses.append(status)

        def cond(kind: str, ok: bool, reason: str = "", message: str = "") -> Raw:
            condition: Raw = {
                "lastProbeTime": None,
                "lastTransitionTime": _ts(started if ok else self.ago(60, 600)),
                "status": "True" if ok else "False",
                "type": kind,
            }
            if reason:
                condition["reason"] = reason
            if message:
                condition["message"] = message
            return condition

        if fault == "pending":
            conditions = [
                cond(
                    "PodScheduled",
                    False,
                    "Unschedulable",
                    f"0/{NODES} nodes are available: {NODES} Insufficient cpu. preemption: "
                    f"0/{NODES} nodes are available: {NODES} No preemption victims found for "
                    "incoming pod.",
                )
            ]
            pod_status: Raw = {
                "conditions": conditions,
                "phase": "Pending",
                "qosClass": "Burstable",
            }
        else:
            not_ready = [s["name"] for s in statuses if not s["ready"]]
            why = f"containers with unready status: [{' '.join(not_ready)}]"
            conditions = [
                cond("PodReadyToStartContainers", True),
                cond("Initialized", True),
                cond(
                    "Ready",
                    not not_ready,
                    "" if not not_ready else "ContainersNotReady",
                    "" if not not_ready else why,
                ),
                cond(
                    "ContainersReady",
                    not not_ready,
                    "" if not not_ready else "ContainersNotReady",
                    "" if not not_ready else why,
                ),
                cond("PodScheduled", True),
            ]
            pod_status = {
                "conditions": conditions,
                "containerStatuses": statuses,
                "hostIP": "10.0.1.17",
                "hostIPs": [{"ip": "10.0.1.17"}],
                "phase": "Running" if fault != "image-pull" else "Pending",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "qosClass": "Burstable",
                "startTime": _ts(created),
            }
        annotations = None
        if len(template["containers"]) > 1:
            annotations = {
                "sidecar.istio.io/status": orjson.dumps(
                    {
                        "initContainers": ["istio-init"],
                        "containers": ["istio-proxy"],
                        "volumes": ["istio-envoy", "istio-data", "istio-podinfo", "istiod-ca-cert"],
                        "revision": "default",
                    }
                ).decode(),
                "kubectl.kubernetes.io/default-container": "app",
            }
        pod = self.add(
            "Pod",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": self.meta(
                    name,
                    workload.namespace,
                    created,
                    labels=labels,
                    annotations=annotations,
                    owner=owner,
                    generate_name=name.rsplit("-", 1)[0] + "-"
                    if workload.kind != "StatefulSet"
                    else f"{workload.name}-",
                ),
                "spec": spec,
                "status": pod_status,
            },
        )
        pod["_fault"] = fault
        pod["_ip"] = ip
        pod["_node"] = node_name
        workload.pods.append(pod)

    def service(self, plan: Raw) -> None:
        ns, name, selector = plan["ns"], plan["name"], plan["selector"]
        workload: Workload = plan["workload"]
        cluster_ip = f"10.96.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
        port = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": workload.port}
        labels = {"app": name}
        last_applied = orjson.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"selector": selector, "ports": [port]},
            }
        ).decode()
        service = self.add(
            "Service",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": self.meta(
                    name,
                    ns,
                    self.ago(1e6, 8e6),
                    labels=labels,
                    annotations={
                        "kubectl.kubernetes.io/last-applied-configuration": last_applied + "\n"
                    },
                ),
                "spec": {
                    "clusterIP": cluster_ip,
                    "clusterIPs": [cluster_ip],
                    "internalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "ports": [port],
                    "selector": selector,
                    "sessionAffinity": "None",
                    "type": "ClusterIP",
                },
                "status": {"loadBalancer": {}},
            },
        )
        selected = [
            pod
            for pod in workload.pods
            if all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        endpoints = []
        for pod in selected:
            if pod["_fault"] == "pending":
                continue
            ready = pod["_fault"] == ""
            endpoints.append(
                {
                    "addresses": [pod["_ip"]],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                    "nodeName": pod["_node"],
                    "targetRef": {
                        "kind": "Pod",
                        "name": pod["metadata"]["name"],
                        "namespace": ns,
                        "uid": pod["metadata"]["uid"],
                    },
                    "zone": f"eu-west-1{'abc'[self.nodes.index(pod['_node']) % 3]}",
                }
            )
        slice_name = f"{name}-{self.token(5)}"
        self.add(
            "EndpointSlice",
            {
                "addressType": "IPv4",
                "apiVersion": "discovery.k8s.io/v1",
                "endpoints": endpoints or None,
                "kind": "EndpointSlice",
                "metadata": self.meta(
                    slice_name,
                    ns,
                    self.ago(600, 1e6),
                    labels={
                        **labels,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                        "kubernetes.io/service-name": name,
                    },
                    annotations={
                        "endpoints.kubernetes.io/last-change-trigger-time": _ts(self.ago(60, 9e5))
                    },
                    owner={
                        "apiVersion": "v1",
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "kind": "Service",
                        "name": name,
                        "uid": service["metadata"]["uid"],
                    },
                    generate_name=f"{name}-",
                ),
                "ports": [{"name": "http", "port": workload.port, "protocol": "TCP"}]
                if endpoints
                else None,
            },
        )

    def ingresses(self, services: list[Raw]) -> None:
        by_ns: dict[str, list[Raw]] = {}
        for plan in services:
            by_ns.setdefault(plan["ns"], []).append(plan)
        for ns, plans in by_ns.items():
            for index in range(self.rng.randint(2, 6)):
                backends = self.rng.sample(plans, k=min(len(plans), self.rng.randint(1, 4)))
                host = f"{ns}-{index}.example.com"
                paths: list[Raw] = [
                    {
                        "backend": {
                            "service": {"name": plan["name"], "port": {"number": 80}},
                        },
                        "path": "/" if position == 0 else f"/{plan['name']}",
                        "pathType": "Prefix",
                    }
                    for position, plan in enumerate(backends)
                ]
                if self.rng.random() < 0.03:
                    paths[-1]["backend"]["service"]["name"] = "removed-service"
                annotations = {
                    "nginx.ingress.kubernetes.io/proxy-read-timeout": str(
                        self.rng.choice((30, 60, 120))
                    ),
                    "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
                    "cert-manager.io/cluster-issuer": "letsencrypt-prod",
                }
                self.add(
                    "Ingress",
                    {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "Ingress",
                        "metadata": self.meta(
                            f"{ns}-{index}", ns, self.ago(1e6, 8e6), annotations=annotations
                        ),
                        "spec": {
                            "ingressClassName": "nginx"
                            if self.rng.random() > 0.02
                            else "nginx-internal",
                            "rules": [{"host": host, "http": {"paths": paths}}],
                            "tls": [{"hosts": [host], "secretName": f"{ns}-{index}-tls"}],
                        },
                        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
                    },
                )

    # --- events -------------------------------------------------------------

    def events(self, workloads: list[Workload]) -> None:
        made = 0
        for event in self.event_stream(workloads):
            self.add("Event", event)
            made += 1
            if made == EVENTS:
                return
        raise AssertionError(f"only {made} events")

    def event(
        self,
        involved: Raw,
        reason: str,
        message: str,
        *,
        kind: str = "Normal",
        component: str = "kubelet",
        host: str | None = None,
        count: int = 1,
        first: datetime | None = None,
        field_path: str | None = None,
    ) -> Raw:
        first = first or self.ago(60, 3600)
        last = first + timedelta(seconds=self.rng.randint(0, 1800)) if count > 1 else first
        last = min(last, NOW)
        ref = dict(involved)
        if field_path:
            ref["fieldPath"] = field_path
        source: Raw = {"component": component}
        if host:
            source["host"] = host
        return {
            "apiVersion": "v1",
            "count": count,
            "eventTime": None,
            "firstTimestamp": _ts(first),
            "involvedObject": ref,
            "kind": "Event",
            "lastTimestamp": _ts(last),
            "message": message,
            "metadata": self.meta(
                f"{involved['name']}.{self.rng.getrandbits(64):x}",
                involved["namespace"],
                first,
            ),
            "reason": reason,
            "reportingComponent": component if component != "kubelet" else "kubelet",
            "reportingInstance": host or "",
            "source": source,
            "type": kind,
        }

    def event_stream(self, workloads: list[Workload]) -> Iterator[Raw]:
        # Faults first, so they survive the cap.
        for workload in workloads:
            for pod in workload.pods:
                yield from self.fault_events(workload, pod)
            if workload.fault == "scaled-to-zero":
                ref = self.ref(
                    "Deployment", workload.namespace, workload.name, workload.uid, "apps/v1"
                )
                yield self.event(
                    ref,
                    "ScalingReplicaSet",
                    f"Scaled down replica set {workload.name}-{workload.rs_hash} to 0 from "
                    f"{self.rng.randint(2, 6)}",
                    component="deployment-controller",
                    first=self.ago(600, 7200),
                )
        # Every pod's life story (and the rollout that made it).
        for workload in workloads:
            if workload.kind == "Deployment" and workload.replicas:
                ref = self.ref(
                    "Deployment", workload.namespace, workload.name, workload.uid, "apps/v1"
                )
                first = self.ago(3600, 7200)
                yield self.event(
                    ref,
                    "ScalingReplicaSet",
                    f"Scaled up replica set {workload.name}-{workload.rs_hash} "
                    f"to {workload.replicas}",
                    component="deployment-controller",
                    first=first,
                )
                yield self.event(
                    ref,
                    "ScalingReplicaSet",
                    f"Scaled down replica set {workload.name}-{workload.old_hash} to 0 from "
                    f"{workload.replicas}",
                    component="deployment-controller",
                    first=first + timedelta(seconds=90),
                )
            for pod in workload.pods:
                yield from self.pod_story(workload, pod)
        # Then noise until the cap: probes failing during start, old pods' deaths.
        while True:
            workload = self.rng.choice(workloads)
            if not workload.pods:
                continue
            pod = self.rng.choice(workload.pods)
            involved = self.pod_ref(pod)
            ip = pod["_ip"]
            port = workload.port
            yield self.event(
                involved,
                "Unhealthy",
                f'Readiness probe failed: Get "http://{ip}:{port}/healthz": dial tcp '
                f"{ip}:{port}: connect: connection refused",
                kind="Warning",
                host=pod["_node"],
                count=self.rng.randint(1, 4),
                field_path="spec.containers{app}",
            )
            old = f"{workload.name}-{workload.old_hash}-{self.token(5)}"
            gone = self.ref("Pod", workload.namespace, old, self.uid(), "v1")
            yield self.event(
                gone,
                "Killing",
                "Stopping container app",
                host=pod["_node"],
                field_path="spec.containers{app}",
            )

    def ref(self, kind: str, ns: str, name: str, uid: str, api: str) -> Raw:
        return {
            "apiVersion": api,
            "kind": kind,
            "name": name,
            "namespace": ns,
            "resourceVersion": self.rv(),
            "uid": uid,
        }

    def pod_ref(self, pod: Raw) -> Raw:
        meta = pod["metadata"]
        return self.ref("Pod", meta["namespace"], meta["name"], meta["uid"], "v1")

    def pod_story(self, workload: Workload, pod: Raw) -> Iterator[Raw]:
        meta = pod["metadata"]
        involved = self.pod_ref(pod)
        node = pod["_node"]
        first = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00"))
        owner = meta["ownerReferences"][0]
        yield self.event(
            self.ref(owner["kind"], meta["namespace"], owner["name"], owner["uid"], "apps/v1"),
            "SuccessfulCreate",
            f"Created pod: {meta['name']}",
            component=f"{owner['kind'].lower()}-controller"
            if owner["kind"] != "ReplicaSet"
            else "replicaset-controller",
            first=first,
        )
        if pod["_fault"] == "pending":
            return
        yield self.event(
            involved,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
            component="default-scheduler",
            first=first,
        )
        image = workload.image
        path = "spec.containers{app}"
        yield self.event(
            involved, "Pulling", f'Pulling image "{image}"', host=node, first=first, field_path=path
        )
        if pod["_fault"] == "image-pull":
            return
        yield self.event(
            involved,
            "Pulled",
            f'Successfully pulled image "{image}" in {self.rng.uniform(0.5, 9):.3f}s '
            f"(including waiting). Image size: {self.rng.randint(20, 900) * 1_048_576} bytes.",
            host=node,
            first=first,
            field_path=path,
        )
        yield self.event(
            involved, "Created", "Created container app", host=node, first=first, field_path=path
        )
        yield self.event(
            involved, "Started", "Started container app", host=node, first=first, field_path=path
        )

    def fault_events(self, workload: Workload, pod: Raw) -> Iterator[Raw]:
        fault = pod["_fault"]
        if not fault:
            return
        involved = self.pod_ref(pod)
        node = pod["_node"]
        path = "spec.containers{app}"
        ip, port = pod["_ip"], workload.port
        if fault in ("crash-loop", "oom"):
            yield self.event(
                involved,
                "BackOff",
                "Back-off restarting failed container app in pod "
                f"{pod['metadata']['name']}_{workload.namespace}({pod['metadata']['uid']})",
                kind="Warning",
                host=node,
                count=self.rng.randint(20, 900),
                first=self.ago(3600, 86400),
                field_path=path,
            )
        if fault in ("crash-loop", "readiness"):
            yield self.event(
                involved,
                "Unhealthy",
                f"Readiness probe failed: HTTP probe failed with statuscode: "
                f"{self.rng.choice((404, 500, 503))}"
                if fault == "readiness"
                else f'Readiness probe failed: Get "http://{ip}:{port}/healthz": dial tcp '
                f"{ip}:{port}: connect: connection refused",
                kind="Warning",
                host=node,
                count=self.rng.randint(50, 3000),
                first=self.ago(3600, 86400),
                field_path=path,
            )
        if fault == "image-pull":
            yield self.event(
                involved,
                "Failed",
                f'Failed to pull image "{workload.image}": rpc error: code = NotFound desc = '
                f'failed to pull and unpack image "{workload.image}": failed to resolve reference '
                f'"{workload.image}": {workload.image}: not found',
                kind="Warning",
                host=node,
                count=self.rng.randint(5, 40),
                field_path=path,
            )
            yield self.event(
                involved,
                "BackOff",
                f'Back-off pulling image "{workload.image}"',
                kind="Warning",
                host=node,
                count=self.rng.randint(50, 900),
                field_path=path,
            )
        if fault == "pending":
            yield self.event(
                involved,
                "FailedScheduling",
                f"0/{NODES} nodes are available: {NODES} Insufficient cpu. preemption: "
                f"0/{NODES} nodes are available: {NODES} No preemption victims found for "
                "incoming pod.",
                kind="Warning",
                component="default-scheduler",
                count=self.rng.randint(5, 400),
            )


# --- writing ---------------------------------------------------------------

_ORDER = (
    "Namespace",
    "ConfigMap",
    "Service",
    "EndpointSlice",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Pod",
    "Ingress",
    "IngressClass",
    "Event",
)
_FILES = {
    "Namespace": "namespaces",
    "ConfigMap": "configmaps",
    "Service": "services",
    "EndpointSlice": "endpointslices",
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Pod": "pods",
    "Ingress": "ingresses",
    "IngressClass": "ingressclasses",
    "Event": "events",
}


def _clean(obj: Any) -> Any:
    """Drop the generator's private `_` keys."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _as_list(items: list[Raw]) -> Raw:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def write_json(path: Path, document: Raw) -> None:
    """As `kubectl get -o json` prints: keys sorted, four-space indent."""
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    text = re.sub(rb"(?m)^( +)", lambda m: m.group(1) * 2, text)
    path.write_bytes(text + b"\n")


# --- a go-yaml v2 style emitter -----------------------------------------------

_WIDTH = 80
_RESOLVES = re.compile(
    r"""^(?:
      ~|null|Null|NULL
    | y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
    | [-+]?(?:0|[1-9][0-9_]*)
    | [-+]?0[xX][0-9a-fA-F_]+ | [-+]?0[0-7_]+ | [-+]?0b[01_]+
    | [-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
    | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
    | [0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
    | \d{4}-\d\d?-\d\d?
      (?:(?:[Tt]|[ \t]+)\d\d?:\d\d:\d\d(?:\.\d*)?(?:[ \t]*(?:Z|[-+]\d\d?(?::\d\d)?))?)?
    | <<
    )$""",
    re.VERBOSE,
)
_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@`")


def _plain_ok(text: str) -> bool:
    if not text or text != text.strip() or text[0] in _PLAIN_START:
        return False
    if ": " in text or " #" in text or text.endswith(":") or "\t" in text:
        return False
    return text.isprintable()


def _fold(text: str, column: int, indent: int) -> list[str]:
    """Break a flow scalar at single spaces once past the width, as libyaml does."""
    if column + len(text) <= _WIDTH or " " not in text:
        return [text]
    lines: list[str] = []
    start, position = 0, 0
    width = _WIDTH - column
    while True:
        space = text.find(" ", position)
        if space < 0:
            break
        if (
            space - start >= width
            and space + 1 < len(text)
            and text[space + 1] != " "
            and text[space - 1] != " "
        ):
            lines.append(text[start:space])
            start = space + 1
            width = _WIDTH - indent
        position = space + 1
    lines.append(text[start:])
    return lines


def _scalar(value: Any, column: int, indent: int) -> list[str]:
    """A scalar as the lines it takes (the first goes after `key: `)."""
    if value is None:
        return ["null"]
    if value is True:
        return ["true"]
    if value is False:
        return ["false"]
    if isinstance(value, int | float):
        return [repr(value)]
    text = str(value)
    if "\n" in text:
        body = text.rstrip("\n")
        trailing = len(text) - len(body)
        header = "|-" if trailing == 0 else "|" if trailing == 1 else "|+"
        pad = " " * (indent + 2)
        return (
            [header]
            + [pad + line if line else "" for line in body.split("\n")]
            + ([""] * (trailing - 1) if trailing > 1 else [])
        )
    if _RESOLVES.match(text):
        return [json.dumps(text)]
    if _plain_ok(text):
        return _fold(text, column, indent)
    if not text.isprintable():
        return [json.dumps(text)]
    quoted = "'" + text.replace("'", "''") + "'"
    return _fold(quoted, column, indent)


def _emit_map(obj: Raw, indent: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * indent
    for position, key in enumerate(sorted(obj)):
        value = obj[key]
        lead = first_prefix if position == 0 and first_prefix is not None else pad
        if isinstance(value, dict):
            if value:
                out.append(f"{lead}{key}:")
                _emit_map(value, indent + 2, out)
            else:
                out.append(f"{lead}{key}: {{}}")
        elif isinstance(value, list):
            if value:
                out.append(f"{lead}{key}:")
                _emit_seq(value, indent, out)
            else:
                out.append(f"{lead}{key}: []")
        else:
            lines = _scalar(value, indent + len(key) + 2, indent)
            out.append(f"{lead}{key}: {lines[0]}")
            if len(lines) > 1:
                if lines[0].startswith("|"):
                    out.extend(lines[1:])
                else:
                    out.extend(" " * (indent + 2) + line for line in lines[1:])


def _emit_seq(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict) and item:
            _emit_map(item, indent + 2, out, first_prefix=pad + "- ")
        elif isinstance(item, dict):
            out.append(f"{pad}- {{}}")
        elif isinstance(item, list):
            raise ValueError("nested sequences are not generated")
        else:
            lines = _scalar(item, indent + 2, indent)
            out.append(f"{pad}- {lines[0]}")
            if len(lines) > 1:
                if lines[0].startswith("|"):
                    out.extend(lines[1:])
                else:
                    out.extend(" " * (indent + 2) + line for line in lines[1:])


def to_yaml(document: Raw) -> str:
    out: list[str] = []
    _emit_map(document, 0, out)
    return "\n".join(out) + "\n"


def write_yaml(path: Path, document: Raw) -> None:
    """As `kubectl get -o yaml` prints a List: item by item, so memory stays flat."""
    items = document["items"]
    with path.open("w", encoding="utf-8", newline="\n") as stream:
        stream.write(f"apiVersion: {document['apiVersion']}\nitems:\n")
        for item in items:
            out: list[str] = []
            _emit_map(item, 2, out, first_prefix="- ")
            stream.write("\n".join(out))
            stream.write("\n")
        stream.write('kind: List\nmetadata:\n  resourceVersion: ""\n')


def generate(out: Path, seed: int = SEED) -> dict[str, Any]:
    """Write the YAML bundle, the JSON bundle and a manifest; return the manifest."""
    cluster = Cluster(seed)
    cluster.build()
    objects = {kind: _clean(cluster.objects.get(kind, [])) for kind in _ORDER}
    out.mkdir(parents=True, exist_ok=True)
    json_dir = out / JSON_DIR
    json_dir.mkdir(exist_ok=True)
    for stale in json_dir.glob("*.json"):
        stale.unlink()
    for kind in _ORDER:
        if objects[kind]:
            write_json(json_dir / f"{_FILES[kind]}.json", _as_list(objects[kind]))
    everything = [obj for kind in _ORDER for obj in objects[kind]]
    write_yaml(out / YAML_FILE, _as_list(everything))
    counts = {kind: len(objects[kind]) for kind in _ORDER}
    manifest = {
        "version": VERSION,
        "seed": seed,
        "counts": counts,
        "yaml": YAML_FILE,
        "json": JSON_DIR,
        "yaml_bytes": (out / YAML_FILE).stat().st_size,
        "json_bytes": sum(p.stat().st_size for p in json_dir.glob("*.json")),
        "one_service": cluster.mismatches[0],
        "expected": cluster.expected,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    manifest = generate(args.out, args.seed)
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
