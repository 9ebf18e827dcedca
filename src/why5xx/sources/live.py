"""The live source: read from the cluster what a diagnosis needs, and no more.

For one Service the reads are targeted and run concurrently, in rounds
that each wait only for what they depend on:

1. the namespace's Services (the target, and the names rules compare it
   with), Events, Ingresses, NetworkPolicies and HorizontalPodAutoscalers;
   the target's EndpointSlices (label `kubernetes.io/service-name`); and
   every kind of the caller's `ReadPlan` (what the rules declare, as the
   engine computes it) that no step reads: PodDisruptionBudgets, the mesh's
   and the Gateway API's kinds (in every namespace, in the version
   discovery says the cluster serves; not at all when it serves none);
2. the pods the selector picks (and the legacy Endpoints object, only when
   no EndpointSlice exists);
3. with live pods, their owners: the ReplicaSets carrying the selector's
   labels (the controller copies them from the pod template, so earlier
   revisions come along) and StatefulSets, DaemonSets by name. With none,
   what tells why: the namespace's workloads and, when no pod matches at
   all, the namespace's pods (near misses) and pods with the selector's
   labels elsewhere. With pods not ready: the namespace's ConfigMaps and
   PersistentVolumeClaims, and the nodes of those pods. When an Ingress
   routes to the Service or NetworkPolicies guard its namespace: the
   IngressClasses, the Namespaces and the ingress-nginx controllers (found
   by the chart's labels in any namespace) with their ConfigMaps and
   NetworkPolicies;
4. owning ReplicaSets the label search missed, by name; then the
   Deployments owning the ReplicaSets, by name.

A healthy Deployment-backed Service that no Ingress routes to costs 11
calls. An Ingress or HTTPRoute adds itself and the IngressClasses, then
reads each Service it routes to as above.

`--all` (and `why5xx capture`) list each kind of the namespace once.

What the server refuses is data: a 403 makes the kind "unavailable" with
the reason the engine shows for every rule it skips; a 404 on a
collection, or an API discovery does not list, means the cluster does not
serve that kind (no such objects).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from why5xx.kube import selector_string
from why5xx.model import ObjectRef
from why5xx.snapshot import SERVICE_NAME_LABEL, Obj, Snapshot
from why5xx.sources.kinds import KINDS, NAMESPACE_KINDS, WITHHELD, Kind, ReadPlan
from why5xx.sources.kubeapi import Answer, ApiCall, ClusterError, KubeApi
from why5xx.views.frontend import NGINX_CONTROLLER_LABELS
from why5xx.views.pods import pod_ready, pod_terminating
from why5xx.views.routes import ROUTE_KINDS, ingress_backends, routed_services
from why5xx.views.service import alias_of

RBAC_DOC = "docs/rbac.md"
_WORKERS = 8
_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
T = TypeVar("T")


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
        # Discovery runs in the first reader thread that needs it, the others
        # wait on this lock: a pool task waiting on another queued task would
        # deadlock once every worker waits.
        self._discovery_lock = threading.Lock()
        self._served: dict[str, frozenset[str]] | None = None
        self._discovered = False
        self._pending: dict[tuple[str, ...], Future[Any]] = {}

    def list(
        self,
        kind: str,
        namespace: str | None,
        *,
        labels: str = "",
        fields: str = "",
        beyond: bool = False,
    ) -> Future[tuple[Obj, ...]]:
        """List a kind in a namespace (None: all, or cluster-scoped; an
        extension kind always in all). A read `beyond` the target's scope
        (pods elsewhere, the ingress controller's namespace) adds its objects
        but does not vouch for the kind: only reads of the target's scope
        make a kind listed, or unavailable."""
        spec = KINDS[kind]
        scope = namespace if spec.namespaced and not spec.extension else None
        params = {k: v for k, v in (("labelSelector", labels), ("fieldSelector", fields)) if v}

        def read() -> tuple[Obj, ...]:
            version = self._version(spec)
            if version is None:
                return ()
            path = spec.path(version, scope)
            api_version = spec.api_version(version)
            answer = self.api.list(path, params, kind=kind, api_version=api_version)
            if beyond and not answer.ok:
                return ()
            return self._record(spec, scope, "list", answer, answer.items, vouch=not beyond)

        return self._once(("list", kind, str(scope), labels, fields), read)

    def get(self, kind: str, namespace: str, name: str) -> Future[Obj | None]:
        spec = KINDS[kind]

        def read() -> Obj | None:
            version = self._version(spec)
            if version is None:
                return None
            answer = self.api.get(spec.path(version, namespace, name))
            if answer.status == 404:
                return None
            found = self._record(spec, namespace, "get", answer, (dict(answer.body),))
            return found[0] if found else None

        return self._once(("get", kind, namespace, name), read)

    def _version(self, spec: Kind) -> str | None:
        """The version to read a kind in: an extension's first one the
        cluster serves (None, and the kind is not served, when none is)."""
        if not spec.extension:
            return spec.versions[0]
        with self._discovery_lock:
            if not self._discovered:
                self._served, self._discovered = self._discover(), True
        served = self._served
        if served is None:
            return spec.versions[0]  # discovery refused: ask, a 404 will tell
        version = next((v for v in spec.versions if v in served.get(spec.group, ())), None)
        if version is None:
            with self._lock:
                self.not_served.add(spec.kind)
        return version

    def _discover(self) -> dict[str, frozenset[str]] | None:
        """API group -> versions served, from one discovery call."""
        answer = self.api.get("/apis")
        if not answer.ok:
            return None
        return {
            str(group.get("name")): frozenset(str(v.get("version")) for v in group["versions"])
            for group in answer.body.get("groups") or ()
        }

    def has(self, kind: str, namespace: str, name: str) -> bool:
        """Whether a read so far found this object."""
        with self._lock:
            return (kind, namespace, name) in self.objects

    def _once(self, key: tuple[str, ...], read: Callable[[], T]) -> Future[T]:
        """Submit `read` unless the same read was submitted before."""
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
        *,
        vouch: bool = True,
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
            if verb == "list" and vouch:
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


def _controlling_owners(pods: Iterable[Obj]) -> set[tuple[str, str]]:
    """(kind, name) of each pod's controlling owner."""
    found = set()
    for pod in pods:
        for owner in pod.metadata.get("ownerReferences") or ():
            if owner.get("controller") or len(pod.metadata["ownerReferences"]) == 1:
                found.add((str(owner.get("kind", "")), str(owner.get("name", ""))))
    return found


def _slices(reader: _Reader, namespace: str, service: str) -> Future[tuple[Obj, ...]]:
    return reader.list("EndpointSlice", namespace, labels=f"{SERVICE_NAME_LABEL}={service}")


def _read_service(reader: _Reader, namespace: str, service: Obj, *, alias: bool = True) -> None:
    """Rounds 2 to 5 for one Service (its round-1 reads are shared with the
    caller); for an ExternalName alias of an in-cluster Service, that
    Service's too (it serves what the alias does)."""
    aliased = alias_of(service) if alias else None
    if aliased is not None and (found := reader.get("Service", *aliased).result()) is not None:
        _read_service(reader, aliased[0], found, alias=False)
    slices = _slices(reader, namespace, service.name)
    selector = selector_string(service.spec.get("selector") or {})
    pods = reader.list("Pod", namespace, labels=selector).result() if selector else ()
    waits = _proxies(reader, namespace, service)
    if not slices.result():
        waits.append(reader.get("Endpoints", namespace, service.name))
    if not selector:
        _wait(waits)
        return
    live = [p for p in pods if _live(p)]
    waits += _why_unready(reader, namespace, [p for p in pods if not pod_ready(p)])
    if live:
        replicasets = _owners(reader, namespace, selector, live)
    else:
        lists = [reader.list(kind, namespace) for kind in _WORKLOADS]
        if not pods:  # near misses: the namespace's pods; and pods elsewhere
            lists.append(reader.list("Pod", namespace))
            lists.append(reader.list("Pod", None, labels=selector, beyond=True))
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
    _wait(waits)


def _wait(futures: Iterable[Future[Any]]) -> None:
    for future in futures:
        future.result()


def _proxies(reader: _Reader, namespace: str, service: Obj) -> list[Future[Any]]:
    """What sits in front of the Service: when an Ingress routes to it or
    NetworkPolicies guard its namespace, the IngressClasses, the Namespaces
    (policies select them by label) and the ingress controllers."""
    routed = any(
        backend.service == service.name
        for ingress in reader.list("Ingress", namespace).result()
        for backend in ingress_backends(ingress)
    )
    if not routed and not reader.list("NetworkPolicy", namespace).result():
        return []
    futures = [reader.list("IngressClass", None), reader.list("Namespace", None)]
    return futures + _ingress_controllers(reader)


def _ingress_controllers(reader: _Reader) -> list[Future[Any]]:
    """ingress-nginx controllers in any namespace, found by the chart's
    labels: their workloads and pods, then their namespace's ConfigMaps
    (the controller's settings), NetworkPolicies and ReplicaSets."""
    controller = selector_string(NGINX_CONTROLLER_LABELS)
    found = [
        reader.list(kind, None, labels=controller, beyond=True)
        for kind in ("Deployment", "DaemonSet", "Pod")
    ]
    futures: list[Future[Any]] = []
    for ns in sorted({obj.namespace for future in found for obj in future.result()}):
        futures += [
            reader.list("ConfigMap", ns, beyond=True),
            reader.list("NetworkPolicy", ns, beyond=True),
            reader.list("ReplicaSet", ns, labels=controller, beyond=True),
        ]
    return futures


def _owners(reader: _Reader, namespace: str, selector: str, pods: list[Obj]) -> list[Obj]:
    """The pods' owners: ReplicaSets by the selector's labels (which the
    controller copies from the pod template, so earlier revisions come
    along), owners that search missed by name, StatefulSets and DaemonSets
    by name. Returns the ReplicaSets."""
    replicasets = reader.list("ReplicaSet", namespace, labels=selector)
    owners = _controlling_owners(pods)
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


# What the rounds read (some only when they explain something: ConfigMaps for
# pods not ready, IngressClasses when an Ingress routes to the Service).
_COVERED = frozenset(
    {"Service", "Pod", "EndpointSlice", "Endpoints", "Event", "Ingress", "NetworkPolicy"}
    | {"HorizontalPodAutoscaler", *_WORKLOADS, "ConfigMap", "PersistentVolumeClaim", "Node"}
    | {"IngressClass", "Namespace"}
)


def _shared(reader: _Reader, namespace: str, planned: frozenset[str]) -> list[Future[Any]]:
    """Round 1's namespace-wide reads, plus any planned kind that no step
    reads (never a withheld one)."""
    futures: list[Future[Any]] = [
        reader.list("Event", namespace),
        reader.list("Ingress", namespace),
        reader.list("NetworkPolicy", namespace),
        reader.list("HorizontalPodAutoscaler", namespace),
    ]
    for kind in sorted(planned - _COVERED - WITHHELD):
        futures.append(reader.list(kind, namespace))
    return futures


def _read_target(reader: _Reader, target: ObjectRef, plan: ReadPlan) -> None:
    if target.kind in ROUTE_KINDS:
        _read_route(reader, target, plan)
        return
    namespace = target.namespace
    # The namespace's Services, not just the target: rules name near misses
    # (a mesh route's host, a backend) and look for other Services of a pod.
    services = reader.list("Service", namespace)
    _slices(reader, namespace, target.name)
    shared = _shared(reader, namespace, plan.service)
    found = next((s for s in services.result() if s.name == target.name), None)
    if found is not None:
        _read_service(reader, namespace, found)
    _wait(shared)


def _read_route(reader: _Reader, target: ObjectRef, plan: ReadPlan) -> None:
    """An Ingress or HTTPRoute: itself, the IngressClasses, the Services of
    its namespace (backends, and names near a missing one), then each
    Service it routes to as above; a missing backend is looked for in
    other namespaces."""
    namespace = target.namespace
    route = reader.get(target.kind, namespace, target.name)
    waits = _shared(reader, namespace, plan.route)
    waits += [reader.list("IngressClass", None), reader.list("Service", namespace)]
    found = route.result()
    if found is None:
        reader.list(target.kind, namespace).result()  # names for the "not found" hint
        _wait(waits)
        return
    services = {
        (ns, name): service
        for ns, name in routed_services(found)
        if (service := reader.get("Service", ns, name).result()) is not None
    }
    waits += [
        reader.list("Service", None, fields=f"metadata.name={name}", beyond=True)
        for ns, name in routed_services(found)
        if (ns, name) not in services
    ]
    for ns in sorted({ns for ns, _ in services} - {namespace}):
        waits += _shared(reader, ns, plan.service)
    # Each backend's rounds wait on the reader's pool: drive them from their own threads.
    with ThreadPoolExecutor(max_workers=max(len(services), 1)) as drivers:
        for _ in drivers.map(lambda key: _read_service(reader, key[0], services[key]), services):
            pass
    _wait(waits)


def _read_namespace(reader: _Reader, namespace: str | None, kinds: Iterable[str]) -> None:
    futures: list[Future[Any]] = [reader.list(kind, namespace) for kind in kinds]
    _wait([*futures, *_ingress_controllers(reader)])
    if namespace is None:
        return
    # Services that select nothing here: where pods with their labels run instead.
    pods = Snapshot.build(reader.list("Pod", namespace).result())  # the label index
    selectors = {
        selector_string(selector)
        for service in reader.list("Service", namespace).result()
        if (selector := service.spec.get("selector"))
        and not pods.pods_matching(namespace, selector)
    }
    _wait([reader.list("Pod", None, labels=s, beyond=True) for s in sorted(selectors)])


def _run(
    api: KubeApi,
    namespace: str | None,
    plan: Callable[[_Reader], None],
    required: str | None,
) -> LiveRead:
    """Carry out a plan; a `required` kind the server refused (the target's)
    leaves nothing to diagnose: that refusal is the error."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="why5xx-live") as pool:
        reader = _Reader(api, pool)
        try:
            plan(reader)
        except ClusterError:
            # The cluster cannot be read (no answer, no route): the queued
            # reads would each wait out their timeout for nothing.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    if required is not None and required in reader.unavailable:
        raise ClusterError(reader.unavailable[required])
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


def read_target(api: KubeApi, target: ObjectRef, plan: ReadPlan) -> LiveRead:
    """What diagnosing one Service or Ingress needs, in few concurrent calls:
    its parts, and what `plan` (the rules' declarations) adds."""
    return _run(
        api,
        target.namespace,
        lambda reader: _read_target(reader, target, plan),
        required=target.kind,
    )


def read_namespace(
    api: KubeApi,
    namespace: str | None,
    kinds: Iterable[str] = NAMESPACE_KINDS,
    *,
    plan: ReadPlan,
    required: str | None = None,
) -> LiveRead:
    """Every object of `kinds` in a namespace (None: all), each kind listed
    once, plus every kind of the `plan` (what the rules read; never a
    withheld kind)."""
    planned = sorted(plan.route - set(kinds) - WITHHELD)
    wanted = list(dict.fromkeys([*kinds, *planned]))
    return _run(api, namespace, lambda reader: _read_namespace(reader, namespace, wanted), required)
