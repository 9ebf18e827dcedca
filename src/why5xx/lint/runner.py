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
from dataclasses import dataclass

from why5xx.lint.base import Check
from why5xx.lint.checks import CHECKS
from why5xx.lint.config import Config
from why5xx.lint.manifests import Key, Manifests, key
from why5xx.lint.model import CheckError, Finding, LintReport, Location, Problem, Related
from why5xx.snapshot import Obj

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
    return Finding(
        code=check.code,
        name=check.name,
        level=config.level(check),
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
    )
