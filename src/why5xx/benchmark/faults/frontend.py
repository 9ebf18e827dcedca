"""Faults in front of the Service: NetworkPolicies, the protocol the proxy
speaks, Ingresses and HTTPRoutes that lost their backend, class or Gateway."""

from __future__ import annotations

from why5xx.benchmark import fates, proxylog, shapes
from why5xx.benchmark.faults.base import (
    Injected,
    ingresses_of,
    log_5xx,
    new_image,
    port_of,
    recent,
    ref,
    service_of,
    serving_container,
    to_grpc,
    truth,
)
from why5xx.benchmark.workloads import App
from why5xx.benchmark.world import Raw, World
from why5xx.scenarios import Truth

# --- network-policy-block ----------------------------------------------------


def policy(world: World, namespace: str, name: str, spec: Raw) -> Raw:
    return world.add(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": world.meta(name, namespace, age=recent(world)),
            "spec": spec,
        }
    )


def default_deny(world: World, namespace: str, allow: str, *allowed: Raw) -> str:
    """The namespace's default-deny policy, and policy `allow` admitting the
    `allowed` peers to every pod; returns the deny policy's name."""
    name = "default-deny-ingress"
    policy(world, namespace, name, {"podSelector": {}, "policyTypes": ["Ingress"]})
    policy(
        world,
        namespace,
        allow,
        {
            "ingress": [{"from": [peer]} for peer in allowed],
            "podSelector": {},
            "policyTypes": ["Ingress"],
        },
    )
    return name


def namespace_peer(labels: dict[str, str]) -> Raw:
    return {"namespaceSelector": {"matchLabels": labels}}


def _allow(world: World, app: App, name: str, peer: Raw, port: int) -> None:
    """An allow rule for the app's pods from `peer` on `port`."""
    policy(
        world,
        app.namespace,
        name,
        {
            "ingress": [{"from": [peer], "ports": [{"port": port, "protocol": "TCP"}]}],
            "podSelector": {"matchLabels": dict(app.selector)},
            "policyTypes": ["Ingress"],
        },
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
    name = default_deny(world, app.namespace, "allow-same-namespace", {"podSelector": {}})
    return _block_truth(app, name, f"default-deny NetworkPolicy added to {app.namespace}")


def allow_by_missing_label(world: World, app: App) -> Injected:
    """The allow rule selects the controller's namespace by a `name` label
    that namespace never had."""
    name = f"allow-ingress-to-{app.name}"
    _allow(world, app, name, namespace_peer({"name": shapes.NGINX_NAMESPACE}), port_of(app))
    return _block_truth(
        app, name, f"NetworkPolicy {name} selects the ingress namespace by a label it lacks"
    )


def allow_on_service_port(world: World, app: App) -> Injected:
    """The allow rule names the Service's port, not the pod's."""
    name = f"{app.name}-ingress"
    svc_port = service_of(app)["spec"]["ports"][0]["port"]
    peer = namespace_peer({"kubernetes.io/metadata.name": shapes.NGINX_NAMESPACE})
    _allow(world, app, name, peer, svc_port)
    return _block_truth(
        app, name, f"NetworkPolicy {name} admits port {svc_port}; the pods listen on {port_of(app)}"
    )


def deny_with_timeouts_in_logs(world: World, app: App) -> Injected:
    """Default-deny, and the controller's log full of connect timeouts: a
    timeout, but not one a longer read timeout would fix."""
    injected = default_deny_added(world, app)
    log_5xx(
        world,
        app,
        app.pods_of(),
        status=504,
        error=proxylog.CONNECT_TIMEOUT,
        took=5.001,
        within=600,
        count=world.rng.randrange(10, 40),
    )
    return Injected(
        truth=injected.truth, note=injected.note + "; the controller logs connect timeouts"
    )


# --- external-name-dns -------------------------------------------------------


def _external_name(world: World, app: App, host: str, note: str) -> Injected:
    """The app's Service becomes an alias (type ExternalName) for `host`;
    the workload behind it is gone."""
    world.apps.remove(app)
    svc = service_of(app)
    port = svc["spec"]["ports"][0]
    svc["spec"] = {
        "externalName": host,
        "ports": [{"name": port["name"], "port": port["port"], "protocol": "TCP"}],
        "sessionAffinity": "None",
        "type": "ExternalName",
    }
    return Injected(
        truth=truth(
            app,
            "external-name-dns",
            status=None,
            evidence=(ref("Service", app.namespace, svc["metadata"]["name"]),),
            http=(502, 503),
        ),
        note=note,
    )


def alias_to_moved_service(world: World, app: App) -> Injected:
    """The app moves to a new namespace; its old Service becomes an alias
    for the new one, under a name the new namespace does not use."""
    new = f"{app.namespace}-v2"
    world.namespace(new)
    host = f"{app.name}.{new}.svc.cluster.local"
    return _external_name(
        world, app, host, f"Service {app.name} aliases {host}, which no Service answers to"
    )


def alias_to_address(world: World, app: App) -> Injected:
    """Someone points an ExternalName at the old VM's IP address, or at
    localhost: DNS names only, and not those."""
    host = world.pick(["10.20.31.7", "192.168.14.20", "localhost", "127.0.0.1"])
    return _external_name(world, app, host, f"Service {app.name} is an ExternalName for {host}")


# --- backend-protocol-mismatch -----------------------------------------------


def app_moved_to_tls(world: World, app: App) -> Injected:
    """The app now terminates TLS itself on 8443; the Service and the
    Ingress moved to port 443, the Ingress still speaks HTTP."""
    svc = service_of(app)

    def change(template: Raw) -> None:
        main = serving_container(template)
        main["ports"] = [{"containerPort": 8443, "name": "https", "protocol": "TCP"}]
        for probe in ("readinessProbe", "livenessProbe"):
            if main.get(probe):
                main[probe]["httpGet"].update(port=8443, scheme="HTTPS")
        new_image(template)

    app.rollout(change, fates.serving(), ago=recent(world))
    svc["spec"]["ports"] = [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}
    ]
    _route_to_port(world, app, 443)
    return _protocol_truth(
        world, app, f"{app.name} serves HTTPS on 8443; ingress-nginx speaks HTTP to it"
    )


def _route_to_port(world: World, app: App, port: int) -> None:
    """The Ingress backends of the app's Service move to its new `port`."""
    name = service_of(app)["metadata"]["name"]
    for ing in ingresses_of(world, app):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if path["backend"]["service"]["name"] == name:
                    path["backend"]["service"]["port"] = {"number": port}


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
    app.rollout(lambda template: to_grpc(template, 50051), fates.serving(), ago=recent(world))
    svc["spec"]["ports"] = [
        {
            "appProtocol": "grpc",
            "name": "grpc",
            "port": 50051,
            "protocol": "TCP",
            "targetPort": "grpc",
        }
    ]
    _route_to_port(world, app, 50051)
    return _protocol_truth(
        world, app, f"{app.name} became a gRPC server; its Ingress has no GRPC backend-protocol"
    )


# --- ingress-backend-missing -------------------------------------------------


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
        f"Service {old} was renamed {svc['metadata']['name']}; "
        f"Ingress {ingress['metadata']['name']} still routes to {old}",
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


# --- ingress-class-missing ---------------------------------------------------


def _class_truth(ingress: Raw, note: str) -> Injected:
    return _ingress_truth(ingress, "ingress-class-missing", "failing", note, http=(404, 503))


def _classless(world: World, app: App) -> Raw:
    """The app's Ingress without a class, in a cluster without a default
    class: no controller serves it, so none wrote its status."""
    ingress = ingresses_of(world, app)[0]
    ingress["spec"].pop("ingressClassName", None)
    ingress["status"] = {"loadBalancer": {}}
    for klass in world.of_kind("IngressClass"):
        klass["metadata"].pop("annotations", None)
    return ingress


def ingress_class_typo(world: World, app: App) -> Injected:
    ingress = ingresses_of(world, app)[0]
    name = world.pick(["nginx-internal", "nginx-public", "ingress-nginx", "external"])
    ingress["spec"]["ingressClassName"] = name
    ingress["status"] = {"loadBalancer": {}}
    return _class_truth(ingress, f"Ingress {ingress['metadata']['name']} asks for class {name}")


def legacy_class_annotation(world: World, app: App) -> Injected:
    ingress = _classless(world, app)
    ingress["metadata"].setdefault("annotations", {})["kubernetes.io/ingress.class"] = world.pick(
        ["nginx-external", "public", "traefik"]
    )
    return _class_truth(
        ingress,
        f"Ingress {ingress['metadata']['name']} still uses the kubernetes.io/ingress.class "
        "annotation",
    )


def no_class_no_default(world: World, app: App) -> Injected:
    ingress = _classless(world, app)
    return _class_truth(
        ingress, f"Ingress {ingress['metadata']['name']} names no class and none is the default"
    )


# --- route-not-attached ------------------------------------------------------


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
        f"HTTPRoute {app.name} names Gateway {route['spec']['parentRefs'][0]['name']}, "
        "which does not exist",
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
