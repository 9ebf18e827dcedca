"""Real published lines (tests/logs/real/, sources in its README), one by one:
who wrote each, what it says about which backend, and the cause it points to."""

from __future__ import annotations

from pathlib import Path

import pytest

import logfixtures as fx
from why5xx.sources.logs import FORMATS, MESSAGES, summarize_logs
from why5xx.sources.logs.classify import CAUSE_OF, candidates
from why5xx.sources.logs.mixed import recogniser
from why5xx.sources.logs.record import Access, Notice, Record, Symptom, UpstreamError

REAL = Path(__file__).parent / "logs" / "real"


def _line(name: str, number: int) -> str:
    return (REAL / name).read_text().splitlines()[number - 1]


def _recognise(line: str) -> tuple[str | None, list[Record]]:
    got: list[Record] = []
    family = recogniser(FORMATS, MESSAGES, got.append)(line)
    return family, got


def _notice(line: str) -> tuple[str | None, Notice]:
    family, got = _recognise(line)
    assert len(got) == 1, (family, got)
    assert isinstance(got[0], Notice), got[0]
    return family, got[0]


# (file, line, family, symptom, what it names: service / backend / upstream / a detail)
NOTICES = [
    ("ingress-nginx-controller.log", 1, "ingress-nginx-controller", Symptom.NO_SERVICE,
     {"service": "scalability/serve-ca-cert"}),
    ("ingress-nginx-controller.log", 2, "ingress-nginx-controller", Symptom.NO_ENDPOINTS,
     {"service": "scalability/scalability-http-transport"}),
    ("ingress-nginx-controller.log", 5, "ingress-nginx-controller", Symptom.NO_ENDPOINTS,
     {"service": "clickhouse/error-reader"}),
    ("ingress-nginx-controller.log", 6, "ingress-nginx-controller", Symptom.NO_ENDPOINTS,
     {"service": "external-logging/kibana-svc"}),
    ("ingress-nginx-controller.log", 7, "ingress-nginx-controller", Symptom.NO_ENDPOINTS,
     {"service": "kube-system/prometheus-k8s", "pod": "temp-nginx-ingress-controller-vki2s"}),
    ("ingress-nginx-controller.log", 8, "ingress-nginx-controller", Symptom.NO_SERVICE,
     {"service": "ingress-nginx/webapp"}),
    ("ingress-nginx-controller.log", 9, "nginx-error", Symptom.DNS,
     {"upstream": "10.111.0.218"}),
    ("ingress-nginx-controller.log", 12, "nginx-error", Symptom.DNS,
     {"upstream": "192.168.1.2"}),
    ("nginx-inc-controller.log", 1, "nginx-inc-controller", Symptom.NO_ENDPOINTS,
     {"service": "devops-cqat"}),
    ("nginx-inc-controller.log", 3, "nginx-inc-controller", Symptom.NO_SERVICE,
     {"service": "jenkins"}),
    ("nginx-inc-controller.log", 4, "nginx-inc-controller", Symptom.NO_ENDPOINTS,
     {"service": "tomcat-demo"}),
    ("envoy.log", 2, "envoy", Symptom.PREMATURE_CLOSE,
     {"reset reason": "connection termination"}),
    ("envoy.log", 4, "envoy", Symptom.NO_HEALTHY, {}),
    ("envoy.log", 5, "envoy", Symptom.NO_HEALTHY, {}),
    ("envoy.log", 6, "envoy", Symptom.PREMATURE_CLOSE,
     {"backend": "outbound|80||health-api.production.svc.cluster.local",
      "upstream": "10.80.47.192:8181", "flags": "UC", "status": "503"}),
    ("linkerd-proxy.log", 1, "linkerd-proxy", Symptom.NO_ENDPOINTS,
     {"service": "imodeljs/svc-7ed19bdd30302ada2f8bab1286f9096fe1ee48b7"}),
    ("linkerd-proxy.log", 2, "linkerd-proxy", Symptom.NO_ENDPOINTS,
     {"upstream": "10.244.57.132:9092"}),
    ("traefik.log", 2, "traefik", Symptom.NO_ENDPOINTS, {"service": "default/vscode"}),
    ("traefik.log", 3, "traefik", Symptom.NO_ENDPOINTS, {"service": "monitoring/grafana"}),
    ("gunicorn.log", 1, "gunicorn", Symptom.WORKER_TIMEOUT, {"pid": "7214"}),
    ("gunicorn.log", 2, "gunicorn", Symptom.WORKER_CRASHED, {"pid": "7214", "signal": "6"}),
    ("gunicorn.log", 4, "gunicorn", Symptom.WORKER_KILLED, {"pid": "7284", "signal": "9"}),
    ("gunicorn.log", 6, "gunicorn", Symptom.WORKER_TIMEOUT, {"pid": "5870"}),
    ("uwsgi.log", 2, "uwsgi", Symptom.WORKER_TIMEOUT, {"pid": "53"}),
    ("uwsgi.log", 3, "uwsgi", Symptom.WORKER_KILLED, {"pid": "53", "signal": "9"}),
    ("uwsgi.log", 4, "uwsgi", Symptom.WORKER_TIMEOUT, {"pid": "97702"}),
    ("uwsgi.log", 5, "uwsgi", Symptom.WORKER_CRASHED, {"pid": "1343", "signal": "11"}),
    ("uwsgi.log", 6, "uwsgi", Symptom.WORKER_TIMEOUT, {"pid": "289"}),
    ("nginx-unit.log", 1, "nginx-unit", Symptom.WORKER_KILLED, {"pid": "542", "signal": "9"}),
    ("nginx-unit.log", 3, "nginx-unit", Symptom.WORKER_CRASHED, {"pid": "57", "signal": "7"}),
    ("haproxy.log", 1, "haproxy", Symptom.REFUSED,
     {"backend": "solacescalable_default-default-8443-pub_8443", "server": "SRV_2"}),
    ("haproxy.log", 2, "haproxy", Symptom.NO_ENDPOINTS,
     {"backend": "solacescalable_default-default-8443-pub_8443"}),
    ("haproxy.log", 3, "haproxy", Symptom.CONNECT_TIMEOUT,
     {"backend": "uat-mqtt-gateway-mqtt"}),
    ("haproxy.log", 4, "haproxy", Symptom.UNREACHABLE,
     {"backend": "uat-mqtt-gateway-mqtt-tls"}),
    ("haproxy.log", 5, "haproxy", Symptom.CONNECT_FAILED,
     {"backend": "ingress-node", "upstream": "10.10.10.168"}),
    ("ingress-nginx-controller.log", 13, "ingress-nginx-controller", Symptom.NO_ENDPOINTS,
     {"service": "nginx-ingress-default-backend"}),
    ("ingress-nginx-controller.log", 14, "ingress-nginx-controller", Symptom.NO_INGRESS_CLASS,
     {"ingress": "default/hello-app"}),
    ("ingress-nginx-controller.log", 15, "ingress-nginx-controller", Symptom.NO_ENDPOINTS,
     {"service": ""}),
    ("ingress-nginx-bare-access.log", 1, "ingress-nginx", Symptom.UNKNOWN,
     {"backend": "xxxxx-app-http", "upstream": "10.4.27.106:80", "status": "502"}),
    ("nginx-bare.log", 1, "nginx-error", Symptom.READ_TIMEOUT, {"upstream": ""}),
    ("nginx-bare.log", 2, "nginx-error", Symptom.PREMATURE_CLOSE, {"upstream": ""}),
    ("envoy.log", 9, "envoy", Symptom.PREMATURE_CLOSE,
     {"reset reason": "connection termination"}),
    ("linkerd-proxy.log", 5, "linkerd-proxy", Symptom.PREMATURE_CLOSE, {}),
    ("linkerd-proxy.log", 6, "linkerd-proxy", Symptom.RESET, {}),
    ("traefik.log", 4, "traefik", Symptom.REFUSED, {"upstream": "10.244.0.146:5000"}),
    ("tls-server.log", 1, "tls-server", Symptom.PROTOCOL, {}),
    ("gunicorn.log", 7, "gunicorn", Symptom.WORKER_TIMEOUT, {"pid": "11"}),
    ("gunicorn.log", 8, "gunicorn", Symptom.WORKER_KILLED, {"pid": "11"}),
    ("gunicorn.log", 9, "gunicorn", Symptom.LOOPBACK, {"listen": "127.0.0.1:5000"}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "number", "family", "symptom", "names"), NOTICES)
def test_each_real_line_is_recognised_with_what_it_names(
    name: str, number: int, family: str, symptom: Symptom, names: dict[str, str]
) -> None:
    found, notice = _notice(_line(name, number))
    assert found == family
    assert notice.symptom is symptom
    fields = {"service": notice.service, "backend": notice.backend, "upstream": notice.upstream}
    fields |= dict(notice.details)
    assert {key: fields.get(key) for key in names} == names
    # Never a silent "unclassified": a cause, or the causes it fits.
    status = int(dict(notice.details).get("status", "0"))
    assert candidates(symptom, CAUSE_OF.get(symptom, "unclassified"), status)


@pytest.mark.parametrize(
    ("name", "number", "family"),
    [
        ("ingress-nginx-controller.log", 4, "ingress-nginx-controller"),  # an event, no fault
        ("ingress-nginx-controller.log", 10, "nginx-error"),  # the resolver's next line
        ("nginx-inc-controller.log", 2, "nginx-inc-controller"),
        ("envoy.log", 1, "envoy"),
        ("envoy.log", 3, "envoy"),
        ("envoy.log", 7, "envoy"),  # inbound TCP: no Service named, nothing to match
        ("linkerd-proxy.log", 3, "linkerd-proxy"),
        ("linkerd-proxy.log", 4, "linkerd-proxy"),
        ("traefik.log", 1, "traefik"),
        ("gunicorn.log", 3, "gunicorn"),
        ("uwsgi.log", 1, "uwsgi"),
        ("nginx-unit.log", 2, "nginx-unit"),
        ("nginx-unit.log", 4, "nginx-unit"),
    ],
)
def test_lines_that_say_nothing_wrong_are_recognised_and_yield_nothing(
    name: str, number: int, family: str
) -> None:
    found, got = _recognise(_line(name, number))
    assert found == family
    # No message, no 5xx: at most a request line the summary does not count.
    assert all(isinstance(r, Access) and r.status < 500 for r in got), got


def test_the_decided_causes_of_real_lines() -> None:
    summary = summarize_logs(
        [str(REAL / n) for n in ("ingress-nginx-controller.log", "nginx-inc-controller.log")]
    )
    decided = {(m.subject, m.cause) for m in summary.messages if m.cause}
    assert decided == {
        ("scalability/serve-ca-cert", "ingress-backend-missing"),
        ("ingress-nginx/webapp", "ingress-backend-missing"),
        ("jenkins", "ingress-backend-missing"),
        ("10.111.0.218", "external-name-dns"),
        ("192.168.1.2", "external-name-dns"),
        ("Ingress default/hello-app", "ingress-class-missing"),
    }
    undecided = {m.subject: m.candidates[0] for m in summary.messages if m.cause is None}
    assert undecided["clickhouse/error-reader"] == "selector-mismatch"
    assert undecided["devops-cqat"] == "selector-mismatch"


def test_real_files_report_what_they_recognised() -> None:
    summary = summarize_logs([str(p) for p in sorted(REAL.glob("*.log"))])
    by_path = {Path(f.path).name: f for f in summary.files}
    assert by_path["ingress-nginx-controller.log"].recognised == (
        ("ingress-nginx-controller", 11),
        ("nginx-error", 4),
    )
    assert by_path["envoy.log"].format == "envoy"
    # Lines cut short by `systemctl status` still count: only the HAProxy
    # access line with a syslog tag without colon needs the access parser.
    assert by_path["haproxy.log"].recognised == (("haproxy", 6),)
    for file in summary.files:
        assert file.unparsed == 0, file
        assert file.error is None, file


def test_haproxy_syslog_tag_without_colon_parses_as_access() -> None:
    family, got = _recognise(_line("haproxy.log", 6))
    assert family == "haproxy"
    (access,) = got
    assert isinstance(access, Access)
    assert access.status == 200
    assert access.service == "infra-tipboard-7272"
    assert access.upstream == "10.47.0.15:7272"


@pytest.mark.parametrize(
    ("prefix", "pod"),
    [
        # kubectl logs --prefix (kubectl's documented `[pod/NAME/CONTAINER] `)
        ("[pod/checkout-6f9c7d8b5d-x2m4q/app] ", "checkout-6f9c7d8b5d-x2m4q"),
        # stern's default `POD CONTAINER `
        ("checkout-6f9c7d8b5d-x2m4q app ", "checkout-6f9c7d8b5d-x2m4q"),
        # stern with several namespaces: `NAMESPACE POD CONTAINER `
        ("shop checkout-6f9c7d8b5d-x2m4q app ", "checkout-6f9c7d8b5d-x2m4q"),
        # stern, coloured on a terminal
        (
            "\x1b[32mcheckout-6f9c7d8b5d-x2m4q\x1b[0m \x1b[33mapp\x1b[0m ",
            "checkout-6f9c7d8b5d-x2m4q",
        ),
    ],
)
def test_collector_prefixes_name_the_pod_of_an_app_server_line(prefix: str, pod: str) -> None:
    """A real gunicorn line behind the prefixes kubectl and stern add."""
    _, notice = _notice(prefix + _line("gunicorn.log", 1))
    assert notice.symptom is Symptom.WORKER_TIMEOUT
    assert dict(notice.details)["pod"] == pod


def test_prefixed_access_lines_are_read_line_by_line(tmp_path: Path) -> None:
    """`kubectl logs --prefix` of a controller: real access and error lines
    (tests/logfixtures.py) behind the prefix still give their 5xx."""
    prefix = "[pod/ingress-nginx-controller-7fd7d8df56-92x2f/controller] "
    path = tmp_path / "controller.log"
    lines = [fx.NGINX_9443_ERROR, fx.NGINX_9443_ACCESS, _line("ingress-nginx-controller.log", 2)]
    path.write_text("".join(prefix + line + "\n" for line in lines))
    summary = summarize_logs([str(path)])
    assert summary.total_5xx == 1
    assert summary.causes[0].signal.startswith("upstream timed out (110: Connection timed out)")
    assert summary.causes[0].candidates[0] == "network-policy-block"
    assert dict(summary.files[0].recognised) == {
        "ingress-nginx": 1,
        "ingress-nginx-controller": 1,
        "nginx-error": 1,
    }


def test_a_bare_nginx_message_keeps_its_upstream_and_host() -> None:
    """A real error line (kubernetes/ingress-nginx#12285) pasted without its
    date, level and process ids, as people quote it."""
    bare = fx.NGINX_12285_ERROR.split("*94 ", 1)[1]
    family, notice = _notice(bare)
    assert family == "nginx-error"
    assert notice.symptom is Symptom.PREMATURE_CLOSE
    assert notice.upstream == "10.244.3.84:5601"
    assert dict(notice.details) == {
        "status": "502",
        "host": "opensearch-dashboard.hi.local",
        "request": "GET / HTTP/1.1",
    }


def test_dated_lines_behind_prefixes_stay_requests_and_errors() -> None:
    """A pod-name prefix before an nginx error line, and an Istio access line
    whose request id was cut: still an error line and a request."""
    _, got = _recognise(_line("nginx-bare.log", 3))
    (error,) = got
    assert isinstance(error, UpstreamError)
    assert error.symptom is Symptom.REFUSED
    assert error.status == 502
    _, got = _recognise(_line("envoy.log", 8))
    (access,) = got
    assert isinstance(access, Access)
    assert access.status == 503
    assert access.service == "outbound|80||oneapihub-ui-dev.hub-dev.svc.cluster.local"
    assert access.upstream == "10.6.25.34:3000"
