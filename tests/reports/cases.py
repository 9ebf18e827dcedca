"""Reports to render in the report tests: every example, and the hostile bundle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
HOSTILE = Path(__file__).parent / "hostile.yaml"
HOSTILE_SERVICE = '<img src=x onerror="window.pwned=1">'
HOSTILE_LABEL = "v1<script>window.pwned=3</script>"


@dataclass(frozen=True)
class Example:
    name: str
    target: str
    namespace: str
    verdict: str
    bundle: list[str]

    def diagnose_args(self) -> list[str]:
        return ["diagnose", self.target, "-n", self.namespace, "--bundle", *self.bundle]


def examples() -> list[Example]:
    found = []
    for directory in sorted(EXAMPLES.iterdir()):
        expected = yaml.safe_load((directory / "expected.yaml").read_text())
        bundle = sorted(str(p) for p in directory.iterdir() if p.name != "expected.yaml")
        found.append(
            Example(
                name=directory.name,
                target=expected["target"],
                namespace=expected["namespace"],
                verdict=expected["cause"],
                bundle=bundle,
            )
        )
    return found
