"""readiness-probe-failing: pods run but the kubelet does not mark them
ready, because the readiness probe keeps failing (wrong path, wrong port, too
short a timeout, or a new revision that changed the probe or the image)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import MAX_NAMED, fact
from why5xx.model import Draft, Evidence, Fix
from why5xx.rules.base import rule
from why5xx.rules.probes.common import (
    BARE_POD,
    endpoint_evidence,
    event_evidence,
    grouped,
    not_ready_evidence,
    pods_phrase,
    template_patch,
    unready_impact,
    unready_severity,
    unready_who,
)
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import (
    ContainerPort,
    container_ports,
    pod_ready,
)
from why5xx.views.probes import (
    Analysis,
    Failure,
    FailureKind,
    Probe,
    Situation,
    Unready,
    analyse,
    classify,
)
from why5xx.views.revisions import (
    REVISION_ANNOTATION,
    Changed,
    Revisions,
    container_change,
    field_diff,
)
from why5xx.views.service import ServiceTarget

# The kubelet's default timeoutSeconds is 1; a health endpoint that touches a
# dependency, or a GC pause, routinely takes longer.
_MIN_TIMEOUT = 5


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


def _revision_change(snap: Snapshot, pod: Obj, container: str) -> RevisionChange | None:
    """The readiness probe or image change the pod's revision brought, when
    that revision is what fails: none of its pods is ready."""
    found = container_change(snap, pod, container)
    if found is None or any(pod_ready(p) for p in snap.owned(found.revisions.current, "Pod")):
        return None
    now, was = found.after, found.before
    was_probe = was.get("readinessProbe") or {}
    images = (str(now.get("image")), str(was.get("image")))
    change = RevisionChange(
        revisions=found.revisions,
        probe=field_diff(now.get("readinessProbe") or {}, was_probe),
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
    bare = BARE_POD if workload is None else ""
    if change is not None:
        found = change.revisions
        undo = kubectl.rollout_undo(found.deployment, found.previous_revision)
        restore = (
            template_patch(
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
            patch=template_patch(
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
            patch=template_patch(
                workload,
                probe.container,
                [("replace", ("readinessProbe", "timeoutSeconds"), raised)],
            ),
        )
    if failure.kind is FailureKind.SCHEME:
        scheme = "HTTP" if probe.value(probe.handler, "scheme").upper() == "HTTPS" else "HTTPS"
        return Fix(
            summary=f"Probe with scheme {scheme}, the protocol the port serves." + bare,
            patch=template_patch(
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
    analysis = analyse(snap, target)
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
    for group in grouped(failing, lambda f: (f.item, f.failure.short)):
        yield _readiness_draft(snap, target, analysis, group)


def _readiness_draft(
    snap: Snapshot, target: ServiceTarget, analysis: Analysis, group: Sequence[_Failing]
) -> Draft:
    item, probe, failure = group[0].item, group[0].probe, group[0].failure
    items = [entry.item for entry in group]
    change = _revision_change(snap, item.pod, item.state.name)
    who, verb = unready_who(analysis, items)
    if change is not None:
        title = f"{who} {verb} not ready: {change.summary}; {failure.short}"
    else:
        title = f"{who} {verb} not ready: readiness probe {probe.target} {failure.outcome(probe)}"
    declared = _declared(item.pod, item.state.name)
    them = "it" if len(items) == 1 else "them"
    explanation = [
        _meaning(failure, probe, declared),
        f"The kubelet keeps {pods_phrase(items)} not ready, so the endpoint controller "
        f"publishes {them} with ready: false and proxies send {them} no traffic.",
        unready_impact(analysis, target),
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
        evidence.append(not_ready_evidence(each))
        current = each.current("readiness")
        if current is not None:
            evidence.append(event_evidence(each.pod, current.event, snap.now))
    evidence += endpoint_evidence(target)
    certain = change is not None or failure.kind is FailureKind.PORT_NAME
    return Draft(
        subject=item.owner.ref,
        title=title,
        explanation=" ".join(explanation),
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        fix=_readiness_fix(item, probe, failure, change, target.service),
        severity=unready_severity(analysis),
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
