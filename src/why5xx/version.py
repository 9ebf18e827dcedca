"""The version, in a module of its own: the package's `__init__` re-exports
it, and modules that print it import it from here, below everything else.

A constant, not importlib.metadata: reading the installed metadata costs
every start ~20 ms (pyproject.toml reads the version from here)."""

__version__ = "0.1.0"
