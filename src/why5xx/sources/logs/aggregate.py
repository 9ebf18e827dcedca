"""Fold parsed records into counts, correlate access with error lines, and
summarise.

Memory is bounded by what varies, not by the number of lines: 5xx access
lines are counted per (second, service, upstream, status, signal), error
lines per (second, upstream, signal), and one example line is kept per
signal. A burst of ten thousand identical 502s in one second is one counter.

Correlation: nginx writes why a try failed to the error log, and the
request's outcome to the access log, with no shared id. An access line and
an error line are the same failure when they name the same upstream within
a couple of seconds and the error gives the status the client got; when
the access line names no upstream (nginx's `combined`/`main`), when they
name the same client and request line instead. The error log's times carry
no zone; they are read in the zone of the access lines of the same run (the
same nginx wrote both).

Own messages of proxies, controllers and app servers (`Notice`s) are
counted apart, per what they say and name: they are evidence, not requests.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from why5xx.logmodel import (
    UNCLASSIFIED,
    CauseSummary,
    FileSummary,
    LogSummary,
    MessageSummary,
    PodInfo,
    Timeline,
    TimelineEvent,
    UpstreamCount,
)
from why5xx.sources.logs.classify import candidates, refine, settle, worker_fault
from why5xx.sources.logs.record import Access, Notice, Record, Symptom

# An error line belongs to an access line logged up to this many seconds
# after it (the access line is written when the request ends, the error when
# the try fails) or one second before; the wider window is for requests that
# retried through several timeouts, used only when the narrow one finds none.
_WINDOWS = ((3, 1), (30, 1))
_MAX_UPSTREAMS = 10
# Bucket sizes a person reads easily; the smallest that gives at most
# _MAX_BUCKETS, else whole days.
_BUCKET_SIZES = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
_MAX_BUCKETS = 60
_DAY = 86400

Resolve = Callable[[str], PodInfo | None]
_K = TypeVar("_K")
Classified = tuple["Group", PodInfo | None, str]  # a group, its pod, its cause
Explain = Callable[[Sequence[Classified]], tuple[str, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """5xx lines alike in all that the summary reports, after correlation."""

    second: int  # Unix time
    service: str
    upstream: str
    status: int
    symptom: Symptom
    signal: str
    count: int
    example: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageGroup:
    """Alike own messages of a proxy, controller or app server."""

    family: str
    symptom: Symptom
    signal: str
    service: str
    backend: str
    upstream: str
    pod: str  # the pod a collector's prefix named, or ""
    details: tuple[tuple[str, str], ...]  # those of the first line
    count: int
    first: datetime | None
    last: datetime | None
    example: str


_AccessKey = tuple[int, str, str, int, Symptom, str, bool, tuple[str, str]]
_ErrorKey = tuple[Symptom, str, int, str]  # symptom, signal, status, route (host + path)
_MessageKey = tuple[str, Symptom, str, str, str, str, str]


@dataclass(slots=True)
class _Seen:
    """What the aggregator keeps of a kind of message (mutable: it counts)."""

    count: int
    first: datetime | None
    last: datetime | None
    example: str
    details: tuple[tuple[str, str], ...]

    def add(self, other: _Seen) -> None:
        self.count += other.count
        times = [t for t in (self.first, other.first, self.last, other.last) if t is not None]
        self.first, self.last = min(times, default=None), max(times, default=None)


class Aggregator:
    """Streaming state of one run over many files (mutable by design: it is
    the accumulator; what it produces is immutable)."""

    def __init__(self) -> None:
        self._access: Counter[_AccessKey] = Counter()
        self._errors: defaultdict[tuple[int, str], Counter[_ErrorKey]] = defaultdict(Counter)
        # One raw line per (symptom, signal, upstream) an access line showed,
        # and per (symptom, signal) of error lines: bounded by what varies.
        self._examples: dict[tuple[Symptom, str, str], str] = {}
        self._error_examples: dict[tuple[Symptom, str], str] = {}
        self._offsets: Counter[int] = Counter()
        # Error lines by (client, request line), for access lines without upstream.
        self._requests: defaultdict[tuple[int, str, str], Counter[_ErrorKey]] = defaultdict(Counter)
        self._messages: dict[_MessageKey, _Seen] = {}

    def _message(self, notice: Notice) -> None:
        pod = next((value for key, value in notice.details if key == "pod"), "")
        key = (
            notice.family,
            notice.symptom,
            notice.signal,
            notice.service,
            notice.backend,
            notice.upstream,
            pod,
        )
        seen = _Seen(1, notice.time, notice.time, notice.line, notice.details)
        if key in self._messages:
            self._messages[key].add(seen)
        else:
            self._messages[key] = seen

    def add(self, record: Record) -> None:
        if isinstance(record, Notice):
            self._message(record)
        elif isinstance(record, Access):
            if not 500 <= record.status <= 599:
                return  # a pre-filter false positive: a 5xx-looking field elsewhere
            offset = record.time.utcoffset()
            self._offsets[int(offset.total_seconds()) if offset else 0] += 1
            key = (
                int(record.time.timestamp()),
                record.service,
                record.upstream,
                record.status,
                record.symptom,
                record.signal,
                record.refinable,
                (record.client, record.request),
            )
            self._access[key] += 1
            self._examples.setdefault((record.symptom, record.signal, record.upstream), record.line)
        else:
            local = calendar.timegm(record.time.timetuple())
            route = record.host + _path(record.request) if record.host else ""
            meaning = (record.symptom, record.signal, record.status, route)
            self._errors[(local, record.upstream)][meaning] += 1
            if record.client and record.request:
                self._requests[(local, record.client, record.request)][meaning] += 1
            self._error_examples.setdefault((record.symptom, record.signal), record.line)

    def merge(self, other: Aggregator) -> None:
        """Add what another aggregator (of another part of the input) counted."""
        self._access.update(other._access)
        for moment, counts in other._errors.items():
            self._errors[moment].update(counts)
        for example, line in other._examples.items():
            self._examples.setdefault(example, line)
        for signal, line in other._error_examples.items():
            self._error_examples.setdefault(signal, line)
        self._offsets.update(other._offsets)
        for request, counts in other._requests.items():
            self._requests[request].update(counts)
        for message, seen in other._messages.items():
            if message in self._messages:
                self._messages[message].add(seen)
            else:
                self._messages[message] = seen

    def messages(self) -> list[MessageGroup]:
        """The own messages of proxies and servers, alike ones counted once."""
        return [
            MessageGroup(
                family=family,
                symptom=symptom,
                signal=signal,
                service=service,
                backend=backend,
                upstream=upstream,
                pod=pod,
                details=seen.details,
                count=seen.count,
                first=seen.first,
                last=seen.last,
                example=seen.example,
            )
            for (family, symptom, signal, service, backend, upstream, pod), seen in (
                self._messages.items()
            )
        ]

    def groups(self) -> list[Group]:
        """Every 5xx, correlated. Without any access line (only error logs
        were given), the error lines that give a client a 5xx stand for the
        requests, named by their host and path."""
        offset = self._offsets.most_common(1)[0][0] if self._offsets else 0
        errors: defaultdict[str, dict[int, Counter[_ErrorKey]]] = defaultdict(dict)
        for (local, upstream), counts in self._errors.items():
            errors[upstream][local - offset] = counts
        if not self._access:
            return [
                Group(
                    second=second,
                    service=route,
                    upstream=upstream,
                    status=status,
                    symptom=symptom,
                    signal=signal,
                    count=count,
                    example=self._error_examples[(symptom, signal)],
                )
                for upstream, by_second in errors.items()
                for second, counts in by_second.items()
                for (symptom, signal, status, route), count in counts.items()
                if status
            ]
        out: list[Group] = []
        by_request: defaultdict[tuple[str, str], dict[int, Counter[_ErrorKey]]] = defaultdict(dict)
        for (local, client, request), counts in self._requests.items():
            by_request[(client, request)][local - offset] = counts
        for key, count in self._access.items():
            second, service, upstream, status, symptom, signal, refinable, pair = key
            own = self._examples[(symptom, signal, upstream)]
            if refinable:
                found = _error_for(by_request.get(pair), second, status) if pair[0] else None
                if found is None:
                    found = _error_for(errors.get(upstream), second, status)
                if found is not None:
                    symptom, signal = found
            out.append(
                Group(
                    second=second,
                    service=service,
                    upstream=upstream,
                    status=status,
                    symptom=symptom,
                    signal=signal,
                    count=count,
                    example=own,
                )
            )
        return out


def _error_for(
    by_second: dict[int, Counter[_ErrorKey]] | None, second: int, status: int
) -> tuple[Symptom, str] | None:
    """The most frequent error about the upstream near `second` that gives `status`."""
    if not by_second:
        return None
    for before, after in _WINDOWS:
        near: Counter[tuple[Symptom, str]] = Counter()
        for moment in range(second - before, second + after + 1):
            for (symptom, signal, error_status, _), count in by_second.get(moment, {}).items():
                if error_status == status:
                    near[(symptom, signal)] += count
        if near:
            return near.most_common(1)[0][0]
    return None


def _path(request: str) -> str:
    """`GET /api/v1/cart?x=1 HTTP/1.1` -> `/api/v1/cart`."""
    parts = request.split(" ")
    return parts[1].split("?", 1)[0] if len(parts) >= 2 else ""


def _bucket_size(span: int) -> int:
    for size in _BUCKET_SIZES:
        if span // size < _MAX_BUCKETS:
            return size
    return (span // (_MAX_BUCKETS * _DAY) + 1) * _DAY


def _by_total(series: dict[_K, list[int]]) -> tuple[tuple[_K, tuple[int, ...]], ...]:
    return tuple(sorted(((name, tuple(v)) for name, v in series.items()), key=lambda s: -sum(s[1])))


def _timeline(
    groups: Sequence[Group],
    events: Iterable[TimelineEvent],
    pods: Mapping[str, PodInfo | None],
) -> Timeline | None:
    if not groups:
        return None
    first = min(g.second for g in groups)
    size = _bucket_size(max(g.second for g in groups) - first)
    start = first - first % size
    width = (max(g.second for g in groups) - start) // size + 1
    series: defaultdict[str, list[int]] = defaultdict(lambda: [0] * width)
    statuses: defaultdict[int, list[int]] = defaultdict(lambda: [0] * width)
    upstreams: defaultdict[str, list[int]] = defaultdict(lambda: [0] * width)
    for group in groups:
        bucket = (group.second - start) // size
        series[group.service or "-"][bucket] += group.count
        statuses[group.status][bucket] += group.count
        if group.upstream:
            pod = pods.get(group.upstream)
            upstreams[pod.ref if pod is not None else group.upstream][bucket] += group.count
    placed = tuple(
        TimelineEvent(
            time=e.time,
            bucket=int((e.time.timestamp() - start) // size),
            object=e.object,
            reason=e.reason,
            message=e.message,
        )
        for e in events
        if 0 <= e.time.timestamp() - start < width * size
    )
    return Timeline(
        start=datetime.fromtimestamp(start, UTC),
        bucket_seconds=size,
        services=_by_total(series),
        events=tuple(sorted(placed, key=lambda e: e.time)),
        statuses=tuple(sorted((status, tuple(v)) for status, v in statuses.items())),
        upstreams=_by_total(upstreams)[:_MAX_UPSTREAMS],
    )


def _fits(members: Sequence[tuple[Group, PodInfo | None]]) -> tuple[str, ...]:
    """The causes unclassified 5xx fit, ranked by how many lines fit each."""
    votes: Counter[str] = Counter()
    for group, _ in members:
        ranked = candidates(group.symptom, status=group.status)
        for place, cause in enumerate(ranked):
            votes[cause] += group.count * (len(ranked) - place)
    return tuple(cause for cause, _ in votes.most_common())


def _cause_summary(
    cause: str, members: Sequence[tuple[Group, PodInfo | None]], total: int
) -> CauseSummary:
    count = sum(g.count for g, _ in members)
    signals: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    upstreams: Counter[str] = Counter()
    pods: dict[str, PodInfo | None] = {}
    for group, pod in members:
        signals[group.signal] += group.count
        statuses[group.status] += group.count
        if group.upstream:
            upstreams[group.upstream] += group.count
            pods[group.upstream] = pod
    top = signals.most_common(1)[0][0]
    example = next(g.example for g, _ in members if g.signal == top)
    return CauseSummary(
        cause=cause,
        count=count,
        share=count / total,
        signal=top,
        signals=tuple(signals.most_common()),
        by_status=tuple(sorted(statuses.items())),
        upstreams=tuple(
            UpstreamCount(address=address, count=n, pod=pods.get(address))
            for address, n in upstreams.most_common(_MAX_UPSTREAMS)
        ),
        first=datetime.fromtimestamp(min(g.second for g, _ in members), UTC),
        last=datetime.fromtimestamp(max(g.second for g, _ in members), UTC),
        example=example,
        candidates=_fits(members) if cause == UNCLASSIFIED else (),
    )


def _message_summary(
    group: MessageGroup, resolve: Resolve | None, worker: str | None
) -> MessageSummary:
    """A kind of message with its cause, decided (the line alone, or the pod
    behind its upstream, decides) or as ranked candidates."""
    pod = resolve(group.upstream) if resolve is not None and group.upstream else None
    decided = settle(group.symptom, refine(group.symptom, pod, group.last), group.count, worker)
    details = group.details
    if group.pod and all(key != "pod" for key, _ in details):
        details = (*details, ("pod", group.pod))
    status = dict(details).get("status", "")
    return MessageSummary(
        family=group.family,
        cause=None if decided == UNCLASSIFIED else decided,
        candidates=candidates(group.symptom, decided, int(status) if status.isdigit() else 0),
        signal=group.signal,
        count=group.count,
        service=group.service,
        backend=group.backend,
        upstream=group.upstream,
        details=details,
        first=group.first,
        last=group.last,
        example=group.example,
        pod=pod,
    )


def summarize(
    groups: Sequence[Group],
    files: Sequence[FileSummary],
    *,
    messages: Sequence[MessageGroup] = (),
    resolve: Resolve | None = None,
    events: Iterable[TimelineEvent] = (),
    insights: Explain | None = None,
) -> LogSummary:
    """The summary of correlated groups; `resolve` maps upstream addresses
    to pods (from a snapshot) and lets the pod decide ambiguous causes."""
    total = sum(g.count for g in groups)
    pods: dict[str, PodInfo | None] = {}
    worker = worker_fault({m.symptom for m in messages})
    decided: list[tuple[Group, PodInfo | None, str]] = []
    for group in groups:
        if resolve is not None and group.upstream and group.upstream not in pods:
            pods[group.upstream] = resolve(group.upstream)
        pod = pods.get(group.upstream)
        when = datetime.fromtimestamp(group.second, UTC)
        decided.append((group, pod, refine(group.symptom, pod, when)))
    races = sum(g.count for g, _, cause in decided if cause == "keepalive-race")
    classified: list[Classified] = [
        (group, pod, settle(group.symptom, cause, races, worker)) for group, pod, cause in decided
    ]
    by_cause: defaultdict[str, list[tuple[Group, PodInfo | None]]] = defaultdict(list)
    statuses: Counter[int] = Counter()
    services: Counter[str] = Counter()
    for group, pod, cause in classified:
        by_cause[cause].append((group, pod))
        statuses[group.status] += group.count
        services[group.service or "-"] += group.count
    causes = sorted(
        (_cause_summary(cause, members, total) for cause, members in by_cause.items()),
        key=lambda c: (-c.count, c.cause),
    )
    return LogSummary(
        files=tuple(files),
        total_5xx=total,
        by_status=tuple(sorted(statuses.items())),
        causes=tuple(causes),
        services=tuple(services.most_common()),
        timeline=_timeline(groups, events, pods),
        insights=insights(classified) if insights is not None else (),
        messages=tuple(
            sorted(
                (_message_summary(group, resolve, worker) for group in messages),
                key=lambda m: (-m.count, m.family, m.signal, m.subject),
            )
        ),
    )
