"""`make bench` (lint part): how long `why5xx lint` takes on 5,000 manifests,
and how much memory.

Generates 1,000 small apps of five objects each (Deployment, Service,
ConfigMap, PodDisruptionBudget, and an Ingress or an autoscaler), spread
over 20 namespaces, with defects sown in a share of them (a targetPort no
container declares, no preStop drain, one replica behind an Ingress...), as
YAML: one multi-document file per app (`why5xx lint DIR`) and the same as
one stream on standard input (`helm template ... | why5xx lint -`), whose
`# Source:` comments make it 1,000 Helm charts, so 1,000 applications
linted one by one. Each command runs in a fresh process (imports count),
`--runs` times, in turns; the table gives the median wall time, the peak
RSS, and the ratio to the baseline measured in the same run: the same
directory with `lint: {scope: all}` (every object compared with every
other in one application, as lint did before it split its input into
applications). Then, in one process, where the time goes: reading,
splitting into applications, indexing and checks, SARIF.

Results go to bench/out/lint-results.json. A benchmark, not a test: it
fails only when a command fails or finds other than the defects sown.

    python bench/lint_bench.py [--apps 1000] [--runs 3]
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
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "lint"
ROOT = BENCH.parent
WHY5XX = [sys.executable, "-m", "why5xx"]
OBJECTS_PER_APP = 5


def _app(index: int) -> str:
    """Five objects of one app, as YAML documents."""
    name = f"app-{index:04d}"
    namespace = f"team-{index % 20:02d}"
    target = "web" if index % 7 == 0 else "http"
    prestop = "" if index % 11 == 0 else "          lifecycle: {preStop: {sleep: {seconds: 10}}}\n"
    replicas = 1 if index % 13 == 0 else 3
    # Every 17th app: a liveness probe that checks what readiness does, as soon.
    liveness = (
        "{httpGet: {path: /ready, port: http}, periodSeconds: 5}"
        if index % 17 == 0
        else "{httpGet: {path: /livez, port: http}, failureThreshold: 6}"
    )
    extra = [
        f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  ingressClassName: nginx
  rules:
  - host: {name}.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {{service: {{name: {name}, port: {{name: http}}}}}}
""",
        f"""apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: 3
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}
""",
    ][index % 2]
    return f"""# Source: {name}/templates/all.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {name}, team: {namespace}}}
spec:
  replicas: {replicas}
  minReadySeconds: 10
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}, team: {namespace}}}
    spec:
      terminationGracePeriodSeconds: 45
      containers:
        - name: app
          image: registry.example.com/{namespace}/{name}:1.{index % 9}.0
          ports: [{{name: http, containerPort: 8080}}, {{name: metrics, containerPort: 9090}}]
          envFrom: [{{configMapRef: {{name: {name}}}}}]
          readinessProbe: {{httpGet: {{path: /ready, port: http}}, periodSeconds: 5}}
          livenessProbe: {liveness}
{prestop}          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{memory: 256Mi}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: {target}}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, namespace: {namespace}}}
data:
  LOG_LEVEL: info
  UPSTREAM: http://app-{(index + 1) % 1000:04d}.{namespace}.svc.cluster.local
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app: {name}}}}}
---
{extra}"""


def expected(apps: int) -> Counter[str]:
    """How many findings of each sown defect lint lists (warning and error):
    a targetPort no container declares (every 7th app; its containers then
    serve no port of the Service, so the container checks pass over them),
    no preStop (11th), one replica (13th), the same readiness and liveness
    probe (17th). Only the apps with an Ingress (the even ones) are fronted
    by a proxy: in the others the last three are `info`, not listed."""
    found: Counter[str] = Counter()
    for index in range(apps):
        serving = index % 7 != 0
        fronted = index % 2 == 0
        found["W5X103"] += not serving
        found["W5X401"] += fronted and serving and index % 11 == 0
        found["W5X405"] += fronted and index % 13 == 0
        found["W5X304"] += fronted and serving and index % 17 == 0
    return found


def generate(apps: int) -> tuple[Path, Path]:
    if OUT.exists():
        shutil.rmtree(OUT)
    directory = OUT / "manifests"
    directory.mkdir(parents=True)
    documents = [_app(i) for i in range(apps)]
    for index, text in enumerate(documents):
        (directory / f"app-{index:04d}.yaml").write_text(text)
    stream = OUT / "helm-template.yaml"
    stream.write_text("".join(f"---\n{text}" for text in documents))
    return directory, stream


def run(argv: list[str], stdin: Path | None = None) -> tuple[float, float, bytes]:
    """Wall time, peak RSS (MB) and standard output of one fresh process."""
    env = {**os.environ, "WHY5XX_NO_CACHE": "1"}
    out, err = OUT / "stdout", OUT / "stderr"
    with (
        (stdin or Path(os.devnull)).open("rb") as source,
        out.open("wb") as sink,
        err.open("wb") as errors,
    ):
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, stdin=source, stdout=sink, stderr=errors, env=env, cwd=ROOT
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"failed ({code}): {' '.join(argv)}\n{err.read_text()}")
    return elapsed, usage.ru_maxrss / 1024, out.read_bytes()


_PHASES = """
import json, sys, time
start = time.perf_counter()
from why5xx import __version__
from why5xx.lint.checks import CHECKS
from why5xx.lint.inputs import read_files
from why5xx.lint.apps import applications
from why5xx.lint.manifests import as_written
from why5xx.lint.runner import lint_applications
from why5xx.report import lint_sarif
phases = {"import": time.perf_counter() - start}
mark = time.perf_counter()
read = read_files(sys.argv[1:])
phases["read"] = time.perf_counter() - mark
mark = time.perf_counter()
applications(as_written(read.objects, "default"), read.releases)
phases["applications"] = time.perf_counter() - mark
mark = time.perf_counter()
report = lint_applications(read.objects, releases=read.releases)
phases["index+checks"] = time.perf_counter() - mark
mark = time.perf_counter()
lint_sarif.render(report, CHECKS, version=__version__)
phases["sarif"] = time.perf_counter() - mark
print(json.dumps({"phases": phases, "objects": report.objects}))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=1000, help="apps of 5 objects (1000)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    directory, stream = generate(args.apps)
    objects = args.apps * OBJECTS_PER_APP
    size = sum(p.stat().st_size for p in directory.iterdir()) / 2**20
    print(
        f"why5xx lint: {objects} manifests in {args.apps} files ({size:.1f} MB), "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, median of {args.runs}"
    )
    baseline_config = OUT / "scope-all.yaml"
    baseline_config.write_text("lint: {scope: all}\n")
    commands = {
        "baseline: scope all": (
            [
                *WHY5XX,
                "lint",
                str(directory),
                "-o",
                "json",
                "--fail-on",
                "never",
                "--config",
                str(baseline_config),
            ],
            None,
        ),
        "lint DIR -o json": (
            [*WHY5XX, "lint", str(directory), "-o", "json", "--fail-on", "never"],
            None,
        ),
        "lint - (one stream)": ([*WHY5XX, "lint", "-", "-o", "json", "--fail-on", "never"], stream),
        "lint DIR -o sarif": (
            [*WHY5XX, "lint", str(directory), "-o", "sarif", "--fail-on", "never"],
            None,
        ),
    }
    results: dict[str, Any] = {"objects": objects, "files": args.apps, "megabytes": size}
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, list[float]] = {name: [] for name in commands}
    outputs: dict[str, bytes] = {}
    for _ in range(args.runs):  # in turns: a busy machine slows them alike
        for name, (command, stdin) in commands.items():
            elapsed, peak, outputs[name] = run(command, stdin)
            times[name].append(elapsed)
            peaks[name].append(peak)
    baseline = statistics.median(times["baseline: scope all"])
    for name, (command, _) in commands.items():
        out = outputs[name]
        if "json" in command:
            codes = Counter(f["code"] for f in json.loads(out)["findings"])
            sown = expected(args.apps)
            wrong = {c: (codes[c], n) for c, n in sown.items() if codes[c] != n}
            extra = sorted(set(codes) - set(sown))
            if wrong or extra:
                raise SystemExit(f"{name}: found {dict(codes)}, sowed {dict(sown)}")
        median = statistics.median(times[name])
        peak = max(peaks[name])
        results[name] = {
            "seconds": round(median, 3),
            "peak_rss_mb": round(peak, 1),
            "ratio_to_baseline": round(median / baseline, 2),
        }
        print(
            f"  {name:24} {median:6.2f} s  x{median / baseline:4.2f}  {peak:7.1f} MB peak RSS  "
            f"({objects / median:,.0f} objects/s)"
        )
    _, _, out = run([sys.executable, "-c", _PHASES, str(directory)])
    phases = json.loads(out)["phases"]
    results["phases"] = phases
    print("  in one process: " + "  ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    (BENCH / "out" / "lint-results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
