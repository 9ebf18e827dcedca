"""`meta.k8s.io/v1` Tables: what kubectl's printer asks for (`Accept: ...;as=Table`).

Columns are NAME and AGE for every kind, as the API server prints custom
resources without printer columns; rows carry the object as
`includeObject` asks (PartialObjectMetadata by default), which kubectl
needs for `--show-labels` and `-o name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fakeapi.resources import Resource
from fakeapi.store import Stored

_COLUMNS = [
    {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace.",
        "priority": 0,
    },
    {
        "name": "Age",
        "type": "string",
        "format": "",
        "description": "CreationTimestamp is a timestamp representing the server time "
        "when this object was created.",
        "priority": 0,
    },
]


def age(created: str | None, now: datetime) -> str:
    """kubectl's short human durations: 45s, 12m, 5h, 3d."""
    if not created:
        return "<unknown>"
    seconds = int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def table(
    resource: Resource,
    items: list[Stored],
    metadata: Mapping[str, Any],
    now: datetime,
    query: Mapping[str, str],
) -> dict[str, Any]:
    include = query.get("includeObject", "Metadata")
    rows = []
    for stored in items:
        meta = stored.raw.get("metadata") or {}
        row: dict[str, Any] = {
            "cells": [meta.get("name", ""), age(meta.get("creationTimestamp"), now)]
        }
        if include == "Object":
            row["object"] = {
                "kind": resource.kind,
                "apiVersion": resource.group_version,
                **stored.raw,
            }
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(metadata),
        "columnDefinitions": _COLUMNS,
        "rows": rows,
    }
