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

from why5xx.sources.logs.reader import (
    LineKind,
    LogFormat,
    MessageFormat,
    first_message,
    messages,
)
from why5xx.sources.logs.record import (
    Access,
    Attempt,
    Notice,
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


# Traefik's own log (logrus logfmt in v1/v2, zerolog in v3, or JSON):
# `time="2022-03-01T09:48:49Z" level=error msg="Skipping service: no endpoints
# found" providerName=kubernetes ingress=vscode serviceName=vscode
# servicePort="&ServiceBackendPort{Name:,Number:80,}" namespace=default`; at
# debug level, why a request failed: `'502 Bad Gateway' caused by: dial tcp
# 10.42.0.5:8080: connect: connection refused`.
_OWN_TIME = re.compile(r'time="(?P<time>[^"]+)"|^(?P<v3>\d{4}-\d\d-\d\dT\S+) [A-Z]{3} ')
_FIELD = re.compile(r'\b(?P<key>namespace|serviceName|ServiceName|service)=(?P<value>"[^"]*"|\S+)')
_DIAL = re.compile(r"dial tcp (?P<addr>[\d.]+:\d+)")
_OWN_MESSAGES = messages(
    (r"no endpoints found|no available server", Symptom.NO_ENDPOINTS, "no endpoints found"),
    (
        r"service not found|service \\?\"[^\"\\]+\\?\" not found",
        Symptom.NO_SERVICE,
        "service not found",
    ),
    (r"connect: connection refused", Symptom.REFUSED, "dial tcp: connection refused"),
    (r"connect: no route to host", Symptom.UNREACHABLE, "dial tcp: no route to host"),
    (r"dial tcp [^ ]+: i/o timeout", Symptom.CONNECT_TIMEOUT, "dial tcp: i/o timeout"),
    (
        r"timeout awaiting response headers",
        Symptom.READ_TIMEOUT,
        "timeout awaiting response headers",
    ),
    (r"connection reset by peer", Symptom.RESET, "connection reset by peer"),
    (r"caused by: EOF|error=\"?EOF", Symptom.PREMATURE_CLOSE, "EOF: the server closed"),
    (
        r"server gave HTTP response to HTTPS client|malformed HTTP response|tls: ",
        Symptom.PROTOCOL,
        "the backend does not speak what Traefik speaks (TLS or HTTP)",
    ),
)


def _own_field(line: str, *keys: str) -> str:
    for match in _FIELD.finditer(line):
        if match["key"] in keys:
            return match["value"].strip('"')
    return ""


def parse_own(line: str) -> Notice | None:
    found = first_message(_OWN_MESSAGES, line)
    if found is None:
        return None
    symptom, signal = found[0].symptom, found[0].signal
    stamp = _OWN_TIME.search(line)
    time = iso_time((stamp["time"] or stamp["v3"]).replace("Z", "+00:00")) if stamp else None
    namespace = _own_field(line, "namespace")
    name = _own_field(line, "serviceName", "service")
    backend = _own_field(line, "ServiceName")
    dial = _DIAL.search(line)
    return Notice(
        time=time,
        family="traefik",
        symptom=symptom,
        signal=signal,
        service=f"{namespace}/{name}" if namespace and name else name,
        backend=backend,
        upstream=dial["addr"] if dial else "",
        line=line,
    )


TRAEFIK_MESSAGES = MessageFormat(
    name="traefik",
    shape=re.compile(
        r'\btime="[^"]+" level=\w+ msg=|(?:^|\s)level=\w+ msg="|^\{"level":"\w+".*"msg":'
        r"|^\d{4}-\d\d-\d\dT\S+ (?:TRC|DBG|INF|WRN|ERR|FTL|PNC) "
    ),
    parse=parse_own,
)
