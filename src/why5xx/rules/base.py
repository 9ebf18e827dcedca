"""What a rule is: a pure function plus the identity the engine stamps on
what it finds.

A rule's docstring is its documentation (`docs/rules/` is generated from it):
a rule without one refuses to load.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from why5xx.causes import BY_ID
from why5xx.model import Draft, Severity
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.routes import ROUTE_KINDS
from why5xx.views.service import ServiceTarget


class Scope(StrEnum):
    SERVICE = "service"  # check(snapshot, ServiceTarget)
    # check(snapshot, an object of ROUTE_KINDS): a rule of this scope diagnoses
    # the routing kinds among its `inputs`, and needs only its other inputs.
    ROUTE = "route"


# What a Service rule may read without declaring it: the Service and the
# parts every source reads with it (its pods, endpoints, the workloads that own
# the pods, their events). Anything else a rule reads is in `inputs` or `reads`.
SERVICE_PARTS = (
    "Service",
    "Pod",
    "EndpointSlice",
    "Endpoints",
    "Event",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
)

ServiceCheck = Callable[[Snapshot, ServiceTarget], Iterable[Draft]]
IngressCheck = Callable[[Snapshot, Obj], Iterable[Draft]]  # any of ROUTE_KINDS
Check = ServiceCheck | IngressCheck
C = TypeVar("C", ServiceCheck, IngressCheck)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    cause: str
    severity: Severity
    scope: Scope
    inputs: tuple[str, ...]  # kinds the rule needs: when one is missing, it is skipped
    reads: tuple[str, ...]  # kinds it also reads when the input holds them
    check: Check
    doc: str

    @property
    def http_status(self) -> tuple[int, ...]:
        return BY_ID[self.cause].http_status

    @property
    def summary(self) -> str:
        """The first line of the docstring."""
        return self.doc.splitlines()[0]

    @property
    def subjects(self) -> tuple[str, ...]:
        """The kinds of object the rule diagnoses."""
        if self.scope is Scope.SERVICE:
            return ("Service",)
        return tuple(kind for kind in self.inputs if kind in ROUTE_KINDS)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind the rule may read: what a source must fetch for it."""
        parts = SERVICE_PARTS if self.scope is Scope.SERVICE else ()
        return tuple(dict.fromkeys([*self.inputs, *self.reads, *parts]))

    @property
    def needs(self) -> tuple[str, ...]:
        """The input kinds the snapshot must hold for the rule to run (its
        subject is there: it is what is being diagnosed)."""
        if self.scope is Scope.SERVICE:
            return self.inputs
        return tuple(kind for kind in self.inputs if kind not in ROUTE_KINDS)


def rule(
    *,
    cause: str,
    inputs: tuple[str, ...],
    reads: tuple[str, ...] = (),
    severity: Severity = Severity.CRITICAL,
    scope: Scope = Scope.SERVICE,
) -> Callable[[C], Rule]:
    """Declare a rule: `@rule(cause=..., inputs=("Service", "Pod"),
    reads=("ConfigMap",))` over a generator function that yields `Draft`s.
    `inputs` are the kinds it needs (the engine skips it, and says why, when
    one is missing), `reads` the kinds it uses when present; a Service rule
    reads `SERVICE_PARTS` without declaring them. A test runs every scenario
    through a snapshot that records what each rule asks for."""
    if cause not in BY_ID:
        raise ValueError(f"unknown cause id {cause!r}: add it to why5xx.causes first")

    def wrap(check: C) -> Rule:
        doc = inspect.getdoc(check)
        if not doc:
            raise ValueError(f"rule {cause} ({check.__name__}) has no docstring")
        return Rule(
            cause=cause,
            severity=severity,
            scope=scope,
            inputs=inputs,
            reads=reads,
            check=check,
            doc=doc,
        )

    return wrap
