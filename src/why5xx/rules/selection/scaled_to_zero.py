"""scaled-to-zero: the workload a Service selects has zero replicas (scaled
down by hand, by an autoscaler, or never scaled up)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft, Fix
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.service import ServiceTarget, autoscalers, selected_workloads


def _previous_replicas(snap: Snapshot, workload: Obj) -> int | None:
    """How many replicas the workload had before it went to zero, from the
    deployment controller's "Scaled down replica set X to 0 from N" events."""
    for event in reversed(snap.events_for(workload.kind, workload.namespace, workload.name)):
        found = re.search(r"to 0 from (\d+)", event.message)
        if found and int(found.group(1)) > 0:
            return int(found.group(1))
    return None


@rule(cause="scaled-to-zero", inputs=("Service",), reads=("HorizontalPodAutoscaler",))
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
