"""Hostile inputs through the real CLI: each ends in one clear line and the right exit code,
and the other files are still checked (issue 12's items for the engine, config and CLI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FLAGGED

LOOP = "def worker(q):\n    while True:\n        q.get()\n"


def codes(result) -> list[tuple[str, str]]:
    return [(Path(f["path"]).name, f["code"]) for f in json.loads(result.stdout)]


def test_deep_nesting_is_swl999_for_that_file_only(project, write, run):
    write("deep.py", "x = " + "(" * 1000 + "1" + ")" * 1000 + "\n")
    write("deeper.py", "x = " + "-" * 100_000 + "1\n")
    write("worker.py", LOOP)
    result = run("check", "--format", "json", "--no-cache", ".")
    assert result.exit_code == 1
    got = {(Path(f["path"]).name, f["code"]): f["message"] for f in json.loads(result.stdout)}
    assert ("worker.py", "SWL003") in got
    assert "too deeply nested" in got[("deep.py", "SWL999")]
    assert "too deeply nested" in got[("deeper.py", "SWL999")]
    assert "Traceback" not in result.stderr


def test_recursion_in_the_analysis_is_swl999_not_an_engine_crash(monkeypatch):
    import swaplint.engine as engine
    import swaplint.model

    def deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(swaplint.model, "build_model", deep)
    result = engine.check_source(LOOP, "w.py")
    assert result.errors == []
    (finding,) = result.findings
    assert finding.code == "SWL999" and finding.message == "cannot analyse file: too deeply nested to analyse"


def test_files_over_the_size_limit_are_skipped_with_a_notice(project, write, run):
    write("big.py", LOOP + "# padding\n" * 20_000)
    write("worker.py", LOOP)
    result = run("check", "--format", "json", "--no-cache", "--max-file-size", "10000", ".")
    assert codes(result) == [("worker.py", "SWL003")]
    (line,) = [line for line in result.stderr.splitlines() if "big.py" in line]
    assert line.startswith("swaplint: warning: ") and "file too large" in line
    write("pyproject.toml", "[tool.swaplint]\nmax-file-size = 0\n")  # 0: no limit
    assert {c for _, c in codes(run("check", "--format", "json", "--no-cache", "."))} == {"SWL003"}
    assert len(codes(run("check", "--format", "json", "--no-cache", "."))) == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_on_the_command_line_is_not_read(project, write, run):
    os.mkfifo(project / "pipe.py")
    write("worker.py", LOOP)
    result = run("check", "--format", "json", "--no-cache", "pipe.py", "worker.py")
    assert ("worker.py", "SWL003") in codes(result)
    assert "pipe.py" in result.stderr and "Traceback" not in result.stderr


def test_project_excludes_apply_when_checked_by_absolute_path(tmp_path, write, run, project):
    write("pyproject.toml", '[tool.swaplint]\nextend-exclude = ["generated/"]\n')
    write("generated/w.py", LOOP)
    write("src/w.py", LOOP)
    os.chdir(tmp_path)  # elsewhere: the project's own excludes still apply
    result = run("check", "--format", "json", "--no-cache", str(project))
    assert [Path(f["path"]).parent.name for f in json.loads(result.stdout)] == ["src"]


def test_each_file_gets_its_closest_configuration(project, write, run):
    write("a/pyproject.toml", '[tool.swaplint]\nignore = ["SWL003"]\n')
    write("a/w.py", LOOP)
    write("b/w.py", LOOP)
    result = run("check", "--format", "json", "--no-cache", "a", "b")
    assert [Path(f["path"]).parent.name for f in json.loads(result.stdout)] == ["b"]
    write("b/swaplint.toml", 'reload-model = "runtime"\nextend-exclude = ["w.py"]\n')
    assert run("check", "--format", "json", "--no-cache", "a", "b").stdout.strip() == "[]"


def test_stdin_filename_without_a_path_reads_stdin(project, run):
    result = run("check", "--format", "json", "--stdin-filename", "x.py", input=LOOP)
    assert codes(result) == [("x.py", "SWL003")]
    bad = run("check", "--stdin-filename", "x.py", ".")
    assert bad.exit_code == 2 and "pass '-' as the path" in bad.stderr


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads mode-000 files")
def test_an_unreadable_pyproject_is_reported_not_silently_skipped(project, write, run):
    toml = write("pyproject.toml", '[tool.swaplint]\nignore = ["SWL003"]\n')
    write("w.py", LOOP)
    toml.chmod(0)
    try:
        result = run("check", "--no-cache", "w.py")
    finally:
        toml.chmod(0o644)
    assert "pyproject.toml: skipped, cannot read it" in result.stderr


def test_an_unreadable_pyproject_notice_through_the_finder(tmp_path, monkeypatch):
    """The same path as root sees it: reading fails with EACCES."""
    from swaplint.config import find_config_file

    toml = tmp_path / "pyproject.toml"
    toml.write_text('[tool.swaplint]\nignore = ["SWL003"]\n')
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self == toml:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    heard: list[str] = []
    assert find_config_file(tmp_path, on_unreadable=lambda p, why: heard.append(why)) is None
    assert heard == ["Permission denied"]


def test_output_format_is_an_alias_of_format(project, write, run):
    write("server.py", FLAGGED)
    result = run("check", "--output-format", "json", "--no-cache", "server.py")
    assert {c for _, c in codes(result)} == {"SWL002", "SWL003"}


def test_reload_model_option_and_setting(project, write, run):
    write("w.py", "def loop(q):\n    msg = q.get(timeout=1)\n    return loop(q)\n")
    plain = run("check", "--format", "json", "--no-cache", "w.py")
    assert [c for _, c in codes(plain)] == ["SWL005"]  # importlib: bare names reach new code
    forced = run("check", "--format", "json", "--no-cache", "--reload-model", "runtime", "w.py")
    assert [c for _, c in codes(forced)] == ["SWL002"]  # runtime: a local call keeps its version
    data = json.loads(forced.stdout)[0]
    assert data["reload_model"] == "runtime" and "purge" in data["help"]
    assert "purge" not in json.loads(plain.stdout)[0]["help"]
    write("pyproject.toml", '[tool.swaplint]\nreload-model = "erlang"\n')
    bad = run("check", "w.py")
    assert bad.exit_code == 2 and "reload-model" in bad.stderr
