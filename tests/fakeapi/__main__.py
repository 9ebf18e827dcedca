"""Run the fake API server as a process (benchmarks measure a client that
does not share its interpreter with the server):

    python -m fakeapi --synthetic 10000 --kubeconfig /tmp/kc   # a 10,000-pod namespace
    python -m fakeapi BUNDLE_DIR... --kubeconfig /tmp/kc       # a recording

It writes a kubeconfig (context `fake`, TLS with a throw-away CA, a token
user), prints `ready URL` on stdout, and serves on 127.0.0.1 until SIGTERM
or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from fakeapi.fixtures import CONTEXT, TOKEN, USER
from fakeapi.kubeconfig import token_user, write_kubeconfig
from fakeapi.pki import make_pki
from fakeapi.server import FakeApiServer
from fakeapi.store import Store
from fakeapi.synthetic import NOW, namespace_objects

PODS_PER_SERVICE = 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakeapi", description=__doc__)
    parser.add_argument("recording", nargs="*", type=Path, help="bundle files or directories")
    parser.add_argument("--synthetic", type=int, metavar="PODS", help="serve a namespace of PODS")
    parser.add_argument("--namespace", default="shop", help="the synthetic namespace's name")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write it")
    args = parser.parse_args(argv)
    if bool(args.recording) == bool(args.synthetic):
        parser.error("give a recording or --synthetic PODS, not both")
    with tempfile.TemporaryDirectory(prefix="fakeapi-") as directory:
        pki = make_pki(Path(directory))
        tokens = {TOKEN: USER}
        if args.synthetic:
            objects = namespace_objects(
                args.namespace,
                services=max(args.synthetic // PODS_PER_SERVICE, 1),
                pods_per_service=min(args.synthetic, PODS_PER_SERVICE),
            )
            server = FakeApiServer(Store(objects), pki=pki, tokens=tokens, now=NOW)
        else:
            server = FakeApiServer.from_recording(args.recording, pki=pki, tokens=tokens)
        with server:
            write_kubeconfig(
                args.kubeconfig,
                server.url,
                pki.ca_pem,
                {CONTEXT: token_user(TOKEN)},
                namespace=args.namespace,
            )
            print(f"ready {server.url}", flush=True)
            signal.sigwait({signal.SIGTERM, signal.SIGINT})
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    sys.exit(main())
