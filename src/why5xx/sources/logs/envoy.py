"""Envoy and Istio access logs, text and JSON.

Text: Envoy's default format (`[%START_TIME%] "%REQ(:METHOD)% ... %PROTOCOL%"
%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% ... "%UPSTREAM_HOST%"`),
Istio's default, which adds `%RESPONSE_CODE_DETAILS%
%CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"`
after the flags and the cluster and addresses after the upstream host, and
older Istio's `"%DYNAMIC_METADATA(istio.mixer:status)%"` in the same place.
JSON: the keys of Istio's `accessLogEncoding: JSON`.

Envoy says who made a 5xx: `%RESPONSE_FLAGS%` (`UF`, `UC`, ...) and
`%RESPONSE_CODE_DETAILS%` (`via_upstream` when the app answered).
"""

from __future__ import annotations

import re
from datetime import datetime

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
    field,
    host_port,
    iso_time,
    json_object,
    status_code,
)

_TEXT = re.compile(
    r'^(?:\[(?P<time>[^\]]+)\] )?"(?P<request>[^"]*)" (?P<code>\d+) (?P<flags>\S+) (?P<middle>.*?)'
    # The request id is sometimes cut from pasted lines.
    r'\d+ \d+ \d+ \S+ "[^"]*" "[^"]*" (?:"[^"]*" )?"(?P<authority>[^"]*)" "(?P<host>[^"]*)"'
    r"(?: (?P<cluster>\S+).*)?$"
)
_MIDDLE = re.compile(r'"[^"]*"|\S+')
_TLS = re.compile(r"TLS|tls|CERTIFICATE|SSL")

# Flags in the order that decides: a connection failure explains the retry
# limit it led to (`URX,UF`), an overflow explains everything after it.
_FLAG_SYMPTOMS: tuple[tuple[str, Symptom], ...] = (
    ("UO", Symptom.OVERFLOW),
    ("UH", Symptom.NO_HEALTHY),
    ("UF", Symptom.CONNECT_FAILED),
    ("UC", Symptom.PREMATURE_CLOSE),
    ("UT", Symptom.READ_TIMEOUT),
    ("UMSDR", Symptom.READ_TIMEOUT),
    ("UR", Symptom.RESET),
    ("UPE", Symptom.PROTOCOL),
    ("DF", Symptom.DNS),
    ("RL", Symptom.RATE_LIMITED),
    ("DC", Symptom.CLIENT_ABORT),
)
# For `URX` alone (retries exhausted) and for `UF`, the reset reason in the details.
_DETAIL_SYMPTOMS: tuple[tuple[str, Symptom], ...] = (
    ("overflow", Symptom.OVERFLOW),
    ("connection_termination", Symptom.PREMATURE_CLOSE),
    ("_111", Symptom.REFUSED),
    ("refused", Symptom.REFUSED),
    ("connection_timeout", Symptom.CONNECT_TIMEOUT),
    ("timeout", Symptom.READ_TIMEOUT),
    ("_113", Symptom.UNREACHABLE),
    ("remote_reset", Symptom.RESET),
    ("connection_failure", Symptom.CONNECT_FAILED),
)


def _from_details(details: str) -> Symptom | None:
    return next((symptom for key, symptom in _DETAIL_SYMPTOMS if key in details), None)


def classify(flags: str, details: str) -> Symptom:
    """The symptom of an Envoy 5xx from its response flags and details."""
    names = set(flags.split(","))
    if "NR" in names and "filter_chain_not_found" in details:
        return Symptom.MTLS  # the server sidecar had no plaintext/mTLS chain for it
    for flag, symptom in _FLAG_SYMPTOMS:
        if flag not in names:
            continue
        if symptom is Symptom.CONNECT_FAILED:
            if _TLS.search(details):
                return Symptom.MTLS
            return _from_details(details) or symptom
        return symptom
    if "URX" in names:
        return _from_details(details) or Symptom.UNKNOWN
    if flags == "-" and (not details or details.startswith("via_upstream")):
        return Symptom.APP
    return Symptom.UNKNOWN


def _access(
    time: str, code: str, flags: str, details: str, service: str, upstream: str, line: str
) -> Access | None:
    stamp = iso_time(time)
    status = status_code(code)
    if stamp is None or (status is None and code != "0"):
        return None
    status = status or 0
    address = host_port(upstream)
    attempts = (Attempt(address=address, status=status),) if address else ()
    return Access(
        time=stamp,
        status=status,
        service=service,
        attempts=attempts,
        symptom=classify(flags, details),
        signal=f"{flags} {details}".strip() if details not in ("", "-") else flags,
        line=line,
    )


def _as_notice(match: re.Match[str], details: str, cluster: str, line: str) -> Notice | None:
    """What an access line says when it is not a request to count: a line
    pasted without its time (`"GET /v1/status HTTP/1.1" 503 UC ...`), or a
    TCP proxy line for a Service's port (`"- - -" 0 ...`), which shows the
    sidecar took the port for raw TCP."""
    found = [("flags", match["flags"])] if match["flags"] != "-" else []
    if details:
        found.append(("details", details))
    if match["authority"] not in ("", "-"):
        found += [("host", match["authority"]), ("request", match["request"])]
    if match["request"] == "- - -":
        if not cluster.startswith("outbound|"):
            return None
        symptom, signal = Symptom.TCP_PROXIED, "the sidecar proxied this port as raw TCP (- - -)"
    else:
        symptom = classify(match["flags"], details)
        if symptom in (Symptom.APP, Symptom.CLIENT_ABORT) or not match["code"].startswith("5"):
            return None
        found.insert(0, ("status", match["code"]))
        signal = f"{match['flags']} {details}".strip()
    return Notice(
        time=None,
        family="envoy",
        symptom=symptom,
        signal=signal,
        backend=cluster,
        upstream=host_port(match["host"]),
        details=tuple(found),
        line=line,
    )


def parse_text(line: str) -> Access | Notice | None:
    match = _TEXT.match(line)
    if match is None:
        return None
    # Between the flags and the byte counts: Istio's details, termination
    # details and quoted transport failure; older Istio's quoted mixer status;
    # nothing in Envoy's default. Unset values print as - or "-".
    details = " ".join(
        part for part in _MIDDLE.findall(match["middle"]) if part.strip('"') not in ("", "-")
    )
    cluster = match["cluster"] if match["cluster"] and match["cluster"] != "-" else ""
    if match["time"] is None or match["request"] == "- - -":
        notice = _as_notice(match, details, cluster, line)
        if notice is not None or match["time"] is None:
            return notice
    return _access(
        match["time"],
        match["code"],
        match["flags"],
        details,
        cluster or match["authority"],
        match["host"],
        line,
    )


# Envoy's own log: `[2019-10-14 10:56:06.963][285][debug][router] [...router.cc:671]
# [C523430][S7230925655636222372] upstream reset: reset reason connection termination`,
# or as istio-proxy prints it: `2023-10-12T08:08:15.271052Z\tdebug\tenvoy client
# external/envoy/source/common/http/codec_client.cc:156\t[C107599] request reset`.
_DEBUG_TIME = re.compile(r"^\[?(?P<time>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?Z?)\]?")
_RESET = re.compile(
    r"upstream reset: reset reason:? (?P<reason>[a-z_ ]+?)\s*(?:,|$|\t)"
    r"(?:\s*transport failure reason:? (?P<transport>[^\t]*))?"
)
_CLUSTER = re.compile(r"cluster '(?P<cluster>[^']+)'")
# The reset reasons (`StreamResetReason`, spaces or underscores by version).
_REASONS: tuple[tuple[str, Symptom], ...] = (
    ("overflow", Symptom.OVERFLOW),
    ("connection termination", Symptom.PREMATURE_CLOSE),
    ("connection timeout", Symptom.CONNECT_TIMEOUT),
    ("connection failure", Symptom.CONNECT_FAILED),
    ("connect error", Symptom.CONNECT_FAILED),
    ("protocol error", Symptom.PROTOCOL),
    ("reset", Symptom.RESET),
)
_DEBUG_MESSAGES = messages(
    (
        r"no healthy host for (?:HTTP|TCP) connection pool",
        Symptom.NO_HEALTHY,
        "no healthy host for connection pool (no healthy upstream)",
    ),
    (r"\] upstream timeout$|\tupstream timeout\t", Symptom.READ_TIMEOUT, "upstream timeout"),
    (r"delayed connect error: 111", Symptom.REFUSED, "delayed connect error: 111"),
    (r"\] connect timeout$|\tconnect timeout\t", Symptom.CONNECT_TIMEOUT, "connect timeout"),
)


def _reset(match: re.Match[str], line: str, time: datetime | None) -> Notice:
    reason = match["reason"].replace("_", " ").strip()
    transport = (match["transport"] or "").strip()
    symptom = next((s for key, s in _REASONS if key in reason), Symptom.RESET)
    if symptom is Symptom.CONNECT_FAILED and _TLS.search(transport):
        symptom = Symptom.MTLS
    elif symptom is Symptom.CONNECT_FAILED and ("111" in transport or "refused" in transport):
        symptom = Symptom.REFUSED
    details = [("reset reason", reason)]
    if transport:
        details.append(("transport failure reason", transport))
    cluster = _CLUSTER.search(line)
    return Notice(
        time=time,
        family="envoy",
        symptom=symptom,
        signal=f"upstream reset: reset reason {reason}",
        backend=cluster["cluster"] if cluster else "",
        details=tuple(details),
        line=line,
    )


def parse_debug(line: str) -> Notice | None:
    stamp = _DEBUG_TIME.match(line)
    time = iso_time(stamp["time"].replace(" ", "T")) if stamp else None
    reset = _RESET.search(line)
    if reset is not None:
        return _reset(reset, line, time)
    found = first_message(_DEBUG_MESSAGES, line)
    if found is None:
        return None
    cluster = _CLUSTER.search(line)
    return Notice(
        time=time,
        family="envoy",
        symptom=found[0].symptom,
        signal=found[0].signal,
        backend=cluster["cluster"] if cluster else "",
        line=line,
    )


# The body of Envoy's local reply, as clients print it: `upstream connect error
# or disconnect/reset before headers. reset reason: connection termination`
# (`retried and the latest reset reason: ...` after retries), `no healthy upstream`.
_REPLY = re.compile(
    r"upstream connect error or disconnect/reset before headers\. (?:retried and the latest )?"
    r"reset reason: (?P<reason>[a-z_ ]+?)\s*(?:[,.\]\"]|$)"
    r"(?:\s*transport failure reason: (?P<transport>[^\]\"]*))?"
)
_NO_HEALTHY_REPLY = re.compile(r"(?:^|[\s\[:>\"])no healthy upstream(?:$|[\s\]<\"])")


def parse_reply(line: str) -> Notice | None:
    reset = _REPLY.search(line)
    if reset is not None:
        return _reset(reset, line, None)
    if _NO_HEALTHY_REPLY.search(line):
        return Notice(
            time=None,
            family="envoy",
            symptom=Symptom.NO_HEALTHY,
            signal="no healthy upstream (Envoy's reply)",
            line=line,
        )
    return None


ENVOY_REPLY = MessageFormat(
    name="envoy",
    shape=re.compile(
        r"upstream connect error or disconnect/reset before headers|no healthy upstream"
    ),
    parse=parse_reply,
)
ENVOY_MESSAGES = MessageFormat(
    name="envoy",
    shape=re.compile(
        r"\]\[(?:trace|debug|info|warning|error|critical)\]\[[\w.]+\] "
        r"|Z\s+(?:trace|debug|info|warning|error|critical)\s+envoy \w+"
    ),
    parse=parse_debug,
)
# An access line pasted without its `[time] `: `"GET / HTTP/1.1" 503 UC ...`.
ENVOY_BARE_ACCESS = MessageFormat(
    name="envoy",
    shape=re.compile(r'^"(?:[A-Z]+ \S+ [^"]*|- - -)" \d{1,3} [A-Z,-]+ '),
    parse=parse_text,
)


def parse_json(line: str) -> Access | None:
    obj = json_object(line)
    if obj is None or "response_code" not in obj:
        return None
    details = " ".join(
        part
        for part in (
            field(obj, "response_code_details"),
            field(obj, "upstream_transport_failure_reason"),
        )
        if part
    )
    return _access(
        field(obj, "start_time", "timestamp", "@timestamp"),
        field(obj, "response_code") or "0",
        field(obj, "response_flags") or "-",
        details,
        field(obj, "upstream_cluster", "authority"),
        field(obj, "upstream_host"),
        line,
    )


ENVOY = LogFormat(
    name="envoy",
    kinds=(
        LineKind(
            shape=re.compile(rb'\n\[\d{4}-\d\d-\d\dT[^\]\n]*\] "'),
            # 5xx, and code 0: TCP proxy lines (`"- - -" 0`) show how the port was taken.
            candidate=re.compile(rb'" (?:5\d\d|0) '),
            parse=parse_text,
        ),
    ),
)

ENVOY_JSON = LogFormat(
    name="envoy-json",
    kinds=(
        LineKind(
            shape=re.compile(rb'\n\{[^\n]*"response_code"'),
            candidate=re.compile(rb'"response_code": ?"?5\d\d'),
            parse=parse_json,
        ),
    ),
)
