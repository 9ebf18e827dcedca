"""A Service wired to nothing: a selector that picks no workload, one that
misses a workload by one label, a targetPort no container declares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from why5xx.kube import selector_string
from why5xx.lint.base import Relation, check, k8sgpt, kube_linter, popeye
from why5xx.lint.checks.common import named, service_rule
from why5xx.lint.manifests import Manifests, pod_labels
from why5xx.lint.model import Level, Problem, Scope
from why5xx.lint.traffic import made_by_operator, operator_resources
from why5xx.snapshot import Obj
from why5xx.views.pods import container_ports, pod_template_spec
from why5xx.views.ports import service_ports
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
    the diagnosis rule `no-matching-workload` over the manifests, and
    `selector-mismatch` where the Service names a workload it misses (the
    workload has its name, its app label, or a deployment tool's annotation
    names it): that one is meant, however unlike the labels. A Service
    without a selector (endpoints managed by hand) and an `ExternalName`
    Service are not checked.

    **Why it is a 5xx**: the endpoint controller publishes only the pods the
    selector matches; with none, the Service has no endpoints and every
    proxy in front of it answers 503.

    **Level**: an error where the Service is certainly broken: its name or a
    value of its selector names a workload of the application, or a label
    value its pods carry. `info` where the Service fronts something the
    files do not deploy: it names no workload of them (a DaemonSet or
    database installed elsewhere), an operator makes its pods from a custom
    resource of the application (ECK's `kibana` for `kibana-kb-http`), or a
    traffic split (SMI `TrafficSplit`) names it.

    **Fix**: point `spec.selector` at the pod template labels of the workload
    that serves it, or lint the Service together with that workload's
    manifest (a Service linted alone always looks dangling).
    """
    backed = manifests.backed(service)
    if backed is None or backed.workloads:
        return
    selector = backed.target.selector
    if near_misses(manifests.templates, service.namespace, selector):
        return
    elsewhere = _fronts_elsewhere(manifests, service, selector)
    problems = list(service_rule("no-matching-workload", manifests, backed))
    for problem in problems or service_rule("selector-mismatch", manifests, backed):
        yield replace(problem, level=Level.INFO) if elsewhere else problem


def _fronts_elsewhere(manifests: Manifests, service: Obj, selector: Mapping[str, str]) -> bool:
    """Whether a Service that selects nothing in the files fronts pods made
    elsewhere: by an operator, or by something the files do not deploy."""
    namespace = service.namespace
    resources = operator_resources(manifests.objects, namespace)
    if made_by_operator(service.name, resources) is not None:
        return True
    if any(
        (split.spec.get("service") or "") == service.name
        for split in manifests.snap.list("TrafficSplit", namespace)
    ):
        return True
    names = {service.name, *(str(v) for v in selector.values())}
    for workload in manifests.workloads:
        if workload.namespace != namespace:
            continue
        values = {str(v) for v in pod_labels(workload).values()}
        if workload.name in names or values & names:
            return False
    return True


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

    **Level**: an error for a named targetPort (the endpoints leave the pods
    out: certain); a warning for a number no container declares (an app may
    serve a port it does not declare); `info` for a number declared with
    another protocol only (the declaration does not restrict the traffic).

    **Fix**: point `targetPort` at the port the container declares (by
    name, which survives a port change), or declare and serve the port in
    the container.
    """
    backed = manifests.backed(service)
    if backed is None or not backed.workloads:
        return
    targets = {port.field: port.target for port in service_ports(service)}
    declared = {
        p.number
        for workload in backed.workloads
        for p in container_ports(pod_template_spec(workload))
    }
    for problem in service_rule("target-port-mismatch", manifests, backed):
        target = targets.get(problem.field.removesuffix(".targetPort"))
        if not isinstance(target, int):
            yield problem  # a name: the endpoints leave the pods out
        else:
            yield replace(problem, level=Level.INFO if target in declared else Level.WARNING)
