"""What the application server in a container is configured to do, read from
the container's command, args and env alone: how long it keeps an idle
keep-alive connection open, how long it lets a request run, which
addresses it listens on, and whether it is an app known to send large
response headers (`big_headers`).

Pure functions over one container spec, shared by `why5xx diagnose` (the
keepalive-race, upstream-timeout and listen-localhost rules) and a static
`why5xx lint`.
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

Listen addresses, and the defaults that bind to loopback only:

- gunicorn `-b/--bind` (repeatable; `HOST`, `HOST:PORT`, `unix:PATH`,
  `fd://FD`): default `['127.0.0.1:8000']`, or `['0.0.0.0:$PORT']` when
  the `PORT` environment variable is set (gunicorn `config.py`, setting
  `Bind`). A `gunicorn.conf.py` in the working directory is read by default
  and may set `bind`, so the default is not certain.
- uvicorn `--host` "[default: 127.0.0.1]", `--port` 8000; `UVICORN_HOST`,
  `UVICORN_PORT`; `--uds`/`--fd` listen on no TCP port (uvicorn
  `main.py`). uvicorn reads no config file: its default is certain.
- hypercorn `-b/--bind`: default `127.0.0.1:8000` (hypercorn `config.py`,
  `_bind = ["127.0.0.1:8000"]`); `-c/--config` may set it.
- Flask `flask run --host/-h` default `127.0.0.1`, `--port/-p` 5000
  (flask `cli.py`); `FLASK_RUN_HOST`, `FLASK_RUN_PORT`.
- Django `manage.py runserver [addrport]`: default `127.0.0.1:8000`, `::1`
  with `-6` (django `core/management/commands/runserver.py`,
  `default_addr`, `default_port`).
- Rails `rails server -b/--binding` ("defaults to 'localhost' in
  development and '0.0.0.0' in other environments"), `-p` 3000; puma
  `-b/--bind tcp://HOST:PORT`. Their defaults depend on the environment or
  a config file: only an explicit value counts.
- Spring Boot `server.address` ("Network address to which the server
  should bind"; `--server.address=`, `-Dserver.address=`, `SERVER_ADDRESS`),
  `server.port` 8080 (`ServerProperties`). No default: all interfaces.
- Node.js has no listen flag; many frameworks read `HOST` (and `PORT`), so
  an explicit `HOST` of a `node` command counts.
- Any other program (Go servers, exporters, redis, an image's own
  command): flags named like `--listen`, `--listen-address`, `--addr`,
  `--bind`, `--bind-address`, `--http-address`, `--web.listen-address`,
  `--metrics-bind-address` (one or two dashes), with the value's port or a
  `--port` flag; variables named like `LISTEN_ADDR`, `BIND_ADDRESS`,
  `HTTP_ADDR`, `SERVER_ADDRESS`, with `PORT` or `SERVER_PORT`.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_PYTHON_SERVERS = ("gunicorn", "uvicorn", "hypercorn")
_PYTHON = re.compile(r"^python[0-9.]*$")
_NODE_MAJOR = re.compile(r"^(?:.*/)?node:(\d+)")
# Node.js 26 raised server.keepAliveTimeout from 5 s to 65 s (nodejs/node#62782).
_NODE_NEW_DEFAULT_MAJOR = 26
# Names every resolver maps to the loopback interface (besides 127.0.0.0/8 and ::1).
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Listen-address flags of programs this module does not know by name.
_LISTEN_FLAG = re.compile(
    r"^--?(?:(?:[\w]+[-.])*(?:listen|bind)(?:[-.]addr(?:ess)?)?|(?:http[-.])?addr(?:ess)?)$"
)
# `HOST:PORT`, `[V6]:PORT`, `:PORT`, `HOST`, `PORT`, after an optional scheme.
_ADDRESS = re.compile(
    r"^(?P<scheme>[a-z]+://)?(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:/\[\]]*))"
    r"(?::(?P<port>\d+))?(?:/.*)?$"
)
_NOT_TCP = ("unix:", "fd://")
# Listen-address variables of programs this module does not know by name.
_LISTEN_ENV = re.compile(
    r"^(?:[A-Z0-9]+_)*(?:LISTEN|BIND)(?:_ADDR(?:ESS)?)?$|^(?:HTTP|SERVER)_ADDR(?:ESS)?$"
)


# The environment variables this module reads: addresses, ports, timeouts and
# session stores, none of them secret, so `why5xx capture` keeps their values
# (`reads_env`). JAVA_TOOL_OPTIONS / JAVA_OPTS are read too but can carry
# passwords (`-Dspring.datasource.password=`): a capture keeps only the
# options read here (`capturable_env`).
ENV_SETTINGS = frozenset(
    {
        "GUNICORN_CMD_ARGS",
        "UVICORN_TIMEOUT_KEEP_ALIVE",
        "UVICORN_HOST",
        "UVICORN_PORT",
        "FLASK_RUN_HOST",
        "FLASK_RUN_PORT",
        "SERVER_ADDRESS",
        "SERVER_PORT",
        "HOST",
        "PORT",
        "OAUTH2_PROXY_SESSION_STORE_TYPE",
    }
)


def reads_env(name: str) -> bool:
    """Whether a container environment variable is a setting this module reads."""
    return name in ENV_SETTINGS or bool(_LISTEN_ENV.match(name))


# JVM options this module reads (heap size, Spring's listen address), the only
# words of a JVM option variable a capture may keep.
_JVM_KEPT = re.compile(
    r"^(?:-Xm[xs]\S+|-XX:(?:Max|Min|Initial)RAMPercentage=\S+|-Dserver\.(?:address|port)=\S+)$"
)


def capturable_env(name: str, value: str) -> str | None:
    """What `why5xx capture` may keep of an environment value: a setting this
    module reads, whole; of the JVM option variables only the options it
    reads (the rest can be `-D...password=`); None for anything else."""
    if reads_env(name):
        return value
    if name in _JVM_OPTION_VARIABLES:
        kept = [word for word in _split(value) if _JVM_KEPT.match(word)]
        return " ".join(kept) if kept else None
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One timeout of the app server, in seconds, and where it comes from."""

    seconds: float
    explicit: bool  # set in the spec; False: the server's documented default
    field: str  # where in the container spec, e.g. `args` or `env[GUNICORN_CMD_ARGS]`
    text: str  # what a person reads as the source, e.g. `--keep-alive 2`


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: reachable from inside the pod only."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen:
    """One TCP address the server listens on, and where the spec says so."""

    host: str  # "" (or 0.0.0.0, ::): every interface
    port: int | None  # None: the spec does not tell
    explicit: bool  # set in the spec; False: the server's documented default
    field: str  # `args`, `command`, or `env[UVICORN_HOST]`
    text: str  # what a person reads, e.g. `--bind 127.0.0.1:8000`
    flag: str  # the option or variable that sets it; "" for a positional argument
    value: str  # the flag's value as written (the default's, when not set)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def opened(self) -> str:
        """`value` listening on every interface, scheme and port kept."""
        v6 = ":" in self.host
        written = f"[{self.host}]" if v6 else self.host
        every = "[::]" if v6 else "0.0.0.0"
        if written and written in self.value:
            return self.value.replace(written, every, 1)
        return f"{every}:{self.value}"  # a bare port (Django's `runserver 8080`)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppServer:
    """The HTTP server a container runs, as far as its spec tells."""

    # gunicorn | uvicorn | hypercorn | node | flask | django | rails | puma |
    # spring, or the program's name for one known only by its listen flags
    server: str
    container: str
    # How long an idle keep-alive connection stays open; None when the
    # server closes every connection after one response (gunicorn sync), or
    # the spec does not tell.
    keepalive: Setting | None
    # How long a request may run before the server gives up on it (None: no
    # such limit, or not visible in the spec).
    request_timeout: Setting | None
    # The flag or variable that sets the keep-alive timeout.
    keepalive_flag: str
    note: str = ""
    # The TCP addresses it listens on; empty when the spec does not tell.
    listen: tuple[Listen, ...] = ()

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
            return _split(argv[i + 1])
    return argv


def _split(text: str) -> list[str]:
    """Shell words, or plain words when the quoting is broken."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _field(container: Mapping[str, Any], token: str) -> str:
    """`args` or `command`: the spec field whose words mention `token`."""
    args = " ".join(str(a) for a in container.get("args") or ())
    return "args" if token in args else "command"


def _basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _find_server(argv: Sequence[str]) -> tuple[str, int] | None:
    """The server a command line starts and the index of its first option:
    `gunicorn ...`, `python -m uvicorn ...`, `exec node server.js`,
    `flask run ...`, `python manage.py runserver ...`, `rails server ...`,
    `puma ...`, `java ...`."""
    for i, word in enumerate(argv):
        name = _basename(word)
        rest = argv[i + 1 :]
        if name in (*_PYTHON_SERVERS, "puma"):
            return name, i + 1
        if _PYTHON.match(name) and rest[:1] == ["-m"] and len(rest) > 1:
            if rest[1] in _PYTHON_SERVERS:
                return rest[1], i + 3
            if rest[1] == "flask" and rest[2:3] == ["run"]:
                return "flask", i + 4
        if name in ("manage.py", "django-admin") and rest[:1] == ["runserver"]:
            return "django", i + 2
        if name == "flask" and rest[:1] == ["run"]:
            return "flask", i + 2
        if name == "rails" and rest[:1] in (["server"], ["s"]):
            return "rails", i + 2
        if name in ("node", "nodejs"):
            return "node", i + 1
        if name == "java":
            return "spring", i + 1
    return None


def _options(words: Sequence[str], *names: str) -> list[tuple[str, str]]:
    """Every `--name V`, `--name=V` or `-n V`, in order: the name as
    written, and its value."""
    found: list[tuple[str, str]] = []
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                found.append((name, words[i + 1]))
            elif name.startswith("--") and word.startswith(name + "="):
                found.append((name, word.split("=", 1)[1]))
    return found


def _option(words: Sequence[str], *names: str) -> str | None:
    """The value of `--name V`, `--name=V` or `-n V` (the last one wins, as in
    argparse and click)."""
    found = _options(words, *names)
    return found[-1][1] if found else None


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


def _port(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _address(value: str, default_port: int | None) -> tuple[str, int | None] | None:
    """(host, port) of `HOST:PORT`, `[V6]:PORT`, `:PORT`, `HOST` or a bare
    `PORT`, after an optional `tcp://`-like scheme; None for a unix socket or
    an inherited file descriptor."""
    text = value.strip()
    if text.startswith(_NOT_TCP):
        return None
    if text.isdigit():
        return "", int(text)
    found = _ADDRESS.match(text)
    if found is None:
        return None
    return found["v6"] or found["host"] or "", _port(found["port"]) or default_port


def _explicit(
    host: str, port: int | None, *, field: str, flag: str, sep: str, value: str
) -> Listen:
    """An address the spec sets: `flag`, `sep`, `value` as written in `field`."""
    return Listen(
        host=host,
        port=port,
        explicit=True,
        field=field,
        text=f"{flag}{sep}{value}",
        flag=flag,
        value=value,
    )


def _bound(
    container: Mapping[str, Any],
    words: Sequence[str],
    names: tuple[str, ...],
    where: str | None,
    default_port: int | None,
) -> list[Listen] | None:
    """The TCP addresses of a repeatable bind option (gunicorn, hypercorn,
    puma); `where` None: in the command line. None when the option is not
    given; empty when it binds only unix sockets or descriptors."""
    given = _options(words, *names)
    if not given:
        return None
    out: list[Listen] = []
    for flag, value in given:
        found = _address(value, default_port)
        if found is not None:
            out.append(
                _explicit(
                    found[0],
                    found[1],
                    field=where or _field(container, flag),
                    flag=flag,
                    sep=" ",
                    value=value,
                )
            )
    return out


def _hosted(
    container: Mapping[str, Any],
    words: Sequence[str],
    names: tuple[str, ...],
    variable: str | None,
    port: int | None,
) -> Listen | None:
    """A host-only option (uvicorn, flask, rails: `--host H`), else its
    environment variable."""
    found = _options(words, *names)
    env = _env(container)
    if found:
        flag, value = found[-1]
        field, sep = _field(container, flag), " "
    elif variable in env:
        flag, value = variable, env[variable]
        field, sep = f"env[{variable}]", "="
    else:
        return None
    return _explicit(value.strip("[]"), port, field=field, flag=flag, sep=sep, value=value)


def _default_listen(
    container: Mapping[str, Any], server: str, flag: str, value: str, port: int | None, note: str
) -> tuple[Listen, ...]:
    """A server's documented default address."""
    host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    return (
        Listen(
            host=host,
            port=port,
            explicit=False,
            field=_field(container, server),
            text=f"{server}'s default {flag} {value}{note}",
            flag=flag,
            value=value,
        ),
    )


def _referenced(container: Mapping[str, Any], *names: str) -> bool:
    """Whether the spec sets one of `names` from a reference it cannot show."""
    return any(
        e.get("name") in names and e.get("value") is None for e in container.get("env") or ()
    )


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
    binds: list[Listen] | None = None
    for words, where in sources:
        keepalive = _flag_setting(container, words, ("--keep-alive",), where) or keepalive
        timeout = _flag_setting(container, words, ("-t", "--timeout"), where) or timeout
        worker = _option(words, "-k", "--worker-class") or worker
        threads = _seconds(_option(words, "--threads")) or threads
        found = _bound(container, words, ("-b", "--bind"), where, 8000)
        binds = binds if found is None else found
    listen = _gunicorn_default(container, env) if binds is None else tuple(binds)
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
            listen=listen,
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
        listen=listen,
    )


def _gunicorn_default(container: Mapping[str, Any], env: Mapping[str, str]) -> tuple[Listen, ...]:
    """gunicorn's default bind: every interface on `$PORT` when it is set."""
    if "PORT" in env:
        value = f"0.0.0.0:{env['PORT']}"
        return _default_listen(container, "gunicorn", "--bind", value, _port(env["PORT"]), "")
    if _referenced(container, "PORT"):
        return ()
    note = ", unless gunicorn.conf.py sets bind"
    return _default_listen(container, "gunicorn", "--bind", "127.0.0.1:8000", 8000, note)


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
    listen = (
        _uvicorn_listen(container, options)
        if server == "uvicorn"
        else _hypercorn_listen(container, options)
    )
    return AppServer(
        server=server,
        container=str(container.get("name", "")),
        keepalive=keepalive or default,
        request_timeout=None,
        keepalive_flag=flag,
        listen=listen,
    )


def _uvicorn_listen(container: Mapping[str, Any], options: list[str]) -> tuple[Listen, ...]:
    if _option(options, "--uds", "--fd") is not None:
        return ()  # a unix socket or an inherited descriptor: no TCP port of its own
    port = _port(_option(options, "--port") or _env(container).get("UVICORN_PORT")) or 8000
    found = _hosted(container, options, ("--host",), "UVICORN_HOST", port)
    if found is not None:
        return (found,)
    if _referenced(container, "UVICORN_HOST"):
        return ()
    return _default_listen(container, "uvicorn", "--host", "127.0.0.1", port, "")


def _hypercorn_listen(container: Mapping[str, Any], options: list[str]) -> tuple[Listen, ...]:
    binds = _bound(container, options, ("-b", "--bind", "--insecure-bind"), None, 8000)
    if binds is not None:
        return tuple(binds)
    note = ", unless its --config file sets bind"
    return _default_listen(container, "hypercorn", "--bind", "127.0.0.1:8000", 8000, note)


def _flask_listen(container: Mapping[str, Any], options: list[str]) -> tuple[Listen, ...]:
    env = _env(container)
    port = _port(_option(options, "--port", "-p") or env.get("FLASK_RUN_PORT")) or 5000
    found = _hosted(container, options, ("--host", "-h"), "FLASK_RUN_HOST", port)
    if found is not None:
        return (found,)
    if _referenced(container, "FLASK_RUN_HOST"):
        return ()
    note = ", unless a .flaskenv sets FLASK_RUN_HOST"
    return _default_listen(container, "flask run", "--host", "127.0.0.1", port, note)


_DJANGO_ADDRPORT = re.compile(r"^(?:(?:\[[0-9a-fA-F:]+\]|[\w.-]+):)?\d+$")


def _django_listen(container: Mapping[str, Any], options: list[str]) -> tuple[Listen, ...]:
    """`runserver [addrport]`: the first argument that looks like one."""
    for value in options:
        if _DJANGO_ADDRPORT.match(value):
            found = _address(value, 8000)
            if found is None:
                break
            host = found[0] or ("::1" if {"-6", "--ipv6"} & set(options) else "127.0.0.1")
            return (
                Listen(
                    host=host,
                    port=found[1],
                    explicit=bool(found[0]),
                    field=_field(container, value),
                    text=f"runserver {value}" + ("" if found[0] else f" (address {host})"),
                    flag="",
                    value=value,
                ),
            )
    host = "::1" if {"-6", "--ipv6"} & set(options) else "127.0.0.1"
    value = f"[{host}]:8000" if ":" in host else f"{host}:8000"
    return (
        Listen(
            host=host,
            port=8000,
            explicit=False,
            field=_field(container, "runserver"),
            text=f"runserver's default address {value}",
            flag="",
            value=value,
        ),
    )


def _rails_listen(container: Mapping[str, Any], options: list[str]) -> tuple[Listen, ...]:
    """Only an explicit `-b`: the default depends on the Rails environment."""
    port = _port(_option(options, "-p", "--port")) or 3000
    found = _hosted(container, options, ("-b", "--binding"), None, port)
    return (found,) if found is not None else ()


def _puma_listen(container: Mapping[str, Any], options: list[str]) -> tuple[Listen, ...]:
    """Only an explicit `-b`: config/puma.rb may bind anything."""
    return tuple(_bound(container, options, ("-b", "--bind"), None, None) or ())


def _property(words: Sequence[str], key: str) -> tuple[str, str] | None:
    """The last `--key=V` or `-Dkey=V` (a Spring Boot property)."""
    found = None
    for word in words:
        for flag in (f"--{key}", f"-D{key}"):
            if word.startswith(flag + "="):
                found = (flag, word.split("=", 1)[1])
    return found


def _spring_listen(container: Mapping[str, Any], options: list[str]) -> tuple[Listen, ...]:
    """`server.address` from the command line, then JAVA_TOOL_OPTIONS /
    JAVA_OPTS, then SERVER_ADDRESS; no default (every interface)."""
    env = _env(container)
    java_env = [
        (shlex.split(env[name]), f"env[{name}]")
        for name in ("JAVA_TOOL_OPTIONS", "JAVA_OPTS")
        if name in env
    ]
    sources = [(options, ""), *java_env]
    port_found = next(
        (found for words, _ in sources if (found := _property(words, "server.port"))), None
    )
    port = _port(port_found[1] if port_found else env.get("SERVER_PORT")) or 8080
    for words, where in sources:
        found = _property(words, "server.address")
        if found is not None:
            flag, value = found
            field = where or _field(container, flag)
            return (_explicit(value, port, field=field, flag=flag, sep="=", value=value),)
    listen = _hosted(container, (), (), "SERVER_ADDRESS", port)
    return (listen,) if listen is not None else ()


def _node_listen(container: Mapping[str, Any], argv: Sequence[str]) -> tuple[Listen, ...]:
    """Node.js frameworks read `HOST` (and `PORT`); the app's own code reads
    whatever it names, so the generic listen flags and variables count too
    (`LISTEN_ADDR=localhost:3000`). Only explicit values count."""
    port = _port(_env(container).get("PORT"))
    listen = _hosted(container, (), (), "HOST", port)
    return ((listen,) if listen is not None else ()) + _generic(container, argv)


def _generic(container: Mapping[str, Any], argv: Sequence[str]) -> tuple[Listen, ...]:
    """Listen-address flags of a program this module does not know by name
    (`-addr=:8080`, `--listen-address 127.0.0.1:9100`, `--bind 127.0.0.1`),
    with the port of its `--port` flag when the address has none; then its
    listen-address variables (`LISTEN_ADDR=localhost:8080`, `BIND_ADDRESS`,
    `HTTP_ADDR`, `SERVER_ADDRESS`), with `PORT` / `SERVER_PORT`."""
    port = _port(_option(argv, "--port", "-port"))
    env = _env(container)
    out: list[Listen] = []
    for i, word in enumerate(argv):
        name, sep, value = word.partition("=")
        if not _LISTEN_FLAG.match(name):
            continue
        if not sep:
            value = argv[i + 1] if i + 1 < len(argv) else ""
        found = _address(value, port) if value and not value.startswith("-") else None
        if found is not None:
            out.append(
                _explicit(
                    found[0],
                    found[1],
                    field=_field(container, name),
                    flag=name,
                    sep=sep or " ",
                    value=value,
                )
            )
    env_port = _port(env.get("PORT") or env.get("SERVER_PORT"))
    for variable, value in env.items():
        found = _address(value, env_port) if _LISTEN_ENV.match(variable) else None
        if found is not None:
            out.append(
                _explicit(
                    found[0],
                    found[1],
                    field=f"env[{variable}]",
                    flag=variable,
                    sep="=",
                    value=value,
                )
            )
    return tuple(out)


_LISTENERS = {
    "flask": _flask_listen,
    "django": _django_listen,
    "rails": _rails_listen,
    "puma": _puma_listen,
    "spring": _spring_listen,
}
_SERVER_NAMES = {"spring": "Spring Boot", "django": "Django runserver", "flask": "flask run"}


def _listener(server: str, container: Mapping[str, Any], listen: tuple[Listen, ...]) -> AppServer:
    """A server known here only by the addresses it listens on."""
    return AppServer(
        server=server,
        container=str(container.get("name", "")),
        keepalive=None,
        request_timeout=None,
        keepalive_flag="",
        listen=listen,
    )


def _node(container: Mapping[str, Any], argv: Sequence[str]) -> AppServer | None:
    """Node.js sets keepAliveTimeout in code: only the default of a Node.js
    version known from the official image tag can be read."""
    listen = _node_listen(container, argv)
    found = _NODE_MAJOR.match(str(container.get("image", "")))
    if not found:
        return _listener("node", container, listen) if listen else None
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
        listen=listen,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BigHeaders:
    """Why a container's responses are known to carry large headers."""

    app: str
    reason: str
    field: str  # where the spec shows it: `image`, `args`, `env[...]`
    text: str  # what a person reads, e.g. the image or `--session-store-type=cookie`


def _image_name(container: Mapping[str, Any]) -> str:
    """`quay.io/keycloak/keycloak:24.0@sha256:...` -> `keycloak`."""
    last = str(container.get("image", "")).rsplit("/", 1)[-1]
    return re.split(r"[:@]", last, maxsplit=1)[0]


def big_headers(container: Mapping[str, Any]) -> BigHeaders | None:
    """An app whose responses are known to outgrow a 4 KB header buffer:

    - oauth2-proxy with its default cookie session store (`--session-store-type`
      / `OAUTH2_PROXY_SESSION_STORE_TYPE` unset or `cookie`): "all session
      information is stored in client side cookies" (oauth2-proxy docs,
      "Session Storage"), tokens included; a session over 4 KB is split into
      `_oauth2_proxy_0`, `_oauth2_proxy_1`... (oauth2-proxy#483), and sessions
      of about 6 KB are usual with access, ID and refresh tokens
      (oauth2-proxy#1993). The sign-in callback sets them all at once.
    - Keycloak: a login response sets `AUTH_SESSION_ID`, `KC_RESTART` (a
      JWT), `KEYCLOAK_IDENTITY` (a JWT) and `KEYCLOAK_SESSION` together
      (keycloak#23824: a ~6 KB session cookie; bitnami/charts#9043: Keycloak
      behind ingress-nginx logs "upstream sent too big header").
    """
    image = _image_name(container)
    argv = _argv(container)
    if image == "oauth2-proxy" or (argv and _basename(argv[0]) == "oauth2-proxy"):
        variable = "OAUTH2_PROXY_SESSION_STORE_TYPE"
        flag = _option(argv, "--session-store-type")
        store = flag or _env(container).get(variable) or "cookie"
        if store != "cookie" or (flag is None and _referenced(container, variable)):
            return None
        if flag is not None:
            field, text = _field(container, "--session-store-type"), f"--session-store-type={flag}"
        elif variable in _env(container):
            field, text = f"env[{variable}]", f"{variable}={store}"
        else:
            field, text = "image", f"{container.get('image')} (default --session-store-type=cookie)"
        return BigHeaders(
            app="oauth2-proxy",
            reason="oauth2-proxy keeps the whole session, tokens included, in cookies "
            "(session store `cookie`, its default) and sets them all on the sign-in callback; "
            "a session over 4 KB is split into several cookies",
            field=field,
            text=text,
        )
    if image == "keycloak":
        return BigHeaders(
            app="Keycloak",
            reason="Keycloak's login responses set AUTH_SESSION_ID, KC_RESTART and "
            "KEYCLOAK_IDENTITY (JWTs) and KEYCLOAK_SESSION at once, commonly over 4 KB",
            field="image",
            text=str(container.get("image")),
        )
    return None


def app_server(container: Mapping[str, Any]) -> AppServer | None:
    """The app server a container spec runs, its timeouts and the addresses
    it listens on, or None when its spec tells none of them: a command that
    names no server this module knows (gunicorn, uvicorn, hypercorn,
    Node.js, flask run, Django runserver, Rails, puma, Spring Boot) and has
    no listen-address flag, or a command baked into the image."""
    argv = _argv(container)
    found = _find_server(argv)
    if found is None:
        listen = _generic(container, argv)
        name = _basename(argv[0]) if argv else str(container.get("name", ""))
        return _listener(name, container, listen) if listen else None
    server, start = found
    options = list(argv[start:])
    if server == "gunicorn":
        return _gunicorn(container, options)
    if server == "node":
        return _node(container, options)
    if server in _PYTHON_SERVERS:
        return _uvicorn_or_hypercorn(server, container, options)
    listen = _LISTENERS[server](container, options)
    return _listener(_SERVER_NAMES.get(server, server), container, listen) if listen else None


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
            shell = i > 0 and _basename(words[i - 1]) in _SHELLS
            if word in ("-c", "-ec", "-ce") and shell and i + 1 < len(words):
                words[i + 1] = shlex.join(_with_flag(shlex.split(words[i + 1]), flag, value))
                return field, words
    if lists["command"] and lists["args"] and flag not in " ".join(lists["command"]):
        # A flag in args, or options after a server named in command.
        found = _find_server(lists["args"])
        start = found[1] if found else 0
        return "args", _with_flag(lists["args"], flag, value, start)
    field = "args" if lists["args"] else "command"
    return field, _with_flag(lists[field], flag, value)


def with_listen(container: Mapping[str, Any], listen: Listen) -> tuple[str, list[str]] | None:
    """The `command` or `args` list that runs the same server listening on
    every interface instead of on `listen`, for a JSON patch; None when an
    environment variable sets the address (see `env_listening`) or a shell
    script holds Django's positional address."""
    if listen.field.startswith("env["):
        return None
    if listen.flag:
        return with_option(container, listen.flag, listen.opened)
    for field in ("command", "args"):
        words = [str(w) for w in container.get(field) or ()]
        if "runserver" in words:
            at = words.index("runserver") + 1
            replaced = words[at : at + 1] == [listen.value]
            return field, [*words[:at], listen.opened, *words[at + int(replaced) :]]
    return None


def env_listening(container: Mapping[str, Any], listen: Listen) -> tuple[str, str] | None:
    """The environment variable that sets `listen`, and the value that makes
    the server listen on every interface instead."""
    if not listen.field.startswith("env["):
        return None
    variable = listen.field[4:-1]
    value = _env(container).get(variable, listen.value)
    return variable, value.replace(listen.value, listen.opened, 1)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class JvmHeap:
    """The JVM's maximum heap as a container spec sets it."""

    bytes: float
    text: str  # e.g. `-Xmx640m`
    field: str  # `args`, `command` or `env[JAVA_OPTS]`


_XMX = re.compile(r"^-Xmx(\d+)([kKmMgGtT]?)$")
_XMX_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
# Where the JVM (JAVA_TOOL_OPTIONS, read by the JVM itself; JDK_JAVA_OPTIONS,
# read by the `java` launcher since JDK 9) and start scripts (JAVA_OPTS, by
# convention: Tomcat, many images) take their options, weakest first.
_JVM_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "JAVA_OPTS", "JDK_JAVA_OPTIONS")


def jvm_max_heap(container: Mapping[str, Any]) -> JvmHeap | None:
    """`-Xmx` from the command line (which wins), else from the JVM option
    variables; the last `-Xmx` of a source wins, as in the JVM. None when
    the spec sets none (the JVM then sizes the heap from the memory limit)."""
    env = _env(container)
    sources = [(_split(env[name]), f"env[{name}]") for name in _JVM_OPTION_VARIABLES if name in env]
    argv = _argv(container)
    sources.append((argv, _field(container, "-Xmx")))
    found: JvmHeap | None = None
    for words, field in sources:
        for word in words:
            match = _XMX.match(word)
            if match:
                size = int(match.group(1)) * _XMX_UNITS[match.group(2).lower()]
                found = JvmHeap(bytes=float(size), text=word, field=field)
    return found
