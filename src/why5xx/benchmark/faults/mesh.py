"""Faults in an Istio mesh: subsets, mTLS, port protocols, outlier detection."""

from __future__ import annotations

from why5xx.benchmark import fates, shapes
from why5xx.benchmark.faults.base import (
    Injected,
    destination_rule_of,
    first,
    pod_ref,
    port_of,
    recent,
    ref,
    service_of,
    to_grpc,
    truth,
)
from why5xx.benchmark.workloads import App
from why5xx.benchmark.world import Raw, World

# --- mesh --------------------------------------------------------------------


def _mesh_truth(app: App, cause: str, ref: str, note: str, status: str = "failing") -> Injected:
    return Injected(truth=truth(app, cause, status=status, evidence=(ref,), http=(503,)), note=note)


def _canary_first(world: World, app: App, subsets: list[str], note: str) -> Injected:
    """A VirtualService sends all of the app's traffic to subset v2, while its
    DestinationRule defines `subsets` (labelled by version)."""
    rule = destination_rule_of(world, app)
    rule["spec"]["subsets"] = [{"labels": {"version": name}, "name": name} for name in subsets]
    port = service_of(app)["spec"]["ports"][0]["port"]
    vs = world.find("VirtualService", app.namespace, app.name) or shapes.virtual_service(world, app)
    destination = {"host": app.name, "port": {"number": port}, "subset": "v2"}
    vs["spec"]["http"] = [{"route": [{"destination": destination}]}]
    vs_ref = ref("VirtualService", app.namespace, vs["metadata"]["name"])
    return _mesh_truth(app, "mesh-destination-missing", vs_ref, note)


def subset_not_defined(world: World, app: App) -> Injected:
    """A canary VirtualService goes out before the DestinationRule that
    defines its subset."""
    return _canary_first(
        world,
        app,
        ["v1"],
        f"VirtualService {app.name} routes to subset v2, which no DestinationRule defines",
    )


def subset_selects_nothing(world: World, app: App) -> Injected:
    """The VirtualService and DestinationRule for a canary go out before the
    canary's pods."""
    return _canary_first(
        world,
        app,
        ["v1", "v2"],
        f"VirtualService {app.name} sends everything to subset v2; no pod is version v2 yet",
    )


def dr_disables_tls(world: World, app: App) -> Injected:
    """A DestinationRule turns TLS off while the mesh requires mTLS."""
    for policy in world.of_kind("PeerAuthentication"):
        policy["spec"]["mtls"]["mode"] = "STRICT"
    rule = destination_rule_of(world, app)
    rule["spec"]["trafficPolicy"] = {
        **rule["spec"].get("trafficPolicy", {}),
        "tls": {"mode": "DISABLE"},
    }
    return _mesh_truth(
        app,
        "mtls-mismatch",
        ref("DestinationRule", app.namespace, rule["metadata"]["name"]),
        f"DestinationRule {app.name} sets tls DISABLE under mesh-wide STRICT mTLS",
    )


def sidecar_removed(world: World, app: App) -> Injected:
    """The pods opt out of injection; the DestinationRule still says ISTIO_MUTUAL."""

    def change(template: Raw) -> None:
        template["spec"]["containers"] = [
            c for c in template["spec"]["containers"] if c["name"] != "istio-proxy"
        ]
        annotations = template["metadata"].setdefault("annotations", {})
        annotations.pop("sidecar.istio.io/status", None)
        annotations["sidecar.istio.io/inject"] = "false"
        for key in (
            "security.istio.io/tlsMode",
            "service.istio.io/canonical-name",
            "service.istio.io/canonical-revision",
        ):
            template["metadata"]["labels"].pop(key, None)

    app.rollout(change, fates.serving(), ago=recent(world))
    rule = destination_rule_of(world, app)
    rule["spec"]["trafficPolicy"] = {
        **rule["spec"].get("trafficPolicy", {}),
        "tls": {"mode": "ISTIO_MUTUAL"},
    }
    return _mesh_truth(
        app,
        "mtls-mismatch",
        pod_ref(app, first(app.pods_of())),
        f"{app.name} runs without a sidecar; its DestinationRule requires ISTIO_MUTUAL",
    )


def grpc_port_named_http(world: World, app: App) -> Injected:
    """The app became a gRPC server; its Service port is still named http."""
    port = port_of(app)
    app.rollout(lambda template: to_grpc(template, port), fates.serving(), ago=recent(world))
    svc = service_of(app)
    svc["spec"]["ports"][0]["targetPort"] = port_of(app)
    svc["spec"]["ports"][0]["name"] = "http"
    return _mesh_truth(
        app,
        "mesh-port-protocol",
        ref("Service", app.namespace, svc["metadata"]["name"]),
        f"{app.name} speaks gRPC; its Service port is named http",
    )


def eject_every_host(world: World, app: App) -> Injected:
    rule = destination_rule_of(world, app)
    rule["spec"]["trafficPolicy"] = {
        **rule["spec"].get("trafficPolicy", {}),
        "outlierDetection": {
            "baseEjectionTime": "3m",
            "consecutive5xxErrors": world.pick([1, 2]),
            "interval": "5s",
            "maxEjectionPercent": 100,
        },
    }
    return _mesh_truth(
        app,
        "outlier-ejected",
        ref("DestinationRule", app.namespace, rule["metadata"]["name"]),
        f"DestinationRule {app.name} may eject every host after one 5xx",
        status="degraded",
    )
