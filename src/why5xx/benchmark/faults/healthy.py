"""Healthy controls: nothing is broken, and some of them look alarming (old
OOM kills, evicted pods, a rollout in progress, a default-deny
NetworkPolicy that admits the ingress controller)."""

from __future__ import annotations

from why5xx.benchmark import fates, shapes
from why5xx.benchmark.faults.base import (
    Injected,
    ingresses_of,
    new_image,
    serving_container,
    truth,
)
from why5xx.benchmark.faults.frontend import default_deny, namespace_peer
from why5xx.benchmark.faults.pods import config_crash, tag_typo
from why5xx.benchmark.workloads import App, apps_of
from why5xx.benchmark.world import DAY, MINUTE, Raw, World
from why5xx.scenarios import HEALTHY

# --- healthy controls, some of them alarming ---------------------------------


def _healthy(app: App, note: str, target: str | None = None) -> Injected:
    return Injected(truth=truth(app, HEALTHY, status="healthy", target=target), note=note)


def plain(world: World, app: App) -> Injected:
    return _healthy(app, f"{app.name} serves; nothing changed")


def old_restarts(world: World, app: App) -> Injected:
    group = app.groups[-1]
    group.age = max(group.age, 5 * DAY)
    group.fate = fates.serving(
        restarts=world.rng.randrange(3, 40),
        last_reason=world.pick(["OOMKilled", "Error"]),
        last_exit=world.pick([137, 1]),
        last_ago=world.rng.uniform(2 * DAY, 4 * DAY),
    )
    return _healthy(app, f"{app.name}'s pods restarted days ago and have run since")


def evicted_and_finished(world: World, app: App) -> Injected:
    app.add_pods(
        fates.evicted(), count=world.rng.randrange(1, 4), age=world.rng.uniform(4 * DAY, 9 * DAY)
    )
    return _healthy(app, f"evicted pods of {app.name} linger from last week's memory pressure")


def surge_in_progress(world: World, app: App) -> Injected:
    """A rollout just started: a surge pod pulls its image while every old pod serves."""
    app.strategy = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}, "type": "RollingUpdate"}
    app.rollout(new_image, fates.creating(), ago=world.rng.uniform(3, 12), mode="stuck")
    return _healthy(app, f"rollout of {app.name} started seconds ago")


def rollout_with_prestop(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        serving_container(template)["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}
        template["spec"]["terminationGracePeriodSeconds"] = 45
        new_image(template)

    for revision in app.revisions:
        change(revision.template)
    app.rollout(
        change, fates.serving(startup=4), ago=world.rng.uniform(15, 40), mode="rolling", drains=True
    )
    return _healthy(app, f"rollout of {app.name} with a preStop sleep: old pods drain")


def probe_blip(world: World, app: App) -> Injected:
    """One pod failed its readiness probe twice while a dependency hiccupped,
    forty minutes ago."""
    ago = world.rng.uniform(30 * MINUTE, 55 * MINUTE)
    blip = fates.Note(
        reason="Unhealthy",
        message="Readiness probe failed: HTTP probe failed with statuscode: 503",
        ago=ago,
        first=ago + 10,
        count=2,
        warning=True,
        container=True,
    )
    group = app.groups[-1]
    group.fate = fates.noted(group.fate, blip)
    return _healthy(app, f"pods of {app.name} failed two probes 40 minutes ago")


def neighbours_on_fire(world: World, app: App) -> Injected:
    """Other apps in the namespace crash-loop and cannot pull their image."""
    others = [
        a
        for a in apps_of(world)
        if a.namespace == app.namespace
        and a is not app
        and a.role == "app"
        and a.kind == "Deployment"
    ]
    for other, fault in zip(others[:2], (config_crash, tag_typo), strict=False):
        fault(world, other)
    return _healthy(app, f"{app.name} serves while its neighbours fail")


def policy_admits_controller(world: World, app: App) -> Injected:
    controller = {
        **namespace_peer({"kubernetes.io/metadata.name": shapes.NGINX_NAMESPACE}),
        "podSelector": {"matchLabels": dict(shapes.NGINX_LABELS)},
    }
    default_deny(world, app.namespace, "allow-from-ingress-nginx", controller, {"podSelector": {}})
    return _healthy(app, "default-deny NetworkPolicy with an allow for the ingress controller")


def scaled_up_by_hpa(world: World, app: App) -> Injected:
    before = app.replicas
    hpa = world.find("HorizontalPodAutoscaler", app.namespace, app.name) or shapes.hpa(
        world, app, minimum=before, maximum=before + 10
    )
    added = world.rng.randrange(1, 4)
    shapes.rescale(world, app, hpa, before + added, ago=world.rng.uniform(5 * MINUTE, 40 * MINUTE))
    return _healthy(app, f"{app.name} scaled up from {before} under load")


def statefulset_rolled(world: World, app: App) -> Injected:
    app.rollout(
        new_image, fates.serving(startup=40), ago=world.rng.uniform(10 * MINUTE, 50 * MINUTE)
    )
    return _healthy(app, f"StatefulSet {app.name} rolled out a new image, all pods ready")


def healthy_route(world: World, app: App) -> Injected:
    return _healthy(app, f"HTTPRoute {app.name} serves", target=f"httproute/{app.name}")


def healthy_ingress(world: World, app: App) -> Injected:
    ingress = ingresses_of(world, app)[0]
    return _healthy(
        app,
        f"Ingress {ingress['metadata']['name']} serves",
        target=f"ingress/{ingress['metadata']['name']}",
    )
