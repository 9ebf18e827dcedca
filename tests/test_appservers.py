"""The app-server reading shared by the keepalive-race and upstream-timeout
rules (and `why5xx lint`): what a container spec alone tells."""

from __future__ import annotations

from typing import Any

import pytest

from why5xx.appservers import app_server, with_option


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
