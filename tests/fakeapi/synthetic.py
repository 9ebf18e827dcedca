"""A big, healthy namespace for load tests: `services` Deployments of
`pods_per_service` pods each (current and previous ReplicaSet revision),
their Services and EndpointSlices, an Ingress, and Events. Pods look like
`kubectl get pod -o json` output (probes, resources, env, volumes, status)
so lists weigh what real ones weigh. Deterministic for a given size."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
Raw = dict[str, Any]


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(str(p) for p in parts)))


def _meta(kind: str, namespace: str, name: str, **extra: Any) -> Raw:
    return {
        "name": name,
        "namespace": namespace,
        "uid": _uid(kind, namespace, name),
        "creationTimestamp": _ts(NOW - timedelta(days=3)),
        **extra,
    }


def _template(app: str, image: str) -> Raw:
    return {
        "metadata": {"labels": {"app": app, "tier": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "PORT", "value": "8080"},
                        {
                            "name": "DB_PASSWORD",
                            "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "pw"}},
                        },
                    ],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                        "periodSeconds": 5,
                        "timeoutSeconds": 1,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/livez", "port": "http", "scheme": "HTTP"},
                        "periodSeconds": 10,
                        "timeoutSeconds": 1,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/app", "readOnly": True},
                    ],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
        },
    }


def namespace_objects(
    namespace: str = "shop",
    *,
    services: int = 500,
    pods_per_service: int = 20,
    events: int = 2_000,
) -> list[Raw]:
    """The objects of the namespace, as raw manifests with kind and apiVersion."""
    out: list[Raw] = []
    for s in range(services):
        app = f"svc-{s:04d}"
        image = f"registry.example.com/{app}:1.{s % 7}.0"
        template = _template(app, image)
        deployment: Raw = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("Deployment", namespace, app, labels={"app": app}, generation=2),
            "spec": {
                "replicas": pods_per_service,
                "selector": {"matchLabels": {"app": app}},
                "template": template,
                "strategy": {"type": "RollingUpdate"},
            },
            "status": {
                "replicas": pods_per_service,
                "readyReplicas": pods_per_service,
                "availableReplicas": pods_per_service,
                "updatedReplicas": pods_per_service,
                "observedGeneration": 2,
            },
        }
        out.append(deployment)
        owner = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": app,
            "uid": deployment["metadata"]["uid"],
            "controller": True,
        }
        current_hash = f"{s:06x}bb"
        current = f"{app}-{current_hash}"
        for revision, rs_hash, replicas in (
            (1, f"{s:06x}aa", 0),
            (2, current_hash, pods_per_service),
        ):
            labels = {"app": app, "tier": "web", "pod-template-hash": rs_hash}
            name = f"{app}-{rs_hash}"
            out.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": _meta(
                        "ReplicaSet",
                        namespace,
                        name,
                        labels=labels,
                        ownerReferences=[owner],
                        annotations={"deployment.kubernetes.io/revision": str(revision)},
                    ),
                    "spec": {"replicas": replicas, "template": template},
                    "status": {"replicas": replicas, "readyReplicas": replicas},
                }
            )
        endpoints = []
        for p in range(pods_per_service):
            pod_name = f"{current}-{p:05d}"
            index = s * pods_per_service + p
            ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
            pod: Raw = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": _meta(
                    "Pod",
                    namespace,
                    pod_name,
                    labels={"app": app, "tier": "web", "pod-template-hash": current_hash},
                    ownerReferences=[
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": current,
                            "uid": _uid("ReplicaSet", namespace, current),
                            "controller": True,
                        }
                    ],
                ),
                "spec": {**template["spec"], "nodeName": f"node-{p % 40:02d}"},
                "status": {
                    "phase": "Running",
                    "podIP": ip,
                    "hostIP": f"192.168.0.{p % 40}",
                    "startTime": _ts(NOW - timedelta(days=2)),
                    "conditions": [
                        {
                            "type": t,
                            "status": "True",
                            "lastTransitionTime": _ts(NOW - timedelta(days=2)),
                        }
                        for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
                    ],
                    "containerStatuses": [
                        {
                            "name": "app",
                            "ready": True,
                            "started": True,
                            "restartCount": 0,
                            "image": image,
                            "imageID": f"{image}@sha256:{_uid(image).replace('-', '')}",
                            "containerID": f"containerd://{_uid(pod_name).replace('-', '')}",
                            "state": {"running": {"startedAt": _ts(NOW - timedelta(days=2))}},
                        }
                    ],
                },
            }
            out.append(pod)
            endpoints.append(
                {
                    "addresses": [ip],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": pod["spec"]["nodeName"],
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod_name},
                }
            )
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta("Service", namespace, app, labels={"app": app}),
                "spec": {
                    "type": "ClusterIP",
                    "selector": {"app": app},
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
                    ],
                    "clusterIP": f"10.96.{s // 256}.{s % 256}",
                },
            }
        )
        out.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": _meta(
                    "EndpointSlice",
                    namespace,
                    f"{app}-abcde",
                    labels={"kubernetes.io/service-name": app},
                ),
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        )
    for e in range(events):
        app = f"svc-{e % services:04d}"
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": _meta("Event", namespace, f"{app}.{e:012x}"),
                "involvedObject": {"kind": "Deployment", "namespace": namespace, "name": app},
                "reason": "ScalingReplicaSet",
                "message": f"Scaled up replica set {app} to {pods_per_service}",
                "type": "Normal",
                "count": 1,
                "firstTimestamp": _ts(NOW - timedelta(minutes=30)),
                "lastTimestamp": _ts(NOW - timedelta(minutes=30)),
                "source": {"component": "deployment-controller"},
            }
        )
    out.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _meta("Ingress", namespace, "storefront"),
            "spec": {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "host": "shop.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": f"/{s}",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": f"svc-{s:04d}", "port": {"number": 80}}
                                    },
                                }
                                for s in range(min(services, 3))
                            ]
                        },
                    }
                ],
            },
        }
    )
    return out
