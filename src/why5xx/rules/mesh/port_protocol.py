"""mesh-port-protocol: a Service port that declares another protocol than the
app behind it speaks, so the sidecars speak the wrong one to it."""

from __future__ import annotations

from collections.abc import Iterator

from why5xx import kubectl
from why5xx.evidence import fact
from why5xx.model import Draft, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Snapshot
from why5xx.views.frontend import istio_sidecar
from why5xx.views.ports import service_ports
from why5xx.views.protocols import (
    DECLARE,
    HTTP1,
    SERVER_FIRST,
    TLS,
    Declared,
    Speaks,
    app_protocol,
    istio_protocol,
)
from why5xx.views.service import ServiceTarget

SIDECAR_STATUS = "sidecar.istio.io/status"


def _protocol_problem(declared: Declared, app: Speaks) -> str | None:
    """How the sidecars fail when a port's declared protocol is not what
    the app speaks; None when they cope (an opaque TCP port carries
    anything, sniffing detects HTTP/1.1 and HTTP/2)."""
    sidecar = declared.protocol
    if sidecar == HTTP1 and app.speaks.http2:
        return (
            "the sidecars speak HTTP/1.1 to an app that speaks only HTTP/2 (gRPC); the app "
            "rejects the requests, and clients get 503 (Envoy UPE/UC, 'upstream connect error or "
            "disconnect/reset before headers') or gRPC UNAVAILABLE"
        )
    if sidecar is not None and sidecar.http2 and app.speaks == HTTP1:
        return (
            "the sidecars speak HTTP/2 (prior knowledge) to an app that speaks HTTP/1.1; it "
            "cannot parse the connection preface and closes it: 503 (Envoy UPE/UC)"
        )
    if sidecar is not None and sidecar.http and app.speaks == TLS:
        return (
            "the app serves TLS itself, but the sidecars parse the port as HTTP: the client's TLS "
            "handshake is not HTTP, so the connection is reset (clients see resets or 503)"
        )
    if sidecar is None and app.speaks == SERVER_FIRST:
        return (
            "Istio sniffs the first bytes of each connection to detect the protocol, but a "
            "server-first protocol waits for the server to speak first: connections hang until "
            "a timeout (and the callers of this app answer 5xx)"
        )
    return None


@rule(cause="mesh-port-protocol", inputs=("Service", "Pod"))
def mesh_port_protocol(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """A Service port tells Istio another protocol than the app behind it speaks.

    **What it finds**: for a Service whose pods run an Istio sidecar, each
    port whose protocol as Istio selects it contradicts what the container
    behind it shows it speaks. Istio's selection: `appProtocol` when set
    (it wins over the name), else the port `name`, each by its prefix
    before `-` (`http`, `http2`, `https`, `grpc`, `grpc-web`, `tcp`, `tls`,
    `mongo`, `mysql`, `redis`); otherwise TCP on the well-known
    server-first ports 25, 53, 3306 and 27017, and protocol sniffing
    (HTTP/1.1 and HTTP/2 are detected) on the others. What the app
    speaks: a gRPC probe on the port (also one Istio's injector rewrote
    to its agent on port 15020: the sidecar's `ISTIO_KUBE_APP_PROBERS`
    keeps the original), else the container port's name
    (`grpc`, `h2c`, `http2`, `http`, `https`, `tls`, or a server-first
    protocol: `mysql`, `smtp`, `submission`, `ftp`, `pop3`, `imap`). The
    mismatches reported: HTTP/1.1 declared for an HTTP/2-only (gRPC) app;
    HTTP/2 or gRPC declared for an HTTP/1.1 app; HTTP declared for an app
    that serves TLS itself; a server-first protocol left to sniffing. An
    unprefixed name alone is not reported: sniffing handles HTTP.

    **Why it is a 5xx**: the sidecars pick their codec from the declared
    protocol: HTTP/1.1 sent to a gRPC server, HTTP/2 prior knowledge to
    an HTTP/1.1 server, or a TLS handshake parsed as HTTP fail on every
    request (503 with Envoy `UPE` or `UC`); sniffing waits for the client's
    first bytes, which a server-first protocol never sends.

    **Fix**: declare what the app speaks, with `appProtocol` (it takes
    precedence) or the port name prefix: `grpc`, `http`, `https` (TLS the
    sidecar passes through), `tcp` for server-first protocols.

    **Sources**: Istio "Protocol Selection" (explicit selection by name
    `<protocol>[-<suffix>]` or `appProtocol`, "appProtocol takes precedence
    over the port name", automatic detection of HTTP and HTTP/2); Istio
    "Application Requirements" (server-first protocols, ports assumed TCP);
    istio `pkg/config/kube/conversion.go` (`ConvertProtocol`) and
    `pilot/cmd/pilot-agent/status` (`KubeAppProbers`: `httpGet`,
    `tcpSocket`, `grpc`); istioctl analyze IST0118
    (PortNameIsNotUnderNamingConvention).
    """
    meshed = [p for p in target.live_pods if istio_sidecar(p.spec)]
    if not meshed:
        return
    pod = meshed[0]
    raws = list(target.service.spec.get("ports") or ())
    for port in service_ports(target.service):
        if port.protocol != "TCP":
            continue
        declared = istio_protocol(port, raws[port.index])
        app = app_protocol(snap, pod, port)
        problem = _protocol_problem(declared, app) if app else None
        if app is None or problem is None:
            continue
        want = DECLARE[app.speaks]
        yield Draft(
            subject=target.service.ref,
            title=(
                f"Service {target.name} port {port} tells Istio "
                f"{declared.protocol or 'nothing (sniffing)'} ({declared.how}), but the app speaks "
                f"{app.speaks} ({app.how})"
            ),
            explanation=f"Behind port {port.port} of {target.name}, {problem}.",
            evidence=(
                fact(
                    target.service,
                    declared.field,
                    declared.how,
                    expected=f"appProtocol: {want} (or a name starting {want}-)",
                ),
                fact(app.object, app.field, app.how),
                fact(
                    pod,
                    (
                        f"metadata.annotations[{SIDECAR_STATUS}]"
                        if SIDECAR_STATUS in pod.annotations
                        else "spec.containers[istio-proxy]"
                    ),
                    "Istio sidecar injected",
                ),
            ),
            confirm=(
                kubectl.get_yaml(target.service, "{.spec.ports}"),
                kubectl.get_yaml(app.object),
                kubectl.logs(pod, "istio-proxy") + " --tail=200",
            ),
            fix=Fix(
                summary=f"Declare {want} on port {port}: appProtocol {want} wins over the name.",
                patch=kubectl.json_patch(
                    target.service,
                    [
                        {
                            "op": "add",
                            "path": kubectl.json_pointer(
                                "spec", "ports", str(port.index), "appProtocol"
                            ),
                            "value": want,
                        }
                    ],
                ),
            ),
            confidence=0.85 if app.strong else 0.65,
            severity=None if app.strong else Severity.WARNING,
        )
