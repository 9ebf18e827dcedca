"""`why5xx watch`: the diagnosis waiting when the alert fires.

One process watches a cluster's Services, EndpointSlices, Pods, workloads,
Events and routes (`sources.watch.Reflector`, one per kind) into memory.
When a Service loses its ready endpoints (all of them, or below
`threshold` of the most it had), or its endpoints start terminating (a
rollout draining pods), the Service is diagnosed `debounce` seconds later,
once the burst of changes has settled; a Service with findings is diagnosed
again on each change of its endpoints, so a recovery clears them. Findings
are exported as Prometheus metrics and, when asked, posted to a webhook.
Strictly read-only: list and watch only.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from why5xx.engine import Target, diagnose
from why5xx.leader import Elector
from why5xx.model import Report, Severity, Status
from why5xx.snapshot import Obj, Snapshot
from why5xx.sources.kinds import KINDS
from why5xx.sources.kubeapi import ClusterError, KubeApi
from why5xx.sources.watch import Change, ChangeType, Reflector, Restart

# What the rules of a Service read most; kinds the cluster does not serve are
# retried rarely and their rules skipped, as in a live diagnosis.
WATCHED = (
    "Service",
    "EndpointSlice",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "Event",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
)
ServiceKey = tuple[str, str]  # namespace, name
EVENT_REASON = "Why5xx"


class Metrics:
    """The metrics `/metrics` serves, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.findings = Gauge(
            "why5xx_findings",
            "A cause why5xx found for a Service (1 while it holds)",
            ("namespace", "service", "cause", "severity"),
            registry=self.registry,
        )
        self.ready = Gauge(
            "why5xx_ready_endpoints",
            "Ready endpoints of a Service, from its EndpointSlices",
            ("namespace", "service"),
            registry=self.registry,
        )
        self.seconds = Histogram(
            "why5xx_diagnosis_seconds",
            "Time to diagnose one Service",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
        )
        self.restarts = Counter(
            "why5xx_watch_restarts",
            "Watches started again, by kind and reason (gone: 410, listed again; broken)",
            ("kind", "reason"),
            registry=self.registry,
        )
        self.events = Counter(
            "why5xx_watch_events",
            "Watch events processed, by kind",
            ("kind",),
            registry=self.registry,
        )


@dataclass(slots=True)
class _Endpoints:
    ready: int = 0
    terminating: int = 0
    most_ready: int = 0  # the most ready endpoints seen: "below threshold" of it


@dataclass(slots=True)
class _State:
    """What the watcher knows, behind one lock."""

    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    slices: dict[ServiceKey, dict[str, Obj]] = field(default_factory=dict)  # by Service
    endpoints: dict[ServiceKey, _Endpoints] = field(default_factory=dict)
    reported: dict[ServiceKey, set[tuple[str, str]]] = field(default_factory=dict)
    due: dict[ServiceKey, float] = field(default_factory=dict)  # when to diagnose


class Watcher:
    """Watches `namespaces` (None: all) and keeps `metrics` up to date."""

    def __init__(
        self,
        api: KubeApi,
        namespaces: Sequence[str] | None,
        metrics: Metrics,
        *,
        debounce: float = 5.0,
        threshold: float = 0.5,
        webhook: str | None = None,
        events: bool = False,
        elector: Elector | None = None,
        notify: Callable[[str], None] = lambda message: None,
        watch_seconds: int = 290,
        pause: float = 1.0,
    ) -> None:
        self.api = api
        self.metrics = metrics
        self.debounce = debounce
        self.threshold = threshold
        self.webhook = webhook
        self.events = events  # post a Kubernetes Event on each Service with a new finding
        self.elector = elector  # None: this process always reports
        self._was_leading = False
        self.notify = notify  # one line per problem (a refused webhook)
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._state = _State()
        scopes: Sequence[str | None] = namespaces or (None,)
        self._reflectors = [
            Reflector(
                api,
                KINDS[kind],
                namespace,
                self._on_change,
                stop=self.stop,
                on_restart=self._on_restart,
                watch_seconds=watch_seconds,
                pause=pause,
            )
            for kind in WATCHED
            # A cluster-scoped kind (IngressClass) is one collection, whatever -n says.
            for namespace in (scopes if KINDS[kind].namespaced else (None,))
        ]
        self._threads: list[threading.Thread] = []

    # --- running ----------------------------------------------------------------

    def start(self) -> Watcher:
        for reflector in self._reflectors:
            name = f"why5xx-watch-{reflector.spec.kind}"
            self._threads.append(threading.Thread(target=reflector.run, name=name, daemon=True))
        self._threads.append(threading.Thread(target=self._diagnose_due, daemon=True))
        if self.elector is not None:
            elector = threading.Thread(target=self.elector.run, args=(self.stop,), daemon=True)
            self._threads.append(elector)
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def ready(self) -> bool:
        """Every kind listed once (`/readyz`)."""
        return all(r.synced.is_set() for r in self._reflectors)

    # --- changes -----------------------------------------------------------------

    def _on_restart(self, kind: str, reason: Restart) -> None:
        self.metrics.restarts.labels(kind, reason.value).inc()

    def _on_change(self, change: Change) -> None:
        self.metrics.events.labels(change.kind).inc()
        listed = change.type is ChangeType.LISTED
        with self._lock:
            state = self._state
            if listed:
                scope = change.namespace
                for key in [
                    key
                    for key in state.objects
                    if key[0] == change.kind and scope in (None, key[1])
                ]:
                    self._forget(state.objects.pop(key))
            changed = change.objects if listed else (change.obj,) if change.obj else ()
            for obj in changed:
                if change.type is ChangeType.DELETED:
                    self._forget(state.objects.pop((obj.kind, obj.namespace, obj.name), obj))
                else:
                    self._remember(obj)
            services = {s for s in map(_service_of, changed) if s is not None}
            if listed and change.kind in ("Service", "EndpointSlice"):
                services |= {(ns, name) for kind, ns, name in state.objects if kind == "Service"}
            for service in services:
                self._endpoints_changed(
                    service, initial=listed, added=change.type is ChangeType.ADDED
                )
            scheduled = bool(state.due)
        if scheduled:  # most changes (pods, events) schedule nothing
            self._wake.set()

    def _remember(self, obj: Obj) -> None:
        self._state.objects[(obj.kind, obj.namespace, obj.name)] = obj
        service = _service_of(obj)
        if obj.kind == "EndpointSlice" and service is not None:
            self._state.slices.setdefault(service, {})[obj.name] = obj

    def _forget(self, obj: Obj) -> None:
        service = _service_of(obj)
        if obj.kind == "EndpointSlice" and service is not None:
            self._state.slices.get(service, {}).pop(obj.name, None)

    def _endpoints_changed(self, service: ServiceKey, *, initial: bool, added: bool) -> None:
        """Recount a Service's endpoints; schedule its diagnosis when they
        fell, started terminating, or it has findings to confirm or clear."""
        state = self._state
        if ("Service", *service) not in state.objects:
            state.due[service] = time.monotonic()  # deleted: its findings go
            return
        before = state.endpoints.get(service, _Endpoints())
        now = _count(state.slices.get(service, {}).values())
        now.most_ready = max(before.most_ready, now.ready)
        state.endpoints[service] = now
        self.metrics.ready.labels(*service).set(now.ready)
        fell = now.ready < before.ready and (
            now.ready == 0 or now.ready < self.threshold * now.most_ready
        )
        draining = now.terminating > before.terminating
        unserved = now.ready == 0 and (initial or added)
        if fell or draining or unserved or state.reported.get(service):
            state.due.setdefault(service, time.monotonic() + (0 if initial else self.debounce))

    # --- diagnosing ----------------------------------------------------------------

    def _diagnose_due(self) -> None:
        while not self.stop.is_set():
            self._wake.wait(timeout=0.2)
            self._wake.clear()
            if not self.ready or not self._leading():
                continue
            with self._lock:
                now = time.monotonic()
                due = [s for s, when in self._state.due.items() if when <= now]
                for service in due:
                    del self._state.due[service]
                objects = list(self._state.objects.values())
            if due:
                snap = Snapshot.build(objects, now=self.api.server_time, listed=WATCHED)
                for service in due:
                    self._diagnose(snap, service)

    def _leading(self) -> bool:
        """Whether this process reports. A replica that loses the Lease takes
        its findings back (the new leader reports them); one that gains it
        diagnoses every Service without ready endpoints, as at start."""
        leading = self.elector is None or self.elector.leading.is_set()
        if leading == self._was_leading:
            return leading
        self._was_leading = leading
        with self._lock:
            if leading:
                for service, counted in self._state.endpoints.items():
                    if counted.ready == 0 or counted.terminating:
                        self._state.due.setdefault(service, time.monotonic())
                return True
            reported, self._state.reported = self._state.reported, {}
        for service, found in reported.items():
            for cause, severity in found:
                self.metrics.findings.remove(*service, cause, severity)
        return False

    def _diagnose(self, snap: Snapshot, service: ServiceKey) -> None:
        namespace, name = service
        if snap.get("Service", namespace, name) is None:
            self._publish(service, None)
            return
        with self.metrics.seconds.time():
            report = diagnose(snap, Target(kind="Service", namespace=namespace, name=name))
        self._publish(service, report)

    def _publish(self, service: ServiceKey, report: Report | None) -> None:
        """Findings of a report replace the Service's earlier ones (no series
        is left behind or doubled); a new cause is posted to the webhook."""
        found = _causes(report)
        with self._lock:
            before = self._state.reported.get(service, set())
            self._state.reported[service] = found
        for cause, severity in before - found:
            self.metrics.findings.remove(*service, cause, severity)
        for cause, severity in found:
            self.metrics.findings.labels(*service, cause, severity).set(1)
        if report is None:  # the Service is gone
            with contextlib.suppress(KeyError):
                self.metrics.ready.remove(*service)
        elif found - before:
            if self.webhook:
                self._post(report)
            if self.events:
                self._event(report)

    def _event(self, report: Report) -> None:
        """A Warning Event on the Service, as `kubectl describe service` shows it."""
        target, top = report.target, report.findings[0]
        service = self._state.objects.get(("Service", target.namespace, target.name))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{target.name}.why5xx-", "namespace": target.namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Service",
                "namespace": target.namespace,
                "name": target.name,
                "uid": service.uid if service is not None else "",
            },
            "reason": EVENT_REASON,
            "type": "Warning",
            "message": f"{top.cause}: {top.title}. Fix: {top.fix.summary}"[:1024],
            "source": {"component": "why5xx"},
            "reportingComponent": "why5xx",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        path = f"/api/v1/namespaces/{target.namespace}/events"
        try:
            answer = self.api.write("POST", path, event)
        except ClusterError as exc:
            self.notify(f"event on Service {target.namespace}/{target.name}: {exc}")
            return
        if answer.status >= 300:
            self.notify(f"event on Service {target.namespace}/{target.name}: HTTP {answer.status}")

    def _post(self, report: Report) -> None:
        top = report.findings[0]
        target = report.target
        text = (
            f"why5xx: Service {target.namespace}/{target.name} is {report.status.value}: "
            f"{top.cause} ({'/'.join(map(str, top.http_status))}): {top.title}. "
            f"Fix: {top.fix.summary}"
        )
        body: dict[str, Any] = {"text": text, "report": report.to_json()}
        try:
            answer = httpx2.post(self.webhook or "", json=body, timeout=10)
        except httpx2.HTTPError as exc:
            self.notify(f"webhook {self.webhook}: {exc}")
            return
        if answer.status_code >= 300:
            self.notify(f"webhook {self.webhook}: HTTP {answer.status_code}")


def _service_of(obj: Obj) -> ServiceKey | None:
    """The Service an object counts for: itself, or an EndpointSlice's."""
    if obj.kind == "Service":
        return obj.namespace, obj.name
    if obj.kind == "EndpointSlice":
        owner = obj.labels.get("kubernetes.io/service-name")
        return (obj.namespace, owner) if owner else None
    return None


def _count(slices: Iterable[Obj]) -> _Endpoints:
    counted = _Endpoints()
    for endpoint in (e for obj in slices for e in obj.raw.get("endpoints") or ()):
        conditions = (endpoint or {}).get("conditions") or {}
        if conditions.get("terminating"):
            counted.terminating += 1
        elif conditions.get("ready", True):
            counted.ready += 1
    return counted


def _causes(report: Report | None) -> set[tuple[str, str]]:
    """(cause, severity) of what a report found, info notes left out."""
    if report is None or report.status is Status.HEALTHY:
        return set()
    return {(f.cause, f.severity.value) for f in report.findings if f.severity is not Severity.INFO}


def serve(watcher: Watcher, address: tuple[str, int]) -> ThreadingHTTPServer:
    """`/metrics` (Prometheus text format), `/healthz` (the process answers)
    and `/readyz` (every kind listed once), in a thread of their own."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(watcher.metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._reply(200, b"ok\n")
            elif path == "/readyz":
                ready = watcher.ready
                self._reply(200 if ready else 503, b"ok\n" if ready else b"listing\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
            return

    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="why5xx-metrics", daemon=True).start()
    return server
