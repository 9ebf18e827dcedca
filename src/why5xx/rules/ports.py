"""Causes where the Service's ports do not meet the pods' ports: a targetPort,
by number or by name, that the containers of the selected pods do not declare."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact, pod_count
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import (
    ContainerPort,
    container_ports,
    containers,
    pod_ready,
    pod_template_spec,
)
from why5xx.views.ports import PROBE_FIELDS, ServicePort, service_ports
from why5xx.views.service import ServiceTarget, selected_workloads

_PROBE_HANDLERS = ("httpGet", "tcpSocket", "grpc")

_MAX_NAMED = 3

# Injected mesh proxies declare their own ports and Istio rewrites the app's
# probes to its agent (`/app-health/<container>/readyz` on 15020): neither says
# where the app listens.
_MESH_PROXIES = frozenset({"istio-proxy", "linkerd-proxy"})

_ISTIO_PROBE_PATH = "/app-health/"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbePort:
    """The port a container's probe checks, resolved to a number."""

    container: str
    probe: str  # readinessProbe | livenessProbe | startupProbe
    handler: str  # httpGet | tcpSocket | grpc
    number: int

    @property
    def field(self) -> str:
        return f"containers[{self.container}].{self.probe}.{self.handler}.port"


def _probe_ports(
    pod_spec: Mapping[str, Any], declared: tuple[ContainerPort, ...]
) -> list[ProbePort]:
    """The ports the app's probes check (not a mesh proxy's, nor Istio's
    rewritten ones)."""
    out: list[ProbePort] = []
    for container in containers(pod_spec):
        name = str(container.get("name", ""))
        if name in _MESH_PROXIES:
            continue
        named = {p.name: p.number for p in declared if p.container == name and p.name}
        for probe in PROBE_FIELDS:
            for handler in _PROBE_HANDLERS:
                check = (container.get(probe) or {}).get(handler) or {}
                if str(check.get("path", "")).startswith(_ISTIO_PROBE_PATH):
                    continue
                port = check.get("port")
                number = named.get(port) if isinstance(port, str) and not port.isdigit() else port
                if number is not None:
                    out.append(
                        ProbePort(container=name, probe=probe, handler=handler, number=int(number))
                    )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """What the ports are checked against: a selected pod, or the pod template
    of a selected workload when no pod runs."""

    obj: Obj
    spec: Mapping[str, Any]
    prefix: str  # where the pod spec sits in obj: spec | spec.template.spec
    ready: bool


def _subjects(snap: Snapshot, target: ServiceTarget) -> list[Subject]:
    if target.live_pods:
        return [
            Subject(obj=pod, spec=pod.spec, prefix="spec", ready=pod_ready(pod))
            for pod in target.live_pods
        ]
    return [
        Subject(obj=w, spec=pod_template_spec(w), prefix="spec.template.spec", ready=False)
        for w in selected_workloads(snap, target)
    ]


class Problem(Enum):
    NAME_MISSING = auto()  # no container port has the name
    NAME_PROTOCOL = auto()  # the name exists, with another protocol
    NUMBER_MISSING = auto()  # no container port has the number
    NUMBER_PROTOCOL = auto()  # the number exists, with another protocol

    @property
    def named(self) -> bool:
        return self in (Problem.NAME_MISSING, Problem.NAME_PROTOCOL)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mismatch:
    subject: Subject
    problem: Problem
    declared: tuple[ContainerPort, ...]
    probes: tuple[ProbePort, ...]  # probes checking a port other than the target


def _mismatch(port: ServicePort, subject: Subject) -> Mismatch | None:
    """How `subject` fails `port`, by the endpoint controller's rules: a name
    must match a container port's name and protocol, else the pod gets no
    endpoint for the port; a number is used as is, declared or not."""
    declared = container_ports(subject.spec)
    target = port.target
    if isinstance(target, str):
        if any(p.name == target and p.protocol == port.protocol for p in declared):
            return None
        named_elsewhere = any(p.name == target for p in declared)
        problem = Problem.NAME_PROTOCOL if named_elsewhere else Problem.NAME_MISSING
        return Mismatch(subject=subject, problem=problem, declared=declared, probes=())
    if any(p.number == target and p.protocol == port.protocol for p in declared):
        return None
    app_ports = tuple(p for p in declared if p.container not in _MESH_PROXIES)
    probes = _probe_ports(subject.spec, declared)
    if any(p.number == target for p in app_ports):
        problem = Problem.NUMBER_PROTOCOL
    elif any(p.number == target for p in probes) or not (app_ports or probes):
        return None  # a probe checks the target (the app listens there), or nothing to go by
    else:
        problem = Problem.NUMBER_MISSING
    return Mismatch(
        subject=subject,
        problem=problem,
        declared=app_ports,
        probes=tuple(p for p in probes if p.number != target),
    )


def _suggestion(
    port: ServicePort,
    mismatches: list[Mismatch],
    readiness: ProbePort | None,
    resolved: set[int],
) -> ContainerPort | None:
    """The container port the Service most likely means, None when the
    declared ports give no hint which: a name like the target's; the number
    the target resolves to on the other pods; the port a passing readiness
    probe checks; a port named or numbered like the Service port."""
    candidates = list(
        dict.fromkeys(p for m in mismatches for p in m.declared if p.protocol == port.protocol)
    )

    def score(candidate: ContainerPort) -> tuple[bool, ...]:
        similar = (
            isinstance(port.target, str)
            and bool(candidate.name)
            and difflib.SequenceMatcher(None, candidate.name, port.target).ratio() >= 0.6
        )
        return (
            similar,
            candidate.number in resolved,
            readiness is not None and candidate.number == readiness.number,
            bool(port.name) and candidate.name == port.name,
            candidate.number == port.port,
        )

    if len(candidates) > 1 and not any(map(any, map(score, candidates))):
        return None
    return max(candidates, key=score, default=None)


def _passing_readiness(mismatches: list[Mismatch]) -> tuple[Obj, ProbePort] | None:
    """A Ready pod whose readiness probe checks a port other than the target:
    proof that the app answers there."""
    for m in mismatches:
        if m.subject.ready:
            for probe in m.probes:
                if probe.probe == "readinessProbe":
                    return m.subject.obj, probe
    return None


def _template_key(snap: Snapshot, subject: Subject) -> str:
    """Pods of one ReplicaSet share a spec: name one of them per owner."""
    owner = snap.owner(subject.obj) if subject.obj.kind == "Pod" else None
    return str((owner or subject.obj).ref)


def _expected(port: ServicePort) -> str:
    if isinstance(port.target, str):
        return f'a port named "{port.target}" ({port.protocol})'
    return f"containerPort {port.target}/{port.protocol}"


def _subject_evidence(
    snap: Snapshot, port: ServicePort, mismatches: list[Mismatch]
) -> list[Evidence]:
    out: list[Evidence] = []
    seen: set[str] = set()
    for m in mismatches:
        key = _template_key(snap, m.subject)
        if key in seen or len(out) == _MAX_NAMED:
            continue
        seen.add(key)
        out.append(
            fact(
                m.subject.obj,
                f"{m.subject.prefix}.containers[*].ports",
                (", ".join(f"{p.container}: {p}" for p in m.declared) or "no ports declared"),
                expected=_expected(port),
            )
        )
    return out


def _endpoint_evidence(target: ServiceTarget, port: ServicePort) -> Evidence | None:
    """What the endpoint controller published for the port: nothing (a name it
    could not resolve) or the bare target number."""
    endpoints = target.endpoints
    if endpoints is None:
        return None
    source = endpoints.objects[0]
    label = port.name or "(unnamed)"
    published = next(
        (p for p in endpoints.ports if p.name == port.name and p.protocol == port.protocol), None
    )
    ready = f"{len(endpoints.ready)} ready endpoint(s)"
    if published is not None:
        if isinstance(port.target, str):
            return None  # some pods resolve the name; the pods named above do not
        return fact(
            source, f"ports[{label}].port", f"{published.port}/{published.protocol}, {ready}"
        )
    others = ", ".join(f"{p.name or '(unnamed)'}={p.port}" for p in endpoints.ports) or "none"
    return fact(
        source,
        "ports",
        f"no port {label} (published ports: {others}, for {ready})",
        expected=f"port {label} resolved to a container port",
    )


def _title(target: ServiceTarget, port: ServicePort, mismatches: list[Mismatch], total: int) -> str:
    first = mismatches[0]
    subject = first.subject.obj
    if subject.kind == "Pod":
        scope, declare = "its pods", "declare"
    else:
        scope, declare = f"the pod template of {kubectl.resource(subject)}", "declares"
    head = f"Service {target.name} port {port}"
    tail = f" ({pod_count(len(mismatches), total)})" if len(mismatches) < total else ""
    same = {p.protocol for m in mismatches for p in m.declared if port.target in (p.name, p.number)}
    protocols = "/".join(sorted(same))
    declared = ", ".join(dict.fromkeys(str(p) for m in mismatches for p in m.declared))
    if first.problem is Problem.NAME_MISSING:
        text = f'targets port name "{port.target}", which no container of {scope} declares'
    elif first.problem is Problem.NAME_PROTOCOL:
        text = f'targets port name "{port.target}", which {scope} {declare} only for {protocols}'
    elif first.problem is Problem.NUMBER_PROTOCOL:
        text = f"targets port {port.target}, which {scope} {declare} only for {protocols}"
    elif declared:
        text = f"sends traffic to port {port.target}, but {scope} {declare} only {declared}"
    else:
        text = f"sends traffic to port {port.target}, but the probes of {scope} check other ports"
    return f"{head} {text}{tail}"


def _explanation(
    port: ServicePort,
    mismatches: list[Mismatch],
    total: int,
    readiness: tuple[Obj, ProbePort] | None,
) -> str:
    first = mismatches[0]
    templates = first.subject.obj.kind != "Pod"
    affected = "the pods" if len(mismatches) == total else pod_count(len(mismatches), total)
    label = port.name or str(port.port)
    parts: list[str] = []
    if templates:
        parts.append(
            "No selected pod runs now; every pod this template creates fails the same way."
        )
    if first.problem.named:
        parts.append(
            "A named targetPort is resolved on each pod against its containers' ports (name and "
            "protocol must both match), and the endpoint controller leaves a pod out of the "
            f"endpoints of the port where nothing matches: {affected} get no endpoint for port "
            f"{label}."
        )
        if len(mismatches) == total:
            parts.append(
                "With no endpoint behind the port, kube-proxy rejects connections to it and "
                "ingress controllers answer 503."
            )
        else:
            parts.append(
                "The other pods still serve it; the port loses its last endpoints (503) once "
                "they are replaced."
            )
        return " ".join(parts)
    parts.append(
        "A numeric targetPort is published as the endpoint port whatever the containers declare "
        "(containerPort is informational), so the endpoints look ready while connections to "
        f"{affected} go to port {port.target}: connection refused, which proxies report as 502."
    )
    if readiness is not None:
        pod, probe = readiness
        parts.append(
            f"The readiness probe of container {probe.container} checks port {probe.number} and "
            f"pod {pod.name} is Ready, so the app listens on {probe.number}."
        )
    elif first.problem is Problem.NUMBER_MISSING:
        parts.append(
            f"An app can listen on a port it does not declare: check its logs for {port.target}."
        )
    return " ".join(parts)


def _confidence(problem: Problem, readiness: bool, declared: bool) -> float:
    if problem is Problem.NAME_MISSING:
        return 0.95
    if problem is Problem.NAME_PROTOCOL:
        return 0.9
    if problem is Problem.NUMBER_PROTOCOL or readiness:
        return 0.85
    return 0.75 if declared else 0.65  # the app may listen on a port it does not declare


def _value(port: ServicePort, suggestion: ContainerPort, subjects: list[Subject]) -> int | str:
    """The targetPort to set: a named target stays named when every pod
    declares the suggested name; otherwise the number, which also serves the
    pods that do not (e.g. the old version mid-rollout)."""
    named_everywhere = all(
        any(
            p.name == suggestion.name and p.protocol == port.protocol
            for p in container_ports(s.spec)
        )
        for s in subjects
    )
    if isinstance(port.target, str) and suggestion.name and named_everywhere:
        return suggestion.name
    return suggestion.number


def _fix(
    snap: Snapshot,
    target: ServiceTarget,
    port: ServicePort,
    subjects: list[Subject],
    mismatch: Mismatch,
    suggestion: ContainerPort | None,
) -> Fix:
    subject = mismatch.subject
    workload = (snap.workload_of(subject.obj) if subject.obj.kind == "Pod" else None) or subject.obj
    prefix = "spec" if workload.kind == "Pod" else "spec.template.spec"
    container = (
        suggestion.container if suggestion else next(iter(containers(subject.spec)), {}).get("name")
    )
    where = f"{kubectl.resource(workload)}: {prefix}.containers[{container}].ports"
    test: dict[str, Any] = {
        "op": "test",
        "path": f"/spec/ports/{port.index}/port",
        "value": port.port,
    }
    if mismatch.problem in (Problem.NAME_PROTOCOL, Problem.NUMBER_PROTOCOL):
        other = next(p for p in mismatch.declared if port.target in (p.name, p.number))
        change = {
            "op": "add",
            "path": f"/spec/ports/{port.index}/protocol",
            "value": other.protocol,
        }
        return Fix(
            summary=(
                f"Set {port.field}.protocol to {other.protocol}, the protocol the container "
                f"declares for {port.target}; if the app also serves {port.protocol}, declare "
                f"that port in the container too (and give the Service one port per protocol)."
            ),
            patch=kubectl.json_patch(target.service, [test, change]),
        )
    if mismatch.problem.named:
        container_side = (
            f'# or, if "{port.target}" is the name you meant, give the container port that '
            f"name in {where}"
        )
    else:
        container_side = (
            f"# or, if the app should listen on {port.target}, configure it so and declare "
            f"containerPort {port.target} in {where}"
        )
    if suggestion is None:
        declared = ", ".join(str(p) for p in mismatch.declared) or "none"
        return Fix(
            summary=(
                f"Point {port.field}.targetPort at the port the app serves on (declared: "
                f"{declared}), declaring it in the container if it is not."
            ),
            patch=container_side,
        )
    value = _value(port, suggestion, subjects)
    retarget = {"op": "add", "path": f"/spec/ports/{port.index}/targetPort", "value": value}
    return Fix(
        summary=(
            f"Point {port.field}.targetPort at {value}, the port the containers declare "
            f"({suggestion}), or make the containers serve {port.target}."
        ),
        patch=f"{kubectl.json_patch(target.service, [test, retarget])}\n{container_side}",
    )


def _draft(
    snap: Snapshot,
    target: ServiceTarget,
    port: ServicePort,
    subjects: list[Subject],
    mismatches: list[Mismatch],
) -> Draft:
    service = target.service
    first = mismatches[0]
    named = first.problem.named
    readiness = None if named else _passing_readiness(mismatches)
    resolved = {  # what a name resolves to on the pods that declare it
        p.number
        for subject in subjects
        for p in container_ports(subject.spec)
        if p.name == port.target and p.protocol == port.protocol
    }
    total = len(subjects)
    suggestion = _suggestion(port, mismatches, readiness[1] if readiness else None, resolved)
    evidence = [
        fact(
            service,
            f"{port.field}.targetPort",
            f"{port.target} (unset, so port)" if port.defaulted else str(port.target),
            expected=str(suggestion) if suggestion else _expected(port),
        ),
        *_subject_evidence(snap, port, mismatches),
    ]
    if readiness is not None:
        pod, probe = readiness
        evidence.append(
            fact(pod, f"spec.{probe.field}", f"{probe.number} (pod Ready: the probe passes there)")
        )
    if (published := _endpoint_evidence(target, port)) is not None:
        evidence.append(published)
    confirm = [
        kubectl.get_yaml(service, "{.spec.ports}"),
        kubectl.get_yaml(first.subject.obj, f"{{.{first.subject.prefix}.containers[*].ports}}"),
        kubectl.endpoint_slices(service),
    ]
    if not named and first.subject.obj.kind == "Pod":
        confirm.append(kubectl.logs(first.subject.obj))
    return Draft(
        subject=service.ref,
        title=_title(target, port, mismatches, total),
        explanation=_explanation(port, mismatches, total, readiness),
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        fix=_fix(snap, target, port, subjects, first, suggestion),
        confidence=_confidence(first.problem, readiness is not None, bool(first.declared)),
        severity=Severity.WARNING if len(mismatches) < total else None,
        http_status=(503,) if named else (502,),
    )


@rule(cause="target-port-mismatch", inputs=("Service", "Pod"))
def target_port_mismatch(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """A Service port's targetPort matches no container port of the selected pods.

    **What it finds**: for each port of a Service, its `targetPort` (a number,
    a name, or unset, which means the same number as `port`) against the
    `ports` the containers of each selected pod declare (or, with no pod
    running, the pod templates of the selected workloads). A name must match
    a container port's name and protocol; a number is compared with
    `containerPort` and protocol, and a probe on that number counts as proof
    that the app listens there. Ports of injected mesh proxies
    (`istio-proxy`, `linkerd-proxy`) and Istio's rewritten probes do not
    count as the app's. A multi-port Service gets one finding per broken
    port.

    **Why it is a 5xx**: the two kinds fail differently. A *named* targetPort
    that a pod does not declare makes the endpoint controller leave that pod
    out of the port's endpoints: with no pod left, the port has no endpoints
    and proxies answer 503. A *numeric* targetPort is published as is
    (containerPort is informational), so the endpoints are ready but
    connections reach a port nothing listens on: connection refused,
    reported as 502. An app may listen on a port it does not declare, so a
    numeric mismatch is less certain, unless a passing readiness probe shows
    the app on another port.

    **Fix**: point the Service's targetPort at the port the containers
    declare (by name, which survives a port change between versions), or
    make the container declare and listen on the targetPort.
    """
    if not target.selector:
        return
    subjects = _subjects(snap, target)
    for port in service_ports(target.service):
        mismatches = [m for s in subjects if (m := _mismatch(port, s)) is not None]
        if mismatches:
            yield _draft(snap, target, port, subjects, mismatches)
