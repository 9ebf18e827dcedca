"""Probes and their failures: a container's probes with the API server's
defaults filled in, what the kubelet's failure output means, and one pass over
the not-ready containers of a Service's pods (`analyse`) that decides once
which of them explains each container: one killed by its liveness or startup
probe before its pod was ever ready, or still inside the start-up time its
workload's ready pods took, starts slowly; one past start-up whose readiness
probe keeps failing fails its probe; crash loops, OOM kills and waiting
containers are left to the pod rules."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from why5xx.evidence import clip, workload_totals
from why5xx.kube import parse_time
from why5xx.snapshot import Event, Obj, Snapshot
from why5xx.views.pods import (
    ContainerState,
    ProbeKill,
    condition,
    container_spec,
    container_states,
    never_ready,
    pod_ready,
    probe_kills,
)
from why5xx.views.service import ServiceTarget, ready_backends

# What the API server fills in for a probe field left out (core/v1 Probe).
_PROBE_DEFAULTS = {
    "initialDelaySeconds": 0,
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}

# ...and what the kubelet assumes for an httpGet left without them.
_FIELD_DEFAULTS = {**_PROBE_DEFAULTS, "scheme": "HTTP", "path": "/"}

_HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")

# kubelet, reason Unhealthy: "<Kind> probe failed: <output>", "<Kind> probe errored:
# <error>" and, since 1.26, "<Kind> probe errored and resulted in unknown state: <error>".
_PROBE_FAILED = re.compile(
    r"^(Readiness|Liveness|Startup) probe (?:failed|errored)(?: and resulted in \w+ state)?:"
    r"\s*(.*)$",
    re.DOTALL,
)

_HTTP_STATUS = re.compile(r"HTTP probe failed with statuscode: (\d{3})")

# A named probe port the container does not declare: the kubelet then parses the
# name as a number ('strconv.Atoi: parsing "http": invalid syntax').
_PORT_NAME = re.compile(r'strconv\.Atoi: parsing "([^"]*)"|port (\S+) not found')

_TIMEOUT = re.compile(r"deadline exceeded|Client\.Timeout|i/o timeout|timed out|^timeout:", re.I)

_WRONG_SCHEME = re.compile(
    r"HTTP response to HTTPS client|malformed HTTP response|does not look like a TLS handshake"
)

# The kubelet forgets a container's restart back-off once it has run 10 minutes:
# a restart more recent than that is a crash loop, not history.
_CRASH_WINDOW = timedelta(minutes=10)

# A startupProbe allows the longest observed start this margin.
START_MARGIN = 1.5

MAX_TEXT = 160


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """One probe of one container, read with the API's defaults."""

    kind: str  # readiness | liveness | startup
    container: str
    spec: Mapping[str, Any]

    @staticmethod
    def of(container: Mapping[str, Any], kind: str) -> Probe | None:
        spec = container.get(f"{kind}Probe")
        if not spec:
            return None
        return Probe(kind=kind, container=str(container.get("name", "")), spec=spec)

    def setting(self, name: str) -> int:
        value = self.spec.get(name)
        return int(value) if value is not None else _PROBE_DEFAULTS[name]

    @property
    def handler(self) -> str:
        return next((h for h in _HANDLERS if h in self.spec), "")

    @property
    def action(self) -> Mapping[str, Any]:
        return self.spec.get(self.handler) or {}

    @property
    def port(self) -> Any:
        return self.action.get("port")

    @property
    def budget(self) -> int:
        """Seconds from container start until the kubelet gives up on it."""
        return self.setting("initialDelaySeconds") + (
            self.setting("failureThreshold") * self.setting("periodSeconds")
        )

    @property
    def budget_terms(self) -> str:
        return (
            f"initialDelaySeconds {self.setting('initialDelaySeconds')} + failureThreshold "
            f"{self.setting('failureThreshold')} x periodSeconds {self.setting('periodSeconds')}"
        )

    def field(self, *parts: str) -> str:
        return ".".join((f"spec.containers[{self.container}].{self.kind}Probe", *parts))

    def value(self, *parts: str) -> str:
        """A field of the probe as set, or as defaulted."""
        value: Any = self.spec
        for part in parts:
            value = value.get(part) if isinstance(value, Mapping) else None
        return str(_FIELD_DEFAULTS.get(parts[-1], "(unset)") if value is None else value)

    @property
    def target(self) -> str:
        """What the probe checks, as `kubectl describe pod` prints it."""
        action = self.action
        host = action.get("host") or ""
        if self.handler == "httpGet":
            scheme = self.value(self.handler, "scheme").lower()
            return f"http-get {scheme}://{host}:{self.port}{self.value(self.handler, 'path')}"
        if self.handler == "tcpSocket":
            return f"tcp-socket {host}:{self.port}"
        if self.handler == "grpc":
            return f"grpc <pod>:{self.port} {action.get('service') or ''}".rstrip()
        if self.handler == "exec":
            return f"exec [{' '.join(str(a) for a in action.get('command') or ())}]"
        return "(no handler)"

    def describe(self) -> str:
        return (
            f"{self.target} delay={self.setting('initialDelaySeconds')}s "
            f"timeout={self.setting('timeoutSeconds')}s period={self.setting('periodSeconds')}s "
            f"#success={self.setting('successThreshold')} "
            f"#failure={self.setting('failureThreshold')}"
        )


class FailureKind(StrEnum):
    STATUS = "status"  # an HTTP status outside 200-399
    REFUSED = "refused"
    TIMEOUT = "timeout"
    PORT_NAME = "port-name"  # a named port the container does not declare
    SCHEME = "scheme"  # HTTP spoken to TLS, or the reverse
    NOT_SERVING = "not-serving"  # gRPC health answers NOT_SERVING
    OUTPUT = "output"  # an exec probe's output, or anything else
    UNSEEN = "unseen"  # not ready, but no probe event in the input


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    kind: FailureKind
    output: str = ""
    code: int | None = None
    port: str | None = None

    @property
    def short(self) -> str:
        """A few words for a title: `404`, `connection refused`."""
        return {
            FailureKind.STATUS: str(self.code),
            FailureKind.REFUSED: "connection refused",
            FailureKind.TIMEOUT: "timeout",
            FailureKind.PORT_NAME: f"port {self.port} not declared",
            FailureKind.SCHEME: "wrong scheme",
            FailureKind.NOT_SERVING: "NOT_SERVING",
            FailureKind.OUTPUT: clip(self.output, MAX_TEXT) or "exits non-zero",
            FailureKind.UNSEEN: "no probe event says why",
        }[self.kind]

    def outcome(self, probe: Probe) -> str:
        """What the probe gets, completing "readiness probe <target> ..."."""
        return {
            FailureKind.STATUS: f"answers {self.code}",
            FailureKind.REFUSED: "is refused",
            FailureKind.TIMEOUT: f"times out after {probe.setting('timeoutSeconds')}s",
            FailureKind.PORT_NAME: (
                f"names port {self.port}, which container {probe.container} does not declare"
            ),
            FailureKind.SCHEME: f"uses the wrong scheme ({probe.value(probe.handler, 'scheme')})",
            FailureKind.NOT_SERVING: "answers NOT_SERVING",
            FailureKind.OUTPUT: f"fails: {self.short}",
            FailureKind.UNSEEN: "keeps failing",
        }[self.kind]


def classify(output: str) -> Failure:
    """What a kubelet probe failure message says went wrong."""
    if found := _HTTP_STATUS.search(output):
        return Failure(kind=FailureKind.STATUS, output=output, code=int(found[1]))
    if found := _PORT_NAME.search(output):
        return Failure(kind=FailureKind.PORT_NAME, output=output, port=found[1] or found[2])
    if _WRONG_SCHEME.search(output):
        return Failure(kind=FailureKind.SCHEME, output=output)
    if "connection refused" in output:
        return Failure(kind=FailureKind.REFUSED, output=output)
    if _TIMEOUT.search(output):
        return Failure(kind=FailureKind.TIMEOUT, output=output)
    if "NOT_SERVING" in output:
        return Failure(kind=FailureKind.NOT_SERVING, output=output)
    return Failure(kind=FailureKind.OUTPUT, output=output)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeFailure:
    """A kubelet `Unhealthy` event about one probe of one container."""

    probe: str  # readiness | liveness | startup
    output: str
    event: Event


def _probe_failures(snap: Snapshot, pod: Obj, container: str) -> tuple[ProbeFailure, ...]:
    """Oldest first. Events name the container in their fieldPath."""
    field = f"spec.containers{{{container}}}"
    return tuple(
        ProbeFailure(probe=found[1].lower(), output=found[2].strip(), event=event)
        for event in snap.events_for("Pod", pod.namespace, pod.name)
        if event.reason == "Unhealthy"
        and event.field_path in ("", field)
        and (found := _PROBE_FAILED.match(event.message))
    )


class Situation(StrEnum):
    PROBE_FAILING = "probe-failing"  # readiness-probe-failing
    KILLED_BEFORE_READY = "killed-before-ready"  # slow-startup
    STARTING = "starting"  # slow-startup


@dataclass(frozen=True, slots=True, kw_only=True)
class StartObserved:
    """How long a container of a ready pod took from start to Ready."""

    pod: Obj
    container: str
    seconds: float
    ready_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Unready:
    """A not-ready container of a selected pod, and what explains it."""

    pod: Obj
    workload: Obj | None
    state: ContainerState
    spec: Mapping[str, Any]
    failures: tuple[ProbeFailure, ...]
    kills: tuple[ProbeKill, ...]
    observed: tuple[StartObserved, ...]  # start times of the workload's ready pods
    situation: Situation
    running_for: timedelta | None
    not_ready_since: datetime | None

    @property
    def owner(self) -> Obj:
        return self.workload or self.pod

    def latest(self, *probes: str) -> ProbeFailure | None:
        return next((f for f in reversed(self.failures) if f.probe in probes), None)

    def current(self, probe: str) -> ProbeFailure | None:
        """The probe's newest failure if it still goes on: a failing probe keeps
        its aggregated event fresh, so the event must postdate the moment the
        pod last became not ready."""
        latest = self.latest(probe)
        if latest is None or latest.event.last is None or self.not_ready_since is None:
            return latest
        return latest if latest.event.last >= self.not_ready_since else None

    @property
    def longest(self) -> StartObserved | None:
        return max(self.observed, key=lambda o: o.seconds, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    unready: tuple[Unready, ...]
    totals: Mapping[str, int]  # live selected pods per owner
    ready: int  # ready endpoints (or pods) of the Service


def analyse(snap: Snapshot, target: ServiceTarget) -> Analysis:
    pods = target.live_pods
    owners = {pod.name: snap.workload_of(pod) for pod in pods}
    starts: dict[tuple[str, str], list[StartObserved]] = {}
    for pod in pods:
        owner = str((owners[pod.name] or pod).ref)
        if pod_ready(pod):
            for start in _start_times(pod):
                starts.setdefault((owner, start.container), []).append(start)
    unready: list[Unready] = []
    for pod in pods:
        if pod_ready(pod) or pod.status.get("phase") != "Running":
            continue
        workload = owners[pod.name]
        kills = probe_kills(snap, pod)
        for state in container_states(pod):
            spec = container_spec(pod, state.name)
            if state.init or state.ready or spec is None:
                continue
            failures = _probe_failures(snap, pod, state.name)
            mine = tuple(k for k in kills if k.container == state.name)
            observed = tuple(starts.get((str((workload or pod).ref), state.name), ()))
            situation = _situation(snap.now, pod, state, spec, failures, mine, observed)
            if situation is not None:
                unready.append(
                    Unready(
                        pod=pod,
                        workload=workload,
                        state=state,
                        spec=spec,
                        failures=failures,
                        kills=mine,
                        observed=observed,
                        situation=situation,
                        running_for=snap.now - state.started_at if state.started_at else None,
                        not_ready_since=parse_time(
                            (condition(pod, "Ready") or {}).get("lastTransitionTime")
                        ),
                    )
                )
    return Analysis(
        unready=tuple(unready),
        totals=workload_totals(snap, pods),
        ready=ready_backends(target),
    )


def _start_times(pod: Obj) -> Iterator[StartObserved]:
    """A ready pod's start: its Ready lastTransitionTime minus each container's startedAt."""
    ready_at = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    if ready_at is None:
        return
    for state in container_states(pod):
        if not state.init and state.started_at is not None and ready_at > state.started_at:
            yield StartObserved(
                pod=pod,
                container=state.name,
                seconds=(ready_at - state.started_at).total_seconds(),
                ready_at=ready_at,
            )


def _situation(
    now: datetime,
    pod: Obj,
    state: ContainerState,
    spec: Mapping[str, Any],
    failures: Sequence[ProbeFailure],
    kills: Sequence[ProbeKill],
    observed: Sequence[StartObserved],
) -> Situation | None:
    """Which rule explains a not-ready container; None leaves it to others
    (crash loops, OOM kills, waiting containers, a start still in progress)."""
    if state.last_reason == "OOMKilled":
        return None
    recently_killed = any(k.event.last and now - k.event.last <= _CRASH_WINDOW for k in kills)
    if state.restarts and recently_killed and never_ready(pod):
        return Situation.KILLED_BEFORE_READY
    if state.state != "running" or state.started_at is None:
        return None
    if state.restarts and state.last_finished_at and now - state.last_finished_at < _CRASH_WINDOW:
        return None
    running = (now - state.started_at).total_seconds()
    if observed and running <= max(o.seconds for o in observed) * START_MARGIN:
        failing_now = any(
            f.probe in ("readiness", "startup")
            and f.event.last
            and f.event.last >= state.started_at
            for f in failures
        )
        return Situation.STARTING if failing_now else None
    readiness = Probe.of(spec, "readiness")
    if not state.started or readiness is None or running < readiness.budget:
        return None  # no readiness probe to fail, or it has not had its chance yet
    return Situation.PROBE_FAILING
