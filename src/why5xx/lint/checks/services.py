"""A Service wired to nothing: a selector that picks no workload, one that
misses a workload by one label, a targetPort no container declares."""

from __future__ import annotations

from collections.abc import Iterator

from why5xx.kube import selector_string
from why5xx.lint.base import Relation, Scope, check, k8sgpt, kube_linter, popeye
from why5xx.lint.checks.common import named, service_rule
from why5xx.lint.manifests import Manifests
from why5xx.lint.model import Level, Problem
from why5xx.snapshot import Obj
from why5xx.views.selection import near_misses


@check(
    code="W5X101",
    name="service-selects-nothing",
    level=Level.ERROR,
    scope=Scope.SERVICE,
    peers=(
        kube_linter(
            "dangling-service",
            Relation.SAME,
            "kube-linter also flags a Service without a selector; why5xx leaves those alone "
            "(their endpoints are managed by hand)",
        ),
        popeye("1100", Relation.SAME, "on a live cluster only, against running pods"),
        k8sgpt("Service", Relation.SAME, "on a live cluster only, from empty v1 Endpoints"),
    ),
)
def service_selects_nothing(manifests: Manifests, service: Obj) -> Iterator[Problem]:
    """The Service's selector matches no workload in the manifests.

    **What it finds**: a Service with a `spec.selector` that matches the pod
    template labels of no Deployment, StatefulSet, DaemonSet or ReplicaSet
    (and the labels of no bare Pod) in its namespace, where no workload
    misses it by one label either (that is `selector-near-miss`). It runs
    the diagnosis rule `no-matching-workload` over the manifests. A Service
    without a selector (endpoints managed by hand) and an `ExternalName`
    Service are not checked.

    **Why it is a 5xx**: the endpoint controller publishes only the pods the
    selector matches; with none, the Service has no endpoints and every
    proxy in front of it answers 503.

    **Fix**: point `spec.selector` at the pod template labels of the workload
    that serves it, or lint the Service together with that workload's
    manifest (a Service linted alone always looks dangling).
    """
    backed = manifests.backed(service)
    if backed is None or backed.workloads:
        return
    if near_misses(manifests.templates, service.namespace, backed.target.selector):
        return
    yield from service_rule("no-matching-workload", manifests, backed)


@check(
    code="W5X102",
    name="selector-near-miss",
    level=Level.ERROR,
    scope=Scope.SERVICE,
    peers=(
        kube_linter("dangling-service", Relation.STRICTER, "names the one label that differs"),
        popeye("1100", Relation.STRICTER, "names the one label that differs; popeye is live only"),
        k8sgpt(
            "Service",
            Relation.STRICTER,
            "k8sgpt lists the expected labels of a Service without endpoints, not the pods' ones",
        ),
    ),
)
def selector_near_miss(manifests: Manifests, service: Obj) -> Iterator[Problem]:
    """The Service's selector misses a workload's pod labels by one label.

    **What it finds**: a Service whose selector matches no workload while a
    workload's pod template matches all of it but one key: a different value
    (`version: v2` against `version: v3`), a missing label, or the same value
    under another key (`app` against `app.kubernetes.io/name`). The search is
    the diagnosis's own (`selection.near_misses`, the `selector-mismatch`
    rule), run over the pod templates.

    **Why it is a 5xx**: no pod carries every label of the selector, so the
    Service has no endpoints and proxies answer 503, as soon as it is applied.

    **Fix**: make the selector and the pod template labels agree on the
    differing key. Change the Service when the workload's own
    `spec.selector` uses that key: a Deployment's selector is immutable.
    """
    backed = manifests.backed(service)
    if backed is None or backed.workloads:
        return
    misses = near_misses(manifests.templates, service.namespace, backed.target.selector)
    if not misses:
        return
    best = misses[0]
    workloads = [manifests.templated(pod) for pod in best.pods]
    names = ", ".join(named(w) for w in workloads[:3])
    template = f"the pod template of {names}"
    if best.found_key is not None:
        difference = f"{template} carries {best.found_key}={best.wanted}, not {best.key}"
        fix = f"Select {best.found_key}: {best.wanted} instead of {best.key}: {best.wanted}."
    elif best.found is None:
        difference = f"{template} has no {best.key} label (the selector wants {best.wanted})"
        fix = (
            f"Add the label {best.key}: {best.wanted} to {template}, or drop {best.key} from "
            "the selector."
        )
    else:
        difference = f"the selector wants {best.key}={best.wanted}, {template} has {best.found}"
        fix = (
            f"Set spec.selector.{best.key} to {best.found}, or label {template} "
            f"{best.key}: {best.wanted}."
        )
    yield Problem(
        subject=service,
        field=f"spec.selector.{best.key}",
        message=(
            f"Service {service.name} selects no workload "
            f"({selector_string(backed.target.selector)}): {difference}"
        ),
        fix=fix,
        related=tuple(workloads),
    )


@check(
    code="W5X103",
    name="target-port-not-exposed",
    level=Level.ERROR,
    scope=Scope.SERVICE,
    peers=(
        kube_linter(
            "invalid-target-ports",
            Relation.STRICTER,
            "kube-linter checks only the syntax of targetPort, never that a container declares it",
        ),
        popeye(
            "1106",
            Relation.STRICTER,
            "popeye compares with the first running pod only, and skips pods declaring no ports",
        ),
        k8sgpt(None, Relation.ONLY_HERE, "k8sgpt's Service analyzer does not check ports"),
    ),
)
def target_port_not_exposed(manifests: Manifests, service: Obj) -> Iterator[Problem]:
    """A Service port's targetPort matches no container port of the workloads it selects.

    **What it finds**: each port of the Service whose `targetPort` (a name,
    a number, or unset, meaning `port`) is not declared by the containers of
    the pod templates the Service selects, by name and protocol, or by number
    and protocol. It runs the diagnosis rule `target-port-mismatch` over the
    pod templates: a container that declares no ports at all, or a probe on
    the target number (the app listens there), is not reported.

    **Why it is a 5xx**: a named targetPort no container declares leaves the
    pods out of the port's endpoints (503); a numeric one is published as
    is, so connections go to a port nothing listens on: connection refused,
    502.

    **Fix**: point `targetPort` at the port the container declares (by
    name, which survives a port change), or declare and serve the port in
    the container.
    """
    backed = manifests.backed(service)
    if backed is None or not backed.workloads:
        return
    yield from service_rule("target-port-mismatch", manifests, backed)
