"""no-matching-workload: a Service whose selector matches no workload at all,
and no pod nearly matches it either."""

from __future__ import annotations

from collections.abc import Iterator

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.kube import selector_string
from why5xx.model import Draft, Fix
from why5xx.rules.base import rule
from why5xx.snapshot import Snapshot
from why5xx.views.selection import intended_workloads, near_misses
from why5xx.views.service import ServiceTarget, selected_workloads


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
    if any(i.workload is not None for i in intended_workloads(snap, target.service)):
        return  # the workload it is meant for is there: selector-mismatch names it
    if selected_workloads(snap, target):
        return  # a workload exists: scaled-to-zero or pods-pending tell why it has no pods
    service = target.service
    present = {key: sorted(snap.pod_label_values(target.namespace, key)) for key in target.selector}
    seen = "; ".join(
        f"pods there have {key} ∈ {{{', '.join(values[:6])}}}"
        if values
        else f"no pod there has a {key} label"
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
                expected=f"labels of a pod in {target.namespace} ({seen})",
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
