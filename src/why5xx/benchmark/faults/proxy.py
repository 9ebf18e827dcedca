"""Faults between the proxy and the pods: rollouts without a drain, connection
limits, timeouts and keep-alives that disagree."""

from __future__ import annotations

from why5xx.benchmark import fates, proxylog, shapes
from why5xx.benchmark.faults.base import (
    Injected,
    destination_rule_of,
    ingresses_of,
    log_5xx,
    new_image,
    recent,
    ref,
    serving_container,
    truth,
)
from why5xx.benchmark.workloads import App
from why5xx.benchmark.world import DAY, HOUR, MINUTE, Raw, World

# --- rollout-no-prestop ------------------------------------------------------


def _no_prestop(template: Raw) -> None:
    serving_container(template).pop("lifecycle", None)
    new_image(template)


def rollout_refused_in_logs(world: World, app: App) -> Injected:
    """A rolling update of pods without a preStop drain: the old pods stop
    at SIGTERM while ingress-nginx still sends them requests: 502s."""
    old = list(app.pods_of())
    for revision in app.revisions:
        serving_container(revision.template).pop("lifecycle", None)
    app.rollout(_no_prestop, fates.serving(), ago=world.rng.uniform(20, 60), mode="rolling")
    since = min(g.terminating or 0 for g in app.groups if g.terminating is not None)
    log_5xx(
        world,
        app,
        old,
        status=502,
        error=proxylog.REFUSED,
        took=0.001,
        within=since,
        count=world.rng.randrange(8, 30),
        methods=("GET", "POST"),
    )
    return Injected(
        truth=truth(
            app,
            "rollout-no-prestop",
            status=None,
            evidence=(ref("Deployment", app.namespace, app.name),),
            http=(502,),
        ),
        note=f"rolling update of {app.name} without preStop: 502s from the terminating pods",
    )


def prestop_as_long_as_grace(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        template["spec"]["terminationGracePeriodSeconds"] = 30
        serving_container(template)["lifecycle"] = {
            "preStop": {"exec": {"command": ["sleep", "30"]}}
        }
        new_image(template)

    app.rollout(change, fates.serving(), ago=recent(world))
    return Injected(
        truth=truth(
            app,
            "rollout-no-prestop",
            status="degraded",
            evidence=(ref("Deployment", app.namespace, app.name),),
        ),
        note=f"{app.name} sleeps 30 s in preStop with a 30 s grace period",
    )


def recreate_strategy(world: World, app: App) -> Injected:
    app.strategy = {"type": "Recreate"}
    app.rollout(new_image, fates.serving(), ago=recent(world), mode="recreate")
    return Injected(
        truth=truth(
            app,
            "rollout-no-prestop",
            status="degraded",
            evidence=(ref("Deployment", app.namespace, app.name),),
        ),
        note=f"{app.name} rolls out with the Recreate strategy: no pod serves in between",
    )


# --- connection-pool-exhausted -----------------------------------------------


def _pool_truth(app: App, ref: str, note: str) -> Injected:
    return Injected(
        truth=truth(app, "connection-pool-exhausted", status="degraded", evidence=(ref,)),
        note=note,
    )


def load_test_breaker_left(world: World, app: App) -> Injected:
    """A circuit-breaker test's DestinationRule was never reverted."""
    rule = destination_rule_of(world, app)
    rule["spec"]["trafficPolicy"] = shapes.traffic_policy(1, ejection="3m", interval="1s")
    return _pool_truth(
        app,
        ref("DestinationRule", app.namespace, rule["metadata"]["name"]),
        f"DestinationRule {rule['metadata']['name']} allows 1 connection",
    )


def autoscaler_ceiling(world: World, app: App) -> Injected:
    existing = world.find("HorizontalPodAutoscaler", app.namespace, app.name)
    if existing is not None:
        world.remove(existing)
    maximum = world.rng.randrange(4, 8)
    hpa = shapes.hpa(world, app, minimum=2, maximum=maximum, limited=True)
    shapes.rescale(world, app, hpa, maximum, ago=world.rng.uniform(20 * MINUTE, 50 * MINUTE))
    return _pool_truth(
        app,
        ref("HorizontalPodAutoscaler", app.namespace, app.name),
        f"{app.name} is at its autoscaler's maximum of {maximum} under load",
    )


def gateway_breaker(world: World, app: App) -> Injected:
    """An Envoy Gateway BackendTrafficPolicy copied from a tutorial."""
    route = app.name
    name = f"{app.name}-circuit-breaker"
    world.add(
        {
            "apiVersion": "gateway.envoyproxy.io/v1alpha1",
            "kind": "BackendTrafficPolicy",
            "metadata": world.meta(name, app.namespace, age=recent(world)),
            "spec": {
                "circuitBreaker": {
                    "maxConnections": 5,
                    "maxParallelRequests": 5,
                    "maxPendingRequests": 1,
                },
                "targetRefs": [
                    {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route}
                ],
            },
        }
    )
    return _pool_truth(
        app,
        ref("BackendTrafficPolicy", app.namespace, name),
        f"BackendTrafficPolicy {name} caps {app.name} at 5 requests",
    )


# --- upstream-timeout --------------------------------------------------------


def _gunicorn(template: Raw, timeout: int) -> None:
    main = serving_container(template)
    port = main["ports"][0]["containerPort"]
    main["command"] = ["gunicorn", "config.wsgi:application"]
    main["args"] = ["--bind", f"0.0.0.0:{port}", "--workers", "4", "--timeout", str(timeout)]
    main.pop("env", None)
    new_image(template)


def export_slower_than_proxy(world: World, app: App) -> Injected:
    """A release adds report exports and lets gunicorn's workers run 5
    minutes; the Ingress keeps nginx's 60 s read timeout (or sets less)."""
    timeout = world.pick([120, 180, 300])
    app.rollout(lambda t: _gunicorn(t, timeout), fates.serving(), ago=recent(world))
    app.runtime = "gunicorn"
    ingresses = ingresses_of(world, app)
    if world.rng.random() < 0.5:
        for ing in ingresses:
            ing["metadata"].setdefault("annotations", {})[
                "nginx.ingress.kubernetes.io/proxy-read-timeout"
            ] = "30"
    if world.rng.random() < 0.5:
        log_5xx(
            world,
            app,
            app.pods_of(),
            status=504,
            error=proxylog.READ_TIMEOUT,
            took=60.001,
            within=1500,
            count=world.rng.randrange(5, 20),
        )
    return Injected(
        truth=truth(
            app,
            "upstream-timeout",
            status=None,
            evidence=(ref("Ingress", app.namespace, ingresses[0]["metadata"]["name"]),),
            http=(504,),
        ),
        note=f"{app.name} allows requests {timeout} s; nginx gives up sooner",
    )


def configmap_read_timeout_lowered(world: World, app: App) -> Injected:
    app.rollout(
        lambda t: _gunicorn(t, 60), fates.serving(), ago=world.rng.uniform(2 * HOUR, 5 * DAY)
    )
    app.runtime = "gunicorn"
    configmap = world.find("ConfigMap", shapes.NGINX_NAMESPACE, shapes.NGINX_CONFIGMAP)
    assert configmap is not None
    configmap["data"]["proxy-read-timeout"] = world.pick(["10", "15", "20"])
    return Injected(
        truth=truth(
            app,
            "upstream-timeout",
            status="degraded",
            evidence=(ref("ConfigMap", shapes.NGINX_NAMESPACE, shapes.NGINX_CONFIGMAP),),
            http=(504,),
        ),
        note="the platform lowered nginx's proxy-read-timeout to "
        f"{configmap['data']['proxy-read-timeout']} s",
    )


# --- upstream-header-too-big -----------------------------------------------


def _headers_too_big(world: World, app: App, where: str, note: str) -> Injected:
    """The app's answers carry headers larger than nginx's proxy buffer: a
    release added an OIDC login whose session cookies weigh several KB."""

    def change(template: Raw) -> None:
        main = serving_container(template)
        env = main.get("env") or []
        main["env"] = [
            *env,
            {"name": "OIDC_ISSUER_URL", "value": "https://login.example.com/realms/acme"},
            {"name": "SESSION_STORE", "value": "cookie"},
        ]
        new_image(template)

    app.rollout(change, fates.serving(), ago=recent(world))
    log_5xx(
        world,
        app,
        app.pods_of(),
        status=502,
        error=proxylog.TOO_BIG,
        took=0.012,
        within=recent(world),
        count=world.rng.randrange(10, 40),
        methods=("GET", "GET", "POST"),
    )
    return Injected(
        truth=truth(app, "upstream-header-too-big", status=None, evidence=(where,), http=(502,)),
        note=note,
    )


def session_cookies_too_big(world: World, app: App) -> Injected:
    ingress = ingresses_of(world, app)[0]
    name = ingress["metadata"]["name"]
    if world.rng.random() < 0.5:
        annotations = ingress["metadata"].setdefault("annotations", {})
        annotations["nginx.ingress.kubernetes.io/proxy-buffer-size"] = "4k"
    return _headers_too_big(
        world,
        app,
        ref("Ingress", app.namespace, name),
        f"{app.name} sends session cookies larger than nginx's 4k proxy buffer",
    )


def buffer_lowered(world: World, app: App) -> Injected:
    configmap = world.find("ConfigMap", shapes.NGINX_NAMESPACE, shapes.NGINX_CONFIGMAP)
    assert configmap is not None
    configmap["data"]["proxy-buffer-size"] = "2k"
    return _headers_too_big(
        world,
        app,
        ref("ConfigMap", shapes.NGINX_NAMESPACE, shapes.NGINX_CONFIGMAP),
        f"the platform lowered proxy-buffer-size to 2k; {app.name} sends larger headers",
    )


# --- keepalive-race ----------------------------------------------------------


def _keepalive_truth(app: App, note: str, status: str | None = "degraded") -> Injected:
    return Injected(
        truth=truth(
            app,
            "keepalive-race",
            status=status,
            evidence=(ref("Deployment", app.namespace, app.name),),
            http=(502,),
        ),
        note=note,
    )


def gthread_default_keepalive(world: World, app: App) -> Injected:
    """A release switches gunicorn to threads, which keep connections alive
    for gunicorn's default 2 s; nginx keeps them 60 s."""

    def change(template: Raw) -> None:
        main = serving_container(template)
        port = main["ports"][0]["containerPort"]
        main["command"] = ["gunicorn", "config.wsgi:application"]
        main["args"] = [
            "--bind",
            f"0.0.0.0:{port}",
            "--workers",
            "2",
            "--threads",
            "8",
            "--timeout",
            "30",
        ]
        main.pop("env", None)
        new_image(template)

    app.rollout(change, fates.serving(), ago=world.rng.uniform(2 * HOUR, 3 * DAY))
    app.runtime = "gunicorn-gthread"
    return _keepalive_truth(
        app, f"{app.name} runs gunicorn gthread with the default 2 s keep-alive"
    )


def uvicorn_default_keepalive(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        main = serving_container(template)
        port = main["ports"][0]["containerPort"]
        main["command"] = ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", str(port)]
        main["args"] = ["--proxy-headers", "--workers", "4"]
        main.pop("env", None)
        new_image(template)

    app.rollout(change, fates.serving(), ago=world.rng.uniform(2 * HOUR, 3 * DAY))
    app.runtime = "uvicorn"
    if world.rng.random() < 0.5:
        log_5xx(
            world,
            app,
            app.pods_of(),
            status=502,
            error=proxylog.CLOSED,
            took=0.002,
            within=1800,
            count=world.rng.randrange(6, 25),
            methods=("POST", "POST", "PATCH"),
        )
        return _keepalive_truth(
            app,
            f"{app.name} moved to uvicorn's default 5 s keep-alive; 502s in the log",
            status=None,
        )
    return _keepalive_truth(app, f"{app.name} moved to uvicorn's default 5 s keep-alive")


def node_behind_sidecar(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        main = serving_container(template)
        main["image"] = world.pick(["node:20-alpine", "node:22-slim", "node:18"])
        main["command"] = ["node", "/app/server.js"]
        main.pop("env", None)

    app.rollout(change, fates.serving(), ago=world.rng.uniform(2 * HOUR, 3 * DAY))
    app.runtime = "node"
    return _keepalive_truth(
        app, f"{app.name} runs on stock Node.js (5 s keep-alive) behind an Istio sidecar (1 h)"
    )
