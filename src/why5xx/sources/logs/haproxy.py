"""HAProxy HTTP log (`option httplog`), raw or behind a syslog prefix.

`%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r` (configuration.txt §8.2.3);
the `{captures}` appear only when configured. The termination state `%tsc`
says who ended the session and in which phase (§8.5): its first two
characters are the 5xx signal. `%s` is the server's *name* in the
configuration; it maps to a pod only when the name is its address.
"""

from __future__ import annotations

import re

from why5xx.sources.logs.reader import LineKind, LogFormat, MessageFormat
from why5xx.sources.logs.record import Access, Attempt, Notice, Symptom, clf_time

_LINE = re.compile(
    r"^(?:.*?\]:? )?\S+:\d+ \[(?P<time>[^\]]+)\] \S+ (?P<backend>[^/ ]+)/(?P<server>\S+) "
    r"-?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+ (?P<status>-?\d+) \+?\d+ \S+ \S+ (?P<state>[A-Za-z-]{4}) "
    r"\d+/\d+/\d+/\d+/\+?\d+ \d+/\d+(?: \{[^}]*\})?(?: \{[^}]*\})? \"(?P<request>.*)\"$"
)
_NO_SERVER = "<NOSRV>"
_CLIENT_SIDE = frozenset("Cc")

# The first two characters of the termination state, with the words of §8.5.
_STATES: dict[str, tuple[Symptom, str]] = {
    "SC": (Symptom.REFUSED, "the server refused the TCP connection"),
    "sC": (Symptom.CONNECT_TIMEOUT, "timeout connect struck before the connection was made"),
    "sQ": (Symptom.OVERFLOW, "the request waited in the queue too long (maxconn reached)"),
    "SH": (Symptom.PREMATURE_CLOSE, "the server aborted before sending its full headers"),
    "sH": (Symptom.READ_TIMEOUT, "timeout server struck before the server sent its headers"),
    "PH": (Symptom.INVALID_RESPONSE, "HAProxy blocked an invalid or too large response"),
    "SD": (Symptom.RESET, "the connection to the server died during the data transfer"),
    "sD": (Symptom.READ_TIMEOUT, "timeout server struck during the data transfer"),
    "RC": (Symptom.OVERFLOW, "HAProxy ran out of a local resource (sockets, memory)"),
    "PC": (Symptom.OVERFLOW, "HAProxy hit its connection limit (maxconn, ulimit)"),
}


def classify(state: str, server: str) -> tuple[Symptom, str]:
    """(symptom, signal) of one 5xx line from its termination state."""
    phase = state[:2]
    if phase == "SC" and server == _NO_SERVER:
        return Symptom.NO_ENDPOINTS, f"{state}: <NOSRV>, no server available in the backend"
    if phase == "--":
        return Symptom.APP, f"{state}: the server answered the 5xx itself"
    if phase[0] in _CLIENT_SIDE:
        return Symptom.CLIENT_ABORT, f"{state}: the client aborted or timed out"
    symptom, words = _STATES.get(phase, (Symptom.UNKNOWN, "termination state"))
    return symptom, f"{state}: {words}"


def parse(line: str) -> Access | None:
    match = _LINE.match(line)
    if match is None:
        return None
    time = clf_time(match["time"])
    if time is None:
        return None
    status = max(int(match["status"]), 0)
    server = match["server"]
    symptom, signal = classify(match["state"], server)
    attempts = () if server.startswith("<") else (Attempt(address=server, status=status),)
    return Access(
        time=time,
        status=status,
        service=match["backend"],
        attempts=attempts,
        symptom=symptom,
        signal=signal,
        line=line,
    )


# `Server shop_api_8080/SRV_1 is DOWN, reason: Layer4 connection problem, info:
# "Connection refused", check duration: 0ms. 0 active and 0 backup servers
# left.` and `backend 'shop_api_8080' has no server available!` (the HAProxy
# ingress controllers name backends `<ns>_<svc>_<port>`).
_DOWN = re.compile(
    r"Server (?P<backend>[^/\s]+)/(?P<server>\S+) is DOWN, reason: (?P<reason>[^,]+)"
    r'(?:, (?:code: \d+, )?info: "(?P<info>[^"]*)"?)?'
)
_EMPTY_BACKEND = re.compile(r"backend '?(?P<backend>[^'\s]+)'? has no server available!")
_SERVER_ADDRESS = re.compile(r"^[\d.]+(?::\d+)?$")


def _check_symptom(reason: str, info: str) -> Symptom:
    if reason.startswith("Layer7"):
        return Symptom.HEALTH_CHECK
    if "timeout" in reason:
        return Symptom.CONNECT_TIMEOUT
    if "refused" in info.lower():
        return Symptom.REFUSED
    if "unreachable" in info.lower() or "no route" in info.lower():
        return Symptom.UNREACHABLE
    return Symptom.CONNECT_FAILED if reason.startswith("Layer4") else Symptom.HEALTH_CHECK


def parse_message(line: str) -> Notice | None:
    """HAProxy's own message about a server or backend."""
    down = _DOWN.search(line)
    if down is not None:
        reason, info = down["reason"].strip(), (down["info"] or "").strip()
        server = down["server"]
        return Notice(
            time=None,
            family="haproxy",
            symptom=_check_symptom(reason, info),
            signal=f"server is DOWN, reason: {reason}" + (f' ("{info}")' if info else ""),
            backend=down["backend"],
            upstream=server if _SERVER_ADDRESS.match(server) else "",
            details=(("server", server),),
            line=line,
        )
    empty = _EMPTY_BACKEND.search(line)
    if empty is not None:
        return Notice(
            time=None,
            family="haproxy",
            symptom=Symptom.NO_ENDPOINTS,
            signal="backend has no server available",
            backend=empty["backend"],
            line=line,
        )
    return None


HAPROXY_MESSAGES = MessageFormat(
    name="haproxy",
    shape=re.compile(r"\[(?:WARNING|ALERT|NOTICE)\]\s+(?:\d+/\d+ )?\(\d+\) : |haproxy\[\d+\]: "),
    parse=parse_message,
)

HAPROXY = LogFormat(
    name="haproxy",
    kinds=(
        LineKind(
            shape=re.compile(rb" -?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+ -?\d+ "),
            candidate=re.compile(rb" -?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+ 5\d\d "),
            parse=parse,
        ),
        # HAProxy's own messages in the same syslog stream ("Server be/s1 is
        # DOWN", "backend be has no server available!"): not requests, evidence.
        LineKind(
            shape=re.compile(rb"haproxy\[\d+\]: (?!\S+:\d+ \[)"),
            candidate=None,
            parse=parse_message,
            strict=False,
        ),
    ),
)
