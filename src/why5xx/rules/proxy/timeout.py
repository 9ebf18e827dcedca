"""upstream-timeout: a proxy's read timeout shorter than the time the app
takes to answer, so the proxy gives up first with a 504."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from why5xx import kubectl
from why5xx.appservers import app_server
from why5xx.evidence import fact
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Snapshot
from why5xx.views.backend import serving_containers
from why5xx.views.frontend import (
    NGINX_ANNOTATION,
    Value,
    controller_logs,
    duration_seconds,
    nginx_routes,
    route_evidence,
    virtual_service_routes,
)
from why5xx.views.service import ServiceTarget


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


@rule(
    cause="upstream-timeout",
    inputs=("Service", "Pod"),
    reads=("ConfigMap", "Ingress", "IngressClass", "VirtualService"),
    severity=Severity.WARNING,
)
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
