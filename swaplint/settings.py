"""What a run asks of the engine for a file (:class:`Settings`), and a file's module name.

Kept apart from :mod:`swaplint.engine` so that a run whose files are all cache hits
(keyed by these settings and the module name) never imports the engine, the model or
the rules.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from swaplint.codes import CODES
from swaplint.findings import ReloadModel

#: Files larger than this are skipped with a notice (the ``max-file-size`` setting).
DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024
DEFAULT_FIX_TIMEOUT = 1.0


class Settings(NamedTuple):
    """What the engine needs to know besides the source: which rules, which extra calls."""

    #: Codes of the rules to report (default: every rule).
    enabled: frozenset[str] = frozenset(CODES)
    #: Extra dotted names that block like a receive (``receive-calls``).
    receive_calls: tuple[str, ...] = ()
    #: Extra dotted names that start a process (``spawn-calls``).
    spawn_calls: tuple[str, ...] = ()
    #: Roots for module names (``src``), as absolute or working-directory-relative paths.
    src: tuple[str, ...] = ()
    #: Which reload semantics findings are decided under (``reload-model``).
    reload_model: ReloadModel = ReloadModel.AUTO
    #: Larger files are skipped with a notice (``max-file-size``, bytes; 0: no limit).
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    #: The timeout fixes give a wait that has none (``fix-timeout``, seconds).
    fix_timeout: float = DEFAULT_FIX_TIMEOUT


def module_name(
    path: str | os.PathLike[str],
    src: Iterable[str | os.PathLike[str]] = (),
    *,
    packages: dict[str, tuple[str, ...]] | None = None,
) -> str:
    """The dotted module name of a file.

    With ``src`` roots, the name is the path relative to the first root that holds
    the file. Otherwise walk up the directories that hold an ``__init__.py``.
    (String operations: this runs once per file, on the warm path too.) ``packages``
    remembers each directory's package for the length of one run.
    """
    file = os.path.abspath(path)
    directory, name = os.path.split(file)
    base, suffix = os.path.splitext(name)
    stem = base if suffix in (".py", ".pyi") else name
    for root in src:
        root_path = os.path.abspath(root)
        if os.path.normcase(file) == os.path.normcase(root_path):
            rel_dirs: list[str] = []
        else:
            prefix = root_path if root_path.endswith(os.sep) else root_path + os.sep
            if not os.path.normcase(file).startswith(os.path.normcase(prefix)):
                continue
            rel_dirs = file[len(prefix) :].split(os.sep)[:-1]
        parts = [p for p in rel_dirs if p]
        if stem != "__init__" or not parts:
            parts.append(stem)
        return ".".join(parts)
    package = packages.get(directory) if packages is not None else None
    if package is None:
        package = _package(directory)
        if packages is not None:
            packages[directory] = package
    parts = [*package, *([] if stem == "__init__" else [stem])]
    return ".".join(parts) or stem


def _package(directory: str) -> tuple[str, ...]:
    """The dotted package a directory is (the directories above it holding ``__init__.py``).

    Remembered per directory and its modification time, so an ``__init__.py`` added or
    removed (a long ``--watch`` or language-server session) is seen at once.
    """
    try:
        stamp = os.stat(directory).st_mtime_ns
    except OSError:
        return ()
    key = (directory, stamp)
    found = _PACKAGES.get(key)
    if found is None:
        parent = os.path.dirname(directory)
        if parent == directory or not os.path.isfile(os.path.join(directory, "__init__.py")):
            found = ()
        else:
            found = (*_package(parent), os.path.basename(directory))
        if len(_PACKAGES) > 4096:
            _PACKAGES.clear()
        _PACKAGES[key] = found
    return found


_PACKAGES: dict[tuple[str, int], tuple[str, ...]] = {}
