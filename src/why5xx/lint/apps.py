"""Which objects lint compares with each other: one application at a time.

A repository often holds several applications (examples, tutorials,
alternative variants of one app, overlays) that reuse names: two
`Deployment/default/frontend` that are not the same object. Merging them
would let one app's Service judge the other app's pods, and drop findings
(the last one read would win). So lint splits its input into
applications and checks each on its own; the report is the union of theirs.

- A **directory** is an application with the directories below it, unless
  an object below has the same kind, namespace and name as one above with
  other content: then the lower directory is an application of its own.
  Sibling directories are never merged with each other (only through a
  parent directory that holds manifests itself).
- **Files of one directory that define the same object differently** are
  alternatives (`all-in-one.yaml` and `quickstart.yaml`): each is an
  application with the directory's other files.
- **Helm releases**: a stream (or file) of `helm template` output holding
  several charts' `# Source: <chart>/...` comments is one application per
  chart.
- Objects read from a cluster (`--live`) are one application.

`.why5xx.yaml` may say `lint: {scope: all}` to compare everything with
everything, as if the input were one application.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from why5xx.snapshot import Obj

_BUNDLE = "bundle:"
_HELM_SOURCE = re.compile(rb"^# Source: ([^/\s]+)/", re.MULTILINE)

Key = tuple[str, str, str]
# For each file, where each Helm chart's documents start: (line, chart), by line.
Releases = Mapping[str, tuple[tuple[int, str], ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Application:
    name: str  # a directory, or a chart
    objects: tuple[Obj, ...]  # with alternatives: the objects they share
    # Files that define one object differently, each linted with the shared
    # objects: a finding about a shared object counts when every
    # alternative gives it (which one goes with the shared files, nothing says).
    alternatives: tuple[tuple[Obj, ...], ...] = ()


def helm_charts(data: bytes) -> tuple[tuple[int, str], ...]:
    """The `# Source: <chart>/...` comments of `helm template` output: the
    line each starts at and its chart, when there are several charts."""
    if b"# Source: " not in data:
        return ()
    found = [
        (data.count(b"\n", 0, m.start()) + 1, m.group(1).decode("utf-8", "replace"))
        for m in _HELM_SOURCE.finditer(data)
    ]
    return tuple(found) if len({chart for _, chart in found}) > 1 else ()


def _key(obj: Obj) -> Key:
    return (obj.kind, obj.namespace, obj.name)


@dataclass(slots=True)
class _Group:
    """Objects compared together, by key; `mergeable`: may join the
    directory above."""

    name: str
    objects: dict[Key, Obj] = field(default_factory=dict)
    mergeable: bool = True
    alternatives: list[dict[Key, Obj]] = field(default_factory=list)

    def conflicts(self, other: _Group) -> bool:
        """Whether the two define one object differently."""
        mine = self.objects
        return any(k in mine and mine[k].raw != o.raw for k, o in other.objects.items())

    def absorb(self, other: _Group) -> None:
        for k, obj in other.objects.items():
            self.objects.setdefault(k, obj)


@dataclass(slots=True)
class _Directory:
    path: str
    units: dict[str, list[Obj]] = field(default_factory=dict)  # file -> its objects
    charts: dict[str, list[Obj]] = field(default_factory=dict)  # "file (chart c)" -> objects
    children: dict[str, _Directory] = field(default_factory=dict)


def _file_of(obj: Obj) -> str | None:
    return obj.source.removeprefix(_BUNDLE) if obj.source.startswith(_BUNDLE) else None


def _chart(releases: Releases, path: str, line: int | None) -> str | None:
    marks = releases.get(path)
    if not marks or line is None:
        return None
    at = bisect_right([m[0] for m in marks], line) - 1
    return marks[at][1] if at >= 0 else None


def _tree(objects: Iterable[Obj], releases: Releases) -> tuple[_Directory, list[Obj]]:
    root = _Directory(path="")
    unplaced: list[Obj] = []
    for obj in objects:
        path = _file_of(obj)
        if path is None:
            unplaced.append(obj)
            continue
        node = root
        for part in os.path.dirname(path).split(os.sep):
            child = node.children.get(part)
            if child is None:
                child = _Directory(path=f"{node.path}{os.sep}{part}" if node.path else part)
                node.children[part] = child
            node = child
        chart = _chart(releases, path, obj.line)
        if chart is None:
            node.units.setdefault(path, []).append(obj)
        else:
            node.charts.setdefault(f"{path} (chart {chart})", []).append(obj)
    return root, unplaced


def _group(name: str, objects: Iterable[Obj]) -> _Group:
    group = _Group(name=name)
    for obj in objects:
        group.objects[_key(obj)] = obj  # within one file the last one wins, as kubectl applies
    return group


def _own(directory: _Directory) -> _Group | None:
    """The directory's own files as one application, with alternatives
    when files define the same object differently."""
    files = [_group(path, objs) for path, objs in sorted(directory.units.items())]
    if not files:
        return None
    versions: dict[Key, list[tuple[int, Obj]]] = {}
    for position, file in enumerate(files):
        for k, obj in file.objects.items():
            versions.setdefault(k, []).append((position, obj))
    clashes = {
        position
        for found in versions.values()
        if len(found) > 1 and any(obj.raw != found[0][1].raw for _, obj in found)
        for position, _ in found
    }
    group = _Group(name=directory.path, mergeable=not clashes)
    for position, file in enumerate(files):
        if position in clashes:
            group.alternatives.append(file.objects)
        else:
            group.absorb(file)
    return group


def _walk(directory: _Directory) -> list[_Group]:
    home = _own(directory)
    below = [g for name in sorted(directory.children) for g in _walk(directory.children[name])]
    charts = [
        _Group(name=name, objects=_group(name, objs).objects, mergeable=False)
        for name, objs in sorted(directory.charts.items())
    ]
    if home is None or home.alternatives:  # nothing here to merge into
        return [*([home] if home else []), *below, *charts]
    separate: list[_Group] = []
    for group in below:
        if group.mergeable and not home.conflicts(group):
            home.absorb(group)
        else:
            group.mergeable = False
            separate.append(group)
    return [home, *separate, *charts]


def applications(
    objects: Sequence[Obj], releases: Releases | None = None, *, together: bool = False
) -> tuple[Application, ...]:
    """The applications of the input, each with its objects in input order."""
    if together or not objects:
        return (Application(name="all", objects=tuple(objects)),)
    root, unplaced = _tree(objects, releases or {})
    groups = _walk(root)
    if unplaced:
        groups.append(_group("cluster", unplaced))
    order = {id(obj): position for position, obj in enumerate(objects)}

    def ordered(found: Iterable[Obj]) -> tuple[Obj, ...]:
        return tuple(sorted(found, key=lambda o: order[id(o)]))

    return tuple(
        Application(
            name=g.name or ".",
            objects=ordered(g.objects.values()),
            alternatives=tuple(ordered(a.values()) for a in g.alternatives),
        )
        for g in groups
        if g.objects or g.alternatives
    )
