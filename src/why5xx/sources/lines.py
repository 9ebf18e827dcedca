"""Where each object of a manifest file starts, as a line number.

`why5xx lint` points at `deploy.yaml:42`, so the loader asks here for the
line of each document (and of each item of a `List`) it turns into an
object. The decoders give values without positions, so this module finds
the starts in the bytes themselves, lazily (only a file whose objects are
asked for is scanned, and a `List`'s items only when it is one):

- YAML: documents are cut at `---` lines exactly as `decode.yaml_documents`
  cuts them (same pattern, same numbering); a document's line is its first
  line that is not blank, a comment or a directive (helm's `# Source:`
  comment is skipped). A `List`'s items are its top-level `items:` block
  sequence entries (`- ` at the indentation of the first entry).
- JSON: one pass over strings and brackets finds each top-level value and
  the objects of a top-level `"items": [...]`.

A diagnosis never asks: `load_bundle(..., lines=True)` is what `lint` uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from why5xx.sources.decode import DOCUMENT_SPLIT

_ITEMS_KEY = re.compile(rb"^items:[ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class Locator(Protocol):
    def line(self, document: int, item: int | None = None) -> int | None:
        """The 1-based line where document `document` (numbered as the
        decoder numbers it) starts, or item `item` of its `List`; None when
        it cannot be told."""


def locate(data: bytes, *, is_json: bool) -> Locator:
    return JsonLines(data) if is_json else YamlLines(data)


def _line_at(data: bytes, offset: int, known: tuple[int, int] = (0, 1)) -> int:
    """The line of byte `offset`, counting on from a known (offset, line)."""
    start, line = known
    return line + data.count(b"\n", start, offset)


@dataclass(slots=True)
class YamlLines:
    data: bytes
    # Document number -> its span, as decode.yaml_documents numbers them.
    _spans: dict[int, Span] | None = None
    _items: dict[int, list[int]] = field(default_factory=dict)

    def spans(self) -> dict[int, Span]:
        if self._spans is None:
            self._spans = _document_spans(self.data)
        return self._spans

    def line(self, document: int, item: int | None = None) -> int | None:
        span = self.spans().get(document)
        if span is None:
            return None
        if item is None:
            return _first_content_line(self.data, span)
        if document not in self._items:
            self._items[document] = _item_lines(self.data, span)
        lines = self._items[document]
        return lines[item] if item < len(lines) else None


@dataclass(frozen=True, slots=True)
class Span:
    """A document's bytes [start, end) and the line `start` is on."""

    start: int
    end: int
    line: int


def _document_spans(data: bytes) -> dict[int, Span]:
    """The span of each document, numbered like `decode.yaml_documents`:
    from 1, after dropping a blank first chunk (a file starting with ---)."""
    if not data.startswith(b"---") and b"\n---" not in data:
        return {1: Span(0, len(data), 1)}
    spans: list[Span] = []
    start, known = 0, (0, 1)
    for separator in DOCUMENT_SPLIT.finditer(data):
        spans.append(Span(start, separator.start(), known[1]))
        start = separator.end()
        known = (start, _line_at(data, start, known))
    spans.append(Span(start, len(data), known[1]))
    if not data[spans[0].start : spans[0].end].strip():
        spans = spans[1:]
    return dict(enumerate(spans, start=1))


def _first_content_line(data: bytes, span: Span) -> int:
    """The first line of the span that holds YAML content."""
    position, line, end = span.start, span.line, span.end
    while position < end:
        stop = data.find(b"\n", position, end)
        stop = end if stop < 0 else stop
        text = data[position:stop].strip()
        if text and not text.startswith((b"#", b"%")):
            return line
        position, line = stop + 1, line + 1
    return span.line


def _item_lines(data: bytes, span: Span) -> list[int]:
    """The lines of the entries of a top-level `items:` block sequence."""
    end = span.end
    key = _ITEMS_KEY.search(data, span.start, end)
    if key is None:
        return []
    first = re.compile(rb"^( *)-(?:[ \t]|\r?$)", re.MULTILINE).search(data, key.end(), end)
    if first is None:
        return []
    indent = len(first.group(1))
    # The sequence ends at the first content line indented less than its
    # entries (at column 0: the first that is not an entry, i.e. the next key).
    closing = rb"\n[^ \-#\r\n]" if indent == 0 else rb"\n {0,%d}[^ #\r\n]" % (indent - 1)
    ending = re.compile(closing).search(data, first.start(), end)
    stop = ending.start() if ending else end
    entry = re.compile(rb"^ {%d}-(?:[ \t]|\r?$)" % indent, re.MULTILINE)
    lines: list[int] = []
    known = (span.start, span.line)
    for found in entry.finditer(data, first.start(), stop):
        known = (found.start(), _line_at(data, found.start(), known))
        lines.append(known[1])
    return lines


@dataclass(slots=True)
class JsonLines:
    data: bytes
    _documents: dict[int, int] | None = None
    _items: dict[int, list[int]] = field(default_factory=dict)

    def line(self, document: int, item: int | None = None) -> int | None:
        if self._documents is None:
            self._documents, self._items = _json_starts(self.data)
        if item is None:
            return self._documents.get(document)
        lines = self._items.get(document, [])
        return lines[item] if item < len(lines) else None


def _json_starts(data: bytes) -> tuple[dict[int, int], dict[int, list[int]]]:
    """The line of each top-level value and of each object in the `items`
    array of a top-level object, in one pass over strings and brackets."""
    documents: dict[int, int] = {}
    items: dict[int, list[int]] = {}
    depth, index = 0, 0
    in_items = False  # inside the top-level value's "items" array
    previous = b""
    known = (0, 1)
    for token in _JSON_TOKEN.finditer(data):
        text = token.group()
        opening = text in (b"{", b"[")
        if depth == 0 and (opening or text.startswith(b'"')):
            index += 1
            known = (token.start(), _line_at(data, token.start(), known))
            documents[index] = known[1]
        elif depth == 2 and in_items and text == b"{":
            known = (token.start(), _line_at(data, token.start(), known))
            items.setdefault(index, []).append(known[1])
        if opening:
            in_items = in_items or (depth == 1 and text == b"[" and previous == b'"items"')
            depth += 1
        elif text in (b"}", b"]"):
            depth -= 1
            in_items = in_items and depth >= 2
        previous = text
    return documents, items
