"""Issue 12 hardening: signals stop the pool, hostile files and trees, no import cycles."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SWAPLINT, subprocess_env

LINUX = sys.platform.startswith("linux") and Path("/proc/self/stat").exists()

SLOW_FILE = (
    "from swaplint.runtime import receive\n\ndef loop(s=0):\n    msg = receive()\n    return loop(s + msg)\n"
    + "".join(
        f"def f{i}(a, b):\n    x = [a + b * {i} for _ in range(3)]\n    return {{'k': x, 'v': (a, b)}}\n\n"
        for i in range(8000)
    )
)  # about a second of parsing and modelling each


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_worker_at_once(tmp_path: Path, how: str) -> None:
    for i in range(8):
        (tmp_path / f"slow{i}.py").write_text(SLOW_FILE)
    proc = subprocess.Popen(
        [*SWAPLINT, "check", "--no-cache", "--jobs", "2", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
        start_new_session=True,  # its own process group, as a shell job is
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            workers = _children(proc.pid)
        assert len(workers) == 2, "no pool started"
        time.sleep(0.5)  # the workers are inside a file now
        signalled = time.monotonic()
        if how == "SIGTERM":
            os.kill(proc.pid, signal.SIGTERM)  # the main process only, as `kill PID` does
        else:
            os.killpg(proc.pid, signal.SIGINT)  # the whole group, as Ctrl-C in a terminal does
        _, stderr = proc.communicate(timeout=60)
        # Not a speed test: a worker needs far longer than this to finish its file.
        assert time.monotonic() - signalled < 4.0, "the run did not stop at once"
        # Each file takes seconds; the workers must not finish theirs.
        deadline = time.monotonic() + 2.0
        while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [w for w in workers if not _gone(w)] == [], "workers outlived the run"
        if how == "SIGTERM":
            assert proc.returncode == 128 + signal.SIGTERM
        else:
            assert proc.returncode == 130 and b"interrupted" in stderr
    finally:
        for pid in [proc.pid, *workers]:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


# -- discovery: unreadable directories, FIFOs, devices, sockets, notebooks (items 2, 5, 21) --

LOOP = "def worker(q):\n    while True:\n        q.get()\n"


def _deny(monkeypatch: pytest.MonkeyPatch, locked: Path) -> None:
    """Make ``locked`` behave as a mode-000 directory does for a non-root user."""
    real_stat, real_scandir = os.stat, os.scandir

    def denied(path: object) -> bool:
        text = os.path.abspath(os.fspath(path))  # type: ignore[arg-type]
        return text == str(locked) or text.startswith(str(locked) + os.sep)

    def fake_stat(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if denied(path) and os.path.abspath(path) != str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    def fake_scandir(path="."):  # type: ignore[no-untyped-def]
        if denied(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "stat", fake_stat)
    monkeypatch.setattr(os, "scandir", fake_scandir)


def test_an_unreadable_directory_is_skipped_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from swaplint.discovery import Excluder, Skipped, discover

    (tmp_path / "a.py").write_text(LOOP)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "hidden.py").write_text(LOOP)
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "b.py").write_text(LOOP)
    _deny(monkeypatch, tmp_path / "locked")
    found = discover(["."], Excluder(), cwd=tmp_path)
    assert [f.display_path for f in found.files] == ["a.py", os.path.join("z", "b.py")]
    assert found.skipped == [Skipped("locked", "cannot read directory: Permission denied")]
    assert str(found.skipped[0]) == "locked: cannot read directory: Permission denied; skipped"


def test_an_unreadable_directory_does_not_stop_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from swaplint.cli import cli

    (tmp_path / "a.py").write_text(LOOP)
    (tmp_path / "venv-ish").mkdir()
    _deny(monkeypatch, tmp_path / "venv-ish")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "--no-cache", "--format", "concise", "."])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("a.py:3:")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads mode-000 directories")
def test_a_mode_000_directory(tmp_path: Path) -> None:
    from swaplint.discovery import Excluder, discover

    (tmp_path / "a.py").write_text(LOOP)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "pyvenv.cfg").write_text("")
    locked.chmod(0)
    try:
        found = discover(["."], Excluder(), cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert [f.display_path for f in found.files] == ["a.py"]
    assert [s.path for s in found.skipped] == ["locked"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_devices_sockets_and_notebooks_are_not_read(tmp_path: Path) -> None:
    import socket

    from swaplint.discovery import Excluder, Skipped, discover

    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "nb.ipynb").write_text('{"cells": []}')
    (tmp_path / "ok.py").write_text(LOOP)
    (tmp_path / "zero.py").symlink_to(os.devnull)
    server = socket.socket(socket.AF_UNIX)
    sock = tmp_path / "s.py"
    try:
        server.bind(str(sock))
        found = discover(["pipe.py", "zero.py", "s.py", "nb.ipynb", "ok.py", "."], Excluder(), cwd=tmp_path)
    finally:
        server.close()
    assert [f.display_path for f in found.files] == ["ok.py"]  # the walk skips them silently
    assert found.skipped == [
        Skipped("pipe.py", "not a regular file (a FIFO)"),
        Skipped("zero.py", "not a regular file (a device)"),
        Skipped("s.py", "not a regular file (a socket)"),
        Skipped("nb.ipynb", "a Jupyter notebook (not checked)"),
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_on_the_command_line_does_not_hang_the_cli(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    os.mkfifo(tmp_path / ".gitignore")
    (tmp_path / "ok.py").write_text(LOOP)
    (tmp_path / "nb.ipynb").write_text('{"cells": [{"source": "def f(:"}]}')
    args = [*SWAPLINT, "check", "--no-cache", "--format", "concise", "pipe.py", os.devnull, "nb.ipynb", "."]
    proc = subprocess.run(
        args, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert {
        line.split(":")[0] for line in proc.stdout.splitlines() if not line.startswith(("Found", "[*]"))
    } == {"ok.py"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_the_runner_never_opens_a_fifo(tmp_path: Path) -> None:
    from swaplint.engine import Settings
    from swaplint.runner import Task, check_files

    os.mkfifo(tmp_path / "pipe.py")
    script = (
        "import sys\n"
        "from swaplint.engine import Settings\n"
        "from swaplint.runner import Task, check_files\n"
        "(r,) = check_files([Task(sys.argv[1], 'pipe.py', Settings())], jobs=1)\n"
        "print([f.message for f in r.findings])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "pipe.py")],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert out.strip() == "['cannot read file: not a regular file']"
    assert check_files([Task(os.devnull, "null.py", Settings())], jobs=1)[0].findings[0].message == (
        "cannot read file: not a regular file"
    )


def test_read_regular_file_limits(tmp_path: Path) -> None:
    from swaplint.discovery import FileTooLarge, NotARegularFile, read_regular_file

    big = tmp_path / "big.py"
    big.write_bytes(b"x" * 100)
    assert read_regular_file(big) == b"x" * 100
    assert read_regular_file(big, 100) == b"x" * 100
    with pytest.raises(FileTooLarge):
        read_regular_file(big, 99)
    with pytest.raises(NotARegularFile):
        read_regular_file(tmp_path)
    with pytest.raises(NotARegularFile):
        read_regular_file("/dev/zero", 10)


# -- no import cycles among the modules this hardening touched ------------------------------


def _imports(path: Path) -> set[str]:
    """Every ``swaplint`` module a file imports, at any level, except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("swaplint"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("swaplint"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_no_import_cycle_through_verify_cache_runner_or_discovery() -> None:
    package = REPO_ROOT / "swaplint"
    modules = {
        ".".join(p.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in package.rglob("*.py")
    }
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()
    }

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            for nxt in graph.get(current, ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    mine = ["swaplint.verify", "swaplint.verify_scenarios", "swaplint.verify_common", "swaplint.cache"]
    mine += ["swaplint.runner", "swaplint.discovery", "swaplint.gitdiff", "swaplint.stopping"]
    assert [m for m in mine if reaches(m, m)] == []


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_sigterm_during_verify_kills_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "busy.py").write_text(
        "from swaplint.runtime import receive\n"
        "while True:\n    pass\n"
        "def loop(s=0):\n    msg = receive()\n    return loop(msg)\n"
    )
    proc = subprocess.Popen(
        [*SWAPLINT, "check", "--no-cache", "--verify", str(tmp_path / "busy.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
        start_new_session=True,
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not children and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            children = _children(proc.pid)
        assert children, "the verifier child never started"
        time.sleep(0.3)
        signalled = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
        # Not a speed test: the scenario's own time limit is 30 s.
        assert time.monotonic() - signalled < 4.0
        assert proc.returncode == 128 + signal.SIGTERM
        deadline = time.monotonic() + 2.0
        while not all(_gone(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [c for c in children if not _gone(c)] == []
    finally:
        for pid in [proc.pid, *children]:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_very_deep_tree_is_walked_in_linear_time(tmp_path: Path) -> None:
    # 1,100 nested directories: deeper than the recursion limit; the old walk was
    # cubic in the depth (minutes at 400 levels) and recursive.
    deepest = tmp_path
    for _ in range(1100):
        deepest = deepest / "a"
        deepest.mkdir()  # os.makedirs recurses too deep
    (deepest / "x.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    (deepest / "ignored.py").write_text("x = 1\n")
    script = (
        "import sys\n"
        "from swaplint.discovery import Excluder, discover\n"
        "found = discover(['.'], Excluder(), cwd=sys.argv[1])\n"
        "print(len(found.files), found.files[0].display_path.count('a'), found.skipped)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:  # shutil.rmtree (pytest's clean-up) recurses too deep for this tree
        for file in deepest.iterdir():
            file.unlink()
        while deepest != tmp_path:
            deepest.rmdir()
            deepest = deepest.parent
    assert out.split() == ["1", "1100", "[]"]


def test_size_limit_in_discovery_runner_and_cache(tmp_path: Path) -> None:
    from swaplint.cache import Cache
    from swaplint.discovery import Excluder, Skipped, discover
    from swaplint.engine import Settings
    from swaplint.runner import Task, check_files

    (tmp_path / "big.py").write_text("x = 1\n" * 500_000)  # 3 MB
    (tmp_path / "small.py").write_text(LOOP)
    found = discover(["."], Excluder(), cwd=tmp_path, max_bytes=2_000_000)
    assert [f.display_path for f in found.files] == ["small.py"]
    assert found.skipped == [Skipped("big.py", "file too large (3.0 MB; the limit is 2.0 MB)")]
    # The runner enforces the limit too (a file may grow after discovery), cache or not.
    task = Task(str(tmp_path / "big.py"), "big.py", Settings(), max_bytes=2_000_000)
    for cache in (None, Cache(tmp_path / "cache")):
        (result,) = check_files([task], jobs=1, cache=cache)
        assert [f.message for f in result.findings] == [
            "cannot read file: file too large (3000000 bytes; the limit is 2000000)"
        ]
