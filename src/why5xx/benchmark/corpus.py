"""The built-in corpus of `why5xx bench`: the test scenarios and examples of
a source checkout, and a fixed generated set that gives every cause of the
catalogue at least `PER_CAUSE` scenarios of its own, plus healthy controls."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import why5xx
from why5xx.benchmark.faults import FAULTS
from why5xx.benchmark.generate import generate, scenario
from why5xx.scenarios import HEALTHY, Scenario, scenario_sources

SEED = 2026
PER_CAUSE = 5
HEALTHY_PER_FAULT = 2
# Where a source checkout keeps its scenarios (absent from an installed wheel).
CHECKOUT = Path(why5xx.__file__).resolve().parents[2]
DIRECTORIES = (CHECKOUT / "tests" / "scenarios", CHECKOUT / "examples")


def generated() -> list[Scenario]:
    """Each fault often enough that its cause has `PER_CAUSE` scenarios."""
    variants = Counter(fault.cause for fault in FAULTS)
    out: list[Scenario] = []
    for fault in FAULTS:
        copies = (
            HEALTHY_PER_FAULT
            if fault.cause == HEALTHY
            else math.ceil(PER_CAUSE / variants[fault.cause])
        )
        for _ in range(copies):
            out.append(scenario(SEED, len(out), fault))
    return out


def files() -> tuple[list[Scenario], list[str]]:
    """The checkout's scenario directories, when there is a checkout."""
    present = [d for d in DIRECTORIES if d.is_dir()]
    return scenario_sources(present) if present else ([], [])


@dataclass(frozen=True, slots=True, kw_only=True)
class Corpus:
    """What `why5xx bench` was asked to score."""

    scenarios: list[Scenario]  # all of them: from directories, then generated
    generated: list[Scenario]
    errors: list[str]  # truth files that could not be used
    generated_seconds: float | None  # None: nothing generated


def choose(paths: Sequence[Path], *, count: int | None, seed: int) -> Corpus:
    """The scenarios under `paths` and `count` generated with `seed`; with
    neither, the built-in corpus."""
    builtin = not paths and not count
    if builtin:
        from_files, errors = files()
    else:
        from_files, errors = scenario_sources(paths) if paths else ([], [])
    started = time.perf_counter()
    made = generated() if builtin else generate(count or 0, seed)
    seconds = time.perf_counter() - started if made else None
    return Corpus(
        scenarios=[*from_files, *made], generated=made, errors=errors, generated_seconds=seconds
    )
