"""ingress-nginx's log for generated traffic: access lines in the
controller's default `log-format-upstream` and, for failed upstream
attempts, nginx's error-log line before them, as `kubectl logs` interleaves
the controller's stdout and stderr."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from why5xx.benchmark.world import Raw, World

_CLIENTS = ("203.0.113.7", "198.51.100.23", "192.0.2.41", "203.0.113.88", "198.51.100.150")
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0",
    "okhttp/4.12.0",
    "curl/8.11.1",
)
# nginx's error-log wording for each way an upstream attempt fails.
REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
CLOSED = "upstream prematurely closed connection while reading response header from upstream"
READ_TIMEOUT = (
    "upstream timed out (110: Connection timed out) while reading response header from upstream"
)
CONNECT_TIMEOUT = "upstream timed out (110: Connection timed out) while connecting to upstream"
TOO_BIG = "upstream sent too big header while reading response header from upstream"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    ago: float  # seconds before the capture
    upstream: str  # pod ip:port
    status: int
    method: str = "GET"
    error: str = ""  # the error-log message of a failed attempt
    took: float = 0.004


def access_log(world: World, backend: str, host: str, requests: Sequence[Request]) -> list[str]:
    """The controller's lines for `requests` to `backend` (`ns-svc-port`)."""
    lines = []
    for index, request in enumerate(sorted(requests, key=lambda r: -r.ago)):
        when = world.at(request.ago)
        client = world.pick(_CLIENTS)
        path = world.pick(
            ["/", "/api/orders", "/api/cart/items", "/checkout", "/api/v1/search?q=shoes"]
        )
        line = f'"{request.method} {path} HTTP/1.1"'
        if request.error:
            lines.append(
                f"{when:%Y/%m/%d %H:%M:%S} [error] 31#31: *{9000 + index} {request.error}, "
                f"client: {client}, server: {host}, request: {line}, "
                f'upstream: "http://{request.upstream}{path}", host: "{host}"'
            )
        body = (
            world.rng.randrange(150, 600)
            if request.status >= 500
            else world.rng.randrange(300, 90_000)
        )
        lines.append(
            f'{client} - - [{when:%d/%b/%Y:%H:%M:%S} +0000] {line} {request.status} {body} "-" '
            f'"{world.pick(_AGENTS)}" {world.rng.randrange(300, 900)} {request.took:.3f} '
            f"[{backend}] [] {request.upstream} {0 if request.status >= 500 else body} "
            f"{request.took:.3f} {request.status} "
            f"{world.rng.getrandbits(128):032x}"
        )
    return lines


def pod_address(objects: list[Raw], namespace: str, name: str) -> str | None:
    """`ip:port` of a pod in the finished objects (its first container port)."""
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == "Pod" and meta["name"] == name and meta.get("namespace") == namespace:
            ip = (obj.get("status") or {}).get("podIP")
            ports = obj["spec"]["containers"][0].get("ports") or [{"containerPort": 8080}]
            return f"{ip}:{ports[0]['containerPort']}" if ip else None
    return None


def log_requests(
    world: World,
    service: Raw,
    host: str,
    traffic: Callable[[list[Raw]], list[Request]],
) -> None:
    """Once the world is finished (pod IPs known), write `traffic` to the
    controller's log, with successful requests around it."""
    meta = service["metadata"]
    port = service["spec"]["ports"][0]["port"]
    backend = f"{meta['namespace']}-{meta['name']}-{port}"

    def write(objects: list[Raw]) -> None:
        failed = traffic(objects)
        upstreams = [r.upstream for r in failed] or ["10.244.1.10:8080"]
        fine = [
            Request(
                ago=world.rng.uniform(1, 1800),
                upstream=world.pick(upstreams),
                status=200,
                took=world.rng.uniform(0.002, 0.3),
            )
            for _ in range(world.rng.randrange(20, 60))
        ]
        world.log_lines.extend(access_log(world, backend, host, [*failed, *fine]))

    world.after.append(write)
