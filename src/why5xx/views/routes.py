"""What routes to a Service: the backends of an Ingress and of a Gateway API
route, and what a route's parents (its Gateways) say of it in its status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from why5xx.evidence import fact
from why5xx.model import Evidence
from why5xx.snapshot import Obj

# Objects that route to Services: `diagnose KIND/NAME` diagnoses one, then
# each Service it routes to (`routed_services`).
ROUTE_KINDS = ("Ingress", "HTTPRoute")


@dataclass(frozen=True, slots=True, kw_only=True)
class IngressBackend:
    """One backend an Ingress routes to, with where in the spec it is named."""

    service: str
    port_name: str | None
    port_number: int | None
    host: str
    path: str
    field: str  # e.g. spec.rules[0].http.paths[1].backend


def ingress_backends(ingress: Obj) -> tuple[IngressBackend, ...]:
    """Service backends of an Ingress (networking.k8s.io/v1, and the
    `serviceName`/`servicePort` of the removed v1beta1 still found in old dumps)."""
    found: list[tuple[Mapping[str, Any], str, str, str]] = []
    spec = ingress.spec
    for key in ("defaultBackend", "backend"):
        if spec.get(key):
            found.append((spec[key], "*", "/", f"spec.{key}"))
    for r, rule in enumerate(spec.get("rules") or ()):
        for p, path in enumerate((rule.get("http") or {}).get("paths") or ()):
            field = f"spec.rules[{r}].http.paths[{p}].backend"
            found.append(
                (path.get("backend") or {}, rule.get("host") or "*", path.get("path") or "/", field)
            )
    out: list[IngressBackend] = []
    for backend, host, path, field in found:
        service = backend.get("service") or {}
        name = service.get("name") or backend.get("serviceName")
        if not name:
            continue  # a resource backend, not a Service
        port = service.get("port")
        if not isinstance(port, Mapping):  # `port: 80` where `{number: 80}` belongs: absent
            port = {}
        legacy_port = backend.get("servicePort")
        number = port.get("number")
        port_name = port.get("name")
        if legacy_port is not None:
            if isinstance(legacy_port, int) or str(legacy_port).isdigit():
                number = int(legacy_port)
            else:
                port_name = str(legacy_port)
        out.append(
            IngressBackend(
                service=str(name),
                port_name=str(port_name) if port_name else None,
                port_number=int(number) if number is not None else None,
                host=str(host),
                path=str(path),
                field=field,
            )
        )
    return tuple(out)


GATEWAY_API = "gateway.networking.k8s.io"


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteBackend:
    """One `backendRefs` entry of a Gateway API route rule, with the
    defaults the API applies: group "" (core), kind Service, the route's
    namespace, weight 1."""

    group: str
    kind: str
    namespace: str
    name: str
    port: int | None
    weight: int
    rule: int  # position in spec.rules
    field: str  # e.g. spec.rules[0].backendRefs[1]

    @property
    def service(self) -> bool:
        return self.group == "" and self.kind == "Service"


def route_backends(route: Obj) -> tuple[RouteBackend, ...]:
    """The backendRefs of an HTTPRoute (or GRPCRoute), rule by rule."""
    out: list[RouteBackend] = []
    for r, rule in enumerate(route.spec.get("rules") or ()):
        for b, ref in enumerate(rule.get("backendRefs") or ()):
            port = ref.get("port")
            weight = ref.get("weight")
            out.append(
                RouteBackend(
                    group=str(ref.get("group") or ""),
                    kind=str(ref.get("kind") or "Service"),
                    namespace=str(ref.get("namespace") or route.namespace),
                    name=str(ref.get("name") or ""),
                    port=port if isinstance(port, int) else None,
                    weight=weight if isinstance(weight, int) else 1,
                    rule=r,
                    field=f"spec.rules[{r}].backendRefs[{b}]",
                )
            )
    return tuple(out)


def routed_services(route: Obj) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of each Service an Ingress or HTTPRoute sends
    traffic to, in the order the spec names them."""
    if route.kind == "Ingress":
        found = [(route.namespace, b.service) for b in ingress_backends(route)]
    else:
        found = [(b.namespace, b.name) for b in route_backends(route) if b.service]
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentCondition:
    """A condition a controller wrote for one parent of a route."""

    index: int  # position in status.parents
    type: str
    status: str
    reason: str
    message: str
    controller: str

    @property
    def field(self) -> str:
        return f"status.parents[{self.index}].conditions[{self.type}]"

    def evidence(self, route: Obj, expected: str | None = None) -> Evidence:
        return fact(
            route, self.field, f"{self.status} ({self.reason}: {self.message})", expected=expected
        )


def parent_conditions(route: Obj, kind: str) -> list[ParentCondition]:
    """The route's conditions of one type, parent by parent."""
    out: list[ParentCondition] = []
    for index, parent in enumerate(route.status.get("parents") or ()):
        for cond in parent.get("conditions") or ():
            if cond.get("type") == kind:
                out.append(
                    ParentCondition(
                        index=index,
                        type=kind,
                        status=str(cond.get("status", "")),
                        reason=str(cond.get("reason", "")),
                        message=str(cond.get("message", "")),
                        controller=str(parent.get("controllerName", "")),
                    )
                )
    return out
