"""Typed, read-only answers to the questions rules ask of raw objects.

Rules should not poke raw dicts for the common facts (is this pod ready?
which endpoints serve this Service?); they ask here, so the semantics live
in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from why5xx.kube import label_selector_matches, labels_match, parse_time
from why5xx.snapshot import WORKLOAD_KINDS, Event, Obj, Snapshot


def condition(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    """`status.conditions[type=kind]`."""
    for cond in obj.status.get("conditions") or ():
        if cond.get("type") == kind:
            return cond  # type: ignore[no-any-return]
    return None


def pod_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_terminating(pod: Obj) -> bool:
    return bool(pod.metadata.get("deletionTimestamp"))


def containers(pod_spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    return tuple(pod_spec.get("containers") or ())


def pod_template_spec(workload: Obj) -> Mapping[str, Any]:
    """The pod spec a workload stamps out (or a pod's own spec)."""
    if workload.kind == "Pod":
        return workload.spec
    return (workload.spec.get("template") or {}).get("spec") or {}


def pod_template_labels(workload: Obj) -> Mapping[str, str]:
    return ((workload.spec.get("template") or {}).get("metadata") or {}).get("labels") or {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerState:
    """One container's status, flattened: what it is doing now and how it
    ended last time."""

    name: str
    ready: bool
    started: bool
    restarts: int
    state: str  # running | waiting | terminated | unknown
    reason: str
    message: str
    exit_code: int | None
    started_at: datetime | None
    last_reason: str
    last_exit_code: int | None
    last_message: str
    last_finished_at: datetime | None
    init: bool


def container_states(pod: Obj) -> tuple[ContainerState, ...]:
    """Init containers first, then app containers, as the kubelet runs them."""
    out: list[ContainerState] = []
    for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for status in pod.status.get(key) or ():
            state = status.get("state") or {}
            last = (status.get("lastState") or {}).get("terminated") or {}
            kind = next(iter(state), "unknown")
            detail = state.get(kind) or {}
            out.append(
                ContainerState(
                    name=str(status.get("name", "")),
                    ready=bool(status.get("ready")),
                    started=bool(status.get("started", kind == "running")),
                    restarts=int(status.get("restartCount") or 0),
                    state=kind,
                    reason=str(detail.get("reason") or ""),
                    message=str(detail.get("message") or ""),
                    exit_code=detail.get("exitCode"),
                    started_at=parse_time(detail.get("startedAt")),
                    last_reason=str(last.get("reason") or ""),
                    last_exit_code=last.get("exitCode"),
                    last_message=str(last.get("message") or ""),
                    last_finished_at=parse_time(last.get("finishedAt")),
                    init=init,
                )
            )
    return tuple(out)


def container_spec(pod: Obj, name: str) -> Mapping[str, Any] | None:
    for key in ("containers", "initContainers"):
        for container in pod.spec.get(key) or ():
            if container.get("name") == name:
                return container  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerPort:
    """One `ports[]` entry of a container."""

    container: str
    name: str  # "" when unnamed
    number: int
    protocol: str

    def __str__(self) -> str:
        named = f"{self.name}=" if self.name else ""
        return f"{named}{self.number}/{self.protocol}"


def container_ports(pod_spec: Mapping[str, Any]) -> tuple[ContainerPort, ...]:
    """The ports a pod spec declares, as the endpoint controller reads them to
    resolve a named targetPort: app containers, then sidecars (init containers
    with `restartPolicy: Always`)."""
    sidecars = [
        c for c in pod_spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    return tuple(
        ContainerPort(
            container=str(container.get("name", "")),
            name=str(port.get("name") or ""),
            number=int(port["containerPort"]),
            protocol=str(port.get("protocol") or "TCP"),
        )
        for container in (*containers(pod_spec), *sidecars)
        for port in container.get("ports") or ()
        if port.get("containerPort") is not None
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


def selected_workloads(snap: Snapshot, target: ServiceTarget) -> tuple[Obj, ...]:
    """Workloads whose pod template the Service's selector matches, whether
    they run pods or not (a ReplicaSet owned by a Deployment counts as its
    Deployment)."""
    if not target.selector:
        return ()
    return snap.derived(
        ("selected_workloads", target.namespace, target.name),
        lambda: tuple(
            workload
            for kind in WORKLOAD_KINDS
            for workload in snap.list(kind, target.namespace)
            if labels_match(target.selector, pod_template_labels(workload))
            and not (kind == "ReplicaSet" and snap.owner(workload) is not None)
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IngressBackend:
    """One backend an Ingress routes to, with where in the spec it is named."""

    service: str
    port_name: str | None
    port_number: int | None
    host: str
    path: str
    field: str  # e.g. spec.rules[0].http.paths[1].backend


def ingress_backends(ingress: Obj) -> tuple[IngressBackend, ...]:
    """Service backends of an Ingress (networking.k8s.io/v1, and the
    `serviceName`/`servicePort` of the removed v1beta1 still found in old dumps)."""
    found: list[tuple[Mapping[str, Any], str, str, str]] = []
    spec = ingress.spec
    for key in ("defaultBackend", "backend"):
        if spec.get(key):
            found.append((spec[key], "*", "/", f"spec.{key}"))
    for r, rule in enumerate(spec.get("rules") or ()):
        for p, path in enumerate((rule.get("http") or {}).get("paths") or ()):
            field = f"spec.rules[{r}].http.paths[{p}].backend"
            found.append(
                (path.get("backend") or {}, rule.get("host") or "*", path.get("path") or "/", field)
            )
    out: list[IngressBackend] = []
    for backend, host, path, field in found:
        service = backend.get("service") or {}
        name = service.get("name") or backend.get("serviceName")
        if not name:
            continue  # a resource backend, not a Service
        port = service.get("port") or {}
        legacy_port = backend.get("servicePort")
        number = port.get("number")
        port_name = port.get("name")
        if legacy_port is not None:
            if isinstance(legacy_port, int) or str(legacy_port).isdigit():
                number = int(legacy_port)
            else:
                port_name = str(legacy_port)
        out.append(
            IngressBackend(
                service=str(name),
                port_name=str(port_name) if port_name else None,
                port_number=int(number) if number is not None else None,
                host=str(host),
                path=str(path),
                field=field,
            )
        )
    return tuple(out)


GATEWAY_API = "gateway.networking.k8s.io"


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteBackend:
    """One `backendRefs` entry of a Gateway API route rule, with the
    defaults the API applies: group "" (core), kind Service, the route's
    namespace, weight 1."""

    group: str
    kind: str
    namespace: str
    name: str
    port: int | None
    weight: int
    rule: int  # position in spec.rules
    field: str  # e.g. spec.rules[0].backendRefs[1]

    @property
    def service(self) -> bool:
        return self.group == "" and self.kind == "Service"


def route_backends(route: Obj) -> tuple[RouteBackend, ...]:
    """The backendRefs of an HTTPRoute (or GRPCRoute), rule by rule."""
    out: list[RouteBackend] = []
    for r, rule in enumerate(route.spec.get("rules") or ()):
        for b, ref in enumerate(rule.get("backendRefs") or ()):
            port = ref.get("port")
            weight = ref.get("weight")
            out.append(
                RouteBackend(
                    group=str(ref.get("group") or ""),
                    kind=str(ref.get("kind") or "Service"),
                    namespace=str(ref.get("namespace") or route.namespace),
                    name=str(ref.get("name") or ""),
                    port=int(port) if port is not None else None,
                    weight=int(weight) if weight is not None else 1,
                    rule=r,
                    field=f"spec.rules[{r}].backendRefs[{b}]",
                )
            )
    return tuple(out)


def routed_services(route: Obj) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of each Service an Ingress or HTTPRoute sends
    traffic to, in the order the spec names them."""
    if route.kind == "Ingress":
        found = [(route.namespace, b.service) for b in ingress_backends(route)]
    else:
        found = [(b.namespace, b.name) for b in route_backends(route) if b.service]
    return tuple(dict.fromkeys(found))


def ready_backends(target: ServiceTarget) -> int:
    """What the proxies see: ready endpoints, or ready pods when the input
    holds no EndpointSlice or Endpoints for the Service."""
    if target.endpoints is not None:
        return len(target.endpoints.ready)
    return sum(1 for pod in target.live_pods if pod_ready(pod))


REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def revision(replica_set: Obj) -> int | None:
    """The Deployment revision a ReplicaSet stamps out."""
    value = str(replica_set.annotations.get(REVISION_ANNOTATION) or "")
    return int(value) if value.isdigit() else None


def template_container(workload: Obj, name: str) -> Mapping[str, Any] | None:
    """A container of a workload's pod template, by name."""
    return next((c for c in containers(pod_template_spec(workload)) if c.get("name") == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Revisions:
    """The ReplicaSet a pod belongs to and the one of its Deployment's
    revision before it."""

    deployment: Obj
    current: Obj
    previous: Obj
    current_revision: int
    previous_revision: int


def revisions(snap: Snapshot, pod: Obj) -> Revisions | None:
    """The pod's revision and the previous one, when the pod's Deployment and
    both ReplicaSets are in the input."""
    current = snap.owner(pod)
    if current is None or current.kind != "ReplicaSet":
        return None
    deployment = snap.owner(current)
    number = revision(current)
    if deployment is None or deployment.kind != "Deployment" or number is None:
        return None
    older = [
        (older_number, other)
        for other in snap.owned(deployment, "ReplicaSet")
        if (older_number := revision(other)) is not None and older_number < number
    ]
    if not older:
        return None
    previous_number, previous = max(older, key=lambda pair: pair[0])
    return Revisions(
        deployment=deployment,
        current=current,
        previous=previous,
        current_revision=number,
        previous_revision=previous_number,
    )


# kubelet, reason Killing: "Container api failed liveness probe, will be restarted".
_PROBE_KILL = re.compile(r"^Container (\S+) failed (liveness|startup) probe")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeKill:
    """The kubelet restarting a container because its liveness or startup
    probe failed."""

    container: str
    probe: str  # liveness | startup
    event: Event


def probe_kills(snap: Snapshot, pod: Obj) -> tuple[ProbeKill, ...]:
    """The pod's probe kills, oldest first."""
    return tuple(
        ProbeKill(container=found[1], probe=found[2], event=event)
        for event in snap.events_for("Pod", pod.namespace, pod.name)
        if event.reason == "Killing" and (found := _PROBE_KILL.match(event.message))
    )


# The kubelet writes a pod's first Ready=False within seconds of its startTime.
_FIRST_STATUS = timedelta(seconds=10)


def never_ready(pod: Obj) -> bool:
    """Whether the pod has not been ready since the kubelet first reported it:
    its Ready condition last changed at its start (a later transition means it
    was ready at some point). True when the times are missing."""
    ready = condition(pod, "Ready")
    if ready is not None and ready.get("status") == "True":
        return False
    changed = parse_time((ready or {}).get("lastTransitionTime"))
    started = parse_time(pod.status.get("startTime"))
    if changed is None or started is None:
        return True
    return changed - started <= _FIRST_STATUS


def autoscalers(snap: Snapshot, workload: Obj) -> list[Obj]:
    """The HorizontalPodAutoscalers whose scaleTargetRef is the workload."""
    return [
        hpa
        for hpa in snap.list("HorizontalPodAutoscaler", workload.namespace)
        if (hpa.spec.get("scaleTargetRef") or {}).get("name") == workload.name
        and (hpa.spec.get("scaleTargetRef") or {}).get("kind") == workload.kind
    ]


def policy_types(policy: Obj) -> frozenset[str]:
    """A NetworkPolicy's directions: `policyTypes`, else Ingress, plus Egress
    when it has egress rules (the API server's defaulting)."""
    declared = policy.spec.get("policyTypes")
    if declared:
        return frozenset(str(t) for t in declared)
    return frozenset({"Ingress", *(["Egress"] if "egress" in policy.spec else [])})


def ingress_isolated(snap: Snapshot, pod: Obj) -> bool | None:
    """Whether a NetworkPolicy isolates the pod for ingress (then only what a
    policy admits reaches it); None when the input holds no NetworkPolicies."""
    if not snap.has_kind("NetworkPolicy"):
        return None
    return any(
        "Ingress" in policy_types(policy)
        and label_selector_matches(policy.spec.get("podSelector") or {}, pod.labels)
        for policy in snap.list("NetworkPolicy", pod.namespace)
    )
