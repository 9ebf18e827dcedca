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
class LintReport:
    findings: tuple[Finding, ...]  # by file, line, object, code; suppressed ones included
    objects: int  # how many objects were linted
    errors: tuple[CheckError, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. an ignore annotation naming an unknown check

    @property
    def active(self) -> tuple[Finding, ...]:
        """The findings that count (not suppressed)."""
        return tuple(f for f in self.findings if f.suppressed is None)

    def counts(self) -> dict[str, int]:
        counted = Counter(f.level.value for f in self.active)
        return {level.value: counted.get(level.value, 0) for level in Level}

    def fails(self, threshold: Level | None) -> bool:
        """Whether a finding that counts is at or above `threshold` (None: never)."""
        return threshold is not None and any(f.level.rank >= threshold.rank for f in self.active)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "summary": {
                **self.counts(),
                "suppressed": len(self.findings) - len(self.active),
                "objects": self.objects,
            },
            "findings": [f.to_json() for f in self.findings],
            "errors": [e.to_json() for e in self.errors],
            "notes": list(self.notes),
        }
