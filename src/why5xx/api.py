"""The Python API: what the CLI prints, as the typed report model.

```python
import why5xx

report = why5xx.diagnose("service/checkout", namespace="shop", bundle=["dump/"])
report.status, report.findings[0].cause      # Status.FAILING, "selector-mismatch"
report.to_json()                             # the `why5xx/diagnosis/v1` document
```

Every function takes its cluster state from exactly one source: `bundle`
(paths of `kubectl get -o yaml|json` output, as `--bundle`), `objects`
(Kubernetes objects already in memory, as dicts), or `context` (a kubeconfig
context, read-only; `None` with no other source means the current context).
Nothing here prints, exits or keeps state between calls: input that cannot be
used raises `Why5xxError` (one line, as the CLI prints it); what could not be
read but left the rest usable goes to `warn`, when given.

Stable within v1: these functions, their keyword arguments, the `Report`,
`LogSummary` and `LintReport` types' fields and `to_json()` documents (the
schemas in `docs/schemas/`). New keyword arguments and new fields may be
added; nothing is renamed or removed before v2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why5xx.engine import Target, TargetNotFound, holdings, read_plan
from why5xx.engine import diagnose as _diagnose
from why5xx.engine import diagnose_all as _diagnose_all
from why5xx.errors import InputError
from why5xx.snapshot import DEFAULT_NAMESPACE, Snapshot
from why5xx.sources.bundle import Bundle, bundle_of, load_bundle

if TYPE_CHECKING:
    from why5xx.lint.model import LintReport
    from why5xx.logmodel import LogSummary
    from why5xx.model import Report
    from why5xx.sources.kubeapi import KubeApi
    from why5xx.sources.logs.reader import LogFormat

__all__ = ["Why5xxError", "analyze_logs", "diagnose", "diagnose_all", "lint"]

Warn = Callable[[str], None]


# Input that cannot be used (a missing file, an unknown target, a cluster that
# refuses access): the message is one line that says what to do.
Why5xxError = InputError


@dataclass(frozen=True, slots=True, kw_only=True)
class Cluster:
    """Where live reads go: a kubeconfig context (None: the current one)."""

    context: str | None = None
    kubeconfig: str | None = None
    request_timeout: float = 10.0
    deadline: float = 30.0  # the whole live read, credential plugin included


def diagnose(
    target: str,
    *,
    namespace: str | None = None,
    bundle: Sequence[str] | None = None,
    objects: Iterable[Mapping[str, Any]] | None = None,
    context: str | None = None,
    kubeconfig: str | None = None,
    request_timeout: float = 10.0,
    logs: Sequence[str] = (),
    log_format: str | None = None,
    warn: Warn | None = None,
) -> Report:
    """Why `target` (`NAME`, `service/NAME`, `ingress/NAME`, `httproute/NAME`)
    answers 5xx. `namespace` defaults to the context's (live) or `default`;
    `logs`, proxy log files whose 5xx confirm and re-rank the causes."""
    cluster = Cluster(context=context, kubeconfig=kubeconfig, request_timeout=request_timeout)
    snap, namespace = _snapshot(bundle, objects, cluster, namespace, target=target, warn=warn)
    try:
        parsed = Target.parse(target, namespace)
        evidence = target_logs(logs, log_format, snap, parsed, warn) if logs else None
        return _diagnose(snap, parsed, logs=evidence)
    except (ValueError, TargetNotFound) as exc:
        raise Why5xxError(str(exc)) from exc


def diagnose_all(
    *,
    namespace: str | None = None,
    all_namespaces: bool = False,
    bundle: Sequence[str] | None = None,
    objects: Iterable[Mapping[str, Any]] | None = None,
    context: str | None = None,
    kubeconfig: str | None = None,
    request_timeout: float = 10.0,
    warn: Warn | None = None,
) -> list[Report]:
    """Every Service of `namespace` (or of every namespace), worst first."""
    cluster = Cluster(context=context, kubeconfig=kubeconfig, request_timeout=request_timeout)
    snap, namespace = _snapshot(
        bundle, objects, cluster, namespace, all_namespaces=all_namespaces, warn=warn
    )
    reports = _diagnose_all(snap, None if all_namespaces else namespace)
    if not reports:
        where = "any namespace" if all_namespaces else f"namespace {namespace!r}"
        raise Why5xxError(f"no Services in {where}; {holdings(snap)}")
    return reports


def analyze_logs(
    files: Sequence[str],
    *,
    log_format: str | None = None,
    bundle: Sequence[str] | None = None,
    objects: Iterable[Mapping[str, Any]] | None = None,
    warn: Warn | None = None,
) -> LogSummary:
    """The 5xx of proxy logs by status, cause, upstream and time; with cluster
    state (`bundle` or `objects`), the pods behind the upstreams."""
    snap = None
    if bundle is not None or objects is not None:
        snap = load_snapshot(bundle, objects, DEFAULT_NAMESPACE, warn)
    from why5xx.sources import logs as log_sources  # noqa: PLC0415 (see parse_log_format)

    summary = log_sources.summarize_logs(files, fmt=parse_log_format(log_format), snapshot=snap)
    if not _usable(summary, warn):
        raise Why5xxError(f"no usable log in {', '.join(files)}")
    return summary


def lint(
    paths: Sequence[str] = (),
    *,
    objects: Iterable[Mapping[str, Any]] | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    config: str | None = None,
    warn: Warn | None = None,
) -> LintReport:
    """The 5xx risks in manifests (files, directories, or `objects`), with
    `config` (a `.why5xx.yaml`) choosing checks and levels."""
    from why5xx.lint import config as lint_config  # noqa: PLC0415 (lint only when asked for)
    from why5xx.lint.checks import CHECKS  # noqa: PLC0415
    from why5xx.lint.inputs import read_files  # noqa: PLC0415
    from why5xx.lint.manifests import Manifests  # noqa: PLC0415
    from why5xx.lint.runner import lint as run_lint  # noqa: PLC0415

    if (objects is None) == (not paths):
        raise Why5xxError("give manifest paths or objects, not both or neither")
    try:
        settings = lint_config.load_config(Path(config), CHECKS) if config else None
    except lint_config.ConfigError as exc:
        raise Why5xxError(str(exc)) from exc
    if objects is not None:
        read = bundle_of(objects)
        found, problems = read.objects, [str(e) for e in read.errors]
    else:
        files = read_files(paths)
        found, problems = files.objects, [str(p) for p in (*files.errors, *files.notes)]
    if not found:
        raise Why5xxError("nothing to lint" + "".join(f"; {p}" for p in problems))
    _warn_all(problems, warn)
    return run_lint(Manifests(found, namespace=namespace), config=settings or lint_config.Config())


def _snapshot(
    bundle: Sequence[str] | None,
    objects: Iterable[Mapping[str, Any]] | None,
    cluster: Cluster,
    namespace: str | None,
    *,
    target: str | None = None,
    all_namespaces: bool = False,
    warn: Warn | None,
) -> tuple[Snapshot, str]:
    """The snapshot of the one source given, and the namespace it defaults to."""
    if bundle is not None and objects is not None:
        raise Why5xxError("give one source of cluster state: bundle or objects, not both")
    if bundle is not None or objects is not None:
        namespace = namespace or DEFAULT_NAMESPACE
        return load_snapshot(bundle, objects, namespace, warn), namespace
    from why5xx.sources import live  # noqa: PLC0415 (lightkube only for live reads)

    with connect(cluster) as api:
        namespace = namespace or api.namespace
        if target is None:
            read = live.read_namespace(api, None if all_namespaces else namespace, plan=read_plan())
        else:
            try:
                read = live.read_target(api, Target.parse(target, namespace).ref, read_plan())
            except ValueError as exc:
                raise Why5xxError(str(exc)) from exc
    return read.snapshot, namespace


def load_snapshot(
    bundle: Sequence[str] | None,
    objects: Iterable[Mapping[str, Any]] | None,
    namespace: str,
    warn: Warn | None,
) -> Snapshot:
    """The snapshot of a bundle or of objects in memory; objects that name no
    namespace go to `namespace`. (Used by the CLI; not part of the stable API.)"""
    read: Bundle = load_bundle(bundle) if bundle is not None else bundle_of(objects or ())
    _warn_all((str(e) for e in (*read.errors, *read.warnings)), warn)
    if not read.objects:
        where = ", ".join(bundle) if bundle is not None else "the objects given"
        raise Why5xxError(f"nothing usable in {where}")
    return read.snapshot(namespace)


@contextmanager
def connect(cluster: Cluster) -> Iterator[KubeApi]:
    """A read-only connection to the cluster of a kubeconfig context; what
    makes it unusable (no kubeconfig, refused, unreachable) is a `Why5xxError`."""
    from why5xx.sources.kubeapi import ClusterError, KubeApi, load_config  # noqa: PLC0415

    try:
        api = KubeApi(
            load_config(cluster.kubeconfig, cluster.context),
            timeout=cluster.request_timeout,
            deadline=cluster.deadline,
        )
    except ClusterError as exc:
        raise Why5xxError(str(exc)) from exc
    try:
        yield api
    except ClusterError as exc:
        raise Why5xxError(str(exc)) from exc
    finally:
        api.close()


def target_logs(
    paths: Sequence[str], log_format: str | None, snap: Snapshot, target: Target, warn: Warn | None
) -> LogSummary:
    """The logs' 5xx for the target's Services. When no file could be read the
    diagnosis rests on the cluster state alone, and `warn` says so."""
    from why5xx.sources import logs as log_sources  # noqa: PLC0415 (see parse_log_format)

    services = log_sources.target_services(snap, target.kind, target.namespace, target.name)
    summary = log_sources.summarize_for(paths, snap, services, fmt=parse_log_format(log_format))
    if not _usable(summary, warn):
        _warn_all([f"no usable log in {', '.join(paths)}; diagnosing without logs"], warn)
    return summary


def parse_log_format(name: str | None) -> LogFormat | None:
    """The log format named by `--log-format`/`--format` (None: detect it)."""
    # The log readers only where logs are read: a diagnosis without them
    # does not pay for their import.
    from why5xx.sources import logs as log_sources  # noqa: PLC0415

    try:
        return log_sources.format_named(name) if name else None
    except ValueError as exc:
        raise Why5xxError(str(exc)) from exc


def _usable(summary: LogSummary, warn: Warn | None) -> bool:
    """Say which logs could not be (fully) read, or held nothing known;
    whether any could."""
    problems = [
        f"{file.path}: {file.error}"
        if file.error
        else f"{file.path}: none of its {file.lines:,} lines reads as {file.format}"
        for file in summary.files
        if file.error or (not file.usable and file.lines)
    ]
    _warn_all(problems, warn)
    return any(f.usable for f in summary.files)


def _warn_all(messages: Iterable[str], warn: Warn | None) -> None:
    if warn is not None:
        for message in messages:
            warn(message)
