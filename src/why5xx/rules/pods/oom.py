"""oom-killed: containers the kernel kills for memory (exit 137, reason
OOMKilled), often a heap sized above the memory limit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from why5xx import kubectl
from why5xx.appservers import jvm_max_heap
from why5xx.evidence import MAX_NAMED, clip, fact
from why5xx.kube import parse_quantity
from why5xx.model import Draft
from why5xx.rules.base import rule
from why5xx.rules.pods.common import (
    MAX_TEXT,
    Hit,
    Termination,
    drafts,
    format_bytes,
    owning_workload,
    recently_restarted,
    spec_path,
    termination,
    termination_evidence,
)
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import (
    ContainerState,
    container_spec,
    container_states,
)
from why5xx.views.revisions import container_change
from why5xx.views.service import ServiceTarget


def _memory_limit(container: Mapping[str, Any]) -> str | None:
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return str(limit) if limit is not None else None


def _memory_evictions(snap: Snapshot, target: ServiceTarget, workload: Obj) -> list[Obj]:
    """Pods of the workload the kubelet evicted because the node ran out of
    memory ("The node was low on resource: memory")."""
    return [
        pod
        for pod in target.pods
        if pod.status.get("reason") == "Evicted"
        and "memory" in str(pod.status.get("message") or "")
        and owning_workload(snap, pod).ref == workload.ref
    ]


# The share of a container's memory limit a JVM heap can take and leave room
# for the rest of the JVM: the usual -XX:MaxRAMPercentage advice.
_HEAP_SHARE = 0.75


def _oom_hit(
    snap: Snapshot, target: ServiceTarget, pod: Obj, cs: ContainerState, end: Termination
) -> Hit:
    limit = _memory_limit(container_spec(pod, cs.name) or {})
    limit_bytes = parse_quantity(limit) or 0
    workload = owning_workload(snap, pod)
    evidence = [
        *termination_evidence(snap, pod, cs, end),
        fact(pod, f"{spec_path(pod, cs.name)}.resources.limits.memory", limit or "<none>"),
    ]
    notes = []
    change = container_change(snap, pod, cs.name)
    before = _memory_limit(change.before) if change else None
    before_bytes = parse_quantity(before) or 0
    lowered = bool(limit_bytes) and before_bytes > limit_bytes
    if not limit_bytes:
        summary = (
            f"container {cs.name} was OOM-killed with no memory limit ({cs.restarts} restarts)"
        )
        notes.append(
            f"Container {cs.name} has no memory limit, so the kernel killed it because the node "
            "itself ran out of memory; it restarts with a growing back-off and the pod is not "
            "ready meanwhile."
        )
        advice = (
            f"Give container {cs.name} a memory request that matches what it uses (so the "
            "scheduler places it on a node with room) and a limit above its peak."
        )
        patch = None
    else:
        suggested = format_bytes(max(2 * limit_bytes, before_bytes))
        summary = (
            f"container {cs.name} exceeds its {limit} memory limit (OOMKilled, exit code 137, "
            f"{cs.restarts} restarts)"
        )
        notes.append(
            f"The kernel kills container {cs.name} (OOMKilled, exit code 137) whenever it goes "
            f"over its {limit} memory limit; it restarts with a growing back-off, the pod is not "
            "ready meanwhile, and requests in flight when it is killed get 502."
        )
        floor = f", and no less than the {before} it had before" if lowered else ""
        advice = (
            f"Raise the memory limit of container {cs.name} (to {suggested}: twice the current "
            f"limit{floor}) or make the app use less (heap size, caches, concurrency)."
        )
        patch = kubectl.set_resources(workload, cs.name, limits={"memory": suggested})
    heap = jvm_max_heap(container_spec(pod, cs.name) or {})
    if heap is not None and limit_bytes and heap.bytes >= _HEAP_SHARE * limit_bytes:
        # A JVM needs memory beyond its heap: metaspace, thread stacks, code cache, buffers.
        share = heap.bytes / limit_bytes
        notes.append(
            f"Its JVM may grow its heap to {heap.text} alone, {share:.0%} of the {limit} limit, "
            "and a JVM also needs memory outside the heap (metaspace, thread stacks, code "
            "cache, direct buffers): it cannot stay under the limit."
        )
        advice += (
            f" Keep the heap at about {_HEAP_SHARE:.0%} of the limit: a limit of at least "
            f"{format_bytes(heap.bytes / _HEAP_SHARE)} for {heap.text}, or -XX:MaxRAMPercentage="
            f"{_HEAP_SHARE * 100:.0f} instead of a fixed -Xmx."
        )
        evidence.append(
            fact(
                pod,
                f"{spec_path(pod, cs.name)}.{heap.field}",
                heap.text,
                expected=f"at most {format_bytes(_HEAP_SHARE * limit_bytes)} "
                f"({_HEAP_SHARE:.0%} of {limit})",
            )
        )
    if change is not None and lowered:
        notes.append(
            f"Revision {change.revisions.current_revision} of Deployment "
            f"{change.revisions.deployment.name} lowered the limit from {before} to {limit}."
        )
        evidence.append(change.evidence("resources.limits.memory", before))
    evicted = _memory_evictions(snap, target, workload)
    if evicted:
        notes.append(
            f"The node also evicted {len(evicted)} pod(s) of {workload.kind} {workload.name} "
            "because it was low on memory: requests below real use overcommit the nodes."
        )
        advice += (
            f" Raise the memory request of container {cs.name} toward what it really uses, so "
            "the scheduler stops overcommitting its nodes."
        )
        evidence += [
            fact(e, "status.message", clip(str(e.status.get("message") or ""), MAX_TEXT))
            for e in evicted[:MAX_NAMED]
        ]
    return Hit(
        pod=pod,
        summary=summary,
        notes=tuple(notes),
        evidence=tuple(evidence),
        confirm=(
            kubectl.describe(pod),
            kubectl.top_pod(pod),
            kubectl.logs(pod, cs.name, previous=True),
        ),
        advice=advice,
        patch=patch,
        confidence=0.95,
    )


@rule(cause="oom-killed", inputs=("Service", "Pod"))
def oom_killed(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """Containers of the Service's pods are killed for going over their memory limit.

    **What it finds**: containers of the selected pods whose last termination
    is `OOMKilled` (exit code 137) and that are down now or were killed in the
    last 30 minutes, with their memory limit, restart count, a limit lowered
    by the latest Deployment revision, pods of the same workload evicted
    because the node was low on memory, and a JVM whose `-Xmx` (command line,
    `JAVA_TOOL_OPTIONS`, `JAVA_OPTS`, `JDK_JAVA_OPTIONS`) takes 75% of the
    limit or more: the heap is not all a JVM uses (metaspace, thread stacks,
    code cache and direct buffers come on top), which is why the usual advice
    is `-XX:MaxRAMPercentage=75` or a heap of at most three quarters of the limit.

    **Why it is a 5xx**: the kernel kills the process outright: requests in
    flight get 502, and while the container restarts (with a growing
    back-off) the pod is not an endpoint, 503 once none is left.

    **Fix**: raise the memory limit (the fix suggests twice the current one)
    with `kubectl set resources`, or make the app use less; confirm with
    `kubectl describe pod` and `kubectl top pod`.
    """

    def find(snap: Snapshot, pod: Obj) -> Iterator[Hit]:
        for cs in container_states(pod):
            end = termination(cs)
            if end is None or end.reason != "OOMKilled":
                continue
            if cs.state != "running" or recently_restarted(snap, cs):
                yield _oom_hit(snap, target, pod, cs, end)

    return drafts(snap, target, find, "OOM-killed")
