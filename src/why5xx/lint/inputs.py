"""What `why5xx lint` reads: manifest files (each object with the line it
starts at), or what a cluster runs."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from why5xx.lint.apps import Releases, helm_charts
from why5xx.snapshot import Obj
from why5xx.sources.bundle import STDIN, LoadError, load_bundle
from why5xx.sources.kinds import ReadPlan

if TYPE_CHECKING:
    from why5xx.sources.kubeapi import ApiCall, KubeApi

# What lint reads from a cluster (the live source adds what the rules read).
LIVE_KINDS = (
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "IngressClass",
    "ConfigMap",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Input:
    objects: tuple[Obj, ...]
    errors: tuple[LoadError, ...]  # what could not be read: lint exits 2
    notes: tuple[str, ...] = ()  # what was left out, and why
    calls: tuple[ApiCall, ...] = ()  # the API calls of a live read
    releases: Releases = field(default_factory=dict)  # Helm charts' lines per file


def read_files(paths: Sequence[str], *, stdin: BinaryIO | None = None) -> Input:
    """Files, directories, or `-` for standard input, with line numbers.
    Documents that are no Kubernetes object at all (a chart's values.yaml,
    a kustomization.yaml in a directory) are skipped, not errors."""
    releases: dict[str, tuple[tuple[int, str], ...]] = {}
    if STDIN in paths:  # read here: the Helm charts' comments are in the text
        data = (stdin if stdin is not None else sys.stdin.buffer).read()
        stdin = io.BytesIO(data)
        releases["<stdin>"] = helm_charts(data)
    bundle = load_bundle(paths, stdin=stdin, lines=True)
    for file in bundle.files:
        if file != "<stdin>":
            try:
                releases[file] = helm_charts(Path(file).read_bytes())
            except OSError:
                continue
    skipped = [e.source for e in bundle.errors if e.not_an_object]
    notes: tuple[str, ...] = ()
    if skipped:
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        notes = (
            f"skipped {len(skipped)} document(s) that are not Kubernetes objects: "
            f"{', '.join(skipped[:3])}{more}",
        )
    return Input(
        objects=bundle.objects,
        errors=tuple(e for e in bundle.errors if not e.not_an_object),
        # Read with a caveat (a field of the wrong type read as absent).
        notes=(*notes, *(str(w) for w in bundle.warnings)),
        releases={path: marks for path, marks in releases.items() if marks},
    )


def read_live(api: KubeApi, namespace: str | None, plan: ReadPlan) -> Input:
    """Every object lint reads in a namespace (None: all) of the cluster,
    with what the diagnosis rules lint runs read (`plan`)."""
    from why5xx.sources import live  # noqa: PLC0415 (lightkube only for --live)

    read = live.read_namespace(api, namespace, LIVE_KINDS, plan=plan)
    notes = tuple(
        f"linted without {kind} objects: {reason}" for kind, reason in read.unavailable.items()
    )
    return Input(objects=read.objects, errors=(), notes=notes, calls=read.calls)
