"""Faults that leave a Service selecting nothing: a label renamed in a new
revision, a selector edited, a workload deleted or moved, one scaled to zero."""

from __future__ import annotations

from why5xx.benchmark import fates, shapes
from why5xx.benchmark.faults.base import (
    Injected,
    first,
    new_image,
    pod_ref,
    recent,
    ref,
    service_of,
    target_of,
    truth,
    typo,
)
from why5xx.benchmark.workloads import App
from why5xx.benchmark.world import Raw, World
from why5xx.scenarios import Truth

# --- selector-mismatch ------------------------------------------------------------


def version_label_bump(world: World, app: App) -> Injected:
    """The Service has selected `version: v1` for a long time; release N+1
    bumps the pod label to v2 and the old pods go away."""
    svc = service_of(app)
    for revision in app.revisions:
        revision.template["metadata"]["labels"]["version"] = "v1"
    svc["spec"]["selector"]["version"] = "v1"

    def change(template: Raw) -> None:
        template["metadata"]["labels"]["version"] = "v2"
        new_image(template)

    revision = app.rollout(change, fates.serving(), ago=recent(world))
    pod = first(app.pods_of(revision))
    return Injected(
        truth=truth(
            app,
            "selector-mismatch",
            status="failing",
            evidence=(ref("Service", app.namespace, svc["metadata"]["name"]), pod_ref(app, pod)),
            http=(503,),
        ),
        note=f"release of {app.name} bumped the pod label version to v2; the Service selects v1",
    )


def service_selector_typo(world: World, app: App) -> Injected:
    """Someone edits the Service and mistypes a selector value."""
    svc = service_of(app)
    selector = svc["spec"]["selector"]
    key = next(iter(selector))
    selector[key] = typo(str(selector[key]))
    svc["metadata"]["resourceVersion"] = world.resource_version()
    pod = first(app.pods_of())
    return Injected(
        truth=truth(
            app,
            "selector-mismatch",
            status="failing",
            evidence=(ref("Service", app.namespace, svc["metadata"]["name"]), pod_ref(app, pod)),
            http=(503,),
        ),
        note=f"the selector of Service {svc['metadata']['name']} was edited to {key}={selector[key]}",
    )


def label_key_migrated(world: World, app: App) -> Injected:
    """The chart moved to the recommended labels: the Deployment was
    deleted and recreated with `app.kubernetes.io/name`, the Service kept
    selecting `app`."""
    svc = service_of(app)
    selector = svc["spec"]["selector"]
    if "app" not in selector:
        for revision in app.revisions:
            revision.template["metadata"]["labels"]["app"] = app.name
        selector.clear()
        selector["app"] = app.name
    labels = {"app.kubernetes.io/name": app.name, "app.kubernetes.io/instance": app.name}
    for revision in app.revisions:
        revision.template["metadata"]["labels"] = dict(labels)
    app.selector = dict(labels)
    ago = recent(world)
    app.revisions = app.revisions[-1:]
    app.current.number = 1
    app.current.age = ago
    app.meta["creationTimestamp"] = world.ts(ago)
    app.groups = []
    app.group(app.current, app.replicas, fates.serving(), age=ago - 2)
    return Injected(
        truth=truth(
            app,
            "selector-mismatch",
            status="failing",
            evidence=(
                ref("Service", app.namespace, svc["metadata"]["name"]),
                pod_ref(app, first(app.pods_of())),
            ),
            http=(503,),
        ),
        note=f"{app.name} was redeployed with app.kubernetes.io/name labels; the Service selects app",
    )


# --- no-matching-workload -------------------------------------------------------


def workload_deleted(world: World, app: App) -> Injected:
    """The workload is deleted (a cleanup, `helm uninstall` of the wrong
    release); its Service stays."""
    world.apps.remove(app)
    svc = service_of(app)
    return Injected(
        truth=truth(
            app,
            "no-matching-workload",
            status="failing",
            evidence=(ref("Service", app.namespace, svc["metadata"]["name"]),),
            http=(503,),
        ),
        note=f"{app.kind} {app.name} was deleted; Service {svc['metadata']['name']} remains",
    )


def moved_namespace(world: World, app: App) -> Injected:
    """The team redeploys the app into its new namespace; the old Service
    (still routed to) selects nothing any more."""
    new = f"{app.namespace}-v2"
    world.namespace(new)
    old = app.namespace
    app.namespace = new
    app.meta["namespace"] = new
    for revision in app.revisions:
        revision.meta["namespace"] = new
    svc = service_of(app)
    return Injected(
        truth=Truth(
            target=target_of(app),
            namespace=old,
            cause="no-matching-workload",
            status="failing",
            evidence=(ref("Service", old, svc["metadata"]["name"]),),
            http_status=(503,),
        ),
        note=f"{app.name} now runs in namespace {new}; Service {old}/{svc['metadata']['name']} selects nothing",
    )


def umbrella_release_deleted(world: World, app: App) -> Injected:
    """One chart of an umbrella release is removed: every other app still
    carries the release's `instance` label, one of the Service's two keys."""
    svc = service_of(app)
    selector = svc["spec"]["selector"]
    release = app.namespace
    for other in world.apps:
        if other.namespace == app.namespace and other.role == "app":
            for revision in other.revisions:
                revision.template["metadata"]["labels"]["app.kubernetes.io/instance"] = release
    selector["app.kubernetes.io/instance"] = release
    return workload_deleted(world, app)


# --- scaled-to-zero -----------------------------------------------------------------


def scaled_to_zero_by_hand(world: World, app: App) -> Injected:
    """`kubectl scale --replicas=0`, to stop a noisy consumer, in the wrong
    namespace or on the wrong workload."""
    app.scale(0, ago=recent(world))
    return Injected(
        truth=truth(
            app,
            "scaled-to-zero",
            status="failing",
            evidence=(ref(app.kind, app.namespace, app.name),),
            http=(503,),
        ),
        note=f"{app.kind} {app.name} was scaled to 0",
    )


def scaled_to_zero_under_hpa(world: World, app: App) -> Injected:
    """A cost-saving job scales the workload to 0 overnight; its HPA will
    not scale it up from there."""
    hpa = next(
        (
            h
            for h in world.of_kind("HorizontalPodAutoscaler", app.namespace)
            if h["metadata"]["name"] == app.name
        ),
        None,
    ) or shapes.hpa(world, app, minimum=2, maximum=10)
    app.scale(0, ago=recent(world))
    hpa["status"].update(currentReplicas=0, desiredReplicas=0)
    hpa["status"]["conditions"][1] = {
        "lastTransitionTime": world.ts(recent(world)),
        "message": "scaling is disabled since the replica count of the target is zero",
        "reason": "ScalingDisabled",
        "status": "False",
        "type": "ScalingActive",
    }
    hpa["status"].pop("currentMetrics", None)
    return Injected(
        truth=truth(
            app,
            "scaled-to-zero",
            status="failing",
            evidence=(ref(app.kind, app.namespace, app.name),),
            http=(503,),
        ),
        note=f"{app.name} scaled to 0 under its HorizontalPodAutoscaler",
    )


def scaled_to_zero_draining(world: World, app: App) -> Injected:
    """Scaled to zero seconds ago: the pods are still terminating, which
    looks like endpoints on their way out."""
    app.scale(0, ago=world.rng.uniform(3, 20), terminating=True)
    return Injected(
        truth=truth(
            app,
            "scaled-to-zero",
            status="failing",
            evidence=(ref(app.kind, app.namespace, app.name),),
            http=(503,),
        ),
        note=f"{app.kind} {app.name} was scaled to 0 seconds ago; its pods are terminating",
    )
