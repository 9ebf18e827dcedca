"""The built-in corpus of `why5xx bench`: the test scenarios and examples of
a source checkout, and a fixed generated set that gives every cause of the
catalogue at least `PER_CAUSE` scenarios of its own, plus healthy controls."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from why5xx.benchmark.faults import FAULTS
from why5xx.benchmark.generate import Plan, plan
from why5xx.scenarios import HEALTHY, Scenario, scenario_sources

SEED = 2026
PER_CAUSE = 5
HEALTHY_PER_FAULT = 2
# Where a source checkout keeps its scenarios (absent from an installed wheel).
CHECKOUT = Path(__file__).resolve().parents[3]
DIRECTORIES = (CHECKOUT / "tests" / "scenarios", CHECKOUT / "examples")


def builtin_plan() -> list[Plan]:
    """Each fault often enough that its cause has `PER_CAUSE` scenarios."""
    variants = Counter(fault.cause for fault in FAULTS)
    out: list[Plan] = []
    for fault in FAULTS:
        copies = (
            HEALTHY_PER_FAULT
            if fault.cause == HEALTHY
            else math.ceil(PER_CAUSE / variants[fault.cause])
        )
        out += [Plan(SEED, len(out) + copy, fault) for copy in range(copies)]
    return out


def files() -> tuple[list[Scenario], list[str]]:
    """The checkout's scenario directories, when there is a checkout."""
    present = [d for d in DIRECTORIES if d.is_dir()]
    return scenario_sources(present) if present else ([], [])


@dataclass(slots=True, kw_only=True)
class Corpus:
    """What `why5xx bench` was asked to score: scenarios read from
    directories, and scenarios to generate, one at a time as they are
    scored (a generated cluster weighs a megabyte in memory)."""

    files: list[Scenario]
    plans: list[Plan]
    errors: list[str]  # truth files that could not be used
    generated_seconds: float = 0.0  # spent generating, so far

    def __len__(self) -> int:
        return len(self.files) + len(self.plans)

    def generated(self) -> Iterator[Scenario]:
        for step in self.plans:
            started = time.perf_counter()
            made = step.build()
            self.generated_seconds += time.perf_counter() - started
            yield made

    def __iter__(self) -> Iterator[Scenario]:
        yield from self.files
        yield from self.generated()


def choose(paths: Sequence[Path], *, count: int | None, seed: int) -> Corpus:
    """The scenarios under `paths` and `count` generated with `seed`; with
    neither, the built-in corpus."""
    if not paths and not count:
        from_files, errors = files()
        return Corpus(files=from_files, plans=builtin_plan(), errors=errors)
    from_files, errors = scenario_sources(paths) if paths else ([], [])
    return Corpus(files=from_files, plans=plan(count or 0, seed), errors=errors)
