"""Causes in how the proxy in front of a Service talks to it, when the
Service has endpoints but answers go wrong: idle keep-alive connections the
app closes first, connection pools and circuit breakers too small for the
load, read timeouts shorter than the app's own, and the wrong protocol.

What the proxy is configured to do comes from `rules/frontend.py`; what the
app server does from `why5xx.appservers`. Both cite their defaults.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.appservers import AppServer, app_server, with_option
from why5xx.evidence import fact
from why5xx.model import Draft, Evidence, Fix, ObjectRef, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.backend import Serving, serving_containers, workloads
from why5xx.views.frontend import (
    NGINX_ANNOTATION,
    IngressRoute,
    Value,
    backend_traffic_policies,
    controller_logs,
    destination_rule,
    duration_seconds,
    istio_sidecar,
    nginx_routes,
    route_evidence,
    traffic_policy,
    virtual_service_routes,
)
from why5xx.views.pods import condition
from why5xx.views.ports import ServicePort, service_ports
from why5xx.views.routes import ingress_backends
from why5xx.views.service import ServiceTarget, autoscalers

# Envoy's `common_http_protocol_options.idle_timeout` when unset: 1 hour
# (envoy api/envoy/config/core/v3/protocol.proto, HttpProtocolOptions).
ENVOY_IDLE_TIMEOUT = 3600.0
# The headroom the fixes propose above a proxy's timeout.
_MARGIN = 15


def _ref_yaml(ref: ObjectRef) -> str:
    return f"kubectl get {ref.kind.lower()} -n {ref.namespace} {ref.name} -o yaml"


def _workload_patch(serving: Serving, field: str, words: list[str]) -> str:
    return kubectl.json_patch(
        serving.owner, [{"op": "replace", "path": f"{serving.pointer}/{field}", "value": words}]
    )


# --- keepalive-race ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleProxy:
    """A proxy that reuses idle connections to the Service, and for how long."""

    name: str
    seconds: float
    symptom: str  # what the proxy logs when it loses the race
    evidence: tuple[Evidence, ...]
    confirm: tuple[str, ...]
    envoy: bool = False
    mesh: Obj | None = None  # the DestinationRule to patch, for Envoy


def _nginx_idle(snap: Snapshot, target: ServiceTarget) -> list[IdleProxy]:
    out: dict[str, IdleProxy] = {}
    for route in nginx_routes(snap, target.service):
        controller = route.nginx
        if controller is None or str(controller.configmap_ref) in out:
            continue
        connections = controller.setting("upstream-keepalive-connections")
        if connections.value == "0":
            continue  # upstream keep-alive is off: every request opens a new connection
        idle = controller.setting("upstream-keepalive-timeout")
        if idle.seconds is None:
            continue
        out[str(controller.configmap_ref)] = IdleProxy(
            name=f"ingress-nginx (Ingress {route.ingress.name})",
            seconds=idle.seconds,
            symptom="nginx answers 502 with 'upstream prematurely closed connection' or "
            "'104: Connection reset by peer'",
            evidence=(route_evidence(route, target.service), idle.evidence()),
            confirm=(
                _ref_yaml(controller.configmap_ref),
                controller_logs(
                    controller,
                    "upstream prematurely closed connection|104: Connection reset by peer",
                ),
            ),
        )
    return list(out.values())


def _envoy_idle(
    snap: Snapshot, target: ServiceTarget, servings: Sequence[Serving]
) -> IdleProxy | None:
    """Envoy in front of the app: its Istio sidecar, or any mesh client when a
    DestinationRule names the Service."""
    rule_obj = destination_rule(snap, target.service)
    sidecar = next((s for s in servings if istio_sidecar(s.pod_spec)), None)
    if rule_obj is None and sidecar is None:
        return None
    ports = service_ports(target.service)
    evidence: list[Evidence] = []
    seconds = ENVOY_IDLE_TIMEOUT
    if rule_obj is not None:
        policy, path = traffic_policy(rule_obj, ports[0].port if ports else None)
        value = ((policy.get("connectionPool") or {}).get("http") or {}).get("idleTimeout")
        seconds = duration_seconds(value) or ENVOY_IDLE_TIMEOUT
        evidence.append(
            fact(
                rule_obj,
                f"{path}.connectionPool.http.idleTimeout",
                str(value) if value else "not set (Envoy default 1h)",
            )
        )
    if sidecar is not None:
        evidence.append(
            fact(
                sidecar.owner,
                "spec.template.spec.containers[istio-proxy]",
                "Istio sidecar (Envoy) in front of the app",
            )
        )
    confirm = [
        f"kubectl get destinationrule -n {rule_obj.namespace} {rule_obj.name} -o yaml"
        if rule_obj is not None
        else f"kubectl get destinationrules -A | grep {target.name}"
    ]
    if sidecar is not None:
        confirm.append(
            f"kubectl logs -n {target.namespace} {kubectl.resource(sidecar.owner)} "
            "-c istio-proxy | grep ' UC '"
        )
    return IdleProxy(
        name="Envoy (Istio)",
        seconds=seconds,
        symptom="Envoy answers 503 with response flag UC (upstream connection termination)",
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        envoy=True,
        mesh=rule_obj,
    )


def _keepalive_fix(
    serving: Serving, server: AppServer, proxies: Sequence[IdleProxy], target: ServiceTarget
) -> Fix:
    nginx = [p.seconds for p in proxies if not p.envoy]
    want = int(max(nginx, default=60)) + _MARGIN
    lines: list[str] = []
    if server.server == "node":
        lines.append(f"# in the server code: {server.keepalive_fix(want)}")
    elif server.keepalive is not None and server.keepalive.field.startswith("env["):
        variable = server.keepalive.field[4:-1]
        value = (
            f"{want}"
            if variable != "GUNICORN_CMD_ARGS"
            else shlex.join(["--keep-alive", str(want)])
        )
        lines.append(
            f"kubectl set env -n {serving.owner.namespace} {kubectl.resource(serving.owner)}"
            f" -c {serving.name} {variable}={shlex.quote(value)}"
        )
    else:
        field, words = with_option(serving.container, server.keepalive_flag, str(want))
        lines.append(_workload_patch(serving, field, words))
    for proxy in proxies:
        if not proxy.envoy:
            continue
        idle = f"{want - _MARGIN}s"
        if proxy.mesh is not None:
            lines.append(
                kubectl.merge_patch(
                    proxy.mesh,
                    {
                        "spec": {
                            "trafficPolicy": {"connectionPool": {"http": {"idleTimeout": idle}}}
                        }
                    },
                )
            )
        else:
            lines.append(
                f"# and a DestinationRule for {target.name}.{target.namespace}.svc.cluster.local "
                f"with trafficPolicy.connectionPool.http.idleTimeout: {idle}"
            )
    return Fix(
        summary=(
            f"Let {server.server} keep idle connections open longer than every proxy in front "
            f"of it: {server.keepalive_fix(want)}; the proxy must be the side that closes idle "
            "connections first."
        ),
        patch="\n".join(lines),
    )


@rule(cause="keepalive-race", inputs=("Service", "Pod"), severity=Severity.WARNING)
def keepalive_race(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The app closes idle keep-alive connections before the proxy in front of it does.

    **What it finds**: a container behind the Service whose HTTP server keeps
    an idle keep-alive connection open for no longer than the proxy that
    reuses connections to it:

    - the proxy side: ingress-nginx, for the Ingresses routing to the
      Service, keeps idle upstream connections `upstream-keepalive-timeout`
      seconds (ConfigMap; default 60, with `upstream-keepalive-connections`
      default 320; `0` connections turns upstream keep-alive off and the
      rule with it). Envoy (an Istio sidecar on the pods, or any mesh client
      when a DestinationRule names the Service) keeps them for
      `connectionPool.http.idleTimeout`, default 1 hour (Envoy
      `HttpProtocolOptions.idle_timeout`).
    - the app side, from the container's command, args and env
      (`why5xx.appservers`): gunicorn `--keep-alive` (default 2 s; the
      default `sync` worker keeps no connection alive and never races),
      uvicorn `--timeout-keep-alive` (default 5 s), hypercorn `--keep-alive`
      (default 5 s), Node.js `server.keepAliveTimeout` (5 s through Node.js
      25, 65 s from Node.js 26; read only from an official `node:<major>`
      image).

    **Why it is a 5xx**: the proxy sends a request on a pooled connection at
    the moment the app's idle timer closes it. nginx answers 502 with
    `upstream prematurely closed connection while reading response header
    from upstream` or `recv() failed (104: Connection reset by peer)`; Envoy
    answers 503 with response flag `UC`. nginx retries idempotent requests on
    another connection, so the failures that surface are mostly POST and
    PATCH, clustered after idle gaps and worse at low traffic. AWS's load
    balancer guidance states the rule: the application's idle timeout must
    be larger than the proxy's.

    **Fix**: raise the app's keep-alive timeout above the proxy's (the patch
    sets it 15 s above), or lower the proxy's idle timeout below the app's.
    A default read from a command line can still be overridden by a config
    file inside the image: the finding says when a value is a default.

    **Sources**: ingress-nginx `docs/user-guide/nginx-configuration/configmap.md`
    (`upstream-keepalive-timeout` 60, `upstream-keepalive-connections` 320);
    Envoy `api/envoy/config/core/v3/protocol.proto` (`idle_timeout`: "If not
    specified, this defaults to 1 hour"); Istio DestinationRule reference
    (`ConnectionPoolSettings.HTTPSettings.idleTimeout`); gunicorn
    `gunicorn/config.py` (`Keepalive` default 2, `WorkerClass` default
    `sync`, "sync worker does not support persistent connections");
    uvicorn `uvicorn/main.py` (`--timeout-keep-alive` default 5,
    `auto_envvar_prefix="UVICORN"`); hypercorn `config.py`
    (`keep_alive_timeout = 5 * SECONDS`); Node.js `doc/api/http.md`
    (`server.keepAliveTimeout`, 5000 ms; 65000 ms since nodejs/node#62782,
    Node.js 26); AWS "Application Load Balancer attributes", connection idle
    timeout.
    """
    servings = serving_containers(snap, target)
    proxies = _nginx_idle(snap, target)
    envoy = _envoy_idle(snap, target, servings)
    if envoy is not None:
        proxies.append(envoy)
    if not proxies:
        return
    for serving in servings:
        server = app_server(serving.container)
        if server is None or server.keepalive is None:
            continue
        app = server.keepalive
        racing = [p for p in proxies if app.seconds <= p.seconds]
        if not racing:
            continue
        worst = max(racing, key=lambda p: p.seconds)
        owner = serving.owner
        note = f" ({server.note})" if server.note else ""
        yield Draft(
            subject=owner.ref,
            title=(
                f"{server.server} in {owner.kind} {owner.name} closes idle connections after "
                f"{app.seconds:g} s, before {worst.name} does ({worst.seconds:g} s)"
            ),
            explanation=(
                f"{' and '.join(p.name for p in racing)} "
                f"{'reuses' if len(racing) == 1 else 'reuse'} idle connections to Service "
                f"{target.name} for up to {worst.seconds:g} s, but container {serving.name} "
                f"runs {server.server}{note}, which closes them after {app.seconds:g} s "
                f"({app.text}). A request sent on a connection the app is closing fails: "
                f"{'; '.join(p.symptom for p in racing)}; mostly POST/PATCH, after idle gaps."
            ),
            evidence=(
                fact(
                    owner,
                    f"{serving.path}.{app.field}",
                    app.text,
                    expected=f"> {worst.seconds:g} s (the proxy's idle timeout)",
                ),
                *(e for p in racing for e in p.evidence),
            ),
            confirm=tuple(dict.fromkeys(c for p in racing for c in p.confirm)),
            fix=_keepalive_fix(serving, server, racing, target),
            confidence=0.8 if app.explicit else 0.55 if server.server == "node" else 0.65,
        )


# --- connection-pool-exhausted -----------------------------------------------

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
                _ref_yaml(controller.configmap_ref),
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


@rule(cause="connection-pool-exhausted", inputs=("Service",), severity=Severity.WARNING)
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


# --- upstream-timeout --------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadTimeout:
    """How long a proxy waits for the Service's answer, on one route."""

    proxy: str
    seconds: float
    evidence: tuple[Evidence, ...]
    confirm: tuple[str, ...]
    patch: str  # with {seconds} to fill in


def _read_timeouts(snap: Snapshot, target: ServiceTarget) -> list[ReadTimeout]:
    out: list[ReadTimeout] = []
    for route in nginx_routes(snap, target.service):
        if route.nginx is None:
            continue
        value: Value = route.nginx.setting("proxy-read-timeout", route.ingress)
        if value.seconds is None:
            continue
        ingress = route.ingress
        out.append(
            ReadTimeout(
                proxy=f"Ingress {ingress.name} (ingress-nginx proxy-read-timeout)",
                seconds=value.seconds,
                evidence=(route_evidence(route, target.service), value.evidence()),
                confirm=(
                    kubectl.get_yaml(ingress, "{.metadata.annotations}"),
                    controller_logs(route.nginx, "upstream timed out .* while reading"),
                ),
                patch=f"kubectl annotate -n {ingress.namespace} ingress {ingress.name} --overwrite"
                f" {NGINX_ANNOTATION}proxy-read-timeout={{seconds}}"
                f" {NGINX_ANNOTATION}proxy-send-timeout={{seconds}}",
            )
        )
    for mesh in virtual_service_routes(snap, target.service):
        timeout = mesh.spec.get("timeout")
        seconds = duration_seconds(timeout)
        if not seconds:
            continue  # unset or 0s: Istio sets no route timeout
        vs = mesh.virtual_service
        out.append(
            ReadTimeout(
                proxy=f"VirtualService {vs.name} (Istio route timeout)",
                seconds=seconds,
                evidence=(fact(vs, f"{mesh.field}.timeout", str(timeout)),),
                confirm=(f"kubectl get virtualservice -n {vs.namespace} {vs.name} -o yaml",),
                patch=kubectl.json_patch(
                    vs,
                    [
                        {
                            "op": "replace",
                            "path": f"/spec/http/{mesh.index}/timeout",
                            "value": "{seconds}s",
                        }
                    ],
                ),
            )
        )
    return out


@rule(cause="upstream-timeout", inputs=("Service", "Pod"), severity=Severity.WARNING)
def upstream_timeout(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The proxy gives up on the backend before the backend's own timeout does.

    **What it finds**: a proxy read timeout on a route to the Service that is
    shorter than the request timeout the app server behind it is configured
    with, i.e. than the time its owners allow a request to take:

    - the proxy side: ingress-nginx `proxy-read-timeout`, from the Ingress
      annotation `nginx.ingress.kubernetes.io/proxy-read-timeout`, else the
      controller's ConfigMap, else the default 60 s (`proxy-connect-timeout`
      5 s and `proxy-send-timeout` 60 s are the other two); an Istio
      VirtualService route's `timeout` (unset: no route timeout).
    - the app side: gunicorn's worker `--timeout`/`-t` set explicitly in the
      command, args or `GUNICORN_CMD_ARGS` (default 30 s: workers silent
      longer are killed). Only a value the spec sets counts, as evidence of
      what the backend needs; the default says nothing about it.

    **Why it is a 5xx**: a request that takes longer than the proxy's read
    timeout but less than the app's limit is still being worked on when the
    proxy answers 504: nginx logs `upstream timed out (110: Connection timed
    out) while reading response header from upstream`, Envoy sets response
    flag `UT`. The work the app finishes afterwards is thrown away.

    **Fix**: raise the proxy's read (and send) timeout on that route to the
    app's limit, or lower the app's limit and make slow endpoints
    asynchronous. Proxy access logs (`$upstream_response_time` near the
    timeout) confirm it.

    **Sources**: ingress-nginx `configmap.md` (`proxy-read-timeout` 60,
    `proxy-send-timeout` 60, `proxy-connect-timeout` 5) and `annotations.md`
    ("Custom timeouts", unitless seconds); Istio VirtualService reference
    (`HTTPRoute.timeout`, disabled by default); gunicorn `config.py`
    (`Timeout`, default 30; 0 disables it); nginx `ngx_http_upstream_module`
    (504 on "upstream timed out").
    """
    proxies = _read_timeouts(snap, target)
    if not proxies:
        return
    for serving in serving_containers(snap, target):
        server = app_server(serving.container)
        limit = server.request_timeout if server else None
        if server is None or limit is None or not limit.explicit or limit.seconds <= 0:
            continue
        short = [p for p in proxies if p.seconds < limit.seconds]
        if not short:
            continue
        owner = serving.owner
        tightest = min(short, key=lambda p: p.seconds)
        want = int(limit.seconds) + 5
        yield Draft(
            subject=tightest.evidence[0].object,
            title=(
                f"{tightest.proxy} waits {tightest.seconds:g} s for Service {target.name}, "
                f"but {server.server} in {owner.kind} {owner.name} lets a request run "
                f"{limit.seconds:g} s ({limit.text})"
            ),
            explanation=(
                f"Requests to {target.name} that take between {tightest.seconds:g} s and "
                f"{limit.seconds:g} s are still running in container {serving.name} when the "
                "proxy gives up and answers 504 (nginx 'upstream timed out ... while reading "
                "response header from upstream', Envoy UT). The app's own limit says its "
                "owners expect requests that long."
            ),
            evidence=(
                *(e for p in short for e in p.evidence),
                fact(
                    owner,
                    f"{serving.path}.{limit.field}",
                    limit.text,
                    expected=f"<= {tightest.seconds:g} s, or a longer proxy timeout",
                ),
            ),
            confirm=tuple(dict.fromkeys(c for p in short for c in p.confirm)),
            fix=Fix(
                summary=(
                    f"Give the route at least the app's limit: a read timeout of {want} s; or "
                    f"lower {server.server}'s {limit.text.split()[0]} and move slow work out "
                    "of the request."
                ),
                patch="\n".join(p.patch.replace("{seconds}", str(want)) for p in short),
            ),
            confidence=0.7,
        )


# --- backend-protocol-mismatch -----------------------------------------------

TLS, HTTP, GRPC, H2C = "TLS", "HTTP", "gRPC", "h2c"
# What each ingress-nginx backend-protocol speaks to the upstream.
_NGINX_SPEAKS: Mapping[str, frozenset[str]] = {
    "HTTP": frozenset({HTTP}),
    "HTTPS": frozenset({TLS}),
    "GRPC": frozenset({GRPC, H2C}),
    "GRPCS": frozenset({GRPC, TLS}),
}
_FIX_FOR = {TLS: "HTTPS", GRPC: "GRPC", H2C: "GRPC", HTTP: "HTTP"}
_APP_PROTOCOLS = {
    "https": TLS,
    "tls": TLS,
    "kubernetes.io/wss": TLS,
    "http": HTTP,
    "kubernetes.io/ws": HTTP,
    "grpc": GRPC,
    "kubernetes.io/h2c": H2C,
    "h2c": H2C,
}
_NAME_PROTOCOLS = {"https": TLS, "tls": TLS, "http": HTTP, "grpc": GRPC, "h2c": H2C}
_TLS_PORTS = frozenset({443, 8443})


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """What a Service port says its backend speaks, and how it says it."""

    protocol: str
    how: str  # "appProtocol https", "port name https-api", "port number 8443"
    field: str
    strong: bool  # appProtocol or a name, not just a number


def _by_name(name: str) -> str | None:
    # Istio's convention, `<protocol>[-<suffix>]`; grpc-web is HTTP/1.1-compatible.
    prefix = name.lower().split("-", 1)[0]
    if name.lower().startswith("grpc-web"):
        return HTTP
    return _NAME_PROTOCOLS.get(prefix)


def declared_protocol(port: ServicePort, raw: Mapping[str, Any]) -> Declared | None:
    """The backend protocol a Service port declares: `appProtocol`, else its
    name, else a named targetPort, else the TLS port numbers 443/8443."""
    field = port.field
    app = str(raw.get("appProtocol") or "").lower()
    if app in _APP_PROTOCOLS:
        return Declared(
            protocol=_APP_PROTOCOLS[app],
            how=f"appProtocol {app}",
            field=f"{field}.appProtocol",
            strong=True,
        )
    for name, where in ((port.name, "name"), (port.target, "targetPort")):
        if isinstance(name, str) and name and (found := _by_name(name)):
            return Declared(
                protocol=found, how=f"port {where} {name}", field=f"{field}.{where}", strong=True
            )
    numbers = {port.port, port.target} & _TLS_PORTS
    if numbers:
        return Declared(
            protocol=TLS,
            how=f"port number {min(numbers)}",
            field=f"{field}.port",
            strong=False,
        )
    return None


def _service_port(
    target: ServiceTarget, name: str | None, number: int | None
) -> tuple[ServicePort, Mapping[str, Any]] | None:
    raws = list(target.service.spec.get("ports") or ())
    for port in service_ports(target.service):
        if (name and port.name == name) or (number is not None and port.port == number):
            return port, raws[port.index]
    return None


@rule(cause="backend-protocol-mismatch", inputs=("Service", "Ingress"))
def backend_protocol_mismatch(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """ingress-nginx speaks a different protocol than the Service port says its backend speaks.

    **What it finds**: an Ingress served by ingress-nginx whose backend
    Service port declares TLS, gRPC or cleartext HTTP/2 (`appProtocol`
    `https`, `grpc`, `kubernetes.io/h2c`; a port or targetPort name
    `https`, `grpc`, `h2c`, with Istio's `<protocol>-<suffix>` convention;
    or the port number 443/8443) while the Ingress's
    `nginx.ingress.kubernetes.io/backend-protocol` is unset (default
    `HTTP`) or names another protocol; and the reverse, `HTTPS`, `GRPC` or
    `GRPCS` towards a port that declares plain `http`. Valid values of the
    annotation: `HTTP`, `HTTPS`, `GRPC`, `GRPCS`, `AUTO_HTTP`, `FCGI`
    (ingress-nginx annotations.md, "Backend Protocol"); `AUTO_HTTP` and
    `FCGI` are not judged.

    **Why it is a 5xx**: plain HTTP/1.1 sent to a TLS port gets the
    connection closed (502, `upstream prematurely closed connection`) or an
    nginx backend's 400 "The plain HTTP request was sent to HTTPS port";
    HTTP/1.1 sent to a gRPC/h2c server is refused (502, `upstream sent no
    valid HTTP/1.0 header`); TLS sent to a plaintext port fails the
    handshake (502, `SSL_do_handshake() failed ... wrong version number`).
    Every request through that Ingress fails.

    **Fix**: set the annotation to what the backend speaks. It applies to
    every path of the Ingress, so backends that speak different protocols
    need separate Ingresses. A port declared only by its number is reported
    as a warning: name the port (or set `appProtocol`) to make it explicit.

    **Sources**: ingress-nginx `annotations.md` ("Backend Protocol"; NGINX
    uses HTTP by default); Kubernetes "Service" concepts (`appProtocol`:
    IANA names or `kubernetes.io/h2c`, `kubernetes.io/ws`,
    `kubernetes.io/wss`); Istio "Protocol Selection" (port name
    `<protocol>[-<suffix>]`).
    """
    for route in nginx_routes(snap, target.service):
        ingress = route.ingress
        annotation = NGINX_ANNOTATION + "backend-protocol"
        speaks = str(ingress.annotations.get(annotation, "HTTP")).strip().upper()
        if speaks not in _NGINX_SPEAKS:
            continue
        for backend in route.backends:
            found = _service_port(target, backend.port_name, backend.port_number)
            if found is None:
                continue
            port, raw = found
            declared = declared_protocol(port, raw)
            if declared is None or declared.protocol in _NGINX_SPEAKS[speaks]:
                continue
            if declared.protocol == HTTP and speaks == "HTTP":
                continue
            yield _protocol_draft(target, route, backend.field, port, declared, speaks)
            break


def _protocol_draft(
    target: ServiceTarget,
    route: IngressRoute,
    field: str,
    port: ServicePort,
    declared: Declared,
    speaks: str,
) -> Draft:
    ingress, service = route.ingress, target.service
    annotation = NGINX_ANNOTATION + "backend-protocol"
    want = _FIX_FOR[declared.protocol]
    others = {b.service for b in ingress_backends(ingress)} - {service.name}
    split = (
        f" The annotation applies to every backend of {ingress.name} ({', '.join(sorted(others))}"
        " too): move this path to its own Ingress if they speak differently."
        if others
        else ""
    )
    set_by = "set" if annotation in ingress.annotations else "unset, so the default"
    return Draft(
        subject=ingress.ref,
        title=(
            f"Ingress {ingress.name} speaks {speaks} to port {port} of Service {service.name}, "
            f"which declares {declared.protocol} ({declared.how})"
        ),
        explanation=(
            f"ingress-nginx talks to {service.name} as backend-protocol {speaks} ({set_by}), "
            f"but the Service port declares {declared.protocol}. The upstream cannot parse what "
            "nginx sends (or nginx cannot parse the answer), so every request through this "
            "Ingress gets a 502."
        ),
        evidence=(
            fact(
                ingress,
                f"metadata.annotations[{annotation}]",
                ingress.annotations.get(annotation, "<unset> (HTTP)"),
                expected=want,
            ),
            fact(service, declared.field, declared.how),
            fact(ingress, f"{field}.service", f"{service.name}:{port.name or port.port}"),
        ),
        confirm=(
            kubectl.get_yaml(ingress, "{.metadata.annotations}"),
            kubectl.get_yaml(service, "{.spec.ports}"),
            *(
                [
                    controller_logs(
                        route.nginx,
                        "prematurely closed|no valid HTTP|SSL_do_handshake|wrong version number",
                    )
                ]
                if route.nginx
                else []
            ),
        ),
        fix=Fix(
            summary=(
                f"Set {annotation} to {want} on Ingress {ingress.name}, or correct the port's "
                f"name/appProtocol if the backend does not speak {declared.protocol}.{split}"
            ),
            patch=f"kubectl annotate -n {ingress.namespace} ingress {ingress.name} --overwrite "
            f"{annotation}={want}",
        ),
        severity=None if declared.strong else Severity.WARNING,
        confidence=0.85 if declared.strong else 0.6,
    )
