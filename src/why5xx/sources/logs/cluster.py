"""Join the logs with cluster state: upstream address -> pod (and its
ReplicaSet revision), the cluster's events on the log timeline, and the
sentences that say what both show together.

Proxies log pod IPs (ingress-nginx, Envoy, Traefik and ALB with IP targets
balance to endpoints themselves). A pod that caused 5xx during a rollout is
often gone from the snapshot: its IP is then found in an EndpointSlice that
still lists it (terminating), or in an event about it (a failed probe's
message names `http://10.244.1.20:8080/healthz`).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from why5xx.kube import labels_match, parse_time
from why5xx.logmodel import PodInfo, TimelineEvent
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources.logs.aggregate import Classified, Group, MessageGroup, Resolve
from why5xx.views.pods import container_states, pod_ready, pod_template_labels, pod_terminating
from why5xx.views.policy import ingress_isolated
from why5xx.views.routes import ingress_backends, routed_services

REVISION = "deployment.kubernetes.io/revision"
# Events a person looks for beside a 5xx burst: rollouts, restarts, OOM
# kills, probe failures, autoscaling, evictions.
TIMELINE_REASONS = frozenset(
    {
        "ScalingReplicaSet",
        "Killing",
        "Unhealthy",
        "BackOff",
        "OOMKilling",
        "Started",
        "SuccessfulRescale",
        "Evicted",
        "Preempted",
        "NodeNotReady",
    }
)
_IPV4 = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")
_MAJORITY = 0.5


def split_address(address: str) -> tuple[str, int | None]:
    """`10.0.0.1:80` -> ("10.0.0.1", 80); `[fd00::1]:80` -> ("fd00::1", 80)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port) if port.isdigit() else None
    return address, None


def _replicaset(snap: Snapshot, namespace: str, pod_name: str, pod: Obj | None) -> Obj | None:
    owner = snap.owner(pod) if pod is not None else None
    if owner is not None and owner.kind == "ReplicaSet":
        return owner
    # A gone pod is named <replicaset>-<suffix>.
    return snap.get("ReplicaSet", namespace, pod_name.rsplit("-", 1)[0])


def _event_time(
    snap: Snapshot, kind: str, namespace: str, name: str, pattern: str
) -> datetime | None:
    times = [
        e.first or e.last
        for e in snap.events_for(kind, namespace, name)
        if pattern in f"{e.reason} {e.message}"
    ]
    return min((t for t in times if t is not None), default=None)


def _gone_since(
    snap: Snapshot, namespace: str, name: str, pod: Obj | None, rs: Obj | None
) -> datetime | None:
    """When the pod began to go: its deletion, its container's stop, or its
    ReplicaSet's first scale-down."""
    found: list[datetime] = []
    if pod is not None:
        deleted = parse_time(pod.metadata.get("deletionTimestamp"))
        grace = pod.metadata.get("deletionGracePeriodSeconds")
        if deleted is not None:
            found.append(deleted - timedelta(seconds=int(grace or 0)))
    killing = _event_time(snap, "Pod", namespace, name, "Killing")
    if killing is not None:
        found.append(killing)
    deployment = snap.owner(rs) if rs is not None else None
    if rs is not None and deployment is not None:
        scaled = _event_time(
            snap, "Deployment", namespace, deployment.name, f"Scaled down replica set {rs.name}"
        )
        if scaled is not None:
            found.append(scaled)
    return min(found, default=None)


def _current(snap: Snapshot, rs: Obj | None) -> bool | None:
    """Whether the ReplicaSet is its Deployment's newest revision."""
    if rs is None:
        return None
    deployment = snap.owner(rs)
    if deployment is None or deployment.kind != "Deployment":
        return None
    ours, theirs = rs.annotations.get(REVISION), deployment.annotations.get(REVISION)
    if ours is None or theirs is None:
        return None
    return ours == theirs


def _port_declared(pod: Obj, port: int | None) -> bool | None:
    declared = {
        p.get("containerPort")
        for c in pod.spec.get("containers") or ()
        for p in c.get("ports") or ()
    }
    if port is None or not declared:
        return None  # many pods declare no ports: that proves nothing
    return port in declared


def _state(snap: Snapshot, pod: Obj | None, endpoint: Mapping[str, Any] | None) -> str:
    if pod is None:
        terminating = bool(((endpoint or {}).get("conditions") or {}).get("terminating"))
        return "terminating" if terminating else "gone" if snap.has_kind("Pod") else "unknown"
    if pod_terminating(pod):
        return "terminating"
    if pod.status.get("phase") in ("Succeeded", "Failed"):
        return "gone"
    return "running" if pod_ready(pod) else "not-ready"


def _named_by_slices(objs: Sequence[Obj], ip: str) -> tuple[str, str, Mapping[str, Any]] | None:
    for eps in objs:
        if eps.kind != "EndpointSlice":
            continue
        for endpoint in eps.raw.get("endpoints") or ():
            target = endpoint.get("targetRef") or {}
            if ip in (endpoint.get("addresses") or ()) and target.get("kind") == "Pod":
                return str(target.get("namespace") or eps.namespace), str(target["name"]), endpoint
    return None


def _named_by_events(snap: Snapshot) -> dict[str, tuple[str, str]]:
    """IP -> pod, from the messages of events about pods (probe failures
    print the URL they tried)."""
    found: dict[str, tuple[str, str]] = {}
    for event in snap.list("Event"):
        involved = event.raw.get("involvedObject") or event.raw.get("regarding") or {}
        if involved.get("kind") != "Pod":
            continue
        message = str(event.raw.get("message") or event.raw.get("note") or "")
        for ip in _IPV4.findall(message):
            found.setdefault(
                ip, (str(involved.get("namespace") or event.namespace), str(involved.get("name")))
            )
    return found


def pod_resolver(snap: Snapshot) -> Resolve:
    """Upstream address -> the pod behind it, as the snapshot knows it."""
    from_events: dict[str, tuple[str, str]] | None = None

    def resolve(address: str) -> PodInfo | None:
        nonlocal from_events
        ip, port = split_address(address)
        objs = snap.with_ip(ip)
        pod = next((o for o in objs if o.kind == "Pod"), None)
        endpoint: Mapping[str, Any] | None = None
        if pod is not None:
            namespace, name, source = pod.namespace, pod.name, pod.source
        elif (named := _named_by_slices(objs, ip)) is not None:
            namespace, name, endpoint = named
            pod = snap.get("Pod", namespace, name)
            source = next(o.source for o in objs if o.kind == "EndpointSlice")
        else:
            if from_events is None:
                from_events = _named_by_events(snap)
            if ip not in from_events:
                return None
            namespace, name = from_events[ip]
            pod, source = snap.get("Pod", namespace, name), "events"
        rs = _replicaset(snap, namespace, name, pod)
        states = container_states(pod) if pod is not None else ()
        last = next((s.last_reason for s in states if s.last_reason), "")
        return PodInfo(
            namespace=namespace,
            name=name,
            state=_state(snap, pod, endpoint),
            replicaset=rs.name if rs is not None else None,
            revision=rs.annotations.get(REVISION) if rs is not None else None,
            current=_current(snap, rs),
            gone_since=_gone_since(snap, namespace, name, pod, rs),
            restarts=sum(s.restarts for s in states),
            last_reason=last,
            port_declared=_port_declared(pod, port) if pod is not None else None,
            ingress_isolated=ingress_isolated(snap, pod) if pod is not None else None,
            source=source,
        )

    return resolve


def timeline_events(snap: Snapshot) -> list[TimelineEvent]:
    """The events worth placing beside 5xx bursts (bucket filled in later)."""
    out: list[TimelineEvent] = []
    for obj in snap.list("Event"):
        reason = str(obj.raw.get("reason") or "")
        if reason not in TIMELINE_REASONS:
            continue
        involved = obj.raw.get("involvedObject") or obj.raw.get("regarding") or {}
        when = parse_time(
            obj.raw.get("lastTimestamp")
            or obj.raw.get("eventTime")
            or obj.raw.get("firstTimestamp")
        )
        if when is None:
            continue
        out.append(
            TimelineEvent(
                time=when,
                bucket=0,
                object="/".join(
                    str(part)
                    for part in (
                        involved.get("kind"),
                        involved.get("namespace") or obj.namespace,
                        involved.get("name"),
                    )
                ),
                reason=reason,
                message=" ".join(str(obj.raw.get("message") or obj.raw.get("note") or "").split()),
            )
        )
    return out


def explain(classified: Sequence[Classified]) -> tuple[str, ...]:
    """What logs and pods say together: for each backend and status, the old
    ReplicaSet (or the terminating pods) most of its 5xx came from, and how
    long after that ReplicaSet began to go."""
    totals: Counter[tuple[str, int]] = Counter()
    old: defaultdict[tuple[str, int, str], list[tuple[int, int, PodInfo]]] = defaultdict(list)
    for group, pod, _ in classified:
        totals[(group.service, group.status)] += group.count
        if pod is not None and (pod.current is False or pod.state in ("terminating", "gone")):
            label = pod.replicaset or "terminating or gone pods"
            old[(group.service, group.status, label)].append((group.second, group.count, pod))
    sentences: list[tuple[int, str]] = []
    for (service, status, label), members in old.items():
        count = sum(n for _, n, _ in members)
        share = count / totals[(service, status)]
        if share < _MAJORITY:
            continue
        pod = members[0][2]
        who = (
            f"pods of the old ReplicaSet {label}"
            + (f" (revision {pod.revision})" if pod.revision else "")
            if pod.replicaset
            else label
        )
        sentence = f"{share:.0%} of {service or 'the'} {status}s came from {who}"
        starts = [p.gone_since for _, _, p in members if p.gone_since is not None]
        if starts:
            since = min(starts)
            last = max(second for second, _, _ in members)
            span = max(0, round(last - since.timestamp()))
            sentence += f" in the {span} s after it began to go ({since:%H:%M:%S} UTC)"
        sentences.append((count, sentence))
    return tuple(s for _, s in sorted(sentences, key=lambda item: -item[0]))


def _backend_names(service: Obj) -> set[str]:
    """How proxies name this Service's backends: ingress-nginx and Traefik
    `<ns>-<svc>-<port>` (port number or name), HAProxy ingress `<ns>_<svc>_<port>`."""
    ports = [str(p.get(key)) for p in service.spec.get("ports") or () for key in ("port", "name")]
    names = set()
    for port in ports:
        if port and port != "None":
            names |= {
                f"{service.namespace}-{service.name}-{port}",
                f"{service.namespace}_{service.name}_{port}",
            }
    return names


def _selector_of(snap: Snapshot, service: Obj) -> Callable[[str, str, str | None], bool]:
    """Whether the pod (namespace, name, its ReplicaSet) is one the Service
    selects, or selected: a gone pod of a ReplicaSet it selects."""
    selector = service.spec.get("selector") or {}
    listed = {
        str((endpoint.get("targetRef") or {}).get("name"))
        for eps in snap.endpoint_slices(service.namespace, service.name)
        for endpoint in eps.raw.get("endpoints") or ()
    }

    def selected(namespace: str, name: str, replicaset: str | None) -> bool:
        if namespace != service.namespace:
            return False
        if name in listed:
            return True
        if not selector:
            return False
        obj = snap.get("Pod", namespace, name)
        if obj is not None:
            return labels_match(selector, obj.labels)
        rs = snap.get("ReplicaSet", namespace, replicaset or name.rsplit("-", 1)[0])
        return rs is not None and labels_match(selector, pod_template_labels(rs))

    return selected


def _routes(snap: Snapshot, service: Obj) -> list[tuple[str, str]]:
    """(host, path) of every Ingress rule that sends traffic to the Service."""
    return [
        (backend.host, backend.path)
        for ingress in snap.list("Ingress", service.namespace)
        for backend in ingress_backends(ingress)
        if backend.service == service.name
    ]


def _on_route(routes: Sequence[tuple[str, str]], route: str) -> bool:
    """Whether `shop.example.com/api/cart` (an error line's host and path)
    is served by one of the routes (`*` is any host)."""
    host, slash, path = route.partition("/")
    return any(
        host and (rule_host in ("*", host)) and ("/" + path if slash else "/").startswith(rule_path)
        for rule_host, rule_path in routes
    )


def serves(snap: Snapshot, service: Obj, resolve: Resolve) -> Callable[[Group], bool]:
    """Whether a group of 5xx was for `service`: its upstream is a pod the
    Service selects (or selected: a gone pod of a ReplicaSet it selects), the
    proxy's name for the backend is the Service's, or the host and path the
    error lines name are an Ingress rule of the Service."""
    selected = _selector_of(snap, service)
    names = _backend_names(service)
    fqdn = f"{service.name}.{service.namespace}.svc"
    routes = _routes(snap, service)

    def match(group: Group) -> bool:
        pod = resolve(group.upstream) if group.upstream else None
        if pod is not None and selected(pod.namespace, pod.name, pod.replicaset):
            return True
        backend = group.service.split("@", 1)[0]
        if backend in names or backend.rsplit("|", 1)[-1].startswith(fqdn):
            return True
        return bool(routes) and _on_route(routes, group.service)

    return match


def mentions(snap: Snapshot, service: Obj, resolve: Resolve) -> Callable[[MessageGroup], bool]:
    """Whether own messages of a proxy or server are about `service`, without
    pod IPs: the Service they name (`shop/api`, or a bare `api` of NGINX
    Inc.), the proxy's backend name (`[shop-api-80]`, `shop_api_80`,
    `outbound|80||api.shop.svc.cluster.local`), a host name (the Service's
    DNS name, an ExternalName's externalName), an Ingress that routes to it
    or whose rule's host and path the line names,
    the pod a collector's prefix named, or an upstream pod the Service selects. Messages that name
    nothing (a gunicorn `WORKER TIMEOUT`) were given with this target: they
    count for it."""
    selected = _selector_of(snap, service)
    names = _backend_names(service)
    fqdn = f"{service.name}.{service.namespace}.svc"
    external = str(service.spec.get("externalName") or "").rstrip(".")

    def upstream_is_it(upstream: str) -> bool:
        host, _ = split_address(upstream)
        if host in (external, service.name) or host.startswith(fqdn):
            return True
        pod = resolve(upstream)
        return pod is not None and selected(pod.namespace, pod.name, pod.replicaset)

    def pod_is_it(named: str) -> bool:
        namespace, _, name = named.rpartition("/")
        return selected(namespace or service.namespace, name, None)

    routed_by = {
        f"{ingress.namespace}/{ingress.name}"
        for ingress in snap.list("Ingress", service.namespace)
        if any(backend.service == service.name for backend in ingress_backends(ingress))
    }

    routes = _routes(snap, service)

    def match(message: MessageGroup) -> bool:
        checks: list[bool] = []
        details = dict(message.details)
        if details.get("ingress"):
            checks.append(details["ingress"] in routed_by)
        if details.get("host") and routes:
            # An Ingress rule's host and path: `GET /api/cart HTTP/1.1` on shop.example.com.
            path = details.get("request", "").split(" ")[1:2] or ["/"]
            checks.append(_on_route(routes, details["host"] + path[0].split("?", 1)[0]))
        if message.service:
            checks.append(message.service in (f"{service.namespace}/{service.name}", service.name))
        if message.backend:
            backend = message.backend.split("@", 1)[0]
            checks.append(backend in names or backend.rsplit("|", 1)[-1].startswith(fqdn))
        if message.upstream:
            checks.append(upstream_is_it(message.upstream))
        if message.pod:
            checks.append(pod_is_it(message.pod))
        return any(checks) or not checks

    return match


def target_services(snap: Snapshot, kind: str, namespace: str, name: str) -> list[Obj]:
    """The Services a diagnosis target sends traffic to: itself, or the
    backends of an Ingress or HTTPRoute (in any namespace it names)."""
    obj = snap.get(kind, namespace, name)
    if obj is None:
        return []
    if kind == "Service":
        return [obj]
    return [
        service
        for ns, service_name in routed_services(obj)
        if (service := snap.get("Service", ns, service_name)) is not None
    ]
