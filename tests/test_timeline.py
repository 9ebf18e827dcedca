"""The report's timeline: what it takes from events, status times,
EndpointSlices and logs, and what it marks as the verdict's evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from reports.cases import HOSTILE, HOSTILE_SERVICE
from why5xx.cli import main
from why5xx.engine import Target, diagnose
from why5xx.model import Lane, Timeline
from why5xx.sources.bundle import load_bundle
from why5xx.sources.logs import summarize_for, target_services
from why5xx.timeline import build

ROLLOUT = Path(__file__).parent / "logs" / "rollout-bundle.yaml"
ACCESS = (
    '10.0.0.9 - - [20/Nov/2026:08:51:{s:02d} +0000] "GET /pay HTTP/1.1" 502 150 "-" "curl/8" '
    "300 0.002 [shop-checkout-8080] [] {upstream} 0 0.002 502 0123456789abcdef"
)
REFUSED = (
    "2026/11/20 08:51:{s:02d} [error] 7#7: *1 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 10.0.0.9, server: shop.example, request: "GET /pay HTTP/1.1", '
    'upstream: "http://{upstream}/pay", host: "shop.example"'
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rollout_timeline(tmp_path: Path, with_logs: bool) -> tuple[str, Timeline]:
    snap = load_bundle([str(ROLLOUT)]).snapshot()
    logs = None
    if with_logs:
        log = tmp_path / "access.log"
        lines = [
            line.format(s=s, upstream="10.244.1.20:8080")
            for s in range(3, 40, 3)
            for line in (REFUSED, ACCESS)
        ]
        log.write_text("\n".join(lines) + "\n")
        logs = summarize_for([str(log)], snap, target_services(snap, "Service", "shop", "checkout"))
    report = diagnose(snap, Target.parse("checkout", "shop"), logs=logs)
    return report.verdict, build(snap, report, logs)


def test_rollout_moments_include_gone_pods_and_the_old_replicaset(tmp_path: Path) -> None:
    _, timeline = rollout_timeline(tmp_path, with_logs=False)
    seen = {(m.lane, str(m.object), m.label) for m in timeline.moments}
    assert (Lane.ROLLOUT, "Deployment/shop/checkout", "ScalingReplicaSet") in seen
    assert (Lane.PODS, "Pod/shop/checkout-7c5d9f8b6a-k8p2z", "Created") in seen
    # A pod the snapshot no longer holds, known from its probe event only.
    assert (Lane.PROBES, "Pod/shop/checkout-6f9c7d8b5d-q9w4e", "Unhealthy") in seen
    assert timeline.now == at("2026-11-20T08:51:04")
    assert [m.time for m in timeline.moments] == sorted(m.time for m in timeline.moments)


def test_endpoints_rebuilt_from_pods_end_with_the_endpointslices(tmp_path: Path) -> None:
    _, timeline = rollout_timeline(tmp_path, with_logs=False)
    series = {s.name: s.points for s in timeline.series if s.lane is Lane.ENDPOINTS}
    # The new pod: created not ready at 08:50:40, ready at 08:50:58.
    assert series["ready"][:2] == ((at("2026-11-20T08:50:40"), 0), (at("2026-11-20T08:50:58"), 1))
    assert series["not-ready"][:2] == (
        (at("2026-11-20T08:50:40"), 1),
        (at("2026-11-20T08:50:58"), 0),
    )
    # At the snapshot, the EndpointSlice also lists the old pod, terminating.
    assert series["ready"][-1][1] == 1
    assert series["terminating"][-1] == (timeline.now, 1)


def test_logs_add_5xx_per_status_and_upstream_pod_marked_as_evidence(tmp_path: Path) -> None:
    verdict, timeline = rollout_timeline(tmp_path, with_logs=True)
    assert verdict == "rollout-no-prestop"
    status = [s for s in timeline.series if s.lane is Lane.STATUS]
    assert [(s.name, sum(v for _, v in s.points), s.evidence) for s in status] == [
        ("502", 13, True)
    ]
    upstream = [s for s in timeline.series if s.lane is Lane.UPSTREAM]
    assert [(s.name, s.evidence) for s in upstream] == [("shop/checkout-6f9c7d8b5d-x2m4q", True)]
    # From the first 502 to the end of the second of the last one.
    assert timeline.window == (at("2026-11-20T08:51:03"), at("2026-11-20T08:51:40"))
    assert timeline.end >= at("2026-11-20T08:51:39")


def test_evidence_marks_only_the_verdicts_objects(tmp_path: Path) -> None:
    snap = load_bundle([str(HOSTILE)]).snapshot()
    report = diagnose(snap, Target.parse(f"svc/{HOSTILE_SERVICE}", "shop"))
    timeline = build(snap, report)
    evidence = {str(e.object) for e in report.findings[0].evidence}
    assert {str(m.object) for m in timeline.moments if m.evidence} <= evidence
    assert any(m.evidence for m in timeline.moments)
    assert not all(m.evidence for m in timeline.moments)  # the Deployment's scaling is not


def test_history_older_than_a_day_is_left_out(tmp_path: Path) -> None:
    old = HOSTILE.read_text().replace(
        'creationTimestamp: "2026-11-20T08:40:00Z"', 'creationTimestamp: "2026-10-01T08:40:00Z"'
    )
    bundle = tmp_path / "old.yaml"
    bundle.write_text(old)
    snap = load_bundle([str(bundle)]).snapshot()
    timeline = build(snap, diagnose(snap, Target.parse(f"svc/{HOSTILE_SERVICE}", "shop")))
    assert timeline.omitted == 1  # the ReplicaSet's creation
    assert timeline.start >= at("2026-11-19T08:40:30")


def test_json_has_the_timeline_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["diagnose", "checkout", "-n", "shop", "--bundle", str(ROLLOUT), "-o", "json"]
    for extra, present in (([], False), (["--timeline"], True)):
        with pytest.raises(SystemExit):
            main([*base, *extra])
        document = orjson.loads(capsys.readouterr().out)
        assert ("timeline" in document) is present
    assert document["timeline"]["now"] == "2026-11-20T08:51:04Z"
    assert {m["lane"] for m in document["timeline"]["moments"]} == {"rollout", "pods", "probes"}


INCIDENT = Path(__file__).parents[1] / "docs" / "report" / "rollout"


def test_a_rolling_update_keeps_the_ready_count_of_its_surge() -> None:
    """The README's incident: maxSurge 1, maxUnavailable 0 over 3 replicas. The two
    old pods gone from the snapshot count until their Killing event; the one still
    terminating was ready until its Ready condition turned False."""
    snap = load_bundle([str(INCIDENT / "shop.yaml")]).snapshot()
    timeline = build(snap, diagnose(snap, Target.parse("checkout", "shop")))
    ready = {s.name: [v for _, v in s.points] for s in timeline.series}
    assert ready["ready"] == [3, 4, 3, 4, 3, 4, 3]
    assert ready["not-ready"] == [1, 0, 1, 0, 1, 0]
    assert ready["terminating"] == [0, 1]
    assert timeline.start == at("2026-11-20T08:50:40")
