"""An Ingress's class: the annotation or field that names it, and whether an
IngressClass is the cluster's default."""

from __future__ import annotations

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
