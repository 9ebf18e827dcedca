"""A Deployment's revisions: the ReplicaSet a pod belongs to, the revision
before it, and what changed between them (one diff for every rule: a
container as both revisions have it, `container_change`, and the fields
that differ below one of its keys, `field_diff`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Evidence
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import containers, pod_template_spec

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def revision(replica_set: Obj) -> int | None:
    """The Deployment revision a ReplicaSet stamps out."""
    value = str(replica_set.annotations.get(REVISION_ANNOTATION) or "")
    return int(value) if value.isdigit() else None


def template_container(workload: Obj, name: str) -> Mapping[str, Any] | None:
    """A container of a workload's pod template, by name."""
    return next((c for c in containers(pod_template_spec(workload)) if c.get("name") == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Revisions:
    """The ReplicaSet a pod belongs to and the one of its Deployment's
    revision before it."""

    deployment: Obj
    current: Obj
    previous: Obj
    current_revision: int
    previous_revision: int


def revisions(snap: Snapshot, pod: Obj) -> Revisions | None:
    """The pod's revision and the previous one, when the pod's Deployment and
    both ReplicaSets are in the input."""
    current = snap.owner(pod)
    if current is None or current.kind != "ReplicaSet":
        return None
    deployment = snap.owner(current)
    number = revision(current)
    if deployment is None or deployment.kind != "Deployment" or number is None:
        return None
    older = [
        (older_number, other)
        for other in snap.owned(deployment, "ReplicaSet")
        if (older_number := revision(other)) is not None and older_number < number
    ]
    if not older:
        return None
    previous_number, previous = max(older, key=lambda pair: pair[0])
    return Revisions(
        deployment=deployment,
        current=current,
        previous=previous,
        current_revision=number,
        previous_revision=previous_number,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerChange:
    """A container in the pod's Deployment revision (`after`) and in the
    revision before it (`before`)."""

    revisions: Revisions
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    @property
    def field(self) -> str:
        """The container in the previous ReplicaSet's template."""
        return f"spec.template.spec.containers[{self.before.get('name', '')}]"

    @property
    def previous_ready(self) -> int:
        return int(self.revisions.previous.status.get("readyReplicas") or 0)

    @property
    def rollback_advice(self) -> str:
        return f" To stop the 5xx now, roll back to revision {self.revisions.previous_revision}."

    @property
    def rollback(self) -> str:
        return kubectl.rollout_undo(self.revisions.deployment, self.revisions.previous_revision)

    def evidence(self, key: str, value: str | None) -> Evidence:
        """`key` (a field under the container) as the previous revision had it."""
        previous = self.revisions.previous
        return fact(
            previous,
            f"{self.field}.{key}",
            f"{value} (revision {self.revisions.previous_revision})",
        )


def container_change(snap: Snapshot, pod: Obj, container: str) -> ContainerChange | None:
    """The container as the pod's revision and the one before it have it,
    when the Deployment and both ReplicaSets are in the input."""
    found = revisions(snap, pod)
    if found is None:
        return None
    before = template_container(found.previous, container)
    after = template_container(found.current, container)
    if before is None or after is None:
        return None
    return ContainerChange(revisions=found, before=before, after=after)


@dataclass(frozen=True, slots=True, kw_only=True)
class Changed:
    """A field that differs between two revisions of a container."""

    key: str  # dotted, below what was compared: httpGet.path
    label: str  # what a title calls it: path
    now: str
    was: str


def _flatten(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        return {prefix: " ".join(str(v) for v in value)}
    return {prefix: str(value)}


def field_diff(now: Mapping[str, Any], was: Mapping[str, Any]) -> tuple[Changed, ...]:
    """Changed fields, labelled by their last segment (`path`) unless that is
    ambiguous (`httpGet.port` against `tcpSocket.port`)."""
    flat_now, flat_was = _flatten(now), _flatten(was)
    keys = sorted(
        k for k in flat_now.keys() | flat_was.keys() if flat_now.get(k) != flat_was.get(k)
    )
    tails = [key.rsplit(".", 1)[-1] for key in keys]
    return tuple(
        Changed(
            key=key,
            label=tail if tails.count(tail) == 1 else key,
            now=flat_now.get(key, "(unset)"),
            was=flat_was.get(key, "(unset)"),
        )
        for key, tail in zip(keys, tails, strict=True)
    )
