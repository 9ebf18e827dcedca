"""Soak: `diagnose --all -A` against the fake API server with faults injected
(slow answers, 500s, 410 Gone, dropped connections, truncated JSON), round
after round. Every round ends within the deadline with a report or one
line and exit 2, and memory stays flat.

`make test` runs a few rounds; `make fuzz` many (WHY5XX_SOAK_ROUNDS).
"""

from __future__ import annotations

import gc
import io
import os
import random
import time
import tracemalloc
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from fakeapi.fixtures import StartCluster
from fakeapi.server import _Reply, status
from why5xx.cli import main

SCENARIOS = Path(__file__).parent / "scenarios"
ROUNDS = int(os.environ.get("WHY5XX_SOAK_ROUNDS", "12"))
DEADLINE = 2.0
# What a round may take beyond the deadline: process start-up work, the
# last answer in flight, the report.
SLACK = 6.0
WARM_UP = 3


def _faulty(handle: Callable[[Any], Any], rng: random.Random, rate: float) -> Callable[[Any], Any]:
    """The server's handler with one of the faults on about `rate` of the requests."""

    def faulty(request: Any) -> Any:
        if rng.random() >= rate:
            return handle(request)
        fault = rng.choice(("slow", "500", "410", "drop", "truncate"))
        if fault == "slow":
            time.sleep(rng.uniform(0.05, 0.4))
            return handle(request)
        if fault == "500":
            return _Reply(
                status=500, body=status(500, "InternalError", "etcdserver: leader changed")
            )
        if fault == "410":
            return _Reply(status=410, body=status(410, "Expired", "too old resource version"))
        if fault == "drop":
            raise ConnectionAbortedError("the fake API server drops the connection")
        reply = handle(request)
        if isinstance(reply, _Reply) and len(reply.body) > 2:
            return _Reply(status=reply.status, body=reply.body[: len(reply.body) // 2])
        return reply

    return faulty


def _run(args: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main(args)
    return (
        int(exit_info.value.code or 0),
        out.getvalue(),
        err.getvalue(),
        time.monotonic() - started,
    )


def test_diagnose_all_under_faults_ends_in_time_with_a_report_or_one_line(
    fake_cluster: StartCluster,
) -> None:
    bundle = sorted((SCENARIOS / "selector-mismatch" / "version-label-yaml-list").iterdir())
    cluster = fake_cluster([p for p in bundle if p.name != "expected.yaml"])
    handle = cluster.server.handle
    # A dropped connection is the handler raising: the server need not print it.
    assert cluster.server._http is not None
    cluster.server._http.handle_error = lambda *_: None  # type: ignore[method-assign]
    rng = random.Random(12)
    args = ["diagnose", "--all", "-A", "--kubeconfig", str(cluster.kubeconfig), "-o", "json"]
    args += ["--request-timeout", "0.5", "--timeout", str(DEADLINE), "--no-color"]
    outcomes: dict[int, int] = {}
    memory: list[int] = []
    tracemalloc.start()
    try:
        for round_number in range(ROUNDS):
            rate = rng.choice((0.0, 0.05, 0.2, 0.5))
            cluster.server.handle = _faulty(handle, rng, rate)  # type: ignore[method-assign,assignment]
            code, out, err, seconds = _run(args)
            assert code in {0, 1, 2, 3}, err
            assert "unexpected" not in err, err
            assert seconds < DEADLINE + SLACK, (round_number, rate, seconds, err)
            if code == 2:
                assert len(err.strip().splitlines()) == 1, err
            else:
                assert out.startswith("{"), out
            outcomes[code] = outcomes.get(code, 0) + 1
            gc.collect()
            memory.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
        cluster.server.handle = handle  # type: ignore[method-assign]
    settled = memory[WARM_UP - 1] if len(memory) >= WARM_UP else memory[0]
    grown = memory[-1] - settled
    print(f"soak: {ROUNDS} rounds, exit codes {outcomes}, memory {settled} -> {memory[-1]} B")
    assert grown < 8 << 20, memory  # flat: no per-round growth past start-up caches
