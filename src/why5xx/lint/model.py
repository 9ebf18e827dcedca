"""What `why5xx lint` produces: findings with a stable code, a level, the
object and the file line they are about, and a fix.

Everything here is immutable; the JSON shape of `LintReport` is the
contract `why5xx/lint/v1` (docs/lint/README.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from why5xx.model import ObjectRef
from why5xx.snapshot import Obj

SCHEMA = "why5xx/lint/v1"
_BUNDLE = "bundle:"


class Level(StrEnum):
    """How bad a finding is. Codes never encode it: configuration may change it."""

    ERROR = "error"  # a 5xx whenever the manifests are applied as written
    WARNING = "warning"  # 5xx under ordinary events: a rollout, a node drain, idle connections
    INFO = "info"  # a hardening hint

    @property
    def rank(self) -> int:
        """Larger is worse."""
        return _RANK[self]


_RANK = {Level.ERROR: 2, Level.WARNING: 1, Level.INFO: 0}


class Scope(StrEnum):
    """The objects a check runs on, one at a time."""

    SERVICE = "Service"
    WORKLOAD = "workload"  # Deployment, StatefulSet, DaemonSet, ReplicaSet, RC, Pod not owned
    ROUTE = "route"  # Ingress, HTTPRoute
    PDB = "PodDisruptionBudget"
    HPA = "HorizontalPodAutoscaler"


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where an object came from: a file and the line it starts at (None for
    an object read from a cluster, or a line the loader could not tell)."""

    path: str | None
    line: int | None

    @staticmethod
    def of(obj: Obj) -> Location:
        source = obj.source
        path = source.removeprefix(_BUNDLE) if source.startswith(_BUNDLE) else None
        return Location(path=path, line=obj.line if path is not None else None)

    def __str__(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else self.path

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line}


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """What a check yields: the object at fault, the field, one sentence
    naming the object and the mismatch, and what to change. The runner
    stamps the check's code and level on it."""

    subject: Obj
    field: str
    message: str
    fix: str
    related: tuple[Obj, ...] = ()  # the other objects the mismatch is with
    # A lower level than the check's for this case (a datastore no HTTP proxy
    # fronts, a Service whose workload is installed elsewhere); None: the check's.
    level: Level | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Related:
    object: ObjectRef
    location: Location

    def to_json(self) -> dict[str, Any]:
        return {"object": str(self.object), "location": self.location.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    code: str
    name: str
    level: Level
    message: str
    fix: str
    object: ObjectRef
    field: str
    location: Location
    related: tuple[Related, ...] = ()
    # Why it is suppressed (the `why5xx.io/ignore` annotation's reason); None: it counts.
    suppressed: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "severity": self.level.value,
            "message": self.message,
            "fix": self.fix,
            "object": str(self.object),
            "field": self.field,
            "location": self.location.to_json(),
        }
        if self.related:
            out["related"] = [r.to_json() for r in self.related]
        if self.suppressed is not None:
            out["suppressed"] = {"reason": self.suppressed}
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckError:
    """A check that crashed on one object: reported, and the run went on."""

    code: str
    object: ObjectRef
    location: Location
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location.path else ""
        return f"{where}check {self.code} crashed on {self.object}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "object": str(self.object),
            "location": self.location.to_json(),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Unread:
    """A document that could not be linted: broken YAML, an unrendered
    template, duplicate keys. It fails `--fail-on` (but `never`) like an
    error finding: what is in it was not checked."""

    source: str  # file, and document or item
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "message": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class LintReport:
    findings: tuple[Finding, ...]  # by file, line, object, code; suppressed ones included
    objects: int  # how many objects were linted
    errors: tuple[CheckError, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. an ignore annotation naming an unknown check
    unread: tuple[Unread, ...] = ()
    # Findings below this level are counted, not listed (`--min-severity`).
    shown_from: Level = Level.WARNING
    applications: int = 1  # the applications the objects were split into (lint/apps.py)

    @property
    def listed(self) -> tuple[Finding, ...]:
        """The findings at or above the level shown, suppressed ones included."""
        return tuple(f for f in self.findings if f.level.rank >= self.shown_from.rank)

    @property
    def active(self) -> tuple[Finding, ...]:
        """The findings shown that count (not suppressed)."""
        return tuple(f for f in self.listed if f.suppressed is None)

    @property
    def hidden(self) -> int:
        """Findings that count, below the level shown."""
        return sum(
            1 for f in self.findings if f.suppressed is None and f.level.rank < self.shown_from.rank
        )

    def counts(self) -> dict[str, int]:
        counted = Counter(f.level.value for f in self.active)
        return {level.value: counted.get(level.value, 0) for level in Level}

    def fails(self, threshold: Level | None) -> bool:
        """Whether a finding that counts is at or above `threshold`, or a
        document or a check could not be used (None: never)."""
        if threshold is None:
            return False
        return bool(self.unread or self.errors) or any(
            f.level.rank >= threshold.rank for f in self.findings if f.suppressed is None
        )

    def to_json(self) -> dict[str, Any]:
        listed = self.listed
        return {
            "schema": SCHEMA,
            "summary": {
                **self.counts(),
                "suppressed": len(listed) - len(self.active),
                "hidden": self.hidden,
                "objects": self.objects,
                "applications": self.applications,
            },
            "findings": [f.to_json() for f in listed],
            "errors": [e.to_json() for e in self.errors],
            "unread": [u.to_json() for u in self.unread],
            "notes": list(self.notes),
        }
