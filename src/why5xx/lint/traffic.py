"""What a workload serves and who sends it traffic: the facts that decide
whether a rollout, drain or probe risk is worth a warning.

The risks of `no-prestop-drain`, `no-readiness-probe`, `single-replica-
behind-route` and the like are 5xx where an HTTP proxy (an ingress
controller, a Gateway, a cloud load balancer, a mesh sidecar) keeps sending
requests to a pod that is not ready or is going away. A database, cache or
broker reached over its own protocol by clients that retry and reconnect
sees none of that, and a workload no proxy fronts has no 5xx to give: for
those the checks lower their finding to `info`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from why5xx.snapshot import Obj

# Service types that put a cloud load balancer or every node's port in front.
EXPOSED_TYPES = frozenset({"LoadBalancer", "NodePort"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Datastore:
    """A server that speaks its own protocol, with the readiness probe that
    suits it (a YAML flow mapping, `{port}` for its port)."""

    name: str
    probe: str


_REDIS = Datastore(name="Redis", probe="exec: {command: [redis-cli, ping]}")
_POSTGRES = Datastore(
    name="PostgreSQL", probe='exec: {command: [sh, -c, "pg_isready -U \\"$POSTGRES_USER\\""]}'
)
_MYSQL = Datastore(name="MySQL", probe="exec: {command: [mysqladmin, ping, -h, 127.0.0.1]}")
_MONGO = Datastore(
    name="MongoDB", probe="exec: {command: [mongosh, --quiet, --eval, \"db.adminCommand('ping')\"]}"
)
_KAFKA = Datastore(name="Kafka", probe="tcpSocket: {port: {port}}")
_RABBITMQ = Datastore(
    name="RabbitMQ", probe="exec: {command: [rabbitmq-diagnostics, -q, check_port_connectivity]}"
)
_CASSANDRA = Datastore(name="Cassandra", probe="exec: {command: [cqlsh, -e, describe keyspaces]}")
_TCP = "tcpSocket: {port: {port}}"

# By image repository name (its last path segment, without tag or digest).
_IMAGES: tuple[tuple[re.Pattern[str], Datastore], ...] = tuple(
    (re.compile(pattern), store)
    for pattern, store in (
        (r"redis|valkey|keydb", _REDIS),
        (r"postgres|postgis|pgvector", _POSTGRES),
        (r"mysql|mariadb|percona", _MYSQL),
        (r"mongo|documentdb", _MONGO),
        (r"kafka", _KAFKA),
        (r"rabbitmq", _RABBITMQ),
        (r"cassandra|scylla", _CASSANDRA),
        (r"zookeeper", Datastore(name="ZooKeeper", probe=_TCP)),
        (r"memcached", Datastore(name="memcached", probe=_TCP)),
        (r"etcd", Datastore(name="etcd", probe=_TCP)),
        (r"nats", Datastore(name="NATS", probe=_TCP)),
        (r"coredns|dnsmasq|bind9", Datastore(name="DNS", probe=_TCP)),
        (r"syslog", Datastore(name="syslog", probe=_TCP)),
    )
)
# Well-known ports of such servers, when the image says nothing.
_PORTS: Mapping[int, Datastore] = {
    53: Datastore(name="DNS", probe=_TCP),
    514: Datastore(name="syslog", probe=_TCP),
    2181: Datastore(name="ZooKeeper", probe=_TCP),
    3306: _MYSQL,
    5432: _POSTGRES,
    5672: _RABBITMQ,
    6379: _REDIS,
    9042: _CASSANDRA,
    9092: _KAFKA,
    10260: _MONGO,
    11211: Datastore(name="memcached", probe=_TCP),
    27017: _MONGO,
}
# Environment variables only their own images read.
_ENV_PREFIXES = (("POSTGRES_", _POSTGRES), ("MYSQL_", _MYSQL), ("MONGO_INITDB_", _MONGO))
# Service port names and appProtocols of other protocols than HTTP and gRPC.
_OTHER_PROTOCOL = re.compile(
    r"^(?:tcp|udp|redis|mysql|postgres(?:ql)?|mongo(?:db)?|kafka|amqp|dns|syslog|smtp|"
    r"memcache[d]?|zookeeper|cql|nats|mqtt)(?:$|[-_])"
)


def _repository(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    return re.split(r"[:@]", name, maxsplit=1)[0].lower()


def datastore(container: Mapping[str, Any]) -> Datastore | None:
    """The datastore, cache, broker or other non-HTTP server the container
    runs, from its image, its environment, or the ports it declares."""
    repository = _repository(str(container.get("image", "")))
    for pattern, store in _IMAGES:
        if pattern.search(repository):
            return store
    names = {str(e.get("name", "")) for e in container.get("env") or () if isinstance(e, Mapping)}
    for prefix, store in _ENV_PREFIXES:
        if any(n.startswith(prefix) for n in names):
            return store
    declared = [p.get("containerPort") for p in container.get("ports") or ()]
    found = [_PORTS[p] for p in declared if isinstance(p, int) and p in _PORTS]
    return found[0] if found and len(found) == len(declared) else None


def speaks_http(service: Obj) -> bool:
    """Whether a Service may carry HTTP or gRPC: a port that is TCP and
    neither named, nor given an appProtocol, nor numbered like another
    protocol."""
    for port in service.spec.get("ports") or ():
        if str(port.get("protocol") or "TCP") != "TCP":
            continue
        label = str(port.get("appProtocol") or port.get("name") or "").lower()
        if _OTHER_PROTOCOL.match(label):
            continue
        number = port.get("targetPort") if isinstance(port.get("targetPort"), int) else None
        if port.get("port") in _PORTS or number in _PORTS:
            continue
        return True
    return False


_HTTP_PORT = re.compile(r"^(?:https?|http2|h2c|grpc(?:-web)?)(?:$|[-_])|^kubernetes\.io/h2c$")


def exposed(service: Obj) -> str | None:
    """How a Service puts a proxy in front of its pods: a cloud load
    balancer or every node's port (`LoadBalancer`, `NodePort`), or, for a
    headless Service whose port is named or given an appProtocol of HTTP,
    HTTP/2 or gRPC, the proxies and gRPC clients that balance over its pods
    one by one (Envoy's `STRICT_DNS` clusters, gRPC's round robin)."""
    kind = str(service.spec.get("type") or "ClusterIP")
    if kind in EXPOSED_TYPES:
        return kind if speaks_http(service) else None
    if service.spec.get("clusterIP") == "None" and any(
        _HTTP_PORT.match(str(p.get("appProtocol") or p.get("name") or "").lower())
        for p in service.spec.get("ports") or ()
    ):
        return "headless, balanced pod by pod"
    return None


# --- mesh routes ----------------------------------------------------------

MESH_ROUTE_KINDS = ("VirtualService",)


def mesh_routed_services(route: Obj) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of each Service an Istio VirtualService routes
    HTTP or gRPC requests to (`http[].route[].destination.host`)."""
    found: list[tuple[str, str]] = []
    for http in route.spec.get("http") or ():
        for entry in http.get("route") or () if isinstance(http, Mapping) else ():
            destination = entry.get("destination") if isinstance(entry, Mapping) else None
            host = str((destination or {}).get("host") or "")
            if host and "*" not in host:
                found.append(_service_of_host(host, route.namespace))
    return tuple(dict.fromkeys(found))


def _service_of_host(host: str, namespace: str) -> tuple[str, str]:
    """`web` -> (namespace, web); `web.shop` or `web.shop.svc.cluster.local`
    -> (shop, web), as Istio resolves short names in the route's namespace."""
    parts = host.split(".")
    return (parts[1], parts[0]) if len(parts) > 1 else (namespace, host)


# --- sidecars -------------------------------------------------------------

_DAPR_ENABLED = "dapr.io/enabled"
_DAPR_APP_PORT = "dapr.io/app-port"


def sidecar_readiness(workload: Obj) -> str | None:
    """An injected sidecar that keeps the pod unready until the app serves:
    Dapr's `daprd` reports ready only once it reaches the app's port."""
    metadata = workload.metadata if workload.kind == "Pod" else _template_metadata(workload)
    annotations = metadata.get("annotations") or {}
    if str(annotations.get(_DAPR_ENABLED, "")).lower() == "true" and annotations.get(
        _DAPR_APP_PORT
    ):
        return f"Dapr's sidecar waits for the app on port {annotations[_DAPR_APP_PORT]}"
    return None


def _template_metadata(workload: Obj) -> Mapping[str, Any]:
    return (workload.spec.get("template") or {}).get("metadata") or {}


# --- operators ------------------------------------------------------------

_CORE_GROUPS = re.compile(r"^(?:v1|(?:[\w-]+\.)*k8s\.io/|apps/|batch/|policy/|autoscaling/)")


def operator_resources(objects: Iterable[Obj], namespace: str) -> tuple[Obj, ...]:
    """Custom resources in the namespace: an operator may make Services and
    pods from them (ECK's `kibana` makes `kibana-kb-http`)."""
    return tuple(
        o for o in objects if o.namespace == namespace and not _CORE_GROUPS.match(o.api_version)
    )


def made_by_operator(name: str, resources: Iterable[Obj]) -> Obj | None:
    """The custom resource whose name starts the Service's name."""
    return next(
        (r for r in resources if name == r.name or name.startswith(f"{r.name}-")),
        None,
    )
