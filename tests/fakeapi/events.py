"""Events live in one collection and are served by two APIs, `v1` and
`events.k8s.io/v1`, each in its own shape: the conversions the API server
applies (pkg/apis/events/v1/conversion.go), field by field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CORE = "v1"
EVENTS = "events.k8s.io/v1"

# core/v1 field -> events.k8s.io/v1 field; the others keep their names.
_RENAMED = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_TO_CORE = {new: old for old, new in _RENAMED.items()}


def as_version(raw: Mapping[str, Any], api_version: str) -> Mapping[str, Any]:
    """The Event in the shape of `api_version` (itself when it already is)."""
    current = str(raw.get("apiVersion") or CORE)
    if current == api_version:
        return raw
    names = _RENAMED if api_version == EVENTS else _TO_CORE
    converted = {names.get(key, key): value for key, value in raw.items()}
    converted["apiVersion"] = api_version
    return converted
