"""The command line: parses flags, wires sources -> snapshot -> engine ->
report, prints, and exits. The only module that prints or exits."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich.console import Console, RenderableType

from why5xx import __version__
from why5xx.engine import Target, TargetNotFound, diagnose, diagnose_all
from why5xx.model import Report, Status
from why5xx.report import json as json_report
from why5xx.report import text as text_report
from why5xx.snapshot import Snapshot
from why5xx.sources.bundle import load_bundle

EXIT_OK, EXIT_FOUND, EXIT_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad usage or unusable input: one line for the user, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="why5xx",
        description="Why does this Kubernetes service return 502, 503 or 504?",
    )
    parser.add_argument("--version", action="version", version=f"why5xx {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    diag = commands.add_parser(
        "diagnose",
        help="name the cause of a Service's or Ingress's 5xx, with evidence and a fix",
        description="Name the cause of a Service's or Ingress's 5xx, with evidence and a fix.",
    )
    diag.add_argument(
        "target",
        nargs="?",
        help="NAME or service/NAME (a Service), ingress/NAME (every backend of an Ingress)",
    )
    diag.add_argument("-n", "--namespace", help="namespace of the target (default: default)")
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
    return Snapshot.build(bundle.objects)


def _exit_code(reports: Sequence[Report]) -> int:
    failing = any(r.status in (Status.FAILING, Status.DEGRADED) for r in reports)
    return EXIT_FOUND if failing else EXIT_OK


def _diagnose(args: argparse.Namespace, out: Console, err: Console) -> int:
    if not args.bundle:
        raise InputError(
            "no input: pass --bundle PATH (a directory or files of `kubectl get -o yaml`, or -)"
        )
    if args.all == bool(args.target):
        raise InputError("name one target (e.g. service/checkout) or pass --all, not both")
    snap = _load_snapshot(args.bundle, err)
    namespace = args.namespace or "default"
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


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = _parser().parse_args(argv)
    out = _console(sys.stdout, args.no_color)
    err = _console(sys.stderr, args.no_color)
    try:
        code = _diagnose(args, out, err)
    except InputError as exc:
        err.print(f"why5xx: error: {exc}", markup=False)
        code = EXIT_INPUT
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = EXIT_OK
    sys.exit(code)
