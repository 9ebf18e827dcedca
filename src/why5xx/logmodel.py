"""The log summary model: what `why5xx logs` found, immutable.

Its JSON shape is the contract `why5xx/logs/v1` of DESIGN.md (`files`,
`total_5xx`, `by_status`, `causes`); `services`, `timeline`, `insights`,
`messages`, the files' `recognised`/`recognised_by` and the causes'
`candidates` are additions a reader of v1 may ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from why5xx.model import iso
from why5xx.scrub import scrub

__all__ = ["iso"]  # where log code has always found it
UNCLASSIFIED = "unclassified"


@dataclass(frozen=True, slots=True, kw_only=True)
class PodInfo:
    """The pod behind an upstream address, as the snapshot knows it."""

    namespace: str
    name: str
    state: str  # running | not-ready | terminating | gone
    replicaset: str | None
    revision: str | None  # the ReplicaSet's deployment.kubernetes.io/revision
    current: bool | None  # whether that ReplicaSet is its Deployment's newest
    gone_since: datetime | None  # when it began terminating or was scaled away
    restarts: int
    last_reason: str  # the reason its container last terminated (OOMKilled, Error, ...)
    port_declared: bool | None  # whether a container declares the upstream's port
    ingress_isolated: bool | None  # whether a NetworkPolicy decides what may reach it
    source: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSummary:
    path: str
    format: str  # a format name (the most lines' family in a mixed file), or "unknown"
    lines: int
    unparsed: int
    # Lines recognised, by the format or family that wrote them, most first.
    recognised: tuple[tuple[str, int], ...] = ()
    error: str | None = None  # why reading stopped early, or why nothing was used

    @property
    def usable(self) -> bool:
        return bool(self.recognised)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "format": self.format,
            "lines": self.lines,
            "unparsed": self.unparsed,
            "recognised": sum(n for _, n in self.recognised),
            "recognised_by": dict(self.recognised),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamCount:
    address: str
    count: int
    pod: PodInfo | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"address": self.address, "count": self.count}
        if self.pod is not None:
            out["pod"] = self.pod.ref
            out["pod_state"] = self.pod.state
            if self.pod.revision is not None:
                out["revision"] = self.pod.revision
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CauseSummary:
    """The 5xx lines that point to one cause."""

    cause: str
    count: int
    share: float  # of all 5xx lines
    signal: str  # the most frequent signal
    signals: tuple[tuple[str, int], ...]  # every signal, most frequent first
    by_status: tuple[tuple[int, int], ...]
    upstreams: tuple[UpstreamCount, ...]  # most 5xx first
    first: datetime
    last: datetime
    example: str  # one raw log line
    # For `unclassified`: the causes its lines fit, most likely first (the
    # line alone cannot decide; the cluster state or other logs can).
    candidates: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cause": self.cause,
            "count": self.count,
            "share": round(self.share, 2),
            "signal": self.signal,
            "signals": [{"signal": text, "count": count} for text, count in self.signals],
            "by_status": {str(status): count for status, count in self.by_status},
            "upstreams": [u.to_json() for u in self.upstreams],
            "first": iso(self.first),
            "last": iso(self.last),
            "example": scrub(self.example),
        }
        if self.candidates:
            out["candidates"] = list(self.candidates)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSummary:
    """Alike own messages of a proxy, controller or app server (not
    requests): what they name, and the cause they point to (`cause`, when
    the line alone decides) or the causes they fit, most likely first."""

    family: str  # who wrote them: ingress-nginx-controller, envoy, gunicorn, ...
    cause: str | None
    candidates: tuple[str, ...]  # `cause` first when decided
    signal: str
    count: int
    service: str  # "namespace/name" or a bare Service name, "" when not named
    backend: str  # the proxy's backend name: `[ns-svc-port]`, an Envoy cluster
    upstream: str  # an address or host name
    details: tuple[tuple[str, str], ...]  # flags, reset reason, signal, pod, ...
    first: datetime | None
    last: datetime | None
    example: str
    pod: PodInfo | None = None  # the pod behind the upstream, or named by a prefix

    @property
    def subject(self) -> str:
        """What the messages are about, as a person reads it."""
        details = dict(self.details)
        ingress = details.get("ingress")
        named = (
            self.service
            or self.backend
            or self.upstream
            or (f"Ingress {ingress}" if ingress else details.get("pod", ""))
        )
        return named or "(no backend named)"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "family": self.family,
            "cause": self.cause,
            "candidates": list(self.candidates),
            "signal": self.signal,
            "count": self.count,
            "service": self.service or None,
            "backend": self.backend or None,
            "upstream": self.upstream or None,
            "details": dict(self.details),
            "first": iso(self.first) if self.first else None,
            "last": iso(self.last) if self.last else None,
            "example": self.example,
        }
        if self.pod is not None:
            out["pod"] = self.pod.ref
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEvent:
    """A cluster event placed on the log timeline."""

    time: datetime
    bucket: int
    object: str  # Deployment/shop/checkout
    reason: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "time": iso(self.time),
            "bucket": self.bucket,
            "object": self.object,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """5xx per service in equal time buckets, and the events among them."""

    start: datetime
    bucket_seconds: int
    services: tuple[tuple[str, tuple[int, ...]], ...]  # service -> 5xx per bucket
    events: tuple[TimelineEvent, ...] = ()
    statuses: tuple[tuple[int, tuple[int, ...]], ...] = ()  # status -> 5xx per bucket
    # upstream pod (namespace/name, else the address) -> 5xx per bucket, most first
    upstreams: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "bucket_seconds": self.bucket_seconds,
            "services": {name: list(counts) for name, counts in self.services},
            "statuses": {str(status): list(counts) for status, counts in self.statuses},
            "upstreams": {name: list(counts) for name, counts in self.upstreams},
            "events": [e.to_json() for e in self.events],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSummary:
    files: tuple[FileSummary, ...]
    total_5xx: int
    by_status: tuple[tuple[int, int], ...]
    causes: tuple[CauseSummary, ...]  # most lines first
    services: tuple[tuple[str, int], ...]  # the proxy's backend names, most 5xx first
    timeline: Timeline | None
    insights: tuple[str, ...] = ()  # sentences that join logs and cluster state
    messages: tuple[MessageSummary, ...] = ()  # own messages of proxies and servers, most first

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "why5xx/logs/v1",
            "files": [f.to_json() for f in self.files],
            "total_5xx": self.total_5xx,
            "by_status": {str(status): count for status, count in self.by_status},
            "causes": [c.to_json() for c in self.causes],
            "services": dict(self.services),
            "timeline": self.timeline.to_json() if self.timeline is not None else None,
            "insights": list(self.insights),
            "messages": [m.to_json() for m in self.messages],
        }
