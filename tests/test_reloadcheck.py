"""reloadcheck: flagged plain-Python loops run for real in a child, reloaded twice, judged."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from swaplint import reloadcheck
from swaplint.reloadcheck import CONFIRMED, NOT_REPRODUCED, NOT_RUN, LoopJob, ReloadVerdict, verify_file

PLAIN = Path(__file__).resolve().parent / "fixtures" / "plain"
ERLANG_ONLY = re.compile(r"purge|third version|killed when|killed at", re.IGNORECASE)


def _verify(tmp_path: Path, name: str, *jobs: LoopJob, timeout: float = 30.0) -> list[ReloadVerdict]:
    """Check a fixture from a copy in tmp_path, and that the check wrote nothing beside it."""
    path = tmp_path / f"{name}.py"
    shutil.copy(PLAIN / f"{name}.py", path)
    verdicts = verify_file(str(path), name, jobs, timeout=timeout)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.py"]
    for verdict in verdicts:
        assert verdict.status in (CONFIRMED, NOT_REPRODUCED, NOT_RUN)
        assert not ERLANG_ONLY.search(verdict.evidence), verdict.evidence
    return verdicts


def test_queue_worker_inline_loop_and_blocking_get_are_confirmed(tmp_path: Path) -> None:
    pinned, idle = _verify(tmp_path, "queue_worker", LoopJob("SWL006", "worker"), LoopJob("SWL003", "worker"))
    assert pinned.status == CONFIRMED, pinned
    assert pinned.evidence.startswith(
        "thread 'worker' still runs `worker` of version 1 at line 23 after 2 reloads"
    )
    assert (
        "message 3 was handled by version-1 code (`worker`) and version-3 code (`process`)" in pinned.evidence
    )
    assert "did not see the stop event" in pinned.evidence
    assert pinned.messages == (1, "flush", 1, "flush")  # the probe and the literal it compares against
    assert idle.status == CONFIRMED, idle
    assert "is blocked in a receive with no timeout in `worker` of version 1 at line 23" in idle.evidence
    assert "did not see the stop event" in idle.evidence


def test_queue_worker_fixed_is_not_reproduced(tmp_path: Path) -> None:
    pinned, idle = _verify(tmp_path, "queue_worker_fixed", LoopJob("SWL006", "run"), LoopJob("SWL003", "run"))
    assert pinned.status == NOT_REPRODUCED, pinned
    assert "message 4 was handled entirely by version-3 code (`step`" in pinned.evidence
    assert "keeps only `run` of version 1" in pinned.evidence and "saw the stop event" in pinned.evidence
    assert idle.status == NOT_REPRODUCED, idle
    assert "saw the stop event" in idle.evidence


def test_asyncio_consumer_is_confirmed_and_its_fix_is_not(tmp_path: Path) -> None:
    pinned, idle = _verify(
        tmp_path, "asyncio_consumer", LoopJob("SWL006", "consumer"), LoopJob("SWL003", "consumer")
    )
    assert pinned.status == CONFIRMED, pinned
    assert pinned.evidence.startswith("task 'consumer' still runs `consumer` of version 1 at line 20")
    assert "version-1 code (`consumer`) and version-3 code (`handle`): mixed versions" in pinned.evidence
    assert idle.status == CONFIRMED, idle
    assert "it has no stop flag or event, so only a message can wake it" in idle.evidence
    fixed_dir = tmp_path / "fixed"
    fixed_dir.mkdir()
    pinned, idle = _verify(
        fixed_dir, "asyncio_consumer_fixed", LoopJob("SWL006", "run"), LoopJob("SWL003", "run")
    )
    assert pinned.status == NOT_REPRODUCED, pinned
    assert "handled entirely by version-3 code (`step`, `handle`)" in pinned.evidence
    assert idle.status == NOT_REPRODUCED, idle


def test_recursive_queue_loop_grows_until_recursion_error(tmp_path: Path) -> None:
    growth, bare_name = _verify(
        tmp_path, "recursive_queue_loop", LoopJob("SWL001", "serve"), LoopJob("SWL002", "serve")
    )
    assert growth.status == CONFIRMED, growth
    match = re.search(r"grew from 1 to (\d+) frames of `serve` over 4 messages", growth.evidence)
    assert match and int(match.group(1)) >= 5, growth.evidence
    assert "frames of version 1 stay on it (current 3)" in growth.evidence
    assert re.search(
        r"died with RecursionError after \d+ messages in all \(sys.getrecursionlimit\(\) = \d+\)",
        growth.evidence,
    ), growth.evidence
    # Bare-name recursion reaches the new code under importlib: SWL002 does not hold there.
    assert bare_name.status == NOT_REPRODUCED, bare_name
    assert "handled entirely by version-3 code (`serve`, `add`)" in bare_name.evidence


def test_recursive_queue_loop_fixed_keeps_one_frame(tmp_path: Path) -> None:
    (growth,) = _verify(tmp_path, "recursive_queue_loop_fixed", LoopJob("SWL001", "serve"))
    assert growth.status == NOT_REPRODUCED, growth
    assert "held 1 frame of `serve` after 4 messages" in growth.evidence


def test_self_loop_method_keeps_old_class(tmp_path: Path) -> None:
    (verdict,) = _verify(tmp_path, "self_loop_method", LoopJob("SWL002", "Mailbox.loop"))
    assert verdict.status == CONFIRMED, verdict
    assert "still runs `Mailbox.loop` of version 1" in verdict.evidence
    assert "handled by version-1 code (`Mailbox.loop`, `Mailbox.handle`)" in verdict.evidence
    assert "saw the stop message 'stop'" in verdict.evidence


def test_untracked_threads_are_confirmed_and_kept_ones_are_not(tmp_path: Path) -> None:
    (verdict,) = _verify(tmp_path, "untracked_thread", LoopJob("SWL004", "start"))
    assert verdict.status == CONFIRMED, verdict
    assert "`start` started 2 threads ('worker-0', 'worker-1') and nothing holds them" in verdict.evidence
    assert "still runs `worker` of version 1 at line 14" in verdict.evidence
    fixed_dir = tmp_path / "fixed"
    fixed_dir.mkdir()
    (verdict,) = _verify(fixed_dir, "untracked_thread_fixed", LoopJob("SWL004", "start"))
    assert verdict.status == NOT_REPRODUCED, verdict
    assert "all held by the value `start` returned" in verdict.evidence


def test_socket_handler_is_fed_through_a_real_socket_pair(tmp_path: Path) -> None:
    pinned, idle = _verify(tmp_path, "socket_echo", LoopJob("SWL006", "serve"), LoopJob("SWL003", "serve"))
    assert pinned.status == CONFIRMED, pinned
    assert "message 3 was handled by version-1 code (`serve`) and version-3 code (`reply`)" in pinned.evidence
    assert pinned.messages == (1, b"ping", 1, b"ping")
    assert "it saw the peer close the connection" in pinned.evidence
    assert idle.status == CONFIRMED, idle
    assert "blocked in a receive with no timeout in `serve` of version 1 at line 17" in idle.evidence
    fixed_dir = tmp_path / "fixed"
    fixed_dir.mkdir()
    pinned, idle = _verify(
        fixed_dir, "socket_echo_fixed", LoopJob("SWL006", "serve"), LoopJob("SWL003", "serve")
    )
    assert pinned.status == NOT_REPRODUCED, pinned
    assert "handled entirely by version-3 code (`step`, `reply`)" in pinned.evidence
    assert idle.status == NOT_REPRODUCED, idle


def test_an_untracked_asyncio_task_is_confirmed(tmp_path: Path) -> None:
    (verdict,) = _verify(tmp_path, "untracked_task", LoopJob("SWL004", "main"))
    assert verdict.status == CONFIRMED, verdict
    assert re.match(r"`main` started 1 task \('Task-\d+'\) and nothing holds it", verdict.evidence), verdict
    assert (
        "still runs `consumer` of version 1 at line 11, and cannot be awaited, cancelled" in verdict.evidence
    )


def test_module_level_start_and_explicit_messages(tmp_path: Path) -> None:
    path = tmp_path / "boot.py"
    path.write_text(
        textwrap.dedent(
            """\
            import queue, threading
            inbox = queue.Queue()
            seen = []

            def pump(inbox, prefix):
                while True:
                    try:
                        msg = inbox.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    seen.append(prefix + msg)

            threading.Thread(target=pump, args=(inbox, ">"), daemon=True).start()
            """
        ),
        encoding="utf-8",
    )
    at_import, pinned, missing = verify_file(
        str(path),
        "boot",
        [
            LoopJob("SWL004", "<module>"),
            LoopJob("SWL006", "pump", args=(">",), messages=("a", "b")),
            LoopJob("SWL006", "pump"),
        ],
        timeout=30,
    )
    assert at_import.status == CONFIRMED, at_import
    assert at_import.evidence.startswith("the module's import started 1 thread")
    assert pinned.status == CONFIRMED, pinned
    assert pinned.messages == ("a", "b", "a", "b")
    assert "message 3 was handled by version-1 code (`pump`)" in pinned.evidence
    assert missing.status == NOT_RUN
    assert "start arguments unknown: `pump(inbox, prefix)` needs `prefix`" in missing.evidence
    assert '[tool.swaplint.verify."boot:pump"]' in missing.evidence


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_not_run_always_says_what_is_missing(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "odd",
        """\
        class Conn:
            def __init__(self, sock, config):
                self.sock = sock

            def loop(self):
                while True:
                    self.sock.recv(1024)

        def outer():
            def inner(q):
                while True:
                    q.get()
            return inner
        """,
    )
    verdicts = verify_file(
        path,
        "odd",
        [
            LoopJob("SWL006", "Conn.loop"),
            LoopJob("SWL006", "outer.<locals>.inner"),
            LoopJob("SWL006", "nope"),
        ],
        timeout=30,
    )
    assert [v.status for v in verdicts] == [NOT_RUN] * 3
    assert "`__init__(sock, config)` needs `sock`" in verdicts[0].evidence
    assert "nested function" in verdicts[1].evidence
    assert "`nope` is not a module-level function or a method" in verdicts[2].evidence


def test_a_child_that_exits_at_import_is_not_run(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "quitter",
        """\
        import os, sys
        sys.stdout.write("x" * 3_000_000)
        sys.stderr.write("going away now\\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(3)
        """,
    )
    (verdict,) = verify_file(path, "quitter", [LoopJob("SWL006", "main")], timeout=30)
    assert verdict.status == NOT_RUN
    assert verdict.evidence == ("the child process exited with code 3 (going away now) while checking it")


def test_an_exception_at_import_is_not_run(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", "raise RuntimeError('no config file')\n")
    (verdict,) = verify_file(path, "broken", [LoopJob("SWL006", "main")], timeout=30)
    assert verdict == ReloadVerdict(NOT_RUN, "the module failed to load: RuntimeError: no config file")


def test_a_hang_is_stopped_with_its_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleeper.pid"
    path = _write(
        tmp_path,
        "hangs",
        f"""\
        import subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        while True:
            time.sleep(0.05)
        """,
    )
    started = time.monotonic()
    verdicts = verify_file(path, "hangs", [LoopJob("SWL006", "a"), LoopJob("SWL003", "b")], timeout=3)
    assert time.monotonic() - started < 15
    assert verdicts == [
        ReloadVerdict(NOT_RUN, "the check did not finish within 3 s and was stopped while checking it"),
        ReloadVerdict(
            NOT_RUN, "the check did not finish within 3 s and was stopped before its check started"
        ),
    ]
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid), "the grandchild survived the timeout"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its reaper is not running
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_no_jobs_no_child() -> None:
    assert verify_file("/nonexistent.py", "x", []) == []


def test_output_cap_keeps_the_first_megabyte() -> None:
    import io

    reader = reloadcheck._CappedReader(io.BytesIO(b"a" * (3 << 20)), 1 << 20)
    reader.run()
    assert reader.size == 1 << 20 and reader.truncated
    assert reader.text().endswith("[output truncated at 1 MB]")


@pytest.mark.parametrize(
    ("source", "function", "expected"),
    [
        (
            """\
            def run(inbox, stop):
                while not stop.is_set():
                    step(inbox)

            def step(box):
                m = box.get(timeout=0.25)
                if m == "reset" or m in ("a", 2):
                    pass
            """,
            "run",
            {
                "queue_params": {"inbox"},
                "event_params": {"stop"},
                "literals": ["reset", "a", 2],
                "max_timeout": 0.25,
            },
        ),
        (
            """\
            import asyncio
            async def consumer(source, halt):
                while True:
                    m = await asyncio.wait_for(source.get(), 5)
                    match m:
                        case ("add", n):
                            pass
                        case "quit":
                            return
            """,
            "consumer",
            {
                "queue_params": {"source"},
                "literals": [("add", 1)],
                "stop_messages": ["quit"],
                "max_timeout": 5.0,
            },
        ),
        (
            """\
            class W:
                def __init__(self):
                    self.running = True
                def loop(self):
                    while self.running:
                        self.mail.get()
            """,
            "W.loop",
            {"queue_attrs": {"mail"}, "flag_attrs": {"running": False}, "max_timeout": None},
        ),
    ],
)
def test_study_infers_queues_events_literals_and_timeouts(source: str, function: str, expected: dict) -> None:
    facts = reloadcheck.study(textwrap.dedent(source), function)
    assert facts.node is not None
    for key, value in expected.items():
        assert getattr(facts, key) == value, key
