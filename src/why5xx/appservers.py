"""What the application server in a container is configured to do, read from
the container's command, args and env alone: how long it keeps an idle
keep-alive connection open, and how long it lets a request run.

Pure functions over one container spec, shared by `why5xx diagnose` (the
keepalive-race and upstream-timeout rules) and a static `why5xx lint`.
A value is *explicit* when the spec sets it (a flag, an environment
variable) and a documented default otherwise; callers weigh the two
differently, since a config file baked into the image can change a default
without the pod spec showing it.

Defaults, from the servers' own sources and docs:

- gunicorn `--keep-alive` (`keepalive`): 2 s; the default `sync` worker
  "does not support persistent connections and will ignore this option";
  `--threads` above 1 turns `sync` into `gthread` (gunicorn
  `config.py`, settings `Keepalive`, `WorkerClass`, `Threads`). The
  `uvicorn.workers.UvicornWorker` class passes gunicorn's `keepalive` to
  uvicorn (`"timeout_keep_alive": self.cfg.keepalive`). Settings may also
  come from `GUNICORN_CMD_ARGS`. `--timeout` (worker timeout): 30 s,
  workers silent longer are killed and restarted.
- uvicorn `--timeout-keep-alive`: 5 s ("Close Keep-Alive connections if no
  new data is received within this timeout"); every option can also be set
  as `UVICORN_<OPTION>` (its click CLI uses `auto_envvar_prefix="UVICORN"`).
- hypercorn `--keep-alive` (`keep_alive_timeout`): 5 s (hypercorn
  `config.py`).
- Node.js `server.keepAliveTimeout`: 5000 ms through Node.js 25; Node.js 26
  raised it to 65000 ms (nodejs/node#62782). It is set in code, not on the
  command line, so it is read only as the default of a known Node.js major
  version (the official `node:<major>` image tag).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_PYTHON = re.compile(r"^python[0-9.]*$")
_NODE_MAJOR = re.compile(r"^(?:.*/)?node:(\d+)")
# Node.js 26 raised server.keepAliveTimeout from 5 s to 65 s (nodejs/node#62782).
_NODE_NEW_DEFAULT_MAJOR = 26


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One timeout of the app server, in seconds, and where it comes from."""

    seconds: float
    explicit: bool  # set in the spec; False: the server's documented default
    field: str  # where in the container spec, e.g. `args` or `env[GUNICORN_CMD_ARGS]`
    text: str  # what a person reads as the source, e.g. `--keep-alive 2`


@dataclass(frozen=True, slots=True, kw_only=True)
class AppServer:
    """The HTTP server a container runs, as far as its spec tells."""

    server: str  # gunicorn | uvicorn | hypercorn | node
    container: str
    # How long an idle keep-alive connection stays open; None when the
    # server closes every connection after one response (gunicorn sync).
    keepalive: Setting | None
    # How long a request may run before the server gives up on it (None: no
    # such limit, or not visible in the spec).
    request_timeout: Setting | None
    # The flag or variable that sets the keep-alive timeout.
    keepalive_flag: str
    note: str = ""

    def keepalive_fix(self, seconds: int) -> str:
        """How to set the keep-alive timeout, in this server's own terms."""
        if self.server == "node":
            return f"server.keepAliveTimeout = {seconds * 1000} (and headersTimeout above it)"
        return f"{self.keepalive_flag} {seconds}"


def _argv(container: Mapping[str, Any]) -> list[str]:
    """The command line the container runs; a `sh -c "..."` script is split
    into words."""
    argv = [str(w) for w in (*(container.get("command") or ()), *(container.get("args") or ()))]
    for i, word in enumerate(argv[:-1]):
        if word in ("-c", "-ec", "-ce") and i > 0 and _basename(argv[i - 1]) in _SHELLS:
            try:
                return shlex.split(argv[i + 1])
            except ValueError:
                return argv[i + 1].split()
    return argv


def _field(container: Mapping[str, Any], token: str) -> str:
    """`args` or `command`: the spec field whose words mention `token`."""
    args = " ".join(str(a) for a in container.get("args") or ())
    return "args" if token in args else "command"


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _find_server(argv: Sequence[str]) -> tuple[str, int] | None:
    """The server a command line starts and the index of its first option:
    `gunicorn ...`, `python -m uvicorn ...`, `exec node server.js`."""
    for i, word in enumerate(argv):
        name = _basename(word)
        if name in ("gunicorn", "uvicorn", "hypercorn"):
            return name, i + 1
        if _PYTHON.match(name) and argv[i + 1 : i + 2] == ["-m"] and i + 2 < len(argv):
            module = argv[i + 2]
            if module in ("gunicorn", "uvicorn", "hypercorn"):
                return module, i + 3
        if name in ("node", "nodejs"):
            return "node", i + 1
    return None


def _option(words: Sequence[str], *names: str) -> str | None:
    """The value of `--name V`, `--name=V` or `-n V` (the last one wins, as in
    argparse and click)."""
    found: str | None = None
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                found = words[i + 1]
            elif name.startswith("--") and word.startswith(name + "="):
                found = word.split("=", 1)[1]
    return found


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    """Literal environment values (valueFrom references cannot be read)."""
    return {
        str(e.get("name")): str(e["value"])
        for e in container.get("env") or ()
        if e.get("name") and e.get("value") is not None
    }


def _seconds(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _flag_setting(
    container: Mapping[str, Any], words: Sequence[str], names: tuple[str, ...], field: str | None
) -> Setting | None:
    """A flag's value in seconds; `field` None: in the command line."""
    value = _seconds(_option(words, *names))
    if value is None:
        return None
    return Setting(
        seconds=value,
        explicit=True,
        field=field or _field(container, names[-1]),
        text=f"{names[-1]} {value:g}",
    )


def _gunicorn(container: Mapping[str, Any], options: list[str]) -> AppServer:
    env = _env(container)
    # Command-line flags win over GUNICORN_CMD_ARGS: read them last.
    sources: list[tuple[list[str], str | None]] = [(options, None)]
    if "GUNICORN_CMD_ARGS" in env:
        sources.insert(0, (shlex.split(env["GUNICORN_CMD_ARGS"]), "env[GUNICORN_CMD_ARGS]"))
    keepalive: Setting | None = None
    timeout: Setting | None = None
    worker = "sync"
    threads = 1.0
    for words, where in sources:
        keepalive = _flag_setting(container, words, ("--keep-alive",), where) or keepalive
        timeout = _flag_setting(container, words, ("-t", "--timeout"), where) or timeout
        worker = _option(words, "-k", "--worker-class") or worker
        threads = _seconds(_option(words, "--threads")) or threads
    if worker == "sync" and threads > 1:
        worker = "gthread"  # gunicorn switches sync to gthread when threads > 1
    name = str(container.get("name", ""))
    if worker == "sync":
        return AppServer(
            server="gunicorn",
            container=name,
            keepalive=None,
            request_timeout=timeout,
            keepalive_flag="--keep-alive",
            note="the sync worker closes every connection after one response",
        )
    default = Setting(
        seconds=2,
        explicit=False,
        field=_field(container, "gunicorn"),
        text="gunicorn's default --keep-alive (2 s)",
    )
    return AppServer(
        server="gunicorn",
        container=name,
        keepalive=keepalive or default,
        request_timeout=timeout,
        keepalive_flag="--keep-alive",
        note=f"worker class {worker}",
    )


def _uvicorn_or_hypercorn(
    server: str, container: Mapping[str, Any], options: list[str]
) -> AppServer:
    flag = "--timeout-keep-alive" if server == "uvicorn" else "--keep-alive"
    keepalive = _flag_setting(container, options, (flag,), None)
    variable = "UVICORN_TIMEOUT_KEEP_ALIVE"
    env_value = _seconds(_env(container).get(variable)) if server == "uvicorn" else None
    if keepalive is None and env_value is not None:
        keepalive = Setting(
            seconds=env_value,
            explicit=True,
            field=f"env[{variable}]",
            text=f"{variable}={env_value:g}",
        )
    default = Setting(
        seconds=5,
        explicit=False,
        field=_field(container, server),
        text=f"{server}'s default {flag} (5 s)",
    )
    return AppServer(
        server=server,
        container=str(container.get("name", "")),
        keepalive=keepalive or default,
        request_timeout=None,
        keepalive_flag=flag,
    )


def _node(container: Mapping[str, Any]) -> AppServer | None:
    """Node.js sets keepAliveTimeout in code: only the default of a Node.js
    version known from the official image tag can be read."""
    found = _NODE_MAJOR.match(str(container.get("image", "")))
    if not found:
        return None
    major = int(found.group(1))
    seconds = 65 if major >= _NODE_NEW_DEFAULT_MAJOR else 5
    return AppServer(
        server="node",
        container=str(container.get("name", "")),
        keepalive=Setting(
            seconds=seconds,
            explicit=False,
            field="image",
            text=f"Node.js {major} default server.keepAliveTimeout ({seconds} s)",
        ),
        request_timeout=None,
        keepalive_flag="server.keepAliveTimeout",
        note="unless the code sets server.keepAliveTimeout",
    )


def app_server(container: Mapping[str, Any]) -> AppServer | None:
    """The app server a container spec runs and its timeouts, or None when
    its command names no server this module knows (gunicorn, uvicorn,
    hypercorn, Node.js); a command baked into the image is not visible."""
    argv = _argv(container)
    found = _find_server(argv)
    if found is None:
        return None
    server, start = found
    options = list(argv[start:])
    if server == "gunicorn":
        return _gunicorn(container, options)
    if server == "node":
        return _node(container)
    return _uvicorn_or_hypercorn(server, container, options)


def with_option(container: Mapping[str, Any], flag: str, value: str) -> tuple[str, list[str]]:
    """The `command` or `args` list that runs the same server with `flag value`:
    the flag's value replaced where it is set, else the flag added right after
    the server's name (both gunicorn and uvicorn take options before the app).
    Returns the field and its new list, for a JSON patch."""
    lists = {
        "command": [str(w) for w in container.get("command") or ()],
        "args": [str(w) for w in container.get("args") or ()],
    }
    for field, words in lists.items():
        for i, word in enumerate(words):
            if word in ("-c", "-ec", "-ce") and i + 1 < len(words):
                words[i + 1] = shlex.join(_with_flag(shlex.split(words[i + 1]), flag, value))
                return field, words
    if lists["command"] and lists["args"] and flag not in " ".join(lists["command"]):
        # A flag in args, or options after a server named in command.
        found = _find_server(lists["args"])
        start = found[1] if found else 0
        return "args", _with_flag(lists["args"], flag, value, start)
    field = "args" if lists["args"] else "command"
    return field, _with_flag(lists[field], flag, value)


def _with_flag(words: list[str], flag: str, value: str, start: int | None = None) -> list[str]:
    out = list(words)
    for i, word in enumerate(out):
        if word == flag and i + 1 < len(out):
            out[i + 1] = value
            return out
        if word.startswith(flag + "="):
            out[i] = f"{flag}={value}"
            return out
    if start is None:
        found = _find_server(out)
        start = found[1] if found else len(out)
    return [*out[:start], flag, value, *out[start:]]
