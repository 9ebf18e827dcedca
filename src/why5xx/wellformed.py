"""The type boundary between what was read and what rules see.

A manifest can be valid YAML and still hold `spec: "x"`, `labels: [..]`,
`selector: ["app"]` or `ports: [null]`: the API server would refuse it, a
hand-written or hand-edited bundle has it anyway. `conform` checks the
fields Kubernetes defines by name (and that rules and lint read) against
the type the API gives them; a value of the wrong type becomes absent, with
one problem naming the field, so no rule ever finds a `str` where a mapping
belongs. Fields it does not know are left as they are, and only known
fields are descended into, so an object costs what rules would read of it.

The check copies only what it changes: a well-formed object comes back as
the same mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Shape(Enum):
    """What the API allows in a field (the value says it in a message)."""

    MAPPING = "a mapping"
    MAPPINGS = "a list of mappings"  # items that are no mapping are dropped
    STRING_MAP = "a mapping of strings"  # labels, annotations, a Service's selector
    # `controller`: a flag of an owner, a name of an IngressClass; `ready`: a
    # flag of an endpoint, a count of a Job.
    SCALAR = "a single value"
    SCALARS = "a list of values"
    INTEGER = "an integer"
    BOOLEAN = "true or false"
    TEXT = "a string"  # numbers are read as their text (`name: 123`)
    SCALAR_OR_MAPPING = "a value or a mapping"  # `port`, `path`
    MAPPINGS_OR_MAPPING = "a mapping or a list of mappings"  # `conditions`, `http`, `tls`
    # `addresses`: strings in an EndpointSlice, mappings in Endpoints.
    MAPPINGS_OR_SCALARS = "a list"
    LIST_OR_MAPPING = "a list or a mapping"  # `namespaces`
    COUNT_OR_PERCENT = "a count or a percentage"  # `maxUnavailable: 1`, `minAvailable: 50%`
    MAPPINGS_OR_SCALAR = "a list of mappings or a single value"  # `from`


def _words(text: str) -> list[str]:
    return text.split()


def _each(shape: Shape, names: str) -> dict[str, Shape]:
    return dict.fromkeys(_words(names), shape)


_M, _ML, _SM = Shape.MAPPING, Shape.MAPPINGS, Shape.STRING_MAP
_SL, _I, _B, _T = Shape.SCALARS, Shape.INTEGER, Shape.BOOLEAN, Shape.TEXT

# Field name -> shape, for fields whose type is the same wherever the API uses the name.
FIELDS: Mapping[str, Shape] = {
    **_each(
        _M,
        (
            "metadata spec template strategy rollingUpdate resources requests "
            "readinessProbe livenessProbe startupProbe httpGet tcpSocket grpc exec lifecycle "
            "preStop postStart sleep securityContext valueFrom configMapKeyRef secretKeyRef "
            "fieldRef configMapRef secretRef configMap secret persistentVolumeClaim projected "
            "podSelector namespaceSelector ipBlock involvedObject regarding series source "
            "deprecatedSource state lastState running waiting terminated targetRef backend "
            "defaultBackend allowedRoutes parentRef destination trafficPolicy "
            "connectionPool outlierDetection mtls portLevelMtls scaleTargetRef loadBalancer "
            "affinity nodeInfo capacity allocatable circuitBreaker selector"
        ),
    ),
    **_each(
        _ML,
        (
            "ownerReferences containers initContainers ephemeralContainers ports env envFrom "
            "volumeMounts volumes httpHeaders sources matchExpressions ingress egress "
            "containerStatuses initContainerStatuses podIPs hostIPs subsets notReadyAddresses "
            "endpoints rules paths parentRefs backendRefs matches filters listeners parents "
            "route portLevelSettings metrics tolerations taints"
        ),
    ),
    **_each(_SM, "labels annotations matchLabels nodeSelector data"),
    **_each(_SL, "args command finalizers values except policyTypes hosts hostnames"),
    **_each(
        _I,
        (
            "replicas readyReplicas availableReplicas updatedReplicas count restartCount "
            "exitCode containerPort number minReadySeconds terminationGracePeriodSeconds "
            "initialDelaySeconds periodSeconds failureThreshold timeoutSeconds "
            "successThreshold minReplicas maxReplicas deprecatedCount "
            "deletionGracePeriodSeconds endPort progressDeadlineSeconds weight"
        ),
    ),
    **_each(Shape.SCALAR, "controller ready serving terminating"),
    **_each(Shape.COUNT_OR_PERCENT, "maxUnavailable maxSurge minAvailable"),
    **_each(_B, "hostNetwork optional"),
    **_each(
        _T,
        (
            "name namespace uid kind apiVersion image phase reason message type protocol "
            "nodeName podIP ip hostname clusterIP externalName ingressClassName appProtocol "
            "sectionName creationTimestamp deletionTimestamp lastTimestamp firstTimestamp "
            "eventTime startedAt finishedAt lastTransitionTime lastHeartbeatTime "
            "lastObservedTime note reportingController reportingComponent component "
            "fieldPath resourceVersion generateName host"
        ),
    ),
    # `service` of an Ingress backend; of a gRPC probe, a name.
    **_each(Shape.SCALAR_OR_MAPPING, "port targetPort path status servicePort service"),
    # `conditions` of an endpoint, `http` of an Ingress rule, `tls` of a DestinationRule and
    # `limits` of a container are mappings; of a Pod, a VirtualService, an
    # Ingress, a LimitRange lists.
    **_each(Shape.MAPPINGS_OR_MAPPING, "conditions http tls tcp match limits"),
    **_each(Shape.MAPPINGS_OR_SCALARS, "addresses"),
    # `namespaces` of a Gateway listener's allowedRoutes; of an affinity term, a list of names.
    **_each(Shape.LIST_OR_MAPPING, "namespaces"),
    # `from` of a NetworkPolicy rule is a list of peers; of allowedRoutes, "All" or "Same".
    **_each(Shape.MAPPINGS_OR_SCALAR, "from to"),
}
# The metadata every object has; for kinds outside `KNOWN_KINDS` (custom
# resources, whose fields may mean anything) only this is checked.
_METADATA: Mapping[str, Shape] = {"metadata": _M, "kind": _T, "apiVersion": _T}
# Where the name alone says too little: a top-level `status` is a mapping (a
# condition's is a string); a Service's selector maps label to value.
_TOP: Mapping[str, Shape] = {**FIELDS, **_METADATA, "status": _M, "spec": _M}
_SERVICE_SELECTOR = "spec.selector"
KNOWN_KINDS = frozenset(
    _words(
        "Service Endpoints EndpointSlice Pod Event ConfigMap PersistentVolumeClaim Namespace "
        "Node Deployment ReplicaSet StatefulSet DaemonSet Job CronJob HorizontalPodAutoscaler "
        "PodDisruptionBudget Ingress IngressClass NetworkPolicy DestinationRule VirtualService "
        "ServiceEntry PeerAuthentication Gateway HTTPRoute GRPCRoute ReferenceGrant "
        "BackendTrafficPolicy"
    )
)
# Kubernetes objects are a few dozen levels deep; past this the content is
# left unchecked rather than walked.
MAX_DEPTH = 48
_SCALAR_TYPES = (str, int, float, bool)
_PERCENT = re.compile(r"\d+%?")
_SCALARS: frozenset[type] = frozenset((str, int, float, bool))
_NOTHING: frozenset[type] = frozenset()
# Types a value of each shape may have that need no look inside (a null
# needs one: it is dropped, as the API server drops it).
_SETTLED: Mapping[Shape, frozenset[type]] = {
    **dict.fromkeys(Shape, _NOTHING),
    Shape.TEXT: frozenset((str,)),
    Shape.INTEGER: frozenset((int,)),
    Shape.BOOLEAN: frozenset((bool,)),
    Shape.SCALAR: _SCALARS,
    Shape.SCALAR_OR_MAPPING: _SCALARS,
    Shape.MAPPINGS_OR_SCALAR: _SCALARS,
}


@dataclass(frozen=True, slots=True)
class _Table:
    """Field name -> shape, and the types that settle each field at once."""

    shapes: Mapping[str, Shape]
    settled: Mapping[str, frozenset[type]]

    @staticmethod
    def of(shapes: Mapping[str, Shape]) -> _Table:
        return _Table(shapes, {name: _SETTLED[shape] for name, shape in shapes.items()})


_OBJECT_LISTS = {"conditions": _ML, "limits": _M, "namespaces": _SL}
# The names whose type differs from kind to kind, as each kind has them.
_BY_KIND: Mapping[str, Mapping[str, Shape]] = {
    "Ingress": {"http": _M, "tls": _ML, "paths": _ML, "service": _M},
    "VirtualService": {"http": _ML, "tcp": _ML, "tls": _ML, "match": _ML, "route": _ML},
    "DestinationRule": {"tls": _M, "tcp": _M, "http": _M},
    "EndpointSlice": {"conditions": _M},
    "Gateway": {"namespaces": _M, "from": _T},
    "NetworkPolicy": {"from": _ML, "to": _ML},
    **dict.fromkeys(
        _words("Pod Deployment ReplicaSet StatefulSet DaemonSet Job CronJob Node"), _OBJECT_LISTS
    ),
}
_NESTED = _Table.of(FIELDS)
_TABLES: Mapping[str, tuple[_Table, _Table]] = {
    kind: (_Table.of({**FIELDS, **fields}), _Table.of({**_TOP, **fields}))
    for kind, fields in _BY_KIND.items()
}
_DEFAULT_TABLES = (_NESTED, _Table.of(_TOP))
_METADATA_TABLE = _Table.of(_METADATA)
_LISTS = frozenset(
    (
        Shape.MAPPINGS,
        Shape.MAPPINGS_OR_MAPPING,
        Shape.MAPPINGS_OR_SCALARS,
        Shape.MAPPINGS_OR_SCALAR,
    )
)


def conform(raw: Mapping[str, Any]) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """`raw` with every known field of the wrong type removed (the same
    mapping when none is), and one line per removal ("spec.selector is a
    list, not a mapping: read as absent")."""
    kind = raw.get("kind")
    known = kind in KNOWN_KINDS
    nested, top = _TABLES.get(kind, _DEFAULT_TABLES) if isinstance(kind, str) else _DEFAULT_TABLES
    walk = _Walk(service=kind == "Service", known=known, nested=nested)
    checked = walk.mapping(raw, "", 0, top if known else _METADATA_TABLE)
    return checked, tuple(walk.problems)


# What `Event.from_obj` reads as mappings. Events are the bulk of a bundle
# (100,000 in a 10,000-pod one), so they are not walked: their reader takes
# a field of the wrong type as absent, and this names it.
_EVENT_MAPPINGS = ("metadata", "involvedObject", "regarding", "series", "source")


def event_problems(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields of an Event that its reader will take as absent."""
    return tuple(
        f"{name} is {_described(raw[name])}, not a mapping: read as absent"
        for name in _EVENT_MAPPINGS
        if raw.get(name) is not None and not _is_mapping(raw[name])
    )


class _Absent:
    """What a check returns for a value to drop."""


_ABSENT: Any = _Absent()


class _Walk:
    def __init__(self, *, service: bool, known: bool, nested: _Table) -> None:
        self.service = service
        self.known = known
        self.nested = nested
        self.problems: list[str] = []

    def mapping(
        self,
        value: Mapping[str, Any],
        path: str,
        depth: int,
        table: _Table | None = None,
    ) -> Mapping[str, Any]:
        chosen = table or self.nested
        names, settled = chosen.shapes, chosen.settled
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            # Unknown fields and values of the right type
            # with nothing inside are the common case, settled by one lookup.
            types = settled.get(key)
            if types is None or type(item) in types:
                continue
            shape = names[key]
            where = f"{path}.{key}" if path else key
            if self.service and where == _SERVICE_SELECTOR:
                shape = _SM
            fixed = self.check(item, shape, where, depth + 1)
            if fixed is not item:
                if changed is None:
                    changed = dict(value)
                if fixed is _ABSENT:
                    del changed[key]
                else:
                    changed[key] = fixed
        return value if changed is None else changed

    def check(self, item: Any, shape: Shape, where: str, depth: int) -> Any:
        if item is None:
            return _ABSENT  # null is absent: no rule need tell `x: null` from no `x`
        if depth > MAX_DEPTH:
            return item
        if shape is Shape.COUNT_OR_PERCENT:
            whole = isinstance(item, int) and not isinstance(item, bool) and item >= 0
            share = isinstance(item, str) and _PERCENT.fullmatch(item) is not None
            return item if whole or share else self.wrong(item, shape, where)
        if shape is Shape.MAPPING:
            if not _is_mapping(item):
                return self.wrong(item, shape, where)
            walked = self.known or where.startswith("metadata")
            return self.mapping(item, where, depth) if walked else item
        if shape is Shape.STRING_MAP:
            return (
                self.strings(item, where) if _is_mapping(item) else self.wrong(item, shape, where)
            )
        if shape in _LISTS:
            if _is_mapping(item) and shape is Shape.MAPPINGS_OR_MAPPING:
                return self.mapping(item, where, depth)
            if isinstance(item, _SCALAR_TYPES) and shape is Shape.MAPPINGS_OR_SCALAR:
                return item
            if type(item) is not list:
                return self.wrong(item, shape, where)
            return self.items(item, where, depth, scalars=shape is Shape.MAPPINGS_OR_SCALARS)
        if shape is Shape.SCALARS:
            if type(item) is not list:
                return self.wrong(item, shape, where)
            if all(isinstance(v, _SCALAR_TYPES) for v in item):
                return item
            self.problems.append(f"{where} holds items that are not single values: ignored")
            return [v for v in item if isinstance(v, _SCALAR_TYPES)]
        if shape is Shape.LIST_OR_MAPPING:
            if _is_mapping(item):
                return self.mapping(item, where, depth)
            return item if type(item) is list else self.wrong(item, shape, where)
        if shape is Shape.SCALAR_OR_MAPPING and _is_mapping(item):
            return self.mapping(item, where, depth)
        if shape is Shape.INTEGER:
            whole = isinstance(item, int) and not isinstance(item, bool)
            return item if whole else self.wrong(item, shape, where)
        if shape is Shape.BOOLEAN:
            return item if isinstance(item, bool) else self.wrong(item, shape, where)
        if shape is Shape.TEXT:
            if isinstance(item, str):
                return item
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                return str(item)  # `name: 123`: YAML's number, the name "123"
        if isinstance(item, _SCALAR_TYPES) and shape is not Shape.TEXT:
            return item
        return self.wrong(item, shape, where)

    def items(self, items: list[Any], where: str, depth: int, *, scalars: bool) -> list[Any]:
        kept: list[Any] | None = None
        for position, item in enumerate(items):
            fixed: Any = item
            if _is_mapping(item):
                fixed = self.mapping(item, f"{where}[{position}]", depth)
            elif not (scalars and isinstance(item, _SCALAR_TYPES)):
                self.problems.append(
                    f"{where}[{position}] is {_described(item)}, not a mapping: ignored"
                )
                fixed = _ABSENT
            if fixed is not item and kept is None:
                kept = list(items[:position])
            if kept is not None and fixed is not _ABSENT:
                kept.append(fixed)
        return items if kept is None else kept

    def strings(self, value: Mapping[Any, Any], where: str) -> Mapping[str, str]:
        if all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return value
        kept: dict[str, str] = {}
        for key, item in value.items():
            text = item
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                text = str(item)  # `version: 2` is the label value "2"
            if isinstance(key, str) and isinstance(text, str):
                kept[key] = text
            elif item is not None:
                self.problems.append(f"{where}.{key} is {_described(item)}, not a string: ignored")
        return kept

    def wrong(self, item: Any, shape: Shape, where: str) -> Any:
        self.problems.append(f"{where} is {_described(item)}, not {shape.value}: read as absent")
        return _ABSENT


def _is_mapping(item: Any) -> bool:
    return type(item) is dict or isinstance(item, Mapping)


def _described(item: Any) -> str:
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "a boolean"
    if isinstance(item, str):
        return "a string"
    if isinstance(item, (int, float)):
        return "a number"
    if type(item) is list:
        return "a list"
    if _is_mapping(item):
        return "a mapping"
    return f"a {type(item).__name__}"
