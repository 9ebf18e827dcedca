"""Running a corpus and adding up the scores: per cause and overall, top-1
and top-3, false "healthy" on faulty targets, false alarms on healthy
controls, evidence recall, time per scenario, a confusion matrix of true
cause against verdict, and the kubectl-only baseline beside it.

`BenchResult.to_json` is the contract `why5xx/bench/v1`.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from why5xx.causes import RANK
from why5xx.engine import Target, TargetNotFound
from why5xx.scenarios import (
    HEALTHY,
    Judgement,
    Scenario,
    diagnose_scenario,
    judge,
    read_bundle,
)
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.routes import routed_services
from why5xx.views.service import service_endpoints

SCHEMA = "why5xx/bench/v1"
ERROR = "error"  # the verdict of a scenario that could not be diagnosed
NO_ENDPOINTS = "no-endpoints"  # all the kubectl-only baseline can say
BASELINE = "kubectl-only"


# --- the baseline ------------------------------------------------------------


def _backends(snap: Snapshot, target: Target) -> list[Obj | None]:
    """The Services behind a target as `kubectl get` shows them (None: not there)."""
    obj = snap.get(target.kind, target.namespace, target.name)
    if obj is None or target.kind == "Service":
        return [obj]
    return [snap.get("Service", ns, name) for ns, name in routed_services(obj)]


def kubectl_only(snap: Snapshot, target: Target) -> str:
    """What `kubectl get endpointslices` alone tells: a Service behind the
    target with no ready endpoint is "no endpoints"; anything else looks
    healthy."""
    for service in _backends(snap, target):
        endpoints = service_endpoints(snap, service) if service is not None else None
        if endpoints is None or not endpoints.ready:
            return NO_ENDPOINTS
    return HEALTHY


# --- running -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One scenario, diagnosed and judged."""

    scenario: Scenario
    judgement: Judgement
    baseline: str  # the kubectl-only verdict
    seconds: float  # reading, indexing and diagnosing it

    @property
    def expected(self) -> str:
        return self.judgement.expected

    @property
    def baseline_detected(self) -> bool:
        """The baseline flagged a faulty target, or passed a healthy one."""
        return (self.baseline == HEALTHY) != (self.expected != HEALTHY)


def _failed(scenario: Scenario, error: str) -> Judgement:
    return Judgement(
        expected=scenario.truth.cause,
        predicted=ERROR,
        status=ERROR,
        ranked=(),
        evidence_wanted=len(scenario.truth.evidence),
        evidence_named=0,
        problems=(error,),
    )


def run_one(scenario: Scenario) -> Outcome:
    truth = scenario.truth
    started = time.perf_counter()
    bundle = read_bundle(scenario)
    snap = bundle.snapshot()
    try:
        target = Target.parse(truth.target, truth.namespace)
        report = diagnose_scenario(scenario, snap)
    except (ValueError, TargetNotFound) as exc:
        seconds = time.perf_counter() - started
        return Outcome(
            scenario=scenario,
            judgement=_failed(scenario, str(exc)),
            baseline=ERROR,
            seconds=seconds,
        )
    seconds = time.perf_counter() - started
    judgement = judge(scenario, report)
    if bundle.errors:
        unread = tuple(str(e) for e in bundle.errors)
        judgement = replace(judgement, problems=(*unread, *judgement.problems))
    return Outcome(
        scenario=scenario, judgement=judgement, baseline=kubectl_only(snap, target), seconds=seconds
    )


def run(
    scenarios: Iterable[Scenario], progress: Callable[[int], None] | None = None
) -> BenchResult:
    """Diagnose and judge every scenario; `progress` is told of each one done.
    The outcomes keep the scenarios' truth and story, not their objects."""
    started = time.perf_counter()
    outcomes = []
    for scenario in scenarios:
        outcome = run_one(scenario)
        outcomes.append(replace(outcome, scenario=replace(scenario, documents=(), log=None)))
        if progress is not None:
            progress(1)
    return BenchResult(outcomes=tuple(outcomes), seconds=time.perf_counter() - started)


# --- adding up ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """The scores of a set of outcomes."""

    outcomes: tuple[Outcome, ...]

    @property
    def scenarios(self) -> int:
        return len(self.outcomes)

    def _share(self, hit: Callable[[Outcome], bool]) -> float:
        return (
            sum(1 for o in self.outcomes if hit(o)) / len(self.outcomes) if self.outcomes else 0.0
        )

    @property
    def top1(self) -> float:
        return self._share(lambda o: o.judgement.top1)

    @property
    def top3(self) -> float:
        return self._share(lambda o: o.judgement.top3)

    @property
    def faulty(self) -> int:
        return sum(1 for o in self.outcomes if o.expected != HEALTHY)

    @property
    def healthy(self) -> int:
        return self.scenarios - self.faulty

    @property
    def false_healthy(self) -> int:
        return sum(1 for o in self.outcomes if o.judgement.false_healthy)

    @property
    def false_alarms(self) -> int:
        return sum(1 for o in self.outcomes if o.judgement.false_alarm)

    @property
    def evidence_recall(self) -> float | None:
        wanted = sum(o.judgement.evidence_wanted for o in self.outcomes)
        if not wanted:
            return None
        return sum(o.judgement.evidence_named for o in self.outcomes) / wanted

    @property
    def seconds(self) -> float:
        return sum(o.seconds for o in self.outcomes)

    @property
    def mean_seconds(self) -> float:
        return self.seconds / len(self.outcomes) if self.outcomes else 0.0

    @property
    def p95_seconds(self) -> float:
        times = sorted(o.seconds for o in self.outcomes)
        if len(times) < 2:
            return times[0] if times else 0.0
        return statistics.quantiles(times, n=20, method="inclusive")[-1]

    @property
    def baseline_top1(self) -> float:
        return self._share(lambda o: o.baseline == o.expected)

    @property
    def baseline_detected(self) -> float:
        return self._share(lambda o: o.baseline_detected)

    @property
    def baseline_false_healthy(self) -> int:
        return sum(1 for o in self.outcomes if o.expected != HEALTHY and o.baseline == HEALTHY)

    @property
    def baseline_false_alarms(self) -> int:
        return sum(1 for o in self.outcomes if o.expected == HEALTHY and o.baseline != HEALTHY)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenarios": self.scenarios,
            "top1": round(self.top1, 4),
            "top3": round(self.top3, 4),
        }
        if self.faulty:
            out["false_healthy"] = self.false_healthy
        if self.healthy:
            out["false_alarms"] = self.false_alarms
        recall = self.evidence_recall
        if recall is not None:
            out["evidence_recall"] = round(recall, 4)
        out["seconds"] = round(self.seconds, 4)
        out["seconds_per_scenario"] = round(self.mean_seconds, 5)
        return out

    def baseline_json(self) -> dict[str, Any]:
        return {
            "scenarios": self.scenarios,
            "top1": round(self.baseline_top1, 4),
            "top3": round(self.baseline_top1, 4),
            "detected": round(self.baseline_detected, 4),
            "false_healthy": self.baseline_false_healthy,
            "false_alarms": self.baseline_false_alarms,
        }


def cause_order(cause: str) -> tuple[int, str]:
    """Causal order of the catalogue, then unknown ids, healthy last."""
    if cause == HEALTHY:
        return (len(RANK) + 1, cause)
    return (RANK.get(cause, len(RANK)), cause)


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchResult:
    outcomes: tuple[Outcome, ...]
    seconds: float  # wall time of the whole run
    generated_seconds: float | None = None  # time spent generating scenarios

    @property
    def overall(self) -> Tally:
        return Tally(outcomes=self.outcomes)

    def per_cause(self) -> dict[str, Tally]:
        grouped: defaultdict[str, list[Outcome]] = defaultdict(list)
        for outcome in self.outcomes:
            grouped[outcome.expected].append(outcome)
        return {
            cause: Tally(outcomes=tuple(grouped[cause]))
            for cause in sorted(grouped, key=cause_order)
        }

    def confusion(self) -> dict[str, dict[str, int]]:
        """Expected cause -> verdict -> how many."""
        counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for outcome in self.outcomes:
            counts[outcome.expected][outcome.judgement.predicted] += 1
        return {
            cause: dict(sorted(counts[cause].items(), key=lambda kv: cause_order(kv[0])))
            for cause in sorted(counts, key=cause_order)
        }

    def misses(self) -> list[Outcome]:
        """Scenarios whose verdict is not the truth, worst-known causes first."""
        return sorted(
            (o for o in self.outcomes if not o.judgement.top1),
            key=lambda o: (cause_order(o.expected), o.scenario.name),
        )

    def sources(self) -> dict[str, int]:
        """How many scenarios came from where: a directory's name, or `generated`."""
        return dict(Counter(_source(o.scenario) for o in self.outcomes))

    def to_json(self) -> dict[str, Any]:
        overall = self.overall.to_json()
        overall["wall_seconds"] = round(self.seconds, 3)
        if self.generated_seconds is not None:
            overall["generated_seconds"] = round(self.generated_seconds, 3)
        per_cause = self.per_cause()
        return {
            "schema": SCHEMA,
            "overall": overall,
            "per_cause": {cause: tally.to_json() for cause, tally in per_cause.items()},
            "confusion": self.confusion(),
            "misses": [_miss(o) for o in self.misses()],
            "baselines": {
                BASELINE: {
                    "overall": self.overall.baseline_json(),
                    "per_cause": {c: t.baseline_json() for c, t in per_cause.items()},
                }
            },
            "sources": self.sources(),
        }


def _source(scenario: Scenario) -> str:
    return scenario.name.split("/", 1)[0]


def _miss(outcome: Outcome) -> dict[str, Any]:
    judgement = outcome.judgement
    out: dict[str, Any] = {
        "scenario": outcome.scenario.name,
        "expected": judgement.expected,
        "predicted": judgement.predicted,
        "status": judgement.status,
        "ranked": list(judgement.ranked),
        "problems": list(judgement.problems),
    }
    if outcome.scenario.note:
        out["note"] = outcome.scenario.note
    return out


def worst(per_cause: dict[str, Tally], count: int) -> list[tuple[str, Tally]]:
    """The causes with the lowest top-1, fewest scenarios last among equals."""
    ranked = sorted(per_cause.items(), key=lambda kv: (kv[1].top1, kv[1].top3, -kv[1].scenarios))
    return [(cause, tally) for cause, tally in ranked[:count] if tally.top1 < 1.0]
