"""Correlation, classification to cause ids, and the `why5xx/logs/v1` document."""

from __future__ import annotations

from pathlib import Path

import orjson

import logfixtures as fx
from why5xx.sources.logs import summarize_logs
from why5xx.sources.logs.aggregate import Aggregator
from why5xx.sources.logs.ingress_nginx import parse_text

ACCESS = (
    '10.0.0.9 - - [20/Nov/2026:{time} +0200] "POST /pay HTTP/1.1" {status} 150 "-" "curl/8" 300 '
    "0.003 [shop-checkout-8080] [] {upstream} 0 0.002 {status} 0123456789abcdef"
)
ERROR = (
    "2026/11/20 {time} [error] 7#7: *{n} {message}, client: 10.0.0.9, server: shop.example, "
    'request: "POST /pay HTTP/1.1", upstream: "http://{upstream}/pay", host: "shop.example"'
)
CLOSED = "upstream prematurely closed connection while reading response header from upstream"
REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_access_and_error_logs_are_joined_by_upstream_and_time(tmp_path: Path) -> None:
    # The error log has no zone: it is read in the access log's (+02:00).
    access = [
        ACCESS.format(time="08:50:12", status=502, upstream="10.244.1.20:8080"),
        ACCESS.format(time="08:50:13", status=502, upstream="10.244.1.20:8080"),
        ACCESS.format(time="08:51:00", status=502, upstream="10.244.2.7:8080"),
        ACCESS.format(time="08:51:01", status=200, upstream="10.244.2.7:8080"),
    ]
    errors = [
        ERROR.format(time="08:50:12", n=1, message=CLOSED, upstream="10.244.1.20:8080"),
        ERROR.format(time="08:50:13", n=2, message=CLOSED, upstream="10.244.1.20:8080"),
        ERROR.format(time="08:51:00", n=3, message=REFUSED, upstream="10.244.2.7:8080"),
    ]
    summary = summarize_logs(
        [_write(tmp_path / "access.log", access), _write(tmp_path / "error.log", errors)]
    )
    assert [f.format for f in summary.files] == ["ingress-nginx", "nginx-error"]
    assert summary.total_5xx == 3
    # Two closes are too few to call a keep-alive race: candidates, ranked by
    # how many lines fit each (a refusal fits a rollout best).
    (joined,) = summary.causes
    assert joined.cause == "unclassified"
    assert joined.signals == ((CLOSED, 2), (REFUSED, 1))
    assert joined.candidates[:2] == ("rollout-no-prestop", "keepalive-race")
    assert joined.upstreams[0].address == "10.244.1.20:8080"
    assert joined.first.isoformat() == "2026-11-20T06:50:12+00:00"
    assert joined.example.startswith("10.0.0.9 - -")  # what the user saw


def test_an_error_far_from_the_access_line_does_not_explain_it(tmp_path: Path) -> None:
    access = [ACCESS.format(time="08:50:12", status=502, upstream="10.244.1.20:8080")]
    errors = [ERROR.format(time="09:50:12", n=1, message=CLOSED, upstream="10.244.1.20:8080")]
    summary = summarize_logs([_write(tmp_path / "a.log", access + errors)])
    assert summary.causes[0].cause == "unclassified"
    assert summary.causes[0].signal.startswith("502, upstream_status 502")


def test_retries_through_timeouts_find_their_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "mixed.log", [fx.NGINX_9443_ERROR, fx.NGINX_9443_ACCESS])
    cause = summarize_logs([path]).causes[0]
    assert cause.signal.endswith("while connecting to upstream")
    # A connect timeout is no slow backend: a pod IP that drops packets (the
    # thread's NetworkPolicy), a pod gone, or only then a timeout; the line
    # alone cannot tell them apart.
    assert cause.cause == "unclassified"
    assert cause.candidates == ("network-policy-block", "rollout-no-prestop", "upstream-timeout")


def test_error_logs_alone_stand_for_the_requests(tmp_path: Path) -> None:
    errors = [
        ERROR.format(time="08:50:12", n=1, message=CLOSED, upstream="10.244.1.20:8080"),
        # The body was already on its way: not a 5xx.
        ERROR.format(
            time="08:50:13",
            n=2,
            message="upstream prematurely closed connection while reading upstream",
            upstream="10.244.1.20:8080",
        ),
    ]
    summary = summarize_logs([_write(tmp_path / "error.log", errors)])
    assert summary.total_5xx == 1
    assert summary.causes[0].signal == CLOSED
    assert summary.causes[0].candidates[0] == "keepalive-race"


def test_identical_lines_fold_into_one_counter() -> None:
    into = Aggregator()
    line = parse_text(ACCESS.format(time="08:50:12", status=502, upstream="10.244.1.20:8080"))
    assert line is not None
    for _ in range(10_000):
        into.add(line)
    groups = into.groups()
    assert len(groups) == 1
    assert groups[0].count == 10_000


def test_the_json_document_keeps_the_contract(tmp_path: Path) -> None:
    access = [
        ACCESS.format(time=f"08:5{m}:0{s}", status=code, upstream="10.244.1.20:8080")
        for m, s, code in ((0, 1, 503), (0, 2, 504), (1, 3, 500), (2, 4, 504))
    ]
    document = orjson.loads(
        orjson.dumps(summarize_logs([_write(tmp_path / "a.log", access)]).to_json())
    )
    assert document["schema"] == "why5xx/logs/v1"
    assert document["files"] == [
        {
            "path": str(tmp_path / "a.log"),
            "format": "ingress-nginx",
            "lines": 4,
            "unparsed": 0,
            "recognised": 4,
            "recognised_by": {"ingress-nginx": 4},
        }
    ]
    assert document["total_5xx"] == 4
    assert document["by_status"] == {"500": 1, "503": 1, "504": 2}
    causes = document["causes"]
    assert [c["cause"] for c in causes] == ["unclassified", "upstream-timeout"]
    assert [c["count"] for c in causes] == [2, 2]
    for cause in causes:
        assert set(cause) >= {
            "cause",
            "count",
            "share",
            "signal",
            "upstreams",
            "first",
            "last",
            "example",
        }
        assert cause["first"].endswith("Z")
    assert causes[1]["share"] == 0.5
    timeline = document["timeline"]
    assert timeline["bucket_seconds"] == 5
    assert sum(timeline["services"]["shop-checkout-8080"]) == 4
