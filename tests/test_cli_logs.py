"""`why5xx logs`: output, exit codes, and one clear line for unusable input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import logfixtures as fx
from why5xx.cli import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["logs", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_text_summary_and_exit_1_when_5xx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "access.log"
    path.write_text(f"{fx.NGINX_9443_ERROR}\n{fx.NGINX_9443_ACCESS}\n")
    code, out, _ = _run([str(path), "--no-color"], capsys)
    assert code == 1
    assert out.startswith("1 5xx in 2 lines (1 file): 504 x1")
    assert "upstream-timeout" in out
    assert "192.168.215.1:80" in out


def test_json_and_exit_0_without_5xx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.log"
    path.write_text(fx.NGINX_4168_ACCESS_200 + "\n")
    code, out, _ = _run([str(path), "-o", "json"], capsys)
    assert code == 0
    document = orjson.loads(out)
    assert document["total_5xx"] == 0
    assert document["causes"] == []


def test_format_can_be_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "istio-proxy.log"
    path.write_text(fx.ISTIO_UC + "\n")
    code, out, _ = _run(["--format", "istio", str(path), "-o", "json"], capsys)
    assert code == 1
    # One UC line is read as Envoy's; too few to call a keep-alive race.
    cause = orjson.loads(out)["causes"][0]
    assert (cause["cause"], cause["candidates"][0]) == ("unclassified", "keepalive-race")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.log"], "no usable log in missing.log"),
        (["--format", "apache", "x.log"], "unknown log format 'apache'"),
    ],
)
def test_unusable_input_is_exit_2_and_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(args, capsys)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_stdin_through_the_console_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "why5xx", "logs", "-", "-o", "json"],
        input=f"{fx.ISTIO_UC}\n{fx.ENVOY_DOC_204}\n".encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    document = orjson.loads(done.stdout)
    assert document["files"][0] == {
        "path": "<stdin>",
        "format": "envoy",
        "lines": 2,
        "unparsed": 0,
        "recognised": 2,
        "recognised_by": {"envoy": 2},
    }
