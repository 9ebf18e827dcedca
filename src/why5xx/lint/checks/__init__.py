"""The check registry: every lint check, listed explicitly (no import side
effects), in code order.

Adding a check: a function in the module of its family with `@check` (a
new code, never a retired one), its line here, a failing and a passing case
in `tests/lint/cases.yaml`, and `make docs`.
"""

from __future__ import annotations

from why5xx.lint.base import Check
from why5xx.lint.checks.disruption import (
    hpa_min_below_pdb,
    hpa_min_replicas_zero,
    no_pod_disruption_budget,
    pdb_blocks_eviction,
    pdb_selects_nothing,
)
from why5xx.lint.checks.probes import (
    liveness_kills_slow_start,
    no_readiness_probe,
    probe_port_name_unknown,
    probe_port_undeclared,
    readiness_same_as_liveness,
)
from why5xx.lint.checks.proxy import keepalive_shorter_than_proxy
from why5xx.lint.checks.rollout import (
    grace_period_within_prestop,
    no_min_ready_seconds,
    no_prestop_drain,
    rollout_drops_all_pods,
    single_replica_behind_route,
)
from why5xx.lint.checks.routes import (
    ingress_class_unknown,
    ingress_class_unset,
    route_backend_missing,
)
from why5xx.lint.checks.services import (
    selector_near_miss,
    service_selects_nothing,
    target_port_not_exposed,
)

CHECKS: tuple[Check, ...] = (
    service_selects_nothing,
    selector_near_miss,
    target_port_not_exposed,
    route_backend_missing,
    ingress_class_unknown,
    ingress_class_unset,
    probe_port_name_unknown,
    probe_port_undeclared,
    no_readiness_probe,
    readiness_same_as_liveness,
    liveness_kills_slow_start,
    no_prestop_drain,
    grace_period_within_prestop,
    no_min_ready_seconds,
    rollout_drops_all_pods,
    single_replica_behind_route,
    no_pod_disruption_budget,
    pdb_blocks_eviction,
    pdb_selects_nothing,
    hpa_min_replicas_zero,
    hpa_min_below_pdb,
    keepalive_shorter_than_proxy,
)
