"""The kinds why5xx reads from a cluster, and where the API serves them.

Adding a kind a rule reads (its `inputs` or `reads`) means one line here and
a grant in docs/rbac.md; `tests/test_live.py` and `tests/test_rule_reads.py`
fail while a declared kind has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """One kind: its API group, the versions why5xx reads (preferred first),
    and its collection name."""

    kind: str
    group: str  # "" for the core API
    versions: tuple[str, ...]
    plural: str
    namespaced: bool = True
    # An API a cluster may not serve (a service mesh's or the Gateway API's
    # custom resources): discovery says whether, and in which version. Its
    # objects apply across namespaces (a mesh-wide policy in istio-system, a
    # route's Gateway elsewhere), so it is read in every namespace.
    extension: bool = False

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def path(self, version: str, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{version}" if self.group else f"/api/{version}"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{base}{scope}/{self.plural}" + (f"/{name}" if name else "")


def _builtin(group: str, version: str, kind: str, plural: str, namespaced: bool = True) -> Kind:
    return Kind(kind=kind, group=group, versions=(version,), plural=plural, namespaced=namespaced)


def _extension(group: str, versions: tuple[str, ...], kind: str, plural: str) -> Kind:
    return Kind(kind=kind, group=group, versions=versions, plural=plural, extension=True)


_ISTIO = ("v1", "v1beta1")  # v1 since Istio 1.22
_GATEWAY_API = ("v1", "v1beta1")

KINDS: Mapping[str, Kind] = {
    k.kind: k
    for k in (
        _builtin("", "v1", "Service", "services"),
        _builtin("", "v1", "Endpoints", "endpoints"),
        _builtin("", "v1", "Pod", "pods"),
        _builtin("", "v1", "Event", "events"),
        _builtin("", "v1", "ConfigMap", "configmaps"),
        _builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        _builtin("", "v1", "Namespace", "namespaces", namespaced=False),
        _builtin("", "v1", "Node", "nodes", namespaced=False),
        _builtin("", "v1", "ReplicationController", "replicationcontrollers"),
        _builtin("apps", "v1", "Deployment", "deployments"),
        _builtin("apps", "v1", "ReplicaSet", "replicasets"),
        _builtin("apps", "v1", "StatefulSet", "statefulsets"),
        _builtin("apps", "v1", "DaemonSet", "daemonsets"),
        _builtin("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        _builtin("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        _builtin("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
        _builtin("networking.k8s.io", "v1", "Ingress", "ingresses"),
        _builtin("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
        _builtin("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
        _extension("networking.istio.io", _ISTIO, "DestinationRule", "destinationrules"),
        _extension("networking.istio.io", _ISTIO, "VirtualService", "virtualservices"),
        _extension("networking.istio.io", _ISTIO, "ServiceEntry", "serviceentries"),
        _extension("security.istio.io", _ISTIO, "PeerAuthentication", "peerauthentications"),
        _extension("gateway.networking.k8s.io", _GATEWAY_API, "GatewayClass", "gatewayclasses"),
        _extension("gateway.networking.k8s.io", _GATEWAY_API, "Gateway", "gateways"),
        _extension("gateway.networking.k8s.io", _GATEWAY_API, "HTTPRoute", "httproutes"),
        _extension("gateway.networking.k8s.io", _GATEWAY_API, "GRPCRoute", "grpcroutes"),
        _extension("gateway.networking.k8s.io", ("v1beta1",), "ReferenceGrant", "referencegrants"),
        _extension(
            "gateway.envoyproxy.io", ("v1alpha1",), "BackendTrafficPolicy", "backendtrafficpolicies"
        ),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPlan:
    """The kinds a diagnosis will read, as the engine computes them from the
    rules' declarations (`engine.read_plan`): for a Service target, and for
    a route target (its own rules, then each Service it routes to). The live
    source reads these on top of its fixed rounds."""

    service: frozenset[str]
    route: frozenset[str]


# Kinds a rule may read from a bundle that the live source never reads:
# a Secret's data is not why5xx's to hold (a rule sees one only in a bundle
# the user wrote, and then reads its name and keys, never prints a value).
WITHHELD = frozenset({"Secret"})

# What `--all` and `why5xx capture` list in a namespace (Secrets never: see capture.py).
NAMESPACE_KINDS = (
    "Service",
    "Endpoints",
    "EndpointSlice",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Event",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Node",
    "Namespace",
)
