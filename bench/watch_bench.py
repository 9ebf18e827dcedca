"""`why5xx watch` throughput and memory on a simulated 10,000-pod namespace
with churn: the fake API server (plain HTTP on 127.0.0.1, in this process)
streams pod status changes; the watcher turns each into its store and
endpoint bookkeeping. The baseline, in the same run, is a bare watch client
per watched kind that only reads and decodes the same streams
(`KubeApi.watch`), so the ratio is what the watcher's own work costs.

    python bench/watch_bench.py [--pods 10000] [--changes 20000]
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakeapi.kubeconfig import token_user, write_kubeconfig  # noqa: E402
from fakeapi.server import FakeApiServer  # noqa: E402
from fakeapi.store import Store  # noqa: E402
from fakeapi.synthetic import namespace_objects  # noqa: E402
from why5xx.sources.kinds import KINDS  # noqa: E402
from why5xx.sources.kubeapi import KubeApi, load_config  # noqa: E402
from why5xx.watch import WATCHED, Metrics, Watcher  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _churn(server: FakeApiServer, pods: list[dict[str, object]], changes: int) -> None:
    """`changes` pod updates, round robin, as kubelets report status."""
    for number in range(changes):
        pod = copy.copy(pods[number % len(pods)])
        pod["metadata"] = {**pod["metadata"], "annotations": {"bench/change": str(number)}}  # type: ignore[dict-item]
        server.store.put(pod)


def _timed(wait_for: Callable[[], bool], start: Callable[[], None]) -> float:
    started = time.perf_counter()
    start()
    while not wait_for():
        time.sleep(0.01)
    return time.perf_counter() - started


@contextmanager
def _cluster(objects: list[dict[str, Any]]) -> Iterator[tuple[FakeApiServer, KubeApi]]:
    """A fresh fake API server (its change log empty) and a client of it."""
    server = FakeApiServer(Store(objects), tokens={"t": "bench"}, bookmark_seconds=1).start()
    kubeconfig = Path(tempfile.mkdtemp()) / "kc"
    write_kubeconfig(kubeconfig, server.url, None, {"b": token_user("t")})
    api = KubeApi(load_config(str(kubeconfig), "b"), timeout=30)
    try:
        yield server, api
    finally:
        api.close()
        server.stop()


def _bare(objects: list[dict[str, Any]], pods: list[dict[str, Any]], changes: int) -> float:
    """Seconds for bare clients on the watcher's watches (one per kind, as the
    fake server's cost grows with them) to read and decode `changes`."""
    seen = [0]
    with _cluster(objects) as (server, api):
        since = str(server.store.rv)

        def read(kind: str) -> None:
            path = KINDS[kind].path(KINDS[kind].versions[0], "shop")
            for event in api.watch(path, {"resourceVersion": since}, seconds=600):
                if kind == "Pod" and event.get("type") == "MODIFIED":
                    seen[0] += 1
                if seen[0] >= changes:
                    return

        for kind in WATCHED:
            threading.Thread(target=read, args=(kind,), daemon=True).start()
        time.sleep(0.5)
        return _timed(lambda: seen[0] >= changes, lambda: _churn(server, pods, changes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=20_000)
    args = parser.parse_args()
    objects = namespace_objects(services=max(1, args.pods // 20), pods_per_service=20)
    pods = [o for o in objects if o["kind"] == "Pod"]
    bare_seconds = _bare(objects, pods, args.changes)

    rss_before = _rss_mb()
    with _cluster(objects) as (server, api):
        metrics = Metrics()
        watcher = Watcher(api, ["shop"], metrics, debounce=1.0, watch_seconds=600)
        listed = _timed(lambda: watcher.ready, lambda: None if watcher.start() else None)  # noqa: RUF034
        rss_listed = _rss_mb()

        def processed() -> float:
            value = metrics.registry.get_sample_value("why5xx_watch_events_total", {"kind": "Pod"})
            return value or 0.0

        watcher_seconds = _timed(
            lambda: processed() >= args.changes, lambda: _churn(server, pods, args.changes)
        )
        rss_after = _rss_mb()
        watcher.close()
    print(f"pods {len(pods)}, objects {len(objects)}, pod changes {args.changes}")
    print(
        f"initial list of every kind: {listed:.2f} s, peak RSS {rss_listed:.0f} MB "
        f"(before: {rss_before:.0f} MB)"
    )
    print(f"bare watch clients: {args.changes / bare_seconds:,.0f} events/s")
    print(
        f"watcher:            {args.changes / watcher_seconds:,.0f} events/s "
        f"({bare_seconds / watcher_seconds:.2f}x the bare clients)"
    )
    print(
        f"peak RSS after {args.changes} changes: {rss_after:.0f} MB "
        f"(+{rss_after - rss_listed:.0f} MB over the listed state, the fake server's "
        "change log included)"
    )


if __name__ == "__main__":
    main()
