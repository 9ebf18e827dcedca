"""Start-up: each command imports what it needs, no more. How long that takes
is bench/run.py's to say (`make bench-quick`); this holds the line on what
gets imported, in a fresh interpreter."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import why5xx

EXAMPLE = Path(__file__).parent.parent / "examples" / "selector-version-bump"


def imported_by(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after `why5xx ARGV`."""
    probe = (
        "import contextlib, io, json, sys\n"
        "from why5xx.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({list(argv)!r})\n"
        "sys.__stdout__.write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout))


def test_version_imports_nothing_of_the_work() -> None:
    modules = imported_by("--version")
    ours = {m for m in modules if m.startswith("why5xx")}
    assert ours == {"why5xx", "why5xx.cli", "why5xx.errors", "why5xx.version"}
    assert not {"rich", "yaml", "orjson", "importlib.metadata"} & modules


def test_diagnose_imports_neither_lint_benchmark_log_readers_nor_live_client() -> None:
    modules = imported_by(
        "diagnose", "web", "-n", "shop", "--bundle", str(EXAMPLE / "shop.yaml"), "--no-color"
    )
    assert "why5xx.rules" in modules  # the diagnosis itself
    unwanted = (
        "why5xx.lint",
        "why5xx.benchmark",
        "why5xx.docs",
        "why5xx.sources.logs",
        "lightkube",
        "jinja2",
    )
    assert not [m for m in modules if m.startswith(unwanted)]


def test_the_version_constant_is_the_packages_version() -> None:
    assert why5xx.__version__ == importlib.metadata.version("why5xx")
