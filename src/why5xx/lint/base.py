"""What a lint check is: a pure function over one object of the manifests,
plus the identity the runner stamps on what it finds.

A check's docstring is its documentation (`docs/lint/` is generated from
it, `why5xx lint --explain CODE` prints it): a check without one refuses to
load, and so does a code or a name that does not follow the pattern.
Codes are stable and never reused: `W5X` (why5xx) and three digits, the
hundreds grouping a family; they do not encode the level.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from why5xx.lint.model import Level, Problem, Scope
from why5xx.snapshot import Obj

if TYPE_CHECKING:
    from why5xx.lint.manifests import Manifests

CODE = re.compile(r"^W5X\d{3}$")
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Relation(StrEnum):
    """How a check compares with another tool's nearest check."""

    SAME = "same"  # catches what the other one catches
    STRICTER = "stricter"  # catches it, and cases the other misses
    ONLY_HERE = "only here"  # the other tool has no such check


@dataclass(frozen=True, slots=True, kw_only=True)
class Peer:
    """Another tool's nearest check, from its documentation or source."""

    tool: str  # kube-linter | popeye | k8sgpt | checkov
    check: str | None  # its name or code; None when it has none
    relation: Relation
    note: str = ""  # what differs, or why it has none


def kube_linter(check: str | None, relation: Relation, note: str = "") -> Peer:
    return Peer(tool="kube-linter", check=check, relation=relation, note=note)


def popeye(check: str | None, relation: Relation, note: str = "") -> Peer:
    return Peer(tool="popeye", check=check, relation=relation, note=note)


def k8sgpt(check: str | None, relation: Relation, note: str = "") -> Peer:
    return Peer(tool="k8sgpt", check=check, relation=relation, note=note)


def checkov(check: str | None, relation: Relation, note: str = "") -> Peer:
    return Peer(tool="checkov", check=check, relation=relation, note=note)


PEER_TOOLS = ("kube-linter", "popeye", "k8sgpt", "checkov")

CheckFunction = Callable[["Manifests", Obj], Iterable[Problem]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    code: str
    name: str
    level: Level  # the default; `.why5xx.yaml` may change it
    scope: Scope
    run: CheckFunction
    doc: str
    peers: tuple[Peer, ...]

    @property
    def summary(self) -> str:
        """The first line of the docstring."""
        return self.doc.splitlines()[0]

    def peer(self, tool: str) -> Peer:
        """The tool's nearest check; a tool not declared has none."""
        found = next((p for p in self.peers if p.tool == tool), None)
        return found or Peer(tool=tool, check=None, relation=Relation.ONLY_HERE)


def check(
    *, code: str, name: str, level: Level, scope: Scope, peers: tuple[Peer, ...] = ()
) -> Callable[[CheckFunction], Check]:
    """Declare a check over a generator function that yields `Problem`s."""
    if not CODE.match(code):
        raise ValueError(f"check code {code!r} is not W5X and three digits")
    if not _NAME.match(name):
        raise ValueError(f"check name {name!r} is not kebab-case")
    unknown = [p.tool for p in peers if p.tool not in PEER_TOOLS]
    if unknown:
        raise ValueError(f"check {code} compares with unknown tools {unknown}")
    if any((p.check is None) != (p.relation is Relation.ONLY_HERE) for p in peers):
        raise ValueError(f"check {code}: name the peer's check exactly when it has one")

    def wrap(run: CheckFunction) -> Check:
        doc = inspect.getdoc(run)
        if not doc:
            raise ValueError(f"check {code} ({run.__name__}) has no docstring")
        return Check(code=code, name=name, level=level, scope=scope, run=run, doc=doc, peers=peers)

    return wrap
