"""`why5xx watch` against the fake API server: list and watch streams as a
real API server sends them (added, modified, deleted, bookmarks, 410 Gone,
dropped connections), read back through `/metrics` as Prometheus scrapes it."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fakeapi.fixtures import CONTEXT, FakeCluster, StartCluster
from why5xx.leader import Elector
from why5xx.sources.kubeapi import KubeApi, load_config
from why5xx.watch import WATCHED, Metrics, Watcher, serve

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "selector-version-bump" / "shop.yaml"
FINDING = ("shop", "checkout", "selector-mismatch", "critical")


def _items() -> dict[tuple[str, str], dict[str, Any]]:
    listed = yaml.safe_load(SHOP.read_text())["items"]
    return {(item["kind"], item["metadata"]["name"]): item for item in listed}


LABELS = ("namespace", "service", "cause", "severity", "kind", "reason")


def samples(port: int, name: str) -> dict[tuple[str, ...], float]:
    """One metric's samples, by their label values (in the order of
    `LABELS`), as a scrape reads them."""
    text = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                key = tuple(sample.labels[k] for k in LABELS if k in sample.labels)
                found[key] = sample.value
    return found


def eventually(check: Callable[[], bool], seconds: float = 45) -> None:
    """Polls `check`; generous, as a loaded CI machine is slow (a pass takes ~1 s)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


@dataclass
class Watching:
    cluster: FakeCluster
    watcher: Watcher
    port: int

    def findings(self) -> set[tuple[str, ...]]:
        return {labels for labels, value in samples(self.port, "why5xx_findings").items() if value}

    def restarts(self, reason: str) -> float:
        counted = samples(self.port, "why5xx_watch_restarts_total")
        return sum(value for labels, value in counted.items() if labels[1] == reason)


@pytest.fixture
def watching(fake_cluster: StartCluster) -> Iterator[Watching]:
    cluster = fake_cluster([SHOP], bookmark_seconds=0.2)
    api = KubeApi(load_config(str(cluster.kubeconfig), CONTEXT), timeout=5)
    watcher = Watcher(api, ["shop"], Metrics(), debounce=0.1, watch_seconds=5, pause=0.05)
    server = serve(watcher, ("127.0.0.1", 0))
    watcher.start()
    try:
        yield Watching(cluster=cluster, watcher=watcher, port=server.server_address[1])
    finally:
        watcher.close()
        server.shutdown()
        api.close()


def test_a_failing_service_is_exported_within_seconds_of_start(watching: Watching) -> None:
    eventually(lambda: FINDING in watching.findings())
    assert watching.findings() == {FINDING}  # cart is healthy: no series for it
    ready = samples(watching.port, "why5xx_ready_endpoints")
    assert ready == {("shop", "cart"): 2.0, ("shop", "checkout"): 0.0}
    base = f"http://127.0.0.1:{watching.port}"
    assert httpx2.get(f"{base}/readyz").status_code == 200
    assert httpx2.get(f"{base}/healthz").text == "ok\n"
    assert httpx2.get(f"{base}/nope").status_code == 404


def test_dropped_watches_and_410_gone_neither_lose_nor_double_a_finding(
    watching: Watching,
) -> None:
    eventually(lambda: FINDING in watching.findings())
    server = watching.cluster.server

    server.drop_connections()
    eventually(lambda: watching.restarts("broken") >= 1)
    server.store.compact()  # the history is gone: watches from before answer 410
    server.store.put({**_items()[("Service", "cart")]})  # a change the watchers must see
    server.drop_connections()
    eventually(lambda: watching.restarts("gone") >= 1)
    assert watching.findings() == {FINDING}

    # Still watching after the relist: a Service that selects nothing appears.
    broken = copy.deepcopy(_items()[("Service", "cart")])
    broken["metadata"].update(name="cart-v2", uid="2b1f8f2e-0000-4000-8000-000000000001")
    broken["spec"]["selector"] = {"app": "cart", "track": "canary"}
    server.store.put(broken)
    eventually(lambda: any(f[1] == "cart-v2" for f in watching.findings()))
    assert len([f for f in watching.findings() if f[1] == "checkout"]) == 1


def test_a_fixed_service_clears_its_finding_and_a_deleted_one_its_series(
    watching: Watching,
) -> None:
    eventually(lambda: FINDING in watching.findings())
    items = _items()
    service = copy.deepcopy(items[("Service", "checkout")])
    service["spec"]["selector"]["version"] = "v2"
    slice_ = copy.deepcopy(items[("EndpointSlice", "checkout-rhzgw")])
    pods = [item for (kind, name), item in items.items() if kind == "Pod" and "checkout" in name]
    slice_["endpoints"] = [
        {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": "shop"},
        }
        for pod in pods
    ]
    store = watching.cluster.server.store
    store.put(service)
    store.put(slice_)
    eventually(lambda: not watching.findings())
    eventually(lambda: samples(watching.port, "why5xx_ready_endpoints")[("shop", "checkout")] == 3)

    store.remove("v1", "Service", "shop", "cart")
    eventually(lambda: ("shop", "cart") not in samples(watching.port, "why5xx_ready_endpoints"))


def test_draining_endpoints_trigger_a_diagnosis(watching: Watching) -> None:
    eventually(lambda: FINDING in watching.findings())
    before = samples(watching.port, "why5xx_diagnosis_seconds_count")[()]
    slice_ = copy.deepcopy(_items()[("EndpointSlice", "cart-5q5q8")])
    for endpoint in slice_["endpoints"]:
        endpoint["conditions"] = {"ready": False, "serving": True, "terminating": True}
    watching.cluster.server.store.put(slice_)
    eventually(lambda: samples(watching.port, "why5xx_diagnosis_seconds_count")[()] > before)
    eventually(lambda: any(f[1] == "cart" for f in watching.findings()))


class _Hook(BaseHTTPRequestHandler):
    posted: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.posted.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_command_watches_posts_to_the_webhook_and_stops_on_sigterm(
    fake_cluster: StartCluster,
) -> None:
    cluster = fake_cluster([SHOP])
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    port = _free_port()
    command = [sys.executable, "-m", "why5xx", "watch", "-n", "shop", "--debounce", "0"]
    command += ["--kubeconfig", str(cluster.kubeconfig), "--context", CONTEXT]
    command += ["--metrics-address", f"127.0.0.1:{port}"]
    command += ["--webhook", f"http://127.0.0.1:{hook.server_address[1]}/hook"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, env=os.environ.copy())
    try:

        def exported() -> bool:
            try:
                found = samples(port, "why5xx_findings")
            except httpx2.HTTPError:
                return False
            return found.get(FINDING) == 1.0

        eventually(exported, seconds=60)
        eventually(lambda: bool(_Hook.posted))
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
        hook.shutdown()
    assert code == 0
    posted = _Hook.posted[0]
    assert "shop/checkout" in posted["text"]
    assert "selector-mismatch" in posted["text"]
    assert posted["report"]["verdict"] == "selector-mismatch"
    assert len(_Hook.posted) == 1  # one finding, posted once


@dataclass
class Replica:
    """A watcher with its metrics endpoint, started."""

    watcher: Watcher
    port: int
    closers: list[Callable[[], None]]

    def stop(self) -> None:
        if not self.watcher.stop.is_set():
            self.watcher.close()
            for close in self.closers:
                close()


def _replica(cluster: FakeCluster, **options: Any) -> Replica:
    api = KubeApi(load_config(str(cluster.kubeconfig), CONTEXT), timeout=5)
    options = {"debounce": 0.1, "watch_seconds": 5, "pause": 0.05, **options}
    watcher = Watcher(api, ["shop"], Metrics(), **options)
    server = serve(watcher, ("127.0.0.1", 0))
    watcher.start()
    return Replica(
        watcher=watcher, port=server.server_address[1], closers=[server.shutdown, api.close]
    )


def _findings(port: int) -> set[tuple[str, ...]]:
    return {labels for labels, value in samples(port, "why5xx_findings").items() if value}


def test_events_are_posted_once_per_new_finding(fake_cluster: StartCluster) -> None:
    cluster = fake_cluster([SHOP], writable=("events",))
    replica = _replica(cluster, events=True)
    store = cluster.server.store
    resource = next(r for r in store.resources if r.plural == "events" and not r.group)

    def ours() -> list[Any]:
        found, _ = store.select(resource, "shop", (), ())
        return [s.raw for s in found if s.raw.get("reason") == "Why5xx"]

    try:
        eventually(lambda: FINDING in _findings(replica.port))
        eventually(lambda: bool(ours()))
        store.put({**_items()[("Service", "cart")]})  # more changes: no second Event
        time.sleep(0.5)
    finally:
        replica.stop()
    (event,) = ours()
    assert event["involvedObject"]["name"] == "checkout"
    assert event["type"] == "Warning"
    assert event["message"].startswith("selector-mismatch: ")
    posts = [c for c in cluster.server.calls if c.method == "POST"]
    assert [c.path for c in posts] == ["/api/v1/namespaces/shop/events"]


def test_of_two_replicas_only_the_leader_reports_and_the_other_takes_over(
    fake_cluster: StartCluster,
) -> None:
    cluster = fake_cluster([SHOP], writable=("leases",))
    replicas: dict[str, tuple[Replica, Elector]] = {}
    for identity in ("replica-a", "replica-b"):
        api = KubeApi(load_config(str(cluster.kubeconfig), CONTEXT), timeout=5)
        elector = Elector(api, "shop", "why5xx", identity, duration=1.0, retry=0.1)
        replicas[identity] = (_replica(cluster, elector=elector), elector)

    def leaders() -> list[str]:
        return [name for name, (_, elector) in replicas.items() if elector.leading.is_set()]

    try:
        eventually(lambda: len(leaders()) == 1)
        first = leaders()[0]
        other = next(name for name in replicas if name != first)
        eventually(lambda: FINDING in _findings(replicas[first][0].port))
        time.sleep(0.5)
        assert _findings(replicas[other][0].port) == set()  # never reported twice

        replicas[first][0].stop()  # releases the Lease
        eventually(lambda: leaders() == [other])
        eventually(lambda: FINDING in _findings(replicas[other][0].port))
    finally:
        for replica, _ in replicas.values():
            replica.stop()
    store = cluster.server.store
    leases = next(r for r in store.resources if r.plural == "leases")
    lease = store.get(leases, "shop", "why5xx")
    assert lease is not None
    assert lease.raw["spec"]["leaseTransitions"] >= 1


def test_each_namespace_is_watched_and_a_cluster_scoped_kind_once(
    fake_cluster: StartCluster,
) -> None:
    cluster = fake_cluster([SHOP])
    api = KubeApi(load_config(str(cluster.kubeconfig), CONTEXT), timeout=5)
    watcher = Watcher(api, ["shop", "payments"], Metrics())
    scopes = [(r.spec.kind, r.namespace) for r in watcher._reflectors]
    api.close()
    assert scopes.count(("IngressClass", None)) == 1
    assert ("Service", "shop") in scopes
    assert ("Service", "payments") in scopes
    assert len(scopes) == 2 * (len(WATCHED) - 1) + 1
