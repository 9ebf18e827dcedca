"""The live source's cost: API calls and wall time against the fake API
server (its own process, TLS, on 127.0.0.1) serving one namespace of
10,000 pods (500 Deployments of 20 pods, their Services, EndpointSlices,
ReplicaSets, and 2,000 Events).

- one Service, read and diagnosed in-process (the median of 5 runs), and
  `why5xx diagnose` end to end as a user runs it (process start included);
- `--all`: every kind of the namespace listed once, then every Service
  diagnosed.

    python bench/live_bench.py [--pods 10000] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from why5xx.engine import Target, diagnose, diagnose_all, read_plan
from why5xx.sources.kubeapi import KubeApi, load_config
from why5xx.sources.live import read_namespace, read_target

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "shop"
TARGET = "svc-0123"
RUNS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    case: str
    api_calls: int
    seconds: float  # median wall time
    detail: str


@contextmanager
def fake_cluster(pods: int, directory: Path) -> Iterator[Path]:
    """Start `python -m fakeapi` and yield its kubeconfig; stop it after."""
    kubeconfig = directory / "kubeconfig"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakeapi",
            "--synthetic",
            str(pods),
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the fake API server did not start: {line!r}")
        yield kubeconfig
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def one_service(kubeconfig: Path) -> Result:
    target = Target.parse(TARGET, NAMESPACE)
    times, calls = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        api = KubeApi(load_config(str(kubeconfig)))
        try:
            read = read_target(api, target.ref, read_plan())
        finally:
            api.close()
        report = diagnose(read.snapshot, target)
        times.append(time.perf_counter() - started)
        calls = len(read.calls)
    return Result(
        case="one Service (in-process)",
        api_calls=calls,
        seconds=statistics.median(times),
        detail=f"verdict {report.verdict}; best {min(times):.3f} s of {RUNS}",
    )


def one_service_cli(kubeconfig: Path) -> Result:
    command = [sys.executable, "-m", "why5xx", "diagnose", TARGET, "-n", NAMESPACE]
    command += ["--kubeconfig", str(kubeconfig), "-o", "json", "-v"]
    times, calls = [], 0
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        calls = sum(1 for line in done.stderr.splitlines() if line.startswith("why5xx: GET "))
    return Result(
        case="one Service (`why5xx diagnose`, process start included)",
        api_calls=calls,
        seconds=statistics.median(times),
        detail=f"exit {done.returncode}",
    )


def whole_namespace(kubeconfig: Path) -> Result:
    started = time.perf_counter()
    api = KubeApi(load_config(str(kubeconfig)))
    try:
        read = read_namespace(api, NAMESPACE, required="Service", plan=read_plan())
    finally:
        api.close()
    listed = time.perf_counter()
    reports = diagnose_all(read.snapshot, NAMESPACE)
    done = time.perf_counter()
    pods = sum(1 for o in read.objects if o.kind == "Pod")
    return Result(
        case="--all (every Service of the namespace)",
        api_calls=len(read.calls),
        seconds=done - started,
        detail=(
            f"{pods} pods, {len(read.objects)} objects read in {listed - started:.2f} s, "
            f"{len(reports)} Services diagnosed in {done - listed:.2f} s"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="why5xx-live-bench-") as directory,
        fake_cluster(args.pods, Path(directory)) as kubeconfig,
    ):
        results = [
            one_service(kubeconfig),
            one_service_cli(kubeconfig),
            whole_namespace(kubeconfig),
        ]
    if args.json:
        print(orjson.dumps([asdict(r) for r in results], option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"live source against the fake API server, one namespace of {args.pods:,} pods")
    for r in results:
        print(f"  {r.case:<58} {r.api_calls:>3} API calls  {r.seconds:7.3f} s   {r.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
