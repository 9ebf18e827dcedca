"""Log lines copied verbatim from documentation and issue threads, with their
sources. Real nginx and HAProxy lines come from the lab (`loglab`); Envoy
cannot run here, so its lines come from Envoy's and Istio's documentation
and from published troubleshooting pages."""

from __future__ import annotations

# kubernetes/ingress-nginx#9443 (current default log-format-upstream; musl errno text).
NGINX_9443_ERROR = (
    "2023/03/08 16:02:40 [error] 31#31: *569 upstream timed out (110: Operation timed out) while "
    'connecting to upstream, client: 108.162.227.25, server: dev-aws.example.com, request: "GET / '
    'HTTP/1.1", upstream: "http://192.168.215.1:80/", host: "dev-aws.example.com"'
)
NGINX_9443_ACCESS = (
    '108.162.227.25 - - [08/Mar/2023:16:02:45 +0000] "GET / HTTP/1.1" 504 562 "-" "Mozilla/5.0 '
    '(X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36" '
    "1100 14.998 [pc-dev-example-web-service-80] [] 192.168.215.1:80, 192.168.215.1:80, "
    "192.168.215.1:80 0, 0, 0 5.000, 5.000, 5.000 504, 504, 504 a7c98d98ac870f64981a997cd2f373a1"
)
# kubernetes/ingress-nginx#4168 (pre-0.26 format with [$the_real_ip], no alternative upstream).
NGINX_4168_ACCESS_502 = (
    '10.0.2.213 - [10.0.2.213] - - [07/Jun/2019:14:32:28 +0000] "GET /my-account HTTP/1.1" 502 '
    '158 "-" "Mozilla/5.0 (pc-x86_64-linux-gnu) Siege/4.0.4" 756 0.000 '
    "[default-xxx-api-bouncer-80] 0.0.0.1:80 0 0.000 502 b1735cbec6aa0fd116ec81fb0e2e5ba5"
)
NGINX_4168_LUA = (
    "2019/06/07 14:32:28 [error] 330#330: *1946 [lua] balancer.lua:240: balance(): error while "
    "setting current upstream peer xxx-api.engine.svc.cluster.local:80: no host allowed while "
    'connecting to upstream, client: 10.0.2.213, server: api.xxx.com, request: "GET /my-account '
    'HTTP/1.1", host: "api.xxx.com"'
)
NGINX_4168_CRIT = (
    "2019/06/07 14:32:28 [crit] 330#330: *1946 connect() to 0.0.0.1:80 failed (22: Invalid "
    "argument) while connecting to upstream, client: 10.0.2.213, server: api.xxx.com, request: "
    '"GET /my-account HTTP/1.1", upstream: "http://0.0.0.1:80/my-account", host: "api.xxx.com"'
)
NGINX_4168_ACCESS_200 = (
    '10.0.2.136 - [10.0.2.136] - - [07/Jun/2019:14:32:28 +0000] "GET /my-account HTTP/1.1" 200 '
    '834 "-" "Mozilla/5.0 (pc-x86_64-linux-gnu) Siege/4.0.4" 756 0.348 '
    "[default-xxx-api-bouncer-80] 172.20.150.78:80 1990 0.348 200 8720a560faff4c26d5d82f3735d907af"
)
# kubernetes/ingress-nginx#12285 (error line, and an access line in nginx's `main` format).
NGINX_12285_ERROR = (
    "2024/11/03 06:09:29 [error] 184#184: *94 upstream prematurely closed connection while "
    "reading response header from upstream, client: 192.168.58.11, server: "
    'opensearch-dashboard.hi.local, request: "GET / HTTP/1.1", upstream: '
    '"http://10.244.3.84:5601/", host: "opensearch-dashboard.hi.local"'
)
NGINX_12285_MAIN = (
    '192.168.58.11 - - [03/Nov/2024:06:09:29 +0000] "GET / HTTP/1.1" 502 559 "-" "Mozilla/5.0 '
    "(Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    'Safari/537.36" "-"'
)
# openresty/openresty#829 (redacted addresses: the upstream is not an address).
OPENRESTY_829 = (
    "2022/04/15 17:45:45 [error] 363993#0: *6641416 upstream prematurely closed connection while "
    'reading response header from upstream, client: 10.xxx.xx.xxxx, server: _, request: "POST '
    '/atip/tc HTTP/1.1", upstream: "http://10.xxx.xx.xxx:8080/atip/tc", host: "xxxxx.com.cn:9080"'
)

# Envoy docs, configuration/observability/access_log/usage.rst, "Default Format String" example.
ENVOY_DOC_204 = (
    '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" '
    '"nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80"'
)
# istio.io content/en/docs/tasks/observability/logs/access-log (client side, then server side).
ISTIO_DOC_418_CLIENT = (
    '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" '
    '"curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" '
    "outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 "
    "10.44.1.23:46520 - default"
)
ISTIO_DOC_418_SERVER = (
    '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" '
    '"curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" '
    "inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 "
    "outbound_.8000_._.httpbin.foo.svc.cluster.local default"
)
# Cray-HPE docs-csm operations/kubernetes/Troubleshoot_Intermittent_503s.md (older Istio format).
CRAY_UAEX = (
    '[2022-06-24T14:16:27.229Z] "POST /apis/hbtd/hmi/v1/heartbeat HTTP/2" 503 UAEX "-" 131 0 30 - '
    '"10.34.0.0" "-" "1797b0d3-56f0-4674-8cf2-a8a61f9adaea" "api-gw-service-nmn.local" "-" - - '
    "10.40.0.29:443 10.34.0.0:15995 api-gw-service-nmn.local -"
)
# renuka-fernando/examples envoy/simple/README.md (Envoy with response code details).
ENVOY_UT = (
    '[2024-07-20T07:05:54.173Z] "GET /gateway-timeout?delayMs=5000 HTTP/1.1" 504 UT '
    'response_timeout 0 24 4497 - "-" "curl/8.4.0" "6d67d674-2122-4a2d-b172-0be70c674371" '
    '"localhost:8000" "172.27.0.2:8080"'
)
ENVOY_UH = (
    '[2024-07-20T07:06:24.729Z] "GET /no-healthy-upstream HTTP/1.1" 503 UH no_healthy_upstream 0 '
    '19 0 - "-" "curl/8.4.0" "2f22e5c6-2387-49b8-96c4-7b3a1678dbb0" "localhost:8000" "-"'
)
ENVOY_UF_111 = (
    '[2024-07-20T07:09:48.470Z] "GET /upstream-connection-failure HTTP/1.1" 503 UF '
    "upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111} 0 145 0 "
    '- "-" "curl/8.4.0" "44898dba-8d8e-48f4-93f7-23e4b4c592c0" "localhost:8000" "172.28.0.2:801"'
)
ENVOY_UO = (
    '[2024-07-20T07:32:21.519Z] "GET /upstream-service-overflow?delayMs=5000 HTTP/1.1" 503 UO '
    'upstream_reset_before_response_started{overflow} 0 81 0 - "-" "curl/8.4.0" '
    '"c414b70a-7c85-4f78-9c35-2ce2b9131aa3" "localhost:8000" "172.31.0.3:8080"'
)
# A gateway's Istio default line for a 503 UO (ingressgateway log published in a public note).
ISTIO_UO_GATEWAY = (
    '[2021-08-03T03:28:07.476Z] "GET /productpage HTTP/1.1" 503 UO '
    'upstream_reset_before_response_started{overflow} - "-" 0 81 0 - "172.20.0.0" '
    '"fortio.org/fortio-1.11.4" "82c91ac6-d7f5-9725-afaa-d1d50bf0bc36" "192.168.198.154:31110" "-" '
    "outbound|9080|v1|productpage.istio.svc.cluster.local - 172.20.1.30:8080 172.20.0.0:43654 - -"
)
# Istio default line for 503 UC (a client sidecar; published in a troubleshooting walkthrough).
ISTIO_UC = (
    '[2026-10-09T06:51:19.920Z] "GET /get HTTP/1.1" 503 UC '
    'upstream_reset_before_response_started{connection_termination} - "-" 0 95 1 - "-" '
    '"curl/8.11.1" "3c1996a7-9f07-4092-baa0-88aff5ce277a" "probe.starfleet:8000" '
    '"10.244.0.13:8080" outbound|8000||probe.starfleet.svc.cluster.local 10.244.0.12:54390 '
    "10.96.109.223:8000 10.244.0.12:49984 - default"
)
# Istio inbound 503 UF to a closed port (IPv6 upstream), same source family.
ISTIO_UF_INBOUND = (
    '[2024-05-12T01:56:17.634Z] "GET /ip HTTP/1.1" 503 UF '
    "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111} "
    '- "delayed_connect_error:_111" 0 152 0 - "10.244.0.1" "curl/7.81.0" '
    '"ca692bb6-c469-44ea-9577-62f8f76d53c5" "httpbin.aegle.info" "10.244.0.11:80" inbound|80|| - '
    "10.244.0.11:80 10.244.0.1:0 outbound_.8000_._.httpbin.httpbin.svc.cluster.local default"
)
# Istio JSON keys (istio pilot/pkg/model/telemetry_logging.go EnvoyJSONLogFormatIstio).
ISTIO_JSON_UC = (
    '{"start_time":"2026-10-09T06:51:19.920Z","method":"GET","path":"/get","protocol":"HTTP/1.1",'
    '"response_code":503,"response_flags":"UC","response_code_details":'
    '"upstream_reset_before_response_started{connection_termination}",'
    '"connection_termination_details":null,"upstream_transport_failure_reason":null,'
    '"bytes_received":0,"bytes_sent":95,"duration":1,"upstream_service_time":null,'
    '"x_forwarded_for":null,"user_agent":"curl/8.11.1","request_id":"3c1996a7",'
    '"authority":"probe.starfleet:8000","upstream_host":"10.244.0.13:8080",'
    '"upstream_cluster":"outbound|8000||probe.starfleet.svc.cluster.local"}'
)

# HAProxy doc/configuration.txt §8.2.3, HTTP log format example (with its syslog prefix).
HAPROXY_DOC_200 = (
    "Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in "
    'static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html '
    'HTTP/1.1"'
)

# traefik pkg/middlewares/accesslog/logger_formatters_test.go (CLF fixture).
TRAEFIK_TEST_200 = (
    '10.0.0.1 - - [10/Nov/2009:23:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "foo \\" bar" 1 '
    '"test@file" "http://127.0.0.1:8080" 1ms'
)

# AWS docs, Application Load Balancers, load-balancer-access-logs.md "Examples" (one line each).
_ALB_TAIL = (
    '"GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "
    '"Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z "forward" '
)
ALB_DOC_HTTP = (
    "http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 "
    '10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" '
    '"curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/'
    '73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 '
    '2018-07-02T22:22:48.364000Z "forward" "-" "-"'
)
ALB_DOC_LAMBDA_502 = (
    "http 2018-11-30T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - "
    "0.000 0.001 0.000 502 - 34 366 " + _ALB_TAIL + '"-" "LambdaInvalidResponse"'
)
