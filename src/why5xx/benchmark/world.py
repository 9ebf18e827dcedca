"""A generated cluster, built the way the control plane builds one.

`World` holds the objects of one cluster at one moment ("now", the capture
time): namespaces, nodes, the apps (`workloads.App`, `Workload` here) whose Deployments,
ReplicaSets, StatefulSets and pods are rendered when the world is finished,
and everything else as raw manifests. `finish` plays the controllers that
derive state from the rest, so a fault only has to change what a person
or a release changed and the consequences follow: the EndpointSlice
controller publishes the pods the Services select (named target ports
resolved per pod, terminating and unready endpoints with their
conditions), and events older than the API server's one-hour TTL are gone.

Objects look like `kubectl get -o yaml` prints them: uids, generated name
suffixes from Kubernetes' safe alphabet, RFC 3339 times, owner references.
Everything is drawn from one `random.Random`, so a seed gives one world.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

Raw = dict[str, Any]


class Workload(Protocol):
    """What the world needs of an app (`workloads.App`, which needs the world):
    where it lives, and its objects when the world is finished."""

    @property
    def name(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    def render(self) -> list[Raw]: ...


# Kubernetes' alphabet for generated names (`k8s.io/apimachinery/pkg/util/rand`).
SAFE = "bcdfghjklmnpqrstvwxz2456789"
EVENT_TTL = 3600.0  # kube-apiserver --event-ttl default: 1h
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass(slots=True, kw_only=True)
class Node:
    name: str
    zone: str
    ip: str
    pod_cidr: int  # third octet of the node's pod range 10.244.N.0/24
    ready: bool = True
    unschedulable: bool = False
    taints: list[Raw] = field(default_factory=list)
    next_ip: int = 10


class World:
    """One cluster being generated. Build with shapes, break with faults,
    then `finish` for the objects a bundle would hold."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.objects: list[Raw] = []
        self.apps: list[Workload] = []
        self.events: list[Raw] = []
        self.nodes: list[Node] = []
        self.log_lines: list[str] = []
        self.tags: set[str] = (
            set()
        )  # the proxies in front of the apps: ingress-nginx, istio, gateway
        # Run after `finish`, with its objects: what needs the pods' IPs (proxy logs).
        self.after: list[Callable[[list[Raw]], None]] = []
        self._version = rng.randrange(4_000_000, 9_000_000)
        self._epoch = now.timestamp()

    # --- identity and time ------------------------------------------------

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        value = self.rng.randrange(len(SAFE) ** length)
        out = []
        for _ in range(length):
            value, digit = divmod(value, len(SAFE))
            out.append(SAFE[digit])
        return "".join(out)

    def resource_version(self) -> str:
        self._version += self.rng.randrange(1, 400)
        return str(self._version)

    def at(self, ago: float) -> datetime:
        """The time `ago` seconds before now (after it, when negative)."""
        return self.now - timedelta(seconds=ago)

    def ts(self, ago: float) -> str:
        """RFC 3339, as the API server writes times (`time.gmtime`: 4x
        `datetime.strftime`, which the generator calls 50 times a pod)."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._epoch - ago))

    def pick(self, items: Iterable[Any]) -> Any:
        return self.rng.choice(list(items))

    # --- objects ------------------------------------------------------------

    def meta(
        self,
        name: str,
        namespace: str | None,
        *,
        age: float,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        owner: Raw | None = None,
        generate_name: str | None = None,
    ) -> Raw:
        out: Raw = {}
        if annotations:
            out["annotations"] = dict(annotations)
        out["creationTimestamp"] = self.ts(age)
        if generate_name:
            out["generateName"] = generate_name
        if labels:
            out["labels"] = dict(labels)
        out["name"] = name
        if namespace:
            out["namespace"] = namespace
        if owner is not None:
            out["ownerReferences"] = [owner_ref(owner)]
        out["resourceVersion"] = self.resource_version()
        out["uid"] = self.uid()
        return out

    def add(self, obj: Raw) -> Raw:
        self.objects.append(obj)
        return obj

    def find(self, kind: str, namespace: str, name: str) -> Raw | None:
        for obj in self.objects:
            meta = obj["metadata"]
            if (
                obj["kind"] == kind
                and meta.get("namespace", "") == namespace
                and meta["name"] == name
            ):
                return obj
        return None

    def of_kind(self, kind: str, namespace: str | None = None) -> list[Raw]:
        return [
            o
            for o in self.objects
            if o["kind"] == kind
            and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]

    def remove(self, obj: Raw) -> None:
        self.objects = [o for o in self.objects if o is not obj]

    def namespace(self, name: str, labels: Mapping[str, str] | None = None, age: float = 0) -> Raw:
        found = self.find("Namespace", "", name)
        if found is not None:
            found["metadata"].setdefault("labels", {}).update(labels or {})
            return found
        all_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
        return self.add(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {**self.meta(name, None, age=age or 400 * DAY, labels=all_labels)},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )

    # --- nodes --------------------------------------------------------------

    def add_nodes(self, count: int, style: str) -> None:
        region = self.pick(["eu-west-1", "us-east-1", "us-west-2", "eu-central-1"])
        for index in range(count):
            zone = f"{region}{'abc'[index % 3]}"
            ip = f"10.0.{index % 3 + 1}.{10 + 30 * index + self.rng.randrange(0, 30)}"
            if style == "eks":
                name = f"ip-{ip.replace('.', '-')}.{region}.compute.internal"
            elif style == "gke":
                name = f"gke-prod-default-pool-{self.suffix(8)}-{self.suffix(4)}"
            else:
                name = f"worker-{index + 1}"
            self.nodes.append(Node(name=name, zone=zone, ip=ip, pod_cidr=index + 1))

    def schedule(self) -> Node:
        candidates = [n for n in self.nodes if n.ready and not n.unschedulable] or self.nodes
        return self.pick(candidates)  # type: ignore[no-any-return]

    def pod_ip(self, node: Node) -> str:
        node.next_ip += self.rng.randrange(1, 6)
        return f"10.244.{node.pod_cidr}.{node.next_ip % 250 + 2}"

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def _node_objects(self) -> list[Raw]:
        out = []
        for node in self.nodes:
            conditions = [
                _node_condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                _node_condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                _node_condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                _node_condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")
                if node.ready
                else _node_condition(
                    "Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
                ),
            ]
            spec: Raw = {"podCIDR": f"10.244.{node.pod_cidr}.0/24"}
            if node.unschedulable:
                spec["unschedulable"] = True
            if node.taints:
                spec["taints"] = node.taints
            labels = {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m6i.xlarge",
                "topology.kubernetes.io/zone": node.zone,
            }
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": self.meta(node.name, None, age=40 * DAY, labels=labels),
                    "spec": spec,
                    "status": {
                        "addresses": [
                            {"address": node.ip, "type": "InternalIP"},
                            {"address": node.name, "type": "Hostname"},
                        ],
                        "allocatable": {"cpu": "3920m", "memory": "15116436Ki", "pods": "58"},
                        "capacity": {"cpu": "4", "memory": "16218260Ki", "pods": "58"},
                        "conditions": [
                            {
                                **c,
                                "lastHeartbeatTime": self.ts(30 if node.ready else 400),
                                "lastTransitionTime": self.ts(20 * DAY if node.ready else 380),
                            }
                            for c in conditions
                        ],
                        "nodeInfo": {
                            "containerRuntimeVersion": "containerd://1.7.22",
                            "kubeletVersion": "v1.31.4",
                            "osImage": "Amazon Linux 2023",
                        },
                    },
                }
            )
        return out

    # --- events -------------------------------------------------------------

    def event(
        self,
        about: Raw,
        reason: str,
        message: str,
        *,
        ago: float,
        first: float | None = None,
        count: int = 1,
        warning: bool = False,
        component: str = "kubelet",
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        """An event about `about`, as `kubectl get events -o yaml` prints a
        core/v1 Event; dropped when older than the API server keeps them."""
        first_ago = max(first if first is not None else ago, ago)
        if ago > EVENT_TTL:
            return
        meta = about["metadata"]
        involved: Raw = {
            "apiVersion": about.get("apiVersion", "v1"),
            "kind": about["kind"],
            "name": meta["name"],
            "namespace": meta.get("namespace", "default"),
            "resourceVersion": meta.get("resourceVersion", ""),
            "uid": meta.get("uid", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        source: Raw = {"component": component}
        if host:
            source["host"] = host
        stamp = int(self.at(first_ago).timestamp() * 1e9) + self.rng.randrange(1_000_000)
        namespace = meta.get("namespace", "default")
        self.events.append(
            {
                "apiVersion": "v1",
                "count": count,
                "eventTime": None,
                "firstTimestamp": self.ts(first_ago),
                "involvedObject": involved,
                "kind": "Event",
                "lastTimestamp": self.ts(ago),
                "message": message,
                "metadata": {
                    "creationTimestamp": self.ts(first_ago),
                    "name": f"{meta['name']}.{stamp:x}",
                    "namespace": namespace,
                    "resourceVersion": self.resource_version(),
                    "uid": self.uid(),
                },
                "reason": reason,
                "reportingComponent": component,
                "reportingInstance": host or "",
                "source": source,
                "type": "Warning" if warning else "Normal",
            }
        )

    # --- the finished cluster ----------------------------------------------

    def finish(self) -> list[Raw]:
        """Every object of the cluster: rendered apps, the EndpointSlices the
        controller publishes for them, nodes and the events still kept."""
        rendered: list[Raw] = []
        for app in self.apps:
            rendered.extend(app.render())
        objects = [*self.objects, *rendered]
        pods_by_ns: dict[str, list[Raw]] = {}
        for obj in objects:
            if obj["kind"] == "Pod":
                pods_by_ns.setdefault(obj["metadata"]["namespace"], []).append(obj)
        slices = [
            eps
            for svc in objects
            if svc["kind"] == "Service"
            for eps in self.endpoint_slices(svc, pods_by_ns.get(svc["metadata"]["namespace"], []))
        ]
        events = sorted(self.events, key=lambda e: str(e["lastTimestamp"]))
        out = [*self._node_objects(), *objects, *slices, *events]
        for step in self.after:
            step(out)
        return out

    def endpoint_slices(self, service: Raw, pods: list[Raw]) -> list[Raw]:
        """What the EndpointSlice controller publishes for `service`: the pods
        its selector picks, one slice per set of resolved ports (a named
        targetPort a pod does not declare leaves that port out for the pod),
        with ready / serving / terminating conditions."""
        spec = service["spec"]
        selector = spec.get("selector")
        if not selector or spec.get("type") == "ExternalName":
            return []
        groups: dict[tuple[tuple[str, int, str], ...], list[Raw]] = {}
        for pod in pods:
            status = pod.get("status") or {}
            if not labels_match(selector, pod["metadata"].get("labels") or {}):
                continue
            if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
                continue
            ports = tuple(
                (str(port.get("name") or ""), number, str(port.get("protocol") or "TCP"))
                for port in spec.get("ports") or ()
                if (number := resolve_target_port(port, pod)) is not None
            )
            groups.setdefault(ports, []).append(_endpoint(pod, self.nodes))
        if not groups:
            groups[()] = []
        out = []
        meta = service["metadata"]
        for ports, endpoints in groups.items():
            labels = {
                **(meta.get("labels") or {}),
                MANAGED_BY: "endpointslice-controller.k8s.io",
                SERVICE_NAME_LABEL: meta["name"],
            }
            out.append(
                {
                    "addressType": "IPv4",
                    "apiVersion": "discovery.k8s.io/v1",
                    "endpoints": endpoints or None,
                    "kind": "EndpointSlice",
                    "metadata": {
                        **self.meta(
                            f"{meta['name']}-{self.suffix()}",
                            meta["namespace"],
                            age=self.rng.uniform(MINUTE, 30 * DAY),
                            labels=labels,
                            owner=service,
                            generate_name=f"{meta['name']}-",
                        ),
                        "annotations": {
                            "endpoints.kubernetes.io/last-change-trigger-time": self.ts(
                                self.rng.uniform(10, 20 * MINUTE)
                            )
                        },
                    },
                    "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]
                    or None,
                }
            )
        return out


def owner_ref(owner: Raw) -> Raw:
    return {
        "apiVersion": owner.get("apiVersion", "v1"),
        "blockOwnerDeletion": True,
        "controller": True,
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }


def resolve_target_port(port: Mapping[str, Any], pod: Raw) -> int | None:
    """The pod port a Service port sends to (`podutil.FindPort`): a number as
    it is, a name looked up among the pod's container ports."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if str(target).isdigit():
        return int(str(target))
    protocol = port.get("protocol") or "TCP"
    for container in pod["spec"].get("containers") or ():
        for declared in container.get("ports") or ():
            if declared.get("name") == target and (declared.get("protocol") or "TCP") == protocol:
                return int(declared["containerPort"])
    return None


def _endpoint(pod: Raw, nodes: list[Node]) -> Raw:
    meta, status = pod["metadata"], pod["status"]
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])
    )
    terminating = bool(meta.get("deletionTimestamp"))
    node_name = pod["spec"].get("nodeName", "")
    zone = next((n.zone for n in nodes if n.name == node_name), "")
    return {
        "addresses": [status["podIP"]],
        "conditions": {
            "ready": ready and not terminating,
            "serving": ready,
            "terminating": terminating,
        },
        "nodeName": node_name,
        "targetRef": {
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "zone": zone,
    }


def _node_condition(kind: str, status: str, reason: str, message: str = "") -> Raw:
    return {
        "message": message or f"kubelet has {reason.removeprefix('KubeletHas').lower()}",
        "reason": reason,
        "status": status,
        "type": kind,
    }
