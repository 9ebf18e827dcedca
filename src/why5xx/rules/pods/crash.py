"""crash-loop: containers that exit again and again (CrashLoopBackOff),
with what their exit code and last words say."""

from __future__ import annotations

from collections.abc import Iterator

from why5xx import kubectl
from why5xx.model import Draft
from why5xx.rules.base import rule
from why5xx.rules.pods.common import (
    Hit,
    Termination,
    as_json,
    drafts,
    event_evidence,
    exit_meaning,
    latest_event,
    recently_restarted,
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
from why5xx.views.revisions import container_change
from why5xx.views.service import ServiceTarget

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
    change = container_change(snap, pod, cs.name)
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
