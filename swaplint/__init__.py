"""swaplint: a linter and runtime for hot-swappable long-running loops."""

#: Kept equal to ``project.version`` in pyproject.toml by a test; a literal, so that
#: start-up does not pay for ``importlib.metadata`` (about 30 ms).
__version__ = "0.1.0"

__all__ = ["__version__"]
