"""Faults in front of the Service: NetworkPolicies, the protocol the proxy
speaks, Ingresses and HTTPRoutes that lost their backend, class or Gateway."""

from __future__ import annotations

from why5xx.benchmark import fates, proxylog, shapes
from why5xx.benchmark.faults.base import (
    Injected,
    host_of,
    ingresses_of,
    main,
    new_image,
    port_of,
    recent,
    ref,
    service_of,
    truth,
)
from why5xx.benchmark.proxylog import Request
from why5xx.benchmark.workloads import App
from why5xx.benchmark.world import Raw, World
from why5xx.scenarios import Truth

# --- network-policy-block ---------------------------------------------------------------------


def policy(world: World, namespace: str, name: str, spec: Raw) -> Raw:
    return world.add(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": world.meta(name, namespace, age=recent(world)),
            "spec": spec,
        }
    )


def _block_truth(app: App, policy: str, note: str) -> Injected:
    return Injected(
        truth=truth(
            app,
            "network-policy-block",
            status="failing",
            evidence=(ref("NetworkPolicy", app.namespace, policy),),
            http=(504,),
        ),
        note=note,
    )


def default_deny_added(world: World, app: App) -> Injected:
    """The security team rolls out default-deny with an allow for the
    namespace's own pods: the ingress controller is in another namespace."""
    policy(
        world,
        app.namespace,
        "default-deny-ingress",
        {"podSelector": {}, "policyTypes": ["Ingress"]},
    )
    policy(
        world,
        app.namespace,
        "allow-same-namespace",
        {
            "ingress": [{"from": [{"podSelector": {}}]}],
            "podSelector": {},
            "policyTypes": ["Ingress"],
        },
    )
    return _block_truth(
        app, "default-deny-ingress", f"default-deny NetworkPolicy added to {app.namespace}"
    )


def allow_by_missing_label(world: World, app: App) -> Injected:
    """The allow rule selects the controller's namespace by a `name` label
    that namespace never had."""
    name = f"allow-ingress-to-{app.name}"
    policy(
        world,
        app.namespace,
        name,
        {
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"name": shapes.NGINX_NAMESPACE}}}
                    ],
                    "ports": [{"port": port_of(app), "protocol": "TCP"}],
                }
            ],
            "podSelector": {"matchLabels": dict(app.selector)},
            "policyTypes": ["Ingress"],
        },
    )
    return _block_truth(
        app, name, f"NetworkPolicy {name} selects the ingress namespace by a label it lacks"
    )


def allow_on_service_port(world: World, app: App) -> Injected:
    """The allow rule names the Service's port, not the pod's."""
    name = f"{app.name}-ingress"
    svc_port = service_of(app)["spec"]["ports"][0]["port"]
    policy(
        world,
        app.namespace,
        name,
        {
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": shapes.NGINX_NAMESPACE
                                }
                            }
                        }
                    ],
                    "ports": [{"port": svc_port, "protocol": "TCP"}],
                }
            ],
            "podSelector": {"matchLabels": dict(app.selector)},
            "policyTypes": ["Ingress"],
        },
    )
    return _block_truth(
        app, name, f"NetworkPolicy {name} admits port {svc_port}; the pods listen on {port_of(app)}"
    )


def deny_with_timeouts_in_logs(world: World, app: App) -> Injected:
    """Default-deny, and the controller's log full of connect timeouts: a
    timeout, but not one a longer read timeout would fix."""
    injected = default_deny_added(world, app)
    pods = app.pods_of()

    def traffic(objects: list[Raw]) -> list[Request]:
        addresses = [a for n in pods if (a := proxylog.pod_address(objects, app.namespace, n))]
        return [
            Request(
                ago=world.rng.uniform(1, 600),
                upstream=world.pick(addresses),
                status=504,
                error=proxylog.CONNECT_TIMEOUT,
                took=5.001,
            )
            for _ in range(world.rng.randrange(10, 40))
        ]

    proxylog.log_requests(world, service_of(app), host_of(world, app), traffic)
    return Injected(
        truth=injected.truth, note=injected.note + "; the controller logs connect timeouts"
    )


# --- backend-protocol-mismatch ------------------------------------------------------------------


def app_moved_to_tls(world: World, app: App) -> Injected:
    """The app now terminates TLS itself on 8443; the Service and the
    Ingress moved to port 443, the Ingress still speaks HTTP."""
    svc = service_of(app)

    def change(template: Raw) -> None:
        main = main(template)
        main["ports"] = [{"containerPort": 8443, "name": "https", "protocol": "TCP"}]
        for probe in ("readinessProbe", "livenessProbe"):
            if main.get(probe):
                main[probe]["httpGet"].update(port=8443, scheme="HTTPS")
        new_image(template)

    app.rollout(change, fates.serving(), ago=recent(world))
    svc["spec"]["ports"] = [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}
    ]
    for ing in ingresses_of(world, app):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] == svc["metadata"]["name"]:
                    path["backend"]["service"]["port"] = {"number": 443}
    return _protocol_truth(
        world, app, f"{app.name} serves HTTPS on 8443; ingress-nginx speaks HTTP to it"
    )


def _protocol_truth(world: World, app: App, note: str) -> Injected:
    svc = service_of(app)
    ingress = ingresses_of(world, app)[0]
    return Injected(
        truth=truth(
            app,
            "backend-protocol-mismatch",
            status="failing",
            evidence=(
                ref("Ingress", app.namespace, ingress["metadata"]["name"]),
                ref("Service", app.namespace, svc["metadata"]["name"]),
            ),
            http=(502,),
        ),
        note=note,
    )


def https_annotation_on_plain(world: World, app: App) -> Injected:
    for ing in ingresses_of(world, app):
        ing["metadata"].setdefault("annotations", {})[
            "nginx.ingress.kubernetes.io/backend-protocol"
        ] = "HTTPS"
    svc = service_of(app)
    svc["spec"]["ports"][0]["appProtocol"] = "http"
    return _protocol_truth(
        world,
        app,
        f"an HTTPS backend-protocol annotation was added in front of plain-HTTP {app.name}",
    )


def grpc_without_annotation(world: World, app: App) -> Injected:
    svc = service_of(app)

    def change(template: Raw) -> None:
        main = main(template)
        main["ports"] = [{"containerPort": 50051, "name": "grpc", "protocol": "TCP"}]
        main["readinessProbe"] = {
            "grpc": {"port": 50051},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        }
        main.pop("livenessProbe", None)
        new_image(template)

    app.rollout(change, fates.serving(), ago=recent(world))
    svc["spec"]["ports"] = [
        {
            "appProtocol": "grpc",
            "name": "grpc",
            "port": 50051,
            "protocol": "TCP",
            "targetPort": "grpc",
        }
    ]
    for ing in ingresses_of(world, app):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] == svc["metadata"]["name"]:
                    path["backend"]["service"]["port"] = {"number": 50051}
    return _protocol_truth(
        world, app, f"{app.name} became a gRPC server; its Ingress has no GRPC backend-protocol"
    )


# --- ingress-backend-missing ----------------------------------------------------------------------


def _ingress_truth(
    ingress: Raw, cause: str, status: str, note: str, http: tuple[int, ...] = (503,)
) -> Injected:
    meta = ingress["metadata"]
    return Injected(
        truth=Truth(
            target=f"ingress/{meta['name']}",
            namespace=meta["namespace"],
            cause=cause,
            status=status,
            http_status=http,
            evidence=(ref("Ingress", meta["namespace"], meta["name"]),),
        ),
        note=note,
    )


def _ingress_status(ingress: Raw) -> str:
    """Failing when the broken backend is all the Ingress routes to."""
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    return "failing" if len(paths) == 1 else "degraded"


def service_renamed(world: World, app: App) -> Injected:
    """The chart upgrade renamed the Service; the hand-written Ingress
    still routes to the old name."""
    ingress = ingresses_of(world, app)[0]
    svc = service_of(app)
    old = svc["metadata"]["name"]
    svc["metadata"]["name"] = f"{old}-{world.pick(['web', 'svc', 'http', app.namespace])}"
    return _ingress_truth(
        ingress,
        "ingress-backend-missing",
        _ingress_status(ingress),
        f"Service {old} was renamed {svc['metadata']['name']}; Ingress {ingress['metadata']['name']} still routes to {old}",
    )


def service_port_renamed(world: World, app: App) -> Injected:
    """The chart renamed the Service's port; an Ingress names it by the old name."""
    ingress = ingresses_of(world, app)[0]
    svc = service_of(app)
    port = svc["spec"]["ports"][0]
    old = port["name"]
    port["name"] = world.pick(["web", "http-web", "tcp-http"])
    svc_name = svc["metadata"]["name"]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            if path["backend"]["service"]["name"] == svc_name:
                path["backend"]["service"]["port"] = {"name": old}
    if isinstance(port["targetPort"], str):
        port["targetPort"] = port_of(app)
    return _ingress_truth(
        ingress,
        "ingress-backend-missing",
        _ingress_status(ingress),
        f"Service port {old} of {svc_name} renamed {port['name']}",
    )


# --- ingress-class-missing -------------------------------------------------------------------------


def ingress_class_typo(world: World, app: App) -> Injected:
    ingress = ingresses_of(world, app)[0]
    ingress["spec"]["ingressClassName"] = world.pick(
        ["nginx-internal", "nginx-public", "ingress-nginx", "external"]
    )
    ingress["status"] = {"loadBalancer": {}}
    return _ingress_truth(
        ingress,
        "ingress-class-missing",
        "failing",
        f"Ingress {ingress['metadata']['name']} asks for class {ingress['spec']['ingressClassName']}",
        http=(404, 503),
    )


def legacy_class_annotation(world: World, app: App) -> Injected:
    ingress = ingresses_of(world, app)[0]
    ingress["spec"].pop("ingressClassName", None)
    ingress["metadata"].setdefault("annotations", {})["kubernetes.io/ingress.class"] = world.pick(
        ["nginx-external", "public", "traefik"]
    )
    ingress["status"] = {"loadBalancer": {}}
    for klass in world.of_kind("IngressClass"):
        klass["metadata"].pop("annotations", None)
    return _ingress_truth(
        ingress,
        "ingress-class-missing",
        "failing",
        f"Ingress {ingress['metadata']['name']} still uses the kubernetes.io/ingress.class annotation",
        http=(404, 503),
    )


def no_class_no_default(world: World, app: App) -> Injected:
    ingress = ingresses_of(world, app)[0]
    ingress["spec"].pop("ingressClassName", None)
    ingress["status"] = {"loadBalancer": {}}
    for klass in world.of_kind("IngressClass"):
        klass["metadata"].pop("annotations", None)
    return _ingress_truth(
        ingress,
        "ingress-class-missing",
        "failing",
        f"Ingress {ingress['metadata']['name']} names no class and none is the default",
        http=(404, 503),
    )


# --- route-not-attached ----------------------------------------------------------------------------


def _route(world: World, app: App) -> Raw:
    found = world.find("HTTPRoute", app.namespace, app.name)
    assert found is not None
    return found


def _route_truth(route: Raw, note: str) -> Injected:
    meta = route["metadata"]
    return Injected(
        truth=Truth(
            target=f"httproute/{meta['name']}",
            namespace=meta["namespace"],
            cause="route-not-attached",
            status="failing",
            http_status=(404,),
            evidence=(ref("HTTPRoute", meta["namespace"], meta["name"]),),
        ),
        note=note,
    )


def route_to_missing_gateway(world: World, app: App) -> Injected:
    route = _route(world, app)
    route["spec"]["parentRefs"][0]["name"] = world.pick(["eg-public", "external", "main-gateway"])
    route["status"] = {"parents": []}
    return _route_truth(
        route,
        f"HTTPRoute {app.name} names Gateway {route['spec']['parentRefs'][0]['name']}, which does not exist",
    )


def route_not_allowed(world: World, app: App) -> Injected:
    """The route's namespace lost the label the Gateway's listener admits."""
    route = _route(world, app)
    parent = route["spec"]["parentRefs"][0]
    if parent["namespace"] == app.namespace:
        gateway = world.find("Gateway", app.namespace, "eg")
        assert gateway is not None
        world.remove(gateway)
        gateway["metadata"]["namespace"] = "infra"
        world.namespace("infra")
        world.add(gateway)
        gateway["spec"]["listeners"][0]["allowedRoutes"] = {
            "namespaces": {
                "from": "Selector",
                "selector": {"matchLabels": {"gateway-access": "true"}},
            }
        }
        for other in world.of_kind("HTTPRoute"):
            other["spec"]["parentRefs"][0]["namespace"] = "infra"
            for status in other["status"]["parents"]:
                status["parentRef"]["namespace"] = "infra"
    ns = world.find("Namespace", "", app.namespace)
    assert ns is not None
    ns["metadata"]["labels"].pop("gateway-access", None)
    for status in route["status"]["parents"]:
        status["conditions"][0] = {
            "lastTransitionTime": world.ts(recent(world)),
            "message": "No listeners included by this parent ref allowed this attachment.",
            "observedGeneration": 1,
            "reason": "NotAllowedByListeners",
            "status": "False",
            "type": "Accepted",
        }
    return _route_truth(
        route, f"namespace {app.namespace} lost the label Gateway eg admits routes by"
    )


def route_wrong_listener(world: World, app: App) -> Injected:
    route = _route(world, app)
    route["spec"]["parentRefs"][0]["sectionName"] = "https"
    for status in route["status"]["parents"]:
        status["parentRef"]["sectionName"] = "https"
        status["conditions"][0] = {
            "lastTransitionTime": world.ts(recent(world)),
            "message": "No listeners match this parent ref",
            "observedGeneration": 2,
            "reason": "NoMatchingParent",
            "status": "False",
            "type": "Accepted",
        }
    return _route_truth(
        route, f"HTTPRoute {app.name} attaches to listener https, which Gateway eg does not have"
    )
