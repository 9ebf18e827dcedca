"""backend-protocol-mismatch: ingress-nginx speaks a different protocol to a
Service's pods than the Service port says its backend speaks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Snapshot
from why5xx.views.frontend import (
    NGINX_ANNOTATION,
    IngressRoute,
    controller_logs,
    ingress_routes,
    nginx_routes,
)
from why5xx.views.ingress import BACKEND_PROTOCOL_KEYS, controller_family, foreign_annotations
from why5xx.views.ports import ServicePort, service_ports
from why5xx.views.protocols import GRPC, H2C, HTTP1, TLS, Declared, Protocol, backend_protocol
from why5xx.views.routes import ingress_backends
from why5xx.views.service import ServiceTarget

# What each ingress-nginx backend-protocol speaks to the upstream.
_NGINX_SPEAKS: Mapping[str, frozenset[Protocol]] = {
    "HTTP": frozenset({HTTP1}),
    "HTTPS": frozenset({TLS}),
    "GRPC": frozenset({GRPC, H2C}),
    "GRPCS": frozenset({GRPC, TLS}),
}
# The backend-protocol that speaks what a port declares.
_FIX_FOR: Mapping[Protocol, str] = {TLS: "HTTPS", GRPC: "GRPC", H2C: "GRPC", HTTP1: "HTTP"}


def _service_port(
    target: ServiceTarget, name: str | None, number: int | None
) -> tuple[ServicePort, Mapping[str, Any]] | None:
    raws = list(target.service.spec.get("ports") or ())
    for port in service_ports(target.service):
        if (name and port.name == name) or (number is not None and port.port == number):
            return port, raws[port.index]
    return None


@rule(
    cause="backend-protocol-mismatch",
    inputs=("Service", "Ingress"),
    reads=("ConfigMap", "IngressClass"),
)
def backend_protocol_mismatch(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """ingress-nginx speaks a different protocol than the Service port says its backend speaks.

    **What it finds**: an Ingress served by ingress-nginx whose backend
    Service port declares TLS, gRPC or cleartext HTTP/2 (`appProtocol`
    `https`, `grpc`, `kubernetes.io/h2c`; a port or targetPort name
    `https`, `grpc`, `h2c`, with Istio's `<protocol>-<suffix>` convention;
    or the port number 443/8443) while the Ingress's
    `nginx.ingress.kubernetes.io/backend-protocol` is unset (default
    `HTTP`) or names another protocol; and the reverse, `HTTPS`, `GRPC` or
    `GRPCS` towards a port that declares plain `http`. Valid values of the
    annotation: `HTTP`, `HTTPS`, `GRPC`, `GRPCS`, `AUTO_HTTP`, `FCGI`
    (ingress-nginx annotations.md, "Backend Protocol"); `AUTO_HTTP` and
    `FCGI` are not judged.

    **Why it is a 5xx**: plain HTTP/1.1 sent to a TLS port gets the
    connection closed (502, `upstream prematurely closed connection`) or an
    nginx backend's 400 "The plain HTTP request was sent to HTTPS port";
    HTTP/1.1 sent to a gRPC/h2c server is refused (502, `upstream sent no
    valid HTTP/1.0 header`); TLS sent to a plaintext port fails the
    handshake (502, `SSL_do_handshake() failed ... wrong version number`).
    Every request through that Ingress fails.

    Also an Ingress that asks for a TLS (or gRPC) backend in an annotation
    its controller does not read, the IngressClass naming the controller:
    the community `nginx.ingress.kubernetes.io/backend-protocol` (or
    `secure-backends`) on NGINX Inc.'s controller (`nginx.org/ingress-controller`,
    which reads `nginx.org/ssl-services`), `nginx.org/ssl-services` on the
    community controller, and HAProxy's `haproxy.org/server-ssl` or
    `haproxy-ingress.github.io/backend-protocol` on another controller. This
    needs only the Ingress and its IngressClass: it runs for a Service that
    is not in the input too.

    **Fix**: set the annotation to what the backend speaks. It applies to
    every path of the Ingress, so backends that speak different protocols
    need separate Ingresses. A port declared only by its number is reported
    as a warning: name the port (or set `appProtocol`) to make it explicit.

    **Sources**: ingress-nginx `annotations.md` ("Backend Protocol"; NGINX
    uses HTTP by default); Kubernetes "Service" concepts (`appProtocol`:
    IANA names or `kubernetes.io/h2c`, `kubernetes.io/ws`,
    `kubernetes.io/wss`); Istio "Protocol Selection" (port name
    `<protocol>[-<suffix>]`).
    """
    yield from _unread_annotations(target, ingress_routes(snap, target.service))
    for route in nginx_routes(snap, target.service):
        ingress = route.ingress
        annotation = NGINX_ANNOTATION + "backend-protocol"
        speaks = str(ingress.annotations.get(annotation, "HTTP")).strip().upper()
        if speaks not in _NGINX_SPEAKS:
            continue
        for backend in route.backends:
            found = _service_port(target, backend.port_name, backend.port_number)
            if found is None:
                continue
            port, raw = found
            declared = backend_protocol(port, raw)
            if declared is None or declared.protocol in _NGINX_SPEAKS[speaks]:
                continue
            if declared.protocol == HTTP1 and speaks == "HTTP":
                continue
            yield _protocol_draft(target, route, backend.field, port, declared, speaks)
            break


# Values of the backend-protocol annotations that ask for TLS or gRPC.
_ASKS_TLS = frozenset({"HTTPS", "GRPC", "GRPCS", "TRUE", "H2", "H1-SSL", "H2-SSL"})


def _asks_tls(key: str, value: str, service: str) -> bool:
    if key.endswith(("ssl-services", "grpc-services")):
        return service in {v.strip() for v in value.split(",")}
    return value.strip().upper() in _ASKS_TLS


def _unread_annotations(target: ServiceTarget, routes: Sequence[IngressRoute]) -> Iterator[Draft]:
    """An Ingress asking for a TLS (or gRPC) backend in an annotation its
    controller does not read: the controller speaks plain HTTP/1."""
    service = target.service
    for route in routes:
        ingress, ingress_class = route.ingress, route.ingress_class
        family = controller_family(ingress_class)
        if family is None or ingress_class is None:
            continue
        unread = [
            (key, other)
            for key, other in foreign_annotations(ingress, family)
            if key in BACKEND_PROTOCOL_KEYS
            and _asks_tls(key, str(ingress.annotations[key]), service.name)
        ]
        if not unread:
            continue
        key, other = unread[0]
        value = str(ingress.annotations[key])
        controller = str(ingress_class.spec.get("controller"))
        own = family.https_backend.format(service=service.name)
        yield Draft(
            subject=ingress.ref,
            title=(
                f"Ingress {ingress.name} asks for a TLS backend with {key}: {value}, an "
                f"annotation of {other.name} that its controller, {family.name}, does not read: "
                f"it speaks plain HTTP to Service {service.name}"
            ),
            explanation=(
                f"IngressClass {ingress_class.name} is served by {controller} ({family.name}), "
                f"which reads annotations under {family.prefix} only. The backend speaks TLS "
                f"(that is why {key} was set), so plain HTTP reaches a TLS port: the "
                "connection is closed or answered with 400, and the controller returns 502."
            ),
            evidence=(
                fact(ingress, f"metadata.annotations[{key}]", value, expected=own),
                fact(ingress_class, "spec.controller", controller),
            ),
            confirm=(
                kubectl.get_yaml(ingress, "{.metadata.annotations}"),
                kubectl.get_yaml(ingress_class),
            ),
            fix=Fix(
                summary=(
                    f"Use the annotation {family.name} reads ({own}) instead of {key}, or serve "
                    f"the Ingress with {other.name} if that is the controller meant."
                ),
                patch=f"kubectl annotate -n {ingress.namespace} ingress {ingress.name} "
                f"--overwrite {own}",
            ),
            confidence=0.8,
        )


def _protocol_draft(
    target: ServiceTarget,
    route: IngressRoute,
    field: str,
    port: ServicePort,
    declared: Declared,
    speaks: str,
) -> Draft:
    ingress, service = route.ingress, target.service
    annotation = NGINX_ANNOTATION + "backend-protocol"
    assert declared.protocol is not None  # backend_protocol always names one
    want = _FIX_FOR[declared.protocol]
    others = {b.service for b in ingress_backends(ingress)} - {service.name}
    split = (
        f" The annotation applies to every backend of {ingress.name} ({', '.join(sorted(others))}"
        " too): move this path to its own Ingress if they speak differently."
        if others
        else ""
    )
    set_by = "set" if annotation in ingress.annotations else "unset, so the default"
    return Draft(
        subject=ingress.ref,
        title=(
            f"Ingress {ingress.name} speaks {speaks} to port {port} of Service {service.name}, "
            f"which declares {declared.protocol} ({declared.how})"
        ),
        explanation=(
            f"ingress-nginx talks to {service.name} as backend-protocol {speaks} ({set_by}), "
            f"but the Service port declares {declared.protocol}. The upstream cannot parse what "
            "nginx sends (or nginx cannot parse the answer), so every request through this "
            "Ingress gets a 502."
        ),
        evidence=(
            fact(
                ingress,
                f"metadata.annotations[{annotation}]",
                ingress.annotations.get(annotation, "<unset> (HTTP)"),
                expected=want,
            ),
            fact(service, declared.field, declared.how),
            fact(ingress, f"{field}.service", f"{service.name}:{port.name or port.port}"),
        ),
        confirm=(
            kubectl.get_yaml(ingress, "{.metadata.annotations}"),
            kubectl.get_yaml(service, "{.spec.ports}"),
            *(
                [
                    controller_logs(
                        route.nginx,
                        "prematurely closed|no valid HTTP|SSL_do_handshake|wrong version number",
                    )
                ]
                if route.nginx
                else []
            ),
        ),
        fix=Fix(
            summary=(
                f"Set {annotation} to {want} on Ingress {ingress.name}, or correct the port's "
                f"name/appProtocol if the backend does not speak {declared.protocol}.{split}"
            ),
            patch=f"kubectl annotate -n {ingress.namespace} ingress {ingress.name} --overwrite "
            f"{annotation}={want}",
        ),
        severity=None if declared.strong else Severity.WARNING,
        confidence=0.85 if declared.strong else 0.6,
    )
