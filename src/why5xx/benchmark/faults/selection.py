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
    service_truth,
    truth,
    typo,
)
from why5xx.benchmark.workloads import App, apps_of
from why5xx.benchmark.world import Raw, World

# --- selector-mismatch -------------------------------------------------------


def _mismatch_truth(app: App, pod: str, note: str) -> Injected:
    """The Service (its selector) and a pod (its labels) are the evidence."""
    evidence = (
        ref("Service", app.namespace, service_of(app)["metadata"]["name"]),
        pod_ref(app, pod),
    )
    return Injected(
        truth=truth(app, "selector-mismatch", status="failing", evidence=evidence, http=(503,)),
        note=note,
    )


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
    return _mismatch_truth(
        app,
        pod,
        f"release of {app.name} bumped the pod label version to v2; the Service selects v1",
    )


def service_selector_typo(world: World, app: App) -> Injected:
    """Someone edits the Service and mistypes a selector value."""
    svc = service_of(app)
    selector = svc["spec"]["selector"]
    key = next(iter(selector))
    selector[key] = typo(str(selector[key]))
    svc["metadata"]["resourceVersion"] = world.resource_version()
    pod = first(app.pods_of())
    return _mismatch_truth(
        app,
        pod,
        f"the selector of Service {svc['metadata']['name']} was edited to {key}={selector[key]}",
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
    # The other labels the Service selects by stay: the app label alone moved.
    labels = {k: v for k, v in selector.items() if k != "app"}
    labels["app.kubernetes.io/name"] = app.name
    for revision in app.revisions:
        revision.template["metadata"]["labels"] = dict(labels)
    app.selector = dict(labels)
    ago = recent(world)
    app.reinstall(ago=ago)
    app.group(app.current, app.replicas, fates.serving(), age=ago - 2)
    return _mismatch_truth(
        app,
        first(app.pods_of()),
        f"{app.name} was redeployed with app.kubernetes.io/name labels; the Service selects app",
    )


# --- no-matching-workload ----------------------------------------------------


def workload_deleted(world: World, app: App) -> Injected:
    """The workload is deleted (a cleanup, `helm uninstall` of the wrong
    release); its Service stays."""
    world.apps.remove(app)
    svc = service_of(app)["metadata"]["name"]
    return service_truth(
        app,
        "no-matching-workload",
        http=(503,),
        note=f"{app.kind} {app.name} was deleted; Service {svc} remains",
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
    svc = service_of(app)["metadata"]["name"]
    return service_truth(
        app,
        "no-matching-workload",
        http=(503,),
        note=f"{app.name} now runs in namespace {new}; Service {old}/{svc} selects nothing",
        namespace=old,
    )


def umbrella_release_deleted(world: World, app: App) -> Injected:
    """One chart of an umbrella release is removed: every other app still
    carries the release's `instance` label, one of the Service's two keys."""
    svc = service_of(app)
    selector = svc["spec"]["selector"]
    release = app.namespace
    for other in apps_of(world):
        if other.namespace == app.namespace and other.role == "app":
            for revision in other.revisions:
                revision.template["metadata"]["labels"]["app.kubernetes.io/instance"] = release
    selector["app.kubernetes.io/instance"] = release
    return workload_deleted(world, app)


# --- scaled-to-zero ----------------------------------------------------------


def _scaled_truth(app: App, note: str) -> Injected:
    return Injected(
        truth=truth(
            app,
            "scaled-to-zero",
            status="failing",
            evidence=(ref(app.kind, app.namespace, app.name),),
            http=(503,),
        ),
        note=note,
    )


def scaled_to_zero_by_hand(world: World, app: App) -> Injected:
    """`kubectl scale --replicas=0`, to stop a noisy consumer, in the wrong
    namespace or on the wrong workload."""
    app.scale(0, ago=recent(world))
    return _scaled_truth(app, f"{app.kind} {app.name} was scaled to 0")


def scaled_to_zero_under_hpa(world: World, app: App) -> Injected:
    """A cost-saving job scales the workload to 0 overnight; its HPA will
    not scale it up from there."""
    hpa = world.find("HorizontalPodAutoscaler", app.namespace, app.name) or shapes.hpa(
        world, app, minimum=2, maximum=10
    )
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
    return _scaled_truth(app, f"{app.name} scaled to 0 under its HorizontalPodAutoscaler")


def scaled_to_zero_draining(world: World, app: App) -> Injected:
    """Scaled to zero seconds ago: the pods are still terminating, which
    looks like endpoints on their way out."""
    app.scale(0, ago=world.rng.uniform(3, 20), terminating=True)
    return _scaled_truth(
        app, f"{app.kind} {app.name} was scaled to 0 seconds ago; its pods are terminating"
    )
