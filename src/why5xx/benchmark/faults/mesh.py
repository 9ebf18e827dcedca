"""Faults in an Istio mesh: subsets, mTLS, port protocols, outlier detection."""

from __future__ import annotations

from why5xx.benchmark import fates, shapes
from why5xx.benchmark.faults.base import (
    Injected,
    first,
    main,
    new_image,
    pod_ref,
    port_of,
    recent,
    ref,
    service_of,
    truth,
)
from why5xx.benchmark.workloads import App
from why5xx.benchmark.world import Raw, World

# --- mesh ------------------------------------------------------------------------------------------


def _mesh_truth(app: App, cause: str, ref: str, note: str, status: str = "failing") -> Injected:
    return Injected(truth=truth(app, cause, status=status, evidence=(ref,), http=(503,)), note=note)


def destination_rule_of(world: World, app: App) -> Raw:
    rules = [
        d for d in world.of_kind("DestinationRule", app.namespace) if d["spec"]["host"] == app.name
    ]
    return rules[0] if rules else shapes.destination_rule(world, app, subsets=True)


def subset_not_defined(world: World, app: App) -> Injected:
    """A canary VirtualService goes out before the DestinationRule that
    defines its subset."""
    rule = destination_rule_of(world, app)
    rule["spec"]["subsets"] = [{"labels": {"version": "v1"}, "name": "v1"}]
    port = service_of(app)["spec"]["ports"][0]["port"]
    vs = world.find("VirtualService", app.namespace, app.name) or shapes.virtual_service(world, app)
    vs["spec"]["http"] = [
        {"route": [{"destination": {"host": app.name, "port": {"number": port}, "subset": "v2"}}]}
    ]
    return _mesh_truth(
        app,
        "mesh-destination-missing",
        ref("VirtualService", app.namespace, vs["metadata"]["name"]),
        f"VirtualService {app.name} routes to subset v2, which no DestinationRule defines",
    )


def subset_selects_nothing(world: World, app: App) -> Injected:
    rule = destination_rule_of(world, app)
    rule["spec"]["subsets"] = [
        {"labels": {"version": "v1"}, "name": "v1"},
        {"labels": {"version": "v2"}, "name": "v2"},
    ]
    port = service_of(app)["spec"]["ports"][0]["port"]
    vs = world.find("VirtualService", app.namespace, app.name) or shapes.virtual_service(world, app)
    vs["spec"]["http"] = [
        {"route": [{"destination": {"host": app.name, "port": {"number": port}, "subset": "v2"}}]}
    ]
    return _mesh_truth(
        app,
        "mesh-destination-missing",
        ref("VirtualService", app.namespace, vs["metadata"]["name"]),
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

    def change(template: Raw) -> None:
        main = main(template)
        port = main["ports"][0]["containerPort"]
        main["ports"][0]["name"] = "grpc"
        main["readinessProbe"] = {
            "grpc": {"port": port},
            "failureThreshold": 3,
            "periodSeconds": 10,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        }
        main.pop("livenessProbe", None)
        new_image(template)

    app.rollout(change, fates.serving(), ago=recent(world))
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
