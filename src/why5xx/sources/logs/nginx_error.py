"""nginx `error.log` lines about upstreams.

Layout (nginx `ngx_log_error_core()` and `ngx_http_log_error()`):
`2024/11/03 06:09:29 [error] 184#184: *94 <message> while <action>, client:
<addr>, server: <name>, request: "<line>", upstream: "<url>", host: "<host>"`.
The time is the nginx process's local time, without a zone. Errors are
matched on errno *numbers*: the text after them depends on the libc (musl in
the ingress-nginx images says "Operation timed out" where glibc says
"Connection timed out").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from why5xx.sources.logs.reader import LineKind, MessageFormat
from why5xx.sources.logs.record import Notice, Symptom, UpstreamError, host_port

_PREFIX = r"^(?P<time>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>\w+)\] \d+#\d+: "
_BODY = (
    # The connection number, with its `*` (some builds and pastes drop it).
    r"(?:\*?\d+ )?(?P<msg>.*?)(?: while (?P<action>(?:(?! while )[^,])+))?"
    r"(?:, client: (?P<client>[^,]*), server: [^,]*"
    r"(?:, request: \"(?P<request>(?:[^\"\\]|\\.)*)\")?"
    r"(?:, subrequest: \"[^\"]*\")?(?:, upstream: \"(?P<upstream>[^\"]*)\")?"
    r"(?:, host: \"(?P<host>[^\"]*)\")?(?:, referrer: \"[^\"]*\")?.*"
    # A line cut after the client, as pasted lines often are.
    r"|, client: .*)?$"
)
_LINE = re.compile(_PREFIX + _BODY)
# The same message pasted without its date, level and process ids.
_BARE = re.compile(r"^(?:\[\w+\] )?(?:\d+#\d+: )?" + _BODY)
# ingress-nginx's Lua resolver for ExternalName backends (context: ngx.timer,
# not a request): `[lua] dns.lua:152: dns_lookup(): failed to query the DNS
# server for static.example.net:`
_DNS_LOOKUP = re.compile(r"dns_lookup\(\): failed to query the DNS server for (?P<host>[^\s:,]+)")
_LEVELS = frozenset({"warn", "error", "crit", "alert", "emerg"})
# glibc's words for the errnos nginx reports about upstreams, so that musl and
# glibc lines read (and group) the same.
_ERRNO_TEXT = {
    "22": "Invalid argument",
    "32": "Broken pipe",
    "101": "Network is unreachable",
    "104": "Connection reset by peer",
    "110": "Connection timed out",
    "111": "Connection refused",
    "113": "No route to host",
}
_ERRNO = re.compile(r"\((\d+): ([^)]*)\)")
_CONNECT_TO = re.compile(r"^connect\(\) to \S+ failed")
_LIMIT_DETAIL = re.compile(r"(limiting (?:requests|connections))(?:, dry run)?.*")
_RESPONSE_STARTED = ("reading upstream", "sending to client")

# (message pattern, symptom, status the client gets); first match wins.
_MESSAGES: tuple[tuple[re.Pattern[str], Symptom, int], ...] = tuple(
    (re.compile(pattern), symptom, status)
    for pattern, symptom, status in (
        (r"balancer\.lua.*error while setting current upstream peer", Symptom.DNS, 502),
        (r"^connect\(\) to 0\.0\.0\.1:80 failed \(22:", Symptom.DNS, 502),
        # nginx's own resolver: no `resolver` configured, or the name does not resolve.
        (r"^no resolver defined to resolve |could not be resolved \(\d+: ", Symptom.DNS, 502),
        (r"\(111: ", Symptom.REFUSED, 502),
        (r"\((?:113|101): ", Symptom.UNREACHABLE, 502),
        (r"^upstream timed out \(110: ", Symptom.READ_TIMEOUT, 504),
        (r"^upstream prematurely closed (?:connection|stream)", Symptom.PREMATURE_CLOSE, 502),
        (r"\((?:104|32): ", Symptom.RESET, 502),
        (r"^no live upstreams", Symptom.NO_HEALTHY, 502),
        (r"^upstream sent too big header", Symptom.HEADER_TOO_BIG, 502),
        (
            r"^upstream sent (?:invalid|no valid)|^upstream prematurely sent response"
            r"|SSL_do_handshake\(\) failed|in SSL handshake|^upstream SSL certificate",
            Symptom.PROTOCOL,
            502,
        ),
        (r"^limiting (?:requests|connections)", Symptom.RATE_LIMITED, 503),
    )
)


def _signal(message: str, action: str | None) -> str:
    """The message without what varies between lines: peer addresses, libc
    wording, rate-limit numbers."""
    text = _CONNECT_TO.sub("connect() failed", message)
    text = _ERRNO.sub(lambda m: f"({m[1]}: {_ERRNO_TEXT.get(m[1], m[2])})", text)
    text = _LIMIT_DETAIL.sub(r"\1", text)
    return f"{text} while {action}" if action else text


def _meaning(match: re.Match[str]) -> tuple[Symptom, int, str] | None:
    """(symptom, the client's status, signal) of a message about an upstream."""
    message, action = match["msg"], match["action"] and match["action"].rstrip(".")
    text = message if action is None else f"{message} while {action}"
    found = next(((s, code) for pattern, s, code in _MESSAGES if pattern.search(text)), None)
    if found is None:
        return None
    symptom, status = found
    if symptom is Symptom.READ_TIMEOUT and action == "connecting to upstream":
        symptom = Symptom.CONNECT_TIMEOUT
    if action in _RESPONSE_STARTED:
        status = 0  # the status line had gone out: a broken body, not a 5xx
    return symptom, status, _signal(message, action)


def _dns(line: str, time: datetime | None) -> Notice | None:
    found = _DNS_LOOKUP.search(line)
    if found is None:
        return None
    return Notice(
        time=time,
        family="ingress-nginx",
        symptom=Symptom.DNS,
        signal="dns_lookup(): failed to query the DNS server",
        upstream=found["host"],
        line=line,
    )


def parse(line: str) -> UpstreamError | Notice | None:
    match = _LINE.match(line)
    if match is None or match["level"] not in _LEVELS:
        return None
    time = datetime.strptime(match["time"], "%Y/%m/%d %H:%M:%S")
    meaning = _meaning(match)
    if meaning is None:
        # Local time without a zone: UTC, the zone of nearly every container.
        return _dns(line, time.replace(tzinfo=UTC))
    symptom, status, signal = meaning
    return UpstreamError(
        time=time,
        upstream=host_port(match["upstream"] or ""),
        symptom=symptom,
        signal=signal,
        status=status,
        line=line,
        client=match["client"] or "",
        request=match["request"] or "",
        host=match["host"] or "",
    )


def parse_bare(line: str) -> Notice | None:
    """An error message pasted without its date prefix: `upstream timed out
    (110: Connection timed out) while reading response header from upstream,
    client: ...`. No time; the upstream, host and request it names remain."""
    match = _BARE.match(line)
    meaning = _meaning(match) if match is not None else None
    if match is None or meaning is None:
        return _dns(line, None)
    symptom, status, signal = meaning
    details = tuple(
        (key, value)
        for key, value in (
            ("status", str(status) if status else ""),
            ("host", match["host"] or ""),
            ("request", match["request"] or ""),
        )
        if value
    )
    return Notice(
        time=None,
        family="nginx",
        symptom=symptom,
        signal=signal,
        upstream=host_port(match["upstream"] or ""),
        details=details,
        line=line,
    )


ERROR_LINES = LineKind(
    # `#\d+: ` tells nginx from NGINX Unit, whose lines are alike but for the colon.
    shape=re.compile(rb"\n\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: "),
    candidate=None,  # few enough to parse them all; the parser keeps warn and worse
    parse=parse,
    strict=False,
)

# Bare messages: an nginx message about an upstream, or the Lua resolver's
# failure, at the start of the line (after any collector's prefix).
NGINX_MESSAGES = MessageFormat(
    name="nginx-error",
    shape=re.compile(
        r"^(?:\[\w+\] )?(?:\d+#\d+: )?(?:\*\d+ )?(?:connect\(\)|upstream |recv\(\)|readv\(\)|"
        r"writev\(\)|send\(\)|no live upstreams|SSL_do_handshake|peer closed|limiting )"
        r"|dns_lookup\(\)|^server returned error code: "
    ),
    parse=parse_bare,
)
