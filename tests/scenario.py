"""The scenario format shared by the tests (and, later, the benchmark).

A scenario is a directory: bundle files (YAML or JSON, any names) and an
`expected.yaml`:

    target: service/checkout      # what to diagnose (NAME, service/NAME, ingress/NAME)
    namespace: shop
    status: failing               # failing | degraded | healthy | unknown
    cause: selector-mismatch      # findings[0].cause, or `healthy`
    evidence:                     # objects the verdict's evidence must name
      - Service/shop/checkout
    mentions: ["version=v3"]      # text the verdict must contain (title, explanation, fix)
    absent: [crash-loop]          # causes that must not be reported at all
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ryaml

EXPECTED = "expected.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    path: Path
    target: str
    namespace: str
    status: str
    cause: str
    evidence: tuple[str, ...]
    mentions: tuple[str, ...]
    absent: tuple[str, ...]

    @property
    def bundle(self) -> list[str]:
        return sorted(str(p) for p in self.path.iterdir() if p.is_file() and p.name != EXPECTED)

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def load_scenario(path: Path) -> Scenario:
    data: dict[str, Any] = ryaml.loads((path / EXPECTED).read_text())
    return Scenario(
        path=path,
        target=str(data["target"]),
        namespace=str(data.get("namespace", "default")),
        status=str(data["status"]),
        cause=str(data["cause"]),
        evidence=tuple(data.get("evidence") or ()),
        mentions=tuple(data.get("mentions") or ()),
        absent=tuple(data.get("absent") or ()),
    )


def all_scenarios(root: Path, pattern: str = f"*/*/{EXPECTED}") -> list[Scenario]:
    """Every scenario under `root`: `<cause>/<case>/` by default (tests/scenarios),
    `f"*/{EXPECTED}"` for one level (examples/)."""
    return [load_scenario(p.parent) for p in sorted(root.glob(pattern))]
