"""An immutable, indexed view of the cluster that rules read.

Sources (bundle, live) produce `Obj`s; `Snapshot.build` indexes them once so
that every rule does lookups, not scans. Raw manifests are shared, not copied:
rules must treat them as read-only (the scenario runner checks they do).
"""

from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from why5xx.kube import parse_time
from why5xx.model import ObjectRef
from why5xx.wellformed import conform, event_problems

_T = TypeVar("_T")

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_NAMESPACE = "default"
# Kinds without a namespace (the ones manifests and bundles hold); every other
# kind without metadata.namespace goes where `kubectl apply -n` would put it.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "IngressClass",
        "GatewayClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "RuntimeClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "ClusterIssuer",
    }
)
# Kinds whose pods are selected by a Service and that own pods directly or through ReplicaSets.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
# Manifests also make serving pods with the ReplicationController (its
# examples live on in tutorials); the diagnosis does not read it from a
# cluster, lint does (`lint.manifests`).
MANIFEST_WORKLOAD_KINDS = (*WORKLOAD_KINDS, "ReplicationController")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_NOTHING: Mapping[str, Any] = MappingProxyType({})
# After a pause in which at least this many objects were allocated (a big
# bundle), they are frozen rather than walked again by the collector.
FREEZE_OVER = 200_000


@contextlib.contextmanager
def gc_paused(*, freeze_over: int | None = FREEZE_OVER) -> Iterator[None]:
    """Pause the cyclic garbage collector while a bundle is decoded and
    indexed: manifests and indexes hold no reference cycles, and each
    collection the allocations trigger would walk all of them again (twice the
    time of a 10,000-pod diagnosis). When the pause allocated more than
    `freeze_over` objects, they are moved to the permanent generation
    (`gc.freeze`): long-lived by nature, they stay out of later collections
    (the rules' allocations would otherwise trigger full ones), and reference
    counting still frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if freeze_over is not None and gc.get_count()[0] > freeze_over:
                gc.freeze()
            gc.enable()


@dataclass(frozen=True, slots=True, kw_only=True)
class Obj:
    """One Kubernetes object as read, with the metadata rules use most."""

    kind: str
    api_version: str
    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    raw: Mapping[str, Any]
    source: str
    line: int | None = None  # where the object starts in its file (`lint` asks for it)
    # For a pod that stands in for a workload's pods (the input holds the
    # workload but none of its pods): the workload whose template it is.
    template_of: ObjectRef | None = None
    # Fields of the wrong type, left out of `raw` (`wellformed.conform`).
    problems: tuple[str, ...] = ()

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(kind=self.kind, namespace=self.namespace, name=self.name)

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.raw.get("metadata") or _EMPTY

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.get("annotations") or _EMPTY

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.raw.get("spec") or _EMPTY

    @property
    def status(self) -> Mapping[str, Any]:
        return self.raw.get("status") or _EMPTY

    @staticmethod
    def from_raw(raw: Mapping[str, Any], source: str, line: int | None = None) -> Obj:
        """The object as rules may read it: fields of the wrong type are
        absent from `raw` and named in `problems`."""
        if raw.get("kind") == "Event":  # read through typed accessors (`Event.from_obj`)
            problems = event_problems(raw)
        else:
            raw, problems = conform(raw)
        metadata = _mapping(raw.get("metadata"))
        labels = metadata.get("labels")
        return Obj(
            kind=str(raw.get("kind", "")),
            api_version=str(raw.get("apiVersion", "")),
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name") or ""),
            uid=str(metadata.get("uid") or ""),
            labels=labels if labels and isinstance(labels, Mapping) else _EMPTY,
            raw=raw,
            source=source,
            line=line,
            problems=problems,
        )


def placed(obj: Obj, namespace: str) -> Obj:
    """The object in `namespace` when it names none and is not cluster-scoped
    (as `kubectl apply -n NAMESPACE` places it)."""
    if obj.namespace or obj.kind in CLUSTER_SCOPED:
        return obj
    return replace(obj, namespace=namespace)


def distinct(objs: Iterable[Obj | None]) -> list[Obj]:
    """Each object once, in the order first seen; Nones (an owner not found) left out."""
    found: dict[ObjectRef, Obj] = {}
    for obj in objs:
        if obj is not None:
            found.setdefault(obj.ref, obj)
    return list(found.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A core/v1 or events.k8s.io/v1 Event, normalised to one shape."""

    type: str
    reason: str
    message: str
    count: int
    first: datetime | None
    last: datetime | None
    regarding: ObjectRef
    field_path: str
    component: str
    source: str

    @staticmethod
    def from_obj(obj: Obj) -> Event:
        """Events are the bulk of a bundle and are read only here, so they
        skip `wellformed.conform` and are read through typed accessors."""
        raw = obj.raw
        series = _mapping(raw.get("series"))
        if _is_events_v1(obj):
            involved = _mapping(raw.get("regarding"))
            count = series.get("count") or raw.get("deprecatedCount")
            first = raw.get("deprecatedFirstTimestamp") or raw.get("eventTime")
            last = (
                series.get("lastObservedTime")
                or raw.get("deprecatedLastTimestamp")
                or raw.get("eventTime")
            )
            message = raw.get("note")
            component = raw.get("reportingController") or (
                _mapping(raw.get("deprecatedSource")).get("component")
            )
        else:
            involved = _mapping(raw.get("involvedObject"))
            count = raw.get("count") or series.get("count")
            first = raw.get("firstTimestamp") or raw.get("eventTime")
            last = (
                series.get("lastObservedTime")
                or raw.get("lastTimestamp")
                or raw.get("eventTime")
                or first
            )
            message = raw.get("message")
            component = _mapping(raw.get("source")).get("component") or raw.get(
                "reportingComponent"
            )
        return Event(
            type=_text(raw.get("type")) or "Normal",
            reason=_text(raw.get("reason")),
            message=_text(message).strip(),
            count=count if isinstance(count, int) and count > 0 else 1,
            first=parse_time(first),
            last=parse_time(last) or parse_time(first),
            regarding=_ref(_regarding_key(involved, obj.namespace)),
            field_path=_text(involved.get("fieldPath")),
            component=_text(component),
            source=obj.source,
        )


def _mapping(value: object) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (a field of the wrong type is absent)."""
    return value if isinstance(value, Mapping) else _NOTHING


def _text(value: object) -> str:
    """`value` as text if it is a single value, else ""."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) else ""


def _is_events_v1(obj: Obj) -> bool:
    raw = obj.raw
    return "regarding" in raw or "note" in raw or obj.api_version.startswith("events.k8s.io")


def _regarding_key(involved: Mapping[str, Any], namespace: str) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object an event is about."""
    return (
        _text(involved.get("kind")),
        _text(involved.get("namespace")) or namespace,
        _text(involved.get("name")),
    )


def _ref(key: tuple[str, str, str]) -> ObjectRef:
    return ObjectRef(kind=key[0], namespace=key[1], name=key[2])


def _newest_timestamp(objects: Iterable[Obj]) -> datetime | None:
    """The newest time any object mentions: "now" for an offline bundle.

    RFC 3339 strings in UTC sort as text, so the scan compares strings and
    parses one at the end.
    """
    newest = ""
    for obj in objects:
        raw = obj.raw
        value = (raw.get("metadata") or _NOTHING).get("creationTimestamp")
        if isinstance(value, str) and value > newest:
            newest = value
        kind = obj.kind
        if kind == "Event":
            for value in (
                raw.get("lastTimestamp"),
                raw.get("eventTime"),
                raw.get("deprecatedLastTimestamp"),
                _mapping(raw.get("series")).get("lastObservedTime"),
            ):
                if isinstance(value, str) and value > newest:
                    newest = value
        elif kind == "Node":  # the kubelet's heartbeats: the freshest clock in a quiet bundle
            for condition in (raw.get("status") or _NOTHING).get("conditions") or ():
                value = condition.get("lastHeartbeatTime")
                if isinstance(value, str) and value > newest:
                    newest = value
        elif kind == "Pod":
            status = raw.get("status") or _NOTHING
            for condition in status.get("conditions") or ():
                value = condition.get("lastTransitionTime")
                if isinstance(value, str) and value > newest:
                    newest = value
            for cs in status.get("containerStatuses") or ():
                for state in (cs.get("state") or _NOTHING, cs.get("lastState") or _NOTHING):
                    for detail in state.values():
                        if isinstance(detail, Mapping):
                            for value in (detail.get("finishedAt"), detail.get("startedAt")):
                                if isinstance(value, str) and value > newest:
                                    newest = value
    return parse_time(newest)


def _event_order(event: Event) -> datetime:
    return event.last or _OLDEST


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _events_of(objects: Iterable[Obj]) -> tuple[Event, ...]:
    """Events about one object, normalised, oldest first."""
    return tuple(sorted((Event.from_obj(obj) for obj in objects), key=_event_order))


class Snapshot:
    """Cluster state at one moment, indexed for the lookups rules make.

    Build it with `Snapshot.build`; it exposes read-only lookups only.
    """

    __slots__ = (
        "_by_key",
        "_by_kind",
        "_by_kind_ns",
        "_by_uid",
        "_children",
        "_complete",
        "_derived",
        "_event_objects",
        "_events",
        "_ips",
        "_now",
        "_pod_labels",
        "_slices",
        "_unique",
        "kinds",
        "unavailable",
    )

    def __init__(
        self,
        *,
        by_key: dict[tuple[str, str, str], Obj],
        by_kind: dict[str, tuple[Obj, ...]],
        by_kind_ns: dict[tuple[str, str], tuple[Obj, ...]],
        by_uid: dict[str, Obj],
        children: dict[str, tuple[Obj, ...]],
        event_objects: dict[tuple[str, str, str], list[Obj]],
        pod_labels: dict[tuple[str, str], dict[str, frozenset[str]]],
        slices: dict[tuple[str, str], tuple[Obj, ...]],
        now: datetime | None,
        unique: list[Obj],
        kinds: frozenset[str],
        unavailable: Mapping[str, str],
        complete: frozenset[tuple[str, str]] | None,
    ) -> None:
        self._by_key = by_key
        self._by_kind = by_kind
        self._by_kind_ns = by_kind_ns
        self._by_uid = by_uid
        self._children = children
        # Event objects by the object they are about; normalised to `Event`s
        # on the first `events_for` of that object (most are never asked for).
        self._event_objects = event_objects
        self._events: dict[tuple[str, str, str], tuple[Event, ...]] = {}
        # Pods and EndpointSlices by IP, indexed on the first `with_ip` (logs only).
        self._ips: dict[str, tuple[Obj, ...]] | None = None
        self._pod_labels = pod_labels
        self._slices = slices
        self.kinds = kinds
        # "now": given, else the newest timestamp of the objects, found on
        # first use (a one-service diagnosis may never ask).
        self._now = now
        self._unique = unique
        self.unavailable = unavailable
        self._complete = complete
        self._derived: dict[Hashable, Any] = {}

    @staticmethod
    def build(
        objects: Iterable[Obj],
        *,
        now: datetime | None = None,
        listed: Iterable[str] = (),
        unavailable: Mapping[str, str] | None = None,
        complete: frozenset[tuple[str, str]] | None = None,
    ) -> Snapshot:
        """Index `objects`. Later duplicates (same kind/namespace/name) win,
        as when a directory holds two captures of one object.

        `complete`, for an input that may be partial (objects pasted from a
        repository or a ticket), names the (kind, namespace) pairs it lists
        in full; None (live, a capture) means every kind it holds is listed
        in full (`listed_in_full`).

        `listed` names kinds the source fetched even where it found none (a
        live list that came back empty), so rules needing them still run;
        `unavailable` maps kinds the source could not read to why (e.g.
        "cannot list networkpolicies in shop: forbidden"), for skip messages.

        One pass over the objects, with the collector paused (`gc_paused`);
        events are grouped by the object they are about here and normalised
        when a rule first asks for them.
        """
        with gc_paused():
            return Snapshot._build(
                objects,
                now=now,
                listed=listed,
                unavailable=unavailable or {},
                complete=complete,
            )

    @staticmethod
    def _build(
        objects: Iterable[Obj],
        *,
        now: datetime | None,
        listed: Iterable[str],
        unavailable: Mapping[str, str],
        complete: frozenset[tuple[str, str]] | None,
    ) -> Snapshot:
        by_key: dict[tuple[str, str, str], Obj] = {}
        for obj in objects:
            if obj.kind and obj.name:
                by_key[(obj.kind, obj.namespace, obj.name)] = obj
        # Canonical order (kind, namespace, name), as the API server lists:
        # rules see the same order whether the objects came from files or live.
        unique = [by_key[key] for key in sorted(by_key)]  # the keys are (kind, namespace, name)

        by_kind: defaultdict[str, list[Obj]] = defaultdict(list)
        by_kind_ns: defaultdict[tuple[str, str], list[Obj]] = defaultdict(list)
        by_uid: dict[str, Obj] = {}
        children: defaultdict[str, list[Obj]] = defaultdict(list)
        pod_labels: defaultdict[tuple[str, str], defaultdict[str, set[str]]] = defaultdict(
            lambda: defaultdict(set)
        )
        slices: defaultdict[tuple[str, str], list[Obj]] = defaultdict(list)
        events: defaultdict[tuple[str, str, str], list[Obj]] = defaultdict(list)

        for obj in unique:
            kind, namespace = obj.kind, obj.namespace
            by_kind[kind].append(obj)
            by_kind_ns[(kind, namespace)].append(obj)
            if obj.uid:
                by_uid[obj.uid] = obj
            for owner in (obj.raw.get("metadata") or _NOTHING).get("ownerReferences") or ():
                for key in _owner_keys(owner, namespace):
                    children[key].append(obj)
            if kind == "Pod":
                for key, value in obj.labels.items():
                    pod_labels[(namespace, key)][value].add(obj.name)
            elif kind == "EndpointSlice":
                service = obj.labels.get(SERVICE_NAME_LABEL) or _slice_service(obj, by_key)
                if service:
                    slices[(namespace, service)].append(obj)
            elif kind == "Event":  # as Event.from_obj's `regarding`
                raw = obj.raw
                involved = (
                    raw.get("regarding")
                    if "regarding" in raw
                    or "note" in raw
                    or obj.api_version.startswith("events.k8s.io")
                    else raw.get("involvedObject")
                )
                if isinstance(involved, Mapping):
                    events[_regarding_key(involved, namespace)].append(obj)

        return Snapshot(
            by_key=by_key,
            by_kind={k: tuple(v) for k, v in by_kind.items()},
            by_kind_ns={k: tuple(v) for k, v in by_kind_ns.items()},
            by_uid=by_uid,
            children={k: tuple(v) for k, v in children.items()},
            event_objects=dict(events),
            pod_labels={
                k: {value: frozenset(names) for value, names in values.items()}
                for k, values in pod_labels.items()
            },
            slices={k: tuple(v) for k, v in slices.items()},
            now=now,
            unique=unique,
            kinds=frozenset(by_kind) | frozenset(listed),
            unavailable=MappingProxyType(dict(unavailable)),
            complete=complete,
        )

    @property
    def now(self) -> datetime:
        """The capture time: given to `build`, else the newest timestamp any
        object mentions (never the clock, unless the input has no time at all)."""
        if self._now is None:
            self._now = _newest_timestamp(self._unique) or datetime.now(UTC)
            self._unique = []
        return self._now

    # --- plain lookups -------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self._by_key.get((kind, namespace, name))

    def list(self, kind: str, namespace: str | None = None) -> tuple[Obj, ...]:
        """Objects of `kind`, in one namespace or (None) in all."""
        if namespace is None:
            return self._by_kind.get(kind, ())
        return self._by_kind_ns.get((kind, namespace), ())

    def has_kind(self, kind: str) -> bool:
        """Whether the snapshot holds any object of `kind` at all: a rule that
        needs a kind the source never delivered is skipped, not passed."""
        return kind in self.kinds

    def listed_in_full(self, kind: str, namespace: str) -> bool:
        """Whether the input lists every `kind` of the namespace (live, a
        capture, a `List` of that kind), so that an object missing from it is
        missing from the cluster. A partial input (a few manifests) proves
        nothing by what it lacks."""
        if self._complete is None:
            return self.has_kind(kind)
        return (kind, "" if kind in CLUSTER_SCOPED else namespace) in self._complete

    def namespaces(self) -> tuple[str, ...]:
        return self.derived(
            "namespaces", lambda: tuple(sorted({ns for (_, ns) in self._by_kind_ns if ns}))
        )

    def derived(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """A value derived from the snapshot, computed on first use and then
        shared by every rule and target that asks (the cluster's ingress
        controllers, the workloads behind a Service). `key` names the
        computation and its arguments. The snapshot never changes, so the
        value never goes stale."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]  # type: ignore[no-any-return]

    # --- relations -----------------------------------------------------

    def pods_matching(self, namespace: str, selector: Mapping[str, str]) -> tuple[Obj, ...]:
        """Pods selected by an equality selector, via the label index."""
        if not selector:
            return ()
        names: frozenset[str] | None = None
        for key, value in selector.items():
            matched = self._pod_labels.get((namespace, key), {}).get(value, frozenset())
            names = matched if names is None else names & matched
            if not names:
                return ()
        return tuple(
            pod
            for name in sorted(names or ())
            if (pod := self._by_key.get(("Pod", namespace, name))) is not None
        )

    def pod_label_values(self, namespace: str, key: str) -> dict[str, frozenset[str]]:
        """For one label key, each value seen on pods of the namespace and the
        pods carrying it (near-miss search)."""
        return dict(self._pod_labels.get((namespace, key), {}))

    def pod_label_keys(self, namespace: str) -> frozenset[str]:
        return frozenset(k for (ns, k) in self._pod_labels if ns == namespace)

    def owner(self, obj: Obj) -> Obj | None:
        """The controlling owner (ownerReferences with controller: true, else
        the first owner), resolved by uid, then by kind and name."""
        owners = obj.metadata.get("ownerReferences") or ()
        chosen = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
        if not chosen:
            return None
        uid = chosen.get("uid")
        if uid and uid in self._by_uid:
            return self._by_uid[uid]
        return self.get(str(chosen.get("kind", "")), obj.namespace, str(chosen.get("name", "")))

    def owned(self, owner: Obj, kind: str) -> tuple[Obj, ...]:
        """Objects of `kind` whose ownerReferences name `owner`."""
        found: dict[tuple[str, str], Obj] = {}
        for key in (owner.uid, f"{owner.kind}/{owner.namespace}/{owner.name}"):
            for child in self._children.get(key, ()):
                if child.kind == kind:
                    found[(child.namespace, child.name)] = child
        return tuple(found.values())

    def workload_of(self, pod: Obj) -> Obj | None:
        """The top workload that manages a pod: Deployment (through its
        ReplicaSet), StatefulSet, DaemonSet, or a bare ReplicaSet."""
        owner = self.owner(pod)
        if owner is not None and owner.kind == "ReplicaSet":
            return self.owner(owner) or owner
        return owner

    def with_ip(self, ip: str) -> tuple[Obj, ...]:
        """Pods whose `status.podIP`/`podIPs` is `ip`, then EndpointSlices
        listing it as an endpoint address (which still name pods that are
        terminating or gone)."""
        if self._ips is None:
            self._ips = _ip_index(self.list("Pod"), self.list("EndpointSlice"))
        return self._ips.get(ip, ())

    def endpoint_slices(self, namespace: str, service: str) -> tuple[Obj, ...]:
        return self._slices.get((namespace, service), ())

    def events_for(self, kind: str, namespace: str, name: str) -> tuple[Event, ...]:
        """Events about one object, oldest first."""
        key = (kind, namespace, name)
        found = self._events.get(key)
        if found is None:
            found = _events_of(self._event_objects.get(key, ()))
            self._events[key] = found
        return found


def _ip_index(pods: Iterable[Obj], slices: Iterable[Obj]) -> dict[str, tuple[Obj, ...]]:
    found: defaultdict[str, dict[int, Obj]] = defaultdict(dict)
    for pod in pods:
        status = pod.status
        for ip in [status.get("podIP"), *(p.get("ip") for p in status.get("podIPs") or ())]:
            if ip:
                found[str(ip)][id(pod)] = pod
    for eps in slices:
        for endpoint in eps.raw.get("endpoints") or ():
            for ip in endpoint.get("addresses") or ():
                found[str(ip)][id(eps)] = eps
    return {ip: tuple(objs.values()) for ip, objs in found.items()}


def _slice_service(eps: Obj, by_key: Mapping[tuple[str, str, str], Obj]) -> str | None:
    """The Service of an EndpointSlice without the service-name label (an
    excerpt, a hand-edited copy): its owning Service, else the Service its
    generated name (`<service>-<suffix>`) starts with."""
    for owner in eps.metadata.get("ownerReferences") or ():
        if owner.get("kind") == "Service" and owner.get("name"):
            return str(owner["name"])
    prefix = eps.name.rpartition("-")[0]
    while prefix:
        if ("Service", eps.namespace, prefix) in by_key:
            return prefix
        prefix = prefix.rpartition("-")[0]
    return None


def _owner_keys(owner: Mapping[str, Any], namespace: str) -> tuple[str, ...]:
    """Children are indexed under the owner's uid and under kind/namespace/name,
    so hand-written manifests without uids resolve too."""
    by_name = f"{owner.get('kind', '')}/{namespace}/{owner.get('name', '')}"
    uid = owner.get("uid")
    return (str(uid), by_name) if uid else (by_name,)
