"""swaplint: a linter and runtime for hot-swappable long-running loops."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("swaplint")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
