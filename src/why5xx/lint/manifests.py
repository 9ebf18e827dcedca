"""The manifests as lint reads them: the objects as written, indexed once for
the cross-object questions checks ask (which workloads a Service sends
traffic to, which routes reach it, which PodDisruptionBudgets and
autoscalers govern a workload).

Lint judges specs, not runtime state: objects a controller made (pods and
ReplicaSets with an owner), events and endpoints are left out, so `--live`
lints what was applied, like a directory of manifests. Where the diagnosis
reads pods, lint reads the pod templates: `templates` holds one model pod
per workload (its template's labels and spec, owned by the workload), so
the diagnosis's label lookups (`selection.near_misses`) answer for the
workloads as they will run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from why5xx.kube import label_selector_matches
from why5xx.lint.model import Scope
from why5xx.lint.traffic import MESH_ROUTE_KINDS, exposed, mesh_routed_services
from why5xx.snapshot import DEFAULT_NAMESPACE, MANIFEST_WORKLOAD_KINDS, Obj, Snapshot, placed
from why5xx.templates import model_pod
from why5xx.views.backend import Serving, serving_containers
from why5xx.views.pods import pod_template_labels
from why5xx.views.routes import ROUTE_KINDS, route_backends, routed_services
from why5xx.views.service import ServiceTarget, selected_workloads

# What the cluster makes and reports rather than what anyone writes.
_RUNTIME_KINDS = frozenset({"Event", "EndpointSlice", "Endpoints"})
_CONTROLLED_KINDS = frozenset({"Pod", "ReplicaSet"})
WORKLOAD_SUBJECT_KINDS = (*MANIFEST_WORKLOAD_KINDS, "Pod")
# The workloads that run `spec.replicas` pods.
SCALED_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")

Key = tuple[str, str, str]


def key(obj: Obj) -> Key:
    return (obj.kind, obj.namespace, obj.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backed:
    """A Service with a selector, and what it sends traffic to."""

    target: ServiceTarget  # on the lint snapshot: its pods are bare pods only
    workloads: tuple[Obj, ...]  # workloads whose pod template it selects, and bare pods
    servings: tuple[Serving, ...]  # their containers that serve the Service's ports

    @property
    def service(self) -> Obj:
        return self.target.service


def as_written(objects: Iterable[Obj], namespace: str) -> list[Obj]:
    """The objects people write, each in a namespace."""
    out: list[Obj] = []
    for obj in objects:
        if obj.kind in _RUNTIME_KINDS:
            continue
        if obj.kind in _CONTROLLED_KINDS and obj.metadata.get("ownerReferences"):
            continue
        out.append(placed(obj, namespace))
    return out


class Manifests:
    """The objects to lint and the relations between them, computed once."""

    __slots__ = (
        "_backed",
        "_fronting",
        "_hpas",
        "_pdb_workloads",
        "_pdbs",
        "_routes",
        "_services",
        "_templated",
        "objects",
        "snap",
        "templates",
        "workloads",
    )

    def __init__(self, objects: Iterable[Obj], *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.objects: tuple[Obj, ...] = tuple(as_written(objects, namespace))
        self.snap = Snapshot.build(self.objects)
        self.workloads: tuple[Obj, ...] = tuple(
            obj for kind in WORKLOAD_SUBJECT_KINDS for obj in self.snap.list(kind)
        )
        models = [w if w.kind == "Pod" else model_pod(w) for w in self.workloads]
        self._templated = {key(m): w for m, w in zip(models, self.workloads, strict=True)}
        self.templates = Snapshot.build(models)
        self._backed = {
            key(service): _backed(self.snap, service)
            for service in self.snap.list("Service")
            if service.spec.get("selector") and service.spec.get("type") != "ExternalName"
        }
        self._services = _inverse(
            (backed.service, backed.workloads) for backed in self._backed.values()
        )
        self._routes = _inverse(
            (route, [("Service", ns, name) for ns, name in routed_services(route)])
            for kind in ROUTE_KINDS
            for route in self.snap.list(kind)
        )
        self._fronting = _inverse(
            (route, [("Service", ns, name) for ns, name in routes(route)])
            for kind, routes in _FRONTING_ROUTES.items()
            for route in self.snap.list(kind)
        )
        by_namespace: defaultdict[str, list[Obj]] = defaultdict(list)
        for workload in self.workloads:
            by_namespace[workload.namespace].append(workload)
        self._pdb_workloads = {
            key(pdb): tuple(
                w
                for w in by_namespace[pdb.namespace]
                if label_selector_matches(pdb.spec.get("selector"), pod_labels(w))
            )
            for pdb in self.snap.list("PodDisruptionBudget")
        }
        self._pdbs = _inverse(
            (pdb, self._pdb_workloads[key(pdb)]) for pdb in self.snap.list("PodDisruptionBudget")
        )
        self._hpas = _inverse(
            (hpa, [_scale_target(hpa)]) for hpa in self.snap.list("HorizontalPodAutoscaler")
        )

    def subjects(self, scope: Scope) -> tuple[Obj, ...]:
        if scope is Scope.WORKLOAD:
            return self.workloads
        if scope is Scope.ROUTE:
            return tuple(r for kind in ROUTE_KINDS for r in self.snap.list(kind))
        return self.snap.list(scope.value)

    def templated(self, pod: Obj) -> Obj:
        """The workload a pod of `templates` stands for."""
        return self._templated[key(pod)]

    def backed(self, service: Obj) -> Backed | None:
        """What the Service sends traffic to; None for a Service without a
        selector (its endpoints are managed by hand) or of type ExternalName."""
        return self._backed.get(key(service))

    def services_of(self, workload: Obj) -> tuple[Obj, ...]:
        """The Services whose selector picks the workload's pods."""
        return self._services.get(key(workload), ())

    def routes_to(self, service: Obj) -> tuple[Obj, ...]:
        """Ingresses and Gateway API routes with a backend on the Service."""
        return self._routes.get(key(service), ())

    def routes_of(self, workload: Obj) -> tuple[Obj, ...]:
        """The routes that reach the workload through its Services."""
        found = {
            key(route): route
            for service in self.services_of(workload)
            for route in self.routes_to(service)
        }
        return tuple(found.values())

    def fronts_of(self, workload: Obj) -> tuple[Obj, ...]:
        """What sends proxied HTTP or gRPC traffic to the workload: the
        Ingresses, Gateway API and mesh routes to its Services, and those of
        its Services a load balancer, node port or per-pod balancing
        exposes (`traffic.exposed`)."""
        found: dict[Key, Obj] = {}
        for service in self.services_of(workload):
            for route in self._fronting.get(key(service), ()):
                found.setdefault(key(route), route)
            if exposed(service):
                found.setdefault(key(service), service)
        return tuple(found.values())

    def pdbs_of(self, workload: Obj) -> tuple[Obj, ...]:
        return self._pdbs.get(key(workload), ())

    def pdb_workloads(self, pdb: Obj) -> tuple[Obj, ...]:
        """The workloads whose pods the PodDisruptionBudget selects."""
        return self._pdb_workloads.get(key(pdb), ())

    def hpas_of(self, workload: Obj) -> tuple[Obj, ...]:
        return self._hpas.get(key(workload), ())

    def hpa_target(self, hpa: Obj) -> Obj | None:
        return self.snap.get(*_scale_target(hpa))


def _gateway_routed(route: Obj) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys((b.namespace, b.name) for b in route_backends(route) if b.service))


# The routes that put an HTTP proxy in front of the Services they name.
_FRONTING_ROUTES = {
    "Ingress": routed_services,
    "HTTPRoute": _gateway_routed,
    "GRPCRoute": _gateway_routed,
    **dict.fromkeys(MESH_ROUTE_KINDS, mesh_routed_services),
}


def _backed(snap: Snapshot, service: Obj) -> Backed:
    target = ServiceTarget.build(snap, service)
    return Backed(
        target=target,
        workloads=(*selected_workloads(snap, target, MANIFEST_WORKLOAD_KINDS), *target.pods),
        servings=serving_containers(snap, target, MANIFEST_WORKLOAD_KINDS),
    )


def _inverse(pairs: Iterable[tuple[Obj, Iterable[Obj | Key]]]) -> dict[Key, tuple[Obj, ...]]:
    """For pairs (object, what it points at), each pointee's objects, each once."""
    found: defaultdict[Key, dict[Key, Obj]] = defaultdict(dict)
    for obj, pointees in pairs:
        for pointee in pointees:
            found[pointee if isinstance(pointee, tuple) else key(pointee)][key(obj)] = obj
    return {k: tuple(v.values()) for k, v in found.items()}


def _scale_target(hpa: Obj) -> Key:
    target = hpa.spec.get("scaleTargetRef") or {}
    return (str(target.get("kind")), hpa.namespace, str(target.get("name")))


def min_replicas(hpa: Obj) -> int:
    """An autoscaler's `minReplicas` (default 1)."""
    return int(hpa.spec.get("minReplicas", 1))


def pod_labels(workload: Obj) -> Mapping[str, str]:
    """The labels of the workload's pods (its template's, or a pod's own)."""
    return workload.labels if workload.kind == "Pod" else pod_template_labels(workload)


def replicas(workload: Obj) -> int | None:
    """The pods a workload asks for (`spec.replicas`, default 1); None for a
    DaemonSet (one per node) or a bare pod."""
    if workload.kind not in SCALED_KINDS:
        return None
    value = workload.spec.get("replicas")
    return 1 if value is None else int(value)


def fewest_pods(manifests: Manifests, workload: Obj) -> int | None:
    """The fewest pods the workload runs: an autoscaler's `minReplicas`
    (default 1) when one scales it, else its replicas."""
    minimums = [min_replicas(h) for h in manifests.hpas_of(workload)]
    return min(minimums) if minimums else replicas(workload)
