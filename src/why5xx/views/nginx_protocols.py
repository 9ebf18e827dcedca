"""Causes in how the proxy in front of a Service talks to it, when the
Service has endpoints but answers go wrong: idle keep-alive connections the
app closes first, connection pools and circuit breakers too small for the
load, read timeouts shorter than the app's own, and the wrong protocol.

What the proxy is configured to do comes from `rules/frontend.py`; what the
app server does from `why5xx.appservers`. Both cite their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from why5xx.views.ports import ServicePort

TLS, HTTP, GRPC, H2C = "TLS", "HTTP", "gRPC", "h2c"

# What each ingress-nginx backend-protocol speaks to the upstream.
NGINX_SPEAKS: Mapping[str, frozenset[str]] = {
    "HTTP": frozenset({HTTP}),
    "HTTPS": frozenset({TLS}),
    "GRPC": frozenset({GRPC, H2C}),
    "GRPCS": frozenset({GRPC, TLS}),
}

FIX_FOR = {TLS: "HTTPS", GRPC: "GRPC", H2C: "GRPC", HTTP: "HTTP"}

_APP_PROTOCOLS = {
    "https": TLS,
    "tls": TLS,
    "kubernetes.io/wss": TLS,
    "http": HTTP,
    "kubernetes.io/ws": HTTP,
    "grpc": GRPC,
    "kubernetes.io/h2c": H2C,
    "h2c": H2C,
}

_NAME_PROTOCOLS = {"https": TLS, "tls": TLS, "http": HTTP, "grpc": GRPC, "h2c": H2C}

_TLS_PORTS = frozenset({443, 8443})


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """What a Service port says its backend speaks, and how it says it."""

    protocol: str
    how: str  # "appProtocol https", "port name https-api", "port number 8443"
    field: str
    strong: bool  # appProtocol or a name, not just a number


def _by_name(name: str) -> str | None:
    # Istio's convention, `<protocol>[-<suffix>]`; grpc-web is HTTP/1.1-compatible.
    prefix = name.lower().split("-", 1)[0]
    if name.lower().startswith("grpc-web"):
        return HTTP
    return _NAME_PROTOCOLS.get(prefix)


def declared_protocol(port: ServicePort, raw: Mapping[str, Any]) -> Declared | None:
    """The backend protocol a Service port declares: `appProtocol`, else its
    name, else a named targetPort, else the TLS port numbers 443/8443."""
    field = port.field
    app = str(raw.get("appProtocol") or "").lower()
    if app in _APP_PROTOCOLS:
        return Declared(
            protocol=_APP_PROTOCOLS[app],
            how=f"appProtocol {app}",
            field=f"{field}.appProtocol",
            strong=True,
        )
    for name, where in ((port.name, "name"), (port.target, "targetPort")):
        if isinstance(name, str) and name and (found := _by_name(name)):
            return Declared(
                protocol=found, how=f"port {where} {name}", field=f"{field}.{where}", strong=True
            )
    numbers = {port.port, port.target} & _TLS_PORTS
    if numbers:
        return Declared(
            protocol=TLS,
            how=f"port number {min(numbers)}",
            field=f"{field}.port",
            strong=False,
        )
    return None
