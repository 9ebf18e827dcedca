"""How a workload's pods leave and arrive during a rollout: the preStop drain
of a serving container, its grace period, and a strategy that can leave no
ready pod. Lint checks and the rollout-no-prestop rule ask the same."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from why5xx.evidence import fact
from why5xx.kube import scaled_value
from why5xx.model import Evidence
from why5xx.snapshot import Obj

# The API server's default `terminationGracePeriodSeconds`.
DEFAULT_GRACE = 30

# The drain the fixes propose: long enough for ingress-nginx (backend sync
# every second once the controller sees the EndpointSlice), kube-proxy and
# Envoy's EDS to drop the endpoint.
PROPOSED_SLEEP = 10

# A rolling update that keeps every old pod until a new one is available.
_SAFE_STRATEGY: Mapping[str, Any] = {
    "spec": {
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    }
}

_SLEEP = re.compile(r"\bsleep\s+(\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Drain:
    """A container's preStop hook, as far as it delays the shutdown."""

    how: str  # "sleep action 10 s", "exec: sleep 5 && nginx -s quit", "httpGet /drain"
    seconds: float | None  # how long it waits; None when it cannot be told


def prestop_drain(container: Mapping[str, Any]) -> Drain | None:
    """The preStop drain of a container spec, None when it has no preStop.

    Knows the native `lifecycle.preStop.sleep.seconds` action and an `exec`
    that runs `sleep N` (alone or before a graceful quit); an httpGet or
    another command is taken as a drain of unknown length."""
    pre = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        seconds = float((pre.get("sleep") or {}).get("seconds") or 0)
        return Drain(how=f"sleep action {seconds:g} s", seconds=seconds)
    if "exec" in pre:
        command = " ".join(str(w) for w in (pre.get("exec") or {}).get("command") or ())
        found = _SLEEP.search(command)
        return Drain(how=f"exec: {command}", seconds=float(found.group(1)) if found else None)
    if "httpGet" in pre:
        return Drain(how=f"httpGet {(pre.get('httpGet') or {}).get('path', '/')}", seconds=None)
    if pre:
        return Drain(how=", ".join(pre), seconds=None)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutProblem:
    text: str  # one clause, for the title
    certain: bool  # fails every rollout by construction, not only by a race
    evidence: Evidence
    patch: dict[str, Any] | None  # a JSON patch operation on the workload
    merge: Mapping[str, Any] | None = None  # or a merge patch


def grace_period(spec: Mapping[str, Any]) -> int:
    value = spec.get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE if value is None else int(value)


def strategy_problem(workload: Obj) -> RolloutProblem | None:
    if workload.kind != "Deployment":
        return None
    replicas = int(workload.spec.get("replicas", 1) or 0)
    strategy = workload.spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return RolloutProblem(
            text="its Recreate strategy stops every pod before starting new ones",
            certain=True,
            evidence=fact(workload, "spec.strategy.type", "Recreate", expected="RollingUpdate"),
            patch=None,
            merge=_SAFE_STRATEGY,
        )
    rolling = strategy.get("rollingUpdate") or {}
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if replicas and unavailable >= replicas:
        return RolloutProblem(
            text=(
                f"maxUnavailable {rolling.get('maxUnavailable')} lets a rollout take all "
                f"{replicas} pod(s) down at once"
            ),
            certain=True,
            evidence=fact(
                workload,
                "spec.strategy.rollingUpdate.maxUnavailable",
                str(rolling.get("maxUnavailable")),
                expected=f"< {replicas} (replicas)",
            ),
            patch=None,
            merge=_SAFE_STRATEGY,
        )
    return None
