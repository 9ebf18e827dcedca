"""Benchmark `why5xx logs` on a 1 GB ingress-nginx access log, against
GoAccess (Debian) on the same file and `grep -c` as the floor, in one run.

    make bench            # or: .venv/bin/python bench/logs_bench.py [--size-mb N]

The log (bench/out/, gitignored) is generated once per size and reused: the
controller's default `log-format-upstream`, 20 services and 60 pod IPs,
realistic paths, agents and statuses, about 1% 5xx (502 with retries, 503
with no endpoint, 504 after timeouts) with their error-log lines
interleaved, as `kubectl logs` of the controller shows them. grep and why5xx
run twice and the faster run counts (the machine is shared), GoAccess once;
CPU seconds are printed beside wall seconds, as other load inflates only the
latter. Peak memory is the maximum resident set (GNU time), also measured on
a tenth of the file to show it does not grow with the input.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
VENV_BIN = Path(sys.executable).parent
GOAL_MB_S = 300
# GoAccess reads the same lines: the fields it knows, the upstream tail skipped.
GOACCESS_FORMAT = '%h - %e [%d:%t %^] "%r" %s %b "%R" "%u" %^'
GREP_5XX = '" 5[0-9][0-9] [0-9]* "'
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None

_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "kube-probe/1.30",
    "python-requests/2.32.3",
)
_PATHS = ("/", "/api/v1/cart", "/api/v1/items/{n}", "/checkout", "/static/app.{n}.js", "/healthz")
_MONTH = "Nov"
_ERRORS = (
    "connect() failed (111: Connection refused) while connecting to upstream",
    "upstream prematurely closed connection while reading response header from upstream",
)


@dataclass(frozen=True)
class Measure:
    name: str
    seconds: float
    cpu_seconds: float  # user + system, its workers included: what contention does not inflate
    peak_mb: float
    output: str

    def rate(self, size: int) -> float:
        return size / 1e6 / self.seconds


def generate(path: Path, size: int, seed: int = 5) -> int:
    """Write about `size` bytes of log; return the number of 5xx access lines."""
    rng = random.Random(seed)
    services = [f"shop-svc{n:02d}-8080" for n in range(20)]
    pods = [f"10.244.{n // 20}.{n % 20 + 10}:8080" for n in range(60)]
    # A day of a shop's traffic: tens of thousands of clients, not a new one per request.
    clients = [".".join(str(rng.randint(1, 254)) for _ in range(4)) for _ in range(20_000)]
    written = fivexx = 0
    second = 0
    with path.open("w") as out:
        while written < size:
            chunk: list[str] = []
            for _ in range(20_000):
                second += rng.random() < 0.02
                hh, mm, ss = second // 3600 % 24, second // 60 % 60, second % 60
                stamp = f"20/{_MONTH}/2026:{hh:02d}:{mm:02d}:{ss:02d} +0000"
                client = rng.choice(clients)
                path_ = rng.choice(_PATHS).format(n=rng.randint(1, 5000))
                method = "POST" if rng.random() < 0.2 else "GET"
                service = rng.choice(services)
                pod = rng.choice(pods)
                roll = rng.random()
                request_id = f"{rng.getrandbits(128):032x}"
                if roll < 0.005:  # 502: the pod refused or closed, sometimes after retries
                    tries = rng.choice((1, 1, 3))
                    addrs = ", ".join(rng.choice(pods) for _ in range(tries))
                    status, upstream = (
                        502,
                        (
                            addrs,
                            ", ".join(["0"] * tries),
                            ", ".join(["0.001"] * tries),
                            ", ".join(["502"] * tries),
                        ),
                    )
                    pod = addrs.rsplit(", ", 1)[-1]
                    message = rng.choice(_ERRORS)
                    chunk.append(
                        f"2026/11/20 {hh:02d}:{mm:02d}:{ss:02d} [error] 31#31: "
                        f"*{rng.randint(1, 10**6)} {message}, client: {client}, "
                        f'server: shop.example.com, request: "{method} {path_} HTTP/1.1", '
                        f'upstream: "http://{pod}{path_}", host: "shop.example.com"\n'
                    )
                elif roll < 0.008:  # 503: no ready endpoint
                    status, upstream = 503, ("-", "-", "-", "-")
                elif roll < 0.01:  # 504: read timeout
                    status, upstream = 504, (pod, "0", "60.001", "504")
                else:
                    status = rng.choices(
                        (200, 201, 204, 301, 304, 404, 499), (80, 4, 3, 2, 6, 4, 1)
                    )[0]
                    time_ = f"0.{rng.randint(1, 400):03d}"
                    upstream = (pod, str(rng.randint(0, 50000)), time_, str(status))
                fivexx += status >= 500
                chunk.append(
                    f'{client} - - [{stamp}] "{method} {path_} HTTP/1.1" {status} '
                    f'{rng.randint(0, 50000)} "https://shop.example.com/" "{rng.choice(_AGENTS)}" '
                    f"{rng.randint(200, 1500)} 0.{rng.randint(1, 999):03d} [{service}] [] "
                    f"{upstream[0]} {upstream[1]} {upstream[2]} {upstream[3]} {request_id}\n"
                )
            text = "".join(chunk)
            out.write(text)
            written += len(text)
    return fivexx


def measure(name: str, command: Sequence[str], runs: int = 2) -> Measure:
    """Wall time, CPU time and peak RSS of `command`, the fastest of `runs`."""
    best: Measure | None = None
    for _ in range(runs):
        # stderr to a file: GoAccess writes progress there, and a full pipe would block it.
        with tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile() as peak:
            # GNU time reads the peak RSS: a child of this (large) process would
            # inherit its high-water mark through fork.
            timed = [GNU_TIME, "-f", "%M", "-o", peak.name, *command] if GNU_TIME else command
            start = time.perf_counter()
            process = subprocess.Popen(timed, stdout=subprocess.PIPE, stderr=errors)
            assert process.stdout is not None
            output = process.stdout.read().decode()
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) not in (0, 1):
                errors.seek(0)
                raise SystemExit(f"{name} failed: {errors.read().decode().strip()[-500:]}")
            peak_kb = int(Path(peak.name).read_text().split()[-1]) if GNU_TIME else usage.ru_maxrss
        run = Measure(
            name=name,
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            peak_mb=peak_kb / 1024,
            output=output,
        )
        if best is None or run.seconds < best.seconds:
            best = run
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    size = args.size_mb << 20
    log = OUT / f"ingress-nginx-{args.size_mb}mb.log"
    stamp = log.with_suffix(".5xx")
    if not (log.exists() and stamp.exists()):
        print(f"generating {log} ({args.size_mb} MB) ...", flush=True)
        stamp.write_text(str(generate(log, size)))
    expected = int(stamp.read_text())
    actual = log.stat().st_size
    tenth = OUT / f"ingress-nginx-{args.size_mb}mb.tenth.log"
    if not tenth.exists():
        with log.open("rb") as src, tenth.open("wb") as dst:
            left = actual // 10
            while left > 0:
                left -= dst.write(src.read(min(left, 1 << 20)))
            dst.write(src.readline())  # to the end of the line

    why5xx = [str(VENV_BIN / "why5xx"), "logs", "-o", "json"]
    os.environ["LC_ALL"] = "C"  # grep's fastest path; no tool here needs a locale
    results = [measure("grep -c (floor)", ["grep", "-c", GREP_5XX, str(log)])]
    ours = measure("why5xx logs", [*why5xx, str(log)])
    results.append(ours)
    small = measure("why5xx logs (1/10 of it)", [*why5xx, str(tenth)])
    goaccess = shutil.which("goaccess")
    if goaccess:
        report = OUT / "goaccess.json"
        results.append(
            measure(
                "goaccess",
                [
                    goaccess,
                    str(log),
                    "--no-global-config",
                    f"--log-format={GOACCESS_FORMAT}",
                    "--date-format=%d/%b/%Y",
                    "--time-format=%T",
                    "-o",
                    str(report),
                ],
                runs=1,  # minutes per run; far from the others either way
            )
        )

    summary = orjson.loads(ours.output)
    grep_count = int(results[0].output.strip())
    print(
        f"\n{log.name}: {actual / 1e6:,.0f} MB, {sum(f['lines'] for f in summary['files']):,} lines"
    )
    print(f"5xx: generated {expected:,}, grep {grep_count:,}, why5xx {summary['total_5xx']:,}")
    print(f"\n{'tool':<28}{'seconds':>9}{'MB/s':>9}{'CPU s':>9}{'peak MB':>10}")
    for result, bytes_ in [*((r, actual) for r in results), (small, actual // 10)]:
        print(
            f"{result.name:<28}{result.seconds:>9.2f}{result.rate(bytes_):>9.0f}"
            f"{result.cpu_seconds:>9.2f}{result.peak_mb:>10.0f}"
        )
    rate = ours.rate(actual)
    floor = results[0].rate(actual)
    print(f"\nwhy5xx: {rate:.0f} MB/s (goal {GOAL_MB_S}), {rate / floor:.2f}x grep's speed", end="")
    if goaccess:
        print(f", {ours.seconds and results[-1].seconds / ours.seconds:.1f}x faster than goaccess")
    else:
        print(" (goaccess not installed: `make test-deps`)")
    print(f"memory: {ours.peak_mb:.0f} MB on the whole file, {small.peak_mb:.0f} MB on a tenth")
    (OUT / "logs_bench.json").write_bytes(
        orjson.dumps(
            {
                "file_mb": round(actual / 1e6),
                "5xx": {"generated": expected, "grep": grep_count, "why5xx": summary["total_5xx"]},
                "runs": [
                    {
                        "tool": r.name,
                        "seconds": round(r.seconds, 3),
                        "cpu_seconds": round(r.cpu_seconds, 3),
                        "mb_s": round(r.rate(actual)),
                        "peak_mb": round(r.peak_mb),
                    }
                    for r in results
                ],
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    if summary["total_5xx"] != expected:
        raise SystemExit("why5xx counted a different number of 5xx than were generated")


if __name__ == "__main__":
    main()
