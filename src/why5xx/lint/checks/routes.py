"""Routes into the cluster that lead nowhere: an Ingress or HTTPRoute whose
backend Service or port does not exist, an Ingress whose class does not
exist or that names none."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from why5xx.lint.base import Relation, check, k8sgpt, kube_linter, popeye
from why5xx.lint.checks.common import route_rule
from why5xx.lint.manifests import Manifests
from why5xx.lint.model import Level, Problem, Scope
from why5xx.lint.traffic import made_by_operator, operator_resources
from why5xx.snapshot import Obj
from why5xx.views.ingress import DEFAULT_CLASS_ANNOTATION, requested_class
from why5xx.views.routes import ingress_backends, route_backends


@check(
    code="W5X201",
    name="route-backend-missing",
    level=Level.ERROR,
    scope=Scope.ROUTE,
    peers=(
        kube_linter(
            "dangling-ingress",
            Relation.SAME,
            "not enabled by default in kube-linter, and Ingresses only",
        ),
        popeye("1401, 1402, 407, 1106", Relation.SAME, "on a live cluster only"),
        k8sgpt(
            "Ingress, HTTPRoute",
            Relation.STRICTER,
            "k8sgpt checks that an Ingress's backend Service exists (live), not its port",
        ),
    ),
)
def route_backend_missing(manifests: Manifests, route: Obj) -> Iterator[Problem]:
    """An Ingress or HTTPRoute backend names a Service, or a Service port, not in the manifests.

    **What it finds**: each backend of an Ingress (`defaultBackend` and every
    rule path) whose Service is not in the Ingress's namespace, or whose
    `port.number` / `port.name` is not a `port` / `name` of that Service
    (often the container's port written where the Service's port belongs);
    each `backendRefs` entry of an HTTPRoute to a Service that is not there
    (judged only where the manifests hold Services of that namespace), to a
    `port` the Service does not have, or across namespaces without a
    ReferenceGrant (when the manifests hold ReferenceGrants). It runs the
    diagnosis rule `ingress-backend-missing`, which suggests the closest
    existing name.

    **Why it is a 5xx**: the controller has no endpoints for the path:
    ingress-nginx answers 503, other controllers 503 or drop the route; a
    Gateway answers 500 for the requests an invalid backendRef would get.

    A missing Service is `info` where the files do not deploy it: an
    operator makes it from a custom resource of the application (ECK's
    `kibana-kb-http` from the `Kibana` named `kibana`), or the application
    holds no Service of that namespace at all (the route is applied next to
    an app deployed from elsewhere).

    **Fix**: point the backend at the existing Service and one of its ports,
    or add the Service; lint routes together with their Services.
    """
    elsewhere = _deployed_elsewhere(manifests, route)
    for problem in route_rule("ingress-backend-missing", manifests, route):
        if any(problem.field.startswith(field) for field in elsewhere):
            yield replace(problem, level=Level.INFO)
        else:
            yield problem


def _deployed_elsewhere(manifests: Manifests, route: Obj) -> tuple[str, ...]:
    """The fields of the route's backends whose missing Service the files
    do not deploy: an operator makes it, or they hold no Service of its
    namespace."""
    if route.kind == "Ingress":
        named = [(route.namespace, b.service, b.field) for b in ingress_backends(route)]
    else:
        named = [(b.namespace, b.name, b.field) for b in route_backends(route) if b.service]
    return tuple(
        field
        for namespace, name, field in named
        if manifests.snap.get("Service", namespace, name) is None
        and (
            not manifests.snap.list("Service", namespace)
            or made_by_operator(name, operator_resources(manifests.objects, namespace))
        )
    )


@check(
    code="W5X202",
    name="ingress-class-unknown",
    level=Level.ERROR,
    scope=Scope.ROUTE,
    peers=(
        popeye(None, Relation.ONLY_HERE, "popeye's Ingress linter does not check the class"),
        k8sgpt("Ingress", Relation.SAME, "on a live cluster only"),
    ),
)
def ingress_class_unknown(manifests: Manifests, route: Obj) -> Iterator[Problem]:
    """The Ingress names an IngressClass that is not among the IngressClasses linted.

    **What it finds**: an Ingress whose `spec.ingressClassName` (or the
    deprecated `kubernetes.io/ingress.class` annotation) names a class that
    no IngressClass in the manifests has, when they hold IngressClasses at
    all (a live cluster, or the platform's manifests linted with the app's):
    with none, the classes live elsewhere and nothing can be told. It runs
    the diagnosis rule `ingress-class-missing`, which suggests the closest
    class.

    **Why it is a 5xx**: no controller claims the Ingress, so its hosts fall
    through to a default backend (ingress-nginx: 404) or to nothing (503 or
    timeouts from the load balancer).

    **Fix**: set `spec.ingressClassName` to an existing class.
    """
    name, _ = requested_class(route) if route.kind == "Ingress" else (None, "")
    if name is not None and manifests.snap.list("IngressClass"):
        yield from route_rule("ingress-class-missing", manifests, route)


@check(
    code="W5X203",
    name="ingress-class-unset",
    level=Level.WARNING,
    scope=Scope.ROUTE,
    peers=(
        k8sgpt(
            "Ingress",
            Relation.SAME,
            "k8sgpt flags a missing class on a live cluster even where a default class applies",
        ),
    ),
)
def ingress_class_unset(manifests: Manifests, route: Obj) -> Iterator[Problem]:
    """The Ingress names no IngressClass and none in the manifests is the default.

    **What it finds**: an Ingress with neither `spec.ingressClassName` nor
    the `kubernetes.io/ingress.class` annotation, while no IngressClass in
    the manifests is marked `ingressclass.kubernetes.io/is-default-class:
    "true"` (when one is, the API server gives the Ingress that class as it
    is created).

    **Why it is a 5xx**: the Ingress then depends on the cluster having a
    default class when it is created: without one, ingress-nginx ignores it
    (unless started with `--watch-ingress-without-class`) and its hosts get
    404 or 503.

    **Level**: a warning where the Ingress was written for a controller
    that leaves class-less Ingresses alone (its annotations are
    ingress-nginx's, NGINX's, Traefik's, HAProxy's or the AWS Load Balancer
    Controller's) or where the application's other Ingresses name a class;
    `info` otherwise: a managed platform's default controller (GKE's, for
    one) serves Ingresses without a class.

    **Fix**: set `spec.ingressClassName` to the class of the controller
    that should serve it.
    """
    if route.kind != "Ingress" or requested_class(route)[0] is not None:
        return
    classes = manifests.snap.list("IngressClass")
    if any(c.annotations.get(DEFAULT_CLASS_ANNOTATION) == "true" for c in classes):
        return
    named = sorted(
        {
            name
            for other in manifests.snap.list("Ingress")
            if (name := requested_class(other)[0]) is not None
        }
    )
    controller = next(
        (a.split("/")[0] for a in route.annotations if a.startswith(_CLASS_NEEDED_PREFIXES)), None
    )
    known = ", ".join(named or sorted(c.name for c in classes)) or "e.g. nginx"
    why = f" (its annotations are for {controller})" if controller else ""
    yield Problem(
        subject=route,
        field="spec.ingressClassName",
        message=f"Ingress {route.name} names no IngressClass and relies on a cluster default{why}",
        fix=f"Set spec.ingressClassName to the class that should serve it ({known}).",
        level=None if controller or named else Level.INFO,
    )


# Annotation prefixes of controllers that serve an Ingress without a class
# only when started to (ingress-nginx, NGINX's, Traefik, HAProxy, AWS LBC).
_CLASS_NEEDED_PREFIXES = (
    "nginx.ingress.kubernetes.io/",
    "nginx.org/",
    "nginx.com/",
    "traefik.ingress.kubernetes.io/",
    "haproxy.org/",
    "haproxy-ingress.github.io/",
    "alb.ingress.kubernetes.io/",
)
