"""ingress-nginx (and plain nginx) access logs, text and JSON.

Text: the controller's default `log-format-upstream`
(`internal/ingress/controller/config/config.go`), every historical variant
(the `[$the_real_ip]` of <= 0.25, no `[$proxy_alternative_upstream_name]`
before 0.26, no `$req_id` before 2018), and nginx's own `combined` and
`main`, which have no upstream fields. `kubectl logs` of the controller
interleaves access lines with error-log lines, so this format reads both.

JSON: what users configure with `log-format-escape-json` (the configmap
docs' example plus the `upstream_*` and `proxy_upstream_name` fields people
add). Upstream fields are always read as text lists, never numbers.

An nginx 502 does not say who made it: `$upstream_status` holds 502 both
when the app answered 502 and when nginx failed to talk to it. The error
log says which failure it was; the access line alone decides only what it
can (no upstream at all, the Lua balancer placeholder, an app's own 500/503).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from why5xx.sources.logs.nginx_error import ERROR_LINES
from why5xx.sources.logs.reader import LineKind, LogFormat, MessageFormat
from why5xx.sources.logs.record import (
    Access,
    Attempt,
    Notice,
    Symptom,
    attempt_lists,
    clf_time,
    field,
    iso_time,
    json_object,
    status_code,
)


def _list(element: str) -> str:
    return f"(?:{element})(?:(?:, | : )(?:{element}))*"


_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ACCESS = re.compile(
    r"^(?P<client>\S+) - (?:\[[^\]]*\] - )?\S+ \[(?P<time>[^\]]+)\] "
    + r'"(?P<request>(?:[^"\\]|\\.)*)"'
    + r" (?P<status>\d{3}) \d+ "
    + _QUOTED
    + " "
    + _QUOTED
    + r"(?: \d+ [\d.]+ \[(?P<name>[^\]]*)\] (?:\[[^\]]*\] )?"
    + r"(?P<addr>"
    + _list(r"[^ ,]+")
    + r") "
    + _list(r"\d+|-")
    + " "
    + _list(r"[\d.]+|-")
    + r" (?P<ustatus>"
    + _list(r"\d{3}|-")
    + r")(?: \S+)?"
    + r'| "[^"]*")?$'
)
# The Lua balancer's placeholder peer: nginx fell back to it because the
# balancer found no peer (ingress-nginx issue #4168).
_PLACEHOLDER = "0.0.0.1:80"
_DEFAULT_BACKEND = "upstream-default-backend"
_TIME_KEYS = ("time", "time_iso8601", "@timestamp", "timestamp", "time_local")


def classify(
    status: int, service: str, attempts: tuple[Attempt, ...], has_upstream: bool
) -> tuple[Symptom, str, bool]:
    """What an nginx access line alone says about its 5xx: (symptom, signal,
    whether the error log may say more)."""
    if not has_upstream:
        return Symptom.UNKNOWN, f"{status} (this log format has no upstream fields)", True
    if not attempts:
        if service == _DEFAULT_BACKEND:
            return Symptom.NO_ENDPOINTS, f"{status} from {_DEFAULT_BACKEND}", False
        if status == 503:
            return Symptom.NO_ENDPOINTS, "503, upstream -: no ready endpoint to send to", True
        return Symptom.UNKNOWN, f"{status}, upstream -", True
    last = attempts[-1]
    if last.address == _PLACEHOLDER:
        return Symptom.DNS, f"upstream {_PLACEHOLDER}: the Lua balancer found no peer", True
    tried = ", ".join(str(a.status or "-") for a in attempts)
    if last.status == status and status not in (502, 504):
        return Symptom.APP, f"the upstream answered {status} itself", False
    if status == 504:
        return Symptom.READ_TIMEOUT, f"504, upstream_status {tried}", True
    return Symptom.UNKNOWN, f"{status}, upstream_status {tried}", True


def _access(
    *,
    time: datetime,
    status: int,
    service: str,
    addresses: str,
    statuses: str,
    has_upstream: bool,
    line: str,
    client: str = "",
    request: str = "",
) -> Access:
    """One access line, from the fields the text and JSON formats share."""
    attempts = attempt_lists(addresses, statuses)
    symptom, signal, refinable = classify(status, service, attempts, has_upstream)
    paired = refinable and not has_upstream  # only the error log can say why
    return Access(
        time=time,
        status=status,
        service=service,
        attempts=attempts,
        symptom=symptom,
        signal=signal,
        refinable=refinable,
        line=line,
        client=client if paired else "",
        request=request if paired else "",
    )


def parse_text(line: str) -> Access | None:
    match = _ACCESS.match(line)
    if match is None:
        return None
    time = clf_time(match["time"])
    if time is None:
        return None
    return _access(
        time=time,
        status=int(match["status"]),
        service=(match["name"] or "").strip(),
        addresses=match["addr"] or "",
        statuses=match["ustatus"] or "",
        has_upstream=match["name"] is not None,
        line=line,
        client=match["client"],
        request=match["request"],
    )


def _json_service(obj: dict[str, Any]) -> str:
    named = field(obj, "proxy_upstream_name", "upstream_name")
    if named:
        return named
    namespace, name, port = (field(obj, k) for k in ("namespace", "service_name", "service_port"))
    return f"{namespace}-{name}-{port}" if namespace and name and port else ""


def parse_json(line: str) -> Access | None:
    obj = json_object(line)
    if obj is None or "status" not in obj:
        return None
    status = status_code(field(obj, "status"))
    stamp = field(obj, *_TIME_KEYS)
    time = iso_time(stamp) or clf_time(stamp)
    if status is None or time is None:
        return None
    return _access(
        time=time,
        status=status,
        service=_json_service(obj),
        addresses=field(obj, "upstream_addr"),
        statuses=field(obj, "upstream_status"),
        has_upstream="upstream_addr" in obj or "upstream_status" in obj,
        line=line,
    )


# An access line pasted from its request on (client and time cut off), as in
# `"GET /api HTTP/1.1" 502 157 "-" "curl/8" 1570 1.248 [default-api-80] [] 10.244.2.36:80 ...`.
_BARE = re.compile(
    r'^"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) \d+ '
    + _QUOTED
    + " "
    + _QUOTED
    + r" \d+ [\d.]+ \[(?P<name>[^\]]*)\] (?:\[[^\]]*\] )?(?P<addr>"
    + _list(r"[^ ,]+")
    + r") "
    + _list(r"\d+|-")
    + " "
    + _list(r"[\d.]+|-")
    + r" (?P<ustatus>"
    + _list(r"\d{3}|-")
    + r")(?: \S+)?$"
)


def parse_bare(line: str) -> Notice | None:
    """A 5xx access line without its time: not counted as a request (it has
    no time to place), kept as a message with its backend and upstream."""
    match = _BARE.match(line)
    if match is None or not match["status"].startswith("5"):
        return None
    status = int(match["status"])
    attempts = attempt_lists(match["addr"], match["ustatus"])
    symptom, signal, _ = classify(status, match["name"], attempts, has_upstream=True)
    return Notice(
        time=None,
        family="ingress-nginx",
        symptom=symptom,
        signal=signal,
        backend=match["name"],
        upstream=attempts[-1].address if attempts else "",
        details=(("status", str(status)), ("request", match["request"])),
        line=line,
    )


INGRESS_NGINX_BARE_ACCESS = MessageFormat(
    name="ingress-nginx",
    shape=re.compile(r'^"[A-Z]+ [^"]*" \d{3} \d+ "'),
    parse=parse_bare,
)

ACCESS_LINES = LineKind(
    shape=re.compile(rb'" \d{3} \d+ "'),
    # The status sits between the request's closing quote and the referer's opening one.
    candidate=re.compile(rb'" 5\d\d \d+ "'),
    parse=parse_text,
)

INGRESS_NGINX = LogFormat(
    name="ingress-nginx",
    kinds=(ACCESS_LINES, ERROR_LINES),
)

NGINX_JSON = LogFormat(
    name="nginx-json",
    kinds=(
        LineKind(
            shape=re.compile(rb'\n\{[^\n]*"status"'),
            candidate=re.compile(rb'"status": ?"?5\d\d\b'),
            parse=parse_json,
        ),
        ERROR_LINES,
    ),
)

NGINX_ERROR = LogFormat(name="nginx-error", kinds=(ERROR_LINES,))
