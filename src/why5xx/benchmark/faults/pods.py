"""Faults in the pods themselves: what a release or the infrastructure does to
them (requests no node fits, a missing ConfigMap or Secret, an image that
cannot be pulled, a lowered memory limit, a slow start, a crash, a port or
probe that moved, a node that went away)."""

from __future__ import annotations

from collections.abc import Callable

from why5xx.benchmark import fates, proxylog
from why5xx.benchmark.faults.base import (
    Injected,
    broken_rollout,
    bump,
    log_5xx,
    new_image,
    pod_truth,
    port_of,
    recent,
    service_of,
    service_truth,
    serving_container,
    typo,
)
from why5xx.benchmark.workloads import App, http_probe
from why5xx.benchmark.world import HOUR, MINUTE, Raw, World

# --- pods-pending ------------------------------------------------------------


def node_count(world: World) -> int:
    return len(world.nodes)


def requests_raised(world: World, app: App) -> Injected:
    def change(template: Raw) -> None:
        serving_container(template)["resources"]["requests"]["cpu"] = world.pick(["6", "8", "12"])

    n = node_count(world)
    return broken_rollout(
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

    n = node_count(world)
    return broken_rollout(
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
        serving_container(template)["envFrom"] = [{"configMapRef": {"name": name}}]
        new_image(template)

    return broken_rollout(
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
        serving_container(template).setdefault("volumeMounts", []).append(
            {"mountPath": "/etc/tls", "name": "tls", "readOnly": True}
        )

    return broken_rollout(
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
    ago = recent(world)
    app.reinstall(ago=ago)
    n = node_count(world)
    app.group(
        app.current,
        1,
        fates.unschedulable(
            message=f"0/{n} nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            f"preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
        ),
        age=ago,
    )
    return pod_truth(
        app,
        "pods-pending",
        app.pods_of(),
        status="failing",
        http=(503,),
        note=f"StatefulSet {app.name} reinstalled with StorageClass fast-ssd, which does not exist",
    )


# --- image-pull --------------------------------------------------------------


def _pull_fault(world: World, app: App, image: str, error: str, note: str) -> Injected:
    def change(template: Raw) -> None:
        serving_container(template)["image"] = image

    return broken_rollout(
        world,
        app,
        change,
        fates.image_pull(error=error, backoff=world.rng.random() < 0.7),
        cause="image-pull",
        note=note,
    )


def tag_typo(world: World, app: App) -> Injected:
    repo, _, tag = bump(serving_container(app.template)["image"]).rpartition(":")
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
    tag = bump(serving_container(app.template)["image"]).rpartition(":")[2]
    image = f"registry.internal.example.com/{app.namespace}/{app.name}:{tag}"
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
    repo, _, tag = bump(serving_container(app.template)["image"]).rpartition(":")
    first, _, rest = repo.partition("/")
    path = rest if rest and ("." in first or ":" in first) else repo  # drop a registry host
    image = f"ghrc.io/{path}:{tag}"
    return _pull_fault(
        world,
        app,
        image,
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to '
        f'resolve reference "{image}": failed to do request: '
        f'Head "https://ghrc.io/v2/{path}/manifests/{tag}": '
        "dial tcp: lookup ghrc.io on 10.0.0.2:53: no such host",
        f"release of {app.name} names registry ghrc.io",
    )


# --- oom-killed --------------------------------------------------------------


def _oom_fate(world: World, served: float) -> fates.Fate:
    return fates.crash_loop(
        exit_code=137, reason="OOMKilled", restarts=world.rng.randrange(3, 12), served_for=served
    )


def _oom_release(world: World, app: App, change: Callable[[Raw], None], note: str) -> Injected:
    """A release after which the pods served a while, then were OOM-killed
    under load, over and over."""
    ago = recent(world)
    revision = app.rollout(change, _oom_fate(world, world.rng.uniform(60, ago * 0.5)), ago=ago)
    return pod_truth(
        app, "oom-killed", app.pods_of(revision), status="failing", http=(502, 503), note=note
    )


def limit_lowered(world: World, app: App) -> Injected:
    """A release lowers the memory limit; under the morning's load every
    pod is OOM-killed and crash-loops."""
    old = serving_container(app.template)["resources"]["limits"]["memory"]

    def change(template: Raw) -> None:
        resources = serving_container(template)["resources"]
        resources["limits"]["memory"] = world.pick(["128Mi", "192Mi", "200Mi"])
        resources["requests"]["memory"] = resources["limits"]["memory"]

    return _oom_release(
        world, app, change, f"release of {app.name} lowered its memory limit from {old}"
    )


def heap_above_limit(world: World, app: App) -> Injected:
    """The JVM's heap is set above the container's limit."""

    def change(template: Raw) -> None:
        main = serving_container(template)
        main["resources"]["limits"]["memory"] = "768Mi"
        main["env"] = [
            {"name": "JAVA_TOOL_OPTIONS", "value": "-Xms512m -Xmx1g"},
            *[e for e in main.get("env") or () if e["name"] != "JAVA_TOOL_OPTIONS"],
        ]

    return _oom_release(world, app, change, f"{app.name} runs with -Xmx1g in a 768Mi container")


def one_pod_oom(world: World, app: App) -> Injected:
    """One pod holds the hot tenant's data and is OOM-killed; the others serve."""
    group = app.groups[-1]
    name = group.names[-1]
    app.detach(name, _oom_fate(world, group.age - world.rng.uniform(10 * MINUTE, 40 * MINUTE)))
    return pod_truth(
        app,
        "oom-killed",
        [name],
        status="degraded",
        http=(502, 503),
        note=f"one pod of {app.name} is OOM-killed over and over",
    )


# --- slow-startup ------------------------------------------------------------


def liveness_too_early(world: World, app: App) -> Injected:
    """A release adds a cache warm-up at start, and a strict liveness probe:
    the kubelet kills every new pod before it is ready."""

    def change(template: Raw) -> None:
        main = serving_container(template)
        port = main["ports"][0]["containerPort"]
        main["livenessProbe"] = http_probe("/healthz", port, initial=10, period=10, failure=3)
        new_image(template)

    return broken_rollout(
        world,
        app,
        change,
        fates.probe_kills(probe_path="/healthz", restarts=world.rng.randrange(3, 8)),
        cause="slow-startup",
        note=f"release of {app.name} starts slower than its liveness probe allows",
    )


# --- crash-loop --------------------------------------------------------------

_CRASHES = {
    "go": (
        2,
        "panic: DATABASE_URL is required\n\ngoroutine 1 [running]:\nmain.main()\n"
        "\t/src/cmd/server/main.go:41 +0x1d4",
    ),
    "jvm": (
        1,
        "org.springframework.beans.factory.BeanCreationException: Error creating bean with "
        "name 'dataSource'",
    ),
    "uvicorn": (1, "KeyError: 'DATABASE_URL'"),
    "gunicorn": (
        3,
        "[ERROR] Worker (pid:7) exited with code 3\n[ERROR] Shutting down: Master\n"
        "[ERROR] Reason: Worker failed to boot.",
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
        new_image(template)

    return broken_rollout(
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
        serving_container(template)["command"] = [binary]

    message = (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
        f'runc create failed: unable to start container process: exec: "{binary}": executable '
        "file not found in $PATH: unknown"
    )
    return broken_rollout(
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
        probe_path=(serving_container(app.template).get("livenessProbe") or {})
        .get("httpGet", {})
        .get("path", "/healthz"),
        restarts=world.rng.randrange(4, 10),
        served_for=group.age - world.rng.uniform(15 * MINUTE, 50 * MINUTE),
    )
    if not serving_container(app.template).get("livenessProbe"):
        port = port_of(app)
        for revision in app.revisions[-1:]:
            serving_container(revision.template)["livenessProbe"] = http_probe(
                "/healthz", port, initial=15, period=10, timeout=1
            )
    return pod_truth(
        app,
        "crash-loop",
        group.names,
        status="failing",
        http=(502, 503),
        note=f"{app.name} hangs after hours of serving; the liveness probe restarts it",
    )


# --- target-port-mismatch ----------------------------------------------------


def port_changed_in_image(world: World, app: App) -> Injected:
    """The new image listens on another port; the Deployment moved with it,
    the Service still targets the old number."""
    svc = service_of(app)
    old = port_of(app)
    svc["spec"]["ports"][0]["targetPort"] = old
    new = world.pick([p for p in (3000, 8000, 8081, 9000, 5000) if p != old])

    def change(template: Raw) -> None:
        main = serving_container(template)
        main["ports"][0]["containerPort"] = new
        for probe in ("readinessProbe", "livenessProbe"):
            if main.get(probe):
                main[probe]["httpGet"]["port"] = (
                    new if isinstance(main[probe]["httpGet"]["port"], int) else "http"
                )
        new_image(template)

    app.rollout(change, fates.serving(), ago=recent(world))
    return service_truth(
        app,
        "target-port-mismatch",
        http=(502,),
        note=f"{app.name} now listens on {new}; Service {svc['metadata']['name']} targets {old}",
    )


def target_port_name_typo(world: World, app: App) -> Injected:
    svc = service_of(app)
    name = serving_container(app.template)["ports"][0]["name"]
    svc["spec"]["ports"][0]["targetPort"] = world.pick([typo(name), "web", "http-web"])
    return service_truth(
        app,
        "target-port-mismatch",
        http=(503,),
        note=f"Service {svc['metadata']['name']} was edited to target port "
        f"{svc['spec']['ports'][0]['targetPort']!r}",
    )


def container_port_renamed(world: World, app: App) -> Injected:
    """The chart renamed the container port; the Service targets it by its old name."""
    svc = service_of(app)
    name = serving_container(app.template)["ports"][0]["name"]
    svc["spec"]["ports"][0]["targetPort"] = name
    new = world.pick(["web", "app", "server", "http-api"])

    def change(template: Raw) -> None:
        main = serving_container(template)
        port = main["ports"][0]["containerPort"]
        main["ports"][0]["name"] = new
        for probe in ("readinessProbe", "livenessProbe"):
            if main.get(probe):
                main[probe]["httpGet"]["port"] = port

    app.rollout(change, fates.serving(), ago=recent(world))
    return service_truth(
        app,
        "target-port-mismatch",
        http=(503,),
        note=f"release of {app.name} renamed container port {name} to {new}",
    )


# --- listen-localhost --------------------------------------------------------


def _listens_on_loopback(template: Raw) -> None:
    """What a release that binds to the loopback interface changes, per server:
    uvicorn and gunicorn bind to 127.0.0.1 unless told otherwise."""
    main = serving_container(template)
    port = main["ports"][0]["containerPort"]
    command = [str(word) for word in main.get("command") or ()]
    if command[:1] == ["uvicorn"]:
        main["command"] = ["uvicorn", "app.main:app", "--port", str(port)]
    elif command[:1] == ["gunicorn"]:
        main["args"] = ["--bind", f"127.0.0.1:{port}", "--workers", "3", "--timeout", "30"]
    else:
        env = [e for e in main.get("env") or () if e["name"] not in ("LISTEN_ADDR", "HOST")]
        main["env"] = [*env, {"name": "LISTEN_ADDR", "value": f"localhost:{port}"}]
    new_image(template)


def listen_localhost(world: World, app: App) -> Injected:
    """A release binds the server to 127.0.0.1 (a dev default): the kubelet's
    probes to the pod IP are refused, so the pods never become ready, or
    are killed by their liveness probe and look like a slow start."""
    main = serving_container(app.template)
    port = main["ports"][0]["containerPort"]
    path = (main.get("readinessProbe") or {}).get("httpGet", {}).get("path", "/healthz")
    if main.get("livenessProbe"):
        fate = fates.probe_kills(probe_path=path, restarts=world.rng.randrange(3, 8))
    else:
        fate = fates.probe_failing(message=fates.refused("{ip}", port, path))
    return broken_rollout(
        world,
        app,
        _listens_on_loopback,
        fate,
        cause="listen-localhost",
        note=f"release of {app.name} listens on 127.0.0.1:{port} only",
        http=(502, 503),
    )


def listen_localhost_unprobed(world: World, app: App) -> Injected:
    """The same, for an app without a readiness probe: its pods count as
    ready, and every request the proxy sends is refused."""

    def change(template: Raw) -> None:
        _listens_on_loopback(template)
        main = serving_container(template)
        main.pop("readinessProbe", None)
        main.pop("livenessProbe", None)

    revision = app.rollout(change, fates.serving(), ago=recent(world))
    pods = app.pods_of(revision)
    log_5xx(
        world,
        app,
        pods,
        status=502,
        error=proxylog.REFUSED,
        took=0.001,
        within=recent(world),
        count=world.rng.randrange(20, 60),
        methods=("GET", "POST"),
    )
    return pod_truth(
        app,
        "listen-localhost",
        pods,
        status=None,
        http=(502,),
        note=f"release of {app.name} listens on localhost only, without a readiness probe",
    )


# --- readiness-probe-failing -------------------------------------------------


def _probe_change(
    app: App, path: str | None = None, port: int | None = None
) -> Callable[[Raw], None]:
    def change(template: Raw) -> None:
        main = serving_container(template)
        probe = main.setdefault("readinessProbe", http_probe("/healthz", port_of(app)))
        if path:
            probe["httpGet"]["path"] = path
        if port:
            probe["httpGet"]["port"] = port
        new_image(template)

    return change


def probe_path_changed(world: World, app: App) -> Injected:
    path = world.pick(["/health/ready", "/ready", "/healthz/ready", "/api/health"])
    return broken_rollout(
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
        (serving_container(app.template).get("readinessProbe") or {})
        .get("httpGet", {})
        .get("path", "/healthz")
    )
    return broken_rollout(
        world,
        app,
        _probe_change(app, port=port),
        fates.probe_failing(message=fates.refused("{ip}", port, path)),
        cause="readiness-probe-failing",
        note=f"release of {app.name} probes port {port}, where nothing listens",
    )


def dependency_down(world: World, app: App) -> Injected:
    """The database behind the app is down: every pod's readiness endpoint
    answers 503 since then (no release involved)."""
    since = recent(world)
    for group in app.groups:
        group.fate = fates.probe_failing(
            message="HTTP probe failed with statuscode: 503", since=since
        )
    if not serving_container(app.template).get("readinessProbe"):
        serving_container(app.template)["readinessProbe"] = http_probe("/ready", port_of(app))
    return pod_truth(
        app,
        "readiness-probe-failing",
        app.pods_of(),
        status="failing",
        http=(503,),
        note=f"{app.name}'s readiness endpoint answers 503 since its database went down",
    )


# --- endpoints-terminating ---------------------------------------------------


def recreate_midway(world: World, app: App) -> Injected:
    """A `Recreate` rollout caught between the old pods and the new."""
    app.strategy = {"type": "Recreate"}
    pods = app.pods_of()
    app.rollout(new_image, fates.serving(), ago=world.rng.uniform(4, 20), mode="replacing")
    return pod_truth(
        app,
        "endpoints-terminating",
        pods,
        status="failing",
        http=(503,),
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
    since = world.rng.uniform(60, 100)  # the pods tolerate unreachable for 300 s
    eviction = (
        fates.Note(
            reason="NodeNotReady",
            message="Node is not ready",
            ago=400,
            warning=True,
            component="node-controller",
        ),
        fates.Note(
            reason="TaintManagerEviction",
            message="Marking for deletion Pod {pod}",
            ago=since,
            component="taint-eviction-controller",
        ),
    )
    names: list[str] = []
    for group in [g for g in app.groups if g.replica]:
        group.terminating, group.node = since, node.name
        group.fate = fates.noted(group.fate, *eviction)
        names += group.names
        app.group(group.revision, group.count, fates.creating(), age=min(since, 20.0))
    return pod_truth(
        app,
        "endpoints-terminating",
        names,
        status="failing",
        http=(503,),
        note=f"node {node.name} with every pod of {app.name} went unreachable",
    )
