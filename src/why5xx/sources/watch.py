"""List, then watch, one kind of a cluster: the reflector of `why5xx watch`.

As client-go's reflector does: list the collection (its resourceVersion is
where the watch starts), then watch from the newest resourceVersion seen
(events and bookmarks move it on). A watch the server ends is started again
from there; a broken connection too, after a pause; `410 Gone` (the server
no longer holds history that old) means the list is read again and replaces
what was known. Objects keep only what rules read (no managedFields, no
Secret data).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from why5xx.snapshot import Obj
from why5xx.sources.bundle import clean
from why5xx.sources.kinds import Kind
from why5xx.sources.kubeapi import ClusterError, KubeApi

WATCH_SECONDS = 290  # what client-go asks for (5 min, less some jitter)
GONE = 410


class ChangeType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    # A list (the first, or after 410 Gone): `objects` is the whole collection.
    LISTED = "LISTED"


class Restart(StrEnum):
    """Why a watch had to start again (the restarts metric's `reason`)."""

    GONE = "gone"  # 410: listed again
    BROKEN = "broken"  # connection dropped or refused: watched again after a pause
    REFUSED = "refused"  # the list was refused (RBAC, not served): tried again later


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    kind: str
    type: ChangeType
    obj: Obj | None = None  # ADDED, MODIFIED, DELETED
    objects: tuple[Obj, ...] = ()  # LISTED
    namespace: str | None = None  # LISTED: the namespace listed (None: all)


class Reflector:
    """Keeps one kind (in one namespace, or all) flowing into `on_change`
    until `stop` is set. `on_restart` hears each restart, with its reason."""

    def __init__(
        self,
        api: KubeApi,
        spec: Kind,
        namespace: str | None,
        on_change: Callable[[Change], None],
        *,
        stop: threading.Event,
        on_restart: Callable[[str, Restart], None] = lambda kind, reason: None,
        watch_seconds: int = WATCH_SECONDS,
        pause: float = 1.0,
    ) -> None:
        self.api = api
        self.spec = spec
        self.version = spec.versions[0]
        self.namespace = namespace
        self.path = spec.path(self.version, namespace)
        self.on_change = on_change
        self.on_restart = on_restart
        self.stop = stop
        self.watch_seconds = watch_seconds
        self.pause = pause
        self.synced = threading.Event()  # set once the first list is in

    def run(self) -> None:
        resource_version: str | None = None
        while not self.stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                    if resource_version is None:
                        self.on_restart(self.spec.kind, Restart.REFUSED)
                        self.stop.wait(self.pause * 10)
                        continue
                resource_version = self._watch(resource_version)
            except ClusterError:
                self.on_restart(self.spec.kind, Restart.BROKEN)
                self.stop.wait(self.pause)
                continue
            if resource_version is None:
                self.on_restart(self.spec.kind, Restart.GONE)

    def _list(self) -> str | None:
        """The whole collection, as one LISTED change; its resourceVersion,
        or None when the server refused it."""
        api_version = self.spec.api_version(self.version)
        answer = self.api.list(self.path, kind=self.spec.kind, api_version=api_version)
        if not answer.ok:
            return None
        objects = tuple(self._obj(raw) for raw in answer.items)
        listed = Change(
            kind=self.spec.kind, type=ChangeType.LISTED, objects=objects, namespace=self.namespace
        )
        self.on_change(listed)
        self.synced.set()
        return str((answer.body.get("metadata") or {}).get("resourceVersion") or "0")

    def _watch(self, resource_version: str) -> str | None:
        """Events from `resource_version` until the server ends the watch: the
        newest resourceVersion seen, or None when it is gone (410)."""
        params = {"resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        for event in self.api.watch(self.path, params, seconds=self.watch_seconds):
            if self.stop.is_set():
                break
            kind, raw = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if raw.get("code") == GONE:
                    return None
                raise ClusterError(f"the watch of {self.path} failed: {raw.get('message')}")
            seen = (raw.get("metadata") or {}).get("resourceVersion")
            resource_version = str(seen) if seen else resource_version
            if kind in (ChangeType.ADDED, ChangeType.MODIFIED, ChangeType.DELETED):
                obj = self._obj(raw)
                self.on_change(Change(kind=self.spec.kind, type=ChangeType(kind), obj=obj))
        return resource_version

    def _obj(self, raw: dict[str, Any]) -> Obj:
        raw.setdefault("kind", self.spec.kind)
        raw.setdefault("apiVersion", self.spec.api_version(self.version))
        return Obj.from_raw(clean(raw), "live")
