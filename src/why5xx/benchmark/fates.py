"""What happens to a pod once it exists: the status the kubelet reports and
the events it, the scheduler and the controllers write, in their own words.

A fate is a function of a `PodCtx` (the pod's manifest, age, node) that
fills `status` and records events. Faults pick fates for the pods of a new
revision; nothing here names a cause: a crash loop is exit codes, restart
counts and `BackOff` events, as on a real cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from why5xx.benchmark.world import DAY, MINUTE, Node, Raw, World

# kubelet's container restart back-off: 10 s doubling up to 5 min.
_BACKOFF_CAP = 300.0


@dataclass(slots=True, kw_only=True)
class PodCtx:
    """One pod being rendered."""

    world: World
    pod: Raw  # metadata and spec set; the fate fills status
    age: float  # seconds since the pod was created
    node: Node | None  # None until scheduled
    main: str  # the container that serves the Service
    others: tuple[str, ...]  # the pod's other containers (sidecars), which run fine

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    def spec_of(self, container: str) -> Raw:
        return next(c for c in self.pod["spec"]["containers"] if c["name"] == container)

    def image(self, container: str | None = None) -> str:
        return str(self.spec_of(container or self.main)["image"])

    def event(
        self,
        reason: str,
        message: str,
        *,
        ago: float,
        first: float | None = None,
        count: int = 1,
        warning: bool = False,
        container: str | None = None,
        component: str = "kubelet",
    ) -> None:
        self.world.event(
            self.pod,
            reason,
            message,
            ago=ago,
            first=first,
            count=count,
            warning=warning,
            component=component,
            host=self.node.name if self.node and component == "kubelet" else None,
            field_path=f"spec.containers{{{container}}}" if container else None,
        )


Fate = Callable[[PodCtx], None]


# --- the kubelet's words -----------------------------------------------------


def refused(ip: str, port: int | str, path: str) -> str:
    """An HTTP probe to a port nothing listens on."""
    return f'Get "http://{ip}:{port}{path}": dial tcp {ip}:{port}: connect: connection refused'


def timed_out(ip: str, port: int | str, path: str) -> str:
    """An HTTP probe the app does not answer within timeoutSeconds."""
    return (
        f'Get "http://{ip}:{port}{path}": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """An event about a pod from outside its kubelet's start-up: a
    controller's, or an old probe failure. `{pod}` in the message is
    `namespace/name`, `{ip}` the pod's IP."""

    reason: str
    message: str
    ago: float
    first: float | None = None
    count: int = 1
    warning: bool = False
    component: str = "kubelet"
    container: bool = False  # about the serving container (fieldPath)


def noted(fate: Fate, *notes: Note) -> Fate:
    """`fate`, and `notes` about the pod."""

    def noted_fate(ctx: PodCtx) -> None:
        fate(ctx)
        for note in notes:
            ctx.event(
                note.reason,
                note.message.format(pod=f"{ctx.namespace}/{ctx.name}", ip=pod_ip(ctx)),
                ago=note.ago,
                first=note.first,
                count=note.count,
                warning=note.warning,
                component=note.component,
                container=ctx.main if note.container else None,
            )

    return noted_fate


# --- building blocks ---------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _container_id(ctx: PodCtx) -> str:
    return f"containerd://{ctx.world.rng.getrandbits(256):064x}"


def terminated(
    ctx: PodCtx,
    *,
    exit_code: int,
    reason: str,
    started: float,
    finished: float,
    message: str = "",
) -> Raw:
    out: Raw = {
        "containerID": _container_id(ctx),
        "exitCode": exit_code,
        "finishedAt": ctx.world.ts(finished),
        "reason": reason,
        "startedAt": ctx.world.ts(started),
    }
    if message:
        out["message"] = message
    return out


def container_status(
    ctx: PodCtx,
    name: str,
    *,
    state: Raw,
    ready: bool,
    restarts: int = 0,
    last: Raw | None = None,
    pulled: bool = True,
) -> Raw:
    image = ctx.image(name)
    out: Raw = {
        "image": image,
        "imageID": f"{image.rsplit(':', 1)[0]}@sha256:{_digest(image)}" if pulled else "",
        "lastState": {"terminated": last} if last else {},
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "started": "running" in state,
        "state": state,
    }
    if "running" in state or "terminated" in state:
        out["containerID"] = _container_id(ctx)
    return out


def running(ctx: PodCtx, name: str, *, since: float, ready: bool, **extra: Any) -> Raw:
    return container_status(
        ctx, name, state={"running": {"startedAt": ctx.world.ts(since)}}, ready=ready, **extra
    )


def waiting(ctx: PodCtx, name: str, reason: str, message: str = "", **extra: Any) -> Raw:
    detail: Raw = {"reason": reason}
    if message:
        detail["message"] = message
    return container_status(ctx, name, state={"waiting": detail}, ready=False, **extra)


def _condition(ctx: PodCtx, kind: str, ok: bool, ago: float, reason: str = "") -> Raw:
    out: Raw = {
        "lastProbeTime": None,
        "lastTransitionTime": ctx.world.ts(ago),
        "status": "True" if ok else "False",
        "type": kind,
    }
    if reason:
        out["reason"] = reason
    return out


def set_status(
    ctx: PodCtx,
    main: Raw,
    *,
    ready: bool,
    changed: float,
    phase: str = "Running",
    sandbox: bool = True,
) -> None:
    """The pod's status with `main` as the serving container's status, the
    other containers running and ready, and Ready (and ContainersReady) last
    changed `changed` seconds ago."""
    world, age = ctx.world, ctx.age
    statuses = [running(ctx, name, since=age - 3, ready=True) for name in ctx.others if sandbox] + [
        main
    ]
    statuses.sort(key=lambda s: str(s["name"]))
    ready_conditions = [
        _condition(ctx, kind, ready, changed, "" if ready else "ContainersNotReady")
        for kind in ("Ready", "ContainersReady")
    ]
    for condition in ready_conditions:
        if not ready:
            condition["message"] = f"containers with unready status: [{ctx.main}]"
    status: Raw = {
        "conditions": [
            _condition(ctx, "PodReadyToStartContainers", sandbox, age - 2),
            _condition(ctx, "Initialized", True, age - 1),
            *ready_conditions,
            _condition(ctx, "PodScheduled", True, age),
        ],
        "containerStatuses": statuses,
        "phase": phase,
        "qosClass": "Burstable",
        "startTime": world.ts(age),
    }
    if ctx.node is not None:
        status["hostIP"] = ctx.node.ip
        status["hostIPs"] = [{"ip": ctx.node.ip}]
        if sandbox:
            ip = world.pod_ip(ctx.node)
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
    ctx.pod["status"] = status


def pod_ip(ctx: PodCtx) -> str:
    return str(ctx.pod["status"].get("podIP", ""))


def start_events(
    ctx: PodCtx, *, pulled_fresh: bool = True, restarts: int = 0, last: float = 0
) -> None:
    """Scheduled, Pulling/Pulled, Created, Started: what every pod created in
    the last hour shows; after `restarts` (the last `last` seconds ago), the
    kubelet's counts grow."""
    age, image, main = ctx.age, ctx.image(), ctx.main
    scheduled(ctx)
    if pulled_fresh:
        took = ctx.world.rng.uniform(0.8, 9.0)
        ctx.event("Pulling", f'Pulling image "{image}"', ago=age - 1, container=main)
        ctx.event(
            "Pulled",
            f'Successfully pulled image "{image}" in {took:.3f}s ({took:.3f}s including waiting). '
            f"Image size: {ctx.world.rng.randrange(20_000_000, 400_000_000)} bytes.",
            ago=age - 2,
            container=main,
        )
    if restarts or not pulled_fresh:
        ctx.event(
            "Pulled",
            f'Container image "{image}" already present on machine',
            ago=last if restarts else age - 1,
            first=age - 1,
            count=max(restarts, 1),
            container=main,
        )
    recent = last if restarts else age - 3
    ctx.event(
        "Created",
        f"Created container: {main}",
        ago=recent,
        first=age - 2,
        count=restarts + 1,
        container=main,
    )
    ctx.event(
        "Started",
        f"Started container {main}",
        ago=recent,
        first=age - 3,
        count=restarts + 1,
        container=main,
    )


def scheduled(ctx: PodCtx) -> None:
    node = ctx.node.name if ctx.node else ""
    ctx.event(
        "Scheduled",
        f"Successfully assigned {ctx.namespace}/{ctx.name} to {node}",
        ago=ctx.age,
        component="default-scheduler",
    )


def _backoff_message(ctx: PodCtx) -> str:
    return f"{ctx.name}_{ctx.namespace}({ctx.uid})"


# --- fates -------------------------------------------------------------------


def serving(
    *,
    startup: float = 8.0,
    restarts: int = 0,
    last_reason: str = "",
    last_exit: int = 0,
    last_ago: float = 0.0,
) -> Fate:
    """Running and ready since `startup` seconds after creation; with
    `restarts`, the container last ended `last_ago` seconds ago (old noise)."""

    def fate(ctx: PodCtx) -> None:
        since = min(ctx.age - 3, last_ago) if restarts else ctx.age - 3
        last = None
        if restarts:
            last = terminated(
                ctx,
                exit_code=last_exit,
                reason=last_reason,
                started=last_ago + ctx.world.rng.uniform(600, 6 * 3600),
                finished=last_ago,
            )
        main = running(ctx, ctx.main, since=since, ready=True, restarts=restarts, last=last)
        set_status(ctx, main, ready=True, changed=min(ctx.age - startup, since - startup))
        start_events(ctx)

    return fate


def starting(*, started: float, probe_failures: str) -> Fate:
    """Started `started` seconds ago and not ready yet: the readiness probe
    still fails while the app starts (`probe_failures` is its message)."""

    def fate(ctx: PodCtx) -> None:
        main = running(ctx, ctx.main, since=started, ready=False)
        set_status(ctx, main, ready=False, changed=ctx.age - 1)
        start_events(ctx)
        tries = max(int(started // 5), 1)
        ctx.event(
            "Unhealthy",
            f"Readiness probe failed: {probe_failures.format(ip=pod_ip(ctx))}",
            ago=1,
            first=started - 2,
            count=tries,
            warning=True,
            container=ctx.main,
        )

    return fate


def creating() -> Fate:
    """Just scheduled: the sandbox and the image are on their way."""

    def fate(ctx: PodCtx) -> None:
        main = waiting(ctx, ctx.main, "ContainerCreating", pulled=False)
        set_status(ctx, main, ready=False, changed=ctx.age, phase="Pending", sandbox=False)
        scheduled(ctx)
        ctx.event("Pulling", f'Pulling image "{ctx.image()}"', ago=ctx.age - 1, container=ctx.main)

    return fate


def crash_loop(
    *,
    exit_code: int,
    reason: str = "Error",
    message: str = "",
    restarts: int = 6,
    served_for: float = 0.0,
) -> Fate:
    """The container exits with `exit_code` after each start; the kubelet
    restarts it with a growing back-off. `served_for`: how long the pod was
    ready before the crashes began (0: never)."""

    def fate(ctx: PodCtx) -> None:
        rng = ctx.world.rng
        crashing_for = ctx.age - served_for
        finished = rng.uniform(5, min(_BACKOFF_CAP, max(crashing_for / restarts, 10)))
        last = terminated(
            ctx,
            exit_code=exit_code,
            reason=reason,
            message=message,
            started=finished + rng.uniform(0.5, 20),
            finished=finished,
        )
        # A start error never runs; a crash is caught in back-off or just restarted.
        in_backoff = reason == "StartError" or rng.random() < 0.7
        _restarting(
            ctx,
            last=last,
            finished=finished,
            restarts=restarts,
            served_for=served_for,
            in_backoff=in_backoff,
        )
        if reason == "StartError":
            ctx.event(
                "Failed",
                f"Error: {message}",
                ago=finished,
                first=crashing_for - 5,
                count=restarts + 1,
                warning=True,
                container=ctx.main,
            )

    return fate


def _restarting(
    ctx: PodCtx, *, last: Raw, finished: float, restarts: int, served_for: float, in_backoff: bool
) -> None:
    """A container the kubelet keeps restarting: waiting in CrashLoopBackOff
    (`in_backoff`) or just started again, never ready since the trouble began
    (`served_for` seconds after the pod started; it last ended `finished`
    seconds ago), with its start-up and back-off events."""
    rng = ctx.world.rng
    if in_backoff:
        main = waiting(
            ctx,
            ctx.main,
            "CrashLoopBackOff",
            f"back-off {_backoff(restarts)} restarting failed container={ctx.main} "
            f"pod={_backoff_message(ctx)}",
            restarts=restarts,
            last=last,
        )
    else:
        since = rng.uniform(1, max(finished, 1.5))
        main = running(ctx, ctx.main, since=since, ready=False, restarts=restarts, last=last)
    crashing_for = ctx.age - served_for
    set_status(ctx, main, ready=False, changed=crashing_for if served_for else ctx.age - 1)
    start_events(ctx, pulled_fresh=not served_for, restarts=restarts, last=finished)
    ctx.event(
        "BackOff",
        f"Back-off restarting failed container {ctx.main} in pod {_backoff_message(ctx)}",
        ago=rng.uniform(1, 30),
        first=crashing_for - 20,
        count=restarts * 3 + rng.randrange(3),
        warning=True,
        container=ctx.main,
    )


def _backoff(restarts: int) -> str:
    seconds = min(10 * 2 ** max(restarts - 1, 0), _BACKOFF_CAP)
    return f"{int(seconds // 60)}m{int(seconds % 60)}s"


def probe_kills(*, probe_path: str, restarts: int, served_for: float = 0.0) -> Fate:
    """The liveness probe kills the container over and over: before it was
    ever ready (a start slower than the probe allows, `served_for` 0), or
    after it served (an app that hangs)."""

    def fate(ctx: PodCtx) -> None:
        rng = ctx.world.rng
        port = _probe_port(ctx)
        failure = (timed_out if served_for else refused)("{ip}", port, probe_path)
        crashing_for = ctx.age - served_for
        finished = rng.uniform(10, 90)
        last = terminated(
            ctx,
            exit_code=137 if served_for else 143,
            reason="Error",
            started=finished + rng.uniform(30, 90),
            finished=finished,
        )
        _restarting(
            ctx,
            last=last,
            finished=finished,
            restarts=restarts,
            served_for=served_for,
            in_backoff=rng.random() < 0.5,
        )
        ip = pod_ip(ctx)
        for probe in ("Liveness", "Readiness"):
            ctx.event(
                "Unhealthy",
                f"{probe} probe failed: {failure.format(ip=ip)}",
                ago=rng.uniform(2, 40),
                first=crashing_for - 10,
                count=restarts * 3 + rng.randrange(3),
                warning=True,
                container=ctx.main,
            )
        ctx.event(
            "Killing",
            f"Container {ctx.main} failed liveness probe, will be restarted",
            ago=finished + 1,
            first=crashing_for - 30,
            count=restarts,
            container=ctx.main,
        )

    return fate


def _probe_port(ctx: PodCtx) -> int:
    spec = ctx.spec_of(ctx.main)
    probe = spec.get("livenessProbe") or spec.get("readinessProbe") or {}
    port = (probe.get("httpGet") or {}).get("port", 8080)
    if isinstance(port, int):
        return port
    return next(
        (int(p["containerPort"]) for p in spec.get("ports") or () if p.get("name") == port), 8080
    )


def probe_failing(*, message: str, since: float | None = None) -> Fate:
    """Running, never ready (or not since `since` seconds ago): the readiness
    probe fails with `message` (`{ip}` is the pod IP)."""

    def fate(ctx: PodCtx) -> None:
        failing = since if since is not None else ctx.age - 5
        main = running(ctx, ctx.main, since=ctx.age - 3, ready=False)
        set_status(ctx, main, ready=False, changed=failing if since is not None else ctx.age - 1)
        start_events(ctx)
        period = float((ctx.spec_of(ctx.main).get("readinessProbe") or {}).get("periodSeconds", 10))
        ctx.event(
            "Unhealthy",
            f"Readiness probe failed: {message.format(ip=pod_ip(ctx))}",
            ago=ctx.world.rng.uniform(0, period),
            first=failing,
            count=max(int(failing // period), 2),
            warning=True,
            container=ctx.main,
        )

    return fate


def image_pull(*, error: str, backoff: bool = True) -> Fate:
    """The kubelet cannot pull the container's image; `error` is the
    runtime's answer (`{image}` is the image)."""

    def fate(ctx: PodCtx) -> None:
        image = ctx.image()
        rng = ctx.world.rng
        detail = error.format(image=image)
        if backoff:
            main = waiting(
                ctx, ctx.main, "ImagePullBackOff", f'Back-off pulling image "{image}"', pulled=False
            )
        else:
            main = waiting(ctx, ctx.main, "ErrImagePull", detail, pulled=False)
        set_status(ctx, main, ready=False, changed=ctx.age - 1, phase="Pending")
        tries = max(int(ctx.age // 300), 2)
        scheduled(ctx)
        ctx.event(
            "Pulling",
            f'Pulling image "{image}"',
            ago=rng.uniform(10, 290),
            first=ctx.age - 1,
            count=tries,
            container=ctx.main,
        )
        for message in (f'Failed to pull image "{image}": {detail}', "Error: ErrImagePull"):
            ctx.event(
                "Failed",
                message,
                ago=rng.uniform(10, 290),
                first=ctx.age - 2,
                count=tries,
                warning=True,
                container=ctx.main,
            )
        ctx.event(
            "BackOff",
            f'Back-off pulling image "{image}"',
            ago=rng.uniform(1, 10),
            first=ctx.age - 3,
            count=tries * 5,
            container=ctx.main,
        )
        ctx.event(
            "Failed",
            "Error: ImagePullBackOff",
            ago=rng.uniform(1, 10),
            first=ctx.age - 3,
            count=tries * 5,
            warning=True,
            container=ctx.main,
        )

    return fate


def unschedulable(*, message: str) -> Fate:
    """No node fits: the scheduler's `FailedScheduling` says why."""

    def fate(ctx: PodCtx) -> None:
        world = ctx.world
        ctx.pod["spec"].pop("nodeName", None)
        ctx.node = None
        ctx.pod["status"] = {
            "conditions": [
                {
                    "lastProbeTime": None,
                    "lastTransitionTime": world.ts(ctx.age),
                    "message": message,
                    "reason": "Unschedulable",
                    "status": "False",
                    "type": "PodScheduled",
                }
            ],
            "phase": "Pending",
            "qosClass": "Burstable",
        }
        ctx.event(
            "FailedScheduling",
            message,
            ago=world.rng.uniform(5, 300),
            first=ctx.age,
            count=max(int(ctx.age // 60), 1),
            warning=True,
            component="default-scheduler",
        )

    return fate


def config_error(*, message: str) -> Fate:
    """The kubelet cannot build the container's environment or mounts from
    a ConfigMap or Secret: `CreateContainerConfigError`."""

    def fate(ctx: PodCtx) -> None:
        main = waiting(ctx, ctx.main, "CreateContainerConfigError", message)
        set_status(ctx, main, ready=False, changed=ctx.age - 1, phase="Pending")
        tries = max(int(ctx.age // 20), 2)
        ctx.event(
            "Pulled",
            f'Container image "{ctx.image()}" already present on machine',
            ago=ctx.world.rng.uniform(1, 20),
            first=ctx.age - 1,
            count=tries,
            container=ctx.main,
        )
        ctx.event(
            "Failed",
            f"Error: {message}",
            ago=ctx.world.rng.uniform(1, 20),
            first=ctx.age - 1,
            count=tries,
            warning=True,
            container=ctx.main,
        )

    return fate


def failed_mount(*, volume: str, message: str) -> Fate:
    """A volume cannot be set up: the pod stays in ContainerCreating."""

    def fate(ctx: PodCtx) -> None:
        main = waiting(ctx, ctx.main, "ContainerCreating", pulled=False)
        set_status(ctx, main, ready=False, changed=ctx.age - 1, phase="Pending", sandbox=False)
        ctx.event(
            "FailedMount",
            f'MountVolume.SetUp failed for volume "{volume}" : {message}',
            ago=ctx.world.rng.uniform(5, 120),
            first=ctx.age - 1,
            count=max(int(ctx.age // 120), 2),
            warning=True,
        )

    return fate


def evicted(*, memory: str = "1327416Ki", request: str = "512Mi") -> Fate:
    """Evicted by the kubelet for node memory pressure, long ago: a Failed
    pod the ReplicaSet replaced and nobody deleted."""

    def fate(ctx: PodCtx) -> None:
        world = ctx.world
        ended = ctx.age - world.rng.uniform(DAY, 3 * DAY)
        main = container_status(
            ctx,
            ctx.main,
            state={
                "terminated": terminated(
                    ctx,
                    exit_code=137,
                    reason="ContainerStatusUnknown",
                    started=ctx.age - 5,
                    finished=ended,
                )
            },
            ready=False,
        )
        set_status(ctx, main, ready=False, changed=ended, phase="Failed")
        status = ctx.pod["status"]
        status["reason"] = "Evicted"
        status["message"] = (
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
            f"88344Ki. Container {ctx.main} was using {memory}, request is {request}, has "
            "larger consumption of memory."
        )
        status["conditions"].append(
            {
                "lastProbeTime": None,
                "lastTransitionTime": world.ts(ended),
                "message": "The node was low on resource: memory.",
                "reason": "TerminationByKubelet",
                "status": "True",
                "type": "DisruptionTarget",
            }
        )

    return fate


def completed() -> Fate:
    """A Job's pod that ran to completion."""

    def fate(ctx: PodCtx) -> None:
        finished = ctx.age - ctx.world.rng.uniform(20, 4 * MINUTE)
        main = container_status(
            ctx,
            ctx.main,
            state={
                "terminated": terminated(
                    ctx, exit_code=0, reason="Completed", started=ctx.age - 3, finished=finished
                )
            },
            ready=False,
        )
        set_status(ctx, main, ready=False, changed=finished, phase="Succeeded")
        ctx.pod["status"]["conditions"][2]["reason"] = "PodCompleted"
        start_events(ctx)

    return fate
