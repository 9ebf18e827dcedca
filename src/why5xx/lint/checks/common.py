"""Helpers the lint checks share: diagnosis drafts as lint problems, and the
containers of a workload that serve a Service."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from why5xx.lint.manifests import Backed, Manifests
from why5xx.lint.model import Level, Problem
from why5xx.lint.traffic import datastore
from why5xx.model import Draft
from why5xx.rules import BY_CAUSE
from why5xx.rules.base import IngressCheck, Scope, ServiceCheck
from why5xx.snapshot import Obj
from why5xx.views.backend import Serving
from why5xx.views.pods import containers, pod_template_spec


def service_rule(cause: str, manifests: Manifests, backed: Backed) -> Iterator[Problem]:
    """What a diagnosis rule of a Service finds in the manifests, as lint
    problems: where the rule and a check look for the same mismatch, lint
    runs the rule (its logic is not copied) and keeps its title, its first
    evidence field and its fix."""
    rule = BY_CAUSE[cause]
    assert rule.scope is Scope.SERVICE
    check = cast(ServiceCheck, rule.check)
    return _problems(manifests, check(manifests.snap, backed.target))


def route_rule(cause: str, manifests: Manifests, route: Obj) -> Iterator[Problem]:
    """`service_rule` for a diagnosis rule of an Ingress or HTTPRoute."""
    rule = BY_CAUSE[cause]
    assert rule.scope is Scope.ROUTE
    check = cast(IngressCheck, rule.check)
    return _problems(manifests, check(manifests.snap, route))


def _problems(manifests: Manifests, drafts: Iterable[Draft]) -> Iterator[Problem]:
    for draft in drafts:
        ref = draft.subject
        subject = manifests.snap.get(ref.kind, ref.namespace, ref.name)
        if subject is None:
            raise LookupError(f"the rule reported {ref}, which is not in the manifests")
        related = {
            (e.object.kind, e.object.namespace, e.object.name): found
            for e in draft.evidence
            if e.object != ref
            and (found := manifests.snap.get(e.object.kind, e.object.namespace, e.object.name))
        }
        yield Problem(
            subject=subject,
            field=draft.evidence[0].field if draft.evidence else "",
            message=draft.title,
            fix=draft.fix.summary,
            related=tuple(related.values()),
        )


def servings_of(manifests: Manifests, workload: Obj) -> tuple[Serving, ...]:
    """The containers of the workload that serve one of its Services' ports,
    each once."""
    found: dict[int, Serving] = {}
    for service in manifests.services_of(workload):
        backed = manifests.backed(service)
        for serving in backed.servings if backed else ():
            if serving.owner is workload:
                found.setdefault(serving.index, serving)
    return tuple(found[i] for i in sorted(found))


def named(obj: Obj) -> str:
    """`Deployment web`, as messages name objects."""
    return f"{obj.kind} {obj.name}"


def proxied(manifests: Manifests, workload: Obj, container: Mapping[str, Any]) -> bool:
    """Whether an HTTP proxy sends the container requests (`lint/traffic.py`):
    something fronts the workload, and the container is no datastore."""
    return bool(manifests.fronts_of(workload)) and datastore(container) is None


def level_for(manifests: Manifests, workload: Obj, container: Mapping[str, Any]) -> Level | None:
    """The check's own level for a proxied container; `info` for the rest."""
    return None if proxied(manifests, workload, container) else Level.INFO


def workload_level(manifests: Manifests, workload: Obj) -> Level | None:
    """`level_for` a workload: proxied when one of the containers serving
    its Services is (all its containers when none declares their ports)."""
    serving = [s.container for s in servings_of(manifests, workload)]
    if any(
        proxied(manifests, workload, c) for c in serving or containers(pod_template_spec(workload))
    ):
        return None
    return Level.INFO


def _grpc(serving: Serving, services: Iterable[Obj]) -> bool:
    """Whether the served port speaks gRPC, by the name or appProtocol of
    the container's ports or the Service's."""
    names = [str(p.get("name") or "") for p in serving.container.get("ports") or ()]
    for service in services:
        for port in service.spec.get("ports") or ():
            names.append(str(port.get("appProtocol") or port.get("name") or ""))
    return any(n.lower().startswith("grpc") for n in names)


def readiness_probe(serving: Serving, services: Iterable[Obj] = ()) -> str:
    """A readiness probe that fits what the container runs, as a YAML flow
    mapping: the datastore's own ping, gRPC health for a gRPC port, an HTTP
    health path otherwise."""
    port = serving.ports[0] if serving.ports else None
    shown = str(port) if port is not None else "<port>"
    store = datastore(serving.container)
    if store is not None:
        return "{" + store.probe.replace("{port}", shown) + "}"
    if _grpc(serving, services):
        return f"{{grpc: {{port: {shown}}}}}"
    return f"{{httpGet: {{path: /healthz, port: {shown}}}}}"
