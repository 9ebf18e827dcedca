"""A Deployment's revisions: the ReplicaSet a pod belongs to, the revision
before it, and what changed between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
