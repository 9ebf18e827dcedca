"""The app-server reading shared by the keepalive-race and upstream-timeout
rules (and `why5xx lint`): what a container spec alone tells."""

from __future__ import annotations

from typing import Any

import pytest

from why5xx.appservers import (
    Listen,
    app_server,
    big_headers,
    env_listening,
    jvm_max_heap,
    with_listen,
    with_option,
)


@pytest.mark.parametrize(
    ("container", "server", "keepalive", "explicit"),
    [
        # gunicorn's sync worker keeps no connection alive; threads make it gthread.
        ({"command": ["gunicorn", "app:app"]}, "gunicorn", None, False),
        ({"args": ["gunicorn", "--threads", "4", "app:app"]}, "gunicorn", 2, False),
        (
            {"command": ["gunicorn"], "args": ["-k", "gevent", "--keep-alive=9", "a:b"]},
            "gunicorn",
            9,
            True,
        ),
        (
            {
                "command": ["gunicorn", "app:app"],
                "env": [{"name": "GUNICORN_CMD_ARGS", "value": "-k gthread --keep-alive 3"}],
            },
            "gunicorn",
            3,
            True,
        ),
        ({"command": ["/bin/sh", "-c", "exec uvicorn app:app --port 8080"]}, "uvicorn", 5, False),
        (
            {"command": ["python3", "-m", "uvicorn", "app:app", "--timeout-keep-alive", "65"]},
            "uvicorn",
            65,
            True,
        ),
        (
            {
                "args": ["uvicorn", "app:app"],
                "env": [{"name": "UVICORN_TIMEOUT_KEEP_ALIVE", "value": "20"}],
            },
            "uvicorn",
            20,
            True,
        ),
        ({"command": ["hypercorn", "app:app"]}, "hypercorn", 5, False),
        ({"image": "node:22-alpine", "command": ["node", "server.js"]}, "node", 5, False),
        ({"image": "node:26-slim", "command": ["node", "server.js"]}, "node", 65, False),
    ],
)
def test_keepalive(
    container: dict[str, Any], server: str, keepalive: float | None, explicit: bool
) -> None:
    found = app_server({"name": "app", **container})
    assert found is not None
    assert found.server == server
    if keepalive is None:
        assert found.keepalive is None
    else:
        assert found.keepalive is not None
        assert (found.keepalive.seconds, found.keepalive.explicit) == (keepalive, explicit)


@pytest.mark.parametrize(
    "container",
    [
        {"image": "registry.example.com/api:1.2"},  # command baked into the image
        {"image": "example/node-app:3", "command": ["node", "server.js"]},  # Node version unknown
        {"command": ["java", "-jar", "app.jar"]},
    ],
)
def test_unknown_server(container: dict[str, Any]) -> None:
    assert app_server({"name": "app", **container}) is None


def test_request_timeout_is_explicit_only() -> None:
    found = app_server({"name": "app", "args": ["gunicorn", "-t", "120", "app:app"]})
    assert found is not None
    assert found.request_timeout is not None
    assert (found.request_timeout.seconds, found.request_timeout.explicit) == (120, True)
    default = app_server({"name": "app", "args": ["gunicorn", "app:app"]})
    assert default is not None
    assert default.request_timeout is None


@pytest.mark.parametrize(
    ("container", "field", "words"),
    [
        (
            {"command": ["gunicorn"], "args": ["-k", "gthread", "app:app"]},
            "args",
            ["--keep-alive", "75", "-k", "gthread", "app:app"],
        ),
        (
            {"args": ["uvicorn", "app:app", "--timeout-keep-alive=5"]},
            "args",
            ["uvicorn", "app:app", "--timeout-keep-alive=75"],
        ),
        (
            {"command": ["sh", "-c", "exec uvicorn app:app --port 8080"]},
            "command",
            ["sh", "-c", "exec uvicorn --timeout-keep-alive 75 app:app --port 8080"],
        ),
    ],
)
def test_with_option(container: dict[str, Any], field: str, words: list[str]) -> None:
    flag = "--keep-alive" if "gunicorn" in str(container) else "--timeout-keep-alive"
    assert with_option(container, flag, "75") == (field, words)


def _env(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]


@pytest.mark.parametrize(
    ("container", "server", "listen"),
    [
        # uvicorn: --host defaults to 127.0.0.1, and reads no config file.
        (
            {"command": ["uvicorn", "app:app", "--port", "8080"]},
            "uvicorn",
            [("127.0.0.1", 8080, False)],
        ),
        ({"args": ["uvicorn", "app:app", "--host=0.0.0.0"]}, "uvicorn", [("0.0.0.0", 8000, True)]),
        (
            {"args": ["uvicorn", "app:app"], "env": _env(UVICORN_HOST="localhost")},
            "uvicorn",
            [("localhost", 8000, True)],
        ),
        ({"args": ["uvicorn", "app:app", "--uds", "/run/app.sock"]}, "uvicorn", []),
        # gunicorn: 127.0.0.1:8000 unless PORT is set; every --bind counts; unix sockets do not.
        ({"command": ["gunicorn", "app:app"]}, "gunicorn", [("127.0.0.1", 8000, False)]),
        (
            {"command": ["gunicorn", "app:app"], "env": _env(PORT="5000")},
            "gunicorn",
            [("0.0.0.0", 5000, False)],
        ),
        (
            {"args": ["gunicorn", "-b", "localhost:9000", "-b", "[::1]:9000", "app:app"]},
            "gunicorn",
            [("localhost", 9000, True), ("::1", 9000, True)],
        ),
        (
            {
                "args": ["gunicorn", "app:app"],
                "env": _env(GUNICORN_CMD_ARGS="--bind=127.0.0.1 -w 3"),
            },
            "gunicorn",
            [("127.0.0.1", 8000, True)],
        ),
        ({"args": ["gunicorn", "-b", "unix:/run/g.sock", "app:app"]}, "gunicorn", []),
        ({"command": ["hypercorn", "app:app"]}, "hypercorn", [("127.0.0.1", 8000, False)]),
        # flask run, Django runserver: development servers on loopback by default.
        ({"command": ["flask", "run"]}, "flask run", [("127.0.0.1", 5000, False)]),
        (
            {"command": ["python", "-m", "flask", "run", "-h", "0.0.0.0", "-p", "8080"]},
            "flask run",
            [("0.0.0.0", 8080, True)],
        ),
        (
            {"command": ["python", "manage.py", "runserver"]},
            "Django runserver",
            [("127.0.0.1", 8000, False)],
        ),
        (
            {"args": ["./manage.py", "runserver", "0.0.0.0:8000"]},
            "Django runserver",
            [("0.0.0.0", 8000, True)],
        ),
        # Rails, puma, Spring Boot, Node.js: only an explicit address counts.
        (
            {"command": ["bin/rails", "server", "-b", "127.0.0.1"]},
            "rails",
            [("127.0.0.1", 3000, True)],
        ),
        ({"command": ["bin/rails", "server"]}, None, []),
        (
            {"command": ["bundle", "exec", "puma", "-b", "tcp://127.0.0.1:9292"]},
            "puma",
            [("127.0.0.1", 9292, True)],
        ),
        (
            {
                "command": [
                    "java",
                    "-Dserver.address=127.0.0.1",
                    "-jar",
                    "app.jar",
                    "--server.port=9090",
                ]
            },
            "Spring Boot",
            [("127.0.0.1", 9090, True)],
        ),
        ({"command": ["java", "-jar", "app.jar"]}, None, []),
        (
            {
                "image": "node:22",
                "command": ["node", "server.js"],
                "env": _env(HOST="localhost", PORT="3000"),
            },
            "node",
            [("localhost", 3000, True)],
        ),
        # Any other program: its listen flags and variables.
        ({"command": ["/server", "-addr=127.0.0.1:8080"]}, "server", [("127.0.0.1", 8080, True)]),
        (
            {"command": ["redis-server", "--bind", "127.0.0.1", "--port", "6379"]},
            "redis-server",
            [("127.0.0.1", 6379, True)],
        ),
        (
            {
                "name": "api",
                "image": "ghcr.io/acme/api:1",
                "env": _env(LISTEN_ADDR="localhost:8080"),
            },
            "api",
            [("localhost", 8080, True)],
        ),
        ({"command": ["/proxy", "--upstream=http://127.0.0.1:8080/"]}, None, []),
    ],
)
def test_listen(
    container: dict[str, Any], server: str | None, listen: list[tuple[str, int, bool]]
) -> None:
    found = app_server({"name": "app", **container})
    if server is None:
        assert found is None or not found.listen
        return
    assert found is not None
    assert found.server == server
    assert [(a.host, a.port, a.explicit) for a in found.listen] == listen


@pytest.mark.parametrize(
    ("container", "field", "words"),
    [
        (
            {"command": ["gunicorn"], "args": ["-b", "127.0.0.1:8000", "app:app"]},
            "args",
            ["-b", "0.0.0.0:8000", "app:app"],
        ),
        (
            {"command": ["uvicorn", "app:app", "--port", "8000"]},
            "command",
            ["uvicorn", "--host", "0.0.0.0", "app:app", "--port", "8000"],
        ),
        (
            {"command": ["python", "manage.py", "runserver"]},
            "command",
            ["python", "manage.py", "runserver", "0.0.0.0:8000"],
        ),
        (
            {"command": ["python", "manage.py", "runserver", "8080"]},
            "command",
            ["python", "manage.py", "runserver", "0.0.0.0:8080"],
        ),
        (
            {"args": ["puma", "-b", "tcp://127.0.0.1:3000"]},
            "args",
            ["puma", "-b", "tcp://0.0.0.0:3000"],
        ),
    ],
)
def test_with_listen(container: dict[str, Any], field: str, words: list[str]) -> None:
    found = app_server({"name": "app", **container})
    assert found is not None
    assert with_listen(container, found.listen[0]) == (field, words)


def test_a_variable_is_fixed_by_setting_it() -> None:
    container = {
        "args": ["gunicorn", "app:app"],
        "env": _env(GUNICORN_CMD_ARGS="-b 127.0.0.1:9000 -w 3"),
    }
    found = app_server(container)
    assert found is not None
    listen: Listen = found.listen[0]
    assert with_listen(container, listen) is None
    assert env_listening(container, listen) == ("GUNICORN_CMD_ARGS", "-b 0.0.0.0:9000 -w 3")


@pytest.mark.parametrize(
    ("container", "app"),
    [
        (
            {"image": "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0", "args": ["--provider=oidc"]},
            "oauth2-proxy",
        ),
        (
            {
                "image": "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
                "args": ["--session-store-type=redis"],
            },
            None,
        ),
        (
            {
                "image": "bitnami/oauth2-proxy:7",
                "env": _env(OAUTH2_PROXY_SESSION_STORE_TYPE="redis"),
            },
            None,
        ),
        ({"image": "quay.io/keycloak/keycloak:24.0.5@sha256:abc", "args": ["start"]}, "Keycloak"),
        ({"image": "ghcr.io/acme/keycloak-theme:1"}, None),
    ],
)
def test_big_headers(container: dict[str, Any], app: str | None) -> None:
    found = big_headers(container)
    assert (found.app if found else None) == app


def test_node_app_reads_its_own_listen_variable() -> None:
    """A Node.js app's code reads whatever variable it names: the generic
    listen variables count next to HOST."""
    container = {
        "name": "admin",
        "image": "registry.example.com/admin:1.4.0",
        "command": ["node", "dist/server.js"],
        "env": [
            {"name": "PORT", "value": "3000"},
            {"name": "LISTEN_ADDR", "value": "localhost:3000"},
        ],
    }
    server = app_server(container)
    assert server is not None
    assert [(listen.host, listen.port, listen.field) for listen in server.listen] == [
        ("localhost", 3000, "env[LISTEN_ADDR]")
    ]


@pytest.mark.parametrize(
    ("container", "heap"),
    [
        (
            {"env": [{"name": "JAVA_TOOL_OPTIONS", "value": "-Xms256m -Xmx640m"}]},
            (640 << 20, "env[JAVA_TOOL_OPTIONS]"),
        ),
        ({"args": ["-Xmx1g", "-jar", "app.jar"], "command": ["java"]}, (1 << 30, "args")),
        # The command line wins over the variables; the last -Xmx of a source wins.
        (
            {
                "command": ["java", "-Xmx512M", "-Xmx768M", "-jar", "app.jar"],
                "env": [{"name": "JAVA_OPTS", "value": "-Xmx4g"}],
            },
            (768 << 20, "command"),
        ),
        ({"command": ["java", "-XX:MaxRAMPercentage=75", "-jar", "app.jar"]}, None),
    ],
)
def test_jvm_max_heap(container: dict[str, Any], heap: tuple[int, str] | None) -> None:
    found = jvm_max_heap(container)
    assert (None if found is None else (found.bytes, found.field)) == heap
