"""Upstream -> pod through a snapshot: live, terminating and gone pods, their
ReplicaSet revision, and what logs and cluster say together."""

from __future__ import annotations

from pathlib import Path

import pytest

from why5xx.logmodel import LogSummary
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources.bundle import load_bundle
from why5xx.sources.logs import summarize_logs
from why5xx.sources.logs.cluster import pod_resolver, split_address, target_services

BUNDLE = Path(__file__).parent / "logs" / "rollout-bundle.yaml"
ACCESS = (
    '10.0.0.9 - - [20/Nov/2026:{time} +0000] "POST /pay HTTP/1.1" 502 150 "-" "curl/8" 300 '
    "0.001 [shop-checkout-8080] [] {upstream} 0 0.001 502 0123456789abcdef"
)
ERROR = (
    "2026/11/20 {time} [error] 7#7: *1 {message}, client: 10.0.0.9, server: shop.example, "
    'request: "POST /pay HTTP/1.1", upstream: "http://{upstream}/pay", host: "shop.example"'
)
REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
CLOSED = "upstream prematurely closed connection while reading response header from upstream"


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    bundle = load_bundle([str(BUNDLE)])
    assert not bundle.errors
    return bundle.snapshot()


def _lines(entries: list[tuple[str, str, str]]) -> list[str]:
    out: list[str] = []
    for time, upstream, message in entries:
        out.append(ERROR.format(time=time, upstream=upstream, message=message))
        out.append(ACCESS.format(time=time, upstream=upstream))
    return out


@pytest.fixture
def summary(snap: Snapshot, tmp_path: Path) -> LogSummary:
    entries = [(f"08:51:{s:02d}", "10.244.1.20:8080", REFUSED) for s in range(3, 41, 4)]
    entries += [
        ("08:51:05", "10.244.1.21:8080", REFUSED),
        ("08:51:06", "10.244.1.21:8080", REFUSED),
    ]
    entries += [("08:40:00", "10.244.1.30:8080", CLOSED)]
    path = tmp_path / "controller.log"
    path.write_text("\n".join(_lines(entries)) + "\n")
    return summarize_logs([str(path)], snapshot=snap)


def test_live_terminating_and_gone_pods_are_named(snap: Snapshot) -> None:
    resolve = pod_resolver(snap)
    live = resolve("10.244.1.30:8080")
    assert live is not None
    assert (live.ref, live.state, live.revision, live.current) == (
        "shop/checkout-7c5d9f8b6a-k8p2z",
        "running",
        "2",
        True,
    )
    assert live.port_declared is True
    terminating = resolve("10.244.1.20:8080")  # only the EndpointSlice still lists it
    assert terminating is not None
    assert (terminating.ref, terminating.state, terminating.revision, terminating.current) == (
        "shop/checkout-6f9c7d8b5d-x2m4q",
        "terminating",
        "1",
        False,
    )
    assert terminating.gone_since is not None
    assert terminating.gone_since.isoformat() == "2026-11-20T08:51:02+00:00"
    gone = resolve("10.244.1.21:8080")  # only a probe event names it
    assert gone is not None
    assert (gone.ref, gone.state, gone.replicaset) == (
        "shop/checkout-6f9c7d8b5d-q9w4e",
        "gone",
        "checkout-6f9c7d8b5d",
    )
    assert resolve("10.9.9.9:80") is None


def test_refused_from_old_pods_after_scale_down_is_the_rollout(summary: LogSummary) -> None:
    causes = {c.cause: c for c in summary.causes}
    # One premature close cannot show a keep-alive race: it stays unclassified,
    # with the race as its first candidate.
    assert set(causes) == {"rollout-no-prestop", "unclassified"}
    rollout = causes["rollout-no-prestop"]
    assert rollout.count == 12
    pods = {u.address: u.pod.ref for u in rollout.upstreams if u.pod is not None}
    assert pods == {
        "10.244.1.20:8080": "shop/checkout-6f9c7d8b5d-x2m4q",
        "10.244.1.21:8080": "shop/checkout-6f9c7d8b5d-q9w4e",
    }
    # The new pod's early 502 is not blamed on the rollout.
    assert causes["unclassified"].upstreams[0].pod is not None
    assert causes["unclassified"].candidates[0] == "keepalive-race"
    assert summary.insights == (
        "92% of shop-checkout-8080 502s came from pods of the old ReplicaSet checkout-6f9c7d8b5d "
        "(revision 1) "
        "in the 37 s after it began to go (08:51:02 UTC)",
    )


def test_events_are_placed_on_the_timeline(summary: LogSummary) -> None:
    timeline = summary.timeline
    assert timeline is not None
    reasons = [(e.reason, e.object) for e in timeline.events]
    assert ("ScalingReplicaSet", "Deployment/shop/checkout") in reasons
    scaled = next(e for e in timeline.events if e.reason == "ScalingReplicaSet")
    counts = dict(timeline.services)["shop-checkout-8080"]
    assert counts[scaled.bucket] > 0  # the burst shares the scale-down's bucket


def test_json_names_pods(summary: LogSummary) -> None:
    upstream = summary.to_json()["causes"][0]["upstreams"][0]
    assert upstream["pod"] == "shop/checkout-6f9c7d8b5d-x2m4q"
    assert upstream["pod_state"] == "terminating"
    assert upstream["revision"] == "1"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.1:80", ("10.0.0.1", 80)),
        ("[fd00::1]:8080", ("fd00::1", 8080)),
        ("fd00::1", ("fd00::1", None)),
        ("srv1", ("srv1", None)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int | None]) -> None:
    assert split_address(address) == expected


def test_target_services_follow_ingresses_and_httproutes_across_namespaces() -> None:
    raw = [
        {"kind": "Service", "metadata": {"name": "api", "namespace": "shop"}},
        {"kind": "Service", "metadata": {"name": "web", "namespace": "shop"}},
        {
            "kind": "Ingress",
            "metadata": {"name": "front", "namespace": "shop"},
            "spec": {
                "rules": [
                    {
                        "http": {
                            "paths": [
                                {"backend": {"service": {"name": "web", "port": {"number": 80}}}}
                            ]
                        }
                    }
                ]
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "gateway"},
            "spec": {
                "rules": [{"backendRefs": [{"name": "api", "namespace": "shop", "port": 80}]}]
            },
        },
    ]
    snap = Snapshot.build([Obj.from_raw(o, "test") for o in raw])

    def names(kind: str, namespace: str, name: str) -> list[str]:
        return [str(s.ref) for s in target_services(snap, kind, namespace, name)]

    assert names("HTTPRoute", "gateway", "r") == ["Service/shop/api"]
    assert names("Ingress", "shop", "front") == ["Service/shop/web"]
    assert names("Service", "shop", "api") == ["Service/shop/api"]
    assert names("HTTPRoute", "gateway", "missing") == []
