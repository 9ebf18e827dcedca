"""Causes at a Gateway API HTTPRoute, before any backend pod is involved: a
backendRef to a Service or port that does not exist or may not be referred
to, and a route no Gateway serves.

The semantics are those of the Gateway API specification (`apis/v1`
`httproute_types.go`, `shared_types.go`, `gateway_types.go`,
`referencegrant_types.go`): an invalid backendRef gets HTTP **500** for the
requests it would have received ("When a HTTPBackendRef is invalid, 500
status codes MUST be returned for requests that would have otherwise been
routed to an invalid backend"), and the controller reports it on the route
as the condition `ResolvedRefs=False` with reason `BackendNotFound`,
`RefNotPermitted`, `InvalidKind` or `UnsupportedProtocol`; a route a
Gateway did not accept has `Accepted=False` (`NotAllowedByListeners`,
`NoMatchingListenerHostname`, `NoMatchingParent`, `UnsupportedValue`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact, ports_text
from why5xx.kube import closest_name, label_selector_matches
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import Scope, rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import condition
from why5xx.views.routes import GATEWAY_API, RouteBackend, route_backends

# The spec's status for a request routed to an invalid backendRef.
INVALID_BACKEND = (500,)


def _describe(route: Obj) -> str:
    return f"kubectl describe httproute -n {route.namespace} {route.name}"


def _where(route: Obj, rule_index: int) -> str:
    """`shop.example.com/api`: the route's first hostname and the rule's
    first path match."""
    hosts = route.spec.get("hostnames") or ["*"]
    rules = route.spec.get("rules") or ()
    matches = (rules[rule_index].get("matches") if rule_index < len(rules) else None) or [{}]
    path = (matches[0].get("path") or {}).get("value") or "/"
    return f"{hosts[0]}{path}"


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


# --- ingress-backend-missing, for HTTPRoutes ---------------------------------


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
        confirm=(_describe(route), f"kubectl get services -n {b.namespace}"),
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
        confirm=(_describe(route), kubectl.get_yaml(service, "{.spec.ports}")),
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
        confirm=(_describe(route), f"kubectl get referencegrants -n {b.namespace} -o yaml"),
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
        confirm=(_describe(route),),
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


# --- route-not-attached ------------------------------------------------------


def _gateway(snap: Snapshot, namespace: str, name: str) -> Obj | None:
    found = snap.get("Gateway", namespace, name)
    return found if found is not None and found.api_version.startswith(GATEWAY_API) else None


def _gateways_known(snap: Snapshot, namespace: str) -> bool:
    """Whether the input holds the Gateway API Gateways of a namespace."""
    return any(g.api_version.startswith(GATEWAY_API) for g in snap.list("Gateway", namespace))


@dataclass(frozen=True, slots=True, kw_only=True)
class Detached:
    """Why one parentRef does not serve the route."""

    parent: str  # namespace/name
    why: str
    evidence: tuple[Evidence, ...]
    http_status: tuple[int, ...]
    patch: str | None = None


def _listeners(gateway: Obj, section: str | None) -> list[tuple[int, Mapping[str, Any]]]:
    """The Gateway's listeners a parentRef attaches to: the named one, else all."""
    return [
        (index, lst)
        for index, lst in enumerate(gateway.spec.get("listeners") or ())
        if section is None or lst.get("name") == section
    ]


def _allows(snap: Snapshot, gateway: Obj, route: Obj, section: str | None) -> bool | None:
    """Whether a listener of the Gateway (the named one, else any) admits
    routes from the route's namespace (`allowedRoutes.namespaces.from`,
    default Same); None when it cannot be told (no listeners, or a Selector
    without the Namespace)."""
    verdicts: list[bool | None] = []
    for _, listener in _listeners(gateway, section):
        namespaces = (listener.get("allowedRoutes") or {}).get("namespaces") or {}
        origin = namespaces.get("from") or "Same"
        if origin == "All":
            verdicts.append(True)
        elif origin == "Same":
            verdicts.append(route.namespace == gateway.namespace)
        else:
            ns = snap.get("Namespace", "", route.namespace)
            verdicts.append(
                None
                if ns is None
                else label_selector_matches(namespaces.get("selector"), ns.labels)
            )
    if True in verdicts:
        return True
    if None in verdicts or not verdicts:
        return None
    return False


def _gateway_problem(snap: Snapshot, gateway: Obj) -> tuple[str, Evidence] | None:
    """A Gateway that serves nothing: not accepted, not programmed, or of a
    GatewayClass that does not exist."""
    for kind in ("Accepted", "Programmed"):
        cond = condition(gateway, kind)
        if cond is not None and cond.get("status") == "False":
            text = f"False ({cond.get('reason')}: {cond.get('message', '')})"
            return (
                f"Gateway {gateway.namespace}/{gateway.name} is not {kind.lower()} ({text})",
                fact(gateway, f"status.conditions[{kind}]", text, expected="True"),
            )
    class_name = str(gateway.spec.get("gatewayClassName") or "")
    if snap.has_kind("GatewayClass") and snap.get("GatewayClass", "", class_name) is None:
        return (
            f"Gateway {gateway.namespace}/{gateway.name} names GatewayClass {class_name}, "
            "which does not exist",
            fact(gateway, "spec.gatewayClassName", class_name, expected="an existing GatewayClass"),
        )
    return None


def _admitting(snap: Snapshot, gateway: Obj, route: Obj, section: str | None) -> Detached | None:
    """When no listener of the Gateway admits the route's namespace: why,
    and the patch that lets the first listener admit it (by the namespace's
    `kubernetes.io/metadata.name` label, not every namespace)."""
    if _allows(snap, gateway, route, section) is not False:
        return None
    listener = _listeners(gateway, section)[0][0]
    selector = {"matchLabels": {"kubernetes.io/metadata.name": route.namespace}}
    operation: dict[str, Any] = {
        "op": "add",
        "path": f"/spec/listeners/{listener}/allowedRoutes",
        "value": {"namespaces": {"from": "Selector", "selector": selector}},
    }
    origins = ", ".join(
        str(((lst.get("allowedRoutes") or {}).get("namespaces") or {}).get("from") or "Same")
        for _, lst in _listeners(gateway, section)
    )
    return Detached(
        parent=f"{gateway.namespace}/{gateway.name}",
        why=(
            f"no listener of Gateway {gateway.namespace}/{gateway.name} admits routes from "
            f"namespace {route.namespace} (allowedRoutes.namespaces.from is Same unless set)"
        ),
        evidence=(
            fact(
                gateway,
                "spec.listeners[*].allowedRoutes.namespaces.from",
                origins,
                expected=f"All, or a Selector matching namespace {route.namespace}",
            ),
        ),
        http_status=(404,),
        patch=kubectl.json_patch(gateway, [operation]),
    )


def _detached(
    snap: Snapshot, route: Obj, ref: Mapping[str, Any], index: int, statuses: list[dict[str, Any]]
) -> Detached | None:
    namespace = str(ref.get("namespace") or route.namespace)
    name = str(ref.get("name") or "")
    section = ref.get("sectionName")
    parent = f"{namespace}/{name}"
    accepted = next(
        (
            c
            for c in parent_conditions(route, "Accepted")
            if _same_parent(statuses[c.index].get("parentRef") or {}, namespace, name, section)
        ),
        None,
    )
    gateway = _gateway(snap, namespace, name)
    if accepted is not None and accepted.status == "False":
        admitting = _admitting(snap, gateway, route, section) if gateway is not None else None
        return Detached(
            parent=parent,
            why=f"Gateway {parent} did not accept it ({accepted.reason}: {accepted.message})",
            evidence=(
                accepted.evidence(route, "True"),
                *(admitting.evidence if admitting else ()),
            ),
            http_status=(404,),
            patch=admitting.patch if admitting else None,
        )
    if gateway is None:
        if not _gateways_known(snap, namespace):
            return None
        others = sorted(g.name for g in snap.list("Gateway", namespace))
        guess = closest_name(name, others)
        operation = {"op": "replace", "path": f"/spec/parentRefs/{index}/name", "value": guess}
        return Detached(
            parent=parent,
            why=f"there is no Gateway {name} in namespace {namespace}",
            evidence=(
                fact(
                    route,
                    f"spec.parentRefs[{index}].name",
                    name,
                    expected=f"one of: {', '.join(others)}",
                ),
            ),
            http_status=(404,),
            patch=kubectl.json_patch(route, [operation]) if guess else None,
        )
    broken = _gateway_problem(snap, gateway)
    if broken is not None:
        return Detached(parent=parent, why=broken[0], evidence=(broken[1],), http_status=(503,))
    return _admitting(snap, gateway, route, section) if accepted is None else None


def _same_parent(ref: Mapping[str, Any], namespace: str, name: str, section: Any) -> bool:
    return (
        str(ref.get("name")) == name
        and str(ref.get("namespace") or namespace) == namespace
        and (section is None or ref.get("sectionName") in (None, section))
    )


@rule(cause="route-not-attached", inputs=("HTTPRoute", "Gateway"), scope=Scope.ROUTE)
def route_not_attached(snap: Snapshot, route: Obj) -> Iterator[Draft]:
    """The HTTPRoute is not attached to a Gateway that serves it.

    **What it finds**: each `parentRefs` entry of kind Gateway (the
    default) that does not serve the route:

    - the Gateway did not accept it: the condition `Accepted=False` its
      controller wrote in the route's `status.parents` (reasons
      `NotAllowedByListeners`, `NoMatchingListenerHostname`,
      `NoMatchingParent`, `UnsupportedValue`);
    - the Gateway does not exist (judged when the Gateways of its
      namespace are in the input);
    - the Gateway serves nothing: its own `Accepted` or `Programmed`
      condition is False, or its `gatewayClassName` names no GatewayClass;
    - when no controller has written a status for it, no listener admits
      routes from the route's namespace: `allowedRoutes.namespaces.from`
      is `Same` by default, so a route in another namespace needs `All`
      or a `Selector` matching its namespace's labels.

    **Why it is a 5xx**: nothing programs the route, so requests for its
    hostnames and paths reach a Gateway without a matching route (404) or
    no data plane at all (connection refused, or 503 from a load balancer
    in front). A route with another parent that accepted it fails only
    there (a warning).

    **Fix**: point `parentRefs` at the Gateway that should serve it (and
    its listener with `sectionName`), or let that Gateway's listener admit
    the route's namespace (`allowedRoutes.namespaces.from: All` or a
    Selector); fix the Gateway itself when it is not programmed.

    **Sources**: Gateway API `apis/v1` `shared_types.go` (`ParentReference`,
    `RouteConditionType`/`RouteConditionReason`) and `gateway_types.go`
    (`AllowedRoutes`, `FromNamespaces` default `Same`,
    `GatewayConditionType` Accepted and Programmed); Gateway API guide
    "Cross-Namespace routing".
    """
    statuses = list(route.status.get("parents") or ())
    refs = [
        (index, ref)
        for index, ref in enumerate(route.spec.get("parentRefs") or ())
        if (ref.get("kind") or "Gateway") == "Gateway"
        and (ref.get("group") or GATEWAY_API) == GATEWAY_API
    ]
    found = [d for index, ref in refs if (d := _detached(snap, route, ref, index, statuses))]
    if not found:
        return
    hosts = ", ".join(route.spec.get("hostnames") or ["*"])
    yield Draft(
        subject=route.ref,
        title=f"HTTPRoute {route.name} is not served: {found[0].why}",
        explanation=(
            f"No Gateway programs the route's rules for {hosts}, so its requests get 404 from "
            "a Gateway without a matching route, or no answer when the Gateway itself is down: "
            + "; ".join(f"{d.parent}: {d.why}" for d in found)
            + "."
        ),
        evidence=tuple(e for d in found for e in d.evidence),
        confirm=(
            _describe(route),
            f"kubectl get gateways.{GATEWAY_API} -A",
        ),
        fix=Fix(
            summary=(
                "Attach the route to a Gateway that serves it: fix spec.parentRefs (and "
                "sectionName), or let the Gateway's listener admit this namespace "
                "(allowedRoutes.namespaces.from: All, or a Selector)."
            ),
            patch="\n".join(d.patch for d in found if d.patch) or None,
        ),
        confidence=0.9,
        severity=Severity.WARNING if len(found) < len(refs) else None,
        http_status=found[0].http_status,
    )
