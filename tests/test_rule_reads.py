"""A rule reads only the kinds it declares: its `inputs` (needed), its
`reads` (used when present) and, for a Service rule, the Service's parts
(`SERVICE_PARTS`). Every scenario, example and generated benchmark cluster
is diagnosed through a snapshot that records each kind a rule asks for, and
the declarations are what the live source plans its reads from: a kind
read but not declared would be missing live, and the live report would
differ from the bundle's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from why5xx.benchmark import generate
from why5xx.engine import read_plan
from why5xx.rules import RULES
from why5xx.rules.base import Scope
from why5xx.scenarios import Scenario, all_scenarios, read_bundle
from why5xx.snapshot import Event, Obj, Snapshot
from why5xx.sources.kinds import KINDS, WITHHELD
from why5xx.views.service import ServiceTarget

ROOT = Path(__file__).parent
SCENARIOS = (
    all_scenarios(ROOT / "scenarios")
    + all_scenarios(ROOT.parent / "examples")
    + generate.generate(40, seed=1)
)


class Recording(Snapshot):
    """The same snapshot, remembering every kind asked for (derived values
    are not shared with other rules: each computes what it reads)."""

    __slots__ = ("asked",)
    asked: set[str]

    @staticmethod
    def over(snap: Snapshot) -> Recording:
        recording = Recording.__new__(Recording)
        for slot in Snapshot.__slots__:
            setattr(recording, slot, getattr(snap, slot))
        recording._derived = {}
        recording._events = {}
        recording._ips = None
        recording.asked = set()
        return recording

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        self.asked.add(kind)
        return super().get(kind, namespace, name)

    def list(self, kind: str, namespace: str | None = None) -> tuple[Obj, ...]:
        self.asked.add(kind)
        return super().list(kind, namespace)

    def has_kind(self, kind: str) -> bool:
        self.asked.add(kind)
        return super().has_kind(kind)

    def owned(self, owner: Obj, kind: str) -> tuple[Obj, ...]:
        self.asked.add(kind)
        return super().owned(owner, kind)

    def owner(self, obj: Obj) -> Obj | None:
        found = super().owner(obj)
        if found is not None:
            self.asked.add(found.kind)
        return found

    def events_for(self, kind: str, namespace: str, name: str) -> tuple[Event, ...]:
        self.asked.add("Event")
        return super().events_for(kind, namespace, name)

    def pods_matching(self, namespace: str, selector: Mapping[str, str]) -> tuple[Obj, ...]:
        self.asked.add("Pod")
        return super().pods_matching(namespace, selector)

    def pod_label_values(self, namespace: str, key: str) -> dict[str, frozenset[str]]:
        self.asked.add("Pod")
        return super().pod_label_values(namespace, key)

    def pod_label_keys(self, namespace: str) -> frozenset[str]:
        self.asked.add("Pod")
        return super().pod_label_keys(namespace)

    def endpoint_slices(self, namespace: str, service: str) -> tuple[Obj, ...]:
        self.asked.add("EndpointSlice")
        return super().endpoint_slices(namespace, service)

    def with_ip(self, ip: str) -> tuple[Obj, ...]:
        self.asked |= {"Pod", "EndpointSlice"}
        return super().with_ip(ip)


def _subjects(snap: Snapshot, scope: Scope, kinds: tuple[str, ...]) -> list[Any]:
    if scope is Scope.SERVICE:
        return [ServiceTarget.build(snap, service) for service in snap.list("Service")]
    return [route for kind in kinds for route in snap.list(kind)]


def _asked(scenario: Scenario) -> dict[str, set[str]]:
    """Each rule's kinds asked for, over every subject of the scenario's input."""
    snap = read_bundle(scenario).snapshot()
    asked: dict[str, set[str]] = defaultdict(set)
    for rule in RULES:
        if not all(snap.has_kind(kind) for kind in rule.needs):
            continue
        for subject in _subjects(snap, rule.scope, rule.subjects):
            recording = Recording.over(snap)
            list(rule.check(recording, subject))
            asked[rule.cause] |= recording.asked
    return asked


def test_recording_sees_what_a_rule_reads() -> None:
    """The recorder itself: a lookup through a view is seen."""
    scenario = next(s for s in SCENARIOS if s.truth.cause == "scaled-to-zero")
    asked = _asked(scenario)
    assert {"Deployment", "HorizontalPodAutoscaler"} <= asked["scaled-to-zero"]


def test_every_rule_reads_only_the_kinds_it_declares() -> None:
    undeclared: dict[str, set[str]] = defaultdict(set)
    for scenario in SCENARIOS:
        for cause, kinds in _asked(scenario).items():
            rule = next(r for r in RULES if r.cause == cause)
            if extra := kinds - set(rule.kinds):
                undeclared[cause] |= extra
    assert not undeclared, {cause: sorted(kinds) for cause, kinds in undeclared.items()}


def test_every_declared_kind_is_one_the_live_source_knows() -> None:
    """A declared kind is read live (a line in sources/kinds.py), or is one
    the live source withholds on purpose (Secrets: their data)."""
    declared = {kind for rule in RULES for kind in rule.kinds}
    assert declared - set(KINDS) <= WITHHELD, sorted(declared - set(KINDS) - WITHHELD)


def test_the_read_plan_is_the_rules_declarations() -> None:
    plan = read_plan()
    service = {k for r in RULES if r.scope is Scope.SERVICE for k in r.kinds}
    assert plan.service == frozenset(service)
    assert plan.route == frozenset(service | {k for r in RULES for k in r.kinds})
    assert {"ServiceEntry", "ReferenceGrant", "GRPCRoute", "BackendTrafficPolicy"} <= plan.route
