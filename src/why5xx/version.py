"""The version, in a module of its own: the package's `__init__` re-exports
it, and modules that print it import it from here, below everything else."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("why5xx")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
