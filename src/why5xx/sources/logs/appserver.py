"""App servers' own lines about their workers: gunicorn, uWSGI, NGINX Unit.

A worker killed mid-request closes the proxy's connection without an
answer: the proxy logs a 502 ("upstream prematurely closed connection",
Envoy `UC`) and only the app server's log says why.

- gunicorn: `[2024-01-09 13:24:39 +0000] [1637] [CRITICAL] WORKER TIMEOUT
  (pid:7214)` (the worker overran `--timeout`), `Worker with pid 7214 was
  terminated due to signal 9`, `Worker (pid:10) was sent SIGKILL! Perhaps out
  of memory?`, `Worker (pid:10) exited with code 1`.
- uWSGI: `*** HARAKIRI ON WORKER 1 (pid: 53, try: 1) ***` (the request
  overran `harakiri`), `DAMN ! worker 1 (pid: 53) died, killed by signal 9 :(
  trying respawn ...`, and `invalid request block size: 21573 (max
  4096)...skip`: plain HTTP sent to a `socket` that speaks the uwsgi protocol.
- NGINX Unit: `2019/08/07 13:27:15 [alert] 9#9 process 542 exited on signal 9`
  (like nginx's error log, without the colon after the process ids).

Signal 9 is SIGKILL, what the kernel's OOM killer (and a harakiri) sends.
"""

from __future__ import annotations

import re
from datetime import datetime

from why5xx.sources.logs.reader import Message, MessageFormat, first_message, messages
from why5xx.sources.logs.record import Notice, Symptom

_SIGKILL = "9"
_GUNICORN_TIME = re.compile(r"\[(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?P<zone>[+-]\d{4})\]")
_GUNICORN = messages(
    (r"WORKER TIMEOUT \(pid:(?P<pid>\d+)\)", Symptom.WORKER_TIMEOUT, "WORKER TIMEOUT"),
    (
        r"Listening at: http://(?P<listen>(?:127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+)",
        Symptom.LOOPBACK,
        "Listening at a loopback address: the pod IP refuses connections",
    ),
    (
        r"Worker \(pid:(?P<pid>\d+)\) was sent SIGKILL",
        Symptom.WORKER_KILLED,
        "Worker was sent SIGKILL! Perhaps out of memory?",
    ),
    (
        r"Worker with pid (?P<pid>\d+) was terminated due to signal (?P<signal>\d+)",
        Symptom.WORKER_CRASHED,
        "Worker was terminated due to signal",
    ),
    (
        r"Worker \(pid:(?P<pid>\d+)\) (?:exited with code|was sent code) (?P<code>\d+)",
        Symptom.WORKER_CRASHED,
        "Worker exited with code",
    ),
)
_UWSGI = messages(
    (
        r"\*\*\* HARAKIRI ON WORKER \d+ \(pid: (?P<pid>\d+)",
        Symptom.WORKER_TIMEOUT,
        "HARAKIRI ON WORKER",
    ),
    (
        r"DAMN ! worker \d+ \(pid: (?P<pid>\d+)\) died, killed by signal (?P<signal>\d+)",
        Symptom.WORKER_CRASHED,
        "worker died, killed by signal",
    ),
    (
        r"invalid request block size: \d+ \(max \d+\)",
        Symptom.PROTOCOL,
        "invalid request block size: HTTP sent to a uwsgi-protocol socket",
    ),
)
_UNIT = re.compile(
    r"(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)(?:\.\d+)? \[\w+\] \d+#\d+ "
    r"(?:app )?process (?P<pid>\d+) exited on signal (?P<signal>\d+)"
)


def _killed(symptom: Symptom, signal: str) -> Symptom:
    """A worker that died of SIGKILL was killed, not crashed."""
    return (
        Symptom.WORKER_KILLED
        if symptom is Symptom.WORKER_CRASHED and signal == _SIGKILL
        else symptom
    )


def _match(table: tuple[Message, ...], family: str, line: str) -> Notice | None:
    found = first_message(table, line)
    if found is None:
        return None
    message, match = found
    named = {k: v for k, v in match.groupdict().items() if v}
    return Notice(
        time=None,
        family=family,
        symptom=_killed(message.symptom, named.get("signal", "")),
        signal=f"{message.signal} {named['signal']}" if "signal" in named else message.signal,
        details=tuple(named.items()),
        line=line,
    )


def parse_gunicorn(line: str) -> Notice | None:
    notice = _match(_GUNICORN, "gunicorn", line)
    stamp = _GUNICORN_TIME.search(line)
    if notice is None or stamp is None:
        return notice
    time = datetime.strptime(f"{stamp['time']} {stamp['zone']}", "%Y-%m-%d %H:%M:%S %z")
    return notice.with_context(time=time, pod="")


def parse_uwsgi(line: str) -> Notice | None:
    return _match(_UWSGI, "uwsgi", line)


def parse_unit(line: str) -> Notice | None:
    match = _UNIT.search(line)
    if match is None:
        return None
    signal = match["signal"]
    return Notice(
        time=None,  # local time without a zone
        family="nginx-unit",
        symptom=Symptom.WORKER_KILLED if signal == _SIGKILL else Symptom.WORKER_CRASHED,
        signal=f"process exited on signal {signal}",
        details=(("pid", match["pid"]), ("signal", signal)),
        line=line,
    )


# OpenSSL's reason when a TLS server reads plain HTTP (Puma, Node, Java...):
# `SSL routines:SSL23_GET_CLIENT_HELLO:http request`.
_HTTP_ON_TLS = re.compile(r"SSL routines:\w+:http request|SSL_R_HTTP_REQUEST")


def parse_tls(line: str) -> Notice | None:
    if _HTTP_ON_TLS.search(line) is None:
        return None
    return Notice(
        time=None,
        family="tls-server",
        symptom=Symptom.PROTOCOL,
        signal="a TLS port received plain HTTP (SSL routines: http request)",
        line=line,
    )


TLS_SERVER = MessageFormat(name="tls-server", shape=_HTTP_ON_TLS, parse=parse_tls)
GUNICORN = MessageFormat(
    name="gunicorn",
    # Its messages name it too: people paste them without the time and pids.
    shape=re.compile(
        r"\[\d+\] \[(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\] |WORKER TIMEOUT \(pid:"
        r"|Worker \(pid:\d+\)|Worker with pid \d+|Booting worker with pid"
    ),
    parse=parse_gunicorn,
)
UWSGI = MessageFormat(
    name="uwsgi",
    shape=re.compile(
        r"HARAKIRI|DAMN ! worker|uWSGI|\[pid: \d+\|app: |invalid request block size|uwsgi_"
    ),
    parse=parse_uwsgi,
)
NGINX_UNIT = MessageFormat(
    name="nginx-unit",
    shape=re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? \[\w+\] \d+#\d+ "),
    parse=parse_unit,
)
