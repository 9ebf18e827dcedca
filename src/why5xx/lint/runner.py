"""Run the checks over the manifests: stamp each problem with its check's
code and level, honour suppressions, and keep going when a check crashes.

Suppression is an annotation on the object a finding is about:

    metadata:
      annotations:
        why5xx.io/ignore: "W5X401,W5X403 the sidecar drains connections itself"

codes (or check names) separated by commas, then the reason. Suppressed
findings stay in the JSON and SARIF output, marked with the reason (SARIF
`suppressions`), and never count towards `--fail-on`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from why5xx.lint.apps import Application, Releases, applications
from why5xx.lint.base import Check
from why5xx.lint.checks import CHECKS
from why5xx.lint.config import Config
from why5xx.lint.manifests import Key, Manifests, as_written, key
from why5xx.lint.model import CheckError, Finding, LintReport, Location, Problem, Related
from why5xx.snapshot import DEFAULT_NAMESPACE, Obj

IGNORE_ANNOTATION = "why5xx.io/ignore"
_IGNORE = re.compile(
    r"^\s*(?P<ids>[\w.-]+(?:\s*,\s*[\w.-]+)*)\s*(?::\s*|\s+|$)(?P<reason>.*)$", re.S
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignore:
    codes: frozenset[str]
    reason: str


def _ignores(manifests: Manifests, checks: Sequence[Check]) -> tuple[dict[Key, Ignore], list[str]]:
    """Every object's `why5xx.io/ignore` annotation, with notes on those that
    name unknown checks or give no reason."""
    by_id = {c.code: c.code for c in checks} | {c.name: c.code for c in checks}
    found: dict[Key, Ignore] = {}
    notes: list[str] = []
    for obj in manifests.objects:
        if IGNORE_ANNOTATION not in obj.annotations:
            continue
        value = str(obj.annotations[IGNORE_ANNOTATION])
        parsed = _IGNORE.match(value)
        where = f"{obj.ref} ({Location.of(obj)})" if obj.source.startswith("bundle:") else obj.ref
        if parsed is None:
            notes.append(f"{where}: {IGNORE_ANNOTATION} {value!r} names no check code")
            continue
        ids = [i.strip() for i in parsed["ids"].split(",")]
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            notes.append(f"{where}: {IGNORE_ANNOTATION} names unknown check {', '.join(unknown)}")
        reason = parsed["reason"].strip()
        if not reason:
            notes.append(f"{where}: {IGNORE_ANNOTATION} gives no reason after the codes")
        codes = frozenset(by_id[i] for i in ids if i in by_id)
        found[key(obj)] = Ignore(codes=codes, reason=reason or "no reason given")
    return found, notes


def _related(obj: Obj) -> Related:
    return Related(object=obj.ref, location=Location.of(obj))


def _finding(check: Check, config: Config, problem: Problem, ignore: Ignore | None) -> Finding:
    subject = problem.subject
    level = config.level(check)
    if problem.level is not None and problem.level.rank < level.rank:
        level = problem.level
    return Finding(
        code=check.code,
        name=check.name,
        level=level,
        message=problem.message,
        fix=problem.fix,
        object=subject.ref,
        field=problem.field,
        location=Location.of(subject),
        related=tuple(_related(o) for o in problem.related if o is not subject),
        suppressed=ignore.reason if ignore is not None and check.code in ignore.codes else None,
    )


def _order(finding: Finding) -> tuple[str, int, str, str]:
    where = finding.location
    return (where.path or "", where.line or 0, str(finding.object), finding.code)


def lint(
    manifests: Manifests, checks: Sequence[Check] = CHECKS, config: Config | None = None
) -> LintReport:
    """Every enabled check over every object of its scope."""
    config = config or Config()
    ignores, notes = _ignores(manifests, checks)
    findings: list[Finding] = []
    errors: list[CheckError] = []
    for check in checks:
        if check.code in config.disabled:
            continue
        for subject in manifests.subjects(check.scope):
            try:
                problems = list(check.run(manifests, subject))
            except Exception as exc:  # a broken check is reported, the run goes on
                errors.append(
                    CheckError(
                        code=check.code,
                        object=subject.ref,
                        location=Location.of(subject),
                        message=f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            findings.extend(
                _finding(check, config, p, ignores.get(key(p.subject))) for p in problems
            )
    return LintReport(
        findings=tuple(sorted(findings, key=_order)),
        objects=len(manifests.objects),
        errors=tuple(errors),
        notes=tuple(notes),
        shown_from=config.shown_from,
    )


def lint_applications(
    objects: Sequence[Obj],
    *,
    namespace: str = DEFAULT_NAMESPACE,
    releases: Releases | None = None,
    checks: Sequence[Check] = CHECKS,
    config: Config | None = None,
) -> LintReport:
    """Lint each application of the input on its own (`lint/apps.py`); the
    report is the union of theirs, each finding once."""
    config = config or Config()
    placed = as_written(objects, namespace)
    apps = applications(placed, releases, together=config.together)
    reports = [
        report
        for app in apps
        for report in _lint_application(app, namespace=namespace, checks=checks, config=config)
    ]
    findings = {_identity(f): f for report in reports for f in report.findings}
    return LintReport(
        findings=tuple(sorted(findings.values(), key=_order)),
        objects=len(placed),
        errors=tuple(dict.fromkeys(e for r in reports for e in r.errors)),
        notes=tuple(dict.fromkeys(n for r in reports for n in r.notes)),
        shown_from=config.shown_from,
        applications=len(apps),
    )


def _lint_application(
    app: Application, *, namespace: str, checks: Sequence[Check], config: Config
) -> list[LintReport]:
    """The application's report; with alternatives, one per alternative,
    findings about the shared objects kept where every alternative gives them."""
    if not app.alternatives:
        return [lint(Manifests(app.objects, namespace=namespace), checks, config)]
    reports = [
        lint(Manifests((*app.objects, *alternative), namespace=namespace), checks, config)
        for alternative in app.alternatives
    ]
    shared = {o.ref for o in app.objects}
    agreed = set.intersection(
        *({_identity(f) for f in r.findings if f.object in shared} for r in reports)
    )
    return [
        replace(
            report,
            findings=tuple(
                f for f in report.findings if f.object not in shared or _identity(f) in agreed
            ),
        )
        for report in reports
    ]


def _identity(finding: Finding) -> tuple[str, str, str, int, str, str]:
    where = finding.location
    return (
        finding.code,
        str(finding.object),
        where.path or "",
        where.line or 0,
        finding.field,
        finding.message,
    )
