"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's
leaderelection does, so that two replicas of `why5xx watch` never report
the same finding twice: only the holder of the Lease diagnoses and exports.

The holder renews the Lease every `retry` seconds; another replica takes it
over when it has not seen the Lease change for `duration` seconds (its own
clock, never the holder's: clocks of two nodes disagree). Every write
carries the resourceVersion it read, so of two replicas racing for an
expired Lease exactly one wins (the other gets 409 Conflict).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from why5xx.sources.kubeapi import ClusterError, KubeApi

LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


class Elector:
    """Tries to hold Lease `name` in `namespace` as `identity`; `leading`
    is set while it does."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        *,
        duration: float = 15.0,
        retry: float = 2.0,
    ) -> None:
        self.api = api
        self.collection = LEASE_PATH.format(namespace=namespace)
        self.name = name
        self.identity = identity
        self.duration = duration
        self.retry = retry
        self.leading = threading.Event()
        self._observed: tuple[Any, Any] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0  # when, by this process's clock

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._try()
            except ClusterError:
                self.leading.clear()
            stop.wait(self.retry)
        self.release()

    def release(self) -> None:
        """Give the Lease up (holder emptied) so a follower takes over at once."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        answer = self.api.get(f"{self.collection}/{self.name}")
        spec = (answer.body.get("spec") or {}) if answer.ok else {}
        if spec.get("holderIdentity") == self.identity:
            released = {**answer.body, "spec": {**spec, "holderIdentity": ""}}
            try:
                self.api.write("PUT", f"{self.collection}/{self.name}", released)
            except ClusterError:
                return

    def _try(self) -> None:
        answer = self.api.get(f"{self.collection}/{self.name}")
        now = _timestamp()
        if answer.status == 404:
            lease = {"metadata": {"name": self.name}, "spec": self._spec(now, transitions=0)}
            self._won(self.api.write("POST", self.collection, lease).status == 201)  # Created
            return
        if not answer.ok:
            self.leading.clear()
            return
        spec = answer.body.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        seen = (holder, spec.get("renewTime"))
        if seen != self._observed:
            self._observed, self._observed_at = seen, time.monotonic()
        expired = time.monotonic() - self._observed_at > self.duration
        if holder not in ("", self.identity) and not expired:
            self.leading.clear()
            return
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        renewed = {**answer.body, "spec": self._spec(now, transitions=transitions, spec=spec)}
        written = self.api.write("PUT", f"{self.collection}/{self.name}", renewed)
        self._won(written.ok)

    def _spec(
        self, now: str, *, transitions: int, spec: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ours = (spec or {}).get("holderIdentity") == self.identity
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.duration)),
            "acquireTime": (spec or {}).get("acquireTime") if ours else now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _won(self, won: bool) -> None:
        if won:
            self.leading.set()
        else:
            self.leading.clear()


def _timestamp() -> str:
    """A MicroTime, as Lease times are written."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
