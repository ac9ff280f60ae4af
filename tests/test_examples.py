"""The seed's stories in examples/: their findings, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from swaplint.cli import cli

ROOT = Path(__file__).resolve().parents[1]

#: (file, code, line, column, function) for every finding the examples must give.
EXPECTED = [
    ("examples/idle_loop.py", "SWL003", 13, 11, "server_loop"),
    ("examples/plain/job_worker.py", "SWL006", 24, 5, "worker"),
    ("examples/plain/job_worker.py", "SWL005", 38, 12, "audit"),
    ("examples/plain/job_worker.py", "SWL004", 43, 5, "start"),
    ("examples/try_catch_loop.py", "SWL001", 19, 16, "server_loop"),
    ("examples/untracked_worker.py", "SWL004", 14, 9, "start"),
    ("examples/untracked_worker.py", "SWL003", 26, 11, "worker_loop"),
]


def test_examples_give_exactly_the_stories_findings(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["check", "--format", "json", "examples/"])
    assert result.exit_code == 1, result.output
    got = [(f["path"], f["code"], f["line"], f["column"], f["function"]) for f in json.loads(result.stdout)]
    assert got == EXPECTED


def test_the_fixed_loops_are_clean(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(
        cli,
        ["check", "examples/fixed_loop.py", "examples/otp_counter.py", "examples/plain/job_worker_fixed.py"],
    )
    assert result.exit_code == 0, result.output
    assert "All checks passed!" in result.stdout


def test_plain_python_findings_are_confirmed_by_a_real_reload(monkeypatch, tmp_path):
    """--verify on plain Python: real threads, real queues, importlib.reload, the census."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SWAPLINT_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["check", "--verify", "--format", "json", "examples/plain/"])
    findings = json.loads(result.stdout)
    assert [(f["code"], f["verification"]["status"]) for f in findings] == [
        ("SWL006", "confirmed"),
        ("SWL005", "confirmed"),
        ("SWL004", "confirmed"),
    ], [f["verification"]["evidence"] for f in findings]
    for finding in findings:
        text = finding["message"] + finding["help"] + finding["verification"]["evidence"]
        assert "purge" not in text and "killed" not in text and "third version" not in text
