"""`why5xx capture`: a bundle that diagnoses as the live cluster does, and
that no Secret value, ConfigMap value or env value ever leaves."""

from __future__ import annotations

import base64
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from fakeapi import Deny
from fakeapi.fixtures import FakeCluster, StartCluster
from test_live_scenarios import SCENARIOS, normalised
from why5xx.cli import main
from why5xx.engine import Target, diagnose, read_plan
from why5xx.scenarios import Scenario, read_bundle
from why5xx.sources.bundle import load_bundle
from why5xx.sources.capture import LAST_APPLIED, REDACTED, redact
from why5xx.sources.kubeapi import KubeApi, load_config
from why5xx.sources.live import read_target
from why5xx.sources.manifest import MANIFEST_FILE
from why5xx.views.routes import ROUTE_KINDS, routed_services

PLANTED = "hunter2-planted-Zq9xW"  # must appear in no captured byte, in any encoding
# The same in a URL's userinfo, where it is percent-encoded.
PLANTED_URL = "p@ss/w0rd+Zq9xW"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEplantedZq9xW\n-----END RSA PRIVATE KEY-----"


def capture(cluster: FakeCluster, out: Path, *args: str) -> tuple[int, str, str]:
    """`why5xx capture` as a user runs it; (exit code, stdout, stderr)."""
    command = [sys.executable, "-m", "why5xx", "capture", "--kubeconfig", str(cluster.kubeconfig)]
    done = subprocess.run(
        [*command, "-o", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def _in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_capture_then_diagnose_gives_the_live_report(
    scenario: Scenario,
    fake_cluster: StartCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = Target.parse(scenario.truth.target, scenario.truth.namespace)
    cluster = fake_cluster([Path(p) for p in scenario.bundle])
    api = KubeApi(load_config(str(cluster.kubeconfig)))
    try:
        live = diagnose(read_target(api, target.ref, read_plan()).snapshot, target).to_json()
    finally:
        api.close()
    # A route to Services of other namespaces is captured with them all (-A).
    route = read_bundle(scenario).snapshot().get(target.kind, target.namespace, target.name)
    spans = (
        route is not None
        and route.kind in ROUTE_KINDS
        and any(ns != target.namespace for ns, _ in routed_services(route))
    )
    scope = ["-A"] if spans else ["-n", target.namespace]
    args = ["capture", *scope, "--kubeconfig", str(cluster.kubeconfig)]
    code, out, _ = _in_process([*args, "-o", str(tmp_path / "capture")], capsys)
    assert code == 0
    assert out.startswith("captured ")
    captured = load_bundle([str(tmp_path / "capture")])
    assert not captured.errors
    offline = diagnose(captured.snapshot(), target).to_json()
    assert normalised(offline) == normalised(live)


# --- what never leaves the cluster -------------------------------------------------


def _planted_namespace() -> list[dict[str, Any]]:
    """A namespace with secrets everywhere a careless capture would copy them."""
    secret_env = [
        {"name": "DB_PASSWORD", "value": PLANTED},
        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}}},
        {"name": "proxy-read-timeout", "value": "120"},
        # Read by the rules (keep-alive, bind), so kept: its password must go.
        {"name": "GUNICORN_CMD_ARGS", "value": f"--bind 0.0.0.0:8000 --password {PLANTED}"},
    ]
    dsn = f"postgres://app:{quote(PLANTED_URL, safe='')}@db.shop:5432/app"
    container = {
        "name": "api",
        "image": "api:1",
        "env": secret_env,
        "command": ["gunicorn", "--keep-alive", "2", f"--db-dsn={dsn}"],
        "args": [f"--db-password={PLANTED}", "--token", PLANTED, "--port=8000"],
        "readinessProbe": {
            "httpGet": {
                "path": "/ready",
                "port": 8000,
                "httpHeaders": [{"name": "Authorization", "value": f"Bearer {PLANTED}"}],
            }
        },
    }
    template = {
        "metadata": {"labels": {"app": "api"}},
        "spec": {
            "initContainers": [{"name": "migrate", "image": "api:1", "env": secret_env}],
            "containers": [container],
        },
    }
    applied = orjson.dumps({"kind": "Deployment", "spec": {"template": template}}).decode()
    meta = {"namespace": "shop", "creationTimestamp": "2026-11-25T09:00:00Z"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", **meta},
            "type": "Opaque",
            "data": {"password": base64.b64encode(PLANTED.encode()).decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "api-config", **meta},
            "data": {
                "DATABASE_URL": f"postgres://app:{PLANTED}@db/app",
                "proxy-read-timeout": "120",
                # A setting the rules read, kept: what it shows of a credential goes.
                "upstream-hash-by": f"$http_x_user token={PLANTED}",
            },
            "binaryData": {"keystore": base64.b64encode(PLANTED.encode()).decode()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "api",
                "annotations": {
                    LAST_APPLIED: applied,
                    "example.com/api-token": PLANTED,
                    "example.com/notes": f"pull with Authorization: Bearer {PLANTED}",
                    "example.com/signing-material": PRIVATE_KEY,
                },
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                **meta,
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "api"}},
                "template": template,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "api-0", "labels": {"app": "api"}, **meta},
            "spec": template["spec"],
            "status": {"phase": "Running"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api", **meta},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]},
        },
    ]


@pytest.fixture
def planted(fake_cluster: StartCluster, tmp_path: Path) -> FakeCluster:
    recording = tmp_path / "recording.json"
    items = _planted_namespace()
    recording.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return fake_cluster([recording])


def _every_byte(path: Path) -> bytes:
    """The bytes of every file of a capture, archives unpacked too."""
    if path.is_dir():
        return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())
    with tarfile.open(path) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        unpacked = b"".join(archive.extractfile(m).read() for m in members)  # type: ignore[union-attr]
    return path.read_bytes() + unpacked


@pytest.mark.parametrize("name", ["incident", "incident.tar.gz"])
def test_no_secret_value_is_captured(planted: FakeCluster, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    code, stdout, stderr = capture(planted, out, "-n", "shop")
    assert code == 0, stderr
    assert "Secrets not read" in stdout
    data = _every_byte(out)
    for form in _encodings():
        assert form.encode() not in data, form
    assert b"managedFields" not in data
    assert not [c for c in planted.server.calls if c.resource == "secrets"]


def _encodings() -> list[str]:
    """Every form a planted credential could leave in: plain, base64, URL-encoded."""
    forms = []
    for secret in (PLANTED, PLANTED_URL, "MIIEplantedZq9xW"):
        forms += [secret, base64.b64encode(secret.encode()).decode(), quote(secret, safe="")]
    return [*forms, PLANTED[4:16]]


@pytest.mark.parametrize("output", ["text", "json"])
def test_no_planted_credential_is_in_any_report(
    planted: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    code, _, stderr = capture(planted, tmp_path / "incident", "-n", "shop")
    assert code == 0, stderr
    live = ["--kubeconfig", str(planted.kubeconfig)]
    offline = ["--bundle", str(tmp_path / "incident")]
    for source in (live, offline):
        for target in (["api"], ["--all"]):
            args = ["diagnose", *target, "-n", "shop", *source, "-o", output, "--no-color"]
            code, out, err = _in_process(args, capsys)
            assert code in {0, 1, 3}, err
            for form in _encodings():
                assert form not in out + err, (args, form)
    # What the rules read is still there, and the flags keep their names.
    captured = load_bundle([str(tmp_path / "incident")]).snapshot().get("Pod", "shop", "api-0")
    assert captured is not None
    container = captured.spec["containers"][0]
    assert container["args"] == ["--db-password=<redacted>", "--token", "<redacted>", "--port=8000"]
    assert container["command"][-1] == "--db-dsn=postgres://<redacted>@db.shop:5432/app"
    gunicorn = container["env"][-1]
    assert gunicorn["value"] == "--bind 0.0.0.0:8000 --password <redacted>"


def test_captured_objects_keep_no_copy_of_their_applied_spec(
    planted: FakeCluster, tmp_path: Path
) -> None:
    code, _, stderr = capture(planted, tmp_path / "incident", "-n", "shop")
    assert code == 0, stderr
    captured = load_bundle([str(tmp_path / "incident")]).objects
    assert {o.kind for o in captured} >= {"Deployment", "Pod", "ConfigMap"}
    assert not [o for o in captured if LAST_APPLIED in o.annotations]


def test_the_manifest_says_what_when_where_and_what_was_redacted(
    planted: FakeCluster, tmp_path: Path
) -> None:
    code, _, stderr = capture(planted, tmp_path / "incident", "-n", "shop")
    assert code == 0, stderr
    manifest = orjson.loads((tmp_path / "incident" / MANIFEST_FILE).read_bytes())
    assert manifest["capturedAt"] == "2026-11-25T09:00:00Z"  # the API server's clock
    bundle = load_bundle([str(tmp_path / "incident")])
    assert bundle.snapshot().now.isoformat() == "2026-11-25T09:00:00+00:00"  # "now" of a diagnosis
    assert manifest["context"] == "fake"
    assert manifest["namespace"] == "shop"
    assert manifest["neverFetched"] == ["Secret"]
    assert {"Pod", "Service", "NetworkPolicy", "ConfigMap"} <= set(manifest["listed"])
    files = {f["path"]: f for f in manifest["files"]}
    assert files["pods.json"] == {"path": "pods.json", "kind": "Pod", "count": 1}
    redacted = {r["object"]: r["fields"] for r in manifest["redacted"]}
    assert redacted["ConfigMap/shop/api-config"] == [
        "data.DATABASE_URL",
        "binaryData.keystore",
        "data.upstream-hash-by",
    ]
    assert "spec.initContainers[0].env[0].value" in redacted["Pod/shop/api-0"]
    assert f"metadata.annotations.{LAST_APPLIED}" in redacted["Deployment/shop/api"]
    configmaps = orjson.loads((tmp_path / "incident" / "configmaps.json").read_bytes())
    data = configmaps["items"][0]["data"]
    assert data == {  # settings rules read are kept, without the credentials they show
        "DATABASE_URL": REDACTED,
        "proxy-read-timeout": "120",
        "upstream-hash-by": "$http_x_user token=<redacted>",
    }


def test_redact_copies_and_never_mutates() -> None:
    deployment = _planted_namespace()[2]
    before = orjson.dumps(deployment)
    cleaned, fields = redact(deployment)
    assert orjson.dumps(deployment) == before
    containers = cleaned["spec"]["template"]["spec"]["containers"]
    assert [e.get("value") for e in containers[0]["env"]][:3] == [REDACTED, None, "120"]
    assert fields[0] == f"metadata.annotations.{LAST_APPLIED}"


def test_a_forbidden_kind_is_recorded_and_skips_as_live_did(
    planted: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted.server.denies.append(Deny(resource="pods", namespace="shop"))
    args = ["--kubeconfig", str(planted.kubeconfig), "-n", "shop"]
    code, _, err = _in_process(["capture", *args, "-o", str(tmp_path / "c")], capsys)
    assert code == 0
    reason = "cannot list pods in shop: forbidden — the minimal Role is in docs/rbac.md"
    assert f"why5xx: Pod: {reason}" in err.splitlines()
    live_code, live, _ = _in_process(["diagnose", "api", *args, "-o", "json"], capsys)
    offline_code, offline, _ = _in_process(
        ["diagnose", "api", "-n", "shop", "--bundle", str(tmp_path / "c"), "-o", "json"], capsys
    )
    assert normalised(orjson.loads(offline)) == normalised(orjson.loads(live))
    assert offline_code == live_code
    assert {"rule": "crash-loop", "reason": reason} in orjson.loads(offline)["skipped"]


def test_capture_refuses_to_overwrite(
    planted: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "pods.json").write_text("{}")
    args = ["capture", "--kubeconfig", str(planted.kubeconfig), "-o", str(tmp_path / "old")]
    code, _, err = _in_process(args, capsys)
    assert code == 2
    assert (
        err == f"why5xx: error: {tmp_path / 'old'} exists: name a new directory or .tar.gz file\n"
    )


def test_an_archive_unpacks_to_a_directory_named_after_it(
    planted: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["capture", "-n", "shop", "--kubeconfig", str(planted.kubeconfig)]
    code, _, _ = _in_process([*args, "-o", str(tmp_path / "incident-1125.tar.gz")], capsys)
    assert code == 0
    with tarfile.open(tmp_path / "incident-1125.tar.gz") as archive:
        names = archive.getnames()
        archive.extractall(tmp_path / "x", filter="data")
    assert f"incident-1125/{MANIFEST_FILE}" in names
    assert all(n.startswith("incident-1125/") for n in names)
    code, out, _ = _in_process(
        ["diagnose", "api", "-n", "shop", "--bundle", str(tmp_path / "x" / "incident-1125")], capsys
    )
    assert out.startswith("✓ Service/shop/api") or code in (0, 1, 3)  # 3: unknown


def test_env_settings_rules_read_are_kept_and_everything_else_redacted() -> None:
    """Listen addresses and timeouts stay (rules read them); of JVM options only
    the heap size and listen address stay (the rest can be `-D...password=`);
    other values can be anything and are replaced."""
    env = [
        {"name": "UVICORN_HOST", "value": "127.0.0.1"},
        {"name": "GUNICORN_CMD_ARGS", "value": "--keep-alive 2"},
        {"name": "METRICS_LISTEN_ADDRESS", "value": "127.0.0.1:9090"},
        {"name": "JAVA_OPTS", "value": "-Dspring.datasource.password=hunter2"},
        {"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx640m -Dapi.token=hunter2 -Xss1m"},
        {"name": "DB_PASSWORD", "value": "hunter2"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
    ]
    pod = {
        "kind": "Pod",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"containers": [{"name": "api", "env": env}]},
    }
    redacted, fields = redact(pod)
    values = {e["name"]: e.get("value") for e in redacted["spec"]["containers"][0]["env"]}
    assert values == {
        "UVICORN_HOST": "127.0.0.1",
        "GUNICORN_CMD_ARGS": "--keep-alive 2",
        "METRICS_LISTEN_ADDRESS": "127.0.0.1:9090",
        "JAVA_OPTS": REDACTED,
        "JAVA_TOOL_OPTIONS": "-Xmx640m",
        "DB_PASSWORD": REDACTED,
        "TOKEN": None,
    }
    assert fields == tuple(f"spec.containers[0].env[{i}].value" for i in (3, 4, 5))
    assert b"hunter2" not in orjson.dumps(redacted)
