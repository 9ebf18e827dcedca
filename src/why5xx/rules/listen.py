"""The app listens on the loopback interface only: connections to the pod IP,
which is where kube-proxy, ingress controllers and sidecars send traffic,
are refused.

What the app server listens on comes from `why5xx.appservers` (command,
args and env of the container), which cites each server's default.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from why5xx import kubectl
from why5xx.appservers import AppServer, Listen, app_server, env_listening, with_listen
from why5xx.evidence import fact
from why5xx.model import Draft, Evidence, Fix, Severity
from why5xx.rules.base import rule
from why5xx.snapshot import Event, Obj, Snapshot
from why5xx.views.backend import Serving, serving_containers
from why5xx.views.pods import container_spec, container_states, probe_kills
from why5xx.views.service import Endpoint, ServiceTarget

# kubelet probe output for a refused TCP connect, e.g. `Get "http://10.244.1.7:8000/healthz":
# dial tcp 10.244.1.7:8000: connect: connection refused` (httpGet and tcpSocket alike).
_REFUSED = re.compile(r"dial tcp \[?([0-9a-fA-F.:]+?)\]?:(\d+): connect: connection refused")


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A probe the kubelet sent to the pod IP that was refused while the
    container was running."""

    pod: Obj
    event: Event


@dataclass(frozen=True, slots=True, kw_only=True)
class Impact:
    """What the loopback listener does to the Service's traffic now."""

    pods: tuple[Obj, ...]  # the Service's pods whose own spec listens on loopback
    refused: tuple[Refusal, ...]
    ready: tuple[Endpoint, ...]  # ready endpoints of those pods: traffic sent to them
    others: int  # ready endpoints of the Service's other pods, which still serve


def _closed(listen: Sequence[Listen], ports: Sequence[int]) -> Listen | None:
    """The loopback address the server would serve the Service's target port
    on, when it listens on no other address for that port."""
    serving = [a for a in listen if a.port is None or not ports or a.port in ports]
    if not serving or not all(a.loopback for a in serving):
        return None
    return serving[0]


def _affected(target: ServiceTarget, serving: Serving) -> list[Obj]:
    """The Service's live pods whose own container spec (not just their
    workload's template: an older revision may still run) listens on
    loopback only for the Service's port."""
    out = []
    for pod in target.live_pods:
        container = container_spec(pod, serving.name)
        server = app_server(container) if container is not None else None
        if server is not None and _closed(server.listen, serving.ports) is not None:
            out.append(pod)
    return out


def _probed_while_running(snap: Snapshot, pod: Obj, container: str) -> bool:
    """Whether the container's probe failures are the listener's doing: it
    runs and never restarted, or its restarts are the kubelet's probe kills
    (a container crashing on its own refuses probes for another reason)."""
    state = next((s for s in container_states(pod) if s.name == container), None)
    if state is None:
        return False
    if any(kill.container == container for kill in probe_kills(snap, pod)):
        return True
    return state.state == "running" and state.restarts == 0


def _refusals(
    snap: Snapshot, pods: Sequence[Obj], container: str, port: int | None
) -> list[Refusal]:
    """Probe failures `connect: connection refused` on the pod's own IP (and
    the listen port, when known) while the container runs."""
    field = f"spec.containers{{{container}}}"
    out: list[Refusal] = []
    for pod in pods:
        ip = str(pod.status.get("podIP") or "")
        if not ip or not _probed_while_running(snap, pod, container):
            continue
        for event in reversed(snap.events_for("Pod", pod.namespace, pod.name)):
            found = _REFUSED.search(event.message)
            if (
                event.reason == "Unhealthy"
                and event.field_path in ("", field)
                and found is not None
                and found[1] == ip
                and (port is None or int(found[2]) == port)
            ):
                out.append(Refusal(pod=pod, event=event))
                break
    return out


def _fix(serving: Serving, server: AppServer, listen: Listen) -> Fix:
    owner = serving.owner
    summary = (
        f"Make {server.server} in container {serving.name} listen on every interface "
        f"({listen.opened} instead of {listen.value}); the pod's network namespace is "
        "private to the pod, so this exposes nothing beyond the pod IP, which NetworkPolicies "
        "still guard."
    )
    env = env_listening(serving.container, listen)
    if env is not None:
        variable, value = env
        patch = (
            f"kubectl set env -n {owner.namespace} {kubectl.resource(owner)} -c {serving.name} "
            f"{variable}={shlex.quote(value)}"
        )
        return Fix(summary=summary, patch=patch)
    found = with_listen(serving.container, listen)
    if found is None:
        return Fix(summary=summary)
    field, words = found
    pointer = f"{serving.pointer}/{field}"
    return Fix(
        summary=summary,
        patch=kubectl.json_patch(owner, [{"op": "replace", "path": pointer, "value": words}]),
    )


def _impact(snap: Snapshot, target: ServiceTarget, serving: Serving, listen: Listen) -> Impact:
    pods = _affected(target, serving)
    names = {pod.name for pod in pods}
    ready = target.endpoints.ready if target.endpoints is not None else ()
    return Impact(
        pods=tuple(pods),
        refused=tuple(_refusals(snap, pods, serving.name, listen.port)),
        ready=tuple(e for e in ready if e.pod in names),
        others=sum(1 for e in ready if e.pod not in names),
    )


@rule(cause="listen-localhost", inputs=("Service", "Pod"))
def listen_localhost(snap: Snapshot, target: ServiceTarget) -> Iterator[Draft]:
    """The app listens on 127.0.0.1/localhost only, so connections to the pod IP are refused.

    **What it finds**: a container behind the Service whose server, by its
    command, args or env (`why5xx.appservers`), serves the Service's target
    port only on the loopback interface (`127.0.0.0/8`, `::1`,
    `localhost`), with no other address for that port:

    - explicit: gunicorn `--bind 127.0.0.1:8000` / `-b localhost:8000` /
      `GUNICORN_CMD_ARGS`, uvicorn `--host 127.0.0.1` / `UVICORN_HOST`,
      hypercorn `--bind`, `flask run --host` / `FLASK_RUN_HOST`, Django
      `runserver 127.0.0.1:8000`, Rails `rails server -b 127.0.0.1`, puma
      `-b tcp://127.0.0.1:3000`, Spring Boot `server.address`
      (`--server.address=`, `-Dserver.address=`, `SERVER_ADDRESS`), a
      `node` command's `HOST`, and any other program's `--listen`/`--addr`/
      `--bind`/`--*-listen-address`/`--*-bind-address` flag or
      `LISTEN_ADDR`/`BIND_ADDRESS`/`HTTP_ADDR` variable;
    - by default: uvicorn (`--host` "[default: 127.0.0.1]"), hypercorn
      (`127.0.0.1:8000`), `flask run` (`127.0.0.1`), Django runserver
      (`127.0.0.1:8000`), gunicorn (`127.0.0.1:8000`, unless `PORT` is set:
      then `0.0.0.0:$PORT`). An nginx `listen 127.0.0.1:...` lives in a
      config file the spec does not show, and is not judged.

    **Why it is a 5xx**: kube-proxy, ingress controllers and sidecars connect
    to the pod IP, where nothing listens: every connection is refused. With
    a readiness probe on that port the kubelet's probe is refused too
    (`dial tcp <pod IP>:<port>: connect: connection refused`), the pods never
    become ready and proxies answer 503; without one the pods are ready and
    every request gets a 502 (nginx `connect() failed (111: Connection
    refused)`, Envoy `UF`).

    **Severity**: judged on the pods whose own spec listens on loopback
    (an earlier revision may still run). Critical when the cluster shows
    traffic failing now and no other pod of the Service serves: probes
    refused on those pods' IP while the container runs (not restarting on
    its own: restarts must be the kubelet's probe kills), or an explicit
    loopback address on pods whose endpoints are ready. Otherwise a
    warning: other pods still carry the traffic (a stuck rollout), or a
    default that a config file in the image can override (gunicorn.conf.py,
    .flaskenv, hypercorn's `--config`) has no refusal to confirm it.

    **Fix**: listen on `0.0.0.0` (or `[::]`); the patch rewrites the flag,
    argument or variable.

    **Sources**: gunicorn `config.py` (`Bind`: default `['127.0.0.1:8000']`,
    `['0.0.0.0:$PORT']` when `PORT` is set); uvicorn `main.py` / `--help`
    (`--host`, default `127.0.0.1`; "Use --host 0.0.0.0 to make the
    application available on your local network"); hypercorn `config.py`
    (`_bind = ["127.0.0.1:8000"]`); flask `cli.py` (`run --host`, default
    `127.0.0.1`, port 5000); Django `runserver.py` (default address
    `127.0.0.1`, port 8000); Rails `server_command.rb` (`-b` "defaults to
    'localhost' in development"); Spring Boot `ServerProperties.address`
    ("Network address to which the server should bind"); kubelet probe
    output (`connect: connection refused`).
    """
    for serving in serving_containers(snap, target):
        server = app_server(serving.container)
        listen = _closed(server.listen, serving.ports) if server is not None else None
        if server is None or listen is None:
            continue
        yield _draft(target, serving, server, listen, _impact(snap, target, serving, listen))


def _draft(
    target: ServiceTarget, serving: Serving, server: AppServer, listen: Listen, impact: Impact
) -> Draft:
    owner = serving.owner
    port = listen.port or (serving.ports[0] if serving.ports else None)
    where = f"{listen.host}:{port}" if port else listen.host
    evidence = [
        fact(
            owner,
            f"{serving.path}.{listen.field}",
            listen.text,
            expected=f"{listen.opened} (every interface)",
        ),
        *(
            Evidence(
                object=r.pod.ref,
                field=f"events[Unhealthy] x{r.event.count}",
                observed=r.event.message,
                source=r.event.source,
            )
            for r in impact.refused[:3]
        ),
    ]
    pods = {pod.name: pod for pod in impact.pods}
    evidence += [
        fact(
            pods[e.pod],
            "status.podIP",
            f"{e.ip}: a ready endpoint of Service {target.name}, where proxies connect",
        )
        for e in impact.ready[:3]
        if e.pod in pods
    ]
    default = (
        ""
        if listen.explicit
        else f" This is {server.server}'s default: the spec does not set the address."
    )
    confirm = [kubectl.logs(p, serving.name) for p in impact.pods[:1]]
    confirm += [kubectl.events(r.pod) for r in impact.refused[:1]]
    if target.selector:
        confirm.append(kubectl.get_pods(target.namespace, target.selector, wide=True))
    confirm.append(kubectl.endpoint_slices(target.service))
    # Traffic fails now when no other pod serves, and the broken pods are kept
    # out of the endpoints by refused probes, or get traffic while the spec
    # itself (not a default a config file could change) says loopback.
    failing = not impact.others and (
        bool(impact.refused) or (listen.explicit and bool(impact.ready))
    )
    return Draft(
        subject=owner.ref,
        title=(
            f"{server.server} in {owner.kind} {owner.name} listens on {where} only "
            f"({listen.text}): the pod IP refuses connections"
        ),
        explanation=(
            f"Container {serving.name} serves Service {target.name}'s port on the loopback "
            "interface, reachable from inside the pod only, while traffic arrives on the pod "
            f"IP: {_consequence(impact)}.{default}"
        ),
        evidence=tuple(evidence),
        confirm=tuple(confirm),
        fix=_fix(serving, server, listen),
        severity=None if failing else Severity.WARNING,
        http_status=(502, 503) if impact.refused else (502,),
        confidence=0.9 if impact.refused else 0.8 if listen.explicit else 0.55,
    )


def _consequence(impact: Impact) -> str:
    others = (
        f"; the Service's {impact.others} other ready endpoint(s) still carry the traffic"
        if impact.others
        else ""
    )
    if impact.ready:
        pods = f"{len(impact.ready)} ready pod(s)"
        return f"every connection a proxy opens to {pods} is refused (502){others}"
    if impact.refused:
        stuck = others or ": no ready endpoints, so proxies answer 503"
        return f"the kubelet's probes to the pod IP are refused, so the pods never get ready{stuck}"
    return f"pods started from this spec will refuse every connection{others}"
