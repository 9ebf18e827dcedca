"""The command line: exit codes, streams, formats, and bad input without tracebacks."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from why5xx.cli import main

SCENARIOS = Path(__file__).parent / "scenarios"
MISMATCH = SCENARIOS / "selector-mismatch" / "version-label-yaml-list" / "bundle.yaml"
SCALED = SCENARIOS / "scaled-to-zero" / "deployment-with-hpa" / "list.yaml"
HEALTHY = SCENARIOS / "healthy" / "selector-with-lookalike-pods" / "list.yaml"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_cause_found_exits_1_with_the_verdict_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["diagnose", "checkout", "-n", "shop", "--bundle", str(MISMATCH)], capsys)
    assert code == 1
    assert out.splitlines()[0].startswith(
        "✗ Service/shop/checkout  FAILING (503): selector-mismatch"
    )
    assert "\x1b[" not in out  # not a terminal: no colour
    assert err == ""


def test_healthy_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["diagnose", "service/api", "-n", "shop", "--bundle", str(HEALTHY)], capsys)
    assert code == 0
    assert "HEALTHY" in out.splitlines()[0]
    assert "2 ready of 2" in out


def test_json_output_is_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["diagnose", "svc/gateway", "-n", "api", "--bundle", str(SCALED), "-o", "json"], capsys
    )
    document = orjson.loads(out)
    assert code == 1
    assert document["schema"] == "why5xx/diagnosis/v1"
    assert document["target"] == {"kind": "Service", "namespace": "api", "name": "gateway"}
    assert document["status"] == "failing"
    finding = document["findings"][0]
    assert finding["cause"] == "scaled-to-zero"
    assert set(finding) >= {
        "cause",
        "http_status",
        "severity",
        "confidence",
        "title",
        "explanation",
        "evidence",
        "confirm",
        "fix",
    }
    assert finding["fix"]["patch"] == "kubectl scale -n api deployment/gateway --replicas=3"


def test_all_lists_every_service_worst_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["diagnose", "--all", "-A", "--bundle", str(MISMATCH), str(SCALED), str(HEALTHY)], capsys
    )
    lines = out.splitlines()
    assert code == 1
    assert [line.split()[1] for line in lines[:3]] == ["failing", "failing", "healthy"]
    assert lines[-1] == "3 services: 2 failing, 1 healthy"


def test_stdin_bundle(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(MISMATCH.read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(["diagnose", "checkout", "-n", "shop", "--bundle", "-"], capsys)
    assert code == 1
    assert "selector-mismatch" in out.splitlines()[0]


def test_broken_document_is_reported_and_the_rest_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\nmetadata: {name: [oops\n")
    code, out, err = run(
        ["diagnose", "checkout", "-n", "shop", "--bundle", str(MISMATCH), str(broken)], capsys
    )
    assert code == 1
    assert "selector-mismatch" in out
    assert err.startswith(f"why5xx: {broken}: document 1: ")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diagnose", "-n", "shop", "--bundle", "x"], "name one target"),
        (
            ["diagnose", "nope", "-n", "shop", "--bundle", str(MISMATCH)],
            "service/nope not found in namespace 'shop'; Services there: checkout",
        ),
        (
            ["diagnose", "checkout", "-n", "other", "--bundle", str(MISMATCH)],
            "service/checkout not found in namespace 'other'",
        ),
        (
            ["diagnose", "ingress/web", "-n", "shop", "--bundle", str(MISMATCH)],
            "the input holds no Ingress objects at all",
        ),
        (
            ["diagnose", "deploy/x", "-n", "shop", "--bundle", str(MISMATCH)],
            "cannot diagnose 'deploy/x'",
        ),
        (
            ["diagnose", "--all", "-n", "empty", "--bundle", str(MISMATCH)],
            "no Services in namespace 'empty'",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("why5xx: error: ")
    assert message in err
    assert len(err.splitlines()) == 1


def test_nothing_usable_exits_2_naming_each_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(": : :\n")
    code, _, err = run(
        ["diagnose", "x", "--bundle", str(tmp_path / "a.yaml"), str(tmp_path / "missing")], capsys
    )
    lines = err.splitlines()
    assert code == 2
    assert lines[0].startswith(f"why5xx: {tmp_path / 'a.yaml'}: document 1:")
    assert lines[1] == f"why5xx: {tmp_path / 'missing'}: no such file or directory"
    assert lines[2].startswith("why5xx: error: nothing usable in")
    assert "Traceback" not in err


def test_console_script_runs_and_honours_no_color() -> None:
    """The installed entry point, as a user runs it, in a subprocess."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "why5xx",
            "diagnose",
            "checkout",
            "-n",
            "shop",
            "--bundle",
            str(MISMATCH),
        ],
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "TERM": "xterm-256color"},
        check=False,
    )
    assert result.returncode == 1
    assert "\x1b[" not in result.stdout
    assert "selector-mismatch" in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.startswith("why5xx ")
