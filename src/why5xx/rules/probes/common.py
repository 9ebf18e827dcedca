"""What the two probe rules say alike: who is not ready, the evidence of an
unready pod, and the patch of a workload's probe. Findings are grouped by
workload and are critical only while no pod of the Service is ready."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from why5xx import kubectl
from why5xx.evidence import ago, clip, duration, fact, impact, named, pod_count
from why5xx.model import Evidence, Severity
from why5xx.snapshot import Event, Obj
from why5xx.views.pods import (
    containers,
    pod_template_spec,
)
from why5xx.views.probes import MAX_TEXT, Analysis, Unready
from why5xx.views.service import ServiceTarget

_T = TypeVar("_T")


def grouped(entries: Iterable[_T], key: Callable[[_T], tuple[Unready, str]]) -> list[list[_T]]:
    """Entries by owner, container and a kind; pods in name order."""
    groups: dict[tuple[str, str, str], list[_T]] = {}
    for entry in sorted(entries, key=lambda e: key(e)[0].pod.name):
        item, kind = key(entry)
        groups.setdefault((str(item.owner.ref), item.state.name, kind), []).append(entry)
    return list(groups.values())


def pods_phrase(items: Sequence[Unready]) -> str:
    return named(list(dict.fromkeys(item.pod.name for item in items)))


def unready_who(analysis: Analysis, items: Sequence[Unready]) -> tuple[str, str]:
    """`2 of 3 pods of Deployment api` and its verb (`are`)."""
    owner = items[0].owner
    count = len({item.pod.name for item in items})
    verb = "is" if count == 1 else "are"
    if owner.kind == "Pod":
        return f"Pod {owner.name}", verb
    total = analysis.totals.get(str(owner.ref), count)
    return f"{pod_count(count, total)} of {owner.kind} {owner.name}", verb


def unready_impact(analysis: Analysis, target: ServiceTarget) -> str:
    return impact(analysis.ready, target.name, "capacity is reduced")


def unready_severity(analysis: Analysis) -> Severity | None:
    """The rule's critical default while nothing serves; a warning otherwise."""
    return Severity.WARNING if analysis.ready else None


def event_evidence(pod: Obj, event: Event, now: datetime) -> Evidence:
    details = []
    if event.count > 1 and event.first and event.last:
        details.append(f"x{event.count} over {duration(event.last - event.first)}")
    if event.last:
        details.append(f"last {ago(now, event.last)}")
    suffix = f" ({', '.join(details)})" if details else ""
    return Evidence(
        object=pod.ref,
        field=f"event {event.reason}",
        observed=f"{clip(event.message, MAX_TEXT)}{suffix}",
        source=event.source,
    )


def endpoint_evidence(target: ServiceTarget) -> list[Evidence]:
    endpoints = target.endpoints
    if endpoints is None or not endpoints.objects:
        return []
    return [
        fact(
            endpoints.objects[0],
            "endpoints[].conditions.ready",
            f"{len(endpoints.ready)} of {len(endpoints.endpoints)} ready",
        )
    ]


def not_ready_evidence(item: Unready) -> Evidence:
    running = f" (running for {duration(item.running_for)})" if item.running_for else ""
    return fact(
        item.pod,
        f"status.containerStatuses[{item.state.name}].ready",
        f"false{running}",
        expected="true",
    )


def template_patch(
    workload: Obj | None, container: str, operations: Sequence[tuple[str, tuple[str, ...], Any]]
) -> str | None:
    """A JSON patch of one container of a workload's pod template, from (op,
    path below the container, value); None for a bare pod, whose probes are
    immutable."""
    if workload is None:
        return None
    names = [c.get("name") for c in containers(pod_template_spec(workload))]
    if container not in names:
        return None
    base = ("spec", "template", "spec", "containers", str(names.index(container)))
    return kubectl.json_patch(
        workload,
        [
            {"op": op, "path": kubectl.json_pointer(*base, *path), "value": value}
            for op, path, value in operations
        ],
    )


BARE_POD = " The pod has no workload and a pod's probes are immutable: recreate it with the fix."
