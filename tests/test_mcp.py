"""`why5xx mcp` end to end: the MCP SDK's own client talks to the server over
stdio and over streamable HTTP (each a real child process), against the
example bundles and a fake API server's context; the path confinement and
the deadline are tested the way an agent would meet them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult

from fakeapi.fixtures import CONTEXT, StartCluster
from fakeapi.kubeconfig import token_user, write_kubeconfig
from fakeapi.pki import Pki
from test_schemas import assert_valid

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TOOLS = {
    "diagnose_service",
    "diagnose_ingress",
    "diagnose_all",
    "lint_manifests",
    "summarize_proxy_logs",
    "explain_cause",
    "list_causes",
}
T = TypeVar("T")


def _examples() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for folder in sorted(EXAMPLES.iterdir()):
        truth = yaml.safe_load((folder / "expected.yaml").read_text())
        found.append((folder.name, truth))
    return found


def _stdio(*args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "why5xx", "mcp", *args], env=env, cwd=str(ROOT)
    )


def _session(server: Any, work: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Client(server, read_timeout_seconds=60) as client:
            return await work(client)

    return anyio.run(main)


def _bundle_of(example: str) -> list[str]:
    folder = EXAMPLES / example
    return [f"{example}/{p.name}" for p in sorted(folder.iterdir()) if p.name != "expected.yaml"]


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def test_stdio_lists_the_tools_and_diagnoses_every_example() -> None:
    examples = _examples()

    async def work(client: Client) -> tuple[set[str], list[tuple[str, Any, CallToolResult]]]:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        answers = []
        for name, truth in examples:
            kind, _, target = str(truth["target"]).rpartition("/")
            tool = "diagnose_ingress" if kind == "ingress" else "diagnose_service"
            arguments = {
                "name": target,
                "namespace": truth["namespace"],
                "bundle": _bundle_of(name),
            }
            answers.append((name, truth, await client.call_tool(tool, arguments)))
        return tools, answers

    tools, answers = _session(_stdio("--root", str(EXAMPLES)), work)
    assert tools == TOOLS
    for name, truth, result in answers:
        assert not result.is_error, (name, _text(result))
        body = result.structured_content
        assert body is not None
        assert_valid("diagnosis", body)
        assert body["verdict"] == truth["cause"], name
        assert body["status"] == truth.get("status", body["status"])
        # The text an LLM reads first names the verdict.
        assert truth["cause"] in _text(result), name


def test_paths_outside_the_roots_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "svc.yaml").write_text((EXAMPLES / "healthy" / "identity.yaml").read_text())
    (root / "escape").symlink_to("/etc")
    refused: list[tuple[str, dict[str, Any]]] = [
        ("diagnose_service", {"name": "x", "bundle": ["/etc/passwd"]}),
        ("diagnose_service", {"name": "x", "bundle": ["../../../etc"]}),
        ("diagnose_service", {"name": "x", "bundle": ["."]}),  # holds the link to /etc
        ("diagnose_service", {"name": "x", "bundle": ["escape/hostname"]}),
        ("summarize_proxy_logs", {"files": ["/var/log/dpkg.log"]}),
        ("lint_manifests", {"paths": [str(ROOT)]}),
    ]

    async def work(client: Client) -> list[CallToolResult]:
        return [await client.call_tool(tool, arguments) for tool, arguments in refused]

    results = _session(_stdio("--root", str(root)), work)
    for (tool, arguments), result in zip(refused, results, strict=True):
        assert result.is_error, (tool, arguments)
        assert "outside the directories this server may read" in _text(result)
        assert result.structured_content is None


def test_bad_input_is_a_tool_error_not_a_crash() -> None:
    async def work(client: Client) -> list[CallToolResult]:
        return [
            await client.call_tool("explain_cause", {"cause": "selector-mismatch"}),
            await client.call_tool("explain_cause", {"cause": "selector-mismatc"}),
            await client.call_tool(
                "diagnose_service", {"name": "nope", "namespace": "shop", "bundle": ["healthy"]}
            ),
            await client.call_tool("summarize_proxy_logs", {"files": ["healthy/expected.yaml"]}),
            await client.call_tool("list_causes", {}),
        ]

    explained, misspelt, missing, not_a_log, causes = _session(
        _stdio("--root", str(EXAMPLES)), work
    )
    assert not explained.is_error
    assert "Why it is a 5xx" in _text(explained) or "selector" in _text(explained)
    assert misspelt.is_error
    assert "did you mean selector-mismatch" in _text(misspelt)
    assert missing.is_error
    assert "nope" in _text(missing)
    assert not_a_log.is_error
    assert "no usable log" in _text(not_a_log)
    body = causes.structured_content
    assert body is not None
    assert "selector-mismatch" in {c["cause"] for c in body["causes"]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "why5xx", "mcp", "--http", "--port", str(port), "--root", "."],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=EXAMPLES,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_streamable_http_on_loopback_diagnoses_an_example(http_server: str) -> None:
    async def work(client: Client) -> tuple[set[str], CallToolResult, CallToolResult]:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        found = await client.call_tool(
            "diagnose_all", {"namespace": "shop", "bundle": _bundle_of("selector-version-bump")}
        )
        refused = await client.call_tool("diagnose_all", {"bundle": ["/etc"]})
        return tools, found, refused

    tools, found, refused = _session(http_server, work)
    assert tools == TOOLS
    body = found.structured_content
    assert body is not None
    assert_valid("diagnosis-list", body)
    verdicts = {r["target"]["name"]: r["verdict"] for r in body["reports"]}
    assert verdicts["checkout"] == "selector-mismatch"
    assert refused.is_error


def test_a_kubeconfig_context_is_diagnosed_live(fake_cluster: StartCluster) -> None:
    cluster = fake_cluster([EXAMPLES / "selector-version-bump" / "shop.yaml"])
    server = _stdio("--root", str(EXAMPLES), "--kubeconfig", str(cluster.kubeconfig))

    async def work(client: Client) -> CallToolResult:
        arguments = {"name": "checkout", "namespace": "shop", "context": CONTEXT}
        return await client.call_tool("diagnose_service", arguments)

    result = _session(server, work)
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    assert result.structured_content["verdict"] == "selector-mismatch"


def test_a_call_past_its_deadline_is_an_error(tmp_path: Path, pki: Pki) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        config = write_kubeconfig(tmp_path / "kc", url, pki.ca_pem, {"slow": token_user("t")})
        server = _stdio(
            "--root",
            str(EXAMPLES),
            "--kubeconfig",
            str(config),
            "--deadline",
            "0.5",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

        async def work(client: Client) -> tuple[float, CallToolResult]:
            started = time.monotonic()
            result = await client.call_tool("diagnose_service", {"name": "x", "context": "slow"})
            return time.monotonic() - started, result

        elapsed, result = _session(server, work)
    assert result.is_error
    assert "no answer within the deadline of 0.5 s" in _text(result)
    assert elapsed < 5
