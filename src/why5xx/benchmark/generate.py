"""Generated scenarios: a healthy cluster of one shape, with noise, one
fault injected into one app (sometimes another fault into another app),
and the truth about the first.

Scenario `index` of a seed is the same whatever the count asked for: its
random state is derived from (seed, index), and the faults are dealt in a
fixed, seed-shuffled order, so every cause gets its share. Everything is
built in memory; `export` writes scenarios as directories in the format
of docs/scenario-format.md, for other tools.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from why5xx.benchmark.faults import BACKGROUND, FAULTS, Fault
from why5xx.benchmark.shapes import SHAPES, noise
from why5xx.benchmark.workloads import apps_of
from why5xx.benchmark.world import World
from why5xx.scenarios import TRUTH, Scenario
from why5xx.sources import kubeyaml

EPOCH = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
_ATTEMPTS = 30  # worlds to try until one has an app the fault fits
_BACKGROUND_SHARE = 0.2
_NOISE_SHARE = 0.85
_PARTIAL_SHARE = 0.15
_NOT_IN_GET_ALL = frozenset({"EndpointSlice", "Node"})
LOG_FILE = "ingress-nginx-controller.log"
GENERATED = "generated"  # the first part of a generated scenario's name


class GenerationError(RuntimeError):
    """No world of the fault's shapes had an app it fits (a catalogue bug)."""


def scenario(seed: int, index: int, fault: Fault, *, partial: bool | None = None) -> Scenario:
    """One generated scenario: `fault` in a cluster drawn from (seed, index).
    `partial`: captured without EndpointSlices and Nodes, as `kubectl get
    all` lists a namespace (None: in a share of the scenarios)."""
    for attempt in range(_ATTEMPTS):
        rng = random.Random(f"{seed}/{index}/{attempt}")
        world = World(rng, EPOCH + timedelta(minutes=rng.randrange(0, 60 * 24 * 90)))
        world.add_nodes(rng.randrange(3, 7), rng.choice(["eks", "gke", "kubeadm"]))
        SHAPES[rng.choice(fault.shapes)](world)
        if rng.random() < _NOISE_SHARE:
            noise(world)
        candidates = [
            a for a in apps_of(world) if a.role == "app" and a.service is not None and fault.fits(a)
        ]
        if not candidates:
            continue
        app = rng.choice(candidates)
        injected = fault.inject(world, app)
        others = [
            a for a in apps_of(world) if a.role == "app" and a is not app and a.kind == "Deployment"
        ]
        if (
            others
            and injected.truth.target.startswith("service/")
            and rng.random() < _BACKGROUND_SHARE
        ):
            rng.choice(BACKGROUND)(world, rng.choice(others))
        objects = world.finish()
        note = injected.note
        if rng.random() < _PARTIAL_SHARE if partial is None else partial:
            objects = [o for o in objects if o["kind"] not in _NOT_IN_GET_ALL]
            note += "; captured without EndpointSlices and Nodes"
        log = ("\n".join(world.log_lines) + "\n").encode() if world.log_lines else None
        return Scenario(
            name=f"{GENERATED}/{seed}/{index:04d}-{fault.name}",
            truth=injected.truth,
            documents=tuple(objects),
            log=log,
            note=note,
        )
    raise GenerationError(f"no world of shapes {fault.shapes} has an app {fault.name} fits")


def dealt(seed: int) -> list[Fault]:
    """The catalogue in the order a seed deals it."""
    order = list(FAULTS)
    random.Random(seed).shuffle(order)
    return order


@dataclass(frozen=True, slots=True)
class Plan:
    """A scenario to generate: scenario `index` of `seed`, with `fault`."""

    seed: int
    index: int
    fault: Fault

    def build(self) -> Scenario:
        return scenario(self.seed, self.index, self.fault)


def plan(count: int, seed: int) -> list[Plan]:
    order = dealt(seed)
    return [Plan(seed, index, order[index % len(order)]) for index in range(count)]


def generate(count: int, seed: int) -> list[Scenario]:
    return [step.build() for step in plan(count, seed)]


def export(scenarios: Iterable[Scenario], directory: Path) -> int:
    """Write each scenario as a directory: `truth.yaml` (its note as a
    comment), the cluster as one `kind: List` (YAML and JSON in turn, as
    users capture them), and the ingress controller's log when it has one.
    Returns how many were written."""
    number = 0
    for number, item in enumerate(scenarios, start=1):
        where = directory / item.name.rsplit("/", 1)[-1]
        where.mkdir(parents=True, exist_ok=True)
        (where / TRUTH).write_text(f"# {item.note}\n{item.truth.to_yaml()}")
        listing = {"apiVersion": "v1", "items": list(item.documents), "kind": "List"}
        if number % 2 == 0:
            (where / "cluster.json").write_bytes(orjson.dumps(listing, option=orjson.OPT_INDENT_2))
        else:
            (where / "cluster.yaml").write_text(kubeyaml.dump(listing))
        if item.log is not None:
            (where / LOG_FILE).write_bytes(item.log)
    return number
