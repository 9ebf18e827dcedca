"""`diagnose --logs`: the proxy logs change the verdict where cluster state
alone cannot tell (a keep-alive race, a timeout), and confirm and re-rank a
rule's finding (a rollout's 502s from the old ReplicaSet)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import logfixtures as fx
from why5xx.cli import main
from why5xx.engine import Target, diagnose
from why5xx.model import Report
from why5xx.sources.bundle import load_bundle
from why5xx.sources.logs import summarize_for, summarize_logs, target_services

HERE = Path(__file__).parent / "logs"
STEADY, ROLLOUT = HERE / "steady-bundle.yaml", HERE / "rollout-bundle.yaml"
ACCESS = (
    '10.0.0.9 - - [20/Nov/2026:{time} +0000] "{method} /pay HTTP/1.1" {status} 150 "-" "curl/8" '
    "300 {took} [{service}] [] {upstream} 0 {took} {status} 0123456789abcdef"
)
ERROR = (
    "2026/11/20 {time} [error] 7#7: *1 {message}, client: 10.0.0.9, server: shop.example, "
    'request: "{method} /pay HTTP/1.1", upstream: "http://{upstream}/pay", host: "shop.example"'
)
CLOSED = "upstream prematurely closed connection while reading response header from upstream"
REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
TIMED_OUT = (
    "upstream timed out (110: Connection timed out) while reading response header from upstream"
)


def _log(path: Path, entries: list[tuple[str, str, int, str, str]]) -> str:
    """(time, upstream, status, method, error message) -> the controller's interleaved log."""
    lines = []
    for time, upstream, status, method, message in entries:
        took = "60.001" if status == 504 else "0.002"
        if message:
            lines.append(ERROR.format(time=time, upstream=upstream, method=method, message=message))
        lines.append(
            ACCESS.format(
                time=time,
                upstream=upstream,
                status=status,
                method=method,
                took=took,
                service="shop-checkout-8080",
            )
        )
    # Another Service's 5xx in the same log must not count for checkout.
    lines.append(
        ACCESS.format(
            time="08:45:00",
            upstream="10.9.9.9:80",
            status=502,
            method="GET",
            took="0.001",
            service="shop-search-80",
        )
    )
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _diagnose(bundle: Path, logs: list[str] | None) -> Report:
    snap = load_bundle([str(bundle)]).snapshot()
    target = Target.parse("checkout", "shop")
    evidence = None
    if logs is not None:
        services = target_services(snap, "Service", "shop", "checkout")
        evidence = summarize_for(logs, snap, services)
    return diagnose(snap, target, logs=evidence)


def _spread_closes(pods: list[str]) -> list[tuple[str, str, int, str, str]]:
    """A few POSTs a minute fail on reused connections, evenly, at low load."""
    return [
        (f"08:{m:02d}:{s:02d}", pods[m % len(pods)], 502, "POST", CLOSED)
        for m in range(30, 50, 2)
        for s in (7, 41)
    ]


def test_keepalive_race_shows_only_in_the_logs(tmp_path: Path) -> None:
    before = _diagnose(STEADY, None)
    log = _log(tmp_path / "c.log", _spread_closes(["10.244.1.30:8080", "10.244.1.31:8080"]))
    after = _diagnose(STEADY, [log])
    assert before.verdict == "healthy"
    assert after.verdict == "keepalive-race"
    assert after.status.value == "failing"
    top = after.findings[0]
    assert "100% of Service/shop/checkout's 5xx" in top.title
    assert {str(e.object) for e in top.evidence} >= {
        "Service/shop/checkout",
        "Pod/shop/checkout-84c6f7d9b8-4tq8m",
    }
    assert all(c.startswith("kubectl ") for c in top.confirm)


def test_timeouts_show_only_in_the_logs(tmp_path: Path) -> None:
    entries = [
        (f"08:40:{s:02d}", "10.244.1.31:8080", 504, "GET", TIMED_OUT) for s in range(0, 50, 5)
    ]
    after = _diagnose(STEADY, [_log(tmp_path / "t.log", entries)])
    assert _diagnose(STEADY, None).verdict == "healthy"
    assert after.verdict == "upstream-timeout"
    assert after.findings[0].http_status == (504,)


def test_even_502s_from_the_new_pods_are_a_keepalive_race_not_the_rollout(tmp_path: Path) -> None:
    before = _diagnose(ROLLOUT, None)
    after = _diagnose(ROLLOUT, [_log(tmp_path / "k.log", _spread_closes(["10.244.1.30:8080"]))])
    assert before.verdict != "keepalive-race"
    assert after.verdict == "keepalive-race"
    causes = [f.cause for f in after.findings]
    if "rollout-no-prestop" in causes:  # the rule's finding stays, ranked after
        assert causes.index("rollout-no-prestop") > causes.index("keepalive-race")


def test_502s_from_the_old_replicaset_confirm_the_rollout(tmp_path: Path) -> None:
    entries = [(f"08:51:{s:02d}", "10.244.1.20:8080", 502, "GET", REFUSED) for s in range(3, 40, 3)]
    entries.append(("08:51:05", "10.244.1.21:8080", 502, "POST", REFUSED))
    before = _diagnose(ROLLOUT, None)
    after = _diagnose(ROLLOUT, [_log(tmp_path / "r.log", entries)])
    # Pods of the target terminate now: the rule alone says degraded (issue 10 §7),
    # the users' 502s from those pods make it a failure.
    assert before.verdict == "rollout-no-prestop"
    assert before.findings[0].severity.value == "warning"
    assert after.verdict == "rollout-no-prestop"
    top = after.findings[0]
    assert top.severity.value == "critical"
    observed = " ".join(e.observed for e in top.evidence)
    assert "14 of 14 5xx" in observed  # not the other Service's 502
    assert "terminating, revision 1" in observed


def test_cli_diagnose_with_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _log(tmp_path / "c.log", _spread_closes(["10.244.1.30:8080"]))
    with pytest.raises(SystemExit) as done:
        main(
            [
                "diagnose",
                "checkout",
                "-n",
                "shop",
                "--bundle",
                str(STEADY),
                "--logs",
                log,
                "-o",
                "json",
            ]
        )
    assert done.value.code == 1
    document = orjson.loads(capsys.readouterr().out)
    assert document["findings"][0]["cause"] == "keepalive-race"
    with pytest.raises(SystemExit) as refused:
        main(["diagnose", "--all", "-n", "shop", "--bundle", str(STEADY), "--logs", log])
    assert refused.value.code == 2
    assert "--logs needs one target" in capsys.readouterr().err


def test_too_big_headers_show_only_in_the_logs(tmp_path: Path) -> None:
    """No rule can see a header's size: the controller's log line names the
    cause, with the pods that sent the headers."""
    too_big = "upstream sent too big header while reading response header from upstream"
    entries = [
        (f"08:4{m}:{s:02d}", "10.244.1.30:8080", 502, "GET", too_big)
        for m in (1, 2)
        for s in (5, 35)
    ]
    after = _diagnose(STEADY, [_log(tmp_path / "h.log", entries)])
    assert _diagnose(STEADY, None).verdict == "healthy"
    assert after.verdict == "upstream-header-too-big"
    assert after.status.value == "failing"
    top = after.findings[0]
    assert top.http_status == (502,)
    assert "Pod/shop/checkout-84c6f7d9b8-4tq8m" in {str(e.object) for e in top.evidence}


def test_a_log_of_no_known_format_is_skipped_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The only --logs file holds nothing known: it is named and skipped, and
    the bundle is still diagnosed (exit as without logs, not 2)."""
    junk = tmp_path / "notes.txt"
    junk.write_text("we restarted the pods at 9\nthen it worked\n")
    argv = ["diagnose", "checkout", "-n", "shop", "--bundle", str(STEADY), "-o", "json"]
    with pytest.raises(SystemExit) as without:
        main(argv)
    plain = orjson.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit) as done:
        main([*argv, "--logs", str(junk)])
    out, err = capsys.readouterr()
    assert done.value.code == without.value.code == 0
    assert orjson.loads(out)["verdict"] == plain["verdict"] == "healthy"
    assert f"{junk}: no line of a known log format" in err
    assert "diagnosing without logs" in err
    assert "Traceback" not in err


CONTROLLER = 'W0728 13:49:49.824295       7 controller.go:1111] Service "{name}" {what}'
NO_ENDPOINT = "does not have any active Endpoint."
NO_SERVICE = (
    'Error obtaining Endpoints for Service "{name}": no object matching key "{name}" in local store'
)


def test_controller_lines_match_the_target_by_the_service_they_name(tmp_path: Path) -> None:
    """No pod IP in klog lines: the Service's name decides which count."""
    log = tmp_path / "controller.log"
    log.write_text(
        "\n".join(
            [
                CONTROLLER.format(name="shop/checkout", what=NO_ENDPOINT),
                CONTROLLER.format(name="shop/search", what=NO_ENDPOINT),
                "W0728 13:49:36.252884       7 controller.go:1016] "
                + NO_SERVICE.format(name="scalability/serve-ca-cert"),
            ]
        )
        + "\n"
    )
    snap = load_bundle([str(STEADY)]).snapshot()
    summary = summarize_for([str(log)], snap, target_services(snap, "Service", "shop", "checkout"))
    assert [(m.service, m.candidates[0]) for m in summary.messages] == [
        ("shop/checkout", "selector-mismatch")
    ]
    report = diagnose(snap, Target.parse("checkout", "shop"), logs=summary)
    # Candidates only: no finding is made up from them, the verdict stands.
    assert report.verdict == "healthy"


def test_a_controller_line_that_decides_adds_its_cause(tmp_path: Path) -> None:
    log = tmp_path / "controller.log"
    log.write_text(
        "W0728 13:49:36.252884       7 controller.go:1016] "
        + NO_SERVICE.format(name="shop/checkout")
        + "\n"
    )
    report = _diagnose(STEADY, [str(log)])
    assert report.verdict == "ingress-backend-missing"
    assert report.status.value == "degraded"
    top = report.findings[0]
    assert top.severity.value == "warning"
    assert "shop/checkout" in top.evidence[0].observed
    assert top.evidence[0].field == "ingress-nginx-controller log"


@pytest.mark.parametrize(
    ("pod", "counted"),
    [("checkout-84c6f7d9b8-4tq8m", True), ("search-5d9f8c7b6a-zz9xk", False)],
)
def test_app_server_lines_match_by_the_pod_a_prefix_names(
    tmp_path: Path, pod: str, counted: bool
) -> None:
    """A gunicorn line names no Service; stern's prefix names its pod."""
    log = tmp_path / "app.log"
    log.write_text(
        f"{pod} app [2024-01-09 13:24:39 +0000] [1637] [CRITICAL] WORKER TIMEOUT (pid:7214)\n"
    )
    snap = load_bundle([str(STEADY)]).snapshot()
    summary = summarize_for([str(log)], snap, target_services(snap, "Service", "shop", "checkout"))
    assert [m.signal for m in summary.messages] == (["WORKER TIMEOUT"] if counted else [])


def test_main_format_access_lines_pair_with_errors_by_client_and_request(tmp_path: Path) -> None:
    """nginx's `main` access line names no upstream; the error line of the
    same second, client and request says why (kubernetes/ingress-nginx#12285)."""
    log = tmp_path / "nginx.log"
    log.write_text(f"{fx.NGINX_12285_ERROR}\n{fx.NGINX_12285_MAIN}\n")
    summary = summarize_logs([str(log)])
    assert summary.total_5xx == 1
    (paired,) = summary.causes
    assert paired.signal.startswith("upstream prematurely closed connection")
    # One close decides nothing (the thread's cause was a TLS backend spoken
    # to in plain HTTP): the causes it fits, not a confident keep-alive race.
    assert paired.cause == "unclassified"
    assert paired.candidates[:2] == ("keepalive-race", "backend-protocol-mismatch")


def test_messages_match_through_the_ingress_host_and_path(tmp_path: Path) -> None:
    """A line naming no Service, backend or pod IP, only the Host and path
    an Ingress rule sends to the Service (an Envoy line of Contour, an nginx
    message pasted without its date)."""
    bundle = tmp_path / "shop.yaml"
    bundle.write_text(
        """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: kibana, namespace: eck}
  spec:
    selector: {app: kibana}
    ports: [{name: https, port: 5601, targetPort: 5601}]
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata: {name: kibana, namespace: eck}
  spec:
    rules:
    - host: kibana.example.com
      http:
        paths:
        - path: /
          pathType: Prefix
          backend: {service: {name: kibana, port: {number: 5601}}}
"""
    )
    log = tmp_path / "envoy.log"
    line = (
        '"GET / HTTP/1.1" 503 UC 0 95 2 - "88.255.X.X,192.168.X.X" "curl/7.68.0" '
        '"860-194a-46df-a499-1419e2ccdb84" "{host}" "192.168.21.220:5601"'
    )
    log.write_text(
        line.format(host="kibana.example.com") + "\n" + line.format(host="other.example.com") + "\n"
    )
    snap = load_bundle([str(bundle)]).snapshot()
    summary = summarize_for([str(log)], snap, target_services(snap, "Ingress", "eck", "kibana"))
    assert [dict(m.details)["host"] for m in summary.messages] == ["kibana.example.com"]
    assert summary.messages[0].candidates[:2] == ("keepalive-race", "backend-protocol-mismatch")
