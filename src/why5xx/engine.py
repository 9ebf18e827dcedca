"""Run the rules over a target, isolate failures, rank what they found.

The engine is where a rule's identity is stamped on its drafts, where rules
whose inputs the snapshot lacks are skipped (and reported as skipped, never
silently passed), and where a crashing rule becomes a reported error while
the others still run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from why5xx import logevidence, nextsteps
from why5xx.causes import RANK
from why5xx.kube import plural
from why5xx.kubectl import get_pods
from why5xx.logmodel import LogSummary
from why5xx.model import (
    STATUS_ORDER,
    Crashed,
    Draft,
    Evidence,
    Finding,
    ObjectRef,
    Report,
    Severity,
    Skipped,
    Status,
    template_source,
)
from why5xx.rules import RULES
from why5xx.rules.base import Rule, Scope
from why5xx.snapshot import WORKLOAD_KINDS, Obj, Snapshot, distinct
from why5xx.sources.kinds import ReadPlan
from why5xx.views.frontend import destination_rule, virtual_service_routes
from why5xx.views.pods import pod_template_labels
from why5xx.views.ports import service_ports
from why5xx.views.routes import ROUTE_KINDS, routed_services
from why5xx.views.service import ServiceTarget, aliased_service, ready_backends

# A verdict less sure than this is a candidate, not a certainty: `likely`.
LIKELY_BELOW = 0.5
# A finding read off a pod template (the cluster's pods were not in the
# input) keeps this share of the confidence its rule gave it.
TEMPLATE_CONFIDENCE = 0.75


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


def read_plan(rules: Sequence[Rule] = RULES) -> ReadPlan:
    """What a source must read for these rules to see what they declare:
    handed to the live source, which knows nothing of rules."""
    service = frozenset(
        kind for rule in rules if rule.scope is Scope.SERVICE for kind in rule.kinds
    )
    return ReadPlan(
        service=service, route=service | {kind for rule in rules for kind in rule.kinds}
    )


def diagnose(
    snap: Snapshot, target: Target, rules: Sequence[Rule] = RULES, logs: LogSummary | None = None
) -> Report:
    """`logs`, the proxy logs' 5xx for this target (see `sources.logs.summarize_for`),
    confirm and re-rank what the rules found and add what only the logs show."""
    obj = snap.get(target.kind, target.namespace, target.name)
    if obj is None and target.kind == "Service":
        report = _diagnose_absent_service(snap, target, rules)
    elif obj is None:
        raise TargetNotFound(_not_found_message(snap, target))
    elif target.kind in ROUTE_KINDS:
        report = _diagnose_route(snap, obj, rules)
    else:
        report = _diagnose_service(snap, obj, rules)
    if logs is not None:
        report = logevidence.weigh(report, logs)
    return _settle(snap, report, has_logs=logs is not None)


def diagnose_all(
    snap: Snapshot, namespace: str | None, rules: Sequence[Rule] = RULES
) -> list[Report]:
    """Every Service of a namespace (or all), worst first."""
    reports = [
        _settle(snap, _diagnose_service(snap, svc, rules))
        for svc in snap.list("Service", namespace)
    ]
    return sorted(reports, key=_report_order)


def _settle(snap: Snapshot, report: Report, *, has_logs: bool = False) -> Report:
    """A verdict that rests on partial evidence is `likely`, not certain: read
    off a pod template, about a target the input does not hold (what relates
    to it was diagnosed, and the relation is inferred), or a candidate its
    rule gave less than even odds. A report that is not certain says what to
    capture next."""
    status = report.status
    if status in (Status.FAILING, Status.DEGRADED) and report.findings:
        target = report.target
        top = report.findings[0]
        absent = snap.get(target.kind, target.namespace, target.name) is None
        if top.from_template or absent or top.confidence < LIKELY_BELOW:
            status = Status.LIKELY
    if status not in (Status.LIKELY, Status.UNKNOWN):
        return replace(report, status=status)
    settled = replace(report, status=status)
    return replace(settled, capture_next=nextsteps.capture_next(snap, settled, has_logs=has_logs))


def _diagnose_service(snap: Snapshot, service: Obj, rules: Sequence[Rule]) -> Report:
    target = ServiceTarget.build(snap, service)
    findings, skipped, crashed = _run(snap, target, service.ref, rules, Scope.SERVICE)
    healthy = _healthy_evidence(target)
    aliased = aliased_service(snap, service)
    if not healthy and aliased is not None:  # an ExternalName alias serves what its Service does
        healthy = _healthy_evidence(ServiceTarget.build(snap, aliased))
    return Report(
        target=service.ref,
        status=_status(findings, bool(healthy), target),
        findings=_rank(findings),
        healthy_evidence=healthy,
        skipped=skipped,
        crashed=crashed,
    )


# Labels that name an app: a Service is usually named after one of their values.
_APP_LABELS = (
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "run",
    "app.kubernetes.io/instance",
)
# Words a Service's name adds to its app's name (`checkout-svc` for `checkout`).
_SERVICE_WORDS = frozenset({"svc", "service"})


def _names_app(labels: Mapping[str, str], name: str) -> dict[str, str]:
    """The app-naming labels whose value is `name`."""
    return {key: labels[key] for key in _APP_LABELS if labels.get(key) == name}


def _same_app(service: str, other: str) -> bool:
    """Whether a workload's name (or app label) names the Service's app: the
    same words, but for the ones that say "service" (`neg-demo-svc` and
    `neg-demo-app`, `checkout-service` and `checkout`)."""
    words = [w for w in service.split("-") if w not in _SERVICE_WORDS]
    theirs = other.split("-")
    return bool(words) and theirs[: len(words)] == words and len(theirs) - len(words) <= 1


def _app_selector(labels: Mapping[str, str], name: str, owner: str) -> dict[str, str]:
    """The app-naming labels a Service named `name` would select on a
    workload or pod named `owner` with these labels: those whose value is
    the name, else all of them when the owner's name names the same app."""
    named = _names_app(labels, name)
    if named:
        return named
    if _same_app(name, owner) or any(
        _same_app(name, labels[key]) for key in _APP_LABELS if key in labels
    ):
        return {key: labels[key] for key in _APP_LABELS if key in labels}
    return {}


def _diagnose_absent_service(
    snap: Snapshot, target: Target, rules: Sequence[Rule], *, via: Obj | None = None
) -> Report:
    """A Service the input does not hold, through what relates to it: the
    routes and mesh routes that send to it, its EndpointSlices, and the
    workloads and pods named after it (diagnosed as the Service would select
    them). `via`: the route being diagnosed, whose own rules already ran.
    With nothing related, TargetNotFound."""
    namespace, name = target.namespace, target.name
    routes = [
        route
        for kind in ROUTE_KINDS
        for route in snap.list(kind)
        if (namespace, name) in routed_services(route) and route.ref != (via and via.ref)
    ]
    selector: dict[str, str] = {}
    related: list[Obj] = []
    for kind in (*WORKLOAD_KINDS, "Pod"):
        for obj in snap.list(kind, namespace):
            if kind == "Pod" and (obj.template_of is not None or snap.owner(obj) is not None):
                continue  # its workload speaks for it
            labels = obj.labels if kind == "Pod" else pod_template_labels(obj)
            app = _app_selector(labels, name, obj.name)
            if app:
                related.append(obj)
                selector = selector or app
    endpoints = [
        *snap.endpoint_slices(namespace, name),
        *filter(None, [snap.get("Endpoints", namespace, name)]),
    ]
    service = _implied_service(target, selector, endpoints, [*routes, *related, *endpoints])
    meshed = distinct(
        [
            *(route.virtual_service for route in virtual_service_routes(snap, service)),
            destination_rule(snap, service),
        ]
    )
    if not (via or routes or related or endpoints or meshed):
        raise TargetNotFound(_not_found_message(snap, target))
    report = _diagnose_service(snap, service, rules)
    findings = list(report.findings)
    skipped = list(report.skipped)
    crashed = list(report.crashed)
    for route in routes:
        found, route_skipped, route_crashed = _run(snap, route, route.ref, rules, Scope.ROUTE)
        findings += found
        skipped += [s for s in route_skipped if s not in skipped]
        crashed += route_crashed
    relating = distinct([via, *routes, *meshed, *related, *endpoints])
    seen = ", ".join(str(o.ref) for o in relating[:6])
    note = f"Service {namespace}/{name} was not in the input: diagnosed what relates to it ({seen})"
    own = _status_of(findings)
    return replace(
        report,
        findings=_rank(findings),
        skipped=tuple(skipped),
        crashed=tuple(crashed),
        status=own or (report.status if report.status is Status.FAILING else Status.UNKNOWN),
        notes=(note,),
    )


def _implied_service(
    target: Target, selector: Mapping[str, str], endpoints: Sequence[Obj], related: Sequence[Obj]
) -> Obj:
    """The Service as what relates to it implies it: the selector of the
    workloads named after it, the ports of its endpoints. Never put in the
    snapshot; its evidence says it was not in the input."""
    ports: dict[int, dict[str, object]] = {}
    for eps in endpoints:
        for subset in [eps.raw, *(eps.raw.get("subsets") or ())]:
            for port in subset.get("ports") or ():
                if isinstance(port.get("port"), int):
                    entry: dict[str, object] = {"port": port["port"], "targetPort": port["port"]}
                    if port.get("name"):
                        entry["name"] = port["name"]
                    ports[port["port"]] = entry
    spec: dict[str, object] = {"selector": dict(selector)} if selector else {}
    if ports:
        spec["ports"] = list(ports.values())
    raw = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": target.name, "namespace": target.namespace},
        "spec": spec,
    }
    implied_by = related[0].ref if related else target.ref
    return Obj.from_raw(raw, f"not in the input (implied by {implied_by})")


def _diagnose_route(snap: Snapshot, route: Obj, rules: Sequence[Rule]) -> Report:
    """An Ingress or HTTPRoute: its own rules, then each Service it routes to."""
    findings, skipped, crashed = _run(snap, route, route.ref, rules, Scope.ROUTE)
    all_findings = list(findings)
    all_skipped = list(skipped)
    all_crashed = list(crashed)
    healthy: list[Evidence] = []
    reports: list[Report] = []
    for namespace, name in routed_services(route):
        service = snap.get("Service", namespace, name)
        if service is not None:
            reports.append(_diagnose_service(snap, service, rules))
        elif not snap.listed_in_full("Service", namespace):  # not proven missing
            absent = Target(kind="Service", namespace=namespace, name=name)
            reports.append(_diagnose_absent_service(snap, absent, rules, via=route))
    for report in reports:
        all_findings.extend(report.findings)
        healthy.extend(report.healthy_evidence)
        all_skipped.extend(s for s in report.skipped if s not in all_skipped)
        all_crashed.extend(report.crashed)
    statuses = [r.status for r in reports]
    own = _status_of(findings)
    if own is Status.FAILING or not reports:
        status = own or Status.UNKNOWN
    else:
        status = min([*statuses, own or Status.HEALTHY], key=STATUS_ORDER.index)
    return Report(
        target=route.ref,
        status=status,
        findings=_rank(tuple(all_findings)),
        healthy_evidence=tuple(healthy),
        skipped=tuple(all_skipped),
        crashed=tuple(all_crashed),
        notes=tuple(note for report in reports for note in report.notes),
    )


def _run(
    snap: Snapshot,
    subject: ServiceTarget | Obj,
    ref: ObjectRef,
    rules: Sequence[Rule],
    scope: Scope,
) -> tuple[tuple[Finding, ...], tuple[Skipped, ...], tuple[Crashed, ...]]:
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    crashed: list[Crashed] = []
    for rule in rules:
        if rule.scope is not scope or ref.kind not in rule.subjects:
            continue
        # The subject itself is there (a Service not in the input stands in
        # as what relates to it implies).
        missing = [k for k in rule.needs if k != ref.kind and not snap.has_kind(k)]
        if missing:
            reasons = [
                snap.unavailable.get(kind, f"no {kind} objects in the input") for kind in missing
            ]
            skipped.append(Skipped(rule=rule.cause, reason="; ".join(reasons)))
            continue
        try:
            drafts = list(rule.check(snap, subject))  # type: ignore[arg-type]
        except Exception as exc:  # a broken rule is reported, the run goes on
            crashed.append(
                Crashed(rule=rule.cause, target=ref, error=f"{type(exc).__name__}: {exc}")
            )
            continue
        findings.extend(_from_templates(snap, _stamp(rule, draft)) for draft in drafts)
    return tuple(findings), tuple(skipped), tuple(crashed)


def _from_templates(snap: Snapshot, finding: Finding) -> Finding:
    """A finding about pods that stand in for a workload's template (the input
    held no pod of it) names the template, not an invented pod: its evidence
    says `from Deployment/shop/checkout template`, its commands ask for the
    real pods, and it carries less confidence."""
    stand_ins = _stand_ins(snap)
    if not stand_ins:
        return finding
    refs = (finding.subject, *(e.object for e in finding.evidence))
    text = " ".join((finding.title, *finding.confirm))
    involved = {
        workload: pod
        for workload, pod in stand_ins.items()
        if pod.ref in refs or workload in refs or pod.name in text
    }
    if not involved:
        return finding
    by_pod = {pod.ref: pod for pod in involved.values()}
    evidence = tuple(_template_evidence(e, by_pod, involved) for e in finding.evidence)
    names = [pod.name for pod in involved.values()]
    confirm = [c for c in finding.confirm if not any(name in c for name in names)]
    for workload, pod in involved.items():
        confirm.insert(0, get_pods(workload.namespace, pod.labels, wide=True))
    subject = by_pod.get(finding.subject)
    title = finding.title
    for workload, pod in involved.items():
        title = title.replace(pod.name, f"{workload.kind} {workload.name} (template)")
    return replace(
        finding,
        title=title,
        subject=subject.template_of if subject and subject.template_of else finding.subject,
        evidence=evidence,
        confirm=tuple(dict.fromkeys(confirm)),
        confidence=round(finding.confidence * TEMPLATE_CONFIDENCE, 2),
    )


def _stand_ins(snap: Snapshot) -> dict[ObjectRef, Obj]:
    """The pods that stand in for a workload's template, by workload."""
    return snap.derived(
        "stand_ins",
        lambda: {pod.template_of: pod for pod in snap.list("Pod") if pod.template_of is not None},
    )


def _template_evidence(
    evidence: Evidence, by_pod: Mapping[ObjectRef, Obj], workloads: Mapping[ObjectRef, Obj]
) -> Evidence:
    """Evidence about a stand-in pod, as the field of its workload's template;
    evidence read off that template directly says so too."""
    pod = by_pod.get(evidence.object)
    if pod is not None and pod.template_of is not None:
        field = evidence.field
        if field.startswith(("spec.", "metadata.")):
            field = f"spec.template.{field}"
        workload = pod.template_of
        return replace(evidence, object=workload, field=field, source=template_source(workload))
    if evidence.object in workloads and evidence.field.startswith("spec.template"):
        return replace(evidence, source=template_source(evidence.object))
    return evidence


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
    # Proxies pair an endpoint port with the Service port of the same name
    # (both unnamed on a one-port Service): endpoints written by hand under
    # other port names serve none of the Service's ports.
    names = {p.name for p in endpoints.ports}
    wanted = service_ports(target.service)
    if wanted and not any(p.name in names for p in wanted):
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


def _report_order(report: Report) -> tuple[int, int, str]:
    worst = report.findings[0].severity.weight if report.findings else -1
    return (STATUS_ORDER.index(report.status), -worst, str(report.target))


def _not_found_message(snap: Snapshot, target: Target) -> str:
    """Where the target is not, and what the input holds instead: the objects
    of its kind in that namespace, else in the others, and the namespaces."""
    where = f"namespace {target.namespace!r}" if target.namespace else "the input"
    there = sorted(o.name for o in snap.list(target.kind, target.namespace))
    elsewhere = sorted(f"{o.namespace}/{o.name}" for o in snap.list(target.kind))
    if there:
        hint = f"; {plural(target.kind)} there: {_some(there)}"
    elif elsewhere:
        hint = f"; {plural(target.kind)} in the input: {_some(elsewhere)}"
    else:
        hint = f"; the input holds no {target.kind} objects at all"
    namespaces = snap.namespaces()
    if not there and namespaces:
        hint += f"; namespaces in the input: {_some(list(namespaces))}"
    return f"{target.kind.lower()}/{target.name} not found in {where}{hint}"


def holdings(snap: Snapshot) -> str:
    """What the input holds, for a user whose target is not in it: its
    Services and its namespaces."""
    services = sorted(f"{o.namespace}/{o.name}" for o in snap.list("Service"))
    if not services:
        return "the input holds no Service objects at all"
    return f"Services in the input: {_some(services)}; namespaces: {_some(list(snap.namespaces()))}"


def _some(names: Sequence[str], most: int = 8) -> str:
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")
