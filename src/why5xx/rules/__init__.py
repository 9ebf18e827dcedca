"""The rule registry: every rule, listed explicitly (no import side effects).

Adding a cause: one module under `rules/`, its line here, scenarios under
`tests/scenarios/<cause>/`, and `make docs`.
"""

from __future__ import annotations

from collections.abc import Mapping

from why5xx.rules.base import Rule
from why5xx.rules.endpoints import endpoints_terminating
from why5xx.rules.externalname import external_name_dns
from why5xx.rules.gateway import route_not_attached
from why5xx.rules.headers import upstream_header_too_big
from why5xx.rules.ingress.backend_missing import ingress_backend_missing
from why5xx.rules.ingress.class_missing import ingress_class_missing
from why5xx.rules.listen import listen_localhost
from why5xx.rules.mesh.destination import mesh_destination_missing
from why5xx.rules.mesh.mtls import mtls_mismatch
from why5xx.rules.mesh.outlier import outlier_ejected
from why5xx.rules.mesh.port_protocol import mesh_port_protocol
from why5xx.rules.networkpolicy import network_policy_block
from why5xx.rules.pods.crash import crash_loop
from why5xx.rules.pods.image import image_pull
from why5xx.rules.pods.oom import oom_killed
from why5xx.rules.pods.pending import pods_pending
from why5xx.rules.ports import target_port_mismatch
from why5xx.rules.probes.readiness import readiness_probe_failing
from why5xx.rules.probes.startup import slow_startup
from why5xx.rules.proxy.keepalive import keepalive_race
from why5xx.rules.proxy.pool import connection_pool_exhausted
from why5xx.rules.proxy.protocol import backend_protocol_mismatch
from why5xx.rules.proxy.timeout import upstream_timeout
from why5xx.rules.rollout import rollout_no_prestop
from why5xx.rules.selection.no_matching_workload import no_matching_workload
from why5xx.rules.selection.scaled_to_zero import scaled_to_zero
from why5xx.rules.selection.selector_mismatch import selector_mismatch

RULES: tuple[Rule, ...] = (
    ingress_class_missing,
    route_not_attached,
    ingress_backend_missing,
    external_name_dns,
    mesh_destination_missing,
    selector_mismatch,
    no_matching_workload,
    scaled_to_zero,
    pods_pending,
    image_pull,
    oom_killed,
    listen_localhost,
    slow_startup,
    crash_loop,
    target_port_mismatch,
    readiness_probe_failing,
    endpoints_terminating,
    network_policy_block,
    backend_protocol_mismatch,
    mtls_mismatch,
    mesh_port_protocol,
    upstream_header_too_big,
    rollout_no_prestop,
    connection_pool_exhausted,
    upstream_timeout,
    keepalive_race,
    outlier_ejected,
)

# Code outside rules/ that runs a rule (lint) takes it from here, by cause id.
BY_CAUSE: Mapping[str, Rule] = {r.cause: r for r in RULES}
