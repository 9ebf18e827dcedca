"""`why5xx bench`: the scorer on known inputs, the generator (deterministic,
its faults diagnosed as their causes, its healthy shapes healthy), the
`why5xx/bench/v1` document, the scenario format, and the command line."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import orjson
import pytest

from test_cli import run
from why5xx.benchmark import corpus, score
from why5xx.benchmark.faults import FAULTS, Fault
from why5xx.benchmark.generate import EPOCH, export, generate, scenario
from why5xx.benchmark.shapes import SHAPES, noise
from why5xx.benchmark.workloads import apps_of
from why5xx.benchmark.world import World
from why5xx.causes import CAUSES
from why5xx.engine import Target, diagnose
from why5xx.model import Status
from why5xx.scenarios import (
    Judgement,
    Scenario,
    ScenarioError,
    Truth,
    all_scenarios,
    diagnose_scenario,
    judge,
    load_scenario,
    read_bundle,
    scenario_sources,
)
from why5xx.snapshot import Obj, Snapshot

SCENARIOS = Path(__file__).parent / "scenarios"
MISMATCH = SCENARIOS / "selector-mismatch" / "version-label-yaml-list"
HEALTHY_DIR = SCENARIOS / "healthy" / "selector-with-lookalike-pods"


# --- the scorer ------------------------------------------------------------------


def _outcome(
    expected: str,
    predicted: str,
    status: str,
    *,
    ranked: tuple[str, ...] = (),
    evidence: tuple[int, int] = (0, 0),
    baseline: str = "healthy",
    seconds: float = 0.01,
) -> score.Outcome:
    truth = Truth(target="service/x", namespace="ns", cause=expected)
    judgement = Judgement(
        expected=expected,
        predicted=predicted,
        status=status,
        ranked=ranked or ((predicted,) if status in ("failing", "degraded") else ()),
        evidence_wanted=evidence[0],
        evidence_named=evidence[1],
        problems=() if expected == predicted else ("wrong",),
    )
    return score.Outcome(
        scenario=Scenario(name=f"case/{expected}-{predicted}", truth=truth),
        judgement=judgement,
        baseline=baseline,
        seconds=seconds,
    )


KNOWN = score.BenchResult(
    outcomes=(
        _outcome("crash-loop", "crash-loop", "failing", evidence=(1, 1), baseline="no-endpoints"),
        _outcome(
            "crash-loop",
            "oom-killed",
            "failing",
            ranked=("oom-killed", "crash-loop"),
            evidence=(1, 0),
            baseline="no-endpoints",
        ),
        _outcome("selector-mismatch", "healthy", "healthy", evidence=(2, 0)),
        _outcome("healthy", "healthy", "healthy"),
        _outcome("healthy", "keepalive-race", "degraded"),
    ),
    seconds=1.0,
)


def test_known_outcomes_give_known_scores() -> None:
    overall = KNOWN.overall
    assert (overall.scenarios, overall.faulty, overall.healthy) == (5, 3, 2)
    assert overall.top1 == pytest.approx(2 / 5)
    assert overall.top3 == pytest.approx(3 / 5)  # crash-loop second counts for top-3
    assert (overall.false_healthy, overall.false_alarms) == (1, 1)
    assert overall.evidence_recall == pytest.approx(1 / 4)
    assert overall.mean_seconds == pytest.approx(0.01)
    per_cause = KNOWN.per_cause()
    assert list(per_cause) == ["selector-mismatch", "crash-loop", "healthy"]  # causal order
    assert per_cause["crash-loop"].top1 == pytest.approx(0.5)
    assert per_cause["crash-loop"].top3 == 1.0
    assert per_cause["healthy"].false_alarms == 1
    assert KNOWN.confusion() == {
        "selector-mismatch": {"healthy": 1},
        "crash-loop": {"oom-killed": 1, "crash-loop": 1},
        "healthy": {"keepalive-race": 1, "healthy": 1},
    }
    assert [o.expected for o in KNOWN.misses()] == ["selector-mismatch", "crash-loop", "healthy"]
    assert [cause for cause, _ in score.worst(per_cause, 2)] == ["selector-mismatch", "healthy"]


def test_the_baseline_detects_only_missing_endpoints() -> None:
    overall = KNOWN.overall
    assert overall.baseline_top1 == pytest.approx(2 / 5)  # the two healthy controls
    assert overall.baseline_detected == pytest.approx(4 / 5)
    assert (overall.baseline_false_healthy, overall.baseline_false_alarms) == (1, 0)


def test_json_is_the_bench_v1_contract() -> None:
    document = orjson.loads(orjson.dumps(KNOWN.to_json()))
    assert document["schema"] == "why5xx/bench/v1"
    assert set(document) >= {"overall", "per_cause", "confusion", "misses"}
    overall = document["overall"]
    assert set(overall) >= {"scenarios", "top1", "top3", "false_healthy", "false_alarms", "seconds"}
    assert (overall["scenarios"], overall["top1"], overall["top3"]) == (5, 0.4, 0.6)
    assert (overall["false_healthy"], overall["false_alarms"]) == (1, 1)
    assert document["per_cause"]["crash-loop"] | {"seconds": 0} == {
        "scenarios": 2,
        "top1": 0.5,
        "top3": 1.0,
        "false_healthy": 0,
        "evidence_recall": 0.5,
        "seconds": 0,
        "seconds_per_scenario": 0.01,
    }
    assert document["confusion"]["crash-loop"] == {"oom-killed": 1, "crash-loop": 1}
    miss = document["misses"][0]
    assert set(miss) >= {"scenario", "expected", "predicted", "status", "problems"}
    baseline = document["baselines"]["kubectl-only"]["overall"]
    assert (baseline["top1"], baseline["detected"]) == (0.4, 0.8)


# --- the scenario format and the judge --------------------------------------------


def test_judge_scores_a_report_against_the_truth() -> None:
    found = load_scenario(MISMATCH)
    bundle = read_bundle(found)
    report = diagnose_scenario(found, bundle.snapshot())
    right = judge(found, report)
    assert (right.top1, right.top3, right.problems) == (True, True, ())
    assert right.evidence_named == right.evidence_wanted == 2

    wrong_truth = Truth(
        target="service/checkout",
        namespace="shop",
        cause="no-matching-workload",
        evidence=("Service/shop/checkout",),
    )
    wrong = judge(Scenario(name="wrong", truth=wrong_truth), report)
    assert not wrong.top1
    assert not wrong.top3
    assert wrong.evidence_named == 0
    assert any("verdict selector-mismatch" in p for p in wrong.problems)


def test_a_healthy_truth_needs_a_healthy_report() -> None:
    found = load_scenario(HEALTHY_DIR)
    report = diagnose_scenario(found, read_bundle(found).snapshot())
    assert judge(found, report).top1
    faulty = Scenario(name="x", truth=Truth(target="api", namespace="shop", cause="crash-loop"))
    judgement = judge(faulty, report)
    assert judgement.false_healthy
    assert not judgement.top3


def _write_scenario(where: Path, truth_name: str, cause: str) -> Path:
    where.mkdir(parents=True)
    for source in MISMATCH.iterdir():
        if source.name != "expected.yaml":
            (where / source.name).write_bytes(source.read_bytes())
    (where / truth_name).write_text(
        f"target: service/checkout\nnamespace: shop\ncause: {cause}\nhttp_status: [503]\n"
    )
    return where


def test_truth_yaml_and_expected_yaml_are_one_format(tmp_path: Path) -> None:
    _write_scenario(tmp_path / "corpus" / "a", "truth.yaml", "selector-mismatch")
    both = _write_scenario(tmp_path / "corpus" / "deep" / "b", "expected.yaml", "crash-loop")
    (both / "truth.yaml").write_text("target: service/checkout\nnamespace: shop\ncause: x\n")
    found = all_scenarios(tmp_path / "corpus")
    assert [(s.name, s.truth.cause) for s in found] == [
        ("corpus/a", "selector-mismatch"),
        ("corpus/deep/b", "x"),  # truth.yaml wins over expected.yaml
    ]
    assert found[0].truth.http_status == (503,)
    assert [Path(p).name for p in found[0].bundle] == ["bundle.yaml"]


def test_an_unusable_truth_is_named_and_the_rest_still_used(tmp_path: Path) -> None:
    _write_scenario(tmp_path / "corpus" / "good", "truth.yaml", "selector-mismatch")
    bad = tmp_path / "corpus" / "bad"
    bad.mkdir()
    (bad / "truth.yaml").write_text("namespace: shop\n")
    found, errors = scenario_sources([tmp_path / "corpus", tmp_path / "missing"])
    assert [s.name for s in found] == ["corpus/good"]
    assert errors[0].endswith("bad/truth.yaml: no target or cause")
    assert "not a directory" in errors[1]
    with pytest.raises(ScenarioError, match="no target or cause"):
        all_scenarios(tmp_path / "corpus")


# --- the generator ------------------------------------------------------------------


def _by_name(name: str) -> Fault:
    return next(f for f in FAULTS if f.name == name)


def test_generation_is_deterministic_per_seed_and_index() -> None:
    fault = _by_name("limit-lowered")
    first, again = scenario(11, 3, fault), scenario(11, 3, fault)
    assert orjson.dumps(first.documents) == orjson.dumps(again.documents)
    assert first.truth == again.truth
    assert orjson.dumps(scenario(12, 3, fault).documents) != orjson.dumps(first.documents)
    # Scenario i is the same whatever the count asked for.
    assert [s.name for s in generate(3, 5)] == [s.name for s in generate(5, 5)[:3]]


def test_generated_clusters_hang_together() -> None:
    """Names are unique, owners and endpoint targets exist, nothing changes
    before it was created, events end after they begin."""
    for made in generate(60, 13):
        objects = made.documents
        uids = {o["metadata"]["uid"] for o in objects}
        keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
        assert len(keys) == len(set(keys)), made.name
        for obj in objects:
            meta = obj["metadata"]
            assert {o["uid"] for o in meta.get("ownerReferences") or ()} <= uids, meta["name"]
            if obj["kind"] == "Event":
                assert obj["firstTimestamp"] <= obj["lastTimestamp"], meta["name"]
            if obj["kind"] == "EndpointSlice":
                targets = {e["targetRef"]["uid"] for e in obj.get("endpoints") or ()}
                assert targets <= uids, meta["name"]
            for condition in obj.get("status", {}).get("conditions") or ():
                when = condition.get("lastTransitionTime")
                assert when is None or meta["creationTimestamp"] <= when, meta["name"]


def test_the_builtin_corpus_covers_every_cause() -> None:
    """At least `PER_CAUSE` scenarios for each cause of the catalogue, and
    healthy controls (counted without diagnosing anything)."""
    from_files, errors = corpus.files()
    assert not errors
    counts = Counter(s.truth.cause for s in from_files)
    counts.update(step.fault.cause for step in corpus.builtin_plan())
    thin = {c.id: counts[c.id] for c in CAUSES if counts[c.id] < corpus.PER_CAUSE}
    assert not thin, f"causes with too few scenarios: {thin}"
    assert counts["healthy"] >= 20


def test_every_cause_and_shape_is_generated() -> None:
    causes = {f.cause for f in FAULTS}
    assert causes >= {c.id for c in CAUSES} | {"healthy"}
    assert {shape for f in FAULTS for shape in f.shapes} == set(SHAPES)
    assert any(f.mimics for f in FAULTS if f.cause == "healthy")
    assert any(f.mimics for f in FAULTS if f.cause != "healthy")


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_is_diagnosed_as_its_cause(fault: Fault) -> None:
    for index in range(2):
        outcome = score.run_one(scenario(31, index, fault, partial=False))
        assert outcome.judgement.top1, (outcome.scenario.note, outcome.judgement.problems)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_healthy_shapes_stay_healthy(shape: str) -> None:
    """Every app of a shape, with noise, and nothing injected, is healthy."""
    for seed in range(3):
        world = World(random.Random(f"{shape}/{seed}"), EPOCH)
        world.add_nodes(4, "eks")
        SHAPES[shape](world)
        noise(world)
        apps = [a for a in apps_of(world) if a.role == "app" and a.service is not None]
        snap = Snapshot.build([Obj.from_raw(o, "generated") for o in world.finish()])
        for app in apps:
            assert app.service is not None
            name = app.service["metadata"]["name"]
            report = diagnose(snap, Target(kind="Service", namespace=app.namespace, name=name))
            found = [f"{f.cause}: {f.title}" for f in report.findings]
            assert report.status is Status.HEALTHY, (shape, seed, name, found)


def test_exported_scenarios_read_back_alike(tmp_path: Path) -> None:
    """Written as directories (YAML and JSON in turn, a log where there is
    one), generated scenarios diagnose as they did in memory."""
    made = [
        scenario(3, i, _by_name(name))
        for i, name in enumerate(("limit-lowered", "rollout-refused-in-logs", "tag-typo"))
    ]
    assert made[1].log is not None
    assert export(made, tmp_path / "out") == 3
    read = all_scenarios(tmp_path / "out")
    assert [s.truth for s in read] == [s.truth for s in made]
    assert read[1].log_files
    for memory, disk in zip(made, read, strict=True):
        assert not read_bundle(disk).errors
        assert score.run_one(disk).judgement == score.run_one(memory).judgement


# --- the command line --------------------------------------------------------------


def test_cli_scores_a_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["bench", str(SCENARIOS / "selector-mismatch"), "-o", "json"], capsys)
    assert code == 0
    document = orjson.loads(out)
    assert document["schema"] == "why5xx/bench/v1"
    assert (
        document["overall"]["scenarios"] == document["per_cause"]["selector-mismatch"]["scenarios"]
    )
    assert err == ""


def test_cli_generate_text_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["bench", "--generate", "4", "--seed", "3"], capsys)
    assert code == 0
    assert out.startswith("self-consistency (scenarios written next to the rules; not accuracy): ")
    assert "4 scenarios (4 generated) in " in out.splitlines()[0]
    assert "overall" in out
    code, out, _ = run(["bench", "--generate", "4", "--seed", "3", "-o", "markdown"], capsys)
    assert "| cause | n | top-1 | top-3 |" in out


def test_cli_min_top1_fails_the_run_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same scenario with a wrong truth: the diagnosis misses it, top-1 is 0.
    wrong = tmp_path / "wrong-truth"
    shutil.copytree(MISMATCH, wrong)
    expected = wrong / "expected.yaml"
    expected.write_text(
        expected.read_text().replace("cause: selector-mismatch", "cause: crash-loop")
    )
    code, _, err = run(["bench", str(wrong), "--min-top1", "0.5", "-o", "json"], capsys)
    assert code == 1
    assert err == "why5xx: top-1 0.00 is below --min-top1 0.50\n"
    code, _, err = run(["bench", str(MISMATCH), "--min-top1", "1", "-o", "json"], capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "--generate", "0"], "--generate needs a count"),
        (["bench", "no/such/dir"], "no usable scenario"),
        (["bench", "tests", "--export", "x"], "--export writes generated scenarios"),
    ],
)
def test_cli_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_cli_export_writes_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "exported"
    code, out, _ = run(["bench", "--generate", "3", "--seed", "2", "--export", str(target)], capsys)
    assert code == 0
    assert out.strip() == f"wrote 3 scenarios to {target}"
    assert len(list(target.glob("*/truth.yaml"))) == 3
    code, _, err = run(["bench", "--generate", "3", "--export", str(target)], capsys)
    assert code == 2
    assert "exists" in err
