"""An Ingress's class: the annotation or field that names it, and whether an
IngressClass is the cluster's default; and which existing name a person most
likely meant by one that does not exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from why5xx.snapshot import Obj

CLASS_ANNOTATION = "kubernetes.io/ingress.class"

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"

INGRESS_NGINX = "k8s.io/ingress-nginx"


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
