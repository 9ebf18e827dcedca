"""What the proxies in front of a Service are configured to do.

One place answers, for every rule of the proxy family: which Ingresses route
to a Service and which controller serves them; for ingress-nginx, where its
ConfigMap is and the effective value of a setting (Ingress annotation, else
ConfigMap, else the controller's default); which Istio DestinationRule and
VirtualService routes apply to the Service's host; which Gateway API routes
and Envoy Gateway policies reach it; and whether a pod runs an Istio sidecar.

ingress-nginx defaults are those of its `configmap.md` (the configuration
options table, mirrored from `internal/ingress/controller/config/config.go`):
`upstream-keepalive-timeout` 60 s, `upstream-keepalive-connections` 320,
`proxy-read-timeout` 60 s, `proxy-send-timeout` 60 s, `proxy-connect-timeout`
5 s, `max-worker-connections` 16384, `proxy-buffer-size` 4k. The controller
finds its ConfigMap from its `--configmap=NAMESPACE/NAME` flag; the Helm
chart and the static manifests name it `ingress-nginx-controller` in the
controller's namespace.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Evidence, ObjectRef
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.ingress import CLASS_ANNOTATION, DEFAULT_CLASS_ANNOTATION, INGRESS_NGINX
from why5xx.views.pods import pod_template_labels
from why5xx.views.routes import IngressBackend, ingress_backends

NGINX_ANNOTATION = "nginx.ingress.kubernetes.io/"
# Labels the ingress-nginx Helm chart and static manifests put on controller pods.
NGINX_CONTROLLER_LABELS: Mapping[str, str] = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}
_CONFIGMAP_NAMES = ("ingress-nginx-controller", "nginx-configuration")

NGINX_DEFAULTS: Mapping[str, str] = {
    "upstream-keepalive-timeout": "60",
    "upstream-keepalive-connections": "320",
    "proxy-read-timeout": "60",
    "proxy-send-timeout": "60",
    "proxy-connect-timeout": "5",
    "max-worker-connections": "16384",
    "backend-protocol": "HTTP",
    "proxy-buffer-size": "4k",
}
# Settings an Ingress may override with an `nginx.ingress.kubernetes.io/` annotation.
_PER_INGRESS = frozenset(
    {
        "proxy-read-timeout",
        "proxy-send-timeout",
        "proxy-connect-timeout",
        "backend-protocol",
        "proxy-buffer-size",
    }
)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def duration_seconds(text: object) -> float | None:
    """`60`, `60s`, `1m`, `500ms`, `1h` (nginx and Istio durations) in seconds."""
    found = _DURATION.match(str(text).strip()) if text is not None else None
    if not found:
        return None
    return float(found.group(1)) * _UNIT[found.group(2)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Value:
    """A proxy setting's effective value and where it comes from."""

    key: str
    value: str
    object: ObjectRef  # the object that sets it, or would
    field: str
    source: str | None  # bundle file; None when the value is a default
    origin: str  # in words: "ConfigMap ingress-nginx/ingress-nginx-controller"

    @property
    def seconds(self) -> float | None:
        return duration_seconds(self.value)

    @property
    def defaulted(self) -> bool:
        return self.source is None

    def evidence(self, expected: str | None = None) -> Evidence:
        observed = f"{self.value} ({self.origin})" if self.defaulted else self.value
        return Evidence(
            object=self.object,
            field=self.field,
            observed=observed,
            expected=expected,
            source=self.source,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NginxController:
    """One ingress-nginx controller: its workload, pods and ConfigMap."""

    namespace: str
    workload: Obj | None
    pods: tuple[Obj, ...]
    pod_labels: Mapping[str, str]
    controller_class: str  # --controller-class (default k8s.io/ingress-nginx)
    ingress_class: str  # --ingress-class (default nginx)
    configmap_ref: ObjectRef
    configmap: Obj | None
    flags: Mapping[str, str]  # the controller's command-line flags, without `--`

    @property
    def host_network(self) -> bool:
        spec = (self.workload.spec.get("template") or {}).get("spec") if self.workload else None
        if spec is None and self.pods:
            spec = self.pods[0].spec
        return bool((spec or {}).get("hostNetwork"))

    def setting(self, key: str, ingress: Obj | None = None) -> Value:
        """The effective value of `key` for one Ingress: its annotation (for
        the keys an Ingress may set), else the ConfigMap, else the default."""
        annotation = NGINX_ANNOTATION + key
        if ingress is not None and key in _PER_INGRESS and annotation in ingress.annotations:
            return Value(
                key=key,
                value=str(ingress.annotations[annotation]).strip(),
                object=ingress.ref,
                field=f"metadata.annotations[{annotation}]",
                source=ingress.source,
                origin=f"annotation on Ingress {ingress.namespace}/{ingress.name}",
            )
        where = f"ConfigMap {self.configmap_ref.namespace}/{self.configmap_ref.name}"
        data = (self.configmap.raw.get("data") or {}) if self.configmap else {}
        if key in data:
            return Value(
                key=key,
                value=str(data[key]).strip(),
                object=self.configmap_ref,
                field=f"data.{key}",
                source=self.configmap.source if self.configmap else None,
                origin=where,
            )
        missing = "is not in the input" if self.configmap is None else f"does not set {key}"
        return Value(
            key=key,
            value=NGINX_DEFAULTS[key],
            object=self.configmap_ref,
            field=f"data.{key}",
            source=None,
            origin=f"the ingress-nginx default; {where} {missing}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IngressRoute:
    """An Ingress that sends traffic to the Service, and who serves it."""

    ingress: Obj
    backends: tuple[IngressBackend, ...]  # the backends naming the Service
    class_name: str | None
    nginx: NginxController | None  # when ingress-nginx serves it
    ingress_class: Obj | None = None  # the IngressClass, when the input holds it


def _controller_container(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for container in spec.get("containers") or ():
        args = [str(a) for a in container.get("args") or ()]
        image = str(container.get("image", ""))
        if "ingress-nginx/controller" in image or args[:1] == ["/nginx-ingress-controller"]:
            return container  # type: ignore[no-any-return]
    return None


def _flags(container: Mapping[str, Any], namespace: str) -> dict[str, str]:
    """`--name=value` flags, with the `$(POD_NAMESPACE)` the manifests use; a
    bare boolean `--name` is `true`."""
    out: dict[str, str] = {}
    for arg in container.get("args") or ():
        name, sep, value = str(arg).partition("=")
        if name.startswith("--"):
            out[name[2:]] = value.replace("$(POD_NAMESPACE)", namespace) if sep else "true"
    return out


def _configmap(snap: Snapshot, namespace: str, flag: str | None) -> tuple[ObjectRef, Obj | None]:
    if flag and "/" in flag:
        ns, name = flag.split("/", 1)
        return ObjectRef(kind="ConfigMap", namespace=ns, name=name), snap.get("ConfigMap", ns, name)
    for name in _CONFIGMAP_NAMES:
        found = snap.get("ConfigMap", namespace, name)
        if found is not None:
            return found.ref, found
    return ObjectRef(kind="ConfigMap", namespace=namespace, name=_CONFIGMAP_NAMES[0]), None


def nginx_controllers(snap: Snapshot) -> tuple[NginxController, ...]:
    """Every ingress-nginx controller in the snapshot: Deployments and
    DaemonSets running the controller image, else pods with the chart's labels.
    Found once per snapshot: every Service behind an Ingress asks."""
    return snap.derived("nginx_controllers", lambda: _find_nginx_controllers(snap))


def _find_nginx_controllers(snap: Snapshot) -> tuple[NginxController, ...]:
    found: list[NginxController] = []
    for kind in ("Deployment", "DaemonSet"):
        for workload in snap.list(kind):
            spec = (workload.spec.get("template") or {}).get("spec") or {}
            container = _controller_container(spec)
            if container is None:
                continue
            flags = _flags(container, workload.namespace)
            selector = (workload.spec.get("selector") or {}).get("matchLabels") or {}
            ref, configmap = _configmap(snap, workload.namespace, flags.get("configmap"))
            found.append(
                NginxController(
                    namespace=workload.namespace,
                    workload=workload,
                    pods=snap.pods_matching(workload.namespace, selector),
                    pod_labels=pod_template_labels(workload),
                    controller_class=flags.get("controller-class", INGRESS_NGINX),
                    ingress_class=flags.get("ingress-class", "nginx"),
                    configmap_ref=ref,
                    configmap=configmap,
                    flags=flags,
                )
            )
    if found:
        return tuple(found)
    for namespace in snap.namespaces():
        pods = snap.pods_matching(namespace, NGINX_CONTROLLER_LABELS)
        if not pods:
            continue
        container = _controller_container(pods[0].spec) or {}
        flags = _flags(container, namespace)
        ref, configmap = _configmap(snap, namespace, flags.get("configmap"))
        found.append(
            NginxController(
                namespace=namespace,
                workload=None,
                pods=pods,
                pod_labels=pods[0].labels,
                controller_class=flags.get("controller-class", INGRESS_NGINX),
                ingress_class=flags.get("ingress-class", "nginx"),
                configmap_ref=ref,
                configmap=configmap,
                flags=flags,
            )
        )
    return tuple(found)


def _standalone_configmap(snap: Snapshot) -> NginxController:
    """No controller captured, but an IngressClass names ingress-nginx: its
    ConfigMap may still be, under the chart's name; else its defaults hold."""
    configmap = next(
        (
            found
            for namespace in snap.namespaces()
            if (found := snap.get("ConfigMap", namespace, _CONFIGMAP_NAMES[0])) is not None
        ),
        None,
    )
    ref = (
        configmap.ref
        if configmap is not None
        else ObjectRef(kind="ConfigMap", namespace="ingress-nginx", name=_CONFIGMAP_NAMES[0])
    )
    return NginxController(
        namespace=ref.namespace,
        workload=None,
        pods=(),
        pod_labels={},
        controller_class=INGRESS_NGINX,
        ingress_class="nginx",
        configmap_ref=ref,
        configmap=configmap,
        flags={},
    )


def _ingress_class(snap: Snapshot, ingress: Obj) -> tuple[str | None, Obj | None]:
    """The class an Ingress asks for (spec, else the legacy annotation, else
    the IngressClass marked default) and its IngressClass object."""
    name = ingress.spec.get("ingressClassName") or ingress.annotations.get(CLASS_ANNOTATION)
    if name:
        return str(name), snap.get("IngressClass", "", str(name))
    for candidate in snap.list("IngressClass"):
        if candidate.annotations.get(DEFAULT_CLASS_ANNOTATION) == "true":
            return candidate.name, candidate
    return None, None


def ingress_routes(snap: Snapshot, service: Obj) -> tuple[IngressRoute, ...]:
    """The Ingresses of the Service's namespace that route to it (found once
    per Service: several rules ask)."""
    key = ("ingress_routes", service.namespace, service.name)
    return snap.derived(key, lambda: _find_ingress_routes(snap, service))


def _find_ingress_routes(snap: Snapshot, service: Obj) -> tuple[IngressRoute, ...]:
    controllers: tuple[NginxController, ...] | None = None
    out: list[IngressRoute] = []
    for ingress in snap.list("Ingress", service.namespace):
        backends = tuple(b for b in ingress_backends(ingress) if b.service == service.name)
        if not backends:
            continue
        class_name, ingress_class = _ingress_class(snap, ingress)
        controller = str(ingress_class.spec.get("controller", "")) if ingress_class else None
        if controllers is None:
            controllers = nginx_controllers(snap)
        nginx = _serving_nginx(snap, controllers, class_name, controller)
        out.append(
            IngressRoute(
                ingress=ingress,
                backends=backends,
                class_name=class_name,
                nginx=nginx,
                ingress_class=ingress_class,
            )
        )
    return tuple(out)


def _serving_nginx(
    snap: Snapshot,
    controllers: tuple[NginxController, ...],
    class_name: str | None,
    controller: str | None,
) -> NginxController | None:
    if controller is not None:
        candidates = [c for c in controllers if c.controller_class == controller]
        if not candidates and controller == INGRESS_NGINX:
            return _standalone_configmap(snap)
    else:  # no IngressClass object: the legacy annotation names the controller's class
        candidates = [c for c in controllers if c.ingress_class == class_name]
    by_class = [c for c in candidates if c.ingress_class == class_name]
    chosen = by_class or candidates
    return chosen[0] if chosen else None


def nginx_routes(snap: Snapshot, service: Obj) -> tuple[IngressRoute, ...]:
    """The routes to the Service that ingress-nginx serves."""
    return tuple(r for r in ingress_routes(snap, service) if r.nginx is not None)


# --- Istio -------------------------------------------------------------------

ISTIO_PROXY = "istio-proxy"


def service_hosts(service: Obj) -> frozenset[str]:
    """The names a mesh config may use for a Service (cluster domain
    `cluster.local`)."""
    name, ns = service.name, service.namespace
    return frozenset({f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"})


def _host_matches(host: str, config_namespace: str, service: Obj) -> int:
    """How specifically `host` (as written in a config of `config_namespace`)
    names the Service: 2 exact, 1 wildcard, 0 not at all."""
    if "." not in host and host != "*":
        host = f"{host}.{config_namespace}"
    fqdn = f"{service.name}.{service.namespace}.svc.cluster.local"
    if host in service_hosts(service):
        return 2
    if host == "*" or (host.startswith("*.") and fqdn.endswith(host[1:])):
        return 1
    return 0


def destination_rule(snap: Snapshot, service: Obj) -> Obj | None:
    """The DestinationRule that applies to the Service: an exact host before
    a wildcard, the Service's namespace before others."""
    best: tuple[int, int, Obj] | None = None
    for rule in snap.list("DestinationRule"):
        score = _host_matches(str(rule.spec.get("host", "")), rule.namespace, service)
        if not score:
            continue
        key = (score, int(rule.namespace == service.namespace), rule)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def traffic_policy(rule: Obj, port: int | None) -> tuple[Mapping[str, Any], str]:
    """A DestinationRule's traffic policy for one Service port (a
    `portLevelSettings` entry replaces the top-level one) and its field path."""
    policy: Mapping[str, Any] = rule.spec.get("trafficPolicy") or {}
    for index, level in enumerate(policy.get("portLevelSettings") or ()):
        if port is not None and (level.get("port") or {}).get("number") == port:
            return level, f"spec.trafficPolicy.portLevelSettings[{index}]"
    return policy, "spec.trafficPolicy"


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshRoute:
    """One VirtualService HTTP route whose destination is the Service."""

    virtual_service: Obj
    index: int  # position in spec.http

    @property
    def spec(self) -> Mapping[str, Any]:
        return (self.virtual_service.spec.get("http") or ())[self.index]  # type: ignore[no-any-return]

    @property
    def field(self) -> str:
        return f"spec.http[{self.index}]"


def virtual_service_routes(snap: Snapshot, service: Obj) -> Iterator[MeshRoute]:
    for vs in snap.list("VirtualService"):
        for index, http in enumerate(vs.spec.get("http") or ()):
            if any(
                _host_matches(
                    str((d.get("destination") or {}).get("host", "")), vs.namespace, service
                )
                == 2
                for d in http.get("route") or ()
            ):
                yield MeshRoute(virtual_service=vs, index=index)


def istio_sidecar(pod_spec: Mapping[str, Any]) -> bool:
    """An Istio sidecar in the pod: the injected `istio-proxy` container, or
    the native sidecar (init container with `restartPolicy: Always`)."""
    return any(
        c.get("name") == ISTIO_PROXY
        for c in (*(pod_spec.get("containers") or ()), *(pod_spec.get("initContainers") or ()))
    )


# --- Gateway API / Envoy Gateway --------------------------------------------


def http_routes(snap: Snapshot, service: Obj) -> tuple[Obj, ...]:
    """HTTPRoutes and GRPCRoutes with a backendRef to the Service."""
    out: list[Obj] = []
    for kind in ("HTTPRoute", "GRPCRoute"):
        for route in snap.list(kind):
            for rule in route.spec.get("rules") or ():
                if any(
                    ref.get("name") == service.name
                    and (ref.get("kind") or "Service") == "Service"
                    and (ref.get("namespace") or route.namespace) == service.namespace
                    for ref in rule.get("backendRefs") or ()
                ):
                    out.append(route)
                    break
    return tuple(out)


def _targets(policy: Obj) -> list[Mapping[str, Any]]:
    refs = list(policy.spec.get("targetRefs") or ())
    if policy.spec.get("targetRef"):
        refs.append(policy.spec["targetRef"])
    return refs


def backend_traffic_policies(snap: Snapshot, service: Obj) -> tuple[Obj, ...]:
    """Envoy Gateway BackendTrafficPolicies that apply to the Service: those
    targeting a route to it, or that route's parent Gateway."""
    wanted: set[tuple[str, str, str]] = set()
    for route in http_routes(snap, service):
        wanted.add((route.kind, route.namespace, route.name))
        for parent in route.spec.get("parentRefs") or ():
            if (parent.get("kind") or "Gateway") == "Gateway":
                ns = parent.get("namespace") or route.namespace
                wanted.add(("Gateway", str(ns), str(parent.get("name", ""))))
    return tuple(
        policy
        for policy in snap.list("BackendTrafficPolicy")
        if any(
            (str(t.get("kind", "")), policy.namespace, str(t.get("name", ""))) in wanted
            for t in _targets(policy)
        )
    )


def controller_logs(controller: NginxController, pattern: str) -> str:
    """The read-only command that greps the controller's logs for a signal."""
    where = (
        kubectl.resource(controller.workload)
        if controller.workload is not None
        else "deployment/ingress-nginx-controller"
    )
    return f"kubectl logs -n {controller.namespace} {where} | grep -E {shlex.quote(pattern)}"


def route_evidence(route: IngressRoute, service: Obj) -> Evidence:
    """The Ingress rule that sends the Service's traffic through ingress-nginx."""
    backend = route.backends[0]
    return fact(
        route.ingress,
        f"{backend.field}.service.name",
        f"{service.name} (class {route.class_name or 'default'}, ingress-nginx)",
    )
