"""Credentials out of text that leaves the cluster: a capture attached to a
ticket, a report pasted into a chat.

`scrub` replaces the secret part of what looks like a credential and keeps
what the rules and a reader need around it (the flag, the variable's name,
the scheme, host and port of a URL):

- URL userinfo: `postgres://app:s3cret@db:5432/x` -> `postgres://<redacted>@db:5432/x`;
- values of flags, options and variables whose name says password, passwd,
  secret, token, key, credential, auth or dsn: `--db-password=x`,
  `--password x`, `-Dapp.secret=x`, `API_TOKEN=x`, `"password": "x"`;
- bearer and basic credentials: `Authorization: Bearer eyJ...`;
- private-key blocks (`-----BEGIN ... PRIVATE KEY-----`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "<redacted>"

_NAME = r"[\w.-]*(?:password|passwd|secret|token|key|credential|auth|dsn)[\w.-]*"
# A value: quoted (the quotes stay), or up to the next space, comma,
# semicolon, ampersand or quote.
_VALUE = r"((?P<q>[\"'])(?:(?!(?P=q)).)*(?P=q)|[^\s,;&\"']+)"


def _keep_quotes(match: re.Match[str]) -> str:
    """The name and separator stay, and the quotes; a URL stays too: its
    userinfo went already, and its host and port are what rules read."""
    if "://" in match[3]:
        return match[0]
    quote = match["q"] or ""
    return f"{match[1]}{match[2]}{quote}{REDACTED}{quote}"


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        rf"-----BEGIN \1PRIVATE KEY-----{REDACTED}-----END \1PRIVATE KEY-----",
    ),
    # scheme://user:password@host: the userinfo goes, the host and port stay.
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s@/?#]*(?::[^\s@]*)?@"), rf"\1{REDACTED}@"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}"), rf"\1\2{REDACTED}"),
    # --password x, -p x are flags with their value as the next word.
    (re.compile(rf"(?i)((?:^|(?<=\s))--?{_NAME})(\s+)(?!-){_VALUE}"), _keep_quotes),
    # name=value, name: value, "name": "value" (flags, env, YAML, JSON, DSNs).
    (
        re.compile(
            rf"(?i)(\b{_NAME}\"?'?)(\s*[=:]\s*)(?![\s,;&])(?!{re.escape(REDACTED)}){_VALUE}"
        ),
        _keep_quotes,
    ),
)
_FLAG = re.compile(rf"(?i)--?{_NAME}")
# Keys of a mapping (annotations) whose value is a credential as a whole.
_SECRET_KEY = re.compile(
    r"(?i)(password|passwd|secret|token|credential|dsn|api[-_.]?key|private[-_.]?key)"
)


def scrub(text: str) -> str:
    """`text` with every credential it shows replaced by `<redacted>`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def secret_key(name: str) -> bool:
    """Whether a mapping key (an annotation's) names a credential."""
    return _SECRET_KEY.search(name) is not None


def scrub_strings(value: Any, fields: list[str], path: str = "") -> Any:
    """A copy of a decoded JSON value with `scrub` applied to every string
    in it; the path of each string it changed is added to `fields`."""
    if isinstance(value, str):
        cleaned = scrub(value)
        if cleaned != value:
            fields.append(path)
        return cleaned
    if isinstance(value, Mapping):
        return {
            k: scrub_strings(v, fields, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        out = [scrub_strings(v, fields, f"{path}[{i}]") for i, v in enumerate(value)]
        # args: ["--token", "x"]: the value is the word after the flag.
        for i in range(1, len(value)):
            flag, word = value[i - 1], out[i]
            if (
                isinstance(flag, str)
                and isinstance(word, str)
                and _FLAG.fullmatch(flag)
                and word != REDACTED
                and not word.startswith("-")
            ):
                out[i] = REDACTED
                fields.append(f"{path}[{i}]")
        return out
    return value
