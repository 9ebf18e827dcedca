"""The JSON Schemas of docs/schemas/ hold for what the tools really print:
every scenario's and example's diagnosis (one target and --all), log
summaries of real published lines, lint of the lint fixtures, and bench."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource

import logfixtures
from why5xx import api
from why5xx.causes import CAUSES
from why5xx.scenarios import Scenario, all_scenarios, diagnose_scenario, read_bundle

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "schemas"
SCENARIOS = all_scenarios(ROOT / "tests" / "scenarios") + all_scenarios(ROOT / "examples")


@cache
def _registry() -> Registry:
    resources = [
        (path.name, Resource.from_contents(orjson.loads(path.read_bytes())))
        for path in SCHEMAS.glob("*.schema.json")
    ]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    schema = orjson.loads((SCHEMAS / f"{name}.schema.json").read_bytes())
    return Draft202012Validator(schema, registry=_registry())


def assert_valid(name: str, document: Any) -> None:
    errors = sorted(validator(name).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_schemas_are_valid_draft_2020_12() -> None:
    for path in SCHEMAS.glob("*.schema.json"):
        schema = orjson.loads(path.read_bytes())
        assert validator_for(schema) is Draft202012Validator, path.name
        Draft202012Validator.check_schema(schema)


def test_the_cause_enum_is_the_catalogue() -> None:
    schema = orjson.loads((SCHEMAS / "diagnosis.schema.json").read_bytes())
    assert schema["$defs"]["cause"]["enum"] == [c.id for c in CAUSES]


def test_a_wrong_document_is_refused() -> None:
    """The schemas can fail: a finding without evidence or with a made-up cause."""
    good = diagnose_scenario(SCENARIOS[0], read_bundle(SCENARIOS[0]).snapshot()).to_json()
    assert_valid("diagnosis", good)
    broken = {**good, "status": "fine"}
    assert list(validator("diagnosis").iter_errors(broken))
    finding = {"cause": "gremlins", "http_status": [503], "severity": "critical"}
    assert list(validator("diagnosis").iter_errors({**good, "findings": [finding]}))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_scenario_diagnosis_fits_the_schema(scenario: Scenario) -> None:
    bundle = read_bundle(scenario)
    snap = bundle.snapshot()
    assert_valid("diagnosis", diagnose_scenario(scenario, snap).to_json())
    reports = api.diagnose_all(bundle=scenario.bundle, all_namespaces=True)
    body = {"schema": "why5xx/diagnosis-list/v1", "reports": [r.to_json() for r in reports]}
    assert_valid("diagnosis-list", body)


def test_log_summaries_fit_the_schema(tmp_path: Path) -> None:
    lines = [
        value
        for name, value in vars(logfixtures).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    ]
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(lines) + "\n")
    summary = api.analyze_logs([str(log)])
    assert summary.total_5xx > 0
    assert_valid("logs", summary.to_json())
    bundle = ROOT / "tests" / "logs" / "rollout-bundle.yaml"
    assert_valid("logs", api.analyze_logs([str(log)], bundle=[str(bundle)]).to_json())


def test_lint_reports_fit_the_schema() -> None:
    lint_root = ROOT / "tests" / "lint"
    not_manifests = ("cases.yaml", "corpus.yaml")  # check cases, reviewed corpus findings
    for path in sorted(p for p in lint_root.iterdir() if p.name not in not_manifests):
        report = api.lint([str(path)])
        assert_valid("lint", report.to_json())


def _bench(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "why5xx", "bench", *args, "-o", "json"],
        capture_output=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    return orjson.loads(done.stdout)


def test_bench_output_fits_the_schema() -> None:
    scored = _bench(str(ROOT / "tests" / "scenarios" / "crash-loop"))
    assert scored["overall"]["scenarios"] > 0
    assert_valid("bench", scored)
    assert list(validator("bench").iter_errors({**scored, "overall": {"top1": 2}}))
