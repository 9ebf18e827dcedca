"""What log collectors put before a container's own line, taken off.

People paste logs as their tools print them: `kubectl logs --prefix`
(`[pod/checkout-6f9c7d8b5d-x2m4q/app] `), kubetail and older kubectl
(`[checkout-6f9c7d8b5d-x2m4q] `), stern (`checkout-6f9c7d8b5d-x2m4q app `,
after the namespace with several), docker compose (`uwsgi_1   | `),
`kubectl logs --timestamps` (`2024-06-06T11:01:39.532896292Z `) and log
viewers (a time and a tab). The pod a prefix names and the time
`--timestamps` adds are kept: a gunicorn line says no more than `WORKER
TIMEOUT (pid:10)`, its prefix says whose worker it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from why5xx.sources.logs.record import iso_time

_POD = r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?"
# Tried in order, repeatedly (stern with --timestamps: pod, container, time).
_KUBECTL = re.compile(rf"^\[pod/(?P<pod>{_POD})/[-a-z0-9]+\] ")
_KUBETAIL = re.compile(r"^\[(?P<pod>[a-z](?:[-a-z0-9.]*[a-z0-9])?)\] ")
_COMPOSE = re.compile(r"^[\w.-]+\s+\| ")
_TIMESTAMPS = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")
_VIEWER = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?\t")
# stern: pod (a ReplicaSet's or a StatefulSet's), container, maybe the namespace before.
_STERN = re.compile(
    rf"^(?:[a-z0-9][-a-z0-9]* )?(?P<pod>{_POD}-(?:[a-z0-9]{{5}}|[0-9]+)) [a-z0-9][-a-z0-9]* "
)
# A Deployment's pod name alone (`kubectl logs -l ... --prefix` cut, or typed):
# `nginx-ingress-nginx-controller-5876c489c5-k9pwp 2024/08/28 08:12:05 [error] ...`.
_POD_ONLY = re.compile(r"^(?P<pod>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?-[a-z0-9]{6,10}-[a-z0-9]{5}) ")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PREFIXES = (_KUBECTL, _KUBETAIL, _STERN, _POD_ONLY, _COMPOSE, _TIMESTAMPS, _VIEWER)


@dataclass(frozen=True, slots=True)
class Stripped:
    line: str  # the container's own line
    pod: str  # the pod a prefix named, or ""
    time: datetime | None  # the time kubectl --timestamps added


def strip(line: str) -> Stripped:
    """`line` without the prefixes collectors add."""
    if "\x1b[" in line:  # stern and kubetail colour their prefixes on a terminal
        line = _ANSI.sub("", line)
    pod, time = "", None
    found = True
    while found:
        found = False
        for pattern in _PREFIXES:
            match = pattern.match(line)
            if match is None:
                continue
            groups = match.groupdict()
            if groups.get("pod") and not pod:
                pod = groups["pod"]
            if groups.get("time") and time is None:
                time = iso_time(groups["time"].replace("Z", "+00:00"))
            line = line[match.end() :]
            found = True
            break
    return Stripped(line, pod, time)


def prefixed(lines: list[str]) -> bool:
    """Whether most of these lines carry a collector's prefix."""
    marked = sum(1 for line in lines if strip(line).line != line)
    return bool(lines) and marked * 2 > len(lines)
