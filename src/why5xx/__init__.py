"""why5xx: why does this Kubernetes service return 502, 503 or 504?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("why5xx")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
