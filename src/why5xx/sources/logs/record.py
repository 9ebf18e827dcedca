"""What the log parsers produce, and the small parsing helpers they share.

A parser turns one line into an `Access` (a request the proxy answered),
an `UpstreamError` (an error-log line about an upstream), a `Notice` (a
proxy's, controller's or app server's own message about a backend: not a
request, but evidence), or None when the line is not of its format. Each
format names what its own signals mean as a `Symptom`; which cause a
symptom points to is decided in `classify`, once for every format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import orjson


class Symptom(StrEnum):
    """What went wrong between the proxy and the upstream, as the log says it."""

    NO_ENDPOINTS = "no-endpoints"  # no ready endpoint to send to
    NO_HEALTHY = "no-healthy-upstream"  # endpoints exist, all marked unhealthy by the proxy
    REFUSED = "refused"  # TCP connect refused (RST): nothing listens on the port
    CONNECT_FAILED = "connect-failed"  # connect failed, no finer reason in the log
    UNREACHABLE = "unreachable"  # no route to the pod IP
    CONNECT_TIMEOUT = "connect-timeout"  # SYN unanswered
    READ_TIMEOUT = "read-timeout"  # connected, no answer in time
    PREMATURE_CLOSE = "premature-close"  # upstream closed (FIN) before the response
    RESET = "reset"  # upstream reset (RST) before the response
    HEADER_TOO_BIG = "header-too-big"  # response headers larger than the proxy buffer
    PROTOCOL = "protocol"  # upstream does not speak what the proxy speaks (TLS, HTTP)
    INVALID_RESPONSE = "invalid-response"  # invalid or oversized response, reason not logged
    MTLS = "mtls"  # mesh TLS handshake / filter chain mismatch
    OVERFLOW = "overflow"  # connection pool, queue or circuit breaker limit
    DNS = "dns"  # upstream name does not resolve
    RATE_LIMITED = "rate-limited"  # the proxy's own rate or connection limit
    CLIENT_ABORT = "client-abort"  # the client went away
    APP = "app"  # the upstream application answered 5xx itself
    NO_SERVICE = "no-service"  # the route names a Service (or port) the proxy cannot find
    NO_INGRESS_CLASS = "no-ingress-class"  # the controller ignores the Ingress: not its class
    HEALTH_CHECK = "health-check"  # the proxy's own health check marked the backend down
    WORKER_TIMEOUT = "worker-timeout"  # the app server killed a worker that took too long
    WORKER_KILLED = "worker-killed"  # a worker died of SIGKILL (the OOM killer's signal)
    WORKER_CRASHED = "worker-crashed"  # a worker died of another signal or exit code
    TCP_PROXIED = "tcp-proxied"  # a mesh sidecar proxied the port as raw TCP, not HTTP
    LOOPBACK = "loopback"  # the app server listens on 127.0.0.1 only: the pod IP refuses
    UNKNOWN = "unknown"  # a 5xx whose line says nothing more


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One try at one upstream: nginx lists every retry, others log one."""

    address: str  # "10.244.1.20:8080", a server group name, or "" when none was chosen
    status: int | None  # what the upstream answered (None: nothing)


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """One access-log line."""

    time: datetime  # timezone-aware
    status: int
    service: str  # the proxy's name for the backend (upstream name, cluster, router)
    attempts: tuple[Attempt, ...]
    symptom: Symptom
    signal: str  # the words of the log that gave the symptom
    line: str
    refinable: bool = False  # an error-log line about the same try may say more (nginx)
    # For a line that names no upstream (nginx's `combined`/`main`): what pairs
    # it with the error line of the same request.
    client: str = ""
    request: str = ""

    @property
    def upstream(self) -> str:
        """The upstream whose result the client got: the last attempt."""
        return self.attempts[-1].address if self.attempts else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamError:
    """One error-log line about an upstream, as nginx writes them."""

    time: datetime  # naive: nginx writes local time without a zone
    upstream: str  # "10.244.1.20:8080", a group name, or ""
    symptom: Symptom
    signal: str
    status: int  # the status this error gives the client; 0 when the response had started
    line: str
    # What pairs it with the access line of the same request when that line
    # names no upstream (nginx's `combined`/`main`): the client and the request.
    client: str = ""
    request: str = ""
    host: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """A proxy's, controller's or app server's own message about a backend
    (`Service "shop/api" does not have any active Endpoint.`, `WORKER
    TIMEOUT (pid:10)`, an Envoy `upstream reset`): no request, but evidence.

    What it names is kept apart so it can be matched to a diagnosis target
    without pod IPs: a Service `ns/name`, a proxy's backend name
    (`[ns-svc-port]`, `outbound|80||svc.ns.svc.cluster.local`, `ns_svc_port`),
    an upstream address, a host name.
    """

    time: datetime | None  # aware; None when the line has no full date (klog has no year)
    family: str  # who wrote it: ingress-nginx-controller, envoy, gunicorn, ...
    symptom: Symptom
    signal: str  # the words of the line, without what varies between lines
    line: str
    service: str = ""  # "namespace/name" (or a bare name) of a Kubernetes Service
    backend: str = ""  # the proxy's name for the backend (upstream name, Envoy cluster)
    upstream: str = ""  # "10.244.1.20:8080" or a host name
    # Further evidence the line holds: ("flags", "UC"), ("reset reason", ...),
    # ("signal", "9"), ("pod", "shop/api-6f9c-x2m4q") ...
    details: tuple[tuple[str, str], ...] = ()

    def with_context(self, *, time: datetime | None, pod: str) -> Notice:
        """This notice with what a container prefix added (its pod, a kubectl
        --timestamps time), where the line itself had none."""
        details = self.details
        if pod and all(key != "pod" for key, _ in details):
            details = (*details, ("pod", pod))
        return replace(self, time=self.time or time, details=details)


Record = Access | UpstreamError | Notice

# --- shared helpers ----------------------------------------------------------

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_OFFSETS: dict[str, timezone] = {}
_CLF_TIME = re.compile(
    r"(\d{1,2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?: ([+-]\d{4}))?$"
)
_ADDRESS = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[\w.-]+)(?::\d+)?$")


def _zone(offset: str) -> timezone:
    zone = _OFFSETS.get(offset)
    if zone is None:
        minutes = int(offset[1:3]) * 60 + int(offset[3:5])
        zone = timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
        _OFFSETS[offset] = zone
    return zone


def clf_time(text: str) -> datetime | None:
    """`08/Mar/2023:16:02:45 +0000` (nginx, Traefik) or `06/Feb/2009:12:14:14.655`
    (HAProxy, no zone: read as UTC, the zone of nearly every container)."""
    match = _CLF_TIME.match(text)
    if match is None:
        return None
    day, month, year, hour, minute, second, fraction, offset = match.groups()
    number = _MONTHS.get(month)
    if number is None:
        return None
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    try:
        return datetime(
            int(year),
            number,
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=_zone(offset) if offset else UTC,
        )
    except ValueError:
        return None


def iso_time(text: str) -> datetime | None:
    """RFC 3339 (`2016-04-15T20:17:00.310Z`); zone-less values are read as UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def status_code(text: str) -> int | None:
    """`502` -> 502; `-`, `0` or junk -> None."""
    return int(text) if text.isdigit() and text != "0" else None


def host_port(text: str) -> str:
    """The `host:port` of an upstream as logs print it: `tcp://10.0.2.1:80`,
    `http://10.244.3.84:5601/path` and `10.0.0.1:80` all give `10.0.0.1:80`;
    `-` and empty give ""."""
    if not text or text == "-":
        return ""
    _, sep, rest = text.partition("://")
    address = (rest if sep else text).split("/", 1)[0]
    return address if _ADDRESS.match(address) else ""


def attempt_lists(addresses: str, statuses: str) -> tuple[Attempt, ...]:
    """nginx's `$upstream_addr` and `$upstream_status`: one entry per try,
    `, ` between tries and ` : ` between server groups (internal redirects).
    The k-th address pairs with the k-th status."""
    if not addresses or addresses == "-":
        return ()
    addrs = addresses.replace(" : ", ", ").split(", ")
    codes = statuses.replace(" : ", ", ").split(", ")
    codes += ["-"] * (len(addrs) - len(codes))
    return tuple(
        Attempt(address=host_port(addr) or addr, status=status_code(code))
        for addr, code in zip(addrs, codes, strict=False)
    )


def json_object(line: str) -> dict[str, Any] | None:
    """One JSON-lines record, or None when the line is not a JSON object."""
    if not line.startswith("{"):
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def field(obj: dict[str, Any], *keys: str) -> str:
    """The first of `keys` present in a JSON log record, as text ("" when
    none is): formats print numbers as numbers or as strings, and `-` or
    null for unset values."""
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "-":
            return str(value)
    return ""
