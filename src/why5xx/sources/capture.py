"""`why5xx capture`: a namespace's state as a bundle to attach to a ticket.

The bundle is exactly what the bundle source reads (one `kubectl get -o
json` style `List` per kind) plus a manifest (`manifest.py`): what was
captured, when (the API server's clock), from which context, and what was
redacted. `why5xx diagnose --bundle` on it gives the verdict the live
cluster gave.

Nothing secret leaves the cluster: Secrets are never requested; ConfigMap
values, container `env` values and the `last-applied-configuration`
annotation (which repeats both) are replaced, except the settings rules
read (`SETTINGS_KEPT`); `managedFields` are dropped; annotations whose key
names a credential are replaced; and every string kept (args, command,
the settings kept, annotations, probe headers) is scrubbed of the
credentials it shows (`why5xx.scrub`).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from why5xx.appservers import capturable_env
from why5xx.scrub import scrub_strings, secret_key
from why5xx.sources.kinds import KINDS, NAMESPACE_KINDS, ReadPlan
from why5xx.sources.kubeapi import KubeApi
from why5xx.sources.live import LiveRead, read_namespace
from why5xx.sources.manifest import (
    MANIFEST_FILE,
    CaptureFile,
    CaptureManifest,
    Redaction,
)
from why5xx.version import __version__

REDACTED = "<redacted by why5xx capture>"
NEVER_FETCHED = ("Secret",)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
TAR_SUFFIX = ".tar.gz"
# Values rules read, kept as they are (a name is kept in ConfigMap data and
# in container env alike): ingress-nginx controller settings that decide
# timeouts, keep-alive, buffers and workers; the app-server settings
# `appservers.py` reads from env (`reads_env`: listen addresses, keep-alive and
# request timeouts); and the
# probes the Istio sidecar rewrote (paths and ports, `views/protocols.py`).
SETTINGS_KEPT = frozenset(
    {
        "ISTIO_KUBE_APP_PROBERS",
        "client-body-buffer-size",
        "client-body-timeout",
        "client-header-buffer-size",
        "client-header-timeout",
        "http2-max-concurrent-streams",
        "keep-alive",
        "keep-alive-requests",
        "large-client-header-buffers",
        "load-balance",
        "max-worker-connections",
        "max-worker-open-files",
        "proxy-body-size",
        "proxy-buffer-size",
        "proxy-buffering",
        "proxy-buffers-number",
        "proxy-connect-timeout",
        "proxy-http-version",
        "proxy-next-upstream",
        "proxy-next-upstream-timeout",
        "proxy-next-upstream-tries",
        "proxy-read-timeout",
        "proxy-send-timeout",
        "upstream-hash-by",
        "upstream-keepalive-connections",
        "upstream-keepalive-requests",
        "upstream-keepalive-time",
        "upstream-keepalive-timeout",
        "use-forwarded-headers",
        "use-http2",
        "worker-processes",
        "worker-shutdown-timeout",
    }
)
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Capture:
    """The files of a capture, by path inside the bundle, and its manifest."""

    manifest: CaptureManifest
    files: Mapping[str, bytes]

    @property
    def objects(self) -> int:
        return sum(f.count for f in self.manifest.files)


def redact(raw: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A copy of `raw` fit to leave the cluster, and the fields whose values
    were replaced."""
    out = dict(raw)
    fields: list[str] = []
    metadata = dict(out.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = dict(metadata.get("annotations") or {})
    if LAST_APPLIED in annotations:
        del annotations[LAST_APPLIED]
        fields.append(f"metadata.annotations.{LAST_APPLIED}")
    for key in [k for k, v in annotations.items() if secret_key(k) and v != REDACTED]:
        annotations[key] = REDACTED
        fields.append(f"metadata.annotations.{key}")
    if annotations or "annotations" in metadata:
        metadata["annotations"] = annotations
    out["metadata"] = metadata
    kind = str(out.get("kind", ""))
    if kind == "ConfigMap":
        for key in ("data", "binaryData"):
            values = out.get(key) or {}
            kept = SETTINGS_KEPT if key == "data" else frozenset()
            hidden = [k for k in values if k not in kept]
            if hidden:
                out[key] = {k: v if k in kept else REDACTED for k, v in values.items()}
                fields += [f"{key}.{k}" for k in hidden]
    path = _POD_SPEC_PATHS.get(kind)
    if path is not None:
        out, env_fields = _redact_env(out, path)
        fields += env_fields
    # What is kept (args, command, the env and ConfigMap settings rules
    # read, annotations, probe headers) loses the credentials it shows.
    scrubbed: list[str] = []
    out = scrub_strings(out, scrubbed)
    fields += [f for f in scrubbed if f not in fields]
    return out, tuple(fields)


def _redact_env(raw: dict[str, Any], path: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """Copy the mappings down to the pod spec at `path` and replace the env
    values of its containers."""
    fields: list[str] = []
    parents = [raw]
    for key in path:
        child = parents[-1].get(key)
        if not isinstance(child, Mapping):
            return raw, fields
        parents[-1][key] = dict(child)
        parents.append(parents[-1][key])
    spec = parents[-1]
    for list_key in _CONTAINER_LISTS:
        containers = spec.get(list_key)
        if not containers:
            continue
        spec[list_key] = [dict(c) for c in containers]
        for c, container in enumerate(spec[list_key]):
            env = container.get("env")
            if not env:
                continue
            container["env"] = [dict(e) for e in env]
            for e, var in enumerate(container["env"]):
                name = str(var.get("name", ""))
                if "value" not in var or name in SETTINGS_KEPT:
                    continue
                value = str(var["value"])
                kept = capturable_env(name, value)
                if kept != value:
                    var["value"] = REDACTED if kept is None else kept
                    fields.append(f"{'.'.join(path)}.{list_key}[{c}].env[{e}].value")
    return raw, fields


def _file_name(kind: str) -> str:
    return f"{KINDS[kind].plural}.json" if kind in KINDS else f"{kind.lower()}.json"


def capture(api: KubeApi, namespace: str | None, plan: ReadPlan) -> Capture:
    """Read the namespace (None: every namespace) and what the rules read
    (`plan`) and turn it into bundle files: one `List` per kind, redacted,
    and the manifest."""
    read = read_namespace(api, namespace, NAMESPACE_KINDS, plan=plan)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    redactions: list[Redaction] = []
    for obj in sorted(read.objects, key=lambda o: (o.kind, o.namespace, o.name)):
        cleaned, fields = redact(obj.raw)
        by_kind.setdefault(obj.kind, []).append(cleaned)
        if fields:
            redactions.append(Redaction(object=str(obj.ref), fields=fields))
    files: dict[str, bytes] = {}
    entries: list[CaptureFile] = []
    for kind in sorted(by_kind):
        name = _file_name(kind)
        document = {"apiVersion": "v1", "kind": "List", "items": by_kind[kind]}
        files[name] = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
        entries.append(CaptureFile(path=name, kind=kind, count=len(by_kind[kind])))
    manifest = _manifest(api, read, tuple(entries), tuple(redactions))
    files[MANIFEST_FILE] = orjson.dumps(manifest.to_json(), option=orjson.OPT_INDENT_2) + b"\n"
    return Capture(manifest=manifest, files=files)


def _manifest(
    api: KubeApi,
    read: LiveRead,
    files: tuple[CaptureFile, ...],
    redacted: tuple[Redaction, ...],
) -> CaptureManifest:
    return CaptureManifest(
        captured_at=api.server_time,
        context=read.context,
        server=api.server,
        namespace=read.namespace,
        tool_version=__version__,
        listed=tuple(sorted(read.listed)),
        unavailable=dict(sorted(read.unavailable.items())),
        not_served=tuple(sorted(read.not_served)),
        never_fetched=NEVER_FETCHED,
        files=files,
        redacted=redacted,
    )


def write(result: Capture, out: Path) -> Path:
    """Write the capture into directory `out`, or into a `.tar.gz` archive
    whose top directory is named after it."""
    if out.name.endswith(TAR_SUFFIX):
        out.parent.mkdir(parents=True, exist_ok=True)
        top = out.name[: -len(TAR_SUFFIX)]
        with tarfile.open(out, "w:gz") as archive:
            for name, data in sorted(result.files.items()):
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size = len(data)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(data))
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(result.files.items()):
        (out / name).write_bytes(data)
    return out
