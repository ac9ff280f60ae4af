"""changed_files: the Python files changed since a git ref."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from swaplint.gitdiff import GitDiffError, changed_files, changed_filter
from swaplint.runner import changed_files as reexported

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
    }
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", os.devnull)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "pkg").mkdir()
    for name in ("same.py", "committed.py", "staged.py", "unstaged.py", "deleted.py", "notes.txt"):
        (root / "pkg" / name).write_text("x = 1\n")
    (root / ".gitignore").write_text("ignored.py\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "pkg" / "committed.py").write_text("x = 2\n")
    (root / "pkg" / "new_committed.pyi").write_text("x: int\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "change")
    (root / "pkg" / "staged.py").write_text("x = 3\n")
    git(root, "add", "pkg/staged.py")
    (root / "pkg" / "unstaged.py").write_text("x = 4\n")
    (root / "pkg" / "deleted.py").unlink()
    (root / "pkg" / "notes.txt").write_text("changed\n")
    (root / "untracked.py").write_text("x = 5\n")
    (root / "ignored.py").write_text("x = 6\n")
    (root / "with space ü.py").write_text("x = 7\n")
    return root


def test_changed_files(repo: Path) -> None:
    found = changed_files("main", repo)
    rel = sorted(os.path.relpath(p, repo) for p in found)
    assert rel == sorted(
        [
            "pkg/committed.py",
            "pkg/new_committed.pyi",
            "pkg/staged.py",
            "pkg/unstaged.py",
            "untracked.py",
            "with space ü.py",
        ]
    )
    assert all(os.path.isabs(p) for p in found)
    assert found == sorted(found)
    # From a subdirectory: the same absolute paths.
    assert changed_files("main", repo / "pkg") == found
    assert reexported is changed_files


def test_merge_base_not_the_ref_tip(repo: Path) -> None:
    # Changes made on main after the branch point are not ours.
    git(repo, "stash", "-u", "-q")
    git(repo, "checkout", "-q", "main")
    (repo / "pkg" / "same.py").write_text("x = 9\n")
    git(repo, "commit", "-q", "-am", "main moves on")
    git(repo, "checkout", "-q", "feature")
    git(repo, "stash", "pop", "-q")
    rel = {os.path.relpath(p, repo) for p in changed_files("main", repo)}
    assert "pkg/same.py" not in rel and "pkg/committed.py" in rel


def test_head_itself(repo: Path) -> None:
    rel = {os.path.relpath(p, repo) for p in changed_files("HEAD", repo)}
    assert "pkg/committed.py" not in rel and "pkg/staged.py" in rel


def test_bad_ref(repo: Path) -> None:
    with pytest.raises(GitDiffError, match="unknown git ref"):
        changed_files("no-such-branch", repo)
    with pytest.raises(GitDiffError):
        changed_files("--output=/tmp/x", repo)


def test_not_a_repository(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(GitDiffError, match="git repository"):
        changed_files("main", tmp_path)


def test_changed_filter_through_a_symlink(repo: Path, tmp_path: Path, monkeypatch) -> None:
    link = tmp_path / "link"
    link.symlink_to(repo, target_is_directory=True)
    monkeypatch.chdir(link)
    keep = changed_filter("main", link)
    assert keep("pkg/staged.py") and keep(str(link / "untracked.py"))
    assert not keep("pkg/same.py") and not keep("pkg/notes.txt")


def test_a_git_that_hangs_is_stopped(tmp_path: Path, monkeypatch) -> None:
    import swaplint.gitdiff as gitdiff

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 30\n")
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    monkeypatch.setattr(gitdiff, "GIT_TIMEOUT", 0.5)
    with pytest.raises(GitDiffError, match=r"did not finish within 0\.5 s"):
        changed_files("main", tmp_path)
