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
import time
from dataclasses import asdict, dataclass
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


def _run(
    argv: list[str], env: dict[str, str], stdout: Path | None = None
) -> tuple[float, float, float]:
    """Wall time, peak RSS (MB) and CPU time of one process (with its children)."""
    sink = stdout.open("wb") if stdout else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    finally:
        if stdout:
            sink.close()  # type: ignore[union-attr]
    # why5xx exits 1 when it found a cause: that is a result, not a failure.
    if process.returncode not in (0, 1):
        raise SystemExit(f"failed ({process.returncode}): {' '.join(argv)}\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


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
        cpu_seconds=round(statistics.median(cpus), 2),
        goal=goal,
        note=note,
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
    print(f"{'':44} {'median s':>9} {'cpu s':>6} {'peak RSS MB':>12}  {'goal':>6}  runs")


def _print_row(m: Measure) -> None:
    goal = ""
    if m.goal is not None:
        goal = ("ok " if m.seconds < m.goal else "MISS") + f"<{m.goal:g}"
    runs = " ".join(f"{t:.2f}" for t in m.runs)
    print(
        f"{m.name:44} {m.seconds:9.2f} {m.cpu_seconds:6.2f} {m.peak_rss_mb:12.0f}  {goal:>6}  "
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="why5xx benchmark (see bench/run.py)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--regenerate", action="store_true", help="write bench/out/ again")
    args = parser.parse_args(argv)
    runs: int = args.runs

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
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), NO_COLOR="1")
    env.pop("WHY5XX_NO_CACHE", None)
    why5xx = [PYTHON, "-m", "why5xx", "diagnose"]
    whole = ["--all", "-A"]
    service = [f"service/{one['name']}", "-n", one["namespace"]]

    print(
        f"cluster: {counts['Pod']:,} pods, {counts['Service']:,} services, "
        f"{counts['Event']:,} events, {sum(counts.values()):,} objects; "
        f"YAML {yaml_mb:.0f} MB (one List), JSON {json_mb:.0f} MB ({len(json_files)} files)"
    )
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; runs: {runs}; "
        f"load average {load:.1f}"
        + ("  (busy: other work skews these numbers)" if load > 0.5 else "")
        + "\n"
    )
    _print_header()

    results: list[Measure] = []
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

    summary = {
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
