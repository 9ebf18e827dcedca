"""Causes where the Service selects nothing that can serve: a selector that
misses the pods by one label, a selector that matches nothing at all, and a
workload scaled to zero."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from why5xx import kubectl
from why5xx.evidence import MAX_NAMED, fact, named
from why5xx.kube import selector_string
from why5xx.model import Draft, Fix
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot, distinct
from why5xx.views.service import ServiceTarget, autoscalers, selected_workloads

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
    """
    misses: list[NearMiss] = []
    for key, wanted in selector.items():
        if key in _GENERATED_LABELS:
            continue
        others = {k: v for k, v in selector.items() if k != key}
        candidates = {p.name for p in snap.pods_matching(namespace, others)} if others else None
        for value, names in snap.pod_label_values(namespace, key).items():
            if value == wanted:
                continue
            pods = names if candidates is None else names & candidates
            any_value = bool(others) and key not in _IDENTITY_KEYS
            if pods and (any_value or _similar(value, wanted)):
                misses.append(_near_miss(snap, namespace, key, wanted, value, None, pods))
        if others and candidates and key not in _IDENTITY_KEYS:
            lacking = candidates - {
                n for names in snap.pod_label_values(namespace, key).values() for n in names
            }
            if lacking:
                misses.append(_near_miss(snap, namespace, key, wanted, None, None, lacking))
        for other_key in snap.pod_label_keys(namespace):
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


def _service_patch(service: Obj, miss: NearMiss) -> str:
    if miss.found_key is not None:
        operations = [
            {"op": "remove", "path": kubectl.json_pointer("spec", "selector", miss.key)},
            {
                "op": "add",
                "path": kubectl.json_pointer("spec", "selector", miss.found_key),
                "value": miss.wanted,
            },
        ]
        return kubectl.json_patch(service, operations)
    if miss.found is None:
        return kubectl.json_patch(
            service,
            [{"op": "remove", "path": kubectl.json_pointer("spec", "selector", miss.key)}],
        )
    return kubectl.merge_patch(service, {"spec": {"selector": {miss.key: miss.found}}})


def _workload_fix(workload: Obj, miss: NearMiss) -> str:
    """Relabel the pod template instead. Adding a label is always possible;
    changing the value of a key the workload itself selects by is not, as
    its spec.selector is immutable."""
    own_selector = (workload.spec.get("selector") or {}).get("matchLabels") or {}
    if miss.found is not None and miss.key in own_selector:
        return (
            f"# {kubectl.resource(workload)} selects its own pods by {miss.key} "
            "and spec.selector is immutable: patch the Service"
        )
    patch = {"spec": {"template": {"metadata": {"labels": {miss.key: miss.wanted}}}}}
    return f"# or label the pods of {kubectl.resource(workload)} instead:\n" + (
        kubectl.merge_patch(workload, patch)
    )


@rule(cause="selector-mismatch", inputs=("Service", "Pod"))
def selector_mismatch(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The Service's selector misses its pods by one label.

    **What it finds**: a Service whose `spec.selector` matches no pod, while
    pods in the namespace match all of it but one key: a different value
    (`version: v2` against the pods' `version: v3`, `app: checkout` against
    `checkout-v2`), a missing label, or the same value under another key
    (`app` against `app.kubernetes.io/name`).

    **Why it is a 5xx**: the endpoint controller publishes only the pods the
    selector matches. With none, the Service has no endpoints and every proxy
    in front of it answers 503 ("no healthy upstream", "Service has no
    active Endpoint").

    **Fix**: patch whichever side is wrong. The Service's selector is mutable;
    a Deployment's own `spec.selector` is not, so when the differing key is
    part of it, patch the Service.
    """
    if not target.selector or target.pods or selected_workloads(snap, target):
        return  # a workload the selector matches: scaled-to-zero or pods-pending tell why
    misses = near_misses(snap, target.namespace, target.selector)
    if not misses:
        return
    best = misses[0]
    service = target.service
    workloads = distinct(snap.workload_of(pod) for pod in best.pods)
    pods = named([p.name for p in best.pods])
    evidence = [
        fact(
            service,
            f"spec.selector.{best.key}",
            best.wanted,
            expected=best.found if best.found_key is None else f"{best.found_key}={best.wanted}",
        ),
        *(
            fact(
                pod,
                f"metadata.labels.{best.found_key or best.key}",
                (best.wanted if best.found_key else best.found) or "<missing>",
                expected=best.wanted if best.found_key is None else None,
            )
            for pod in best.pods[:MAX_NAMED]
        ),
    ]
    fixes = [_service_patch(service, best)] + [_workload_fix(w, best) for w in workloads[:2]]
    yield Draft(
        subject=service.ref,
        title=(
            f"Service {service.name} selects no pods: {best.difference} "
            f"({len(best.pods)} pod{'s' if len(best.pods) != 1 else ''}: {pods})"
        ),
        explanation=(
            f"The selector {selector_string(target.selector)} matches no pod in "
            f"{target.namespace}, so the Service has no endpoints and proxies answer 503. "
            f"{len(best.pods)} pod(s) match every selector key except {best.key}."
        ),
        evidence=tuple(evidence),
        confirm=(
            kubectl.get_pods(target.namespace, target.selector),
            kubectl.get_pods(
                target.namespace, {k: v for k, v in target.selector.items() if k != best.key}
            ),
            kubectl.endpoint_slices(service),
        ),
        fix=Fix(
            summary=(
                f"Make the selector and the pod labels agree on {best.key}: patch the Service, "
                "or relabel the workload's pod template."
            ),
            patch="\n".join(fixes),
        ),
        confidence=0.95 if len(misses) == 1 else 0.85,
    )


@rule(cause="no-matching-workload", inputs=("Service", "Pod"))
def no_matching_workload(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The Service's selector matches no pod and no workload, and nothing comes close.

    **What it finds**: a Service with a selector that matches no pod and no
    Deployment, StatefulSet, DaemonSet or ReplicaSet pod template in its
    namespace, where no pod misses it by a single label either (that would
    be `selector-mismatch`). Typical after a workload was deleted or renamed,
    or deployed to another namespace.

    **Why it is a 5xx**: no pods, no endpoints; proxies answer 503.

    **Fix**: deploy the workload into the Service's namespace, or point the
    selector at the labels of the workload that should serve it.
    """
    if not target.selector or target.pods:
        return
    if near_misses(snap, target.namespace, target.selector):
        return
    if selected_workloads(snap, target):
        return  # a workload exists: scaled-to-zero or pods-pending tell why it has no pods
    service = target.service
    present = {key: sorted(snap.pod_label_values(target.namespace, key)) for key in target.selector}
    seen = "; ".join(
        f"{key} ∈ {{{', '.join(values[:6])}}}" if values else f"no pod has a {key} label"
        for key, values in present.items()
    )
    elsewhere = [
        ns
        for ns in snap.namespaces()
        if ns != target.namespace and snap.pods_matching(ns, target.selector)
    ]
    explanation = (
        f"No pod or workload in {target.namespace} carries {selector_string(target.selector)}, "
        "so the Service has no endpoints and proxies answer 503."
    )
    if elsewhere:
        explanation += f" Pods with these labels run in namespace {', '.join(elsewhere[:3])}."
    yield Draft(
        subject=service.ref,
        title=(
            f"Service {service.name} selects nothing: no pod or workload in "
            f"{target.namespace} has {selector_string(target.selector)}"
        ),
        explanation=explanation,
        evidence=(
            fact(
                service,
                "spec.selector",
                selector_string(target.selector),
                expected=f"labels of a pod in {target.namespace} (pods there have {seen})",
            ),
        ),
        confirm=(
            kubectl.get_pods(target.namespace, target.selector),
            f"kubectl get deployments,statefulsets,daemonsets -n {target.namespace} --show-labels",
            f"kubectl get pods -A -l {selector_string(target.selector)}",
        ),
        fix=Fix(
            summary=(
                "Deploy the workload this Service fronts into its namespace, or change "
                "spec.selector to the labels of the pods that should serve it."
            ),
            patch=kubectl.get_yaml(service, "{.spec.selector}"),
        ),
        confidence=0.8,
    )


def _previous_replicas(snap: Snapshot, workload: Obj) -> int | None:
    """How many replicas the workload had before it went to zero, from the
    deployment controller's "Scaled down replica set X to 0 from N" events."""
    for event in reversed(snap.events_for(workload.kind, workload.namespace, workload.name)):
        found = re.search(r"to 0 from (\d+)", event.message)
        if found and int(found.group(1)) > 0:
            return int(found.group(1))
    return None


@rule(cause="scaled-to-zero", inputs=("Service",))
def scaled_to_zero(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The workload behind the Service runs zero replicas.

    **What it finds**: a Deployment or StatefulSet whose pod template the
    Service's selector matches, with `spec.replicas: 0` and no live pod.
    It names who scaled it (the deployment controller's events) and an
    attached HorizontalPodAutoscaler: an HPA does not scale a target up from
    zero (with replicas 0 autoscaling is disabled, condition
    `ScalingActive=False`, reason `ScalingDisabled`), and KEDA's
    `minReplicaCount: 0` idles workloads on purpose.

    **Why it is a 5xx**: zero replicas, zero endpoints; proxies answer 503.

    **Fix**: scale back up (to the replicas it had, or the HPA's minimum).
    """
    if not target.selector or target.live_pods:
        return
    for workload in selected_workloads(snap, target):
        if workload.kind not in ("Deployment", "StatefulSet"):
            continue
        if workload.spec.get("replicas", 1) != 0:
            continue
        hpas = autoscalers(snap, workload)
        previous = _previous_replicas(snap, workload)
        minimum = max((int(h.spec.get("minReplicas") or 1) for h in hpas), default=0)
        restore = max(previous or 0, minimum) or 2
        evidence = [
            fact(
                workload,
                "spec.replicas",
                "0",
                expected=f">= 1 (had {previous})" if previous else ">= 1",
            )
        ]
        notes = []
        for hpa in hpas:
            evidence.append(fact(hpa, "spec.minReplicas", str(hpa.spec.get("minReplicas", 1))))
            notes.append(
                f"HorizontalPodAutoscaler {hpa.name} will not scale it up: autoscaling is "
                "disabled while the target has 0 replicas."
            )
        scaled_by = [
            e
            for e in snap.events_for(workload.kind, workload.namespace, workload.name)
            if "to 0" in e.message
        ]
        when = (
            f" It was scaled down at {scaled_by[-1].last:%Y-%m-%d %H:%M:%S}Z."
            if scaled_by and scaled_by[-1].last
            else ""
        )
        yield Draft(
            subject=workload.ref,
            title=f"{workload.kind} {workload.name} behind Service {target.name} has 0 replicas",
            explanation=(
                f"The Service selects the pods of {workload.kind} {workload.name}, which is "
                f"scaled to zero, so there are no endpoints and proxies answer 503.{when} "
                + " ".join(notes)
            ).strip(),
            evidence=tuple(evidence),
            confirm=(
                f"kubectl get {kubectl.resource(workload)} -n {workload.namespace}",
                kubectl.events(workload),
                *(f"kubectl describe hpa/{h.name} -n {h.namespace}" for h in hpas),
            ),
            fix=Fix(
                summary=f"Scale {workload.kind} {workload.name} back to {restore} replicas.",
                patch=kubectl.scale(workload, restore),
            ),
            confidence=0.95,
        )


__all__ = ["NearMiss", "near_misses", "no_matching_workload", "scaled_to_zero", "selector_mismatch"]
