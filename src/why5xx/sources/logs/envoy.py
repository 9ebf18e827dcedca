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

from why5xx.sources.logs.reader import LineKind, LogFormat
from why5xx.sources.logs.record import (
    Access,
    Attempt,
    Symptom,
    field,
    host_port,
    iso_time,
    json_object,
    status_code,
)

_TEXT = re.compile(
    r'^\[(?P<time>[^\]]+)\] "[^"]*" (?P<code>\d+) (?P<flags>\S+) (?P<middle>.*?)'
    r'\d+ \d+ \d+ \S+ "[^"]*" "[^"]*" "[^"]*" "(?P<authority>[^"]*)" "(?P<host>[^"]*)"'
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


def parse_text(line: str) -> Access | None:
    match = _TEXT.match(line)
    if match is None:
        return None
    # Between the flags and the byte counts: Istio's details, termination
    # details and quoted transport failure; older Istio's quoted mixer status;
    # nothing in Envoy's default. Unset values print as - or "-".
    details = " ".join(
        part for part in _MIDDLE.findall(match["middle"]) if part.strip('"') not in ("", "-")
    )
    cluster = match["cluster"]
    return _access(
        match["time"],
        match["code"],
        match["flags"],
        details,
        cluster if cluster and cluster != "-" else match["authority"],
        match["host"],
        line,
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
            candidate=re.compile(rb'" 5\d\d '),
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
