"""keepalive-race: the proxy in front of a Service keeps idle connections
open longer than the app does, so the app closes one as the proxy sends on it
(502 from ingress-nginx, 503 UC from Envoy).

What the proxy is configured to do comes from `views/frontend.py`; what the
app server does from `why5xx.appservers`. Both cite their defaults."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from why5xx import kubectl
from why5xx.appservers import AppServer, app_server, with_option
from why5xx.evidence import fact
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.backend import Serving, serving_containers
from why5xx.views.frontend import (
    controller_logs,
    destination_rule,
    duration_seconds,
    istio_sidecar,
    nginx_routes,
    route_evidence,
    traffic_policy,
)
from why5xx.views.ports import service_ports
from why5xx.views.service import ServiceTarget

# Envoy's `common_http_protocol_options.idle_timeout` when unset: 1 hour
# (envoy api/envoy/config/core/v3/protocol.proto, HttpProtocolOptions).
ENVOY_IDLE_TIMEOUT = 3600.0

# The headroom the fixes propose above a proxy's timeout.
_MARGIN = 15


def _workload_patch(serving: Serving, field: str, words: list[str]) -> str:
    return kubectl.json_patch(
        serving.owner, [{"op": "replace", "path": f"{serving.pointer}/{field}", "value": words}]
    )


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
                kubectl.get_ref_yaml(controller.configmap_ref),
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


@rule(
    cause="keepalive-race",
    inputs=("Service", "Pod"),
    reads=("ConfigMap", "Ingress", "IngressClass", "DestinationRule"),
    severity=Severity.WARNING,
)
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
