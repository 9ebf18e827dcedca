"""Evidence and wording the rules share, so that findings read alike: a field
of an object as evidence, the pods a finding names ("2 of 3 pods", "a, b
and 4 more"), a Service's ports, what the Service's ready endpoints make of
a finding, and times and long messages cut to size."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from why5xx.kube import format_duration
from why5xx.model import Evidence
from why5xx.snapshot import Obj, Snapshot

# How many pods (or other objects) a finding names before "and N more".
MAX_NAMED = 5


def fact(obj: Obj, field: str, observed: str, *, expected: str | None = None) -> Evidence:
    """A field of an object in the input, as evidence."""
    return Evidence(
        object=obj.ref, field=field, observed=observed, expected=expected, source=obj.source
    )


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def duration(span: timedelta | float) -> str:
    """A span (or seconds) as kubectl prints ages; clock skew reads as 0s."""
    seconds = span.total_seconds() if isinstance(span, timedelta) else span
    return format_duration(max(seconds, 0))


def ago(now: datetime, when: datetime | None) -> str:
    """`5m ago`."""
    if when is None:
        return "at an unknown time"
    return f"{duration(now - when)} ago"


def named(names: Sequence[str], limit: int = MAX_NAMED) -> str:
    """`a, b, c and 2 more`: the first `limit` names."""
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def pod_count(count: int, total: int) -> str:
    """`2 of 3 pods`."""
    return f"{count} of {total} pod{'s' if total != 1 else ''}"


def workload_totals(snap: Snapshot, pods: Iterable[Obj]) -> dict[str, int]:
    """How many of `pods` each workload has (a bare pod is its own), by the
    workload's ref: the M of "N of M pods"."""
    totals: dict[str, int] = {}
    for pod in pods:
        key = str((snap.workload_of(pod) or pod).ref)
        totals[key] = totals.get(key, 0) + 1
    return totals


def ports_text(service: Obj) -> str:
    """`http=80->8080, 9090->9090`: a Service's ports and their targetPorts."""
    texts = []
    for port in service.spec.get("ports") or ():
        name = f"{port.get('name')}=" if port.get("name") else ""
        texts.append(f"{name}{port.get('port')}->{port.get('targetPort', port.get('port'))}")
    return ", ".join(texts)


def impact(ready: int, service: str, degraded: str) -> str:
    """What a finding about some of a Service's pods does to the Service:
    `degraded` says what the 5xx are like while `ready` endpoints still serve."""
    if ready:
        return (
            f"{ready} ready endpoint(s) still serve Service {service}, so it is degraded: "
            f"{degraded}."
        )
    return f"No pod of Service {service} is ready, so it has no endpoint and proxies answer 503."
