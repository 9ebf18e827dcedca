"""`make bench`: how long why5xx takes on a 10,000-pod cluster, and against what.

Generates the synthetic cluster once (bench/generate.py, into bench/out/),
then measures in this one run, each in a fresh process (so imports count)
and as the median of a few runs, with the peak RSS of the process:

- `why5xx diagnose --all -A` over the whole bundle and `diagnose service/X
  -n NS` for one Service, on the JSON bundle (one `List` per kind, as
  `kubectl get <kind> -A -o json > <kind>.json`) and on the YAML bundle (one
  `kind: List`, as `kubectl get ... -A -o yaml`), the YAML both parsed
  (`--no-cache`) and read back from the decoded-bundle cache;
- baselines on the same bytes: the floor (read + `orjson.loads`, collector
  paused), the standard library's `json.loads`, and PyYAML's CSafeLoader
  (on a slice, extrapolated: it takes minutes on the whole).

It checks that both bundles give the same verdicts, prints a table, and
writes bench/out/results.json. This is a benchmark, not a test: it fails
only when a command fails or the verdicts differ.

    python bench/run.py [--runs 3] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import generate

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
ROOT = BENCH.parent
PYTHON = sys.executable
WHOLE_GOAL = 3.0
ONE_GOAL = 1.0
PYYAML_SLICE = 8 << 20


@dataclass
class Measure:
    name: str
    group: str
    seconds: float  # median wall time
    runs: list[float]
    peak_rss_mb: float  # the largest of the runs
    cpu_seconds: float = 0.0  # median user + system time (the parse worker's included)
    goal: float | None = None
    note: str = ""
    argv: list[str] = field(default_factory=list)
    instructions: int | None = None  # callgrind's count of one run, where measured


# Runs the measured command and reports its own wall time, peak RSS and CPU
# time. The benchmark process itself cannot: a child it forks inherits its
# memory high-water mark (Linux keeps it across exec), so every row showed the
# benchmark's own peak once it had held a big bundle. A small launcher's child
# starts from the launcher's few MB instead.
_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.perf_counter() - start
cpu = usage.ru_utime + usage.ru_stime
report = (elapsed, usage.ru_maxrss, cpu, os.waitstatus_to_exitcode(status))
os.write(int(sys.argv[1]), " ".join(map(str, report)).encode())
"""


def _run(
    argv: list[str], env: dict[str, str], stdout: Path | None = None
) -> tuple[float, float, float]:
    """Wall time, peak RSS (MB) and CPU time of one process (with its children)."""
    read_end, write_end = os.pipe()
    with (
        stdout.open("wb") if stdout else open(os.devnull, "wb") as sink,
        tempfile.TemporaryFile() as errors,
    ):
        launcher = subprocess.Popen(
            [PYTHON, "-c", _LAUNCHER, str(write_end), *argv],
            stdout=sink,
            stderr=errors,
            env=env,
            cwd=ROOT,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reports:
            report = reports.read().decode()
        launcher.wait()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if launcher.returncode != 0 or not report:
        raise SystemExit(f"the launcher failed: {' '.join(argv)}\n{stderr}")
    elapsed, peak_kb, cpu, code = report.split()
    # why5xx exits 1 when it found a cause: that is a result, not a failure.
    if int(code) not in (0, 1):
        raise SystemExit(f"failed ({code}): {' '.join(argv)}\n{stderr}")
    return float(elapsed), int(peak_kb) / 1024, float(cpu)


def measure(
    name: str,
    group: str,
    argv: list[str],
    env: dict[str, str],
    runs: int,
    *,
    goal: float | None = None,
    note: str = "",
    before_each: list[str] | None = None,
) -> Measure:
    times: list[float] = []
    peaks: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        if before_each is not None:
            _run(before_each, env)
        elapsed, peak, cpu = _run(argv, env)
        times.append(elapsed)
        peaks.append(peak)
        cpus.append(cpu)
    result = Measure(
        name=name,
        group=group,
        seconds=statistics.median(times),
        runs=[round(t, 3) for t in times],
        peak_rss_mb=round(max(peaks), 1),
        cpu_seconds=round(statistics.median(cpus), 3),
        goal=goal,
        note=note,
        argv=argv,
    )
    _print_row(result)
    return result


# Baseline programs, run with `python -c` so that they pay the same start-up.
_FLOOR = """
import gc, sys, orjson
gc.disable()
for path in sys.argv[1:]:
    with open(path, 'rb') as stream:
        orjson.loads(stream.read())
"""
_STDLIB_JSON = """
import json, sys
for path in sys.argv[1:]:
    with open(path, 'rb') as stream:
        json.loads(stream.read())
"""
_PYYAML_SLICE = """
import sys, time, yaml
with open(sys.argv[1], 'rb') as stream:
    data = stream.read(int(sys.argv[2]))
cut = data.rfind(b'\\n- ')
text = data[:cut + 1].decode()
start = time.perf_counter()
yaml.load(text, Loader=yaml.CSafeLoader)
print(len(text.encode()) / (time.perf_counter() - start))
"""


# Where one whole-bundle diagnosis spends its time, and which rules cost most.
_PHASES = """
import json, sys, time
start = time.perf_counter()
from dataclasses import replace
from why5xx.engine import diagnose_all
from why5xx.report import text
from why5xx.rules import RULES
from why5xx.sources.bundle import load_bundle
from rich.console import Console
phases = {"import": time.perf_counter() - start}
mark = time.perf_counter()
bundle = load_bundle(sys.argv[1:])
phases["load"] = time.perf_counter() - mark
mark = time.perf_counter()
snap = bundle.snapshot()
phases["snapshot"] = time.perf_counter() - mark
spent = {}
def timed(rule):
    def check(snap, subject):
        mark = time.perf_counter()
        try:
            return list(rule.check(snap, subject))
        finally:
            spent[rule.cause] = spent.get(rule.cause, 0.0) + time.perf_counter() - mark
    return replace(rule, check=check)
mark = time.perf_counter()
reports = diagnose_all(snap, None, [timed(rule) for rule in RULES])
phases["rules"] = time.perf_counter() - mark
mark = time.perf_counter()
with open("/dev/null", "w") as sink:
    Console(file=sink, no_color=True, soft_wrap=True).print(text.render_summary(reports))
phases["render"] = time.perf_counter() - mark
top = sorted(spent.items(), key=lambda item: -item[1])[:5]
print(json.dumps({"phases": phases, "rules": dict(top)}))
"""


def _phases(label: str, paths: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = OUT / f"phases-{label}.json"
    _run(_python(_PHASES, *paths), env, out)
    found: dict[str, Any] = json.loads(out.read_text())
    phases = "  ".join(f"{k} {v:.2f}" for k, v in found["phases"].items())
    rules = ", ".join(f"{k} {v:.2f}" for k, v in found["rules"].items())
    print(f"  {label:22} {phases}\n  {'':22} costliest rules: {rules}")
    return found


def _python(code: str, *args: str) -> list[str]:
    return [PYTHON, "-c", code, *args]


def _print_header() -> None:
    print(f"{'':52} {'median s':>9} {'cpu s':>6} {'peak RSS MB':>12}  {'goal':>6}  runs")


def _print_row(m: Measure) -> None:
    goal = ""
    if m.goal is not None:
        goal = ("ok " if m.seconds < m.goal else "MISS") + f"<{m.goal:g}"
    runs = " ".join(f"{t:.2f}" for t in m.runs)
    print(
        f"{m.name:52} {m.seconds:9.2f} {m.cpu_seconds:6.2f} {m.peak_rss_mb:12.0f}  {goal:>6}  "
        f"{runs}  {m.note}"
    )
    sys.stdout.flush()


def _ensure_generated(regenerate: bool) -> dict[str, Any]:
    manifest_path = OUT / generate.MANIFEST
    if not regenerate and manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if manifest.get("version") == generate.VERSION and manifest.get("seed") == generate.SEED:
            return manifest
    print(f"generating the synthetic cluster into {OUT} ...", flush=True)
    start = time.perf_counter()
    manifest = generate.generate(OUT)
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return manifest


def _normalised(path: Path) -> Any:
    """A JSON report without what differs between bundles: file names."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "source"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(path.read_bytes()))


def _accuracy(expected: dict[str, str], report: Any) -> dict[str, Any]:
    """Per injected cause: how many verdicts name it, and what the others say."""
    out: dict[str, Any] = {}
    for each in report["reports"]:
        target = each["target"]
        key = f"{target['kind']}/{target['namespace']}/{target['name']}"
        if key not in expected:
            continue
        want = expected[key]
        got = each.get("verdict") or ("healthy" if each["status"] == "healthy" else each["status"])
        row = out.setdefault(want, {"total": 0, "right": 0, "wrong": {}})
        row["total"] += 1
        if got == want:
            row["right"] += 1
        else:
            row["wrong"][got] = row["wrong"].get(got, 0) + 1
    return dict(sorted(out.items(), key=lambda item: -item[1]["total"]))


STARTUP_GOAL = 0.15  # `why5xx --version`
SMALL_GOAL = 0.25  # one small example, whole process
EXAMPLE = ROOT / "examples" / "selector-version-bump"


def _why5xx() -> list[str]:
    """The console script pip installs, as a user runs it (else `-m`)."""
    script = Path(PYTHON).parent / "why5xx"
    return [str(script)] if script.exists() else [PYTHON, "-m", "why5xx"]


def _example_argv() -> list[str]:
    """`why5xx diagnose` on one example, as `make demo` runs it."""
    expected = (EXAMPLE / "expected.yaml").read_text()
    fields = dict(
        line.split(":", 1)
        for line in expected.splitlines()
        if line.startswith(("target:", "namespace:"))
    )
    bundle = sorted(str(p) for p in EXAMPLE.iterdir() if p.is_file() and p.name != "expected.yaml")
    return [
        *_why5xx(),
        "diagnose",
        fields["target"].strip(),
        "-n",
        fields["namespace"].strip(),
        "--bundle",
        *bundle,
    ]


def _importtime(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """`python -X importtime` of one command: the total, and the costliest
    of our modules by their own time (in ms)."""
    done = subprocess.run(
        [
            PYTHON,
            "-X",
            "importtime",
            "-c",
            "import sys; from why5xx.cli import main; main()",
            *argv,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    own: dict[str, float] = {}
    total = 0.0
    for line in done.stderr.splitlines():
        # import time: <self us> | <cumulative us> | <two spaces a level><module>
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        head, cumulative, name = line.split("|")
        self_us = head.removeprefix("import time:").strip()
        if not self_us.isdigit():
            continue  # the header line
        if not name[1:].startswith(" "):  # imported by the command itself
            total += int(cumulative) / 1000
        if name.strip().startswith("why5xx"):
            own[name.strip()] = int(self_us) / 1000
    costliest = dict(sorted(own.items(), key=lambda item: -item[1])[:5])
    return {"total_ms": round(total, 1), "modules": len(own), "costliest_ms": costliest}


def _instructions(argv: list[str], env: dict[str, str]) -> int | None:
    """Instructions one run executes (valgrind's callgrind; None without
    it): a count the other work on a shared machine does not change."""
    if shutil.which("valgrind") is None:
        return None
    if argv[0] != PYTHON:  # the console script: run its code under this interpreter
        argv = [PYTHON, *argv]
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    return None


def _startup(env: dict[str, str], runs: int) -> list[Measure]:
    """Start-up against the bare interpreter, measured in this run."""
    rows = [
        measure("floor: python -c pass", "baseline", [PYTHON, "-c", "pass"], env, runs),
        measure(
            "why5xx --version",
            "why5xx",
            [*_why5xx(), "--version"],
            env,
            runs,
            goal=STARTUP_GOAL,
        ),
        measure(
            f"diagnose examples/{EXAMPLE.name}, whole process",
            "why5xx",
            _example_argv(),
            env,
            runs,
            goal=SMALL_GOAL,
        ),
    ]
    for row in rows:
        count = _instructions(row.argv, env)
        if count is not None:
            row.instructions = count
            print(f"  {row.name}: {count / 1e6:,.0f} M instructions (callgrind)")
    for label, argv in (
        ("--version", ["--version"]),
        ("diagnose", _example_argv()[len(_why5xx()) :]),
    ):
        found = _importtime(argv, env)
        costliest = ", ".join(f"{k} {v:.0f}" for k, v in found["costliest_ms"].items())
        print(
            f"  imports of {label}: {found['total_ms']:.0f} ms, {found['modules']} why5xx modules; "
            f"costliest (own ms): {costliest}"
        )
    return rows


# Issue 14's goals: (row, seconds, its floor row, the most of that floor).
GOALS = (
    ("why5xx --version", STARTUP_GOAL, "floor: python -c pass", None),
    (f"diagnose examples/{EXAMPLE.name}, whole process", SMALL_GOAL, "floor: python -c pass", None),
    ("one service, JSON", ONE_GOAL, "floor: read + orjson.loads (JSON)", 0.6),
    ("whole bundle, JSON", WHOLE_GOAL, "floor: read + orjson.loads (JSON)", 1.8),
    ("whole bundle, YAML, cached", WHOLE_GOAL, "floor: read + orjson.loads (JSON)", None),
)


def _goals(results: list[Measure]) -> list[dict[str, Any]]:
    """The goals table: each row now, its goal, and its ratio to the floor
    measured in this run. Judged on CPU time (user + system, the process and
    its children): on a shared machine the wall clock mostly measures the
    wait for a core; where the issue gives a ratio to the floor, the ratio."""
    by_name = {m.name: m for m in results}
    rows = []
    print(
        f"\n{'goal':52} {'wall s':>7} {'cpu s':>6} {'M instr':>8} {'goal s':>7} {'x floor':>8} "
        f"{'goal x':>7}  verdict (on cpu)"
    )
    for name, seconds, floor_name, most in GOALS:
        row, floor = by_name.get(name), by_name.get(floor_name)
        if row is None or floor is None:
            continue
        ratio = row.cpu_seconds / max(floor.cpu_seconds, 0.001)
        met = ratio <= most if most is not None else row.cpu_seconds <= seconds
        goal_x = f"{most:g}" if most is not None else "-"
        instructions = f"{row.instructions / 1e6:,.0f}" if row.instructions else "-"
        print(
            f"{name:52} {row.seconds:7.2f} {row.cpu_seconds:6.2f} {instructions:>8} "
            f"{seconds:7.2f} {ratio:8.2f} "
            f"{goal_x:>7}  {'met' if met else 'MISSED'}"
        )
        rows.append(
            {
                "name": name,
                "wall_seconds": row.seconds,
                "cpu_seconds": row.cpu_seconds,
                "instructions": row.instructions,
                "goal_seconds": seconds,
                "floor": floor_name,
                "cpu_ratio_to_floor": round(ratio, 2),
                "goal_ratio": most,
                "met": met,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="why5xx benchmark (see bench/run.py)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--regenerate", action="store_true", help="write bench/out/ again")
    parser.add_argument(
        "--quick", action="store_true", help="start-up only, under a minute (make bench-quick)"
    )
    args = parser.parse_args(argv)
    runs: int = args.runs
    env = dict(os.environ, NO_COLOR="1")
    env.pop("WHY5XX_NO_CACHE", None)
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; runs: {runs}; "
        f"load average {load:.1f}"
        + ("  (busy: other work skews these numbers; compare the ratios)" if load > 0.5 else "")
        + "\n"
    )
    _print_header()
    results: list[Measure] = _startup(env, runs)
    if args.quick:
        _goals(results)
        (OUT / "results-quick.json").parent.mkdir(exist_ok=True)
        (OUT / "results-quick.json").write_text(
            json.dumps({"results": [asdict(m) for m in results]}, indent=2) + "\n"
        )
        return 0

    manifest = _ensure_generated(args.regenerate)
    yaml_file = OUT / manifest["yaml"]
    json_dir = OUT / manifest["json"]
    json_files = sorted(str(p) for p in json_dir.glob("*.json"))
    one = manifest["one_service"]
    counts = manifest["counts"]
    yaml_mb = manifest["yaml_bytes"] / 1e6
    json_mb = manifest["json_bytes"] / 1e6

    cache = OUT / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    env["XDG_CACHE_HOME"] = str(cache)
    why5xx = [*_why5xx(), "diagnose"]
    whole = ["--all", "-A"]
    service = [f"service/{one['name']}", "-n", one["namespace"]]

    print(
        f"\ncluster: {counts['Pod']:,} pods, {counts['Service']:,} services, "
        f"{counts['Event']:,} events, {sum(counts.values()):,} objects; "
        f"YAML {yaml_mb:.0f} MB (one List), JSON {json_mb:.0f} MB ({len(json_files)} files)"
    )
    add = results.append
    # --- baselines
    add(
        measure(
            "floor: read + orjson.loads (JSON)", "baseline", _python(_FLOOR, *json_files), env, runs
        )
    )
    add(measure("stdlib json.loads (JSON)", "baseline", _python(_STDLIB_JSON, *json_files), env, 1))
    pyyaml_out = OUT / "pyyaml.txt"
    _, pyyaml_peak, _ = _run(
        _python(_PYYAML_SLICE, str(yaml_file), str(PYYAML_SLICE)), env, pyyaml_out
    )
    rate = float(pyyaml_out.read_text())
    pyyaml = Measure(
        name="PyYAML CSafeLoader (YAML, extrapolated)",
        group="baseline",
        seconds=round(manifest["yaml_bytes"] / rate, 1),
        runs=[],
        peak_rss_mb=round(pyyaml_peak, 1),
        note=f"{rate / 1e6:.1f} MB/s on the first {PYYAML_SLICE >> 20} MB",
    )
    _print_row(pyyaml)
    add(pyyaml)

    # --- why5xx
    no_cache = ["--no-cache"]
    json_bundle = ["--bundle", str(json_dir)]
    yaml_bundle = ["--bundle", str(yaml_file)]
    prime = [*why5xx, *service, *yaml_bundle]  # fills the cache
    clear = [PYTHON, "-c", f"import shutil; shutil.rmtree({str(cache)!r}, ignore_errors=True)"]
    add(
        measure(
            "whole bundle, JSON",
            "why5xx",
            [*why5xx, *whole, *json_bundle],
            env,
            runs,
            goal=WHOLE_GOAL,
        )
    )
    add(
        measure(
            "whole bundle, YAML, parsed (--no-cache)",
            "why5xx",
            [*why5xx, *whole, *yaml_bundle, *no_cache],
            env,
            runs,
            goal=WHOLE_GOAL,
        )
    )
    add(
        measure(
            "whole bundle, YAML, first run (+cache write)",
            "why5xx",
            [*why5xx, *whole, *yaml_bundle],
            env,
            1,
            before_each=clear,
        )
    )
    add(
        measure(
            "whole bundle, YAML, cached",
            "why5xx",
            [*why5xx, *whole, *yaml_bundle],
            env,
            runs,
            goal=WHOLE_GOAL,
            before_each=None,
        )
    )
    add(
        measure(
            "one service, JSON",
            "why5xx",
            [*why5xx, *service, *json_bundle],
            env,
            runs,
            goal=ONE_GOAL,
        )
    )
    add(
        measure(
            "one service, YAML, parsed (--no-cache)",
            "why5xx",
            [*why5xx, *service, *yaml_bundle, *no_cache],
            env,
            runs,
            goal=ONE_GOAL,
        )
    )
    _run(prime, env)
    add(
        measure(
            "one service, YAML, cached",
            "why5xx",
            [*why5xx, *service, *yaml_bundle],
            env,
            runs,
            goal=ONE_GOAL,
        )
    )

    # --- the two bundles must say the same
    reports = {}
    for label, bundle in (("json", json_bundle), ("yaml", yaml_bundle)):
        path = OUT / f"report-{label}.json"
        _run([*why5xx, *whole, *bundle, "-o", "json"], env, path)
        reports[label] = _normalised(path)
    same = reports["json"] == reports["yaml"]
    accuracy = _accuracy(manifest.get("expected") or {}, reports["json"])

    print("\nwhere a whole-bundle diagnosis spends its time (s, one run, in process):")
    phases = {
        "json": _phases("JSON", json_files, env),
        "yaml-cached": _phases("YAML, cached", [str(yaml_file)], env),
    }

    by_name = {m.name: m for m in results}
    floor = by_name["floor: read + orjson.loads (JSON)"].seconds
    print(f"\nratios to the floor ({floor:.2f} s):")
    for m in results:
        if m.group == "why5xx":
            print(f"  {m.name:44} {m.seconds / floor:5.1f}x")
    parsed = by_name["whole bundle, YAML, parsed (--no-cache)"].seconds
    cached = by_name["whole bundle, YAML, cached"].seconds
    print(
        f"  PyYAML CSafeLoader alone / whole YAML diagnosis now:    {pyyaml.seconds / parsed:.0f}x"
    )
    print(f"  YAML parsed / cached:                                   {parsed / cached:.1f}x")
    print(f"\nJSON and YAML bundles give the same verdicts: {'yes' if same else 'NO'}")
    print("verdicts against the injected faults (not a goal of this benchmark; for the rules):")
    for cause, row in accuracy.items():
        wrong = ", ".join(f"{n} {got}" for got, n in row["wrong"].items())
        instead = f"  instead: {wrong}" if wrong else ""
        print(f"  {cause:26} {row['right']:5}/{row['total']:<5}{instead}")

    goals = _goals(results)
    summary = {
        "goals_table": goals,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [load, os.getloadavg()[0]],  # before, after
        },
        "cluster": counts,
        "bytes": {"yaml": manifest["yaml_bytes"], "json": manifest["json_bytes"]},
        "one_service": one,
        "goals": {"whole": WHOLE_GOAL, "one": ONE_GOAL},
        "floor_seconds": floor,
        "same_verdicts": same,
        "verdicts_vs_injected": accuracy,
        "phases": phases,
        "results": [asdict(m) for m in results],
    }
    (OUT / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written: {OUT / 'results.json'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
