"""What a Service selects and what serves it: its endpoints (EndpointSlices
or the legacy Endpoints), the pods and workloads its selector picks, and the
autoscalers of those workloads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from why5xx.kube import labels_match
from why5xx.snapshot import WORKLOAD_KINDS, Obj, Snapshot
from why5xx.views.pods import pod_ready, pod_template_labels, pod_terminating

# `<service>.<namespace>.svc`, optionally `.cluster.local` (the default cluster domain).
IN_CLUSTER = re.compile(
    r"^(?P<name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.(?P<ns>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
    r"\.svc(?:\.cluster\.local)?$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    ip: str
    pod: str | None  # the pod named by targetRef, when there is one
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointPort:
    name: str
    port: int
    protocol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """What the endpoint controller published for a Service: from its
    EndpointSlices, else its legacy Endpoints object."""

    endpoints: tuple[Endpoint, ...]
    ports: tuple[EndpointPort, ...]
    objects: tuple[Obj, ...]

    @property
    def ready(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.ready)

    @property
    def terminating(self) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints if e.terminating)


def service_endpoints(snap: Snapshot, service: Obj) -> Endpoints | None:
    """None when the snapshot holds neither EndpointSlices nor Endpoints for
    the Service (not captured), which is not the same as zero endpoints."""
    slices = snap.endpoint_slices(service.namespace, service.name)
    if slices:
        return _from_slices(slices)
    legacy = snap.get("Endpoints", service.namespace, service.name)
    if legacy is not None:
        return _from_legacy(legacy)
    return None


def _add_ports(raw_ports: Any, ports: dict[tuple[str, int], EndpointPort]) -> None:
    for port in raw_ports or ():
        if port.get("port") is not None:
            key = (str(port.get("name") or ""), int(port["port"]))
            ports[key] = EndpointPort(
                name=key[0], port=key[1], protocol=str(port.get("protocol") or "TCP")
            )


def _from_slices(slices: tuple[Obj, ...]) -> Endpoints:
    endpoints: list[Endpoint] = []
    ports: dict[tuple[str, int], EndpointPort] = {}
    for eps in slices:
        _add_ports(eps.raw.get("ports"), ports)
        for endpoint in eps.raw.get("endpoints") or ():
            conditions = endpoint.get("conditions") or {}
            # Per the EndpointSlice API, a nil `ready` means ready.
            ready = conditions.get("ready") is not False
            terminating = bool(conditions.get("terminating"))
            serving = conditions.get("serving", ready) is not False
            target = endpoint.get("targetRef") or {}
            for ip in endpoint.get("addresses") or ():
                endpoints.append(
                    Endpoint(
                        ip=str(ip),
                        pod=target.get("name") if target.get("kind") == "Pod" else None,
                        ready=ready and not terminating,
                        serving=serving,
                        terminating=terminating,
                    )
                )
    return Endpoints(endpoints=tuple(endpoints), ports=tuple(ports.values()), objects=slices)


def _from_legacy(legacy: Obj) -> Endpoints:
    endpoints: list[Endpoint] = []
    ports: dict[tuple[str, int], EndpointPort] = {}
    for subset in legacy.raw.get("subsets") or ():
        _add_ports(subset.get("ports"), ports)
        for field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field) or ():
                target = address.get("targetRef") or {}
                endpoints.append(
                    Endpoint(
                        ip=str(address.get("ip", "")),
                        pod=target.get("name") if target.get("kind") == "Pod" else None,
                        ready=ready,
                        serving=ready,
                        terminating=False,
                    )
                )
    return Endpoints(endpoints=tuple(endpoints), ports=tuple(ports.values()), objects=(legacy,))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTarget:
    """The facts every Service rule starts from, computed once per target."""

    service: Obj
    selector: Mapping[str, str]
    pods: tuple[Obj, ...]  # pods the selector picks, in the Service's namespace
    endpoints: Endpoints | None

    @staticmethod
    def build(snap: Snapshot, service: Obj) -> ServiceTarget:
        selector = service.spec.get("selector") or {}
        return ServiceTarget(
            service=service,
            selector=selector,
            pods=snap.pods_matching(service.namespace, selector),
            endpoints=service_endpoints(snap, service),
        )

    @property
    def namespace(self) -> str:
        return self.service.namespace

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def live_pods(self) -> tuple[Obj, ...]:
        """Selected pods that are not terminating and not finished."""
        return tuple(
            p
            for p in self.pods
            if not pod_terminating(p) and p.status.get("phase") not in ("Succeeded", "Failed")
        )


def selected_workloads(
    snap: Snapshot, target: ServiceTarget, kinds: tuple[str, ...] = WORKLOAD_KINDS
) -> tuple[Obj, ...]:
    """Workloads (of `kinds`) whose pod template the Service's selector
    matches, whether they run pods or not (a ReplicaSet owned by a
    Deployment counts as its Deployment)."""
    if not target.selector:
        return ()
    return snap.derived(
        ("selected_workloads", target.namespace, target.name, kinds),
        lambda: tuple(
            workload
            for kind in kinds
            for workload in snap.list(kind, target.namespace)
            if labels_match(target.selector, pod_template_labels(workload))
            and not (kind == "ReplicaSet" and snap.owner(workload) is not None)
        ),
    )


def ready_backends(target: ServiceTarget) -> int:
    """What the proxies see: ready endpoints, or ready pods when the input
    holds no EndpointSlice or Endpoints for the Service."""
    if target.endpoints is not None:
        return len(target.endpoints.ready)
    return sum(1 for pod in target.live_pods if pod_ready(pod))


def autoscalers(snap: Snapshot, workload: Obj) -> list[Obj]:
    """The HorizontalPodAutoscalers whose scaleTargetRef is the workload."""
    return [
        hpa
        for hpa in snap.list("HorizontalPodAutoscaler", workload.namespace)
        if (hpa.spec.get("scaleTargetRef") or {}).get("name") == workload.name
        and (hpa.spec.get("scaleTargetRef") or {}).get("kind") == workload.kind
    ]


def alias_of(service: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the in-cluster Service an ExternalName Service is
    an alias of (`externalName: NAME.NAMESPACE.svc[.cluster.local]`), unless
    it names itself."""
    if service.spec.get("type") != "ExternalName":
        return None
    found = IN_CLUSTER.match(str(service.spec.get("externalName") or "").rstrip(".").lower())
    if found is None or (found["name"], found["ns"]) == (service.name, service.namespace):
        return None
    return found["ns"], found["name"]


def aliased_service(snap: Snapshot, service: Obj) -> Obj | None:
    """The Service an ExternalName Service is an alias of, when the input holds it."""
    alias = alias_of(service)
    return snap.get("Service", *alias) if alias else None
