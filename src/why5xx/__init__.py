"""why5xx: why does this Kubernetes service return 502, 503 or 504?

The Python API (`why5xx.api`): `diagnose`, `diagnose_all`, `lint` and
`analyze_logs` return the typed report models the CLI renders; bad input
raises `Why5xxError`. They are imported on first use, so `why5xx --version`
and the CLI's other commands do not pay for them.
"""

from typing import TYPE_CHECKING, Any

from why5xx.version import __version__

if TYPE_CHECKING:
    from why5xx.api import Why5xxError, analyze_logs, diagnose, diagnose_all, lint

__all__ = ["Why5xxError", "__version__", "analyze_logs", "diagnose", "diagnose_all", "lint"]
_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from why5xx import api  # noqa: PLC0415 (on first use: see the module docstring)

        return getattr(api, name)
    raise AttributeError(f"module 'why5xx' has no attribute {name!r}")
