"""connection-pool-exhausted: connection pools and circuit breakers in the
proxy in front of a Service (Istio, Contour, Envoy Gateway, ingress-nginx's
workers) too small for the load, or an autoscaler at its ceiling."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.backend import workloads
from why5xx.views.frontend import (
    backend_traffic_policies,
    controller_logs,
    destination_rule,
    nginx_routes,
    route_evidence,
    traffic_policy,
)
from why5xx.views.pods import condition
from why5xx.views.ports import service_ports
from why5xx.views.service import ServiceTarget, autoscalers

# Below this many concurrent requests per proxy instance a limit is "low"
# whatever the replica count: one slow request can fill it.
MIN_CONCURRENCY = 10

_UNLIMITED = 2**32 - 1  # Istio's default for the connectionPool limits

_ENVOY_DEFAULT = 1024  # Envoy's circuit-breaker default (Contour, Envoy Gateway)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolLimit:
    """How many concurrent requests one proxy instance lets through to the
    Service before it rejects (503 `UO` for Envoy)."""

    proxy: str
    cap: int
    terms: str  # how the cap is made, e.g. "maxConnections 2 + http1MaxPendingRequests 1"
    evidence: tuple[Evidence, ...]
    confirm: tuple[str, ...]
    patch: str
    setting: str  # what to raise
    symptom: str = "Envoy rejects at once with 503 and response flag UO (upstream overflow)"


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _envoy_cap(
    settings: Mapping[str, Any], names: tuple[str, str, str], default: int
) -> tuple[int, str] | None:
    """Envoy's thresholds: (connections + pending) for HTTP/1 queueing, and
    parallel requests for all; None when none is set."""
    connections, pending, requests = (_int(settings.get(n)) for n in names)
    if connections is None and pending is None and requests is None:
        return None
    c = connections if connections is not None else default
    p = pending if pending is not None else default
    r = requests if requests is not None else default
    cap = min(c + p, r)
    terms = f"{names[2]} {r}" if r < c + p else f"{names[0]} {c} + {names[1]} {p}"
    return cap, terms


def _istio_limit(snap: Snapshot, target: ServiceTarget) -> PoolLimit | None:
    rule_obj = destination_rule(snap, target.service)
    if rule_obj is None:
        return None
    ports = service_ports(target.service)
    policy, path = traffic_policy(rule_obj, ports[0].port if ports else None)
    pool = policy.get("connectionPool") or {}
    flat = {**(pool.get("tcp") or {}), **(pool.get("http") or {})}
    found = _envoy_cap(
        flat, ("maxConnections", "http1MaxPendingRequests", "http2MaxRequests"), _UNLIMITED
    )
    if found is None:
        return None
    cap, terms = found
    fields = {
        "maxConnections": f"{path}.connectionPool.tcp.maxConnections",
        "http1MaxPendingRequests": f"{path}.connectionPool.http.http1MaxPendingRequests",
        "http2MaxRequests": f"{path}.connectionPool.http.http2MaxRequests",
    }
    return PoolLimit(
        proxy=f"DestinationRule {rule_obj.namespace}/{rule_obj.name}",
        cap=cap,
        terms=terms,
        evidence=tuple(
            fact(rule_obj, fields[name], str(flat[name])) for name in fields if name in flat
        ),
        confirm=(
            f"kubectl get destinationrule -n {rule_obj.namespace} {rule_obj.name} -o yaml",
            kubectl.endpoint_slices(target.service),
        ),
        patch=kubectl.json_patch(
            rule_obj,
            [
                {"op": "remove", "path": kubectl.field_pointer(fields[name])}
                for name in fields
                if name in flat
            ],
        ),
        setting="the connectionPool limits (remove them, or size them to the peak concurrency)",
    )


def _contour_limit(target: ServiceTarget) -> PoolLimit | None:
    service = target.service
    names = ("max-connections", "max-pending-requests", "max-requests")
    settings = {
        n: service.annotations[f"projectcontour.io/{n}"]
        for n in names
        if f"projectcontour.io/{n}" in service.annotations
    }
    found = _envoy_cap(settings, names, _ENVOY_DEFAULT)
    if found is None:
        return None
    cap, terms = found
    return PoolLimit(
        proxy=f"Contour's Envoy (annotations on Service {service.name})",
        cap=cap,
        terms=terms,
        evidence=tuple(
            fact(
                service,
                f"metadata.annotations[projectcontour.io/{n}]",
                str(v),
                expected=f"default {_ENVOY_DEFAULT}",
            )
            for n, v in settings.items()
        ),
        confirm=(kubectl.get_yaml(service, "{.metadata.annotations}"),),
        patch=f"kubectl annotate -n {service.namespace} service {service.name} "
        + " ".join(f"projectcontour.io/{n}-" for n in settings),
        setting="the projectcontour.io/max-* annotations (remove them for Envoy's 1024)",
    )


def _envoy_gateway_limits(snap: Snapshot, target: ServiceTarget) -> Iterator[PoolLimit]:
    names = ("maxConnections", "maxPendingRequests", "maxParallelRequests")
    for policy in backend_traffic_policies(snap, target.service):
        breaker = policy.spec.get("circuitBreaker") or {}
        found = _envoy_cap(breaker, names, _ENVOY_DEFAULT)
        if found is None:
            continue
        cap, terms = found
        yield PoolLimit(
            proxy=f"BackendTrafficPolicy {policy.namespace}/{policy.name} (Envoy Gateway)",
            cap=cap,
            terms=terms,
            evidence=tuple(
                fact(
                    policy,
                    f"spec.circuitBreaker.{n}",
                    str(breaker[n]),
                    expected=f"default {_ENVOY_DEFAULT}",
                )
                for n in names
                if n in breaker
            ),
            confirm=(
                f"kubectl get backendtrafficpolicy -n {policy.namespace} {policy.name} -o yaml",
            ),
            patch=kubectl.remove_field(policy, "spec.circuitBreaker"),
            setting="spec.circuitBreaker (remove it for Envoy's 1024, or size it to the peak)",
        )


def _nginx_worker_limit(snap: Snapshot, target: ServiceTarget) -> Iterator[PoolLimit]:
    """nginx counts client and upstream connections, idle keep-alive ones
    included, against `max-worker-connections`."""
    seen: set[str] = set()
    for route in nginx_routes(snap, target.service):
        controller = route.nginx
        if controller is None or str(controller.configmap_ref) in seen:
            continue
        seen.add(str(controller.configmap_ref))
        workers = controller.setting("max-worker-connections")
        idle = controller.setting("upstream-keepalive-connections")
        limit, cached = _int(workers.value), _int(idle.value)
        if workers.defaulted or not limit or cached is None:
            continue  # 0 means "max-worker-open-files"; unset is the 16384 default
        cap = max((limit - cached) // 2, 0)
        yield PoolLimit(
            proxy=f"ingress-nginx ({controller.configmap_ref.namespace}/"
            f"{controller.configmap_ref.name})",
            cap=cap,
            terms=f"(max-worker-connections {limit} - upstream-keepalive-connections {cached}) / 2"
            " per worker",
            evidence=(
                route_evidence(route, target.service),
                workers.evidence(expected="default 16384"),
                idle.evidence(),
            ),
            confirm=(
                kubectl.get_ref_yaml(controller.configmap_ref),
                controller_logs(controller, "worker_connections are not enough"),
            ),
            patch=f"kubectl patch configmap -n {controller.configmap_ref.namespace} "
            f"{controller.configmap_ref.name} --type json -p "
            + shlex.quote('[{"op":"remove","path":"/data/max-worker-connections"}]'),
            setting="max-worker-connections (remove it for the 16384 default)",
            symptom="nginx logs 'worker_connections are not enough' and fails the request",
        )


def _replicas(snap: Snapshot, target: ServiceTarget, workloads: Sequence[Obj]) -> int:
    """The pods the Service can have: now, and at the autoscaler's ceiling."""
    counts = [len(target.endpoints.ready) if target.endpoints else 0, len(target.live_pods)]
    for workload in workloads:
        counts.append(int(workload.spec.get("replicas") or 0))
        counts.extend(int(h.spec.get("maxReplicas") or 0) for h in autoscalers(snap, workload))
    return max(counts)


def _pool_draft(target: ServiceTarget, limit: PoolLimit, replicas: int) -> Draft:
    return Draft(
        subject=limit.evidence[0].object,
        title=(
            f"{limit.proxy} lets each proxy send at most {limit.cap} concurrent request"
            f"{'s' if limit.cap != 1 else ''} to Service {target.name} ({replicas} pods)"
        ),
        explanation=(
            f"{limit.proxy} caps concurrent requests to {target.name} at {limit.cap} "
            f"({limit.terms}). The limit holds per proxy instance for the whole Service, not "
            f"per pod, so it is reached below what the {replicas} pod(s) can serve; past it "
            f"{limit.symptom}."
        ),
        evidence=limit.evidence,
        confirm=limit.confirm,
        fix=Fix(
            summary=f"Raise {limit.setting}: at least the peak concurrency, and never below "
            "the number of pods.",
            patch=limit.patch,
        ),
        confidence=0.75,
    )


def _ceiling_draft(hpa: Obj, workload: Obj, target: ServiceTarget) -> Draft:
    limited = condition(hpa, "ScalingLimited") or {}
    maximum = int(hpa.spec.get("maxReplicas") or 0)
    return Draft(
        subject=hpa.ref,
        title=(
            f"HorizontalPodAutoscaler {hpa.name} wants more than maxReplicas {maximum} for "
            f"{workload.kind} {workload.name}: the pods behind {target.name} are saturated"
        ),
        explanation=(
            f"The autoscaler runs {workload.kind} {workload.name} at its ceiling of {maximum} "
            "replicas and reports that it needs more (ScalingLimited, TooManyReplicas). Requests "
            "queue in the pods and in the proxies in front of them: connection and pending "
            "limits overflow (503, Envoy UO) and slow answers hit read timeouts (504)."
        ),
        evidence=(
            fact(
                hpa,
                "status.conditions[ScalingLimited]",
                (
                    f"{limited.get('status')} {limited.get('reason')}: "
                    f"{limited.get('message', '')}".strip()
                ),
            ),
            fact(
                hpa,
                "spec.maxReplicas",
                str(maximum),
                expected=(
                    f"> {maximum} (status.currentReplicas {hpa.status.get('currentReplicas', '?')})"
                ),
            ),
        ),
        confirm=(f"kubectl describe hpa -n {hpa.namespace} {hpa.name}",),
        fix=Fix(
            summary=(
                f"Raise maxReplicas of {hpa.name} (and check the cluster has room for them), "
                "or give each pod more CPU so fewer are needed."
            ),
            patch=kubectl.merge_patch(hpa, {"spec": {"maxReplicas": maximum * 2}}),
        ),
        confidence=0.7,
    )


@rule(
    cause="connection-pool-exhausted",
    inputs=("Service",),
    reads=(
        "ConfigMap",
        "Ingress",
        "IngressClass",
        "HorizontalPodAutoscaler",
        "DestinationRule",
        "HTTPRoute",
        "GRPCRoute",
        "BackendTrafficPolicy",
    ),
    severity=Severity.WARNING,
)
def connection_pool_exhausted(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The proxy's connection limits, or the autoscaler's ceiling, are reached under load.

    **What it finds**:

    - an Istio DestinationRule for the Service whose `connectionPool` lets
      fewer concurrent requests through than the Service has pods (counting
      the HorizontalPodAutoscaler's `maxReplicas`), or fewer than 10:
      `tcp.maxConnections` plus `http.http1MaxPendingRequests`, or
      `http.http2MaxRequests` (active requests, HTTP/1.1 and HTTP/2),
      whichever is lower. Istio's default for each is 2^32-1, i.e. no limit.
    - the same thresholds set through Contour's Service annotations
      `projectcontour.io/max-connections`, `max-pending-requests`,
      `max-requests`, and Envoy Gateway's `BackendTrafficPolicy`
      `spec.circuitBreaker` (`maxConnections`, `maxPendingRequests`,
      `maxParallelRequests`); both default to Envoy's 1024.
    - ingress-nginx with `max-worker-connections` (default 16384) set so low
      that, after the idle upstream connections it caches
      (`upstream-keepalive-connections`, default 320), a worker has fewer
      than 10 request slots (each proxied request holds two connections).
    - a HorizontalPodAutoscaler on the Service's workload at `maxReplicas`
      with condition `ScalingLimited=True`, reason `TooManyReplicas` ("the
      desired replica count is more than the maximum replica count").

    Envoy applies circuit-breaker thresholds per proxy instance to the whole
    upstream cluster, not per pod (Envoy Gateway: "counters are not
    synchronized across different Envoy processes").

    **Why it is a 5xx**: past the limit Envoy rejects at once with 503 and
    response flag `UO` (upstream overflow); at the autoscaler's ceiling the
    pods saturate and queue, which surfaces as overflows and read timeouts.
    The rule cannot see traffic: confirm with `UO` in the access logs or the
    cluster's `upstream_rq_pending_overflow` stat.

    **Fix**: raise or remove the limit (size it to the peak concurrency, per
    proxy instance), or raise `maxReplicas`.

    **Sources**: Istio DestinationRule reference (`ConnectionPoolSettings`,
    defaults 2^32-1); Envoy `circuit_breaker.proto` (`max_connections`,
    `max_pending_requests`, `max_requests`: "If not specified, the default is
    1024"); Contour annotations reference ("Contour specific Service
    annotations": max-connections, max-pending-requests and max-requests
    default to 1024); Envoy Gateway "Circuit Breakers"
    task (`BackendTrafficPolicy`); ingress-nginx `configmap.md`
    (`max-worker-connections` 16384); Kubernetes HPA controller
    (`pkg/controller/podautoscaler/horizontal.go`, `TooManyReplicas`).
    """
    behind = workloads(snap, target)
    replicas = _replicas(snap, target, behind)
    limits: list[PoolLimit] = []
    istio = _istio_limit(snap, target)
    contour = _contour_limit(target)
    limits.extend(x for x in (istio, contour) if x is not None)
    limits.extend(_envoy_gateway_limits(snap, target))
    for limit in limits:
        if limit.cap < max(replicas, MIN_CONCURRENCY):
            yield _pool_draft(target, limit, replicas)
    for limit in _nginx_worker_limit(snap, target):
        if limit.cap < MIN_CONCURRENCY:
            yield _pool_draft(target, limit, replicas)
    for workload in behind:
        for hpa in autoscalers(snap, workload):
            limited = condition(hpa, "ScalingLimited") or {}
            at_max = int(hpa.status.get("currentReplicas") or 0) >= int(
                hpa.spec.get("maxReplicas") or 0
            )
            if at_max and (limited.get("status"), limited.get("reason")) == (
                "True",
                "TooManyReplicas",
            ):
                yield _ceiling_draft(hpa, workload, target)
