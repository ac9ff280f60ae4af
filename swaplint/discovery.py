"""Finding the files to check: walk directories, honour excludes and ``.gitignore``.

Rules (as ruff's):

* A directory is walked for ``*.py`` and ``*.pyi`` files. Directories named in
  :data:`DEFAULT_EXCLUDES`, any virtualenv (a directory holding ``pyvenv.cfg``),
  whatever matches an ``exclude``/``extend-exclude`` pattern, and whatever a
  ``.gitignore`` ignores are skipped. A configured ``exclude`` replaces the
  default names; ``extend-exclude`` adds to them.
* ``.gitignore`` files are read in every walked directory and in the directories
  above the walked path up to the root of its git repository (plus
  ``.git/info/exclude``); a deeper file's patterns win over a shallower one's.
* A path named on the command line is always checked (whatever its suffix, since
  pre-commit passes scripts without one), unless ``force_exclude`` is set, in which
  case it is excluded exactly as if the walk had found it.
* A path that does not exist is reported in :attr:`Discovery.missing`; the other
  paths are still discovered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pathspec

from swaplint.config import PatternSet

#: Directory names never walked into (unless a configured ``exclude`` replaces them).
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".hg",
    ".mypy_cache",
    ".nox",
    ".pytest_cache",
    ".ruff_cache",
    ".svn",
    ".swaplint_cache",
    ".tox",
    ".venv",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)

#: Suffixes of the files a directory walk picks up.
PYTHON_SUFFIXES: tuple[str, ...] = (".py", ".pyi")


@dataclass(frozen=True)
class SourceFile:
    """A file to check: where it is, and how findings will name it."""

    disk_path: str
    display_path: str


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    #: Paths from the command line that do not exist, as given.
    missing: list[str] = field(default_factory=list)


@dataclass
class Excluder:
    """Decides whether a path is excluded: default names, patterns, ``.gitignore``."""

    patterns: Sequence[PatternSet] = ()
    use_default_excludes: bool = True
    respect_gitignore: bool = True
    _gitignores: dict[Path, pathspec.PathSpec | None] = field(default_factory=dict, repr=False)

    def is_excluded(self, path: Path, *, is_dir: bool, boundary: Path) -> bool:
        """Whether ``path`` (absolute) itself is excluded; ancestors are not looked at."""
        if is_dir and self.use_default_excludes:
            if path.name in DEFAULT_EXCLUDES or (path / "pyvenv.cfg").is_file():
                return True
        if any(p.matches(path, is_dir=is_dir) for p in self.patterns):
            return True
        return self.respect_gitignore and self._gitignored(path, is_dir, boundary)

    def is_excluded_with_ancestors(self, path: Path, *, is_dir: bool, anchor: Path) -> bool:
        """Whether ``path`` or one of its directories below ``anchor`` is excluded."""
        boundary = git_root(path) or anchor
        try:
            rel = path.relative_to(anchor)
        except ValueError:
            rel = Path(path.name)
            anchor = path.parent
        current = anchor
        for part in rel.parts[:-1]:
            current = current / part
            if self.is_excluded(current, is_dir=True, boundary=boundary):
                return True
        return self.is_excluded(path, is_dir=is_dir, boundary=boundary)

    def for_explicit_root(self, root: Path, boundary: Path) -> tuple[Excluder, Path]:
        """The excluder and gitignore boundary for walking a directory named on the command line.

        A named directory is walked even if excluded, so the patterns that exclude the
        directory itself must not exclude everything inside it; the other patterns
        still apply. If a ``.gitignore`` above it ignores it, only the ``.gitignore``
        files inside it apply.
        """
        kept: list[PatternSet] = []
        for pattern_set in self.patterns:
            if pattern_set.matches(root, is_dir=True):
                remaining = tuple(
                    p
                    for p in pattern_set.patterns
                    if not PatternSet(pattern_set.base, (p,)).matches(root, is_dir=True)
                )
                pattern_set = PatternSet(pattern_set.base, remaining)
            kept.append(pattern_set)
        if self.respect_gitignore and root != boundary and self._gitignored(root, True, boundary):
            boundary = root
        return replace(self, patterns=tuple(kept)), boundary

    # -- .gitignore ------------------------------------------------------------------
    def _spec(self, directory: Path) -> pathspec.PathSpec | None:
        if directory not in self._gitignores:
            lines: list[str] = []
            for file in (directory / ".gitignore", directory / ".git" / "info" / "exclude"):
                try:
                    lines += file.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    continue
            spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
            self._gitignores[directory] = spec
        return self._gitignores[directory]

    def _gitignored(self, path: Path, is_dir: bool, boundary: Path) -> bool:
        directory = path.parent
        while True:
            spec = self._spec(directory)
            if spec is not None:
                rel = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
                result = spec.check_file(rel)
                if result.include is not None:
                    return bool(result.include)
            if directory == boundary or directory.parent == directory:
                return False
            if boundary not in directory.parents:
                return False
            directory = directory.parent


def git_root(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` that holds ``.git``."""
    for directory in (path, *path.parents):
        if (directory / ".git").exists():
            return directory
    return None


def discover(
    paths: Iterable[str],
    excluder: Excluder,
    *,
    force_exclude: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> Discovery:
    """The files to check for the command line's ``paths``, in a stable order.

    Files come back in the order of ``paths``; a directory's files in sorted order.
    A file reached twice is checked once.
    """
    base = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    result = Discovery()
    seen: set[str] = set()

    def add(disk: Path, display: str) -> None:
        key = os.path.normcase(str(disk))
        if key not in seen:
            seen.add(key)
            result.files.append(SourceFile(str(disk), display))

    for given in paths:
        disk = Path(os.path.normpath(base / given))
        if not os.path.lexists(disk) or (disk.is_symlink() and not disk.exists()):
            result.missing.append(given)
            continue
        is_dir = disk.is_dir()
        anchor = base if _is_under(disk, base) else disk.parent
        if force_exclude and excluder.is_excluded_with_ancestors(disk, is_dir=is_dir, anchor=anchor):
            continue
        if not is_dir:
            add(disk, os.path.normpath(given))
            continue
        walker, boundary = excluder.for_explicit_root(disk, git_root(disk) or disk)
        for file in _walk(disk, walker, boundary):
            rel = os.path.relpath(file, disk)
            add(file, os.path.normpath(os.path.join(given, rel)))
    return result


def _walk(root: Path, excluder: Excluder, boundary: Path) -> Iterable[Path]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        path = root / entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            is_file = entry.is_file()
        except OSError:
            continue
        if is_dir:
            if not excluder.is_excluded(path, is_dir=True, boundary=boundary):
                yield from _walk(path, excluder, boundary)
        elif is_file and entry.name.endswith(PYTHON_SUFFIXES):
            if not excluder.is_excluded(path, is_dir=False, boundary=boundary):
                yield path


def _is_under(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def is_path_excluded(path: str, excluder: Excluder, *, cwd: str | None = None) -> bool:
    """Whether a single path (e.g. ``--stdin-filename``) would be excluded by a walk."""
    base = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    disk = Path(os.path.normpath(base / path))
    anchor = base if _is_under(disk, base) else disk.parent
    return excluder.is_excluded_with_ancestors(disk, is_dir=False, anchor=anchor)
