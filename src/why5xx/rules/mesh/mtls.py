"""mtls-mismatch: the two ends of a connection in an Istio mesh disagree on
mutual TLS (a STRICT port a client without a sidecar calls, a DestinationRule
that originates TLS to a plain port or plain text to a STRICT one).

The mesh's root namespace is taken to be `istio-system` (the default of
`meshConfig.rootNamespace`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.frontend import (
    NginxController,
    destination_rule,
    ingress_routes,
    istio_sidecar,
    traffic_policy,
)
from why5xx.views.mesh import PeerMode, peer_mode
from why5xx.views.pods import containers, pod_template_spec
from why5xx.views.ports import ServicePort, service_ports
from why5xx.views.protocols import target_container_port
from why5xx.views.service import ServiceTarget

INJECT = "sidecar.istio.io/inject"

INJECTION_LABELS = ("istio-injection", "istio.io/rev")


def _template(obj: Obj) -> tuple[Mapping[str, Any], str]:
    """The metadata of a pod, or of a workload's pod template, and its path."""
    if obj.kind == "Pod":
        return obj.metadata, "metadata"
    return (obj.spec.get("template") or {}).get("metadata") or {}, "spec.template.metadata"


def _injection(snap: Snapshot, pods: Sequence[Obj], namespace: str) -> list[Evidence]:
    """Why pods (or a workload's pod template) run no sidecar: their
    namespace's injection labels, or a pod that opts out."""
    out: list[Evidence] = []
    ns = snap.get("Namespace", "", namespace)
    if ns is not None:
        labels = {k: ns.labels[k] for k in INJECTION_LABELS if k in ns.labels}
        out.append(
            fact(
                ns,
                "metadata.labels",
                ", ".join(f"{k}={v}" for k, v in labels.items()) or "no injection label",
                expected="istio-injection=enabled (or istio.io/rev)",
            )
        )
    for pod in pods[:1]:
        metadata, path = _template(pod)
        for where in ("labels", "annotations"):
            if str((metadata.get(where) or {}).get(INJECT)).lower() == "false":
                out.append(
                    fact(pod, f"{path}.{where}[{INJECT}]", "false", expected="unset, or true")
                )
        spec = pod_template_spec(pod)
        out.append(
            fact(
                pod,
                f"{'spec' if pod.kind == 'Pod' else 'spec.template.spec'}.containers",
                ", ".join(str(c.get("name")) for c in containers(spec)),
                expected="an istio-proxy container",
            )
        )
    return out


def _controller_meshed(controller: NginxController) -> bool | None:
    """Whether an ingress-nginx controller runs an Istio sidecar; None when
    neither its pods nor its workload are in the input."""
    if controller.pods:
        return any(istio_sidecar(p.spec) for p in controller.pods)
    if controller.workload is not None:
        return istio_sidecar(pod_template_spec(controller.workload))
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class StrictPort:
    """A Service port whose sidecars require mTLS."""

    port: ServicePort
    number: int  # the container port the sidecar guards
    mode: PeerMode
    pods: tuple[Obj, ...]


def _strict_ports(snap: Snapshot, target: ServiceTarget, meshed: Sequence[Obj]) -> list[StrictPort]:
    out: list[StrictPort] = []
    if not meshed:
        return out
    for port in service_ports(target.service):
        if port.protocol != "TCP":
            continue
        number, _ = target_container_port(port, meshed[0].spec)
        if number is None:
            continue
        modes = [(pod, peer_mode(snap, pod, number)) for pod in meshed]
        strict = [(pod, mode) for pod, mode in modes if mode.mode == "STRICT"]
        if strict:
            out.append(
                StrictPort(
                    port=port, number=number, mode=strict[0][1], pods=tuple(p for p, _ in strict)
                )
            )
    return out


@rule(
    cause="mtls-mismatch",
    inputs=("Service", "Pod", "PeerAuthentication"),
    reads=("ConfigMap", "Ingress", "IngressClass", "Namespace", "DestinationRule"),
)
def mtls_mismatch(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The two ends of a connection to the Service disagree on mutual TLS.

    **What it finds**, for the Service's pods and ports:

    - pods whose sidecar requires mTLS (`STRICT`) on the port, from the
      PeerAuthentication that applies: a workload one (`selector`, with its
      `portLevelMtls` entry for the container port first), else the
      namespace's, else the mesh-wide one in the root namespace
      (`istio-system`); `UNSET` inherits, the oldest policy of a level wins,
      and without any the mode is `PERMISSIVE`. Then either
      - the DestinationRule for the Service sets `trafficPolicy.tls.mode`
        (top level or the port's `portLevelSettings`) to `DISABLE` (the
        client sidecars send plaintext) or `SIMPLE` (TLS without the
        workload certificate Istio's mTLS needs); or
      - an ingress-nginx controller whose pods run no `istio-proxy`
        container (its namespace is not labelled `istio-injection=enabled`
        or `istio.io/rev`, or the pod sets `sidecar.istio.io/inject:
        "false"`) sends an Ingress's traffic to the pods in plaintext;
    - or pods without a sidecar (no `istio-proxy` container, neither
      injected nor a native sidecar init container) while the
      DestinationRule requires mTLS (`ISTIO_MUTUAL` or `MUTUAL`): the client
      sidecars speak TLS to an app that expects plaintext.

    **Why it is a 5xx**: the server side rejects the handshake or the
    bytes, so every request fails before reaching the app: Envoy clients
    answer **503** (`UF` or `UC`, "upstream connect error or
    disconnect/reset before headers", with a TLS error in
    `upstream_transport_failure_reason`), ingress-nginx **502**
    (`recv() failed (104: Connection reset by peer)` / `upstream prematurely
    closed connection`). Istio's troubleshooting guide: "503 errors after
    setting destination rule ... the DestinationRule is probably causing a
    TLS conflict"; response flag `UF`: "if you're using Istio
    authentication, check for a mutual TLS configuration conflict".

    **Fix**: let Istio choose (remove the DestinationRule's `tls` block:
    auto mTLS sends mTLS to pods with a sidecar and plaintext to the
    others) or set `ISTIO_MUTUAL`; for a client outside the mesh, give it
    a sidecar, or relax that port with a workload PeerAuthentication
    (`portLevelMtls: {PORT: {mode: PERMISSIVE}}`).

    **Sources**: Istio PeerAuthentication reference (levels, `portLevelMtls`
    keyed by the workload port, "PeerAuthentication policies with workload
    selectors are ignored when deployed in the root namespace"); Istio
    "Mutual TLS Migration" and "Traffic Management Problems"; Istio
    DestinationRule `ClientTLSSettings`; Istio "Installing the Sidecar"
    (injection labels and `sidecar.istio.io/inject`).
    """
    pods = target.live_pods
    meshed = [p for p in pods if istio_sidecar(p.spec)]
    plain = [p for p in pods if not istio_sidecar(p.spec)]
    rule_obj = destination_rule(snap, target.service)
    strict = _strict_ports(snap, target, meshed)
    if rule_obj is not None:
        yield from _tls_conflicts(snap, target, rule_obj, strict, plain)
    for strict_port in strict:
        for route in ingress_routes(snap, target.service):
            controller = route.nginx
            if controller is not None and _controller_meshed(controller) is False:
                yield _plaintext_client(snap, target, route.ingress, controller, strict_port)
                return


def _tls_conflicts(
    snap: Snapshot,
    target: ServiceTarget,
    rule_obj: Obj,
    strict: Sequence[StrictPort],
    plain: Sequence[Obj],
) -> Iterator[Draft]:
    seen: set[str] = set()
    for strict_port in strict:
        policy, field = traffic_policy(rule_obj, strict_port.port.port)
        mode = str((policy.get("tls") or {}).get("mode") or "").upper()
        if mode in ("DISABLE", "SIMPLE") and field not in seen:
            seen.add(field)
            yield _dr_against_strict(target, rule_obj, f"{field}.tls", mode, strict_port)
    if not plain:
        return
    for port in service_ports(target.service):
        policy, field = traffic_policy(rule_obj, port.port)
        mode = str((policy.get("tls") or {}).get("mode") or "").upper()
        if mode in ("ISTIO_MUTUAL", "MUTUAL") and field not in seen:
            seen.add(field)
            yield _dr_against_plain(snap, target, rule_obj, f"{field}.tls", mode, port, plain)


def _dr_against_strict(
    target: ServiceTarget, rule_obj: Obj, field: str, mode: str, strict: StrictPort
) -> Draft:
    what = "plaintext" if mode == "DISABLE" else "TLS without the workload certificate"
    peer = strict.mode.evidence()
    evidence = [
        fact(rule_obj, f"{field}.mode", mode, expected="ISTIO_MUTUAL, or no tls block (auto mTLS)"),
        *([peer] if peer else []),
        fact(
            strict.pods[0],
            "spec.containers[istio-proxy]",
            f"sidecar in {len(strict.pods)} pod(s), mTLS required on {strict.number}",
        ),
    ]
    policy = strict.mode.policy
    return Draft(
        subject=rule_obj.ref,
        title=(
            f"DestinationRule {rule_obj.name} sends {what} (tls.mode {mode}) to Service "
            f"{target.name}, whose sidecars require mTLS (STRICT"
            + (f", PeerAuthentication {policy.namespace}/{policy.name})" if policy else ")")
        ),
        explanation=(
            f"Client sidecars follow the DestinationRule and open {what} connections to port "
            f"{strict.port.port} of {target.name}; the pods' sidecars accept only Istio mTLS on "
            f"container port {strict.number} and reset them. Every request through the mesh fails "
            "with 503 (Envoy UF/UC, 'upstream connect error or disconnect/reset before headers')."
        ),
        evidence=tuple(evidence),
        confirm=(
            kubectl.get_yaml(rule_obj),
            "kubectl get peerauthentications -A",
            kubectl.logs(strict.pods[0], "istio-proxy") + " --tail=200",
        ),
        fix=Fix(
            summary=(
                f"Remove {field} from DestinationRule {rule_obj.name} so that auto mTLS applies "
                "(or set its mode to ISTIO_MUTUAL)."
            ),
            patch=kubectl.remove_field(rule_obj, field),
        ),
        confidence=0.9,
        severity=Severity.WARNING if len(strict.pods) < len(target.live_pods) else None,
    )


def _dr_against_plain(
    snap: Snapshot,
    target: ServiceTarget,
    rule_obj: Obj,
    field: str,
    mode: str,
    port: ServicePort,
    plain: Sequence[Obj],
) -> Draft:
    return Draft(
        subject=rule_obj.ref,
        title=(
            f"DestinationRule {rule_obj.name} requires mTLS (tls.mode {mode}) to Service "
            f"{target.name}, but {len(plain)} of its pods run no Istio sidecar"
        ),
        explanation=(
            f"Client sidecars open TLS connections to port {port.port} of {target.name}; pods "
            "without a sidecar get the TLS handshake on the app's plaintext port and close the "
            "connection, so requests to them fail with 503 (Envoy UC/UF, a TLS error in the "
            "transport failure reason). Without the tls block, auto mTLS would send them "
            "plaintext."
        ),
        evidence=(
            fact(
                rule_obj,
                f"{field}.mode",
                mode,
                expected="no tls block (auto mTLS), or a sidecar in every pod",
            ),
            *_injection(snap, plain, target.namespace),
        ),
        confirm=(
            kubectl.get_yaml(rule_obj),
            kubectl.get_pods(target.namespace, target.selector),
            f"kubectl get namespace {target.namespace} --show-labels",
        ),
        fix=Fix(
            summary=(
                f"Remove {field} from DestinationRule {rule_obj.name}, or inject the sidecar "
                "(label the namespace istio-injection=enabled and restart the workload)."
            ),
            patch=kubectl.remove_field(rule_obj, field),
        ),
        confidence=0.85,
        severity=Severity.WARNING if len(plain) < len(target.live_pods) else None,
    )


def _plaintext_client(
    snap: Snapshot,
    target: ServiceTarget,
    ingress: Obj,
    controller: NginxController,
    strict: StrictPort,
) -> Draft:
    where = (
        f"{controller.workload.kind} {controller.workload.namespace}/{controller.workload.name}"
        if controller.workload is not None
        else f"the ingress-nginx pods in {controller.namespace}"
    )
    clients = [controller.workload] if controller.workload is not None else controller.pods
    peer = strict.mode.evidence()
    patch = (
        "kubectl apply -f - <<'EOF'\n"
        "apiVersion: security.istio.io/v1\n"
        "kind: PeerAuthentication\n"
        "metadata:\n"
        f"  name: {target.name}-from-ingress\n"
        f"  namespace: {target.namespace}\n"
        "spec:\n"
        "  selector:\n"
        "    matchLabels:\n"
        + "".join(f"      {k}: {v}\n" for k, v in sorted(target.selector.items()))
        + "  mtls:\n"
        "    mode: UNSET\n"
        "  portLevelMtls:\n"
        f"    {strict.number}:\n"
        "      mode: PERMISSIVE\n"
        "EOF"
    )
    return Draft(
        subject=ingress.ref,
        title=(
            f"ingress-nginx ({where}) has no Istio sidecar and sends Ingress {ingress.name}'s "
            f"traffic in plaintext to Service {target.name}, whose pods require mTLS on port "
            f"{strict.number}"
        ),
        explanation=(
            f"ingress-nginx connects straight to the pod IPs of {target.name}. Their sidecars "
            f"enforce STRICT mTLS on container port {strict.number} and reset plaintext "
            "connections, so nginx answers 502 (recv() failed (104: Connection reset by peer) "
            "while reading response header from upstream)."
        ),
        evidence=(
            fact(ingress, "spec.rules", f"routes to Service {target.name}"),
            *([peer] if peer else []),
            *_injection(snap, clients, controller.namespace),
        ),
        confirm=(
            "kubectl get peerauthentications -A",
            f"kubectl get namespace {controller.namespace} --show-labels",
            f"kubectl logs -n {controller.namespace} "
            + (
                kubectl.resource(controller.workload)
                if controller.workload
                else "-l app.kubernetes.io/name=ingress-nginx"
            )
            + " | grep -E 'Connection reset by peer|prematurely closed'",
        ),
        fix=Fix(
            summary=(
                f"Accept plaintext on port {strict.number} of {target.name} with a workload "
                "PeerAuthentication (below), or put ingress-nginx in the mesh: a sidecar with "
                'traffic.sidecar.istio.io/includeInboundPorts: "" and the Ingress annotations '
                'nginx.ingress.kubernetes.io/service-upstream: "true" and upstream-vhost.'
            ),
            patch=patch,
        ),
        confidence=0.85,
        http_status=(502,),
    )
