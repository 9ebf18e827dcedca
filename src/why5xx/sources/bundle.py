"""Offline bundles: what users already have from `kubectl get -o yaml|json`.

Reads files, directories (recursively, as `kubectl cluster-info dump
--output-directory` lays them out) and standard input; YAML (multi-document)
and JSON (one value or several concatenated); single objects and `List` /
`*List` kinds. A broken document becomes one `LoadError` naming the file and
document index, and the rest is still used.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from why5xx import templates
from why5xx.snapshot import CLUSTER_SCOPED, DEFAULT_NAMESPACE, Obj, Snapshot, placed
from why5xx.sources import decode
from why5xx.sources.lines import Locator, locate
from why5xx.sources.manifest import CaptureManifest

YAML_SUFFIXES = (".yaml", ".yml")
GZIP_SUFFIX = ".gz"
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_GZIP_MAGIC = b"\x1f\x8b"
JSON_SUFFIXES = (".json",)
JSON_DEPTH_LIMIT = 1024  # orjson's
STDIN = "-"

# What stands for the random suffix of an object named by `generateName`.
GENERATED_SUFFIX = "<generated>"
_DROPPED_SECRET_FIELDS = ("data", "stringData")
_KUSTOMIZE_API = "kustomize.config.k8s.io/"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadError:
    """One input that could not be used, as one line for the user."""

    source: str
    message: str
    # A document that is no Kubernetes object at all (a Helm values.yaml or
    # Chart.yaml, a kustomization.yaml, a config file), as opposed to an
    # object that is broken or could not be read.
    not_an_object: bool = False
    # Read all the same, with a caveat (an object without a name, kept under
    # a placeholder): a warning, not an error.
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    objects: tuple[Obj, ...]
    errors: tuple[LoadError, ...]
    files: tuple[str, ...]
    manifest: CaptureManifest | None = None  # present in a `why5xx capture`
    warnings: tuple[LoadError, ...] = ()
    # (kind, namespace) of the objects that came in a `List` (`kubectl get
    # pods -o yaml`): kinds listed in full, where an absence means something.
    # The namespace is "" for items that name none.
    listed: frozenset[tuple[str, str]] = frozenset()

    def snapshot(self, namespace: str = DEFAULT_NAMESPACE) -> Snapshot:
        """The snapshot of the bundle. A capture's manifest gives "now" (the
        API server's time at capture) and the kinds that were listed or could
        not be read, so the capture diagnoses as the live cluster did.

        Any other bundle may be partial (manifests from a repository, a few
        objects pasted into a ticket): objects without a namespace go to
        `namespace`, as `kubectl apply -n` would put them; a workload whose
        pods are not in it has its pod template stand in for them
        (`templates.stand_ins`); only kinds that came in a `List` count as
        listed in full."""
        manifest = self.manifest
        if manifest is None:
            objects = [placed(obj, namespace) for obj in self.objects]
            complete = frozenset(
                (kind, "" if kind in CLUSTER_SCOPED else ns or namespace)
                for kind, ns in self.listed
            )
            return Snapshot.build(
                [*objects, *templates.stand_ins(objects, complete)], complete=complete
            )
        return Snapshot.build(
            self.objects,
            now=manifest.captured_at,
            listed=manifest.listed,
            unavailable=manifest.unavailable,
        )


def load_bundle(
    paths: Sequence[str],
    *,
    stdin: BinaryIO | None = None,
    lines: bool = False,
    unnamed: bool = True,
) -> Bundle:
    """Read every path (file, directory, or `-` for standard input); with
    `lines`, each object records the line it starts at (`sources.lines`).
    With `unnamed`, an object without a name (a pasted excerpt) is kept under
    a placeholder name, with a warning; else it is an error (`lint`: such an
    object cannot be applied)."""
    reading = _Reading(lines=lines, unnamed=unnamed)
    errors = reading.errors
    files: list[str] = []
    for path in paths:
        if path == STDIN:
            stream = stdin if stdin is not None else sys.stdin.buffer
            files.append("<stdin>")
            _load_bytes(stream.read(), "<stdin>", None, reading)
            continue
        for file, error in _expand(Path(path)):
            if error:
                errors.append(LoadError(source=str(file), message=error))
                continue
            files.append(str(file))
            if file.name.lower().endswith(_ARCHIVE_SUFFIXES):
                for member, data, problem in _archive_members(file):
                    if problem is not None:
                        errors.append(LoadError(source=member, message=problem))
                        continue
                    suffix = Path(member).suffix.lower()
                    _load_bytes(data, member, suffix, reading)
                continue
            try:
                data = file.read_bytes()
            except OSError as exc:
                errors.append(LoadError(source=str(file), message=exc.strerror or str(exc)))
                continue
            _load_bytes(data, str(file), file.suffix.lower(), reading)
    return _bundled(reading, files)


def bundle_of(documents: Iterable[Any], *, source: str = "<objects>") -> Bundle:
    """Objects already in memory (dicts, as `kubectl get -o json` prints them;
    `List`s too), read as a bundle is: the API's `objects=` input."""
    reading = _Reading(lines=False, unnamed=True)
    for position, document in enumerate(documents):
        _add_document(document, source, f"{source}[{position}]", reading)
    return _bundled(reading, [source])


def _bundled(reading: _Reading, files: Sequence[str]) -> Bundle:
    objects = reading.objects
    manifests = [o for o in objects if CaptureManifest.is_manifest(o.raw)]
    return Bundle(
        objects=tuple(o for o in objects if not CaptureManifest.is_manifest(o.raw)),
        errors=tuple(reading.errors),
        files=tuple(files),
        manifest=CaptureManifest.from_raw(manifests[-1].raw) if manifests else None,
        warnings=tuple(reading.warnings),
        listed=frozenset(reading.listed),
    )


class _Reading:
    """What the files read so far hold: objects, errors, warnings, and the
    kinds that came in `List`s."""

    __slots__ = ("errors", "lines", "listed", "objects", "unnamed", "unnamed_seen", "warnings")

    def __init__(self, *, lines: bool, unnamed: bool) -> None:
        self.objects: list[Obj] = []
        self.errors: list[LoadError] = []
        self.warnings: list[LoadError] = []
        self.listed: set[tuple[str, str]] = set()
        self.lines = lines
        self.unnamed = unnamed
        self.unnamed_seen: dict[str, int] = {}

    def placeholder(self, kind: str) -> str:
        """`unnamed-pod-1`, `unnamed-pod-2`, ...: stable for the same input."""
        number = self.unnamed_seen.get(kind, 0) + 1
        self.unnamed_seen[kind] = number
        return f"unnamed-{kind.lower()}-{number}"


def _expand(path: Path) -> Iterator[tuple[Path, str | None]]:
    """The files to read under `path`, or an error for a path that is not there.

    In a directory only YAML and JSON files (optionally gzipped) are read: a
    cluster-info dump also holds container logs (`logs.txt`), not manifests.
    """
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and _is_manifest_name(p.name))
        if not found:
            yield path, "no .yaml, .yml or .json files in this directory"
        for file in found:
            yield file, None
    elif path.exists():
        yield path, None
    else:
        yield path, "no such file or directory"


def _archive_members(archive: Path) -> Iterator[tuple[str, bytes, str | None]]:
    """The manifests inside a tar archive (`why5xx capture -o incident.tar.gz`),
    each named `archive:member`; a broken archive is one error."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = sorted(
                (m for m in tar.getmembers() if m.isfile() and _is_manifest_name(m.name)),
                key=lambda m: m.name,
            )
            if not members:
                yield str(archive), b"", "no .yaml, .yml or .json files in this archive"
            for member in members:
                stream = tar.extractfile(member)
                if stream is not None:
                    yield f"{archive}:{member.name}", stream.read(), None
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield str(archive), b"", f"cannot read the archive: {_one_line(exc)}"


def _is_manifest_name(name: str) -> bool:
    lowered = name.lower().removesuffix(GZIP_SUFFIX)
    return lowered.endswith(YAML_SUFFIXES + JSON_SUFFIXES)


def _load_bytes(data: bytes, source: str, suffix: str | None, reading: _Reading) -> None:
    errors = reading.errors
    if data[:2] == _GZIP_MAGIC:  # `kubectl get ... | gzip > dump.yaml.gz`
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            errors.append(LoadError(source=source, message=f"broken gzip data: {_one_line(exc)}"))
            return
        if suffix == ".gz":
            suffix = Path(source).with_suffix("").suffix.lower() or None
    if not data or data.isspace():  # no strip(): it would copy a big file
        errors.append(LoadError(source=source, message="empty file"))
        return
    is_json = suffix in JSON_SUFFIXES if suffix in JSON_SUFFIXES + YAML_SUFFIXES else None
    if is_json is None:  # stdin or an unknown suffix: sniff
        is_json = data.lstrip()[:1] in (b"{", b"[")
    documents = _json_documents(data) if is_json else _yaml_documents(data)
    locator = locate(data, is_json=is_json) if reading.lines else None
    # Helm's template actions: maybe a chart's template, not rendered.
    templated = b"{{" in data and _HELM_ACTION.search(data.decode("utf-8", "replace")) is not None
    for index, document in documents:
        where = f"{source}: document {index}" if index > 1 or not is_json else source
        if templated and _unrendered(document):
            errors.append(LoadError(source=where, message=UNRENDERED))
            continue
        if isinstance(document, Exception):
            errors.append(LoadError(source=where, message=_one_line(document)))
            continue
        if document is None:  # an empty YAML document (e.g. a trailing ---)
            continue
        _add_document(document, source, where, reading, locator, index)


UNRENDERED = "looks like an unrendered Helm template: run `helm template` first"
# `{{ .Values.x }}`, `{{- include "..." . }}`, `{{ if ... }}`: Helm's, not the
# `{{ $labels.x }}` of an alert template or the `{{inputs.x}}` of a workflow.
_HELM_ACTION = re.compile(
    r"\{\{-?\s*(?:\$?\.(?:Values|Release|Chart|Capabilities|Files|Template)\b|"
    r"(?:include|template|tpl|toYaml|if|range|with|define)\s|else\b|end\b)"
)


def _unrendered(document: Any) -> bool:
    """A document holding Helm template actions (`{{ .Values.x }}`) where
    values belong: one that does not parse, or a key or value written as
    one. Walks only documents of files that hold such actions at all."""
    if isinstance(document, Exception):
        return True
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _HELM_ACTION.search(value):
                return True
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str) or _HELM_ACTION.search(key):
                    return True
                pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _yaml_documents(data: bytes) -> Iterator[tuple[int, Any]]:
    """Each YAML document parsed on its own, so one broken document does
    not cost the others (`decode.yaml_documents`: as kubectl reads YAML, big `List`s on
    two cores, a cache of decoded files). The collector stays paused while
    the caller turns them into objects."""
    with decode.gc_paused():
        yield from decode.yaml_documents(data)


def _json_documents(data: bytes) -> Iterator[tuple[int, Any]]:
    """One JSON value, or several concatenated (as `kubectl cluster-info dump`
    writes to standard output). The collector stays paused while the caller
    turns them into objects (`decode.gc_paused`)."""
    with decode.gc_paused():
        yield from _json_values(data)


def _json_values(data: bytes) -> Iterator[tuple[int, Any]]:
    try:
        yield 1, orjson.loads(data)
        return
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # no Kubernetes object nests 1,024 levels
            yield 1, ValueError(f"nested deeper than {JSON_DEPTH_LIMIT} levels: {exc}")
            return
        first_error: Exception = exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield 1, exc
        return
    decoder = json.JSONDecoder()
    position, index = 0, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        index += 1
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            yield index, exc if index > 1 else first_error
            return
        except RecursionError:
            yield index, ValueError(f"nested deeper than {JSON_DEPTH_LIMIT} levels")
            return
        yield index, value


def _add_document(
    document: Any,
    source: str,
    where: str,
    reading: _Reading,
    locator: Locator | None = None,
    index: int = 1,
) -> None:
    errors = reading.errors
    if not isinstance(document, Mapping):
        errors.append(
            LoadError(
                source=where,
                message=f"not a Kubernetes object (a {type(document).__name__})",
                not_an_object=True,
            )
        )
        return
    kind = document.get("kind")
    items = document.get("items")
    if isinstance(items, list) and (not kind or str(kind).endswith("List")):
        # Typed lists (PodList) written by client-go leave kind off their items.
        item_kind = str(kind)[: -len("List")] if kind and kind != "List" else ""
        for position, item in enumerate(items):
            item_where = f"{where}: items[{position}]"
            line = locator.line(index, position) if locator else None
            if not isinstance(item, Mapping):
                errors.append(
                    LoadError(
                        source=item_where, message="not a Kubernetes object", not_an_object=True
                    )
                )
                continue
            if item_kind and not item.get("kind"):
                typed = {"kind": item_kind, "apiVersion": document.get("apiVersion", ""), **item}
                _add_object(typed, source, item_where, reading, line, listed=True)
            else:
                _add_object(item, source, item_where, reading, line, listed=True)
        return
    _add_object(document, source, where, reading, locator.line(index) if locator else None)


def _add_object(
    raw: Mapping[str, Any],
    source: str,
    where: str,
    reading: _Reading,
    line: int | None = None,
    *,
    listed: bool = False,
) -> None:
    metadata = raw.get("metadata")
    if isinstance(metadata, Mapping) and not metadata.get("name") and metadata.get("generateName"):
        # The API server names it at creation (Helm and Argo CD hook Jobs): a
        # placeholder name stands for the one it will get.
        metadata = {**metadata, "name": f"{metadata['generateName']}{GENERATED_SUFFIX}"}
        raw = {**raw, "metadata": metadata}
    named = isinstance(metadata, Mapping) and metadata.get("name")
    kustomize = str(raw.get("apiVersion") or "").startswith(_KUSTOMIZE_API)
    if not raw.get("kind") or not (named or (reading.unnamed and not kustomize)):
        reading.errors.append(
            LoadError(
                source=where,
                message="object without kind or metadata.name",
                not_an_object=_not_an_object(raw),
            )
        )
        return
    if not named:
        name = reading.placeholder(str(raw["kind"]))
        given = metadata if isinstance(metadata, Mapping) else {}
        raw = {**raw, "metadata": {**given, "name": name}}
        reading.warnings.append(
            LoadError(
                source=where,
                message=f"{raw['kind']} without metadata.name: read as {name}",
                warning=True,
            )
        )
    metadata = raw["metadata"]
    if "managedFields" in metadata or (raw.get("kind") == "Secret"):
        raw = clean(raw)
    obj = Obj.from_raw(raw, f"bundle:{source}", line)
    reading.warnings.extend(
        LoadError(source=f"{where}: {obj.ref}", message=problem, warning=True)
        for problem in obj.problems
    )
    reading.objects.append(obj)
    if listed:
        reading.listed.add((obj.kind, obj.namespace))


def _not_an_object(raw: Mapping[str, Any]) -> bool:
    """No apiVersion and kind (values.yaml, Chart.yaml), or kustomize's own
    file: not an object with a name missing."""
    api_version = str(raw.get("apiVersion") or "")
    return not (api_version and raw.get("kind")) or api_version.startswith(_KUSTOMIZE_API)


def clean(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Drop what no rule reads and nobody should see: managedFields, and a
    Secret's data (why5xx never prints a Secret's values)."""
    cleaned = dict(raw)
    metadata = dict(cleaned.get("metadata") or {})
    metadata.pop("managedFields", None)
    cleaned["metadata"] = metadata
    if cleaned.get("kind") == "Secret":
        for key in _DROPPED_SECRET_FIELDS:
            cleaned.pop(key, None)
    return cleaned


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
