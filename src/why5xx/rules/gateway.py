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
from why5xx.evidence import fact
from why5xx.kube import closest_name, label_selector_matches
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import Scope, rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import condition
from why5xx.views.routes import GATEWAY_API, parent_conditions


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


@rule(
    cause="route-not-attached",
    inputs=("HTTPRoute", "Gateway"),
    reads=("GatewayClass",),
    scope=Scope.ROUTE,
)
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
            kubectl.describe_route(route),
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
