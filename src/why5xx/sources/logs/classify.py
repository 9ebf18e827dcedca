"""From what a log line says (a `Symptom`) to a cause id of DESIGN.md.

`CAUSE_OF` holds what the signal alone decides. Several symptoms fit more
than one cause ("connection refused" is a pod that stopped during a rollout,
a crash, or a wrong targetPort): the pod behind the upstream, from a
snapshot, may decide (`refine`); else the line keeps its ranked
`candidates`, never a bare "unclassified".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from why5xx.logmodel import UNCLASSIFIED, PodInfo
from why5xx.sources.logs.record import Symptom

CAUSE_OF: dict[Symptom, str] = {
    Symptom.PREMATURE_CLOSE: "keepalive-race",
    Symptom.RESET: "keepalive-race",
    Symptom.READ_TIMEOUT: "upstream-timeout",
    Symptom.HEADER_TOO_BIG: "upstream-header-too-big",
    Symptom.PROTOCOL: "backend-protocol-mismatch",
    Symptom.MTLS: "mtls-mismatch",
    Symptom.OVERFLOW: "connection-pool-exhausted",
    Symptom.DNS: "external-name-dns",
    Symptom.NO_SERVICE: "ingress-backend-missing",
    Symptom.NO_INGRESS_CLASS: "ingress-class-missing",
    # The app server killed a worker that overran its timeout: the backend is
    # slower than a timeout on its path (here the app server's own).
    Symptom.WORKER_TIMEOUT: "upstream-timeout",
    Symptom.LOOPBACK: "listen-localhost",
}
# The causes a symptom fits, most likely first (after the decided one, if any).
_NO_ENDPOINT = (
    "selector-mismatch",
    "readiness-probe-failing",
    "scaled-to-zero",
    "crash-loop",
    "pods-pending",
    "target-port-mismatch",
    "no-matching-workload",
)
_NOT_ANSWERING = (
    "rollout-no-prestop",
    "crash-loop",
    "target-port-mismatch",
    "listen-localhost",
    "oom-killed",
)
CANDIDATES: dict[Symptom, tuple[str, ...]] = {
    Symptom.NO_ENDPOINTS: _NO_ENDPOINT,
    # Envoy's "no healthy upstream": every host ejected, or none at all (a
    # subset no pod matches, no ready endpoint); the line cannot tell which.
    Symptom.NO_HEALTHY: ("outlier-ejected", "mesh-destination-missing", *_NO_ENDPOINT),
    Symptom.NO_SERVICE: ("ingress-backend-missing",),
    Symptom.NO_INGRESS_CLASS: ("ingress-class-missing",),
    Symptom.REFUSED: _NOT_ANSWERING,
    Symptom.CONNECT_FAILED: (*_NOT_ANSWERING, "network-policy-block", "mtls-mismatch"),
    Symptom.UNREACHABLE: ("rollout-no-prestop", "network-policy-block"),
    Symptom.CONNECT_TIMEOUT: ("network-policy-block", "rollout-no-prestop", "upstream-timeout"),
    Symptom.READ_TIMEOUT: ("upstream-timeout",),
    Symptom.PREMATURE_CLOSE: (
        "keepalive-race",
        "backend-protocol-mismatch",  # a TLS port spoken to in plain HTTP closes at once
        "rollout-no-prestop",
        "oom-killed",
        "crash-loop",
    ),
    Symptom.RESET: ("keepalive-race", "rollout-no-prestop", "oom-killed", "mtls-mismatch"),
    Symptom.HEADER_TOO_BIG: ("upstream-header-too-big",),
    Symptom.PROTOCOL: ("backend-protocol-mismatch", "mesh-port-protocol"),
    Symptom.INVALID_RESPONSE: ("backend-protocol-mismatch", "upstream-header-too-big"),
    Symptom.MTLS: ("mtls-mismatch",),
    Symptom.OVERFLOW: ("connection-pool-exhausted",),
    Symptom.DNS: ("external-name-dns",),
    Symptom.HEALTH_CHECK: ("readiness-probe-failing", "target-port-mismatch", "crash-loop"),
    Symptom.WORKER_TIMEOUT: ("upstream-timeout",),
    Symptom.WORKER_KILLED: ("oom-killed", "upstream-timeout", "crash-loop"),
    Symptom.WORKER_CRASHED: ("crash-loop", "oom-killed"),
    Symptom.TCP_PROXIED: ("mesh-port-protocol",),
    Symptom.LOOPBACK: ("listen-localhost",),
}
# A 5xx whose line says nothing more: the causes its status fits.
_BY_STATUS: dict[int, tuple[str, ...]] = {
    502: ("rollout-no-prestop", "keepalive-race", "crash-loop", "backend-protocol-mismatch"),
    503: (
        "readiness-probe-failing",
        "selector-mismatch",
        "scaled-to-zero",
        "endpoints-terminating",
    ),
    504: ("upstream-timeout", "network-policy-block"),
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


def refine(symptom: Symptom, pod: PodInfo | None, when: datetime | None) -> str:
    """The cause of a 5xx at `when` (None: a line without a time) with
    `symptom` from the upstream `pod`."""
    if pod is not None and symptom in _POD_SYMPTOMS:
        going = pod.state in ("terminating", "gone") or pod.current is False
        if going and (pod.gone_since is None or when is None or when >= pod.gone_since - _LAG):
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


# A keep-alive race shows in several failed requests, not in one or two (a
# TLS port spoken to in plain HTTP, or a crash, closes a first request too).
RACE_MIN_LINES = 3
_CLOSED = frozenset({Symptom.PREMATURE_CLOSE, Symptom.RESET})
# What an app server's own messages say killed its workers, most telling first.
_WORKER_FAULTS = (
    (Symptom.WORKER_TIMEOUT, "upstream-timeout"),
    (Symptom.WORKER_KILLED, "oom-killed"),
)


def worker_fault(symptoms: set[Symptom]) -> str | None:
    """The cause the app server's messages name for its workers' deaths."""
    return next((cause for symptom, cause in _WORKER_FAULTS if symptom in symptoms), None)


def settle(symptom: Symptom, decided: str, lines: int, worker: str | None) -> str:
    """A decided cause, weighed against the rest of the input: a close while
    the app server killed its workers is that kill, not a keep-alive race;
    and fewer than RACE_MIN_LINES closed requests cannot show a race (they
    stay candidates)."""
    if symptom not in _CLOSED or decided != "keepalive-race":
        return decided
    if worker is not None:
        return worker
    return decided if lines >= RACE_MIN_LINES else UNCLASSIFIED


def candidates(symptom: Symptom, decided: str = UNCLASSIFIED, status: int = 0) -> tuple[str, ...]:
    """The causes a line fits, most likely first: the decided one, then what
    its symptom (else its status) fits."""
    fits = CANDIDATES.get(symptom) or _BY_STATUS.get(status, ())
    first = () if decided == UNCLASSIFIED else (decided,)
    return (*first, *(cause for cause in fits if cause != decided))
