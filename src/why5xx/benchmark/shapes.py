"""Healthy clusters of the shapes people run, with the noise real ones carry.

Each shape builds a working cluster into a `World`: a microservice shop
behind ingress-nginx, an Istio mesh, stateful data services, HPA-managed
APIs, and apps behind a Gateway API gateway (Envoy Gateway). `noise` adds
what surrounds them: platform namespaces (monitoring, cert-manager, a batch
namespace with finished Jobs), unrelated Warning events, an abandoned app
crash-looping in a sandbox namespace.

The apps are configured the way a careful team configures them (app
servers whose keep-alive outlasts the proxy's, timeouts within the proxy's,
probes on the ports the app listens on), so a shape on its own is healthy:
everything a diagnosis finds was put there by a fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from why5xx.benchmark.fates import Note, completed, crash_loop, noted, timed_out
from why5xx.benchmark.workloads import (
    App,
    container,
    deploy,
    http_probe,
    mesh_proxy,
)
from why5xx.benchmark.world import DAY, HOUR, MINUTE, Raw, World

NGINX_NAMESPACE = "ingress-nginx"
NGINX_CLASS = "nginx"
NGINX_CONFIGMAP = "ingress-nginx-controller"
# The labels the ingress-nginx chart puts on the controller's pods.
NGINX_LABELS = {
    "app.kubernetes.io/component": "controller",
    "app.kubernetes.io/name": "ingress-nginx",
}
ISTIO_NAMESPACE = "istio-system"
GATEWAY_NAMESPACE = "envoy-gateway-system"

# Servers configured so that no proxy in front of them races or times out.
SAFE_RUNTIMES = ("go", "jvm", "uvicorn", "gunicorn", "gunicorn-gthread", "node", "nginx")
MESH_RUNTIMES = ("go", "jvm")
_PORTS = {"uvicorn": 8000, "gunicorn": 8000, "gunicorn-gthread": 8000, "node": 3000}
_READY_PATHS = {
    "go": "/readyz",
    "jvm": "/actuator/health/readiness",
    "uvicorn": "/health",
    "gunicorn": "/healthz/",
    "gunicorn-gthread": "/healthz/",
    "node": "/health",
    "nginx": "/",
}


def _version(world: World) -> str:
    return f"{world.rng.randrange(1, 6)}.{world.rng.randrange(0, 30)}.{world.rng.randrange(0, 12)}"


def runtime_port(runtime: str) -> int:
    return _PORTS.get(runtime, 8080)


def app_container(world: World, name: str, runtime: str, registry: str, team: str) -> Raw:
    """The serving container of an app on `runtime`, as its team writes it."""
    port = runtime_port(runtime)
    image = f"{registry}/{team}/{name}:{_version(world)}"
    probe_port: int | str = world.pick(["http", port])
    readiness = http_probe(_READY_PATHS[runtime], probe_port, period=world.pick([5, 10]))
    liveness = None
    if world.rng.random() < 0.6:
        initial = 90 if runtime == "jvm" else world.pick([10, 15, 30])
        liveness = http_probe(
            "/actuator/health/liveness" if runtime == "jvm" else "/healthz",
            probe_port,
            initial=initial,
            period=10,
        )
    pre_stop = None
    if world.rng.random() < 0.5:
        pre_stop = world.pick([{"sleep": {"seconds": 10}}, {"exec": {"command": ["sleep", "5"]}}])
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = {}
    memory, limit, cpu = "256Mi", "512Mi", "100m"
    if runtime == "jvm":
        env = {"JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=75.0", "SERVER_PORT": str(port)}
        memory, limit, cpu = "768Mi", "1Gi", "500m"
    elif runtime == "uvicorn":
        command = ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", str(port)]
        args = ["--proxy-headers", "--timeout-keep-alive", "75"]
    elif runtime == "gunicorn":
        command = ["gunicorn", "config.wsgi:application"]
        args = ["--bind", f"0.0.0.0:{port}", "--workers", "3", "--timeout", "30"]
    elif runtime == "gunicorn-gthread":
        command = ["gunicorn", "config.wsgi:application"]
        args = ["--bind", f"0.0.0.0:{port}", "--workers", "2", "--threads", "4"]
        env = {"GUNICORN_CMD_ARGS": "--keep-alive 75 --timeout 30"}
    elif runtime == "node":
        command, env = ["node", "dist/server.js"], {"PORT": str(port)}
    elif runtime == "nginx":
        image = f"nginxinc/nginx-unprivileged:1.27.{world.rng.randrange(0, 4)}-alpine"
    else:
        env = {"LISTEN_ADDR": f":{port}"}
    return container(
        name,
        image,
        port=port,
        command=command,
        args=args,
        env=env or None,
        readiness=readiness,
        liveness=liveness,
        memory=memory,
        limit=limit,
        cpu=cpu,
        pre_stop=pre_stop,
    )


def _helper(world: World) -> Raw:
    """A sidecar that serves no traffic: a log shipper or a database proxy."""
    name, image, port = world.pick(
        [
            ("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.2.2", 2020),
            ("cloud-sql-proxy", "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1", 9801),
        ]
    )
    return container(name, image, port=port, port_name="metrics", memory="32Mi", limit="128Mi")


def template(labels: dict[str, str], containers: list[Raw], **spec: object) -> Raw:
    return {"metadata": {"labels": labels}, "spec": {"containers": containers, **spec}}


@dataclass(frozen=True, slots=True, kw_only=True)
class Style:
    """How a team labels its workloads and Services."""

    keys: tuple[str, ...]  # label keys of the pod template; the Service selects by `selects`
    selects: tuple[str, ...]

    def labels(self, name: str, release: str) -> dict[str, str]:
        values = {
            "app": name,
            "version": "v1",
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/instance": release,
            "app.kubernetes.io/part-of": release,
            "tier": "backend",
        }
        return {key: values[key] for key in self.keys}


STYLES = (
    Style(keys=("app",), selects=("app",)),
    Style(keys=("app", "version"), selects=("app",)),
    Style(
        keys=("app.kubernetes.io/name", "app.kubernetes.io/instance"),
        selects=("app.kubernetes.io/name", "app.kubernetes.io/instance"),
    ),
    Style(
        keys=("app.kubernetes.io/name", "app.kubernetes.io/part-of"),
        selects=("app.kubernetes.io/name",),
    ),
    Style(keys=("app", "tier"), selects=("app", "tier")),
)


def web_app(
    world: World,
    namespace: str,
    name: str,
    *,
    runtime: str,
    exposure: str,
    style: Style,
    release: str,
    registry: str,
    replicas: int | None = None,
    mesh: bool = False,
    port: int = 80,
) -> App:
    """A Deployment and its Service."""
    labels = style.labels(name, release)
    main = app_container(world, name, runtime, registry, release)
    containers = [main, mesh_proxy()] if mesh else [main]
    if world.rng.random() < 0.2:
        containers.append(_helper(world))
    spec: dict[str, object] = {"serviceAccountName": name}
    if world.rng.random() < 0.3:
        spec["terminationGracePeriodSeconds"] = world.pick([30, 45, 60])
    pod_template = template(labels, containers, **spec)
    if mesh:
        pod_template["metadata"]["labels"] |= {
            "security.istio.io/tlsMode": "istio",
            "service.istio.io/canonical-name": name,
            "service.istio.io/canonical-revision": labels.get("version", "latest"),
        }
        pod_template["metadata"]["annotations"] = {
            "istio.io/rev": "default",
            "kubectl.kubernetes.io/default-container": name,
            "sidecar.istio.io/status": '{"initContainers":["istio-init"],'
            '"containers":["istio-proxy"],'
            '"volumes":["istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],'
            '"imagePullSecrets":null,"revision":"default"}',
        }
    app = deploy(
        world,
        namespace,
        name,
        pod_template,
        replicas=replicas or world.rng.randrange(2, 5),
        selector_keys=style.keys if style.keys != ("app", "version") else ("app",),
        runtime=runtime,
        exposure=exposure,
    )
    target = world.pick(["http", runtime_port(runtime)])
    app.service = service(world, app, style.selects, port=port, target=target, name="http")
    return app


def service(
    world: World,
    app: App,
    selects: tuple[str, ...],
    *,
    port: int,
    target: int | str,
    name: str,
    app_protocol: str | None = None,
    headless: bool = False,
    service_name: str | None = None,
) -> Raw:
    labels = app.labels
    spec_port: Raw = {"name": name, "port": port, "protocol": "TCP", "targetPort": target}
    if app_protocol:
        spec_port["appProtocol"] = app_protocol
    ip = (
        "None" if headless else f"10.96.{world.rng.randrange(0, 255)}.{world.rng.randrange(2, 255)}"
    )
    return world.add(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": world.meta(
                service_name or app.name,
                app.namespace,
                age=app.current.age + world.rng.uniform(DAY, 200 * DAY),
                labels={k: labels[k] for k in selects if k in labels},
            ),
            "spec": {
                "clusterIP": ip,
                "clusterIPs": [ip],
                "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [spec_port],
                "selector": {k: labels[k] for k in selects},
                "sessionAffinity": "None",
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        }
    )


# --- ingress-nginx -----------------------------------------------------------


def ingress_nginx(world: World, *, default_class: bool) -> App:
    """The controller as its Helm chart installs it: Deployment, LoadBalancer
    Service, ConfigMap, IngressClass."""
    world.namespace(NGINX_NAMESPACE, {"app.kubernetes.io/name": "ingress-nginx"})
    labels = {**NGINX_LABELS, "app.kubernetes.io/instance": "ingress-nginx"}
    controller = container(
        "controller",
        "registry.k8s.io/ingress-nginx/controller:v1.12.1@sha256:d2fbc4ec70d8aa2050dd91a91506e998765e86c96f32cffb56c503c9c34eed5b",
        port=80,
        args=[
            "/nginx-ingress-controller",
            f"--publish-service=$(POD_NAMESPACE)/{NGINX_CONFIGMAP}",
            "--election-id=ingress-nginx-leader",
            "--controller-class=k8s.io/ingress-nginx",
            f"--ingress-class={NGINX_CLASS}",
            f"--configmap=$(POD_NAMESPACE)/{NGINX_CONFIGMAP}",
            "--validating-webhook=:8443",
        ],
        readiness=http_probe("/healthz", 10254, period=10),
        liveness=http_probe("/healthz", 10254, initial=10, failure=5),
        memory="90Mi",
        limit="512Mi",
    )
    controller["ports"].append({"containerPort": 443, "name": "https", "protocol": "TCP"})
    app = deploy(
        world,
        NGINX_NAMESPACE,
        NGINX_CONFIGMAP,
        template(labels, [controller], serviceAccountName="ingress-nginx"),
        replicas=2,
        selector_keys=tuple(labels),
    )
    app.role = "platform"
    world.add(
        {
            "apiVersion": "v1",
            "data": {"allow-snippet-annotations": "false", "use-forwarded-headers": "true"},
            "kind": "ConfigMap",
            "metadata": world.meta(NGINX_CONFIGMAP, NGINX_NAMESPACE, age=200 * DAY, labels=labels),
        }
    )
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default_class else {}
    world.add(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": world.meta(
                NGINX_CLASS, None, age=200 * DAY, labels=labels, annotations=annotations
            ),
            "spec": {"controller": "k8s.io/ingress-nginx"},
        }
    )
    world.tags.add("ingress-nginx")
    return app


def ingress(
    world: World,
    namespace: str,
    name: str,
    host: str,
    paths: list[tuple[str, App]],
    *,
    class_name: str | None = NGINX_CLASS,
    annotations: dict[str, str] | None = None,
) -> Raw:
    rules_paths = []
    for path, app in paths:
        assert app.service is not None
        port = app.service["spec"]["ports"][0]
        backend_port = world.pick([{"number": port["port"]}, {"name": port["name"]}])
        rules_paths.append(
            {
                "backend": {
                    "service": {"name": app.service["metadata"]["name"], "port": backend_port}
                },
                "path": path,
                "pathType": "Prefix",
            }
        )
    spec: Raw = {
        "rules": [{"host": host, "http": {"paths": rules_paths}}],
        "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
    }
    if class_name:
        spec = {"ingressClassName": class_name, **spec}
    all_annotations = {"cert-manager.io/cluster-issuer": "letsencrypt-prod", **(annotations or {})}
    return world.add(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": world.meta(
                name,
                namespace,
                age=world.rng.uniform(20 * DAY, 300 * DAY),
                annotations=all_annotations,
            ),
            "spec": spec,
            "status": {
                "loadBalancer": {
                    "ingress": [{"hostname": "a1b2c3d4e5f6-1234567890.eu-west-1.elb.amazonaws.com"}]
                }
            },
        }
    )


# --- the shapes --------------------------------------------------------------

_REGISTRIES = (
    "ghcr.io/acme",
    "registry.example.com",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "europe-docker.pkg.dev/acme-prod/apps",
)


def shop(world: World) -> None:
    """A microservice shop behind ingress-nginx."""
    ns = world.pick(["shop", "store", "storefront", "webshop", "commerce"])
    world.namespace(ns, {"team": "commerce"})
    ingress_nginx(world, default_class=world.rng.random() < 0.5)
    names = world.rng.sample(
        [
            "frontend",
            "cart",
            "checkout",
            "catalog",
            "payments",
            "orders",
            "search",
            "reviews",
            "shipping",
            "accounts",
            "inventory",
            "recommendations",
        ],
        world.rng.randrange(4, 7),
    )
    style = world.pick(STYLES)
    registry = world.pick(_REGISTRIES)
    apps = [
        web_app(
            world,
            ns,
            name,
            runtime=world.pick(SAFE_RUNTIMES),
            exposure="ingress-nginx",
            style=style,
            release=ns,
            registry=registry,
        )
        for name in names
    ]
    host = f"{ns}.example.com"
    if world.rng.random() < 0.5:
        paths = [("/", apps[0])] + [(f"/api/{a.name}", a) for a in apps[1:]]
        ingress(world, ns, ns, host, paths)
    else:
        for app in apps:
            ingress(world, ns, app.name, f"{app.name}.{host}", [("/", app)])


def mesh(world: World) -> None:
    """Apps in an Istio mesh: sidecars, mTLS, DestinationRules, a gateway."""
    ns = world.pick(["bookinfo", "mesh-apps", "travel", "banking"])
    world.namespace(ns, {"istio-injection": "enabled"})
    world.namespace(ISTIO_NAMESPACE)
    for name, labels in (
        ("istiod", {"app": "istiod", "istio": "pilot"}),
        ("istio-ingressgateway", {"app": "istio-ingressgateway", "istio": "ingressgateway"}),
    ):
        app = deploy(
            world,
            ISTIO_NAMESPACE,
            name,
            template(
                labels,
                [
                    container(
                        "discovery" if name == "istiod" else "istio-proxy",
                        "docker.io/istio/pilot:1.24.2"
                        if name == "istiod"
                        else "docker.io/istio/proxyv2:1.24.2",
                        port=15010 if name == "istiod" else 8080,
                        readiness=http_probe(
                            "/ready" if name == "istiod" else "/healthz/ready",
                            8080 if name == "istiod" else 15021,
                        ),
                    )
                ],
            ),
            replicas=2,
            selector_keys=tuple(labels),
        )
        app.role = "platform"
    mode = world.pick(["STRICT", "PERMISSIVE"])
    world.add(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": world.meta("default", ISTIO_NAMESPACE, age=300 * DAY),
            "spec": {"mtls": {"mode": mode}},
        }
    )
    names = world.pick(
        [
            ["productpage", "details", "reviews", "ratings"],
            ["gateway-api", "accounts", "ledger", "transfers", "notifications"],
            ["flights", "hotels", "bookings", "pricing"],
        ]
    )
    registry = world.pick(_REGISTRIES)
    style = Style(keys=("app", "version"), selects=("app",))
    apps = [
        web_app(
            world,
            ns,
            name,
            runtime=world.pick(MESH_RUNTIMES),
            exposure="istio",
            style=style,
            release=ns,
            registry=registry,
            mesh=True,
            port=9080,
        )
        for name in names
    ]
    for app in apps:
        if world.rng.random() < 0.6:
            destination_rule(world, app, subsets=True)
    world.add(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": world.meta(f"{ns}-gateway", ns, age=200 * DAY),
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "hosts": [f"{ns}.example.com"],
                        "port": {"name": "http", "number": 80, "protocol": "HTTP"},
                    }
                ],
            },
        }
    )
    front = apps[0]
    virtual_service(world, front, gateway=f"{ns}-gateway", host=f"{ns}.example.com")
    world.tags.add("istio")


def traffic_policy(limit: int, *, ejection: str, interval: str) -> Raw:
    """A DestinationRule's connection pool of `limit` connections and
    requests, with outlier detection that keeps half the hosts."""
    return {
        "connectionPool": {
            "http": {"http1MaxPendingRequests": limit, "http2MaxRequests": limit},
            "tcp": {"maxConnections": limit},
        },
        "outlierDetection": {
            "baseEjectionTime": ejection,
            "consecutive5xxErrors": 5,
            "interval": interval,
            "maxEjectionPercent": 50,
        },
    }


def destination_rule(world: World, app: App, *, subsets: bool) -> Raw:
    spec: Raw = {"host": app.name}
    if world.rng.random() < 0.5:
        spec["trafficPolicy"] = traffic_policy(1024, ejection="30s", interval="10s")
    if subsets:
        spec["subsets"] = [{"labels": {"version": "v1"}, "name": "v1"}]
    return world.add(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": world.meta(
                app.name, app.namespace, age=world.rng.uniform(10 * DAY, 200 * DAY)
            ),
            "spec": spec,
        }
    )


def virtual_service(
    world: World, app: App, *, gateway: str | None = None, host: str | None = None
) -> Raw:
    assert app.service is not None
    port = app.service["spec"]["ports"][0]["port"]
    spec: Raw = {
        "hosts": [host or app.name],
        "http": [{"route": [{"destination": {"host": app.name, "port": {"number": port}}}]}],
    }
    if gateway:
        spec["gateways"] = [gateway]
    return world.add(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": world.meta(
                app.name, app.namespace, age=world.rng.uniform(10 * DAY, 200 * DAY)
            ),
            "spec": spec,
        }
    )


def data(world: World) -> None:
    """StatefulSets (a search cluster, a cache) and the API in front of them."""
    ns = world.pick(["data", "search", "platform-data", "analytics"])
    world.namespace(ns)
    ingress_nginx(world, default_class=True)
    _statefulset(
        world,
        ns,
        world.pick(["opensearch", "elasticsearch"]),
        9200,
        "http",
        "/_cluster/health?local=true",
        3,
    )
    _statefulset(world, ns, "redis", 6379, "redis", None, world.pick([1, 3]))
    registry = world.pick(_REGISTRIES)
    api = web_app(
        world,
        ns,
        f"{ns}-api",
        runtime=world.pick(SAFE_RUNTIMES),
        exposure="ingress-nginx",
        style=STYLES[0],
        release=ns,
        registry=registry,
    )
    ingress(world, ns, api.name, f"{ns}.example.com", [("/", api)])


def _statefulset(
    world: World,
    ns: str,
    name: str,
    port: int,
    port_name: str,
    ready_path: str | None,
    replicas: int,
) -> App:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
    image = {
        "opensearch": "opensearchproject/opensearch:2.18.0",
        "elasticsearch": "docker.elastic.co/elasticsearch/elasticsearch:8.16.1",
        "redis": "redis:7.4.1-alpine",
    }[name]
    readiness = (
        http_probe(ready_path, port, period=10, timeout=3)
        if ready_path
        else {
            "exec": {"command": ["sh", "-c", "redis-cli ping | grep PONG"]},
            "failureThreshold": 3,
            "periodSeconds": 10,
            "successThreshold": 1,
            "timeoutSeconds": 2,
        }
    )
    main = container(
        name,
        image,
        port=port,
        port_name=port_name,
        readiness=readiness,
        memory="2Gi" if ready_path else "256Mi",
        limit="4Gi" if ready_path else "512Mi",
        cpu="500m",
    )
    if ready_path:
        main["env"] = [
            {"name": "OPENSEARCH_JAVA_OPTS", "value": "-Xms2g -Xmx2g"},
            {"name": "discovery.seed_hosts", "value": f"{name}-headless"},
        ]
    app = deploy(
        world,
        ns,
        name,
        template(labels, [main], terminationGracePeriodSeconds=120),
        replicas=replicas,
        selector_keys=tuple(labels),
        kind="StatefulSet",
        runtime="jvm" if ready_path else "redis",
    )
    app.claims = ["data"]
    service(
        world,
        app,
        tuple(labels),
        port=port,
        target=port_name,
        name=port_name,
        headless=True,
        service_name=f"{name}-headless",
    )
    app.service = service(world, app, tuple(labels), port=port, target=port_name, name=port_name)
    return app


def autoscaled(world: World) -> None:
    """APIs whose replicas a HorizontalPodAutoscaler sets."""
    ns = world.pick(["api", "platform-api", "edge", "public-api"])
    world.namespace(ns)
    ingress_nginx(world, default_class=world.rng.random() < 0.5)
    registry = world.pick(_REGISTRIES)
    style = world.pick(STYLES)
    apps = []
    for name in world.rng.sample(
        ["graphql", "rest-gateway", "auth", "profile", "notifications", "media", "billing"],
        world.rng.randrange(3, 5),
    ):
        app = web_app(
            world,
            ns,
            name,
            runtime=world.pick(SAFE_RUNTIMES),
            exposure="ingress-nginx",
            style=style,
            release=ns,
            registry=registry,
        )
        minimum = world.rng.randrange(2, 4)
        app.scale(
            world.rng.randrange(minimum, minimum + 4), ago=world.rng.uniform(2 * HOUR, 5 * DAY)
        )
        hpa(world, app, minimum=minimum, maximum=world.rng.randrange(10, 30))
        apps.append(app)
    for app in apps:
        ingress(world, ns, app.name, f"{app.name}.{ns}.example.com", [("/", app)])


def hpa(world: World, app: App, *, minimum: int, maximum: int, limited: bool = False) -> Raw:
    current = app.replicas
    steady = min(20 * DAY, app.current.age)  # its conditions hold since
    conditions = [
        {
            "lastTransitionTime": world.ts(steady),
            "message": "recommended size matches current size",
            "reason": "ReadyForNewScale",
            "status": "True",
            "type": "AbleToScale",
        },
        {
            "lastTransitionTime": world.ts(steady),
            "message": "the HPA was able to successfully calculate a replica count from cpu "
            "resource utilization (percentage of request)",
            "reason": "ValidMetricFound",
            "status": "True",
            "type": "ScalingActive",
        },
        {
            "lastTransitionTime": world.ts(HOUR),
            "message": "the desired replica count is more than the maximum replica count",
            "reason": "TooManyReplicas",
            "status": "True",
            "type": "ScalingLimited",
        }
        if limited
        else {
            "lastTransitionTime": world.ts(min(2 * DAY, steady)),
            "message": "the desired count is within the acceptable range",
            "reason": "DesiredWithinRange",
            "status": "False",
            "type": "ScalingLimited",
        },
    ]
    utilization = world.rng.randrange(130, 220) if limited else world.rng.randrange(35, 70)
    return world.add(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": world.meta(app.name, app.namespace, age=app.current.age),
            "spec": {
                "maxReplicas": maximum,
                "metrics": [
                    {
                        "resource": {
                            "name": "cpu",
                            "target": {"averageUtilization": 70, "type": "Utilization"},
                        },
                        "type": "Resource",
                    }
                ],
                "minReplicas": minimum,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": app.kind, "name": app.name},
            },
            "status": {
                "conditions": conditions,
                "currentMetrics": [
                    {
                        "resource": {
                            "current": {
                                "averageUtilization": utilization,
                                "averageValue": f"{utilization * 2}m",
                            },
                            "name": "cpu",
                        },
                        "type": "Resource",
                    }
                ],
                "currentReplicas": current,
                "desiredReplicas": current,
                "lastScaleTime": world.ts(world.rng.uniform(10 * MINUTE, 2 * DAY)),
            },
        }
    )


def rescale(world: World, app: App, hpa: Raw, replicas: int, *, ago: float) -> None:
    """The HorizontalPodAutoscaler sets the workload's replicas."""
    app.scale(replicas, ago=ago)
    hpa["status"].update(
        currentReplicas=replicas, desiredReplicas=replicas, lastScaleTime=world.ts(ago)
    )
    world.event(
        hpa,
        "SuccessfulRescale",
        f"New size: {replicas}; reason: cpu resource utilization (percentage of request) "
        "above target",
        ago=ago,
        component="horizontal-pod-autoscaler",
    )


def gateway_api(world: World) -> None:
    """Apps behind a Gateway API gateway run by Envoy Gateway."""
    ns = world.pick(["web", "portal", "tenant-a", "marketing"])
    world.namespace(ns, {"gateway-access": "true"})
    world.namespace(GATEWAY_NAMESPACE)
    labels = {"app.kubernetes.io/name": "envoy-gateway", "control-plane": "envoy-gateway"}
    controller = deploy(
        world,
        GATEWAY_NAMESPACE,
        "envoy-gateway",
        template(
            labels,
            [
                container(
                    "envoy-gateway",
                    "docker.io/envoyproxy/gateway:v1.2.4",
                    port=18000,
                    readiness=http_probe("/readyz", 8081),
                )
            ],
        ),
        replicas=1,
        selector_keys=tuple(labels),
    )
    controller.role = "platform"
    world.add(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": world.meta("eg", None, age=200 * DAY),
            "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"},
            "status": {"conditions": [_accepted(world, "Accepted", "Valid GatewayClass")]},
        }
    )
    gateway_ns = world.pick([ns, "infra"])
    world.namespace(gateway_ns)
    world.add(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": world.meta("eg", gateway_ns, age=200 * DAY),
            "spec": {
                "gatewayClassName": "eg",
                "listeners": [
                    {
                        "allowedRoutes": {
                            "namespaces": {
                                "from": "Selector",
                                "selector": {"matchLabels": {"gateway-access": "true"}},
                            }
                            if gateway_ns != ns
                            else {"from": "Same"}
                        },
                        "name": "http",
                        "port": 80,
                        "protocol": "HTTP",
                    },
                ],
            },
            "status": {
                "addresses": [
                    {
                        "type": "Hostname",
                        "value": "a7f1c0e2b3d4-987654321.eu-west-1.elb.amazonaws.com",
                    }
                ],
                "conditions": [
                    _accepted(world, "Accepted", "The Gateway has been scheduled by Envoy Gateway"),
                    _accepted(
                        world,
                        "Programmed",
                        "Address assigned to the Gateway, 1/1 envoy replicas available",
                    ),
                ],
                "listeners": [
                    {
                        "attachedRoutes": 3,
                        "conditions": [
                            _accepted(
                                world,
                                "Programmed",
                                "Sending translated listener configuration to the data plane",
                            )
                        ],
                        "name": "http",
                        "supportedKinds": [
                            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}
                        ],
                    }
                ],
            },
        }
    )
    registry = world.pick(_REGISTRIES)
    style = world.pick(STYLES)
    for name in world.rng.sample(
        ["site", "docs", "blog", "signup", "dashboard", "api"], world.rng.randrange(3, 5)
    ):
        app = web_app(
            world,
            ns,
            name,
            runtime=world.pick(SAFE_RUNTIMES),
            exposure="gateway",
            style=style,
            release=ns,
            registry=registry,
        )
        http_route(world, app, gateway_ns)
    world.tags.add("gateway")


def _accepted(world: World, kind: str, message: str) -> Raw:
    """A Gateway API condition `kind` that is True (its reason is its type)."""
    return {
        "lastTransitionTime": world.ts(world.rng.uniform(DAY, 100 * DAY)),
        "message": message,
        "observedGeneration": 1,
        "reason": kind,
        "status": "True",
        "type": kind,
    }


def http_route(world: World, app: App, gateway_ns: str) -> Raw:
    assert app.service is not None
    port = app.service["spec"]["ports"][0]["port"]
    parent = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "eg",
        "namespace": gateway_ns,
        "sectionName": "http",
    }
    return world.add(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": world.meta(
                app.name, app.namespace, age=world.rng.uniform(10 * DAY, 100 * DAY)
            ),
            "spec": {
                "hostnames": [f"{app.name}.example.com"],
                "parentRefs": [parent],
                "rules": [
                    {
                        "backendRefs": [
                            {
                                "group": "",
                                "kind": "Service",
                                "name": app.service["metadata"]["name"],
                                "port": port,
                                "weight": 1,
                            }
                        ],
                        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    }
                ],
            },
            "status": {
                "parents": [
                    {
                        "conditions": [
                            _accepted(world, "Accepted", "Route is accepted"),
                            _accepted(
                                world,
                                "ResolvedRefs",
                                "Resolved all the Object references for the Route",
                            ),
                        ],
                        "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                        "parentRef": parent,
                    }
                ]
            },
        }
    )


SHAPES: dict[str, Callable[[World], None]] = {
    "shop": shop,
    "mesh": mesh,
    "data": data,
    "autoscaled": autoscaled,
    "gateway": gateway_api,
}


# --- noise -------------------------------------------------------------------


def noise(world: World) -> None:
    """Namespaces, workloads and events that have nothing to do with the
    target, and look like trouble to a tired reader."""
    rng = world.rng
    for build in rng.sample(_NOISE, rng.randrange(2, len(_NOISE) + 1)):
        build(world)


def _platform_app(world: World, ns: str, name: str, image: str, *, port: int = 8080) -> App:
    """One replica of a component nobody diagnoses (its `role` says so)."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": ns}
    main = container(
        name,
        image,
        port=port,
        readiness=http_probe("/-/ready" if "prom" in name else "/healthz", port),
    )
    app = deploy(world, ns, name, template(labels, [main]), replicas=1, selector_keys=tuple(labels))
    app.role = "platform"
    return app


def _platform(world: World, ns: str, names: list[tuple[str, str, int]]) -> list[App]:
    world.namespace(ns)
    apps = []
    for name, image, port in names:
        app = _platform_app(world, ns, name, image, port=port)
        selects = tuple(app.selector)
        app.service = service(world, app, selects, port=port, target="http", name="http")
        apps.append(app)
    return apps


def _monitoring(world: World) -> None:
    apps = _platform(
        world,
        "monitoring",
        [
            ("prometheus-server", "quay.io/prometheus/prometheus:v3.0.1", 9090),
            ("grafana", "docker.io/grafana/grafana:11.4.0", 3000),
            (
                "kube-state-metrics",
                "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.14.0",
                8080,
            ),
        ],
    )
    grafana = apps[1].groups[0]
    grafana.fate = noted(
        grafana.fate,
        Note(
            reason="Unhealthy",
            message=f"Readiness probe failed: {timed_out('{ip}', 3000, '/api/health')}",
            ago=world.rng.uniform(5 * MINUTE, 50 * MINUTE),
            warning=True,
            container=True,
        ),
    )
    adapter = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": world.meta("prometheus-adapter", "monitoring", age=90 * DAY),
    }
    world.event(
        adapter,
        "FailedGetResourceMetric",
        "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics "
        "returned from resource metrics API",
        ago=world.rng.uniform(1, 20 * MINUTE),
        first=50 * MINUTE,
        count=world.rng.randrange(20, 300),
        warning=True,
        component="horizontal-pod-autoscaler",
    )


def _cert_manager(world: World) -> None:
    _platform(
        world,
        "cert-manager",
        [
            ("cert-manager", "quay.io/jetstack/cert-manager-controller:v1.16.2", 9402),
            ("cert-manager-webhook", "quay.io/jetstack/cert-manager-webhook:v1.16.2", 10250),
        ],
    )


def _batch(world: World) -> None:
    """A CronJob's finished Jobs and pods, and one Job pod waiting for room."""
    ns = world.pick(["batch", "jobs", "reporting"])
    world.namespace(ns)
    labels = {"app": "nightly-report"}
    report = container("report", "ghcr.io/acme/reports:2.3.0", port=8080)
    for _ in range(world.rng.randrange(1, 4)):
        ran = world.rng.uniform(10 * MINUTE, 3 * HOUR)
        job = deploy(
            world,
            ns,
            f"nightly-report-{world.rng.randrange(29_000_000, 29_900_000)}",
            template(labels, [report], restartPolicy="OnFailure"),
            replicas=0,
            selector_keys=("app",),
            kind="Job",
            age=ran,
            revision=1,
        )
        job.role = "platform"
        job.add_pods(completed(), age=ran)
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": world.meta("nightly-report", ns, age=90 * DAY),
    }
    world.add(
        {
            **cronjob,
            "spec": {
                "concurrencyPolicy": "Forbid",
                "schedule": "*/15 * * * *",
                "jobTemplate": {
                    "spec": {"template": template(labels, [report], restartPolicy="OnFailure")}
                },
            },
            "status": {"lastScheduleTime": world.ts(world.rng.uniform(60, 14 * MINUTE))},
        }
    )
    world.event(
        cronjob,
        "SuccessfulCreate",
        f"Created job nightly-report-{world.rng.randrange(29_000_000, 29_900_000)}",
        ago=world.rng.uniform(60, 14 * MINUTE),
        component="cronjob-controller",
    )
    n = len(world.nodes)
    pending = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"backfill-{world.suffix()}", "namespace": ns, "uid": world.uid()},
    }
    world.event(
        pending,
        "FailedScheduling",
        f"0/{n} nodes are available: {n} Insufficient memory. preemption: 0/{n} nodes are "
        f"available: {n} No preemption victims found for incoming pod.",
        ago=world.rng.uniform(30, 10 * MINUTE),
        first=45 * MINUTE,
        count=world.rng.randrange(5, 40),
        warning=True,
        component="default-scheduler",
    )


def _sandbox(world: World) -> None:
    """Someone's experiment, crash-looping for days."""
    ns = world.pick(["sandbox", "dev-alice", "playground"])
    world.namespace(ns)
    app = _platform_app(world, ns, "prototype", "ghcr.io/acme/prototype:latest")
    app.groups[0].fate = crash_loop(exit_code=1, restarts=world.rng.randrange(300, 900))
    app.groups[0].age = world.rng.uniform(3 * DAY, 9 * DAY)
    app.service = service(world, app, tuple(app.selector), port=80, target="http", name="http")


def _other_team(world: World) -> None:
    ns = world.pick(["billing", "identity", "reports", "crm"])
    world.namespace(ns)
    registry = world.pick(_REGISTRIES)
    for name in world.rng.sample(["api", "worker", "admin", "web"], 2):
        web_app(
            world,
            ns,
            name,
            runtime=world.pick(SAFE_RUNTIMES),
            exposure="internal",
            style=STYLES[0],
            release=ns,
            registry=registry,
        )


_NOISE: list[Callable[[World], None]] = [_monitoring, _cert_manager, _batch, _sandbox, _other_team]
