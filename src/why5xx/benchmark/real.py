"""The real corpus: public incident threads about Kubernetes 502/503/504,
each stored as what its reporter posted (tests/corpus/real/, format in its
README), and the scorer of `why5xx bench --corpus real`.

A case is run the way its reporter would have run why5xx with what they
had: `why5xx diagnose` on the objects they posted (with their logs), or
`why5xx logs` when they posted only logs. It runs in a child process, so
the score is what a user gets, exit code and Capture next included, from
whatever the command line does today. Each case is judged by what its
artifacts allow:

- `yes` (the artifacts decide it): the verdict is the thread's cause;
- `partly` (they narrow it down): the cause is among the first three;
- `no` (the thread needed more): the report is not a confident wrong
  cause, and its Capture next asks for what the thread later showed was
  needed (`needed`, phrases looked for in the commands).

Causes the thread resolved (`cause_basis: thread`) and causes that are our
reading of the artifacts (`expert`) are counted apart. A case that misses
keeps its `known_miss` reason in its case.yaml; a miss without one is new.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from why5xx.benchmark.corpus import CHECKOUT
from why5xx.causes import RANK
from why5xx.sources import kubeyaml

SCHEMA = "why5xx/bench-real/v1"
ROOT = CHECKOUT / "tests" / "corpus" / "real"
CASE_FILE = "case.yaml"
BUNDLE_DIR, LOGS_DIR = "bundle", "logs"
SOLVABLE = ("yes", "partly", "no")
BASES = ("thread", "expert")
COMMANDS = ("diagnose", "logs")
TOP_N = 3
ERROR = "error"  # the verdict when why5xx printed no report
UNKNOWN = "unknown"
UNCLASSIFIED = "unclassified"
# Statuses that claim a cause outright; `likely` and `unknown` do not.
CONFIDENT = frozenset({"failing", "degraded"})
CAPTURE_KEY = "capture_next"

# argv (after `why5xx`) -> exit code, stdout, stderr
Runner = Callable[[Sequence[str]], tuple[int, str, str]]


class CaseError(ValueError):
    """A case.yaml that cannot be used, as one line naming the file."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One incident thread: what its reporter posted, what it was, and how
    far the posted artifacts decide it."""

    name: str
    url: str
    source: str  # the proxy or platform family: ingress-nginx, istio, gke...
    site: str  # where the thread is: github, blog...
    command: str  # what the reporter could run: diagnose | logs
    target: str | None  # diagnose: service/NAME, ingress/NAME; None: --all
    namespace: str
    cause: str
    basis: str  # thread | expert
    solvable: str  # yes | partly | no
    needed: tuple[str, ...] = ()  # `no`: what Capture next must ask for
    known_miss: str = ""  # why it misses today, when it does
    http_status: tuple[int, ...] = ()
    bundle: tuple[Path, ...] = ()
    logs: tuple[Path, ...] = ()

    def argv(self) -> list[str]:
        """The command the reporter would run, JSON output."""
        logs = [str(p) for p in self.logs]
        bundle = [str(p) for p in self.bundle]
        if self.command == "logs":
            return ["logs", *logs, *(["--bundle", *bundle] if bundle else []), "-o", "json"]
        head = ["diagnose", self.target] if self.target else ["diagnose", "--all"]
        tail = ["--logs", *logs] if logs and self.target else []
        return [*head, "-n", self.namespace, "--bundle", *bundle, *tail, "-o", "json"]


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if isinstance(value, str | int):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return tuple(str(item) for item in value)


def _choice(data: Mapping[str, Any], key: str, allowed: Sequence[str]) -> str:
    value = str(data.get(key) or "")
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _files(directory: Path) -> tuple[Path, ...]:
    if not directory.is_dir():
        return ()
    return tuple(sorted(p for p in directory.iterdir() if p.is_file()))


def load_case(path: Path) -> Case:
    """The case in directory `path`; CaseError when it cannot be used."""
    source = path / CASE_FILE
    try:
        data = kubeyaml.load(source.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{source}: {exc}") from exc
    except kubeyaml.YamlError as exc:
        raise CaseError(f"{source}: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, Mapping):
        raise CaseError(f"{source}: not a mapping of case fields")
    try:
        cause = str(data.get("cause") or "")
        if cause not in RANK:
            raise ValueError(f"cause {cause!r} is not in the catalogue")
        case = Case(
            name=path.name,
            url=str(data["url"]),
            source=str(data["source"]),
            site=str(data.get("site") or "github"),
            command=_choice(data, "command", COMMANDS),
            target=str(data["target"]) if data.get("target") else None,
            namespace=str(data.get("namespace") or "default"),
            cause=cause,
            basis=_choice(data, "cause_basis", BASES),
            solvable=_choice(data, "solvable", SOLVABLE),
            needed=_strings(data, "needed"),
            known_miss=str(data.get("known_miss") or ""),
            http_status=tuple(int(code) for code in _strings(data, "http_status")),
            bundle=_files(path / BUNDLE_DIR),
            logs=_files(path / LOGS_DIR),
        )
    except KeyError as exc:
        raise CaseError(f"{source}: no {exc.args[0]}") from exc
    except ValueError as exc:
        raise CaseError(f"{source}: {exc}") from exc
    if case.command == "diagnose" and not case.bundle:
        raise CaseError(f"{source}: diagnose needs objects in {BUNDLE_DIR}/")
    if case.command == "logs" and not case.logs:
        raise CaseError(f"{source}: logs needs files in {LOGS_DIR}/")
    if case.solvable == "no" and not case.needed:
        raise CaseError(f"{source}: a case not solvable from its artifacts names what was needed")
    return case


def load_cases(root: Path | None = None) -> tuple[list[Case], list[str]]:
    """Every case under `root`, and one line per case.yaml that could not
    be used (the others are still returned); `root` defaults to the
    checkout's corpus."""
    root = root or ROOT
    if not root.is_dir():
        return [], [f"{root}: no real corpus here (it lives in a source checkout)"]
    cases: list[Case] = []
    errors: list[str] = []
    for path in sorted(p.parent for p in root.glob(f"*/{CASE_FILE}")):
        try:
            cases.append(load_case(path))
        except CaseError as exc:
            errors.append(str(exc))
    return cases, errors


# --- asking why5xx -----------------------------------------------------------


def subprocess_runner(argv: Sequence[str]) -> tuple[int, str, str]:
    """`why5xx ARGV` in a child process of this Python, with no cluster in
    reach (no kubeconfig) and no cache written."""
    with tempfile.TemporaryDirectory(prefix="why5xx-real-") as home:
        env = {
            **os.environ,
            "KUBECONFIG": str(Path(home) / "none"),
            "XDG_CACHE_HOME": home,
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
        done = subprocess.run(
            [sys.executable, "-m", "why5xx", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    return done.returncode, done.stdout, done.stderr


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What why5xx said about a case."""

    exit_code: int
    verdict: str  # the top cause, `healthy`, `unknown`, or `error` (no report)
    status: str  # the report's status; `error` without a report
    ranked: tuple[str, ...] = ()  # the distinct causes it names, best first
    capture_next: tuple[str, ...] = ()
    message: str = ""  # its first line on stderr

    @property
    def confident(self) -> bool:
        return self.status in CONFIDENT


def _captures(data: Any) -> Iterator[str]:
    """Every command under a `capture_next` key, at any depth."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == CAPTURE_KEY:
                yield from _texts(value)
            else:
                yield from _captures(value)
    elif isinstance(data, list):
        for item in data:
            yield from _captures(item)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _distinct(causes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(causes))


def _read_diagnosis(doc: Mapping[str, Any], code: int, message: str) -> Answer:
    if doc.get("schema") == "why5xx/diagnosis-list/v1":
        reports = doc.get("reports") or [{}]
        doc = reports[0]
    findings = [f for f in doc.get("findings") or [] if isinstance(f, Mapping)]
    ranked = _distinct(str(f.get("cause")) for f in findings if f.get("severity") != "info")
    status = str(doc.get("status") or UNKNOWN)
    verdict = str(doc.get("verdict") or (ranked[0] if ranked else UNKNOWN))
    return Answer(
        exit_code=code,
        verdict=verdict,
        status=status,
        ranked=ranked,
        capture_next=tuple(_captures(doc)),
        message=message,
    )


def _read_logs(doc: Mapping[str, Any], code: int, message: str) -> Answer:
    """The causes a log summary names, most lines first: the 5xx by cause
    and the recognised messages; an entry with a `cause` claims it, its
    `candidates` (an unclassified 5xx's "fits") are only offered."""
    claims: list[tuple[int, str, bool]] = []
    for entry in [*(doc.get("causes") or []), *(doc.get("messages") or [])]:
        if not isinstance(entry, Mapping):
            continue
        count = int(entry.get("count") or 0)
        if entry.get("cause") and entry["cause"] != UNCLASSIFIED:
            claims.append((count, str(entry["cause"]), True))
        claims += [(count, str(c), False) for c in entry.get("candidates") or []]
    claims.sort(key=lambda claim: -claim[0])  # stable: 5xx before messages of equal count
    named = _distinct(cause for _, cause, _ in claims)
    confident = bool(claims) and claims[0][2]
    return Answer(
        exit_code=code,
        verdict=named[0] if named else UNKNOWN,
        status=("failing" if confident else "likely") if named else UNKNOWN,
        ranked=named,
        capture_next=tuple(_captures(doc)),
        message=message,
    )


def ask(case: Case, runner: Runner = subprocess_runner) -> Answer:
    """Run the case's command and read its JSON; no JSON is an `error`."""
    code, out, err = runner(case.argv())
    message = next((line for line in err.splitlines() if line.strip()), "")
    for path in (*case.bundle, *case.logs):  # the case's own files, by their short names
        message = message.replace(str(path), f"{path.parent.name}/{path.name}")
    try:
        doc = orjson.loads(out) if out.strip() else None
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, Mapping):
        return Answer(exit_code=code, verdict=ERROR, status=ERROR, message=message)
    read = _read_logs if case.command == "logs" else _read_diagnosis
    return read(doc, code, message)


# --- judging -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    case: Case
    answer: Answer
    hit: bool
    problem: str  # why it is not a hit; empty on a hit
    seconds: float = 0.0


def _capture_lacks(case: Case, answer: Answer) -> list[str]:
    commands = [c.lower() for c in answer.capture_next]
    return [n for n in case.needed if not any(n.lower() in c for c in commands)]


def judge(case: Case, answer: Answer, seconds: float = 0.0) -> Outcome:
    """Whether the answer is what the case's judgement asks for."""
    said = f"verdict {answer.verdict} ({answer.status}, exit {answer.exit_code})"
    if answer.verdict == ERROR:
        said = f"no report (exit {answer.exit_code}): {answer.message or 'nothing on stderr'}"
    problem = ""
    if case.solvable == "yes" and answer.verdict != case.cause:
        problem = f"{said}; expected {case.cause}"
    elif case.solvable == "partly" and case.cause not in answer.ranked[:TOP_N]:
        top = ", ".join(answer.ranked[:TOP_N]) or "none"
        problem = f"{case.cause} not in the first {TOP_N} ({top}); {said}"
    elif case.solvable == "no":
        wrong = answer.confident and answer.verdict != case.cause
        lacks = _capture_lacks(case, answer)
        parts = [f"confident wrong cause: {said}"] if wrong else []
        if lacks:
            asked = "; ".join(answer.capture_next) or "nothing"
            parts.append(f"Capture next lacks {', '.join(lacks)} (asks: {asked})")
            if answer.verdict == ERROR:
                parts.append(said)
        problem = "; ".join(parts)
    return Outcome(case=case, answer=answer, hit=not problem, problem=problem, seconds=seconds)


def run(
    cases: Iterable[Case],
    runner: Runner = subprocess_runner,
    progress: Callable[[int], None] | None = None,
) -> RealResult:
    started = time.perf_counter()
    outcomes = []
    for case in cases:
        begun = time.perf_counter()
        answer = ask(case, runner)
        outcomes.append(judge(case, answer, time.perf_counter() - begun))
        if progress is not None:
            progress(1)
    return RealResult(outcomes=tuple(outcomes), seconds=time.perf_counter() - started)


# --- adding up ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """Hits and cases per judgement (yes, partly, no)."""

    hits: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def of(outcomes: Iterable[Outcome]) -> Tally:
        found = list(outcomes)
        return Tally(
            hits=dict(Counter(o.case.solvable for o in found if o.hit)),
            cases=dict(Counter(o.case.solvable for o in found)),
        )

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    def share(self, kind: str) -> float | None:
        cases = self.cases.get(kind, 0)
        return self.hits.get(kind, 0) / cases if cases else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cases": self.total, "hits": self.total_hits}
        for kind in SOLVABLE:
            if self.cases.get(kind):
                share = self.share(kind)
                out[kind] = {
                    "cases": self.cases[kind],
                    "hits": self.hits.get(kind, 0),
                    "share": round(share or 0.0, 4),
                }
        return out


def _grouped(outcomes: Iterable[Outcome], key: Callable[[Outcome], str]) -> dict[str, Tally]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(key(outcome), []).append(outcome)
    return {name: Tally.of(found) for name, found in groups.items()}


def _cause_key(outcome: Outcome) -> str:
    return outcome.case.cause


@dataclass(frozen=True, slots=True, kw_only=True)
class RealResult:
    outcomes: tuple[Outcome, ...]
    seconds: float
    errors: tuple[str, ...] = ()  # case files that could not be used

    @property
    def overall(self) -> Tally:
        return Tally.of(self.outcomes)

    def by_basis(self) -> dict[str, Tally]:
        tallies = _grouped(self.outcomes, lambda o: o.case.basis)
        return {basis: tallies[basis] for basis in BASES if basis in tallies}

    def by_source(self) -> dict[str, Tally]:
        tallies = _grouped(self.outcomes, lambda o: o.case.source)
        return dict(sorted(tallies.items(), key=lambda kv: (-kv[1].total, kv[0])))

    def by_cause(self) -> dict[str, Tally]:
        tallies = _grouped(self.outcomes, _cause_key)
        return dict(sorted(tallies.items(), key=lambda kv: RANK.get(kv[0], len(RANK))))

    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.hit]

    def new_misses(self) -> list[Outcome]:
        """Misses with no reason recorded in their case.yaml."""
        return [o for o in self.misses() if not o.case.known_miss]

    def fixed(self) -> list[Outcome]:
        """Hits whose case.yaml still records a reason for missing."""
        return [o for o in self.outcomes if o.hit and o.case.known_miss]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "overall": {**self.overall.to_json(), "seconds": round(self.seconds, 3)},
            "by_basis": {k: t.to_json() for k, t in self.by_basis().items()},
            "by_source": {k: t.to_json() for k, t in self.by_source().items()},
            "by_cause": {k: t.to_json() for k, t in self.by_cause().items()},
            "cases": [_case_json(o) for o in self.outcomes],
            "errors": list(self.errors),
        }


def _case_json(outcome: Outcome) -> dict[str, Any]:
    case, answer = outcome.case, outcome.answer
    out: dict[str, Any] = {
        "case": case.name,
        "url": case.url,
        "source": case.source,
        "cause": case.cause,
        "basis": case.basis,
        "solvable": case.solvable,
        "hit": outcome.hit,
        "verdict": answer.verdict,
        "status": answer.status,
        "ranked": list(answer.ranked),
        "exit_code": answer.exit_code,
    }
    if answer.capture_next:
        out["capture_next"] = list(answer.capture_next)
    if outcome.problem:
        out["problem"] = outcome.problem
    if case.known_miss:
        out["known_miss"] = case.known_miss
    return out
