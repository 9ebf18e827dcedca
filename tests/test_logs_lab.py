"""Real nginx and HAProxy in front of misbehaving upstreams: `why5xx logs`
must classify what those servers actually wrote."""

from __future__ import annotations

import string
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

import loglab
from why5xx.logmodel import CauseSummary, LogSummary
from why5xx.sources.bundle import load_bundle
from why5xx.sources.logs import summarize_logs

REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
CLOSED = "upstream prematurely closed connection while reading response header from upstream"
RESET = "recv() failed (104: Connection reset by peer) while reading response header from upstream"
TIMED_OUT = (
    "upstream timed out (110: Connection timed out) while reading response header from upstream"
)
TOO_BIG = "upstream sent too big header while reading response header from upstream"


@dataclass(frozen=True)
class Run:
    directory: Path
    statuses: dict[str, list[int]]
    addresses: dict[str, str]  # route -> upstream address
    stopped_at: datetime  # when the rollout's old upstream stopped


def _cause_of(summary: LogSummary, address: str) -> CauseSummary:
    found = [c for c in summary.causes if any(u.address == address for u in c.upstreams)]
    assert len(found) == 1, (address, [(c.cause, c.signals) for c in summary.causes])
    return found[0]


def _concurrently(count: int, call: object) -> list[int]:
    assert callable(call)
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: int(call()), range(count)))


@pytest.fixture(scope="module")
def nginx_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    directory = tmp_path_factory.mktemp("nginx")
    port = loglab.free_port("127.0.0.2")
    old = loglab.Upstream("127.0.0.2", port, "ok").start()  # a pod of the old ReplicaSet
    new = loglab.Upstream("127.0.0.3", port, "ok").start()  # a pod of the new one
    specs = [(r, b) for r, b in (("refused", "refuse"), ("keepalive", "keepalive-close"))]
    specs += [("reset", "reset"), ("slow", "slow"), ("huge", "huge")]
    try:
        with loglab.upstreams(*specs) as up:
            routes = {route: ([up[route].address], "") for route, _ in specs}
            # A user's `proxy-next-upstream: "off"`: each failed try is the client's 502.
            routes["rollout"] = ([old.address, new.address], "proxy_next_upstream off;")
            statuses: defaultdict[str, list[int]] = defaultdict(list)
            with loglab.nginx(directory, routes) as proxy:
                for _ in range(4):
                    statuses["refused"].append(proxy.request("GET", "/refused"))
                    statuses["reset"].append(proxy.request("GET", "/reset"))
                    statuses["huge"].append(proxy.request("GET", "/huge"))
                    statuses["rollout-before"].append(proxy.request("GET", "/rollout"))
                for _ in range(6):  # every second POST reuses a connection the app closes
                    statuses["keepalive-post"].append(proxy.request("POST", "/keepalive", b"{}"))
                for _ in range(4):  # nginx silently retries an idempotent GET
                    statuses["keepalive-get"].append(proxy.request("GET", "/keepalive"))
                statuses["slow"] = _concurrently(3, lambda: proxy.request("GET", "/slow"))
                old.stop()  # SIGTERM without a preStop drain: still in the upstream list
                stopped_at = datetime.now(UTC)
                for _ in range(6):
                    statuses["rollout-after"].append(proxy.request("GET", "/rollout"))
                time.sleep(0.2)  # let the worker finish writing its last lines
            addresses = {route: up[route].address for route, _ in specs}
            addresses["rollout-old"] = old.address
            yield Run(directory, dict(statuses), addresses, stopped_at)
    finally:
        old.stop()
        new.stop()


@pytest.fixture(scope="module")
def nginx_summary(nginx_run: Run) -> LogSummary:
    logs = [str(nginx_run.directory / name) for name in ("access.log", "error.log")]
    return summarize_logs(logs)


def test_nginx_clients_saw_the_failures(nginx_run: Run) -> None:
    statuses = nginx_run.statuses
    assert statuses["refused"] == [502] * 4
    assert statuses["reset"] == [502] * 4
    assert statuses["huge"] == [502] * 4
    assert statuses["slow"] == [504] * 3
    assert statuses["keepalive-post"] == [200, 502] * 3
    assert statuses["keepalive-get"] == [200] * 4
    assert statuses["rollout-before"] == [200] * 4
    assert sorted(statuses["rollout-after"]) == [200] * 3 + [502] * 3


def test_nginx_logs_parse_whole(nginx_summary: LogSummary) -> None:
    access, error = nginx_summary.files
    assert (access.format, error.format) == ("ingress-nginx", "nginx-error")
    assert access.lines == 4 * 4 + 6 + 4 + 3 + 6
    assert access.unparsed == 0
    assert error.error is None
    assert nginx_summary.total_5xx == 4 + 4 + 4 + 3 + 3 + 3
    assert dict(nginx_summary.by_status) == {502: 18, 504: 3}


@pytest.mark.parametrize(
    ("route", "cause", "signal", "count"),
    [
        ("keepalive", "keepalive-race", CLOSED, 3),
        ("reset", "keepalive-race", RESET, 4),
        ("slow", "upstream-timeout", TIMED_OUT, 3),
        ("huge", "upstream-header-too-big", TOO_BIG, 4),
        # A refused connection alone does not say why; the cluster does (below).
        ("refused", "unclassified", REFUSED, 4),
        ("rollout-old", "unclassified", REFUSED, 3),
    ],
)
def test_nginx_5xx_are_classified(
    nginx_run: Run, nginx_summary: LogSummary, route: str, cause: str, signal: str, count: int
) -> None:
    address = nginx_run.addresses[route]
    found = _cause_of(nginx_summary, address)
    assert found.cause == cause
    assert signal in dict(found.signals)
    assert next(u.count for u in found.upstreams if u.address == address) == count


def test_nginx_json_log_says_the_same(nginx_run: Run, nginx_summary: LogSummary) -> None:
    logs = [str(nginx_run.directory / name) for name in ("access.json", "error.log")]
    summary = summarize_logs(logs)
    assert summary.files[0].format == "nginx-json"
    assert summary.files[0].unparsed == 0
    assert summary.by_status == nginx_summary.by_status

    def shape(s: LogSummary) -> set[tuple[str, str, int]]:
        return {(c.cause, t, n) for c in s.causes for t, n in c.signals}

    assert shape(summary) == shape(nginx_summary)


def _rollout_bundle(directory: Path, run: Run) -> Path:
    """What `kubectl get -o yaml` showed during that rollout: the old pod
    (127.0.0.2) terminating, the new one (127.0.0.3) ready."""
    template = string.Template(
        (Path(__file__).parent / "logs" / "lab-rollout-bundle.yaml").read_text()
    )
    text = template.substitute(
        stopped=run.stopped_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        port=run.addresses["rollout-old"].split(":")[1],
        owner="{apiVersion: apps/v1, kind: Deployment, name: web, uid: u-dep, controller: true}",
    )
    path = directory / "bundle.yaml"
    path.write_text(text)
    return path


def test_nginx_rollout_502s_are_named_with_the_cluster(nginx_run: Run, tmp_path: Path) -> None:
    bundle = load_bundle([str(_rollout_bundle(tmp_path, nginx_run))])
    assert not bundle.errors, bundle.errors
    logs = [str(nginx_run.directory / name) for name in ("access.log", "error.log")]
    summary = summarize_logs(logs, snapshot=bundle.snapshot())
    found = _cause_of(summary, nginx_run.addresses["rollout-old"])
    assert found.cause == "rollout-no-prestop"
    pod = found.upstreams[0].pod
    assert pod is not None
    assert (pod.ref, pod.state, pod.revision) == ("lab/web-5d4f8c7b9d-old01", "terminating", "1")
    assert any("old ReplicaSet web-5d4f8c7b9d (revision 1)" in s for s in summary.insights)
    # Upstreams outside the cluster stay as the signal alone says.
    assert _cause_of(summary, nginx_run.addresses["slow"]).cause == "upstream-timeout"


@pytest.fixture(scope="module")
def haproxy_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    directory = tmp_path_factory.mktemp("haproxy")
    specs = [("refused", "refuse"), ("down", "refuse"), ("slow", "slow"), ("reset", "reset")]
    specs += [("huge", "huge"), ("queue", "slow")]
    with loglab.upstreams(*specs) as up:
        backends = {
            r: f"  server s1 {up[r].address}\n" for r, _ in specs if r not in ("down", "queue")
        }
        backends["queue"] = f"  server s1 {up['queue'].address} maxconn 1\n"
        backends["down"] = f"  server s1 {up['down'].address} check inter 100ms fall 1 rise 1\n"
        statuses: defaultdict[str, list[int]] = defaultdict(list)
        with loglab.haproxy(directory, backends) as proxy:
            loglab.wait_for(directory / "haproxy.log", "down/s1 is DOWN")  # the health check
            for _ in range(3):
                for route in ("refused", "down", "reset", "huge"):
                    statuses[route].append(proxy.request("GET", f"/{route}"))
            statuses["slow"] = _concurrently(2, lambda: proxy.request("GET", "/slow"))
            statuses["queue"] = _concurrently(3, lambda: proxy.request("GET", "/queue"))
            time.sleep(0.2)
        yield Run(
            directory, dict(statuses), {r: up[r].address for r, _ in specs}, datetime.now(UTC)
        )


def test_haproxy_logs_are_classified(haproxy_run: Run) -> None:
    summary = summarize_logs([str(haproxy_run.directory / "haproxy.log")])
    access = summary.files[0]
    assert access.format == "haproxy"
    statuses = haproxy_run.statuses
    assert statuses["refused"] == [503] * 3
    assert statuses["down"] == [503] * 3
    assert statuses["reset"] == [502] * 3
    assert statuses["huge"] == [502] * 3
    assert statuses["slow"] == [504] * 2
    assert sorted(statuses["queue"]) == [503, 503, 504]
    signals = {
        (cause.cause, signal): count for cause in summary.causes for signal, count in cause.signals
    }
    assert signals == {
        ("unclassified", "SC--: the server refused the TCP connection"): 3,
        ("unclassified", "SC--: <NOSRV>, no server available in the backend"): 3,
        ("keepalive-race", "SH--: the server aborted before sending its full headers"): 3,
        ("unclassified", "PH--: HAProxy blocked an invalid or too large response"): 3,
        ("upstream-timeout", "sH--: timeout server struck before the server sent its headers"): 3,
        (
            "connection-pool-exhausted",
            "sQ--: the request waited in the queue too long (maxconn reached)",
        ): 2,
    }
    assert summary.total_5xx == 3 + 3 + 3 + 3 + 2 + 3
    assert access.unparsed == 0  # HAProxy's own messages in the stream are recognised
