"""The resource types the fake API server knows: the built-in kinds a
why5xx user's cluster serves, and custom resources found in a recording.

Objects are stored per *storage kind* (group and kind): `autoscaling/v1`
and `autoscaling/v2` HorizontalPodAutoscalers are one collection, as in a
real API server, and so are `v1` and `events.k8s.io/v1` Events (served in
each API's own shape, see `events.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    """One resource of one API group version, as discovery describes it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    builtin: bool = True

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage(self) -> tuple[str, str]:
        """The collection the objects live in: Events of both APIs share one."""
        if self.kind == "Event" and self.group == "events.k8s.io":
            return ("", "Event")
        return (self.group, self.kind)

    @property
    def qualified(self) -> str:
        """`networkpolicies.networking.k8s.io`, as RBAC messages name resources."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> dict[str, Any]:
        """An APIResource entry (read-only verbs: the fake never writes)."""
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["get", "list", "watch"],
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


def _r(gv: str, kind: str, plural: str, namespaced: bool = True, *short: str) -> Resource:
    group, _, version = gv.rpartition("/")
    return Resource(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        short_names=short,
    )


# Preferred version first within a group, as discovery lists them.
BUILTIN: tuple[Resource, ...] = (
    _r("v1", "Pod", "pods", True, "po"),
    _r("v1", "Service", "services", True, "svc"),
    _r("v1", "Endpoints", "endpoints", True, "ep"),
    _r("v1", "Event", "events", True, "ev"),
    _r("v1", "ConfigMap", "configmaps", True, "cm"),
    _r("v1", "Secret", "secrets", True),
    _r("v1", "ServiceAccount", "serviceaccounts", True, "sa"),
    _r("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, "pvc"),
    _r("v1", "Namespace", "namespaces", False, "ns"),
    _r("v1", "Node", "nodes", False, "no"),
    _r("apps/v1", "Deployment", "deployments", True, "deploy"),
    _r("apps/v1", "ReplicaSet", "replicasets", True, "rs"),
    _r("apps/v1", "StatefulSet", "statefulsets", True, "sts"),
    _r("apps/v1", "DaemonSet", "daemonsets", True, "ds"),
    _r("apps/v1", "ControllerRevision", "controllerrevisions", True),
    _r("batch/v1", "Job", "jobs", True),
    _r("batch/v1", "CronJob", "cronjobs", True, "cj"),
    _r("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, "hpa"),
    _r("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, "hpa"),
    _r("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb"),
    _r("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    _r("networking.k8s.io/v1", "Ingress", "ingresses", True, "ing"),
    _r("networking.k8s.io/v1", "IngressClass", "ingressclasses", False),
    _r("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, "netpol"),
    _r("events.k8s.io/v1", "Event", "events", True, "ev"),
    _r("coordination.k8s.io/v1", "Lease", "leases", True),
    _r(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        "crd",
        "crds",
    ),
)

_BUILTIN_STORAGE = frozenset(r.storage for r in BUILTIN)


def plural_of(kind: str) -> str:
    """The plural the API machinery generates for a kind without a CRD
    (`Gateway` -> `gateways`, `Policy` -> `policies`, `Mesh` -> `meshes`)."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def custom_resources(objects: Iterable[Mapping[str, Any]]) -> tuple[Resource, ...]:
    """Resources for the custom kinds of a recording: from its
    CustomResourceDefinitions, else inferred from the objects themselves."""
    found: dict[tuple[str, str, str], Resource] = {}
    for raw in objects:
        if raw.get("kind") != "CustomResourceDefinition":
            continue
        spec = raw.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or ():
            if not version.get("served", True):
                continue
            resource = Resource(
                group=str(spec.get("group", "")),
                version=str(version.get("name", "")),
                kind=str(names.get("kind", "")),
                plural=str(names.get("plural", "")),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                builtin=False,
            )
            found.setdefault((resource.group, resource.version, resource.kind), resource)
    for raw in objects:
        group, _, version = str(raw.get("apiVersion", "")).rpartition("/")
        kind = str(raw.get("kind", ""))
        if not kind or (group, kind) in _BUILTIN_STORAGE or (group, version, kind) in found:
            continue
        namespaced = bool((raw.get("metadata") or {}).get("namespace"))
        found[(group, version, kind)] = Resource(
            group=group,
            version=version,
            kind=kind,
            plural=plural_of(kind),
            namespaced=namespaced,
            builtin=False,
        )
    return tuple(found.values())
