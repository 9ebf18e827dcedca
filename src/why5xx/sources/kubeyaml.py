"""YAML as kubectl reads it, for one document.

kubectl turns YAML into the JSON it sends with sigs.k8s.io/yaml over go-yaml
v2, a YAML 1.1 reader: `0755` is the integer 493, unquoted `yes`/`on`/`y`
are booleans, `1_000` is 1000, `<<` merges a mapping (and a merge written
after a key overrides it), keys become strings (`on:` is "true", `1:` is
"1"), a float that is a whole number is sent as an integer, and `.inf`,
`.nan` or a null key make the document unusable. A key given twice is an
error for its document here: `kubectl apply -f` silently keeps the last
value (`kubectl apply -k`, through kustomize, refuses it), so what the
author meant is unknowable. `tests/test_kubeyaml.py` checks all of this
against the kubectl binary.

PyYAML's binding of libyaml (the C library go-yaml v2 is a port of, so
both parse alike) composes the nodes with their style and tags; the go-yaml
v2 rules below give them values (~5-10 MB/s on one core: `decode` cuts big
`List`s over two cores and caches what it read). YAML 1.2 readers (fast_yaml,
ryaml, yaml_rs: 2-5x faster) cannot stand in: they read `0755` as 755 and
`yes` as a string, and what a plain scalar was is lost by then.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from typing import Any

import yaml

__all__ = ["DuplicateKeyError", "YamlError", "dump", "load"]


class YamlError(ValueError):
    """A document kubectl would not send; `line` is 1-based within the text
    given to `load` (None when the parser did not say)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.reason = message
        self.line = line

    def moved(self, lines: int) -> YamlError:
        """The same error, its lines counted `lines` further down."""
        if self.line is None or not lines:
            return self
        return YamlError(self.reason, self.line + lines)


class DuplicateKeyError(YamlError):
    """A mapping that gives the same key twice (after kubectl's key
    conversion: `on:` and `true:` are the same key)."""

    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} (first at line {first_line})", line)
        self.key = key
        self.key_line = line
        self.first_line = first_line

    def moved(self, lines: int) -> DuplicateKeyError:
        return DuplicateKeyError(self.key, self.key_line + lines, self.first_line + lines)


def load(text: str) -> Any:
    """The value of one YAML document, as kubectl would send it; raises
    `YamlError` where kubectl would refuse it."""
    composer = _Composer(text.removeprefix("\ufeff"))
    try:
        node = composer.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(part for part in (exc.context, exc.problem) if part) or "not YAML"
        raise YamlError(problem, mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlError(" ".join(str(exc).split())) from None
    finally:
        composer.dispose()
    if node is None:
        return None
    return _Builder().value(node)


_STR = "tag:yaml.org,2002:str"
_BINARY = "tag:yaml.org,2002:binary"
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN = "plain"  # the tag given to an untagged plain scalar: go-yaml resolves it
_RESOLVABLE = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}


class _Composer(yaml.CSafeLoader):
    """libyaml's composer with no resolution of its own: untagged plain
    scalars keep the `_PLAIN` tag, quoted and block ones are strings."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        if kind is yaml.SequenceNode:
            return "tag:yaml.org,2002:seq"
        return "tag:yaml.org,2002:map"


class _Builder:
    """Node -> value, by go-yaml v2's rules and sigs.k8s.io/yaml's JSON
    conversion. An alias shares the value built for its anchor."""

    def __init__(self) -> None:
        self.built: dict[int, Any] = {}

    def value(self, node: yaml.Node) -> Any:
        if type(node) is yaml.ScalarNode:
            if node.tag == _STR:  # quoted or block: the common case first
                return node.value
            return _scalar(node)
        done = self.built.get(id(node))
        if done is not None:
            return done
        if type(node) is yaml.SequenceNode:
            value = self.value
            built: Any = [value(item) for item in node.value]
        else:
            built = {}
            self.fill(built, node)
        self.built[id(node)] = built
        return built

    def fill(self, out: dict[str, Any], node: yaml.Node) -> None:
        """Set `node`'s entries into `out` in order, as go-yaml does: a merge
        overrides the keys before it, the keys after it override the merge."""
        value = self.value
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = value(key_node)
            if type(key) is not str:
                key = _json_key(key, key_node)
            elif key == "<<" and _is_merge(key_node):
                self.merge(out, value_node)
                continue
            if key in seen:
                raise DuplicateKeyError(
                    key, key_node.start_mark.line + 1, seen[key].start_mark.line + 1
                )
            seen[key] = key_node
            out[key] = value(value_node)

    def merge(self, out: dict[str, Any], node: yaml.Node) -> None:
        if type(node) is yaml.MappingNode:
            self.fill(out, node)
            return
        if type(node) is yaml.SequenceNode:
            # Earlier mappings take precedence: go-yaml merges them last.
            for each in reversed(node.value):
                if type(each) is not yaml.MappingNode:
                    break
                self.fill(out, each)
            else:
                return
        raise YamlError(
            "map merge requires map or sequence of maps as the value", node.start_mark.line + 1
        )


def _is_merge(node: yaml.Node) -> bool:
    return type(node) is yaml.ScalarNode and node.tag in (_PLAIN, _MERGE)


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _PLAIN:
        return _sendable(resolve_plain(text), node)
    if tag == _STR:
        return text
    if tag == _BINARY:
        try:
            raw = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            raise YamlError("!!binary value is not base64", node.start_mark.line + 1) from None
        return raw.decode("utf-8", "replace")
    if tag not in _RESOLVABLE:
        return text  # another tag (`!custom`, `!!null`...): go-yaml keeps the text
    wanted = tag.rsplit(":", 1)[1]
    if wanted == "timestamp":
        return text  # go-yaml hands a timestamp to an interface{} as its text
    value = resolve_plain(text)
    if wanted == "float" and type(value) is int:
        value = float(value)
    if type(value) is not {"bool": bool, "int": int, "float": float}[wanted]:
        raise YamlError(f"cannot decode {text!r} as a !!{wanted}", node.start_mark.line + 1)
    return _sendable(value, node)


# go-yaml v2's resolve table: the plain scalars that are not strings by their
# first character alone.
_WORDS: dict[str, Any] = {
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"], True),
    **dict.fromkeys(["true", "True", "TRUE"], True),
    **dict.fromkeys(["n", "N", "no", "No", "NO", "off", "Off", "OFF"], False),
    **dict.fromkeys(["false", "False", "FALSE"], False),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], None),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
}
_NUMBER_START = frozenset("0123456789+-.")
# go-yaml v2's yamlStyleFloat, and Go's strconv.ParseInt(s, 0, 64) syntax.
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INT = re.compile(
    r"(?P<sign>[-+]?)(?:0[xX](?P<hex>[0-9a-fA-F]+)|0[oO](?P<oct>[0-7]+)|0[bB](?P<bin>[01]+)"
    r"|0(?P<zero>[0-7]*)|(?P<dec>[1-9][0-9]*))"
)
_INT64 = 1 << 63
_UINT64 = 1 << 64


def resolve_plain(text: str) -> Any:
    """What go-yaml v2 makes of an untagged plain scalar."""
    if text in _WORDS:
        return _WORDS[text]
    if not text or text[0] not in _NUMBER_START:
        return text
    if text[0] == ".":  # `.5`; never an integer
        if _FLOAT.fullmatch(text):
            return float(text)
        return text
    plain = text.replace("_", "")
    found = _INT.fullmatch(plain)
    if found is not None:
        digits, base = next(
            (found[name], base)
            for name, base in (("hex", 16), ("oct", 8), ("bin", 2), ("zero", 8), ("dec", 10))
            if found[name] is not None
        )
        number = int(digits or "0", base)
        if found["sign"] == "-":
            number = -number
        if -_INT64 <= number < _INT64:
            return number
        if found["sign"] == "" and number < _UINT64:
            return number  # a uint64
    if _FLOAT.fullmatch(plain):
        number_f = float(plain)
        if not math.isinf(number_f):  # Go's ParseFloat fails out of range
            return number_f
    return text


def _sendable(value: Any, node: yaml.Node) -> Any:
    """The value after the JSON round trip kubectl makes: a whole float is
    written without a fraction and read back as an integer, an integer
    beyond int64 comes back as a float, and infinities or NaN have no JSON."""
    if type(value) is float:
        if math.isinf(value) or math.isnan(value):
            raise YamlError(
                f"{node.value!r} has no JSON value (json: unsupported value)",
                node.start_mark.line + 1,
            )
        if value.is_integer() and -_INT64 <= value < _INT64:
            return int(value)
    elif type(value) is int and not -_INT64 <= value < _INT64:
        return float(value)
    return value


def _json_key(key: Any, node: yaml.Node) -> str:
    """sigs.k8s.io/yaml's key conversion: strings stay, numbers and booleans
    are written out, anything else makes the document unusable."""
    if type(key) is str:
        return key
    if type(key) is bool:
        return "true" if key else "false"
    if type(key) is int:
        return str(key)
    if type(key) is float:
        return _go_float_key(key)
    kind = "null" if key is None else type(key).__name__
    raise YamlError(f"unsupported map key of type {kind}", node.start_mark.line + 1)


def _go_float_key(number: float) -> str:
    """Go's strconv.FormatFloat(number, 'g', -1, 32): the shortest digits that
    read back as the same float32, as %e when the exponent is < -4 or >= 6."""
    single = struct.unpack("f", struct.pack("f", number))[0]
    for precision in range(9):
        digits = f"{single:.{precision}e}"
        if struct.unpack("f", struct.pack("f", float(digits)))[0] == single:
            break
    mantissa, exponent_text = digits.split("e")
    exponent = int(exponent_text)
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    if exponent < -4 or exponent >= 6:
        return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return repr(float(f"{mantissa}e{exponent}")).removesuffix(".0")


class _Dumper(yaml.CSafeDumper):
    """PyYAML's writer, quoting every string go-yaml v2 would read as
    something else (`y`, `0o17`, ...: PyYAML's YAML 1.1 misses some)."""


def _represent_str(dumper: _Dumper, data: str) -> yaml.Node:
    if "\n" in data:
        style: str | None = "|"  # PyYAML falls back to quotes where a block cannot say it
    else:
        style = None if resolve_plain(data) == data else '"'
    return dumper.represent_scalar(_STR, data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(value: Any) -> str:
    """Block-style YAML, keys in order, that `load` (and kubectl) read back
    as `value`."""
    return str(yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096))
