"""Fold parsed records into counts, correlate access with error lines, and
summarise.

Memory is bounded by what varies, not by the number of lines: 5xx access
lines are counted per (second, service, upstream, status, signal), error
lines per (second, upstream, signal), and one example line is kept per
signal. A burst of ten thousand identical 502s in one second is one counter.

Correlation: nginx writes why a try failed to the error log, and the
request's outcome to the access log, with no shared id. An access line and
an error line are the same failure when they name the same upstream within
a couple of seconds and the error gives the status the client got. The
error log's times carry no zone; they are read in the zone of the access
lines of the same run (the same nginx wrote both).
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from why5xx.logmodel import (
    CauseSummary,
    FileSummary,
    LogSummary,
    PodInfo,
    Timeline,
    TimelineEvent,
    UpstreamCount,
)
from why5xx.sources.logs.classify import refine
from why5xx.sources.logs.record import Access, Record, Symptom

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


_AccessKey = tuple[int, str, str, int, Symptom, str, bool]
_ErrorKey = tuple[Symptom, str, int]


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

    def add(self, record: Record) -> None:
        if isinstance(record, Access):
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
            )
            self._access[key] += 1
            self._examples.setdefault((record.symptom, record.signal, record.upstream), record.line)
        else:
            local = calendar.timegm(record.time.timetuple())
            self._errors[(local, record.upstream)][
                (record.symptom, record.signal, record.status)
            ] += 1
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

    def groups(self) -> list[Group]:
        """Every 5xx, correlated. Without any access line (only error logs
        were given), the error lines that give a client a 5xx stand for the
        requests."""
        offset = self._offsets.most_common(1)[0][0] if self._offsets else 0
        errors: defaultdict[str, dict[int, Counter[_ErrorKey]]] = defaultdict(dict)
        for (local, upstream), counts in self._errors.items():
            errors[upstream][local - offset] = counts
        if not self._access:
            return [
                Group(
                    second=second,
                    service="",
                    upstream=upstream,
                    status=status,
                    symptom=symptom,
                    signal=signal,
                    count=count,
                    example=self._error_examples[(symptom, signal)],
                )
                for upstream, by_second in errors.items()
                for second, counts in by_second.items()
                for (symptom, signal, status), count in counts.items()
                if status
            ]
        out: list[Group] = []
        for key, count in self._access.items():
            second, service, upstream, status, symptom, signal, refinable = key
            own = self._examples[(symptom, signal, upstream)]
            if refinable:
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
            for (symptom, signal, error_status), count in by_second.get(moment, {}).items():
                if error_status == status:
                    near[(symptom, signal)] += count
        if near:
            return near.most_common(1)[0][0]
    return None


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
    )


def summarize(
    groups: Sequence[Group],
    files: Sequence[FileSummary],
    *,
    resolve: Resolve | None = None,
    events: Iterable[TimelineEvent] = (),
    insights: Explain | None = None,
) -> LogSummary:
    """The summary of correlated groups; `resolve` maps upstream addresses
    to pods (from a snapshot) and lets the pod decide ambiguous causes."""
    total = sum(g.count for g in groups)
    pods: dict[str, PodInfo | None] = {}
    classified: list[Classified] = []
    for group in groups:
        if resolve is not None and group.upstream and group.upstream not in pods:
            pods[group.upstream] = resolve(group.upstream)
        pod = pods.get(group.upstream)
        when = datetime.fromtimestamp(group.second, UTC)
        classified.append((group, pod, refine(group.symptom, pod, when)))
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
    )
