"""The command line: parses flags, wires sources -> snapshot -> engine ->
report, prints, and exits. The only module that prints or exits."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console, RenderableType

from why5xx import __version__, docs
from why5xx.engine import Target, TargetNotFound, diagnose, diagnose_all
from why5xx.model import Report, Status
from why5xx.report import json as json_report
from why5xx.report import logs_json, logs_text
from why5xx.report import text as text_report
from why5xx.snapshot import Snapshot
from why5xx.sources import decode, logs
from why5xx.sources.bundle import load_bundle

if TYPE_CHECKING:
    from why5xx.sources.kubeapi import ApiCall, KubeApi

EXIT_OK, EXIT_FOUND, EXIT_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad usage or unusable input: one line for the user, exit 2."""


def _cluster_flags() -> argparse.ArgumentParser:
    """kubectl's flags for reaching a cluster, shared by the live commands."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--context", help="kubeconfig context (default: the current one)")
    flags.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    flags.add_argument(
        "--request-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up on an API call after this long (default: 10)",
    )
    flags.add_argument(
        "-v", "--verbose", action="store_true", help="list each API call and its time on stderr"
    )
    return flags


def _parser(prog: str = "why5xx") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Why does this Kubernetes service return 502, 503 or 504?",
    )
    cluster = _cluster_flags()
    parser.add_argument("--version", action="version", version=f"why5xx {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    diag = commands.add_parser(
        "diagnose",
        parents=[cluster],
        help="name the cause of a Service's or Ingress's 5xx, with evidence and a fix",
        description="Name the cause of a Service's or Ingress's 5xx, with evidence and a fix: "
        "live from the cluster of the current kubeconfig context, or from --bundle.",
    )
    diag.add_argument(
        "target",
        nargs="?",
        help="NAME or service/NAME (a Service), ingress/NAME (every backend of an Ingress)",
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
    diag.add_argument("-o", "--output", choices=("text", "json"), default="text")
    diag.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    diag.add_argument(
        "--no-cache",
        action="store_true",
        help="parse YAML bundles again instead of reusing the decoded copy in "
        "$XDG_CACHE_HOME/why5xx (also WHY5XX_NO_CACHE=1)",
    )
    diag.set_defaults(run=_diagnose)

    capture = commands.add_parser(
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

    rules = commands.add_parser(
        "rules",
        help="list the rules: cause id, HTTP status, severity, summary",
        description="List every rule, in causal order (docs/rules/README.md).",
    )
    rules.set_defaults(run=_rules, no_color=False)
    explain = commands.add_parser(
        "explain",
        help="print the documentation of the rule for a cause",
        description="Print the documentation of the rule for CAUSE (docs/rules/CAUSE.md).",
    )
    explain.add_argument("cause", help="a cause id, e.g. selector-mismatch (see `why5xx rules`)")
    explain.set_defaults(run=_explain, no_color=False)

    logs_cmd = commands.add_parser(
        "logs",
        help="summarise the 5xx of proxy logs: by status, service, upstream pod, cause, time",
        description="Summarise the 5xx in proxy logs (ingress-nginx, nginx error.log, "
        "Envoy/Istio, HAProxy, Traefik, AWS ALB; plain or .gz; - for stdin).",
    )
    logs_cmd.add_argument("files", nargs="+", metavar="FILE", help="log files, or - for stdin")
    logs_cmd.add_argument(
        "--format",
        metavar="F",
        help="read every file as F instead of detecting it: "
        + ", ".join(f.name for f in logs.FORMATS),
    )
    logs_cmd.add_argument(
        "--bundle",
        nargs="+",
        action="extend",
        metavar="PATH",
        help="cluster state (`kubectl get -o yaml|json`) to name the pods behind upstreams",
    )
    logs_cmd.add_argument("-o", "--output", choices=("text", "json"), default="text")
    logs_cmd.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    logs_cmd.set_defaults(run=_logs)
    return parser


def _console(stream: object, no_color: bool) -> Console:
    return Console(
        file=stream,  # type: ignore[arg-type]
        no_color=no_color or bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=True,
    )


def _load_snapshot(paths: Sequence[str], errors: Console) -> Snapshot:
    bundle = load_bundle(paths)
    for error in bundle.errors:
        errors.print(f"why5xx: {error}", markup=False)
    if not bundle.objects:
        raise InputError(f"nothing usable in {', '.join(paths)}")
    return bundle.snapshot()


def _exit_code(reports: Sequence[Report]) -> int:
    failing = any(r.status in (Status.FAILING, Status.DEGRADED) for r in reports)
    return EXIT_FOUND if failing else EXIT_OK


def _diagnose(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.all == bool(args.target):
        raise InputError("name one target (e.g. service/checkout) or pass --all, not both")
    if args.no_cache:
        decode.set_cache(False)
    if args.bundle:
        snap = _load_snapshot(args.bundle, err)
        namespace = args.namespace or "default"
    else:
        snap, namespace = _live_snapshot(args, err)
    rendered: RenderableType | str
    if args.all:
        reports = diagnose_all(snap, None if args.all_namespaces else namespace)
        if not reports:
            raise InputError(f"no Services in namespace {namespace!r} of the input")
        rendered = (
            json_report.render_reports(reports)
            if args.output == "json"
            else text_report.render_summary(reports)
        )
    else:
        try:
            target = Target.parse(args.target, namespace)
            report = diagnose(snap, target)
        except (ValueError, TargetNotFound) as exc:
            raise InputError(str(exc)) from exc
        reports = [report]
        rendered = (
            json_report.render_report(report)
            if args.output == "json"
            else text_report.render_report(report)
        )
    if isinstance(rendered, str):
        out.print(rendered, markup=False, highlight=False)
    else:
        out.print(rendered)
    return _exit_code(reports)


@contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[KubeApi]:
    """A connection to the cluster of `--context`/`--kubeconfig`; what makes
    the cluster unusable becomes one line and exit 2."""
    # Imported here: lightkube costs every offline run ~0.1 s otherwise.
    from why5xx.sources.kubeapi import ClusterError, KubeApi, load_config  # noqa: PLC0415

    try:
        api = KubeApi(load_config(args.kubeconfig, args.context), timeout=args.request_timeout)
    except ClusterError as exc:
        raise InputError(str(exc)) from exc
    try:
        yield api
    except ClusterError as exc:
        raise InputError(str(exc)) from exc
    finally:
        api.close()


def _print_calls(calls: Sequence[ApiCall], seconds: float, err: Console) -> None:
    for call in calls:
        err.print(f"why5xx: {call}", markup=False)
    err.print(f"why5xx: {len(calls)} API calls in {seconds:.3f} s", markup=False)


def _live_snapshot(args: argparse.Namespace, err: Console) -> tuple[Snapshot, str]:
    from why5xx.sources import live  # noqa: PLC0415 (see _cluster)

    with _cluster(args) as api:
        namespace = args.namespace or api.namespace
        if args.all:
            read = live.read_namespace(api, None if args.all_namespaces else namespace)
        else:
            try:
                target = Target.parse(args.target, namespace)
            except ValueError as exc:
                raise InputError(str(exc)) from exc
            read = live.read_target(api, target)
    if args.verbose:
        _print_calls(read.calls, read.seconds, err)
    return read.snapshot, namespace


def _capture(args: argparse.Namespace, out: Console, err: Console) -> int:
    from why5xx.sources import capture  # noqa: PLC0415 (see _cluster)

    target = Path(args.output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} exists: name a new directory or .tar.gz file")
    with _cluster(args) as api:
        namespace = None if args.all_namespaces else args.namespace or api.namespace
        result = capture.capture(api, namespace)
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
    out.print(docs.rule_list(), markup=False, highlight=False, emoji=False)
    return EXIT_OK


def _explain(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        rule = docs.find_rule(args.cause)
    except docs.UnknownCause as exc:
        raise InputError(str(exc)) from exc
    out.print(docs.rule_page(rule), markup=False, highlight=False, emoji=False, end="")
    return EXIT_OK


def _logs(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        fmt = logs.format_named(args.format) if args.format else None
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    snap = _load_snapshot(args.bundle, err) if args.bundle else None
    summary = logs.summarize_logs(args.files, fmt=fmt, snapshot=snap)
    for file in summary.files:
        if file.error:
            err.print(f"why5xx: {file.path}: {file.error}", markup=False)
    if all(f.format == logs.UNKNOWN or (f.error and not f.lines) for f in summary.files):
        raise InputError(f"no usable log in {', '.join(args.files)}")
    if args.output == "json":
        out.print(logs_json.render_summary(summary), markup=False, highlight=False)
    else:
        out.print(logs_text.render_summary(summary))
    return EXIT_FOUND if summary.total_5xx else EXIT_OK


def main(argv: Sequence[str] | None = None, prog: str = "why5xx") -> NoReturn:
    args = _parser(prog).parse_args(argv)
    out = _console(sys.stdout, args.no_color)
    err = _console(sys.stderr, args.no_color)
    try:
        code: int = args.run(args, out, err)
    except InputError as exc:
        err.print(f"why5xx: error: {exc}", markup=False)
        code = EXIT_INPUT
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = EXIT_OK
    sys.exit(code)


def kubectl_plugin() -> NoReturn:
    """`kubectl why5xx ...`: kubectl runs `kubectl-why5xx` from PATH with the
    arguments after the plugin name (KUBECONFIG passes through)."""
    main(prog="kubectl why5xx")
