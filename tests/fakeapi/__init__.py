"""A fake Kubernetes API server over recorded objects, for tests and benchmarks.

with FakeApiServer.from_recording([bundle_dir], pki=pki) as server:
    write_kubeconfig(path, server.url, pki.ca_pem, {"fake": token_user("t")})
    ...                                  # kubectl or why5xx against it
    server.calls                         # every request it answered
"""

from fakeapi.kubeconfig import exec_plugin, exec_user, token_user, write_kubeconfig
from fakeapi.pki import Pki, make_pki
from fakeapi.server import Call, Deny, FakeApiServer
from fakeapi.store import Store

__all__ = [
    "Call",
    "Deny",
    "FakeApiServer",
    "Pki",
    "Store",
    "exec_plugin",
    "exec_user",
    "make_pki",
    "token_user",
    "write_kubeconfig",
]
