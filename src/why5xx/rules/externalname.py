"""Services of type ExternalName: a DNS alias (the cluster DNS answers a
CNAME to `spec.externalName`) with no endpoints of its own, which
ingress-nginx resolves itself and connects to on the Service port's
targetPort.

Offline, why5xx cannot resolve a name: it judges what the objects show (a
name of an in-cluster Service that does not exist, localhost, an IP
address, the port ingress-nginx will use) and leaves external names to the
proxy logs (`diagnose --logs`) and to the optional DNS check in the fix.
"""

from __future__ import annotations

import difflib
import ipaddress
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from why5xx import kubectl
from why5xx.appservers import is_loopback
from why5xx.evidence import fact
from why5xx.kubectl import dns_check
from why5xx.model import Draft, Evidence, Fix
from why5xx.rules.base import rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.frontend import (
    IngressRoute,
    NginxController,
    controller_logs,
    nginx_routes,
    route_evidence,
)
from why5xx.views.routes import IngressBackend
from why5xx.views.service import IN_CLUSTER, ServiceTarget

# What ingress-nginx logs when an ExternalName backend gets no peer.
_NGINX_SIGNS = (
    "Invalid attempt to use localhost|does not have any active Endpoint|Invalid DNS name"
    "|failed to query the DNS server|error while setting current upstream peer"
)

_DISABLE_FLAG = "disable-svc-external-name"


def _port_number(value: Any) -> int:
    """A port as ingress-nginx reads it (`IntOrString.IntValue()`): a name is 0."""
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def nginx_port(service: Obj, backend: IngressBackend) -> int:
    """The port ingress-nginx connects to for an ExternalName backend: the
    targetPort of the Service port the backend names (its `port` when a
    named backend's targetPort is a name), the backend's number itself when
    no Service port has it, and 0 for a port name the Service lacks."""
    ports: Sequence[Mapping[str, Any]] = service.spec.get("ports") or ()
    if backend.port_name is not None:
        for port in ports:
            if port.get("name") == backend.port_name:
                return _port_number(port.get("targetPort")) or _port_number(port.get("port"))
        return 0
    number = backend.port_number or 0
    for port in ports:
        if port.get("port") == number:
            return _port_number(port.get("targetPort", number))
    return number


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _served_ports(service: Obj) -> set[int]:
    """The ports a connection to the Service's name can use: its Service
    ports, and for a headless Service (the name resolves to pod IPs) its
    numeric targetPorts too."""
    ports = service.spec.get("ports") or ()
    served = {_port_number(p.get("port")) for p in ports}
    if service.spec.get("clusterIP") == "None":
        served |= {_port_number(p.get("targetPort", p.get("port"))) for p in ports}
    return served


@rule(
    cause="external-name-dns", inputs=("Service",), reads=("ConfigMap", "Ingress", "IngressClass")
)
def external_name_dns(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """An ExternalName Service names a host that cannot serve its traffic.

    **What it finds**: a Service of `type: ExternalName` whose
    `spec.externalName` (a trailing dot, an absolute name, is accepted and
    ignored here, as the API server and ingress-nginx do)

    - names an in-cluster Service, `<name>.<namespace>.svc` or
      `<name>.<namespace>.svc.cluster.local`, that does not exist (judged
      only when other Services of that namespace are in the input), or the
      ExternalName Service itself (a CNAME loop);
    - is `localhost` or a loopback address: every client would connect to
      itself, and ingress-nginx refuses it ("Invalid attempt to use
      localhost name") and gives the backend no endpoint;
    - is an IP address: the API accepts it as a DNS name made of digits, and
      "ExternalNames that resemble IPv4 addresses are not resolved by CoreDNS
      or ingress-nginx";

    and, for the Ingresses ingress-nginx serves that route to it,

    - the port ingress-nginx connects to: the targetPort of the Service port
      the backend names, the backend's port number when the Service lists no
      such port, and port 0 for a port *name* the Service does not have; when
      the name is an in-cluster Service, that port must be one of its ports
      (its Service ports, not its pods' ports);
    - the controller runs with `--disable-svc-external-name`: ExternalName
      backends get no endpoint at all.

    Whether an external name resolves cannot be judged offline, so nothing
    is said about it from cluster state; with `diagnose --logs`,
    ingress-nginx's balancer failures for that backend name this cause.

    **Why it is a 5xx**: the proxy has no address for the backend, or one
    that refuses it. ingress-nginx logs `Service "ns/name" does not have any
    active Endpoint` and answers 503. A name that does not resolve leaves
    the backend without endpoints too in releases whose `balancer.lua`
    resolves external names before syncing (PR #10989): 503; older releases
    failed in the Lua balancer (`error while setting current upstream peer
    ... no host allowed`) and answered 502 from `0.0.0.1:80`. A connection
    to a ClusterIP on a port the Service does not declare is dropped or
    refused (504 or 502).

    **Fix**: point `externalName` at the Service that exists (the patch uses
    the closest name), at the real host, or replace an IP with a Service
    without selector plus an EndpointSlice; set the ExternalName Service
    port's targetPort to the port the name serves. To see what the cluster
    DNS answers, an optional check starts a throwaway pod: `kubectl run -it
    --rm dnscheck --image=busybox:1.36 --restart=Never -- nslookup NAME`.

    **Sources**: Kubernetes "Service" concepts (type ExternalName: a CNAME
    record; the note on IPv4 addresses); Kubernetes API validation of
    `externalName` (a DNS-1123 subdomain, one trailing dot allowed);
    ingress-nginx `internal/ingress/controller/controller.go`
    (`serviceEndpoints`, `externalNamePorts`, "of type ExternalName not
    allowed due to Ingress configuration") and `endpointslices.go` ("Invalid
    attempt to use localhost name", `IsDNS1123Subdomain` after trimming the
    dot, endpoint port `TargetPort.IntValue()`); `rootfs/etc/nginx/lua/
    balancer.lua` (`resolve_external_names`, PR #10989) and `util/dns.lua`.
    """
    service = target.service
    name = str(service.spec.get("externalName") or "").strip()
    if service.spec.get("type") != "ExternalName" or not name:
        return
    host = name.rstrip(".").lower()
    routes = nginx_routes(snap, service)
    broken = _unresolvable(snap, service, name, host, routes)
    if broken is not None:
        yield broken
        return
    yield from _nginx_drafts(snap, service, name, host, routes)


def _name_evidence(service: Obj, name: str, expected: str) -> Evidence:
    return fact(service, "spec.externalName", name, expected=expected)


def _confirm(service: Obj, routes: Sequence[IngressRoute], *more: str) -> tuple[str, ...]:
    logs = [controller_logs(r.nginx, _NGINX_SIGNS) for r in routes[:1] if r.nginx is not None]
    return (kubectl.get_yaml(service), *more, *logs)


def _unresolvable(
    snap: Snapshot, service: Obj, name: str, host: str, routes: Sequence[IngressRoute]
) -> Draft | None:
    """A name that gives no usable address to any client."""
    via = (
        " ingress-nginx refuses it ('Invalid attempt to use localhost name') and gives the "
        "backend no endpoint: 503."
        if routes
        else ""
    )
    if is_loopback(host):
        return _name_draft(
            service,
            routes,
            title=f"ExternalName Service {service.name} points at {name}: every client "
            "connects to itself",
            explanation=(
                f"The cluster DNS answers {service.name}.{service.namespace} with a CNAME to "
                f"{name}, the loopback interface of whoever asks, where the backend does not "
                f"run.{via}"
            ),
            evidence=(_name_evidence(service, name, "the backend's DNS name"),),
            fix=Fix(
                summary=(
                    "Point externalName at the host that serves this traffic; a process in the "
                    "same pod is reached on localhost directly, not through a Service."
                ),
            ),
            http_status=(503,) if routes else (502, 503),
        )
    if _is_ip(host):
        return _name_draft(
            service,
            routes,
            title=f"ExternalName Service {service.name} names the IP address {name}, which "
            "DNS does not resolve",
            explanation=(
                "The API accepts an IPv4 address in externalName as a DNS name made of digits; "
                "the cluster DNS answers with a CNAME to it, which resolves to nothing, and "
                "ingress-nginx gets no address either: 503 through ingress-nginx, 502 or "
                "connection errors for other clients."
            ),
            evidence=(_name_evidence(service, name, "a DNS name"),),
            fix=_ip_fix(service, host),
            http_status=(502, 503),
            confidence=0.85,
        )
    found = IN_CLUSTER.match(host)
    if found is None:
        return None
    wanted, namespace = found["name"], found["ns"]
    if (wanted, namespace) == (service.name, service.namespace):
        return _name_draft(
            service,
            routes,
            title=f"ExternalName Service {service.name} points at its own name {name}",
            explanation=(
                "The CNAME points back at itself, so the name never resolves to an address; "
                "proxies have no backend to connect to."
            ),
            evidence=(_name_evidence(service, name, "another Service's name, or a host"),),
            fix=Fix(summary="Point externalName at the Service or host that serves the traffic."),
        )
    if snap.get("Service", namespace, wanted) is not None:
        return None
    others = sorted(s.name for s in snap.list("Service", namespace) if s.ref != service.ref)
    known = _services_known(snap, namespace, others)
    if known is None:
        return None  # that namespace's Services may just not be in the input
    close = difflib.get_close_matches(wanted, others, n=1, cutoff=0.6)
    suggestion = close[0] if close else None
    return _name_draft(
        service,
        routes,
        title=f"ExternalName Service {service.name} points at Service {wanted} in {namespace}, "
        "which does not exist" + (f" (did you mean {suggestion}?)" if suggestion else ""),
        explanation=(
            f"{name} is the in-cluster name of a Service {namespace}/{wanted}; with no such "
            "Service the cluster DNS answers NXDOMAIN, so every client of "
            f"{service.name} fails to resolve it ({known})."
            + (
                " ingress-nginx gets no address for it either: 503 (502 on older releases)."
                if routes
                else ""
            )
        ),
        evidence=(
            _name_evidence(
                service,
                name,
                f"a Service of {namespace}" + (f" ({suggestion}?)" if suggestion else ""),
            ),
        ),
        fix=Fix(
            summary=(
                f"Point externalName at {suggestion}.{namespace}.svc.cluster.local"
                if suggestion
                else f"Create Service {wanted} in {namespace}, or point externalName at the "
                "Service that replaced it"
            )
            + ".",
            patch=kubectl.merge_patch(
                service, {"spec": {"externalName": f"{suggestion}.{namespace}.svc.cluster.local"}}
            )
            if suggestion
            else None,
        ),
        more_confirm=(f"kubectl get services -n {namespace}",),
        confidence=0.9,
    )


def _services_known(snap: Snapshot, namespace: str, others: Sequence[str]) -> str | None:
    """Why the input should hold every Service of `namespace`, in words, or
    None when it may just not have been captured."""
    if others:
        return f"Services in {namespace}: {', '.join(others[:8])}"
    namespaces = snap.list("Namespace")
    if namespaces and snap.get("Namespace", "", namespace) is None:
        return f"no namespace {namespace} among the {len(namespaces)} in the input"
    spanned = {s.namespace for s in snap.list("Service")}
    if len(spanned) > 1:
        return f"the input holds the Services of {len(spanned)} namespaces, none of {namespace}"
    return None


def _ip_fix(service: Obj, ip: str) -> Fix:
    """A Service without selector and an EndpointSlice holding the IP."""
    ports: Sequence[Mapping[str, Any]] = service.spec.get("ports") or ()
    summary = (
        f"Replace the ExternalName with a Service without selector and an EndpointSlice for "
        f"{ip} (or give externalName a DNS name). Optional DNS check (starts a throwaway pod): "
        f"{dns_check(f'{service.name}.{service.namespace}')}"
    )
    if not ports:
        return Fix(summary=summary)
    operations = [
        {"op": "remove", "path": "/spec/externalName"},
        {"op": "replace", "path": "/spec/type", "value": "ClusterIP"},
    ]
    slice_ports = [
        {"name": str(p.get("name") or ""), "port": _port_number(p.get("targetPort", p.get("port")))}
        for p in ports
    ]
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service.name}-1",
            "namespace": service.namespace,
            "labels": {"kubernetes.io/service-name": service.name},
        },
        "addressType": "IPv6" if ":" in ip else "IPv4",
        "ports": slice_ports,
        "endpoints": [{"addresses": [ip]}],
    }
    apply = f"echo {shlex.quote(orjson.dumps(endpoint_slice).decode())} | kubectl apply -f -"
    return Fix(summary=summary, patch=f"{kubectl.json_patch(service, operations)}\n{apply}")


def _name_draft(
    service: Obj,
    routes: Sequence[IngressRoute],
    *,
    title: str,
    explanation: str,
    evidence: tuple[Evidence, ...],
    fix: Fix,
    http_status: tuple[int, ...] | None = None,
    more_confirm: tuple[str, ...] = (),
    confidence: float = 0.95,
) -> Draft:
    return Draft(
        subject=service.ref,
        title=title,
        explanation=explanation,
        evidence=(*evidence, *(route_evidence(r, service) for r in routes[:2])),
        confirm=_confirm(service, routes, *more_confirm),
        fix=fix,
        http_status=http_status,
        confidence=confidence,
    )


def _nginx_drafts(
    snap: Snapshot, service: Obj, name: str, host: str, routes: Sequence[IngressRoute]
) -> Iterator[Draft]:
    """What ingress-nginx does with a name that resolves (or may)."""
    disabled = next(
        (r for r in routes if r.nginx is not None and r.nginx.flags.get(_DISABLE_FLAG) == "true"),
        None,
    )
    if disabled is not None and disabled.nginx is not None:
        yield _disabled_draft(service, disabled, disabled.nginx)
        return
    found = IN_CLUSTER.match(host)
    aliased = snap.get("Service", found["ns"], found["name"]) if found else None
    wrong: dict[int, list[tuple[IngressRoute, IngressBackend]]] = {}
    for route in routes:
        for backend in route.backends:
            port = nginx_port(service, backend)
            if port == 0 or (aliased is not None and port not in _served_ports(aliased)):
                wrong.setdefault(port, []).append((route, backend))
    for port, where in wrong.items():
        yield _port_draft(service, name, aliased, port, where)


def _disabled_draft(service: Obj, route: IngressRoute, nginx: NginxController) -> Draft:
    controller = nginx.workload
    evidence = [route_evidence(route, service)]
    if controller is not None:
        field = "spec.template.spec.containers[controller].args"
        evidence.append(fact(controller, field, f"--{_DISABLE_FLAG}"))
    return Draft(
        subject=service.ref,
        title=f"ingress-nginx runs with --{_DISABLE_FLAG}, so ExternalName Service "
        f"{service.name} gets no endpoint",
        explanation=(
            f"The controller refuses ExternalName backends ('Service \"{service.namespace}/"
            f"{service.name}\" of type ExternalName not allowed due to Ingress configuration') "
            f"and leaves the backend empty: every request through Ingress {route.ingress.name} "
            "gets a 503."
        ),
        evidence=tuple(evidence),
        confirm=(
            kubectl.get_yaml(controller, "{.spec.template.spec.containers[0].args}")
            if controller is not None
            else f"kubectl get pods -n {nginx.namespace} -o yaml | grep -- --{_DISABLE_FLAG}",
            controller_logs(nginx, "of type ExternalName not allowed"),
        ),
        fix=Fix(
            summary=(
                f"Drop --{_DISABLE_FLAG} from the controller (it is a security choice), or "
                "replace the ExternalName Service with a Service without selector and an "
                "EndpointSlice."
            ),
        ),
        http_status=(503,),
        confidence=0.9,
    )


def _port_draft(
    service: Obj,
    name: str,
    aliased: Obj | None,
    port: int,
    where: Sequence[tuple[IngressRoute, IngressBackend]],
) -> Draft:
    route, backend = where[0]
    ingress = route.ingress
    named = backend.port_name or str(backend.port_number)
    evidence = (
        fact(ingress, f"{backend.field}.service.port", named),
        _name_evidence(service, name, "a name that serves the port ingress-nginx uses"),
    )
    if aliased is None or port == 0:
        draft = _no_such_port(service, ingress, named)
    else:
        draft = _not_served(service, name, aliased, port)
    return replace(
        draft,
        evidence=(*evidence, *draft.evidence, route_evidence(route, service)),
        confirm=_confirm(service, (route,), *draft.confirm),
    )


def _no_such_port(service: Obj, ingress: Obj, named: str) -> Draft:
    ports: Sequence[Mapping[str, Any]] = service.spec.get("ports") or ()
    has = ", ".join(str(p.get("name") or p.get("port")) for p in ports) or "none"
    return Draft(
        subject=service.ref,
        title=(
            f"Ingress {ingress.name} names port {named} of ExternalName Service {service.name}, "
            "which has no such port: ingress-nginx connects to port 0"
        ),
        explanation=(
            "For an ExternalName backend ingress-nginx looks the backend port up by name among "
            "the Service's ports; with no match it uses the port number 0, and every connection "
            "fails: 502."
        ),
        evidence=(fact(service, "spec.ports", has, expected=f"a port named {named}"),),
        confirm=(),
        fix=Fix(
            summary=(
                f"Name one of Service {service.name}'s ports ({has}) in the Ingress backend, or "
                f"add a port named {named} to the Service."
            )
        ),
        http_status=(502,),
        confidence=0.85,
    )


def _not_served(service: Obj, name: str, aliased: Obj, port: int) -> Draft:
    ports: Sequence[Mapping[str, Any]] = service.spec.get("ports") or ()
    served = sorted(_served_ports(aliased))
    index = next(
        (i for i, p in enumerate(ports) if _port_number(p.get("targetPort")) == port), None
    )
    patch = (
        kubectl.json_patch(
            service,
            [{"op": "replace", "path": f"/spec/ports/{index}/targetPort", "value": served[0]}],
        )
        if index is not None and served
        else None
    )
    return Draft(
        subject=service.ref,
        title=(
            f"ingress-nginx connects to ExternalName {service.name}'s {name} on port {port}, "
            f"which Service {aliased.name} does not serve (its ports: "
            f"{', '.join(map(str, served))})"
        ),
        explanation=(
            "For an ExternalName backend ingress-nginx connects to the name on the targetPort "
            f"of the Service port the Ingress names. {name} resolves to Service {aliased.name}'s "
            "cluster IP, where kube-proxy forwards only the Service's own ports: connections to "
            f"port {port} are dropped or refused (504 or 502). The pods' port belongs in the "
            f"targetPort of {aliased.name}, not of the alias."
        ),
        evidence=(
            fact(
                aliased,
                "spec.ports[*].port",
                ", ".join(map(str, served)),
                expected=f"{port} (the port ingress-nginx uses)",
            ),
        ),
        confirm=(kubectl.get_yaml(aliased, "{.spec.ports}"),),
        fix=Fix(
            summary=(
                f"Set the targetPort of Service {service.name}'s port to "
                f"{served[0] if served else 'a port'}, a port of Service {aliased.name}."
            ),
            patch=patch,
        ),
        http_status=(502, 504),
        confidence=0.8,
    )
