"""The containers behind a Service that answer its traffic, in the pod
template that stamps them out: what the rules about drains, keep-alives,
timeouts and protocols read and patch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from why5xx.snapshot import WORKLOAD_KINDS, Obj, Snapshot
from why5xx.views.frontend import ISTIO_PROXY
from why5xx.views.pods import container_ports, pod_template_spec
from why5xx.views.ports import service_ports
from why5xx.views.service import ServiceTarget, selected_workloads


@dataclass(frozen=True, slots=True, kw_only=True)
class Serving:
    """One container that serves a Service port, in its workload's template
    (or in a bare pod's spec)."""

    owner: Obj  # Deployment, StatefulSet, DaemonSet, ReplicaSet, or Pod
    index: int  # position in the pod spec's `containers`
    container: Mapping[str, Any]
    ports: tuple[int, ...]  # the Service's target ports this container declares

    @property
    def name(self) -> str:
        return str(self.container.get("name", ""))

    @property
    def pod_spec(self) -> Mapping[str, Any]:
        return pod_template_spec(self.owner)

    @property
    def path(self) -> str:
        """The container's field path in the owner, for evidence."""
        prefix = "spec" if self.owner.kind == "Pod" else "spec.template.spec"
        return f"{prefix}.containers[{self.name}]"

    @property
    def pointer(self) -> str:
        """The container's JSON Pointer in the owner, for patches."""
        prefix = "/spec" if self.owner.kind == "Pod" else "/spec/template/spec"
        return f"{prefix}/containers/{self.index}"


def workloads(
    snap: Snapshot, target: ServiceTarget, kinds: tuple[str, ...] = WORKLOAD_KINDS
) -> list[Obj]:
    """The workloads behind the Service, in a stable order (by kind and
    name, whatever order the input listed them in)."""
    return sorted(selected_workloads(snap, target, kinds), key=lambda w: (w.kind, w.name))


def _owners(snap: Snapshot, target: ServiceTarget, kinds: tuple[str, ...]) -> list[Obj]:
    found = workloads(snap, target, kinds)
    if found:
        return found
    return list(target.live_pods[:1])


def serving_containers(
    snap: Snapshot, target: ServiceTarget, kinds: tuple[str, ...] = WORKLOAD_KINDS
) -> tuple[Serving, ...]:
    """The app containers that declare one of the Service's target ports
    (by number or name); when none declares ports at all, every app
    container but the Istio sidecar. `kinds`: the workload kinds to look at
    (lint adds the ReplicationController)."""
    out: list[Serving] = []
    ports = service_ports(target.service)
    for owner in _owners(snap, target, kinds):
        spec = pod_template_spec(owner)
        declared = container_ports(spec)
        for index, container in enumerate(spec.get("containers") or ()):
            name = container.get("name")
            if name == ISTIO_PROXY:
                continue
            mine = [p for p in declared if p.container == name]
            matched = tuple(
                p.number
                for p in mine
                for sp in ports
                if sp.target == p.number or (isinstance(sp.target, str) and sp.target == p.name)
            )
            if matched or (not declared and ports):
                unresolved = tuple(sp.target for sp in ports if isinstance(sp.target, int))
                out.append(
                    Serving(
                        owner=owner,
                        index=index,
                        container=container,
                        ports=matched or unresolved,
                    )
                )
    return tuple(out)
