"""The scenario format shared by the tests and `why5xx bench`, and the one
scorer both use (docs/scenario-format.md).

A scenario is a directory: bundle files (`kubectl get -o yaml|json` output,
any names, optionally gzipped), optional proxy logs (`*.log`, `*.log.gz`),
and the ground truth in `truth.yaml` (or `expected.yaml`, the name the test
corpus uses; one format):

    target: service/checkout      # what to diagnose (NAME, service/NAME, ingress/NAME)
    namespace: shop
    cause: selector-mismatch      # findings[0].cause, or `healthy`
    status: failing               # optional: failing | degraded | healthy | unknown
    http_status: [503]            # optional: codes the verdict must list
    evidence:                     # objects the verdict's evidence must name
      - Service/shop/checkout
    mentions: ["version=v3"]      # text the verdict must contain (title, explanation, fix)
    absent: [crash-loop]          # causes that must not be reported at all
    log_format: ingress-nginx     # optional: read the logs as this format

A generated scenario (`why5xx.benchmark.generate`) holds the same truth with
its objects and log in memory instead of a directory.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from why5xx.engine import Target, diagnose
from why5xx.logmodel import LogSummary
from why5xx.model import Report, Severity, Status
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources import kubeyaml, logs
from why5xx.sources.bundle import Bundle, load_bundle

TRUTH, EXPECTED = "truth.yaml", "expected.yaml"
HEALTHY = "healthy"
LOG_SUFFIXES = (".log", ".log.gz")
# A report that names no cause (exit code 0, or 3 for unknown), and one that
# raises an alarm (exit code 1).
QUIET = frozenset({Status.HEALTHY.value, Status.UNKNOWN.value})
ALARM = frozenset({Status.FAILING.value, Status.DEGRADED.value, Status.LIKELY.value})
TOP_N = 3


class ScenarioError(ValueError):
    """A truth file that cannot be used, as one line naming the file."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Truth:
    """What a correct diagnosis of the scenario says."""

    target: str
    namespace: str
    cause: str
    status: str | None = None
    http_status: tuple[int, ...] = ()
    evidence: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    log_format: str | None = None

    @property
    def faulty(self) -> bool:
        return self.cause != HEALTHY

    @staticmethod
    def from_yaml(data: Any, source: str) -> Truth:
        if not isinstance(data, Mapping):
            raise ScenarioError(f"{source}: not a mapping of truth fields")
        missing = [key for key in ("target", "cause") if not data.get(key)]
        if missing:
            raise ScenarioError(f"{source}: no {' or '.join(missing)}")
        try:
            return Truth(
                target=str(data["target"]),
                namespace=str(data.get("namespace") or "default"),
                cause=str(data["cause"]),
                status=str(data["status"]) if data.get("status") else None,
                http_status=tuple(int(code) for code in _items(data, "http_status")),
                evidence=tuple(str(item) for item in _items(data, "evidence")),
                mentions=tuple(str(item) for item in _items(data, "mentions")),
                absent=tuple(str(item) for item in _items(data, "absent")),
                log_format=str(data["log_format"]) if data.get("log_format") else None,
            )
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{source}: {exc}") from exc

    def to_yaml(self) -> str:
        data: dict[str, Any] = {
            "target": self.target,
            "namespace": self.namespace,
            "cause": self.cause,
        }
        if self.status:
            data["status"] = self.status
        for key in ("http_status", "evidence", "mentions", "absent"):
            if value := getattr(self, key):
                data[key] = list(value)
        if self.log_format:
            data["log_format"] = self.log_format
        return kubeyaml.dump(data)


def _items(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if isinstance(value, str | int):
        return [value]
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A target, its cluster state (files, or objects in memory), optional
    proxy logs, and the truth about it."""

    name: str
    truth: Truth
    path: Path | None = None
    documents: tuple[Mapping[str, Any], ...] = ()  # in memory (generated)
    log: bytes | None = None  # in memory (generated)
    note: str = ""  # what happened, in a sentence (generated scenarios)

    @property
    def bundle(self) -> list[str]:
        """The bundle files of a scenario directory."""
        return [str(p) for p in self._files() if not p.name.endswith(LOG_SUFFIXES)]

    @property
    def log_files(self) -> list[str]:
        return [str(p) for p in self._files() if p.name.endswith(LOG_SUFFIXES)]

    def _files(self) -> list[Path]:
        if self.path is None:
            return []
        return sorted(
            p for p in self.path.iterdir() if p.is_file() and p.name not in (TRUTH, EXPECTED)
        )


def load_scenario(path: Path, name: str | None = None) -> Scenario:
    """The scenario in directory `path`; ScenarioError when its truth file
    is missing or unusable."""
    truth_file = path / TRUTH if (path / TRUTH).is_file() else path / EXPECTED
    try:
        data = kubeyaml.load(truth_file.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{truth_file}: {exc}") from exc
    except kubeyaml.YamlError as exc:
        raise ScenarioError(f"{truth_file}: {' '.join(str(exc).split())}") from exc
    return Scenario(name=name or path.name, truth=Truth.from_yaml(data, str(truth_file)), path=path)


def scenario_dirs(root: Path) -> list[Path]:
    """Every directory under `root` (itself included) that holds a truth file."""
    found = {p.parent for name in (TRUTH, EXPECTED) for p in root.rglob(name) if p.is_file()}
    return sorted(found)


def all_scenarios(root: Path) -> list[Scenario]:
    """Every scenario under `root`, at any depth, named by its path from
    `root`'s parent (`scenarios/selector-mismatch/version-label-yaml-list`);
    ScenarioError when one cannot be used."""
    scenarios, errors = scenario_sources([root])
    if errors:
        raise ScenarioError("; ".join(errors))
    return scenarios


def read_bundle(scenario: Scenario) -> Bundle:
    """The scenario's objects, read from its files or taken from memory."""
    if scenario.path is not None:
        return load_bundle(scenario.bundle)
    source = f"generated:{scenario.name}"
    return Bundle(
        objects=tuple(Obj.from_raw(raw, source) for raw in scenario.documents),
        errors=(),
        files=(),
    )


def _log_summary(scenario: Scenario, snap: Snapshot, target: Target) -> LogSummary | None:
    paths = scenario.log_files
    if not paths and scenario.log is None:
        return None
    truth = scenario.truth
    fmt = logs.format_named(truth.log_format) if truth.log_format else None
    services = logs.target_services(snap, target.kind, target.namespace, target.name)
    if scenario.log is not None:
        stream = io.BytesIO(scenario.log)
        return logs.summarize_for(["-"], snap, services, fmt=fmt, stdin=stream)
    return logs.summarize_for(paths, snap, services, fmt=fmt)


def diagnose_scenario(scenario: Scenario, snap: Snapshot) -> Report:
    """The diagnosis of the scenario's target, with its logs when it has any.
    Raises what `engine.diagnose` raises for a target that is not there, and
    ValueError for an unknown log format."""
    target = Target.parse(scenario.truth.target, scenario.truth.namespace)
    return diagnose(snap, target, logs=_log_summary(scenario, snap, target))


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    """How a diagnosis compares with the truth: the scores the benchmark adds
    up, and every check the scenario tests assert (`problems`)."""

    expected: str
    predicted: str  # the report's verdict: a cause, `healthy` or `unknown`
    status: str
    ranked: tuple[str, ...]  # the distinct causes the report claims, best first
    evidence_wanted: int
    evidence_named: int
    problems: tuple[str, ...]

    @property
    def top1(self) -> bool:
        return self.predicted == self.expected

    @property
    def top3(self) -> bool:
        if self.expected == HEALTHY:
            return self.top1
        return self.expected in self.ranked[:TOP_N]

    @property
    def false_healthy(self) -> bool:
        """A faulty target reported as having nothing wrong."""
        return self.expected != HEALTHY and self.status in QUIET

    @property
    def false_alarm(self) -> bool:
        """A healthy target reported as failing or degraded."""
        return self.expected == HEALTHY and self.status in ALARM


def judge(scenario: Scenario, report: Report) -> Judgement:
    truth = scenario.truth
    problems = [f"rule {c.rule} crashed on {c.target}: {c.error}" for c in report.crashed]
    found = [f"{f.severity.value} {f.cause}: {f.title}" for f in report.findings]
    if truth.status is not None and report.status.value != truth.status:
        problems.append(f"status {report.status.value}, expected {truth.status}; found {found}")
    reported = {f.cause for f in report.findings}
    problems += [f"{cause} reported, must be absent" for cause in truth.absent if cause in reported]
    claims = report.findings if report.status.value not in QUIET else ()
    ranked = tuple(dict.fromkeys(f.cause for f in claims))
    if not truth.faulty:
        if [f for f in report.findings if f.severity is not Severity.INFO]:
            problems.append(f"healthy target with findings: {found}")
        if not report.healthy_evidence:
            problems.append("healthy needs positive evidence")
        return Judgement(
            expected=truth.cause,
            predicted=report.verdict,
            status=report.status.value,
            ranked=ranked,
            evidence_wanted=0,
            evidence_named=0,
            problems=tuple(problems),
        )
    if not report.findings:
        problems.append("no finding")
        named: set[str] = set()
    else:
        verdict = report.findings[0]
        if verdict.cause != truth.cause:
            problems.append(f"verdict {verdict.cause}, expected {truth.cause}; found {found}")
        # Evidence is scored on the finding of the true cause, wherever it ranks.
        scored = next((f for f in report.findings if f.cause == truth.cause), verdict)
        named = {str(e.object) for e in scored.evidence} if scored.cause == truth.cause else set()
        problems += [
            f"{obj} not in evidence {sorted(named)}" for obj in truth.evidence if obj not in named
        ]
        text = " ".join(
            [verdict.title, verdict.explanation, verdict.fix.summary, verdict.fix.patch or ""]
            + [f"{e.field} {e.observed} {e.expected}" for e in verdict.evidence]
        )
        problems += [
            f"{phrase!r} not in {text!r}" for phrase in truth.mentions if phrase not in text
        ]
        missing_codes = [code for code in truth.http_status if code not in verdict.http_status]
        if missing_codes:
            problems.append(
                f"HTTP {missing_codes} not in the verdict's {list(verdict.http_status)}"
            )
        if not verdict.confirm:
            problems.append("a verdict must say how to confirm it")
        elif not all(c.startswith("kubectl ") for c in verdict.confirm):
            problems.append(f"confirm commands must be kubectl: {list(verdict.confirm)}")
    return Judgement(
        expected=truth.cause,
        predicted=report.verdict,
        status=report.status.value,
        ranked=ranked,
        evidence_wanted=len(truth.evidence),
        evidence_named=sum(1 for obj in truth.evidence if obj in named),
        problems=tuple(problems),
    )


def scenario_sources(paths: Sequence[Path]) -> tuple[list[Scenario], list[str]]:
    """The scenarios under each path, and one line per truth file that could
    not be used (the others are still returned)."""
    scenarios: list[Scenario] = []
    errors: list[str] = []
    for root in paths:
        if not root.is_dir():
            errors.append(f"{root}: not a directory of scenarios")
            continue
        dirs = scenario_dirs(root)
        if not dirs:
            errors.append(f"{root}: no {TRUTH} or {EXPECTED} under it")
        for directory in dirs:
            try:
                scenarios.append(load_scenario(directory, str(directory.relative_to(root.parent))))
            except ScenarioError as exc:
                errors.append(str(exc))
    return scenarios, errors
