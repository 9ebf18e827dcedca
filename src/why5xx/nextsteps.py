"""What to capture next when a report is not certain: the read-only commands
that would confirm its verdict or separate its candidates.

A report is uncertain when its verdict rests on partial evidence (pod
templates standing in for pods, proxy logs alone) or when nothing could be
decided (`unknown`). The commands ask for exactly what the input lacked: the
target's pods, its endpoints, the events, the kinds whose rules were skipped,
the proxy's log lines for it, and the candidates' own confirm commands.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence

from why5xx.kube import selector_string
from why5xx.model import Finding, Report, Skipped
from why5xx.snapshot import Snapshot
from why5xx.views.routes import routed_services

# At most this many commands: a person runs them by hand.
MAX_COMMANDS = 7
# Candidates whose confirm commands are offered.
_CANDIDATES = 3
# Kinds whose absence skipped rules, asked for.
_SKIPPED_KINDS = 2
_OUTPUT = re.compile(r" (-o (wide|yaml|json)|--show-labels)\b")
# The skip reason `engine._run` writes for a kind the input lacks.
_NO_OBJECTS = "no {kind} objects in the input"
_RESOURCES = {
    "NetworkPolicy": "networkpolicies",
    "DestinationRule": "destinationrules",
    "VirtualService": "virtualservices",
    "PeerAuthentication": "peerauthentications",
    "IngressClass": "ingressclasses",
    "Gateway": "gateways.gateway.networking.k8s.io",
    "HTTPRoute": "httproutes",
    "Ingress": "ingresses",
    "Service": "services",
}
_CLUSTER_SCOPED = frozenset({"IngressClass"})


def _ns(namespace: str) -> str:
    return f" -n {shlex.quote(namespace)}" if namespace else ""


def _skipped_kinds(skipped: Iterable[Skipped]) -> list[str]:
    """The kinds whose absence skipped a rule, in the order first named."""
    kinds: dict[str, None] = {}
    for skip in skipped:
        for kind in _RESOURCES:
            if _NO_OBJECTS.format(kind=kind) in skip.reason:
                kinds.setdefault(kind)
    return list(kinds)


def _candidates(findings: Sequence[Finding]) -> list[Finding]:
    """The first finding of each of the first few distinct causes."""
    seen: dict[str, Finding] = {}
    for finding in findings:
        if len(seen) == _CANDIDATES:
            break
        seen.setdefault(finding.cause, finding)
    return list(seen.values())


def _routed(snap: Snapshot, namespace: str, name: str) -> bool:
    """Whether an Ingress of the input sends traffic to the Service."""
    return any(
        (namespace, name) in routed_services(ingress) for ingress in snap.list("Ingress", namespace)
    )


def _controller_log(namespace: str, name: str) -> str:
    """The ingress-nginx controller's lines for the Service: its upstreams
    are named `namespace-service-port`."""
    return (
        "kubectl logs -n ingress-nginx deploy/ingress-nginx-controller --since=1h"
        f" | grep {shlex.quote(f'{namespace}-{name}-')}"
    )


def capture_next(snap: Snapshot, report: Report, *, has_logs: bool = False) -> tuple[str, ...]:
    """The commands, most telling first, each once."""
    target = report.target
    namespace = target.namespace
    commands: list[str] = []
    services: list[tuple[str, str]] = []
    if target.kind == "Service":
        services.append((namespace, target.name))
    else:
        route = snap.get(target.kind, namespace, target.name)
        services += routed_services(route) if route is not None else []
    for ns, name in services:
        service = snap.get("Service", ns, name)
        every_label = f"kubectl get pods{_ns(ns)} --show-labels"  # what a selector could match
        if service is None:
            commands.append(f"kubectl get service{_ns(ns)} {shlex.quote(name)} -o yaml")
            commands.append(every_label)
            continue
        selector = service.spec.get("selector") or {}
        pods_seen = any(p.template_of is None for p in snap.pods_matching(ns, selector))
        if selector and not pods_seen:
            label = shlex.quote(selector_string(selector))
            commands.append(f"kubectl get pods{_ns(ns)} -l {label} -o yaml")
            commands.append(every_label)
        if not snap.endpoint_slices(ns, name) and snap.get("Endpoints", ns, name) is None:
            commands.append(
                f"kubectl get endpointslices{_ns(ns)} "
                f"-l kubernetes.io/service-name={shlex.quote(name)} -o yaml"
            )
    for finding in _candidates(report.findings):
        commands += [c for c in finding.confirm[:2] if c.startswith("kubectl get ")]
    if not snap.has_kind("Event"):
        commands.append(f"kubectl get events{_ns(namespace)} --sort-by=.lastTimestamp")
    for kind in _skipped_kinds(report.skipped)[:_SKIPPED_KINDS]:
        scope = "" if kind in _CLUSTER_SCOPED else _ns(namespace)
        commands.append(f"kubectl get {_RESOURCES[kind]}{scope} -o yaml")
    if not has_logs:
        commands += [
            _controller_log(ns, name) for ns, name in services[:1] if _routed(snap, ns, name)
        ]
    unique: dict[str, str] = {}
    for command in commands:  # the same read in another output format is asked once
        unique.setdefault(_OUTPUT.sub("", command), command)
    return tuple(unique.values())[:MAX_COMMANDS]
