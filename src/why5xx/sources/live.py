"""The live source: read from the cluster what a diagnosis needs, and no more.

For one Service the reads are targeted and run concurrently, in rounds
that each wait only for what they depend on:

1. the Service; its EndpointSlices (label `kubernetes.io/service-name`);
   the namespace's Events, Ingresses and NetworkPolicies;
2. the pods its selector picks (and the legacy Endpoints object, only when
   no EndpointSlice exists);
3. with live pods: the ReplicaSets carrying the selector's labels (the
   pods' owners and their earlier revisions) and the pods' other owners
   (StatefulSets, DaemonSets) by name. With none: what tells why there are
   none: the namespace's workloads and HorizontalPodAutoscalers and, when
   no pod matches at all, the namespace's pods (near misses) and pods with
   the selector's labels in other namespaces;
4. owning ReplicaSets the label search missed, by name; then
5. the Deployments owning the ReplicaSets, by name.

A healthy Deployment-backed Service costs 8 calls. An Ingress adds itself,
the IngressClasses and the namespace's Services, then reads each backend
as above. Kinds a registered rule declares as input that no step reads are
listed for the namespace, so a new rule is never silently starved.

`--all` (and `why5xx capture`) list each kind of the namespace once.

What the server refuses is data: a 403 makes the kind "unavailable" with
the reason the engine shows for every rule it skips; a 404 on a
collection means the cluster does not serve that API (no such objects).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from why5xx.engine import Target
from why5xx.kube import selector_string
from why5xx.rules import RULES
from why5xx.rules.base import Scope
from why5xx.snapshot import SERVICE_NAME_LABEL, Obj, Snapshot
from why5xx.sources.kubeapi import Answer, ApiCall, KubeApi
from why5xx.views import ingress_backends, pod_ready, pod_terminating

RBAC_DOC = "docs/rbac.md"
_WORKERS = 8
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """Where the API serves a kind (the version why5xx reads)."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.api_version}" if "/" in self.api_version else "/api/v1"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{base}{scope}/{self.plural}" + (f"/{name}" if name else "")


KINDS: Mapping[str, Kind] = {
    k.kind: k
    for k in (
        Kind(kind="Service", api_version="v1", plural="services"),
        Kind(kind="Endpoints", api_version="v1", plural="endpoints"),
        Kind(kind="Pod", api_version="v1", plural="pods"),
        Kind(kind="Event", api_version="v1", plural="events"),
        Kind(kind="ConfigMap", api_version="v1", plural="configmaps"),
        Kind(kind="PersistentVolumeClaim", api_version="v1", plural="persistentvolumeclaims"),
        Kind(kind="Namespace", api_version="v1", plural="namespaces", namespaced=False),
        Kind(kind="Node", api_version="v1", plural="nodes", namespaced=False),
        Kind(kind="Deployment", api_version="apps/v1", plural="deployments"),
        Kind(kind="ReplicaSet", api_version="apps/v1", plural="replicasets"),
        Kind(kind="StatefulSet", api_version="apps/v1", plural="statefulsets"),
        Kind(kind="DaemonSet", api_version="apps/v1", plural="daemonsets"),
        Kind(
            kind="HorizontalPodAutoscaler",
            api_version="autoscaling/v2",
            plural="horizontalpodautoscalers",
        ),
        Kind(kind="PodDisruptionBudget", api_version="policy/v1", plural="poddisruptionbudgets"),
        Kind(kind="EndpointSlice", api_version="discovery.k8s.io/v1", plural="endpointslices"),
        Kind(kind="Ingress", api_version="networking.k8s.io/v1", plural="ingresses"),
        Kind(
            kind="IngressClass",
            api_version="networking.k8s.io/v1",
            plural="ingressclasses",
            namespaced=False,
        ),
        Kind(kind="NetworkPolicy", api_version="networking.k8s.io/v1", plural="networkpolicies"),
    )
}
# What `--all` and `why5xx capture` list in a namespace (Secrets never: see capture.py).
NAMESPACE_KINDS = (
    "Service",
    "Endpoints",
    "EndpointSlice",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Event",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Node",
)
_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveRead:
    """A snapshot read from a cluster, with how it was read."""

    snapshot: Snapshot
    objects: tuple[Obj, ...]
    context: str
    namespace: str | None
    calls: tuple[ApiCall, ...]
    seconds: float
    listed: frozenset[str]
    unavailable: Mapping[str, str]
    not_served: frozenset[str]


def declared_inputs(scopes: Iterable[Scope]) -> frozenset[str]:
    """The kinds registered rules of these scopes read."""
    wanted = frozenset(scopes)
    return frozenset(kind for rule in RULES if rule.scope in wanted for kind in rule.inputs)


class _Reader:
    """Concurrent reads that remember what they found: objects, the kinds
    listed, the kinds refused (and why), the kinds not served. The same
    read asked twice is made once."""

    def __init__(self, api: KubeApi, pool: ThreadPoolExecutor) -> None:
        self.api = api
        self.pool = pool
        self.source = f"live:{api.context}"
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.listed: set[str] = set()
        self.unavailable: dict[str, str] = {}
        self.not_served: set[str] = set()
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, ...], Future[Any]] = {}

    def list(
        self, kind: str, namespace: str | None, *, labels: str = "", fields: str = ""
    ) -> Future[tuple[Obj, ...]]:
        spec = KINDS[kind]
        params = {k: v for k, v in (("labelSelector", labels), ("fieldSelector", fields)) if v}
        path = spec.path(namespace)

        def read() -> tuple[Obj, ...]:
            answer = self.api.list(path, params, kind=kind, api_version=spec.api_version)
            return self._record(spec, namespace, "list", answer, answer.items)

        return self._once(("list", path, labels, fields), read)

    def get(self, kind: str, namespace: str, name: str) -> Future[Obj | None]:
        spec = KINDS[kind]
        path = spec.path(namespace, name)

        def read() -> Obj | None:
            answer = self.api.get(path)
            if answer.status == 404:
                return None
            found = self._record(spec, namespace, "get", answer, (dict(answer.body),))
            return found[0] if found else None

        return self._once(("get", path), read)

    def has(self, kind: str, namespace: str, name: str) -> bool:
        with self._lock:
            return (kind, namespace, name) in self.objects

    def _once(self, key: tuple[str, ...], read: Callable[[], T]) -> Future[T]:
        with self._lock:
            future = self._pending.get(key)
            if future is None:
                future = self._pending[key] = self.pool.submit(read)
        return future

    def _record(
        self,
        spec: Kind,
        namespace: str | None,
        verb: str,
        answer: Answer,
        raws: Iterable[dict[str, Any]],
    ) -> tuple[Obj, ...]:
        if not answer.ok:
            with self._lock:
                if answer.status == 404:
                    self.not_served.add(spec.kind)
                else:
                    self.unavailable.setdefault(spec.kind, _refusal(spec, namespace, verb, answer))
            return ()
        found = tuple(Obj.from_raw(raw, self.source) for raw in raws)
        with self._lock:
            if verb == "list":
                self.listed.add(spec.kind)
            for obj in found:
                self.objects[(obj.kind, obj.namespace, obj.name)] = obj
        return found


def _refusal(spec: Kind, namespace: str | None, verb: str, answer: Answer) -> str:
    where = f"in {namespace}" if spec.namespaced and namespace else "cluster-wide"
    if answer.status == 403:
        role = "Role" if spec.namespaced and namespace else "ClusterRole"
        return (
            f"cannot {verb} {spec.plural} {where}: forbidden — the minimal {role} is in {RBAC_DOC}"
        )
    return f"cannot {verb} {spec.plural} {where}: {answer.message} (HTTP {answer.status})"


def _live(pod: Obj) -> bool:
    return not pod_terminating(pod) and pod.status.get("phase") not in ("Succeeded", "Failed")


def _controllers(pods: Iterable[Obj]) -> set[tuple[str, str]]:
    """(kind, name) of each pod's controlling owner."""
    found = set()
    for pod in pods:
        for owner in pod.metadata.get("ownerReferences") or ():
            if owner.get("controller") or len(pod.metadata["ownerReferences"]) == 1:
                found.add((str(owner.get("kind", "")), str(owner.get("name", ""))))
    return found


def _slices(reader: _Reader, namespace: str, service: str) -> Future[tuple[Obj, ...]]:
    return reader.list("EndpointSlice", namespace, labels=f"{SERVICE_NAME_LABEL}={service}")


def _read_service(reader: _Reader, namespace: str, service: Obj) -> None:
    """Rounds 2 to 5 for one Service (its round-1 reads are shared with the caller)."""
    slices = _slices(reader, namespace, service.name)
    selector = selector_string(service.spec.get("selector") or {})
    pods = reader.list("Pod", namespace, labels=selector).result() if selector else ()
    if not slices.result():
        reader.get("Endpoints", namespace, service.name).result()
    if not selector:
        return
    live = [p for p in pods if _live(p)]
    waits = _why_unready(reader, namespace, [p for p in pods if not pod_ready(p)])
    if live:
        replicasets = _owners(reader, namespace, selector, live)
    else:
        lists = [reader.list(kind, namespace) for kind in _WORKLOADS]
        lists.append(reader.list("HorizontalPodAutoscaler", namespace))
        if not pods:  # near misses: the namespace's pods; and pods elsewhere
            lists += [reader.list("Pod", namespace), reader.list("Pod", None, labels=selector)]
        replicasets = [o for future in lists for o in future.result() if o.kind == "ReplicaSet"]
    deployments = sorted(
        {
            str(owner.get("name", ""))
            for rs in replicasets
            for owner in rs.metadata.get("ownerReferences") or ()
            if owner.get("kind") == "Deployment"
        }
    )
    waits += [
        reader.get("Deployment", namespace, name)
        for name in deployments
        if not reader.has("Deployment", namespace, name)
    ]
    for future in waits:
        future.result()


def _owners(reader: _Reader, namespace: str, selector: str, pods: list[Obj]) -> list[Obj]:
    """The pods' owners: ReplicaSets by the selector's labels (which the
    controller copies from the pod template, so earlier revisions come
    along), owners that search missed by name, StatefulSets and DaemonSets
    by name. Returns the ReplicaSets."""
    replicasets = reader.list("ReplicaSet", namespace, labels=selector)
    owners = _controllers(pods)
    others = [
        reader.get(kind, namespace, name)
        for kind, name in owners
        if kind in ("StatefulSet", "DaemonSet")
    ]
    found = {rs.name for rs in replicasets.result()}
    missed = [
        reader.get("ReplicaSet", namespace, name)
        for kind, name in sorted(owners)
        if kind == "ReplicaSet" and name not in found
    ]
    for future in others:
        future.result()
    return list(replicasets.result()) + [rs for f in missed if (rs := f.result()) is not None]


def _why_unready(reader: _Reader, namespace: str, pods: list[Obj]) -> list[Future[Any]]:
    """What explains pods that are not ready: the ConfigMaps and claims they
    may wait for, and the nodes they are (or were) on."""
    if not pods:
        return []
    nodes = sorted({str(p.spec.get("nodeName")) for p in pods if p.spec.get("nodeName")})
    futures: list[Future[Any]] = [
        reader.list("ConfigMap", namespace),
        reader.list("PersistentVolumeClaim", namespace),
    ]
    return futures + [reader.get("Node", "", name) for name in nodes]


def _shared(reader: _Reader, namespace: str, scopes: Iterable[Scope]) -> list[Future[Any]]:
    """Round 1's namespace-wide reads, plus any kind a rule declares that no
    step reads."""
    covered = {"Service", "Pod", "EndpointSlice", "Endpoints", "Event", "Ingress"}
    covered |= {"NetworkPolicy", "HorizontalPodAutoscaler", *_WORKLOADS}
    futures: list[Future[Any]] = [
        reader.list("Event", namespace),
        reader.list("Ingress", namespace),
        reader.list("NetworkPolicy", namespace),
    ]
    for kind in sorted(declared_inputs(scopes) - covered):
        futures.append(reader.list(kind, namespace))
    return futures


def _read_target(reader: _Reader, target: Target) -> None:
    namespace = target.namespace
    if target.kind == "Ingress":
        ingress = reader.get("Ingress", namespace, target.name)
        shared = _shared(reader, namespace, (Scope.INGRESS, Scope.SERVICE))
        classes = reader.list("IngressClass", None)
        services = reader.list("Service", namespace)
        found = ingress.result()
        if found is None:
            reader.list("Ingress", namespace).result()  # names for the "not found" hint
            return
        by_name = {s.name: s for s in services.result()}
        names = dict.fromkeys(b.service for b in ingress_backends(found))
        missing = [
            reader.list("Service", None, fields=f"metadata.name={name}")
            for name in names
            if name not in by_name
        ]
        backends = [by_name[name] for name in names if name in by_name]
        # Each backend's rounds wait on the reader's pool: drive them from their own threads.
        with ThreadPoolExecutor(max_workers=max(len(backends), 1)) as drivers:
            for _ in drivers.map(lambda svc: _read_service(reader, namespace, svc), backends):
                pass
        for future in [*shared, classes, *missing]:
            future.result()
        return
    service = reader.get("Service", namespace, target.name)
    _slices(reader, namespace, target.name)
    shared = _shared(reader, namespace, (Scope.SERVICE,))
    found_service = service.result()
    if found_service is None:
        reader.list("Service", namespace).result()  # names for the "not found" hint
    else:
        _read_service(reader, namespace, found_service)
    for future in shared:
        future.result()


def _read_namespace(reader: _Reader, namespace: str | None, kinds: Iterable[str]) -> None:
    futures: list[Future[Any]] = [reader.list(kind, namespace) for kind in kinds]
    if namespace is not None:
        futures.append(reader.get("Namespace", "", namespace))
    for future in futures:
        future.result()


def _run(api: KubeApi, namespace: str | None, plan: Callable[[_Reader], None]) -> LiveRead:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="why5xx-live") as pool:
        reader = _Reader(api, pool)
        plan(reader)
    objects = tuple(reader.objects.values())
    snapshot = Snapshot.build(
        objects,
        now=api.server_time,
        listed=reader.listed,
        unavailable=reader.unavailable,
    )
    return LiveRead(
        snapshot=snapshot,
        objects=objects,
        context=api.context,
        namespace=namespace,
        calls=api.calls,
        seconds=time.perf_counter() - started,
        listed=frozenset(reader.listed),
        unavailable=dict(reader.unavailable),
        not_served=frozenset(reader.not_served),
    )


def read_target(api: KubeApi, target: Target) -> LiveRead:
    """What diagnosing one Service or Ingress needs, in few concurrent calls."""
    return _run(api, target.namespace, lambda reader: _read_target(reader, target))


def read_namespace(
    api: KubeApi, namespace: str | None, kinds: Iterable[str] = NAMESPACE_KINDS
) -> LiveRead:
    """Every object of `kinds` in a namespace (None: all), each kind listed
    once, plus every kind a registered rule reads."""
    wanted = list(dict.fromkeys([*kinds, *sorted(declared_inputs(Scope) - set(kinds))]))
    return _run(api, namespace, lambda reader: _read_namespace(reader, namespace, wanted))
