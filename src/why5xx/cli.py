"""The command line: parses flags, wires sources -> snapshot -> engine ->
report, prints, and exits. The only module that prints or exits."""

from __future__ import annotations

import argparse
import functools
import math
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from why5xx.errors import InputError
from why5xx.version import __version__

# Each command imports what it needs when it runs: `why5xx --version` and
# `why5xx diagnose` must not pay for lint, the benchmark or the log readers.
if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from why5xx.benchmark import corpus, real, score
    from why5xx.engine import Target
    from why5xx.lint.inputs import Input
    from why5xx.logmodel import LogSummary
    from why5xx.model import Report
    from why5xx.snapshot import Snapshot
    from why5xx.sources.kubeapi import ApiCall, KubeApi

EXIT_OK, EXIT_FOUND, EXIT_INPUT, EXIT_UNKNOWN = 0, 1, 2, 3
# What `why5xx bench` scores: the incident threads, the scenarios, or both.
CORPUS_ALL, CORPUS_REAL, CORPUS_SELF = "all", "real", "self"
DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 30.0


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _share(text: str) -> float:
    """A share between 0 and 1 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        hint = f" ({value:g}% is {value / 100:g})" if 1 < value <= 100 else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1{hint}")
    return value


def _debug_flag(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show the traceback of an unexpected error (also WHY5XX_DEBUG=1)",
    )


class _HelpFormatter(argparse.HelpFormatter):
    """Fills in the lists that would cost an import at every start (the log
    formats, the --fail-on levels): only `--help` pays for them."""

    def _expand_help(self, action: argparse.Action) -> str:
        text = super()._expand_help(action)
        if "{log_formats}" in text:
            from why5xx.sources import logs  # noqa: PLC0415

            text = text.replace("{log_formats}", ", ".join(f.name for f in logs.FORMATS))
        if "{fail_on}" in text:
            from why5xx.lint import config  # noqa: PLC0415

            text = text.replace("{fail_on}", ", ".join(config.FAIL_ON))
        return text


def _cluster_flags() -> argparse.ArgumentParser:
    """kubectl's flags for reaching a cluster, shared by the live commands."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--context", help="kubeconfig context (default: the current one)")
    flags.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    flags.add_argument(
        "--request-timeout",
        type=_seconds,
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on one API call after this long (default: {DEFAULT_REQUEST_TIMEOUT:g})",
    )
    flags.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="give up on the whole read of the cluster, credential plugin included, "
        f"after this long (default: {DEFAULT_TIMEOUT:g})",
    )
    flags.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="list each API call and its time on stderr, and each rule not checked",
    )
    return flags


def _parser(prog: str = "why5xx") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Why does this Kubernetes service return 502, 503 or 504?",
    )
    cluster = _cluster_flags()
    parser.add_argument("--version", action="version", version=f"why5xx {__version__}")
    _debug_flag(parser, default=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_command = functools.partial(commands.add_parser, formatter_class=_HelpFormatter)

    diag = add_command(
        "diagnose",
        parents=[cluster],
        help="name the cause of a Service's or Ingress's 5xx, with evidence and a fix",
        description="Name the cause of a Service's or Ingress's 5xx, with evidence and a fix: "
        "live from the cluster of the current kubeconfig context, or from --bundle.",
    )
    diag.add_argument(
        "target",
        nargs="?",
        help=(
            "NAME or service/NAME (a Service); ingress/NAME or httproute/NAME "
            "(the route, then every Service it sends to)"
        ),
    )
    diag.add_argument(
        "-n",
        "--namespace",
        help="namespace of the target (default: the context's namespace; default with --bundle)",
    )
    diag.add_argument(
        "-A", "--all-namespaces", action="store_true", help="with --all: every namespace"
    )
    diag.add_argument(
        "--all", action="store_true", help="every Service of the namespace, one line each"
    )
    diag.add_argument(
        "--bundle",
        nargs="+",
        action="extend",
        metavar="PATH",
        help="offline input: files or directories of `kubectl get -o yaml|json`, or - for stdin",
    )
    diag.add_argument(
        "--logs",
        nargs="+",
        action="extend",
        metavar="FILE",
        help="proxy logs (as for `why5xx logs`): their 5xx confirm and re-rank the causes",
    )
    diag.add_argument("--log-format", metavar="F", help="read the --logs as F (see `why5xx logs`)")
    diag.add_argument(
        "-o",
        "--output",
        choices=("text", "json", "markdown", "html"),
        default="text",
        help="markdown: for a ticket or a pull-request comment; html: one self-contained "
        "incident report with a timeline",
    )
    diag.add_argument(
        "--timeline",
        action="store_true",
        help="add the timeline (events, restarts, endpoints, 5xx over time) to -o json; "
        "markdown and html always have it",
    )
    diag.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    diag.add_argument(
        "--no-cache",
        action="store_true",
        help="parse YAML bundles again instead of reusing the decoded copy in "
        "$XDG_CACHE_HOME/why5xx (also WHY5XX_NO_CACHE=1)",
    )
    diag.set_defaults(run=_diagnose)

    capture = add_command(
        "capture",
        parents=[cluster],
        help="save a namespace's state as a bundle for a ticket (secrets redacted)",
        description="Save a namespace's state as a bundle that `diagnose --bundle` reads: "
        "Secrets are never read, ConfigMap and env values are redacted (see the manifest).",
    )
    capture.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    capture.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    capture.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR|FILE.tar.gz",
        help="a new directory, or a .tar.gz archive",
    )
    capture.set_defaults(run=_capture, no_color=False)

    rules = add_command(
        "rules",
        help="list the rules: cause id, HTTP status, severity, summary",
        description="List every rule, in causal order (docs/rules/README.md).",
    )
    rules.set_defaults(run=_rules, no_color=False)
    explain = add_command(
        "explain",
        help="print the documentation of the rule for a cause",
        description="Print the documentation of the rule for CAUSE (docs/rules/CAUSE.md).",
    )
    explain.add_argument("cause", help="a cause id, e.g. selector-mismatch (see `why5xx rules`)")
    explain.set_defaults(run=_explain, no_color=False)

    logs_cmd = add_command(
        "logs",
        help="summarise the 5xx of proxy logs: by status, service, upstream pod, cause, time",
        description="Summarise the 5xx in proxy logs (ingress-nginx, nginx error.log, "
        "Envoy/Istio, HAProxy, Traefik, AWS ALB; plain or .gz; - for stdin).",
    )
    logs_cmd.add_argument("files", nargs="+", metavar="FILE", help="log files, or - for stdin")
    logs_cmd.add_argument(
        "--format",
        metavar="F",
        help="read every file as F instead of detecting it: {log_formats}",
    )
    logs_cmd.add_argument(
        "--bundle",
        nargs="+",
        action="extend",
        metavar="PATH",
        help="cluster state (`kubectl get -o yaml|json`) to name the pods behind upstreams",
    )
    logs_cmd.add_argument(
        "-o",
        "--output",
        choices=("text", "json", "html"),
        default="text",
        help="html: one self-contained page with the 5xx over time",
    )
    logs_cmd.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    logs_cmd.set_defaults(run=_logs)

    lint_cmd = add_command(
        "lint",
        parents=[cluster],
        help="find the 5xx in manifests before they ship (files, helm/kustomize output, --live)",
        description="Check manifests for what makes a Service answer 502, 503 or 504: files "
        "or directories of YAML/JSON, - for stdin (helm template, kustomize build), or --live "
        "(docs/lint/README.md).",
    )
    lint_cmd.add_argument("paths", nargs="*", metavar="PATH", help="manifests, or - for stdin")
    lint_cmd.add_argument("--live", action="store_true", help="lint what the cluster runs")
    lint_cmd.add_argument(
        "-n",
        "--namespace",
        help="--live: the namespace (default: the context's); files: the namespace of objects "
        "that name none (default: default)",
    )
    lint_cmd.add_argument(
        "-A", "--all-namespaces", action="store_true", help="--live: every namespace"
    )
    lint_cmd.add_argument(
        "-o",
        "--output",
        choices=("text", "json", "sarif", "github", "markdown"),
        default="text",
        help="markdown: a pull-request comment a CI job can post",
    )
    lint_cmd.add_argument(
        "--fail-on",
        metavar="LEVEL",
        help="exit 1 on a finding at or above LEVEL, or on a document that could not be read: "
        "{fail_on} (default: error, or .why5xx.yaml's)",
    )
    lint_cmd.add_argument(
        "--min-severity",
        metavar="LEVEL",
        help="list the findings at or above LEVEL: error, warning, info (default: warning, or "
        ".why5xx.yaml's)",
    )
    lint_cmd.add_argument(
        "--config", metavar="FILE", help="default: .why5xx.yaml here or in a parent directory"
    )
    lint_cmd.add_argument("--list-checks", action="store_true", help="list the checks and exit")
    lint_cmd.add_argument("--explain", metavar="CODE", help="print a check's documentation")
    lint_cmd.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    lint_cmd.set_defaults(run=_lint)

    watch = add_command(
        "watch",
        parents=[cluster],
        help="run in the cluster: diagnose Services as their endpoints fall, export metrics",
        description="Watch Services, EndpointSlices, Pods, workloads, Events and Ingresses "
        "(read-only); when a Service loses its ready endpoints (all, or below --threshold of "
        "the most it had) or they start terminating, diagnose it and export "
        "why5xx_findings{namespace,service,cause,severity} on /metrics (docs/watch.md).",
    )
    watch.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="a namespace to watch (repeatable; default: every namespace)",
    )
    watch.add_argument(
        "--metrics-address",
        default="0.0.0.0:9108",
        metavar="HOST:PORT",
        help="where /metrics, /healthz and /readyz listen (default: 0.0.0.0:9108)",
    )
    watch.add_argument(
        "--debounce",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="wait this long after a Service's endpoints change before diagnosing (default: 5)",
    )
    watch.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="diagnose when ready endpoints fall below this share of the most seen (default: 0.5)",
    )
    watch.add_argument(
        "--webhook", metavar="URL", help="POST each new finding as JSON (a Slack-style text field)"
    )
    watch.add_argument(
        "--events",
        action="store_true",
        help="also post a Warning Event (reason Why5xx) on each Service with a new finding "
        "(needs `create events`)",
    )
    watch.add_argument(
        "--leader-elect",
        action="store_true",
        help="hold a Lease so that of several replicas only one reports (needs get, create "
        "and update on leases)",
    )
    watch.add_argument(
        "--leader-namespace",
        metavar="NS",
        help="--leader-elect: the Lease's namespace (default: the context's or the pod's)",
    )
    watch.set_defaults(run=_watch, no_color=False)

    mcp = add_command(
        "mcp",
        help="serve the diagnosis to AI agents (Model Context Protocol), read-only",
        description="Serve why5xx's tools (diagnose_service, diagnose_ingress, diagnose_all, "
        "lint_manifests, summarize_proxy_logs, explain_cause, list_causes) over MCP: stdio by "
        "default, streamable HTTP with --http. Tools read files under --root only.",
    )
    mcp.add_argument(
        "--root",
        action="append",
        metavar="DIR",
        help="a directory the tools may read bundles, logs and manifests from "
        "(repeatable; default: the current directory)",
    )
    mcp.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="--http: address (default: 127.0.0.1)")
    mcp.add_argument("--port", type=int, default=8765, help="--http: port (default: 8765)")
    mcp.add_argument(
        "--deadline",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="a tool call that takes longer is answered with an error (default: 60)",
    )
    mcp.add_argument(
        "--kubeconfig", help="for tools given a context (default: $KUBECONFIG, ~/.kube/config)"
    )
    mcp.set_defaults(run=_mcp, no_color=False)

    bench = add_command(
        "bench",
        help="score the diagnosis: on real incident threads, and on scenarios with known causes",
        description="Without PATH or --generate: first the real corpus (public incident "
        "threads, each run as its reporter would run why5xx with what they posted: "
        "tests/corpus/real/README.md), then the self-consistency corpus (the test scenarios, "
        "the examples and generated faults, written next to the rules: "
        "docs/scenario-format.md) per cause and overall, beside a kubectl-only baseline. "
        "PATH or --generate score those scenarios only.",
    )
    bench.add_argument(
        "--corpus",
        choices=(CORPUS_ALL, CORPUS_REAL, CORPUS_SELF),
        default=CORPUS_ALL,
        help="real: the incident threads only; self: the scenarios only (default: all)",
    )
    bench.add_argument(
        "paths", nargs="*", metavar="PATH", help="directories of scenarios (truth.yaml)"
    )
    bench.add_argument(
        "--generate", type=int, metavar="N", help="N clusters with injected faults, in memory"
    )
    bench.add_argument("--seed", type=int, default=1, help="seed of --generate (default: 1)")
    bench.add_argument(
        "--export",
        metavar="DIR",
        help="write the generated scenarios (--generate N, else the built-in ones) to DIR "
        "as scenario directories, instead of scoring",
    )
    bench.add_argument(
        "--min-top1",
        type=_share,
        metavar="SHARE",
        help="exit 1 when top-1 is below SHARE (0 to 1, e.g. 0.95)",
    )
    bench.add_argument("-o", "--output", choices=("text", "json", "markdown"), default="text")
    bench.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    bench.set_defaults(run=_bench)
    for command in commands.choices.values():
        _debug_flag(command, default=argparse.SUPPRESS)  # the top-level flag's value stands
    return parser


def _console(stream: object, no_color: bool) -> Console:
    from rich.console import Console  # noqa: PLC0415

    return Console(
        file=stream,  # type: ignore[arg-type]
        no_color=no_color or bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=True,
    )


def _load_snapshot(paths: Sequence[str], errors: Console, namespace: str) -> Snapshot:
    """The bundle's snapshot; objects that name no namespace go to `namespace`."""
    from why5xx import api  # noqa: PLC0415

    return api.load_snapshot(paths, None, namespace, warn=_warner(errors))


def _warner(errors: Console) -> Callable[[str], None]:
    """What could not be read, as `why5xx: ...` lines on stderr."""
    return lambda message: errors.print(f"why5xx: {message}", markup=False)


def _exit_code(reports: Sequence[Report]) -> int:
    """1 when a cause was found, else 3 when a target could not be judged
    (never 0: a CI gate must not read "unknown" as "healthy"), else 0."""
    from why5xx.model import Status  # noqa: PLC0415

    if any(r.status in (Status.FAILING, Status.DEGRADED, Status.LIKELY) for r in reports):
        return EXIT_FOUND
    return EXIT_UNKNOWN if any(r.status is Status.UNKNOWN for r in reports) else EXIT_OK


def _with_timelines(
    args: argparse.Namespace,
    snap: Snapshot,
    reports: Sequence[Report],
    logs: LogSummary | None = None,
) -> list[Report]:
    """The reports with their timelines, for the outputs that show them; with
    `--all`, of the Services that are not healthy (a namespace of healthy
    Services would otherwise make a page of megabytes)."""
    if args.output not in ("markdown", "html") and not (args.timeline and args.output == "json"):
        return list(reports)
    from why5xx import timeline  # noqa: PLC0415 (only these outputs need it)
    from why5xx.model import Status  # noqa: PLC0415

    return [
        report
        if args.all and report.status is Status.HEALTHY
        else timeline.attach(snap, report, logs)
        for report in reports
    ]


def _render_report(output: str, report: Report, *, verbose: bool) -> RenderableType | str:
    """`verbose`: the text lists each rule not checked."""
    from why5xx.report import json as json_report  # noqa: PLC0415
    from why5xx.report import text as text_report  # noqa: PLC0415

    if output == "json":
        return json_report.render_report(report)
    if output == "markdown":
        from why5xx.report import markdown  # noqa: PLC0415 (jinja2 only when asked for)

        return markdown.render_report(report)
    if output == "html":
        from why5xx.report import html  # noqa: PLC0415 (see markdown)

        return html.render_report(report)
    return text_report.render_report(report, verbose=verbose)


def _render_reports(output: str, reports: Sequence[Report]) -> RenderableType | str:
    """`--all`: every report, worst first."""
    from why5xx.report import json as json_report  # noqa: PLC0415
    from why5xx.report import text as text_report  # noqa: PLC0415

    if output == "json":
        return json_report.render_reports(reports)
    if output == "markdown":
        from why5xx.report import markdown  # noqa: PLC0415 (see _render_report)

        return markdown.render_reports(reports)
    if output == "html":
        from why5xx.report import html  # noqa: PLC0415 (see _render_report)

        return html.render_reports(reports)
    return text_report.render_summary(reports)


def _diagnose(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx.engine import Target, TargetNotFound, diagnose, diagnose_all, holdings  # noqa: PLC0415
    from why5xx.snapshot import DEFAULT_NAMESPACE  # noqa: PLC0415
    from why5xx.sources import decode  # noqa: PLC0415

    # `--bundle a.yaml checkout`: the target went into the list of paths.
    several = args.bundle and len(args.bundle) > 1
    swallowed = args.bundle[-1] if several and not args.target and not args.all else None
    if swallowed is not None and swallowed != "-" and not Path(swallowed).exists():
        raise InputError(
            f"--bundle took {swallowed!r}, which is no file or directory: name the target "
            f"before --bundle (why5xx diagnose {swallowed} --bundle ...)"
        )
    if args.all == bool(args.target):
        raise InputError("name one target (e.g. service/checkout) or pass --all, not both")
    if args.no_cache:
        decode.set_cache(False)
    if args.bundle:
        namespace = args.namespace or DEFAULT_NAMESPACE
        snap = _load_snapshot(args.bundle, err, namespace)
    else:
        snap, namespace = _live_snapshot(args, err)
    rendered: RenderableType | str
    if args.all and args.logs:
        raise InputError("--logs needs one target (e.g. service/checkout), not --all")
    if args.all:
        reports = diagnose_all(snap, None if args.all_namespaces else namespace)
        if not reports:
            raise InputError(f"no Services in namespace {namespace!r}; {holdings(snap)}")
        reports = _with_timelines(args, snap, reports)
        rendered = _render_reports(args.output, reports)
    else:
        try:
            target = Target.parse(args.target, namespace)
            evidence = _log_evidence(args, snap, target, err) if args.logs else None
            report = diagnose(snap, target, logs=evidence)
        except (ValueError, TargetNotFound) as exc:
            raise InputError(str(exc)) from exc
        reports = _with_timelines(args, snap, [report], evidence)
        rendered = _render_report(args.output, reports[0], verbose=args.verbose)
    _print(out, rendered)
    return _exit_code(reports)


def _print(out: Console, rendered: RenderableType | str) -> None:
    """A document (JSON, Markdown, HTML) as it is: no markup, no highlighting and
    no `:emoji:` codes replaced (a log line or a label may hold one)."""
    if not isinstance(rendered, str):
        out.print(rendered)
        return
    end = "" if rendered.endswith("\n") else "\n"
    out.print(rendered, markup=False, highlight=False, emoji=False, end=end)


def _cluster(args: argparse.Namespace) -> AbstractContextManager[KubeApi]:
    """A connection to the cluster of `--context`/`--kubeconfig`; what makes
    the cluster unusable becomes one line and exit 2."""
    from why5xx import api  # noqa: PLC0415

    cluster = api.Cluster(
        context=args.context,
        kubeconfig=args.kubeconfig,
        request_timeout=args.request_timeout,
        deadline=args.timeout,
    )
    return api.connect(cluster)


def _print_calls(calls: Sequence[ApiCall], seconds: float, err: Console) -> None:
    for call in calls:
        err.print(f"why5xx: {call}", markup=False)
    err.print(f"why5xx: {len(calls)} API calls in {seconds:.3f} s", markup=False)


def _live_snapshot(args: argparse.Namespace, err: Console) -> tuple[Snapshot, str]:
    from why5xx.engine import Target, read_plan  # noqa: PLC0415
    from why5xx.sources import live  # noqa: PLC0415 (see _cluster)

    with _cluster(args) as api:
        namespace = args.namespace or api.namespace
        if args.all:
            scope = None if args.all_namespaces else namespace
            read = live.read_namespace(api, scope, plan=read_plan(), required="Service")
        else:
            try:
                target = Target.parse(args.target, namespace)
            except ValueError as exc:
                raise InputError(str(exc)) from exc
            read = live.read_target(api, target.ref, read_plan())
    if args.verbose:
        _print_calls(read.calls, read.seconds, err)
    return read.snapshot, namespace


def _capture(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx.engine import read_plan  # noqa: PLC0415
    from why5xx.sources import capture  # noqa: PLC0415 (see _cluster)

    target = Path(args.output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} exists: name a new directory or .tar.gz file")
    with _cluster(args) as api:
        namespace = None if args.all_namespaces else args.namespace or api.namespace
        result = capture.capture(api, namespace, read_plan())
        calls = api.calls
    if args.verbose:
        _print_calls(calls, sum(c.seconds for c in calls), err)
    manifest = result.manifest
    for kind, reason in manifest.unavailable.items():
        err.print(f"why5xx: {kind}: {reason}", markup=False)
    written = capture.write(result, target)
    redacted = sum(len(r.fields) for r in manifest.redacted)
    out.print(
        f"captured {result.objects} objects of {len(manifest.files)} kinds "
        f"from context {manifest.context} into {written}; "
        f"{redacted} values redacted in {len(manifest.redacted)} objects, Secrets not read",
        markup=False,
        highlight=False,
    )
    return EXIT_OK


def _rules(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx import docs  # noqa: PLC0415 (the rule registry, only when asked for)

    out.print(docs.rule_list(), markup=False, highlight=False, emoji=False)
    return EXIT_OK


def _explain(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx import docs  # noqa: PLC0415 (see _rules)

    try:
        rule = docs.find_rule(args.cause)
    except docs.UnknownCause as exc:
        raise InputError(str(exc)) from exc
    out.print(docs.rule_page(rule), markup=False, highlight=False, emoji=False, end="")
    return EXIT_OK


def _log_evidence(
    args: argparse.Namespace, snap: Snapshot, target: Target, err: Console
) -> LogSummary:
    from why5xx import api  # noqa: PLC0415

    return api.target_logs(args.logs, args.log_format, snap, target, _warner(err))


def _logs(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx import api  # noqa: PLC0415
    from why5xx.report import logs_json, logs_text  # noqa: PLC0415

    summary = api.analyze_logs(
        args.files, log_format=args.format, bundle=args.bundle, warn=_warner(err)
    )
    if args.output == "json":
        _print(out, logs_json.render_summary(summary))
    elif args.output == "html":
        from why5xx import timeline  # noqa: PLC0415 (see _with_timelines)
        from why5xx.report import html  # noqa: PLC0415 (see _render_report)

        drawn = timeline.from_logs(summary)
        _print(out, html.render_logs(summary, drawn.to_json() if drawn is not None else None))
    else:
        out.print(logs_text.render_summary(summary))
    return EXIT_FOUND if summary.total_5xx or summary.messages else EXIT_OK


def _lint_input(args: argparse.Namespace, err: Console) -> tuple[Input, str]:
    from why5xx.engine import read_plan  # noqa: PLC0415
    from why5xx.lint.inputs import read_files, read_live  # noqa: PLC0415

    if args.live == bool(args.paths):
        raise InputError("name files or directories of manifests (- for stdin), or --live")
    if not args.live:
        return read_files(args.paths), args.namespace or "default"
    with _cluster(args) as api:
        namespace = args.namespace or api.namespace
        read = read_live(api, None if args.all_namespaces else namespace, read_plan())
    if args.verbose:
        _print_calls(read.calls, sum(c.seconds for c in read.calls), err)
    return read, namespace


def _lint(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx.lint import config as lint_config  # noqa: PLC0415
    from why5xx.lint import docs as lint_docs  # noqa: PLC0415
    from why5xx.lint.checks import CHECKS  # noqa: PLC0415
    from why5xx.lint.model import Unread  # noqa: PLC0415
    from why5xx.lint.runner import lint_applications  # noqa: PLC0415
    from why5xx.report import lint_github, lint_json, lint_sarif, lint_text  # noqa: PLC0415

    if args.fail_on is not None and args.fail_on not in lint_config.FAIL_ON:
        levels = ", ".join(lint_config.FAIL_ON)
        raise InputError(f"--fail-on: {args.fail_on!r} is not one of {levels}")
    if args.min_severity is not None and args.min_severity not in lint_config.MIN_SEVERITY:
        levels = ", ".join(lint_config.MIN_SEVERITY)
        raise InputError(f"--min-severity: {args.min_severity!r} is not one of {levels}")
    try:
        if args.list_checks or args.explain:
            text = lint_docs.check_list() + "\n"
            if args.explain:
                text = lint_docs.check_page(lint_docs.find_check(args.explain))
            out.print(text, markup=False, highlight=False, emoji=False, end="")
            return EXIT_OK
        found = Path(args.config) if args.config else lint_config.find_config(Path.cwd())
        config = lint_config.load_config(found, CHECKS) if found else lint_config.Config()
    except (lint_docs.UnknownCheck, lint_config.ConfigError) as exc:
        raise InputError(str(exc)) from exc
    if args.min_severity is not None:
        config = replace(config, shown_from=lint_config.MIN_SEVERITY[args.min_severity])
    read, namespace = _lint_input(args, err)
    problems = [str(p) for p in (*read.errors, *read.notes)]
    if not read.objects:
        where = ", ".join(args.paths) or "the cluster"
        raise InputError(f"nothing to lint in {where}" + "".join(f"; {p}" for p in problems))
    for problem in problems:
        err.print(f"why5xx: {problem}", markup=False)
    report = lint_applications(
        read.objects, namespace=namespace, releases=read.releases, config=config
    )
    report = replace(
        report, unread=tuple(Unread(source=e.source, message=e.message) for e in read.errors)
    )
    for note in (*report.notes, *report.errors):
        err.print(f"why5xx: {note}", markup=False)
    rendered: RenderableType | str = lint_github.render(report)
    if args.output == "text":
        rendered = lint_text.render(report)
    elif args.output == "json":
        rendered = lint_json.render(report)
    elif args.output == "sarif":
        rendered = lint_sarif.render(report, CHECKS, version=__version__)
    elif args.output == "markdown":
        from why5xx.report import markdown  # noqa: PLC0415 (see _render_report)

        rendered = markdown.render_lint(report)
    if not isinstance(rendered, str):
        out.print(rendered)
    elif rendered:  # no annotations: print nothing at all
        out.print(rendered, markup=False, highlight=False, emoji=False)
    threshold = config.fail_on if args.fail_on is None else lint_config.FAIL_ON[args.fail_on]
    return EXIT_FOUND if report.fails(threshold) else EXIT_OK


def _watch(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx import leader, watch  # noqa: PLC0415 (prometheus_client only for this command)

    host, _, port = args.metrics_address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--metrics-address {args.metrics_address}: give HOST:PORT")
    if not 0 <= args.threshold <= 1 or not args.debounce >= 0:
        raise InputError("--threshold is a share from 0 to 1, --debounce seconds from 0")
    with _cluster(args) as api:
        elector = None
        if args.leader_elect:
            identity = os.environ.get("POD_NAME") or socket.gethostname()
            namespace = args.leader_namespace or api.namespace
            elector = leader.Elector(api, namespace, "why5xx", identity)
        metrics = watch.Metrics()
        watcher = watch.Watcher(
            api,
            args.namespace,
            metrics,
            debounce=args.debounce,
            threshold=args.threshold,
            webhook=args.webhook,
            events=args.events,
            elector=elector,
            notify=_warner(err),
        )
        try:
            server = watch.serve(watcher, (host.strip("[]"), int(port)))
        except OSError as exc:
            raise InputError(f"--metrics-address {args.metrics_address}: {exc.strerror}") from exc
        err.print(
            f"why5xx: watching; metrics on http://{args.metrics_address}/metrics", markup=False
        )
        signal.signal(signal.SIGTERM, lambda *_: watcher.stop.set())
        watcher.start()
        try:
            watcher.stop.wait()
        finally:
            watcher.close()
            server.shutdown()
    return EXIT_OK


def _mcp(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        from why5xx import mcp_server  # noqa: PLC0415 (the MCP SDK only for this command)
    except ImportError as exc:
        raise InputError(f"{exc}: install why5xx with `pip install 'why5xx[mcp]'`") from exc
    if not args.deadline > 0:
        raise InputError("--deadline needs a number of seconds above 0")
    roots = [Path(r).resolve() for r in args.root or [os.getcwd()]]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise InputError(f"--root {', '.join(missing)}: not a directory")
    settings = mcp_server.Settings(
        roots=tuple(roots), deadline=args.deadline, kubeconfig=args.kubeconfig
    )
    server = mcp_server.build_server(settings)
    if args.http:
        err.print(f"why5xx: MCP on http://{args.host}:{args.port}/mcp", markup=False)
        server.run("streamable-http", host=args.host, port=args.port)
    else:
        server.run("stdio")
    return EXIT_OK


@contextmanager
def _progress(err: Console, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for long work, when stderr is a terminal."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("scoring", total=total)
        yield lambda done: progress.advance(task, done)


def _bench(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx.benchmark import corpus, real, score  # noqa: PLC0415

    self_only = bool(args.paths or args.generate or args.export)
    if self_only and args.corpus == CORPUS_REAL:
        raise InputError("--corpus real scores the incident threads: give no PATH or --generate")
    if args.generate is not None and args.generate < 1:
        raise InputError("--generate needs a count of at least 1")
    if args.export and args.paths:
        raise InputError("--export writes generated scenarios: give --generate N, not PATH")
    chosen = corpus.choose([Path(p) for p in args.paths], count=args.generate, seed=args.seed)
    if args.export:
        return _export(chosen, Path(args.export), out)
    real_result = None
    if args.corpus == CORPUS_REAL or (args.corpus == CORPUS_ALL and not self_only):
        cases, errors = real.load_cases()
        with _progress(err, len(cases)) as advance:
            real_result = replace(real.run(cases, progress=advance), errors=tuple(errors))
    self_result = None
    if args.corpus != CORPUS_REAL:
        for error in chosen.errors:
            err.print(f"why5xx: {error}", markup=False)
        if not len(chosen):
            raise InputError(f"no usable scenario in {', '.join(args.paths)}")
        with _progress(err, len(chosen)) as advance:
            self_result = score.run(chosen, advance)
        if chosen.plans:
            self_result = replace(self_result, generated_seconds=chosen.generated_seconds)
    _print_bench(args.output, out, real_result, self_result)
    top1 = self_result.overall.top1 if self_result is not None else None
    if top1 is not None and args.min_top1 is not None and top1 < args.min_top1:
        err.print(f"why5xx: top-1 {top1:.2f} is below --min-top1 {args.min_top1:.2f}", markup=False)
        return EXIT_FOUND
    return EXIT_OK


def _export(chosen: corpus.Corpus, target: Path, out: Console) -> int:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} exists: name a new or empty directory")
    from why5xx.benchmark import generate  # noqa: PLC0415

    written = generate.export(chosen.generated(), target)
    out.print(f"wrote {written} scenarios to {target}", markup=False, highlight=False)
    return EXIT_OK


def _print_bench(
    output: str,
    out: Console,
    real_result: real.RealResult | None,
    self_result: score.BenchResult | None,
) -> None:
    """The real corpus first, then self-consistency."""
    from why5xx.report import bench as bench_report  # noqa: PLC0415
    from why5xx.report import bench_real as bench_real_report  # noqa: PLC0415

    if output == "json":
        rendered = bench_real_report.render_json(real_result, self_result)
        out.print(rendered, markup=False, highlight=False)
        return
    if output == "markdown":
        parts = []
        if real_result is not None:
            parts.append(bench_real_report.render_markdown(real_result))
        if self_result is not None:
            parts.append(bench_report.render_markdown(self_result))
        out.print("\n".join(parts), markup=False, highlight=False, end="")
        return
    if real_result is not None:
        out.print(bench_real_report.render_text(real_result))
    if real_result is not None and self_result is not None:
        out.print()
    if self_result is not None:
        out.print(bench_report.render_text(self_result))


def _printable(text: str) -> str:
    """`text` with control characters (a target name holding ANSI escapes)
    shown escaped instead of sent to the terminal."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _inputs(args: argparse.Namespace) -> str:
    """What a command was reading, for the line that reports an unexpected error."""
    named = [
        *(getattr(args, "bundle", None) or ()),
        *(getattr(args, "files", None) or ()),
        *(getattr(args, "logs", None) or ()),
        *(getattr(args, "paths", None) or ()),
    ]
    if named:
        return ", ".join(named)
    if hasattr(args, "request_timeout"):
        return f"the cluster of context {args.context or '(current)'}"
    return "its built-in data"


def main(argv: Sequence[str] | None = None, prog: str = "why5xx") -> NoReturn:
    args = _parser(prog).parse_args(argv)
    out = _console(sys.stdout, args.no_color)
    err = _console(sys.stderr, args.no_color)
    try:
        code: int = args.run(args, out, err)
    except InputError as exc:
        err.print(f"why5xx: error: {_printable(str(exc))}", markup=False)
        code = EXIT_INPUT
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = EXIT_OK
    except Exception as exc:  # the net: whatever escapes is one line and exit 2, never 1
        if args.debug or os.environ.get("WHY5XX_DEBUG") not in (None, "", "0"):
            raise
        detail = _printable(" ".join(str(exc).split())[:300])
        err.print(
            f"why5xx: error: {args.command} stopped on an unexpected "
            f"{type(exc).__name__} reading {_inputs(args)}"
            + (f": {detail}" if detail else "")
            + " (--debug shows where; please report it)",
            markup=False,
        )
        code = EXIT_INPUT
    sys.exit(code)


def kubectl_plugin() -> NoReturn:
    """`kubectl why5xx ...`: kubectl runs `kubectl-why5xx` from PATH with the
    arguments after the plugin name (KUBECONFIG passes through)."""
    main(prog="kubectl why5xx")
