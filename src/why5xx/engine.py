"""Run the rules over a target, isolate failures, rank what they found.

The engine is where a rule's identity is stamped on its drafts, where rules
whose inputs the snapshot lacks are skipped (and reported as skipped, never
silently passed), and where a crashing rule becomes a reported error while
the others still run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from why5xx import logevidence
from why5xx.causes import RANK
from why5xx.logmodel import LogSummary
from why5xx.model import Draft, Evidence, Finding, ObjectRef, Report, Severity, Skipped, Status
from why5xx.rules import RULES
from why5xx.rules.base import Rule, Scope
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.routes import ROUTE_KINDS, routed_services
from why5xx.views.service import ServiceTarget, ready_backends


class TargetNotFound(LookupError):
    """The target object is not in the snapshot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    kind: str  # Service, or one of ROUTE_KINDS
    namespace: str
    name: str

    @staticmethod
    def parse(text: str, namespace: str) -> Target:
        """`checkout`, `service/checkout`, `svc/checkout`, `ingress/storefront`,
        `httproute/storefront`."""
        kind, _, name = text.rpartition("/")
        aliases = {"": "Service", "service": "Service", "svc": "Service", "services": "Service"}
        aliases |= {"ingress": "Ingress", "ing": "Ingress", "ingresses": "Ingress"}
        aliases |= {"httproute": "HTTPRoute", "httproutes": "HTTPRoute"}
        resolved = aliases.get(kind.lower())
        if resolved is None or not name:
            raise ValueError(
                f"cannot diagnose {text!r}: use NAME, service/NAME, ingress/NAME or httproute/NAME"
            )
        return Target(kind=resolved, namespace=namespace, name=name)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(kind=self.kind, namespace=self.namespace, name=self.name)


def diagnose(
    snap: Snapshot, target: Target, rules: Sequence[Rule] = RULES, logs: LogSummary | None = None
) -> Report:
    """`logs`, the proxy logs' 5xx for this target (see `sources.logs.summarize_for`),
    confirm and re-rank what the rules found and add what only the logs show."""
    obj = snap.get(target.kind, target.namespace, target.name)
    if obj is None:
        raise TargetNotFound(_not_found_message(snap, target))
    if target.kind in ROUTE_KINDS:
        report = _diagnose_route(snap, obj, rules)
    else:
        report = _diagnose_service(snap, obj, rules)
    return report if logs is None else logevidence.weigh(report, logs)


def diagnose_all(
    snap: Snapshot, namespace: str | None, rules: Sequence[Rule] = RULES
) -> list[Report]:
    """Every Service of a namespace (or all), worst first."""
    reports = [_diagnose_service(snap, svc, rules) for svc in snap.list("Service", namespace)]
    return sorted(reports, key=_report_order)


def _diagnose_service(snap: Snapshot, service: Obj, rules: Sequence[Rule]) -> Report:
    target = ServiceTarget.build(snap, service)
    findings, skipped = _run(snap, target, service.ref, rules, Scope.SERVICE)
    healthy = _healthy_evidence(target)
    return Report(
        target=service.ref,
        status=_status(findings, bool(healthy), target),
        findings=_rank(findings),
        healthy_evidence=healthy,
        skipped=skipped,
    )


def _diagnose_route(snap: Snapshot, route: Obj, rules: Sequence[Rule]) -> Report:
    """An Ingress or HTTPRoute: its own rules, then each Service it routes to."""
    findings, skipped = _run(snap, route, route.ref, rules, Scope.ROUTE)
    all_findings = list(findings)
    all_skipped = list(skipped)
    healthy: list[Evidence] = []
    backends = [snap.get("Service", ns, name) for ns, name in routed_services(route)]
    reports = [_diagnose_service(snap, svc, rules) for svc in backends if svc is not None]
    for report in reports:
        all_findings.extend(report.findings)
        healthy.extend(report.healthy_evidence)
        all_skipped.extend(s for s in report.skipped if s not in all_skipped)
    statuses = [r.status for r in reports]
    own = _status_of(findings)
    if own is Status.FAILING or not reports:
        status = own or Status.UNKNOWN
    else:
        status = min([*statuses, own or Status.HEALTHY], key=_STATUS_ORDER.index)
    return Report(
        target=route.ref,
        status=status,
        findings=_rank(tuple(all_findings)),
        healthy_evidence=tuple(healthy),
        skipped=tuple(all_skipped),
    )


def _run(
    snap: Snapshot,
    subject: ServiceTarget | Obj,
    ref: ObjectRef,
    rules: Sequence[Rule],
    scope: Scope,
) -> tuple[tuple[Finding, ...], tuple[Skipped, ...]]:
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    for rule in rules:
        if rule.scope is not scope or ref.kind not in rule.subjects:
            continue
        missing = [kind for kind in rule.needs if not snap.has_kind(kind)]
        if missing:
            reasons = [
                snap.unavailable.get(kind, f"no {kind} objects in the input") for kind in missing
            ]
            skipped.append(Skipped(rule=rule.cause, reason="; ".join(reasons)))
            continue
        try:
            drafts = list(rule.check(snap, subject))  # type: ignore[arg-type]
        except Exception as exc:  # a broken rule is reported, the run goes on
            skipped.append(
                Skipped(
                    rule=rule.cause, reason=f"rule crashed on {ref}: {type(exc).__name__}: {exc}"
                )
            )
            continue
        findings.extend(_stamp(rule, draft) for draft in drafts)
    return tuple(findings), tuple(skipped)


def _stamp(rule: Rule, draft: Draft) -> Finding:
    severity = rule.severity
    if draft.severity is not None and draft.severity.weight < severity.weight:
        severity = draft.severity
    return Finding(
        cause=rule.cause,
        http_status=draft.http_status or rule.http_status,
        severity=severity,
        confidence=draft.confidence,
        title=draft.title,
        explanation=draft.explanation,
        evidence=draft.evidence,
        confirm=draft.confirm,
        fix=draft.fix,
        subject=draft.subject,
    )


def _rank(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Worst first; between equals, the cause that explains the others."""
    return tuple(
        sorted(
            findings,
            key=lambda f: (
                -f.severity.weight,
                RANK[f.cause],
                -f.confidence,
                str(f.subject),
                f.title,
            ),
        )
    )


def _healthy_evidence(target: ServiceTarget) -> tuple[Evidence, ...]:
    """Positive evidence that traffic has somewhere to go: ready endpoints, or,
    when the input holds no EndpointSlices (`kubectl get all`), ready pods the
    selector picks (the endpoint controller publishes exactly those)."""
    endpoints = target.endpoints
    if endpoints is None:
        ready = ready_backends(target)
        if not ready:
            return ()
        service = target.service
        return (
            Evidence(
                object=service.ref,
                field="spec.selector",
                observed=(
                    f"{ready} ready of {len(target.live_pods)} selected pods "
                    "(no EndpointSlices in the input)"
                ),
                source=service.source,
            ),
        )
    if not endpoints.ready or not endpoints.ports:
        return ()
    ports = ", ".join(str(p.port) for p in endpoints.ports)
    source = endpoints.objects[0]
    return (
        Evidence(
            object=source.ref,
            field="endpoints",
            observed=f"{len(endpoints.ready)} ready of {len(endpoints.endpoints)} on port {ports}",
            source=source.source,
        ),
    )


def _status_of(findings: Sequence[Finding]) -> Status | None:
    """What the findings alone say: failing on a critical one, degraded on a
    warning, nothing on info-only findings."""
    if any(f.severity is Severity.CRITICAL for f in findings):
        return Status.FAILING
    if any(f.severity is Severity.WARNING for f in findings):
        return Status.DEGRADED
    return None


def _status(findings: Sequence[Finding], has_ready: bool, target: ServiceTarget) -> Status:
    own = _status_of(findings)
    if own is Status.FAILING:
        return own
    if target.endpoints is not None and not target.endpoints.ready and target.selector:
        return Status.FAILING  # zero ready endpoints is a 503 whatever the rules explained
    if own is not None:
        return own
    return Status.HEALTHY if has_ready else Status.UNKNOWN


_STATUS_ORDER = [Status.FAILING, Status.DEGRADED, Status.UNKNOWN, Status.HEALTHY]


def _report_order(report: Report) -> tuple[int, int, str]:
    worst = report.findings[0].severity.weight if report.findings else -1
    return (_STATUS_ORDER.index(report.status), -worst, str(report.target))


def _not_found_message(snap: Snapshot, target: Target) -> str:
    known = [o.name for o in snap.list(target.kind, target.namespace)]
    where = f"namespace {target.namespace!r}" if target.namespace else "the input"
    hint = ""
    if known:
        hint = f"; {target.kind}s there: {', '.join(sorted(known)[:8])}"
    elif not snap.has_kind(target.kind):
        hint = f"; the input holds no {target.kind} objects at all"
    return f"{target.kind.lower()}/{target.name} not found in {where}{hint}"
