"""The scale options of `swaplint check` through the real CLI: --jobs, the cache, --diff-base."""

from __future__ import annotations

import json
import subprocess

import pytest

from swaplint.cache import ENV_VAR
from tests.conftest import CLEAN, FLAGGED


def findings(result) -> list[tuple[str, str, int]]:
    return [(f["path"], f["code"], f["line"]) for f in json.loads(result.stdout)]


@pytest.fixture
def many(write):
    """Enough files for the process pool to start (it starts at 8)."""
    for i in range(12):
        write(f"pkg/flagged_{i:02d}.py", FLAGGED)
        write(f"pkg/clean_{i:02d}.py", "x = 1\n")


def test_jobs_give_the_same_findings_in_the_same_order(project, many, run):
    serial = run("check", "--jobs", "1", "--no-cache", "--format", "json")
    parallel = run("check", "--jobs", "2", "--no-cache", "--format", "json")
    default = run("check", "--no-cache", "--format", "json")
    assert serial.exit_code == parallel.exit_code == default.exit_code == 1
    assert findings(serial) == findings(parallel) == findings(default)
    assert len(findings(serial)) == 24


def test_bad_jobs_value_is_a_usage_error(project, run):
    result = run("check", "--jobs", "-3")
    assert result.exit_code == 2 and "--jobs" in result.stderr


def test_cache_is_written_beside_the_config_and_reused(project, write, run):
    write("pyproject.toml", "[tool.swaplint]\nignore = []\n")
    write("sub/server.py", FLAGGED)
    first = run("check", "--format", "json", "sub")
    cache = project / ".swaplint_cache"
    assert (cache / "CACHEDIR.TAG").is_file() and (cache / ".gitignore").read_text().strip() == "*"
    second = run("check", "--format", "json", "sub")
    assert (
        findings(first)
        == findings(second)
        == [("sub/server.py", "SWL002", 3), ("sub/server.py", "SWL003", 4)]
    )


def test_cache_follows_content_not_timestamps(project, write, run):
    write("server.py", FLAGGED)
    assert run("check", "server.py").exit_code == 1
    write("server.py", FLAGGED.replace("receive()", "receive(timeout=1)"))
    assert [c for _, c, _ in findings(run("check", "--format", "json", "server.py"))] == ["SWL002"]


def test_no_cache_writes_nothing(project, write, run):
    write("server.py", FLAGGED)
    assert run("check", "--no-cache", "server.py").exit_code == 1
    assert not (project / ".swaplint_cache").exists()


def test_cache_dir_option_and_environment(project, write, run, tmp_path):
    write("server.py", FLAGGED)
    run("check", "--cache-dir", str(tmp_path / "opt-cache"), "server.py")
    assert (tmp_path / "opt-cache" / "CACHEDIR.TAG").is_file()
    run("check", "server.py", env={ENV_VAR: str(tmp_path / "env-cache")})
    assert (tmp_path / "env-cache" / "CACHEDIR.TAG").is_file()
    assert not (project / ".swaplint_cache").exists()


def test_corrupt_cache_is_ignored_and_rewritten(project, write, run):
    write("server.py", FLAGGED)
    run("check", "server.py")
    for entry in (project / ".swaplint_cache").rglob("*"):
        if entry.is_file() and entry.name not in ("CACHEDIR.TAG", ".gitignore"):
            entry.write_bytes(b"\x00not json{")
    result = run("check", "--format", "json", "server.py")
    assert result.exit_code == 1 and len(findings(result)) == 2


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_diff_base_checks_only_changed_files(project, write, run):
    _git(project, "init", "-q", "-b", "main")
    _git(project, "config", "user.email", "t@example.com")
    _git(project, "config", "user.name", "t")
    write("old.py", FLAGGED)
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "base")
    write("new.py", FLAGGED)  # untracked
    write("counter.py", CLEAN)
    everything = run("check", "--no-cache", "--format", "json")
    assert {p for p, _, _ in findings(everything)} == {"old.py", "new.py"}
    changed = run("check", "--no-cache", "--format", "json", "--diff-base", "HEAD")
    assert {p for p, _, _ in findings(changed)} == {"new.py"}


def test_diff_base_errors_are_one_line_exit_2(project, write, run):
    write("a.py", FLAGGED)
    outside = run("check", "--diff-base", "main")
    assert outside.exit_code == 2 and len(outside.stderr.strip().splitlines()) == 1
    _git(project, "init", "-q")
    bad_ref = run("check", "--diff-base", "no-such-ref")
    assert bad_ref.exit_code == 2
    assert "no-such-ref" in bad_ref.stderr and len(bad_ref.stderr.strip().splitlines()) == 1


def test_no_progress_bar_when_not_a_terminal(project, many, run):
    result = run("check", "--no-cache", "--jobs", "1")
    assert "━" not in result.stderr and result.stderr == ""
