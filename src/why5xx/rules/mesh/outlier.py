"""outlier-ejected: an Istio DestinationRule's outlier detection that can
eject every host of a Service (or enough that the rest cannot carry it)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.frontend import (
    destination_rule,
    duration_seconds,
    traffic_policy,
)
from why5xx.views.ports import service_ports
from why5xx.views.service import ServiceTarget, ready_backends

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
