"""The cause catalogue: the stable ids of DESIGN.md, in causal order.

The order is what ranking uses between findings of equal severity: a cause
earlier in the list explains the ones after it (a crash loop explains a
failing readiness probe; a failing probe explains missing endpoints), so
the root cause is read first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Cause:
    id: str
    http_status: tuple[int, ...]
    signal: str


CAUSES: tuple[Cause, ...] = (
    Cause(
        id="ingress-class-missing",
        http_status=(404, 503),
        signal="Ingress names no existing IngressClass / no controller picks it up",
    ),
    Cause(
        id="route-not-attached",
        http_status=(404, 503),
        signal="HTTPRoute's parent Gateway is missing, did not accept it, or is not programmed",
    ),
    Cause(
        id="ingress-backend-missing",
        http_status=(503,),
        signal="Ingress/HTTPRoute backend names a Service or port that does not exist",
    ),
    Cause(
        id="external-name-dns",
        http_status=(502, 503),
        signal="an ExternalName Service names a host that does not resolve or is refused "
        "(a missing in-cluster Service, localhost, an IP address), or ingress-nginx reaches "
        "it on the wrong port",
    ),
    Cause(
        id="mesh-destination-missing",
        http_status=(503,),
        signal="a VirtualService routes to a host or subset that does not exist, "
        "or to a DestinationRule subset whose labels select no pod",
    ),
    Cause(
        id="no-matching-workload",
        http_status=(503,),
        signal="the Service selector matches no pod and no workload, with no near miss",
    ),
    Cause(
        id="selector-mismatch",
        http_status=(503,),
        signal="the Service selector matches no pod, but pods differ by one label (near miss)",
    ),
    Cause(
        id="scaled-to-zero",
        http_status=(503,),
        signal="the workload behind the selector has 0 replicas",
    ),
    Cause(
        id="pods-pending",
        http_status=(503,),
        signal="pods unschedulable or blocked on a missing volume, ConfigMap or Secret",
    ),
    Cause(
        id="image-pull",
        http_status=(503,),
        signal="ErrImagePull / ImagePullBackOff",
    ),
    Cause(
        id="oom-killed",
        http_status=(502, 503),
        signal="last termination reason OOMKilled at the memory limit",
    ),
    # A loopback-only listener makes every probe fail: it explains the slow
    # start, crash loop and failing probe the rules after it would report.
    Cause(
        id="listen-localhost",
        http_status=(502,),
        signal="the container serves on 127.0.0.1/localhost, so the pod IP refuses connections",
    ),
    Cause(
        id="slow-startup",
        http_status=(503,),
        signal="probes fail only while starting; liveness kills the container before it is ready",
    ),
    Cause(
        id="crash-loop",
        http_status=(502, 503),
        signal="CrashLoopBackOff / restarts, with the last exit code and reason",
    ),
    Cause(
        id="target-port-mismatch",
        http_status=(502, 503),
        signal="Service targetPort matches no containerPort / named port of the selected pods",
    ),
    Cause(
        id="readiness-probe-failing",
        http_status=(503,),
        signal="pods Running but not Ready; probe failures persist",
    ),
    Cause(
        id="endpoints-terminating",
        http_status=(502, 503),
        signal="every endpoint is terminating (drain, rollout, eviction)",
    ),
    # Endpoints exist, but the answers are bad: hard failures first (they
    # explain the timeouts and resets the later causes describe), then what
    # fails only during deploys, under load, or after idle gaps.
    Cause(
        id="network-policy-block",
        http_status=(502, 504),
        signal="a NetworkPolicy admits no traffic from the proxy's pods to the backend port",
    ),
    Cause(
        id="backend-protocol-mismatch",
        http_status=(502,),
        signal="HTTPS/gRPC/HTTP2 backend spoken to as plain HTTP/1, or the reverse",
    ),
    Cause(
        id="mtls-mismatch",
        http_status=(503,),
        signal="mesh mTLS mode and DestinationRule TLS disagree, or a client without a sidecar "
        "calls a STRICT workload",
    ),
    Cause(
        id="mesh-port-protocol",
        http_status=(503,),
        signal="Service port name/appProtocol declares another protocol than the app speaks",
    ),
    Cause(
        id="upstream-header-too-big",
        http_status=(502,),
        signal="the upstream's response headers do not fit ingress-nginx's proxy-buffer-size",
    ),
    Cause(
        id="rollout-no-prestop",
        http_status=(502, 503),
        signal="5xx around rollouts: no preStop drain, grace period not longer than the sleep, "
        "or a strategy that leaves no ready pod",
    ),
    Cause(
        id="connection-pool-exhausted",
        http_status=(502, 503),
        signal="proxy connection/pending limits or the autoscaler's ceiling hit under load",
    ),
    Cause(
        id="upstream-timeout",
        http_status=(504,),
        signal="the proxy's read timeout is shorter than the backend is allowed to take",
    ),
    Cause(
        id="keepalive-race",
        http_status=(502,),
        signal="the upstream closes idle keep-alive connections before the proxy does",
    ),
    # Amplifies any of the above: the errors they cause eject every host.
    Cause(
        id="outlier-ejected",
        http_status=(503,),
        signal="outlier detection can eject every host on a few errors (Envoy UH)",
    ),
)

BY_ID: dict[str, Cause] = {cause.id: cause for cause in CAUSES}
RANK: dict[str, int] = {cause.id: position for position, cause in enumerate(CAUSES)}
