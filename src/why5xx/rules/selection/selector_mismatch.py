"""selector-mismatch: a Service's selector matches no pod, but pods nearly
match it (one label key or value differs)."""

from __future__ import annotations

from collections.abc import Iterator

from why5xx import kubectl
from why5xx.evidence import MAX_NAMED, fact, named
from why5xx.kube import selector_string
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot, distinct
from why5xx.views.pods import pod_template_labels
from why5xx.views.selection import Intended, NearMiss, intended_workloads, near_misses
from why5xx.views.service import ServiceTarget, selected_workloads


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


def _intended(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The selector misses the workload the Service was meant for (by a
    deployment tool's annotation, its name or its app label), however unlike
    the values are; a workload only the annotation names, and the input
    lacks, is a candidate to confirm."""
    service = target.service
    wanted = selector_string(target.selector)
    for intended in intended_workloads(snap, service):
        workload = intended.workload
        intent = fact(service, intended.field, f"{intended.value} (meant for {intended.ref})")
        if workload is None:
            yield _unseen_draft(target, intended, intent)
            continue
        labels = pod_template_labels(workload)
        differ = sorted(k for k, v in target.selector.items() if labels.get(k) != v)
        own = (workload.spec.get("selector") or {}).get("matchLabels") or {}
        if not differ or not own:
            continue
        yield Draft(
            subject=service.ref,
            title=(
                f"Service {service.name} selects no pods: its selector {wanted} misses "
                f"{workload.kind} {workload.name}, the workload it is meant for "
                f"({intended.why}), whose pods carry {selector_string(labels)}"
            ),
            explanation=(
                f"The selector {wanted} matches no pod in {target.namespace}, so the Service "
                f"has no endpoints and proxies answer 503. {workload.kind} {workload.name} is "
                f"the workload it fronts ({intended.why}), but its pods differ on "
                f"{', '.join(differ)}."
            ),
            evidence=(
                fact(service, "spec.selector", wanted, expected=selector_string(own)),
                fact(workload, "spec.template.metadata.labels", selector_string(labels)),
                intent,
            ),
            confirm=(
                kubectl.get_pods(target.namespace, own),
                kubectl.get_pods(target.namespace, target.selector),
                kubectl.endpoint_slices(service),
            ),
            fix=Fix(
                summary=(
                    f"Point the selector at the labels {workload.kind} {workload.name} selects "
                    "its own pods by, or relabel its pod template."
                ),
                patch=kubectl.json_patch(
                    service,
                    [{"op": "replace", "path": "/spec/selector", "value": dict(own)}],
                ),
            ),
            confidence=0.8,
        )


_TEMPLATE_LABELS = "'{.spec.template.metadata.labels}'"


def _unseen_draft(target: ServiceTarget, intended: Intended, intent: Evidence) -> Draft:
    service = target.service
    wanted = selector_string(target.selector)
    ref = intended.ref
    resource = f"{kubectl.RESOURCE.get(ref.kind, ref.kind.lower())}/{ref.name}"
    return Draft(
        subject=service.ref,
        title=(
            f"Service {service.name} selects no pod in the input ({wanted}); {intended.why}, "
            f"but {ref} is not in the input: do its pods carry {wanted}?"
        ),
        explanation=(
            f"The Service is meant for {ref} ({intended.why}). If that workload's pods lack "
            f"{wanted}, the Service has no endpoints and proxies answer 503; the input holds "
            "neither the workload nor pods that would show it."
        ),
        evidence=(
            fact(service, "spec.selector", wanted, expected=f"labels of {ref}'s pods"),
            intent,
        ),
        confirm=(
            f"kubectl get {resource} -n {ref.namespace} -o jsonpath={_TEMPLATE_LABELS}",
            kubectl.get_pods(target.namespace, target.selector),
            f"kubectl get pods -n {target.namespace} --show-labels",
        ),
        fix=Fix(
            summary=(
                f"Label the pod template of {ref} with {wanted} (the tool that made the Service "
                "expects it), or point the selector at its pods' labels."
            ),
        ),
        confidence=0.4,
        severity=Severity.WARNING,
    )


@rule(cause="selector-mismatch", inputs=("Service", "Pod"))
def selector_mismatch(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The Service's selector misses its pods by one label.

    **What it finds**: a Service whose `spec.selector` matches no pod, while
    pods in the namespace match all of it but one key: a different value
    (`version: v2` against the pods' `version: v3`, `app: checkout` against
    `checkout-v2`), a missing label, or the same value under another key
    (`app` against `app.kubernetes.io/name`). Also, however unlike the
    values, a selector that misses the workload the Service is meant for:
    the workload a deployment tool's annotation names (Rancher's
    `field.cattle.io/targetWorkloadIds`), or the one with the Service's name
    or its `app` label's value. When only the annotation names it and the
    input lacks the workload, a warning with low confidence: a candidate to
    confirm with the workload's pod labels.

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
        yield from _intended(snap, target)
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
