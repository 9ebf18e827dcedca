"""`.why5xx.yaml`: which checks to skip, their levels, and when lint fails.

```yaml
lint:
  disable: [W5X403, no-pdb]      # codes or names
  severity:                      # a check's level: error | warning | info
    W5X501: info
  fail-on: warning               # error (default) | warning | info | never
  min-severity: warning          # the lowest level listed: warning (default) | error | info
  scope: application             # application (default) | all: what is compared together
```

`scope: application` lints each application of the input on its own (a
directory with the ones below it, an alternative file, a Helm chart:
`lint/apps.py`); `scope: all` compares every object with every other, as
if the input were one application.

The file is looked up from the working directory upwards to the repository
root (the first directory holding `.git`), or named with `--config`. Every
unknown key, code or level is an error: a typo must not switch a check off
unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from why5xx.lint.base import Check
from why5xx.lint.model import Level
from why5xx.sources import decode

CONFIG_FILE = ".why5xx.yaml"
FAIL_ON: Mapping[str, Level | None] = {
    "error": Level.ERROR,
    "warning": Level.WARNING,
    "info": Level.INFO,
    "never": None,
}
MIN_SEVERITY: Mapping[str, Level] = {level.value: level for level in Level}
SCOPES = ("application", "all")
_KEYS = frozenset({"disable", "severity", "fail-on", "min-severity", "scope"})


class ConfigError(ValueError):
    """A configuration file that cannot be used, in one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    disabled: frozenset[str] = frozenset()  # check codes
    levels: Mapping[str, Level] = field(default_factory=dict)  # code -> level
    fail_on: Level | None = Level.ERROR
    shown_from: Level = Level.WARNING  # info findings are counted, not listed
    together: bool = False  # scope: all

    def level(self, check: Check) -> Level:
        return self.levels.get(check.code, check.level)


def find_config(start: Path) -> Path | None:
    """`.why5xx.yaml` in `start` or the nearest parent, not above the
    repository root."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists():
            return None
    return None


def load_config(path: Path, checks: Sequence[Check]) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_config(text, str(path), checks)


def parse_config(text: str, source: str, checks: Sequence[Check]) -> Config:
    document = decode.parse_text(text) if text.strip() else {}
    if isinstance(document, Exception):
        raise ConfigError(f"{source}: not YAML: {' '.join(str(document).split())}")
    if isinstance(document, Mapping):
        unknown_top = sorted(str(k) for k in document if k != "lint")
        if unknown_top:
            raise ConfigError(f"{source}: unknown key {unknown_top[0]} (known: lint)")
    section = (document or {}).get("lint") if isinstance(document, Mapping) else None
    if section is None:
        return Config()
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: `lint` must be a mapping")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key lint.{unknown[0]} (known: {', '.join(_KEYS)})")
    by_id = {c.code: c.code for c in checks} | {c.name: c.code for c in checks}

    def code(value: Any, where: str) -> str:
        found = by_id.get(str(value).strip())
        if found is None:
            raise ConfigError(f"{source}: {where} names unknown check {value!r}")
        return found

    disable = section.get("disable") or []
    if not isinstance(disable, list):
        raise ConfigError(f"{source}: lint.disable must be a list of check codes or names")
    severity = section.get("severity") or {}
    if not isinstance(severity, Mapping):
        raise ConfigError(f"{source}: lint.severity must map check codes to levels")
    levels: dict[str, Level] = {}
    for name, value in severity.items():
        try:
            levels[code(name, "lint.severity")] = Level(str(value))
        except ValueError as exc:
            choices = ", ".join(level.value for level in Level)
            raise ConfigError(
                f"{source}: lint.severity.{name}: {value!r} is not {choices}"
            ) from exc
    fail_on = str(section.get("fail-on", "error"))
    if fail_on not in FAIL_ON:
        raise ConfigError(f"{source}: lint.fail-on: {fail_on!r} is not {', '.join(FAIL_ON)}")
    shown = str(section.get("min-severity", Level.WARNING.value))
    if shown not in MIN_SEVERITY:
        raise ConfigError(
            f"{source}: lint.min-severity: {shown!r} is not {', '.join(MIN_SEVERITY)}"
        )
    scope = str(section.get("scope", SCOPES[0]))
    if scope not in SCOPES:
        raise ConfigError(f"{source}: lint.scope: {scope!r} is not {', '.join(SCOPES)}")
    return Config(
        disabled=frozenset(code(v, "lint.disable") for v in disable),
        levels=levels,
        fail_on=FAIL_ON[fail_on],
        shown_from=MIN_SEVERITY[shown],
        together=scope == "all",
    )
