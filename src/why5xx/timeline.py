"""What happened around a diagnosed target, in time: the rollouts and
ReplicaSet scaling, pod starts, restarts, OOM kills and terminations, probe
failures, the endpoint counts, and the 5xx of the proxy logs per status and
per upstream pod. The shared reports draw it beside the verdict.

Everything comes from the snapshot (events, and the times status fields
record) and the log summary; nothing here reads a clock. The endpoint
counts are rebuilt from the pods' own times (created, Ready since,
terminating since), since a snapshot holds the EndpointSlices of one moment
only: that moment, the snapshot's, comes from the EndpointSlices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from why5xx.kube import labels_match, parse_time
from why5xx.logmodel import LogSummary
from why5xx.logmodel import Timeline as LogTimeline
from why5xx.model import Lane, Moment, ObjectRef, Report, Series, Status, Timeline
from why5xx.snapshot import Event, Obj, Snapshot, distinct
from why5xx.sources.logs.cluster import target_services
from why5xx.views.pods import condition, container_states, pod_template_labels
from why5xx.views.service import service_endpoints

# Event reasons per lane; events of other reasons stay out of the picture.
_LANE_OF_REASON = {
    "ScalingReplicaSet": Lane.ROLLOUT,
    "SuccessfulCreate": Lane.ROLLOUT,
    "SuccessfulDelete": Lane.ROLLOUT,
    "SuccessfulRescale": Lane.ROLLOUT,
    "DeploymentRollback": Lane.ROLLOUT,
    "Scheduled": Lane.PODS,
    "Started": Lane.PODS,
    "Killing": Lane.PODS,
    "BackOff": Lane.PODS,
    "OOMKilling": Lane.PODS,
    "Evicted": Lane.PODS,
    "Preempted": Lane.PODS,
    "FailedScheduling": Lane.PODS,
    "Failed": Lane.PODS,
    "FailedCreatePodSandBox": Lane.PODS,
    "Unhealthy": Lane.PROBES,
    "ProbeWarning": Lane.PROBES,
    "NodeNotReady": Lane.PODS,
}
# Before this much ahead of the newest moment, history is left out: a pod
# created months ago would squeeze the incident into a line.
_HISTORY = timedelta(hours=24)
_MAX_MOMENTS = 400  # the verdict's evidence is kept first
_ENDPOINT_STATES = ("ready", "not-ready", "terminating")


def attach(snap: Snapshot, report: Report, logs: LogSummary | None = None) -> Report:
    """The report with its timeline."""
    return replace(report, timeline=build(snap, report, logs))


def build(snap: Snapshot, report: Report, logs: LogSummary | None = None) -> Timeline:
    target = report.target
    services = target_services(snap, target.kind, target.namespace, target.name)
    evidence = _evidence_objects(report)
    # The verdict's evidence may name pods the Services do not select (the
    # near misses of a selector): they, and their rollout, belong here too.
    named = [o for ref in evidence if (o := snap.get(ref.kind, ref.namespace, ref.name))]
    selected, workloads = _scope(snap, services, [o for o in named if o.kind == "Pod"])
    pods = distinct([*selected, *(o for o in named if o.kind == "Pod")])
    route = snap.get(target.kind, target.namespace, target.name)
    objs = distinct([route, *services, *workloads, *pods, *named])
    moments = [
        *_events(snap, objs, _gone_pods(snap, services, workloads)),
        *_workload_changes(workloads),
        *_pod_changes(pods),
    ]
    moments = [replace(m, evidence=m.object in evidence) for m in moments]
    series = [*_endpoint_series(snap, services, selected)]
    window = None
    if logs is not None and logs.timeline is not None:
        statuses = set(report.findings[0].http_status) if evidence else set()
        series += _log_series(logs.timeline, statuses, evidence)
        window = _verdict_window(report, logs)
    return _frame(snap.now, moments, series, window)


def from_logs(summary: LogSummary) -> Timeline | None:
    """The timeline of `why5xx logs`: the 5xx per status and upstream, and
    the cluster's events among them (when a snapshot was given)."""
    timeline = summary.timeline
    if timeline is None:
        return None
    moments = [
        _moment(lane, event.time, _parse_ref(event.object), event.reason, event.message)
        for event in timeline.events
        if (lane := _LANE_OF_REASON.get(event.reason)) is not None
    ]
    series = _log_series(timeline, set(), set())
    return _frame(None, moments, series, None)


def _parse_ref(text: str) -> ObjectRef:
    kind, _, rest = text.partition("/")
    namespace, _, name = rest.partition("/")
    return ObjectRef(kind=kind, namespace=namespace, name=name)


def _scope(
    snap: Snapshot, services: Sequence[Obj], also: Sequence[Obj]
) -> tuple[list[Obj], list[Obj]]:
    """The pods the Services select, and the ReplicaSets and workloads over
    them and over the pods `also` (every ReplicaSet of a Deployment: the old
    one scales down in a rollout)."""
    pods: dict[ObjectRef, Obj] = {}
    for service in services:
        selector = service.spec.get("selector") or {}
        if selector:
            for pod in snap.pods_matching(service.namespace, selector):
                pods.setdefault(pod.ref, pod)
    workloads: dict[ObjectRef, Obj] = {}
    for pod in [*pods.values(), *also]:
        owner = snap.owner(pod)
        while owner is not None and owner.ref not in workloads:
            workloads[owner.ref] = owner
            owner = snap.owner(owner)
    for workload in list(workloads.values()):
        if workload.kind == "Deployment":
            for replicaset in snap.owned(workload, "ReplicaSet"):
                workloads.setdefault(replicaset.ref, replicaset)
    return list(pods.values()), list(workloads.values())


def _pod_events(snap: Snapshot, namespace: str) -> dict[str, datetime | None]:
    """Each pod an event of the namespace is about -> when the kubelet first
    began to stop it (a Killing event), if it did; computed once per snapshot."""

    def compute() -> dict[str, datetime | None]:
        found: dict[str, datetime | None] = {}
        for obj in snap.list("Event", namespace):
            involved = obj.raw.get("involvedObject") or obj.raw.get("regarding") or {}
            if involved.get("kind") != "Pod":
                continue
            name = str(involved.get("name") or "")
            killed = found.get(name)
            if obj.raw.get("reason") == "Killing":
                first = Event.from_obj(obj).first
                if first is not None and (killed is None or first < killed):
                    killed = first
            found[name] = killed
        return found

    return snap.derived(("timeline-pod-events", namespace), compute)


def _gone_pods(snap: Snapshot, services: Sequence[Obj], workloads: Sequence[Obj]) -> set[str]:
    """Names of pods the snapshot no longer holds whose events it does: the
    pods of the workloads' ReplicaSets (named `<replicaset>-<suffix>`)."""
    prefixes = tuple(f"{w.name}-" for w in workloads if w.kind in ("ReplicaSet", "StatefulSet"))
    if not prefixes:
        return set()
    return {
        name
        for namespace in {s.namespace for s in services}
        for name in _pod_events(snap, namespace)
        if name.startswith(prefixes)
    }


def _evidence_objects(report: Report) -> set[ObjectRef]:
    if not report.findings or report.status is Status.HEALTHY:
        return set()
    return {e.object for e in report.findings[0].evidence}


def _moment(lane: Lane, time: datetime, obj: ObjectRef, label: str, detail: str) -> Moment:
    return Moment(
        lane=lane,
        time=time,
        until=None,
        count=1,
        object=obj,
        label=label,
        detail=detail,
        evidence=False,
    )


def _events(snap: Snapshot, objs: Iterable[Obj], gone_pods: Iterable[str]) -> Iterator[Moment]:
    keys = {(o.kind, o.namespace, o.name) for o in objs}
    namespaces = {namespace for _, namespace, _ in keys}
    keys |= {("Pod", namespace, name) for namespace in namespaces for name in gone_pods}
    for kind, namespace, name in sorted(keys):
        for event in snap.events_for(kind, namespace, name):
            lane = _LANE_OF_REASON.get(event.reason)
            first = event.first or event.last
            if lane is None or first is None:
                continue
            yield _event_moment(lane, first, event)


def _event_moment(lane: Lane, first: datetime, event: Event) -> Moment:
    repeated = event.count > 1 and event.last is not None and event.last > first
    return replace(
        _moment(lane, first, event.regarding, event.reason, " ".join(event.message.split())),
        until=event.last if repeated else None,
        count=event.count,
    )


def _workload_changes(workloads: Iterable[Obj]) -> Iterator[Moment]:
    for workload in workloads:
        created = parse_time(workload.metadata.get("creationTimestamp"))
        if workload.kind == "ReplicaSet" and created is not None:
            revision = workload.annotations.get("deployment.kubernetes.io/revision")
            detail = f"revision {revision}" if revision else ""
            yield _moment(Lane.ROLLOUT, created, workload.ref, "ReplicaSet created", detail)


def _pod_changes(pods: Iterable[Obj]) -> Iterator[Moment]:
    """What pods' status fields record: creation, each container's last
    termination (a restart; OOMKilled among them), the current one, and
    the start of the pod's termination."""
    for pod in pods:
        created = parse_time(pod.metadata.get("creationTimestamp"))
        if created is not None:
            yield _moment(Lane.PODS, created, pod.ref, "Created", "")
        for state in container_states(pod):
            if state.last_finished_at is not None:
                label = state.last_reason or "Terminated"
                detail = f"container {state.name} exited"
                if state.last_exit_code is not None:
                    detail += f" with code {state.last_exit_code}"
                detail += f"; {state.restarts} restarts"
                yield _moment(Lane.PODS, state.last_finished_at, pod.ref, label, detail)
        terminating = _terminating_since(pod)
        if terminating is not None:
            yield _moment(Lane.PODS, terminating, pod.ref, "Terminating", "deletion requested")


def _terminating_since(pod: Obj) -> datetime | None:
    deleted = parse_time(pod.metadata.get("deletionTimestamp"))
    if deleted is None:
        return None
    grace = pod.metadata.get("deletionGracePeriodSeconds")
    return deleted - timedelta(seconds=int(grace or 0))


def _pod_states(pod: Obj) -> list[tuple[datetime, str]]:
    """When a pod's endpoint became not ready, ready, terminating."""
    created = parse_time(pod.metadata.get("creationTimestamp"))
    if created is None:
        return []
    changes = [(created, "not-ready")]
    ready = condition(pod, "Ready")
    since = parse_time((ready or {}).get("lastTransitionTime"))
    if ready is not None and since is not None and since >= created:
        if ready.get("status") == "True":
            changes.append((since, "ready"))
        else:
            # Not ready since `since`: if a container already ran before it, the pod
            # was ready until then (the condition only records its last change).
            ran = [s.started_at for s in container_states(pod) if s.started_at is not None]
            if ran and min(ran) < since:
                changes.append((min(ran), "ready"))
            changes.append((since, "not-ready"))
    terminating = _terminating_since(pod)
    if terminating is not None:
        changes.append((terminating, "terminating"))
    return sorted(changes)


def _gone_serving(snap: Snapshot, services: Sequence[Obj]) -> list[tuple[ObjectRef, datetime]]:
    """Pods gone from the snapshot that served a Service (their ReplicaSet's
    template matches its selector), and when the kubelet began to stop them."""
    found: dict[ObjectRef, datetime] = {}
    for service in services:
        selector = service.spec.get("selector") or {}
        if not selector:
            continue
        namespace = service.namespace
        for name, killed in _pod_events(snap, namespace).items():
            if killed is None or snap.get("Pod", namespace, name) is not None:
                continue
            owner = snap.get("ReplicaSet", namespace, name.rpartition("-")[0])
            if owner is not None and labels_match(selector, pod_template_labels(owner)):
                found[ObjectRef(kind="Pod", namespace=namespace, name=name)] = killed
    return sorted(found.items(), key=lambda item: item[1])


def _endpoint_series(snap: Snapshot, services: Sequence[Obj], pods: Sequence[Obj]) -> list[Series]:
    if not any(s.spec.get("selector") for s in services):
        return []
    changes: list[tuple[datetime, ObjectRef, str]] = [
        (time, pod.ref, state) for pod in pods for time, state in _pod_states(pod)
    ]
    # A pod gone from the snapshot counts as ready from the start of what is known
    # until the kubelet began to stop it (a Killing event), then not at all.
    gone = _gone_serving(snap, services)
    start = min([time for time, _, _ in changes] + [time for _, time in gone], default=None)
    for ref, stopped in gone:
        assert start is not None
        changes += [(start, ref, "ready"), (stopped, ref, "gone")]
    state_of: dict[ObjectRef, str] = {}
    points: dict[str, list[tuple[datetime, int]]] = defaultdict(list)

    def record(time: datetime, counts: dict[str, int]) -> None:
        for state in _ENDPOINT_STATES:
            line = points[state]
            if line and line[-1][0] == time:
                line.pop()
            if not line or line[-1][1] != counts[state]:
                line.append((time, counts[state]))

    for time, ref, state in sorted(changes, key=lambda c: c[0]):
        if state == "gone":
            state_of.pop(ref, None)
        else:
            state_of[ref] = state
        counted = list(state_of.values())
        record(time, {s: counted.count(s) for s in _ENDPOINT_STATES})
    published = [e for s in services if (e := service_endpoints(snap, s)) is not None]
    if published:  # the snapshot's moment: what the endpoint controller published
        endpoints = [e for p in published for e in p.endpoints]
        record(
            snap.now,
            {
                "ready": sum(e.ready for e in endpoints),
                "terminating": sum(e.terminating for e in endpoints),
                "not-ready": sum(not e.ready and not e.terminating for e in endpoints),
            },
        )
    else:
        record(snap.now, {s: list(state_of.values()).count(s) for s in _ENDPOINT_STATES})
    return [
        Series(
            lane=Lane.ENDPOINTS,
            name=state,
            points=tuple(points[state]),
            bucket_seconds=None,
            evidence=False,
        )
        for state in _ENDPOINT_STATES
    ]


def _log_series(
    timeline: LogTimeline, statuses: set[int], evidence: set[ObjectRef]
) -> list[Series]:
    """5xx per status and per upstream pod; `statuses` and the pods in
    `evidence` are the verdict's."""
    size = timeline.bucket_seconds

    def points(counts: Sequence[int]) -> tuple[tuple[datetime, int], ...]:
        return tuple(
            (timeline.start + timedelta(seconds=i * size), n) for i, n in enumerate(counts)
        )

    out = [
        Series(
            lane=Lane.STATUS,
            name=str(status),
            points=points(counts),
            bucket_seconds=size,
            evidence=status in statuses,
        )
        for status, counts in timeline.statuses
    ]
    for name, counts in timeline.upstreams:
        namespace, _, pod = name.partition("/")
        ref = ObjectRef(kind="Pod", namespace=namespace, name=pod) if pod else None
        out.append(
            Series(
                lane=Lane.UPSTREAM,
                name=name,
                points=points(counts),
                bucket_seconds=size,
                evidence=ref in evidence,
            )
        )
    return out


def _verdict_window(report: Report, logs: LogSummary) -> tuple[datetime, datetime] | None:
    if not _evidence_objects(report):
        return None
    verdict = report.findings[0].cause
    cause = next((c for c in logs.causes if c.cause == verdict), None)
    if cause is None or logs.timeline is None:
        return None
    return cause.first, cause.last + timedelta(seconds=logs.timeline.bucket_seconds)


def _frame(
    now: datetime | None,
    moments: list[Moment],
    series: list[Series],
    window: tuple[datetime, datetime] | None,
) -> Timeline:
    """The span worth drawing: the last day of what happened, up to the
    snapshot's time (or the last log line, when later)."""
    times = [m.until or m.time for m in moments] + [p[0] for s in series for p in s.points]
    buckets = [
        s.points[-1][0] + timedelta(seconds=s.bucket_seconds)
        for s in series
        if s.bucket_seconds and s.points
    ]
    end = max([*([now] if now is not None else []), *times, *buckets])
    recent = [t for t in [m.time for m in moments] + times if t >= end - _HISTORY]
    start = min(recent, default=end - timedelta(hours=1))
    if start == end:
        start = end - timedelta(minutes=5)
    kept = [m for m in moments if (m.until or m.time) >= start]
    kept.sort(key=lambda m: (not m.evidence, m.time))
    kept = sorted(kept[:_MAX_MOMENTS], key=lambda m: (m.time, m.lane, str(m.object), m.label))
    return Timeline(
        start=start,
        end=end,
        now=now,
        moments=tuple(kept),
        series=tuple(_clip(s, start) for s in series),
        window=window,
        omitted=len(moments) - len(kept),
    )


def _clip(series: Series, start: datetime) -> Series:
    """A step series from `start` on: its value at `start`, then its changes."""
    if series.bucket_seconds is not None:
        return series
    before = [p for p in series.points if p[0] <= start]
    after = [p for p in series.points if p[0] > start]
    head = [(start, before[-1][1])] if before else []
    return replace(series, points=tuple(head + after))
