"""Proxy logs: parse, pre-filter and summarise the 5xx of many formats.

One module per format; each declares a `LogFormat` (its kinds of line, their
byte-level pre-filters and parsers). `read_logs` streams files through them
into an `Aggregator`; `aggregate.summarize` turns that into a `LogSummary`.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import stat
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import BinaryIO

from why5xx.logmodel import FileSummary, LogSummary
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources.logs import prefix
from why5xx.sources.logs.aggregate import Aggregator, summarize
from why5xx.sources.logs.alb import ALB
from why5xx.sources.logs.appserver import GUNICORN, NGINX_UNIT, TLS_SERVER, UWSGI
from why5xx.sources.logs.cluster import (
    explain,
    mentions,
    pod_resolver,
    serves,
    target_services,
    timeline_events,
)
from why5xx.sources.logs.envoy import (
    ENVOY,
    ENVOY_BARE_ACCESS,
    ENVOY_JSON,
    ENVOY_MESSAGES,
    ENVOY_REPLY,
)
from why5xx.sources.logs.haproxy import HAPROXY, HAPROXY_MESSAGES
from why5xx.sources.logs.ingress_controller import INGRESS_NGINX_CONTROLLER, NGINX_INC_CONTROLLER
from why5xx.sources.logs.ingress_nginx import (
    INGRESS_NGINX,
    INGRESS_NGINX_BARE_ACCESS,
    NGINX_ERROR,
    NGINX_JSON,
)
from why5xx.sources.logs.linkerd import LINKERD_PROXY
from why5xx.sources.logs.mixed import recogniser
from why5xx.sources.logs.nginx_error import NGINX_MESSAGES
from why5xx.sources.logs.reader import (
    GZIP_MAGIC,
    STDIN,
    LogFormat,
    LogInputError,
    MessageFormat,
    Other,
    Tally,
    blocks,
    first_lines,
    open_log,
    scan_block,
    scan_lines,
    sniff,
)
from why5xx.sources.logs.traefik import TRAEFIK, TRAEFIK_JSON, TRAEFIK_MESSAGES

# Detection order breaks ties: an error log alone is `nginx-error`, not
# `ingress-nginx` (which reads error lines too).
FORMATS: tuple[LogFormat, ...] = (
    NGINX_ERROR,
    INGRESS_NGINX,
    NGINX_JSON,
    ENVOY,
    ENVOY_JSON,
    HAPROXY,
    TRAEFIK,
    TRAEFIK_JSON,
    ALB,
)
# The own lines of proxies, controllers and app servers, recognised line by
# line wherever they appear; the more specific shapes first (both ingress
# controllers write klog).
MESSAGES: tuple[MessageFormat, ...] = (
    NGINX_INC_CONTROLLER,
    INGRESS_NGINX_CONTROLLER,
    ENVOY_MESSAGES,
    ENVOY_BARE_ACCESS,
    INGRESS_NGINX_BARE_ACCESS,
    LINKERD_PROXY,
    TRAEFIK_MESSAGES,
    HAPROXY_MESSAGES,
    GUNICORN,
    UWSGI,
    NGINX_UNIT,
    TLS_SERVER,
    NGINX_MESSAGES,
    ENVOY_REPLY,
)
ALIASES = {"nginx": "ingress-nginx", "istio": "envoy", "istio-json": "envoy-json"}
UNKNOWN = "unknown"
__all__ = [
    "FORMATS",
    "UNKNOWN",
    "format_named",
    "summarize_for",
    "summarize_logs",
    "target_services",
]
# Plain files this large are scanned in parallel ranges, several per core.
PARALLEL_MIN = 64 << 20
_RANGES_PER_WORKER = 4


def format_named(name: str) -> LogFormat:
    """The format called `name` (or one of its aliases); ValueError if none."""
    wanted = ALIASES.get(name, name)
    for fmt in FORMATS:
        if fmt.name == wanted:
            return fmt
    names = ", ".join([f.name for f in FORMATS] + sorted(ALIASES))
    raise ValueError(f"unknown log format {name!r}; known: {names}")


def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def _line_bounds(path: str, size: int, parts: int) -> list[int]:
    """Offsets that cut the file into about `parts` ranges of whole lines."""
    bounds = [0]
    with open(path, "rb") as handle:
        for part in range(1, parts):
            handle.seek(size * part // parts)
            handle.readline()
            if bounds[-1] < handle.tell() < size:
                bounds.append(handle.tell())
    return [*bounds, size]


def _other(into: Aggregator) -> Other:
    return recogniser(FORMATS, MESSAGES, into.add)


def _scan_range(path: str, start: int, end: int, name: str) -> tuple[Tally, Aggregator]:
    """One worker's share of a large file."""
    fmt = format_named(name)
    tally, into = Tally(), Aggregator()
    other = _other(into)
    with open(path, "rb") as handle:
        handle.seek(start)
        for block in blocks(handle, tally, limit=end - start):
            scan_block(block, fmt, tally, into.add, other)
    return tally, into


def _scan_parallel(
    path: str, size: int, fmt: LogFormat, tally: Tally, into: Aggregator, workers: int
) -> None:
    """Scan a large plain file in ranges on every core: the pre-filter is
    bound by one core's memory bandwidth, the machine has more."""
    bounds = _line_bounds(path, size, workers * _RANGES_PER_WORKER)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = pool.map(
            _scan_range,
            *zip(*((path, a, b, fmt.name) for a, b in itertools.pairwise(bounds)), strict=True),
        )
        for part_tally, part in parts:
            tally.add(part_tally)
            into.merge(part)


def _parallel_size(path: str) -> int:
    """The size of a file worth scanning in parallel, else 0."""
    if path == STDIN or _workers() < 2:
        return 0
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe: reading would consume it
            return 0
        with open(path, "rb") as handle:
            if handle.read(2) == GZIP_MAGIC:
                return 0
            size = handle.seek(0, os.SEEK_END)
    except OSError:
        return 0
    return size if size >= PARALLEL_MIN else 0


def _summary(shown: str, tally: Tally, fmt: LogFormat | None, error: str | None) -> FileSummary:
    """What a file held: its format (else the family most of its recognised
    lines are of), and how many lines of each kind it recognised."""
    named = fmt.name if fmt is not None else None
    families = tally.families.most_common()
    if named is None:
        named = families[0][0] if families else UNKNOWN
    if error is None and not families:
        error = "no line of a known log format (pass --format if it is one)"
    return FileSummary(
        path=shown,
        format=named,
        lines=tally.lines,
        unparsed=tally.unparsed,
        recognised=tuple((name, count) for name, count in families if count),
        error=error,
    )


def read_log(
    path: str,
    into: Aggregator,
    *,
    fmt: LogFormat | None = None,
    stdin: BinaryIO | None = None,
) -> FileSummary:
    """Stream one file (or `-`) into `into`. Lines are recognised one by one
    where the file mixes formats. A file that cannot be read, or stops being
    readable, gives a summary with `error` set: what was read before still
    counts; so does a file in which no line was recognised."""
    shown = "<stdin>" if path == STDIN else path
    tally = Tally()
    chosen = fmt
    by_line = False  # every line on its own: no format, or collectors' prefixes
    other = _other(into)
    parallel = _parallel_size(path)
    try:
        with open_log(path, stdin) as stream:
            for number, block in enumerate(blocks(stream, tally)):
                if number == 0 and chosen is None:
                    by_line = prefix.prefixed(first_lines(block))
                    chosen = None if by_line else sniff(block, FORMATS)
                    by_line = by_line or chosen is None
                if by_line:
                    scan_lines(block, tally, other)
                    continue
                assert chosen is not None
                if parallel:  # the first block was only for detection
                    tally = Tally()
                    _scan_parallel(path, parallel, chosen, tally, into, _workers())
                    break
                scan_block(block, chosen, tally, into.add, other)
    except LogInputError as exc:
        return _summary(
            shown, tally, None if by_line else chosen, str(exc).removeprefix(f"{path}: ")
        )
    return _summary(shown, tally, None if by_line else chosen, None)


def summarize_for(
    paths: Sequence[str],
    snapshot: Snapshot,
    services: Sequence[Obj],
    *,
    fmt: LogFormat | None = None,
    stdin: BinaryIO | None = None,
) -> LogSummary:
    """The summary of the 5xx that were for `services` (a diagnosis target's
    backends), with their pods: the evidence `engine.diagnose` weighs."""
    into = Aggregator()
    files = tuple(read_log(p, into, fmt=fmt, stdin=stdin) for p in paths)
    resolve = pod_resolver(snapshot)
    matches = [serves(snapshot, service, resolve) for service in services]
    groups = [g for g in into.groups() if any(match(g) for match in matches)]
    about = [mentions(snapshot, service, resolve) for service in services]
    messages = [m for m in into.messages() if any(match(m) for match in about)]
    return summarize(
        groups,
        files,
        messages=messages,
        resolve=resolve,
        events=timeline_events(snapshot),
        insights=explain,
    )


def summarize_logs(
    paths: Sequence[str],
    *,
    fmt: LogFormat | None = None,
    stdin: BinaryIO | None = None,
    snapshot: Snapshot | None = None,
) -> LogSummary:
    """Read every log (a path, or `-` for standard input) and summarise its
    5xx; with a snapshot, name the pods behind the upstreams and place the
    cluster's events on the timeline."""
    into = Aggregator()
    files = tuple(read_log(p, into, fmt=fmt, stdin=stdin) for p in paths)
    if snapshot is None:
        return summarize(into.groups(), files, messages=into.messages())
    return summarize(
        into.groups(),
        files,
        messages=into.messages(),
        resolve=pod_resolver(snapshot),
        events=timeline_events(snapshot),
        insights=explain,
    )
