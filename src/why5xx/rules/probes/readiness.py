"""Causes where pods run but the kubelet does not mark them ready: a readiness
probe that keeps failing (wrong path, wrong port, too short a timeout, or a
new revision that changed the probe or the image), and an app that starts
slower than its probes allow.

Both rules start from one pass over the not-ready containers of the pods the
Service selects (`_analyse`), which decides once which of them explains each
container: one killed by its liveness or startup probe before its pod was ever
ready, or still inside the start-up time its workload's ready pods took, is
`slow-startup`; one past start-up whose readiness probe keeps failing is
`readiness-probe-failing`; crash loops, OOM kills and waiting containers are
left to the pod rules. Findings are grouped by workload and are critical only
while no pod of the Service is ready.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from why5xx.kube import parse_time
from why5xx.model import Draft, Evidence, Fix, Severity
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
from why5xx.snapshot import Event, Obj, Snapshot
from why5xx.views.pods import (
    ContainerPort,
    ContainerState,
    ProbeKill,
    condition,
    container_ports,
    container_spec,
    container_states,
    containers,
    never_ready,
    pod_ready,
    pod_template_spec,
    probe_kills,
)
from why5xx.views.revisions import REVISION_ANNOTATION, Revisions, revisions, template_container
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
_START_MARGIN = 1.5
# With no start observed, the container needs more than the budget it is killed
# at: allow twice that, with the usual margin.
_UNOBSERVED_FACTOR = 2 * _START_MARGIN
# The kubelet's default timeoutSeconds is 1; a health endpoint that touches a
# dependency, or a GC pause, routinely takes longer.
_MIN_TIMEOUT = 5
_MAX_TEXT = 160


# --- probes and what their failures say ------------------------------------------


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
            FailureKind.OUTPUT: clip(self.output, _MAX_TEXT) or "exits non-zero",
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


def _declared(pod: Obj, container: str) -> tuple[ContainerPort, ...]:
    """The TCP ports a container declares (probes speak TCP)."""
    return tuple(
        p for p in container_ports(pod.spec) if p.container == container and p.protocol == "TCP"
    )


def _resolve(port: Any, declared: Sequence[ContainerPort]) -> int | None:
    """A probe or Service port (number, numeric string, or name) as a number."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    return next((p.number for p in declared if p.name == port), None)


# --- which not-ready container is whose ------------------------------------------


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


def _analyse(snap: Snapshot, target: ServiceTarget) -> Analysis:
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
    if observed and running <= max(o.seconds for o in observed) * _START_MARGIN:
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


# --- shared rendering ---------------------------------------------------------------

_T = TypeVar("_T")


def _grouped(entries: Iterable[_T], key: Callable[[_T], tuple[Unready, str]]) -> list[list[_T]]:
    """Entries by owner, container and a kind; pods in name order."""
    groups: dict[tuple[str, str, str], list[_T]] = {}
    for entry in sorted(entries, key=lambda e: key(e)[0].pod.name):
        item, kind = key(entry)
        groups.setdefault((str(item.owner.ref), item.state.name, kind), []).append(entry)
    return list(groups.values())


def _pods_phrase(items: Sequence[Unready]) -> str:
    return named(list(dict.fromkeys(item.pod.name for item in items)))


def _who(analysis: Analysis, items: Sequence[Unready]) -> tuple[str, str]:
    """`2 of 3 pods of Deployment api` and its verb (`are`)."""
    owner = items[0].owner
    count = len({item.pod.name for item in items})
    verb = "is" if count == 1 else "are"
    if owner.kind == "Pod":
        return f"Pod {owner.name}", verb
    total = analysis.totals.get(str(owner.ref), count)
    return f"{pod_count(count, total)} of {owner.kind} {owner.name}", verb


def _impact(analysis: Analysis, target: ServiceTarget) -> str:
    return impact(analysis.ready, target.name, "capacity is reduced")


def _severity(analysis: Analysis) -> Severity | None:
    """The rule's critical default while nothing serves; a warning otherwise."""
    return Severity.WARNING if analysis.ready else None


def _event_evidence(pod: Obj, event: Event, now: datetime) -> Evidence:
    details = []
    if event.count > 1 and event.first and event.last:
        details.append(f"x{event.count} over {duration(event.last - event.first)}")
    if event.last:
        details.append(f"last {ago(now, event.last)}")
    suffix = f" ({', '.join(details)})" if details else ""
    return Evidence(
        object=pod.ref,
        field=f"event {event.reason}",
        observed=f"{clip(event.message, _MAX_TEXT)}{suffix}",
        source=event.source,
    )


def _endpoint_evidence(target: ServiceTarget) -> list[Evidence]:
    endpoints = target.endpoints
    if endpoints is None or not endpoints.objects:
        return []
    return [
        fact(
            endpoints.objects[0],
            "endpoints[].conditions.ready",
            f"{len(endpoints.ready)} of {len(endpoints.endpoints)} ready",
        )
    ]


def _not_ready_evidence(item: Unready) -> Evidence:
    running = f" (running for {duration(item.running_for)})" if item.running_for else ""
    return fact(
        item.pod,
        f"status.containerStatuses[{item.state.name}].ready",
        f"false{running}",
        expected="true",
    )


def _template_patch(
    workload: Obj | None, container: str, operations: Sequence[tuple[str, tuple[str, ...], Any]]
) -> str | None:
    """A JSON patch of one container of a workload's pod template, from (op,
    path below the container, value); None for a bare pod, whose probes are
    immutable."""
    if workload is None:
        return None
    names = [c.get("name") for c in containers(pod_template_spec(workload))]
    if container not in names:
        return None
    base = ("spec", "template", "spec", "containers", str(names.index(container)))
    return kubectl.json_patch(
        workload,
        [
            {"op": op, "path": kubectl.json_pointer(*base, *path), "value": value}
            for op, path, value in operations
        ],
    )


_BARE_POD = " The pod has no workload and a pod's probes are immutable: recreate it with the fix."


# --- readiness-probe-failing ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Changed:
    """A readiness probe field that differs between two revisions."""

    key: str  # below readinessProbe, dotted: httpGet.path
    label: str  # what a title calls it: path
    now: str
    was: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionChange:
    """What the pod's Deployment revision changed in the container."""

    revisions: Revisions
    probe: tuple[Changed, ...]
    image: tuple[str, str] | None  # (now, was)
    previous_probe: Mapping[str, Any] | None

    @property
    def summary(self) -> str:
        """`readiness probe path /healthz since revision 7 (was /health)`."""
        since = f"since revision {self.revisions.current_revision}"
        parts = []
        if self.probe:
            now = ", ".join(f"{c.label} {c.now}" for c in self.probe)
            was = ", ".join(c.was for c in self.probe)
            parts.append(f"readiness probe {now} {since} (was {was})")
        if self.image:
            parts.append(f"image {self.image[0]} {since} (was {self.image[1]})")
        return "; ".join(parts)

    @property
    def before(self) -> str:
        """What the previous revision had: `readiness probe path /health`."""
        parts = []
        if self.probe:
            parts.append("readiness probe " + ", ".join(f"{c.label} {c.was}" for c in self.probe))
        if self.image:
            parts.append(f"image {self.image[1]}")
        return " and ".join(parts)


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        return {prefix: " ".join(str(v) for v in value)}
    return {prefix: str(value)}


def _probe_diff(now: Mapping[str, Any], was: Mapping[str, Any]) -> tuple[Changed, ...]:
    """Changed fields, labelled by their last segment (`path`) unless that is
    ambiguous (`httpGet.port` against `tcpSocket.port`)."""
    flat_now, flat_was = _flatten(now), _flatten(was)
    keys = sorted(
        k for k in flat_now.keys() | flat_was.keys() if flat_now.get(k) != flat_was.get(k)
    )
    tails = [key.rsplit(".", 1)[-1] for key in keys]
    return tuple(
        Changed(
            key=key,
            label=tail if tails.count(tail) == 1 else key,
            now=flat_now.get(key, "(unset)"),
            was=flat_was.get(key, "(unset)"),
        )
        for key, tail in zip(keys, tails, strict=True)
    )


def _revision_change(snap: Snapshot, pod: Obj, container: str) -> RevisionChange | None:
    """The readiness probe or image change the pod's revision brought, when
    that revision is what fails: none of its pods is ready."""
    found = revisions(snap, pod)
    if found is None or any(pod_ready(p) for p in snap.owned(found.current, "Pod")):
        return None
    now = template_container(found.current, container)
    was = template_container(found.previous, container)
    if now is None or was is None:
        return None
    was_probe = was.get("readinessProbe") or {}
    images = (str(now.get("image")), str(was.get("image")))
    change = RevisionChange(
        revisions=found,
        probe=_probe_diff(now.get("readinessProbe") or {}, was_probe),
        image=images if images[0] != images[1] else None,
        previous_probe=was_probe or None,
    )
    return change if change.probe or change.image else None


def _failure_of(item: Unready, probe: Probe) -> Failure:
    """What the readiness probe reports, or what its spec makes certain."""
    port = probe.port
    declared = _declared(item.pod, item.state.name)
    if isinstance(port, str) and not port.isdigit() and _resolve(port, declared) is None:
        return Failure(kind=FailureKind.PORT_NAME, port=port)
    current = item.current("readiness")
    return classify(current.output) if current else Failure(kind=FailureKind.UNSEEN)


def _meaning(failure: Failure, probe: Probe, declared: Sequence[ContainerPort]) -> str:
    """What a failure says about the app or the probe."""
    path = probe.value(probe.handler, "path") if probe.handler == "httpGet" else ""
    if failure.kind is FailureKind.STATUS:
        code = failure.code or 0
        if code == 404:
            return (
                f"The app answers 404 on {path}: it does not serve that path, so the probe "
                "names the wrong path or the image no longer serves it."
            )
        if code in (401, 403):
            return (
                f"The app answers {code} on {path}: the health endpoint wants credentials "
                "that the kubelet's plain GET does not send."
            )
        if code >= 500:
            return (
                f"The app answers {code} on {path}: it reports itself unhealthy, typically "
                "because a dependency its health check tests (database, cache, another "
                "service) fails; its log says which."
            )
        return f"The app answers {code} on {path}; the kubelet counts only 200-399 as success."
    if failure.kind is FailureKind.REFUSED:
        number = _resolve(probe.port, declared)
        if declared and number not in {p.number for p in declared}:
            ports = ", ".join(str(p.number) for p in declared)
            return (
                f"Nothing accepts connections on port {probe.port} of the pod IP, and container "
                f"{probe.container} declares {ports}: the probe names the wrong port."
            )
        return (
            f"Nothing accepts connections on port {probe.port} of the pod IP: the app is not "
            "listening there (another port, bound to 127.0.0.1, or not up)."
        )
    if failure.kind is FailureKind.TIMEOUT:
        return (
            f"The app does not answer within timeoutSeconds {probe.setting('timeoutSeconds')}: "
            "the timeout is too short for this endpoint, or the app is overloaded (CPU "
            "throttling, GC pauses, an exhausted worker pool)."
        )
    if failure.kind is FailureKind.PORT_NAME:
        return (
            f"The probe names port {failure.port!r}, which container {probe.container} does "
            "not declare, so the kubelet cannot resolve it and the probe never passes."
        )
    if failure.kind is FailureKind.SCHEME:
        return (
            f"The probe speaks {probe.value(probe.handler, 'scheme')} to a port that serves "
            "the other protocol."
        )
    if failure.kind is FailureKind.NOT_SERVING:
        return "The app's gRPC health service answers NOT_SERVING: it reports itself not ready."
    if failure.kind is FailureKind.OUTPUT:
        return f"The probe reports: {failure.short}."
    return (
        "The input holds no events to say what the probe reports, but the container runs, "
        "has started, is past its readiness probe's budget and is not ready, which only a "
        "failing readiness probe does."
    )


def _failing_field(failure: Failure, probe: Probe) -> tuple[str, ...] | None:
    """The probe field a failure points at."""
    if failure.kind is FailureKind.STATUS and probe.handler == "httpGet":
        return (probe.handler, "path")
    if failure.kind in (FailureKind.REFUSED, FailureKind.PORT_NAME) and probe.port is not None:
        return (probe.handler, "port")
    if failure.kind is FailureKind.TIMEOUT:
        return ("timeoutSeconds",)
    if failure.kind is FailureKind.SCHEME:
        return (probe.handler, "scheme")
    return None


def _served_port(
    probe: Probe, declared: Sequence[ContainerPort], service: Obj
) -> tuple[int | str, int] | None:
    """The declared port a misdirected probe should check, in the probe's own
    style (name or number), and its number: the port the Service targets,
    else the container's only port."""
    chosen = None
    for service_port in service.spec.get("ports") or ():
        number = _resolve(service_port.get("targetPort", service_port.get("port")), declared)
        chosen = next((p for p in declared if p.number == number), None)
        if chosen is not None:
            break
    if chosen is None and len(declared) == 1:
        chosen = declared[0]
    if chosen is None:
        return None
    named = isinstance(probe.port, str) and not probe.port.isdigit() and chosen.name
    return (chosen.name if named else chosen.number), chosen.number


def _right_port(item: Unready, probe: Probe, failure: Failure, service: Obj) -> int | str | None:
    """The port the readiness probe should check, when its failure says it
    checks the wrong one."""
    if failure.kind not in (FailureKind.PORT_NAME, FailureKind.REFUSED):
        return None
    declared = _declared(item.pod, item.state.name)
    served = _served_port(probe, declared, service)
    if served is None or _resolve(probe.port, declared) == served[1]:
        return None
    return served[0]


def _readiness_fix(
    item: Unready, probe: Probe, failure: Failure, change: RevisionChange | None, service: Obj
) -> Fix:
    workload = item.workload
    bare = _BARE_POD if workload is None else ""
    if change is not None:
        found = change.revisions
        undo = kubectl.rollout_undo(found.deployment, found.previous_revision)
        restore = (
            _template_patch(
                workload, probe.container, [("replace", ("readinessProbe",), change.previous_probe)]
            )
            if change.probe and change.previous_probe is not None
            else None
        )
        if restore is not None:
            return Fix(
                summary=(
                    f"Roll back to revision {found.previous_revision}, or keep revision "
                    f"{found.current_revision} and restore the readiness probe it had (if the "
                    "new probe is the right one, the image has to serve it)."
                ),
                patch=f"{undo}\n# or restore the previous readiness probe:\n{restore}",
            )
        return Fix(
            summary=(
                f"Roll back to revision {found.previous_revision}, which had {change.before}; "
                "then make the new revision's image and readiness probe agree before rolling "
                "forward again."
            ),
            patch=undo,
        )
    port = _right_port(item, probe, failure, service)
    if port is not None:
        return Fix(
            summary=f"Point the readiness probe at port {port}, the one the app serves." + bare,
            patch=_template_patch(
                workload,
                probe.container,
                [("replace", ("readinessProbe", probe.handler, "port"), port)],
            ),
        )
    if failure.kind is FailureKind.PORT_NAME:
        ports = ", ".join(str(p) for p in _declared(item.pod, item.state.name)) or "none"
        return Fix(
            summary=(
                f"Point the readiness probe at a port container {probe.container} declares "
                f"({ports}), or declare port {failure.port} on it." + bare
            )
        )
    if failure.kind is FailureKind.TIMEOUT:
        timeout = probe.setting("timeoutSeconds")
        raised = max(_MIN_TIMEOUT, 2 * timeout)
        return Fix(
            summary=(
                f"Raise timeoutSeconds from {timeout} to {raised} if the endpoint is merely "
                "slow; if the app is overloaded (CPU throttling, saturated workers), add "
                "capacity instead, since a longer timeout only hides it." + bare
            ),
            patch=_template_patch(
                workload,
                probe.container,
                [("replace", ("readinessProbe", "timeoutSeconds"), raised)],
            ),
        )
    if failure.kind is FailureKind.SCHEME:
        scheme = "HTTP" if probe.value(probe.handler, "scheme").upper() == "HTTPS" else "HTTPS"
        return Fix(
            summary=f"Probe with scheme {scheme}, the protocol the port serves." + bare,
            patch=_template_patch(
                workload,
                probe.container,
                [("add", ("readinessProbe", probe.handler, "scheme"), scheme)],
            ),
        )
    if failure.kind is FailureKind.STATUS and failure.code == 404:
        summary = (
            f"Point the readiness probe at a path the app serves (it answers 404 on "
            f"{probe.value(probe.handler, 'path')}), or deploy an image that serves it."
        )
    elif failure.kind is FailureKind.REFUSED:
        summary = (
            f"Make the app listen on 0.0.0.0:{probe.port} (its listen address and port "
            "settings), or point the probe at the port it listens on."
        )
    else:
        summary = (
            "Fix what the app's health check reports (its log names the failing "
            "dependency); the probe is doing its job."
        )
    return Fix(summary=summary + bare)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Failing:
    item: Unready
    probe: Probe
    failure: Failure


@rule(cause="readiness-probe-failing", inputs=("Service", "Pod"))
def readiness_probe_failing(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """Pods run, but their readiness probe keeps failing.

    **What it finds**: pods the Service selects that are Running with a
    started container that is not ready and is past its workload's start-up
    time, and what its readiness probe reports in the kubelet's `Unhealthy`
    events: an HTTP status (404: wrong path; 5xx: the app reports a failing
    dependency), `connection refused` (wrong port, or the app not listening on
    the pod IP), a timeout (timeoutSeconds too short, or the app overloaded),
    a wrong scheme, gRPC `NOT_SERVING`, or an exec probe's output. A named
    probe port the container does not declare is found from the spec alone.
    It names the probe (handler, path, port, scheme, timeout, period,
    failureThreshold), and when the pod's ReplicaSet is a Deployment revision
    whose readiness probe or image differs from the previous revision's, says
    so: "readiness probe path /healthz since revision 7 (was /health); 404".
    Containers that crash-loop, were OOM-killed, wait, or are still starting
    are left to those causes and to `slow-startup`.

    **Why it is a 5xx**: the endpoint controller publishes a pod that is not
    ready with `ready: false`, and proxies send it nothing. With no ready pod
    the Service has no endpoint and proxies answer 503; with some, the others
    carry all the traffic.

    **Fix**: roll back to the previous revision when it brought the change,
    or patch the probe (path, port, timeoutSeconds, scheme) to what the app
    serves.
    """
    analysis = _analyse(snap, target)
    failing = [
        _Failing(item=item, probe=probe, failure=_failure_of(item, probe))
        for item in analysis.unready
        if item.situation is Situation.PROBE_FAILING
        and (probe := Probe.of(item.spec, "readiness")) is not None
    ]
    if snap.has_kind("Event"):
        # With events in the input and no current one from the readiness probe
        # (see `Unready.current`), the probe is not what keeps the pod out.
        failing = [f for f in failing if f.failure.kind is not FailureKind.UNSEEN]
    for group in _grouped(failing, lambda f: (f.item, f.failure.short)):
        yield _readiness_draft(snap, target, analysis, group)


def _readiness_draft(
    snap: Snapshot, target: ServiceTarget, analysis: Analysis, group: Sequence[_Failing]
) -> Draft:
    item, probe, failure = group[0].item, group[0].probe, group[0].failure
    items = [entry.item for entry in group]
    change = _revision_change(snap, item.pod, item.state.name)
    who, verb = _who(analysis, items)
    if change is not None:
        title = f"{who} {verb} not ready: {change.summary}; {failure.short}"
    else:
        title = f"{who} {verb} not ready: readiness probe {probe.target} {failure.outcome(probe)}"
    declared = _declared(item.pod, item.state.name)
    them = "it" if len(items) == 1 else "them"
    explanation = [
        _meaning(failure, probe, declared),
        f"The kubelet keeps {_pods_phrase(items)} not ready, so the endpoint controller "
        f"publishes {them} with ready: false and proxies send {them} no traffic.",
        _impact(analysis, target),
    ]
    evidence = [fact(item.pod, probe.field(), probe.describe())]
    failing_field = _failing_field(failure, probe)
    if failing_field is not None:
        was = {c.key: c.was for c in change.probe} if change else {}
        right = _right_port(item, probe, failure, target.service)
        evidence.append(
            fact(
                item.pod,
                probe.field(*failing_field),
                probe.value(*failing_field),
                expected=was.get(".".join(failing_field), None if right is None else str(right)),
            )
        )
    confirm = [
        kubectl.describe(item.pod),
        kubectl.events(item.pod),
        kubectl.get_yaml(
            item.pod, f'{{.spec.containers[?(@.name=="{probe.container}")].readinessProbe}}'
        ),
        kubectl.endpoint_slices(target.service),
    ]
    if change is not None:
        found = change.revisions
        explanation.append(
            f"The pods run ReplicaSet {found.current.name}, revision {found.current_revision} "
            f"of Deployment {found.deployment.name}; revision {found.previous_revision} "
            f"({found.previous.name}) had {change.before}."
        )
        evidence += _revision_evidence(change, probe.container)
        confirm.append(kubectl.rollout_history(found.deployment, found.current_revision))
    for each in items[:MAX_NAMED]:
        evidence.append(_not_ready_evidence(each))
        current = each.current("readiness")
        if current is not None:
            evidence.append(_event_evidence(each.pod, current.event, snap.now))
    evidence += _endpoint_evidence(target)
    certain = change is not None or failure.kind is FailureKind.PORT_NAME
    return Draft(
        subject=item.owner.ref,
        title=title,
        explanation=" ".join(explanation),
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        fix=_readiness_fix(item, probe, failure, change, target.service),
        severity=_severity(analysis),
        confidence=0.95 if certain else 0.7 if failure.kind is FailureKind.UNSEEN else 0.9,
    )


def _revision_evidence(change: RevisionChange, container: str) -> list[Evidence]:
    found = change.revisions
    base = f"spec.template.spec.containers[{container}]"
    evidence = [
        fact(
            found.current,
            f"metadata.annotations[{REVISION_ANNOTATION}]",
            str(found.current_revision),
        )
    ]
    evidence += [
        fact(
            found.previous,
            f"{base}.readinessProbe.{changed.key}",
            f"{changed.was} (revision {found.previous_revision})",
        )
        for changed in change.probe
    ]
    if change.image:
        evidence.append(
            fact(
                found.previous,
                f"{base}.image",
                f"{change.image[1]} (revision {found.previous_revision})",
            )
        )
    return evidence


# --- slow-startup ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupAdvice:
    """The startupProbe that lets the app start: the existing one with a higher
    failureThreshold when it is what kills the container, else a new one with
    the liveness (or readiness) probe's handler."""

    model: Probe
    failure_threshold: int
    basis: str  # how it was sized

    @property
    def raise_existing(self) -> bool:
        return self.model.kind == "startup"

    @property
    def period(self) -> int:
        return self.model.setting("periodSeconds")

    @property
    def delay(self) -> int:
        return self.model.setting("initialDelaySeconds") if self.raise_existing else 0

    @property
    def budget(self) -> int:
        return self.delay + self.failure_threshold * self.period

    @property
    def sizing(self) -> str:
        return f"failureThreshold {self.failure_threshold} x periodSeconds {self.period}"

    @property
    def probe(self) -> dict[str, Any]:
        probe: dict[str, Any] = {
            self.model.handler: dict(self.model.action),
            "periodSeconds": self.period,
            "failureThreshold": self.failure_threshold,
        }
        if "timeoutSeconds" in self.model.spec:
            probe["timeoutSeconds"] = self.model.spec["timeoutSeconds"]
        return probe

    @property
    def summary(self) -> str:
        if self.raise_existing:
            return (
                f"Raise the startupProbe's failureThreshold from "
                f"{self.model.setting('failureThreshold')} to {self.failure_threshold}, so it "
                f"allows {self.budget}s ({self.sizing}) for start-up."
            )
        return (
            f"Give container {self.model.container} a startupProbe with the {self.model.kind} "
            f"probe's handler ({self.model.target}) and {self.sizing} = {self.budget}s: the "
            "kubelet holds the liveness and readiness probes until it passes, so the liveness "
            "probe can stay strict and still catch a hung app."
        )

    def patch(self, workload: Obj | None) -> str | None:
        operation: tuple[str, tuple[str, ...], Any]
        if self.raise_existing:
            operation = ("replace", ("startupProbe", "failureThreshold"), self.failure_threshold)
        else:
            operation = ("add", ("startupProbe",), self.probe)
        return _template_patch(workload, self.model.container, [operation])


def _killer(item: Unready) -> Probe | None:
    """The probe whose failures restart the container."""
    return Probe.of(item.spec, item.kills[-1].probe) if item.kills else None


def _startup_advice(item: Unready, killer: Probe | None) -> StartupAdvice | None:
    if killer is not None and killer.kind == "startup":
        model: Probe | None = killer
    else:
        model = Probe.of(item.spec, "liveness") or Probe.of(item.spec, "readiness")
    if model is None or not model.handler:
        return None
    longest = item.longest
    owner = f"{item.owner.kind} {item.owner.name}"
    if longest is not None:
        base = max(longest.seconds, killer.budget if killer else 0)
        factor = _START_MARGIN
        reason = (
            f"Pod {longest.pod.name} of {owner} became ready {duration(longest.seconds)} "
            f"after container {longest.container} started"
        )
        if killer is not None and killer.budget > longest.seconds:
            reason += f", and this container is killed after {killer.budget}s without being ready"
        note = ""
    elif killer is not None:
        base = killer.budget
        factor = _UNOBSERVED_FACTOR
        reason = (
            f"The start time was not observed: no pod of {owner} became ready, so all that is "
            f"known is that start-up takes longer than the {killer.budget}s the container gets"
        )
        note = (
            " Tighten it once a pod has started: its start time is its Ready condition's "
            "lastTransitionTime minus the container's startedAt."
        )
    else:
        return None
    delay = model.setting("initialDelaySeconds") if model.kind == "startup" else 0
    threshold = max(1, math.ceil((base * factor - delay) / model.setting("periodSeconds")))
    advice = StartupAdvice(model=model, failure_threshold=threshold, basis="")
    basis = (
        f"{reason}; the startupProbe allows {advice.sizing} = {advice.budget}s, at least "
        f"{factor:g} x {duration(base)}.{note}"
    )
    return replace(advice, basis=basis)


@rule(cause="slow-startup", inputs=("Service", "Pod"))
def slow_startup(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The app starts slower than its probes allow.

    **What it finds**: (a) containers of the selected pods that the kubelet
    restarts because their liveness (or startup) probe fails ("Container api
    failed liveness probe, will be restarted") while the pod has never been
    ready: start-up takes longer than the probe's initialDelaySeconds +
    failureThreshold x periodSeconds; (b) containers whose readiness or
    startup probe has failed since they started, and that have run for less
    than 1.5 x the time a ready pod of the same workload took to become
    ready: they are still starting. It measures start times on the
    workload's ready pods (Ready's lastTransitionTime minus the container's
    startedAt) and computes a `startupProbe` whose failureThreshold x
    periodSeconds allows 1.5 x the longest; when no pod ever became ready,
    it says so and sizes it from the liveness budget (3 x, since start-up
    is known only to take longer than that).

    **Why it is a 5xx**: a pod that is not ready has no endpoint. When the
    liveness probe kills the app before it is ready, it never will be and the
    restarts end in CrashLoopBackOff; when every pod starts at once (a
    rollout, a node drain), the Service has no endpoint and proxies answer
    503 until one is ready.

    **Fix**: add a `startupProbe` with the liveness probe's handler, sized to
    the real start time (or raise the failureThreshold of the startupProbe
    that kills it), so the liveness probe can stay strict for a hung app.
    """
    analysis = _analyse(snap, target)
    slow = [u for u in analysis.unready if u.situation is not Situation.PROBE_FAILING]
    for group in _grouped(slow, lambda u: (u, u.situation.value)):
        yield _startup_draft(snap, target, analysis, group)


def _startup_draft(
    snap: Snapshot, target: ServiceTarget, analysis: Analysis, items: Sequence[Unready]
) -> Draft:
    item = items[0]
    name = item.state.name
    killer = _killer(item)
    advice = _startup_advice(item, killer)
    who, verb = _who(analysis, items)
    longest = item.longest
    evidence: list[Evidence] = []
    if item.situation is Situation.KILLED_BEFORE_READY:
        kind = killer.kind if killer else item.kills[-1].probe
        title = f"{who} {verb} killed by the {kind} probe before ever becoming ready"
        lead = f"The kubelet restarts container {name} when its {kind} probe fails"
        if killer is not None:
            title += f": start-up takes longer than the {killer.budget}s it allows"
            lead += (
                f" {killer.setting('failureThreshold')} times in a row, {killer.budget}s after "
                f"start ({killer.budget_terms})"
            )
        serve = "serves" if verb == "is" else "serve"
        lead += (
            f"; the app is not ready by then, so {_pods_phrase(items)} never {serve} and the "
            "restarts end in CrashLoopBackOff."
        )
        for each in items[:MAX_NAMED]:
            state = each.state.reason or each.state.state
            evidence.append(
                fact(
                    each.pod,
                    f"status.containerStatuses[{name}].restartCount",
                    f"{each.state.restarts} ({state}, never ready)",
                )
            )
            evidence.append(_event_evidence(each.pod, each.kills[-1].event, snap.now))
        failing = item.latest("liveness", "startup")
    else:
        failing = item.latest("readiness", "startup")
        kind = failing.probe if failing else "readiness"
        probe = Probe.of(item.spec, kind)
        took = f"{duration(longest.seconds)} on pod {longest.pod.name}" if longest else ""
        title = f"{who} {verb} still starting and failing the {kind} probe: start-up took {took}"
        running = f" for {duration(item.running_for)}" if item.running_for else ""
        lead = (
            f"{_pods_phrase(items)} {verb} running{running} and the {kind} probe fails until "
            "the app is up"
        )
        if probe is not None and longest is not None and probe.budget < longest.seconds:
            lead += (
                f": the probe allows {probe.budget}s ({probe.budget_terms}) but start-up "
                f"took {took}."
            )
        else:
            lead += f", and start-up took {took}."
        lead += (
            " Every start (a rollout, a rescheduled pod) brings probe failures and a window "
            "without the pod."
        )
        evidence += [_not_ready_evidence(each) for each in items[:MAX_NAMED]]
    shown = killer or Probe.of(item.spec, failing.probe if failing else "readiness")
    if shown is not None:
        evidence.insert(
            0,
            fact(item.pod, shown.field(), shown.describe()),
        )
    if advice is not None:
        current = Probe.of(item.spec, "startup")
        evidence.insert(
            1,
            fact(
                item.pod,
                f"spec.containers[{name}].startupProbe",
                current.describe() if current else "(not set)",
                expected=f"{advice.sizing} = {advice.budget}s",
            ),
        )
    if failing is not None:
        evidence.append(_event_evidence(item.pod, failing.event, snap.now))
    if longest is not None:
        evidence.append(
            fact(
                longest.pod,
                "status.conditions[Ready].lastTransitionTime",
                (
                    f"{longest.ready_at:%Y-%m-%dT%H:%M:%SZ} ({duration(longest.seconds)} after "
                    f"containers[{longest.container}] started)"
                ),
            )
        )
    evidence += _endpoint_evidence(target)
    explanation = " ".join(
        part for part in (lead, _impact(analysis, target), advice.basis if advice else "") if part
    )
    if advice is not None:
        fix = Fix(
            summary=advice.summary + (_BARE_POD if item.workload is None else ""),
            patch=advice.patch(item.workload),
        )
    else:
        fix = Fix(
            summary=f"Give container {name} a startupProbe that allows its real start-up time."
        )
    return Draft(
        subject=item.owner.ref,
        title=title,
        explanation=explanation,
        evidence=tuple(evidence),
        confirm=(
            kubectl.describe(item.pod),
            kubectl.events(item.pod),
            kubectl.logs(item.pod, name, previous=item.state.restarts > 0),
            kubectl.get_pods(target.namespace, target.selector),
        ),
        fix=fix,
        severity=_severity(analysis),
        confidence=0.9 if item.situation is Situation.KILLED_BEFORE_READY else 0.75,
    )


__all__ = ["Probe", "classify", "readiness_probe_failing", "slow_startup"]
