"""What every fault shares: its record, the truth it writes, and the changes
releases make (a bumped image, a typo, a rollout whose pods never serve)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from why5xx.benchmark import fates, proxylog, shapes
from why5xx.benchmark.workloads import App, main_container
from why5xx.benchmark.world import MINUTE, Raw, World
from why5xx.scenarios import Truth


@dataclass(frozen=True, slots=True, kw_only=True)
class Injected:
    truth: Truth
    note: str  # what happened, as an incident report's first line says it


Inject = Callable[[World, App], Injected]


def any_app(app: App) -> bool:
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    name: str
    cause: str  # the truth: a cause id, or `healthy`
    shapes: tuple[str, ...]  # the cluster shapes it happens in
    inject: Inject
    fits: Callable[[App], bool] = any_app  # which apps it can happen to
    mimics: str | None = None  # the cause its symptoms resemble


ALL_SHAPES = tuple(shapes.SHAPES)
NGINX_SHAPES = ("shop", "data", "autoscaled")


# --- what faults share -------------------------------------------------------


def service_of(app: App) -> Raw:
    assert app.service is not None
    return app.service


def target_of(app: App) -> str:
    return f"service/{service_of(app)['metadata']['name']}"


def ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def pod_ref(app: App, name: str) -> str:
    return ref("Pod", app.namespace, name)


def first(pods: list[str]) -> str:
    """The pod a reader looks at first: `kubectl get pods` sorts by name."""
    return min(pods)


def truth(
    app: App,
    cause: str,
    *,
    status: str | None,
    evidence: tuple[str, ...] = (),
    http: tuple[int, ...] = (),
    target: str | None = None,
) -> Truth:
    return Truth(
        target=target or target_of(app),
        namespace=app.namespace,
        cause=cause,
        status=status,
        http_status=http,
        evidence=evidence,
    )


def recent(world: World) -> float:
    """When a change went out: minutes ago, inside the events' hour."""
    return world.rng.uniform(6 * MINUTE, 45 * MINUTE)


def serving_container(template: Raw) -> Raw:
    return main_container(template)


def port_of(app: App) -> int:
    return int(serving_container(app.template)["ports"][0]["containerPort"])


def broken_rollout(
    world: World,
    app: App,
    change: Callable[[Raw], None],
    fate: fates.Fate,
    *,
    cause: str,
    note: str,
    http: tuple[int, ...] = (503,),
    modes: tuple[str, ...] = ("stuck", "recreate"),
) -> Injected:
    """A release whose new pods never serve: a rolling update stuck behind
    them (the old pods still serve: degraded), or a `Recreate` one that
    left nothing (failing)."""
    mode = world.pick(modes)
    if mode == "recreate" and app.kind == "Deployment":
        app.strategy = {"type": "Recreate"}
    elif mode == "recreate":
        mode = "complete"
    revision = app.rollout(change, fate, ago=recent(world), mode=mode)
    status = "degraded" if mode == "stuck" else "failing"
    pods = app.pods_of(revision)
    how = "rolling update stuck" if mode == "stuck" else "every pod replaced"
    return pod_truth(app, cause, pods, status=status, http=http, note=f"{note} ({how})")


def bump(image: str) -> str:
    repo, _, tag = image.rpartition(":")
    parts = tag.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{repo}:{parts[0]}.{int(parts[1]) + 1}.0"
    return f"{repo}:{tag}-1"


def new_image(template: Raw) -> None:
    main = serving_container(template)
    main["image"] = bump(main["image"])


def typo(word: str) -> str:
    if len(word) > 4:
        return word[:2] + word[3] + word[2] + word[4:]
    return word + "s"


def ingresses_of(world: World, app: App) -> list[Raw]:
    name = service_of(app)["metadata"]["name"]
    return [
        ing
        for ing in world.of_kind("Ingress", app.namespace)
        for rule in ing["spec"].get("rules") or ()
        for path in rule["http"]["paths"]
        if path["backend"]["service"]["name"] == name
    ]


def host_of(world: World, app: App) -> str:
    found = ingresses_of(world, app)
    return str(found[0]["spec"]["rules"][0]["host"]) if found else f"{app.name}.example.com"


def is_deployment(app: App) -> bool:
    return app.kind == "Deployment"


def speaks_http(app: App) -> bool:
    return app.runtime != "redis"


def behind_nginx(app: App) -> bool:
    return app.exposure == "ingress-nginx"


def in_mesh(app: App) -> bool:
    return app.exposure == "istio"


def routed(app: App) -> bool:
    return app.exposure == "gateway"


def pod_truth(
    app: App, cause: str, pods: list[str], *, status: str | None, http: tuple[int, ...], note: str
) -> Injected:
    """The first of `pods` (as `kubectl get pods` lists them) is the evidence."""
    evidence = (pod_ref(app, first(pods)),)
    return Injected(truth=truth(app, cause, status=status, evidence=evidence, http=http), note=note)


def service_truth(
    app: App, cause: str, *, http: tuple[int, ...], note: str, namespace: str | None = None
) -> Injected:
    """The Service itself is the evidence (its selector or ports)."""
    ns = namespace or app.namespace
    return Injected(
        truth=Truth(
            target=target_of(app),
            namespace=ns,
            cause=cause,
            status="failing",
            http_status=http,
            evidence=(ref("Service", ns, service_of(app)["metadata"]["name"]),),
        ),
        note=note,
    )


def log_5xx(
    world: World,
    app: App,
    pods: list[str],
    *,
    status: int,
    error: str,
    took: float,
    within: float,
    count: int,
    methods: tuple[str, ...] = ("GET",),
) -> None:
    """`count` failed requests to `pods` in the last `within` seconds, in
    the ingress controller's log."""

    def traffic(objects: list[Raw]) -> list[proxylog.Request]:
        addresses = [a for n in pods if (a := proxylog.pod_address(objects, app.namespace, n))]
        return [
            proxylog.Request(
                ago=world.rng.uniform(0.5, within),
                upstream=world.pick(addresses),
                status=status,
                method=world.pick(methods),
                error=error,
                took=took,
            )
            for _ in range(count)
        ]

    proxylog.log_requests(world, service_of(app), host_of(world, app), traffic)


def to_grpc(template: Raw, port: int) -> None:
    """A release that turns the app into a gRPC server on `port`."""
    main = serving_container(template)
    main["ports"] = [{"containerPort": port, "name": "grpc", "protocol": "TCP"}]
    main["readinessProbe"] = {
        "failureThreshold": 3,
        "grpc": {"port": port},
        "periodSeconds": 10,
        "successThreshold": 1,
        "timeoutSeconds": 1,
    }
    main.pop("livenessProbe", None)
    new_image(template)


def destination_rule_of(world: World, app: App) -> Raw:
    """The DestinationRule for the app's host (one is written when there is none)."""
    rules = [
        d for d in world.of_kind("DestinationRule", app.namespace) if d["spec"]["host"] == app.name
    ]
    return rules[0] if rules else shapes.destination_rule(world, app, subsets=True)


def both(*checks: Callable[[App], bool]) -> Callable[[App], bool]:
    return lambda app: all(check(app) for check in checks)
