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
from datetime import datetime

from why5xx.sources.logs.reader import LineKind
from why5xx.sources.logs.record import Symptom, UpstreamError, host_port

_LINE = re.compile(
    r"^(?P<time>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>\w+)\] \d+#\d+: "
    r"(?:\*\d+ )?(?P<msg>.*?)(?: while (?P<action>(?:(?! while )[^,])+))?"
    r"(?:, client: [^,]+, server: [^,]*(?:, request: \"(?:[^\"\\]|\\.)*\")?"
    r"(?:, subrequest: \"[^\"]*\")?(?:, upstream: \"(?P<upstream>[^\"]*)\")?"
    r"(?:, host: \"[^\"]*\")?(?:, referrer: \"[^\"]*\")?.*)?$"
)
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


def parse(line: str) -> UpstreamError | None:
    match = _LINE.match(line)
    if match is None or match["level"] not in _LEVELS:
        return None
    message, action = match["msg"], match["action"]
    text = message if action is None else f"{message} while {action}"
    found = next(((s, code) for pattern, s, code in _MESSAGES if pattern.search(text)), None)
    if found is None:
        return None
    symptom, status = found
    if symptom is Symptom.READ_TIMEOUT and action == "connecting to upstream":
        symptom = Symptom.CONNECT_TIMEOUT
    if action in _RESPONSE_STARTED:
        status = 0  # the status line had gone out: a broken body, not a 5xx
    return UpstreamError(
        time=datetime.strptime(match["time"], "%Y/%m/%d %H:%M:%S"),
        upstream=host_port(match["upstream"] or ""),
        symptom=symptom,
        signal=_signal(message, action),
        status=status,
        line=line,
    )


ERROR_LINES = LineKind(
    shape=re.compile(rb"\n\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \["),
    candidate=None,  # few enough to parse them all; the parser keeps warn and worse
    parse=parse,
    strict=False,
)
