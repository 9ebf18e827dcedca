"""From what a log line says (a `Symptom`) to a cause id of DESIGN.md.

The table holds what the signal alone allows. Several symptoms fit more
than one cause ("connection refused" is a pod that stopped during a rollout,
a crash, or a wrong targetPort); they stay `unclassified` unless the pod
behind the upstream, from a snapshot, decides (`refine`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from why5xx.logmodel import UNCLASSIFIED, PodInfo
from why5xx.sources.logs.record import Symptom

CAUSE_OF: dict[Symptom, str] = {
    Symptom.PREMATURE_CLOSE: "keepalive-race",
    Symptom.RESET: "keepalive-race",
    Symptom.READ_TIMEOUT: "upstream-timeout",
    Symptom.CONNECT_TIMEOUT: "upstream-timeout",
    Symptom.NO_HEALTHY: "outlier-ejected",
    Symptom.HEADER_TOO_BIG: "upstream-header-too-big",
    Symptom.PROTOCOL: "backend-protocol-mismatch",
    Symptom.MTLS: "mtls-mismatch",
    Symptom.OVERFLOW: "connection-pool-exhausted",
    Symptom.DNS: "external-name-dns",
}
# Symptoms of a pod that is not answering on its port: which cause depends on the pod.
_POD_SYMPTOMS = frozenset(
    {
        Symptom.REFUSED,
        Symptom.CONNECT_FAILED,
        Symptom.UNREACHABLE,
        Symptom.CONNECT_TIMEOUT,
        Symptom.PREMATURE_CLOSE,
        Symptom.RESET,
    }
)
# A 5xx this long before a pod began to go away still counts as its going:
# the proxy's endpoint list lags the API server by about a second.
_LAG = timedelta(seconds=2)


def refine(symptom: Symptom, pod: PodInfo | None, when: datetime) -> str:
    """The cause of a 5xx at `when` with `symptom` from the upstream `pod`."""
    if pod is not None and symptom in _POD_SYMPTOMS:
        going = pod.state in ("terminating", "gone") or pod.current is False
        if going and (pod.gone_since is None or when >= pod.gone_since - _LAG):
            return "rollout-no-prestop"
        if pod.last_reason == "OOMKilled":
            return "oom-killed"
        if pod.restarts > 0 and pod.state == "not-ready":
            return "crash-loop"
        if symptom is Symptom.REFUSED and pod.port_declared is False:
            return "target-port-mismatch"
        if symptom is Symptom.CONNECT_TIMEOUT and pod.ingress_isolated:
            # An unanswered SYN to a live pod that a policy isolates: dropped packets.
            return "network-policy-block"
    return CAUSE_OF.get(symptom, UNCLASSIFIED)
