"""Istio facts read from its config: the mesh's root namespace, which of
conflicting configs wins (the oldest), and the mTLS mode a sidecar enforces
on a port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from why5xx.evidence import fact
from why5xx.kube import labels_match
from why5xx.model import Evidence
from why5xx.snapshot import Obj, Snapshot

ROOT_NAMESPACE = "istio-system"


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerMode:
    """The mTLS mode a sidecar enforces on one port, and which
    PeerAuthentication decides it (None: Istio's default, PERMISSIVE)."""

    mode: str  # STRICT | PERMISSIVE | DISABLE
    policy: Obj | None
    field: str

    def evidence(self) -> Evidence | None:
        if self.policy is None:
            return None
        return fact(self.policy, self.field, self.mode)


def _set_mode(settings: Any) -> str | None:
    mode = str((settings or {}).get("mode") or "UNSET").upper()
    return None if mode == "UNSET" else mode


def oldest_first(policies: Sequence[Obj]) -> list[Obj]:
    return sorted(policies, key=lambda p: (str(p.metadata.get("creationTimestamp") or ""), p.name))


def _selector(policy: Obj) -> Mapping[str, str]:
    return (policy.spec.get("selector") or {}).get("matchLabels") or {}


def peer_mode(snap: Snapshot, pod: Obj, port: int) -> PeerMode:
    """The mode of the PeerAuthentication that applies to a pod's port:
    the oldest one selecting the pod (its `portLevelMtls` entry for the
    port first), else the namespace's, else the mesh-wide one in the root
    namespace; UNSET inherits from the next."""
    local = oldest_first(snap.list("PeerAuthentication", pod.namespace))
    workload = [p for p in local if _selector(p) and labels_match(_selector(p), pod.labels)]
    layers = [
        workload[:1],
        [p for p in local if not _selector(p)][:1],
        [
            p
            for p in oldest_first(snap.list("PeerAuthentication", ROOT_NAMESPACE))
            if not _selector(p)
        ][:1],
    ]
    for index, layer in enumerate(layers):
        for policy in layer:
            levels = policy.spec.get("portLevelMtls") or {}
            at_port = next((v for k, v in levels.items() if str(k) == str(port)), None)
            if index == 0 and (mode := _set_mode(at_port)):
                return PeerMode(mode=mode, policy=policy, field=f"spec.portLevelMtls[{port}].mode")
            if mode := _set_mode(policy.spec.get("mtls")):
                return PeerMode(mode=mode, policy=policy, field="spec.mtls.mode")
    return PeerMode(mode="PERMISSIVE", policy=None, field="")
