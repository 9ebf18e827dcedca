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

import contextlib
import re
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from why5xx.sources.logs.record import Record, Symptom

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
    # None for a line of no interest; ValueError for a malformed one (a date
    # that does not exist), which counts as unparsed.
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
            with contextlib.suppress(ValueError):  # a malformed line: not of the format
                record = kind.parse(line)
                if record is not None:
                    return record
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFormat:
    """The own messages of a proxy, controller or app server (klog lines,
    Envoy debug lines, gunicorn's arbiter): recognised line by line, since
    they come mixed with other lines and behind collectors' prefixes."""

    name: str
    shape: re.Pattern[str]  # found (re.search) in every line of this family
    # The lines that say something about a backend; None for the others.
    parse: Callable[[str], Record | None]


@dataclass(frozen=True, slots=True)
class Message:
    """One message a family writes: its pattern, the symptom it means, and
    the words a summary shows for it."""

    pattern: re.Pattern[str]
    symptom: Symptom
    signal: str


def messages(*rows: tuple[str, Symptom, str], flags: int = 0) -> tuple[Message, ...]:
    """A family's table of messages, most specific first."""
    return tuple(Message(re.compile(p, flags), symptom, signal) for p, symptom, signal in rows)


def first_message(table: tuple[Message, ...], line: str) -> tuple[Message, re.Match[str]] | None:
    """The first message of the table the line holds, and its match."""
    for message in table:
        found = message.pattern.search(line)
        if found is not None:
            return message, found
    return None


class LogInputError(Exception):
    """A log that cannot be read (missing, unreadable, corrupt compression)."""


@dataclass(slots=True)
class Tally:
    """Counts for one file, filled while it streams."""

    lines: int = 0
    unparsed: int = 0
    bytes: int = 0
    # Lines recognised, by the format or family that wrote them.
    families: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.lines += other.lines
        self.unparsed += other.unparsed
        self.bytes += other.bytes
        self.families.update(other.families)


# Recognises one line that is not of the file's format (a controller's klog
# line among access lines), gives its records to the sink, and names its
# family; None when nothing knows the line.
Other = Callable[[str], str | None]


class GunzipStream:
    """The text of gzip data (one member or several), read as far as it
    goes: a truncated file gives every line before the cut, then one
    `EOFError` that says so (`gzip.GzipFile` drops the block it was reading)."""

    _PIECE = 1 << 16

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(wbits=31)
        self._ready = bytearray()
        self._ended = False  # no more compressed input
        self._in_member = False  # fed a member whose end has not come

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._ready) < size):
            self._fill()
        if self._ended and not self._ready and self._in_member:
            self._in_member = False  # said once
            raise EOFError("the gzip data ends early (a truncated file); the lines before it count")
        taken = bytes(self._ready if size < 0 else self._ready[:size])
        del self._ready[: len(taken)]
        return taken

    def _fill(self) -> None:
        piece = self._raw.read(self._PIECE)
        if not piece:
            self._ended = True
            return
        while piece:
            if self._inflate.eof:  # the next member of a concatenated gzip
                self._inflate = zlib.decompressobj(wbits=31)
            self._ready += self._inflate.decompress(piece)
            self._in_member = not self._inflate.eof
            piece = self._inflate.unused_data if self._inflate.eof else b""

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> GunzipStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_log(path: str, stdin: BinaryIO | None = None) -> BinaryIO:
    """A binary stream of the log's text: `-` is standard input; gzip is
    recognised by its magic bytes, whatever the file is called."""
    if path == STDIN:
        raw = stdin if stdin is not None else sys.stdin.buffer
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        return GunzipStream(raw) if head == GZIP_MAGIC else raw  # type: ignore[return-value]
    try:
        handle = open(path, "rb")  # noqa: SIM115 (the caller closes the stream)
    except OSError as exc:
        raise LogInputError(f"{path}: {exc.strerror or exc}") from exc
    # peek, not read and seek: a pipe (`<(kubectl logs ...)`) cannot seek.
    if handle.peek(2)[:2] == GZIP_MAGIC:
        return GunzipStream(handle)  # type: ignore[return-value]
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


def first_lines(block: bytes) -> list[str]:
    """The first non-blank lines of a file's first block, as text."""
    return [
        line.decode("utf-8", "replace").rstrip("\r")
        for line in block.split(b"\n", SNIFF_LINES + 1)[1 : SNIFF_LINES + 1]
        if line.strip()
    ]


def sniff(block: bytes, formats: tuple[LogFormat, ...]) -> LogFormat | None:
    """The format that parses most of the first lines; ties go to the
    earlier format (the more specific one)."""
    lines = first_lines(block)
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


def _others(block: bytes, fmt: LogFormat, other: Other, tally: Tally) -> int:
    """Give each line of the block that no kind of `fmt` shapes to `other`;
    the number it recognised. Runs only on blocks that hold such lines, so a
    file of one format pays nothing for it."""
    found = 0
    start = 1  # the block starts with the newline before its first line
    size = len(block)
    while start <= size:
        end = block.find(b"\n", start)
        if end < 0:
            end = size
        if end > start and not any(k.shape.search(block, start - 1, end) for k in fmt.kinds):
            family = other(block[start:end].decode("utf-8", "replace").rstrip("\r"))
            if family is not None:
                tally.families[family] += 1
                found += 1
        start = end + 1
    return found


def scan_lines(block: bytes, tally: Tally, other: Other) -> None:
    """A file of no single format (or behind collectors' prefixes): every
    line through `other`."""
    lines = block.split(b"\n")[1:]
    recognised = 0
    for raw in lines:
        family = other(raw.decode("utf-8", "replace").rstrip("\r")) if raw.strip() else None
        if family is not None:
            tally.families[family] += 1
            recognised += 1
    tally.lines += len(lines)
    tally.unparsed += len(lines) - recognised


def scan_block(
    block: bytes,
    fmt: LogFormat,
    tally: Tally,
    sink: Callable[[Record], None],
    other: Other | None = None,
) -> None:
    """Count the block's lines, parse its candidate lines into `sink`; with
    `other`, lines not of the format are recognised one by one."""
    lines = block.count(b"\n")
    recognised = unparsed = elsewhere = 0
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
            text = block[start:end].decode("utf-8", "replace").rstrip("\r")
            try:
                record = kind.parse(text)
                malformed = False
            except ValueError:  # e.g. a date that does not exist (2026/02/31)
                record, malformed = None, True
            if record is not None:
                sink(record)
            elif (kind.strict or malformed) and kind.shape.search(block, start - 1, end):
                # It had the shape, so it was counted as recognised: it is
                # another kind's line (an access line cut before its time), or
                # a malformed one.
                family = other(text) if other is not None else None
                if family is None:
                    unparsed += 1
                else:
                    tally.families[family] += 1
                    elsewhere += 1
    rest = max(lines - recognised, 0)
    if rest and other is not None:
        rest -= _others(block, fmt, other, tally)
    tally.lines += lines
    tally.families[fmt.name] += recognised - unparsed - elsewhere
    tally.unparsed += unparsed + rest
