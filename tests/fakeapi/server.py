"""A read-only Kubernetes API server over a recording, for tests and benchmarks.

It speaks enough of the real protocol that kubectl trusts it: discovery
(legacy and aggregated), get and list for namespaced, cluster-scoped and
custom resources, label and field selectors, `limit`/`continue` pages,
watches with `resourceVersion`, `timeoutSeconds` and bookmarks, Tables for
kubectl's printer, bearer-token authentication (which exec credential
plugins produce too), and scripted RBAC denials. It listens on 127.0.0.1
only, on a free port, over TLS (with `pki`) or plain HTTP, and keeps a log
of every call so tests can count them.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from fakeapi.pki import Pki
from fakeapi.resources import Resource
from fakeapi.selectors import (
    FieldRequirement,
    Requirement,
    SelectorError,
    parse_fields,
    parse_labels,
)
from fakeapi.store import Gone, Served, Store, Stored
from fakeapi.tables import table
from why5xx.sources.bundle import load_bundle

KUBE_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-fakeapi",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ANONYMOUS = "system:anonymous"
_JSON = "application/json"
_AGGREGATED = "as=APIGroupDiscoveryList"
_CONTINUE_VERSION = "meta.k8s.io/v1"
_POLL = 0.25  # how often an idle watch checks that its client is still there


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One request as the server saw it."""

    method: str
    path: str
    query: Mapping[str, str]
    user: str
    status: int
    seconds: float

    @property
    def resource(self) -> str:
        """The resource a call addressed (`pods`, `services`...), or its path
        for discovery."""
        parts = self.path.strip("/").split("/")
        if parts[:1] == ["api"] and len(parts) >= 3:
            rest = parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            rest = parts[3:]
        else:
            return self.path
        if rest[0] == "namespaces" and len(rest) >= 3:
            return rest[2]
        return rest[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Deny:
    """An RBAC denial: `verb` on `resource` (plural, e.g. `networkpolicies`)
    in `namespace` for `user`; None matches any. A request across all
    namespaces needs the permission in each, so a denial in one refuses it."""

    resource: str
    namespace: str | None = None
    verb: str | None = None
    user: str | None = None

    def applies(self, resource: str, namespace: str, verb: str, user: str) -> bool:
        return (
            self.resource == resource
            and self.namespace in (None, namespace or self.namespace)
            and self.verb in (None, verb)
            and self.user in (None, user)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = _JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    path: str
    query: Mapping[str, str]
    accept: str
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Address:
    """What a resource path names: a collection, or one object in it."""

    resource: Resource
    namespace: str | None  # None: all namespaces (or cluster-scoped)
    name: str | None


def _group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """(group, version, the rest) of an API path's parts."""
    if parts[0] == "api" and len(parts) >= 2:
        return "", parts[1], parts[2:]
    if parts[0] == "apis" and len(parts) >= 3:
        return parts[1], parts[2], parts[3:]
    return None


def status(code: int, reason: str, message: str, details: Mapping[str, str] | None = None) -> bytes:
    """A meta/v1 Status, as the API server answers errors."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = dict(details)
    return orjson.dumps(body)


class FakeApiServer:
    """Serve `store` on 127.0.0.1. Use as a context manager (or `start` and
    `stop`): the server thread, its connections and its watches end with it.

    `tokens` maps bearer tokens to user names; None serves everyone as
    `system:anonymous`. `now` fixes the clock (the `Date` header clients read
    as the API server's time); None follows the wall clock.
    """

    def __init__(
        self,
        store: Store,
        *,
        pki: Pki | None = None,
        tokens: Mapping[str, str] | None = None,
        now: datetime | None = None,
        aggregated_discovery: bool = True,
        bookmark_seconds: float = 1.0,
        denies: Iterable[Deny] = (),
        writable: Iterable[str] = (),
    ) -> None:
        self.store = store
        # Resources (plurals) that POST and PUT may write: `why5xx watch`'s
        # opt-in Events and its leader-election Lease. Everything else stays
        # read-only (405), so a test still sees any other write attempt.
        self.writable = frozenset(writable)
        self.pki = pki
        self.tokens = dict(tokens) if tokens is not None else None
        self.now = now
        self.aggregated_discovery = aggregated_discovery
        self.bookmark_seconds = bookmark_seconds
        self.denies: list[Deny] = list(denies)
        self.stopping = threading.Event()
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_recording(
        cls, paths: Sequence[Path], *, served: Served = "all", **options: Any
    ) -> FakeApiServer:
        """A server over bundle files (what `load_bundle` reads). The clock
        is the recording's capture time (its manifest, else the newest
        timestamp in it) and a capture's forbidden kinds stay forbidden."""
        bundle = load_bundle([str(p) for p in paths])
        if bundle.errors:
            raise ValueError("; ".join(str(e) for e in bundle.errors))
        manifest = bundle.manifest
        store = Store(
            (o.raw for o in bundle.objects),
            served=served,
            also_served=manifest.listed if manifest else (),
        )
        denies = list(options.pop("denies", ()))
        if manifest:
            denies += [
                Deny(resource=r.plural) for r in store.resources if r.kind in manifest.unavailable
            ]
        options.setdefault("now", bundle.snapshot().now)  # the time a diagnosis of it takes
        return cls(store, denies=denies, **options)

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> FakeApiServer:
        context = None
        if self.pki is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        self._http = _HttpServer(self, context)
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="fakeapi", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is None or self._thread is None:
            return
        self.stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()
        self._http.shutdown()
        self._http.close_connections()
        self._http.server_close()
        self._thread.join()
        self._http = None

    def drop_connections(self) -> None:
        """Cut every open connection (watches included), as a restarting API
        server or a load balancer in front of it does."""
        if self._http is not None:
            self._http.close_connections()

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._http is not None, "server not started"
        scheme = "https" if self.pki is not None else "http"
        return f"{scheme}://127.0.0.1:{self._http.server_address[1]}"

    # --- what tests look at ------------------------------------------------------

    @property
    def calls(self) -> tuple[Call, ...]:
        with self._lock:
            return tuple(self._calls)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    # --- request handling (called from the handler threads) ---------------------

    def authenticate(self, authorization: str | None) -> str | None:
        if self.tokens is None:
            return ANONYMOUS
        scheme, _, token = (authorization or "").partition(" ")
        return self.tokens.get(token) if scheme.lower() == "bearer" else None

    def handle(self, request: _Request) -> _Reply | _WatchPlan:
        path = request.path.rstrip("/") or "/"
        if path == "/version":
            return _Reply(status=200, body=orjson.dumps(KUBE_VERSION))
        if path in ("/healthz", "/livez", "/readyz"):
            return _Reply(status=200, body=b"ok", content_type="text/plain")
        parts = path.strip("/").split("/")
        if parts == ["api"]:
            return self._discovery(request, core=True)
        if parts == ["apis"]:
            return self._discovery(request, core=False)
        parsed = _group_version(parts)
        if parsed is None:
            return _not_found()
        group, version, rest = parsed
        if not rest:
            return self._resource_list(group, version)
        address = self._address(group, version, rest)
        if address is None:
            return _not_found()
        verb = "get" if address.name else "list"
        if request.query.get("watch") in ("1", "true"):
            verb = "watch"
        denied = self._denied(address, verb, request.user)
        if denied is not None:
            return denied
        try:
            labels = parse_labels(request.query.get("labelSelector", ""))
            fields = parse_fields(request.query.get("fieldSelector", ""), address.resource.kind)
        except SelectorError as exc:
            return _Reply(status=400, body=status(400, "BadRequest", str(exc)))
        if verb == "watch":
            return _WatchPlan(
                address=address,
                labels=labels,
                fields=fields,
                query=request.query,
            )
        if address.name is not None:
            return self._get(address)
        return self._list(request, address, labels, fields)

    def write(self, method: str, path: str, body: bytes) -> _Reply:
        """POST (create) or PUT (replace, with the resourceVersion it read:
        409 Conflict when another writer came first) of a writable resource."""
        parsed = _group_version(path.strip("/").split("/"))
        address = self._address(*parsed) if parsed is not None else None
        if address is None or address.resource.plural not in self.writable:
            return _Reply(status=405, body=status(405, "MethodNotAllowed", "read-only"))
        resource = address.resource
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _Reply(status=400, body=status(400, "BadRequest", str(exc)))
        metadata = {**(raw.get("metadata") or {}), "namespace": address.namespace or ""}
        if method == "POST" and not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = f"{metadata['generateName']}{time.monotonic_ns() % 10**8:x}"
        name = str(metadata.get("name") or "")
        raw = {**raw, "kind": resource.kind, "apiVersion": resource.group_version}
        raw["metadata"] = metadata
        with self.store.changed:
            existing = self.store.get(resource, address.namespace or "", name)
            if method == "POST" and existing is not None:
                message = f'{resource.qualified} "{name}" already exists'
                return _Reply(status=409, body=status(409, "AlreadyExists", message))
            if method == "PUT" and existing is None:
                return _not_found()
            if (
                method == "PUT"
                and existing is not None
                and str(metadata.get("resourceVersion")) != str(existing.rv)
            ):
                message = f'Operation cannot be fulfilled on {resource.qualified} "{name}"'
                return _Reply(status=409, body=status(409, "Conflict", message))
            stored = self.store.put(raw)
        return _Reply(status=201 if method == "POST" else 200, body=orjson.dumps(stored.raw))

    def _address(self, group: str, version: str, rest: list[str]) -> _Address | None:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 2:
            return None  # subresources (status, log, scale...) are not served
        resource = self.store.resource(group, version, rest[0])
        if resource is None or (namespace is not None and not resource.namespaced):
            return None
        if resource.namespaced and namespace is None and len(rest) == 2:
            return None  # a namespaced object needs its namespace
        return _Address(
            resource=resource, namespace=namespace, name=rest[1] if len(rest) == 2 else None
        )

    def _denied(self, address: _Address, verb: str, user: str) -> _Reply | None:
        resource = address.resource
        namespace = address.namespace or ""
        if not any(d.applies(resource.plural, namespace, verb, user) for d in self.denies):
            return None
        subject = f'{resource.qualified} "{address.name}"' if address.name else resource.qualified
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{user}" cannot {verb} resource '
            f'"{resource.plural}" in API group "{resource.group}" {where}'
        )
        details = {"group": resource.group, "kind": resource.plural}
        if address.name:
            details["name"] = address.name
        return _Reply(status=403, body=status(403, "Forbidden", message, details))

    def _get(self, address: _Address) -> _Reply:
        assert address.name is not None
        found = self.store.get(address.resource, address.namespace or "", address.name)
        if found is None:
            resource = address.resource
            message = f'{resource.qualified} "{address.name}" not found'
            details = {"name": address.name, "group": resource.group, "kind": resource.plural}
            return _Reply(status=404, body=status(404, "NotFound", message, details))
        return _Reply(status=200, body=orjson.dumps(found.raw))

    def _list(
        self,
        request: _Request,
        address: _Address,
        labels: tuple[Requirement, ...],
        fields: tuple[FieldRequirement, ...],
    ) -> _Reply:
        resource = address.resource
        after = None
        token = request.query.get("continue")
        if token:
            try:
                decoded = orjson.loads(base64.urlsafe_b64decode(token))
                after = (str(decoded["start"][0]), str(decoded["start"][1]))
            except (ValueError, KeyError, IndexError, TypeError):
                message = "continue key is not valid: the token cannot be decoded"
                return _Reply(status=400, body=status(400, "BadRequest", message))
        items, rv = self.store.select(resource, address.namespace, labels, fields, after)
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        limit = int(request.query.get("limit") or 0)
        if 0 < limit < len(items):
            last = items[limit - 1].key
            metadata["continue"] = base64.urlsafe_b64encode(
                orjson.dumps({"v": _CONTINUE_VERSION, "rv": rv, "start": list(last)})
            ).decode()
            if not labels and not fields:
                metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if "as=Table" in request.accept:
            body = table(resource, items, metadata, self.clock(), request.query)
            return _Reply(status=200, body=orjson.dumps(body))
        return _Reply(status=200, body=_list_body(resource, items, metadata))

    def _resource_list(self, group: str, version: str) -> _Reply:
        resources = [r for r in self.store.resources if (r.group, r.version) == (group, version)]
        if not resources:
            return _not_found()
        body = {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": resources[0].group_version,
            "resources": [r.discovery() for r in resources],
        }
        return _Reply(status=200, body=orjson.dumps(body))

    def _discovery(self, request: _Request, *, core: bool) -> _Reply:
        groups: dict[str, list[Resource]] = {}
        for resource in self.store.resources:
            if (resource.group == "") == core:
                groups.setdefault(resource.group, []).append(resource)
        if self.aggregated_discovery and _AGGREGATED in request.accept:
            version = "v2" if "v=v2;" in request.accept.replace(" ", "") + ";" else "v2beta1"
            body = _aggregated(groups, version)
            content_type = f"{_JSON};g=apidiscovery.k8s.io;v={version};{_AGGREGATED}"
            return _Reply(status=200, body=orjson.dumps(body), content_type=content_type)
        if core:
            versions = {"kind": "APIVersions", "versions": ["v1"]}
            return _Reply(status=200, body=orjson.dumps(versions))
        listed = []
        for name, resources in groups.items():
            versions_seen = list(dict.fromkeys(r.version for r in resources))
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions_seen]
            listed.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        body = {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}
        return _Reply(status=200, body=orjson.dumps(body))

    # --- watches ----------------------------------------------------------------

    def watch_events(self, plan: _WatchPlan, gone: Callable[[], bool]) -> Iterator[bytes]:
        """The lines of one watch stream, until its timeout, the server stops,
        or the client hangs up (`gone`)."""
        resource = plan.resource
        query = plan.query
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        initial = query.get("sendInitialEvents") in ("1", "true")
        since = query.get("resourceVersion") or "0"
        if since == "0" or initial:
            items, rv = self.store.select(resource, plan.namespace, plan.labels, plan.fields)
            for stored in items:
                yield _event("ADDED", stored.raw)
            if initial:
                yield _event("BOOKMARK", _bookmark(resource, rv, initial_end=True))
        else:
            if not since.isdigit():
                yield _event("ERROR", orjson.loads(status(400, "BadRequest", "bad version")))
                return
            rv = int(since)
        next_bookmark = time.monotonic() + self.bookmark_seconds
        while not self.stopping.is_set() and not gone():
            try:
                changes = self.store.changes_since(rv, resource.storage)
            except Gone as exc:
                yield _event("ERROR", orjson.loads(status(410, "Expired", str(exc))))
                return
            for change in changes:
                rv = change.stored.rv
                shaped = self.store.shaped(change.stored, resource)
                if plan.selects(shaped):
                    yield _event(change.type, shaped.raw)
            now = time.monotonic()
            if now >= deadline:
                return
            if bookmarks and now >= next_bookmark:
                yield _event("BOOKMARK", _bookmark(resource, max(rv, self.store.rv)))
                next_bookmark = now + self.bookmark_seconds
            with self.store.changed:
                if self.store.rv == rv and not self.stopping.is_set():
                    self.store.changed.wait(min(deadline, next_bookmark, now + _POLL) - now)


@dataclass(frozen=True, slots=True, kw_only=True)
class _WatchPlan:
    address: _Address
    labels: tuple[Requirement, ...]
    fields: tuple[FieldRequirement, ...]
    query: Mapping[str, str]

    @property
    def resource(self) -> Resource:
        return self.address.resource

    @property
    def namespace(self) -> str | None:
        return self.address.namespace

    def selects(self, stored: Stored) -> bool:
        if self.namespace is not None and stored.key[0] != self.namespace:
            return False
        if self.address.name is not None and stored.key[1] != self.address.name:
            return False
        return Store.matches(stored, self.resource, self.labels, self.fields)


def _list_body(resource: Resource, items: list[Stored], metadata: Mapping[str, Any]) -> bytes:
    """A typed list: built-in items carry no kind or apiVersion, as from a
    real server (custom resources keep theirs)."""
    if resource.builtin:
        rendered = [
            {k: v for k, v in s.raw.items() if k not in ("kind", "apiVersion")} for s in items
        ]
    else:
        rendered = [dict(s.raw) for s in items]
    return orjson.dumps(
        {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": metadata,
            "items": rendered,
        }
    )


def _aggregated(groups: Mapping[str, list[Resource]], version: str) -> dict[str, Any]:
    items = []
    for name, resources in groups.items():
        versions: dict[str, list[dict[str, Any]]] = {}
        for r in resources:
            entry: dict[str, Any] = {
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": "Namespaced" if r.namespaced else "Cluster",
                "singularResource": r.kind.lower(),
                "verbs": ["get", "list", "watch"],
            }
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            versions.setdefault(r.version, []).append(entry)
        items.append(
            {
                "metadata": {"name": name} if name else {},
                "versions": [
                    {"version": v, "resources": entries, "freshness": "Current"}
                    for v, entries in versions.items()
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }


def _bookmark(resource: Resource, rv: int, *, initial_end: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": resource.kind, "apiVersion": resource.group_version, "metadata": metadata}


def _event(kind: str, obj: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"type": kind, "object": obj}) + b"\n"


def _not_found() -> _Reply:
    message = "the server could not find the requested resource"
    return _Reply(status=404, body=status(404, "NotFound", message))


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, app: FakeApiServer, context: ssl.SSLContext | None) -> None:
        self.app = app
        self.context = context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection: socket.socket = request
        if self.context is not None:
            try:
                connection = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate, or went away
        with self._open_lock:
            self._open.add(connection)
        try:
            super().finish_request(connection, client_address)
        finally:
            with self._open_lock:
                self._open.discard(connection)
            if connection is not request:
                connection.close()

    def close_connections(self) -> None:
        with self._open_lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms ACK wait

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `FakeApiServer.calls` instead."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self.server.app.clock(), usegmt=True)

    def do_GET(self) -> None:
        app = self.server.app
        started = time.perf_counter()
        parsed = urlsplit(self.path)
        query = dict(parse_qsl(parsed.query, keep_blank_values=True))
        user = app.authenticate(self.headers.get("Authorization"))
        if user is None:
            reply: _Reply | _WatchPlan = _Reply(
                status=401, body=status(401, "Unauthorized", "Unauthorized")
            )
        else:
            accept = self.headers.get("Accept", "")
            reply = app.handle(_Request(path=parsed.path, query=query, accept=accept, user=user))
        code = 200 if isinstance(reply, _WatchPlan) else reply.status
        call = Call(
            method="GET", path=parsed.path, query=query, user=user or "", status=code, seconds=0.0
        )
        if isinstance(reply, _WatchPlan):
            app.record(call)  # now: a watch may stream for minutes
            self._stream(app.watch_events(reply, self._client_gone))
            return
        # Logged before the answer leaves: a client that saw it finds it in `calls`.
        app.record(replace(call, seconds=time.perf_counter() - started))
        self._send(reply)

    def _refuse(self) -> None:
        body = status(405, "MethodNotAllowed", "the fake API server is read-only")
        path = urlsplit(self.path).path
        user = self.server.app.authenticate(self.headers.get("Authorization")) or ""
        self.server.app.record(
            Call(method=self.command, path=path, query={}, user=user, status=405, seconds=0.0)
        )
        self._send(_Reply(status=405, body=body))

    def _client_gone(self) -> bool:
        """Whether the client closed a streaming connection: it sends nothing
        more on a watch, so a readable socket means end of file."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return not self.connection.recv(1)
        except (OSError, ssl.SSLError):
            return True

    def _write(self) -> None:
        app = self.server.app
        path = urlsplit(self.path).path
        user = app.authenticate(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if user is None:
            reply = _Reply(status=401, body=status(401, "Unauthorized", "Unauthorized"))
        else:
            reply = app.write(self.command, path, body)
        app.record(
            Call(
                method=self.command,
                path=path,
                query={},
                user=user or "",
                status=reply.status,
                seconds=0.0,
            )
        )
        self._send(reply)

    do_POST = do_PUT = _write
    do_PATCH = do_DELETE = _refuse

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Audit-Id", f"{time.monotonic_ns():x}")
        self.end_headers()
        self.wfile.write(reply.body)

    def _stream(self, lines: Iterator[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", _JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in lines:
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up
        self.close_connection = True
