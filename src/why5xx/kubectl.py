"""The kubectl command lines findings offer to confirm and fix, built in one
place so they are spelled the same everywhere (and always read-only for
`confirm`; `patch` lines are for the user to run, never run by why5xx)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

import orjson

from why5xx.kube import selector_string
from why5xx.model import ObjectRef
from why5xx.snapshot import Obj

# kubectl resource names for the kinds findings talk about.
RESOURCE = {
    "Service": "service",
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "ReplicaSet": "replicaset",
    "ReplicationController": "replicationcontroller",
    "Pod": "pod",
    "Ingress": "ingress",
    "IngressClass": "ingressclass",
    "HorizontalPodAutoscaler": "hpa",
    "EndpointSlice": "endpointslice",
    "Endpoints": "endpoints",
}

# Kinds two API groups define: kubectl needs the group to tell them apart.
QUALIFIED = {
    ("gateway.networking.k8s.io", "Gateway"): "gateways.gateway.networking.k8s.io",
    ("networking.istio.io", "Gateway"): "gateways.networking.istio.io",
}


def _ns(namespace: str) -> str:
    return f" -n {shlex.quote(namespace)}" if namespace else ""


def resource(obj: Obj) -> str:
    group = obj.api_version.rpartition("/")[0]
    name = QUALIFIED.get((group, obj.kind)) or RESOURCE.get(obj.kind, obj.kind.lower())
    return f"{name}/{obj.name}"


def get_pods(namespace: str, selector: Mapping[str, str] | None = None, wide: bool = False) -> str:
    label = f" -l {shlex.quote(selector_string(selector))}" if selector else ""
    output = " -o wide" if wide else " --show-labels"
    return f"kubectl get pods{_ns(namespace)}{label}{output}"


def describe(obj: Obj) -> str:
    return f"kubectl describe{_ns(obj.namespace)} {resource(obj)}"


def describe_route(route: Obj) -> str:
    """`kubectl describe` of an HTTPRoute, as the Gateway API docs spell it."""
    return f"kubectl describe httproute -n {route.namespace} {route.name}"


def get_yaml(obj: Obj, jsonpath: str | None = None) -> str:
    if jsonpath:
        return (
            f"kubectl get{_ns(obj.namespace)} {resource(obj)} -o jsonpath={shlex.quote(jsonpath)}"
        )
    return f"kubectl get{_ns(obj.namespace)} {resource(obj)} -o yaml"


def get_ref_yaml(ref: ObjectRef) -> str:
    """`get_yaml` of an object the input may not hold (a ConfigMap a flag names)."""
    return f"kubectl get {ref.kind.lower()} -n {ref.namespace} {ref.name} -o yaml"


def events(obj: Obj) -> str:
    selector = f"involvedObject.kind={obj.kind},involvedObject.name={obj.name}"
    return f"kubectl get events{_ns(obj.namespace)} --field-selector {selector}"


def endpoint_slices(service: Obj) -> str:
    return (
        f"kubectl get endpointslices{_ns(service.namespace)}"
        f" -l kubernetes.io/service-name={service.name} -o wide"
    )


def logs(pod: Obj, container: str | None = None, previous: bool = False) -> str:
    flags = (f" -c {shlex.quote(container)}" if container else "") + (
        " --previous" if previous else ""
    )
    return f"kubectl logs{_ns(pod.namespace)} {pod.name}{flags}"


def merge_patch(obj: Obj, patch: Mapping[str, Any]) -> str:
    body = orjson.dumps(patch).decode()
    return f"kubectl patch{_ns(obj.namespace)} {resource(obj)} --type merge -p {shlex.quote(body)}"


def json_patch(obj: Obj, operations: list[dict[str, Any]]) -> str:
    body = orjson.dumps(operations).decode()
    return f"kubectl patch{_ns(obj.namespace)} {resource(obj)} --type json -p {shlex.quote(body)}"


def json_pointer(*parts: str) -> str:
    """A JSON Pointer (RFC 6901): label keys with `/` become `~1`."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def field_pointer(field: str, *rest: str) -> str:
    """An evidence field path as a JSON Pointer, for patches:
    `spec.rules[0].backendRefs[1]` -> `/spec/rules/0/backendRefs/1`."""
    return json_pointer(*(p for p in re.split(r"[.\[\]]+", field) if p), *rest)


def remove_field(obj: Obj, field: str) -> str:
    """The patch that deletes one field of `obj`, named by its evidence path."""
    return json_patch(obj, [{"op": "remove", "path": field_pointer(field)}])


def scale(obj: Obj, replicas: int) -> str:
    return f"kubectl scale{_ns(obj.namespace)} {resource(obj)} --replicas={replicas}"


def set_resources(
    obj: Obj,
    container: str,
    *,
    limits: Mapping[str, str] | None = None,
    requests: Mapping[str, str] | None = None,
) -> str:
    """`kubectl set resources` for one container of a workload's pod template."""
    flags = "".join(
        f" --{flag}={','.join(f'{k}={v}' for k, v in values.items())}"
        for flag, values in (("limits", limits), ("requests", requests))
        if values
    )
    return (
        f"kubectl set resources{_ns(obj.namespace)} {resource(obj)}"
        f" -c {shlex.quote(container)}{flags}"
    )


def rollout_undo(obj: Obj, revision: int) -> str:
    return f"kubectl rollout undo{_ns(obj.namespace)} {resource(obj)} --to-revision={revision}"


def top_pod(pod: Obj) -> str:
    return f"kubectl top pod{_ns(pod.namespace)} {pod.name} --containers"


def rollout_history(obj: Obj, revision: int | None = None) -> str:
    flag = f" --revision={revision}" if revision is not None else ""
    return f"kubectl rollout history{_ns(obj.namespace)} {resource(obj)}{flag}"


def dns_check(name: str) -> str:
    """A lookup from inside the cluster; it starts a throwaway pod, so it is
    offered as an optional step of a fix, never as a read-only confirm."""
    return (
        "kubectl run -it --rm dnscheck --image=busybox:1.36 --restart=Never -- "
        f"nslookup {shlex.quote(name)}"
    )
