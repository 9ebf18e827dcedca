"""Causes inside an Istio service mesh, between the sidecars: routes to hosts
or subsets that do not exist, mTLS settings the two ends disagree on, Service
ports that declare another protocol than the app speaks, and outlier
detection that can eject every host.

What applies to a Service (its DestinationRule, the traffic policy of a
port, whether a pod runs a sidecar) comes from `rules/frontend.py`, which
the proxy family shares. Mesh hosts follow Istio's rule: a short name is
relative to the namespace of the config that writes it, a full name is
`NAME.NAMESPACE.svc.cluster.local`; the mesh's root namespace is taken to
be `istio-system` (the default of `meshConfig.rootNamespace`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.kube import closest_name, labels_match, selector_string
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.frontend import (
    NginxController,
    destination_rule,
    duration_seconds,
    ingress_routes,
    istio_sidecar,
    traffic_policy,
)
from why5xx.views.pods import ContainerPort, container_ports, containers, pod_template_spec
from why5xx.views.ports import PROBE_FIELDS, ServicePort, service_ports
from why5xx.views.service import ServiceTarget, ready_backends

ROOT_NAMESPACE = "istio-system"
CLUSTER_DOMAIN = "svc.cluster.local"
INJECT = "sidecar.istio.io/inject"
INJECTION_LABELS = ("istio-injection", "istio.io/rev")
SIDECAR_STATUS = "sidecar.istio.io/status"


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


# --- outlier-ejected -------------------------------------------------------

# Istio's OutlierDetection defaults (DestinationRule reference): 5 consecutive
# 5xx, gateway errors off, ejection of 30 s, at most 10 % of the hosts, no
# panic threshold (minHealthPercent 0).
_BASE_EJECTION = 30.0
_MAX_PERCENT = 10
_CONSECUTIVE_5XX = 5
# At or under this many consecutive errors, a few failed requests eject a host.
_HAIR_TRIGGER = 3
# With this few hosts, the errors of a short incident reach every one of them.
_FEW_HOSTS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Ejection:
    """A traffic policy's `outlierDetection`, with Istio's defaults."""

    field: str  # e.g. spec.trafficPolicy.outlierDetection
    raw: Mapping[str, Any]

    def _int(self, key: str) -> int | None:
        value = self.raw.get(key)
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

    @property
    def max_percent(self) -> int:
        value = self._int("maxEjectionPercent")
        return value if value else _MAX_PERCENT

    @property
    def min_health(self) -> int:
        return self._int("minHealthPercent") or 0

    @property
    def base_seconds(self) -> float:
        return duration_seconds(self.raw.get("baseEjectionTime")) or _BASE_EJECTION

    def triggers(self) -> list[tuple[str, int]]:
        """The consecutive-error thresholds in force, with their field names:
        5xx errors (5 unless set; 0 turns them off) and gateway errors (off
        unless set; `consecutiveErrors` is its deprecated spelling, which
        turned the 5xx one off)."""
        gateway = self._int("consecutiveGatewayErrors") or self._int("consecutiveErrors")
        deprecated = "consecutiveGatewayErrors" not in self.raw
        gateway_key = "consecutiveErrors" if deprecated else "consecutiveGatewayErrors"
        errors = self._int("consecutive5xxErrors")
        if errors is None and "consecutiveErrors" not in self.raw:
            errors = _CONSECUTIVE_5XX
        found = [("consecutive5xxErrors", errors)] if errors else []
        return found + ([(gateway_key, gateway)] if gateway else [])


def _ejections(rule_obj: Obj, target: ServiceTarget) -> dict[str, tuple[Ejection, list[int]]]:
    """Each distinct `outlierDetection` that applies to a port of the
    Service, by field, with the Service ports it applies to."""
    found: dict[str, tuple[Ejection, list[int]]] = {}
    for port in service_ports(target.service):
        policy, field = traffic_policy(rule_obj, port.port)
        detection = policy.get("outlierDetection")
        if isinstance(detection, Mapping):
            key = f"{field}.outlierDetection"
            found.setdefault(key, (Ejection(field=key, raw=detection), []))[1].append(port.port)
    return found


@rule(cause="outlier-ejected", inputs=("Service", "DestinationRule"), severity=Severity.WARNING)
def outlier_ejected(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """Outlier detection in front of the Service can eject every host after a few errors.

    **What it finds**: the DestinationRule that applies to the Service
    (exact host before a wildcard, the Service's namespace first) whose
    `outlierDetection`, at the top of its `trafficPolicy` or in the
    `portLevelSettings` of a Service port, has `maxEjectionPercent: 100`
    and no `minHealthPercent`, while either a consecutive-error threshold
    (`consecutive5xxErrors`, `consecutiveGatewayErrors`) is 3 or less, or
    the Service has 3 ready endpoints or fewer. Both mean that a short burst
    of errors (a rollout, a dependency blip, one bad request per pod) takes
    every host out of the load-balancing pool.

    **Why it is a 5xx**: an ejected host gets no traffic for
    `baseEjectionTime` times the number of times it was ejected. When every
    host is ejected, the client sidecars and gateways answer **503 with the
    Envoy response flag `UH`** (`no healthy upstream`) although the pods are
    Running and Ready, and keep doing so after the app has recovered.
    Envoy stops ejecting once the ejected share would exceed
    `max_ejection_percent` (Envoy `outlier_detection_impl.cc`, `ejectHost`),
    so only 100 % lets it eject them all; Istio turns `minHealthPercent`
    into Envoy's panic threshold, which when set keeps traffic flowing to
    all hosts once too few are healthy, and sets it to 0 (never panic) by
    default (istio `cluster_traffic_policy.go`, `applyOutlierDetection`).
    Envoy before 1.31 (Istio before 1.23) ejected one host whatever the
    percentage, which empties a single-replica Service too.

    **Fix**: keep some hosts: lower `maxEjectionPercent` (50 keeps one host
    of two), set `minHealthPercent` so that Envoy falls back to all hosts
    when too few are healthy, and require more than one error
    (`consecutive5xxErrors` 5, Istio's default). The patch does all three.

    **Defaults** (Istio DestinationRule reference, `OutlierDetection`):
    `consecutive5xxErrors` 5 (0 disables it), `consecutiveGatewayErrors`
    off (502, 503 and 504 count), `interval` 10 s, `baseEjectionTime`
    30 s, `maxEjectionPercent` 10 %, `minHealthPercent` 0 %. An ejection
    lasts at most `max_ejection_time` (Envoy: 300 s, or the base time when
    longer).

    **Sources**: Istio DestinationRule reference (`OutlierDetection`);
    Envoy `outlier_detection.proto` and `outlier_detection_impl.cc`; Envoy
    access log response flags (`UH`: no healthy upstream hosts).
    """
    rule_obj = destination_rule(snap, target.service)
    hosts = ready_backends(target)
    if rule_obj is None or hosts == 0:
        return
    for ejection, ports in _ejections(rule_obj, target).values():
        if ejection.max_percent < 100 or ejection.min_health > 0:
            continue
        triggers = ejection.triggers()
        tight = [(key, n) for key, n in triggers if n <= _HAIR_TRIGGER]
        if not triggers or (not tight and hosts > _FEW_HOSTS):
            continue  # detection off, or it needs more errors than a few hosts make
        yield _outlier_draft(target, rule_obj, ejection, ports, hosts, tight or triggers)


def _errors(key: str, n: int) -> str:
    """`a single 5xx response`, `2 consecutive gateway errors (502, 503, 504)`."""
    what = "5xx response" if "5xx" in key else "gateway error"
    if n == 1:
        return f"a single {what}"
    return f"{n} consecutive {what}s" + ("" if "5xx" in key else " (502, 503, 504)")


def _outlier_draft(
    target: ServiceTarget,
    rule_obj: Obj,
    ejection: Ejection,
    ports: list[int],
    hosts: int,
    triggers: list[tuple[str, int]],
) -> Draft:
    base = ejection.base_seconds
    trigger_text = " or ".join(_errors(key, n) for key, n in triggers)
    evidence = [
        fact(
            rule_obj,
            f"{ejection.field}.maxEjectionPercent",
            str(ejection.raw.get("maxEjectionPercent")),
            expected="below 100, or minHealthPercent above 0",
        ),
        *(
            fact(
                rule_obj,
                f"{ejection.field}.{key}",
                str(n) if key in ejection.raw else f"{n} (default)",
                expected=f"more than {_HAIR_TRIGGER}" if n <= _HAIR_TRIGGER else None,
            )
            for key, n in triggers
        ),
        fact(
            rule_obj,
            f"{ejection.field}.baseEjectionTime",
            str(ejection.raw.get("baseEjectionTime") or f"{_BASE_EJECTION:g}s (default)"),
        ),
    ]
    if target.endpoints is not None and target.endpoints.objects:
        source = target.endpoints.objects[0]
        evidence.append(fact(source, "endpoints", f"{hosts} ready"))
    patch = {
        "maxEjectionPercent": 50,
        "minHealthPercent": 50,
        **{key: _CONSECUTIVE_5XX for key, n in triggers if n <= _HAIR_TRIGGER},
    }
    operations = [
        {"op": "add", "path": kubectl.field_pointer(ejection.field, key), "value": value}
        for key, value in patch.items()
    ]
    return Draft(
        subject=rule_obj.ref,
        title=(
            f"DestinationRule {rule_obj.name} lets outlier detection eject all {hosts} "
            f"endpoint(s) of Service {target.name} after {trigger_text}"
        ),
        explanation=(
            f"With maxEjectionPercent 100 and no minHealthPercent, Envoy may eject every host of "
            f"{target.name} (port {', '.join(map(str, ports))}): after {trigger_text} on each "
            f"pod, clients get 503 with response flag UH (no healthy upstream) for "
            f"{base:g} s, longer on each repeat ejection, although the pods are Ready. A rollout "
            "or a short error burst is enough, and the outage outlasts it."
        ),
        evidence=tuple(evidence),
        confirm=(
            kubectl.get_yaml(rule_obj),
            kubectl.endpoint_slices(target.service),
        ),
        fix=Fix(
            summary=(
                "Keep hosts in the pool: maxEjectionPercent 50, minHealthPercent 50 (Envoy falls "
                "back to all hosts when too few are healthy), and at least 5 consecutive errors."
            ),
            patch=kubectl.json_patch(rule_obj, operations),
        ),
        confidence=0.7 if hosts <= _FEW_HOSTS and any(n <= 2 for _, n in triggers) else 0.55,
    )


# --- mtls-mismatch ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerMode:
    """The mTLS mode a sidecar enforces on one port, and which
    PeerAuthentication decides it (None: Istio's default, PERMISSIVE)."""

    mode: str  # STRICT | PERMISSIVE | DISABLE
    policy: Obj | None
    field: str

    def evidence(self) -> Evidence | None:
        if self.policy is None:
            return None
        return fact(self.policy, self.field, self.mode)


def _set_mode(settings: Any) -> str | None:
    mode = str((settings or {}).get("mode") or "UNSET").upper()
    return None if mode == "UNSET" else mode


def _oldest_first(policies: Sequence[Obj]) -> list[Obj]:
    return sorted(policies, key=lambda p: (str(p.metadata.get("creationTimestamp") or ""), p.name))


def _selector(policy: Obj) -> Mapping[str, str]:
    return (policy.spec.get("selector") or {}).get("matchLabels") or {}


def peer_mode(snap: Snapshot, pod: Obj, port: int) -> PeerMode:
    """The mode of the PeerAuthentication that applies to a pod's port:
    the oldest one selecting the pod (its `portLevelMtls` entry for the
    port first), else the namespace's, else the mesh-wide one in the root
    namespace; UNSET inherits from the next."""
    local = _oldest_first(snap.list("PeerAuthentication", pod.namespace))
    workload = [p for p in local if _selector(p) and labels_match(_selector(p), pod.labels)]
    layers = [
        workload[:1],
        [p for p in local if not _selector(p)][:1],
        [
            p
            for p in _oldest_first(snap.list("PeerAuthentication", ROOT_NAMESPACE))
            if not _selector(p)
        ][:1],
    ]
    for index, layer in enumerate(layers):
        for policy in layer:
            levels = policy.spec.get("portLevelMtls") or {}
            at_port = next((v for k, v in levels.items() if str(k) == str(port)), None)
            if index == 0 and (mode := _set_mode(at_port)):
                return PeerMode(mode=mode, policy=policy, field=f"spec.portLevelMtls[{port}].mode")
            if mode := _set_mode(policy.spec.get("mtls")):
                return PeerMode(mode=mode, policy=policy, field="spec.mtls.mode")
    return PeerMode(mode="PERMISSIVE", policy=None, field="")


def _container_port(
    port: ServicePort, pod_spec: Mapping[str, Any]
) -> tuple[int | None, ContainerPort | None]:
    """The container port a Service port sends to, by number or by name."""
    declared = container_ports(pod_spec)
    if isinstance(port.target, int):
        return port.target, next((p for p in declared if p.number == port.target), None)
    found = next((p for p in declared if p.name == port.target), None)
    return (found.number if found else None), found


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
        number, _ = _container_port(port, meshed[0].spec)
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


@rule(cause="mtls-mismatch", inputs=("Service", "Pod", "PeerAuthentication"))
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


# --- mesh-port-protocol ----------------------------------------------------

HTTP1, H2, TLS, TCP, SERVER_FIRST = "HTTP/1.1", "HTTP/2", "TLS", "TCP", "server-first TCP"
# Istio's protocols (pkg/config/protocol Parse) by what the sidecar speaks.
_ISTIO: Mapping[str, str] = {
    "http": HTTP1,
    "http_proxy": HTTP1,
    "http2": H2,
    "grpc": H2,
    "https": TLS,
    "tls": TLS,
    "tcp": TCP,
    "mongo": TCP,
    "mysql": TCP,
    "redis": TCP,
}
# Ports Istio treats as TCP when nothing declares them (server-first protocols).
_WELL_KNOWN_TCP = frozenset({25, 53, 3306, 27017})
# What a container port's name says its app speaks.
_APP_BY_NAME: Mapping[str, str] = {
    "http": HTTP1,
    "grpc": H2,
    "h2c": H2,
    "http2": H2,
    "https": TLS,
    "tls": TLS,
    "mysql": SERVER_FIRST,
    "smtp": SERVER_FIRST,
    "submission": SERVER_FIRST,
    "ftp": SERVER_FIRST,
    "pop3": SERVER_FIRST,
    "imap": SERVER_FIRST,
}
# The appProtocol to declare for what the app speaks.
_DECLARE = {HTTP1: "http", H2: "grpc", TLS: "https", SERVER_FIRST: "tcp"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """What Istio takes a Service port to carry, and from which field."""

    speaks: str | None  # None: protocol sniffing
    how: str
    field: str


def istio_protocol(port: ServicePort, raw: Mapping[str, Any]) -> Declared:
    """Istio's protocol selection (pkg/config/kube ConvertProtocol):
    `appProtocol` when set, else the port name, each by its prefix before
    `-`; `grpc-web` stays HTTP/1.1-compatible; nothing known -> TCP on the
    well-known server-first ports, else protocol sniffing."""
    app = raw.get("appProtocol")
    text, field = (str(app), "appProtocol") if app else (port.name, "name")
    lower = text.lower()
    prefix = "grpc-web" if lower.startswith("grpc-web") else lower.split("-", 1)[0]
    where = f"{port.field}.{field}"
    if prefix == "grpc-web":
        return Declared(speaks=HTTP1, how=f"{field} {text}", field=where)
    if prefix in _ISTIO:
        return Declared(speaks=_ISTIO[prefix], how=f"{field} {text}", field=where)
    if port.port in _WELL_KNOWN_TCP:
        return Declared(speaks=TCP, how=f"well-known port {port.port}", field=f"{port.field}.port")
    return Declared(speaks=None, how=f"{field} {text or '<none>'}", field=where)


@dataclass(frozen=True, slots=True, kw_only=True)
class Speaks:
    """What the app behind a port speaks, and what says so."""

    speaks: str
    how: str
    object: Obj  # the workload (its pod template) or the pod
    field: str
    strong: bool  # a gRPC probe, not only a port name


# The istio-proxy environment variable holding the app probes the injector
# rewrote to its agent (`/app-health/<container>/readyz` on port 15020), as
# JSON: {"/app-health/api/readyz": {"grpc": {"port": 9090}, ...}}.
APP_PROBERS = "ISTIO_KUBE_APP_PROBERS"


def grpc_probes(pod_spec: Mapping[str, Any], prefix: str) -> dict[int, tuple[str, str]]:
    """The ports the kubelet probes with gRPC health checks, with the field
    (under `prefix`, where the pod spec sits) that says so and which probe:
    the containers' own probes, and those Istio rewrote (kept in the
    sidecar's `ISTIO_KUBE_APP_PROBERS`)."""
    found: dict[int, tuple[str, str]] = {}
    for container in containers(pod_spec):
        name = container.get("name")
        for probe in PROBE_FIELDS:
            port = ((container.get(probe) or {}).get("grpc") or {}).get("port")
            if isinstance(port, int):
                found.setdefault(port, (f"{prefix}.containers[{name}].{probe}.grpc.port", probe))
        for env in container.get("env") or ():
            if env.get("name") != APP_PROBERS:
                continue
            try:
                probers = orjson.loads(str(env.get("value") or "{}"))
            except orjson.JSONDecodeError:
                continue
            for path, prober in probers.items() if isinstance(probers, dict) else ():
                port = ((prober or {}).get("grpc") or {}).get("port")
                if isinstance(port, int):
                    found.setdefault(
                        port, (f"{prefix}.containers[{name}].env[{APP_PROBERS}]", path)
                    )
    return found


def app_protocol(snap: Snapshot, pod: Obj, port: ServicePort) -> Speaks | None:
    """What the container behind a Service port speaks: a gRPC probe on the
    port (the kubelet speaks gRPC health checking to it), else the
    container port's name. The pod's workload is read first: its template
    holds the probes as written, before the injector rewrote them."""
    number, declared = _container_port(port, pod.spec)
    if number is None:
        return None
    workload = snap.workload_of(pod)
    sources = [(pod, pod.spec, "spec")]
    if workload is not None:
        sources.insert(0, (workload, pod_template_spec(workload), "spec.template.spec"))
    for obj, spec, prefix in sources:
        probe = grpc_probes(spec, prefix).get(number)
        if probe is not None:
            field, which = probe
            how = f"gRPC probe on port {number} ({which})"
            return Speaks(speaks=H2, how=how, object=obj, field=field, strong=True)
    if declared is None or not declared.name:
        return None
    speaks = _APP_BY_NAME.get(declared.name.lower().split("-", 1)[0])
    if speaks is None:
        return None
    obj, _, prefix = sources[0]
    return Speaks(
        speaks=speaks,
        how=f"container port named {declared.name}",
        object=obj,
        field=f"{prefix}.containers[{declared.container}].ports[{declared.name}]",
        strong=False,
    )


def _protocol_problem(declared: Declared, app: Speaks) -> str | None:
    """How the sidecars fail when a port's declared protocol is not what
    the app speaks; None when they cope (an opaque TCP port carries
    anything, sniffing detects HTTP/1.1 and HTTP/2)."""
    if declared.speaks == HTTP1 and app.speaks == H2:
        return (
            "the sidecars speak HTTP/1.1 to an app that speaks only HTTP/2 (gRPC); the app "
            "rejects the requests, and clients get 503 (Envoy UPE/UC, 'upstream connect error or "
            "disconnect/reset before headers') or gRPC UNAVAILABLE"
        )
    if declared.speaks == H2 and app.speaks == HTTP1:
        return (
            "the sidecars speak HTTP/2 (prior knowledge) to an app that speaks HTTP/1.1; it "
            "cannot parse the connection preface and closes it: 503 (Envoy UPE/UC)"
        )
    if declared.speaks in (HTTP1, H2) and app.speaks == TLS:
        return (
            "the app serves TLS itself, but the sidecars parse the port as HTTP: the client's TLS "
            "handshake is not HTTP, so the connection is reset (clients see resets or 503)"
        )
    if declared.speaks is None and app.speaks == SERVER_FIRST:
        return (
            "Istio sniffs the first bytes of each connection to detect the protocol, but a "
            "server-first protocol waits for the server to speak first: connections hang until "
            "a timeout (and the callers of this app answer 5xx)"
        )
    return None


@rule(cause="mesh-port-protocol", inputs=("Service", "Pod"))
def mesh_port_protocol(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """A Service port tells Istio another protocol than the app behind it speaks.

    **What it finds**: for a Service whose pods run an Istio sidecar, each
    port whose protocol as Istio selects it contradicts what the container
    behind it shows it speaks. Istio's selection: `appProtocol` when set
    (it wins over the name), else the port `name`, each by its prefix
    before `-` (`http`, `http2`, `https`, `grpc`, `grpc-web`, `tcp`, `tls`,
    `mongo`, `mysql`, `redis`); otherwise TCP on the well-known
    server-first ports 25, 53, 3306 and 27017, and protocol sniffing
    (HTTP/1.1 and HTTP/2 are detected) on the others. What the app
    speaks: a gRPC probe on the port (also one Istio's injector rewrote
    to its agent on port 15020: the sidecar's `ISTIO_KUBE_APP_PROBERS`
    keeps the original), else the container port's name
    (`grpc`, `h2c`, `http2`, `http`, `https`, `tls`, or a server-first
    protocol: `mysql`, `smtp`, `submission`, `ftp`, `pop3`, `imap`). The
    mismatches reported: HTTP/1.1 declared for an HTTP/2-only (gRPC) app;
    HTTP/2 or gRPC declared for an HTTP/1.1 app; HTTP declared for an app
    that serves TLS itself; a server-first protocol left to sniffing. An
    unprefixed name alone is not reported: sniffing handles HTTP.

    **Why it is a 5xx**: the sidecars pick their codec from the declared
    protocol: HTTP/1.1 sent to a gRPC server, HTTP/2 prior knowledge to
    an HTTP/1.1 server, or a TLS handshake parsed as HTTP fail on every
    request (503 with Envoy `UPE` or `UC`); sniffing waits for the client's
    first bytes, which a server-first protocol never sends.

    **Fix**: declare what the app speaks, with `appProtocol` (it takes
    precedence) or the port name prefix: `grpc`, `http`, `https` (TLS the
    sidecar passes through), `tcp` for server-first protocols.

    **Sources**: Istio "Protocol Selection" (explicit selection by name
    `<protocol>[-<suffix>]` or `appProtocol`, "appProtocol takes precedence
    over the port name", automatic detection of HTTP and HTTP/2); Istio
    "Application Requirements" (server-first protocols, ports assumed TCP);
    istio `pkg/config/kube/conversion.go` (`ConvertProtocol`) and
    `pilot/cmd/pilot-agent/status` (`KubeAppProbers`: `httpGet`,
    `tcpSocket`, `grpc`); istioctl analyze IST0118
    (PortNameIsNotUnderNamingConvention).
    """
    meshed = [p for p in target.live_pods if istio_sidecar(p.spec)]
    if not meshed:
        return
    pod = meshed[0]
    raws = list(target.service.spec.get("ports") or ())
    for port in service_ports(target.service):
        if port.protocol != "TCP":
            continue
        declared = istio_protocol(port, raws[port.index])
        app = app_protocol(snap, pod, port)
        problem = _protocol_problem(declared, app) if app else None
        if app is None or problem is None:
            continue
        want = _DECLARE[app.speaks]
        yield Draft(
            subject=target.service.ref,
            title=(
                f"Service {target.name} port {port} tells Istio "
                f"{declared.speaks or 'nothing (sniffing)'} ({declared.how}), but the app speaks "
                f"{app.speaks} ({app.how})"
            ),
            explanation=f"Behind port {port.port} of {target.name}, {problem}.",
            evidence=(
                fact(
                    target.service,
                    declared.field,
                    declared.how,
                    expected=f"appProtocol: {want} (or a name starting {want}-)",
                ),
                fact(app.object, app.field, app.how),
                fact(
                    pod,
                    (
                        f"metadata.annotations[{SIDECAR_STATUS}]"
                        if SIDECAR_STATUS in pod.annotations
                        else "spec.containers[istio-proxy]"
                    ),
                    "Istio sidecar injected",
                ),
            ),
            confirm=(
                kubectl.get_yaml(target.service, "{.spec.ports}"),
                kubectl.get_yaml(app.object),
                kubectl.logs(pod, "istio-proxy") + " --tail=200",
            ),
            fix=Fix(
                summary=f"Declare {want} on port {port}: appProtocol {want} wins over the name.",
                patch=kubectl.json_patch(
                    target.service,
                    [
                        {
                            "op": "add",
                            "path": kubectl.json_pointer(
                                "spec", "ports", str(port.index), "appProtocol"
                            ),
                            "value": want,
                        }
                    ],
                ),
            ),
            confidence=0.85 if app.strong else 0.65,
            severity=None if app.strong else Severity.WARNING,
        )


# --- mesh-destination-missing ----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """One `route[].destination` of a VirtualService route."""

    virtual_service: Obj
    section: str  # http | tcp | tls
    route: int
    index: int
    host: str
    subset: str
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
                yield Destination(
                    virtual_service=vs,
                    section=section,
                    route=r,
                    index=d,
                    host=str(destination.get("host") or ""),
                    subset=str(destination.get("subset") or ""),
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
    for rule_obj in _oldest_first(snap.list("DestinationRule")):
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


def _check(snap: Snapshot, d: Destination) -> Broken | None:
    resolved = _resolve(d.host, d.virtual_service.namespace)
    if resolved is None:
        return None
    name, namespace, exact = resolved
    service = snap.get("Service", namespace, name)
    if service is None:
        return _missing_host(snap, d, name, namespace) if exact else None
    if not d.subset or not snap.has_kind("DestinationRule"):
        return None
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


@rule(cause="mesh-destination-missing", inputs=("Service", "VirtualService"))
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
    - names a `subset` that no DestinationRule for the destination host
      defines (judged when DestinationRules are in the input); or
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

    **Fix**: point the destination at an existing host or subset (the
    patch picks the closest name when there is one), add the subset to
    the DestinationRule, or give the subset labels the pods carry. Apply a
    new subset before the VirtualService that uses it (Istio "Traffic
    Management Best Practices": a VirtualService that names a subset not
    yet known gives 503s).

    **Sources**: Istio VirtualService and DestinationRule references;
    istioctl analyze IST0101 and IST0173 (istio
    `pkg/config/analysis/analyzers/virtualservice/destinationhosts.go` and
    `destinationrules.go`); Envoy access log response flags `NC`, `UH`.
    """
    broken: dict[str, list[Broken]] = {}
    for d in _relevant(snap, target.service):
        found = _check(snap, d)
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
                "Point the destination at a host or subset that exists, or define the subset "
                "(with labels the pods carry) in the DestinationRule before routing to it."
            ),
            patch="\n".join(patches) or None,
        ),
        confidence=0.9,
        severity=None if total else Severity.WARNING,
    )
