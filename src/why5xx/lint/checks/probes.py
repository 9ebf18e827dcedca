"""Probes that decide wrongly when a pod may get traffic: on a port the
container does not have, missing, the same as the liveness probe, or a
liveness probe that kills a slow-starting app."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from why5xx.lint.base import Relation, check, checkov, k8sgpt, kube_linter, popeye
from why5xx.lint.checks.common import level_for, named, readiness_probe, servings_of
from why5xx.lint.manifests import Manifests
from why5xx.lint.model import Level, Problem, Scope
from why5xx.lint.traffic import sidecar_readiness
from why5xx.snapshot import Obj
from why5xx.views.pods import ContainerPort, container_ports, containers, pod_template_spec
from why5xx.views.probes import Probe

_PROBE_KINDS = ("readiness", "liveness", "startup")
_PORT_HANDLERS = ("httpGet", "tcpSocket", "grpc")
_PREFIX = {"Pod": "spec"}
# A liveness probe that gives up sooner than this after the start kills a JVM
# that starts slowly (JIT, class loading, a CPU limit): 20-90 s is common.
SLOW_START_SECONDS = 60
# Images and commands that run a JVM. Kept narrow on purpose: a finding here
# must be about a runtime known to start slowly.
_JVM_IMAGE = re.compile(
    r"(?:^|/)(?:openjdk|eclipse-temurin|temurin|amazoncorretto|corretto|zulu|azul-zulu|"
    r"ibm-semeru-runtimes|sapmachine|liberica[\w-]*|jre|jdk|tomcat|jboss|wildfly|keycloak|"
    r"elasticsearch|opensearch)(?::|@|$)"
)
_JVM_ENV = frozenset({"JAVA_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "CATALINA_OPTS"})


def _field(workload: Obj, container: Mapping[str, Any], *rest: str) -> str:
    prefix = _PREFIX.get(workload.kind, "spec.template.spec")
    return ".".join((f"{prefix}.containers[{container.get('name', '')}]", *rest))


def _probes(
    workload: Obj,
) -> Iterator[tuple[Mapping[str, Any], Probe, tuple[ContainerPort, ...]]]:
    """Every probe of every app container that checks a port, with the
    ports its container declares."""
    spec = pod_template_spec(workload)
    declared = container_ports(spec)
    for container in containers(spec):
        own = tuple(p for p in declared if p.container == container.get("name"))
        for kind in _PROBE_KINDS:
            probe = Probe.of(container, kind)
            if probe is not None and probe.handler in _PORT_HANDLERS:
                yield container, probe, own


def _port_problem(
    workload: Obj, container: Mapping[str, Any], probe: Probe, mismatch: str, fix: str
) -> Problem:
    return Problem(
        subject=workload,
        field=_field(workload, container, f"{probe.kind}Probe", probe.handler, "port"),
        message=(
            f"The {probe.kind} probe of container {probe.container} in {named(workload)} "
            f"checks port {mismatch}"
        ),
        fix=fix,
    )


@check(
    code="W5X301",
    name="probe-port-name-unknown",
    level=Level.ERROR,
    scope=Scope.WORKLOAD,
    peers=(
        kube_linter(
            "readiness-port, liveness-port, startup-port",
            Relation.SAME,
            "the same test of a named port against the container's own ports",
        ),
        popeye(None, Relation.ONLY_HERE, "popeye's 105 only prefers named ports"),
        k8sgpt(None, Relation.ONLY_HERE, "k8sgpt reports the probe failures once they happen"),
    ),
)
def probe_port_name_unknown(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A probe names a port the container does not declare.

    **What it finds**: a readiness, liveness or startup probe (`httpGet`,
    `tcpSocket`) whose `port` is a name that none of the same container's
    `ports` carries. The kubelet resolves a probe's named port against its
    own container only.

    **Why it is a 5xx**: the probe can never run (`strconv.Atoi: parsing
    "http": invalid syntax`): a readiness probe keeps the pod unready
    forever (no endpoints: 503), a liveness probe restarts it in a loop.

    **Fix**: use a port name the container declares, or its number.
    """
    for container, probe, own in _probes(workload):
        port = probe.port
        if not isinstance(port, str) or port.isdigit() or any(p.name == port for p in own):
            continue
        declared = ", ".join(str(p) for p in own) or "no ports"
        yield _port_problem(
            workload,
            container,
            probe,
            f'"{port}", which the container does not declare ({declared})',
            f'Declare a container port named "{port}", or probe one the container declares.',
        )


@check(
    code="W5X302",
    name="probe-port-undeclared",
    level=Level.INFO,
    scope=Scope.WORKLOAD,
    peers=(
        kube_linter(
            "readiness-port, liveness-port, startup-port",
            Relation.SAME,
            "kube-linter also flags a number only another container of the pod declares (the "
            "kubelet probes the pod's IP, so that works) and containers declaring no ports",
        ),
    ),
)
def probe_port_undeclared(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A probe checks a port number no container of the pod declares.

    **What it finds**: a readiness, liveness or startup probe (`httpGet`,
    `tcpSocket`, `grpc`) on a port number that no container of the pod
    declares in `ports`, while the probed container declares ports (so the
    list is meant to be complete). An app may listen on a port it does not
    declare (ingress-nginx's controller serves its health checks on 10254,
    declared only with metrics on), hence information, not a warning.

    **Why it is a 5xx**: a probe on a port the app does not serve fails:
    the pod never becomes ready (503) or is restarted in a loop (502 and
    503), usually after the app's port changed and the probe did not.

    **Fix**: probe the port the app serves, by its name, so the two cannot
    drift apart; or declare the port the probe checks.
    """
    numbers = {p.number for p in container_ports(pod_template_spec(workload))}
    for container, probe, own in _probes(workload):
        port = probe.port
        if isinstance(port, str) and not port.isdigit():
            continue
        if port is None or not own or int(port) in numbers:
            continue
        yield _port_problem(
            workload,
            container,
            probe,
            f"{port}, which no container declares ({', '.join(str(p) for p in own)})",
            f"Probe the port the app serves by its name (e.g. {own[0].name or own[0].number}), "
            f"or declare containerPort {port}.",
        )


@check(
    code="W5X303",
    name="no-readiness-probe",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
    peers=(
        kube_linter(
            "no-readiness-probe",
            Relation.SAME,
            "kube-linter's is off by default and flags every container; why5xx only those "
            "serving a Service",
        ),
        popeye("104", Relation.SAME, "on a live cluster only, every container"),
        checkov(
            "CKV_K8S_9",
            Relation.SAME,
            "checkov asks it of every container of every workload but Jobs, whether anything "
            "sends it requests or not: datastores, workers and internal Services alike",
        ),
    ),
)
def no_readiness_probe(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A container that an HTTP proxy sends requests to has no readiness probe.

    **What it finds**: a container of a workload behind a Service (one that
    declares the Service's target port, or every app container when none
    declares ports) without a `readinessProbe`. It is a warning where a
    proxy fronts the workload (an Ingress, a Gateway API or mesh route, a
    `LoadBalancer` or `NodePort` Service, a headless Service with an HTTP
    or gRPC port) and the container is no datastore, cache or broker
    (`lint/traffic.py`), and where no injected
    sidecar holds the pod unready until the app serves (Dapr's waits for
    its `app-port`); `info` otherwise.

    **Why it is a 5xx**: without one, a pod is ready as soon as its
    containers start: the Service sends it requests before the app listens
    (connection refused: 502) and keeps sending them to an app that hangs.

    **Fix**: a readiness probe that fits what the container runs: `httpGet`
    on a health path for HTTP, `grpc` for a gRPC port, `exec` of the
    server's own ping (`redis-cli ping`, `pg_isready`, `mysqladmin ping`)
    or `tcpSocket` for datastores and brokers.
    """
    sidecar = sidecar_readiness(workload)
    for serving in servings_of(manifests, workload):
        if serving.container.get("readinessProbe"):
            continue
        services = ", ".join(s.name for s in manifests.services_of(workload))
        level = level_for(manifests, workload, serving.container)
        probe = readiness_probe(serving, manifests.services_of(workload))
        yield Problem(
            subject=workload,
            field=f"{serving.path}.readinessProbe",
            message=(
                f"Container {serving.name} of {named(workload)} serves Service {services} "
                "without a readiness probe" + (f" ({sidecar})" if sidecar else "")
            ),
            fix=f"Add to container {serving.name}: readinessProbe: {probe}.",
            related=manifests.services_of(workload),
            level=Level.INFO if sidecar else level,
        )


@check(
    code="W5X304",
    name="readiness-same-as-liveness",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
)
def readiness_same_as_liveness(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A serving container's liveness probe checks what its readiness probe does, as soon.

    **What it finds**: a container behind a Service whose readiness and
    liveness probes use the same handler on the same target (path, port by
    number or name, command; headers aside), where the liveness probe gives
    up no later than the readiness probe (`failureThreshold` x
    `periodSeconds`). A warning where an HTTP proxy fronts the workload;
    `info` where the liveness probe waits longer (the pod leaves rotation
    first and may recover) or nothing proxies HTTP to it.

    **Why it is a 5xx**: readiness should say "send me traffic", liveness
    "I am not stuck". When both check the same thing, a slow dependency or
    a load spike that fails the check restarts every pod instead of taking
    it out of rotation: all replicas restart together and the Service has
    no endpoints (503) until they are back. (kube-score's
    `pod-probes-identical` is the same check.)

    **Fix**: keep the dependency-aware check in the readiness probe and give
    the liveness probe a cheap endpoint (e.g. `/livez`) with a larger
    `failureThreshold`.
    """
    declared = container_ports(pod_template_spec(workload))
    for serving in servings_of(manifests, workload):
        readiness = Probe.of(serving.container, "readiness")
        liveness = Probe.of(serving.container, "liveness")
        if readiness is None or liveness is None or not readiness.handler:
            continue
        own = tuple(p for p in declared if p.container == serving.name)
        if _checked(readiness, own) != _checked(liveness, own):
            continue
        sooner = _failing(liveness) <= _failing(readiness)
        yield Problem(
            subject=workload,
            field=f"{serving.path}.livenessProbe",
            message=(
                f"Container {serving.name} of {named(workload)} has the same readiness and "
                f"liveness probe ({readiness.target})"
            ),
            fix=(
                "Point the liveness probe at a check that fails only when the process is stuck "
                "(e.g. /livez), with a larger failureThreshold than the readiness probe's."
            ),
            level=level_for(manifests, workload, serving.container) if sooner else Level.INFO,
        )


def _checked(probe: Probe, declared: tuple[ContainerPort, ...]) -> tuple[str, str]:
    """What a probe checks, its port resolved to a number and its headers
    left out (a header does not make another check)."""
    port = probe.port
    if isinstance(port, str) and not port.isdigit():
        port = next((p.number for p in declared if p.name == port), port)
    action = {k: v for k, v in probe.action.items() if k not in ("httpHeaders", "port")}
    return probe.handler, f"{port} {sorted(action.items())}"


def _failing(probe: Probe) -> int:
    """Seconds of failures before the kubelet acts on the probe."""
    return probe.setting("failureThreshold") * probe.setting("periodSeconds")


def _jvm(container: Mapping[str, Any]) -> str | None:
    """What shows the container runs a JVM: its image, its command, its env."""
    image = str(container.get("image", ""))
    if _JVM_IMAGE.search(image):
        return f"image {image}"
    command = [str(w) for w in (*(container.get("command") or ()), *(container.get("args") or ()))]
    if command and command[0].rsplit("/", 1)[-1] == "java":
        return "command java"
    env = sorted(_JVM_ENV & {str(e.get("name")) for e in container.get("env") or ()})
    return f"env {env[0]}" if env else None


@check(
    code="W5X305",
    name="liveness-kills-slow-start",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
    peers=(
        k8sgpt(None, Relation.ONLY_HERE, "k8sgpt reports the restarts once they happen"),
        checkov(
            None,
            Relation.ONLY_HERE,
            "checkov's CKV_K8S_8 asks every container for a liveness probe; none weighs its budget",
        ),
    ),
)
def liveness_kills_slow_start(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A JVM container's liveness probe gives up before a slow start ends, with no startupProbe.

    **What it finds**: a container that runs a JVM (a JDK/JRE, Tomcat,
    WildFly, Keycloak or Elasticsearch image; a `java` command; `JAVA_OPTS`
    or `JAVA_TOOL_OPTIONS` in its env) with a liveness probe, no
    `startupProbe`, and a liveness budget (`initialDelaySeconds` +
    `failureThreshold` x `periodSeconds`, with the API's defaults 0 + 3 x 10)
    under 60 s. Deliberately narrow: other runtimes are not guessed at.

    **Why it is a 5xx**: a JVM under a CPU limit often takes longer than
    that to start; the kubelet kills it before it is ready, again and again
    (CrashLoopBackOff), and the Service has no endpoints: 503. The diagnosis
    calls this `slow-startup`.

    **Fix**: add a `startupProbe` with the liveness probe's handler and a
    budget of a few minutes (`failureThreshold: 30`, `periodSeconds: 10`):
    the kubelet holds the liveness probe until it passes.
    """
    for container in containers(pod_template_spec(workload)):
        liveness = Probe.of(container, "liveness")
        if liveness is None or container.get("startupProbe"):
            continue
        runtime = _jvm(container)
        if runtime is None or liveness.budget >= SLOW_START_SECONDS:
            continue
        yield Problem(
            subject=workload,
            field=_field(workload, container, "livenessProbe"),
            message=(
                f"Container {liveness.container} of {named(workload)} runs a JVM ({runtime}) and "
                f"its liveness probe restarts it {liveness.budget} s after start "
                f"({liveness.budget_terms}), with no startupProbe"
            ),
            fix=(
                f"Add a startupProbe to container {liveness.container} with the liveness "
                "probe's handler, failureThreshold: 30 and periodSeconds: 10."
            ),
        )
