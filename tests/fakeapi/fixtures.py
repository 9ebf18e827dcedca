"""pytest fixtures: a session CA, and fake clusters started per test and
stopped (threads, connections, watches) when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakeapi.kubeconfig import token_user, write_kubeconfig
from fakeapi.pki import Pki, make_pki
from fakeapi.server import FakeApiServer

TOKEN = "oncall-token"
USER = "oncall"
CONTEXT = "fake"


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeCluster:
    """A started server and a kubeconfig (context `fake`, a token user) for it."""

    server: FakeApiServer
    kubeconfig: Path


StartCluster = Callable[..., FakeCluster]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def fake_cluster(pki: Pki, tmp_path: Path) -> Iterator[StartCluster]:
    """`fake_cluster([bundle paths], **server options)` -> a running FakeCluster."""
    started: list[FakeApiServer] = []

    def start(paths: Sequence[Path], **options: Any) -> FakeCluster:
        options.setdefault("pki", pki)
        options.setdefault("tokens", {TOKEN: USER})
        server = FakeApiServer.from_recording(paths, **options)
        started.append(server.start())
        kubeconfig = write_kubeconfig(
            tmp_path / f"kubeconfig-{len(started)}",
            server.url,
            pki.ca_pem if server.pki is not None else None,
            {CONTEXT: token_user(TOKEN)},
        )
        return FakeCluster(server=server, kubeconfig=kubeconfig)

    yield start
    for server in started:
        server.stop()
