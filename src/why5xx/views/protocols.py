"""What a port carries, in one vocabulary (`Protocol`): what a Service port
declares to Istio (appProtocol, else the port name, else sniffing) and to a
proxy that reads it as a backend protocol (ingress-nginx), and what the app
behind it speaks (a gRPC probe on the port, else the container port's name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
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


class Protocol(StrEnum):
    """What a connection carries: one vocabulary for what a Service port
    declares, what a proxy speaks to it and what the app behind it speaks."""

    HTTP1 = "HTTP/1.1"
    H2C = "h2c"  # HTTP/2 in clear text, with prior knowledge
    GRPC = "gRPC"  # HTTP/2 carrying gRPC
    TLS = "TLS"
    TCP = "TCP"  # opaque bytes
    SERVER_FIRST = "server-first TCP"  # the server speaks first (MySQL, SMTP)

    @property
    def http2(self) -> bool:
        return self in (Protocol.H2C, Protocol.GRPC)

    @property
    def http(self) -> bool:
        """HTTP in clear text, of either version."""
        return self is Protocol.HTTP1 or self.http2


HTTP1, H2C, GRPC, TLS, TCP, SERVER_FIRST = (
    Protocol.HTTP1,
    Protocol.H2C,
    Protocol.GRPC,
    Protocol.TLS,
    Protocol.TCP,
    Protocol.SERVER_FIRST,
)

# Istio's protocols (pkg/config/protocol Parse) by what the sidecar speaks.
_ISTIO: Mapping[str, Protocol] = {
    "http": HTTP1,
    "http_proxy": HTTP1,
    "http2": H2C,
    "grpc": GRPC,
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
_APP_BY_NAME: Mapping[str, Protocol] = {
    "http": HTTP1,
    "grpc": GRPC,
    "h2c": H2C,
    "http2": H2C,
    "https": TLS,
    "tls": TLS,
    "mysql": SERVER_FIRST,
    "smtp": SERVER_FIRST,
    "submission": SERVER_FIRST,
    "ftp": SERVER_FIRST,
    "pop3": SERVER_FIRST,
    "imap": SERVER_FIRST,
}
# The appProtocol that tells Istio what the app speaks.
DECLARE = {HTTP1: "http", GRPC: "grpc", H2C: "grpc", TLS: "https", SERVER_FIRST: "tcp"}
# A Service port's appProtocol (its standard values and the kubernetes.io ones)
# and port name as a backend protocol, for proxies that read them (ingress-nginx).
_APP_PROTOCOLS: Mapping[str, Protocol] = {
    "https": TLS,
    "tls": TLS,
    "kubernetes.io/wss": TLS,
    "http": HTTP1,
    "kubernetes.io/ws": HTTP1,
    "grpc": GRPC,
    "kubernetes.io/h2c": H2C,
    "h2c": H2C,
}
_NAME_PROTOCOLS: Mapping[str, Protocol] = {
    "https": TLS,
    "tls": TLS,
    "http": HTTP1,
    "grpc": GRPC,
    "h2c": H2C,
}
_TLS_PORTS = frozenset({443, 8443})


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """What a Service port declares it carries, and how it says it."""

    protocol: Protocol | None  # None: nothing declared, Istio sniffs
    how: str  # "appProtocol https", "port name https-api", "port number 8443"
    field: str
    strong: bool = True  # appProtocol or a name, not just a number


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
        return Declared(protocol=HTTP1, how=f"{field} {text}", field=where)
    if prefix in _ISTIO:
        return Declared(protocol=_ISTIO[prefix], how=f"{field} {text}", field=where)
    if port.port in _WELL_KNOWN_TCP:
        return Declared(
            protocol=TCP, how=f"well-known port {port.port}", field=f"{port.field}.port"
        )
    return Declared(protocol=None, how=f"{field} {text or '<none>'}", field=where)


def _by_name(name: str) -> Protocol | None:
    # Istio's convention, `<protocol>[-<suffix>]`; grpc-web is HTTP/1.1-compatible.
    prefix = name.lower().split("-", 1)[0]
    if name.lower().startswith("grpc-web"):
        return HTTP1
    return _NAME_PROTOCOLS.get(prefix)


def backend_protocol(port: ServicePort, raw: Mapping[str, Any]) -> Declared | None:
    """The backend protocol a Service port declares to a proxy that reads
    it (ingress-nginx): `appProtocol`, else its name, else a named
    targetPort, else the TLS port numbers 443/8443; None when nothing says."""
    field = port.field
    app = str(raw.get("appProtocol") or "").lower()
    if app in _APP_PROTOCOLS:
        return Declared(
            protocol=_APP_PROTOCOLS[app], how=f"appProtocol {app}", field=f"{field}.appProtocol"
        )
    for name, where in ((port.name, "name"), (port.target, "targetPort")):
        if isinstance(name, str) and name and (found := _by_name(name)):
            return Declared(protocol=found, how=f"port {where} {name}", field=f"{field}.{where}")
    numbers = {port.port, port.target} & _TLS_PORTS
    if numbers:
        return Declared(
            protocol=TLS, how=f"port number {min(numbers)}", field=f"{field}.port", strong=False
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Speaks:
    """What the app behind a port speaks, and what says so."""

    speaks: Protocol
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
            return Speaks(speaks=GRPC, how=how, object=obj, field=field, strong=True)
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
