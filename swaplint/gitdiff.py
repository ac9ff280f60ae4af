"""Which Python files changed since a git ref (``swaplint check --diff-base REF``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

PYTHON_SUFFIXES = (".py", ".pyi")
#: No single git command may take longer than this (seconds).
GIT_TIMEOUT = 120.0


class GitDiffError(Exception):
    """Not a git work tree, an unknown ref, no merge base, or no git at all."""


def _git(args: list[str], cwd: str) -> str:
    # Never wait on a terminal (credentials, a pager), never take the index lock
    # (a concurrent `git commit` must not fail because of us), never run long.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            env=env,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitDiffError("git is not installed (needed by --diff-base)") from exc
    except subprocess.TimeoutExpired:
        raise GitDiffError(f"git {args[0]} did not finish within {GIT_TIMEOUT:g} s") from None
    except OSError as exc:
        raise GitDiffError(f"cannot run git: {exc}") from exc
    if proc.returncode != 0:
        message = proc.stderr.strip().splitlines()
        raise GitDiffError(message[-1] if message else f"git {args[0]} failed")
    return proc.stdout


def changed_files(base_ref: str, cwd: str | os.PathLike[str] = ".") -> list[str]:
    """Absolute paths of the ``*.py``/``*.pyi`` files changed since ``base_ref``.

    Changed means: committed since the merge base of ``base_ref`` and ``HEAD``,
    staged, unstaged, or untracked (and not ignored). Deleted files are left out.
    The paths are sorted; intersect them with the files discovery found.
    Raises :class:`GitDiffError` outside a git work tree or for a bad ref.
    """
    cwd = os.fspath(cwd)
    try:
        top = _git(["rev-parse", "--show-toplevel"], cwd).strip()
    except GitDiffError as exc:
        raise GitDiffError(f"--diff-base needs a git repository: {exc}") from None
    if not top:
        raise GitDiffError("--diff-base needs a git work tree (this is a bare repository)")
    if base_ref.startswith("-"):
        raise GitDiffError(f"not a git ref: {base_ref!r}")
    try:
        _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{base_ref}^{{commit}}"], top)
    except GitDiffError:
        raise GitDiffError(f"unknown git ref: {base_ref!r}") from None
    try:
        base = _git(["merge-base", base_ref, "HEAD"], top).strip()
    except GitDiffError:
        raise GitDiffError(f"no common ancestor of {base_ref!r} and HEAD") from None
    # The merge base against the work tree: committed since + staged + unstaged.
    diff = _git(
        ["diff", "--name-only", "-z", "--no-renames", "--diff-filter=d", "--no-ext-diff", base, "--"],
        top,
    )
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z", "--full-name"], top)
    names = {n for n in (diff + untracked).split("\0") if n}
    found = []
    for name in names:
        if not name.endswith(PYTHON_SUFFIXES):
            continue
        path = os.path.join(top, name)
        if os.path.isfile(path):
            found.append(os.path.normpath(path))
    return sorted(found)


def _key(path: str) -> str:
    """A path's identity for matching: its folder resolved (git reports real paths;
    the cwd may be under a symlink), the file name as is (it may be a symlink)."""
    absolute = os.path.abspath(path)
    folder = os.path.realpath(os.path.dirname(absolute))
    return os.path.normcase(os.path.join(folder, os.path.basename(absolute)))


def changed_filter(base_ref: str, cwd: str | os.PathLike[str] = ".") -> Callable[[str], bool]:
    """A predicate on paths (absolute or relative to the current directory): changed
    since ``base_ref``? What ``--diff-base`` applies to the files discovery found."""
    changed = {_key(p) for p in changed_files(base_ref, cwd)}
    return lambda path: _key(path) in changed
