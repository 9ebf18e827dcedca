"""ingress-backend-missing for an HTTPRoute (the rule is in
`backend_missing.py`): backendRefs to a Service or port that does not exist,
or to another namespace no ReferenceGrant admits; else the controller's own
`ResolvedRefs=False` condition."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact, ports_text
from why5xx.kube import closest_name
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.routes import (
    GATEWAY_API,
    ParentCondition,
    RouteBackend,
    parent_conditions,
    route_backends,
)

# The spec's status for a request routed to an invalid backendRef.
INVALID_BACKEND = (500,)


def _where(route: Obj, rule_index: int) -> str:
    """`shop.example.com/api`: the route's first hostname and the rule's
    first path match."""
    hosts = route.spec.get("hostnames") or ["*"]
    rules = route.spec.get("rules") or ()
    matches = (rules[rule_index].get("matches") if rule_index < len(rules) else None) or [{}]
    path = (matches[0].get("path") or {}).get("value") or "/"
    return f"{hosts[0]}{path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BadBackend:
    """A backendRef that cannot receive traffic, and the draft's parts."""

    backend: RouteBackend
    title: str
    explanation: str
    evidence: tuple[Evidence, ...]
    fix: Fix
    confirm: tuple[str, ...]


def _replace(route: Obj, b: RouteBackend, key: str, value: Any) -> str:
    operation = {"op": "replace", "path": kubectl.field_pointer(b.field, key), "value": value}
    return kubectl.json_patch(route, [operation])


def _missing_service(snap: Snapshot, route: Obj, b: RouteBackend) -> BadBackend:
    guess = closest_name(b.name, [s.name for s in snap.list("Service", b.namespace)])
    where = _where(route, b.rule)
    return BadBackend(
        backend=b,
        title=(
            f"HTTPRoute {route.name} sends {where} to Service {b.name}, which does not exist in "
            f"namespace {b.namespace}" + (f" (did you mean {guess}?)" if guess else "")
        ),
        explanation=(
            f"The backendRef names no Service, so the Gateway has nowhere to send the requests "
            f"of {where} that this backendRef would receive and answers them with 500, as the "
            "Gateway API requires for an invalid backend (the controller reports ResolvedRefs="
            "False, reason BackendNotFound)."
        ),
        evidence=(
            fact(
                route,
                f"{b.field}.name",
                b.name,
                expected=guess or f"a Service in namespace {b.namespace}",
            ),
        ),
        fix=Fix(
            summary=f"Point the backendRef at Service {guess}."
            if guess
            else f"Create Service {b.name} in {b.namespace}, or point the backendRef at the "
            "Service that fronts these pods.",
            patch=_replace(route, b, "name", guess) if guess else None,
        ),
        confirm=(kubectl.describe_route(route), f"kubectl get services -n {b.namespace}"),
    )


def _missing_port(route: Obj, b: RouteBackend, service: Obj) -> BadBackend:
    ports = list(service.spec.get("ports") or ())
    by_target = [p for p in ports if str(p.get("targetPort")) == str(b.port)]
    chosen = by_target[0] if by_target else ports[0] if len(ports) == 1 else None
    value = chosen.get("port") if chosen else None
    listed = ports_text(service) or "no ports"
    note = (
        f" {b.port} is the targetPort of Service port {value}: a backendRef names the "
        "Service's port, not the container's."
        if by_target
        else ""
    )
    return BadBackend(
        backend=b,
        title=(
            f"HTTPRoute {route.name} sends {_where(route, b.rule)} to port {b.port} of Service "
            f"{b.name}, which has no such port"
        ),
        explanation=(
            f"Service {b.name} exposes {listed}; the Gateway cannot resolve port {b.port} and "
            f"answers 500 for the requests of this backendRef.{note}"
        ),
        evidence=(
            fact(
                route,
                f"{b.field}.port",
                str(b.port),
                expected=str(value) if value is not None else f"a port of Service {b.name}",
            ),
            fact(service, "spec.ports", listed, expected=f"a port {b.port}"),
        ),
        fix=Fix(
            summary=f"Point the backendRef at port {value} of Service {b.name}."
            if value is not None
            else f"Use one of the ports of Service {b.name}: {listed}.",
            patch=_replace(route, b, "port", value) if value is not None else None,
        ),
        confirm=(kubectl.describe_route(route), kubectl.get_yaml(service, "{.spec.ports}")),
    )


def _grants(snap: Snapshot, route: Obj, b: RouteBackend) -> bool:
    """Whether a ReferenceGrant in the Service's namespace lets HTTPRoutes
    of the route's namespace refer to it."""
    for grant in snap.list("ReferenceGrant", b.namespace):
        allowed_from = any(
            f.get("group") == GATEWAY_API
            and f.get("kind") == route.kind
            and f.get("namespace") == route.namespace
            for f in grant.spec.get("from") or ()
        )
        allowed_to = any(
            (t.get("group") or "") == b.group
            and t.get("kind") == b.kind
            and t.get("name") in (None, "", b.name)
            for t in grant.spec.get("to") or ()
        )
        if allowed_from and allowed_to:
            return True
    return False


def _not_permitted(route: Obj, b: RouteBackend) -> BadBackend:
    grant = (
        "kubectl apply -f - <<'EOF'\n"
        "apiVersion: gateway.networking.k8s.io/v1beta1\n"
        "kind: ReferenceGrant\n"
        "metadata:\n"
        f"  name: {route.namespace}-httproutes\n"
        f"  namespace: {b.namespace}\n"
        "spec:\n"
        "  from:\n"
        f"  - group: {GATEWAY_API}\n"
        f"    kind: {route.kind}\n"
        f"    namespace: {route.namespace}\n"
        "  to:\n"
        '  - group: ""\n'
        "    kind: Service\n"
        f"    name: {b.name}\n"
        "EOF"
    )
    return BadBackend(
        backend=b,
        title=(
            f"HTTPRoute {route.name} sends {_where(route, b.rule)} to Service "
            f"{b.namespace}/{b.name} in another namespace, and no ReferenceGrant there allows it"
        ),
        explanation=(
            f"A backendRef to another namespace is valid only when a ReferenceGrant in "
            f"{b.namespace} allows HTTPRoutes from {route.namespace}; without one the Gateway "
            "must not use the backend (ResolvedRefs=False, reason RefNotPermitted) and answers "
            "500 for its requests."
        ),
        evidence=(
            fact(
                route,
                f"{b.field}.namespace",
                b.namespace,
                expected=f"{route.namespace}, or a ReferenceGrant in {b.namespace}",
            ),
        ),
        fix=Fix(
            summary=(
                f"Let HTTPRoutes of {route.namespace} refer to Service {b.name} with a "
                f"ReferenceGrant in {b.namespace} (its owners' decision)."
            ),
            patch=grant,
        ),
        confirm=(
            kubectl.describe_route(route),
            f"kubectl get referencegrants -n {b.namespace} -o yaml",
        ),
    )


def _bad_backend(
    snap: Snapshot, route: Obj, b: RouteBackend, reasons: set[str]
) -> BadBackend | None:
    """What is wrong with a Service backendRef, judged from the objects; a
    missing Service only when its namespace's Services are in the input or
    the controller says so."""
    service = snap.get("Service", b.namespace, b.name)
    if service is None:
        if snap.list("Service", b.namespace) or "BackendNotFound" in reasons:
            return _missing_service(snap, route, b)
        return None
    if (
        b.port is not None
        and service.spec.get("type") != "ExternalName"
        and not any(p.get("port") == b.port for p in service.spec.get("ports") or ())
    ):
        return _missing_port(route, b, service)
    cross = b.namespace != route.namespace
    judged = snap.has_kind("ReferenceGrant") or "RefNotPermitted" in reasons
    if cross and judged and not _grants(snap, route, b):
        return _not_permitted(route, b)
    return None


def _reported(route: Obj, unresolved: list[ParentCondition]) -> Draft:
    """The controller's own verdict, when the objects do not show the cause
    (an unsupported kind or protocol, or a Service not in the input)."""
    first = unresolved[0]
    return Draft(
        subject=route.ref,
        title=(
            f"HTTPRoute {route.name} has a backendRef its controller cannot resolve "
            f"({first.reason}: {first.message})"
        ),
        explanation=(
            f"{first.controller or 'The controller'} reports ResolvedRefs=False with reason "
            f"{first.reason}: the requests that backendRef would receive get 500, as the Gateway "
            "API requires for an invalid backend."
        ),
        evidence=tuple(c.evidence(route, "True") for c in unresolved),
        confirm=(kubectl.describe_route(route),),
        fix=Fix(summary=f"Fix the backendRef the message names: {first.message}"),
        confidence=0.8,
        http_status=INVALID_BACKEND,
    )


def http_route_backend_drafts(snap: Snapshot, route: Obj) -> Iterator[Draft]:
    """`ingress-backend-missing` for an HTTPRoute: each backendRef to a
    Service that does not exist, to a port the Service does not have, or to
    another namespace without a ReferenceGrant; else the controller's
    `ResolvedRefs=False` as it reports it."""
    backends = route_backends(route)
    unresolved = [c for c in parent_conditions(route, "ResolvedRefs") if c.status == "False"]
    reasons = {c.reason for c in unresolved}
    bad = [
        found
        for b in backends
        if b.service and b.weight > 0 and (found := _bad_backend(snap, route, b, reasons))
    ]
    if not bad:
        if unresolved:
            yield _reported(route, unresolved)
        return
    severity = Severity.WARNING if len(bad) < len([b for b in backends if b.weight > 0]) else None
    for found in bad:
        matching = [c for c in unresolved if found.backend.name in c.message] or unresolved
        yield Draft(
            subject=route.ref,
            title=found.title,
            explanation=found.explanation,
            evidence=found.evidence + tuple(c.evidence(route, "True") for c in matching[:1]),
            confirm=found.confirm,
            fix=found.fix,
            confidence=0.95 if matching else 0.85,
            severity=severity,
            http_status=INVALID_BACKEND,
        )
