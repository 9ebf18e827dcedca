"""Pod templates standing in for pods.

Manifests from a repository, or a Deployment pasted into a ticket, hold no
pods: what the pods will be is the workload's pod template. `model_pod`
stamps one pod out of a template (its labels, ports, probes, lifecycle,
command, args and env); lint reads every workload that way, and a partial
bundle (`stand_ins`) does it for each workload whose pods it lacks, so that
the rules that read pods read the template instead. A stand-in pod knows the
workload it stands for (`Obj.template_of`): the engine then says that a
finding was read off a template, and trusts it less.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from why5xx.kube import labels_match
from why5xx.snapshot import WORKLOAD_KINDS, Obj
from why5xx.views.pods import pod_template_labels, pod_template_spec

# The sidecars an admission webhook injects when the namespace (or the pod
# template) asks for them: what the pods will run beside the app.
_ISTIO_LABELS = ("istio-injection", "istio.io/rev")
_ISTIO_INJECT = "sidecar.istio.io/inject"
_LINKERD_INJECT = "linkerd.io/inject"
_ISTIO_PROXY: Mapping[str, Any] = {
    "name": "istio-proxy",
    "image": "docker.io/istio/proxyv2",
    "args": ["proxy", "sidecar"],
}
_LINKERD_PROXY: Mapping[str, Any] = {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy"}


def _template_annotations(workload: Obj) -> Mapping[str, str]:
    return ((workload.spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}


def model_pod(workload: Obj, namespace_obj: Obj | None = None) -> Obj:
    """The pod a workload's template stamps out, owned by the workload, with
    the sidecars its namespace's (or its own) injection labels imply."""
    labels = pod_template_labels(workload)
    metadata: dict[str, Any] = {
        "name": f"{workload.name}-{workload.kind.lower()}",
        "namespace": workload.namespace,
        "labels": dict(labels),
        "ownerReferences": [
            {
                "apiVersion": workload.api_version,
                "kind": workload.kind,
                "name": workload.name,
                "controller": True,
            }
        ],
    }
    annotations = _template_annotations(workload)
    if annotations:
        metadata["annotations"] = dict(annotations)
    spec: Mapping[str, Any] = pod_template_spec(workload)
    injected = _injected(labels, annotations, namespace_obj)
    present = {str(c.get("name")) for c in spec.get("containers") or ()}
    missing = [sidecar for sidecar in injected if sidecar["name"] not in present]
    if missing:
        spec = {**spec, "containers": [*(spec.get("containers") or ()), *missing]}
    raw = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    return Obj.from_raw(raw, workload.source, workload.line)


def _injected(
    labels: Mapping[str, str], annotations: Mapping[str, str], namespace: Obj | None
) -> list[Mapping[str, Any]]:
    """The sidecars injection would add: Istio's by the namespace label (or
    the pod's `sidecar.istio.io/inject`), Linkerd's by the namespace's or the
    pod's `linkerd.io/inject` annotation."""
    ns_labels = namespace.labels if namespace is not None else {}
    ns_annotations = namespace.annotations if namespace is not None else {}
    istio_asked = str(labels.get(_ISTIO_INJECT) or annotations.get(_ISTIO_INJECT) or "")
    istio_ns = ns_labels.get("istio-injection") == "enabled" or "istio.io/rev" in ns_labels
    found: list[Mapping[str, Any]] = []
    if istio_asked == "true" or (istio_ns and istio_asked != "false"):
        found.append(_ISTIO_PROXY)
    linkerd = str(annotations.get(_LINKERD_INJECT) or ns_annotations.get(_LINKERD_INJECT) or "")
    if linkerd == "enabled":
        found.append(_LINKERD_PROXY)
    return found


def _replicas(workload: Obj) -> int | None:
    value = workload.spec.get("replicas")
    return int(value) if isinstance(value, int) else None


def stand_ins(objects: Sequence[Obj], complete: Iterable[tuple[str, str]]) -> list[Obj]:
    """A model pod for each workload of a partial input whose pods it lacks:
    not when its namespace's pods are listed in full (then it has none), not
    for a workload scaled to zero, not when a pod it owns (directly or
    through a ReplicaSet) or one its template's labels match is there."""
    listed = {ns for kind, ns in complete if kind == "Pod"}
    pods = [o for o in objects if o.kind == "Pod"]
    owners = {
        (o.namespace, str(ref.get("kind")), str(ref.get("name")))
        for o in objects
        if o.kind in ("Pod", "ReplicaSet")
        for ref in o.metadata.get("ownerReferences") or ()
    }
    namespaces = {o.name: o for o in objects if o.kind == "Namespace"}
    found: list[Obj] = []
    for workload in objects:
        if workload.kind not in WORKLOAD_KINDS or workload.namespace in listed:
            continue
        if workload.kind == "ReplicaSet" and workload.metadata.get("ownerReferences"):
            continue  # its Deployment stands for it
        labels = pod_template_labels(workload)
        if (
            _replicas(workload) == 0
            or not labels
            or (workload.namespace, workload.kind, workload.name) in owners
            or any(
                p.namespace == workload.namespace and labels_match(labels, p.labels) for p in pods
            )
        ):
            continue
        pod = model_pod(workload, namespaces.get(workload.namespace))
        found.append(replace(pod, template_of=workload.ref))
    return found
