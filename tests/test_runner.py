"""The runner: stable order, parallel = serial, crash isolation, progress."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import swaplint.runner as runner
from swaplint.engine import Settings
from swaplint.runner import Task, check_files, default_jobs, progress_bar

LOOP = "def worker{i}(q):\n    while True:\n        q.get()\n"
CLEAN = "def f{i}(d):\n    return d.get('k')\n"


@pytest.fixture
def many(tmp_path: Path) -> list[Task]:
    tasks = []
    for i in range(40):
        text = (LOOP if i % 3 == 0 else CLEAN).format(i=i) + "\n" * (i * 7)  # varied sizes
        path = tmp_path / f"f{i:02}.py"
        path.write_text(text)
        tasks.append(Task(str(path), f"f{i:02}.py", Settings()))
    return tasks


def _flat(results):
    return [(r.path, [(f.code, f.line, f.column) for f in r.findings], r.errors) for r in results]


def test_default_jobs() -> None:
    assert default_jobs() >= 1


def test_parallel_equals_serial_and_keeps_order(many, monkeypatch) -> None:
    monkeypatch.setattr(runner, "MIN_PARALLEL_FILES", 1)
    monkeypatch.setattr(runner, "MIN_PARALLEL_BYTES", 0)
    serial = check_files(many, jobs=1)
    parallel = check_files(many, jobs=2)
    assert _flat(serial) == _flat(parallel)
    assert [r.path for r in parallel] == [t.display_path for t in many]
    assert sum(bool(r.findings) for r in parallel) == 14
    assert check_files([], jobs=2) == []


def test_a_crash_is_a_rule_error(many, monkeypatch) -> None:
    monkeypatch.setattr(runner, "MIN_PARALLEL_FILES", 1)
    monkeypatch.setattr(runner, "MIN_PARALLEL_BYTES", 0)
    real = runner._check_data

    def flaky(data, task, module):
        if task.display_path == "f05.py":
            raise RuntimeError("boom")
        return real(data, task, module)

    monkeypatch.setattr(runner, "_check_data", flaky)  # fork: workers see it too
    for jobs in (1, 2):
        results = check_files(many, jobs=jobs)
        (bad,) = [r for r in results if r.errors]
        assert bad.path == "f05.py"
        assert bad.errors[0].code == "engine" and "RuntimeError: boom" in bad.errors[0].error
        assert sum(bool(r.findings) for r in results) == 14


@pytest.mark.skipif(runner._mp_context().get_start_method() != "fork", reason="needs fork")
def test_a_dying_worker_is_isolated(many, monkeypatch) -> None:
    monkeypatch.setattr(runner, "MIN_PARALLEL_FILES", 1)
    monkeypatch.setattr(runner, "MIN_PARALLEL_BYTES", 0)
    real = runner._check_data
    parent = os.getpid()

    def deadly(data, task, module):
        if task.display_path == "f07.py" and os.getpid() != parent:
            os._exit(3)  # like a segfault in native code
        return real(data, task, module)

    monkeypatch.setattr(runner, "_check_data", deadly)
    results = check_files(many, jobs=2)
    assert [r.path for r in results] == [t.display_path for t in many]
    (bad,) = [r for r in results if r.errors]
    assert bad.path == "f07.py" and "crashed" in bad.errors[0].error
    assert sum(bool(r.findings) for r in results) == 14


def test_progress_callback(many, monkeypatch) -> None:
    monkeypatch.setattr(runner, "MIN_PARALLEL_FILES", 1)
    monkeypatch.setattr(runner, "MIN_PARALLEL_BYTES", 0)
    for jobs in (1, 2):
        calls: list[tuple[int, int]] = []
        check_files(many, jobs=jobs, progress=lambda done, total: calls.append((done, total)))
        assert calls[-1] == (40, 40)
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_progress_bar_silent_when_not_a_terminal(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with progress_bar(1000, None) as callback:  # pytest's stderr is no terminal
        assert callback is None
    with progress_bar(1000, False) as callback:
        assert callback is None
    monkeypatch.setenv("CI", "true")
    with progress_bar(1000, True) as callback:
        assert callback is None


def test_progress_bar_on_a_terminal() -> None:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with progress_bar(100, True, console=console, delay=0.0) as callback:
        assert callback is not None
        for done in range(1, 101):
            callback(done, 100)
    assert "100/100" in out.getvalue()
    # Too few files, or not yet a second: nothing drawn.
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with progress_bar(10, True, console=console, delay=0.0) as callback:
        assert callback is None
    with progress_bar(100, True, console=console, delay=60.0) as callback:
        callback(50, 100)
    assert out.getvalue() == ""
