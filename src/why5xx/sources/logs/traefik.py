"""Traefik access logs: the common log format (CLF) and JSON.

CLF (`pkg/middlewares/accesslog/logger_formatters.go`): `<client> - <user>
[<time>] "<method> <path> <proto>" <status> <size> "<referer>" "<agent>"
<count> "<router>" "<service URL>" <duration>ms`; the status is the one sent
to the client (before v2.10.5 it was the origin's). JSON
(`pkg/middlewares/accesslog/logdata.go`) also has `OriginStatus`, absent
when Traefik answered by itself, which tells an app's 5xx from Traefik's.
Traefik logs no reason for its own 502 (refused, reset and EOF all give
502); only its debug log has one.
"""

from __future__ import annotations

import re

from why5xx.sources.logs.reader import LineKind, LogFormat
from why5xx.sources.logs.record import (
    Access,
    Attempt,
    Symptom,
    clf_time,
    field,
    host_port,
    iso_time,
    json_object,
    status_code,
)

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_CLF = re.compile(
    r'^\S+ - \S+ \[(?P<time>[^\]]+)\] "[^"]*" (?P<status>\d{3}|-) \S+ '
    + _QUOTED
    + " "
    + _QUOTED
    + r' \d+ "(?P<router>[^"]*)" "(?P<url>[^"]*)" \d+ms$'
)


def classify(status: int, origin: int | None, upstream: str) -> tuple[Symptom, str]:
    if origin == status:
        return Symptom.APP, f"the server answered {status} itself (OriginStatus)"
    if status == 503 and not upstream:
        return Symptom.NO_ENDPOINTS, "503 with no server chosen: no available server"
    if status == 504:
        return Symptom.READ_TIMEOUT, "504: the server did not answer in time"
    if status == 502:
        return Symptom.UNKNOWN, "502: no valid answer from the server (refused, reset or closed)"
    return Symptom.UNKNOWN, f"{status}"


def _access(
    time: str, status: int | None, origin: int | None, service: str, upstream: str, line: str
) -> Access | None:
    stamp = clf_time(time) or iso_time(time)
    if stamp is None or status is None:
        return None
    address = host_port(upstream)
    symptom, signal = classify(status, origin, address)
    return Access(
        time=stamp,
        status=status,
        service=service,
        attempts=(Attempt(address=address, status=origin),) if address else (),
        symptom=symptom,
        signal=signal,
        line=line,
    )


def parse_clf(line: str) -> Access | None:
    match = _CLF.match(line)
    if match is None:
        return None
    status = status_code(match["status"])
    return _access(match["time"], status, None, match["router"], match["url"], line)


def parse_json(line: str) -> Access | None:
    obj = json_object(line)
    if obj is None or "DownstreamStatus" not in obj:
        return None
    return _access(
        field(obj, "StartUTC", "time", "StartLocal"),
        status_code(field(obj, "DownstreamStatus")),
        status_code(field(obj, "OriginStatus")),
        field(obj, "ServiceName", "RouterName"),
        field(obj, "ServiceAddr", "ServiceURL"),
        line,
    )


TRAEFIK = LogFormat(
    name="traefik",
    kinds=(
        LineKind(
            shape=re.compile(rb'" \d+ms\b'),
            candidate=re.compile(rb'" 5\d\d '),
            parse=parse_clf,
        ),
    ),
)

TRAEFIK_JSON = LogFormat(
    name="traefik-json",
    kinds=(
        LineKind(
            shape=re.compile(rb'\n\{[^\n]*"DownstreamStatus"'),
            candidate=re.compile(rb'"DownstreamStatus": ?5\d\d'),
            parse=parse_json,
        ),
    ),
)
