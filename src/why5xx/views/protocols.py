"""What a port carries: the protocol Istio takes a Service port to carry
(appProtocol, else the port name, else sniffing), and what the app behind it
speaks (a gRPC probe on the port, else the container port's name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import ContainerPort, container_ports, containers, pod_template_spec
from why5xx.views.ports import PROBE_FIELDS, ServicePort


def target_container_port(
    port: ServicePort, pod_spec: Mapping[str, Any]
) -> tuple[int | None, ContainerPort | None]:
    """The container port a Service port sends to, by number or by name."""
    declared = container_ports(pod_spec)
    if isinstance(port.target, int):
        return port.target, next((p for p in declared if p.number == port.target), None)
    found = next((p for p in declared if p.name == port.target), None)
    return (found.number if found else None), found


HTTP1, H2, TLS, TCP, SERVER_FIRST = "HTTP/1.1", "HTTP/2", "TLS", "TCP", "server-first TCP"

# Istio's protocols (pkg/config/protocol Parse) by what the sidecar speaks.
_ISTIO: Mapping[str, str] = {
    "http": HTTP1,
    "http_proxy": HTTP1,
    "http2": H2,
    "grpc": H2,
    "https": TLS,
    "tls": TLS,
    "tcp": TCP,
    "mongo": TCP,
    "mysql": TCP,
    "redis": TCP,
}

# Ports Istio treats as TCP when nothing declares them (server-first protocols).
_WELL_KNOWN_TCP = frozenset({25, 53, 3306, 27017})

# What a container port's name says its app speaks.
_APP_BY_NAME: Mapping[str, str] = {
    "http": HTTP1,
    "grpc": H2,
    "h2c": H2,
    "http2": H2,
    "https": TLS,
    "tls": TLS,
    "mysql": SERVER_FIRST,
    "smtp": SERVER_FIRST,
    "submission": SERVER_FIRST,
    "ftp": SERVER_FIRST,
    "pop3": SERVER_FIRST,
    "imap": SERVER_FIRST,
}

# The appProtocol to declare for what the app speaks.
DECLARE = {HTTP1: "http", H2: "grpc", TLS: "https", SERVER_FIRST: "tcp"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """What Istio takes a Service port to carry, and from which field."""

    speaks: str | None  # None: protocol sniffing
    how: str
    field: str


def istio_protocol(port: ServicePort, raw: Mapping[str, Any]) -> Declared:
    """Istio's protocol selection (pkg/config/kube ConvertProtocol):
    `appProtocol` when set, else the port name, each by its prefix before
    `-`; `grpc-web` stays HTTP/1.1-compatible; nothing known -> TCP on the
    well-known server-first ports, else protocol sniffing."""
    app = raw.get("appProtocol")
    text, field = (str(app), "appProtocol") if app else (port.name, "name")
    lower = text.lower()
    prefix = "grpc-web" if lower.startswith("grpc-web") else lower.split("-", 1)[0]
    where = f"{port.field}.{field}"
    if prefix == "grpc-web":
        return Declared(speaks=HTTP1, how=f"{field} {text}", field=where)
    if prefix in _ISTIO:
        return Declared(speaks=_ISTIO[prefix], how=f"{field} {text}", field=where)
    if port.port in _WELL_KNOWN_TCP:
        return Declared(speaks=TCP, how=f"well-known port {port.port}", field=f"{port.field}.port")
    return Declared(speaks=None, how=f"{field} {text or '<none>'}", field=where)


@dataclass(frozen=True, slots=True, kw_only=True)
class Speaks:
    """What the app behind a port speaks, and what says so."""

    speaks: str
    how: str
    object: Obj  # the workload (its pod template) or the pod
    field: str
    strong: bool  # a gRPC probe, not only a port name


# The istio-proxy environment variable holding the app probes the injector
# rewrote to its agent (`/app-health/<container>/readyz` on port 15020), as
# JSON: {"/app-health/api/readyz": {"grpc": {"port": 9090}, ...}}.
APP_PROBERS = "ISTIO_KUBE_APP_PROBERS"


def grpc_probes(pod_spec: Mapping[str, Any], prefix: str) -> dict[int, tuple[str, str]]:
    """The ports the kubelet probes with gRPC health checks, with the field
    (under `prefix`, where the pod spec sits) that says so and which probe:
    the containers' own probes, and those Istio rewrote (kept in the
    sidecar's `ISTIO_KUBE_APP_PROBERS`)."""
    found: dict[int, tuple[str, str]] = {}
    for container in containers(pod_spec):
        name = container.get("name")
        for probe in PROBE_FIELDS:
            port = ((container.get(probe) or {}).get("grpc") or {}).get("port")
            if isinstance(port, int):
                found.setdefault(port, (f"{prefix}.containers[{name}].{probe}.grpc.port", probe))
        for env in container.get("env") or ():
            if env.get("name") != APP_PROBERS:
                continue
            try:
                probers = orjson.loads(str(env.get("value") or "{}"))
            except orjson.JSONDecodeError:
                continue
            for path, prober in probers.items() if isinstance(probers, dict) else ():
                port = ((prober or {}).get("grpc") or {}).get("port")
                if isinstance(port, int):
                    found.setdefault(
                        port, (f"{prefix}.containers[{name}].env[{APP_PROBERS}]", path)
                    )
    return found


def app_protocol(snap: Snapshot, pod: Obj, port: ServicePort) -> Speaks | None:
    """What the container behind a Service port speaks: a gRPC probe on the
    port (the kubelet speaks gRPC health checking to it), else the
    container port's name. The pod's workload is read first: its template
    holds the probes as written, before the injector rewrote them."""
    number, declared = target_container_port(port, pod.spec)
    if number is None:
        return None
    workload = snap.workload_of(pod)
    sources = [(pod, pod.spec, "spec")]
    if workload is not None:
        sources.insert(0, (workload, pod_template_spec(workload), "spec.template.spec"))
    for obj, spec, prefix in sources:
        probe = grpc_probes(spec, prefix).get(number)
        if probe is not None:
            field, which = probe
            how = f"gRPC probe on port {number} ({which})"
            return Speaks(speaks=H2, how=how, object=obj, field=field, strong=True)
    if declared is None or not declared.name:
        return None
    speaks = _APP_BY_NAME.get(declared.name.lower().split("-", 1)[0])
    if speaks is None:
        return None
    obj, _, prefix = sources[0]
    return Speaks(
        speaks=speaks,
        how=f"container port named {declared.name}",
        object=obj,
        field=f"{prefix}.containers[{declared.container}].ports[{declared.name}]",
        strong=False,
    )
