"""The diagnosis model: what rules produce and reports render.

Everything here is immutable. The JSON shape of `Report` is the contract
`why5xx/diagnosis/v1` from DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from why5xx.scrub import scrub


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def weight(self) -> int:
        """Larger is worse; used for ranking."""
        return {"critical": 2, "warning": 1, "info": 0}[self.value]


class Status(StrEnum):
    FAILING = "failing"
    DEGRADED = "degraded"
    # A cause was found, but it rests on partial evidence (pod templates in
    # place of pods, proxy logs alone): the report says what to capture next.
    LIKELY = "likely"
    HEALTHY = "healthy"
    UNKNOWN = "unknown"


# Worst first: the order of `--all`, and of a route's backends' statuses.
STATUS_ORDER = (Status.FAILING, Status.DEGRADED, Status.LIKELY, Status.UNKNOWN, Status.HEALTHY)
# Where a finding made from a workload's pod template (not a pod the cluster
# runs) says so: `Evidence.source` starts with this.
TEMPLATE_SOURCE = "from "
TEMPLATE_SOURCE_END = " template"


def template_source(workload: ObjectRef) -> str:
    """`from Deployment/shop/checkout template`: the source of evidence read
    off a workload's pod template."""
    return f"{TEMPLATE_SOURCE}{workload}{TEMPLATE_SOURCE_END}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """A Kubernetes object by kind, namespace and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One fact that supports a finding: an object's field, what it holds and
    (where there is one) what it should hold."""

    object: ObjectRef
    field: str
    observed: str
    expected: str | None = None
    source: str | None = None

    @property
    def from_template(self) -> bool:
        source = self.source or ""
        return source.startswith(TEMPLATE_SOURCE) and source.endswith(TEMPLATE_SOURCE_END)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object": str(self.object),
            "field": self.field,
            "observed": scrub(self.observed),
        }
        if self.expected is not None:
            out["expected"] = scrub(self.expected)
        if self.source is not None:
            out["source"] = self.source
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    summary: str
    patch: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": self.summary}
        if self.patch is not None:
            out["patch"] = self.patch
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """What a rule yields: a finding without the rule's identity.

    The engine turns a draft into a `Finding` by stamping the rule's cause,
    typical HTTP status and default severity, so a rule cannot mislabel
    itself. A rule may lower (never raise) the severity, e.g. when only some
    of the endpoints are affected.
    """

    title: str
    explanation: str
    evidence: tuple[Evidence, ...]
    confirm: tuple[str, ...]
    fix: Fix
    subject: ObjectRef
    confidence: float = 0.9
    severity: Severity | None = None
    http_status: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    cause: str
    http_status: tuple[int, ...]
    severity: Severity
    confidence: float
    title: str
    explanation: str
    evidence: tuple[Evidence, ...]
    confirm: tuple[str, ...]
    fix: Fix
    subject: ObjectRef

    @property
    def from_template(self) -> bool:
        """Whether the finding was read off a pod template (the cluster's pods
        were not in the input)."""
        return any(e.from_template for e in self.evidence)

    def to_json(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "http_status": list(self.http_status),
            "severity": self.severity.value,
            "confidence": round(self.confidence, 2),
            "title": self.title,
            "explanation": self.explanation,
            "evidence": [e.to_json() for e in self.evidence],
            "confirm": list(self.confirm),
            "fix": self.fix.to_json(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """A rule the engine did not run, and why (an input it needs is missing)."""

    rule: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "reason": self.reason}


def iso(time: datetime) -> str:
    """`2026-11-20T08:50:12Z`: whole seconds in UTC, as the API server writes times."""
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Lane(StrEnum):
    """The rows of a report's timeline, top to bottom."""

    ROLLOUT = "rollout"  # Deployment rollouts, ReplicaSet scaling
    PODS = "pods"  # pod starts, restarts, OOM kills, terminations
    PROBES = "probes"  # probe failures
    ENDPOINTS = "endpoints"  # ready / not ready / terminating endpoints
    STATUS = "5xx-status"  # 5xx per status, from proxy logs
    UPSTREAM = "5xx-upstream"  # 5xx per upstream pod, from proxy logs


@dataclass(frozen=True, slots=True, kw_only=True)
class Moment:
    """Something that happened to one object: an event (repeated from `time`
    to `until`, `count` times) or a change a status field records."""

    lane: Lane
    time: datetime
    until: datetime | None
    count: int
    object: ObjectRef
    label: str  # ScalingReplicaSet, OOMKilled, Unhealthy...
    detail: str  # the event's message, or what the field says
    evidence: bool  # the object is in the verdict's evidence

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lane": self.lane.value,
            "time": iso(self.time),
            "object": str(self.object),
            "label": self.label,
            "detail": self.detail,
            "count": self.count,
            "evidence": self.evidence,
        }
        if self.until is not None:
            out["until"] = iso(self.until)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """Counts over time: a step function (`bucket_seconds` None: each value
    holds from its time to the next) or counts per time bucket."""

    lane: Lane
    name: str  # ready | not-ready | terminating | 502 | shop/checkout-6f9c-x2m4q
    points: tuple[tuple[datetime, int], ...]
    bucket_seconds: int | None
    evidence: bool  # the verdict's evidence names it (a status it gives, a pod)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lane": self.lane.value,
            "name": self.name,
            "points": [[iso(time), value] for time, value in self.points],
            "evidence": self.evidence,
        }
        if self.bucket_seconds is not None:
            out["bucket_seconds"] = self.bucket_seconds
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """What happened around the target, for people to see beside the verdict:
    built from the snapshot's events and status fields and the proxy logs."""

    start: datetime
    end: datetime
    now: datetime | None  # the snapshot's time (a bundle's capture); None: logs alone
    moments: tuple[Moment, ...]  # oldest first
    series: tuple[Series, ...]
    # The span of the verdict's 5xx in the logs, when they show it.
    window: tuple[datetime, datetime] | None = None
    omitted: int = 0  # moments before `start`, left out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": iso(self.start),
            "end": iso(self.end),
            "now": iso(self.now) if self.now is not None else None,
            "moments": [m.to_json() for m in self.moments],
            "series": [s.to_json() for s in self.series],
            "omitted": self.omitted,
        }
        if self.window is not None:
            out["window"] = [iso(self.window[0]), iso(self.window[1])]
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Crashed:
    """A rule that raised on a target: a bug of why5xx, reported while the
    other rules still ran. Its cause is neither found nor ruled out."""

    rule: str
    target: ObjectRef
    error: str  # "KeyError: 'spec'"

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "target": str(self.target), "error": self.error}


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """The diagnosis of one target."""

    target: ObjectRef
    status: Status
    findings: tuple[Finding, ...]
    healthy_evidence: tuple[Evidence, ...] = ()
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)
    # Read-only commands that would confirm the verdict or separate the
    # candidates, for a report that is not certain (likely, unknown).
    capture_next: tuple[str, ...] = ()
    # What the report could not see of its target (e.g. the Service itself was
    # not in the input and related objects were diagnosed instead).
    notes: tuple[str, ...] = ()
    # Built on request (`why5xx.timeline.attach`): the shared reports draw it.
    timeline: Timeline | None = None
    crashed: tuple[Crashed, ...] = ()

    @property
    def verdict(self) -> str:
        if self.findings and self.status is not Status.HEALTHY:
            return self.findings[0].cause
        return "healthy" if self.status is Status.HEALTHY else "unknown"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": "why5xx/diagnosis/v1",
            "target": self.target.to_json(),
            "status": self.status.value,
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
        }
        if self.healthy_evidence:
            out["healthy_evidence"] = [e.to_json() for e in self.healthy_evidence]
        if self.skipped:
            out["skipped"] = [s.to_json() for s in self.skipped]
        if self.notes:
            out["notes"] = list(self.notes)
        if self.capture_next:
            out["capture_next"] = list(self.capture_next)
        if self.timeline is not None:
            out["timeline"] = self.timeline.to_json()
        if self.crashed:
            out["crashed"] = [c.to_json() for c in self.crashed]
        return out
