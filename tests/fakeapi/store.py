"""The fake cluster's state: recorded objects indexed per collection, a
global resourceVersion, and the log of changes that watches replay.

The recording is the state at the store's first resourceVersion; tests may
then `put` and `remove` objects, which bump the resourceVersion and wake
the watches, as writes through a real API server would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fakeapi.events import as_version
from fakeapi.resources import BUILTIN, Resource, custom_resources
from fakeapi.selectors import FieldRequirement, Requirement, fields_match, labels_match

Served = Literal["all", "recorded"]
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
Key = tuple[str, str]  # namespace, name


@dataclass(frozen=True, slots=True, kw_only=True)
class Stored:
    """One object at one resourceVersion (set in its metadata, as served)."""

    raw: Mapping[str, Any]
    rv: int

    @property
    def key(self) -> Key:
        metadata = self.raw.get("metadata") or {}
        return (str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))

    @property
    def labels(self) -> Mapping[str, str]:
        labels: Mapping[str, str] = (self.raw.get("metadata") or {}).get("labels") or {}
        return labels


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    type: ChangeType
    storage: tuple[str, str]
    stored: Stored


class Gone(Exception):
    """A watch asked for a resourceVersion older than the change log."""


def _storage_of(raw: Mapping[str, Any]) -> tuple[str, str]:
    group = str(raw.get("apiVersion", "")).rpartition("/")[0]
    kind = str(raw.get("kind", ""))
    return ("", "Event") if (group, kind) == ("events.k8s.io", "Event") else (group, kind)


def _with_rv(raw: Mapping[str, Any], rv: int) -> dict[str, Any]:
    return {**raw, "metadata": {**(raw.get("metadata") or {}), "resourceVersion": str(rv)}}


class Store:
    """Objects per storage kind, served through the resources of `served`:
    every built-in kind (`"all"`, as a real cluster) or only the kinds the
    recording holds plus `also_served` (`"recorded"`: a cluster where other
    APIs are not installed, so a client learns "no such objects" exactly
    where a bundle would)."""

    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]],
        *,
        served: Served = "all",
        also_served: Iterable[str] = (),
    ) -> None:
        raws = list(objects)
        self.changed = threading.Condition()
        self._collections: dict[tuple[str, str], dict[Key, Stored]] = {}
        self._sorted: dict[tuple[str, str], list[Stored]] = {}
        self._log: list[Change] = []
        recorded = [
            int(rv)
            for raw in raws
            if str(rv := (raw.get("metadata") or {}).get("resourceVersion", "")).isdigit()
        ]
        self.rv = max(recorded, default=0)
        for raw in raws:
            rv = str((raw.get("metadata") or {}).get("resourceVersion", ""))
            if rv.isdigit():
                stored = Stored(raw=raw, rv=int(rv))
            else:
                self.rv += 1
                stored = Stored(raw=_with_rv(raw, self.rv), rv=self.rv)
            self._collections.setdefault(_storage_of(raw), {})[stored.key] = stored
        self.first_rv = self.rv
        candidates = BUILTIN + custom_resources(raws)
        if served == "all":
            self.resources = candidates
        else:
            extra = frozenset(also_served)
            self.resources = tuple(
                r for r in candidates if r.storage in self._collections or r.kind in extra
            )

    # --- lookups -----------------------------------------------------------

    def resource(self, group: str, version: str, plural: str) -> Resource | None:
        for resource in self.resources:
            if (resource.group, resource.version, resource.plural) == (group, version, plural):
                return resource
        return None

    def get(self, resource: Resource, namespace: str, name: str) -> Stored | None:
        with self.changed:
            found = self._collections.get(resource.storage, {}).get((namespace, name))
        return None if found is None else self.shaped(found, resource)

    def select(
        self,
        resource: Resource,
        namespace: str | None,
        labels: tuple[Requirement, ...],
        fields: tuple[FieldRequirement, ...],
        after: Key | None = None,
    ) -> tuple[list[Stored], int]:
        """Matching objects in key order (namespace, name), starting after
        `after` (a continue token's position), and the list's resourceVersion."""
        with self.changed:
            ordered = self._ordered(resource.storage)
            rv = self.rv
        out: list[Stored] = []
        for stored in ordered:
            key = stored.key
            if after is not None and key <= after:
                continue
            if namespace is not None and key[0] != namespace:
                continue
            if self.matches(stored, resource, labels, fields):
                out.append(self.shaped(stored, resource))
        return out, rv

    @staticmethod
    def matches(
        stored: Stored,
        resource: Resource,
        labels: tuple[Requirement, ...],
        fields: tuple[FieldRequirement, ...],
    ) -> bool:
        if labels and not labels_match(labels, stored.labels):
            return False
        # Field selectors are defined on the storage shape (core/v1 for Events).
        return not fields or fields_match(fields, as_version(stored.raw, "v1"))

    @staticmethod
    def shaped(stored: Stored, resource: Resource) -> Stored:
        if resource.storage == ("", "Event"):
            return Stored(raw=as_version(stored.raw, resource.group_version), rv=stored.rv)
        return stored

    def _ordered(self, storage: tuple[str, str]) -> list[Stored]:
        ordered = self._sorted.get(storage)
        if ordered is None:
            collection = self._collections.get(storage, {})
            ordered = [collection[key] for key in sorted(collection)]
            self._sorted[storage] = ordered
        return ordered

    def changes_since(self, rv: int, storage: tuple[str, str]) -> list[Change]:
        """Changes to one collection after `rv`; `Gone` when `rv` predates
        the log (the recording itself has no history)."""
        with self.changed:
            if rv < self.first_rv:
                raise Gone(f"too old resource version: {rv} ({self.first_rv})")
            return [c for c in self._log if c.stored.rv > rv and c.storage == storage]

    # --- changes (tests only; the HTTP API is read-only) ---------------------

    def put(self, raw: Mapping[str, Any]) -> Stored:
        """Create or replace an object: ADDED or MODIFIED for watchers."""
        with self.changed:
            self.rv += 1
            stored = Stored(raw=_with_rv(raw, self.rv), rv=self.rv)
            storage = _storage_of(raw)
            collection = self._collections.setdefault(storage, {})
            change: ChangeType = "MODIFIED" if stored.key in collection else "ADDED"
            collection[stored.key] = stored
            self._record(Change(type=change, storage=storage, stored=stored))
        return stored

    def remove(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete an object: DELETED for watchers, with the final state."""
        with self.changed:
            storage = _storage_of({"apiVersion": api_version, "kind": kind})
            old = self._collections.get(storage, {}).pop((namespace, name))
            self.rv += 1
            stored = Stored(raw=_with_rv(old.raw, self.rv), rv=self.rv)
            self._record(Change(type="DELETED", storage=storage, stored=stored))

    def compact(self) -> None:
        """Forget the history, as etcd's compaction (or an API server that
        restarted with an empty watch cache) does: a watch from any
        resourceVersion handed out so far is answered 410 Gone."""
        with self.changed:
            self.first_rv = self.rv + 1
            self._log.clear()

    def _record(self, change: Change) -> None:
        self._sorted.pop(change.storage, None)
        self._log.append(change)
        self.changed.notify_all()
