"""The capture manifest: what `why5xx capture` wrote, when, from where, and
what it redacted.

It is a Kubernetes-shaped document (`apiVersion: why5xx/v1`, `kind:
CaptureManifest`) in the bundle, so the bundle source reads it like any
file and takes from it what a live diagnosis knew: the API server's time
("now"), the kinds that were listed even where none were found, and the
kinds that could not be read, with why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from why5xx.kube import parse_time

MANIFEST_API_VERSION = "why5xx/v1"
MANIFEST_KIND = "CaptureManifest"
MANIFEST_FILE = "why5xx-capture.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Redaction:
    """Fields of one object whose values were replaced (`data.password`,
    `spec.template.spec.containers[0].env[2].value`...)."""

    object: str
    fields: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"object": self.object, "fields": list(self.fields)}


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureFile:
    path: str
    kind: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "count": self.count}


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureManifest:
    captured_at: datetime | None
    context: str
    server: str
    namespace: str | None  # None: every namespace
    tool_version: str
    listed: tuple[str, ...]  # kinds listed, found or not
    unavailable: Mapping[str, str]  # kind -> why it could not be read
    not_served: tuple[str, ...] = ()  # kinds this cluster does not serve
    never_fetched: tuple[str, ...] = ()
    files: tuple[CaptureFile, ...] = ()
    redacted: tuple[Redaction, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        captured = self.captured_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.captured_at else None
        return {
            "apiVersion": MANIFEST_API_VERSION,
            "kind": MANIFEST_KIND,
            "metadata": {"name": "capture"},
            "capturedAt": captured,
            "context": self.context,
            "server": self.server,
            "namespace": self.namespace,
            "why5xxVersion": self.tool_version,
            "listed": list(self.listed),
            "unavailable": dict(self.unavailable),
            "notServed": list(self.not_served),
            "neverFetched": list(self.never_fetched),
            "files": [f.to_json() for f in self.files],
            "redacted": [r.to_json() for r in self.redacted],
        }

    @staticmethod
    def from_raw(raw: Mapping[str, Any]) -> CaptureManifest:
        return CaptureManifest(
            captured_at=parse_time(raw.get("capturedAt")),
            context=str(raw.get("context") or ""),
            server=str(raw.get("server") or ""),
            namespace=raw.get("namespace"),
            tool_version=str(raw.get("why5xxVersion") or ""),
            listed=tuple(str(k) for k in raw.get("listed") or ()),
            unavailable={str(k): str(v) for k, v in (raw.get("unavailable") or {}).items()},
            not_served=tuple(str(k) for k in raw.get("notServed") or ()),
            never_fetched=tuple(str(k) for k in raw.get("neverFetched") or ()),
            files=tuple(
                CaptureFile(path=str(f["path"]), kind=str(f["kind"]), count=int(f["count"]))
                for f in raw.get("files") or ()
            ),
            redacted=tuple(
                Redaction(object=str(r["object"]), fields=tuple(r["fields"]))
                for r in raw.get("redacted") or ()
            ),
        )

    @staticmethod
    def is_manifest(raw: Mapping[str, Any]) -> bool:
        return raw.get("apiVersion") == MANIFEST_API_VERSION and raw.get("kind") == MANIFEST_KIND
