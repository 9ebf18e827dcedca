"""Containers that die: `crash-loop` (the process exits or a liveness probe
kills a pod that had served) and `oom-killed` (the kernel kills it at its
memory limit)."""

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
    as_json,
    drafts,
    event_evidence,
    exit_meaning,
    format_bytes,
    latest_event,
    owning_workload,
    recently_restarted,
    revision_change,
    spec_path,
    termination,
    termination_evidence,
)
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import (
    ContainerState,
    ProbeKill,
    container_spec,
    container_states,
    never_ready,
    probe_kills,
)
from why5xx.views.service import ServiceTarget

# --- crash-loop -----------------------------------------------------------------

_CRASH_WAITING = frozenset({"CrashLoopBackOff", "RunContainerError"})
_START_FAILURES = frozenset({"StartError", "ContainerCannotRun"})
# Template fields whose change between revisions can make a container crash.
_CRASH_FIELDS = ("image", "command", "args", "env", "envFrom", "volumeMounts")


def _crashing(snap: Snapshot, cs: ContainerState) -> bool:
    if cs.state == "waiting":
        return cs.reason in _CRASH_WAITING
    if cs.state == "terminated":
        return cs.exit_code != 0 or (not cs.init and cs.restarts > 0)
    # Running again after several recent restarts: it will crash again.
    return cs.state == "running" and cs.restarts >= 2 and recently_restarted(snap, cs)


def _crash_advice(end: Termination | None) -> str:
    code = end.exit_code if end else None
    if end is not None and (end.reason in _START_FAILURES or code in (126, 127, 128)):
        return (
            "The container cannot start: fix the image's entrypoint or the pod's command/args "
            "(the termination message names what is missing)."
        )
    if code == 0:
        return (
            "The main process exits with 0: run the server in the foreground (not daemonised) "
            "and check command/args."
        )
    if code == 137:
        return (
            "Something SIGKILLs the container without an OOM record: check the node "
            "(`kubectl describe node`) and the container's grace period."
        )
    if code == 143:
        return (
            "The container stops on SIGTERM shortly after starting: find who stops it "
            "(events, preStop hooks, a supervisor inside the image)."
        )
    if code in (134, 139) or (code is not None and code > 128):
        return (
            "The process dies on a signal: look for a broken build or a native library that "
            "does not match the image's platform."
        )
    return (
        "Read the crashed container's logs (`kubectl logs --previous`) for the error it exits "
        "with, and fix the configuration or dependency it names."
    )


def _crash_summary(cs: ContainerState, end: Termination | None) -> str:
    restarts = f", {cs.restarts} restarts"
    if end is None:
        return f"container {cs.name} is in {cs.reason or 'CrashLoopBackOff'}{restarts}"
    if end.reason in _START_FAILURES:
        return (
            f"container {cs.name} cannot start ({end.reason}, exit code {end.exit_code}){restarts}"
        )
    return (
        f"container {cs.name} exits with code {end.exit_code} "
        f"({exit_meaning(end.exit_code)}){restarts}"
    )


def _crash_hit(
    snap: Snapshot,
    pod: Obj,
    cs: ContainerState,
    end: Termination | None,
    kill: ProbeKill | None,
) -> Hit:
    evidence = termination_evidence(snap, pod, cs, end) if end else []
    backoff = latest_event(snap, pod, ("BackOff",), f"container {cs.name} ")
    if backoff is not None:
        evidence.append(event_evidence(snap, pod, backoff))
    what = (
        f"exits with code {end.exit_code} ({exit_meaning(end.exit_code)})"
        if end
        else "keeps failing"
    )
    if cs.init:
        lead = (
            f"Init container {cs.name} {what} and the kubelet retries it with a growing "
            "back-off (up to 5 minutes): the pod's app containers never start, so it never "
            "becomes an endpoint."
        )
    else:
        lead = (
            f"Container {cs.name} {what} and the kubelet restarts it with a growing back-off "
            "(up to 5 minutes); while it is down the pod is not ready and leaves the "
            "endpoints, and requests in flight when it dies get 502."
        )
    notes = [lead]
    confidence = 0.9
    spec = container_spec(pod, cs.name) or {}
    if (
        end
        and end.exit_code in (137, 143)
        and spec.get("livenessProbe")
        and not snap.has_kind("Event")
    ):
        notes.append(
            f"The input holds no events: exit code {end.exit_code} with a livenessProbe may "
            "be the kubelet killing a container that is slow to start (slow-startup)."
        )
        confidence = 0.6
    if kill is None:
        advice = _crash_advice(end)
    else:
        # The pod served before: the app hangs, or a strict liveness probe restarts it.
        evidence.append(event_evidence(snap, pod, kill.event))
        notes.append(
            f"The kubelet killed it because its {kill.probe} probe failed after the pod had "
            "been ready: the app hangs or stalls under load, or the probe is too strict."
        )
        advice = (
            f"Read why the {kill.probe} probe fails (kubectl describe pod); keep liveness "
            "checks cheap and independent of dependencies, and give them a timeoutSeconds "
            "and failureThreshold that survive load."
        )
    patch = None
    change = revision_change(snap, pod, cs.name)
    changed = [
        key for key in _CRASH_FIELDS if change and change.before.get(key) != change.after.get(key)
    ]
    if change is not None and changed:
        key = "image" if "image" in changed else changed[0]
        diff = (
            f"image {change.before.get('image')} → {change.after.get('image')}"
            if key == "image"
            else ", ".join(changed)
        )
        notes.append(
            f"The crashes come with revision {change.revisions.current_revision} of Deployment "
            f"{change.revisions.deployment.name}, which changed {diff}."
        )
        was = change.before.get(key)
        evidence.append(change.evidence(key, was if isinstance(was, str) else as_json(was)))
        advice += change.rollback_advice
        patch = change.rollback
    return Hit(
        pod=pod,
        summary=_crash_summary(cs, end),
        notes=tuple(notes),
        evidence=tuple(evidence),
        confirm=(
            kubectl.logs(pod, cs.name, previous=True),
            kubectl.describe(pod),
            kubectl.events(pod),
        ),
        advice=advice,
        patch=patch,
        confidence=confidence,
    )


def _crash_hits(snap: Snapshot, pod: Obj) -> Iterator[Hit]:
    crashing = [cs for cs in container_states(pod) if _crashing(snap, cs)]
    kills = {kill.container: kill for kill in probe_kills(snap, pod)} if crashing else {}
    for cs in crashing:
        end = termination(cs)
        if end and end.reason == "OOMKilled":
            continue  # oom-killed tells it
        if cs.name in kills and never_ready(pod):
            continue  # killed before it ever served: slow-startup tells it
        yield _crash_hit(snap, pod, cs, end, kills.get(cs.name))


@rule(cause="crash-loop", inputs=("Service", "Pod"))
def crash_loop(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """Containers of the Service's pods keep crashing (CrashLoopBackOff).

    **What it finds**: containers (init or app) of the selected pods in
    `CrashLoopBackOff` or `RunContainerError`, just terminated with an error,
    or running again after several restarts in the last 30 minutes. It gives
    the last exit code and what it means (1 application error, 127 command
    not found, 137 SIGKILL, 139 SIGSEGV, 143 SIGTERM), the termination reason
    and message, the restart count and the kubelet's `BackOff` events; and,
    when the crashes came with a new Deployment revision, what that revision
    changed. Restarts the kubelet made because a liveness probe failed on a pod
    that had served are reported here, with the probe's event; a pod killed by
    its probes before it was ever ready belongs to `slow-startup`, and
    `OOMKilled` terminations to `oom-killed`; old restarts on a container that
    has run since are ignored.

    **Why it is a 5xx**: a crashed container is not ready, so its pod leaves
    the endpoints (503 once none is left), and requests in flight when it dies
    get 502.

    **Fix**: read `kubectl logs --previous` for the error the process exits
    with and fix it; roll back to the previous revision to stop the 5xx first.
    """
    return drafts(snap, target, _crash_hits, "crash-looping")


# --- oom-killed -----------------------------------------------------------------


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
    change = revision_change(snap, pod, cs.name)
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
