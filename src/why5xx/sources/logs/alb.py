"""AWS Application Load Balancer access logs.

Space-separated fields: `type time elb client:port target:port
request_processing_time target_processing_time response_processing_time
elb_status_code target_status_code received_bytes sent_bytes "request"
"user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" ...`; AWS
adds fields at the end ("ignore any fields at the end of the log entry that
you were not expecting"), so only the leading ones are read. The
`target_status_code` is "recorded only if a connection was established to
the target and the target sent a response. Otherwise, it is set to -": a 5xx
with `-` there was made by the load balancer. With the AWS Load Balancer
Controller's `target-type: ip`, the target is the pod IP.
"""

from __future__ import annotations

import re

from why5xx.sources.logs.reader import LineKind, LogFormat
from why5xx.sources.logs.record import Access, Attempt, Symptom, iso_time, status_code

_LINE = re.compile(
    r"^(?:http|https|h2|grpcs|ws|wss) (?P<time>\S+) \S+ \S+ (?P<target>\S+) "
    r"-?[\d.]+ (?P<target_time>-?[\d.]+) -?[\d.]+ (?P<status>\d{3}|-) (?P<target_status>\d{3}|-) "
    r'\d+ \d+ "[^"]*" "[^"]*" \S+ \S+ (?P<group>\S+)'
    r'(?: "[^"]*" "[^"]*" "[^"]*" \S+ \S+ "[^"]*" "[^"]*" "(?P<reason>[^"]*)")?(?: .*)?$'
)


def classify(
    status: int, target_status: int | None, target: str, reason: str
) -> tuple[Symptom, str]:
    if reason and reason != "-":
        return Symptom.UNKNOWN, f"{status}, error_reason {reason}"
    if target_status == status:
        return Symptom.APP, f"the target answered {status} itself"
    if target_status is not None:
        return Symptom.UNKNOWN, f"{status}, target_status_code {target_status}"
    if status == 503 and not target:
        return Symptom.NO_ENDPOINTS, "503, target -: no registered healthy target"
    if status == 502 and target:
        return (
            Symptom.PREMATURE_CLOSE,
            "502, target_status_code -: the target closed the connection before answering",
        )
    if status == 502:
        return Symptom.CONNECT_FAILED, "502, target -: the load balancer could not connect"
    if status == 504:
        return Symptom.READ_TIMEOUT, "504, target_status_code -: the target did not answer in time"
    return Symptom.UNKNOWN, f"{status}, target_status_code -"


def _group_name(arn: str) -> str:
    """`arn:aws:elasticloadbalancing:...:targetgroup/k8s-shop-checkout-1a2b/73e2d6bc24d8a067`
    -> `k8s-shop-checkout-1a2b`."""
    _, _, rest = arn.partition(":targetgroup/")
    return rest.split("/", 1)[0] if rest else ""


def parse(line: str) -> Access | None:
    match = _LINE.match(line)
    if match is None:
        return None
    time = iso_time(match["time"])
    status = status_code(match["status"])
    if time is None or status is None:
        return None
    target = "" if match["target"] == "-" else match["target"]
    target_status = status_code(match["target_status"])
    symptom, signal = classify(status, target_status, target, match["reason"] or "")
    return Access(
        time=time,
        status=status,
        service=_group_name(match["group"]),
        attempts=(Attempt(address=target, status=target_status),) if target else (),
        symptom=symptom,
        signal=signal,
        line=line,
    )


ALB = LogFormat(
    name="alb",
    kinds=(
        LineKind(
            shape=re.compile(rb"\n(?:http|https|h2|grpcs|ws|wss) \d{4}-\d\d-\d\dT"),
            candidate=re.compile(rb" 5\d\d (?:\d{3}|-) \d+ \d+ \""),
            parse=parse,
        ),
    ),
)
