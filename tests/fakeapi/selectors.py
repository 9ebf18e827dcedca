"""Label and field selectors, parsed and matched as the API server does.

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
`k` (exists), `!k` (does not exist), `k>1`, `k<1`, comma-separated (AND).
`!=` and `notin` also select objects without the key. Field selectors:
`f=v`, `f==v`, `f!=v` over the fields each kind supports; another field is
a 400, as from a real server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """An unparseable selector or an unsupported field: the server answers 400."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    key: str
    operator: str  # = != in notin exists !exists > <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!exists":
                return not present
            case ">" | "<":
                if not present or not str(value).lstrip("-").isdigit():
                    return False
                number, limit = int(str(value)), int(self.values[0])
                return number > limit if self.operator == ">" else number < limit
        raise SelectorError(f"unknown operator {self.operator}")


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EQUALITY = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_COMPARE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>[<>])\s*(?P<value>-?\d+)\s*$")
_EXISTS = re.compile(rf"^\s*(?P<not>!)?\s*(?P<key>{_KEY})\s*$")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth, start = 0, 0
    for position, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def parse_labels(text: str) -> tuple[Requirement, ...]:
    requirements: list[Requirement] = []
    for part in _split(text):
        if found := _SET.match(part):
            values = tuple(v.strip() for v in found["values"].split(",") if v.strip())
            requirements.append(Requirement(key=found["key"], operator=found["op"], values=values))
        elif found := _EQUALITY.match(part):
            op = "=" if found["op"] == "==" else found["op"]
            requirements.append(
                Requirement(key=found["key"], operator=op, values=(found["value"],))
            )
        elif found := _COMPARE.match(part):
            requirements.append(
                Requirement(key=found["key"], operator=found["op"], values=(found["value"],))
            )
        elif found := _EXISTS.match(part):
            op = "!exists" if found["not"] else "exists"
            requirements.append(Requirement(key=found["key"], operator=op))
        else:
            raise SelectorError(f"unable to parse requirement: {part.strip()!r}")
    return tuple(requirements)


def labels_match(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)


# --- field selectors -----------------------------------------------------

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
# The field labels each kind supports (pkg/registry/*/strategy.go), keyed by storage kind.
_FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Namespace": ("status.phase",),
    "Secret": ("type",),
    "Node": ("spec.unschedulable",),
    "ReplicaSet": ("status.replicas",),
    "Job": ("status.successful",),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldRequirement:
    field: str
    value: str
    equal: bool


def parse_fields(text: str, kind: str) -> tuple[FieldRequirement, ...]:
    supported = _COMMON_FIELDS + _FIELDS.get(kind, ())
    out: list[FieldRequirement] = []
    for part in re.split(r"(?<!\\),", text):
        if not part.strip():
            continue
        found = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not found:
            raise SelectorError(f"invalid selector: {part!r}")
        field, op, value = found.groups()
        if field not in supported:
            raise SelectorError(f'field label not supported: "{field}"')
        out.append(FieldRequirement(field=field, value=value.replace("\\,", ","), equal=op != "!="))
    return tuple(out)


def _field_value(raw: Mapping[str, Any], field: str) -> str:
    if field == "source":  # core Events: the reporting component
        return str((raw.get("source") or {}).get("component") or "")
    value: Any = raw
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def fields_match(requirements: tuple[FieldRequirement, ...], raw: Mapping[str, Any]) -> bool:
    return all((_field_value(raw, r.field) == r.value) == r.equal for r in requirements)
