"""`why5xx mcp`: the diagnosis as tools for AI agents (Model Context Protocol).

Each tool returns the JSON document the CLI prints with `-o json` as the
structured content, and a few lines an LLM reads first as the text content.
The server is read-only: it reads files under the `--root` directories only
(a prompt cannot make it read /etc or ~/.kube), reaches clusters through the
kubeconfig it was started with, and gives up on a call after `--deadline`
seconds. Bad input is a tool error (one line), never an exception.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from why5xx import api
from why5xx.model import Report
from why5xx.version import __version__

T = TypeVar("T")

INSTRUCTIONS = (
    "why5xx names why a Kubernetes Service, Ingress or HTTPRoute answers 502, 503 or 504, "
    "with the evidence (object and field), read-only kubectl commands that confirm it and "
    "the patch that fixes it. Start with diagnose_service (or diagnose_ingress for a host "
    "or path that fails); findings[0].cause is the verdict. explain_cause documents a cause."
)
# Nothing here writes to a cluster or a file; a call repeated gives the same answer.
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    roots: tuple[Path, ...]  # resolved; every path a tool reads lies under one
    deadline: float  # seconds a tool call may take
    kubeconfig: str | None = None  # for `context`; None: $KUBECONFIG or ~/.kube/config


class Confinement:
    """The directories the tools may read, with symbolic links followed: a
    link inside a root that points outside it is refused too."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = tuple(roots)

    def check(self, path: str) -> str:
        """`path` (relative to the first root, or absolute) when it and everything
        under it lie within a root; else a tool error naming it."""
        given = Path(path)
        if not given.is_absolute():
            given = self.roots[0] / given
        resolved = given.resolve()
        self._inside(resolved, path)
        if resolved.is_dir():
            for folder, dirs, files in os.walk(resolved):
                for name in (*dirs, *files):
                    entry = Path(folder, name)
                    if entry.is_symlink():
                        self._inside(entry.resolve(), str(entry))
        return str(resolved)

    def _inside(self, resolved: Path, shown: str) -> None:
        if not any(resolved.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots)
            raise ToolError(f"{shown} is outside the directories this server may read ({allowed})")


def build_server(settings: Settings) -> MCPServer:
    """The MCP server with the why5xx tools; `run(transport)` serves it."""
    server: MCPServer = MCPServer(
        name="why5xx",
        title="why5xx",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    confine = Confinement(settings.roots)

    def readable(given: Sequence[str] | None) -> list[str] | None:
        return None if given is None else [confine.check(p) for p in given]

    def cluster(context: str | None) -> dict[str, Any]:
        # The call's deadline answers first; an API call it abandoned gives up
        # a second later, so no worker thread outlives its call for long.
        return {
            "context": context,
            "kubeconfig": settings.kubeconfig,
            "request_timeout": min(10.0, settings.deadline + 1.0),
        }

    async def within_deadline(work: Callable[[], T]) -> T:
        try:
            with anyio.fail_after(settings.deadline):
                return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except TimeoutError as exc:
            raise ToolError(f"no answer within the deadline of {settings.deadline:g} s") from exc
        except api.Why5xxError as exc:
            raise ToolError(str(exc)) from exc

    async def diagnose(
        target: str,
        namespace: str | None,
        bundle: list[str] | None,
        context: str | None,
        logs: list[str] | None,
    ) -> CallToolResult:
        bundle_paths, log_paths = readable(bundle), readable(logs) or []
        report = await within_deadline(
            lambda: api.diagnose(
                target, namespace=namespace, bundle=bundle_paths, logs=log_paths, **cluster(context)
            )
        )
        return _result(report.to_json(), _summary(report))

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def diagnose_service(
        name: str,
        namespace: str | None = None,
        bundle: list[str] | None = None,
        context: str | None = None,
        logs: list[str] | None = None,
    ) -> CallToolResult:
        """Why a Service answers 502/503/504: the cause, its evidence, confirm commands and
        the fix. State from `bundle` (paths of `kubectl get -o yaml|json` output) or a
        kubeconfig `context` (live, read-only); `logs`: proxy log files."""
        return await diagnose(f"service/{name}", namespace, bundle, context, logs)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def diagnose_ingress(
        name: str,
        namespace: str | None = None,
        bundle: list[str] | None = None,
        context: str | None = None,
        logs: list[str] | None = None,
    ) -> CallToolResult:
        """Why an Ingress answers 5xx: the Ingress itself, then every Service it sends to."""
        return await diagnose(f"ingress/{name}", namespace, bundle, context, logs)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def diagnose_all(
        namespace: str | None = None,
        all_namespaces: bool = False,
        bundle: list[str] | None = None,
        context: str | None = None,
    ) -> CallToolResult:
        """Every Service of a namespace (or of all), worst first, one report each."""
        bundle_paths = readable(bundle)
        reports = await within_deadline(
            lambda: api.diagnose_all(
                namespace=namespace,
                all_namespaces=all_namespaces,
                bundle=bundle_paths,
                **cluster(context),
            )
        )
        body = {"schema": "why5xx/diagnosis-list/v1", "reports": [r.to_json() for r in reports]}
        return _result(body, "\n".join(_summary(r, brief=True) for r in reports))

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def lint_manifests(paths: list[str], namespace: str = "default") -> CallToolResult:
        """The 5xx risks in manifests (files or directories of YAML/JSON) before they ship."""
        checked = readable(paths) or []
        report = await within_deadline(lambda: api.lint(checked, namespace=namespace))
        counts = report.counts()
        lines = [f"{report.objects} objects: " + ", ".join(f"{n} {k}" for k, n in counts.items())]
        lines += [f"{f.level.value} {f.code}: {f.message}" for f in report.active[:20]]
        return _result(report.to_json(), "\n".join(lines))

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def summarize_proxy_logs(
        files: list[str], bundle: list[str] | None = None
    ) -> CallToolResult:
        """The 5xx in proxy logs (ingress-nginx, nginx, Envoy/Istio, HAProxy, Traefik, ALB):
        by status, cause, upstream pod and time; `bundle` names the pods behind upstreams."""
        log_paths, bundle_paths = readable(files) or [], readable(bundle)
        summary = await within_deadline(lambda: api.analyze_logs(log_paths, bundle=bundle_paths))
        lines = [f"{summary.total_5xx} 5xx in {summary.lines} lines"]
        lines += [f"{c.cause}: {c.count} ({c.signal})" for c in summary.causes[:10]]
        return _result(summary.to_json(), "\n".join(lines))

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def explain_cause(cause: str) -> CallToolResult:
        """The documentation of a cause id: what it finds, why it is a 5xx, the fix."""
        from why5xx import docs  # noqa: PLC0415 (every rule's docs only when asked for)

        try:
            rule = docs.find_rule(cause)
        except docs.UnknownCause as exc:
            raise ToolError(str(exc)) from exc
        page = docs.rule_page(rule)
        body = {"cause": rule.cause, "http_status": list(rule.http_status), "doc": page}
        return _result(body, page)

    @server.tool(annotations=READ_ONLY, structured_output=False)
    async def list_causes() -> CallToolResult:
        """Every cause why5xx can name, in causal order, with its HTTP status and summary."""
        from why5xx import docs  # noqa: PLC0415 (see explain_cause)

        causes = [
            {"cause": r.cause, "http_status": list(r.http_status), "summary": r.summary}
            for r in docs.ordered()
        ]
        text = "\n".join(f"{c['cause']} {c['http_status']}: {c['summary']}" for c in causes)
        return _result({"causes": causes}, text)

    return server


def _result(body: dict[str, Any], text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=body)


def _summary(report: Report, *, brief: bool = False) -> str:
    """What an LLM reads first: target, status, verdict and its one-line fix."""
    target = report.target
    head = f"{target.kind} {target.namespace}/{target.name}: {report.status.value}"
    if not report.findings or report.verdict in ("healthy", "unknown"):
        return f"{head} ({report.verdict})"
    top = report.findings[0]
    codes = "/".join(str(code) for code in top.http_status)
    line = f"{head}, {top.cause} ({codes}, confidence {top.confidence:.2f}): {top.title}"
    if brief:
        return line
    lines = [line, f"fix: {top.fix.summary}"]
    lines += [f"confirm: {command}" for command in top.confirm[:3]]
    lines += [f"capture next: {command}" for command in report.capture_next[:3]]
    return "\n".join(lines)
