"""Each format parses documented lines and names the symptom its signal carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import logfixtures as fx
from why5xx.sources.logs import FORMATS, format_named
from why5xx.sources.logs.alb import parse as parse_alb
from why5xx.sources.logs.envoy import classify as envoy_classify
from why5xx.sources.logs.envoy import parse_json as parse_envoy_json
from why5xx.sources.logs.envoy import parse_text as parse_envoy
from why5xx.sources.logs.haproxy import parse as parse_haproxy
from why5xx.sources.logs.ingress_nginx import parse_json as parse_nginx_json
from why5xx.sources.logs.ingress_nginx import parse_text as parse_nginx
from why5xx.sources.logs.nginx_error import parse as parse_error
from why5xx.sources.logs.reader import sniff
from why5xx.sources.logs.record import Access, Symptom, UpstreamError
from why5xx.sources.logs.traefik import parse_clf
from why5xx.sources.logs.traefik import parse_json as parse_traefik_json


def _access(record: object) -> Access:
    assert isinstance(record, Access), record
    return record


def _error(record: object) -> UpstreamError:
    assert isinstance(record, UpstreamError), record
    return record


def test_ingress_nginx_current_format_keeps_every_try() -> None:
    line = _access(parse_nginx(fx.NGINX_9443_ACCESS))
    assert line.status == 504
    assert line.time == datetime(2023, 3, 8, 16, 2, 45, tzinfo=UTC)
    assert line.service == "pc-dev-example-web-service-80"
    assert [a.address for a in line.attempts] == ["192.168.215.1:80"] * 3
    assert [a.status for a in line.attempts] == [504, 504, 504]
    assert line.symptom is Symptom.READ_TIMEOUT
    assert line.refinable  # the error log says connect or read


def test_ingress_nginx_old_format_and_lua_placeholder() -> None:
    line = _access(parse_nginx(fx.NGINX_4168_ACCESS_502))
    assert line.service == "default-xxx-api-bouncer-80"
    assert line.upstream == "0.0.0.1:80"
    assert line.symptom is Symptom.DNS
    ok = _access(parse_nginx(fx.NGINX_4168_ACCESS_200))
    assert ok.status == 200
    assert ok.upstream == "172.20.150.78:80"


def test_nginx_main_format_has_no_upstream_so_the_error_log_decides() -> None:
    line = _access(parse_nginx(fx.NGINX_12285_MAIN))
    assert line.status == 502
    assert line.attempts == ()
    assert line.symptom is Symptom.UNKNOWN
    assert line.refinable


@pytest.mark.parametrize(
    ("text", "addresses", "statuses"),
    [
        ("-", [], []),
        ("10.0.0.1:80, 10.0.0.2:80", ["10.0.0.1:80", "10.0.0.2:80"], [502, 200]),
        ("10.0.0.1:80 : 10.0.0.9:80", ["10.0.0.1:80", "10.0.0.9:80"], [502, 200]),
    ],
)
def test_upstream_lists_split_on_commas_and_colons(
    text: str, addresses: list[str], statuses: list[int]
) -> None:
    ustatus = "-" if text == "-" else ("502, 200" if "," in text else "502 : 200")
    line = _access(
        parse_nginx(
            '1.2.3.4 - - [08/Mar/2023:16:02:45 +0000] "GET / HTTP/1.1" 200 5 "-" "ua" 10 0.1 '
            f"[shop-api-80] [] {text} 5 0.1 {ustatus} abc"
        )
    )
    assert [a.address for a in line.attempts] == addresses
    assert [a.status for a in line.attempts] == statuses


def test_app_answering_503_itself_is_not_a_proxy_failure() -> None:
    line = _access(
        parse_nginx(
            '1.2.3.4 - - [08/Mar/2023:16:02:45 +0000] "GET / HTTP/1.1" 503 5 "-" "ua" 10 0.1 '
            "[shop-api-80] [] 10.0.0.1:8080 5 0.1 503 abc"
        )
    )
    assert line.symptom is Symptom.APP
    assert not line.refinable


def test_no_endpoint_503_and_default_backend() -> None:
    prefix = '1.2.3.4 - - [08/Mar/2023:16:02:45 +0000] "GET / HTTP/1.1" 503 5 "-" "ua" 10 0.0 '
    none = _access(parse_nginx(prefix + "[shop-api-80] [] - - - - abc"))
    assert none.symptom is Symptom.NO_ENDPOINTS
    default = _access(parse_nginx(prefix + "[upstream-default-backend] [] - - - - abc"))
    assert default.symptom is Symptom.NO_ENDPOINTS
    assert not default.refinable


def test_nginx_json_reads_upstream_fields_as_lists() -> None:
    line = _access(
        parse_nginx_json(
            '{"time": "2026-11-20T08:50:12+00:00", "status": 502, "request_id": "ab", '
            '"upstream_addr": "10.244.1.20:8080, 10.244.1.21:8080", '
            '"upstream_status": "502, 502", "proxy_upstream_name": "shop-checkout-8080"}'
        )
    )
    assert line.status == 502
    assert line.upstream == "10.244.1.21:8080"
    assert line.service == "shop-checkout-8080"
    assert parse_nginx_json('{"status": "nope"}') is None
    assert parse_nginx_json("not json") is None


@pytest.mark.parametrize(
    ("line", "symptom", "status", "upstream"),
    [
        (fx.NGINX_9443_ERROR, Symptom.CONNECT_TIMEOUT, 504, "192.168.215.1:80"),
        (fx.NGINX_4168_CRIT, Symptom.DNS, 502, "0.0.0.1:80"),
        (fx.NGINX_4168_LUA, Symptom.DNS, 502, ""),
        (fx.NGINX_12285_ERROR, Symptom.PREMATURE_CLOSE, 502, "10.244.3.84:5601"),
        # Redacted addresses stay text: they name no pod, and nothing breaks.
        (fx.OPENRESTY_829, Symptom.PREMATURE_CLOSE, 502, "10.xxx.xx.xxx:8080"),
    ],
)
def test_nginx_error_lines(line: str, symptom: Symptom, status: int, upstream: str) -> None:
    error = _error(parse_error(line))
    assert (error.symptom, error.status, error.upstream) == (symptom, status, upstream)


def test_nginx_error_signal_is_the_same_for_musl_and_glibc() -> None:
    musl = _error(parse_error(fx.NGINX_9443_ERROR))
    glibc = _error(parse_error(fx.NGINX_9443_ERROR.replace("Operation", "Connection")))
    assert musl.signal == glibc.signal
    assert musl.signal == (
        "upstream timed out (110: Connection timed out) while connecting to upstream"
    )


def test_nginx_error_after_the_response_started_is_not_a_5xx() -> None:
    line = fx.NGINX_12285_ERROR.replace("reading response header from upstream", "reading upstream")
    assert _error(parse_error(line)).status == 0


def test_nginx_notice_lines_are_not_upstream_errors() -> None:
    assert parse_error("2024/11/03 06:09:29 [notice] 1#1: signal process started") is None


@pytest.mark.parametrize(
    ("line", "status", "symptom", "upstream", "service"),
    [
        (fx.ENVOY_DOC_204, 204, Symptom.APP, "10.0.2.1:80", "locations"),
        (
            fx.ISTIO_DOC_418_CLIENT,
            418,
            Symptom.APP,
            "10.44.1.27:80",
            "outbound|8000||httpbin.foo.svc.cluster.local",
        ),
        (fx.ISTIO_DOC_418_SERVER, 418, Symptom.APP, "127.0.0.1:80", "inbound|8000||"),
        (fx.ENVOY_UT, 504, Symptom.READ_TIMEOUT, "172.27.0.2:8080", "localhost:8000"),
        (fx.ENVOY_UH, 503, Symptom.NO_HEALTHY, "", "localhost:8000"),
        (fx.ENVOY_UF_111, 503, Symptom.REFUSED, "172.28.0.2:801", "localhost:8000"),
        (fx.ENVOY_UO, 503, Symptom.OVERFLOW, "172.31.0.3:8080", "localhost:8000"),
        (
            fx.ISTIO_UO_GATEWAY,
            503,
            Symptom.OVERFLOW,
            "",
            "outbound|9080|v1|productpage.istio.svc.cluster.local",
        ),
        (
            fx.ISTIO_UC,
            503,
            Symptom.PREMATURE_CLOSE,
            "10.244.0.13:8080",
            "outbound|8000||probe.starfleet.svc.cluster.local",
        ),
        (fx.ISTIO_UF_INBOUND, 503, Symptom.REFUSED, "10.244.0.11:80", "inbound|80||"),
        (fx.CRAY_UAEX, 503, Symptom.UNKNOWN, "", "api-gw-service-nmn.local"),
    ],
)
def test_envoy_text(line: str, status: int, symptom: Symptom, upstream: str, service: str) -> None:
    record = _access(parse_envoy(line))
    assert (record.status, record.symptom, record.upstream, record.service) == (
        status,
        symptom,
        upstream,
        service,
    )


@pytest.mark.parametrize(
    ("flags", "details", "symptom"),
    [
        ("URX,UF", "upstream_reset_before_response_started{connection_timeout}", "connect-timeout"),
        (
            "UF",
            "upstream_reset_before_response_started{remote_connection_failure|TLS_error:"
            "|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end}",
            "mtls",
        ),
        ("NR", "filter_chain_not_found", "mtls"),
        ("URX", "upstream_reset_before_response_started{overflow}", "overflow"),
        ("-", "via_upstream", "app"),
        ("DC", "downstream_remote_disconnect", "client-abort"),
    ],
)
def test_envoy_flags_and_details(flags: str, details: str, symptom: str) -> None:
    assert envoy_classify(flags, details).value == symptom


def test_envoy_json() -> None:
    record = _access(parse_envoy_json(fx.ISTIO_JSON_UC))
    assert record.status == 503
    assert record.symptom is Symptom.PREMATURE_CLOSE
    assert record.upstream == "10.244.0.13:8080"


def test_haproxy_doc_line_and_termination_states() -> None:
    ok = _access(parse_haproxy(fx.HAPROXY_DOC_200))
    assert ok.status == 200
    assert ok.service == "static"
    assert ok.upstream == "srv1"
    assert ok.time == datetime(2009, 2, 6, 12, 14, 14, 655000, tzinfo=UTC)
    base = fx.HAPROXY_DOC_200.split("haproxy[14389]: ", 1)[1]
    cases = {
        "SC--": Symptom.REFUSED,
        "sC--": Symptom.CONNECT_TIMEOUT,
        "sQ--": Symptom.OVERFLOW,
        "SH--": Symptom.PREMATURE_CLOSE,
        "sH--": Symptom.READ_TIMEOUT,
        "PH--": Symptom.INVALID_RESPONSE,
        "----": Symptom.APP,
    }
    for state, symptom in cases.items():
        line = base.replace(" 200 2750 - - ---- ", f" 503 2750 - - {state} ")
        assert _access(parse_haproxy(line)).symptom is symptom, state
    nosrv = base.replace("static/srv1", "static/<NOSRV>").replace(
        " 200 2750 - - ---- ", " 503 0 - - SC-- "
    )
    record = _access(parse_haproxy(nosrv))
    assert record.symptom is Symptom.NO_ENDPOINTS
    assert record.attempts == ()


def test_traefik_clf_and_json() -> None:
    ok = _access(parse_clf(fx.TRAEFIK_TEST_200))
    assert ok.status == 200
    assert ok.service == "test@file"
    assert ok.upstream == "127.0.0.1:8080"
    bad = _access(parse_clf(fx.TRAEFIK_TEST_200.replace(" 200 0 ", " 504 0 ")))
    assert bad.symptom is Symptom.READ_TIMEOUT
    record = _access(
        parse_traefik_json(
            '{"StartUTC":"2026-11-20T08:50:12.1234567Z","DownstreamStatus":503,'
            '"ServiceName":"shop-checkout-8080@kubernetes","RouterName":"r@kubernetes"}'
        )
    )
    assert record.symptom is Symptom.NO_ENDPOINTS
    assert record.service.startswith("shop-checkout")
    app = _access(
        parse_traefik_json(
            '{"StartUTC":"2026-11-20T08:50:12Z","DownstreamStatus":500,"OriginStatus":500,'
            '"ServiceAddr":"10.42.0.5:80"}'
        )
    )
    assert app.symptom is Symptom.APP
    assert app.upstream == "10.42.0.5:80"


def test_alb_doc_lines() -> None:
    ok = _access(parse_alb(fx.ALB_DOC_HTTP))
    assert ok.status == 200
    assert ok.upstream == "10.0.0.1:80"
    assert ok.service == "my-targets"
    lam = _access(parse_alb(fx.ALB_DOC_LAMBDA_502))
    assert lam.status == 502
    assert lam.symptom is Symptom.UNKNOWN
    assert "LambdaInvalidResponse" in lam.signal
    closed = _access(parse_alb(fx.ALB_DOC_HTTP.replace(" 200 200 ", " 502 - ")))
    assert closed.symptom is Symptom.PREMATURE_CLOSE
    empty = fx.ALB_DOC_HTTP.replace(" 10.0.0.1:80 ", " - ").replace(" 200 200 ", " 503 - ")
    assert _access(parse_alb(empty)).symptom is Symptom.NO_ENDPOINTS


@pytest.mark.parametrize(
    ("lines", "name"),
    [
        ([fx.NGINX_9443_ERROR, fx.NGINX_9443_ACCESS], "ingress-nginx"),
        ([fx.NGINX_9443_ERROR, fx.NGINX_12285_ERROR], "nginx-error"),
        ([fx.ENVOY_DOC_204, fx.ISTIO_UC], "envoy"),
        ([fx.ISTIO_JSON_UC], "envoy-json"),
        ([fx.HAPROXY_DOC_200], "haproxy"),
        ([fx.TRAEFIK_TEST_200], "traefik"),
        ([fx.ALB_DOC_HTTP, fx.ALB_DOC_LAMBDA_502], "alb"),
    ],
)
def test_format_is_detected(lines: list[str], name: str) -> None:
    block = ("\n" + "\n".join(lines)).encode()
    detected = sniff(block, FORMATS)
    assert detected is not None
    assert detected.name == name


def test_format_names_and_aliases() -> None:
    assert format_named("istio").name == "envoy"
    assert format_named("nginx").name == "ingress-nginx"
    with pytest.raises(ValueError, match="unknown log format"):
        format_named("apache")
