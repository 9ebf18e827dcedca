"""`pods-pending`: pods that never get a node, or whose containers are never
created (a missing ConfigMap, Secret, volume or claim)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from why5xx import kubectl
from why5xx.evidence import clip, duration, fact
from why5xx.kube import closest_name, parse_quantity, parse_time
from why5xx.model import Draft, Evidence, ObjectRef
from why5xx.rules.base import rule
from why5xx.rules.pods.common import (
    MAX_TEXT,
    Hit,
    as_json,
    drafts,
    event_evidence,
    format_bytes,
    latest_event,
    owning_workload,
    unique,
    waiting_evidence,
)
from why5xx.snapshot import Event, Obj, Snapshot
from why5xx.views.pods import ContainerState, condition, container_states, containers
from why5xx.views.service import ServiceTarget

_MISSING = re.compile(
    r'(?P<kind>configmap|secret|persistentvolumeclaim)s? "(?P<name>[^"]+)" not found', re.I
)
_MISSING_KEY = re.compile(
    r"couldn't find key (?P<key>\S+) in (?P<kind>ConfigMap|Secret) [^/\s]+/(?P<name>\S+)"
)
_KINDS = {
    "configmap": "ConfigMap",
    "secret": "Secret",
    "persistentvolumeclaim": "PersistentVolumeClaim",
}
_MOUNT = re.compile(r'volume "(?P<volume>[^"]+)" : (?P<error>.+)')
_MOUNT_EVENTS = ("FailedMount", "FailedAttachVolume")
_CREATING = frozenset({"ContainerCreating", "PodInitializing"})
# Published into every namespace by kube-controller-manager and named by every
# pod's service account token volume; partial dumps rarely include it.
_ALWAYS_THERE = frozenset({("ConfigMap", "kube-root-ca.crt")})
# A pod waiting this long for its containers, with no event saying why, is stuck.
_STUCK = timedelta(minutes=1)
_INSUFFICIENT = re.compile(r"Insufficient ([\w./-]*\w)")  # cpu, memory, nvidia.com/gpu
_SCHEDULING_ADVICE = (
    (
        re.compile(r"didn't match Pod's node affinity|node\(s\) didn't match node selector"),
        "No node matches the pod's nodeSelector or node affinity: fix them or label a node.",
    ),
    (
        re.compile(r"untolerated taint|had taint"),
        "The nodes carry taints the pod does not tolerate: add a toleration or untainted nodes.",
    ),
    (re.compile(r"Too many pods"), "The nodes are at their pod limit: add nodes."),
    (
        re.compile(r"didn't have free ports"),
        "Every node already uses the pod's hostPort: drop the hostPort or add nodes.",
    ),
    (
        re.compile(r"anti-affinity|topology spread"),
        "Pod anti-affinity or topology spread constraints leave no node: relax them or add nodes.",
    ),
    (
        re.compile(r"were unschedulable"),
        "Nodes are cordoned: uncordon them (`kubectl uncordon`) or add nodes.",
    ),
    (
        re.compile(r"volume node affinity conflict"),
        "The pod's volume lives in a zone with no node that fits: add nodes in that zone.",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class _ConfigRef:
    """Where a pod spec names a ConfigMap, Secret or PersistentVolumeClaim."""

    kind: str
    name: str
    field: str  # spec.volumes[config].configMap.name
    pointer: tuple[str, ...]  # JSON Pointer parts of the same field, from the pod spec
    optional: bool


def _config_refs(pod: Obj) -> list[_ConfigRef]:
    refs: list[_ConfigRef] = []

    def add(kind: str, source: Mapping[str, Any], key: str, field: str, pointer: list[str]) -> None:
        if source.get(key):
            refs.append(
                _ConfigRef(
                    kind=kind,
                    name=str(source[key]),
                    field=f"{field}.{key}",
                    pointer=("spec", *pointer, key),
                    optional=bool(source.get("optional")),
                )
            )

    for v, volume in enumerate(pod.spec.get("volumes") or ()):
        at = f"spec.volumes[{volume.get('name')}]"
        base = ["volumes", str(v)]
        add(
            "ConfigMap",
            volume.get("configMap") or {},
            "name",
            f"{at}.configMap",
            [*base, "configMap"],
        )
        add("Secret", volume.get("secret") or {}, "secretName", f"{at}.secret", [*base, "secret"])
        add(
            "PersistentVolumeClaim",
            volume.get("persistentVolumeClaim") or {},
            "claimName",
            f"{at}.persistentVolumeClaim",
            [*base, "persistentVolumeClaim"],
        )
        for s, source in enumerate((volume.get("projected") or {}).get("sources") or ()):
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                add(
                    kind,
                    source.get(key) or {},
                    "name",
                    f"{at}.projected.sources[{s}].{key}",
                    [*base, "projected", "sources", str(s), key],
                )
    for list_key in ("initContainers", "containers"):
        for c, container in enumerate(pod.spec.get(list_key) or ()):
            at = f"spec.{list_key}[{container.get('name')}]"
            base = [list_key, str(c)]
            for e, env_from in enumerate(container.get("envFrom") or ()):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    add(
                        kind,
                        env_from.get(key) or {},
                        "name",
                        f"{at}.envFrom[{e}].{key}",
                        [*base, "envFrom", str(e), key],
                    )
            for e, env in enumerate(container.get("env") or ()):
                value_from = env.get("valueFrom") or {}
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    add(
                        kind,
                        value_from.get(key) or {},
                        "name",
                        f"{at}.env[{env.get('name')}].valueFrom.{key}",
                        [*base, "env", str(e), "valueFrom", key],
                    )
    return refs


@dataclass(frozen=True, slots=True, kw_only=True)
class _Parts:
    """What is wrong with one object a pending pod needs (a ConfigMap, Secret
    or PersistentVolumeClaim): the facts, and the fix."""

    summary: str
    evidence: tuple[Evidence, ...]
    notes: tuple[str, ...]
    advice: str
    patch: str | None
    confidence: float = 0.9


def _create_command(kind: str, namespace: str, name: str) -> str | None:
    """How to create a missing ConfigMap or Secret (a claim's spec cannot be guessed)."""
    if kind == "ConfigMap":
        return f"kubectl create configmap {name} -n {namespace} --from-file=<file>"
    if kind == "Secret":
        return f"kubectl create secret generic {name} -n {namespace} --from-literal=<key>=<value>"
    return None


def _missing_parts(
    snap: Snapshot, pod: Obj, kind: str, name: str, key: str | None = None
) -> _Parts:
    """An object the pod needs and the kubelet or scheduler did not find:
    where the spec names it, whether the input confirms it is missing (a
    Secret is only ever named, never read), and the fix: point at a
    similarly named object that exists, or create it."""
    namespace = pod.namespace
    refs = [r for r in _config_refs(pod) if r.kind == kind and r.name == name]
    evidence = [
        fact(pod, ref.field, name, expected=f"an existing {kind} in {namespace}")
        for ref in refs[:2]
    ]
    notes: list[str] = []
    confidence = 0.9
    close: str | None = None
    if snap.has_kind(kind):
        found = snap.get(kind, namespace, name)
        if found is None:
            others = sorted(o.name for o in snap.list(kind, namespace))
            close = closest_name(name, others)
            listing = f"; {kind}s there: {', '.join(others[:8])}" if others else ""
            evidence.append(
                Evidence(
                    object=ObjectRef(kind=kind, namespace=namespace, name=name),
                    field="metadata.name",
                    observed=f"not found in the input{listing}",
                    expected="exists",
                )
            )
            confidence = 0.95
        else:
            # A Secret's keys are not in the input (its data is dropped on load).
            fixed = key is None
            if key is not None and kind == "ConfigMap":
                keys = sorted(
                    {*(found.raw.get("data") or {}), *(found.raw.get("binaryData") or {})}
                )
                evidence.append(
                    fact(
                        found, "data", f"keys: {', '.join(keys) or '<none>'}", expected=f"key {key}"
                    )
                )
                fixed = key in keys
            if fixed:
                notes.append(
                    f"{kind} {name} in the input has what the pod needs, so it was fixed after "
                    "the pod failed: the kubelet retries and the pod should start on its own."
                )
                confidence = 0.7
    workload = owning_workload(snap, pod)
    patch: str | None
    if key is not None:
        summary = f"key {key} is missing from {kind} {name}"
        advice = f"Add key {key} to {kind} {name}, or fix the key the pod template asks for."
        field = "stringData" if kind == "Secret" else "data"
        body = orjson.dumps({field: {key: "<value>"}}).decode()
        patch = f"kubectl patch {kind.lower()} {name} -n {namespace} --type merge -p '{body}'"
    elif close and refs and workload is not pod:
        summary = f'{kind.lower()} "{name}" not found'
        advice = (
            f"{kind} {name} does not exist but {close} does: point {refs[0].field} at it, "
            f"or create {name}."
        )
        pointer = kubectl.json_pointer("spec", "template", *refs[0].pointer)
        patch = kubectl.json_patch(workload, [{"op": "replace", "path": pointer, "value": close}])
    else:
        summary = f'{kind.lower()} "{name}" not found'
        advice = f"Create {kind} {name} in {namespace}, or fix the name the pod template gives."
        patch = _create_command(kind, namespace, name)
    return _Parts(
        summary=summary,
        evidence=tuple(evidence),
        notes=tuple(notes),
        advice=advice,
        patch=patch,
        confidence=confidence,
    )


def _named_missing(snap: Snapshot, pod: Obj, text: str) -> list[_Parts]:
    """The objects a kubelet or scheduler message says are not found
    ('configmap "api-config" not found', "couldn't find key K in Secret ns/x")."""
    if found := _MISSING_KEY.search(text):
        return [_missing_parts(snap, pod, found["kind"], found["name"], found["key"])]
    named = dict.fromkeys((_KINDS[f["kind"].lower()], f["name"]) for f in _MISSING.finditer(text))
    return [_missing_parts(snap, pod, kind, name) for kind, name in named]


def _claim_parts(snap: Snapshot, pod: Obj) -> list[_Parts]:
    """PersistentVolumeClaims of the pod that are missing or not Bound."""
    out = []
    for ref in _config_refs(pod):
        if ref.kind != "PersistentVolumeClaim":
            continue
        claim = snap.get(ref.kind, pod.namespace, ref.name)
        if claim is None:
            if snap.has_kind(ref.kind):
                out.append(_missing_parts(snap, pod, ref.kind, ref.name))
            continue
        phase = str(claim.status.get("phase") or "Pending")
        if phase == "Bound":
            continue
        evidence = [fact(claim, "status.phase", phase, expected="Bound")]
        problem = latest_event(snap, claim, ("ProvisioningFailed", "FailedBinding"))
        why = ""
        if problem is not None:
            evidence.append(event_evidence(snap, claim, problem))
            why = f": {clip(problem.message, MAX_TEXT)}"
        storage_class = claim.spec.get("storageClassName") or "<default>"
        out.append(
            _Parts(
                summary=f"PersistentVolumeClaim {claim.name} is {phase}",
                evidence=tuple(evidence),
                notes=(f"PersistentVolumeClaim {claim.name} is {phase}{why}.",),
                advice=(
                    f"Get PersistentVolumeClaim {claim.name} bound: fix its storageClassName "
                    f"(now {storage_class}) or provision a PersistentVolume that matches it."
                ),
                patch=None,
            )
        )
    return out


def _half(resource: str, value: str) -> str:
    amount = (parse_quantity(value) or 0) / 2
    if resource == "memory":
        return format_bytes(amount)
    millis = math.ceil(amount * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _scheduling_fix(snap: Snapshot, pod: Obj, message: str) -> tuple[str, str | None]:
    """Advice for the constraints the scheduler's message names (empty when
    it names none this knows), and for a resource shortage an example patch."""
    advice: list[str] = []
    patches: list[str] = []
    short = sorted(set(_INSUFFICIENT.findall(message)))
    if short:
        requested = {
            str(c.get("name")): (c.get("resources") or {}).get("requests") or {}
            for c in containers(pod.spec)
        }
        listing = "; ".join(
            f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items())
            for name, values in requested.items()
            if values
        )
        advice.append(
            f"No node has enough free {', '.join(short)} for the pod's requests "
            f"({listing or 'none set'}): add capacity (more or larger nodes, or let the cluster "
            "autoscaler add them) or lower the requests to what the app uses."
        )
        workload = owning_workload(snap, pod)
        for name, values in requested.items():
            halved = {
                r: _half(r, str(values[r])) for r in short if r in ("cpu", "memory") and r in values
            }
            if halved:
                patches.append(kubectl.set_resources(workload, name, requests=halved))
        if patches:
            patches.insert(0, "# e.g. halve the requests (size them from `kubectl top pods`):")
    advice += [text for pattern, text in _SCHEDULING_ADVICE if pattern.search(message)]
    selector = pod.spec.get("nodeSelector")
    if selector and any("nodeSelector" in text for text in advice):
        advice.append(f"The pod's nodeSelector is {as_json(selector)}.")
    return " ".join(advice), "\n".join(patches) or None


def _pending_hit(
    snap: Snapshot,
    pod: Obj,
    *,
    summary: str,
    note: str,
    evidence: Sequence[Evidence],
    parts: Sequence[_Parts],
    fallback: str,
    advice: str = "",
    patch: str | None = None,
    confirm: Sequence[str] = (),
) -> Hit:
    """A pending pod's hit: its own evidence and advice, then what is wrong
    with the objects it waits for; `fallback` is the advice when neither
    says what to do."""
    created = parse_time(pod.metadata.get("creationTimestamp"))
    since = f" for {duration(snap.now - created)}" if created else ""
    phase = fact(pod, "status.phase", f"Pending{since}", expected="Running")
    return Hit(
        pod=pod,
        summary=summary,
        notes=(note, *(n for p in parts for n in p.notes)),
        evidence=(phase, *evidence, *(e for p in parts for e in p.evidence)),
        confirm=(kubectl.describe(pod), kubectl.events(pod), *confirm),
        advice=" ".join(unique([advice, *(p.advice for p in parts)])) or fallback,
        patch="\n".join(unique([patch or "", *(p.patch or "" for p in parts)])) or None,
        confidence=min((p.confidence for p in parts), default=0.9),
    )


def _unschedulable(snap: Snapshot, pod: Obj, scheduled: Mapping[str, Any]) -> Hit:
    message = str(scheduled.get("message") or "")
    evidence = [
        fact(
            pod,
            "status.conditions[PodScheduled].reason",
            "Unschedulable",
            expected="scheduled on a node",
        ),
        fact(pod, "status.conditions[PodScheduled].message", clip(message, MAX_TEXT)),
    ]
    event = latest_event(snap, pod, ("FailedScheduling",))
    if event is not None:
        evidence.append(event_evidence(snap, pod, event))
        message = event.message or message
    quote = message.split(" preemption:")[0].rstrip(". ")
    parts = _claim_parts(snap, pod)
    claimed = {p.summary for p in parts}
    parts += [p for p in _named_missing(snap, pod, message) if p.summary not in claimed]
    advice, patch = _scheduling_fix(snap, pod, message)
    return _pending_hit(
        snap,
        pod,
        summary=f"unschedulable: {quote}",
        note=(
            f"The scheduler finds no node for the pod ({quote}), so it never starts and never "
            "becomes an endpoint."
        ),
        evidence=evidence,
        parts=parts,
        fallback="No node fits the pod: the scheduler's message names the constraint that fails.",
        advice=advice,
        patch=patch,
        confirm=("kubectl describe nodes",),
    )


def _config_error(snap: Snapshot, pod: Obj, cs: ContainerState) -> Hit:
    return _pending_hit(
        snap,
        pod,
        summary=f"container {cs.name} cannot be created: {cs.message}",
        note=(
            f"The kubelet cannot create container {cs.name} ({cs.message}), so the pod never "
            "starts and never becomes an endpoint."
        ),
        evidence=waiting_evidence(pod, cs, message=True),
        parts=_named_missing(snap, pod, cs.message),
        fallback="Fix the configuration the container's waiting message names.",
    )


def _mount_failure(snap: Snapshot, pod: Obj, event: Event) -> Hit:
    found = _MOUNT.search(event.message)
    error = found["error"] if found else event.message
    volume = f"volume {found['volume']}" if found else "its volumes"
    return _pending_hit(
        snap,
        pod,
        summary=f"{volume} cannot be mounted: {clip(error, MAX_TEXT)}",
        note=(
            f"The kubelet cannot mount {volume} ({clip(error, MAX_TEXT)}), so the pod's "
            "containers are never created and it never becomes an endpoint."
        ),
        evidence=[event_evidence(snap, pod, event)],
        parts=_named_missing(snap, pod, error),
        fallback="Fix what the FailedMount event names: the volume's source or its attachment.",
    )


def _missing_references(snap: Snapshot, pod: Obj) -> Hit | None:
    """A pod stuck waiting for its containers, with no event saying why,
    that names a ConfigMap or Secret the input (which lists them) does not
    hold, or a claim that is not bound."""
    created = parse_time(pod.metadata.get("creationTimestamp"))
    if created is None or snap.now - created < _STUCK:
        return None
    refs = dict.fromkeys(
        (ref.kind, ref.name)
        for ref in _config_refs(pod)
        if not ref.optional
        and ref.kind != "PersistentVolumeClaim"
        and (ref.kind, ref.name) not in _ALWAYS_THERE
        and snap.has_kind(ref.kind)
        and snap.get(ref.kind, pod.namespace, ref.name) is None
    )
    parts = [_missing_parts(snap, pod, kind, name) for kind, name in refs]
    parts += _claim_parts(snap, pod)
    if not parts:
        return None
    return _pending_hit(
        snap,
        pod,
        summary=parts[0].summary,
        note=(
            f"The pod needs what is missing ({'; '.join(p.summary for p in parts)}), so its "
            "containers are never created and it never becomes an endpoint."
        ),
        evidence=[],
        parts=parts,
        fallback="Create what the pod names, or fix the names in its template.",
    )


def _pending_hits(snap: Snapshot, pod: Obj) -> Iterator[Hit]:
    if pod.status.get("phase") != "Pending":
        return
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        if scheduled.get("reason") == "Unschedulable":
            yield _unschedulable(snap, pod, scheduled)
        return
    states = container_states(pod)
    config = [
        s for s in states if s.state == "waiting" and s.reason == "CreateContainerConfigError"
    ]
    if config:
        yield from (_config_error(snap, pod, cs) for cs in config)
        return
    if any(s.state != "waiting" or s.reason not in _CREATING for s in states):
        return  # past creation, or held for a reason another rule tells (image pull, crash)
    # "MountVolume.SetUp failed ... not found" names the object; the kubelet's
    # "Unable to attach or mount volumes ... timed out" that follows does not.
    event = latest_event(snap, pod, _MOUNT_EVENTS, " not found") or latest_event(
        snap, pod, _MOUNT_EVENTS
    )
    hit = _mount_failure(snap, pod, event) if event else _missing_references(snap, pod)
    if hit is not None:
        yield hit


@rule(
    cause="pods-pending",
    inputs=("Service", "Pod"),
    reads=("ConfigMap", "PersistentVolumeClaim", "Secret"),
)
def pods_pending(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The Service's pods are stuck Pending: no node fits them, or they cannot be created.

    **What it finds**: selected pods in phase `Pending` that the scheduler
    marked `PodScheduled=False` / `Unschedulable` (quoting its message, e.g.
    "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated
    taint", and the latest `FailedScheduling` event); containers waiting in
    `CreateContainerConfigError` ('configmap "x" not found', 'secret "y" not
    found', a missing key); pods stuck in `ContainerCreating` with
    `FailedMount` / `FailedAttachVolume` events; and PersistentVolumeClaims
    that are not Bound. When the input lists ConfigMaps (or Secrets, or
    claims), it checks the named object really is missing and suggests a
    similarly named one. Secret values are never read or shown.

    **Why it is a 5xx**: a pod that never starts never becomes an endpoint;
    once no pod is ready, proxies answer 503.

    **Fix**: create the missing object (or point the pod template at the one
    that exists), bind the claim, or make room: lower the requests, add
    nodes, or relax the constraint the scheduler names.
    """
    return drafts(snap, target, _pending_hits, "stuck Pending")
