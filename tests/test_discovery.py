"""Walking paths: suffixes, default excludes, virtualenvs, .gitignore, explicit paths."""

from __future__ import annotations

import os
from pathlib import Path

from swaplint.config import PatternSet
from swaplint.discovery import Excluder, discover, is_path_excluded


def touch(root: Path, *relpaths: str) -> None:
    for rel in relpaths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def shown(discovery) -> list[str]:
    return [f.display_path.replace(os.sep, "/") for f in discovery.files]


def test_walk_picks_py_and_pyi_sorted(project):
    touch(project, "b.py", "a.pyi", "pkg/c.py", "readme.md", "script", "pkg/data.json")
    assert shown(discover(["."], Excluder())) == ["a.pyi", "b.py", "pkg/c.py"]


def test_default_excludes_and_virtualenvs(project):
    touch(
        project,
        ".git/hooks/h.py",
        ".venv/lib/x.py",
        "venv/x.py",
        "__pycache__/x.py",
        "build/x.py",
        "dist/x.py",
        "node_modules/x.py",
        ".tox/py/x.py",
        "deep/build/x.py",
        "customenv/lib/x.py",
        "customenv/pyvenv.cfg",
        "src/ok.py",
    )
    assert shown(discover(["."], Excluder())) == ["src/ok.py"]
    # a configured `exclude` replaces the defaults: names and virtualenvs are walked again
    everything = shown(discover(["."], Excluder(use_default_excludes=False)))
    assert "build/x.py" in everything and "customenv/lib/x.py" in everything


def test_gitignore_nested_and_negation(project):
    (project / ".git").mkdir()
    touch(project, "a.py", "gen/x.py", "logs/keep.py", "logs/drop.py", "sub/inner.py", "sub/local.py")
    (project / ".gitignore").write_text("gen/\nlogs/*.py\n!logs/keep.py\n")
    (project / "sub" / ".gitignore").write_text("local.py\n")
    assert shown(discover(["."], Excluder())) == ["a.py", "logs/keep.py", "sub/inner.py"]
    # walking from inside the repository still reads the .gitignore files above
    assert shown(discover(["logs"], Excluder())) == ["logs/keep.py"]
    assert shown(discover(["."], Excluder(respect_gitignore=False)))[:2] == ["a.py", "gen/x.py"]


def test_git_info_exclude(project):
    (project / ".git" / "info").mkdir(parents=True)
    (project / ".git" / "info" / "exclude").write_text("secret.py\n")
    touch(project, "a.py", "secret.py")
    assert shown(discover(["."], Excluder())) == ["a.py"]


def test_explicit_paths_always_checked_unless_force_exclude(project):
    touch(project, "build/x.py", "gen/y.py", "script")
    excluder = Excluder(patterns=[PatternSet(project, ("gen/",))])
    files = ["build/x.py", "gen/y.py", "script"]
    assert shown(discover(files, excluder)) == files
    assert shown(discover(files, excluder, force_exclude=True)) == ["script"]
    # a named excluded directory is walked (its own pattern is waived)...
    assert shown(discover(["gen", "build"], excluder)) == ["gen/y.py", "build/x.py"]
    # ...but not with --force-exclude
    assert shown(discover(["gen", "build"], excluder, force_exclude=True)) == []


def test_named_gitignored_directory_is_walked(project):
    (project / ".git").mkdir()
    (project / ".gitignore").write_text("generated/\n")
    touch(project, "generated/a.py")
    assert shown(discover(["."], Excluder())) == []
    assert shown(discover(["generated"], Excluder())) == ["generated/a.py"]


def test_missing_paths_and_duplicates(project):
    touch(project, "a.py")
    result = discover(["nope.py", "a.py", ".", "./a.py", "gone/"], Excluder())
    assert shown(result) == ["a.py"]
    assert result.missing == ["nope.py", "gone/"]


def test_absolute_paths_keep_their_form(project, tmp_path):
    outside = tmp_path / "elsewhere"
    touch(outside, "m.py")
    result = discover([str(outside)], Excluder())
    assert [f.display_path for f in result.files] == [str(outside / "m.py")]
    assert result.files[0].disk_path == str(outside / "m.py")


def test_is_path_excluded(project):
    excluder = Excluder(patterns=[PatternSet(project, ("gen/", "*_pb2.py"))])
    assert is_path_excluded("gen/x.py", excluder)
    assert is_path_excluded("pkg/m_pb2.py", excluder)
    assert is_path_excluded(".venv/lib/m.py", excluder)
    assert not is_path_excluded("pkg/m.py", excluder)


def test_symlinked_directories_are_not_followed(project):
    touch(project, "real/a.py")
    try:
        os.symlink(project / "real", project / "link", target_is_directory=True)
    except (OSError, NotImplementedError):
        return
    assert shown(discover(["."], Excluder())) == ["real/a.py"]
