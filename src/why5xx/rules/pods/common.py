"""What the pod rules share: the selected pods grouped by workload (one
finding per workload, naming up to five pods; critical only while no pod of
the Service is ready, a warning while others still serve), how a container
last ended and what that exit code means. What the pod's Deployment
revision changed is `views/revisions.py`'s `container_change`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from why5xx.evidence import MAX_NAMED, ago, clip, fact, impact, named, pod_count, workload_totals
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.snapshot import Event, Obj, Snapshot, distinct
from why5xx.views.pods import ContainerState, containers
from why5xx.views.service import ServiceTarget, ready_backends

MAX_TEXT = 400  # kubelet pull errors put the reason at the end
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
class Hit:
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
    hits: tuple[Hit, ...]
    total: int  # live pods of this workload that the Service selects

    @property
    def pods(self) -> tuple[Obj, ...]:
        return tuple(distinct(hit.pod for hit in self.hits))

    @property
    def named_hits(self) -> tuple[Hit, ...]:
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


def owning_workload(snap: Snapshot, pod: Obj) -> Obj:
    return snap.workload_of(pod) or pod


def _groups(snap: Snapshot, target: ServiceTarget, hits: Iterable[Hit]) -> list[_Group]:
    totals = workload_totals(snap, target.live_pods)
    grouped: dict[str, list[Hit]] = {}
    for hit in hits:
        grouped.setdefault(str(owning_workload(snap, hit.pod).ref), []).append(hit)
    return [
        _Group(workload=owning_workload(snap, found[0].pod), hits=tuple(found), total=totals[key])
        for key, found in grouped.items()
    ]


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _draft(target: ServiceTarget, group: _Group, state: str) -> Draft:
    """One finding for a workload's hits: the title says which workload is
    in which `state`, in how many of its pods, and why (the first hit's
    summary); the rest merges what the named pods' hits found."""
    hits = group.named_hits
    ready = ready_backends(target)
    patches = unique(hit.patch or "" for hit in hits)
    return Draft(
        subject=group.workload.ref,
        title=f"{group.who} is {state} in {group.pods_phrase}: {hits[0].summary}",
        explanation=" ".join(
            [
                *unique(n for hit in hits for n in hit.notes),
                impact(ready, target.name, "the 5xx are intermittent and capacity is reduced"),
            ]
        ),
        evidence=tuple(dict.fromkeys(e for hit in hits for e in hit.evidence)),
        confirm=hits[0].confirm,  # the commands for one pod; the others' are alike
        fix=Fix(
            summary=" ".join(unique(hit.advice for hit in hits)),
            patch="\n".join(patches) if patches else None,
        ),
        confidence=min(hit.confidence for hit in hits),
        severity=Severity.WARNING if ready else None,
    )


def drafts(
    snap: Snapshot,
    target: ServiceTarget,
    find: Callable[[Snapshot, Obj], Iterable[Hit]],
    state: str,
) -> Iterator[Draft]:
    hits = [hit for pod in target.live_pods for hit in find(snap, pod)]
    for group in _groups(snap, target, hits):
        yield _draft(target, group, state)


def as_json(value: Any) -> str:
    return clip(orjson.dumps(value).decode(), MAX_TEXT)


def latest_event(
    snap: Snapshot, obj: Obj, reasons: Sequence[str], mentioning: str = ""
) -> Event | None:
    for event in reversed(snap.events_for(obj.kind, obj.namespace, obj.name)):
        if event.reason in reasons and mentioning in event.message:
            return event
    return None


def event_evidence(snap: Snapshot, obj: Obj, event: Event) -> Evidence:
    times = f"{event.count}x, " if event.count > 1 else ""
    return Evidence(
        object=obj.ref,
        field=f"events[{event.reason}]",
        observed=f"{clip(event.message, MAX_TEXT)} ({times}last {ago(snap.now, event.last)})",
        source=event.source,
    )


def waiting_evidence(pod: Obj, cs: ContainerState, *, message: bool = False) -> list[Evidence]:
    """Why a container waits, and with `message` the kubelet's words for it."""
    path = f"{_status_path(cs)}.state.waiting"
    out = [fact(pod, f"{path}.reason", cs.reason, expected="running")]
    if message and cs.message:
        out.append(fact(pod, f"{path}.message", clip(cs.message, MAX_TEXT)))
    return out


def _status_path(cs: ContainerState) -> str:
    key = "initContainerStatuses" if cs.init else "containerStatuses"
    return f"status.{key}[{cs.name}]"


def spec_path(pod: Obj, container: str) -> str:
    key = "containers"
    if not any(c.get("name") == container for c in containers(pod.spec)):
        key = "initContainers"
    return f"spec.{key}[{container}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Termination:
    """How a container ended last: its current state when it is terminated,
    else its lastState."""

    field: str  # the status path of the terminated state
    reason: str
    exit_code: int | None
    message: str
    finished_at: datetime | None


def termination(cs: ContainerState) -> Termination | None:
    if cs.state == "terminated":
        return Termination(
            field=f"{_status_path(cs)}.state.terminated",
            reason=cs.reason,
            exit_code=cs.exit_code,
            message=cs.message,
            finished_at=None,
        )
    if cs.last_reason or cs.last_exit_code is not None:
        return Termination(
            field=f"{_status_path(cs)}.lastState.terminated",
            reason=cs.last_reason,
            exit_code=cs.last_exit_code,
            message=cs.last_message,
            finished_at=cs.last_finished_at,
        )
    return None


def recently_restarted(snap: Snapshot, cs: ContainerState) -> bool:
    restarted = cs.last_finished_at or cs.started_at
    return cs.restarts > 0 and restarted is not None and snap.now - restarted <= _RECENT


def termination_evidence(
    snap: Snapshot, pod: Obj, cs: ContainerState, end: Termination
) -> list[Evidence]:
    """The container's state, how it ended and how often: the facts that
    crash-loop and oom-killed both show."""
    path = _status_path(cs)
    out: list[Evidence] = []
    if cs.state == "waiting":
        out += waiting_evidence(pod, cs)
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
        out.append(fact(pod, f"{end.field}.message", clip(end.message, MAX_TEXT)))
    last = f", last {ago(snap.now, end.finished_at)}" if end.finished_at else ""
    out.append(fact(pod, f"{path}.restartCount", f"{cs.restarts}{last}"))
    return out


def format_bytes(value: float) -> str:
    for suffix, factor in (("Gi", 2**30), ("Mi", 2**20)):
        if value >= factor and value % factor == 0:
            return f"{int(value // factor)}{suffix}"
    return f"{math.ceil(value / 2**20)}Mi"
