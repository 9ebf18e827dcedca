"""Causes where the Service's endpoints are all on their way out: every pod
behind it is terminating (a rollout, a drain, an eviction) and none is ready."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from why5xx import kubectl
from why5xx.evidence import MAX_NAMED, fact
from why5xx.kube import format_duration, label_selector_matches, parse_time, selector_string
from why5xx.model import Draft, Evidence, Fix
from why5xx.rules.base import rule
from why5xx.snapshot import Event, Obj, Snapshot, distinct
from why5xx.views.pods import condition, container_states, pod_ready, pod_terminating
from why5xx.views.revisions import REVISION_ANNOTATION
from why5xx.views.service import ServiceTarget

# How the node lifecycle controller, the kubelet and the scheduler word a pod's removal.
_REMOVAL_REASONS = ("TaintManagerEviction", "Evicted", "Preempted", "Killing")


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaving:
    """A terminating pod and how far it is through its grace period."""

    pod: Obj
    deadline: str  # metadata.deletionTimestamp: when the kubelet kills what is left
    grace: int | None  # metadata.deletionGracePeriodSeconds
    remaining: float | None  # seconds from snap.now to the deadline; negative when overdue

    @property
    def countdown(self) -> str:
        grace = f"grace {self.grace}s, " if self.grace is not None else ""
        if self.remaining is None:
            return f"{grace}time left unknown"
        if self.remaining >= 0:
            return f"{grace}{format_duration(self.remaining)} left"
        return f"{grace}overdue by {format_duration(-self.remaining)}"


def _all_terminating(target: ServiceTarget) -> bool:
    """No endpoint is ready and the ones there are terminating. EndpointSlices
    keep terminating endpoints; legacy Endpoints drop them, so without
    slices the pods' deletionTimestamps tell."""
    endpoints = target.endpoints
    if endpoints is not None and endpoints.endpoints:
        return not endpoints.ready and bool(endpoints.terminating)
    return not any(pod_ready(p) for p in target.live_pods) and any(
        pod_terminating(p) for p in target.pods
    )


def _leaving(snap: Snapshot, target: ServiceTarget) -> list[Leaving]:
    out = []
    for pod in target.pods:
        if not pod_terminating(pod):
            continue
        deadline = str(pod.metadata.get("deletionTimestamp"))
        when = parse_time(deadline)
        grace = pod.metadata.get("deletionGracePeriodSeconds")
        out.append(
            Leaving(
                pod=pod,
                deadline=deadline,
                grace=int(grace) if grace is not None else None,
                remaining=(when - snap.now).total_seconds() if when else None,
            )
        )
    return out


def _deployment_of(snap: Snapshot, owner: Obj) -> Obj | None:
    parent = snap.owner(owner) if owner.kind == "ReplicaSet" else None
    return parent if parent is not None and parent.kind == "Deployment" else None


def _event_evidence(event: Event) -> Evidence:
    count = f" (x{event.count})" if event.count > 1 else ""
    when = f" at {event.last:%Y-%m-%dT%H:%M:%SZ}" if event.last else ""
    return Evidence(
        object=event.regarding,
        field=f"event {event.reason}",
        observed=f"{event.message}{count}{when}",
        source=event.source,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """What took the pods away, told from events and the objects' state."""

    sentences: list[str]
    evidence: list[Evidence]
    evicted: bool  # taint-based or node-pressure eviction, or a drained node
    rollouts: list[Obj]  # Deployments whose rollout scaled the pods' ReplicaSet down
    nodes: list[str]  # nodes the leaving pods ran on
    node_objects: list[Obj]  # those of them in the snapshot


def _removals(
    snap: Snapshot, leaving: list[Leaving], sentences: list[str], evidence: list[Evidence]
) -> bool:
    """The pods' own events (evictions, preemption, the kubelet's Killing);
    True when pods were evicted."""
    removed: dict[str, list[str]] = {}
    latest: dict[str, Event] = {}
    for item in leaving:
        for event in snap.events_for("Pod", item.pod.namespace, item.pod.name):
            if event.reason in _REMOVAL_REASONS:
                removed.setdefault(event.reason, []).append(item.pod.name)
                latest[event.reason] = event
    evidence += [_event_evidence(e) for e in latest.values()]  # one example of each
    names = removed.get("TaintManagerEviction") or removed.get("Evicted")
    if names:
        sentences.append(f"{len(names)} pod(s) were evicted ({', '.join(names[:MAX_NAMED])}).")
    if "Preempted" in removed:
        sentences.append("Pods were preempted by higher-priority pods.")
    return bool(names)


def _node_state(node: Obj, sentences: list[str], evidence: list[Evidence]) -> bool:
    """A cordoned, tainted or not-ready node under the pods; True when cordoned."""
    taints = [
        f"{t.get('key')}:{t.get('effect')}"
        for t in node.spec.get("taints") or ()
        if t.get("effect") in ("NoExecute", "NoSchedule")
    ]
    cordoned = bool(node.spec.get("unschedulable"))
    ready = condition(node, "Ready")
    if not (taints or cordoned or (ready and ready.get("status") != "True")):
        return False
    parts = [f"Node {node.name}"]
    if ready is not None and ready.get("status") != "True":
        parts.append(
            f"is Ready={ready.get('status')} ({str(ready.get('message', '')).rstrip('.')})"
        )
    if cordoned:
        parts.append("is cordoned (drained)")
    if taints:
        parts.append(f"carries {', '.join(taints)}")
    sentences.append(f"{parts[0]} {', '.join(parts[1:])}.")
    evidence.append(
        fact(node, "spec.taints" if taints else "spec.unschedulable", ", ".join(taints) or "true")
    )
    return cordoned


def _rollouts(
    snap: Snapshot, owners: list[Obj], sentences: list[str], evidence: list[Evidence]
) -> list[Obj]:
    """Deployments that scaled down the pods' ReplicaSet: by the deployment
    controller's events, or (events expire) a ReplicaSet revision older than
    the Deployment's."""
    found: list[Obj] = []
    for owner in owners:
        deployment = _deployment_of(snap, owner)
        if deployment is None:
            continue
        scaled = [
            e
            for e in snap.events_for("Deployment", deployment.namespace, deployment.name)
            if e.message.startswith(f"Scaled down replica set {owner.name} ")
        ]
        revision = deployment.annotations.get(REVISION_ANNOTATION)
        superseded = owner.annotations.get(REVISION_ANNOTATION) not in (None, revision)
        if not (scaled or superseded):
            continue
        found.append(deployment)
        if scaled:
            evidence.append(_event_evidence(scaled[-1]))
        at = f" to revision {revision}" if revision else ""
        sentences.append(
            f"Deployment {deployment.name} is rolling out{at} and scaled down "
            f"ReplicaSet {owner.name}, which ran them."
        )
        if (deployment.spec.get("strategy") or {}).get("type") == "Recreate":
            sentences.append(
                "With strategy Recreate, new pods start only once every old pod is gone."
            )
    return found


def _story(snap: Snapshot, leaving: list[Leaving], owners: list[Obj]) -> Story:
    sentences: list[str] = []
    evidence: list[Evidence] = []
    evicted = _removals(snap, leaving, sentences, evidence)
    nodes = list(dict.fromkeys(str(i.pod.spec.get("nodeName") or "") for i in leaving))
    node_objects = [n for name in nodes if name and (n := snap.get("Node", "", name))]
    for node in node_objects:
        evicted = _node_state(node, sentences, evidence) or evicted
    rollouts = _rollouts(snap, owners, sentences, evidence)
    return Story(
        sentences=sentences,
        evidence=evidence,
        evicted=evicted,
        rollouts=rollouts,
        nodes=nodes,
        node_objects=node_objects,
    )


def _pod_blocker(pod: Obj) -> str:
    """Why a replacement pod does not serve yet, in a few words."""
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return f"{scheduled.get('reason', 'not scheduled')}: {scheduled.get('message', '')}".strip()
    for state in container_states(pod):
        if state.state == "waiting" and state.reason:
            return f"container {state.name} {state.reason}"
        if state.state == "running" and not state.ready:
            started = f" since {state.started_at:%H:%M:%S}Z" if state.started_at else ""
            return f"container {state.name} running{started}, not ready yet"
    return str(pod.status.get("phase") or "not ready")


def _replacements(
    snap: Snapshot, target: ServiceTarget, owners: list[Obj], deployments: list[Obj]
) -> tuple[str, list[Evidence]]:
    """The state of the pods that should take over: the non-terminating
    selected pods, or, when there are none, why their controller made none."""
    starting = target.live_pods
    if starting:
        evidence = [
            fact(pod, "status", _pod_blocker(pod), expected="Ready") for pod in starting[:MAX_NAMED]
        ]
        return (
            f"{len(starting)} replacement pod(s) exist but none is ready yet "
            f"({_pod_blocker(starting[0])}).",
            evidence,
        )
    if not owners:
        return "Nothing replaces them: the pods have no controller (Deployment...).", []
    replica_sets = [rs for d in deployments for rs in snap.owned(d, "ReplicaSet")]
    controllers = distinct([*owners, *replica_sets])
    failed = [
        e
        for c in controllers
        for e in snap.events_for(c.kind, c.namespace, c.name)
        if e.reason == "FailedCreate"
    ]
    if failed:
        return f"No replacement pod exists: {failed[-1].message}.", [_event_evidence(failed[-1])]
    return "No replacement pod exists yet.", []


def _strategy_patch(deployment: Obj) -> tuple[str, Evidence] | None:
    """A rollout that keeps old pods until new ones are Ready, unless the
    Deployment already has one."""
    strategy = deployment.spec.get("strategy") or {}
    kind = str(strategy.get("type") or "RollingUpdate")
    rolling = strategy.get("rollingUpdate") or {}
    unavailable = rolling.get("maxUnavailable", "25%")
    surge = rolling.get("maxSurge", "25%")
    if kind != "Recreate" and str(unavailable) in ("0", "0%"):
        return None
    wanted = {
        "maxUnavailable": 0,
        "maxSurge": surge if kind != "Recreate" and str(surge) not in ("0", "0%") else 1,
    }
    patch = kubectl.merge_patch(
        deployment, {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": wanted}}}
    )
    evidence = fact(
        deployment,
        "spec.strategy",
        kind if kind == "Recreate" else f"RollingUpdate, maxUnavailable {unavailable}",
        expected="RollingUpdate with maxUnavailable 0",
    )
    return patch, evidence


def _disruption_patches(
    snap: Snapshot, target: ServiceTarget, deployments: list[Obj], story: Story
) -> list[str]:
    """A PodDisruptionBudget (drains respect it; taint-based evictions do not)
    and, when every pod ran on one node, a spread over nodes."""
    patches: list[str] = []
    protected = any(
        label_selector_matches(pdb.spec.get("selector"), pod.labels)
        for pdb in snap.list("PodDisruptionBudget", target.namespace)
        for pod in target.pods
    )
    if not protected:
        patches.append(
            f"kubectl create poddisruptionbudget {target.name} -n {target.namespace} "
            f"--selector={selector_string(target.selector)} --min-available=1"
        )
    if len(story.nodes) == 1 and deployments:
        spread = {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(target.selector)},
        }
        patches.append(
            f"# every pod ran on node {story.nodes[0]}: spread them (this starts a rollout)\n"
            + kubectl.merge_patch(
                deployments[0],
                {"spec": {"template": {"spec": {"topologySpreadConstraints": [spread]}}}},
            )
        )
    return patches


def _fix(
    snap: Snapshot, target: ServiceTarget, owners: list[Obj], deployments: list[Obj], story: Story
) -> tuple[Fix, list[Evidence]]:
    patches: list[str] = []
    evidence: list[Evidence] = []
    advice: list[str] = []
    for deployment in distinct(story.rollouts):
        found = _strategy_patch(deployment)
        if found is not None:
            patches.append(found[0])
            evidence.append(found[1])
    if story.rollouts:
        advice.append(
            "roll out with maxUnavailable 0 and maxSurge of at least 1 (not Recreate), "
            "with minReadySeconds, so old pods go only once new ones are Ready"
        )
    if story.evicted:
        patches += _disruption_patches(snap, target, deployments, story)
        advice.append(
            "run at least 2 replicas spread over nodes, with a PodDisruptionBudget for drains "
            "(taint-based evictions do not respect PDBs)"
        )
    if not owners:
        advice.append("run the pods from a Deployment with at least 2 replicas, so others serve")
    elif target.live_pods:
        advice.append("clear what keeps the replacement pods from becoming Ready")
    summary = "Keep a ready pod through every change: " + "; ".join(advice) + "."
    return Fix(summary=summary, patch="\n".join(patches) or None), evidence


def _overdue_note(overdue: list[Leaving]) -> str:
    """Why pods outlive their deletion deadline: a finalizer, or a kubelet
    that cannot confirm the kill."""
    if not overdue:
        return ""
    finalizers = sorted({f for i in overdue for f in i.pod.metadata.get("finalizers") or ()})
    if finalizers:
        why = f"finalizers {', '.join(finalizers)} hold them"
    else:
        why = "their kubelet has not confirmed the kill (a node that is down keeps them forever)"
    return f"{len(overdue)} pod(s) are past their deletion deadline: {why}."


@rule(
    cause="endpoints-terminating", inputs=("Service", "Pod"), reads=("Node", "PodDisruptionBudget")
)
def endpoints_terminating(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """Every endpoint of the Service is terminating and none is ready.

    **What it finds**: a Service whose EndpointSlices list only terminating
    endpoints (`conditions.terminating: true`) and no ready one, or, without
    slices, whose selected pods all carry a `metadata.deletionTimestamp` while
    no other selected pod is Ready. It names the pods, the time left of their
    grace period (from the capture time), their ReplicaSet, what removed them
    (the deployment controller's "Scaled down replica set" events, the
    kubelet's `Killing`, the node lifecycle controller's
    `TaintManagerEviction` "Marking for deletion", a cordoned or tainted
    node), and what keeps the replacements from serving.

    **Why it is a 5xx**: terminating endpoints are not ready, so ingress
    controllers have no upstream and answer 503. kube-proxy (1.26 and later)
    falls back to terminating endpoints that still report `serving`, which
    close connections as the app exits: 502.

    **Fix**: make new pods Ready before old ones go: `maxUnavailable: 0`
    with `maxSurge` ≥ 1 (not `Recreate`) for rollouts, a PodDisruptionBudget
    and replicas spread over nodes for drains and evictions; then whatever
    blocks the replacement pods (scheduling, image, readiness).
    """
    if not _all_terminating(target):
        return
    leaving = _leaving(snap, target)
    service = target.service
    pods = [i.pod for i in leaving]
    owners = distinct(snap.owner(pod) for pod in pods)  # ReplicaSets, StatefulSets...
    deployments = distinct(_deployment_of(snap, owner) for owner in owners)
    story = _story(snap, leaving, owners)
    replacements, replacement_evidence = _replacements(snap, target, owners, deployments)
    fix, strategy_evidence = _fix(snap, target, owners, deployments, story)

    evidence: list[Evidence] = []
    endpoints = target.endpoints
    count, serving = len(leaving), sum(1 for i in leaving if pod_ready(i.pod))
    if endpoints is not None and endpoints.endpoints:
        count = len(endpoints.terminating)
        serving = sum(1 for e in endpoints.terminating if e.serving)
        source = endpoints.objects[0]
        evidence.append(
            fact(
                source,
                "endpoints[*].conditions",
                (
                    f"{count} terminating ({serving} still serving), "
                    f"0 ready of {len(endpoints.endpoints)}"
                ),
                expected="at least 1 ready",
            )
        )
    for item in leaving[:MAX_NAMED]:
        owner = snap.owner(item.pod)
        owned = f", {owner.kind} {owner.name}" if owner is not None else ""
        evidence.append(
            fact(
                item.pod, "metadata.deletionTimestamp", f"{item.deadline} ({item.countdown}{owned})"
            )
        )
    evidence += story.evidence + strategy_evidence + replacement_evidence

    named = ", ".join(p.name for p in pods[:MAX_NAMED])
    overdue = _overdue_note([i for i in leaving if i.remaining is not None and i.remaining < 0])
    notes = [*story.sentences, overdue, replacements]
    yield Draft(
        subject=service.ref,
        title=(
            f"Service {target.name} has no ready endpoint: "
            + (f"all {count} of its pods are" if count > 1 else "its pod is")
            + " terminating"
            + (f" ({named})" if named else "")
        ),
        explanation=(
            "Terminating endpoints are not ready, so ingress controllers have no upstream and "
            "answer 503; kube-proxy may still send to the ones that report serving, which close "
            "connections as the app exits (502). " + " ".join(n for n in notes if n)
        ),
        evidence=tuple(evidence),
        confirm=(
            kubectl.get_pods(target.namespace, target.selector, wide=True),
            kubectl.endpoint_slices(service),
            *(kubectl.events(o) for o in (deployments or owners)[:2]),
            *(kubectl.describe(node) for node in story.node_objects[:2]),
        ),
        fix=fix,
        confidence=0.9,
        http_status=(502, 503) if serving else (503,),
    )
