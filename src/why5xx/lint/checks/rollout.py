"""Workloads that drop requests when their pods are replaced: no preStop
drain, a grace period the drain uses up, no minReadySeconds, a strategy that
leaves no ready pod, one replica behind an Ingress."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from why5xx.lint.base import Relation, check, kube_linter, popeye
from why5xx.lint.checks.common import level_for, named, servings_of, workload_level
from why5xx.lint.manifests import Manifests, fewest_pods
from why5xx.lint.model import Level, Problem, Scope
from why5xx.lint.traffic import exposed
from why5xx.snapshot import Obj
from why5xx.views.pods import pod_template_spec
from why5xx.views.rollout import (
    DEFAULT_GRACE,
    PROPOSED_SLEEP,
    grace_period,
    prestop_drain,
    strategy_problem,
)

_ROLLED = ("Deployment", "StatefulSet", "DaemonSet")
_NO_DRAIN_PEERS = (
    kube_linter(None, Relation.ONLY_HERE, "no preStop or grace-period check in kube-linter"),
)


@check(
    code="W5X401",
    name="no-prestop-drain",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
    peers=_NO_DRAIN_PEERS,
)
def no_prestop_drain(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A container that an HTTP proxy sends requests to stops without draining first.

    **What it finds**: a container behind a Service with no preStop hook, or
    one that sleeps 0 s. A native `lifecycle.preStop.sleep` action, an
    `exec` that runs `sleep N` (alone or before a graceful quit), an
    `httpGet` or another command count as a drain (`views/rollout.py`,
    `prestop_drain`, as the diagnosis `rollout-no-prestop` reads it). A
    warning where a proxy fronts the workload (an Ingress, a Gateway API or
    mesh route, a `LoadBalancer` or `NodePort` Service, a headless Service
    with an HTTP or gRPC port) and the container is no datastore, cache or
    broker; `info` otherwise.

    **Why it is a 5xx**: when a pod is deleted, the kubelet stops it while
    the control plane removes it from the EndpointSlices; ingress-nginx,
    kube-proxy and Envoy learn of it a moment later. An app that exits on
    SIGTERM at once refuses the requests still routed to it: 502 during
    every rollout, scale-down and node drain.

    **Fix**: a preStop that suits the image: a sleep of 5-15 s,
    `lifecycle: {preStop: {sleep: {seconds: 10}}}` (Kubernetes 1.30+, no
    shell needed); nginx: `sleep 5 && nginx -s quit` (a graceful quit);
    Envoy: fail its health check and drain listeners through the admin
    API, then sleep.
    """
    for serving in servings_of(manifests, workload):
        drain = prestop_drain(serving.container)
        if drain is not None and drain.seconds != 0:
            continue
        yield Problem(
            subject=workload,
            field=f"{serving.path}.lifecycle.preStop",
            message=(
                f"Container {serving.name} of {named(workload)} serves Service "
                f"{', '.join(s.name for s in manifests.services_of(workload))} and stops without "
                f"a preStop drain ({drain.how if drain else 'no preStop'})"
            ),
            fix=f"Add to container {serving.name}: {_drain_for(serving.container)}",
            level=level_for(manifests, workload, serving.container),
        )


_NGINX_IMAGE = re.compile(r"(?:^|/)(?:nginx[\w.-]*|openresty)(?::|@|$)")
_ENVOY_IMAGE = re.compile(r"(?:^|/)envoy[\w.-]*(?::|@|$)")


def _drain_for(container: Mapping[str, Any]) -> str:
    """The preStop that suits the image: nginx quits gracefully, Envoy
    drains its listeners, anything else sleeps."""
    image = str(container.get("image", ""))
    if _NGINX_IMAGE.search(image):
        return (
            f'lifecycle: {{preStop: {{exec: {{command: [sh, -c, "sleep {PROPOSED_SLEEP} && '
            'nginx -s quit"]}}}} (a graceful quit once the endpoints are gone).'
        )
    if _ENVOY_IMAGE.search(image):
        return (
            'lifecycle: {preStop: {exec: {command: [sh, -c, "curl -s -X POST '
            "127.0.0.1:9901/healthcheck/fail; curl -s -X POST "
            f"'127.0.0.1:9901/drain_listeners?graceful'; sleep {PROPOSED_SLEEP}\"]}}}}}} "
            "(Envoy's admin port as configured; a drain time below the grace period)."
        )
    return (
        f"lifecycle: {{preStop: {{sleep: {{seconds: {PROPOSED_SLEEP}}}}}}} (Kubernetes 1.30+; "
        f'earlier: exec [sh, -c, "sleep {PROPOSED_SLEEP}"]).'
    )


@check(
    code="W5X402",
    name="grace-period-within-prestop",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
    peers=_NO_DRAIN_PEERS,
)
def grace_period_within_prestop(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """The pod's terminationGracePeriodSeconds is not longer than a container's preStop sleep.

    **What it finds**: a container behind a Service whose preStop sleeps at
    least as long as the pod's `terminationGracePeriodSeconds` (default 30).

    **Why it is a 5xx**: the grace period covers the preStop hook and the
    app's own shutdown: when the sleep uses it up, the kubelet kills the
    app (SIGKILL) with requests in flight, on every rollout: 502.

    **Fix**: make `terminationGracePeriodSeconds` longer than the sleep plus
    the time the app takes to finish its requests (sleep + 30 s is safe).
    """
    spec = pod_template_spec(workload)
    grace = grace_period(spec)
    for serving in servings_of(manifests, workload):
        drain = prestop_drain(serving.container)
        if drain is None or drain.seconds is None or drain.seconds < grace:
            continue
        default = " (the default)" if spec.get("terminationGracePeriodSeconds") is None else ""
        yield Problem(
            subject=workload,
            field=f"{serving.path.rsplit('.', 1)[0]}.terminationGracePeriodSeconds",
            message=(
                f"{named(workload)} gives its pods {grace} s{default} to stop, which container "
                f"{serving.name}'s preStop ({drain.how}) uses up"
            ),
            fix=(
                "Set terminationGracePeriodSeconds to at least "
                f"{int(drain.seconds) + DEFAULT_GRACE} (the sleep plus the app's own drain)."
            ),
            level=level_for(manifests, workload, serving.container),
        )


@check(
    code="W5X403",
    name="no-min-ready-seconds",
    level=Level.INFO,
    scope=Scope.WORKLOAD,
)
def no_min_ready_seconds(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A workload behind a Service counts a new pod available the moment it is ready.

    **What it finds**: a Deployment, StatefulSet or DaemonSet behind a
    Service with `minReadySeconds` unset or 0.

    **Why it is a 5xx**: a rollout then replaces the next old pod as soon as
    a new one passes one readiness check, before the proxies have it in
    their endpoints and before it has shown it stays up: a new version that
    fails after a few seconds takes the old pods with it, and the window in
    which fewer pods serve than planned is as short as it gets.

    **Fix**: set `spec.minReadySeconds` to a few seconds (5-15): the time
    for endpoints to propagate, and for a bad release to show it.
    """
    if workload.kind not in _ROLLED or not manifests.services_of(workload):
        return
    if int(workload.spec.get("minReadySeconds") or 0) > 0:
        return
    yield Problem(
        subject=workload,
        field="spec.minReadySeconds",
        message=f"{named(workload)} behind a Service has no minReadySeconds",
        fix=f"Set spec.minReadySeconds: {PROPOSED_SLEEP}.",
    )


@check(
    code="W5X404",
    name="rollout-drops-all-pods",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
    peers=(
        kube_linter(
            "no-rolling-update-strategy",
            Relation.STRICTER,
            "kube-linter's is off by default and only checks that the rolling parameters are "
            "set; why5xx resolves them against the replicas, as the controller does",
        ),
    ),
)
def rollout_drops_all_pods(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A Deployment behind a Service rolls out in a way that leaves no pod ready.

    **What it finds**: a Deployment behind a Service with the `Recreate`
    strategy, or whose `maxUnavailable` (default 25%, rounded down, as the
    deployment controller resolves it) is not below its replicas
    (`views/rollout.py`, `strategy_problem`, the diagnosis's own test).

    **Why it is a 5xx**: during the rollout every old pod is stopped before
    a new one is ready: the Service has no endpoints and answers 503 until
    the new pods pass their readiness probes. A warning where an HTTP proxy
    fronts the workload; `info` for datastores (which often need
    `Recreate`) and workloads no proxy fronts.

    **Fix**: `strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1,
    maxUnavailable: 0}}`. Keep `Recreate` only where two versions must never
    run together (then say so with a `why5xx.io/ignore` annotation).
    """
    if not manifests.services_of(workload):
        return
    problem = strategy_problem(workload)
    if problem is None:
        return
    yield Problem(
        subject=workload,
        field=problem.evidence.field,
        message=f"{named(workload)} behind a Service: {problem.text}",
        fix="Use strategy.type RollingUpdate with maxSurge: 1 and maxUnavailable: 0.",
        level=workload_level(manifests, workload),
    )


@check(
    code="W5X405",
    name="single-replica-behind-route",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
    peers=(
        kube_linter(
            "minimum-three-replicas",
            Relation.SAME,
            "kube-linter's is off by default and applies to every Deployment",
        ),
        popeye("1109", Relation.SAME, "on a live cluster only: a Service with a single endpoint"),
    ),
)
def single_replica_behind_route(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A workload that a proxy or load balancer sends traffic to runs a single pod.

    **What it finds**: a Deployment, StatefulSet, ReplicaSet or
    ReplicationController reached through a Service from an Ingress, a
    Gateway API route or an Istio VirtualService, or behind a `LoadBalancer`
    or `NodePort` Service or a headless Service with an HTTP or gRPC port
    (balanced pod by pod), with `replicas: 1` (or unset), or a
    HorizontalPodAutoscaler allowing one (`minReplicas` 1, the default).
    A single datastore, cache or broker is `info`: one replica is often
    all it can run.

    **Why it is a 5xx**: that pod's eviction (a node drain, an upgrade), its
    crash or its OOM kill leaves the Service without endpoints until a new
    pod is ready: 503 for the users of that route.

    **Fix**: run at least 2 replicas (or `minReplicas: 2`) with a
    PodDisruptionBudget of `maxUnavailable: 1`.
    """
    fronts = manifests.fronts_of(workload)
    if not fronts or fewest_pods(manifests, workload) != 1:
        return
    hpas = manifests.hpas_of(workload)
    allows = f" ({named(hpas[0])} allows 1)" if hpas else ""
    front = fronts[0]
    how = f" ({exposed(front)})" if front.kind == "Service" else ""
    yield Problem(
        subject=workload,
        field="spec.replicas",
        message=f"{named(workload)} runs a single pod behind {named(front)}{how}{allows}",
        fix=(
            "Run at least 2 replicas (spec.replicas, or the autoscaler's minReplicas), with a "
            "PodDisruptionBudget of maxUnavailable: 1."
        ),
        related=(*fronts, *hpas),
        level=workload_level(manifests, workload),
    )
