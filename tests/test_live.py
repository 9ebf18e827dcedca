"""The live source against the fake API server: kubeconfig and credentials
as kubectl finds them, few concurrent read-only calls, refusals as data,
and one clear line when the cluster cannot be asked."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from fakeapi import (
    Deny,
    FakeApiServer,
    Pki,
    Store,
    exec_plugin,
    exec_user,
    token_user,
    write_kubeconfig,
)
from fakeapi.fixtures import TOKEN, USER, FakeCluster, StartCluster
from fakeapi.kubeconfig import EXEC_V1BETA1
from fakeapi.synthetic import NOW, namespace_objects
from why5xx.cli import main
from why5xx.engine import Target, diagnose, diagnose_all, read_plan
from why5xx.report import json as json_report
from why5xx.rules import RULES
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources import kubeyaml
from why5xx.sources.kinds import KINDS, NAMESPACE_KINDS, WITHHELD
from why5xx.sources.kubeapi import ClusterError, KubeApi, load_config
from why5xx.sources.live import read_namespace, read_target

SCENARIOS = Path(__file__).parent / "scenarios"
MISMATCH = SCENARIOS / "selector-mismatch" / "version-label-yaml-list"
INGRESS_CLASS = SCENARIOS / "ingress-class-missing" / "nginx-internal"
BIG_NAMESPACE_PODS = 10_000
# The namespace's Services, the target's EndpointSlices, pods, ReplicaSets and
# Deployment; the namespace's Events, Ingresses, NetworkPolicies,
# HorizontalPodAutoscalers and PodDisruptionBudgets (endpoints-terminating
# reads them); and discovery (which mesh APIs the cluster serves).
CALL_BUDGET = 11


def files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name != "expected.yaml")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def mismatch(fake_cluster: StartCluster) -> FakeCluster:
    return fake_cluster(files(MISMATCH))


# --- a big namespace --------------------------------------------------------


@pytest.fixture(scope="module")
def big(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeApiServer, Path]]:
    objects = namespace_objects(services=500, pods_per_service=BIG_NAMESPACE_PODS // 500)
    with FakeApiServer(Store(objects), pki=pki, tokens={TOKEN: USER}, now=NOW) as server:
        kubeconfig = write_kubeconfig(
            tmp_path_factory.mktemp("big") / "kubeconfig",
            server.url,
            pki.ca_pem,
            {"big": token_user(TOKEN)},
            namespace="shop",
        )
        yield server, kubeconfig


def test_one_service_of_a_10000_pod_namespace_in_few_calls(
    big: tuple[FakeApiServer, Path],
) -> None:
    server, kubeconfig = big
    server.clear_calls()
    target = Target.parse("svc-0123", "shop")
    api = KubeApi(load_config(str(kubeconfig)))
    try:
        read = read_target(api, target.ref, read_plan())
    finally:
        api.close()
    report = diagnose(read.snapshot, target)

    # How long it takes is bench/live_bench.py's to say, not a timed assert's.
    assert report.status.value == "healthy"
    assert len(read.calls) == len(server.calls) <= CALL_BUDGET
    assert {c.method for c in server.calls} == {"GET"}
    pods = [c for c in server.calls if c.path == "/api/v1/namespaces/shop/pods"]
    assert [c.query["labelSelector"] for c in pods] == ["app=svc-0123"]  # never the 10,000


def test_all_lists_each_kind_once(big: tuple[FakeApiServer, Path]) -> None:
    server, kubeconfig = big
    server.clear_calls()
    api = KubeApi(load_config(str(kubeconfig)))
    try:
        read = read_namespace(api, "shop", plan=read_plan())
    finally:
        api.close()
    first_pages = [c.path for c in server.calls if "continue" not in c.query]
    assert len(first_pages) == len(set(first_pages))
    assert sum(1 for o in read.objects if o.kind == "Pod") == BIG_NAMESPACE_PODS
    assert read.snapshot.now.isoformat() == "2026-11-25T10:00:00+00:00"


def test_all_live_equals_all_from_the_same_objects_as_a_bundle(
    fake_cluster: StartCluster, tmp_path: Path
) -> None:
    objects = namespace_objects(services=12, pods_per_service=3, events=30)
    bundle = tmp_path / "shop.json"
    bundle.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    cluster = fake_cluster([bundle], served="recorded")
    api = KubeApi(load_config(str(cluster.kubeconfig)))
    try:
        read = read_namespace(api, "shop", plan=read_plan())
    finally:
        api.close()
    offline = Snapshot.build([Obj.from_raw(raw, "bundle:shop.json") for raw in objects])
    live = json_report.render_reports(diagnose_all(read.snapshot, "shop"))
    expected = json_report.render_reports(diagnose_all(offline, "shop"))
    assert live.replace("live:fake", "bundle:shop.json") == expected


# --- configuration ---------------------------------------------------------------


def test_kubeconfig_files_of_kubeconfig_env_are_merged(
    mismatch: FakeCluster, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KUBECONFIG=a:b: contexts from both, the first current-context wins,
    and a relative CA path resolves against its own file."""
    url = mismatch.server.url
    first = write_kubeconfig(tmp_path / "a" / "config", url, None, {"dev": {"token": "x"}})
    ca = tmp_path / "b" / "ca.crt"
    ca.parent.mkdir()
    ca.write_bytes(pki.ca_pem)
    second = tmp_path / "b" / "config"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "prod", "cluster": {"server": url, "certificate-authority": "ca.crt"}}
        ],
        "users": [{"name": "prod", "user": token_user(TOKEN)}],
        "contexts": [{"name": "prod-eu", "context": {"cluster": "prod", "user": "prod"}}],
        "current-context": "prod-eu",
    }
    second.write_text(kubeyaml.dump(config))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")

    assert load_config().context_name == "dev"
    api = KubeApi(load_config(context="prod-eu"))
    try:
        read = read_target(api, Target.parse("checkout", "shop").ref, read_plan())
    finally:
        api.close()
    assert read.context == "prod-eu"
    assert read.snapshot.get("Service", "shop", "checkout") is not None


def test_unknown_context_names_the_ones_there(mismatch: FakeCluster) -> None:
    with pytest.raises(ClusterError, match=r"context prod is not usable .* contexts there: fake"):
        load_config(str(mismatch.kubeconfig), "prod")


def test_no_kubeconfig_outside_a_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, out, err = run(["diagnose", "checkout", "-n", "shop"], capsys)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"why5xx: error: no kubeconfig at {tmp_path / 'nope'} and not running in a cluster: "
        "pass --kubeconfig, set KUBECONFIG, or use --bundle for offline input"
    ]


def test_in_cluster_service_account(
    mismatch: FakeCluster, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN)
    (account / "ca.crt").write_bytes(pki.ca_pem)
    (account / "namespace").write_text("shop")
    host, port = mismatch.server.url.removeprefix("https://").split(":")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr("why5xx.sources.kubeapi.DEFAULT_KUBECONFIG", tmp_path / "none")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)

    api = KubeApi(load_config(service_account=account))
    try:
        assert api.namespace == "shop"
        read = read_target(api, Target.parse("checkout", api.namespace).ref, read_plan())
    finally:
        api.close()
    assert read.snapshot.get("Service", "shop", "checkout") is not None


@pytest.mark.parametrize("api_version", ["client.authentication.k8s.io/v1", EXEC_V1BETA1])
def test_exec_credential_plugin_runs_once_for_concurrent_calls(
    mismatch: FakeCluster, pki: Pki, tmp_path: Path, api_version: str
) -> None:
    plugin = exec_plugin(tmp_path / "plugin", TOKEN, api_version)
    config = write_kubeconfig(
        tmp_path / "exec", mismatch.server.url, pki.ca_pem, {"eks": exec_user(plugin, api_version)}
    )
    api = KubeApi(load_config(str(config)))
    try:
        read = read_target(api, Target.parse("checkout", "shop").ref, read_plan())
    finally:
        api.close()
    assert len(read.calls) > 5
    assert Path(f"{plugin}.calls").read_text().splitlines() == ["run"]
    assert {c.user for c in mismatch.server.calls} == {USER}


def test_a_failing_credential_plugin_is_one_line(
    mismatch: FakeCluster, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = tmp_path / "aws"
    plugin.write_text("#!/bin/sh\necho 'ExpiredToken: the SSO session has expired' >&2\nexit 255\n")
    plugin.chmod(0o755)
    config = write_kubeconfig(
        tmp_path / "exec", mismatch.server.url, pki.ca_pem, {"eks": exec_user(plugin)}
    )
    code, _, err = run(["diagnose", "checkout", "-n", "shop", "--kubeconfig", str(config)], capsys)
    assert code == 2
    assert err.splitlines() == [
        f"why5xx: error: credential plugin {plugin} failed (exit 255): "
        "ExpiredToken: the SSO session has expired"
    ]


def test_a_missing_credential_plugin_gives_its_install_hint(
    mismatch: FakeCluster, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = {
        "exec": {
            "apiVersion": EXEC_V1BETA1,
            "command": "gke-gcloud-auth-plugin-not-here",
            "installHint": "Install gke-gcloud-auth-plugin for use with kubectl.",
        }
    }
    config = write_kubeconfig(tmp_path / "gke", mismatch.server.url, pki.ca_pem, {"gke": user})
    code, _, err = run(["diagnose", "checkout", "--kubeconfig", str(config)], capsys)
    assert code == 2
    assert err == (
        "why5xx: error: credential plugin gke-gcloud-auth-plugin-not-here is not installed: "
        "Install gke-gcloud-auth-plugin for use with kubectl.\n"
    )


# --- failures -------------------------------------------------------------------


def test_rejected_credentials_are_one_line(
    mismatch: FakeCluster, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_kubeconfig(
        tmp_path / "old", mismatch.server.url, pki.ca_pem, {"prod": token_user("expired")}
    )
    code, out, err = run(
        ["diagnose", "checkout", "-n", "shop", "--kubeconfig", str(config)], capsys
    )
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"why5xx: error: the API server {mismatch.server.url} rejected the credentials of "
        "context prod (401 Unauthorized): log in again or refresh the token"
    ]


def test_an_unreachable_cluster_is_one_line_and_exit_2(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens once closed
    config = write_kubeconfig(
        tmp_path / "kc", f"https://127.0.0.1:{port}", pki.ca_pem, {"gone": token_user("t")}
    )
    started = time.perf_counter()
    code, out, err = run(
        ["diagnose", "checkout", "-n", "shop", "--kubeconfig", str(config)], capsys
    )
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"why5xx: error: cannot reach the API server https://127.0.0.1:{port} (context gone): "
    )
    assert time.perf_counter() - started < 2


def test_a_silent_server_times_out_within_the_request_timeout(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        config = write_kubeconfig(tmp_path / "kc", url, pki.ca_pem, {"slow": token_user("t")})
        started = time.perf_counter()
        code, _, err = run(
            ["diagnose", "x", "--kubeconfig", str(config), "--request-timeout", "0.3"], capsys
        )
        elapsed = time.perf_counter() - started
    assert code == 2
    assert re.fullmatch(
        rf"why5xx: error: the API server {re.escape(url)} \(context slow\) did not answer "
        r"within 0\.[34] s \(--request-timeout\)\n",
        err,
    ), err
    assert elapsed < 2


# --- refusals are data ------------------------------------------------------------


def test_rbac_limited_user_gets_partial_results_with_skipped_rules_named(
    fake_cluster: StartCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """A namespace-only Role: no IngressClasses (cluster-scoped). The verdict
    comes from what could be read; the class check is skipped, with why."""
    cluster = fake_cluster(
        files(INGRESS_CLASS), denies=[Deny(resource="ingressclasses", user=USER)]
    )
    code, out, err = run(
        [
            "diagnose",
            "ingress/admin",
            "-n",
            "shop",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "-o",
            "json",
        ],
        capsys,
    )
    report = orjson.loads(out)
    assert err == ""
    assert code in (0, 1)
    assert "ingress-class-missing" not in [f["cause"] for f in report["findings"]]
    assert {
        "rule": "ingress-class-missing",
        "reason": (
            "cannot list ingressclasses cluster-wide: forbidden — "
            "the minimal ClusterRole is in docs/rbac.md"
        ),
    } in report["skipped"]
    assert [c.status for c in cluster.server.calls if c.resource == "ingressclasses"] == [403]


def test_forbidden_pods_skip_the_pod_rules(
    mismatch: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    mismatch.server.denies.append(Deny(resource="pods", namespace="shop"))
    args = ["diagnose", "checkout", "-n", "shop", "--kubeconfig", str(mismatch.kubeconfig)]
    code, out, _ = run([*args, "-o", "json"], capsys)
    report = orjson.loads(out)
    reasons = {s["rule"]: s["reason"] for s in report["skipped"]}
    assert reasons["selector-mismatch"] == (
        "cannot list pods in shop: forbidden — the minimal Role is in docs/rbac.md"
    )
    assert report["status"] != "healthy"
    assert code == 1


# --- the command line ------------------------------------------------------------------


def test_diagnose_live_uses_the_contexts_namespace_and_lists_calls_when_verbose(
    mismatch: FakeCluster, tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_kubeconfig(
        tmp_path / "kc",
        mismatch.server.url,
        pki.ca_pem,
        {"dev": token_user("nope"), "prod": token_user(TOKEN)},
        namespace="shop",
    )
    code, out, err = run(
        ["diagnose", "checkout", "--kubeconfig", str(config), "--context", "prod", "-v"], capsys
    )
    assert code == 1
    assert out.startswith("✗ Service/shop/checkout  FAILING (503): selector-mismatch")
    assert "[live:prod]" in out
    lines = err.splitlines()
    assert len(lines) == len(mismatch.server.calls) + 1
    assert lines[0].startswith("why5xx: GET /api")
    assert lines[-1].startswith(f"why5xx: {len(mismatch.server.calls)} API calls in ")


def test_live_target_not_found_names_the_services_there(
    mismatch: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["diagnose", "chekout", "-n", "shop", "--kubeconfig", str(mismatch.kubeconfig)]
    code, _, err = run(args, capsys)
    assert code == 2
    assert err == (
        "why5xx: error: service/chekout not found in namespace 'shop'; Services there: checkout\n"
    )


def test_kubectl_plugin(mismatch: FakeCluster, tmp_path: Path) -> None:
    """`kubectl why5xx ...` finds kubectl-why5xx on PATH and passes it the
    arguments after the plugin name; KUBECONFIG passes through."""
    bin_dir = Path(sys.executable).parent
    kubectl = shutil.which("kubectl", path=str(bin_dir)) or shutil.which("kubectl")
    if kubectl is None or not (bin_dir / "kubectl-why5xx").exists():
        pytest.skip("kubectl or the kubectl-why5xx entry point is not installed (make test-deps)")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KUBECONFIG": str(mismatch.kubeconfig),
    }
    done = subprocess.run(
        [kubectl, "why5xx", "diagnose", "checkout", "-n", "shop", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert orjson.loads(done.stdout)["verdict"] == "selector-mismatch"
    help_text = subprocess.run(
        [kubectl, "why5xx", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    ).stdout
    assert help_text.startswith("usage: kubectl why5xx")


def test_krew_manifest_installs_the_entry_point() -> None:
    root = Path(__file__).parent.parent
    manifest = kubeyaml.load((root / "plugins" / "why5xx.yaml").read_text())
    assert manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "why5xx"
    platform = manifest["spec"]["platforms"][0]
    assert platform["bin"] == "kubectl-why5xx"
    assert 'kubectl-why5xx = "why5xx.cli:kubectl_plugin"' in (root / "pyproject.toml").read_text()
    launcher = subprocess.run(
        [str(root / "plugins" / "kubectl-why5xx"), "--version"],
        capture_output=True,
        text=True,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert launcher.stdout.startswith("why5xx ")


def test_a_refused_target_is_the_error(
    mismatch: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    mismatch.server.denies.append(Deny(resource="services", namespace="shop"))
    args = ["--kubeconfig", str(mismatch.kubeconfig), "-n", "shop"]
    reason = "cannot list services in shop: forbidden — the minimal Role is in docs/rbac.md"
    assert run(["diagnose", "checkout", *args], capsys) == (2, "", f"why5xx: error: {reason}\n")
    assert run(["diagnose", "--all", *args], capsys) == (2, "", f"why5xx: error: {reason}\n")


def test_every_kind_rules_read_is_readable_and_granted_by_the_documented_role() -> None:
    """A kind a rule declares (`inputs`, `reads`) needs a line in
    sources/kinds.py (where the API serves it) and a grant in the
    ClusterRole of docs/rbac.md, unless the live source withholds it."""
    declared = {kind for rule in RULES for kind in rule.kinds} - WITHHELD
    assert declared | set(NAMESPACE_KINDS) <= set(KINDS)
    rbac = (Path(__file__).parent.parent / "docs" / "rbac.md").read_text()
    role = kubeyaml.load(rbac.split("```yaml\n", 1)[1].split("```", 1)[0].split("\n---\n")[0])
    granted = {
        (group, resource)
        for grant in role["rules"]
        if {"get", "list"} <= set(grant["verbs"])
        for group in grant["apiGroups"]
        for resource in grant["resources"]
    }
    assert {(k.group, k.plural) for k in KINDS.values()} <= granted
