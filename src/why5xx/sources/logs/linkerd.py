"""linkerd-proxy's own log lines (it writes no access log by default).

`[ 73137.020196s]  INFO ThreadId(01) outbound:proxy{addr=10.0.3.18:80}:
service{ns=shop name=api port=80}: linkerd_app_core::errors::respond:
HTTP/1.1 request failed error=logical service 10.0.3.18:80: ... service in
fail-fast`: the seconds since the proxy started (no date), the level, then
the span naming the Service (`service{ns= name= port=}`, or
`Service.shop.api:80` in the error), the endpoint (`endpoint{addr=}`,
`error=endpoint 10.42.0.14:8080:`) and the error, with the OS's errno.
"""

from __future__ import annotations

import re

from why5xx.sources.logs.reader import MessageFormat, first_message, messages
from why5xx.sources.logs.record import Notice, Symptom

_SERVICE_SPAN = re.compile(r"service\{ns=(?P<ns>[-a-z0-9]+) name=(?P<name>[-a-z0-9.]+)")
_SERVICE_REF = re.compile(r"\bService\.(?P<ns>[-a-z0-9]+)\.(?P<name>[-a-z0-9.]+?):\d+")
_ENDPOINT = re.compile(r"endpoint\{addr=(?P<addr>[^}\s]+)\}|error=endpoint (?P<err>[\d.:]+):")
_TARGET = re.compile(r"target\.addr=(?P<addr>[\d.:]+)")
# What the error says, most specific first (errno numbers as the OS prints them).
_ERRORS = messages(
    (r"fail-?fast", Symptom.NO_ENDPOINTS, "service in fail-fast: no endpoint is ready"),
    (r"\(os error 111\)", Symptom.REFUSED, "Connection refused (os error 111)"),
    (r"\(os error 113\)", Symptom.UNREACHABLE, "Host is unreachable (os error 113)"),
    (r"\(os error 104\)", Symptom.RESET, "Connection reset by peer (os error 104)"),
    (r"connect timed out", Symptom.CONNECT_TIMEOUT, "connect timed out"),
    (r"response timed out|request timed out", Symptom.READ_TIMEOUT, "response timed out"),
    (
        r"connection closed before message completed",
        Symptom.PREMATURE_CLOSE,
        "connection closed before message completed",
    ),
    flags=re.IGNORECASE,
)


def parse(line: str) -> Notice | None:
    if "error" not in line and "failfast" not in line:
        return None
    found = first_message(_ERRORS, line)
    if found is None:
        return None
    symptom, signal = found[0].symptom, found[0].signal
    service = _SERVICE_SPAN.search(line) or _SERVICE_REF.search(line)
    endpoint = _ENDPOINT.search(line) or _TARGET.search(line)
    upstream = next((g for g in endpoint.groups() if g), "") if endpoint else ""
    direction = "inbound" if "inbound:" in line else "outbound"
    return Notice(
        time=None,
        family="linkerd-proxy",
        symptom=symptom,
        signal=f"{direction}: {signal}",
        service=f"{service['ns']}/{service['name']}" if service else "",
        upstream=upstream,
        details=(("direction", direction),),
        line=line,
    )


LINKERD_PROXY = MessageFormat(
    name="linkerd-proxy",
    # Its module paths name it when the span prefix was not pasted.
    shape=re.compile(
        r"\[\s*\d+\.\d+s\]\s+(?:TRACE|DEBUG|INFO|WARN|ERROR)\s+ThreadId\(\d+\)"
        r"|\blinkerd2?_[a-z_]+::"
    ),
    parse=parse,
)
