"""NetworkPolicies: which kinds of traffic a policy governs, and whether a
pod is isolated for ingress."""

from __future__ import annotations

from why5xx.kube import label_selector_matches
from why5xx.snapshot import Obj, Snapshot


def policy_types(policy: Obj) -> frozenset[str]:
    """A NetworkPolicy's directions: `policyTypes`, else Ingress, plus Egress
    when it has egress rules (the API server's defaulting)."""
    declared = policy.spec.get("policyTypes")
    if declared:
        return frozenset(str(t) for t in declared)
    return frozenset({"Ingress", *(["Egress"] if "egress" in policy.spec else [])})


def ingress_isolated(snap: Snapshot, pod: Obj) -> bool | None:
    """Whether a NetworkPolicy isolates the pod for ingress (then only what a
    policy admits reaches it); None when the input holds no NetworkPolicies."""
    if not snap.has_kind("NetworkPolicy"):
        return None
    return any(
        "Ingress" in policy_types(policy)
        and label_selector_matches(policy.spec.get("podSelector") or {}, pod.labels)
        for policy in snap.list("NetworkPolicy", pod.namespace)
    )
