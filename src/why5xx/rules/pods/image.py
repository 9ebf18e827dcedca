"""`image-pull`: the kubelet cannot pull the container image, and why."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft
from why5xx.rules.base import rule
from why5xx.rules.pods.common import (
    Hit,
    drafts,
    event_evidence,
    latest_event,
    owning_workload,
    spec_path,
    waiting_evidence,
)
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.pods import ContainerState, container_spec, container_states
from why5xx.views.revisions import container_change
from why5xx.views.service import ServiceTarget

_PULL_WAITING = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
_PULL_EVENTS = ("Failed", "InspectFailed", "ErrImageNeverPull")


@dataclass(frozen=True, slots=True, kw_only=True)
class _PullFailure:
    pattern: re.Pattern[str]
    label: str  # why the pull failed, for the title
    advice: str
    credentials: bool = False  # the registry may want credentials the pod lacks


# First match wins: "pull access denied, repository does not exist or may
# require authorization" must not read as a plain "not found".
_PULL_FAILURES = (
    _PullFailure(
        pattern=re.compile(r"toomanyrequests|429 Too Many Requests|rate limit", re.I),
        label="the registry's pull rate limit is exhausted",
        advice=(
            "Authenticate the pulls (imagePullSecrets with a paid or service account), or mirror "
            "the image to a registry you control."
        ),
    ),
    _PullFailure(
        pattern=re.compile(
            r"no such host|i/o timeout|connection refused|network is unreachable|"
            r"TLS handshake timeout|certificate signed by unknown authority",
            re.I,
        ),
        label="the registry cannot be reached from the node",
        advice=(
            "Fix the registry host in the image name, or the nodes' DNS, egress or proxy "
            "settings towards it."
        ),
    ),
    _PullFailure(
        pattern=re.compile(r"pull access denied|repository does not exist or may require", re.I),
        label="the repository does not exist or needs credentials",
        advice=(
            "Check the image name, and give the pod credentials for the registry "
            "(imagePullSecrets) if the repository is private."
        ),
        credentials=True,
    ),
    _PullFailure(
        pattern=re.compile(
            r"unauthorized|403 Forbidden|authorization failed|no basic auth credentials|"
            r"authentication required|denied",
            re.I,
        ),
        label="the registry refuses the node's credentials",
        advice=(
            "Create a docker-registry Secret for the registry and reference it in the pod "
            "template's imagePullSecrets (or the ServiceAccount's)."
        ),
        credentials=True,
    ),
    _PullFailure(
        pattern=re.compile(r"not found|manifest unknown|name unknown|NotFound", re.I),
        label="the image or tag does not exist",
        advice="Fix the image reference in the pod template: the registry has no such tag.",
    ),
    _PullFailure(
        pattern=re.compile(r"no match for platform|exec format error", re.I),
        label="the image has no build for the node's platform",
        advice="Build and push the image for the nodes' architecture (a multi-arch manifest).",
    ),
    _PullFailure(
        pattern=re.compile(r"invalid reference format|InvalidImageName|couldn't parse image", re.I),
        label="the image reference is not a valid name",
        advice="Fix the image reference (lowercase repository, one tag or digest).",
    ),
    _PullFailure(
        pattern=re.compile(r"pull policy of Never|ErrImageNeverPull", re.I),
        label="the image is not on the node and imagePullPolicy is Never",
        advice="Set imagePullPolicy to IfNotPresent, or preload the image on every node.",
    ),
)
_UNKNOWN_PULL = _PullFailure(
    pattern=re.compile(""),
    label="the pull fails",
    advice="Read the kubelet's pull error in the pod's events and fix the image or the access.",
)


def _registry(image: str) -> str:
    """The registry host of an image reference (Docker Hub when the first
    path part is not a host)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _pull_hit(snap: Snapshot, pod: Obj, cs: ContainerState) -> Hit:
    spec = container_spec(pod, cs.name) or {}
    image = str(spec.get("image") or "")
    event = latest_event(snap, pod, _PULL_EVENTS, f'"{image}"') or latest_event(
        snap, pod, _PULL_EVENTS, "image"
    )
    text = " ".join([event.message if event else "", cs.message, cs.reason])
    failure = next((f for f in _PULL_FAILURES if f.pattern.search(text)), _UNKNOWN_PULL)
    evidence = [
        *waiting_evidence(pod, cs, message=event is None),
        fact(pod, f"{spec_path(pod, cs.name)}.image", image),
    ]
    if event is not None:
        evidence.append(event_evidence(snap, pod, event))
    notes = [
        f"The kubelet cannot pull {image} for container {cs.name}: {failure.label}. The "
        "container never starts, so the pod never becomes ready."
    ]
    workload = owning_workload(snap, pod)
    advice = failure.advice
    patch = None
    if failure.credentials:
        secrets = [str(s.get("name")) for s in pod.spec.get("imagePullSecrets") or ()]
        evidence.append(
            fact(
                pod,
                "spec.imagePullSecrets",
                ", ".join(secrets) or "<none>",
                expected="a Secret of type kubernetes.io/dockerconfigjson for the registry",
            )
        )
        retrieve = latest_event(snap, pod, ("FailedToRetrieveImagePullSecret",))
        if retrieve is not None:
            evidence.append(event_evidence(snap, pod, retrieve))
        if not secrets:
            patch = kubectl.merge_patch(
                workload,
                {"spec": {"template": {"spec": {"imagePullSecrets": [{"name": "regcred"}]}}}},
            )
            patch = (
                f"kubectl create secret docker-registry regcred -n {pod.namespace} "
                f"--docker-server={_registry(image)} --docker-username=<user> "
                "--docker-password=<token>\n" + patch
            )
    change = container_change(snap, pod, cs.name)
    confirm = [kubectl.describe(pod), kubectl.events(pod)]
    if change is not None and change.before.get("image") != image:
        was = change.before.get("image")
        serving = (
            f", and its ReplicaSet {change.revisions.previous.name} still runs "
            f"{change.previous_ready} ready pod(s) with it: that image pulls fine"
            if change.previous_ready
            else ""
        )
        notes.append(
            f"Revision {change.revisions.previous_revision} of Deployment "
            f"{change.revisions.deployment.name} ran {was}{serving}."
        )
        evidence.append(change.evidence("image", was))
        advice += change.rollback_advice
        patch = change.rollback
        confirm.append(kubectl.rollout_history(change.revisions.deployment))
    return Hit(
        pod=pod,
        summary=f"{image} cannot be pulled ({cs.reason}): {failure.label}",
        notes=tuple(notes),
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        advice=advice,
        patch=patch,
        confidence=0.95 if event is not None else 0.85,
    )


@rule(cause="image-pull", inputs=("Service", "Pod"))
def image_pull(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The Service's pods cannot pull their container image.

    **What it finds**: containers of the selected pods waiting in
    `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName` or
    `ErrImageNeverPull`, the image they name, and why the pull fails, read
    from the kubelet's "Failed to pull image" events: tag not found / manifest
    unknown, unauthorized or a missing imagePullSecret, the registry host not
    resolving, the registry's rate limit. When the Deployment's previous
    revision ran another image (and its pods still run), it says so and
    offers the rollback.

    **Why it is a 5xx**: the container never starts, so the pod never becomes
    an endpoint; once the old pods are gone, proxies answer 503.

    **Fix**: roll back to the previous revision (`kubectl rollout undo`), then
    fix the image reference or the registry credentials.
    """

    def find(snap: Snapshot, pod: Obj) -> Iterator[Hit]:
        for cs in container_states(pod):
            if cs.state == "waiting" and cs.reason in _PULL_WAITING:
                yield _pull_hit(snap, pod, cs)

    return drafts(snap, target, find, "failing to pull its image")
