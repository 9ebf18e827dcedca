"""What proxy logs add to a diagnosis: they confirm a rule's finding, rank
findings by how many of the users' 5xx they explain, and name causes the
cluster state alone cannot show (a keep-alive race, a timeout). The own
messages of proxies, controllers and app servers (a controller's `Service
"shop/api" does not have any active Endpoint.`, a gunicorn `WORKER
TIMEOUT`) are evidence too, though no request: they support the findings
whose cause they fit, and name the cause they alone decide.

The engine calls `weigh` with the log summary of the target's own 5xx (the
caller scopes it); rules never see logs.
"""

from __future__ import annotations

from dataclasses import replace

from why5xx.causes import BY_ID, RANK
from why5xx.kubectl import dns_check
from why5xx.logmodel import UNCLASSIFIED, CauseSummary, LogSummary, MessageSummary, iso
from why5xx.model import Evidence, Finding, Fix, ObjectRef, Report, Severity, Status

# A cause must explain at least this share of the target's 5xx to become a
# finding on the logs alone; from this share it is critical.
_MIN_SHARE, _CRITICAL_SHARE = 0.1, 0.5
_MAX_PODS = 3

# Why each cause the logs can name gives a 5xx, and what fixes it.
_WHY: dict[str, tuple[str, str]] = {
    "keepalive-race": (
        "The upstream closed (or reset) a kept-alive connection just as the proxy reused it: "
        "the app's idle keep-alive timeout is shorter than the proxy's, so requests that land "
        "on a connection being closed fail with 502.",
        "Make the app's keep-alive timeout longer than the proxy's upstream keep-alive timeout "
        "(ingress-nginx upstream-keepalive-timeout, default 60 s; Envoy idle_timeout, 1 h).",
    ),
    "upstream-timeout": (
        "The proxy gave up waiting for the upstream: its read (or connect) timeout is shorter "
        "than the time the backend takes to answer.",
        "Raise the proxy's timeout for this backend (nginx.ingress.kubernetes.io/"
        "proxy-read-timeout, Istio VirtualService timeout) or make the backend answer faster.",
    ),
    "rollout-no-prestop": (
        "Pods of the old ReplicaSet stopped serving while the proxy still sent them traffic: "
        "without a preStop drain, the container exits before every proxy has dropped it.",
        "Add a preStop sleep (lifecycle.preStop.sleep.seconds: 10, or exec sleep 10) and keep "
        "terminationGracePeriodSeconds longer than it.",
    ),
    "connection-pool-exhausted": (
        "The proxy refused requests because a connection-pool, queue or circuit-breaker "
        "limit was reached.",
        "Raise the limits (DestinationRule connectionPool, HAProxy maxconn) or add replicas.",
    ),
    "upstream-header-too-big": (
        "The upstream's response headers do not fit the proxy's buffer.",
        "Raise nginx.ingress.kubernetes.io/proxy-buffer-size (default 4k) or send smaller headers.",
    ),
    "external-name-dns": (
        "The proxy found no address for the backend: the name it resolves (an ExternalName "
        "Service's externalName) does not resolve from inside the cluster, so it has no peer to "
        "send the request to.",
        "Point the ExternalName Service at a name that resolves in the cluster (why5xx cannot "
        "resolve names offline). Optional check, which starts a throwaway pod: "
        + dns_check("NAME"),
    ),
    "backend-protocol-mismatch": (
        "The proxy and the upstream do not speak the same protocol (TLS or HTTP version).",
        "Set nginx.ingress.kubernetes.io/backend-protocol (or the port's appProtocol) to what "
        "the app speaks.",
    ),
}


def _support(finding: Finding, logs: LogSummary, by_cause: dict[str, CauseSummary]) -> float:
    """The share of the target's 5xx a finding explains: lines the logs put
    under its cause, plus unclassified lines with a status it produces."""
    share = by_cause[finding.cause].share if finding.cause in by_cause else 0.0
    other = by_cause.get(UNCLASSIFIED)
    if other is not None and logs.total_5xx:
        fitting = sum(n for status, n in other.by_status if status in finding.http_status)
        share += fitting / logs.total_5xx
    return share


def _evidence(target: ObjectRef, cause: CauseSummary, logs: LogSummary) -> list[Evidence]:
    source = "logs:" + ",".join(f.path for f in logs.files)
    statuses = ", ".join(f"{n} x {status}" for status, n in cause.by_status)
    found = [
        Evidence(
            object=target,
            field="proxy logs",
            observed=(
                f"{cause.count} of {logs.total_5xx} 5xx ({statuses}) from {iso(cause.first)} "
                f"to {iso(cause.last)}: {cause.signal}"
            ),
            source=source,
        )
    ]
    for upstream in cause.upstreams[:_MAX_PODS]:
        pod = upstream.pod
        if pod is None:
            continue
        detail = pod.state + (f", revision {pod.revision}" if pod.revision else "")
        found.append(
            Evidence(
                object=ObjectRef(kind="Pod", namespace=pod.namespace, name=pod.name),
                field=f"upstream {upstream.address}",
                observed=f"{upstream.count} 5xx ({detail})",
                source=source,
            )
        )
    return found


def _severity(share: float) -> Severity:
    return Severity.CRITICAL if share >= _CRITICAL_SHARE else Severity.WARNING


def _from_logs(target: ObjectRef, cause: CauseSummary, logs: LogSummary) -> Finding:
    why, fix = _WHY.get(cause.cause, (BY_ID[cause.cause].signal, "See `why5xx explain`."))
    namespace = target.namespace
    return Finding(
        cause=cause.cause,
        http_status=tuple(status for status, _ in cause.by_status),
        severity=_severity(cause.share),
        confidence=round(min(0.95, 0.5 + cause.share / 2), 2),
        title=f"{cause.share:.0%} of {target}'s 5xx in the proxy logs: {cause.signal}",
        explanation=why,
        evidence=tuple(_evidence(target, cause, logs)),
        confirm=(
            f"kubectl get events -n {namespace} --sort-by=.lastTimestamp",
            f"kubectl get endpointslices -n {namespace} "
            f"-l kubernetes.io/service-name={target.name} -o wide",
        ),
        fix=Fix(summary=fix),
        subject=target,
    )


def _said(target: ObjectRef, message: MessageSummary, logs: LogSummary) -> Evidence:
    """A proxy's or server's own message as evidence."""
    details = "; ".join(f"{key} {value}" for key, value in message.details)
    about = message.subject if message.subject != "(no backend named)" else "names no backend"
    return Evidence(
        object=target,
        field=f"{message.family} log",
        observed=f"{message.count} x {message.signal} ({about}"
        + (f"; {details}" if details else "")
        + f"): {message.example}",
        source="logs:" + ",".join(f.path for f in logs.files),
    )


def _from_message(target: ObjectRef, message: MessageSummary, logs: LogSummary) -> Finding:
    """A finding from messages that decide a cause on their own."""
    assert message.cause is not None
    why, fix = _WHY.get(message.cause, (BY_ID[message.cause].signal, "See `why5xx explain`."))
    named = message.subject != "(no backend named)"
    return Finding(
        cause=message.cause,
        http_status=BY_ID[message.cause].http_status,
        severity=Severity.WARNING,
        # A line that names the target decides more than one taken as its own.
        confidence=0.7 if named else 0.5,
        title=f"{message.family} says of {target}: {message.signal}",
        explanation=why,
        evidence=(_said(target, message, logs),),
        confirm=(f"kubectl get events -n {target.namespace} --sort-by=.lastTimestamp",),
        fix=Fix(summary=fix),
        subject=target,
    )


def _with_messages(findings: list[Finding], target: ObjectRef, logs: LogSummary) -> list[Finding]:
    """Findings whose cause messages fit carry them (and rise when a message
    decides that cause); causes messages alone decide are added."""
    out: list[Finding] = []
    for found in findings:
        fitting = [m for m in logs.messages if found.cause in m.candidates]
        if not fitting:
            out.append(found)
            continue
        decided = any(m.cause == found.cause for m in fitting)
        out.append(
            replace(
                found,
                confidence=max(found.confidence, 0.9 if decided else found.confidence),
                evidence=(*found.evidence, *(_said(target, m, logs) for m in fitting[:_MAX_PODS])),
            )
        )
    named = {f.cause for f in out}
    for message in logs.messages:
        if message.cause in BY_ID and message.cause not in named:
            out.append(_from_message(target, message, logs))
            named.add(message.cause)
    return out


def weigh(report: Report, logs: LogSummary) -> Report:
    """The report with the logs' evidence: findings the logs confirm carry it
    and rise, causes only the logs show are added, and findings are ranked
    by how many of the target's 5xx they explain, then as the engine does."""
    if not logs.total_5xx and not logs.messages:
        return report
    by_cause = {c.cause: c for c in logs.causes}
    findings: list[Finding] = []
    for found in report.findings:
        cause = by_cause.get(found.cause)
        findings.append(
            found
            if cause is None
            else replace(
                found,
                # Users' failed requests are what a rule could only foresee.
                severity=max(found.severity, _severity(cause.share), key=lambda s: s.weight),
                confidence=max(found.confidence, min(0.99, 0.7 + cause.share * 0.3)),
                evidence=(*found.evidence, *_evidence(report.target, cause, logs)),
            )
        )
    named = {f.cause for f in findings}
    for cause in logs.causes:
        if cause.cause in BY_ID and cause.cause not in named and cause.share >= _MIN_SHARE:
            findings.append(_from_logs(report.target, cause, logs))
    findings = _with_messages(findings, report.target, logs)
    ranked = sorted(
        findings,
        key=lambda f: (
            -round(_support(f, logs, by_cause), 2),
            -f.severity.weight,
            RANK.get(f.cause, len(RANK)),
            -f.confidence,
        ),
    )
    status = report.status
    if any(f.severity is Severity.CRITICAL for f in ranked):
        status = Status.FAILING  # users' requests fail now, as a warning foresaw or not
    elif ((ranked and logs.total_5xx) or len(ranked) > len(report.findings)) and status in (
        Status.HEALTHY,
        Status.UNKNOWN,
    ):
        status = Status.DEGRADED  # 5xx, or a cause the messages decide
    return replace(report, findings=tuple(ranked), status=status)
