"""Apps: a Deployment or StatefulSet with its revision history and pods, as
the controllers keep them.

An `App` records what people do to a workload (create it, roll out a new
revision of its pod template, scale it, delete it) and what its pods do
(each group of pods has a `Fate`). `render` writes the objects the
controllers would hold at that moment: the workload with its status and
conditions, one ReplicaSet per Deployment revision (`pod-template-hash`,
`deployment.kubernetes.io/revision`), the pods with owner references, and
the deployment and StatefulSet controllers' events. A rolling update stops
where Kubernetes stops it: at `maxSurge` + `maxUnavailable` new pods that
never become available.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from why5xx.benchmark.fates import Fate, PodCtx, pod_ip, refused, serving
from why5xx.benchmark.world import DAY, HOUR, MINUTE, Raw, World

Change = Callable[[Raw], None]  # edits a pod template in place
_NOT_LIVE = ("Succeeded", "Failed")
_MESH_PROXY = "istio-proxy"


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (through orjson: ~9x `copy.deepcopy`)."""
    return orjson.loads(orjson.dumps(value))


def http_probe(
    path: str,
    port: int | str,
    *,
    initial: int = 0,
    period: int = 10,
    timeout: int = 1,
    failure: int = 3,
) -> Raw:
    probe: Raw = {
        "failureThreshold": failure,
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": period,
        "successThreshold": 1,
        "timeoutSeconds": timeout,
    }
    if initial:
        probe["initialDelaySeconds"] = initial
    return probe


def container(
    name: str,
    image: str,
    *,
    port: int,
    port_name: str = "http",
    command: list[str] | None = None,
    args: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    readiness: Raw | None = None,
    liveness: Raw | None = None,
    memory: str = "256Mi",
    limit: str = "512Mi",
    cpu: str = "100m",
    pre_stop: Raw | None = None,
) -> Raw:
    out: Raw = {"name": name, "image": image}
    if command:
        out["command"] = command
    if args:
        out["args"] = args
    if env:
        out["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if pre_stop:
        out["lifecycle"] = {"preStop": pre_stop}
    if liveness:
        out["livenessProbe"] = liveness
    out["ports"] = [{"containerPort": port, "name": port_name, "protocol": "TCP"}]
    if readiness:
        out["readinessProbe"] = readiness
    out["resources"] = {"limits": {"memory": limit}, "requests": {"cpu": cpu, "memory": memory}}
    return out


def mesh_proxy() -> Raw:
    """The container Istio's injector adds."""
    return {
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
        "image": "docker.io/istio/proxyv2:1.24.2",
        "name": _MESH_PROXY,
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": http_probe("/healthz/ready", 15021, period=15, timeout=3, failure=4),
        "resources": {
            "limits": {"cpu": "2", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
    }


def main_container(template: Raw) -> Raw:
    """The serving container of a pod template: the first that is no mesh
    sidecar (a mesh gateway is nothing but its proxy)."""
    found = template["spec"]["containers"]
    return next((c for c in found if c["name"] != _MESH_PROXY), found[0])


@dataclass(slots=True, kw_only=True)
class Revision:
    number: int
    template: Raw  # spec.template: metadata.labels (and annotations), spec
    hash: str
    age: float  # seconds since it was rolled out
    meta: Raw = field(default_factory=dict)  # its ReplicaSet's metadata (Deployments)


@dataclass(slots=True, kw_only=True)
class PodGroup:
    """Pods of one revision that share a fate."""

    revision: Revision
    names: list[str]
    fate: Fate
    age: float  # seconds since these pods were created
    terminating: float | None = None  # seconds since their deletion began
    drains: bool = False  # while terminating: still ready (a preStop sleep)
    replica: bool = True  # False: an evicted or finished pod the controller replaced
    node: str | None = None  # the node they run on (None: the scheduler picks)

    @property
    def count(self) -> int:
        return len(self.names)


class App:
    """A workload, its history and its pods. Create with `World.deploy`."""

    def __init__(
        self,
        world: World,
        *,
        namespace: str,
        name: str,
        kind: str,
        selector: Mapping[str, str],
        template: Raw,
        replicas: int,
        age: float,
        revision: int,
        strategy: Raw | None = None,
        runtime: str = "go",
        exposure: str = "internal",
    ) -> None:
        self.world = world
        self.namespace = namespace
        self.name = name
        self.kind = kind
        self.selector = dict(selector)
        self.replicas = replicas
        self.strategy = strategy or {
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            "type": "RollingUpdate",
        }
        self.runtime = runtime
        self.exposure = exposure
        self.role = "app"  # or "platform": the cluster's own components, never a fault's target
        self.service: Raw | None = None
        self.claims: list[str] = []  # StatefulSet volumeClaimTemplates
        self.storage_class = "gp3"
        self.claims_pending = False  # no volume can be provisioned for new claims
        api = "batch/v1" if kind == "Job" else "apps/v1"
        self.age = age  # seconds since the workload was created
        self.meta = world.meta(name, namespace, age=age, labels=template["metadata"]["labels"])
        self.raw_head: Raw = {"apiVersion": api, "kind": kind, "metadata": self.meta}
        self.revisions: list[Revision] = []
        history_age = age
        first = max(revision - world.rng.randrange(1, 4), 1)
        for number in range(first, revision + 1):
            history_age = (
                world.rng.uniform(2 * DAY, history_age * 0.8) if number != first else age * 0.9
            )
            self._add_revision(clone(template), number, history_age)
        current = self.revisions[-1]
        pods_age = min(current.age, world.rng.uniform(DAY, 20 * DAY))
        self.groups: list[PodGroup] = []
        self.group(current, replicas, serving(), age=pods_age)

    # --- what people do ---------------------------------------------------------

    def group(
        self, revision: Revision, count: int, fate: Fate, *, age: float, replica: bool = True
    ) -> PodGroup:
        """`count` new pods of `revision`. A StatefulSet's take the ordinals
        after those in use (the highest, in a rolling update)."""
        if self.kind == "Job":
            names = [f"{self.name}-{self.world.suffix()}" for _ in range(count)]
        elif self.kind == "StatefulSet":
            used = {n for g in self.groups for n in g.names}
            ordinals = (i for i in range(10_000) if f"{self.name}-{i}" not in used)
            names = [f"{self.name}-{next(ordinals)}" for _ in range(count)]
        else:
            names = [f"{self.name}-{revision.hash}-{self.world.suffix()}" for _ in range(count)]
        created = PodGroup(revision=revision, names=names, fate=fate, age=age, replica=replica)
        self.groups.append(created)
        return created

    def detach(self, name: str, fate: Fate) -> PodGroup:
        """One pod of its group meets another fate than its siblings."""
        group = next(g for g in self.groups if name in g.names)
        group.names.remove(name)
        alone = PodGroup(revision=group.revision, names=[name], fate=fate, age=group.age)
        self.groups.append(alone)
        return alone

    def reinstall(self, *, ago: float) -> None:
        """Deleted and created again `ago` seconds ago: revision 1 of its
        current template, no pods yet."""
        self.revisions = self.revisions[-1:]
        self.current.number, self.current.age = 1, ago
        self.age = ago
        self.meta["creationTimestamp"] = self.world.ts(ago)
        self.groups = []

    def pods_of(self, revision: Revision | None = None) -> list[str]:
        """Names of the live pods (of one revision)."""
        return [
            name
            for g in self.groups
            if g.replica and (revision is None or g.revision is revision)
            for name in g.names
        ]

    @property
    def current(self) -> Revision:
        return self.revisions[-1]

    @property
    def template(self) -> Raw:
        return self.current.template

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.template["metadata"]["labels"])

    def _add_revision(self, template: Raw, number: int, age: float) -> Revision:
        world = self.world
        revision = Revision(
            number=number,
            template=template,
            hash=world.suffix(10 if self.kind == "Deployment" else 9),
            age=age,
        )
        if self.kind == "Deployment":
            labels = {**template["metadata"]["labels"], "pod-template-hash": revision.hash}
            revision.meta = world.meta(
                f"{self.name}-{revision.hash}",
                self.namespace,
                age=age,
                labels=labels,
                owner=self.raw_head,
                annotations={
                    "deployment.kubernetes.io/desired-replicas": str(self.replicas),
                    "deployment.kubernetes.io/max-replicas": str(self.replicas + 1),
                    "deployment.kubernetes.io/revision": str(number),
                },
            )
        self.revisions.append(revision)
        return revision

    def rollout(
        self,
        change: Change,
        fate: Fate,
        *,
        ago: float,
        mode: str = "complete",
        drains: bool = False,
    ) -> Revision:
        """A new revision of the pod template, `ago` seconds ago, whose pods
        meet `fate`. `mode`:

        - `complete`: every pod replaced;
        - `stuck`: a rolling update waiting for new pods that never become
          available (maxSurge + maxUnavailable of them; a StatefulSet's
          highest ordinal);
        - `recreate`: the `Recreate` strategy, old pods gone first;
        - `replacing`: `Recreate` caught midway: the old pods terminating,
          no new pod yet;
        - `rolling`: new pods up, the old ones terminating now (`drains`:
          they keep serving through a preStop sleep).
        """
        template = clone(self.template)
        change(template)
        revision = self._add_revision(template, self.current.number + 1, ago)
        old = [g for g in self.groups if g.replica and g.terminating is None]
        old_count = sum(g.count for g in old)
        previous = old[0].revision if old else revision
        pod_age = ago - self.world.rng.uniform(0.5, 3)
        if mode == "stuck":
            surge, unavailable = self._surge_unavailable()
            if self.kind == "StatefulSet":
                surge, unavailable = 0, 1
            keep = self.replicas - unavailable
            self._shrink(old, keep)
            fresh = min(self.replicas, surge + unavailable)
            self.group(revision, fresh, fate, age=pod_age)
            self._scaled(revision, fresh, 0, ago=ago)
            if keep < old_count:
                self._scaled(previous, keep, old_count, ago=ago - 1)
            return revision
        if mode in ("rolling", "replacing"):
            for group in old:
                group.terminating = min(ago, self.world.rng.uniform(2, 20))
                group.drains = drains
        else:
            self.groups = [g for g in self.groups if not g.replica]
        if mode == "replacing":
            self._scaled(previous, 0, old_count, ago=ago)
            return revision
        self.group(revision, self.replicas, fate, age=pod_age)
        if mode == "recreate":
            self._scaled(previous, 0, old_count, ago=ago + 2)
            self._scaled(revision, self.replicas, 0, ago=ago)
        else:
            self._rolling_events(revision, previous, old_count, ago)
        return revision

    def _surge_unavailable(self) -> tuple[int, int]:
        rolling = self.strategy.get("rollingUpdate") or {}
        return (
            _scaled_value(rolling.get("maxSurge", "25%"), self.replicas, up=True),
            _scaled_value(rolling.get("maxUnavailable", "25%"), self.replicas, up=False),
        )

    @staticmethod
    def _shrink(groups: list[PodGroup], keep: int) -> None:
        for group in groups:
            group.names = group.names[: max(keep, 0)]
            keep -= group.count

    def _rolling_events(self, new: Revision, old: Revision, old_count: int, ago: float) -> None:
        """The deployment controller's steps: up by the surge, down as new
        pods become available, until the old ReplicaSet is at 0."""
        step = max(self._surge_unavailable()[0], 1)
        up, down, when = 0, old_count, ago
        while up < self.replicas or down > 0:
            if up < self.replicas:
                self._scaled(new, min(up + step, self.replicas), up, ago=when)
                up = min(up + step, self.replicas)
            when -= self.world.rng.uniform(5, 40)
            if down > 0 and old is not new:
                self._scaled(old, max(down - step, 0), down, ago=when)
            down = max(down - step, 0) if old is not new else 0
            when -= self.world.rng.uniform(1, 5)

    def _scaled(self, revision: Revision, to: int, frm: int, *, ago: float) -> None:
        if self.kind != "Deployment" or to == frm:
            return
        rs = f"{self.name}-{revision.hash}"
        verb = "up" if to > frm else "down"
        message = f"Scaled {verb} replica set {rs} to {to}" + (f" from {frm}" if frm else "")
        self.world.event(
            self.raw_head, "ScalingReplicaSet", message, ago=ago, component="deployment-controller"
        )

    def scale(self, replicas: int, *, ago: float, terminating: bool = False) -> None:
        """`kubectl scale` (or an autoscaler), `ago` seconds ago: pods beyond
        `replicas` are gone (or, with `terminating`, still on their way out);
        new ones are serving."""
        live = [g for g in self.groups if g.replica and g.terminating is None]
        before = sum(g.count for g in live)
        if replicas < before and terminating:
            for group in live:
                group.terminating = min(ago, 25.0)
        elif replicas < before:
            self._shrink(live, replicas)
        elif replicas > before:
            self.group(self.current, replicas - before, serving(), age=ago)
        self.replicas = replicas
        self._scaled(self.current, replicas, before, ago=ago)

    def add_pods(self, fate: Fate, *, count: int = 1, age: float) -> None:
        """Pods outside the replica count: evicted or finished ones."""
        self.group(self.current, count, fate, age=age, replica=False)

    # --- what the controllers hold ------------------------------------------------

    def render(self) -> list[Raw]:
        pods = self._pods()
        if self.kind == "Deployment":
            return [self._deployment(pods), *self._replica_sets(pods), *pods]
        if self.kind == "Job":
            return [self._job(), *pods]
        return [self._statefulset(pods), *self._claim_objects(pods), *pods]

    def _job(self) -> Raw:
        """A Job that ran to completion (its pods are finished ones)."""
        world, age = self.world, self.current.age
        template = _with_creation(self.template)
        template["metadata"]["labels"]["job-name"] = self.name
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.meta,
            "spec": {
                "backoffLimit": 6,
                "completionMode": "NonIndexed",
                "completions": 1,
                "parallelism": 1,
                "selector": {
                    "matchLabels": {"batch.kubernetes.io/controller-uid": self.meta["uid"]}
                },
                "template": template,
            },
            "status": {
                "completionTime": world.ts(age - 90),
                "conditions": [
                    {
                        "lastProbeTime": world.ts(age - 90),
                        "lastTransitionTime": world.ts(age - 90),
                        "status": "True",
                        "type": "Complete",
                    }
                ],
                "startTime": world.ts(age),
                "succeeded": 1,
            },
        }

    def _claim_objects(self, pods: list[Raw]) -> list[Raw]:
        """The PersistentVolumeClaims of the StatefulSet's pods, Bound unless
        `claims_pending` (then Pending, with the provisioner's complaint)."""
        world = self.world
        out = []
        for pod in pods:
            for claim in self.claims:
                name = f"{claim}-{pod['metadata']['name']}"
                pod["spec"]["volumes"].insert(
                    0, {"name": claim, "persistentVolumeClaim": {"claimName": name}}
                )
                labels = dict(self.selector)
                meta = world.meta(
                    name, self.namespace, age=world.rng.uniform(DAY, 90 * DAY), labels=labels
                )
                spec: Raw = {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "20Gi"}},
                    "storageClassName": self.storage_class,
                    "volumeMode": "Filesystem",
                }
                claim_obj: Raw = {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": meta,
                    "spec": spec,
                }
                if self.claims_pending:
                    claim_obj["status"] = {"phase": "Pending"}
                    world.event(
                        claim_obj,
                        "ProvisioningFailed",
                        f'storageclass.storage.k8s.io "{self.storage_class}" not found',
                        ago=world.rng.uniform(5, 60),
                        first=world.rng.uniform(10 * MINUTE, 50 * MINUTE),
                        count=world.rng.randrange(20, 200),
                        warning=True,
                        component="persistentvolume-controller",
                    )
                else:
                    spec["volumeName"] = f"pvc-{meta['uid']}"
                    claim_obj["status"] = {
                        "accessModes": ["ReadWriteOnce"],
                        "capacity": {"storage": "20Gi"},
                        "phase": "Bound",
                    }
                out.append(claim_obj)
        return out

    def _pods(self) -> list[Raw]:
        return [self._pod(group, name) for group in self.groups for name in group.names]

    def _pod(self, group: PodGroup, name: str) -> Raw:
        world = self.world
        revision = group.revision
        template = revision.template
        labels = dict(template["metadata"]["labels"])
        if self.kind == "Deployment":
            labels["pod-template-hash"] = revision.hash
            owner: Raw = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": revision.meta,
            }
        elif self.kind == "Job":
            labels |= {"batch.kubernetes.io/job-name": self.name, "job-name": self.name}
            owner = self.raw_head
        else:
            labels["controller-revision-hash"] = f"{self.name}-{revision.hash}"
            labels["statefulset.kubernetes.io/pod-name"] = name
            labels["apps.kubernetes.io/pod-index"] = name.rsplit("-", 1)[1]
            owner = self.raw_head
        node = world.node(group.node) if group.node else world.schedule()
        meta = world.meta(
            name,
            self.namespace,
            age=group.age,
            labels=labels,
            annotations=template["metadata"].get("annotations"),
            owner=owner,
            generate_name={"StatefulSet": None, "Job": f"{self.name}-"}.get(
                self.kind, f"{self.name}-{revision.hash}-"
            ),
        )
        spec = _pod_spec(world, template["spec"], node.name, self.name)
        pod: Raw = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        names = [c["name"] for c in spec["containers"]]
        main = main_container(template)["name"]
        ctx = PodCtx(
            world=world,
            pod=pod,
            age=group.age,
            node=node,
            main=main,
            others=tuple(n for n in names if n != main),
        )
        group.fate(ctx)
        if group.terminating is not None:
            _terminate(ctx, group.terminating, group.drains)
        return pod

    def _deployment(self, pods: list[Raw]) -> Raw:
        current = self.current
        live = [p for p in pods if p["status"].get("phase") not in _NOT_LIVE]
        serving_pods = [p for p in live if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in serving_pods if _ready(p)]
        updated = [
            p
            for p in serving_pods
            if p["metadata"]["name"].startswith(f"{self.name}-{current.hash}-")
        ]
        available = len(ready) >= self.replicas - self._surge_unavailable()[1]
        progressing = len(updated) == self.replicas and len(ready) == len(serving_pods)
        rs_name = f"{self.name}-{current.hash}"
        world = self.world
        since = min(30 * DAY, self.age)  # available since
        conditions = [
            {
                "lastTransitionTime": world.ts(current.age if not available else since),
                "lastUpdateTime": world.ts(current.age if not available else since),
                "message": "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
                "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "status": "True" if available else "False",
                "type": "Available",
            }
        ]
        if progressing or not self.replicas:
            conditions.append(
                _progressing(
                    world,
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                    current.age,
                )
            )
        elif current.age > 600:
            conditions.append(
                _progressing(
                    world,
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                    current.age - 600,
                )
            )
        else:
            conditions.append(
                _progressing(
                    world,
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    current.age,
                )
            )
        status: Raw = {
            "availableReplicas": len(ready),
            "conditions": conditions,
            "observedGeneration": current.number + 1,
            "readyReplicas": len(ready),
            "replicas": len(serving_pods),
            "updatedReplicas": len(updated),
        }
        if len(serving_pods) > len(ready):
            status["unavailableReplicas"] = len(serving_pods) - len(ready)
        status = {k: v for k, v in status.items() if v or k in ("conditions", "observedGeneration")}
        meta = {
            **self.meta,
            "annotations": {"deployment.kubernetes.io/revision": str(current.number)},
        }
        meta["generation"] = current.number + 1
        return {
            **self.raw_head,
            "metadata": meta,
            "spec": {
                "progressDeadlineSeconds": 600,
                "replicas": self.replicas,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": dict(self.selector)},
                "strategy": self.strategy,
                "template": _with_creation(current.template),
            },
            "status": status,
        }

    def _replica_sets(self, pods: list[Raw]) -> list[Raw]:
        out = []
        for revision in self.revisions:
            prefix = f"{self.name}-{revision.hash}-"
            mine = [
                p
                for p in pods
                if p["metadata"]["name"].startswith(prefix)
                and p["status"].get("phase") not in _NOT_LIVE
                and not p["metadata"].get("deletionTimestamp")
            ]
            ready = sum(1 for p in mine if _ready(p))
            template = _with_creation(revision.template)
            template["metadata"]["labels"]["pod-template-hash"] = revision.hash
            status: Raw = {
                "observedGeneration": 1 + (revision is not self.current),
                "replicas": len(mine),
            }
            if mine:
                status["fullyLabeledReplicas"] = len(mine)
            if ready:
                status["availableReplicas"] = ready
                status["readyReplicas"] = ready
            out.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": revision.meta,
                    "spec": {
                        "replicas": len(mine),
                        "selector": {
                            "matchLabels": {**self.selector, "pod-template-hash": revision.hash}
                        },
                        "template": template,
                    },
                    "status": status,
                }
            )
        return out

    def _statefulset(self, pods: list[Raw]) -> Raw:
        current = self.current
        live = [p for p in pods if p["status"].get("phase") not in _NOT_LIVE]
        ready = sum(1 for p in live if _ready(p))
        current_hash = f"{self.name}-{current.hash}"
        oldest = min(
            (g.revision for g in self.groups if g.replica), key=lambda r: r.number, default=current
        )
        updated = sum(
            1
            for p in live
            if p["metadata"]["labels"].get("controller-revision-hash") == current_hash
        )
        status: Raw = {
            "availableReplicas": ready,
            "collisionCount": 0,
            "currentReplicas": len(live) - updated if oldest is not current else len(live),
            "currentRevision": f"{self.name}-{oldest.hash}",
            "observedGeneration": current.number,
            "readyReplicas": ready,
            "replicas": len(live),
            "updateRevision": current_hash,
            "updatedReplicas": updated,
        }
        template = _with_creation(current.template)
        spec: Raw = {
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
            "podManagementPolicy": "OrderedReady",
            "replicas": self.replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": dict(self.selector)},
            "serviceName": f"{self.name}-headless",
            "template": template,
            "updateStrategy": {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"},
        }
        if self.claims:
            spec["volumeClaimTemplates"] = [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"creationTimestamp": None, "name": claim},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "20Gi"}},
                        "storageClassName": self.storage_class,
                        "volumeMode": "Filesystem",
                    },
                }
                for claim in self.claims
            ]
        return {
            **self.raw_head,
            "metadata": {**self.meta, "generation": current.number},
            "spec": spec,
            "status": status,
        }


def _ready(pod: Raw) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod["status"].get("conditions") or ()
    ) and not pod["metadata"].get("deletionTimestamp")


def _progressing(world: World, status: str, reason: str, message: str, ago: float) -> Raw:
    return {
        "lastTransitionTime": world.ts(ago),
        "lastUpdateTime": world.ts(ago),
        "message": message,
        "reason": reason,
        "status": status,
        "type": "Progressing",
    }


def _with_creation(template: Raw) -> Raw:
    out: Raw = clone(template)
    out["metadata"]["creationTimestamp"] = None
    return out


def _scaled_value(value: Any, total: int, *, up: bool) -> int:
    text = str(value)
    if text.endswith("%"):
        exact = total * int(text[:-1]) / 100
        return math.ceil(exact) if up else math.floor(exact)
    return int(text)


def _pod_spec(world: World, template_spec: Raw, node: str, account: str) -> Raw:
    spec: Raw = clone(template_spec)
    token = f"kube-api-access-{world.suffix()}"
    for item in spec["containers"]:
        item.setdefault("imagePullPolicy", "IfNotPresent")
        item["terminationMessagePath"] = "/dev/termination-log"
        item["terminationMessagePolicy"] = "File"
        item.setdefault("volumeMounts", []).append(
            {
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "name": token,
                "readOnly": True,
            }
        )
    spec.update(
        {
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": True,
            "nodeName": node,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": spec.get("serviceAccountName", account),
            "serviceAccountName": spec.get("serviceAccountName", account),
            "terminationGracePeriodSeconds": spec.get("terminationGracePeriodSeconds", 30),
            "tolerations": [
                {
                    "effect": "NoExecute",
                    "key": f"node.kubernetes.io/{key}",
                    "operator": "Exists",
                    "tolerationSeconds": 300,
                }
                for key in ("not-ready", "unreachable")
            ],
        }
    )
    spec.setdefault("volumes", []).append(
        {
            "name": token,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            "name": "kube-root-ca.crt",
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                    "path": "namespace",
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    return spec


def _terminate(ctx: PodCtx, since: float, drains: bool) -> None:
    """Deletion began `since` seconds ago: the kubelet runs the preStop hook
    and stops the container. A pod that drains stays ready through its
    preStop sleep; one that does not stops answering at once."""
    world, pod = ctx.world, ctx.pod
    grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
    pod["metadata"]["deletionGracePeriodSeconds"] = grace
    pod["metadata"]["deletionTimestamp"] = world.ts(since - grace)
    ctx.event("Killing", f"Stopping container {ctx.main}", ago=since, container=ctx.main)
    if drains:
        return
    port = next((p["containerPort"] for p in ctx.spec_of(ctx.main).get("ports") or ()), 8080)
    path = ((ctx.spec_of(ctx.main).get("readinessProbe") or {}).get("httpGet") or {}).get(
        "path", "/"
    )
    ip = pod_ip(ctx)
    for condition in pod["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition.update(
                status="False", reason="ContainersNotReady", lastTransitionTime=world.ts(since - 2)
            )
            condition["message"] = f"containers with unready status: [{ctx.main}]"
    for status in pod["status"].get("containerStatuses") or ():
        if status["name"] == ctx.main:
            status["ready"] = False
    if (ctx.spec_of(ctx.main).get("readinessProbe") or {}).get("httpGet"):
        ctx.event(
            "Unhealthy",
            f"Readiness probe failed: {refused(ip, port, path)}",
            ago=max(since - 4, 0.5),
            first=since - 2,
            count=max(int(since // 5), 1),
            warning=True,
            container=ctx.main,
        )


def apps_of(world: World) -> list[App]:
    """The world's apps, as the apps they are."""
    return [app for app in world.apps if isinstance(app, App)]


def deploy(
    world: World,
    namespace: str,
    name: str,
    template: Raw,
    *,
    replicas: int,
    selector_keys: tuple[str, ...],
    kind: str = "Deployment",
    age: float | None = None,
    revision: int | None = None,
    runtime: str = "go",
    exposure: str = "internal",
    strategy: Raw | None = None,
) -> App:
    """A workload that has run well for a while: its current revision's pods
    are ready, its history holds a few older revisions."""
    labels = template["metadata"]["labels"]
    app = App(
        world,
        namespace=namespace,
        name=name,
        kind=kind,
        selector={k: labels[k] for k in selector_keys},
        template=template,
        replicas=replicas,
        age=age if age is not None else world.rng.uniform(30 * DAY, 400 * DAY),
        revision=revision if revision is not None else world.rng.randrange(2, 40),
        strategy=strategy,
        runtime=runtime,
        exposure=exposure,
    )
    world.apps.append(app)
    return app


__all__ = ["HOUR", "MINUTE", "App", "PodGroup", "Revision", "container", "deploy", "http_probe"]
