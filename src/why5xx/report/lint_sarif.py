"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

One run; the driver lists every check as a rule (its code as `id`, its
name, summary, documentation as `help`, its level as the default
configuration). Each finding is a result with the file and line of the
object (`physicalLocation`, relative to the working directory when it is
below it), the object itself (`logicalLocations`), the objects it
disagrees with (`relatedLocations`), a fingerprint that survives line
moves, and, when suppressed by an annotation, an `inSource` suppression
with the reason. A crashed check makes the invocation unsuccessful, with a
notification. The tests validate the output against the OASIS schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import orjson

from why5xx.lint.base import Check
from why5xx.lint.model import Finding, Level, LintReport, Location
from why5xx.model import ObjectRef

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "note"}


def _uri(path: str, root: Path) -> str:
    """A path as a URI reference: relative (with /) below `root`, else a file URI."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(root):
        return PurePath(resolved.relative_to(root)).as_posix()
    return resolved.as_uri()


def _location(where: Location, obj: ObjectRef, root: Path) -> dict[str, Any]:
    location: dict[str, Any] = {
        "logicalLocations": [{"fullyQualifiedName": str(obj), "kind": "resource"}]
    }
    if where.path is not None and where.path != "<stdin>":
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(where.path, root)}}
        if where.line:
            physical["region"] = {"startLine": where.line}
        location["physicalLocation"] = physical
    return location


def _rule(check: Check) -> dict[str, Any]:
    return {
        "id": check.code,
        "name": check.name,
        "shortDescription": {"text": check.summary},
        "fullDescription": {"text": check.doc.partition("\n\n")[2].partition("\n\n")[0]},
        "help": {"text": check.doc, "markdown": check.doc},
        "defaultConfiguration": {"level": _LEVEL[check.level]},
        "properties": {"tags": ["kubernetes", "reliability", check.scope.value]},
    }


def _fingerprint(finding: Finding) -> str:
    identity = f"{finding.code}\0{finding.object}\0{finding.field}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _result(finding: Finding, index: int, root: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": _LEVEL[finding.level],
        "message": {"text": f"{finding.message}. Fix: {finding.fix}"},
        "locations": [_location(finding.location, finding.object, root)],
        "partialFingerprints": {"why5xxFinding/v1": _fingerprint(finding)},
        "properties": {"field": finding.field},
    }
    if finding.related:
        result["relatedLocations"] = [
            {
                "id": position,
                "message": {"text": str(related.object)},
                **_location(related.location, related.object, root),
            }
            for position, related in enumerate(finding.related)
        ]
    if finding.suppressed is not None:
        result["suppressions"] = [{"kind": "inSource", "justification": finding.suppressed}]
    return result


def render(
    report: LintReport, checks: Sequence[Check], *, version: str, root: Path | None = None
) -> str:
    root = (root or Path.cwd()).resolve()
    index = {check.code: position for position, check in enumerate(checks)}
    notifications = [
        {
            "level": "error",
            "message": {"text": str(error)},
            "associatedRule": {"id": error.code, "index": index[error.code]},
            "locations": [_location(error.location, error.object, root)],
        }
        for error in report.errors
    ]
    run = {
        "tool": {
            "driver": {
                "name": "why5xx",
                "version": version,
                "rules": [_rule(c) for c in checks],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not report.errors,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": [_result(f, index[f.code], root) for f in report.listed],
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
