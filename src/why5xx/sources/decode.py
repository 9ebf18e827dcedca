"""Decoding bundle bytes into documents, fast.

A 10,000-pod cluster captured with `kubectl get -o yaml` is ~170 MB of
YAML (~320 MB as `-o json`). Measured on a 2-core machine (bench/, `make
bench`), the choices here are:

- **The garbage collector is paused while decoding** (`snapshot.gc_paused`).
  Decoders create millions of acyclic dicts, lists and strings; every
  collection the allocations trigger walks all of them again. Pausing it
  (and freezing what a big bundle allocated) halves the whole diagnosis.
- **YAML means what it means to kubectl** (`kubeyaml`: go-yaml v2's YAML
  1.1, duplicate keys an error), read by yaml_rs where a scan shows YAML
  1.1 and 1.2 agree on the text (every `kubectl get -o yaml` output), by
  libyaml and go-yaml's rules elsewhere.
- **A big `List` is parsed on two cores**: its `items` are cut at their
  top-level `- ` lines (never inside a block scalar, which is always indented
  deeper; a cut inside a quoted scalar leaves it unterminated, so the piece
  fails and the whole document is parsed in one go instead). A forked worker
  parses the last pieces and hands them back in `marshal` form.
- **Decoded YAML is cached** under `$XDG_CACHE_HOME/why5xx/` (never next to
  the bundle), keyed by a SHA-256 of the file's bytes and by the decoder's
  versions, so it is invalidated by any change; the on-call loop of
  diagnosing one bundle again and again reads it back ~5x faster than it
  parses. `--no-cache` (or `WHY5XX_NO_CACHE=1`) turns it off.

Each function yields `(document index, value or exception)`, so one broken
document never costs the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import re
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from why5xx.snapshot import gc_paused
from why5xx.sources import kubeyaml

__all__ = [
    "cache_dir",
    "gc_paused",
    "set_cache",
    "wait_for_cache_writes",
    "yaml_documents",
]

# A YAML document separator at the start of a line ("---" alone or followed by a space).
DOCUMENT_SPLIT = re.compile(rb"^---[ \t]*(?:#[^\n]*)?\r?$\n?", re.MULTILINE)

# Documents at least this big are cut into pieces and parsed on two cores.
PARALLEL_MIN_BYTES = 4 << 20
# Pieces of about this size: small enough to balance the two cores.
PIECE_BYTES = 4 << 20
# The share of the pieces the parent keeps: it also has to unmarshal the
# worker's share, so it parses a little less.
PARENT_SHARE = 0.45
# Files smaller than this are not worth a cache entry.
CACHE_MIN_BYTES = 1 << 20
CACHE_MAX_ENTRIES = 8
CACHE_MAX_BYTES = 2 << 30
# Bump when what a cache entry holds, or how it is made, changes.
CACHE_FORMAT = 2

Documents = list[tuple[int, Any]]


# --- YAML -----------------------------------------------------------------


def yaml_documents(data: bytes, *, cache: bool | None = None) -> Iterator[tuple[int, Any]]:
    """Each YAML document of `data`, parsed on its own."""
    use_cache = cache_enabled() if cache is None else cache
    key = cache_key(data) if use_cache and len(data) >= CACHE_MIN_BYTES else None
    if key is not None:
        cached = cache_load(key)
        if cached is not None:
            yield from cached
            return
    documents: Documents = []
    chunks = split_documents(data)
    line = 1  # where the chunk starts in the file
    if chunks and (not chunks[0] or chunks[0].isspace()):
        chunks = chunks[1:]  # the file started with ---
        line = 2 + data.count(b"\n", 0, data.find(b"---"))
    with gc_paused():
        for index, chunk in enumerate(chunks, start=1):
            if chunk and not chunk.isspace():
                value = parse_document(chunk)
                if isinstance(value, kubeyaml.YamlError):
                    value = value.moved(line - 1)  # lines of the file, not of the document
                documents.append((index, value))
            if len(chunks) > 1:
                line += chunk.count(b"\n") + 1  # the chunk and its --- line
    if key is not None and not any(isinstance(d, Exception) for _, d in documents):
        cache_store(key, documents)
    yield from documents


def split_documents(data: bytes) -> list[bytes]:
    """`data` cut at its `---` lines (a quick look first: most files have none)."""
    if not data.startswith(b"---") and b"\n---" not in data:
        return [data]
    return DOCUMENT_SPLIT.split(data)


def parse_document(chunk: bytes) -> Any:
    """One YAML document, or the exception that says why it is not one."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    if len(chunk) >= PARALLEL_MIN_BYTES:
        pieces = split_list(text)
        if pieces is not None:
            value = parse_pieces(pieces)
            if value is not None:
                return value
    return parse_text(text)


def parse_text(text: str) -> Any:
    """One YAML document as kubectl reads it, or the `kubeyaml.YamlError`
    that says why it is not one."""
    try:
        return kubeyaml.load(text)
    except kubeyaml.YamlError as exc:
        return exc


@dataclass(frozen=True, slots=True)
class ListPieces:
    """A `List` document cut for parallel parsing: the document with an empty
    `items: []` in place of its items, and the items in pieces, each a
    block sequence of whole items."""

    skeleton: str
    pieces: list[str]


_ITEMS = re.compile(r"^items:[ \t]*(?:#[^\n]*)?\r?\n", re.MULTILINE)
_FIRST_KEY = re.compile(r"\A(?:(?:[ \t]*(?:#[^\n]*)?\r?\n)|(?:%[^\n]*\n))*[A-Za-z_\"'][^\n]*:")


def split_list(text: str) -> ListPieces | None:
    """Cut a `kind: List` document's `items` at its entries' `- ` lines, or
    None when the document is not a block mapping with a block sequence of
    `items` at the top level."""
    if not _FIRST_KEY.match(text):
        return None  # not a block mapping at column 0
    found = _ITEMS.search(text)
    if found is None:
        return None
    body_start = found.end()
    entry = re.compile(r"^( *)-(?:[ \t]|\r?$)", re.MULTILINE)
    position = body_start
    # The first line that is not blank nor a comment must be an entry.
    while True:
        line_end = text.find("\n", position)
        line = text[position : line_end if line_end >= 0 else len(text)]
        if line.strip() and not line.lstrip().startswith("#"):
            break
        if line_end < 0:
            return None
        position = line_end + 1
    first = entry.match(text, position)
    if first is None:
        return None
    indent = first.group(1)
    # The items end at the first line indented less than the entries (or, at
    # column 0, the first that is not an entry: the next top-level key);
    # blank lines and comments aside.
    if indent:
        end_pattern = re.compile(rf"\n {{0,{len(indent) - 1}}}[^ #\r\n]")
    else:
        end_pattern = re.compile(r"\n[^ \-#\r\n]")
    ending = end_pattern.search(text, position)
    body_end = ending.start() + 1 if ending else len(text)
    cut = re.compile(rf"^{indent}-(?:[ \t]|\r?$)", re.MULTILINE)
    pieces: list[str] = []
    start = position
    while start < body_end:
        target = start + PIECE_BYTES
        following = cut.search(text, target, body_end) if target < body_end else None
        stop = following.start() if following else body_end
        pieces.append(text[start:stop])
        start = stop
    if len(pieces) < 2:
        return None
    skeleton = text[: found.start()] + "items: []\n" + text[body_end:]
    return ListPieces(skeleton=skeleton, pieces=pieces)


def parse_pieces(split: ListPieces) -> Any:
    """The document from its pieces, or None when a piece fails (the caller
    then parses the document whole, for the right error and line)."""
    try:
        skeleton = kubeyaml.load(split.skeleton)
    except kubeyaml.YamlError:
        return None
    if not isinstance(skeleton, dict) or skeleton.get("items") != []:
        return None
    keep = max(1, round(len(split.pieces) * PARENT_SHARE))
    mine, theirs = split.pieces[:keep], split.pieces[keep:]
    worker = _Worker.start(theirs) if theirs else None
    try:
        items = _parse_sequences(mine)
        if items is None:
            return None
        rest = worker.result() if worker is not None else None
        if rest is None:  # no worker, or it failed: parse its share here
            rest = _parse_sequences(theirs)
            if rest is None:
                return None
    finally:
        if worker is not None:
            worker.stop()
    items.extend(rest)
    skeleton["items"] = items
    return skeleton


def _parse_sequences(pieces: list[str]) -> list[Any] | None:
    items: list[Any] = []
    for piece in pieces:
        try:
            value = kubeyaml.load(piece)
        except kubeyaml.YamlError:
            return None
        if not isinstance(value, list):
            return None
        items.extend(value)
    return items


class _Worker:
    """A forked child that parses pieces and hands back their items,
    marshalled into an anonymous file; None from `result` when it could not
    (the parent then parses them itself)."""

    def __init__(self, pid: int, output: int) -> None:
        self.pid = pid
        self.output = output
        self.done = False

    @staticmethod
    def start(pieces: list[str]) -> _Worker | None:
        wait_for_cache_writes()  # our own thread must not be running across a fork
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return None  # forking a threaded process is unsafe
        try:
            output = _anonymous_file()
            pid = os.fork()
        except OSError:
            return None
        if pid == 0:  # the child: never returns
            code = 1
            try:
                items = _parse_sequences(pieces)
                if items is not None:
                    payload = marshal.dumps(items)
                    with os.fdopen(output, "wb", closefd=False) as stream:
                        stream.write(payload)
                    code = 0
            finally:
                os._exit(code)
        return _Worker(pid, output)

    def result(self) -> list[Any] | None:
        _, status = os.waitpid(self.pid, 0)
        self.done = True
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        with os.fdopen(self.output, "rb", closefd=False) as stream:
            stream.seek(0)
            payload = stream.read()
        try:
            items = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return None
        return items if isinstance(items, list) else None

    def stop(self) -> None:
        if not self.done:  # interrupted: do not leave the child behind
            with contextlib.suppress(OSError):
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
        os.close(self.output)


def _anonymous_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("why5xx-yaml", 0)
    fd, path = tempfile.mkstemp(prefix="why5xx-")
    os.unlink(path)
    return fd


# --- the cache ----------------------------------------------------------------

_MAGIC = b"why5xx-yaml-cache\n"


def cache_enabled() -> bool:
    return _settings.enabled and not os.environ.get("WHY5XX_NO_CACHE")


def set_cache(enabled: bool) -> None:
    """Turn the decoded-YAML cache on or off for this process (`--no-cache`)."""
    _settings.enabled = enabled


@dataclass(slots=True)
class _Settings:
    enabled: bool = True


_settings = _Settings()


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/why5xx/yaml` (else `~/.cache/why5xx/yaml`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "why5xx" / "yaml"


def _decoder_versions() -> str:
    return f"{CACHE_FORMAT}:{yaml.__version__}:{sys.version_info[:3]}:{marshal.version}"


def cache_key(data: bytes) -> str:
    digest = hashlib.sha256(data)
    digest.update(_decoder_versions().encode())
    return digest.hexdigest()


def _private(directory: Path) -> bool:
    """Only a directory of ours that nobody else may write into is trusted:
    an entry is unmarshalled, and marshal is not meant for hostile data."""
    try:
        stat = directory.stat()
    except OSError:
        return False
    getuid = getattr(os, "getuid", None)
    return (getuid is None or stat.st_uid == getuid()) and not stat.st_mode & 0o022


def cache_load(key: str) -> Documents | None:
    directory = cache_dir()
    if not _private(directory):
        return None
    path = directory / f"{key}.bin"
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    header = len(_MAGIC) + 4
    if not blob.startswith(_MAGIC):
        return None
    payload = memoryview(blob)[header:]
    if zlib.crc32(payload) != int.from_bytes(blob[len(_MAGIC) : header], "big"):
        return None  # torn or corrupt: parse again (and overwrite)
    try:
        with gc_paused():
            documents = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: evicted last
    return documents if isinstance(documents, list) else None


_writers: list[threading.Thread] = []


def wait_for_cache_writes() -> None:
    """Block until entries being written in the background are on disk."""
    while _writers:
        _writers.pop().join()


def cache_store(key: str, documents: Documents) -> None:
    """Marshal the entry here, write it from a thread (the write releases
    the GIL: it overlaps the diagnosis, and the interpreter waits for it at
    exit). Atomic; a cache that cannot be written is no error."""
    directory = cache_dir()
    try:
        payload = marshal.dumps(documents)
    except ValueError:
        return  # a value marshal cannot hold
    writer = threading.Thread(
        target=_write_entry, args=(directory, key, payload), name="why5xx-cache-write"
    )
    writer.start()
    _writers.append(writer)


def _write_entry(directory: Path, key: str, payload: bytes) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _private(directory):
            return
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(_MAGIC)
                stream.write(zlib.crc32(payload).to_bytes(4, "big"))
                stream.write(payload)
            os.replace(temporary, directory / f"{key}.bin")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _evict(directory)
    except OSError:
        return


def _evict(directory: Path) -> None:
    """Keep the most recently used entries within the count and size budgets."""
    for stale in directory.glob(".tmp-*"):  # left by a process killed mid-write
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < time.time() - 3600:
                stale.unlink()
    entries = []
    for path in directory.glob("*.bin"):
        with contextlib.suppress(OSError):
            stat = path.stat()
            entries.append((stat.st_mtime, stat.st_size, path))
    entries.sort(reverse=True)
    total = 0
    for position, (_, size, path) in enumerate(entries):
        total += size
        if position >= CACHE_MAX_ENTRIES or total > CACHE_MAX_BYTES:
            with contextlib.suppress(OSError):
                path.unlink()
