"""Kubeconfig files for the fake server, with bearer-token users or exec
credential plugins (a shell script printing an `ExecCredential`, as
`aws eks get-token` or `gke-gcloud-auth-plugin` do)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

EXEC_V1 = "client.authentication.k8s.io/v1"
EXEC_V1BETA1 = "client.authentication.k8s.io/v1beta1"


def token_user(token: str) -> dict[str, Any]:
    return {"token": token}


def exec_user(plugin: Path, api_version: str = EXEC_V1) -> dict[str, Any]:
    spec: dict[str, Any] = {"apiVersion": api_version, "command": str(plugin), "args": ["token"]}
    if api_version == EXEC_V1:
        spec["interactiveMode"] = "Never"
    return {"exec": spec}


def exec_plugin(directory: Path, token: str, api_version: str = EXEC_V1) -> Path:
    """A credential plugin script that prints `token` and appends a line to
    `<script>.calls` each time it runs (tests count the runs)."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "credential-plugin"
    credential = orjson.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "status": {"token": token}}
    ).decode()
    script.write_text(f"#!/bin/sh\necho run >> '{script}.calls'\ncat <<'EOF'\n{credential}\nEOF\n")
    script.chmod(0o755)
    return script


def write_kubeconfig(
    path: Path,
    server: str,
    ca_pem: bytes | None,
    users: Mapping[str, Mapping[str, Any]],
    *,
    current: str | None = None,
    namespace: str | None = None,
) -> Path:
    """A kubeconfig with one context per entry of `users` (context, cluster
    and user all take its name), every one pointing at `server`."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    contexts = []
    for name in users:
        context: dict[str, Any] = {"cluster": name, "user": name}
        if namespace:
            context["namespace"] = namespace
        contexts.append({"name": name, "context": context})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster} for name in users],
        "users": [{"name": name, "user": dict(user)} for name, user in users.items()],
        "contexts": contexts,
        "current-context": current or next(iter(users)),
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    return path
