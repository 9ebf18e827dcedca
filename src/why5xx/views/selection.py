"""What nearly matches a Service's selector: pods whose labels differ from it
by one key or value (a typo, a renamed label, a version bump), the signature
of a selector mismatch. Labels controllers generate are never candidates."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from why5xx.model import ObjectRef
from why5xx.snapshot import WORKLOAD_KINDS, Obj, Snapshot
from why5xx.views.pods import pod_template_labels

# Labels the platform adds to every pod; a near miss on them means nothing.
_GENERATED_LABELS = frozenset(
    {"pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NearMiss:
    """Pods that would match the selector but for one label."""

    key: str  # the selector key that misses
    wanted: str  # the selector's value
    found: str | None  # the pods' value for that key, None when they lack it
    found_key: str | None  # a differently spelled key carrying the wanted value
    pods: tuple[Obj, ...]

    @property
    def difference(self) -> str:
        if self.found_key is not None:
            return f"pods carry {self.found_key}={self.wanted}, not {self.key}={self.wanted}"
        if self.found is None:
            return f"pods have no {self.key} label (selector wants {self.key}={self.wanted})"
        return f"selector wants {self.key}={self.wanted}, pods have {self.key}={self.found}"


# How alike two label values must be to count as a typo or a rename: high
# enough that different apps (`accounts` / `checkout`, 0.625) stay apart.
_SIMILARITY = 0.75


def _similar(a: str, b: str) -> bool:
    """Values a human would call a typo or a rename of each other:
    `checkout` / `chekout`, `payments` / `payments-v2`, `API` / `api`."""
    a, b = a.lower(), b.lower()
    if a == b or (min(len(a), len(b)) >= 3 and (a in b or b in a)):
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= _SIMILARITY


# Label keys that mean the same thing: Helm charts and the recommended labels
# (app.kubernetes.io/*) replace the older short keys, a common source of misses.
_KEY_ALIASES = (
    frozenset({"app", "name", "k8s-app", "app.kubernetes.io/name"}),
    frozenset({"version", "app.kubernetes.io/version"}),
    frozenset({"component", "app.kubernetes.io/component"}),
    frozenset({"instance", "release", "app.kubernetes.io/instance"}),
    frozenset({"part-of", "app.kubernetes.io/part-of"}),
)

# Keys that name the application: another value there is another app, so it
# is a near miss only when the value is similar (`checkout` ~ `checkout-v2`).
_IDENTITY_KEYS = _KEY_ALIASES[0] | _KEY_ALIASES[3]


def _similar_key(a: str, b: str) -> bool:
    """`App` ~ `app`, `example.com/tier` ~ `tier`, `app` ~ `app.kubernetes.io/name`."""
    tail_a, tail_b = re.split(r"[./]", a)[-1].lower(), re.split(r"[./]", b)[-1].lower()
    return tail_a == tail_b or any(a in group and b in group for group in _KEY_ALIASES)


def near_misses(snap: Snapshot, namespace: str, selector: Mapping[str, str]) -> list[NearMiss]:
    """Groups of pods that miss `selector` by exactly one key, best first.

    With several selector keys, pods matching all but one are near misses
    whatever their value for the last (`version: v2` against `v3`), unless
    that key names the application (`app`, `app.kubernetes.io/name`, ...):
    pods of another app sharing `version: v1` are no near miss. There, and
    with a single key, only a similar value (typo, rename, `-v2` suffix) or
    the same value under a similar key counts: otherwise every pod in the
    namespace would be a near miss.

    Computed once per namespace and selector (two rules ask, and so does lint).
    """
    key = ("near-misses", namespace, tuple(selector.items()))
    return snap.derived(key, lambda: _near_misses(snap, namespace, selector))


def _near_misses(snap: Snapshot, namespace: str, selector: Mapping[str, str]) -> list[NearMiss]:
    misses: list[NearMiss] = []
    for key, wanted in selector.items():
        if key in _GENERATED_LABELS:
            continue
        others = {k: v for k, v in selector.items() if k != key}
        candidates = {p.name for p in snap.pods_matching(namespace, others)} if others else None
        values = snap.pod_label_values(namespace, key)
        any_value = bool(others) and key not in _IDENTITY_KEYS
        similar = None if any_value else _values(snap, namespace, key).similar(wanted)
        for value, names in values.items():
            if value == wanted or (similar is not None and value not in similar):
                continue
            pods = names if candidates is None else names & candidates
            if pods:
                misses.append(_near_miss(snap, namespace, key, wanted, value, None, pods))
        if others and candidates and key not in _IDENTITY_KEYS:
            lacking = candidates - _values(snap, namespace, key).pods
            if lacking:
                misses.append(_near_miss(snap, namespace, key, wanted, None, None, lacking))
        for other_key in _label_keys(snap, namespace):
            if other_key == key or not _similar_key(other_key, key):
                continue
            pods = snap.pod_label_values(namespace, other_key).get(wanted, frozenset())
            if candidates is not None:
                pods = pods & candidates
            if pods:
                misses.append(_near_miss(snap, namespace, key, wanted, None, other_key, pods))
    # Most pods first; a value closer to the wanted one breaks ties.
    return sorted(
        misses,
        key=lambda m: (
            -len(m.pods),
            -difflib.SequenceMatcher(None, m.found or "", m.wanted).ratio(),
            m.key,
        ),
    )


class _Values:
    """The values one label key has on a namespace's pods, indexed so that
    the values `_similar` to a wanted one are found without comparing each
    in Python: with 2,000 failing Services and 2,000 values that was 4
    million SequenceMatcher runs. Equal and contained values come from
    lookups and one substring search; for the rest, rapidfuzz's Indel
    similarity (2·LCS/(|a|+|b|), computed in C) is an upper bound of
    difflib's ratio (whose matching blocks are a common subsequence), so
    only the values it keeps are compared with difflib."""

    def __init__(self, values: Mapping[str, frozenset[str]]) -> None:
        self.lowered: dict[str, list[str]] = {}
        for value in values:
            self.lowered.setdefault(value.lower(), []).append(value)
        self.choices = list(self.lowered)
        # One text of every value, to find those containing a wanted one in C.
        self.text = "\n" + "\n".join(self.choices) + "\n"
        self.pods = frozenset(name for names in values.values() for name in names)

    def similar(self, wanted: str) -> frozenset[str]:
        """The values `_similar` to `wanted`."""
        low = wanted.lower()
        found = {low} if low in self.lowered else set()
        if len(low) >= 3:
            found |= self._containing(low)
            found |= {
                low[i:j]
                for i in range(len(low))
                for j in range(i + 3, len(low) + 1)
                if low[i:j] in self.lowered
            }
        for choice, _, _ in process.extract(
            low, self.choices, scorer=fuzz.ratio, score_cutoff=_SIMILARITY * 100 - 1e-6, limit=None
        ):
            if choice not in found and _similar(choice, low):
                found.add(choice)
        # (a value holding a newline would be cut by the text search: not a value)
        return frozenset(v for f in found if f in self.lowered for v in self.lowered[f])

    def _containing(self, low: str) -> set[str]:
        found = set()
        start = self.text.find(low)
        while start >= 0:
            begin = self.text.rfind("\n", 0, start) + 1
            end = self.text.find("\n", start)
            found.add(self.text[begin:end])
            start = self.text.find(low, end)
        return found


def _values(snap: Snapshot, namespace: str, key: str) -> _Values:
    return snap.derived(
        ("label-values", namespace, key),
        lambda: _Values(snap.pod_label_values(namespace, key)),
    )


def _label_keys(snap: Snapshot, namespace: str) -> frozenset[str]:
    return snap.derived(("label-keys", namespace), lambda: snap.pod_label_keys(namespace))


def _near_miss(
    snap: Snapshot,
    namespace: str,
    key: str,
    wanted: str,
    found: str | None,
    found_key: str | None,
    names: frozenset[str] | set[str],
) -> NearMiss:
    pods = tuple(
        pod for name in sorted(names) if (pod := snap.get("Pod", namespace, name)) is not None
    )
    return NearMiss(key=key, wanted=wanted, found=found, found_key=found_key, pods=pods)


# Annotations deployment tools write on a Service naming the workloads it is
# meant for: Rancher's `["deployment:NAMESPACE:NAME", ...]`.
TARGET_WORKLOADS_ANNOTATION = "field.cattle.io/targetWorkloadIds"
_RANCHER_KINDS = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "daemonset": "DaemonSet",
    "replicaset": "ReplicaSet",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Intended:
    """A workload a Service was meant to select, and what says so."""

    ref: ObjectRef
    workload: Obj | None  # None when the input does not hold it
    why: str  # "its annotation field.cattle.io/targetWorkloadIds names it"
    field: str  # the Service's field that says so
    value: str  # what that field holds


def _annotated(service: Obj) -> list[tuple[ObjectRef, str, str]]:
    raw = service.annotations.get(TARGET_WORKLOADS_ANNOTATION)
    try:
        ids = json.loads(str(raw)) if raw else []
    except ValueError:
        return []
    found: list[tuple[ObjectRef, str, str]] = []
    for item in ids if isinstance(ids, list) else ():
        kind, _, rest = str(item).partition(":")
        namespace, _, name = rest.partition(":")
        if kind.lower() in _RANCHER_KINDS and name:
            ref = ObjectRef(kind=_RANCHER_KINDS[kind.lower()], namespace=namespace, name=name)
            found.append((ref, f"metadata.annotations[{TARGET_WORKLOADS_ANNOTATION}]", str(raw)))
    return found


def intended_workloads(snap: Snapshot, service: Obj) -> list[Intended]:
    """The workloads the Service was meant to select, by intent rather than
    by its selector: named by a deployment tool's annotation, or sharing the
    Service's name or its app label's value. Owned ReplicaSets are left to
    their Deployment."""
    found: dict[ObjectRef, Intended] = {}
    for ref, field, value in _annotated(service):
        found[ref] = Intended(
            ref=ref,
            workload=snap.get(ref.kind, ref.namespace, ref.name),
            why=f"its annotation {TARGET_WORKLOADS_ANNOTATION} names it",
            field=field,
            value=value,
        )
    app_keys = [k for k in _KEY_ALIASES[0] if service.labels.get(k)]
    for kind in WORKLOAD_KINDS:
        for workload in snap.list(kind, service.namespace):
            if workload.ref in found or (kind == "ReplicaSet" and snap.owner(workload)):
                continue
            labels = pod_template_labels(workload)
            if workload.name == service.name:
                why, field, value = "it has the Service's name", "metadata.name", service.name
            elif key := next((k for k in app_keys if labels.get(k) == service.labels[k]), None):
                why = f"its pods and the Service are both labelled {key}={service.labels[key]}"
                field, value = f"metadata.labels.{key}", service.labels[key]
            else:
                continue
            found[workload.ref] = Intended(
                ref=workload.ref, workload=workload, why=why, field=field, value=value
            )
    return list(found.values())
