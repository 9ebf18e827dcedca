"""The real corpus (tests/corpus/real): every case loads, its artifacts are
what YAML readers and `why5xx` read, the README cites every thread, the scorer
judges `yes`, `partly` and `no` as documented, and the whole corpus, run as
its reporters would run why5xx, has no miss without a recorded reason and
scores at least the floor recorded in floor.yaml."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from test_cli import run
from why5xx.benchmark import real
from why5xx.causes import RANK
from why5xx.sources import decode, kubeyaml
from why5xx.sources.bundle import load_bundle

ROOT = Path(__file__).parent / "corpus" / "real"
FLOOR = ROOT / "floor.yaml"
# A case the engine gets right today: its only log line names the cause.
SIMPLE = "ingress-nginx-eshop-846"


def _case(**fields: object) -> real.Case:
    base = real.Case(
        name="t",
        url="https://example.invalid/1",
        source="ingress-nginx",
        site="github",
        command="diagnose",
        target="service/api",
        namespace="shop",
        cause="selector-mismatch",
        basis="thread",
        solvable="yes",
        bundle=(Path("svc.yaml"),),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def _runner(code: int, doc: object, err: str = "") -> real.Runner:
    out = orjson.dumps(doc).decode() if doc is not None else ""

    def answer(argv: Sequence[str]) -> tuple[int, str, str]:
        return code, out, err

    return answer


def _diagnosis(status: str, *causes: str, capture: list[str] | None = None) -> dict[str, object]:
    doc: dict[str, object] = {
        "schema": "why5xx/diagnosis/v1",
        "status": status,
        "verdict": causes[0] if causes else "unknown",
        "findings": [{"cause": c, "severity": "critical"} for c in causes],
    }
    if capture is not None:
        doc["capture_next"] = capture
    return doc


# --- the corpus --------------------------------------------------------------


def test_every_case_loads_and_the_corpus_is_wide() -> None:
    cases, errors = real.load_cases(ROOT)
    assert errors == []
    assert len(cases) >= 40
    assert len({c.url + c.name for c in cases}) == len(cases)
    assert len({c.source for c in cases}) >= 6
    assert {c.solvable for c in cases} == set(real.SOLVABLE)
    assert {c.basis for c in cases} == set(real.BASES)
    assert all(c.cause in RANK for c in cases)


def test_posted_objects_read_as_objects() -> None:
    """Each bundle file is YAML that why5xx reads without an error; the
    posted objects were only reformatted as far as YAML needs."""
    cases, _ = real.load_cases(ROOT)
    for case in cases:
        for path in case.bundle:
            bundle = load_bundle([str(path)])
            assert bundle.errors == (), path
            assert bundle.objects, path


def test_fragments_are_kept_as_text_or_yaml() -> None:
    for path in ROOT.glob("*/fragments/*"):
        text = path.read_text()
        assert text.strip(), path
        if path.suffix == ".yaml":
            documents = decode.yaml_documents(text.encode(), cache=False)
            assert not [d for _, d in documents if isinstance(d, Exception)], path


def test_readme_cites_every_thread() -> None:
    readme = (ROOT / "README.md").read_text()
    cases, _ = real.load_cases(ROOT)
    missing = [c.name for c in cases if c.url not in readme or f"`{c.name}`" not in readme]
    assert missing == []


def test_bad_case_files_are_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "case.yaml").write_text("url: x\nsource: s\ncause: not-a-cause\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "case.yaml").write_text(
        "url: x\nsource: s\ncause: crash-loop\ncommand: logs\ncause_basis: thread\nsolvable: 'no'\n"
    )
    shutil.copytree(ROOT / SIMPLE, tmp_path / SIMPLE)
    cases, errors = real.load_cases(tmp_path)
    assert [c.name for c in cases] == [SIMPLE]
    assert len(errors) == 2
    assert "not-a-cause" in errors[0]
    assert "a/case.yaml" in errors[0]
    assert "b/case.yaml" in errors[1]


# --- the command a reporter would run ----------------------------------------


def test_argv_is_the_reporters_command() -> None:
    with_logs = _case(logs=(Path("c.log"),))
    assert with_logs.argv() == [
        "diagnose", "service/api", "-n", "shop", "--bundle", "svc.yaml",
        "--logs", "c.log", "-o", "json",
    ]  # fmt: skip
    assert _case(target=None).argv()[:2] == ["diagnose", "--all"]
    only_logs = _case(command="logs", bundle=(), logs=(Path("c.log"),))
    assert only_logs.argv() == ["logs", "c.log", "-o", "json"]


# --- judging -----------------------------------------------------------------


def test_yes_needs_the_verdict() -> None:
    case = _case(solvable="yes")
    assert real.judge(case, real.ask(case, _runner(1, _diagnosis("failing", case.cause)))).hit
    second = real.ask(case, _runner(1, _diagnosis("failing", "crash-loop", case.cause)))
    outcome = real.judge(case, second)
    assert not outcome.hit
    assert "verdict crash-loop" in outcome.problem


def test_partly_needs_the_first_three() -> None:
    case = _case(solvable="partly")
    third = _diagnosis("likely", "crash-loop", "oom-killed", case.cause)
    assert real.judge(case, real.ask(case, _runner(1, third))).hit
    fourth = _diagnosis("failing", "crash-loop", "oom-killed", "image-pull", case.cause)
    assert not real.judge(case, real.ask(case, _runner(1, fourth))).hit


def test_no_needs_no_confident_wrong_cause_and_the_capture_asked_for() -> None:
    case = _case(solvable="no", needed=("--show-labels", "endpointslices"))
    asks = ["kubectl get pods -n shop --show-labels", "kubectl get endpointslices -n shop"]
    likely_wrong = _diagnosis("likely", "crash-loop", capture=asks)
    assert real.judge(case, real.ask(case, _runner(1, likely_wrong))).hit
    confident_wrong = real.judge(
        case, real.ask(case, _runner(1, _diagnosis("failing", "crash-loop", capture=asks)))
    )
    assert not confident_wrong.hit
    assert "confident wrong cause" in confident_wrong.problem
    short = real.judge(case, real.ask(case, _runner(3, _diagnosis("unknown", capture=asks[:1]))))
    assert not short.hit
    assert "lacks endpointslices" in short.problem


def test_capture_next_is_read_wherever_the_report_puts_it() -> None:
    case = _case(solvable="no", needed=("-o yaml",))
    doc = _diagnosis("unknown")
    doc["findings"] = [
        {"cause": "crash-loop", "severity": "warning", "capture_next": [{"command": "k -o yaml"}]}
    ]
    answer = real.ask(case, _runner(3, doc))
    assert answer.capture_next == ("k -o yaml",)
    assert real.judge(case, answer).hit


def test_no_report_is_an_error_with_its_message() -> None:
    case = _case(solvable="yes")
    answer = real.ask(case, _runner(2, None, "why5xx: error: service/api not found\n"))
    assert (answer.verdict, answer.status, answer.exit_code) == ("error", "error", 2)
    outcome = real.judge(case, answer)
    assert "no report (exit 2): why5xx: error: service/api not found" in outcome.problem


def test_a_logs_summary_asserts_the_causes_it_names() -> None:
    case = _case(command="logs", solvable="partly", cause="keepalive-race")
    doc = {
        "schema": "why5xx/logs/v1",
        "causes": [
            {"cause": "unclassified", "count": 9},
            {"cause": "upstream-timeout", "count": 3},
            {"cause": "keepalive-race", "count": 1},
        ],
    }
    answer = real.ask(case, _runner(1, doc))
    assert answer.ranked == ("upstream-timeout", "keepalive-race")
    assert answer.confident
    assert real.judge(case, answer).hit
    assert not real.judge(replace(case, solvable="yes"), answer).hit


def test_a_logs_summary_offers_the_candidates_of_its_messages() -> None:
    case = _case(command="logs", solvable="no", cause="keepalive-race", needed=("x",))
    doc = {
        "schema": "why5xx/logs/v1",
        "causes": [
            {"cause": "upstream-timeout", "count": 1},
            {"cause": "unclassified", "count": 1, "candidates": ["listen-localhost"]},
        ],
        "messages": [
            {"cause": None, "candidates": ["keepalive-race", "crash-loop"], "count": 4},
            {"cause": "ingress-class-missing", "candidates": [], "count": 2},
        ],
    }
    answer = real.ask(case, _runner(1, doc))
    assert answer.ranked == (
        "keepalive-race",
        "crash-loop",
        "ingress-class-missing",
        "upstream-timeout",
        "listen-localhost",
    )
    assert answer.status == "likely"  # the most lines only offer candidates
    assert "confident wrong" not in real.judge(case, answer).problem


def test_tables_count_per_judgement() -> None:
    cases = [
        _case(name="a", solvable="yes", source="istio", basis="expert"),
        _case(name="b", solvable="yes", known_miss="no rule yet"),
        _case(name="c", solvable="no", needed=("x",)),
    ]
    hit = _runner(1, _diagnosis("failing", "selector-mismatch", capture=["x"]))
    result = real.run(cases[:1], hit)
    miss = real.run(cases[1:], _runner(0, _diagnosis("healthy")))
    both = replace(result, outcomes=result.outcomes + miss.outcomes)
    assert both.overall.cases == {"yes": 2, "no": 1}
    assert both.overall.hits == {"yes": 1}
    assert set(both.by_source()) == {"istio", "ingress-nginx"}
    assert list(both.by_basis()) == ["thread", "expert"]
    assert [o.case.name for o in both.new_misses()] == ["c"]
    assert both.to_json()["by_cause"]["selector-mismatch"]["yes"]["share"] == 0.5


# --- the command line --------------------------------------------------------


def test_bench_corpus_real_prints_the_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ROOT / SIMPLE, tmp_path / SIMPLE)
    monkeypatch.setattr(real, "ROOT", tmp_path)
    code, out, _ = run(["bench", "--corpus", "real", "-o", "json"], capsys)
    assert code == 0
    doc = orjson.loads(out)
    assert doc["schema"] == real.SCHEMA
    assert doc["cases"][0]["case"] == SIMPLE
    code, out, _ = run(["bench", "--corpus", "real", "-o", "markdown"], capsys)
    assert out.startswith("real corpus: 1 public incident threads")
    assert "| source | n | yes: top-1 |" in out
    code, out, _ = run(["bench", "--corpus", "real", "tests/scenarios"], capsys)
    assert code == 2


def test_bench_reports_the_real_corpus_before_self_consistency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ROOT / SIMPLE, tmp_path / SIMPLE)
    monkeypatch.setattr(real, "ROOT", tmp_path)
    code, out, _ = run(["bench"], capsys)
    assert code == 0
    assert out.index("real corpus:") < out.index("self-consistency (")
    code, out, _ = run(["bench", "-o", "json"], capsys)
    doc = orjson.loads(out)
    assert doc["schema"] == "why5xx/bench/v1"
    assert doc["real"]["schema"] == real.SCHEMA


# --- the whole corpus, as users run it ---------------------------------------


def test_real_corpus_has_no_unexplained_miss_and_keeps_its_floor() -> None:
    cases, _ = real.load_cases(ROOT)
    result = real.run(cases)
    new = [f"{o.case.name}: {o.problem}" for o in result.new_misses()]
    assert new == [], "misses without a known_miss reason in their case.yaml"
    floor = kubeyaml.load(FLOOR.read_text())
    assert result.overall.total_hits >= floor["hits"]
    for basis, tally in result.by_basis().items():
        assert tally.total_hits >= floor["by_basis"][basis], basis
