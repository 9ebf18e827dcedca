"""Faults injected the way they happen, and the truth about each.

A fault changes what a person, a release or the infrastructure changes
(a label in a new ReplicaSet revision, a port in a new image, a probe
path, a memory limit, a NetworkPolicy added by another team, a scale to
zero, an Ingress that still names the old Service...) and gives the pods
the fate that change brings (`fates`). The consequences follow from the
controllers (`world`, `workloads`): endpoint conditions, events in the
kubelet's and the controllers' words, pod statuses. No fault writes a
label or field a rule could read its cause from.

Some faults mimic another cause (`mimics`): a crash loop of an app that
served for hours looks like a slow start, connect timeouts in the proxy's
log look like a read timeout. The `healthy` ones break nothing and add
what looks alarming: old OOM kills, evicted pods, a rollout in progress, a
default-deny NetworkPolicy that admits the ingress controller.
"""

from __future__ import annotations

from collections.abc import Callable

from why5xx.benchmark.faults import frontend, healthy, mesh, pods, proxy, selection
from why5xx.benchmark.faults.base import (
    ALL_SHAPES,
    NGINX_SHAPES,
    Fault,
    Inject,
    Injected,
    any_app,
    behind_nginx,
    both,
    in_mesh,
    is_deployment,
    port_of,
    routed,
    service_of,
    speaks_http,
)
from why5xx.benchmark.workloads import App
from why5xx.scenarios import HEALTHY

# --- the catalogue -----------------------------------------------------------

_STS = both(lambda a: a.kind == "StatefulSet", speaks_http)
_DEPLOY = both(is_deployment, speaks_http)
_NGINX_DEPLOY = both(_DEPLOY, behind_nginx)
_NOT_DATA = ("shop", "autoscaled", "gateway", "mesh")
_NOT_MESH = ("shop", "autoscaled", "gateway", "data")
_WEB = ("shop", "autoscaled", "gateway")
_SHOPS = ("shop", "autoscaled")


def _local_server(app: App) -> bool:
    """A Deployment of a server probed over HTTP."""
    return _DEPLOY(app) and app.runtime != "nginx"


def _umbrella(app: App) -> bool:
    """Its Service selects by the release's instance label too."""
    return "app.kubernetes.io/instance" in service_of(app)["spec"]["selector"]


def _ports_differ(app: App) -> bool:
    """Behind ingress-nginx, on a Service port other than the pod's."""
    return behind_nginx(app) and service_of(app)["spec"]["ports"][0]["port"] != port_of(app)


def _f(
    name: str,
    cause: str,
    inject: Inject,
    shapes: tuple[str, ...],
    fits: Callable[[App], bool] = any_app,
    mimics: str | None = None,
) -> Fault:
    return Fault(name=name, cause=cause, shapes=shapes, inject=inject, fits=fits, mimics=mimics)


# name, cause (the truth), inject, shapes, [apps it fits, [the cause it mimics]]
FAULTS: tuple[Fault, ...] = (
    _f("version-label-bump", "selector-mismatch", selection.version_label_bump, _NOT_DATA, _DEPLOY),
    _f("service-selector-typo", "selector-mismatch", selection.service_selector_typo, ALL_SHAPES),
    _f("label-key-migrated", "selector-mismatch", selection.label_key_migrated, _WEB, _DEPLOY),
    _f("workload-deleted", "no-matching-workload", selection.workload_deleted, ALL_SHAPES),
    _f("moved-namespace", "no-matching-workload", selection.moved_namespace, _WEB, _DEPLOY),
    _f(
        "umbrella-release-deleted",
        "no-matching-workload",
        selection.umbrella_release_deleted,
        _SHOPS,
        _umbrella,
        "selector-mismatch",
    ),
    _f("scaled-to-zero-by-hand", "scaled-to-zero", selection.scaled_to_zero_by_hand, ALL_SHAPES),
    _f(
        "scaled-to-zero-under-hpa",
        "scaled-to-zero",
        selection.scaled_to_zero_under_hpa,
        ("autoscaled",),
    ),
    _f(
        "scaled-to-zero-draining",
        "scaled-to-zero",
        selection.scaled_to_zero_draining,
        ALL_SHAPES,
        any_app,
        "endpoints-terminating",
    ),
    _f("requests-raised", "pods-pending", pods.requests_raised, ALL_SHAPES, is_deployment),
    _f("node-pool-gone", "pods-pending", pods.node_pool_gone, ALL_SHAPES, is_deployment),
    _f("missing-configmap", "pods-pending", pods.missing_configmap, ALL_SHAPES, is_deployment),
    _f(
        "missing-secret-volume",
        "pods-pending",
        pods.missing_secret_volume,
        ALL_SHAPES,
        is_deployment,
    ),
    _f("unbound-claims", "pods-pending", pods.unbound_claims, ("data",), lambda a: bool(a.claims)),
    _f("tag-typo", "image-pull", pods.tag_typo, ALL_SHAPES, is_deployment),
    _f(
        "registry-unauthorized", "image-pull", pods.registry_unauthorized, ALL_SHAPES, is_deployment
    ),
    _f("registry-host-typo", "image-pull", pods.registry_host_typo, ALL_SHAPES),
    _f("limit-lowered", "oom-killed", pods.limit_lowered, ALL_SHAPES),
    _f(
        "heap-above-limit",
        "oom-killed",
        pods.heap_above_limit,
        ALL_SHAPES,
        lambda a: a.runtime == "jvm",
    ),
    _f("one-pod-oom", "oom-killed", pods.one_pod_oom, ALL_SHAPES, lambda a: a.replicas >= 2),
    _f("liveness-too-early", "slow-startup", pods.liveness_too_early, ALL_SHAPES, _DEPLOY),
    _f("config-crash", "crash-loop", pods.config_crash, ALL_SHAPES),
    _f("command-typo", "crash-loop", pods.command_typo, ALL_SHAPES, is_deployment),
    _f(
        "hung-after-serving",
        "crash-loop",
        pods.hung_after_serving,
        ALL_SHAPES,
        _DEPLOY,
        "slow-startup",
    ),
    _f(
        "port-changed-in-image",
        "target-port-mismatch",
        pods.port_changed_in_image,
        _NOT_MESH,
        _DEPLOY,
    ),
    _f(
        "target-port-name-typo",
        "target-port-mismatch",
        pods.target_port_name_typo,
        ALL_SHAPES,
        speaks_http,
    ),
    _f(
        "container-port-renamed",
        "target-port-mismatch",
        pods.container_port_renamed,
        _NOT_MESH,
        _DEPLOY,
    ),
    _f(
        "listen-localhost",
        "listen-localhost",
        pods.listen_localhost,
        ALL_SHAPES,
        _local_server,
        "readiness-probe-failing",
    ),
    _f(
        "listen-localhost-unprobed",
        "listen-localhost",
        pods.listen_localhost_unprobed,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "alias-to-moved-service",
        "external-name-dns",
        frontend.alias_to_moved_service,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "alias-to-address",
        "external-name-dns",
        frontend.alias_to_address,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "session-cookies-too-big",
        "upstream-header-too-big",
        proxy.session_cookies_too_big,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "buffer-lowered",
        "upstream-header-too-big",
        proxy.buffer_lowered,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "probe-path-changed",
        "readiness-probe-failing",
        pods.probe_path_changed,
        ALL_SHAPES,
        _DEPLOY,
    ),
    _f("probe-port-wrong", "readiness-probe-failing", pods.probe_port_wrong, ALL_SHAPES, _DEPLOY),
    _f("dependency-down", "readiness-probe-failing", pods.dependency_down, ALL_SHAPES, speaks_http),
    _f(
        "recreate-midway",
        "endpoints-terminating",
        pods.recreate_midway,
        ALL_SHAPES,
        is_deployment,
        "rollout-no-prestop",
    ),
    _f(
        "node-unreachable",
        "endpoints-terminating",
        pods.node_unreachable,
        ALL_SHAPES,
        is_deployment,
    ),
    _f(
        "rollout-refused-in-logs",
        "rollout-no-prestop",
        proxy.rollout_refused_in_logs,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "prestop-as-long-as-grace",
        "rollout-no-prestop",
        proxy.prestop_as_long_as_grace,
        ALL_SHAPES,
        _DEPLOY,
    ),
    _f("recreate-strategy", "rollout-no-prestop", proxy.recreate_strategy, ALL_SHAPES, _DEPLOY),
    _f(
        "default-deny-added",
        "network-policy-block",
        frontend.default_deny_added,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "allow-by-missing-label",
        "network-policy-block",
        frontend.allow_by_missing_label,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "allow-on-service-port",
        "network-policy-block",
        frontend.allow_on_service_port,
        NGINX_SHAPES,
        _ports_differ,
    ),
    _f(
        "deny-with-timeouts-in-logs",
        "network-policy-block",
        frontend.deny_with_timeouts_in_logs,
        NGINX_SHAPES,
        behind_nginx,
        "upstream-timeout",
    ),
    _f(
        "app-moved-to-tls",
        "backend-protocol-mismatch",
        frontend.app_moved_to_tls,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "https-annotation-on-plain",
        "backend-protocol-mismatch",
        frontend.https_annotation_on_plain,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "grpc-without-annotation",
        "backend-protocol-mismatch",
        frontend.grpc_without_annotation,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "load-test-breaker-left",
        "connection-pool-exhausted",
        proxy.load_test_breaker_left,
        ("mesh",),
        in_mesh,
    ),
    _f(
        "autoscaler-ceiling",
        "connection-pool-exhausted",
        proxy.autoscaler_ceiling,
        ("autoscaled",),
        is_deployment,
    ),
    _f("gateway-breaker", "connection-pool-exhausted", proxy.gateway_breaker, ("gateway",), routed),
    _f(
        "export-slower-than-proxy",
        "upstream-timeout",
        proxy.export_slower_than_proxy,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "configmap-read-timeout-lowered",
        "upstream-timeout",
        proxy.configmap_read_timeout_lowered,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "gthread-default-keepalive",
        "keepalive-race",
        proxy.gthread_default_keepalive,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f(
        "uvicorn-default-keepalive",
        "keepalive-race",
        proxy.uvicorn_default_keepalive,
        NGINX_SHAPES,
        _NGINX_DEPLOY,
    ),
    _f("node-behind-sidecar", "keepalive-race", proxy.node_behind_sidecar, ("mesh",), in_mesh),
    _f(
        "service-renamed",
        "ingress-backend-missing",
        frontend.service_renamed,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "service-port-renamed",
        "ingress-backend-missing",
        frontend.service_port_renamed,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "ingress-class-typo",
        "ingress-class-missing",
        frontend.ingress_class_typo,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "legacy-class-annotation",
        "ingress-class-missing",
        frontend.legacy_class_annotation,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "no-class-no-default",
        "ingress-class-missing",
        frontend.no_class_no_default,
        NGINX_SHAPES,
        behind_nginx,
    ),
    _f(
        "route-to-missing-gateway",
        "route-not-attached",
        frontend.route_to_missing_gateway,
        ("gateway",),
        routed,
    ),
    _f("route-not-allowed", "route-not-attached", frontend.route_not_allowed, ("gateway",), routed),
    _f(
        "route-wrong-listener",
        "route-not-attached",
        frontend.route_wrong_listener,
        ("gateway",),
        routed,
    ),
    _f(
        "subset-not-defined",
        "mesh-destination-missing",
        mesh.subset_not_defined,
        ("mesh",),
        in_mesh,
    ),
    _f(
        "subset-selects-nothing",
        "mesh-destination-missing",
        mesh.subset_selects_nothing,
        ("mesh",),
        in_mesh,
    ),
    _f("dr-disables-tls", "mtls-mismatch", mesh.dr_disables_tls, ("mesh",), in_mesh),
    _f("sidecar-removed", "mtls-mismatch", mesh.sidecar_removed, ("mesh",), in_mesh),
    _f("grpc-port-named-http", "mesh-port-protocol", mesh.grpc_port_named_http, ("mesh",), in_mesh),
    _f("eject-every-host", "outlier-ejected", mesh.eject_every_host, ("mesh",), in_mesh),
    _f("plain", HEALTHY, healthy.plain, ALL_SHAPES),
    _f("old-restarts", HEALTHY, healthy.old_restarts, ALL_SHAPES, any_app, "oom-killed"),
    _f("evicted-and-finished", HEALTHY, healthy.evicted_and_finished, ALL_SHAPES, is_deployment),
    _f("surge-in-progress", HEALTHY, healthy.surge_in_progress, ALL_SHAPES, _DEPLOY),
    _f(
        "rollout-with-prestop",
        HEALTHY,
        healthy.rollout_with_prestop,
        ALL_SHAPES,
        _DEPLOY,
        "rollout-no-prestop",
    ),
    _f("probe-blip", HEALTHY, healthy.probe_blip, ALL_SHAPES, any_app, "readiness-probe-failing"),
    _f("neighbours-on-fire", HEALTHY, healthy.neighbours_on_fire, _WEB, is_deployment),
    _f(
        "policy-admits-controller",
        HEALTHY,
        healthy.policy_admits_controller,
        NGINX_SHAPES,
        behind_nginx,
        "network-policy-block",
    ),
    _f("scaled-up-by-hpa", HEALTHY, healthy.scaled_up_by_hpa, ("autoscaled",), is_deployment),
    _f("statefulset-rolled", HEALTHY, healthy.statefulset_rolled, ("data",), _STS),
    _f("healthy-route", HEALTHY, healthy.healthy_route, ("gateway",), routed),
    _f("healthy-ingress", HEALTHY, healthy.healthy_ingress, NGINX_SHAPES, behind_nginx),
)

# Faults that can hit a second, unrelated app in the same cluster.
BACKGROUND: tuple[Inject, ...] = (
    pods.config_crash,
    pods.tag_typo,
    pods.requests_raised,
    pods.probe_path_changed,
    selection.scaled_to_zero_by_hand,
)

__all__ = ["BACKGROUND", "FAULTS", "Fault", "Injected"]
