"""mesh-destination-missing: a VirtualService that routes to a host or a
subset that does not exist (or a subset no pod carries).

Mesh hosts follow Istio's rule: a short name is relative to the namespace of
the config that writes it, a full name is `NAME.NAMESPACE.svc.cluster.local`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.kube import closest_name, labels_match, selector_string
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.mesh import oldest_first
from why5xx.views.service import ServiceTarget

CLUSTER_DOMAIN = "svc.cluster.local"


def _resolve(host: str, namespace: str) -> tuple[str, str, bool] | None:
    """The Service a mesh host names, as (name, namespace, exact): a short
    name is relative to `namespace`; `NAME.NS`, `NAME.NS.svc` and the full
    name are taken as the Service too, but only the short and the full name
    are what Istio itself resolves (`exact`). None for other hosts
    (external names, wildcards)."""
    if not host or "*" in host:
        return None
    parts = host.split(".")
    if len(parts) == 1:
        return host, namespace, True
    if len(parts) == 2 or (len(parts) == 3 and parts[2] == "svc"):
        return parts[0], parts[1], False
    if ".".join(parts[2:]) == CLUSTER_DOMAIN:
        return parts[0], parts[1], True
    return None


def _names(host: str, namespace: str, service: Obj) -> bool:
    found = _resolve(host, namespace)
    return found is not None and found[:2] == (service.name, service.namespace)


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """One `route[].destination` of a VirtualService route."""

    virtual_service: Obj
    section: str  # http | tcp | tls
    route: int
    index: int
    host: str
    subset: str
    port: Mapping[str, object]  # the destination's `port` selector, as written
    share: float  # of the route's traffic
    conditional: bool  # the route has `match` conditions

    @property
    def field(self) -> str:
        return f"spec.{self.section}[{self.route}].route[{self.index}].destination"


def _destinations(vs: Obj) -> Iterator[Destination]:
    for section in ("http", "tcp", "tls"):
        for r, entry in enumerate(vs.spec.get(section) or ()):
            routes = list(entry.get("route") or ())
            weights = [float(d.get("weight") or 0) for d in routes]
            total = sum(weights)
            for d, (route, weight) in enumerate(zip(routes, weights, strict=True)):
                destination = route.get("destination") or {}
                port = destination.get("port")
                yield Destination(
                    virtual_service=vs,
                    section=section,
                    route=r,
                    index=d,
                    host=str(destination.get("host") or ""),
                    subset=str(destination.get("subset") or ""),
                    port=port if isinstance(port, Mapping) else {},
                    share=weight / total if total else 1 / len(routes),
                    conditional=bool(entry.get("match")),
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class Broken:
    """A destination that leaves its share of requests without a host."""

    destination: Destination
    what: str  # "subset v3 of reviews", "host reviews-v2"
    why: str  # "which no DestinationRule defines"
    evidence: tuple[Evidence, ...]
    patch: str | None  # a kubectl command that fixes it
    # Judged on what the input lacks (no DestinationRule at all): a candidate
    # to confirm, not a fact.
    unproven: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Subset:
    """A subset a DestinationRule defines for a host."""

    rule: Obj
    index: int
    labels: Mapping[str, str]


def _subsets(snap: Snapshot, service: Obj) -> dict[str, Subset]:
    """Every subset any DestinationRule for the Service defines, by name
    (as istioctl analyze collects them)."""
    found: dict[str, Subset] = {}
    for rule_obj in oldest_first(snap.list("DestinationRule")):
        if _names(str(rule_obj.spec.get("host", "")), rule_obj.namespace, service):
            for index, subset in enumerate(rule_obj.spec.get("subsets") or ()):
                found.setdefault(
                    str(subset.get("name")),
                    Subset(rule=rule_obj, index=index, labels=subset.get("labels") or {}),
                )
    return found


def _replace(d: Destination, key: str, value: str | None) -> str | None:
    """The patch that points the destination's `key` at `value`."""
    if value is None:
        return None
    operation = {"op": "replace", "path": kubectl.field_pointer(d.field, key), "value": value}
    return kubectl.json_patch(d.virtual_service, [operation])


def _missing_host(snap: Snapshot, d: Destination, name: str, namespace: str) -> Broken | None:
    services = [s.name for s in snap.list("Service", namespace)]
    if not services:
        return None  # the namespace's Services are not in the input: absence proves nothing
    fqdn = f"{name}.{namespace}.{CLUSTER_DOMAIN}"
    if any(fqdn in (e.spec.get("hosts") or ()) for e in snap.list("ServiceEntry")):
        return None
    guess = closest_name(name, services)
    vs = d.virtual_service
    return Broken(
        destination=d,
        what=f"host {d.host}",
        why=f"which is no Service in namespace {namespace}"
        + (f" (did you mean {guess}?)" if guess else ""),
        evidence=(
            fact(vs, f"{d.field}.host", d.host, expected=guess or f"a Service in {namespace}"),
        ),
        patch=_replace(d, "host", guess),
    )


def _missing_subset(d: Destination, service: Obj, subsets: Mapping[str, Subset]) -> Broken:
    vs = d.virtual_service
    guess = closest_name(d.subset, list(subsets))
    rules = {id(s.rule): s.rule for s in subsets.values()}.values()
    defined = ", ".join(sorted(subsets)) or "none"
    return Broken(
        destination=d,
        what=f"subset {d.subset} of {service.name}",
        why=f"which no DestinationRule for {service.name} defines (defined: {defined})",
        evidence=(
            fact(vs, f"{d.field}.subset", d.subset, expected=guess or f"one of: {defined}"),
            *(
                fact(r, "spec.subsets", ", ".join(n for n, s in subsets.items() if s.rule is r))
                for r in rules
            ),
        ),
        patch=_replace(d, "subset", guess),
    )


def _relabel(subset: Subset, pods: Sequence[Obj], others: Sequence[Subset]) -> str | None:
    """For a one-label subset, the patch giving it the value that the pods
    no other subset selects all carry."""
    if len(subset.labels) != 1:
        return None
    key = next(iter(subset.labels))
    unclaimed = {
        p.labels.get(key)
        for p in pods
        if not any(labels_match(other.labels, p.labels) for other in others)
    }
    if len(unclaimed) != 1 or None in unclaimed:
        return None
    path = kubectl.json_pointer("spec", "subsets", str(subset.index), "labels", key)
    operation = {"op": "replace", "path": path, "value": unclaimed.pop()}
    return kubectl.json_patch(subset.rule, [operation])


def _empty_subset(
    d: Destination, service: Obj, subset: Subset, pods: Sequence[Obj], others: Sequence[Subset]
) -> Broken:
    wanted = selector_string(subset.labels)
    carried = sorted(
        {selector_string({k: p.labels[k] for k in subset.labels if k in p.labels}) for p in pods}
    )
    have = "; ".join(c or "none of these labels" for c in carried)
    return Broken(
        destination=d,
        what=f"subset {d.subset} of {service.name}",
        why=f"whose labels {wanted} select none of its {len(pods)} pod(s) (they carry {have})",
        evidence=(
            fact(
                subset.rule,
                f"spec.subsets[{subset.index}].labels",
                wanted,
                expected=f"labels {service.name}'s pods carry: {have}",
            ),
            fact(d.virtual_service, f"{d.field}.subset", d.subset),
        ),
        patch=_relabel(subset, pods, others),
    )


def _port_patch(d: Destination, number: int | None) -> str | None:
    """The patch that selects the Service port `number` by number."""
    if number is None:
        return None
    path = kubectl.field_pointer(d.field, "port")
    operation = {"op": "replace", "path": path, "value": {"number": number}}
    return kubectl.json_patch(d.virtual_service, [operation])


def _wrong_port(d: Destination, service: Obj) -> Broken | None:
    """A port selector that selects none of the Service's ports: a port
    given by name (Istio selects destination ports by number only), or a
    number the Service does not expose."""
    ports = [p for p in service.spec.get("ports") or () if isinstance(p, Mapping)]
    numbers = {int(p["port"]): str(p.get("name") or "") for p in ports if p.get("port")}
    if not numbers or not d.port:
        return None
    named = {name: number for number, name in numbers.items() if name}
    listed = ", ".join(str(n) for n in sorted(numbers))
    if "name" in d.port and "number" not in d.port:
        name = str(d.port["name"])
        number = named.get(name)
        return Broken(
            destination=d,
            what=f"port name {name} of {service.name}",
            why="which Istio does not resolve: destinations select a port by number only "
            "(Istio 1.0 and 1.1 ignored the name, later releases reject it)",
            evidence=(
                fact(
                    d.virtual_service,
                    f"{d.field}.port.name",
                    name,
                    expected=f"port.number {number}" if number else f"a port number of {listed}",
                ),
            ),
            patch=_port_patch(d, number),
        )
    raw = d.port.get("number")
    if raw is None or not str(raw).isdigit() or int(str(raw)) in numbers:
        return None
    only = next(iter(numbers)) if len(numbers) == 1 else None
    return Broken(
        destination=d,
        what=f"port {raw} of {service.name}",
        why=f"which {service.name} does not expose (its ports: {listed})",
        evidence=(
            fact(d.virtual_service, f"{d.field}.port.number", str(raw), expected=listed),
            fact(service, "spec.ports", listed),
        ),
        patch=_port_patch(d, only),
    )


def _undefined_subset(d: Destination, service: Obj) -> Broken:
    """A subset routed to while the input holds no DestinationRule at all:
    Istio needs one to define it, but absence from a partial input is no
    proof, so this is a candidate for `kubectl get destinationrules`."""
    return Broken(
        destination=d,
        what=f"subset {d.subset} of {service.name}",
        why="which no DestinationRule in the input defines (none was given)",
        evidence=(
            fact(
                d.virtual_service,
                f"{d.field}.subset",
                d.subset,
                expected=f"a DestinationRule for host {service.name} defining it",
            ),
        ),
        patch=None,
        unproven=True,
    )


def _check(snap: Snapshot, d: Destination, target: Obj) -> Broken | None:
    resolved = _resolve(d.host, d.virtual_service.namespace)
    if resolved is None:
        return None
    name, namespace, exact = resolved
    service = snap.get("Service", namespace, name)
    if service is None and (namespace, name) == (target.namespace, target.name):
        service = target  # the target, implied by what relates to it
    if service is None:
        return _missing_host(snap, d, name, namespace) if exact else None
    wrong_port = _wrong_port(d, service)
    if wrong_port is not None:
        return wrong_port
    if not d.subset:
        return None
    if not snap.has_kind("DestinationRule"):
        return _undefined_subset(d, service)
    subsets = _subsets(snap, service)
    if d.subset not in subsets:
        return _missing_subset(d, service, subsets)
    subset = subsets[d.subset]
    pods = ServiceTarget.build(snap, service).live_pods
    if not pods or any(labels_match(subset.labels, p.labels) for p in pods):
        return None  # no pods at all is another cause; some match: the subset has hosts
    others = [s for name, s in subsets.items() if name != d.subset]
    return _empty_subset(d, service, subset, pods, others)


def _relevant(snap: Snapshot, service: Obj) -> Iterator[Destination]:
    """The destinations that carry the Service's traffic: every route of a
    VirtualService for the Service's host, and every route elsewhere whose
    destination is the Service."""
    for vs in snap.list("VirtualService"):
        for_host = any(_names(str(h), vs.namespace, service) for h in vs.spec.get("hosts") or ())
        for d in _destinations(vs):
            if for_host or _names(d.host, vs.namespace, service):
                yield d


@rule(
    cause="mesh-destination-missing",
    inputs=("Service", "VirtualService"),
    reads=("DestinationRule", "ServiceEntry"),
)
def mesh_destination_missing(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """A VirtualService sends the Service's traffic to a host or subset with no pods behind it.

    **What it finds**: the routes (`http`, `tcp`, `tls`) of every
    VirtualService whose `hosts` name the Service, and every route
    elsewhere whose destination is the Service, whose `destination`:

    - names a host that is no Service (a short name is relative to the
      VirtualService's namespace; only short names and
      `NAME.NAMESPACE.svc.cluster.local` are judged, and only when that
      namespace's Services are in the input and no ServiceEntry declares
      the host);
    - selects a `port` the Service does not have: a number it does not
      expose, or a port given by `name` (Istio selects destination ports by
      number only: 1.0 and 1.1 ignored the name and routed to a cluster
      with no endpoints, 1.2 and later reject the VirtualService);
    - names a `subset` that no DestinationRule for the destination host
      defines (when the input holds no DestinationRule at all, a warning
      with low confidence: a candidate to confirm with `kubectl get
      destinationrules`, since absence from a partial input proves
      nothing); or
    - names a subset whose `labels` select none of the destination
      Service's pods, while the Service has pods (when it has none, the
      rules about selectors and workloads explain it).

    **Why it is a 5xx**: requests on that route go to an Envoy cluster
    that does not exist or has no endpoints: **503** with response flag
    `NC` (no cluster found) or `UH` (no healthy upstream), while the pods
    are healthy. istioctl analyze reports these as IST0101
    (ReferencedResourceNotFound) and IST0173
    (DestinationRuleSubsetNotSelectPods: "Requests that are routed to this
    subset fail with a 503 error and the UH response flag"); here they are
    tied to the Service whose clients get the 503. A route with `match`
    conditions or a weighted split fails only for its share of the
    requests (a warning); a catch-all route that sends everything there
    fails all of them.

    **Fix**: point the destination at an existing host, port number or
    subset (the patch picks the closest name, or the Service's port, when
    there is one), add the subset to
    the DestinationRule, or give the subset labels the pods carry. Apply a
    new subset before the VirtualService that uses it (Istio "Traffic
    Management Best Practices": a VirtualService that names a subset not
    yet known gives 503s).

    **Sources**: Istio VirtualService and DestinationRule references;
    istioctl analyze IST0101 and IST0173 (istio
    `pkg/config/analysis/analyzers/virtualservice/destinationhosts.go` and
    `destinationrules.go`); Envoy access log response flags `NC`, `UH`;
    the port name in a destination: istio/istio#7401 (503 UH with
    `port.name`), #8754 and istio/api#1100 (the name deprecated, then
    removed from `PortSelector`).
    """
    broken: dict[str, list[Broken]] = {}
    for d in _relevant(snap, target.service):
        found = _check(snap, d, target.service)
        if found is not None:
            broken.setdefault(str(d.virtual_service.ref), []).append(found)
    for problems in broken.values():
        yield _destination_draft(target, problems)


def _route_name(d: Destination) -> str:
    entry = (d.virtual_service.spec.get(d.section) or ())[d.route]
    return str(entry.get("name") or f"{d.section}[{d.route}]")


def _destination_draft(target: ServiceTarget, problems: list[Broken]) -> Draft:
    vs = problems[0].destination.virtual_service
    shares: dict[tuple[str, int], float] = {}
    for p in problems:
        key = (p.destination.section, p.destination.route)
        shares[key] = shares.get(key, 0.0) + p.destination.share
    total = [
        p
        for p in problems
        if not p.destination.conditional
        and shares[(p.destination.section, p.destination.route)] >= 0.999
    ]
    first = (total or problems)[0]
    share = shares[(first.destination.section, first.destination.route)]
    patches = list(dict.fromkeys(p.patch for p in problems if p.patch))
    return Draft(
        subject=vs.ref,
        title=(
            f"VirtualService {vs.name} sends {share:.0%} of route {_route_name(first.destination)} "
            f"to {first.what}, {first.why}"
        ),
        explanation=(
            f"Requests for {target.name} on these routes go to an Envoy cluster that does not "
            "exist or has no endpoints, so they fail with 503 (response flag NC or UH) although "
            "the pods are healthy: "
            + "; ".join(f"{p.what} ({_route_name(p.destination)}), {p.why}" for p in problems)
            + "."
        ),
        evidence=tuple(e for p in problems for e in p.evidence),
        confirm=(
            kubectl.get_yaml(vs),
            f"kubectl get destinationrules -n {target.namespace} -o yaml",
            kubectl.get_pods(target.namespace, target.selector or None),
        ),
        fix=Fix(
            summary=(
                "Point the destination at a host, a port (by number) or a subset that exists, or "
                "define the subset (with labels the pods carry) in the DestinationRule before "
                "routing to it."
            ),
            patch="\n".join(patches) or None,
        ),
        confidence=0.45 if all(p.unproven for p in problems) else 0.9,
        severity=None if total and not all(p.unproven for p in problems) else Severity.WARNING,
    )
