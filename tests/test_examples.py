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


def test_the_fixed_loop_is_clean(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["check", "examples/fixed_loop.py"])
    assert result.exit_code == 0, result.output
    assert "All checks passed!" in result.stdout
