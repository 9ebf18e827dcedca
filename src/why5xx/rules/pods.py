"""Causes in the selected pods themselves: containers that crash, that the
kernel kills for memory, whose image cannot be pulled, and pods that never
get a node or never get their containers created.

Every rule here reads the pods the Service selects, groups them by the
workload that owns them (one finding per workload, naming up to five pods),
and is critical only while no pod of the Service is ready; while others
still serve, the Service is degraded and the finding is a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from why5xx.appservers import jvm_max_heap
from why5xx.kube import closest_name, parse_quantity, parse_time
from why5xx.model import Draft, Evidence, Fix, ObjectRef, Severity
from why5xx.rules import kubectl
from why5xx.rules.base import rule
from why5xx.rules.evidence import (
    MAX_NAMED,
    ago,
    clip,
    duration,
    fact,
    impact,
    named,
    pod_count,
    workload_totals,
)
from why5xx.snapshot import Event, Obj, Snapshot, distinct
from why5xx.views import (
    ContainerState,
    ProbeKill,
    Revisions,
    ServiceTarget,
    condition,
    container_spec,
    container_states,
    containers,
    never_ready,
    probe_kills,
    ready_backends,
    revisions,
    template_container,
)

_MAX_TEXT = 400  # kubelet pull errors put the reason at the end
# A restart this recent still explains 5xx now; an older one on a container
# that has run since does not.
_RECENT = timedelta(minutes=30)

# --- exit codes ---------------------------------------------------------------

_SIGNALS = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    11: "SIGSEGV",
    13: "SIGPIPE",
    15: "SIGTERM",
}
_EXIT_MEANINGS = {
    0: "exited successfully: the main process returned, which a server never should",
    1: "application error",
    2: "misuse or usage error; also a Go panic",
    126: "command found but not executable",
    127: "command not found: wrong command or entrypoint",
    128: "the container could not be started",
    134: "SIGABRT: the process aborted (assertion or fatal runtime error)",
    137: "SIGKILL: killed from outside, by the OOM killer, a probe or an expired grace period",
    139: "SIGSEGV: segmentation fault",
    143: "SIGTERM: asked to stop, and it stopped",
}


def exit_meaning(code: int | None) -> str:
    """What a container's exit code means (128+n: killed by signal n)."""
    if code is None:
        return "no exit code recorded"
    if code in _EXIT_MEANINGS:
        return _EXIT_MEANINGS[code]
    if 128 < code <= 128 + 64:
        signal = code - 128
        return f"killed by signal {_SIGNALS.get(signal, signal)}"
    return "application error"


# --- the pieces every rule here shares ------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hit:
    """One pod's share of a finding: what is wrong with it, the facts that
    show it, and what to do (identical notes, commands and fixes across the
    pods of a workload are merged)."""

    pod: Obj
    summary: str  # the reason, as the title gives it
    notes: tuple[str, ...]  # sentences of the explanation
    evidence: tuple[Evidence, ...]
    confirm: tuple[str, ...]
    advice: str
    patch: str | None = None
    confidence: float = 0.9


@dataclass(frozen=True, slots=True, kw_only=True)
class _Group:
    """The hits of one workload (or of one bare pod)."""

    workload: Obj
    hits: tuple[_Hit, ...]
    total: int  # live pods of this workload that the Service selects

    @property
    def pods(self) -> tuple[Obj, ...]:
        return tuple(distinct(hit.pod for hit in self.hits))

    @property
    def named_hits(self) -> tuple[_Hit, ...]:
        """The hits of the first pods, the ones a finding names."""
        shown = {str(pod.ref) for pod in self.pods[:MAX_NAMED]}
        return tuple(hit for hit in self.hits if str(hit.pod.ref) in shown)

    @property
    def who(self) -> str:
        return f"{self.workload.kind} {self.workload.name}"

    @property
    def pods_phrase(self) -> str:
        names = [pod.name for pod in self.pods]
        return f"{pod_count(len(names), self.total)} ({named(names)})"


def _workload(snap: Snapshot, pod: Obj) -> Obj:
    return snap.workload_of(pod) or pod


def _groups(snap: Snapshot, target: ServiceTarget, hits: Iterable[_Hit]) -> list[_Group]:
    totals = workload_totals(snap, target.live_pods)
    grouped: dict[str, list[_Hit]] = {}
    for hit in hits:
        grouped.setdefault(str(_workload(snap, hit.pod).ref), []).append(hit)
    return [
        _Group(workload=_workload(snap, found[0].pod), hits=tuple(found), total=totals[key])
        for key, found in grouped.items()
    ]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _draft(target: ServiceTarget, group: _Group, state: str) -> Draft:
    """One finding for a workload's hits: the title says which workload is
    in which `state`, in how many of its pods, and why (the first hit's
    summary); the rest merges what the named pods' hits found."""
    hits = group.named_hits
    ready = ready_backends(target)
    patches = _unique(hit.patch or "" for hit in hits)
    return Draft(
        subject=group.workload.ref,
        title=f"{group.who} is {state} in {group.pods_phrase}: {hits[0].summary}",
        explanation=" ".join(
            [
                *_unique(n for hit in hits for n in hit.notes),
                impact(ready, target.name, "the 5xx are intermittent and capacity is reduced"),
            ]
        ),
        evidence=tuple(dict.fromkeys(e for hit in hits for e in hit.evidence)),
        confirm=hits[0].confirm,  # the commands for one pod; the others' are alike
        fix=Fix(
            summary=" ".join(_unique(hit.advice for hit in hits)),
            patch="\n".join(patches) if patches else None,
        ),
        confidence=min(hit.confidence for hit in hits),
        severity=Severity.WARNING if ready else None,
    )


def _drafts(
    snap: Snapshot,
    target: ServiceTarget,
    find: Callable[[Snapshot, Obj], Iterable[_Hit]],
    state: str,
) -> Iterator[Draft]:
    hits = [hit for pod in target.live_pods for hit in find(snap, pod)]
    for group in _groups(snap, target, hits):
        yield _draft(target, group, state)


def _json(value: Any) -> str:
    return clip(orjson.dumps(value).decode(), _MAX_TEXT)


def _latest_event(
    snap: Snapshot, obj: Obj, reasons: Sequence[str], mentioning: str = ""
) -> Event | None:
    for event in reversed(snap.events_for(obj.kind, obj.namespace, obj.name)):
        if event.reason in reasons and mentioning in event.message:
            return event
    return None


def _event_evidence(snap: Snapshot, obj: Obj, event: Event) -> Evidence:
    times = f"{event.count}x, " if event.count > 1 else ""
    return Evidence(
        object=obj.ref,
        field=f"events[{event.reason}]",
        observed=f"{clip(event.message, _MAX_TEXT)} ({times}last {ago(snap.now, event.last)})",
        source=event.source,
    )


def _waiting(pod: Obj, cs: ContainerState, *, message: bool = False) -> list[Evidence]:
    """Why a container waits, and with `message` the kubelet's words for it."""
    path = f"{_status_path(cs)}.state.waiting"
    out = [fact(pod, f"{path}.reason", cs.reason, expected="running")]
    if message and cs.message:
        out.append(fact(pod, f"{path}.message", clip(cs.message, _MAX_TEXT)))
    return out


def _status_path(cs: ContainerState) -> str:
    key = "initContainerStatuses" if cs.init else "containerStatuses"
    return f"status.{key}[{cs.name}]"


def _spec_path(pod: Obj, container: str) -> str:
    key = "containers"
    if not any(c.get("name") == container for c in containers(pod.spec)):
        key = "initContainers"
    return f"spec.{key}[{container}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Termination:
    """How a container ended last: its current state when it is terminated,
    else its lastState."""

    field: str  # the status path of the terminated state
    reason: str
    exit_code: int | None
    message: str
    finished_at: datetime | None


def _termination(cs: ContainerState) -> _Termination | None:
    if cs.state == "terminated":
        return _Termination(
            field=f"{_status_path(cs)}.state.terminated",
            reason=cs.reason,
            exit_code=cs.exit_code,
            message=cs.message,
            finished_at=None,
        )
    if cs.last_reason or cs.last_exit_code is not None:
        return _Termination(
            field=f"{_status_path(cs)}.lastState.terminated",
            reason=cs.last_reason,
            exit_code=cs.last_exit_code,
            message=cs.last_message,
            finished_at=cs.last_finished_at,
        )
    return None


def _recently_restarted(snap: Snapshot, cs: ContainerState) -> bool:
    restarted = cs.last_finished_at or cs.started_at
    return cs.restarts > 0 and restarted is not None and snap.now - restarted <= _RECENT


def _termination_evidence(
    snap: Snapshot, pod: Obj, cs: ContainerState, end: _Termination
) -> list[Evidence]:
    """The container's state, how it ended and how often: the facts that
    crash-loop and oom-killed both show."""
    path = _status_path(cs)
    out: list[Evidence] = []
    if cs.state == "waiting":
        out += _waiting(pod, cs)
    elif cs.state == "running":
        out.append(
            fact(
                pod,
                f"{path}.state.running.startedAt",
                f"{ago(snap.now, cs.started_at)}, ready: {str(cs.ready).lower()}",
            )
        )
    out += [
        fact(pod, f"{end.field}.reason", end.reason),
        fact(pod, f"{end.field}.exitCode", f"{end.exit_code} ({exit_meaning(end.exit_code)})"),
    ]
    if end.message:
        out.append(fact(pod, f"{end.field}.message", clip(end.message, _MAX_TEXT)))
    last = f", last {ago(snap.now, end.finished_at)}" if end.finished_at else ""
    out.append(fact(pod, f"{path}.restartCount", f"{cs.restarts}{last}"))
    return out


# --- what the pod's Deployment revision changed -----------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Change:
    """A container in the pod's Deployment revision (`after`) and in the
    revision before it (`before`)."""

    revisions: Revisions
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    @property
    def field(self) -> str:
        """The container in the previous ReplicaSet's template."""
        return f"spec.template.spec.containers[{self.before.get('name', '')}]"

    @property
    def previous_ready(self) -> int:
        return int(self.revisions.previous.status.get("readyReplicas") or 0)

    @property
    def rollback_advice(self) -> str:
        return f" To stop the 5xx now, roll back to revision {self.revisions.previous_revision}."

    @property
    def rollback(self) -> str:
        return kubectl.rollout_undo(self.revisions.deployment, self.revisions.previous_revision)

    def evidence(self, key: str, value: str | None) -> Evidence:
        """`key` (a field under the container) as the previous revision had it."""
        previous = self.revisions.previous
        return fact(
            previous,
            f"{self.field}.{key}",
            f"{value} (revision {self.revisions.previous_revision})",
        )


def _change(snap: Snapshot, pod: Obj, container: str) -> _Change | None:
    found = revisions(snap, pod)
    if found is None:
        return None
    before = template_container(found.previous, container)
    after = template_container(found.current, container)
    if before is None or after is None:
        return None
    return _Change(revisions=found, before=before, after=after)


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
    return cs.state == "running" and cs.restarts >= 2 and _recently_restarted(snap, cs)


def _crash_advice(end: _Termination | None) -> str:
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


def _crash_summary(cs: ContainerState, end: _Termination | None) -> str:
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
    end: _Termination | None,
    kill: ProbeKill | None,
) -> _Hit:
    evidence = _termination_evidence(snap, pod, cs, end) if end else []
    backoff = _latest_event(snap, pod, ("BackOff",), f"container {cs.name} ")
    if backoff is not None:
        evidence.append(_event_evidence(snap, pod, backoff))
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
        evidence.append(_event_evidence(snap, pod, kill.event))
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
    change = _change(snap, pod, cs.name)
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
        evidence.append(change.evidence(key, was if isinstance(was, str) else _json(was)))
        advice += change.rollback_advice
        patch = change.rollback
    return _Hit(
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


def _crash_hits(snap: Snapshot, pod: Obj) -> Iterator[_Hit]:
    crashing = [cs for cs in container_states(pod) if _crashing(snap, cs)]
    kills = {kill.container: kill for kill in probe_kills(snap, pod)} if crashing else {}
    for cs in crashing:
        end = _termination(cs)
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
    return _drafts(snap, target, _crash_hits, "crash-looping")


# --- oom-killed -----------------------------------------------------------------


def _format_bytes(value: float) -> str:
    for suffix, factor in (("Gi", 2**30), ("Mi", 2**20)):
        if value >= factor and value % factor == 0:
            return f"{int(value // factor)}{suffix}"
    return f"{math.ceil(value / 2**20)}Mi"


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
        and _workload(snap, pod).ref == workload.ref
    ]


# The share of a container's memory limit a JVM heap can take and leave room
# for the rest of the JVM: the usual -XX:MaxRAMPercentage advice.
_HEAP_SHARE = 0.75


def _oom_hit(
    snap: Snapshot, target: ServiceTarget, pod: Obj, cs: ContainerState, end: _Termination
) -> _Hit:
    limit = _memory_limit(container_spec(pod, cs.name) or {})
    limit_bytes = parse_quantity(limit) or 0
    workload = _workload(snap, pod)
    evidence = [
        *_termination_evidence(snap, pod, cs, end),
        fact(pod, f"{_spec_path(pod, cs.name)}.resources.limits.memory", limit or "<none>"),
    ]
    notes = []
    change = _change(snap, pod, cs.name)
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
        suggested = _format_bytes(max(2 * limit_bytes, before_bytes))
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
            f"{_format_bytes(heap.bytes / _HEAP_SHARE)} for {heap.text}, or -XX:MaxRAMPercentage="
            f"{_HEAP_SHARE * 100:.0f} instead of a fixed -Xmx."
        )
        evidence.append(
            fact(
                pod,
                f"{_spec_path(pod, cs.name)}.{heap.field}",
                heap.text,
                expected=f"at most {_format_bytes(_HEAP_SHARE * limit_bytes)} "
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
            fact(e, "status.message", clip(str(e.status.get("message") or ""), _MAX_TEXT))
            for e in evicted[:MAX_NAMED]
        ]
    return _Hit(
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

    def find(snap: Snapshot, pod: Obj) -> Iterator[_Hit]:
        for cs in container_states(pod):
            end = _termination(cs)
            if end is None or end.reason != "OOMKilled":
                continue
            if cs.state != "running" or _recently_restarted(snap, cs):
                yield _oom_hit(snap, target, pod, cs, end)

    return _drafts(snap, target, find, "OOM-killed")


# --- image-pull -------------------------------------------------------------------

_PULL_WAITING = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
_PULL_EVENTS = ("Failed", "InspectFailed", "ErrImageNeverPull")


@dataclass(frozen=True, slots=True, kw_only=True)
class _PullFailure:
    pattern: re.Pattern[str]
    label: str  # why the pull failed, for the title
    advice: str
    credentials: bool = False  # the registry may want credentials the pod lacks


# First match wins: "pull access denied, repository does not exist or may
# require authorization" must not read as a plain "not found".
_PULL_FAILURES = (
    _PullFailure(
        pattern=re.compile(r"toomanyrequests|429 Too Many Requests|rate limit", re.I),
        label="the registry's pull rate limit is exhausted",
        advice=(
            "Authenticate the pulls (imagePullSecrets with a paid or service account), or mirror "
            "the image to a registry you control."
        ),
    ),
    _PullFailure(
        pattern=re.compile(
            r"no such host|i/o timeout|connection refused|network is unreachable|"
            r"TLS handshake timeout|certificate signed by unknown authority",
            re.I,
        ),
        label="the registry cannot be reached from the node",
        advice=(
            "Fix the registry host in the image name, or the nodes' DNS, egress or proxy "
            "settings towards it."
        ),
    ),
    _PullFailure(
        pattern=re.compile(r"pull access denied|repository does not exist or may require", re.I),
        label="the repository does not exist or needs credentials",
        advice=(
            "Check the image name, and give the pod credentials for the registry "
            "(imagePullSecrets) if the repository is private."
        ),
        credentials=True,
    ),
    _PullFailure(
        pattern=re.compile(
            r"unauthorized|403 Forbidden|authorization failed|no basic auth credentials|"
            r"authentication required|denied",
            re.I,
        ),
        label="the registry refuses the node's credentials",
        advice=(
            "Create a docker-registry Secret for the registry and reference it in the pod "
            "template's imagePullSecrets (or the ServiceAccount's)."
        ),
        credentials=True,
    ),
    _PullFailure(
        pattern=re.compile(r"not found|manifest unknown|name unknown|NotFound", re.I),
        label="the image or tag does not exist",
        advice="Fix the image reference in the pod template: the registry has no such tag.",
    ),
    _PullFailure(
        pattern=re.compile(r"no match for platform|exec format error", re.I),
        label="the image has no build for the node's platform",
        advice="Build and push the image for the nodes' architecture (a multi-arch manifest).",
    ),
    _PullFailure(
        pattern=re.compile(r"invalid reference format|InvalidImageName|couldn't parse image", re.I),
        label="the image reference is not a valid name",
        advice="Fix the image reference (lowercase repository, one tag or digest).",
    ),
    _PullFailure(
        pattern=re.compile(r"pull policy of Never|ErrImageNeverPull", re.I),
        label="the image is not on the node and imagePullPolicy is Never",
        advice="Set imagePullPolicy to IfNotPresent, or preload the image on every node.",
    ),
)
_UNKNOWN_PULL = _PullFailure(
    pattern=re.compile(""),
    label="the pull fails",
    advice="Read the kubelet's pull error in the pod's events and fix the image or the access.",
)


def _registry(image: str) -> str:
    """The registry host of an image reference (Docker Hub when the first
    path part is not a host)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _pull_hit(snap: Snapshot, pod: Obj, cs: ContainerState) -> _Hit:
    spec = container_spec(pod, cs.name) or {}
    image = str(spec.get("image") or "")
    event = _latest_event(snap, pod, _PULL_EVENTS, f'"{image}"') or _latest_event(
        snap, pod, _PULL_EVENTS, "image"
    )
    text = " ".join([event.message if event else "", cs.message, cs.reason])
    failure = next((f for f in _PULL_FAILURES if f.pattern.search(text)), _UNKNOWN_PULL)
    evidence = [
        *_waiting(pod, cs, message=event is None),
        fact(pod, f"{_spec_path(pod, cs.name)}.image", image),
    ]
    if event is not None:
        evidence.append(_event_evidence(snap, pod, event))
    notes = [
        f"The kubelet cannot pull {image} for container {cs.name}: {failure.label}. The "
        "container never starts, so the pod never becomes ready."
    ]
    workload = _workload(snap, pod)
    advice = failure.advice
    patch = None
    if failure.credentials:
        secrets = [str(s.get("name")) for s in pod.spec.get("imagePullSecrets") or ()]
        evidence.append(
            fact(
                pod,
                "spec.imagePullSecrets",
                ", ".join(secrets) or "<none>",
                expected="a Secret of type kubernetes.io/dockerconfigjson for the registry",
            )
        )
        retrieve = _latest_event(snap, pod, ("FailedToRetrieveImagePullSecret",))
        if retrieve is not None:
            evidence.append(_event_evidence(snap, pod, retrieve))
        if not secrets:
            patch = kubectl.merge_patch(
                workload,
                {"spec": {"template": {"spec": {"imagePullSecrets": [{"name": "regcred"}]}}}},
            )
            patch = (
                f"kubectl create secret docker-registry regcred -n {pod.namespace} "
                f"--docker-server={_registry(image)} --docker-username=<user> "
                "--docker-password=<token>\n" + patch
            )
    change = _change(snap, pod, cs.name)
    confirm = [kubectl.describe(pod), kubectl.events(pod)]
    if change is not None and change.before.get("image") != image:
        was = change.before.get("image")
        serving = (
            f", and its ReplicaSet {change.revisions.previous.name} still runs "
            f"{change.previous_ready} ready pod(s) with it: that image pulls fine"
            if change.previous_ready
            else ""
        )
        notes.append(
            f"Revision {change.revisions.previous_revision} of Deployment "
            f"{change.revisions.deployment.name} ran {was}{serving}."
        )
        evidence.append(change.evidence("image", was))
        advice += change.rollback_advice
        patch = change.rollback
        confirm.append(kubectl.rollout_history(change.revisions.deployment))
    return _Hit(
        pod=pod,
        summary=f"{image} cannot be pulled ({cs.reason}): {failure.label}",
        notes=tuple(notes),
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        advice=advice,
        patch=patch,
        confidence=0.95 if event is not None else 0.85,
    )


@rule(cause="image-pull", inputs=("Service", "Pod"))
def image_pull(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The Service's pods cannot pull their container image.

    **What it finds**: containers of the selected pods waiting in
    `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName` or
    `ErrImageNeverPull`, the image they name, and why the pull fails, read
    from the kubelet's "Failed to pull image" events: tag not found / manifest
    unknown, unauthorized or a missing imagePullSecret, the registry host not
    resolving, the registry's rate limit. When the Deployment's previous
    revision ran another image (and its pods still run), it says so and
    offers the rollback.

    **Why it is a 5xx**: the container never starts, so the pod never becomes
    an endpoint; once the old pods are gone, proxies answer 503.

    **Fix**: roll back to the previous revision (`kubectl rollout undo`), then
    fix the image reference or the registry credentials.
    """

    def find(snap: Snapshot, pod: Obj) -> Iterator[_Hit]:
        for cs in container_states(pod):
            if cs.state == "waiting" and cs.reason in _PULL_WAITING:
                yield _pull_hit(snap, pod, cs)

    return _drafts(snap, target, find, "failing to pull its image")


# --- pods-pending ------------------------------------------------------------------

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
    workload = _workload(snap, pod)
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
        problem = _latest_event(snap, claim, ("ProvisioningFailed", "FailedBinding"))
        why = ""
        if problem is not None:
            evidence.append(_event_evidence(snap, claim, problem))
            why = f": {clip(problem.message, _MAX_TEXT)}"
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
        return _format_bytes(amount)
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
        workload = _workload(snap, pod)
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
        advice.append(f"The pod's nodeSelector is {_json(selector)}.")
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
) -> _Hit:
    """A pending pod's hit: its own evidence and advice, then what is wrong
    with the objects it waits for; `fallback` is the advice when neither
    says what to do."""
    created = parse_time(pod.metadata.get("creationTimestamp"))
    since = f" for {duration(snap.now - created)}" if created else ""
    phase = fact(pod, "status.phase", f"Pending{since}", expected="Running")
    return _Hit(
        pod=pod,
        summary=summary,
        notes=(note, *(n for p in parts for n in p.notes)),
        evidence=(phase, *evidence, *(e for p in parts for e in p.evidence)),
        confirm=(kubectl.describe(pod), kubectl.events(pod), *confirm),
        advice=" ".join(_unique([advice, *(p.advice for p in parts)])) or fallback,
        patch="\n".join(_unique([patch or "", *(p.patch or "" for p in parts)])) or None,
        confidence=min((p.confidence for p in parts), default=0.9),
    )


def _unschedulable(snap: Snapshot, pod: Obj, scheduled: Mapping[str, Any]) -> _Hit:
    message = str(scheduled.get("message") or "")
    evidence = [
        fact(
            pod,
            "status.conditions[PodScheduled].reason",
            "Unschedulable",
            expected="scheduled on a node",
        ),
        fact(pod, "status.conditions[PodScheduled].message", clip(message, _MAX_TEXT)),
    ]
    event = _latest_event(snap, pod, ("FailedScheduling",))
    if event is not None:
        evidence.append(_event_evidence(snap, pod, event))
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


def _config_error(snap: Snapshot, pod: Obj, cs: ContainerState) -> _Hit:
    return _pending_hit(
        snap,
        pod,
        summary=f"container {cs.name} cannot be created: {cs.message}",
        note=(
            f"The kubelet cannot create container {cs.name} ({cs.message}), so the pod never "
            "starts and never becomes an endpoint."
        ),
        evidence=_waiting(pod, cs, message=True),
        parts=_named_missing(snap, pod, cs.message),
        fallback="Fix the configuration the container's waiting message names.",
    )


def _mount_failure(snap: Snapshot, pod: Obj, event: Event) -> _Hit:
    found = _MOUNT.search(event.message)
    error = found["error"] if found else event.message
    volume = f"volume {found['volume']}" if found else "its volumes"
    return _pending_hit(
        snap,
        pod,
        summary=f"{volume} cannot be mounted: {clip(error, _MAX_TEXT)}",
        note=(
            f"The kubelet cannot mount {volume} ({clip(error, _MAX_TEXT)}), so the pod's "
            "containers are never created and it never becomes an endpoint."
        ),
        evidence=[_event_evidence(snap, pod, event)],
        parts=_named_missing(snap, pod, error),
        fallback="Fix what the FailedMount event names: the volume's source or its attachment.",
    )


def _missing_references(snap: Snapshot, pod: Obj) -> _Hit | None:
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


def _pending_hits(snap: Snapshot, pod: Obj) -> Iterator[_Hit]:
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
    event = _latest_event(snap, pod, _MOUNT_EVENTS, " not found") or _latest_event(
        snap, pod, _MOUNT_EVENTS
    )
    hit = _mount_failure(snap, pod, event) if event else _missing_references(snap, pod)
    if hit is not None:
        yield hit


@rule(cause="pods-pending", inputs=("Service", "Pod"))
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
    return _drafts(snap, target, _pending_hits, "stuck Pending")
