"""How the proxies in front of a Service and the app behind it treat idle
connections."""

from __future__ import annotations

from collections.abc import Iterator

from why5xx.lint.base import check
from why5xx.lint.checks.common import service_rule
from why5xx.lint.manifests import Manifests
from why5xx.lint.model import Level, Problem, Scope
from why5xx.snapshot import Obj


@check(
    code="W5X701",
    name="keepalive-shorter-than-proxy",
    level=Level.WARNING,
    scope=Scope.SERVICE,
)
def keepalive_shorter_than_proxy(manifests: Manifests, service: Obj) -> Iterator[Problem]:
    """The app behind the Service closes idle keep-alive connections before its proxy does.

    **What it finds**: what the diagnosis rule `keepalive-race` finds, run
    over the manifests (its logic, `rules/proxy/keepalive.py` with
    `why5xx.appservers`, is shared, not copied): a container behind the
    Service whose server (gunicorn with a worker that keeps connections,
    uvicorn, hypercorn, Node.js from an official `node:<major>` image)
    keeps idle connections no longer than the proxy that reuses them:
    ingress-nginx's `upstream-keepalive-timeout` (default 60 s) when the
    manifests hold the controller or its ConfigMap, Envoy's
    `connectionPool.http.idleTimeout` (default 1 h) when they hold a
    DestinationRule for the Service.

    **Why it is a 5xx**: the proxy sends a request on a connection at the
    moment the app closes it: nginx answers 502 (`upstream prematurely
    closed connection`), Envoy 503 `UC`, mostly on POST and after idle gaps.

    **Fix**: raise the app's keep-alive timeout above the proxy's (e.g.
    gunicorn `--keep-alive 75` behind ingress-nginx's 60 s), or lower the
    proxy's idle timeout below the app's.
    """
    backed = manifests.backed(service)
    if backed is not None and backed.servings:
        yield from service_rule("keepalive-race", manifests, backed)
