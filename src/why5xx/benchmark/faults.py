"""Faults injected the way they happen, and the truth about each.

A fault changes what a person, a release or the infrastructure changes
(a label in a new ReplicaSet revision, a port in a new image, a probe
path, a memory limit, a NetworkPolicy added by another team, a scale to
zero, an Ingress that still names the old Service...) and gives the pods
the fate that change brings (`fates`). The consequences follow from the
controllers (`world`, `workloads`): endpoint conditions, events in the
kubelet's and the controllers' words, pod statuses. No fault writes a
label or field a rule could read its cause from.

Some faults mimic another cause (`mimics`): a crash loop of an app that
served for hours looks like a slow start, connect timeouts in the proxy's
log look like a read timeout. The `healthy` ones break nothing and add
what looks alarming: old OOM kills, evicted pods, a rollout in progress, a
default-deny NetworkPolicy that admits the ingress controller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from why5xx.benchmark import fates, proxylog, shapes
from why5xx.benchmark.proxylog import Request
from why5xx.benchmark.workloads import App, http_probe, main_container
from why5xx.benchmark.world import DAY, HOUR, MINUTE, Raw, World
from why5xx.scenarios import HEALTHY, Truth


@dataclass(frozen=True, slots=True, kw_only=True)
class Injected:
    truth: Truth
    note: str  # what happened, as an incident report's first line says it


Inject = Callable[[World, App], Injected]


def _any(app: App) -> bool:
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    name: str
    cause: str  # the truth: a cause id, or `healthy`
    shapes: tuple[str, ...]  # the cluster shapes it happens in
    inject: Inject
    fits: Callable[[App], bool] = _any  # which apps it can happen to
    mimics: str | None = None  # the cause its symptoms resemble


ALL_SHAPES = tuple(shapes.SHAPES)
NGINX_SHAPES = ("shop", "data", "autoscaled")


# --- what faults share ----------------------------------------------------------


def _service(app: App) -> Raw:
    assert app.service is not None
    return app.service


def _target(app: App) -> str:
    return f"service/{_service(app)['metadata']['name']}"


def _ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def _pod(app: App, name: str) -> str:
    return _ref("Pod", app.namespace, name)


def _first(pods: list[str]) -> str:
    """The pod a reader looks at first: `kubectl get pods` sorts by name."""
    return min(pods)


def _truth(
    app: App,
    cause: str,
    *,
    status: str | None,
    evidence: tuple[str, ...] = (),
    http: tuple[int, ...] = (),
    target: str | None = None,
) -> Truth:
    return Truth(
        target=target or _target(app),
        namespace=app.namespace,
        cause=cause,
        status=status,
        http_status=http,
        evidence=evidence,
    )


def _recent(world: World) -> float:
    """When a change went out: minutes ago, inside the events' hour."""
    return world.rng.uniform(6 * MINUTE, 45 * MINUTE)


def _main(template: Raw) -> Raw:
    return main_container(template)


def _port(app: App) -> int:
    return int(_main(app.template)["ports"][0]["containerPort"])


def _broken_rollout(
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
    revision = app.rollout(change, fate, ago=_recent(world), mode=mode)
    status = "degraded" if mode == "stuck" else "failing"
    pods = app.pods_of(revision)
    return Injected(
        truth=_truth(app, cause, status=status, evidence=(_pod(app, _first(pods)),), http=http),
        note=f"{note} ({'rolling update stuck' if mode == 'stuck' else 'every pod replaced'})",
    )


def _bump(image: str) -> str:
    repo, _, tag = image.rpartition(":")
    parts = tag.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{repo}:{parts[0]}.{int(parts[1]) + 1}.0"
    return f"{repo}:{tag}-1"


def _new_image(template: Raw) -> None:
    main = _main(template)
    main["image"] = _bump(main["image"])


def _typo(word: str) -> str:
    if len(word) > 4:
        return word[:2] + word[3] + word[2] + word[4:]
    return word + "s"


def _ingresses(world: World, app: App) -> list[Raw]:
    name = _service(app)["metadata"]["name"]
    return [
        ing
        for ing in world.of_kind("Ingress", app.namespace)
        for rule in ing["spec"].get("rules") or ()
        for path in rule["http"]["paths"]
        if path["backend"]["service"]["name"] == name
    ]


def _host(world: World, app: App) -> str:
    found = _ingresses(world, app)
    return str(found[0]["spec"]["rules"][0]["host"]) if found else f"{app.name}.example.com"


def _deployment(app: App) -> bool:
    return app.kind == "Deployment"


def _http(app: App) -> bool:
    return app.runtime != "redis"


def _nginx(app: App) -> bool:
    return app.exposure == "ingress-nginx"


def _meshed(app: App) -> bool:
    return app.exposure == "istio"


def _routed(app: App) -> bool:
    return app.exposure == "gateway"


def _both(*checks: Callable[[App], bool]) -> Callable[[App], bool]:
    return lambda app: all(check(app) for check in checks)


# --- selector-mismatch ------------------------------------------------------------


def version_label_bump(world: World, app: App) -> Injected:
    """The Service has selected `version: v1` for a long time; release N+1
    bumps the pod label to v2 and the old pods go away."""
    svc = _service(app)
    for revision in app.revisions:
        revision.template["metadata"]["labels"]["version"] = "v1"
    svc["spec"]["selector"]["version"] = "v1"

    def change(template: Raw) -> None:
        template["metadata"]["labels"]["version"] = "v2"
        _new_image(template)

    revision = app.rollout(change, fates.serving(), ago=_recent(world))
    pod = _first(app.pods_of(revision))
    return Injected(
        truth=_truth(
            app,
            "selector-mismatch",
            status="failing",
            evidence=(_ref("Service", app.namespace, svc["metadata"]["name"]), _pod(app, pod)),
            http=(503,),
        ),
        note=f"release of {app.name} bumped the pod label version to v2; the Service selects v1",
    )


def service_selector_typo(world: World, app: App) -> Injected:
    """Someone edits the Service and mistypes a selector value."""
    svc = _service(app)
    selector = svc["spec"]["selector"]
    key = next(iter(selector))
    selector[key] = _typo(str(selector[key]))
    svc["metadata"]["resourceVersion"] = world.resource_version()
    pod = _first(app.pods_of())
    return Injected(
        truth=_truth(
            app,
            "selector-mismatch",
            status="failing",
            evidence=(_ref("Service", app.namespace, svc["metadata"]["name"]), _pod(app, pod)),
            http=(503,),
        ),
        note=f"the selector of Service {svc['metadata']['name']} was edited to {key}={selector[key]}",
    )


def label_key_migrated(world: World, app: App) -> Injected:
    """The chart moved to the recommended labels: the Deployment was
    deleted and recreated with `app.kubernetes.io/name`, the Service kept
    selecting `app`."""
    svc = _service(app)
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
    ago = _recent(world)
    app.revisions = app.revisions[-1:]
    app.current.number = 1
    app.current.age = ago
    app.meta["creationTimestamp"] = world.ts(ago)
    app.groups = []
    app.group(app.current, app.replicas, fates.serving(), age=ago - 2)
    return Injected(
        truth=_truth(
            app,
            "selector-mismatch",
            status="failing",
            evidence=(
                _ref("Service", app.namespace, svc["metadata"]["name"]),
                _pod(app, _first(app.pods_of())),
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
    svc = _service(app)
    return Injected(
        truth=_truth(
            app,
            "no-matching-workload",
            status="failing",
            evidence=(_ref("Service", app.namespace, svc["metadata"]["name"]),),
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
    svc = _service(app)
    return Injected(
        truth=Truth(
            target=_target(app),
            namespace=old,
            cause="no-matching-workload",
            status="failing",
            evidence=(_ref("Service", old, svc["metadata"]["name"]),),
            http_status=(503,),
        ),
        note=f"{app.name} now runs in namespace {new}; Service {old}/{svc['metadata']['name']} selects nothing",
    )


def umbrella_release_deleted(world: World, app: App) -> Injected:
    """One chart of an umbrella release is removed: every other app still
    carries the release's `instance` label, one of the Service's two keys."""
    svc = _service(app)
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
    app.scale(0, ago=_recent(world))
    return Injected(
        truth=_truth(
            app,
            "scaled-to-zero",
            status="failing",
            evidence=(_ref(app.kind, app.namespace, app.name),),
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
    app.scale(0, ago=_recent(world))
    hpa["status"].update(currentReplicas=0, desiredReplicas=0)
    hpa["status"]["conditions"][1] = {
        "lastTransitionTime": world.ts(_recent(world)),
        "message": "scaling is disabled since the replica count of the target is zero",
        "reason": "ScalingDisabled",
        "status": "False",
        "type": "ScalingActive",
    }
    hpa["status"].pop("currentMetrics", None)
    return Injected(
        truth=_truth(
            app,
            "scaled-to-zero",
            status="failing",
            evidence=(_ref(app.kind, app.namespace, app.name),),
            http=(503,),
        ),
        note=f"{app.name} scaled to 0 under its HorizontalPodAutoscaler",
    )


def scaled_to_zero_draining(world: World, app: App) -> Injected:
    """Scaled to zero seconds ago: the pods are still terminating, which
    looks like endpoints on their way out."""
    app.scale(0, ago=world.rng.uniform(3, 20), terminating=True)
    return Injected(
        truth=_truth(
            app,
            "scaled-to-zero",
            status="failing",
            evidence=(_ref(app.kind, app.namespace, app.name),),
            http=(503,),
        ),
        note=f"{app.kind} {app.name} was scaled to 0 seconds ago; its pods are terminating",
    )


# --- pods-pending ---------------------------------------------------------------------


def _nodes(world: World) -> int:
    return len(world.nodes)


def requests_raised(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        _main(template)["resources"]["requests"]["cpu"] = world.pick(["6", "8", "12"])

    n = _nodes(world)
    return _broken_rollout(
        world,
        app,
        change,
        fates.unschedulable(
            message=f"0/{n} nodes are available: {n} Insufficient cpu. preemption: 0/{n} nodes are "
            f"available: {n} No preemption victims found for incoming pod."
        ),
        cause="pods-pending",
        note=f"release of {app.name} raised its CPU request beyond any node",
    )


def node_pool_gone(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        template["spec"]["nodeSelector"] = {"node.kubernetes.io/instance-type": "c7i.4xlarge"}

    n = _nodes(world)
    return _broken_rollout(
        world,
        app,
        change,
        fates.unschedulable(
            message=f"0/{n} nodes are available: {n} node(s) didn't match Pod's node "
            f"affinity/selector. preemption: 0/{n} nodes are available: {n} Preemption is not "
            "helpful for scheduling."
        ),
        cause="pods-pending",
        note=f"release of {app.name} pins it to a node type the cluster no longer has",
    )


def missing_configmap(world: World, app: App) -> Injected:
    name = f"{app.name}-config"

    def change(template: Raw) -> None:
        _main(template)["envFrom"] = [{"configMapRef": {"name": name}}]
        _new_image(template)

    return _broken_rollout(
        world,
        app,
        change,
        fates.config_error(message=f'configmap "{name}" not found'),
        cause="pods-pending",
        note=f"release of {app.name} reads ConfigMap {name}, which was never created",
    )


def missing_secret_volume(world: World, app: App) -> Injected:
    secret = f"{app.name}-tls"

    def change(template: Raw) -> None:
        template["spec"].setdefault("volumes", []).append(
            {"name": "tls", "secret": {"secretName": secret}}
        )
        _main(template).setdefault("volumeMounts", []).append(
            {"mountPath": "/etc/tls", "name": "tls", "readOnly": True}
        )

    return _broken_rollout(
        world,
        app,
        change,
        fates.failed_mount(volume="tls", message=f'secret "{secret}" not found'),
        cause="pods-pending",
        note=f"release of {app.name} mounts Secret {secret}, which cert-manager never issued",
    )


def unbound_claims(world: World, app: App) -> Injected:
    """A StatefulSet reinstalled with a StorageClass that does not exist:
    its first pod waits for a volume that is never provisioned."""
    app.storage_class = "fast-ssd"
    app.claims_pending = True
    ago = _recent(world)
    app.revisions = app.revisions[-1:]
    app.current.number, app.current.age = 1, ago
    app.meta["creationTimestamp"] = world.ts(ago)
    app.groups = []
    n = _nodes(world)
    app.group(
        app.current,
        1,
        fates.unschedulable(
            message=f"0/{n} nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            f"preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
        ),
        age=ago,
    )
    return Injected(
        truth=_truth(
            app,
            "pods-pending",
            status="failing",
            evidence=(_pod(app, _first(app.pods_of())),),
            http=(503,),
        ),
        note=f"StatefulSet {app.name} reinstalled with StorageClass fast-ssd, which does not exist",
    )


# --- image-pull -------------------------------------------------------------------------


def _pull_fault(world: World, app: App, image: str, error: str, note: str) -> Injected:
    def change(template: Raw) -> None:
        _main(template)["image"] = image

    return _broken_rollout(
        world,
        app,
        change,
        fates.image_pull(error=error, backoff=world.rng.random() < 0.7),
        cause="image-pull",
        note=note,
    )


def tag_typo(world: World, app: App) -> Injected:
    repo, _, tag = _bump(_main(app.template)["image"]).rpartition(":")
    image = f"{repo}:v{tag}"
    host = repo.split("/", 1)[0]
    return _pull_fault(
        world,
        app,
        image,
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to '
        f'resolve reference "{image}": {image}: not found',
        f"release of {app.name} names tag v{tag}; CI pushed {tag} to {host}",
    )


def registry_unauthorized(world: World, app: App) -> Injected:
    image = f"registry.internal.example.com/{app.namespace}/{app.name}:{_bump(_main(app.template)['image']).rpartition(':')[2]}"
    return _pull_fault(
        world,
        app,
        image,
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to '
        f'resolve reference "{image}": pulling from host registry.internal.example.com failed '
        "with status code [manifests " + image.rpartition(":")[2] + "]: 401 Unauthorized",
        f"{app.name} moved to the private registry without an imagePullSecret",
    )


def registry_host_typo(world: World, app: App) -> Injected:
    repo, _, tag = _bump(_main(app.template)["image"]).rpartition(":")
    first, _, rest = repo.partition("/")
    path = rest if rest and ("." in first or ":" in first) else repo  # drop a registry host
    image = f"ghrc.io/{path}:{tag}"
    return _pull_fault(
        world,
        app,
        image,
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to '
        f'resolve reference "{image}": failed to do request: Head "https://ghrc.io/v2/{path}/manifests/{tag}": '
        "dial tcp: lookup ghrc.io on 10.0.0.2:53: no such host",
        f"release of {app.name} names registry ghrc.io",
    )


# --- oom-killed -----------------------------------------------------------------------


def _oom_fate(world: World, served: float) -> fates.Fate:
    return fates.crash_loop(
        exit_code=137, reason="OOMKilled", restarts=world.rng.randrange(3, 12), served_for=served
    )


def limit_lowered(world: World, app: App) -> Injected:
    """A release lowers the memory limit; under the morning's load every
    pod is OOM-killed and crash-loops."""
    ago = _recent(world)
    old = _main(app.template)["resources"]["limits"]["memory"]

    def change(template: Raw) -> None:
        resources = _main(template)["resources"]
        resources["limits"]["memory"] = world.pick(["128Mi", "192Mi", "200Mi"])
        resources["requests"]["memory"] = resources["limits"]["memory"]

    revision = app.rollout(change, _oom_fate(world, world.rng.uniform(60, ago * 0.5)), ago=ago)
    return Injected(
        truth=_truth(
            app,
            "oom-killed",
            status="failing",
            evidence=(_pod(app, _first(app.pods_of(revision))),),
            http=(502, 503),
        ),
        note=f"release of {app.name} lowered its memory limit from {old}; pods are OOM-killed",
    )


def heap_above_limit(world: World, app: App) -> Injected:
    """The JVM's heap is set above the container's limit."""
    ago = _recent(world)

    def change(template: Raw) -> None:
        main = _main(template)
        main["resources"]["limits"]["memory"] = "768Mi"
        main["env"] = [
            {"name": "JAVA_TOOL_OPTIONS", "value": "-Xms512m -Xmx1g"},
            *[e for e in main.get("env") or () if e["name"] != "JAVA_TOOL_OPTIONS"],
        ]

    revision = app.rollout(change, _oom_fate(world, world.rng.uniform(60, ago * 0.5)), ago=ago)
    return Injected(
        truth=_truth(
            app,
            "oom-killed",
            status="failing",
            evidence=(_pod(app, _first(app.pods_of(revision))),),
            http=(502, 503),
        ),
        note=f"{app.name} runs with -Xmx1g in a 768Mi container",
    )


def one_pod_oom(world: World, app: App) -> Injected:
    """One pod holds the hot tenant's data and is OOM-killed; the others serve."""
    group = app.groups[-1]
    name = group.names[-1]
    app.detach(name, _oom_fate(world, group.age - world.rng.uniform(10 * MINUTE, 40 * MINUTE)))
    return Injected(
        truth=_truth(
            app, "oom-killed", status="degraded", evidence=(_pod(app, name),), http=(502, 503)
        ),
        note=f"one pod of {app.name} is OOM-killed over and over",
    )


# --- slow-startup ---------------------------------------------------------------------


def liveness_too_early(world: World, app: App) -> Injected:
    """A release adds a cache warm-up at start, and a strict liveness probe:
    the kubelet kills every new pod before it is ready."""

    def change(template: Raw) -> None:
        main = _main(template)
        port = main["ports"][0]["containerPort"]
        main["livenessProbe"] = http_probe("/healthz", port, initial=10, period=10, failure=3)
        _new_image(template)

    return _broken_rollout(
        world,
        app,
        change,
        fates.probe_kills(probe_path="/healthz", restarts=world.rng.randrange(3, 8)),
        cause="slow-startup",
        note=f"release of {app.name} starts slower than its liveness probe allows",
    )


# --- crash-loop -------------------------------------------------------------------------

_CRASHES = {
    "go": (
        2,
        "panic: DATABASE_URL is required\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/cmd/server/main.go:41 +0x1d4",
    ),
    "jvm": (
        1,
        "org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource'",
    ),
    "uvicorn": (1, "KeyError: 'DATABASE_URL'"),
    "gunicorn": (
        3,
        "[ERROR] Worker (pid:7) exited with code 3\n[ERROR] Shutting down: Master\n[ERROR] Reason: Worker failed to boot.",
    ),
    "gunicorn-gthread": (3, "[ERROR] Reason: Worker failed to boot."),
    "node": (1, "Error: Cannot find module '/app/dist/server.js'"),
    "nginx": (
        1,
        'nginx: [emerg] host not found in upstream "api-v1" in /etc/nginx/conf.d/default.conf:12',
    ),
    "redis": (1, "FATAL CONFIG FILE ERROR (Redis 7.4.1)"),
}


def config_crash(world: World, app: App) -> Injected:
    """A release needs a setting nobody added: the process exits at start."""
    exit_code, message = _CRASHES.get(app.runtime, (1, ""))

    def change(template: Raw) -> None:
        _new_image(template)

    return _broken_rollout(
        world,
        app,
        change,
        fates.crash_loop(
            exit_code=exit_code,
            message=message if world.rng.random() < 0.5 else "",
            restarts=world.rng.randrange(3, 9),
        ),
        cause="crash-loop",
        note=f"release of {app.name} exits with code {exit_code} at start",
        http=(502, 503),
    )


def command_typo(world: World, app: App) -> Injected:
    binary = world.pick(["gunicron", "/app/sever", "uvicron", "/usr/local/bin/entrypoint.sh"])

    def change(template: Raw) -> None:
        _main(template)["command"] = [binary]

    message = (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
        f'runc create failed: unable to start container process: exec: "{binary}": executable '
        "file not found in $PATH: unknown"
    )
    return _broken_rollout(
        world,
        app,
        change,
        fates.crash_loop(
            exit_code=128, reason="StartError", message=message, restarts=world.rng.randrange(3, 9)
        ),
        cause="crash-loop",
        note=f"release of {app.name} runs {binary}, which is not in the image",
        http=(502, 503),
    )


def hung_after_serving(world: World, app: App) -> Injected:
    """The app served for hours, then deadlocks: its liveness probe times
    out and the kubelet restarts it again and again."""
    group = app.groups[-1]
    group.age = max(group.age, 6 * HOUR)
    group.fate = fates.probe_kills(
        probe_path=(_main(app.template).get("livenessProbe") or {})
        .get("httpGet", {})
        .get("path", "/healthz"),
        restarts=world.rng.randrange(4, 10),
        served_for=group.age - world.rng.uniform(15 * MINUTE, 50 * MINUTE),
    )
    if not _main(app.template).get("livenessProbe"):
        port = _port(app)
        for revision in app.revisions[-1:]:
            _main(revision.template)["livenessProbe"] = http_probe(
                "/healthz", port, initial=15, period=10, timeout=1
            )
    return Injected(
        truth=_truth(
            app,
            "crash-loop",
            status="failing",
            evidence=(_pod(app, _first(group.names)),),
            http=(502, 503),
        ),
        note=f"{app.name} hangs after hours of serving; the liveness probe restarts it",
    )


# --- target-port-mismatch ----------------------------------------------------------------


def port_changed_in_image(world: World, app: App) -> Injected:
    """The new image listens on another port; the Deployment moved with it,
    the Service still targets the old number."""
    svc = _service(app)
    old = _port(app)
    svc["spec"]["ports"][0]["targetPort"] = old
    new = world.pick([p for p in (3000, 8000, 8081, 9000, 5000) if p != old])

    def change(template: Raw) -> None:
        main = _main(template)
        main["ports"][0]["containerPort"] = new
        for probe in ("readinessProbe", "livenessProbe"):
            if main.get(probe):
                main[probe]["httpGet"]["port"] = (
                    new if isinstance(main[probe]["httpGet"]["port"], int) else "http"
                )
        _new_image(template)

    app.rollout(change, fates.serving(), ago=_recent(world))
    return Injected(
        truth=_truth(
            app,
            "target-port-mismatch",
            status="failing",
            evidence=(_ref("Service", app.namespace, svc["metadata"]["name"]),),
            http=(502,),
        ),
        note=f"{app.name} now listens on {new}; Service {svc['metadata']['name']} targets {old}",
    )


def target_port_name_typo(world: World, app: App) -> Injected:
    svc = _service(app)
    name = _main(app.template)["ports"][0]["name"]
    svc["spec"]["ports"][0]["targetPort"] = world.pick([_typo(name), "web", "http-web"])
    return Injected(
        truth=_truth(
            app,
            "target-port-mismatch",
            status="failing",
            evidence=(_ref("Service", app.namespace, svc["metadata"]["name"]),),
            http=(503,),
        ),
        note=f"Service {svc['metadata']['name']} was edited to target port {svc['spec']['ports'][0]['targetPort']!r}",
    )


def container_port_renamed(world: World, app: App) -> Injected:
    """The chart renamed the container port; the Service targets it by its old name."""
    svc = _service(app)
    name = _main(app.template)["ports"][0]["name"]
    svc["spec"]["ports"][0]["targetPort"] = name
    new = world.pick(["web", "app", "server", "http-api"])

    def change(template: Raw) -> None:
        main = _main(template)
        port = main["ports"][0]["containerPort"]
        main["ports"][0]["name"] = new
        for probe in ("readinessProbe", "livenessProbe"):
            if main.get(probe):
                main[probe]["httpGet"]["port"] = port

    app.rollout(change, fates.serving(), ago=_recent(world))
    return Injected(
        truth=_truth(
            app,
            "target-port-mismatch",
            status="failing",
            evidence=(_ref("Service", app.namespace, svc["metadata"]["name"]),),
            http=(503,),
        ),
        note=f"release of {app.name} renamed container port {name} to {new}",
    )


# --- readiness-probe-failing ----------------------------------------------------------------


def _probe_change(
    app: App, path: str | None = None, port: int | None = None
) -> Callable[[Raw], None]:
    def change(template: Raw) -> None:
        main = _main(template)
        probe = main.setdefault("readinessProbe", http_probe("/healthz", _port(app)))
        if path:
            probe["httpGet"]["path"] = path
        if port:
            probe["httpGet"]["port"] = port
        _new_image(template)

    return change


def probe_path_changed(world: World, app: App) -> Injected:
    path = world.pick(["/health/ready", "/ready", "/healthz/ready", "/api/health"])
    return _broken_rollout(
        world,
        app,
        _probe_change(app, path=path),
        fates.probe_failing(message="HTTP probe failed with statuscode: 404"),
        cause="readiness-probe-failing",
        note=f"release of {app.name} probes {path}, which the app answers with 404",
    )


def probe_port_wrong(world: World, app: App) -> Injected:
    port = world.pick([8081, 9090, 8558])
    path = (
        (_main(app.template).get("readinessProbe") or {}).get("httpGet", {}).get("path", "/healthz")
    )
    return _broken_rollout(
        world,
        app,
        _probe_change(app, port=port),
        fates.probe_failing(
            message=f'Get "http://{{ip}}:{port}{path}": dial tcp {{ip}}:{port}: connect: connection refused'
        ),
        cause="readiness-probe-failing",
        note=f"release of {app.name} probes port {port}, where nothing listens",
    )


def dependency_down(world: World, app: App) -> Injected:
    """The database behind the app is down: every pod's readiness endpoint
    answers 503 since then (no release involved)."""
    since = _recent(world)
    for group in app.groups:
        group.fate = fates.probe_failing(
            message="HTTP probe failed with statuscode: 503", since=since
        )
    if not _main(app.template).get("readinessProbe"):
        _main(app.template)["readinessProbe"] = http_probe("/ready", _port(app))
    return Injected(
        truth=_truth(
            app,
            "readiness-probe-failing",
            status="failing",
            evidence=(_pod(app, _first(app.pods_of())),),
            http=(503,),
        ),
        note=f"{app.name}'s readiness endpoint answers 503 since its database went down",
    )


# --- endpoints-terminating --------------------------------------------------------------------


def recreate_midway(world: World, app: App) -> Injected:
    """A `Recreate` rollout caught between the old pods and the new."""
    app.strategy = {"type": "Recreate"}
    pods = app.pods_of()
    app.rollout(_new_image, fates.serving(), ago=world.rng.uniform(4, 20), mode="replacing")
    return Injected(
        truth=_truth(
            app,
            "endpoints-terminating",
            status="failing",
            evidence=(_pod(app, _first(pods)),),
            http=(503,),
        ),
        note=f"Recreate rollout of {app.name} in progress: old pods terminating, no new pod yet",
    )


def node_unreachable(world: World, app: App) -> Injected:
    """The node running every pod of the app stops reporting; after the
    toleration the taint manager evicts them, and their replacements are
    only being created elsewhere."""
    node = world.nodes[0]
    node.ready = False
    node.taints = [
        {
            "effect": "NoSchedule",
            "key": "node.kubernetes.io/unreachable",
            "timeAdded": world.ts(400),
        },
        {
            "effect": "NoExecute",
            "key": "node.kubernetes.io/unreachable",
            "timeAdded": world.ts(395),
        },
    ]
    for other in world.nodes[1:]:
        other.unschedulable = False
    group = app.groups[-1]
    group.terminating = world.rng.uniform(20, 90)
    group.node = node.name
    names = list(group.names)
    app.group(group.revision, group.count, fates.creating(), age=min(group.terminating, 20.0))
    for name in names:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": app.namespace, "uid": world.uid()},
        }
        world.event(
            pod,
            "TaintManagerEviction",
            f"Marking for deletion Pod {app.namespace}/{name}",
            ago=group.terminating,
            component="taint-eviction-controller",
        )
        world.event(
            pod,
            "NodeNotReady",
            "Node is not ready",
            ago=400,
            warning=True,
            component="node-controller",
        )
    return Injected(
        truth=_truth(
            app,
            "endpoints-terminating",
            status="failing",
            evidence=(_pod(app, _first(names)),),
            http=(503,),
        ),
        note=f"node {node.name} with every pod of {app.name} went unreachable",
    )


# --- rollout-no-prestop ----------------------------------------------------------------------


def _no_prestop(template: Raw) -> None:
    _main(template).pop("lifecycle", None)
    _new_image(template)


def rollout_refused_in_logs(world: World, app: App) -> Injected:
    """A rolling update of pods without a preStop drain: the old pods stop
    at SIGTERM while ingress-nginx still sends them requests: 502s."""
    old = list(app.pods_of())
    for revision in app.revisions:
        _main(revision.template).pop("lifecycle", None)
    app.rollout(_no_prestop, fates.serving(), ago=world.rng.uniform(20, 60), mode="rolling")
    svc = _service(app)
    since = min(g.terminating or 0 for g in app.groups if g.terminating is not None)

    def traffic(objects: list[Raw]) -> list[Request]:
        addresses = [a for n in old if (a := proxylog.pod_address(objects, app.namespace, n))]
        return [
            Request(
                ago=world.rng.uniform(0.5, since),
                upstream=world.pick(addresses),
                status=502,
                method=world.pick(["GET", "POST"]),
                error=proxylog.REFUSED,
                took=0.001,
            )
            for _ in range(world.rng.randrange(8, 30))
        ]

    proxylog.log_requests(world, svc, _host(world, app), traffic)
    return Injected(
        truth=_truth(
            app,
            "rollout-no-prestop",
            status=None,
            evidence=(_ref("Deployment", app.namespace, app.name),),
            http=(502,),
        ),
        note=f"rolling update of {app.name} without preStop: 502s from the terminating pods",
    )


def prestop_as_long_as_grace(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        template["spec"]["terminationGracePeriodSeconds"] = 30
        _main(template)["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "30"]}}}
        _new_image(template)

    app.rollout(change, fates.serving(), ago=_recent(world))
    return Injected(
        truth=_truth(
            app,
            "rollout-no-prestop",
            status="degraded",
            evidence=(_ref("Deployment", app.namespace, app.name),),
        ),
        note=f"{app.name} sleeps 30 s in preStop with a 30 s grace period",
    )


def recreate_strategy(world: World, app: App) -> Injected:
    app.strategy = {"type": "Recreate"}
    app.rollout(_new_image, fates.serving(), ago=_recent(world), mode="recreate")
    return Injected(
        truth=_truth(
            app,
            "rollout-no-prestop",
            status="degraded",
            evidence=(_ref("Deployment", app.namespace, app.name),),
        ),
        note=f"{app.name} rolls out with the Recreate strategy: no pod serves in between",
    )


# --- network-policy-block ---------------------------------------------------------------------


def _policy(world: World, namespace: str, name: str, spec: Raw) -> Raw:
    return world.add(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": world.meta(name, namespace, age=_recent(world)),
            "spec": spec,
        }
    )


def _block_truth(app: App, policy: str, note: str) -> Injected:
    return Injected(
        truth=_truth(
            app,
            "network-policy-block",
            status="failing",
            evidence=(_ref("NetworkPolicy", app.namespace, policy),),
            http=(504,),
        ),
        note=note,
    )


def default_deny_added(world: World, app: App) -> Injected:
    """The security team rolls out default-deny with an allow for the
    namespace's own pods: the ingress controller is in another namespace."""
    _policy(
        world,
        app.namespace,
        "default-deny-ingress",
        {"podSelector": {}, "policyTypes": ["Ingress"]},
    )
    _policy(
        world,
        app.namespace,
        "allow-same-namespace",
        {
            "ingress": [{"from": [{"podSelector": {}}]}],
            "podSelector": {},
            "policyTypes": ["Ingress"],
        },
    )
    return _block_truth(
        app, "default-deny-ingress", f"default-deny NetworkPolicy added to {app.namespace}"
    )


def allow_by_missing_label(world: World, app: App) -> Injected:
    """The allow rule selects the controller's namespace by a `name` label
    that namespace never had."""
    name = f"allow-ingress-to-{app.name}"
    _policy(
        world,
        app.namespace,
        name,
        {
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"name": shapes.NGINX_NAMESPACE}}}
                    ],
                    "ports": [{"port": _port(app), "protocol": "TCP"}],
                }
            ],
            "podSelector": {"matchLabels": dict(app.selector)},
            "policyTypes": ["Ingress"],
        },
    )
    return _block_truth(
        app, name, f"NetworkPolicy {name} selects the ingress namespace by a label it lacks"
    )


def allow_on_service_port(world: World, app: App) -> Injected:
    """The allow rule names the Service's port, not the pod's."""
    name = f"{app.name}-ingress"
    svc_port = _service(app)["spec"]["ports"][0]["port"]
    _policy(
        world,
        app.namespace,
        name,
        {
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": shapes.NGINX_NAMESPACE
                                }
                            }
                        }
                    ],
                    "ports": [{"port": svc_port, "protocol": "TCP"}],
                }
            ],
            "podSelector": {"matchLabels": dict(app.selector)},
            "policyTypes": ["Ingress"],
        },
    )
    return _block_truth(
        app, name, f"NetworkPolicy {name} admits port {svc_port}; the pods listen on {_port(app)}"
    )


def deny_with_timeouts_in_logs(world: World, app: App) -> Injected:
    """Default-deny, and the controller's log full of connect timeouts: a
    timeout, but not one a longer read timeout would fix."""
    injected = default_deny_added(world, app)
    pods = app.pods_of()

    def traffic(objects: list[Raw]) -> list[Request]:
        addresses = [a for n in pods if (a := proxylog.pod_address(objects, app.namespace, n))]
        return [
            Request(
                ago=world.rng.uniform(1, 600),
                upstream=world.pick(addresses),
                status=504,
                error=proxylog.CONNECT_TIMEOUT,
                took=5.001,
            )
            for _ in range(world.rng.randrange(10, 40))
        ]

    proxylog.log_requests(world, _service(app), _host(world, app), traffic)
    return Injected(
        truth=injected.truth, note=injected.note + "; the controller logs connect timeouts"
    )


# --- backend-protocol-mismatch ------------------------------------------------------------------


def app_moved_to_tls(world: World, app: App) -> Injected:
    """The app now terminates TLS itself on 8443; the Service and the
    Ingress moved to port 443, the Ingress still speaks HTTP."""
    svc = _service(app)

    def change(template: Raw) -> None:
        main = _main(template)
        main["ports"] = [{"containerPort": 8443, "name": "https", "protocol": "TCP"}]
        for probe in ("readinessProbe", "livenessProbe"):
            if main.get(probe):
                main[probe]["httpGet"].update(port=8443, scheme="HTTPS")
        _new_image(template)

    app.rollout(change, fates.serving(), ago=_recent(world))
    svc["spec"]["ports"] = [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}
    ]
    for ing in _ingresses(world, app):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] == svc["metadata"]["name"]:
                    path["backend"]["service"]["port"] = {"number": 443}
    return _protocol_truth(
        world, app, f"{app.name} serves HTTPS on 8443; ingress-nginx speaks HTTP to it"
    )


def _protocol_truth(world: World, app: App, note: str) -> Injected:
    svc = _service(app)
    ingress = _ingresses(world, app)[0]
    return Injected(
        truth=_truth(
            app,
            "backend-protocol-mismatch",
            status="failing",
            evidence=(
                _ref("Ingress", app.namespace, ingress["metadata"]["name"]),
                _ref("Service", app.namespace, svc["metadata"]["name"]),
            ),
            http=(502,),
        ),
        note=note,
    )


def https_annotation_on_plain(world: World, app: App) -> Injected:
    for ing in _ingresses(world, app):
        ing["metadata"].setdefault("annotations", {})[
            "nginx.ingress.kubernetes.io/backend-protocol"
        ] = "HTTPS"
    svc = _service(app)
    svc["spec"]["ports"][0]["appProtocol"] = "http"
    return _protocol_truth(
        world,
        app,
        f"an HTTPS backend-protocol annotation was added in front of plain-HTTP {app.name}",
    )


def grpc_without_annotation(world: World, app: App) -> Injected:
    svc = _service(app)

    def change(template: Raw) -> None:
        main = _main(template)
        main["ports"] = [{"containerPort": 50051, "name": "grpc", "protocol": "TCP"}]
        main["readinessProbe"] = {
            "grpc": {"port": 50051},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        }
        main.pop("livenessProbe", None)
        _new_image(template)

    app.rollout(change, fates.serving(), ago=_recent(world))
    svc["spec"]["ports"] = [
        {
            "appProtocol": "grpc",
            "name": "grpc",
            "port": 50051,
            "protocol": "TCP",
            "targetPort": "grpc",
        }
    ]
    for ing in _ingresses(world, app):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] == svc["metadata"]["name"]:
                    path["backend"]["service"]["port"] = {"number": 50051}
    return _protocol_truth(
        world, app, f"{app.name} became a gRPC server; its Ingress has no GRPC backend-protocol"
    )


# --- connection-pool-exhausted -------------------------------------------------------------------


def _pool_truth(app: App, ref: str, note: str) -> Injected:
    return Injected(
        truth=_truth(app, "connection-pool-exhausted", status="degraded", evidence=(ref,)),
        note=note,
    )


def load_test_breaker_left(world: World, app: App) -> Injected:
    """A circuit-breaker test's DestinationRule was never reverted."""
    rules = [
        d for d in world.of_kind("DestinationRule", app.namespace) if d["spec"]["host"] == app.name
    ]
    rule = rules[0] if rules else shapes.destination_rule(world, app, subsets=False)
    rule["spec"]["trafficPolicy"] = {
        "connectionPool": {
            "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1},
            "tcp": {"maxConnections": 1},
        },
        "outlierDetection": {
            "baseEjectionTime": "3m",
            "consecutive5xxErrors": 5,
            "interval": "1s",
            "maxEjectionPercent": 50,
        },
    }
    return _pool_truth(
        app,
        _ref("DestinationRule", app.namespace, rule["metadata"]["name"]),
        f"DestinationRule {rule['metadata']['name']} allows 1 connection",
    )


def autoscaler_ceiling(world: World, app: App) -> Injected:
    hpas = [
        h
        for h in world.of_kind("HorizontalPodAutoscaler", app.namespace)
        if h["metadata"]["name"] == app.name
    ]
    for hpa in hpas:
        world.remove(hpa)
    maximum = world.rng.randrange(4, 8)
    app.scale(maximum, ago=world.rng.uniform(20 * MINUTE, 50 * MINUTE))
    hpa = shapes.hpa(world, app, minimum=2, maximum=maximum, limited=True)
    world.event(
        hpa,
        "SuccessfulRescale",
        f"New size: {maximum}; reason: cpu resource utilization (percentage of request) above target",
        ago=world.rng.uniform(20 * MINUTE, 50 * MINUTE),
        component="horizontal-pod-autoscaler",
    )
    return _pool_truth(
        app,
        _ref("HorizontalPodAutoscaler", app.namespace, app.name),
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
            "metadata": world.meta(name, app.namespace, age=_recent(world)),
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
        _ref("BackendTrafficPolicy", app.namespace, name),
        f"BackendTrafficPolicy {name} caps {app.name} at 5 requests",
    )


# --- upstream-timeout -----------------------------------------------------------------------------


def _gunicorn(template: Raw, timeout: int) -> None:
    main = _main(template)
    port = main["ports"][0]["containerPort"]
    main["command"] = ["gunicorn", "config.wsgi:application"]
    main["args"] = ["--bind", f"0.0.0.0:{port}", "--workers", "4", "--timeout", str(timeout)]
    main.pop("env", None)
    _new_image(template)


def export_slower_than_proxy(world: World, app: App) -> Injected:
    """A release adds report exports and lets gunicorn's workers run 5
    minutes; the Ingress keeps nginx's 60 s read timeout (or sets less)."""
    timeout = world.pick([120, 180, 300])
    app.rollout(lambda t: _gunicorn(t, timeout), fates.serving(), ago=_recent(world))
    app.runtime = "gunicorn"
    ingresses = _ingresses(world, app)
    if world.rng.random() < 0.5:
        for ing in ingresses:
            ing["metadata"].setdefault("annotations", {})[
                "nginx.ingress.kubernetes.io/proxy-read-timeout"
            ] = "30"
    pods = app.pods_of()
    if world.rng.random() < 0.5:

        def traffic(objects: list[Raw]) -> list[Request]:
            addresses = [a for n in pods if (a := proxylog.pod_address(objects, app.namespace, n))]
            return [
                Request(
                    ago=world.rng.uniform(1, 1500),
                    upstream=world.pick(addresses),
                    status=504,
                    error=proxylog.READ_TIMEOUT,
                    took=60.001,
                )
                for _ in range(world.rng.randrange(5, 20))
            ]

        proxylog.log_requests(world, _service(app), _host(world, app), traffic)
    return Injected(
        truth=_truth(
            app,
            "upstream-timeout",
            status=None,
            evidence=(_ref("Ingress", app.namespace, ingresses[0]["metadata"]["name"]),),
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
        truth=_truth(
            app,
            "upstream-timeout",
            status="degraded",
            evidence=(_ref("ConfigMap", shapes.NGINX_NAMESPACE, shapes.NGINX_CONFIGMAP),),
            http=(504,),
        ),
        note=f"the platform lowered nginx's proxy-read-timeout to {configmap['data']['proxy-read-timeout']} s",
    )


# --- keepalive-race -------------------------------------------------------------------------------


def _keepalive_truth(app: App, note: str, status: str | None = "degraded") -> Injected:
    return Injected(
        truth=_truth(
            app,
            "keepalive-race",
            status=status,
            evidence=(_ref("Deployment", app.namespace, app.name),),
            http=(502,),
        ),
        note=note,
    )


def gthread_default_keepalive(world: World, app: App) -> Injected:
    """A release switches gunicorn to threads, which keep connections alive
    for gunicorn's default 2 s; nginx keeps them 60 s."""

    def change(template: Raw) -> None:
        main = _main(template)
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
        _new_image(template)

    app.rollout(change, fates.serving(), ago=world.rng.uniform(2 * HOUR, 3 * DAY))
    app.runtime = "gunicorn-gthread"
    return _keepalive_truth(
        app, f"{app.name} runs gunicorn gthread with the default 2 s keep-alive"
    )


def uvicorn_default_keepalive(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        main = _main(template)
        port = main["ports"][0]["containerPort"]
        main["command"] = ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", str(port)]
        main["args"] = ["--proxy-headers", "--workers", "4"]
        main.pop("env", None)
        _new_image(template)

    app.rollout(change, fates.serving(), ago=world.rng.uniform(2 * HOUR, 3 * DAY))
    app.runtime = "uvicorn"
    pods = app.pods_of()
    if world.rng.random() < 0.5:

        def traffic(objects: list[Raw]) -> list[Request]:
            addresses = [a for n in pods if (a := proxylog.pod_address(objects, app.namespace, n))]
            return [
                Request(
                    ago=world.rng.uniform(1, 1800),
                    upstream=world.pick(addresses),
                    status=502,
                    method=world.pick(["POST", "POST", "PATCH"]),
                    error=proxylog.CLOSED,
                    took=0.002,
                )
                for _ in range(world.rng.randrange(6, 25))
            ]

        proxylog.log_requests(world, _service(app), _host(world, app), traffic)
        return _keepalive_truth(
            app,
            f"{app.name} moved to uvicorn's default 5 s keep-alive; 502s in the log",
            status=None,
        )
    return _keepalive_truth(app, f"{app.name} moved to uvicorn's default 5 s keep-alive")


def node_behind_sidecar(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        main = _main(template)
        main["image"] = world.pick(["node:20-alpine", "node:22-slim", "node:18"])
        main["command"] = ["node", "/app/server.js"]
        main.pop("env", None)

    app.rollout(change, fates.serving(), ago=world.rng.uniform(2 * HOUR, 3 * DAY))
    app.runtime = "node"
    return _keepalive_truth(
        app, f"{app.name} runs on stock Node.js (5 s keep-alive) behind an Istio sidecar (1 h)"
    )


# --- ingress-backend-missing ----------------------------------------------------------------------


def _ingress_truth(
    ingress: Raw, cause: str, status: str, note: str, http: tuple[int, ...] = (503,)
) -> Injected:
    meta = ingress["metadata"]
    return Injected(
        truth=Truth(
            target=f"ingress/{meta['name']}",
            namespace=meta["namespace"],
            cause=cause,
            status=status,
            http_status=http,
            evidence=(_ref("Ingress", meta["namespace"], meta["name"]),),
        ),
        note=note,
    )


def _ingress_status(ingress: Raw) -> str:
    """Failing when the broken backend is all the Ingress routes to."""
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    return "failing" if len(paths) == 1 else "degraded"


def service_renamed(world: World, app: App) -> Injected:
    """The chart upgrade renamed the Service; the hand-written Ingress
    still routes to the old name."""
    ingress = _ingresses(world, app)[0]
    svc = _service(app)
    old = svc["metadata"]["name"]
    svc["metadata"]["name"] = f"{old}-{world.pick(['web', 'svc', 'http', app.namespace])}"
    return _ingress_truth(
        ingress,
        "ingress-backend-missing",
        _ingress_status(ingress),
        f"Service {old} was renamed {svc['metadata']['name']}; Ingress {ingress['metadata']['name']} still routes to {old}",
    )


def service_port_renamed(world: World, app: App) -> Injected:
    """The chart renamed the Service's port; an Ingress names it by the old name."""
    ingress = _ingresses(world, app)[0]
    svc = _service(app)
    port = svc["spec"]["ports"][0]
    old = port["name"]
    port["name"] = world.pick(["web", "http-web", "tcp-http"])
    svc_name = svc["metadata"]["name"]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            if path["backend"]["service"]["name"] == svc_name:
                path["backend"]["service"]["port"] = {"name": old}
    if isinstance(port["targetPort"], str):
        port["targetPort"] = _port(app)
    return _ingress_truth(
        ingress,
        "ingress-backend-missing",
        _ingress_status(ingress),
        f"Service port {old} of {svc_name} renamed {port['name']}",
    )


# --- ingress-class-missing -------------------------------------------------------------------------


def ingress_class_typo(world: World, app: App) -> Injected:
    ingress = _ingresses(world, app)[0]
    ingress["spec"]["ingressClassName"] = world.pick(
        ["nginx-internal", "nginx-public", "ingress-nginx", "external"]
    )
    ingress["status"] = {"loadBalancer": {}}
    return _ingress_truth(
        ingress,
        "ingress-class-missing",
        "failing",
        f"Ingress {ingress['metadata']['name']} asks for class {ingress['spec']['ingressClassName']}",
        http=(404, 503),
    )


def legacy_class_annotation(world: World, app: App) -> Injected:
    ingress = _ingresses(world, app)[0]
    ingress["spec"].pop("ingressClassName", None)
    ingress["metadata"].setdefault("annotations", {})["kubernetes.io/ingress.class"] = world.pick(
        ["nginx-external", "public", "traefik"]
    )
    ingress["status"] = {"loadBalancer": {}}
    for klass in world.of_kind("IngressClass"):
        klass["metadata"].pop("annotations", None)
    return _ingress_truth(
        ingress,
        "ingress-class-missing",
        "failing",
        f"Ingress {ingress['metadata']['name']} still uses the kubernetes.io/ingress.class annotation",
        http=(404, 503),
    )


def no_class_no_default(world: World, app: App) -> Injected:
    ingress = _ingresses(world, app)[0]
    ingress["spec"].pop("ingressClassName", None)
    ingress["status"] = {"loadBalancer": {}}
    for klass in world.of_kind("IngressClass"):
        klass["metadata"].pop("annotations", None)
    return _ingress_truth(
        ingress,
        "ingress-class-missing",
        "failing",
        f"Ingress {ingress['metadata']['name']} names no class and none is the default",
        http=(404, 503),
    )


# --- route-not-attached ----------------------------------------------------------------------------


def _route(world: World, app: App) -> Raw:
    found = world.find("HTTPRoute", app.namespace, app.name)
    assert found is not None
    return found


def _route_truth(route: Raw, note: str) -> Injected:
    meta = route["metadata"]
    return Injected(
        truth=Truth(
            target=f"httproute/{meta['name']}",
            namespace=meta["namespace"],
            cause="route-not-attached",
            status="failing",
            http_status=(404,),
            evidence=(_ref("HTTPRoute", meta["namespace"], meta["name"]),),
        ),
        note=note,
    )


def route_to_missing_gateway(world: World, app: App) -> Injected:
    route = _route(world, app)
    route["spec"]["parentRefs"][0]["name"] = world.pick(["eg-public", "external", "main-gateway"])
    route["status"] = {"parents": []}
    return _route_truth(
        route,
        f"HTTPRoute {app.name} names Gateway {route['spec']['parentRefs'][0]['name']}, which does not exist",
    )


def route_not_allowed(world: World, app: App) -> Injected:
    """The route's namespace lost the label the Gateway's listener admits."""
    route = _route(world, app)
    parent = route["spec"]["parentRefs"][0]
    if parent["namespace"] == app.namespace:
        gateway = world.find("Gateway", app.namespace, "eg")
        assert gateway is not None
        world.remove(gateway)
        gateway["metadata"]["namespace"] = "infra"
        world.namespace("infra")
        world.add(gateway)
        gateway["spec"]["listeners"][0]["allowedRoutes"] = {
            "namespaces": {
                "from": "Selector",
                "selector": {"matchLabels": {"gateway-access": "true"}},
            }
        }
        for other in world.of_kind("HTTPRoute"):
            other["spec"]["parentRefs"][0]["namespace"] = "infra"
            for status in other["status"]["parents"]:
                status["parentRef"]["namespace"] = "infra"
    ns = world.find("Namespace", "", app.namespace)
    assert ns is not None
    ns["metadata"]["labels"].pop("gateway-access", None)
    for status in route["status"]["parents"]:
        status["conditions"][0] = {
            "lastTransitionTime": world.ts(_recent(world)),
            "message": "No listeners included by this parent ref allowed this attachment.",
            "observedGeneration": 1,
            "reason": "NotAllowedByListeners",
            "status": "False",
            "type": "Accepted",
        }
    return _route_truth(
        route, f"namespace {app.namespace} lost the label Gateway eg admits routes by"
    )


def route_wrong_listener(world: World, app: App) -> Injected:
    route = _route(world, app)
    route["spec"]["parentRefs"][0]["sectionName"] = "https"
    for status in route["status"]["parents"]:
        status["parentRef"]["sectionName"] = "https"
        status["conditions"][0] = {
            "lastTransitionTime": world.ts(_recent(world)),
            "message": "No listeners match this parent ref",
            "observedGeneration": 2,
            "reason": "NoMatchingParent",
            "status": "False",
            "type": "Accepted",
        }
    return _route_truth(
        route, f"HTTPRoute {app.name} attaches to listener https, which Gateway eg does not have"
    )


# --- mesh ------------------------------------------------------------------------------------------


def _mesh_truth(app: App, cause: str, ref: str, note: str, status: str = "failing") -> Injected:
    return Injected(
        truth=_truth(app, cause, status=status, evidence=(ref,), http=(503,)), note=note
    )


def _destination_rule(world: World, app: App) -> Raw:
    rules = [
        d for d in world.of_kind("DestinationRule", app.namespace) if d["spec"]["host"] == app.name
    ]
    return rules[0] if rules else shapes.destination_rule(world, app, subsets=True)


def subset_not_defined(world: World, app: App) -> Injected:
    """A canary VirtualService goes out before the DestinationRule that
    defines its subset."""
    rule = _destination_rule(world, app)
    rule["spec"]["subsets"] = [{"labels": {"version": "v1"}, "name": "v1"}]
    port = _service(app)["spec"]["ports"][0]["port"]
    vs = world.find("VirtualService", app.namespace, app.name) or shapes.virtual_service(world, app)
    vs["spec"]["http"] = [
        {"route": [{"destination": {"host": app.name, "port": {"number": port}, "subset": "v2"}}]}
    ]
    return _mesh_truth(
        app,
        "mesh-destination-missing",
        _ref("VirtualService", app.namespace, vs["metadata"]["name"]),
        f"VirtualService {app.name} routes to subset v2, which no DestinationRule defines",
    )


def subset_selects_nothing(world: World, app: App) -> Injected:
    rule = _destination_rule(world, app)
    rule["spec"]["subsets"] = [
        {"labels": {"version": "v1"}, "name": "v1"},
        {"labels": {"version": "v2"}, "name": "v2"},
    ]
    port = _service(app)["spec"]["ports"][0]["port"]
    vs = world.find("VirtualService", app.namespace, app.name) or shapes.virtual_service(world, app)
    vs["spec"]["http"] = [
        {"route": [{"destination": {"host": app.name, "port": {"number": port}, "subset": "v2"}}]}
    ]
    return _mesh_truth(
        app,
        "mesh-destination-missing",
        _ref("VirtualService", app.namespace, vs["metadata"]["name"]),
        f"VirtualService {app.name} sends everything to subset v2; no pod is version v2 yet",
    )


def dr_disables_tls(world: World, app: App) -> Injected:
    """A DestinationRule turns TLS off while the mesh requires mTLS."""
    for policy in world.of_kind("PeerAuthentication"):
        policy["spec"]["mtls"]["mode"] = "STRICT"
    rule = _destination_rule(world, app)
    rule["spec"]["trafficPolicy"] = {
        **rule["spec"].get("trafficPolicy", {}),
        "tls": {"mode": "DISABLE"},
    }
    return _mesh_truth(
        app,
        "mtls-mismatch",
        _ref("DestinationRule", app.namespace, rule["metadata"]["name"]),
        f"DestinationRule {app.name} sets tls DISABLE under mesh-wide STRICT mTLS",
    )


def sidecar_removed(world: World, app: App) -> Injected:
    """The pods opt out of injection; the DestinationRule still says ISTIO_MUTUAL."""

    def change(template: Raw) -> None:
        template["spec"]["containers"] = [
            c for c in template["spec"]["containers"] if c["name"] != "istio-proxy"
        ]
        annotations = template["metadata"].setdefault("annotations", {})
        annotations.pop("sidecar.istio.io/status", None)
        annotations["sidecar.istio.io/inject"] = "false"
        for key in (
            "security.istio.io/tlsMode",
            "service.istio.io/canonical-name",
            "service.istio.io/canonical-revision",
        ):
            template["metadata"]["labels"].pop(key, None)

    app.rollout(change, fates.serving(), ago=_recent(world))
    rule = _destination_rule(world, app)
    rule["spec"]["trafficPolicy"] = {
        **rule["spec"].get("trafficPolicy", {}),
        "tls": {"mode": "ISTIO_MUTUAL"},
    }
    return _mesh_truth(
        app,
        "mtls-mismatch",
        _pod(app, _first(app.pods_of())),
        f"{app.name} runs without a sidecar; its DestinationRule requires ISTIO_MUTUAL",
    )


def grpc_port_named_http(world: World, app: App) -> Injected:
    """The app became a gRPC server; its Service port is still named http."""

    def change(template: Raw) -> None:
        main = _main(template)
        port = main["ports"][0]["containerPort"]
        main["ports"][0]["name"] = "grpc"
        main["readinessProbe"] = {
            "grpc": {"port": port},
            "failureThreshold": 3,
            "periodSeconds": 10,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        }
        main.pop("livenessProbe", None)
        _new_image(template)

    app.rollout(change, fates.serving(), ago=_recent(world))
    svc = _service(app)
    svc["spec"]["ports"][0]["targetPort"] = _port(app)
    svc["spec"]["ports"][0]["name"] = "http"
    return _mesh_truth(
        app,
        "mesh-port-protocol",
        _ref("Service", app.namespace, svc["metadata"]["name"]),
        f"{app.name} speaks gRPC; its Service port is named http",
    )


def eject_every_host(world: World, app: App) -> Injected:
    rule = _destination_rule(world, app)
    rule["spec"]["trafficPolicy"] = {
        **rule["spec"].get("trafficPolicy", {}),
        "outlierDetection": {
            "baseEjectionTime": "3m",
            "consecutive5xxErrors": world.pick([1, 2]),
            "interval": "5s",
            "maxEjectionPercent": 100,
        },
    }
    return _mesh_truth(
        app,
        "outlier-ejected",
        _ref("DestinationRule", app.namespace, rule["metadata"]["name"]),
        f"DestinationRule {app.name} may eject every host after one 5xx",
        status="degraded",
    )


# --- healthy controls, some of them alarming -----------------------------------------------------------


def _healthy(app: App, note: str, target: str | None = None) -> Injected:
    return Injected(truth=_truth(app, HEALTHY, status="healthy", target=target), note=note)


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
    app.rollout(_new_image, fates.creating(), ago=world.rng.uniform(3, 12), mode="stuck")
    return _healthy(app, f"rollout of {app.name} started seconds ago")


def rollout_with_prestop(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        _main(template)["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}
        template["spec"]["terminationGracePeriodSeconds"] = 45
        _new_image(template)

    for revision in app.revisions:
        change(revision.template)
    app.rollout(
        change, fates.serving(startup=4), ago=world.rng.uniform(15, 40), mode="rolling", drains=True
    )
    return _healthy(app, f"rollout of {app.name} with a preStop sleep: old pods drain")


def probe_blip(world: World, app: App) -> Injected:
    """One pod failed its readiness probe twice while a dependency hiccupped,
    forty minutes ago."""
    name = _first(app.pods_of())
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": app.namespace, "uid": world.uid()},
    }
    ago = world.rng.uniform(30 * MINUTE, 55 * MINUTE)
    world.event(
        pod,
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        ago=ago,
        first=ago + 10,
        count=2,
        warning=True,
        field_path=f"spec.containers{{{_main(app.template)['name']}}}",
    )
    return _healthy(app, f"one pod of {app.name} failed two probes 40 minutes ago")


def neighbours_on_fire(world: World, app: App) -> Injected:
    """Other apps in the namespace crash-loop and cannot pull their image."""
    others = [
        a
        for a in world.apps
        if a.namespace == app.namespace
        and a is not app
        and a.role == "app"
        and a.kind == "Deployment"
    ]
    for other, fault in zip(others[:2], (config_crash, tag_typo), strict=False):
        fault(world, other)
    return _healthy(app, f"{app.name} serves while its neighbours fail")


def policy_admits_controller(world: World, app: App) -> Injected:
    _policy(
        world,
        app.namespace,
        "default-deny-ingress",
        {"podSelector": {}, "policyTypes": ["Ingress"]},
    )
    _policy(
        world,
        app.namespace,
        "allow-from-ingress-nginx",
        {
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": shapes.NGINX_NAMESPACE
                                }
                            },
                            "podSelector": {
                                "matchLabels": {
                                    "app.kubernetes.io/name": "ingress-nginx",
                                    "app.kubernetes.io/component": "controller",
                                }
                            },
                        }
                    ]
                },
                {"from": [{"podSelector": {}}]},
            ],
            "podSelector": {},
            "policyTypes": ["Ingress"],
        },
    )
    return _healthy(app, "default-deny NetworkPolicy with an allow for the ingress controller")


def scaled_up_by_hpa(world: World, app: App) -> Injected:
    before = app.replicas
    app.scale(before + world.rng.randrange(1, 4), ago=world.rng.uniform(5 * MINUTE, 40 * MINUTE))
    hpa = next(
        (
            h
            for h in world.of_kind("HorizontalPodAutoscaler", app.namespace)
            if h["metadata"]["name"] == app.name
        ),
        None,
    )
    if hpa is not None:
        hpa["status"].update(currentReplicas=app.replicas, desiredReplicas=app.replicas)
        world.event(
            hpa,
            "SuccessfulRescale",
            f"New size: {app.replicas}; reason: cpu resource utilization (percentage of request) above target",
            ago=world.rng.uniform(5 * MINUTE, 40 * MINUTE),
            component="horizontal-pod-autoscaler",
        )
    return _healthy(app, f"{app.name} scaled up from {before} under load")


def statefulset_rolled(world: World, app: App) -> Injected:
    app.rollout(
        _new_image, fates.serving(startup=40), ago=world.rng.uniform(10 * MINUTE, 50 * MINUTE)
    )
    return _healthy(app, f"StatefulSet {app.name} rolled out a new image, all pods ready")


def healthy_route(world: World, app: App) -> Injected:
    return _healthy(app, f"HTTPRoute {app.name} serves", target=f"httproute/{app.name}")


def healthy_ingress(world: World, app: App) -> Injected:
    ingress = _ingresses(world, app)[0]
    return _healthy(
        app,
        f"Ingress {ingress['metadata']['name']} serves",
        target=f"ingress/{ingress['metadata']['name']}",
    )


# --- the catalogue ----------------------------------------------------------------------------------------

_STS = _both(lambda a: a.kind == "StatefulSet", _http)
_DEPLOY = _both(_deployment, _http)


FAULTS: tuple[Fault, ...] = (
    Fault(
        name="version-label-bump",
        cause="selector-mismatch",
        shapes=("shop", "autoscaled", "gateway", "mesh"),
        inject=version_label_bump,
        fits=_DEPLOY,
    ),
    Fault(
        name="service-selector-typo",
        cause="selector-mismatch",
        shapes=ALL_SHAPES,
        inject=service_selector_typo,
    ),
    Fault(
        name="label-key-migrated",
        cause="selector-mismatch",
        shapes=("shop", "autoscaled", "gateway"),
        inject=label_key_migrated,
        fits=_DEPLOY,
    ),
    Fault(
        name="workload-deleted",
        cause="no-matching-workload",
        shapes=ALL_SHAPES,
        inject=workload_deleted,
    ),
    Fault(
        name="moved-namespace",
        cause="no-matching-workload",
        shapes=("shop", "autoscaled", "gateway"),
        inject=moved_namespace,
        fits=_DEPLOY,
    ),
    Fault(
        name="umbrella-release-deleted",
        cause="no-matching-workload",
        shapes=("shop", "autoscaled"),
        inject=umbrella_release_deleted,
        fits=lambda a: "app.kubernetes.io/instance" in _service(a)["spec"]["selector"],
        mimics="selector-mismatch",
    ),
    Fault(
        name="scaled-to-zero-by-hand",
        cause="scaled-to-zero",
        shapes=ALL_SHAPES,
        inject=scaled_to_zero_by_hand,
    ),
    Fault(
        name="scaled-to-zero-under-hpa",
        cause="scaled-to-zero",
        shapes=("autoscaled",),
        inject=scaled_to_zero_under_hpa,
    ),
    Fault(
        name="scaled-to-zero-draining",
        cause="scaled-to-zero",
        shapes=ALL_SHAPES,
        inject=scaled_to_zero_draining,
        mimics="endpoints-terminating",
    ),
    Fault(
        name="requests-raised",
        cause="pods-pending",
        shapes=ALL_SHAPES,
        inject=requests_raised,
        fits=_deployment,
    ),
    Fault(
        name="node-pool-gone",
        cause="pods-pending",
        shapes=ALL_SHAPES,
        inject=node_pool_gone,
        fits=_deployment,
    ),
    Fault(
        name="missing-configmap",
        cause="pods-pending",
        shapes=ALL_SHAPES,
        inject=missing_configmap,
        fits=_deployment,
    ),
    Fault(
        name="missing-secret-volume",
        cause="pods-pending",
        shapes=ALL_SHAPES,
        inject=missing_secret_volume,
        fits=_deployment,
    ),
    Fault(
        name="unbound-claims",
        cause="pods-pending",
        shapes=("data",),
        inject=unbound_claims,
        fits=lambda a: bool(a.claims),
    ),
    Fault(
        name="tag-typo", cause="image-pull", shapes=ALL_SHAPES, inject=tag_typo, fits=_deployment
    ),
    Fault(
        name="registry-unauthorized",
        cause="image-pull",
        shapes=ALL_SHAPES,
        inject=registry_unauthorized,
        fits=_deployment,
    ),
    Fault(
        name="registry-host-typo", cause="image-pull", shapes=ALL_SHAPES, inject=registry_host_typo
    ),
    Fault(name="limit-lowered", cause="oom-killed", shapes=ALL_SHAPES, inject=limit_lowered),
    Fault(
        name="heap-above-limit",
        cause="oom-killed",
        shapes=ALL_SHAPES,
        inject=heap_above_limit,
        fits=lambda a: a.runtime == "jvm",
    ),
    Fault(
        name="one-pod-oom",
        cause="oom-killed",
        shapes=ALL_SHAPES,
        inject=one_pod_oom,
        fits=lambda a: a.replicas >= 2,
    ),
    Fault(
        name="liveness-too-early",
        cause="slow-startup",
        shapes=ALL_SHAPES,
        inject=liveness_too_early,
        fits=_DEPLOY,
    ),
    Fault(name="config-crash", cause="crash-loop", shapes=ALL_SHAPES, inject=config_crash),
    Fault(
        name="command-typo",
        cause="crash-loop",
        shapes=ALL_SHAPES,
        inject=command_typo,
        fits=_deployment,
    ),
    Fault(
        name="hung-after-serving",
        cause="crash-loop",
        shapes=ALL_SHAPES,
        inject=hung_after_serving,
        fits=_DEPLOY,
        mimics="slow-startup",
    ),
    Fault(
        name="port-changed-in-image",
        cause="target-port-mismatch",
        shapes=("shop", "autoscaled", "gateway", "data"),
        inject=port_changed_in_image,
        fits=_DEPLOY,
    ),
    Fault(
        name="target-port-name-typo",
        cause="target-port-mismatch",
        shapes=ALL_SHAPES,
        inject=target_port_name_typo,
        fits=_http,
    ),
    Fault(
        name="container-port-renamed",
        cause="target-port-mismatch",
        shapes=("shop", "autoscaled", "gateway", "data"),
        inject=container_port_renamed,
        fits=_DEPLOY,
    ),
    Fault(
        name="probe-path-changed",
        cause="readiness-probe-failing",
        shapes=ALL_SHAPES,
        inject=probe_path_changed,
        fits=_DEPLOY,
    ),
    Fault(
        name="probe-port-wrong",
        cause="readiness-probe-failing",
        shapes=ALL_SHAPES,
        inject=probe_port_wrong,
        fits=_DEPLOY,
    ),
    Fault(
        name="dependency-down",
        cause="readiness-probe-failing",
        shapes=ALL_SHAPES,
        inject=dependency_down,
        fits=_http,
    ),
    Fault(
        name="recreate-midway",
        cause="endpoints-terminating",
        shapes=ALL_SHAPES,
        inject=recreate_midway,
        fits=_deployment,
        mimics="rollout-no-prestop",
    ),
    Fault(
        name="node-unreachable",
        cause="endpoints-terminating",
        shapes=ALL_SHAPES,
        inject=node_unreachable,
        fits=_deployment,
    ),
    Fault(
        name="rollout-refused-in-logs",
        cause="rollout-no-prestop",
        shapes=NGINX_SHAPES,
        inject=rollout_refused_in_logs,
        fits=_both(_DEPLOY, _nginx),
    ),
    Fault(
        name="prestop-as-long-as-grace",
        cause="rollout-no-prestop",
        shapes=ALL_SHAPES,
        inject=prestop_as_long_as_grace,
        fits=_DEPLOY,
    ),
    Fault(
        name="recreate-strategy",
        cause="rollout-no-prestop",
        shapes=ALL_SHAPES,
        inject=recreate_strategy,
        fits=_DEPLOY,
    ),
    Fault(
        name="default-deny-added",
        cause="network-policy-block",
        shapes=NGINX_SHAPES,
        inject=default_deny_added,
        fits=_nginx,
    ),
    Fault(
        name="allow-by-missing-label",
        cause="network-policy-block",
        shapes=NGINX_SHAPES,
        inject=allow_by_missing_label,
        fits=_nginx,
    ),
    Fault(
        name="allow-on-service-port",
        cause="network-policy-block",
        shapes=NGINX_SHAPES,
        inject=allow_on_service_port,
        fits=_both(_nginx, lambda a: _service(a)["spec"]["ports"][0]["port"] != _port(a)),
    ),
    Fault(
        name="deny-with-timeouts-in-logs",
        cause="network-policy-block",
        shapes=NGINX_SHAPES,
        inject=deny_with_timeouts_in_logs,
        fits=_nginx,
        mimics="upstream-timeout",
    ),
    Fault(
        name="app-moved-to-tls",
        cause="backend-protocol-mismatch",
        shapes=NGINX_SHAPES,
        inject=app_moved_to_tls,
        fits=_both(_DEPLOY, _nginx),
    ),
    Fault(
        name="https-annotation-on-plain",
        cause="backend-protocol-mismatch",
        shapes=NGINX_SHAPES,
        inject=https_annotation_on_plain,
        fits=_nginx,
    ),
    Fault(
        name="grpc-without-annotation",
        cause="backend-protocol-mismatch",
        shapes=NGINX_SHAPES,
        inject=grpc_without_annotation,
        fits=_both(_DEPLOY, _nginx),
    ),
    Fault(
        name="load-test-breaker-left",
        cause="connection-pool-exhausted",
        shapes=("mesh",),
        inject=load_test_breaker_left,
        fits=_meshed,
    ),
    Fault(
        name="autoscaler-ceiling",
        cause="connection-pool-exhausted",
        shapes=("autoscaled",),
        inject=autoscaler_ceiling,
        fits=_deployment,
    ),
    Fault(
        name="gateway-breaker",
        cause="connection-pool-exhausted",
        shapes=("gateway",),
        inject=gateway_breaker,
        fits=_routed,
    ),
    Fault(
        name="export-slower-than-proxy",
        cause="upstream-timeout",
        shapes=NGINX_SHAPES,
        inject=export_slower_than_proxy,
        fits=_both(_DEPLOY, _nginx),
    ),
    Fault(
        name="configmap-read-timeout-lowered",
        cause="upstream-timeout",
        shapes=NGINX_SHAPES,
        inject=configmap_read_timeout_lowered,
        fits=_both(_DEPLOY, _nginx),
    ),
    Fault(
        name="gthread-default-keepalive",
        cause="keepalive-race",
        shapes=NGINX_SHAPES,
        inject=gthread_default_keepalive,
        fits=_both(_DEPLOY, _nginx),
    ),
    Fault(
        name="uvicorn-default-keepalive",
        cause="keepalive-race",
        shapes=NGINX_SHAPES,
        inject=uvicorn_default_keepalive,
        fits=_both(_DEPLOY, _nginx),
    ),
    Fault(
        name="node-behind-sidecar",
        cause="keepalive-race",
        shapes=("mesh",),
        inject=node_behind_sidecar,
        fits=_meshed,
    ),
    Fault(
        name="service-renamed",
        cause="ingress-backend-missing",
        shapes=NGINX_SHAPES,
        inject=service_renamed,
        fits=_nginx,
    ),
    Fault(
        name="service-port-renamed",
        cause="ingress-backend-missing",
        shapes=NGINX_SHAPES,
        inject=service_port_renamed,
        fits=_nginx,
    ),
    Fault(
        name="ingress-class-typo",
        cause="ingress-class-missing",
        shapes=NGINX_SHAPES,
        inject=ingress_class_typo,
        fits=_nginx,
    ),
    Fault(
        name="legacy-class-annotation",
        cause="ingress-class-missing",
        shapes=NGINX_SHAPES,
        inject=legacy_class_annotation,
        fits=_nginx,
    ),
    Fault(
        name="no-class-no-default",
        cause="ingress-class-missing",
        shapes=NGINX_SHAPES,
        inject=no_class_no_default,
        fits=_nginx,
    ),
    Fault(
        name="route-to-missing-gateway",
        cause="route-not-attached",
        shapes=("gateway",),
        inject=route_to_missing_gateway,
        fits=_routed,
    ),
    Fault(
        name="route-not-allowed",
        cause="route-not-attached",
        shapes=("gateway",),
        inject=route_not_allowed,
        fits=_routed,
    ),
    Fault(
        name="route-wrong-listener",
        cause="route-not-attached",
        shapes=("gateway",),
        inject=route_wrong_listener,
        fits=_routed,
    ),
    Fault(
        name="subset-not-defined",
        cause="mesh-destination-missing",
        shapes=("mesh",),
        inject=subset_not_defined,
        fits=_meshed,
    ),
    Fault(
        name="subset-selects-nothing",
        cause="mesh-destination-missing",
        shapes=("mesh",),
        inject=subset_selects_nothing,
        fits=_meshed,
    ),
    Fault(
        name="dr-disables-tls",
        cause="mtls-mismatch",
        shapes=("mesh",),
        inject=dr_disables_tls,
        fits=_meshed,
    ),
    Fault(
        name="sidecar-removed",
        cause="mtls-mismatch",
        shapes=("mesh",),
        inject=sidecar_removed,
        fits=_meshed,
    ),
    Fault(
        name="grpc-port-named-http",
        cause="mesh-port-protocol",
        shapes=("mesh",),
        inject=grpc_port_named_http,
        fits=_meshed,
    ),
    Fault(
        name="eject-every-host",
        cause="outlier-ejected",
        shapes=("mesh",),
        inject=eject_every_host,
        fits=_meshed,
    ),
    Fault(name="plain", cause=HEALTHY, shapes=ALL_SHAPES, inject=plain),
    Fault(
        name="old-restarts",
        cause=HEALTHY,
        shapes=ALL_SHAPES,
        inject=old_restarts,
        mimics="oom-killed",
    ),
    Fault(
        name="evicted-and-finished",
        cause=HEALTHY,
        shapes=ALL_SHAPES,
        inject=evicted_and_finished,
        fits=_deployment,
    ),
    Fault(
        name="surge-in-progress",
        cause=HEALTHY,
        shapes=ALL_SHAPES,
        inject=surge_in_progress,
        fits=_DEPLOY,
    ),
    Fault(
        name="rollout-with-prestop",
        cause=HEALTHY,
        shapes=ALL_SHAPES,
        inject=rollout_with_prestop,
        fits=_DEPLOY,
        mimics="rollout-no-prestop",
    ),
    Fault(
        name="probe-blip",
        cause=HEALTHY,
        shapes=ALL_SHAPES,
        inject=probe_blip,
        mimics="readiness-probe-failing",
    ),
    Fault(
        name="neighbours-on-fire",
        cause=HEALTHY,
        shapes=("shop", "autoscaled", "gateway"),
        inject=neighbours_on_fire,
        fits=_deployment,
    ),
    Fault(
        name="policy-admits-controller",
        cause=HEALTHY,
        shapes=NGINX_SHAPES,
        inject=policy_admits_controller,
        fits=_nginx,
        mimics="network-policy-block",
    ),
    Fault(
        name="scaled-up-by-hpa",
        cause=HEALTHY,
        shapes=("autoscaled",),
        inject=scaled_up_by_hpa,
        fits=_deployment,
    ),
    Fault(
        name="statefulset-rolled",
        cause=HEALTHY,
        shapes=("data",),
        inject=statefulset_rolled,
        fits=_STS,
    ),
    Fault(
        name="healthy-route", cause=HEALTHY, shapes=("gateway",), inject=healthy_route, fits=_routed
    ),
    Fault(
        name="healthy-ingress",
        cause=HEALTHY,
        shapes=NGINX_SHAPES,
        inject=healthy_ingress,
        fits=_nginx,
    ),
)

# Faults that can hit a second, unrelated app in the same cluster.
BACKGROUND: tuple[Inject, ...] = (
    config_crash,
    tag_typo,
    requests_raised,
    probe_path_changed,
    scaled_to_zero_by_hand,
)
