"""Causes where the network drops what the proxy sends: NetworkPolicies that
admit no traffic from the ingress controller's pods to the backend pods.

The evaluation follows the NetworkPolicy API (kubernetes.io "Network
Policies", networking.k8s.io/v1):

- a policy applies to the pods its `podSelector` selects in its own
  namespace (`{}` selects all); a pod selected by no policy of a direction
  is not isolated in it. `policyTypes` defaults to `Ingress`, plus `Egress`
  when the policy has an `egress` section.
- traffic is allowed when any rule of any policy selecting the pod admits
  it (policies add up); a rule with no `from`/`to` admits every peer, one
  with no `ports` every port.
- a peer is a `podSelector` (pods in the policy's namespace), a
  `namespaceSelector` (all pods of the matching namespaces), both in one
  element (pods matching the podSelector in matching namespaces), or an
  `ipBlock` (`cidr` minus `except`).
- a port is a number, a range with `endPort` (stable since 1.25), or a name
  resolved against the destination pod's container ports; `protocol`
  defaults to TCP.
- both ends must agree: Ingress policies on the backend pods and Egress
  policies on the proxy's pods.

Namespaces carry the immutable label `kubernetes.io/metadata.name` (set by
the API server since 1.21), which is all that is known of a namespace whose
Namespace object is not in the input; a selector on other labels then
leaves the verdict open, and the rule says nothing. Host-network controller
pods are not judged: how policies treat node-IP traffic depends on the CNI.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.kube import label_selector_matches, selector_string
from why5xx.model import Draft, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.frontend import NginxController, nginx_routes
from why5xx.views.pods import container_ports
from why5xx.views.policy import policy_types
from why5xx.views.ports import service_ports
from why5xx.views.service import ServiceTarget

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One end of a connection: a pod, or a workload's pod template."""

    namespace: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str] | None  # None: only the name label is known
    ip: str | None
    spec: Mapping[str, Any]
    name: str


def _namespace_labels(snap: Snapshot, namespace: str) -> Mapping[str, str] | None:
    found = snap.get("Namespace", "", namespace)
    if found is None:
        return None
    return {**found.labels, NAMESPACE_NAME_LABEL: namespace}


def _endpoint(snap: Snapshot, pod: Obj) -> Endpoint:
    return Endpoint(
        namespace=pod.namespace,
        labels=pod.labels,
        namespace_labels=_namespace_labels(snap, pod.namespace),
        ip=str(pod.status.get("podIP") or "") or None,
        spec=pod.spec,
        name=pod.name,
    )


def selects(policy: Obj, end: Endpoint) -> bool:
    return policy.namespace == end.namespace and label_selector_matches(
        policy.spec.get("podSelector") or {}, end.labels
    )


def _namespace_matches(selector: Mapping[str, Any], end: Endpoint) -> bool | None:
    if end.namespace_labels is not None:
        return label_selector_matches(selector, end.namespace_labels)
    known = {NAMESPACE_NAME_LABEL: end.namespace}
    keys = set(selector.get("matchLabels") or {}) | {
        str(e.get("key")) for e in selector.get("matchExpressions") or ()
    }
    if keys <= {NAMESPACE_NAME_LABEL}:
        return label_selector_matches(selector, known)
    return None


def peer_admits(peer: Mapping[str, Any], policy_namespace: str, end: Endpoint) -> bool | None:
    """Whether one `from`/`to` element names `end`; None when it cannot be
    told (a namespace's labels or a pod IP unknown)."""
    block = peer.get("ipBlock")
    if block is not None:
        if end.ip is None:
            return None
        try:
            address = ipaddress.ip_address(end.ip)
            inside = address in ipaddress.ip_network(str(block.get("cidr")), strict=False)
            excluded = any(
                address in ipaddress.ip_network(str(c), strict=False)
                for c in block.get("except") or ()
            )
        except ValueError:
            return None
        return inside and not excluded
    namespaces = peer.get("namespaceSelector")
    pods = peer.get("podSelector")
    if namespaces is None and pods is None:
        return False
    in_namespace = (
        _namespace_matches(namespaces, end)
        if namespaces is not None
        else end.namespace == policy_namespace
    )
    if in_namespace is False:
        return False
    if pods is not None and not label_selector_matches(pods, end.labels):
        return False
    return in_namespace


def port_admits(ports: Sequence[Mapping[str, Any]], destination: Endpoint, port: int) -> bool:
    """Whether a rule's `ports` let TCP `port` of the destination pod through."""
    if not ports:
        return True
    named = {p.name: p.number for p in container_ports(destination.spec) if p.name}
    for entry in ports:
        if str(entry.get("protocol") or "TCP") != "TCP":
            continue
        value = entry.get("port")
        if value is None:
            return True
        if isinstance(value, str) and not value.isdigit():
            if named.get(value) == port:
                return True
            continue
        low = int(value)
        if low <= port <= int(entry.get("endPort") or low):
            return True
    return False


def _describe_peer(peer: Mapping[str, Any], namespace: str) -> str:
    if peer.get("ipBlock"):
        block = peer["ipBlock"]
        excluded = f" except {', '.join(block.get('except') or ())}" if block.get("except") else ""
        return f"ipBlock {block.get('cidr')}{excluded}"
    parts = []
    if peer.get("podSelector") is not None:
        labels = _selector_text(peer["podSelector"]) or "all pods"
        parts.append(f"pods {labels}")
    if peer.get("namespaceSelector") is not None:
        labels = _selector_text(peer["namespaceSelector"]) or "all namespaces"
        parts.append(f"in namespaces {labels}")
    else:
        parts.append(f"in {namespace}")
    return " ".join(parts)


def _selector_text(selector: Mapping[str, Any]) -> str:
    text = selector_string(selector.get("matchLabels") or {})
    expressions = [
        f"{e.get('key')} {e.get('operator')} {list(e.get('values') or ())}".rstrip(" []")
        for e in selector.get("matchExpressions") or ()
    ]
    return ", ".join([t for t in [text] if t] + expressions)


def _describe_ports(ports: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(
        f"{p.get('port', 'any')}"
        + (f"-{p['endPort']}" if p.get("endPort") else "")
        + f"/{p.get('protocol') or 'TCP'}"
        for p in ports
    )


def _any_admits(results: Sequence[bool | None]) -> bool | None:
    """Peers add up: one that admits is enough; no peers at all admits all."""
    if not results or True in results:
        return True
    return None if None in results else False


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """One direction of one source/destination pair."""

    allowed: bool | None  # None: cannot be told
    policies: tuple[Obj, ...]  # the policies that isolate the pod in this direction
    reasons: tuple[tuple[Obj, str, str], ...]  # (policy, field, why it does not admit)


def evaluate(
    snap: Snapshot,
    isolated: Endpoint,
    other: Endpoint,
    direction: str,
    port: int,
    destination: Endpoint,
) -> Verdict:
    """Whether the policies of `direction` ("Ingress" or "Egress") selecting
    `isolated` admit traffic with `other` on TCP `port` of `destination`."""
    section, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    policies = tuple(
        p
        for p in snap.list("NetworkPolicy", isolated.namespace)
        if direction in policy_types(p) and selects(p, isolated)
    )
    if not policies:
        return Verdict(allowed=True, policies=(), reasons=())
    reasons: list[tuple[Obj, str, str]] = []
    unknown = False
    for policy in policies:
        rules = policy.spec.get(section) or ()
        if not rules:
            reasons.append((policy, f"spec.{section}", f"no {section} rule: denies all"))
        for index, entry in enumerate(rules):
            ports = entry.get("ports") or ()
            peers = entry.get(peers_key) or ()
            peer_ok = _any_admits([peer_admits(peer, policy.namespace, other) for peer in peers])
            port_ok = port_admits(ports, destination, port)
            if peer_ok is True and port_ok:
                return Verdict(allowed=True, policies=policies, reasons=())
            if peer_ok is None and port_ok:
                unknown = True
            why = []
            if peer_ok is not True:
                names = "; ".join(_describe_peer(p, policy.namespace) for p in peers)
                why.append(f"{peers_key} {names} (not {other.namespace}/{other.name})")
            if not port_ok:
                why.append(f"ports {_describe_ports(ports)} (not {port}/TCP)")
            reasons.append((policy, f"spec.{section}[{index}]", ", ".join(why)))
    return Verdict(allowed=None if unknown else False, policies=policies, reasons=tuple(reasons))


def _sources(controller: NginxController, snap: Snapshot) -> list[Endpoint]:
    if controller.pods:
        return [_endpoint(snap, pod) for pod in controller.pods]
    if controller.workload is None:
        return []
    template = (controller.workload.spec.get("template") or {}).get("spec") or {}
    return [
        Endpoint(
            namespace=controller.namespace,
            labels=controller.pod_labels,
            namespace_labels=_namespace_labels(snap, controller.namespace),
            ip=None,
            spec=template,
            name=controller.workload.name,
        )
    ]


def _target_port(target: ServiceTarget, pod: Obj, names: set[str], numbers: set[int]) -> int | None:
    """The pod port the Ingress's Service port sends to."""
    for port in service_ports(target.service):
        if (names or numbers) and port.name not in names and port.port not in numbers:
            continue
        if isinstance(port.target, int):
            return port.target
        for declared in container_ports(pod.spec):
            if declared.name == port.target:
                return declared.number
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Blocked:
    pod: Obj
    port: int
    direction: str
    verdict: Verdict


def _admitting_rule(controller: NginxController, port: int) -> dict[str, Any]:
    selector = (
        dict((controller.workload.spec.get("selector") or {}).get("matchLabels") or {})
        if controller.workload is not None
        else dict(controller.pod_labels)
    )
    return {
        "from": [
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: controller.namespace}},
                "podSelector": {"matchLabels": selector},
            }
        ],
        "ports": [{"protocol": "TCP", "port": port}],
    }


def _egress_rule(target: ServiceTarget, pod: Obj, port: int) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: target.namespace}},
                "podSelector": {"matchLabels": dict(target.selector) or dict(pod.labels)},
            }
        ],
        "ports": [{"protocol": "TCP", "port": port}],
    }


def _draft(
    target: ServiceTarget,
    controller: NginxController,
    blocked: list[Blocked],
    checked: int,
) -> Draft:
    first = blocked[0]
    verdict = first.verdict
    policy = verdict.policies[0]
    names = ", ".join(sorted({p.name for b in blocked for p in b.verdict.policies}))
    proxy = f"ingress-nginx in {controller.namespace}"
    every = len({b.pod.name for b in blocked}) >= checked
    if first.direction == "Ingress":
        admitting = _admitting_rule(controller, first.port)
        where = f"backend pods of {target.name}"
    else:
        admitting = _egress_rule(target, first.pod, first.port)
        where = f"{proxy}'s pods"
    section = "ingress" if first.direction == "Ingress" else "egress"
    path = f"/spec/{section}/-" if policy.spec.get(section) else f"/spec/{section}"
    value: Any = admitting if policy.spec.get(section) else [admitting]
    evidence = [
        fact(
            policy,
            "spec.podSelector",
            _selector_text(policy.spec.get("podSelector") or {}) or "{} (every pod)",
            expected=f"an {section} rule admitting {proxy} on {first.port}/TCP",
        ),
        *(fact(p, field, why) for p, field, why in verdict.reasons[:4]),
    ]
    if controller.workload is not None:
        evidence.append(
            fact(
                controller.workload,
                "spec.template.metadata.labels",
                selector_string(controller.pod_labels),
            )
        )
    pods = sorted({b.pod.name for b in blocked})
    return Draft(
        subject=policy.ref,
        title=(
            f"NetworkPolicy {names} blocks {proxy} from {'every' if every else 'some'} "
            f"backend pod of Service {target.name} on port {first.port}"
        ),
        explanation=(
            f"The {section} policies selecting the {where} admit no traffic between the "
            f"ingress controller and pod(s) {', '.join(pods[:3])} on {first.port}/TCP. "
            "Policies drop rather than reject, so nginx waits proxy-connect-timeout (5 s) per "
            "attempt and answers 504 'upstream timed out (110: Connection timed out) while "
            "connecting to upstream', or 502 after its retries."
        ),
        evidence=tuple(evidence),
        confirm=(
            f"kubectl get networkpolicy -n {policy.namespace} -o yaml",
            f"kubectl describe networkpolicy -n {policy.namespace} {policy.name}",
            f"kubectl get namespace {controller.namespace} {target.namespace} --show-labels",
            kubectl.get_pods(target.namespace, target.selector or None, wide=True),
        ),
        fix=Fix(
            summary=(
                f"Add an {section} rule to NetworkPolicy {policy.name} that admits "
                f"{proxy} on {first.port}/TCP (namespaceSelector and podSelector in one "
                "element, so only the controller's pods match)."
            ),
            patch=kubectl.json_patch(policy, [{"op": "add", "path": path, "value": value}]),
        ),
        severity=None if every else Severity.WARNING,
        confidence=0.9,
    )


@rule(
    cause="network-policy-block",
    inputs=("Service", "Pod", "NetworkPolicy"),
    reads=("ConfigMap", "Ingress", "IngressClass", "Namespace"),
)
def network_policy_block(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """A NetworkPolicy drops the ingress controller's traffic to the Service's pods.

    **What it finds**: for each ingress-nginx controller serving an Ingress
    that routes to the Service (found through the Ingress's IngressClass
    `spec.controller: k8s.io/ingress-nginx`, the controller's
    `--controller-class`/`--ingress-class` flags, or the chart's labels
    `app.kubernetes.io/name: ingress-nginx`,
    `app.kubernetes.io/component: controller`), whether the NetworkPolicies
    let its pods reach the backend pods on the pod port the Ingress's
    Service port targets: Ingress policies selecting the backend pods, and
    Egress policies selecting the controller's pods, evaluated with the
    API's semantics (policy types, pod and namespace selectors alone and
    combined, ipBlock with except, numeric, named and `endPort` ports,
    default deny). It names the policy that isolates the pods, why each of
    its rules does not admit the controller, and the rule that would.

    **Why it is a 5xx**: NetworkPolicy implementations drop the packets, so
    the proxy's connect times out: nginx answers 504 after
    `proxy-connect-timeout` (default 5 s) with `upstream timed out (110:
    Connection timed out) while connecting to upstream`, or 502 when its
    retries run out. The kubelet's probes come from the node and still
    pass, so the endpoints look healthy.

    **Severity**: critical when every backend pod is blocked, a warning when
    only some are (a policy selecting part of the pods).

    **Fix**: add an ingress rule with the controller's namespace and pod
    selectors in one `from` element and the target port (or the matching
    egress rule on the controller's side).

    **Sources**: Kubernetes "Network Policies" (isolation, additive rules,
    `namespaceSelector` and `podSelector` in one element, `ipBlock`,
    `endPort` stable in 1.25, named ports); `kubernetes.io/metadata.name`
    (set on every namespace, stable in 1.22); ingress-nginx controller flags
    `--controller-class` (default `k8s.io/ingress-nginx`), `--ingress-class`
    (default `nginx`), `--configmap`; ingress-nginx `configmap.md`
    (`proxy-connect-timeout` 5).
    """
    routes = nginx_routes(snap, target.service)
    pods = target.live_pods
    if not routes or not pods:
        return
    seen: set[str] = set()
    for route in routes:
        controller = route.nginx
        if controller is None or controller.host_network or str(controller.configmap_ref) in seen:
            continue
        seen.add(str(controller.configmap_ref))
        names = {b.port_name for b in route.backends if b.port_name}
        numbers = {b.port_number for b in route.backends if b.port_number is not None}
        blocked: list[Blocked] = []
        undecided = False
        for pod in pods:
            port = _target_port(target, pod, names, numbers)
            if port is None:
                continue
            backend = _endpoint(snap, pod)
            for source in _sources(controller, snap):
                for direction, isolated, other in (
                    ("Ingress", backend, source),
                    ("Egress", source, backend),
                ):
                    verdict = evaluate(snap, isolated, other, direction, port, backend)
                    if verdict.allowed is None:
                        undecided = True
                    elif not verdict.allowed:
                        blocked.append(
                            Blocked(pod=pod, port=port, direction=direction, verdict=verdict)
                        )
                        break
        if blocked and not undecided:
            yield _draft(target, controller, blocked, len(pods))
