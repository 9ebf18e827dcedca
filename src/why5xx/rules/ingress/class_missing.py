"""ingress-class-missing: an Ingress names a class no controller serves, or
names none while no class is the default."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft, Fix, Severity
from why5xx.rules.base import Scope, rule
from why5xx.snapshot import Obj, Snapshot
from why5xx.views.ingress import (
    CLASS_ANNOTATION,
    is_default,
    nearest,
    requested_class,
)


def _addresses(ingress: Obj) -> list[str]:
    """What a controller published in `status.loadBalancer.ingress`: proof that
    one admitted the Ingress."""
    entries = (ingress.status.get("loadBalancer") or {}).get("ingress") or ()
    return [
        str(e.get("ip") or e.get("hostname")) for e in entries if e.get("ip") or e.get("hostname")
    ]


def _classes_text(classes: Iterable[Obj]) -> str:
    return ", ".join(
        f"{c.name} ({c.spec.get('controller')}{', default' if is_default(c) else ''})"
        for c in classes
    )


def _class_problem(
    ingress: Obj, name: str | None, annotation: bool, defaults: list[Obj], addresses: list[str]
) -> tuple[str, str]:
    """The title and the reason no controller serves the Ingress."""
    if name is None and defaults:
        return (
            f"Ingress {ingress.name} names no IngressClass and was not given the default "
            f"{defaults[0].name}",
            f"The default class {defaults[0].name} is assigned only when an Ingress is created, "
            "and ingress-nginx ignores Ingresses without a class unless started with "
            "--watch-ingress-without-class.",
        )
    if name is None:
        return (
            f"Ingress {ingress.name} names no IngressClass and no IngressClass is marked default",
            "Without a class or a default class, controllers ignore it (ingress-nginx does unless "
            "started with --watch-ingress-without-class).",
        )
    reason = f"No IngressClass {name} exists, so no controller claims the Ingress"
    if annotation:
        reason += f" (unless one runs with --ingress-class={name})."
    elif addresses:
        reason += (
            f"; the address in its status ({', '.join(addresses)}) was published before "
            "the class changed, or by a controller that ignores classes."
        )
    else:
        reason += "."
    return f"Ingress {ingress.name} asks for IngressClass {name}, which does not exist", reason


def _class_fix(name: str | None, choice: str | None) -> str:
    if choice is None:
        return (
            "Install an ingress controller with its IngressClass, then name that class in "
            "spec.ingressClassName."
        )
    if name is None:
        return (
            f"Set spec.ingressClassName to {choice}; marking a class default only helps "
            "Ingresses created afterwards."
        )
    return (
        f"Set spec.ingressClassName to {choice}, or create IngressClass {name} for the "
        "controller that should serve this Ingress."
    )


@rule(
    cause="ingress-class-missing",
    inputs=("Ingress", "IngressClass"),
    scope=Scope.ROUTE,
)
def ingress_class_missing(snap: Snapshot, ingress: Obj) -> Iterator[Draft]:
    """The Ingress asks for an IngressClass that does not exist, or for none with no default.

    **What it finds**: an Ingress whose `spec.ingressClassName` names no
    IngressClass in the cluster; one whose deprecated
    `kubernetes.io/ingress.class` annotation names none (controllers compare
    the annotation with their `--ingress-class` flag, which is usually the
    class name, so this is less certain, and skipped when a controller has
    published an address for the Ingress); or one that names no class while
    no IngressClass is marked `ingressclass.kubernetes.io/is-default-class:
    "true"`. It lists the classes there are and their controllers. An
    Ingress without a class while a default exists is reported as a warning:
    the default is assigned when an Ingress is created, not afterwards, and
    ingress-nginx ignores class-less Ingresses unless started with
    `--watch-ingress-without-class`.

    **Why it is a 5xx**: no controller configures the Ingress, so its hosts
    fall through to a controller's default backend (ingress-nginx: 404) or
    to nothing at all (timeouts, 503 from a load balancer).

    **Fix**: set `spec.ingressClassName` to an existing class (the patch
    picks the closest name, or the default), or create the IngressClass for
    the controller that should serve it.
    """
    classes = sorted(snap.list("IngressClass"), key=lambda c: c.name)
    name, field = requested_class(ingress)
    addresses = _addresses(ingress)
    if name is not None and snap.get("IngressClass", "", name) is not None:
        return
    annotation = field != "spec.ingressClassName"
    defaults = [c for c in classes if is_default(c)]
    if (annotation or name is None) and addresses:
        return  # a controller admitted it (by its --ingress-class flag or without a class)
    if name is None and defaults:
        severity: Severity | None = Severity.WARNING
    else:
        severity = None
    guess = nearest(name, [c.name for c in classes]) if name else None
    choice = guess or (defaults[0].name if defaults else classes[0].name if classes else None)
    evidence = [
        fact(
            ingress,
            field,
            name or "<unset>",
            expected=(
                f"one of: {', '.join(c.name for c in classes)}" if classes else "an IngressClass"
            ),
        ),
        *(
            fact(
                c,
                "spec.controller",
                str(c.spec.get("controller")) + (" (default)" if is_default(c) else ""),
            )
            for c in classes[:5]
        ),
        fact(
            ingress,
            "status.loadBalancer.ingress",
            ", ".join(addresses) or "<empty>: no controller has admitted it",
        ),
    ]
    title, reason = _class_problem(ingress, name, annotation, defaults, addresses)
    patch_body: dict[str, Any] = {"spec": {"ingressClassName": choice}}
    if annotation:
        patch_body["metadata"] = {"annotations": {CLASS_ANNOTATION: None}}
    yield Draft(
        subject=ingress.ref,
        title=title,
        explanation=(
            f"{reason} Its hosts then reach a controller's default backend (ingress-nginx "
            f"answers 404) or nothing at all. IngressClasses: {_classes_text(classes) or 'none'}."
        ),
        evidence=tuple(evidence),
        confirm=(
            "kubectl get ingressclass",
            kubectl.get_yaml(ingress, "{.spec.ingressClassName}"),
            kubectl.describe(ingress),
        ),
        fix=Fix(
            summary=_class_fix(name, choice),
            patch=kubectl.merge_patch(ingress, patch_body) if choice else None,
        ),
        confidence=0.6 if severity else (0.7 if annotation else 0.8 if addresses else 0.95),
        severity=severity,
    )
