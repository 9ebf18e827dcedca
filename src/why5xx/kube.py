"""Small, pure helpers for Kubernetes semantics: selectors, times, quantities."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 1e-3}


def parse_time(value: object) -> datetime | None:
    """RFC 3339 as the API server writes it (`2026-11-20T08:00:00Z`, with or
    without fractional seconds); None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_quantity(value: object) -> float | None:
    """A resource quantity (`256Mi`, `1G`, `500m`, `1e3`) as a number."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    for suffixes in (_BINARY, _DECIMAL):
        for suffix, factor in suffixes.items():
            if value.endswith(suffix):
                try:
                    return float(value[: -len(suffix)]) * factor
                except ValueError:
                    return None
    try:
        return float(value)
    except ValueError:
        return None


def format_duration(seconds: float) -> str:
    """`95` -> `1m35s`, as kubectl prints ages."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec}s" if sec else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{hours // 24}d"


def scaled_value(value: object, total: int, *, round_up: bool) -> int:
    """An intOrString such as a rolling update's `maxUnavailable` or a
    PodDisruptionBudget's `minAvailable`: a count, or a percentage of `total`
    rounded as the controller does (a Deployment's maxSurge and a PDB's
    values round up, a Deployment's maxUnavailable down)."""
    text = str(value)
    if text.endswith("%"):
        share = total * float(text[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(text)


def plural(kind: str) -> str:
    """A kind's plural in prose: Ingresses, NetworkPolicies, Services."""
    if kind.endswith(("s", "x", "ch", "sh")):
        return kind + "es"
    if kind.endswith("y") and kind[-2:-1] not in ("a", "e", "o", "u"):
        return kind[:-1] + "ies"
    return kind + "s"


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Equality-based selector, as a Service's `spec.selector`."""
    return all(labels.get(key) == value for key, value in selector.items())


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A `metav1.LabelSelector` (matchLabels + matchExpressions).

    An empty selector matches everything; a missing one (None) nothing,
    as for PodDisruptionBudgets and NetworkPolicies.
    """
    if selector is None:
        return False
    if not labels_match(selector.get("matchLabels") or {}, labels):
        return False
    for expression in selector.get("matchExpressions") or ():
        key = expression.get("key", "")
        operator = expression.get("operator", "")
        values = expression.get("values") or ()
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def selector_string(selector: Mapping[str, str]) -> str:
    """`{"app": "api", "tier": "web"}` -> `app=api,tier=web` for `kubectl -l`."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def closest_name(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate a person most likely meant by `name` (a typo or a small
    rename), or None when none is close (difflib ratio under 0.6)."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None
