"""Debian's headless Chromium, as the browser tests and `make report-example` start it."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# A quiet, reproducible headless run: no GPU, no QUIC, no first-run pages, no
# background fetches (component updates, sync, safe-browsing lists).
FLAGS = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Playwright) -> Browser:
    """Playwright gives each launch a fresh --user-data-dir of its own;
    `chromium_sandbox` False is --no-sandbox (root in a container has no user
    namespace for Chromium's sandbox)."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make test-deps` installs chromium")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), chromium_sandbox=False, args=FLAGS
    )
