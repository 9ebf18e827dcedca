"""ingress-backend-missing: an Ingress (or an HTTPRoute) routes to a Service
or a port that does not exist."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact, ports_text
from why5xx.model import Draft, Fix, Severity
from why5xx.rules.base import Scope, rule
from why5xx.rules.ingress.http_route_backends import http_route_backend_drafts
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.ingress import (
    INGRESS_NGINX,
    is_default,
    nearest,
    requested_class,
)
from why5xx.views.routes import IngressBackend, ingress_backends


def _controller(snap: Snapshot, ingress: Obj) -> str | None:
    """The controller (IngressClass `spec.controller`) that serves the Ingress,
    when the snapshot tells."""
    name, _ = requested_class(ingress)
    classes = snap.list("IngressClass")
    chosen = (
        snap.get("IngressClass", "", name)
        if name
        else next((c for c in classes if is_default(c)), None)
    )
    return str(chosen.spec.get("controller")) if chosen is not None else None


def _legacy(ingress: Obj) -> bool:
    """extensions/v1beta1 and networking.k8s.io/v1beta1 name backends with
    `serviceName`/`servicePort`."""
    return ingress.api_version.endswith("v1beta1")


def _where(backend: IngressBackend) -> str:
    return f"{backend.host}{backend.path}"


def _port_text(backend: IngressBackend) -> str:
    return backend.port_name if backend.port_name is not None else str(backend.port_number)


def _has_port(service: Obj, backend: IngressBackend) -> bool:
    """Whether the Service has the port the backend names (by `name` or by
    `port`, never by targetPort)."""
    if backend.port_name is None and backend.port_number is None:
        return True  # nothing named: nothing to check
    return any(
        (backend.port_name is not None and port.get("name") == backend.port_name)
        or (backend.port_number is not None and port.get("port") == backend.port_number)
        for port in service.spec.get("ports") or ()
    )


def _nginx_accepts(service: Obj, backend: IngressBackend) -> bool:
    """ingress-nginx also matches a backend port against each Service port's
    targetPort (number or name); other controllers do not."""
    wanted = _port_text(backend)
    return any(str(p.get("targetPort")) == wanted for p in service.spec.get("ports") or ())


def _port_suggestion(service: Obj, backend: IngressBackend) -> Mapping[str, Any] | None:
    """The Service port the backend most likely means: the only one; the one
    whose targetPort the backend named; the one with the most similar name."""
    ports = list(service.spec.get("ports") or ())
    if len(ports) == 1:
        return ports[0]  # type: ignore[no-any-return]
    wanted = _port_text(backend)
    for port in ports:
        if str(port.get("targetPort")) == wanted:
            return port  # type: ignore[no-any-return]
    names = {str(p.get("name")): p for p in ports if p.get("name")}
    match = nearest(wanted, names)
    return names[match] if match else None


def _backend_patch(ingress: Obj, backends: list[IngressBackend], value: Any, port: bool) -> str:
    """Replace the Service name (or port) of each backend, with the field
    names of the Ingress's API version."""
    operations = []
    for backend in backends:
        if _legacy(ingress):
            path = kubectl.field_pointer(backend.field, "servicePort" if port else "serviceName")
            operations.append({"op": "replace", "path": path, "value": value})
        else:
            path = kubectl.field_pointer(backend.field, "service", "port" if port else "name")
            new = {"name": value} if isinstance(value, str) else {"number": value}
            operations.append({"op": "replace", "path": path, "value": new if port else value})
    return kubectl.json_patch(ingress, operations)


def _name_field(ingress: Obj, backend: IngressBackend) -> str:
    return f"{backend.field}.{'serviceName' if _legacy(ingress) else 'service.name'}"


def _port_field(ingress: Obj, backend: IngressBackend) -> str:
    if _legacy(ingress):
        return f"{backend.field}.servicePort"
    kind = "name" if backend.port_name is not None else "number"
    return f"{backend.field}.service.port.{kind}"


def _missing_service(
    snap: Snapshot,
    ingress: Obj,
    name: str,
    backends: list[IngressBackend],
    severity: Severity | None,
) -> Draft:
    namespace = ingress.namespace
    existing = [s.name for s in snap.list("Service", namespace)]
    guess = nearest(name, existing)
    elsewhere = [
        ns for ns in snap.namespaces() if ns != namespace and snap.get("Service", ns, name)
    ]
    evidence = [
        fact(
            ingress,
            _name_field(ingress, b),
            name,
            expected=guess or f"a Service in namespace {namespace}",
        )
        for b in backends
    ]
    explanation = (
        f"An Ingress backend must be a Service in the Ingress's own namespace ({namespace}); "
        f"there is no Service {name}, so the controller has no endpoints for "
        f"{', '.join(_where(b) for b in backends)} and answers 503 (ingress-nginx logs: "
        f'Error obtaining Endpoints for Service "{namespace}/{name}").'
    )
    if guess:
        explanation += f" Service {guess} exists with a similar name (renamed?)."
    # A partial input (a few manifests) that lacks the Service proves nothing:
    # only one that lists the namespace's Services in full does.
    unproven = not snap.listed_in_full("Service", namespace)
    if unproven:
        explanation += (
            f" The input does not list the Services of {namespace} in full, so the Service may "
            "exist: a candidate to confirm with `kubectl get services`."
        )
    if elsewhere:
        explanation += (
            f" A Service {name} exists in namespace {', '.join(elsewhere[:3])}, which an Ingress "
            "cannot reach: move the Ingress, or add an ExternalName Service here."
        )
    return Draft(
        subject=ingress.ref,
        title=(
            f"Ingress {ingress.name} routes {_where(backends[0])} to Service {name}, which "
            + ("is not in the input" if unproven else "does not exist")
            + f" in namespace {namespace}"
            + (f" (did you mean {guess}?)" if guess else "")
        ),
        explanation=explanation,
        evidence=tuple(evidence),
        confirm=(
            kubectl.describe(ingress),
            f"kubectl get services -n {namespace}",
        ),
        fix=Fix(
            summary=(
                f"Point the backend at Service {guess}."
                if guess
                else f"Create Service {name} in {namespace}, or point the backend at the Service "
                "that fronts these pods."
            ),
            patch=_backend_patch(ingress, backends, guess, port=False) if guess else None,
        ),
        confidence=0.45 if unproven else 0.95 if guess else 0.9,
        severity=Severity.WARNING if unproven else severity,
    )


def _missing_port(
    ingress: Obj,
    service: Obj,
    backends: list[IngressBackend],
    controller: str | None,
    severity: Severity | None,
) -> Draft:
    backend = backends[0]
    wanted = _port_text(backend)
    by = "name" if backend.port_name is not None else "number"
    suggestion = _port_suggestion(service, backend)
    value: Any = None
    if suggestion is not None:
        value = (
            suggestion.get("name")
            if by == "name" and suggestion.get("name")
            else suggestion.get("port")
        )
    nginx_note = ""
    if _nginx_accepts(service, backend):
        served_by = f" ({controller})" if controller else ""
        nginx_note = (
            f" {wanted} is a targetPort of the Service: ingress-nginx accepts that, other "
            f"controllers{served_by} do not."
        )
    evidence = [
        *(
            fact(
                ingress,
                _port_field(ingress, b),
                wanted,
                expected=str(value) if value is not None else f"a port of Service {service.name}",
            )
            for b in backends
        ),
        fact(
            service,
            "spec.ports",
            ports_text(service) or "no ports",
            expected=f"a port with {by} {wanted}",
        ),
    ]
    return Draft(
        subject=ingress.ref,
        title=(
            f"Ingress {ingress.name} routes {_where(backend)} to port {wanted} of Service "
            f"{service.name}, which has no port with that {by}"
        ),
        explanation=(
            f"An Ingress backend names a port of the Service (its `port` or its `name`, not the "
            f"container's port); Service {service.name} has none with {by} {wanted}, so the "
            f"controller finds no endpoints for {', '.join(_where(b) for b in backends)} and "
            f"answers 503.{nginx_note}"
        ),
        evidence=tuple(evidence),
        confirm=(kubectl.describe(ingress), kubectl.get_yaml(service, "{.spec.ports}")),
        fix=Fix(
            summary=(
                f"Point the backend at port {value} of Service {service.name}."
                if value is not None
                else f"Name one of the ports of Service {service.name} ({ports_text(service)})."
            ),
            patch=_backend_patch(ingress, backends, value, port=True)
            if value is not None
            else None,
        ),
        confidence=(0.9 if controller else 0.75) if nginx_note else 0.95,
        severity=severity,
    )


@rule(
    cause="ingress-backend-missing",
    inputs=("Ingress", "HTTPRoute", "Service"),
    reads=("IngressClass", "ReferenceGrant"),
    scope=Scope.ROUTE,
)
def ingress_backend_missing(snap: Snapshot, ingress: Obj) -> Iterator[Draft]:
    """An Ingress or HTTPRoute backend names a Service, or a Service port, that does not exist.

    **What it finds**: each backend of an Ingress (`defaultBackend` and every
    rule path) whose `service.name` is not a Service in the Ingress's
    namespace (suggesting the most similar existing name, and saying when a
    Service of that name lives in another namespace; when the input does not
    list the namespace's Services in full, such as a few manifests, a
    warning with low confidence: absence from a partial input proves
    nothing), or whose
    `service.port.number` / `service.port.name` is not a `port` / `name` of
    that Service (often the container's port written where the Service's
    port belongs). Existing backend Services are diagnosed on their own.

    **Why it is a 5xx**: the controller has no endpoints for that path:
    ingress-nginx answers 503 (and logs `Error obtaining Endpoints for
    Service`); other controllers answer 503 or drop the route. ingress-nginx
    alone also matches a port against the Service's targetPort, so that case
    is not reported when the Ingress's class is ingress-nginx.

    **Fix**: point the backend at the existing Service and at one of its
    ports (the patch edits the exact path), or create the missing Service.

    **HTTPRoute** (Gateway API): each `backendRefs` entry to a Service
    (group "", kind Service, the route's namespace unless set) that does not
    exist, whose `port` is not a `port` of the Service (the container's
    port is a common mistake), or that is in another namespace while no
    ReferenceGrant there admits HTTPRoutes of the route's namespace
    (judged when ReferenceGrants are in the input); otherwise the
    controller's own `ResolvedRefs=False` condition in `status.parents`
    (reasons `BackendNotFound`, `RefNotPermitted`, `InvalidKind`,
    `UnsupportedProtocol`). The Gateway API requires **500** for the
    requests such a backendRef would receive ("When a HTTPBackendRef is
    invalid, 500 status codes MUST be returned for requests that would have
    otherwise been routed to an invalid backend", `httproute_types.go`);
    the patch fixes the name or port, or adds the ReferenceGrant (see
    `rules/ingress/http_route_backends.py`).
    """
    if ingress.kind == "HTTPRoute":
        yield from http_route_backend_drafts(snap, ingress)
        return
    backends = ingress_backends(ingress)
    controller = _controller(snap, ingress)
    missing_services: dict[str, list[IngressBackend]] = {}
    missing_ports: dict[tuple[str, str], list[IngressBackend]] = {}
    for backend in backends:
        service = snap.get("Service", ingress.namespace, backend.service)
        if service is None:
            missing_services.setdefault(backend.service, []).append(backend)
        elif (
            service.spec.get("type") != "ExternalName"
            and not _has_port(service, backend)
            and not (controller == INGRESS_NGINX and _nginx_accepts(service, backend))
        ):
            missing_ports.setdefault((backend.service, _port_text(backend)), []).append(backend)
    broken = sum(map(len, missing_services.values())) + sum(map(len, missing_ports.values()))
    severity = Severity.WARNING if broken < len(backends) else None
    for name, group in missing_services.items():
        yield _missing_service(snap, ingress, name, group, severity)
    for (name, _), group in missing_ports.items():
        service = snap.get("Service", ingress.namespace, name)
        if service is not None:
            yield _missing_port(ingress, service, group, controller, severity)
