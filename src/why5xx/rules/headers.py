"""The backend's response headers do not fit the buffer ingress-nginx reads
them into.

ingress-nginx settings come from `views/frontend.py` (annotation, else
ConfigMap, else default); apps known to send large headers from
`why5xx.appservers.big_headers`. From cluster state the evidence is
indirect, so the rule speaks only on strong signs and as a warning; the
controller's own log line ("upstream sent too big header"), read with
`diagnose --logs`, confirms it and makes it critical.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from why5xx import kubectl
from why5xx.appservers import BigHeaders, big_headers
from why5xx.evidence import fact
from why5xx.model import Draft, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Snapshot
from why5xx.views.backend import Serving, serving_containers
from why5xx.views.frontend import (
    NGINX_ANNOTATION,
    IngressRoute,
    Value,
    controller_logs,
    nginx_routes,
    route_evidence,
)
from why5xx.views.service import ServiceTarget

DEFAULT_BUFFER = 4096  # ingress-nginx's proxy-buffer-size, "4k"
ADVISED = "16k"  # ingress-nginx's JWT guide: "In general a value of 16k should get you covered"
_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_SIGNAL = "upstream sent too big header"


def size_bytes(text: str) -> int | None:
    """An nginx size (`4096`, `4k`, `8K`, `1m`) in bytes."""
    found = _SIZE.match(text.strip())
    return int(found[1]) * _UNITS[found[2].lower()] if found else None


@rule(
    cause="upstream-header-too-big",
    inputs=("Service", "Ingress"),
    reads=("ConfigMap", "IngressClass"),
    severity=Severity.WARNING,
)
def upstream_header_too_big(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """ingress-nginx's proxy-buffer-size is too small for the headers the backend sends.

    **What it finds**: an Ingress served by ingress-nginx that routes to the
    Service, whose effective `proxy-buffer-size` (the annotation
    `nginx.ingress.kubernetes.io/proxy-buffer-size`, else the controller
    ConfigMap's `proxy-buffer-size`, else the default `4k`) is

    - explicitly lowered below the 4k default, or
    - at most 4k while the Service's pods run an app known to send large
      response headers: oauth2-proxy with its default cookie session store
      (sessions, tokens included, live in cookies; over 4 KB they are split
      into `_oauth2_proxy_0`, `_1`...), or Keycloak (a login response sets
      `AUTH_SESSION_ID`, `KC_RESTART`, `KEYCLOAK_IDENTITY` and
      `KEYCLOAK_SESSION` at once).

    Cluster state cannot show how big the headers really are, so the rule
    reports a warning. With `diagnose --logs`, the controller's error log
    line `upstream sent too big header while reading response header from
    upstream` is counted for this cause: it confirms the finding (critical
    when it explains most of the 5xx), or names the cause on its own for any
    other app.

    **Why it is a 5xx**: nginx reads the status line and all response
    headers into one buffer of `proxy_buffer_size`. Headers that do not fit
    are not truncated: nginx logs the line above and answers 502. Typically
    only some responses fail (a login callback setting big cookies, a large
    JWT or CSP header), so users see 502s on sign-in while the rest works.

    **Fix**: raise the buffer on the Ingress (the patch sets 16k, which
    ingress-nginx's JWT guide calls enough in general; ingress-nginx sizes
    `proxy_buffers` from the same value), or remove the lowered ConfigMap
    value; or make the app send smaller headers (oauth2-proxy
    `--session-store-type=redis`).

    **Sources**: ingress-nginx `annotations.md` ("Proxy buffer size": "By
    default proxy buffer size is set as \"4k\"") and `configmap.md`
    (`proxy-buffer-size`); ingress-nginx `docs/examples/customization/jwt`
    ("upstream sent too big header while reading response header from
    upstream"; "a value of 16k should get you covered"); `nginx.tmpl`
    (`proxy_buffers {{ BuffersNumber }} {{ BufferSize }}`); nginx
    `ngx_http_proxy_module` (`proxy_buffer_size`: "the first part of the
    response ... usually contains a small response header"); oauth2-proxy
    "Session Storage" (cookie store is the default), oauth2-proxy#483,
    oauth2-proxy#1993; keycloak#23824; bitnami/charts#9043.
    """
    routes = nginx_routes(snap, target.service)
    if not routes:
        return
    apps = [
        (s, found) for s in serving_containers(snap, target) if (found := big_headers(s.container))
    ]
    seen: set[tuple[str, str]] = set()
    for route in routes:
        if route.nginx is None:
            continue
        value = route.nginx.setting("proxy-buffer-size", route.ingress)
        size = size_bytes(value.value)
        if size is None:
            continue
        lowered = not value.defaulted and size < DEFAULT_BUFFER
        if not lowered and not (apps and size <= DEFAULT_BUFFER):
            continue
        key = (str(value.object), value.field)
        if key not in seen:
            seen.add(key)
            yield _draft(target, route, value, lowered, apps)


def _draft(
    target: ServiceTarget,
    route: IngressRoute,
    value: Value,
    lowered: bool,
    apps: Sequence[tuple[Serving, BigHeaders]],
) -> Draft:
    ingress, service = route.ingress, target.service
    annotation = NGINX_ANNOTATION + "proxy-buffer-size"
    if apps:
        app = apps[0][1]
        title = (
            f"{app.app} behind Service {service.name} sends large response headers, but "
            f"Ingress {ingress.name}'s proxy-buffer-size is {value.value}"
        )
        why = f" {app.reason}."
    else:
        title = (
            f"Ingress {ingress.name}'s proxy-buffer-size is {value.value}, below ingress-nginx's "
            f"4k default: responses of Service {service.name} with larger headers get a 502"
        )
        why = ""
    if lowered:
        why += f" The buffer was lowered to {value.value} ({value.origin})."
    evidence = [
        value.evidence(expected=f"{ADVISED} or more" if apps else "4k (the default) or more"),
        route_evidence(route, service),
        *(fact(s.owner, f"{s.path}.{a.field}", a.text) for s, a in apps[:2]),
    ]
    confirm = [kubectl.get_yaml(ingress, "{.metadata.annotations}")]
    if route.nginx is not None:
        confirm.append(controller_logs(route.nginx, _SIGNAL))
    configured = value.object.kind == "ConfigMap" and not value.defaulted
    if configured:
        confirm.append(
            f"kubectl get configmap -n {value.object.namespace} {value.object.name} "
            "-o jsonpath='{.data.proxy-buffer-size}'"
        )
    scope = (
        f" It is set in {value.origin}, for every Ingress of that controller." if configured else ""
    )
    return Draft(
        subject=ingress.ref,
        title=title,
        explanation=(
            "ingress-nginx reads a response's status line and headers into one buffer of "
            f"proxy-buffer-size ({value.value}); when they do not fit, nginx logs "
            f"'{_SIGNAL} while reading response header from upstream' and answers 502.{why}"
        ),
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        fix=Fix(
            summary=(
                f"Raise proxy-buffer-size to {ADVISED} for Ingress {ingress.name} (ingress-nginx "
                f"sizes proxy_buffers from it too), or have the app send smaller headers.{scope}"
            ),
            patch=f"kubectl annotate -n {ingress.namespace} ingress {ingress.name} --overwrite "
            f"{annotation}={ADVISED}",
        ),
        confidence=0.8 if lowered and apps else 0.6,
    )
