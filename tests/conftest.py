"""Shared helpers for the CLI, configuration, output and discovery tests."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis.configuration import set_hypothesis_home_dir

from swaplint.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[1]

# Hypothesis keeps a cache in ./.hypothesis by default: not in the repository.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="swaplint-hypothesis-")
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)

#: A recursive loop with an unqualified re-entry (SWL002 at the def) and no timeout (SWL003).
FLAGGED = textwrap.dedent(
    """\
    from swaplint.runtime import receive

    def server_loop(state):
        msg = receive()
        return server_loop(state + msg)
    """
)

#: The same loop done right; clean when the file is named counter.py.
CLEAN = textwrap.dedent(
    """\
    from swaplint.runtime import receive
    import counter

    def server_loop(state):
        msg = receive(timeout=10)
        return counter.server_loop(state + msg)
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory that is the working directory of the test."""
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return root


@pytest.fixture
def write(project: Path) -> Callable[..., Path]:
    """``write("pkg/a.py", text)``: create a file under the project (dedented)."""

    def _write(relpath: str, text: str = "") -> Path:
        path = project / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def run() -> Callable[..., Result]:
    """Run the real CLI in-process: ``run("check", "a.py", input=...)``."""

    def _run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)

    return _run


def subprocess_env(**extra: str) -> dict[str, str]:
    """An environment in which ``python -m swaplint.cli`` imports this checkout."""
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


SWAPLINT = [sys.executable, "-m", "swaplint.cli"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: needs network and minutes (skip with SWAPLINT_SKIP_SLOW=1)")
