"""How many pods survive voluntary disruptions and scaling: no
PodDisruptionBudget, one that allows nothing or selects nothing, an
autoscaler that may scale to zero or below what the budget requires."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from why5xx.kube import scaled_value
from why5xx.lint.base import Relation, check, k8sgpt, kube_linter, popeye
from why5xx.lint.checks.common import named, workload_level
from why5xx.lint.manifests import SCALED_KINDS, Manifests, fewest_pods, min_replicas
from why5xx.lint.model import Level, Problem, Scope
from why5xx.snapshot import Obj


@check(
    code="W5X501",
    name="no-pod-disruption-budget",
    level=Level.WARNING,
    scope=Scope.WORKLOAD,
    peers=(
        kube_linter(
            None, Relation.ONLY_HERE, "kube-linter checks the PDBs there are, not their absence"
        ),
        popeye("206", Relation.SAME, "on a live cluster only, for every pod (info)"),
    ),
)
def no_pod_disruption_budget(manifests: Manifests, workload: Obj) -> Iterator[Problem]:
    """A multi-replica workload behind a Service has no PodDisruptionBudget.

    **What it finds**: a Deployment, StatefulSet, ReplicaSet or
    ReplicationController behind a Service that runs at least 2 pods
    (`replicas`, or an autoscaler's `minReplicas`) and whose pod labels no
    PodDisruptionBudget in its namespace selects. One replica is
    `single-replica-behind-route`'s business: a budget cannot protect a
    single pod without blocking drains. A warning where an HTTP proxy fronts
    the workload; `info` otherwise.

    **Why it is a 5xx**: nothing stops a node drain, a cluster upgrade or
    the autoscaler's scale-down from evicting every pod of the workload at
    once: the Service has no endpoints (503) until new pods are ready.

    **Fix**: a PodDisruptionBudget that selects the pods with
    `maxUnavailable: 1` (it scales with the replica count).
    """
    if workload.kind not in SCALED_KINDS or not manifests.services_of(workload):
        return
    pods = fewest_pods(manifests, workload)
    if pods is None or pods < 2 or manifests.pdbs_of(workload):
        return
    yield Problem(
        subject=workload,
        field="metadata.labels",
        message=(
            f"{named(workload)} runs {pods} pods behind Service "
            f"{manifests.services_of(workload)[0].name} and no PodDisruptionBudget selects them"
        ),
        fix=(
            "Add a PodDisruptionBudget with maxUnavailable: 1 whose selector matches the pod "
            "template labels."
        ),
        level=workload_level(manifests, workload),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """What a PodDisruptionBudget allows for the pods it selects."""

    pods: int  # the pods it expects (the fewest the workloads run)
    allowed: int  # evictions allowed when all of them are healthy
    field: str
    rule: str  # e.g. "minAvailable 3"
    minimum: int | None = None  # minAvailable, resolved


def budget(manifests: Manifests, pdb: Obj) -> Budget | None:
    """The budget at the fewest pods its workloads run (an autoscaler's
    minimum): None when it selects nothing, a DaemonSet or a bare pod, or
    sets neither field. Percentages round up, as the disruption controller
    rounds them."""
    counts = [fewest_pods(manifests, w) for w in manifests.pdb_workloads(pdb)]
    if not counts or None in counts:
        return None
    pods = sum(c for c in counts if c is not None)
    spec = pdb.spec
    if spec.get("maxUnavailable") is not None:
        allowed = scaled_value(spec["maxUnavailable"], pods, round_up=True)
        return Budget(
            pods=pods,
            allowed=allowed,
            field="spec.maxUnavailable",
            rule=f"maxUnavailable {spec['maxUnavailable']}",
        )
    if spec.get("minAvailable") is not None:
        minimum = scaled_value(spec["minAvailable"], pods, round_up=True)
        return Budget(
            pods=pods,
            allowed=pods - minimum,
            field="spec.minAvailable",
            rule=f"minAvailable {spec['minAvailable']}",
            minimum=minimum,
        )
    return None


@check(
    code="W5X502",
    name="pdb-blocks-eviction",
    level=Level.WARNING,
    scope=Scope.PDB,
    peers=(
        kube_linter("pdb-max-unavailable, pdb-min-available", Relation.SAME),
        popeye(
            "901",
            Relation.STRICTER,
            "popeye flags minAvailable above the running pods, not equal to them; live only",
        ),
        k8sgpt("PodDisruptionBudget", Relation.SAME, "an additional analyzer, live only"),
    ),
)
def pdb_blocks_eviction(manifests: Manifests, pdb: Obj) -> Iterator[Problem]:
    """A PodDisruptionBudget allows no pod to be evicted.

    **What it finds**: a PodDisruptionBudget whose `maxUnavailable` is 0, or
    whose `minAvailable` is at least the pods of the workloads it selects
    (their `replicas`, or an autoscaler's `minReplicas`; percentages rounded
    up, as the disruption controller rounds them). An autoscaler minimum
    below `minAvailable` is `hpa-min-below-pdb`.

    **Why it is a 5xx**: not a 5xx by itself, but it blocks every node drain
    and cluster upgrade until someone deletes the budget by hand, under
    pressure, with nothing left protecting the pods, or the drain times out
    and the node is torn down with them (503 until they are rescheduled).

    **Fix**: `maxUnavailable: 1`, or a `minAvailable` below the replica count.
    """
    found = budget(manifests, pdb)
    if found is None or found.allowed > 0:
        return
    workloads = manifests.pdb_workloads(pdb)
    minimum = found.minimum
    hpas = [hpa for w in workloads for hpa in manifests.hpas_of(w)]
    if minimum is not None and any(min_replicas(hpa) < minimum for hpa in hpas):
        return  # hpa-min-below-pdb says it better
    yield Problem(
        subject=pdb,
        field=found.field,
        message=(
            f"PodDisruptionBudget {pdb.name} ({found.rule}) allows no eviction of the "
            f"{found.pods} pod(s) of {', '.join(named(w) for w in workloads)}: node drains stall"
        ),
        fix="Set maxUnavailable: 1 (and drop minAvailable), so pods can be evicted one at a time.",
        related=workloads,
    )


@check(
    code="W5X503",
    name="pdb-selects-nothing",
    level=Level.WARNING,
    scope=Scope.PDB,
    peers=(popeye("900", Relation.SAME, "on a live cluster only"),),
)
def pdb_selects_nothing(manifests: Manifests, pdb: Obj) -> Iterator[Problem]:
    """A PodDisruptionBudget selects no workload in the manifests.

    **What it finds**: a PodDisruptionBudget whose `spec.selector`
    (`matchLabels` and `matchExpressions`) matches the pod template labels of
    no workload in its namespace. A budget without a selector selects
    nothing (policy/v1).

    **Why it is a 5xx**: the pods it was written for have no budget: a
    drain may evict them all at once (503), while the budget suggests they
    are protected.

    **Fix**: set `spec.selector.matchLabels` to the pod template labels of
    the workload it protects.
    """
    if manifests.pdb_workloads(pdb):
        return
    yield Problem(
        subject=pdb,
        field="spec.selector",
        message=f"PodDisruptionBudget {pdb.name} selects no workload in namespace {pdb.namespace}",
        fix="Set spec.selector.matchLabels to the pod template labels of the workload it protects.",
    )


@check(
    code="W5X601",
    name="hpa-min-replicas-zero",
    level=Level.WARNING,
    scope=Scope.HPA,
    peers=(
        kube_linter(
            "hpa-minimum-three-replicas",
            Relation.SAME,
            "kube-linter's is off by default and flags any minReplicas below 3",
        ),
    ),
)
def hpa_min_replicas_zero(manifests: Manifests, hpa: Obj) -> Iterator[Problem]:
    """A HorizontalPodAutoscaler may scale a workload behind a Service to zero.

    **What it finds**: a HorizontalPodAutoscaler with `minReplicas: 0`
    (allowed with the `HPAScaleToZero` feature gate) whose target workload
    is behind a Service.

    **Why it is a 5xx**: at zero replicas the Service has no endpoints and
    answers 503; the first requests after an idle period fail, since
    nothing holds them while a pod starts.

    **Fix**: `minReplicas: 1` or more; to scale to zero on purpose, put a
    component in front that holds requests while a pod starts (KEDA's HTTP
    add-on, Knative).
    """
    target = manifests.hpa_target(hpa)
    if hpa.spec.get("minReplicas") != 0 or target is None or not manifests.services_of(target):
        return
    yield Problem(
        subject=hpa,
        field="spec.minReplicas",
        message=(
            f"HorizontalPodAutoscaler {hpa.name} may scale {named(target)}, behind Service "
            f"{manifests.services_of(target)[0].name}, to zero pods"
        ),
        fix="Set minReplicas to at least 1 (2 behind an Ingress).",
        related=(target,),
    )


@check(
    code="W5X602",
    name="hpa-min-below-pdb",
    level=Level.WARNING,
    scope=Scope.HPA,
)
def hpa_min_below_pdb(manifests: Manifests, hpa: Obj) -> Iterator[Problem]:
    """A HorizontalPodAutoscaler's minReplicas is below a PodDisruptionBudget's minAvailable.

    **What it finds**: a HorizontalPodAutoscaler whose `minReplicas`
    (default 1) is below the integer `minAvailable` of a PodDisruptionBudget
    selecting the pods of its target.

    **Why it is a 5xx**: once the autoscaler scales down to its minimum the
    budget can never be met: no pod may be evicted, and node drains and
    upgrades stall (see `pdb-blocks-eviction`).

    **Fix**: raise `minReplicas` above `minAvailable`, or express the budget
    as `maxUnavailable: 1`, which follows the replica count.
    """
    target = manifests.hpa_target(hpa)
    if target is None:
        return
    for pdb in manifests.pdbs_of(target):
        required = pdb.spec.get("minAvailable")
        if not isinstance(required, int) or min_replicas(hpa) >= required:
            continue
        yield Problem(
            subject=hpa,
            field="spec.minReplicas",
            message=(
                f"HorizontalPodAutoscaler {hpa.name} may scale {named(target)} to "
                f"{min_replicas(hpa)} pod(s), below the minAvailable {required} of "
                f"PodDisruptionBudget {pdb.name}: no pod can then be evicted"
            ),
            fix=f"Set minReplicas above {required}, or give the budget maxUnavailable: 1.",
            related=(pdb, target),
        )
