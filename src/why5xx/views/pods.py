"""What a pod and its containers are doing: readiness, container states,
declared ports, probe kills; and the pod template a workload stamps out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from why5xx.kube import parse_time
from why5xx.snapshot import Event, Obj, Snapshot


def condition(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    """`status.conditions[type=kind]`."""
    for cond in obj.status.get("conditions") or ():
        if cond.get("type") == kind:
            return cond  # type: ignore[no-any-return]
    return None


def pod_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_terminating(pod: Obj) -> bool:
    return bool(pod.metadata.get("deletionTimestamp"))


def containers(pod_spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    return tuple(pod_spec.get("containers") or ())


def pod_template_spec(workload: Obj) -> Mapping[str, Any]:
    """The pod spec a workload stamps out (or a pod's own spec)."""
    if workload.kind == "Pod":
        return workload.spec
    return (workload.spec.get("template") or {}).get("spec") or {}


def pod_template_labels(workload: Obj) -> Mapping[str, str]:
    return ((workload.spec.get("template") or {}).get("metadata") or {}).get("labels") or {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerState:
    """One container's status, flattened: what it is doing now and how it
    ended last time."""

    name: str
    ready: bool
    started: bool
    restarts: int
    state: str  # running | waiting | terminated | unknown
    reason: str
    message: str
    exit_code: int | None
    started_at: datetime | None
    last_reason: str
    last_exit_code: int | None
    last_message: str
    last_finished_at: datetime | None
    init: bool


def container_states(pod: Obj) -> tuple[ContainerState, ...]:
    """Init containers first, then app containers, as the kubelet runs them."""
    out: list[ContainerState] = []
    for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for status in pod.status.get(key) or ():
            state = status.get("state") or {}
            last = (status.get("lastState") or {}).get("terminated") or {}
            kind = next(iter(state), "unknown")
            detail = state.get(kind) or {}
            out.append(
                ContainerState(
                    name=str(status.get("name", "")),
                    ready=bool(status.get("ready")),
                    started=bool(status.get("started", kind == "running")),
                    restarts=int(status.get("restartCount") or 0),
                    state=kind,
                    reason=str(detail.get("reason") or ""),
                    message=str(detail.get("message") or ""),
                    exit_code=detail.get("exitCode"),
                    started_at=parse_time(detail.get("startedAt")),
                    last_reason=str(last.get("reason") or ""),
                    last_exit_code=last.get("exitCode"),
                    last_message=str(last.get("message") or ""),
                    last_finished_at=parse_time(last.get("finishedAt")),
                    init=init,
                )
            )
    return tuple(out)


def container_spec(pod: Obj, name: str) -> Mapping[str, Any] | None:
    for key in ("containers", "initContainers"):
        for container in pod.spec.get(key) or ():
            if container.get("name") == name:
                return container  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerPort:
    """One `ports[]` entry of a container."""

    container: str
    name: str  # "" when unnamed
    number: int
    protocol: str

    def __str__(self) -> str:
        named = f"{self.name}=" if self.name else ""
        return f"{named}{self.number}/{self.protocol}"


def container_ports(pod_spec: Mapping[str, Any]) -> tuple[ContainerPort, ...]:
    """The ports a pod spec declares, as the endpoint controller reads them to
    resolve a named targetPort: app containers, then sidecars (init containers
    with `restartPolicy: Always`)."""
    sidecars = [
        c for c in pod_spec.get("initContainers") or () if c.get("restartPolicy") == "Always"
    ]
    return tuple(
        ContainerPort(
            container=str(container.get("name", "")),
            name=str(port.get("name") or ""),
            number=int(port["containerPort"]),
            protocol=str(port.get("protocol") or "TCP"),
        )
        for container in (*containers(pod_spec), *sidecars)
        for port in container.get("ports") or ()
        if port.get("containerPort") is not None
    )


# kubelet, reason Killing: "Container api failed liveness probe, will be restarted".
_PROBE_KILL = re.compile(r"^Container (\S+) failed (liveness|startup) probe")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeKill:
    """The kubelet restarting a container because its liveness or startup
    probe failed."""

    container: str
    probe: str  # liveness | startup
    event: Event


def probe_kills(snap: Snapshot, pod: Obj) -> tuple[ProbeKill, ...]:
    """The pod's probe kills, oldest first."""
    return tuple(
        ProbeKill(container=found[1], probe=found[2], event=event)
        for event in snap.events_for("Pod", pod.namespace, pod.name)
        if event.reason == "Killing" and (found := _PROBE_KILL.match(event.message))
    )


# The kubelet writes a pod's first Ready=False within seconds of its startTime.
_FIRST_STATUS = timedelta(seconds=10)


def never_ready(pod: Obj) -> bool:
    """Whether the pod has not been ready since the kubelet first reported it:
    its Ready condition last changed at its start (a later transition means it
    was ready at some point). True when the times are missing."""
    ready = condition(pod, "Ready")
    if ready is not None and ready.get("status") == "True":
        return False
    changed = parse_time((ready or {}).get("lastTransitionTime"))
    started = parse_time(pod.status.get("startTime"))
    if changed is None or started is None:
        return True
    return changed - started <= _FIRST_STATUS
