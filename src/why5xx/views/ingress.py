"""An Ingress's class: the annotation or field that names it, and whether an
IngressClass is the cluster's default; and which existing name a person most
likely meant by one that does not exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from why5xx.snapshot import Obj

CLASS_ANNOTATION = "kubernetes.io/ingress.class"

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"

INGRESS_NGINX = "k8s.io/ingress-nginx"


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """An Ingress controller, by its IngressClass `spec.controller`, and the
    annotation prefix it reads (it ignores the others')."""

    name: str
    controller: str  # the spec.controller value, or its prefix
    prefix: str  # the annotations it reads
    https_backend: str  # its annotation for a backend that speaks TLS, as key=value


FAMILIES = (
    Family(
        name="the community ingress-nginx",
        controller=INGRESS_NGINX,
        prefix="nginx.ingress.kubernetes.io/",
        https_backend="nginx.ingress.kubernetes.io/backend-protocol=HTTPS",
    ),
    Family(
        name="NGINX Inc.'s NGINX Ingress Controller",
        controller="nginx.org/ingress-controller",
        prefix="nginx.org/",
        https_backend="nginx.org/ssl-services={service}",
    ),
    Family(
        name="HAProxy Technologies' HAProxy Kubernetes Ingress Controller",
        controller="haproxy.org/ingress-controller",
        prefix="haproxy.org/",
        https_backend="haproxy.org/server-ssl=true",
    ),
    Family(
        name="HAProxy Ingress",
        controller="haproxy-ingress.github.io/controller",
        prefix="haproxy-ingress.github.io/",
        https_backend="haproxy-ingress.github.io/backend-protocol=h1-ssl",
    ),
)
# Each family's annotations that say the backend speaks TLS (or gRPC).
BACKEND_PROTOCOL_KEYS = (
    "nginx.ingress.kubernetes.io/backend-protocol",
    "nginx.ingress.kubernetes.io/secure-backends",
    "nginx.org/ssl-services",
    "nginx.org/grpc-services",
    "haproxy.org/server-ssl",
    "haproxy.org/server-proto",
    "haproxy-ingress.github.io/backend-protocol",
    "haproxy-ingress.github.io/secure-backends",
)


def controller_family(ingress_class: Obj | None) -> Family | None:
    """The family of the controller an IngressClass names, when known."""
    controller = str(ingress_class.spec.get("controller", "")) if ingress_class else ""
    return next((f for f in FAMILIES if controller.startswith(f.controller)), None)


def foreign_annotations(ingress: Obj, family: Family) -> list[tuple[str, Family]]:
    """The Ingress's annotations of another family than its controller's:
    the controller does not read them."""
    return [
        (key, other)
        for key in ingress.annotations
        for other in FAMILIES
        if other is not family
        and key.startswith(other.prefix)
        and not key.startswith(family.prefix)
    ]


def requested_class(ingress: Obj) -> tuple[str | None, str]:
    """The class an Ingress asks for and the field that asks: the
    `spec.ingressClassName`, else the deprecated annotation."""
    name = ingress.spec.get("ingressClassName")
    if name:
        return str(name), "spec.ingressClassName"
    annotation = ingress.annotations.get(CLASS_ANNOTATION)
    if annotation:
        return str(annotation), f"metadata.annotations.{CLASS_ANNOTATION}"
    return None, "spec.ingressClassName"


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate a person most likely meant by `name` (a typo, a rename,
    a suffix added or dropped), or None when nothing is close. Unlike
    `kube.closest_name`, a name inside the other counts as close: Services
    get renamed by a suffix (blog -> blog-ghost, ratio 0.57)."""
    best: tuple[float, str] | None = None
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, name, candidate).ratio()
        if name in candidate or candidate in name:
            ratio = max(ratio, 0.7)
        if ratio >= 0.6 and (best is None or ratio > best[0]):
            best = (ratio, candidate)
    return best[1] if best else None


def is_default(ingress_class: Obj) -> bool:
    return ingress_class.annotations.get(DEFAULT_CLASS_ANNOTATION) == "true"
