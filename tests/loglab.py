"""The log lab: real nginx and HAProxy on 127.0.0.1 in front of small Python
upstreams that misbehave on purpose, so the tests parse what real proxies
wrote rather than what we think they write.

Everything binds to loopback on free ports, lives in a temporary directory
and is stopped by its fixture; every wait and every request is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUEST_TIMEOUT = 5.0
START_TIMEOUT = 10.0
SLOW_SECONDS = 3.0  # longer than the proxies' 1 s read timeout
HUGE_HEADER = 40_000  # larger than nginx's 4k proxy buffer and HAProxy's 16k bufsize


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def binary(name: str, package: str) -> str:
    """The path of a Debian binary; installed when missing and installable,
    else the test is skipped (as `make test` installs it, it runs there)."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
        for command in (install, ["apt-get", "update", "-qq"], install):
            subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
            if Path(f"/usr/sbin/{name}").exists():
                return f"/usr/sbin/{name}"
    pytest.skip(f"{name} is not installed and cannot be installed here")


# --- upstreams ---------------------------------------------------------------


def _read_request(conn: socket.socket) -> bool:
    """Read one HTTP/1.1 request (headers and Content-Length body); False at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


def _respond(conn: socket.socket, extra: bytes = b"") -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n" + extra + b"\r\nok"
    )


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(REQUEST_TIMEOUT * 2)
        self.server.connections.add(conn)
        behaviour = self.server.behaviour
        served = 0
        with contextlib.suppress(OSError):
            while _read_request(conn):
                if behaviour == "reset":
                    # SO_LINGER 0: close() sends RST instead of FIN.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()  # before socketserver's shutdown(SHUT_WR) could send a FIN
                    return
                if behaviour == "keepalive-close" and served:
                    return  # its idle timer fired as the proxy reused the connection
                if behaviour == "slow":
                    time.sleep(SLOW_SECONDS)
                header = b"X-Big: " + b"a" * HUGE_HEADER + b"\r\n" if behaviour == "huge" else b""
                _respond(conn, header)
                served += 1


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    behaviour = "ok"
    connections: set[socket.socket]


@dataclass
class Upstream:
    """A misbehaving HTTP server: ok, reset, keepalive-close, slow, huge."""

    host: str
    port: int
    behaviour: str
    _server: _Server | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> Upstream:
        server = _Server((self.host, self.port), _Handler)
        server.behaviour = self.behaviour
        server.connections = set()
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused, as from a pod whose
        process exited on SIGTERM."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for conn in list(self._server.connections):  # the process is gone: so are its sockets
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._server = None


@contextlib.contextmanager
def upstreams(*specs: tuple[str, str]) -> Iterator[dict[str, Upstream]]:
    """Start (name, behaviour) upstreams on 127.0.0.1; "refuse" only reserves a port."""
    started: dict[str, Upstream] = {}
    try:
        for name, behaviour in specs:
            upstream = Upstream("127.0.0.1", free_port(), behaviour)
            started[name] = upstream if behaviour == "refuse" else upstream.start()
        yield started
    finally:
        for upstream in started.values():
            upstream.stop()


# --- proxies -----------------------------------------------------------------


@dataclass
class Proxy:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path

    def request(self, method: str, path: str, body: bytes | None = None) -> int:
        """One request on a fresh connection; the status, or 0 if none came."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "text/plain"})
            return conn.getresponse().status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            conn.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"proxy exited: {log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("proxy did not start listening in time")


def wait_for(path: Path, text: str) -> None:
    """Until `text` appears in the file (a proxy's log), for START_TIMEOUT at most."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{text!r} did not appear in {path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# The default `log-format-upstream` of ingress-nginx (config.go), with its
# `$req_id` map from the controller's nginx.tmpl.
NGINX_LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] '
    "[$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length "
    "$upstream_response_time $upstream_status $req_id"
)


# The configmap docs' JSON example with the upstream fields users add
# (kubernetes/ingress-nginx#3639), under `log-format-escape-json`.
NGINX_JSON_FORMAT = (
    '{"time": "$time_iso8601", "remote_addr": "$remote_addr", "request_id": "$req_id", '
    '"bytes_sent": $bytes_sent, "request_time": $request_time, "status": $status, '
    '"vhost": "$host", "path": "$uri", "method": "$request_method", '
    '"upstream_addr": "$upstream_addr", "upstream_status": "$upstream_status", '
    '"upstream_response_time": "$upstream_response_time", '
    '"proxy_upstream_name": "$proxy_upstream_name"}'
)


@contextlib.contextmanager
def nginx(directory: Path, routes: dict[str, tuple[list[str], str]]) -> Iterator[Proxy]:
    """nginx with one location per route: path -> (upstream addresses,
    extra directives). Upstreams are named like ingress-nginx's
    (`lab-<route>-80`) and, like its Lua balancer, never marked down."""
    exe = binary("nginx", "nginx")
    port = free_port()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    blocks, locations = [], []
    for route, (servers, extra) in routes.items():
        name = f"lab-{route}-80"
        members = "".join(f"    server {s} max_fails=0;\n" for s in servers)
        blocks.append(f"  upstream {name} {{\n{members}    keepalive 8;\n  }}\n")
        locations.append(
            f"    location /{route} {{\n"
            f'      set $proxy_upstream_name "{name}";\n'
            f"      {extra}\n"
            f"      proxy_pass http://{name};\n"
            "    }\n"
        )
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = directory / "nginx.conf"
    config.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log notice;\n"
        "events { worker_connections 256; }\nhttp {\n"
        f"  client_body_temp_path {directory}/body;\n  proxy_temp_path {directory}/proxy;\n"
        f"  fastcgi_temp_path {directory}/fastcgi;\n  uwsgi_temp_path {directory}/uwsgi;\n"
        f"  scgi_temp_path {directory}/scgi;\n"
        '  map $http_x_request_id $req_id { default $http_x_request_id; "" $request_id; }\n'
        f"  log_format upstreaminfo '{NGINX_LOG_FORMAT}';\n"
        f"  access_log {directory}/access.log upstreaminfo;\n"
        f"  log_format upstreamjson escape=json '{NGINX_JSON_FORMAT}';\n"
        f"  access_log {directory}/access.json upstreamjson;\n"
        # ingress-nginx's defaults, with timeouts shortened so tests stay fast.
        "  proxy_connect_timeout 1s; proxy_read_timeout 1s; proxy_send_timeout 1s;\n"
        "  proxy_buffer_size 4k; proxy_next_upstream error timeout; proxy_next_upstream_tries 3;\n"
        '  proxy_http_version 1.1; proxy_set_header Connection "";\n'
        + "".join(blocks)
        + f"  server {{\n    listen 127.0.0.1:{port};\n"
        '    set $proxy_upstream_name "-"; set $proxy_alternative_upstream_name "";\n'
        + "".join(locations)
        + "  }\n}\n"
    )
    startup = directory / "startup.log"
    with startup.open("wb") as out:
        process = subprocess.Popen(
            [exe, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port, process, directory / "error.log")
        yield Proxy(port=port, process=process, directory=directory)
    finally:
        _stop(process)


@contextlib.contextmanager
def haproxy(directory: Path, backends: dict[str, str]) -> Iterator[Proxy]:
    """HAProxy in HTTP mode, `option httplog`, logging to its standard output
    in syslog (RFC 3164) format; one backend per route: path -> server lines."""
    exe = binary("haproxy", "haproxy")
    port = free_port()
    uses = "".join(f"  use_backend {r} if {{ path_beg /{r} }}\n" for r in backends)
    blocks = "".join(f"backend {r}\n{servers}\n" for r, servers in backends.items())
    config = directory / "haproxy.cfg"
    config.write_text(
        "global\n  log stdout format rfc3164 local0\n\n"
        "defaults\n  mode http\n  log global\n  option httplog\n"
        # A short connect timeout: HAProxy waits that long between retries of a refused connect.
        "  timeout connect 200ms\n  timeout client 5s\n"
        "  timeout server 1s\n  timeout queue 300ms\n\n"
        f"frontend lab\n  bind 127.0.0.1:{port}\n{uses}\n{blocks}"
    )
    log, messages = directory / "haproxy.log", directory / "haproxy.stderr"
    with log.open("wb") as out, messages.open("wb") as err:
        process = subprocess.Popen([exe, "-db", "-f", str(config)], stdout=out, stderr=err)
    try:
        _wait_listening(port, process, messages)
        yield Proxy(port=port, process=process, directory=directory)
    finally:
        _stop(process)
