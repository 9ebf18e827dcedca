"""The fast YAML path: a big `List` cut at its items and parsed on two cores
must read exactly as the whole document does, and the decoded-file cache
must be correct (invalidated on change), safe (never beside the bundle) and
optional."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from why5xx.snapshot import Obj, Snapshot, gc_paused
from why5xx.sources import decode, kubeyaml
from why5xx.sources.bundle import load_bundle

# A `kind: List` the way kubectl prints it, with what trips a line-based
# splitter: block scalars holding `- ` and `---` lines, `---` and `- ` inside
# quoted strings, comments between items (at column 0 and indented), long
# scalars folded over lines, flow collections, an empty item value, and keys
# after the items.
TRICKY_LIST = """\
# captured by kubectl get -A -o yaml
apiVersion: v1
items:
- apiVersion: v1
  data:
    application.yaml: |
      server:
        port: 8080
      ---
      - not an item
      --- not a separator
    empty: ""
  kind: ConfigMap
  metadata:
    name: app-config
    namespace: shop
# a comment at column 0 between items
- apiVersion: v1
  kind: Event
  message: 'Readiness probe failed: Get "http://10.244.1.7:8080/healthz": dial tcp
    10.244.1.7:8080: connect: connection refused'
  metadata:
    name: api.17a8
    namespace: shop
  note: "--- in a string\\n- and a dash"
  reason: Unhealthy
  # an indented comment
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
- apiVersion: v1
  kind: Pod
  metadata:
    labels: {app: api, "true": "yes"}
    name: api-0
    namespace: shop
  spec:
    containers:
    - args:
      - --port=8080
      - -v
      command: [/bin/api]
      name: app
  status:
    conditions:
    - status: "True"
      type: Ready
    phase: Running
-
  apiVersion: v1
  kind: Service
  metadata: {name: api, namespace: shop}
  spec:
    ports: [{port: 80, targetPort: 8080}]
    selector: {app: api}
kind: List
metadata:
  resourceVersion: ""
"""


@pytest.fixture
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut even small documents, into one piece per item or so."""
    monkeypatch.setattr(decode, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(decode, "PIECE_BYTES", 1)


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("WHY5XX_NO_CACHE", raising=False)
    decode.set_cache(True)
    yield home
    decode.wait_for_cache_writes()


def load(path: Path) -> Any:
    """`load_bundle`, then wait until its cache entry is written."""
    bundle = load_bundle([str(path)])
    decode.wait_for_cache_writes()
    return bundle


def whole(text: str) -> Any:
    return kubeyaml.load(text)


def variants(text: str) -> Iterator[tuple[str, str]]:
    yield "lf", text
    yield "crlf", text.replace("\n", "\r\n")
    lines = text.split("\n")
    first, last = lines.index("items:") + 1, lines.index("kind: List")
    indented = "\n".join(lines[:first] + ["  " + line for line in lines[first:last]] + lines[last:])
    yield "indented", indented


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("name", ["lf", "crlf", "indented"])
def test_cut_list_reads_as_the_whole_document(name: str) -> None:
    text = dict(variants(TRICKY_LIST))[name]
    expected = whole(text)
    split = decode.split_list(text)
    assert split is not None
    assert len(split.pieces) == len(expected["items"])  # cut at every item
    assert decode.parse_pieces(split) == expected
    assert decode.parse_document(text.encode()) == expected
    assert list(decode.yaml_documents(text.encode(), cache=False)) == [(1, expected)]


@pytest.mark.usefixtures("tiny_pieces")
def test_the_worker_process_is_used_and_its_failure_costs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split = decode.split_list(TRICKY_LIST)
    assert split is not None
    started: list[int] = []
    real_start = decode._Worker.start

    def spy(pieces: list[str]) -> decode._Worker | None:
        worker = real_start(pieces)
        assert worker is not None, "no fork here"
        started.append(len(pieces))
        return worker

    monkeypatch.setattr(decode._Worker, "start", staticmethod(spy))
    assert decode.parse_pieces(split) == whole(TRICKY_LIST)
    assert started
    assert started[0] > 0
    # A worker that could not start (no fork, threads): the parent parses all.
    monkeypatch.setattr(decode._Worker, "start", staticmethod(lambda pieces: None))
    assert decode.parse_pieces(split) == whole(TRICKY_LIST)


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize(
    "text",
    [
        # A quoted scalar continued at column 0 on a `- ` line: the cut lands
        # inside it, the piece fails, and the whole document is parsed.
        'apiVersion: v1\nitems:\n- kind: A\n  note: "one\n- two"\n- kind: B\nkind: List\n',
        # An alias in one item naming an anchor in another.
        "apiVersion: v1\nitems:\n- &a {kind: A, x: 1}\n- *a\nkind: List\n",
        # A top-level key that starts with a dash after the items.
        "items:\n- kind: A\n- kind: B\n-weird: 1\n",
    ],
    ids=["quoted-at-column-0", "alias-across-items", "dash-key"],
)
def test_a_cut_in_the_wrong_place_falls_back_to_the_whole_document(text: str) -> None:
    try:
        expected: Any = whole(text)
    except ValueError:
        assert isinstance(decode.parse_document(text.encode()), Exception)
        return
    assert decode.parse_document(text.encode()) == expected


@pytest.mark.parametrize(
    "text",
    [
        "kind: Pod\nmetadata: {name: a}\n",  # no items
        "apiVersion: v1\nitems: []\nkind: List\n",  # flow items
        "|\n  items:\n  - a\n",  # a block scalar document
        "items:\n",  # items of null
    ],
)
def test_documents_that_are_not_a_block_list_are_not_cut(text: str) -> None:
    assert decode.split_list(text) is None


def test_one_broken_document_costs_only_itself(tmp_path: Path) -> None:
    text = "kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: [b\n---\n" + (
        "kind: Pod\nmetadata: {name: c}\n"
    )
    documents = list(decode.yaml_documents(text.encode(), cache=False))
    assert [index for index, _ in documents] == [1, 2, 3]
    assert isinstance(documents[1][1], ValueError)
    assert "line" in str(documents[1][1])
    path = tmp_path / "pods.yaml"
    path.write_text(text)
    bundle = load(path)
    assert sorted(o.name for o in bundle.objects) == ["a", "c"]
    assert [e.source for e in bundle.errors] == [f"{path}: document 2"]


def test_document_split_fast_path_matches_the_regex() -> None:
    for data in (
        b"a: 1\n",
        b"---\na: 1\n---\nb: 2\n",
        b"a: |\n  ---\n  x\n",
        b"a: 1\r\n--- # comment\r\nb: 2\r\n",
        b"a: 1\n---",
    ):
        assert decode.split_documents(data) == decode.DOCUMENT_SPLIT.split(data)


# --- the cache ----------------------------------------------------------------


def _big_list(pods: int) -> bytes:
    items = "".join(
        f"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: pod-{i}\n    namespace: shop\n"
        for i in range(pods)
    )
    return f"apiVersion: v1\nitems:\n{items}kind: List\n".encode()


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(chunk: bytes) -> Any:
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(decode, "parse_document", fail)


def test_the_cache_is_used_and_invalidated_by_any_change(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "CACHE_MIN_BYTES", 0)
    bundle_dir = tmp_path / "bundle"
    bundle_dir.mkdir()
    path = bundle_dir / "cluster.yaml"
    path.write_bytes(_big_list(50))
    first = load(path)
    entries = list((cache_home / "why5xx" / "yaml").glob("*.bin"))
    assert len(entries) == 1
    assert sorted(p.name for p in bundle_dir.iterdir()) == ["cluster.yaml"]  # nothing beside it

    with monkeypatch.context() as patched:
        _no_parsing(patched)
        second = load(path)
    assert [o.raw for o in second.objects] == [o.raw for o in first.objects]

    path.write_bytes(_big_list(50).replace(b"pod-7\n", b"pod-x\n"))  # same size, new bytes
    changed = load(path)
    assert "pod-x" in {o.name for o in changed.objects}
    assert len(list((cache_home / "why5xx" / "yaml").glob("*.bin"))) == 2


def test_no_cache_neither_reads_nor_writes(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "CACHE_MIN_BYTES", 0)
    path = tmp_path / "cluster.yaml"
    path.write_bytes(_big_list(5))
    decode.set_cache(False)
    try:
        load(path)
    finally:
        decode.set_cache(True)
    assert not (cache_home / "why5xx").exists()
    monkeypatch.setenv("WHY5XX_NO_CACHE", "1")
    load(path)
    assert not (cache_home / "why5xx").exists()


def test_a_corrupt_cache_entry_is_ignored_and_replaced(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "CACHE_MIN_BYTES", 0)
    path = tmp_path / "cluster.yaml"
    path.write_bytes(_big_list(5))
    expected = [o.raw for o in load(path).objects]
    (entry,) = (cache_home / "why5xx" / "yaml").glob("*.bin")
    blob = entry.read_bytes()
    entry.write_bytes(blob[:-7] + b"garbage")
    assert [o.raw for o in load(path).objects] == expected
    assert entry.read_bytes() == blob  # written again


def test_files_with_a_broken_document_are_not_cached(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "CACHE_MIN_BYTES", 0)
    path = tmp_path / "pods.yaml"
    path.write_text("kind: Pod\nmetadata: {name: a}\n---\nkind: [\n")
    bundle = load(path)
    assert len(bundle.errors) == 1
    assert not list((cache_home / "why5xx" / "yaml").glob("*.bin"))


def test_the_cache_keeps_a_bounded_number_of_entries(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "CACHE_MIN_BYTES", 0)
    monkeypatch.setattr(decode, "CACHE_MAX_ENTRIES", 3)
    for pods in range(1, 7):
        path = tmp_path / f"c{pods}.yaml"
        path.write_bytes(_big_list(pods))
        load(path)
    assert len(list((cache_home / "why5xx" / "yaml").glob("*.bin"))) == 3


# --- the collector and the snapshot -------------------------------------------


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with gc_paused(freeze_over=None):
        junk = [[i] for i in range(1000)]
    assert gc.get_freeze_count() == frozen
    del junk


def _event(name: str, last: str | None, *, v1: bool = False, namespace: str = "shop") -> Obj:
    if v1:
        raw: dict[str, Any] = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "regarding": {"kind": "Pod", "name": "api-0"},
            "note": name,
            "deprecatedLastTimestamp": last,
        }
    else:
        raw = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": "Pod", "name": "api-0", "namespace": namespace},
            "message": name,
            "lastTimestamp": last,
        }
    return Obj.from_raw(raw, "bundle:events.yaml")


def test_events_are_grouped_at_build_and_normalised_oldest_first_on_demand() -> None:
    objects = [
        _event("c", "2026-11-20T08:03:00Z"),
        _event("a", "2026-11-20T08:01:00Z", v1=True),
        _event("none", None),
        _event("b", "2026-11-20T08:02:00Z"),
        _event("other", "2026-11-20T08:09:00Z", namespace="web"),
    ]
    snap = Snapshot.build(objects)
    events = snap.events_for("Pod", "shop", "api-0")
    assert [e.message for e in events] == ["none", "a", "b", "c"]
    assert snap.events_for("Pod", "shop", "api-0") is events  # normalised once
    assert [e.message for e in snap.events_for("Pod", "web", "api-0")] == ["other"]
    assert snap.events_for("Pod", "shop", "missing") == ()
    assert len(snap.list("Event")) == 5
    assert snap.now.isoformat() == "2026-11-20T08:09:00+00:00"


def test_a_cache_directory_others_may_write_into_is_not_trusted(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "CACHE_MIN_BYTES", 0)
    path = tmp_path / "cluster.yaml"
    path.write_bytes(_big_list(5))
    load(path)
    directory = cache_home / "why5xx" / "yaml"
    assert directory.stat().st_mode & 0o777 == 0o700
    directory.chmod(0o777)
    with monkeypatch.context() as patched:
        calls: list[bytes] = []
        real = decode.parse_document

        def counted(chunk: bytes) -> Any:
            calls.append(chunk)
            return real(chunk)

        patched.setattr(decode, "parse_document", counted)
        load(path)
    assert calls  # parsed: the world-writable cache was not read
