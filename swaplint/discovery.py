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
* Only directories and regular files are taken. A FIFO, a device (``/dev/zero``) or
  a socket named on the command line, and a Jupyter notebook (``.ipynb``, which is
  JSON, not Python), are reported in :attr:`Discovery.skipped` and never opened.
* A directory that cannot be read or entered (permissions) is reported once in
  :attr:`Discovery.skipped`; the rest of the tree is still walked.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from swaplint.config import PatternSet

if TYPE_CHECKING:
    import pathspec

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

#: Ignore specs that apply in a directory, nearest first: (directory, spec).
_Chain = tuple[tuple[str, "pathspec.PathSpec[Any]"], ...]

#: Suffixes of the files a directory walk picks up.
PYTHON_SUFFIXES: tuple[str, ...] = (".py", ".pyi")


class SourceFile(NamedTuple):
    """A file to check: where it is, and how findings will name it."""

    disk_path: str
    display_path: str


#: Suffixes of files that are never checked, even when named: (suffix, why).
SKIPPED_SUFFIXES: tuple[tuple[str, str], ...] = ((".ipynb", "a Jupyter notebook (not checked)"),)
_SKIPPED = dict(SKIPPED_SUFFIXES)


class Skipped(NamedTuple):
    """A path discovery left out, and why ("cannot read directory: Permission denied")."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}; skipped"


@dataclass
class Discovery:
    """What a walk over the command line's paths found."""

    files: list[SourceFile] = field(default_factory=list)
    #: Paths from the command line that do not exist, as given.
    missing: list[str] = field(default_factory=list)
    #: Paths left out with a reason: unreadable directories, FIFOs, devices, sockets,
    #: notebooks. Each once, in the order met; a run warns about each.
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class Excluder:
    """Decides whether a path is excluded: default names, patterns, ``.gitignore``."""

    patterns: Sequence[PatternSet] = ()
    use_default_excludes: bool = True
    respect_gitignore: bool = True
    _gitignores: dict[Path, pathspec.PathSpec[Any] | None] = field(default_factory=dict, repr=False)
    _chains: dict[tuple[str, str], _Chain] = field(default_factory=dict, repr=False)

    def is_excluded(self, path: Path | str, *, is_dir: bool, boundary: Path) -> bool:
        """Whether ``path`` (absolute) itself is excluded; ancestors are not looked at."""
        if is_dir and self.use_default_excludes:
            text = os.fspath(path)
            if os.path.basename(text) in DEFAULT_EXCLUDES or _is_file(os.path.join(text, "pyvenv.cfg")):
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
    def _spec(self, directory: Path) -> pathspec.PathSpec[Any] | None:
        if directory not in self._gitignores:
            lines: list[str] = []
            for file in (directory / ".gitignore", directory / ".git" / "info" / "exclude"):
                try:
                    data = read_regular_file(file, MAX_IGNORE_FILE_BYTES)
                except OSError:
                    continue
                lines += data.decode("utf-8", errors="replace").splitlines()
            spec = None
            if lines:
                import pathspec  # only when there is a .gitignore to read (~20 ms to import)

                spec = pathspec.GitIgnoreSpec.from_lines(lines)
            self._gitignores[directory] = spec
        return self._gitignores[directory]

    def _gitignored(self, path: Path | str, is_dir: bool, boundary: Path) -> bool:
        """The nearest ``.gitignore`` with a say on ``path``, from its directory up to
        ``boundary``. Linear in the depth of the tree (a hostile tree may be
        thousands of directories deep): string operations, and each directory's
        chain of ignore files is computed once."""
        text = str(path)
        suffix = "/" if is_dir else ""
        for directory, spec in self._chain(os.path.dirname(text), str(boundary)):
            start = len(directory) if directory.endswith(os.sep) else len(directory) + 1
            rel = text[start:]
            if os.sep != "/":
                rel = rel.replace(os.sep, "/")
            result = spec.check_file(rel + suffix)
            if result.include is not None:
                return bool(result.include)
        return False

    def _chain(self, directory: str, boundary: str) -> _Chain:
        """The ignore specs that apply in ``directory``, nearest first: its own, then its
        parents' up to ``boundary`` (only while inside ``boundary``)."""
        pending: list[str] = []
        current = directory
        chain: _Chain | None = None
        while True:
            cached = self._chains.get((current, boundary))
            if cached is not None:
                chain = cached
                break
            pending.append(current)
            parent = os.path.dirname(current)
            inside = current.startswith(boundary.rstrip(os.sep) + os.sep)
            if current == boundary or parent == current or not inside:
                chain = ()
                break
            current = parent
        for name in reversed(pending):
            spec = self._spec(Path(name))
            if spec is not None:
                chain = ((name, spec), *chain)
            self._chains[(name, boundary)] = chain
        return chain


class NotARegularFile(OSError):
    """A FIFO, a device, a socket or a directory where a file was expected: never read."""


class FileTooLarge(OSError):
    """A file over the size limit: never read whole."""


def read_regular_file(path: str | os.PathLike[str], max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file, without ever blocking on or draining anything else.

    The file is opened non-blocking (opening a FIFO then returns at once instead of
    waiting for a writer) and checked with ``fstat`` before a byte is read: a FIFO,
    a socket, a device (``/dev/zero``) or a directory raises :class:`NotARegularFile`;
    a file over ``max_bytes`` raises :class:`FileTooLarge`; anything else
    :class:`OSError`. Never more than ``max_bytes + 1`` bytes are read.
    """
    return read_regular_file_and_stat(path, max_bytes)[0]


def read_regular_file_and_stat(
    path: str | os.PathLike[str], max_bytes: int | None = None
) -> tuple[bytes, os.stat_result]:
    """:func:`read_regular_file`, and the ``fstat`` of the file taken before it was read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"not a regular file: {os.fspath(path)}")
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileTooLarge(
                f"file too large ({info.st_size} bytes; the limit is {max_bytes}): {os.fspath(path)}"
            )
        chunks: list[bytes] = []
        # One byte more than the limit tells a file that grew past it since fstat.
        remaining = max_bytes + 1 if max_bytes is not None else None
        while remaining is None or remaining > 0:
            chunk = os.read(fd, 1 << 20 if remaining is None else min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            if remaining is not None:
                remaining -= len(chunk)
        data = b"".join(chunks)
        if max_bytes is not None and len(data) > max_bytes:
            raise FileTooLarge(f"file too large (over the limit of {max_bytes} bytes): {os.fspath(path)}")
        return data, info
    finally:
        os.close(fd)


#: A ``.gitignore`` larger than this is not read.
MAX_IGNORE_FILE_BYTES = 4 << 20


def _is_file(path: Path | str) -> bool:
    """``path.is_file()`` that says False instead of raising (e.g. no permission)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def git_root(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` that holds ``.git``."""
    for directory in (path, *path.parents):
        if _exists(directory / ".git"):
            return directory
    return None


def discover(
    paths: Iterable[str],
    excluder: Excluder,
    *,
    force_exclude: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    max_bytes: int | None = None,
) -> Discovery:
    """The files to check for the command line's ``paths``, in a stable order.

    Files come back in the order of ``paths``; a directory's files in sorted order.
    A file reached twice is checked once. A file larger than ``max_bytes`` goes to
    :attr:`Discovery.skipped` ("file too large").
    """
    base = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    result = Discovery()
    seen: set[str] = set()

    def skip(path: str, reason: str) -> None:
        entry = Skipped(path, reason)
        if entry not in result.skipped:
            result.skipped.append(entry)

    def add(disk: Path | str, display: str, size: int | None = None) -> None:
        key = os.path.normcase(str(disk))
        if key in seen:
            return
        seen.add(key)
        if max_bytes is not None:
            if size is None:
                try:
                    size = os.stat(disk).st_size
                except OSError:
                    size = 0  # the runner reports it as unreadable
            if size > max_bytes:
                skip(display, f"file too large ({_megabytes(size)}; the limit is {_megabytes(max_bytes)})")
                return
        result.files.append(SourceFile(str(disk), display))

    for given in paths:
        text = os.path.normpath(os.path.join(base, given))
        try:
            info = os.lstat(text)
        except (OSError, ValueError):
            info = None
        if info is None or (stat.S_ISLNK(info.st_mode) and not _exists(Path(text))):
            result.missing.append(given)
            continue
        try:
            info = os.stat(text) if stat.S_ISLNK(info.st_mode) else info
        except (OSError, ValueError) as exc:
            skip(given, f"cannot read: {_reason(exc)}")
            continue
        mode = info.st_mode
        is_dir = stat.S_ISDIR(mode)
        if force_exclude:
            disk = Path(text)
            anchor = base if _is_under(disk, base) else disk.parent
            if excluder.is_excluded_with_ancestors(disk, is_dir=is_dir, anchor=anchor):
                continue
        if not is_dir:
            suffix = os.path.splitext(os.path.basename(text))[1].lower()
            if not stat.S_ISREG(mode):
                skip(given, f"not a regular file ({_kind(mode)})")
            elif suffix in _SKIPPED:
                skip(given, _SKIPPED[suffix])
            else:
                add(text, os.path.normpath(given), info.st_size)
            continue
        disk = Path(text)
        walker, boundary = excluder.for_explicit_root(disk, git_root(disk) or disk)

        def unreadable(directory: Path, exc: OSError, given: str = given, disk: Path = disk) -> None:
            shown = os.path.normpath(os.path.join(given, os.path.relpath(directory, disk)))
            skip(shown, f"cannot read directory: {_reason(exc)}")

        prefix = os.path.join(text, "")
        for file in _walk(disk, walker, boundary, unreadable):
            rel = file[len(prefix) :] if file.startswith(prefix) else os.path.relpath(file, disk)
            add(file, os.path.normpath(os.path.join(given, rel)))
    return result


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def _walk(
    root: Path, excluder: Excluder, boundary: Path, unreadable: Callable[[Path, OSError], None]
) -> Iterable[str]:
    """Files under ``root`` in sorted order, depth first; iterative, so no depth is too deep.
    Paths are strings (``root`` joined with the entries' names): no ``Path`` per entry."""
    stack: list[Iterator[os.DirEntry[str]]] = []

    def enter(directory: str) -> None:
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            unreadable(Path(directory), exc)
            return
        stack.append(iter(entries))

    enter(str(root))
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        path = entry.path
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            is_file = entry.is_file()
        except OSError:
            continue
        if is_dir:
            if not excluder.is_excluded(path, is_dir=True, boundary=boundary):
                enter(path)
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


def decode_source(data: bytes) -> str:
    """Decode a Python source file as the interpreter would (PEP 263 cookie, BOM)."""
    import io
    import tokenize  # (here: a run whose files are all cache hits decodes only to show them)

    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)
