"""Causes of 5xx during deploys: pods that stop serving before the proxies in
front of them stop sending them traffic, and rollout strategies that leave
no ready pod at all."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.kube import parse_time
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Event, Obj, Snapshot
from why5xx.views.backend import Serving, serving_containers, workloads
from why5xx.views.pods import pod_template_spec, pod_terminating
from why5xx.views.revisions import REVISION_ANNOTATION
from why5xx.views.rollout import (
    DEFAULT_GRACE,
    PROPOSED_SLEEP,
    RolloutProblem,
    grace_period,
    prestop_drain,
    strategy_problem,
)
from why5xx.views.service import ServiceTarget

# How long after the controller replaced pods a missing drain is still worth
# mentioning as the likely cause of today's 5xx.
RECENT = timedelta(minutes=30)

# The native sleep action (KEP-3960): alpha in 1.29, beta (on by default) in 1.30, GA in 1.34.
_SLEEP_ACTION_MINOR = 30


def _proxy_kind(container: Mapping[str, Any]) -> str | None:
    image = str(container.get("image", ""))
    if "envoyproxy/envoy" in image or image.rsplit("/", 1)[-1].startswith("envoy:"):
        return "envoy"
    if "nginx" in image and "ingress-nginx" not in image:
        return "nginx"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollout:
    """What shows that pods of the workload were replaced or removed."""

    evidence: tuple[Evidence, ...]
    summary: str
    # A terminating pod the kubelet found refusing connections: the app
    # stopped listening while proxies could still route to it.
    refusing: bool
    # Pods leaving now, or the controller replacing them in the last
    # RECENT: what makes a risk worth mentioning today.
    recent: bool
    # Pods of the workload terminating (or a StatefulSet update rolling) at
    # capture time: the trigger is visible now.
    now: bool


def _events(snap: Snapshot, workload: Obj) -> list[Event]:
    """The controller replacing or removing pods: the deployment
    controller's ScalingReplicaSet, the StatefulSet and DaemonSet
    controllers' SuccessfulDelete."""
    return [
        e
        for e in snap.events_for(workload.kind, workload.namespace, workload.name)
        if e.reason in ("ScalingReplicaSet", "SuccessfulDelete")
    ]


def _when(event: Event) -> str:
    return f"{event.message} ({event.last:%Y-%m-%d %H:%M:%S}Z)" if event.last else event.message


def _refused(snap: Snapshot, pod: Obj) -> Event | None:
    """The kubelet's probe finding a terminating pod's port closed after its
    deletion began: the app stopped listening before it left the endpoints."""
    deadline = parse_time(pod.metadata.get("deletionTimestamp"))
    grace = pod.metadata.get("deletionGracePeriodSeconds")
    if deadline is None or grace is None:
        return None
    began = deadline - timedelta(seconds=int(grace))
    for event in reversed(snap.events_for("Pod", pod.namespace, pod.name)):
        if (
            event.reason == "Unhealthy"
            and "connection refused" in event.message
            and event.last is not None
            and event.last >= began
        ):
            return event
    return None


def _rollout(snap: Snapshot, target: ServiceTarget, workload: Obj) -> Rollout | None:
    evidence: list[Evidence] = []
    notes: list[str] = []
    terminating = target.endpoints.terminating if target.endpoints else ()
    leaving = [p for p in target.pods if pod_terminating(p) and snap.workload_of(p) is workload]
    refused = [(pod, event) for pod in leaving if (event := _refused(snap, pod))]
    for pod, event in refused[:2]:
        evidence.append(
            Evidence(
                object=pod.ref,
                field="events[Unhealthy]",
                observed=f"{event.message} (after deletion began, at {event.last:%H:%M:%S}Z)",
                expected="the app keeps serving until the preStop drain ends",
                source=event.source,
            )
        )
    if refused:
        notes.append(f"terminating pod {refused[0][0].name} already refuses connections")
    if terminating and target.endpoints:
        source = target.endpoints.objects[0]
        names = ", ".join(sorted({e.pod or e.ip for e in terminating})[:3])
        evidence.append(
            fact(
                source,
                "endpoints[].conditions.terminating",
                f"true for {len(terminating)} endpoint(s): {names}",
            )
        )
        notes.append(f"{len(terminating)} endpoint(s) are terminating now")
    elif leaving:
        evidence.append(
            fact(
                leaving[0],
                "metadata.deletionTimestamp",
                str(leaving[0].metadata.get("deletionTimestamp")),
            )
        )
        notes.append(f"{len(leaving)} pod(s) are terminating now")
    events = _events(snap, workload)
    if events:
        evidence.append(
            Evidence(
                object=workload.ref,
                field="events",
                observed=_when(events[-1]),
                source=events[-1].source,
            )
        )
        notes.append(f"the controller last reported: {_when(events[-1])}")
    revision = workload.annotations.get(REVISION_ANNOTATION)
    if workload.kind == "Deployment" and revision and revision.isdigit() and int(revision) > 1:
        replica_sets = snap.owned(workload, "ReplicaSet")
        evidence.append(
            fact(
                workload,
                f"metadata.annotations[{REVISION_ANNOTATION}]",
                f"{revision} ({len(replica_sets)} ReplicaSets kept)",
            )
        )
        notes.append(f"it is at revision {revision}")
    status = workload.status
    updating = bool(status.get("currentRevision")) and status.get("currentRevision") != status.get(
        "updateRevision"
    )
    if updating:
        evidence.append(
            fact(
                workload,
                "status.updateRevision",
                str(status.get("updateRevision")),
                expected=f"currentRevision {status.get('currentRevision')}",
            )
        )
        notes.append("an update is rolling out")
    if not evidence:
        return None
    recent = bool(terminating or leaving or updating) or any(
        e.last is not None and e.last >= snap.now - RECENT for e in events
    )
    return Rollout(
        evidence=tuple(evidence),
        summary="; ".join(notes),
        refusing=bool(refused),
        recent=recent,
        now=bool(terminating or leaving or updating),
    )


def _sleep_handler(serving: Serving, native: bool) -> dict[str, Any]:
    kind = _proxy_kind(serving.container)
    if kind == "nginx":
        script = f"sleep {PROPOSED_SLEEP} && nginx -s quit"
        return {"exec": {"command": ["/bin/sh", "-c", script]}}
    if native:
        return {"sleep": {"seconds": PROPOSED_SLEEP}}
    return {"exec": {"command": ["sleep", str(PROPOSED_SLEEP)]}}


def _container_problems(
    workload: Obj, serving: Serving, grace: int, native: bool
) -> list[RolloutProblem]:
    drain = prestop_drain(serving.container)
    where = f"{serving.path}.lifecycle.preStop"
    if drain is None or drain.seconds == 0:
        handler = _sleep_handler(serving, native)
        has_lifecycle = bool(serving.container.get("lifecycle"))
        op = (
            {"op": "add", "path": f"{serving.pointer}/lifecycle/preStop", "value": handler}
            if has_lifecycle
            else {
                "op": "add",
                "path": f"{serving.pointer}/lifecycle",
                "value": {"preStop": handler},
            }
        )
        return [
            RolloutProblem(
                text=f"container {serving.name} has no preStop drain",
                certain=False,
                evidence=fact(
                    workload,
                    where,
                    drain.how if drain else "<none>",
                    expected=f"a sleep of about {PROPOSED_SLEEP} s before the app stops",
                ),
                patch=op,
            )
        ]
    if drain.seconds is not None and drain.seconds >= grace:
        want = int(drain.seconds) + DEFAULT_GRACE
        return [
            RolloutProblem(
                text=(
                    f"container {serving.name}'s preStop ({drain.how}) is not shorter than "
                    f"terminationGracePeriodSeconds {grace}"
                ),
                certain=True,
                evidence=fact(
                    workload,
                    "spec.template.spec.terminationGracePeriodSeconds",
                    str(grace) + (" (default)" if grace == DEFAULT_GRACE else ""),
                    expected=f"> {drain.seconds:g} (the preStop) plus the app's drain",
                ),
                patch={
                    "op": "add",
                    "path": "/spec/template/spec/terminationGracePeriodSeconds",
                    "value": want,
                },
            )
        ]
    return []


def _readiness_gap(workload: Obj, servings: Sequence[Serving]) -> RolloutProblem | None:
    """A new pod counts as available the moment it starts when no container
    has a readiness probe and minReadySeconds is 0."""
    if workload.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        return None
    if int(workload.spec.get("minReadySeconds") or 0) > 0:
        return None
    # Without a container serving the target port (target-port-mismatch) there
    # is no container whose probe to judge.
    if not servings or any(s.container.get("readinessProbe") for s in servings):
        return None
    return RolloutProblem(
        text="new pods get traffic before the app listens (no readiness probe, minReadySeconds 0)",
        certain=False,
        evidence=fact(
            workload,
            "spec.minReadySeconds",
            "0 (default), and no readinessProbe",
            expected="a readinessProbe, or minReadySeconds > 0",
        ),
        patch=None,
        merge={"spec": {"minReadySeconds": PROPOSED_SLEEP}},
    )


def _native_sleep(snap: Snapshot) -> bool:
    """Whether every captured node's kubelet has the sleep action on by
    default (1.30+); without Node objects, assume a supported version."""
    for node in snap.list("Node"):
        version = str((node.status.get("nodeInfo") or {}).get("kubeletVersion", ""))
        found = re.match(r"v?1\.(\d+)", version)
        if found and int(found.group(1)) < _SLEEP_ACTION_MINOR:
            return False
    return True


def _fix(workload: Obj, problems: Sequence[RolloutProblem], native: bool) -> Fix:
    operations = [p.patch for p in problems if p.patch]
    lines = [kubectl.json_patch(workload, operations)] if operations else []
    lines += [kubectl.merge_patch(workload, p.merge) for p in problems if p.merge]
    action = (
        "the native `preStop: {sleep: {seconds: N}}` (Kubernetes 1.30+)"
        if native
        else "`preStop: {exec: {command: [sleep, N]}}` (the sleep action needs Kubernetes 1.30+)"
    )
    return Fix(
        summary=(
            f"Give each serving container a preStop drain of about {PROPOSED_SLEEP} s with "
            f"{action} (nginx: `sleep {PROPOSED_SLEEP} && nginx -s quit`; Envoy: drain its "
            "listeners, then sleep), keep terminationGracePeriodSeconds longer than that plus "
            "the app's own drain, and roll out with maxUnavailable 0 so a ready pod always "
            "remains."
        ),
        patch="\n".join(lines),
    )


@rule(
    cause="rollout-no-prestop",
    inputs=("Service", "Pod"),
    reads=("Node",),
    severity=Severity.WARNING,
)
def rollout_no_prestop(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """Pods behind the Service stop serving before the proxies stop sending them traffic.

    **What it finds**: a workload behind the Service that was rolled out or
    scaled down (the deployment controller's `ScalingReplicaSet` events, a
    revision above 1, a StatefulSet `updateRevision` different from its
    `currentRevision`, terminating pods, EndpointSlice endpoints with
    `terminating: true`) and whose pods are not built to leave gracefully:

    - a serving container without a preStop drain: neither the native
      `lifecycle.preStop.sleep.seconds` action (KEP-3960: alpha in 1.29,
      beta and on by default from 1.30, GA in 1.34) nor an `exec` running
      `sleep N` (or another hook: an httpGet or a script is trusted);
    - a preStop sleep not shorter than `terminationGracePeriodSeconds`
      (default 30): the grace period covers the hook and the container's
      stop, so the app is killed without a drain (the kubelet grants only a
      one-off 2 s extension);
    - a Deployment whose strategy leaves no ready pod: `Recreate`, or a
      `maxUnavailable` (default 25%, rounded down) not below `replicas`;
    - no readiness probe on the serving containers and `minReadySeconds` 0
      (the default): new pods count as available before the app listens.

    **Why it is a 5xx**: when a pod is deleted, the kubelet starts its
    shutdown while the control plane removes it from the EndpointSlices
    (Kubernetes "Pod Lifecycle": the two happen at the same time);
    ingress-nginx, kube-proxy and Envoy learn of it a moment later. An app
    that stops on SIGTERM at once refuses or resets the requests still
    routed to it: 502 `connect() failed (111: Connection refused)` or
    `upstream prematurely closed connection` from nginx, 503 `UF`/`UC` from
    Envoy. nginx itself stops fast on SIGTERM and gracefully on QUIT
    (`nginx -s quit`; the official image sets `STOPSIGNAL SIGQUIT`).

    **Severity**: a warning (5xx during deploys) when the failure is certain
    or seen: a strategy that leaves no ready pod, a grace period the preStop
    uses up, or a terminating pod the kubelet already finds refusing
    connections (`Readiness probe failed: ... connect: connection refused`
    after its deletion began); and when the trigger is visible now: pods
    (or endpoints) of the workload terminating at capture time, or a
    StatefulSet update rolling. Otherwise (no preStop, no readiness probe)
    it is information while the controller replaced pods in the last 30
    minutes, and nothing at all for a workload whose last rollout is older:
    a risk at every rollout, not proof of today's 5xx.

    **Fix**: a preStop sleep of 5-15 s (the patch uses 10), a grace period
    longer than the sleep plus the app's drain, `maxUnavailable: 0` with a
    surge, and a readiness probe.

    **Sources**: Kubernetes "Pod Lifecycle", Termination of Pods (default
    grace 30 s; terminating endpoints are not ready; the 2 s extension);
    "Container Lifecycle Hooks" (the grace period covers the hook and the
    stop); KEP-3960 "Pod lifecycle sleep action" (alpha 1.29, beta 1.30,
    stable 1.34) and KEP-4818 (a zero sleep, stable 1.34); "Deployments"
    (`maxUnavailable` default 25% rounded down, `maxSurge` 25% rounded up,
    `minReadySeconds` default 0); nginx "Controlling nginx" (TERM, INT: fast
    shutdown; QUIT: graceful shutdown); kubernetes/ingress-nginx#3639,
    #7097 (502s during rolling updates without a preStop sleep).
    """
    servings = serving_containers(snap, target)
    native = _native_sleep(snap)
    for workload in workloads(snap, target):
        rollout = _rollout(snap, target, workload)
        if rollout is None:
            continue
        mine = [s for s in servings if s.owner is workload]
        grace = grace_period(pod_template_spec(workload))
        problems = [p for s in mine for p in _container_problems(workload, s, grace, native)]
        problems += [p for p in (strategy_problem(workload), _readiness_gap(workload, mine)) if p]
        if not problems:
            continue
        # Without a failure that is certain or seen, the finding is a risk, not
        # a verdict, and only worth a word while pods are being replaced.
        evident = rollout.refusing or any(p.certain for p in problems)
        if not evident and not rollout.recent:
            continue
        yield Draft(
            subject=workload.ref,
            title=(
                f"{workload.kind} {workload.name} behind Service {target.name} drops requests "
                f"when its pods are replaced: {'; '.join(p.text for p in problems)}"
            ),
            explanation=(
                f"Pods of {workload.kind} {workload.name} are replaced or removed "
                f"({rollout.summary}). A deleted pod is told to stop while proxies still route "
                "to it for a moment, so requests in that window fail: nginx 502 'connect() "
                "failed (111: Connection refused)' or 'upstream prematurely closed connection', "
                "Envoy 503 UF/UC."
            ),
            evidence=(*(p.evidence for p in problems), *rollout.evidence),
            confirm=(
                f"kubectl rollout history -n {workload.namespace} {kubectl.resource(workload)}",
                kubectl.events(workload),
                kubectl.endpoint_slices(target.service),
                kubectl.get_yaml(workload, "{.spec.template.spec.containers[*].lifecycle}"),
            ),
            fix=_fix(workload, problems, native),
            # Pods leaving now are the trigger itself (issue 10 §7): today's
            # 5xx, not a risk for the next deploy.
            severity=None if evident or rollout.now else Severity.INFO,
            confidence=0.8 if evident else 0.6 if rollout.now else 0.5,
        )
