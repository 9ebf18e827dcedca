"""Streaming a log through a format: blocks of whole lines, a byte-level
pre-filter, and a full parse of the few lines that matter.

A proxy writes a line per request and only about one in a hundred is a 5xx.
Decoding and parsing every line in Python runs at tens of MB/s; finding the
candidates with one compiled byte pattern over a 4 MiB block runs at GB/s
(the `re` engine scans for the pattern's literal prefix in C). So each format
declares, per kind of line, a `candidate` pattern that matches every line
worth parsing (a superset: the parser rejects false positives) and a `shape`
pattern that matches once in every well-formed line, which counts the lines
that are not of the format without parsing them.
"""

from __future__ import annotations

import gzip
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from why5xx.sources.logs.record import Record

CHUNK = 4 << 20
# A "line" longer than this is cut, so one line without newlines cannot hold the whole file.
MAX_LINE = 1 << 20
SNIFF_LINES = 200
STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineKind:
    """One kind of line a format writes (access lines, error lines).

    Patterns run over a block that starts with the newline before its first
    line, so `\\n` anchors a pattern at the start of a line.
    """

    shape: re.Pattern[bytes]  # matches exactly once in every line of this kind
    parse: Callable[[str], Record | None]
    # Matches in every line that may be a 5xx or an upstream error; None
    # parses every line of the kind (rare kinds: one pass instead of two).
    candidate: re.Pattern[bytes] | None
    # Whether a candidate the parser rejects is malformed (an access line with
    # a 5xx-looking status), rather than merely irrelevant (a warning that is
    # not about an upstream).
    strict: bool = True

    def shaped(self, line: bytes) -> bool:
        return self.shape.search(b"\n" + line) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFormat:
    name: str
    kinds: tuple[LineKind, ...]

    def parse(self, line: str) -> Record | None:
        """Any line of the format, 5xx or not (used to detect the format)."""
        for kind in self.kinds:
            record = kind.parse(line)
            if record is not None:
                return record
        return None


class LogInputError(Exception):
    """A log that cannot be read (missing, unreadable, corrupt compression)."""


@dataclass(slots=True)
class Tally:
    """Counts for one file, filled while it streams."""

    lines: int = 0
    unparsed: int = 0
    bytes: int = 0


def open_log(path: str, stdin: BinaryIO | None = None) -> BinaryIO:
    """A binary stream of the log's text: `-` is standard input; gzip is
    recognised by its magic bytes, whatever the file is called."""
    if path == STDIN:
        raw = stdin if stdin is not None else sys.stdin.buffer
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        return gzip.GzipFile(fileobj=raw) if head == GZIP_MAGIC else raw  # type: ignore[return-value]
    try:
        handle = open(path, "rb")  # noqa: SIM115 (the caller closes the stream)
    except OSError as exc:
        raise LogInputError(f"{path}: {exc.strerror or exc}") from exc
    if handle.read(2) == GZIP_MAGIC:
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    handle.seek(0)
    return handle


def blocks(stream: BinaryIO, tally: Tally, limit: int | None = None) -> Iterator[bytes]:
    """Whole lines in blocks of about CHUNK bytes, each block starting with
    the newline that precedes its first line (the first with a made-up one);
    at most `limit` bytes when given."""
    tail = b"\n"
    left = limit
    while True:
        size = CHUNK if left is None else min(CHUNK, left)
        if size <= 0:
            break
        try:
            data = stream.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise LogInputError(f"cannot read past byte {tally.bytes}: {exc}") from exc
        if not data:
            break
        tally.bytes += len(data)
        if left is not None:
            left -= len(data)
        buffer = tail + data
        cut = buffer.rfind(b"\n")
        if cut <= 0:
            if len(buffer) < MAX_LINE:
                tail = buffer
                continue
            cut = len(buffer)
        yield buffer[:cut]
        tail = buffer[cut:] or b"\n"
    if len(tail) > 1:
        yield tail


def sniff(block: bytes, formats: tuple[LogFormat, ...]) -> LogFormat | None:
    """The format that parses most of the first lines; ties go to the
    earlier format (the more specific one)."""
    lines = [
        line.decode("utf-8", "replace").rstrip("\r")
        for line in block.split(b"\n", SNIFF_LINES + 1)[1 : SNIFF_LINES + 1]
        if line.strip()
    ]
    best, best_score = None, 0
    for fmt in formats:
        # A line the format parses counts double: shapes alone are loose
        # (Traefik's common log has nginx's shape up to the user agent).
        score = sum(
            2 if fmt.parse(line) is not None else any(k.shaped(line.encode()) for k in fmt.kinds)
            for line in lines
        )
        if score > best_score:
            best, best_score = fmt, score
    return best


def scan_block(block: bytes, fmt: LogFormat, tally: Tally, sink: Callable[[Record], None]) -> None:
    """Count the block's lines, parse its candidate lines into `sink`."""
    lines = block.count(b"\n")
    recognised = unparsed = 0
    seen: set[int] = set()
    for kind in fmt.kinds:
        if kind.candidate is None:
            candidates = list(kind.shape.finditer(block))
            recognised += len(candidates)
        else:
            recognised += len(kind.shape.findall(block))
            candidates = list(kind.candidate.finditer(block))
        for match in candidates:
            start = block.rfind(b"\n", 0, match.start() + 1) + 1
            if start in seen:
                continue
            seen.add(start)
            end = block.find(b"\n", match.end())
            if end < 0:
                end = len(block)
            record = kind.parse(block[start:end].decode("utf-8", "replace").rstrip("\r"))
            if record is not None:
                sink(record)
            elif kind.strict and kind.shape.search(block, start - 1, end):
                unparsed += 1  # it had the shape, so it was counted as recognised
    tally.lines += lines
    tally.unparsed += unparsed + max(lines - recognised, 0)
