"""swaplint.runtime: the seed's stories, run for real.

Every test loads small modules into a fresh ``Runtime`` and asserts what
Erlang/OTP 25 does (as measured with ``erl``).
"""

from __future__ import annotations

import logging
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

from swaplint.runtime import (
    TIMEOUT,
    BadFun,
    NotInProcess,
    NotPurged,
    Pid,
    Runtime,
    UndefinedFunction,
    receive,
    self_pid,
    send,
    spawn,
)

REPO = Path(__file__).resolve().parents[1]


def src(text: str, **subst) -> str:
    text = textwrap.dedent(text)
    for key, value in subst.items():
        text = text.replace("{" + key + "}", str(value))
    return text


# ---------------------------------------------------------------------------
# Story 1: try-catch
# ---------------------------------------------------------------------------

TRY_LOOP = """\
from swaplint.runtime import receive
import m

def loop(n):
    try:
        msg = receive()
        if msg == "switch_code":
            return m.loop(n)
        return loop(n + 1)
    except ValueError:
        return loop(n)
"""

FLAT_LOOP = """\
from swaplint.runtime import receive
import m

def loop(n):
    try:
        msg = receive()
    except ValueError:
        msg = None
    if msg == "switch_code":
        return m.loop(n)
    return loop(n + 1)
"""


def test_try_loop_grows_survives_one_upgrade_and_dies_at_next_purge():
    rt = Runtime()
    assert rt.load("m", TRY_LOOP) == 1
    pid = rt.spawn("m", "loop", 0)
    rt.run()
    assert rt.stack_depth(pid) == 1
    depths = []
    for _ in range(5):
        rt.send(pid, "tick")
        rt.run()
        depths.append(rt.stack_depth(pid))
    assert depths == [2, 3, 4, 5, 6]  # one frame per message

    assert rt.load("m", TRY_LOOP) == 2  # no old version yet: nobody purged
    assert rt.is_alive(pid)
    assert rt.versions("m") == (1, 2)
    assert rt.check_process_code(pid, "m")

    rt.send(pid, "switch_code")  # handled: the process now runs v2 ...
    rt.run()
    assert rt.current_function(pid) == ("m", "loop", 2)
    assert rt.stack_versions(pid, "m") == (1, 2)  # ... on top of six v1 frames
    assert rt.check_process_code(pid, "m")
    assert rt.soft_purge("m") is False

    assert rt.load("m", TRY_LOOP) == 3
    assert not rt.is_alive(pid)
    assert rt.exit_reason(pid) == "killed"
    rec = rt.kill_record(pid)
    assert rec.module == "m" and rec.version == 1
    assert rec.old_frames == 6
    assert rec.function == ("m", "loop", 2)
    assert rec.versions == (("m", 1), ("m", 2))
    assert rec.depth == 7
    assert rt.versions("m") == (2, 3)


def test_call_moved_out_of_try_is_flat_and_survives_any_number_of_upgrades():
    rt = Runtime()
    rt.load("m", FLAT_LOOP)
    pid = rt.spawn("m", "loop", 0)
    for _ in range(50):
        rt.send(pid, "tick")
    rt.run()
    assert rt.stack_depth(pid) == 1
    for expected in range(2, 12):
        assert rt.load("m", FLAT_LOOP) == expected
        assert rt.is_alive(pid)
        rt.send(pid, "switch_code")
        rt.run()
        assert rt.current_function(pid) == ("m", "loop", expected)
        assert rt.stack_depth(pid) == 1
        assert not rt.check_process_code(pid, "m")
    assert rt.kills == []


# ---------------------------------------------------------------------------
# Story 2: the after clause
# ---------------------------------------------------------------------------

IDLE_LOOP = """\
from swaplint.runtime import receive, TIMEOUT
import m

def loop(n):
    msg = receive({timeout})
    if msg == "switch_code" or msg is TIMEOUT:
        return m.loop(n)
    return loop(n + 1)
"""


def test_idle_loop_without_timeout_is_killed_after_two_loads():
    rt = Runtime()
    rt.load("m", src(IDLE_LOOP, timeout=""))
    pid = rt.spawn("m", "loop", 0)
    rt.run()
    rt.load("m", src(IDLE_LOOP, timeout=""))
    rt.advance(3600)  # an hour of idleness: nothing wakes it
    assert rt.is_alive(pid)
    assert rt.check_process_code(pid, "m")
    assert rt.soft_purge("m") is False
    rt.load("m", src(IDLE_LOOP, timeout=""))
    assert rt.exit_reason(pid) == "killed"
    assert rt.kill_record(pid).function == ("m", "loop", 1)


@pytest.mark.parametrize("loads", [3, 5, 10])
def test_idle_loop_with_timeout_upgrades_itself_within_the_timeout(loads):
    rt = Runtime()
    rt.load("m", src(IDLE_LOOP, timeout="timeout=10"))
    pid = rt.spawn("m", "loop", 0)
    rt.run()
    for i in range(2, loads + 2):
        assert rt.load("m", src(IDLE_LOOP, timeout="timeout=10")) == i
        assert rt.is_alive(pid)
        assert rt.check_process_code(pid, "m")  # still waiting in old code
        rt.advance(9.5)
        if rt.check_process_code(pid, "m"):  # its deadline is still ahead
            rt.advance(0.5)
        assert not rt.check_process_code(pid, "m")
        assert rt.current_function(pid) == ("m", "loop", i)
    assert rt.kills == []
    assert rt.now == pytest.approx(10.0 * loads, abs=10)


def test_timeout_fires_only_when_the_virtual_clock_reaches_it():
    rt = Runtime()
    rt.load("m", src(IDLE_LOOP, timeout="timeout=10"))
    pid = rt.spawn("m", "loop", 0)
    rt.run()
    rt.load("m", src(IDLE_LOOP, timeout="timeout=10"))
    rt.run()
    assert rt.check_process_code(pid, "m")
    rt.advance(9.999)
    assert rt.check_process_code(pid, "m")
    assert not any(ev == "timeout" for _, ev, _, _ in rt.trace)
    rt.advance(0.001)
    assert not rt.check_process_code(pid, "m")
    assert [(t, ev, p) for t, ev, p, _ in rt.trace if ev == "timeout"] == [(10.0, "timeout", pid)]


# ---------------------------------------------------------------------------
# Story 3: the process leak
# ---------------------------------------------------------------------------

LEAK = """\
from swaplint.runtime import receive, spawn, TIMEOUT
import m

def start(workers):
    for i in range(workers):
        spawn(worker_loop, i)
    return m.server_loop(0)

def server_loop(count):
    msg = receive(timeout=10)
    if msg == "switch_code" or msg is TIMEOUT:
        return m.server_loop(count)
    return server_loop(count + 1)

def worker_loop(jobs):
    msg = receive()
    if msg == "switch_code":
        return m.worker_loop(jobs)
    return worker_loop(jobs + 1)
"""


def test_untracked_workers_are_killed_by_the_third_load_and_the_server_survives():
    rt = Runtime()
    rt.load("m", LEAK)
    server = rt.spawn("m", "start", 3)
    rt.run()
    workers = [p for p in rt.alive() if p != server]
    assert len(workers) == 3

    rt.load("m", LEAK)
    rt.send(server, "switch_code")  # only the server is told
    rt.run()
    assert not rt.check_process_code(server, "m")
    assert [rt.check_process_code(w, "m") for w in workers] == [True, True, True]
    assert rt.soft_purge("m") is False
    with pytest.raises(NotPurged) as err:
        rt.load("m", LEAK, purge="soft")
    assert err.value.pids == tuple(workers)
    assert rt.versions("m") == (1, 2)  # the refused load changed nothing
    assert all(rt.is_alive(p) for p in [server, *workers])

    assert rt.load("m", LEAK) == 3
    assert [rt.exit_reason(w) for w in workers] == ["killed"] * 3
    assert rt.is_alive(server)
    assert [r.pid for r in rt.kills] == workers
    assert all(r.function == ("m", "worker_loop", 1) for r in rt.kills)
    purge_events = [d for _, ev, _, d in rt.trace if ev == "purge"]
    assert purge_events == [("m", 1, tuple(workers))]


def test_soft_load_succeeds_once_nobody_uses_old_code():
    rt = Runtime()
    rt.load("m", LEAK)
    server = rt.spawn("m", "server_loop", 0)
    rt.run()
    rt.load("m", LEAK)
    with pytest.raises(NotPurged):
        rt.load("m", LEAK, purge="soft")
    rt.send(server, "switch_code")
    rt.run()
    assert rt.load("m", LEAK, purge="soft") == 3
    assert rt.versions("m") == (2, 3)
    assert rt.is_alive(server)
    with pytest.raises(NotPurged):  # a bare load_file refuses while an old version exists
        rt.load("m", LEAK, purge="none")


# ---------------------------------------------------------------------------
# Story 4: local-only recursion keeps running old code
# ---------------------------------------------------------------------------

REPORTER = """\
from swaplint.runtime import receive

VERSION = {v}

def loop(out):
    msg = receive()
    if msg == "version?":
        out.append(VERSION)
    return loop(out)
"""


def test_local_recursion_keeps_old_code_and_is_killed_at_next_purge():
    rt = Runtime()
    out: list = []
    rt.load("m", src(REPORTER, v=1))
    pid = rt.spawn("m", "loop", out)
    rt.send(pid, "version?")
    rt.run()
    rt.load("m", src(REPORTER, v=2))
    rt.send(pid, "version?")
    rt.send(pid, "switch_code")  # no qualified call anywhere: nothing switches
    rt.send(pid, "version?")
    rt.run()
    assert out == [1, 1, 1]
    assert rt.current_function(pid) == ("m", "loop", 1)
    rt.load("m", src(REPORTER, v=3))
    assert rt.exit_reason(pid) == "killed"
    # a fresh external spawn runs the current code
    pid2 = rt.spawn("m", "loop", out)
    rt.send(pid2, "version?")
    rt.run()
    assert out[-1] == 3


# ---------------------------------------------------------------------------
# Story 5: local closures keep old code (Erlang funs)
# ---------------------------------------------------------------------------

CLOSURES = """\
from swaplint.runtime import receive
import m

VERSION = {v}

def make_handler():
    def handler(x):
        return (VERSION, x)
    return handler

def start(out):
    return loop(out, make_handler())

def loop(out, handler):
    msg = receive()
    if msg == "switch_code":
        return m.loop(out, handler)
    out.append((VERSION, handler(msg)))
    return loop(out, handler)
"""


def test_closures_keep_old_code_and_holding_one_does_not_kill():
    rt = Runtime()
    out: list = []
    rt.load("m", src(CLOSURES, v=1))
    pid = rt.spawn("m", "start", out)
    rt.send(pid, "a")
    rt.run()
    rt.load("m", src(CLOSURES, v=2))
    rt.send(pid, "switch_code")
    rt.send(pid, "b")
    rt.run()
    # the loop runs v2, the closure it carries still runs v1
    assert out == [(1, (1, "a")), (2, (1, "b"))]
    assert not rt.check_process_code(pid, "m")  # holding a fun is not a frame

    rt.load("m", src(CLOSURES, v=3))  # purges v1
    assert rt.is_alive(pid)
    assert rt.kills == []
    rt.send(pid, "c")  # calling the purged fun: badfun
    rt.run()
    assert isinstance(rt.exit_reason(pid), BadFun)


# ---------------------------------------------------------------------------
# Qualified calls through sys.modules / importlib
# ---------------------------------------------------------------------------

SYS_MODULES = """\
import sys
from swaplint.runtime import receive

def loop(n):
    msg = receive()
    if msg == "switch_code":
        return sys.modules[__name__].loop(n)
    return loop(n + 1)
"""

IMPORTLIB = """\
import importlib
from swaplint.runtime import receive

def loop(n):
    msg = receive()
    if msg == "switch_code":
        return importlib.import_module(__name__).loop(n)
    return loop(n + 1)
"""

FROM_IMPORTLIB = """\
from importlib import import_module
from swaplint.runtime import receive

def loop(n):
    msg = receive()
    if msg == "switch_code":
        return import_module(__name__).loop(n)
    return loop(n + 1)
"""


@pytest.mark.parametrize("source", [SYS_MODULES, IMPORTLIB, FROM_IMPORTLIB], ids=["sys", "importlib", "from"])
def test_module_lookup_by_name_is_a_qualified_call(source):
    rt = Runtime()
    rt.load("svc", source)
    pid = rt.spawn("svc", "loop", 0)
    rt.run()
    for v in range(2, 6):
        rt.load("svc", source)
        rt.send(pid, "switch_code")
        rt.run()
        assert rt.current_function(pid) == ("svc", "loop", v)
    assert rt.is_alive(pid)
    assert "svc" not in sys.modules  # nothing leaked into the real interpreter


def test_two_runtimes_do_not_see_each_others_modules():
    source = """\
from swaplint.runtime import receive
import m
def value():
    return {v!r}
def loop(out):
    msg = receive()
    out.append(m.value())
    return loop(out)
"""
    rt1, rt2 = Runtime(), Runtime()
    out1: list = []
    out2: list = []
    rt1.load("m", source.replace("{v!r}", "'one'"))
    rt2.load("m", source.replace("{v!r}", "'two'"))
    rt2.load("m", source.replace("{v!r}", "'two-b'"))
    p1 = rt1.spawn("m", "loop", out1)
    p2 = rt2.spawn("m", "loop", out2)
    rt1.send(p1, 0)
    rt2.send(p2, 0)
    rt1.run()
    rt2.run()
    assert (out1, out2) == (["one"], ["two-b"])
    assert rt1.versions("m") == (1,) and rt2.versions("m") == (1, 2)
    assert p1 == p2 == 1  # pids are per runtime
    assert "m" not in sys.modules
    assert rt1.module("m").value() == "one"
    assert rt2.module("m").value() == "two-b"


# ---------------------------------------------------------------------------
# Kills cannot be caught or survived
# ---------------------------------------------------------------------------

SWALLOWER = """\
from swaplint.runtime import receive, send

def loop(out, peer):
    while True:
        try:
            msg = receive()
            out.append(msg)
        except {exc} as e:
            out.append(("caught", type(e).__name__))
            send(peer, "still alive")
"""


@pytest.mark.parametrize("exc", ["Exception", "BaseException"])
def test_a_killed_process_never_runs_again(exc):
    rt = Runtime()
    out: list = []
    rt.load("m", src(SWALLOWER, exc=exc))
    rt.load(
        "sink",
        "from swaplint.runtime import receive\ndef loop(got):\n    got.append(receive())\n    return loop(got)\n",
    )
    got: list = []
    sink = rt.spawn("sink", "loop", got)
    pid = rt.spawn("m", "loop", out, sink)
    rt.send(pid, 1)
    rt.run()
    rt.load("m", src(SWALLOWER, exc=exc))
    rt.load("m", src(SWALLOWER, exc=exc))
    assert rt.exit_reason(pid) == "killed"
    assert not rt.is_alive(pid)
    for i in range(3):
        rt.send(pid, i)
    rt.run()
    rt.advance(100)
    # OTP: a killed process runs nothing more; neither handler ever runs
    assert out == [1]
    assert got == []  # its send after the kill was not delivered
    assert rt.exit_reason(pid) == "killed"
    assert rt.is_alive(sink)


# ---------------------------------------------------------------------------
# receive, send, spawn primitives
# ---------------------------------------------------------------------------


def test_primitives_outside_a_process_raise_a_clear_error():
    with pytest.raises(NotInProcess, match="outside a swaplint process"):
        receive()
    with pytest.raises(NotInProcess):
        receive(timeout=1)
    with pytest.raises(NotInProcess):
        send(Pid(1), "x")
    with pytest.raises(NotInProcess):
        spawn(print)
    with pytest.raises(NotInProcess):
        self_pid()
    assert isinstance(NotInProcess("x"), RuntimeError)


def test_receive_at_module_level_of_loaded_code_raises_and_loads_nothing():
    rt = Runtime()
    with pytest.raises(NotInProcess):
        rt.load("m", "from swaplint.runtime import receive\nreceive()\n")
    assert rt.versions("m") == ()


def test_mailbox_is_fifo_and_positional_timeout_works():
    rt = Runtime()
    rt.load(
        "m",
        """\
from swaplint.runtime import receive, TIMEOUT, self_pid, spawn, send

def collect(out):
    msg = receive(5)
    out.append(msg)
    if msg is TIMEOUT:
        return None
    return collect(out)

def pinger(target, n):
    for i in range(n):
        send(target, ("ping", i))
    send(target, ("from", self_pid()))
""",
    )
    out: list = []
    pid = rt.spawn("m", "collect", out)
    for i in range(5):
        rt.send(pid, i)
    rt.run()
    assert out == [0, 1, 2, 3, 4]
    pinger = rt.spawn_fun(rt.module("m").pinger, pid, 3)
    rt.run()
    assert out[5:] == [("ping", 0), ("ping", 1), ("ping", 2), ("from", pinger)]
    assert rt.exit_reason(pinger) == "normal"
    rt.advance(4.9)
    assert rt.is_alive(pid)
    rt.advance(0.1)
    assert out[-1] is TIMEOUT
    assert rt.exit_reason(pid) == "normal"
    assert repr(TIMEOUT) == "TIMEOUT"


def test_zero_timeout_polls_and_does_not_block():
    rt = Runtime()
    rt.load(
        "m",
        "from swaplint.runtime import receive\ndef poll(out):\n    out.append(receive(timeout=0))\n",
    )
    out: list = []
    rt.spawn("m", "poll", out)
    rt.run()
    assert out == [TIMEOUT]


def test_spawn_of_unknown_module_or_function():
    rt = Runtime()
    with pytest.raises(UndefinedFunction):
        rt.spawn("nope", "loop")
    rt.load("m", "def f():\n    return 1\n")
    with pytest.raises(UndefinedFunction):
        rt.spawn("m", "g")


def test_external_spawn_resolves_at_start_but_a_local_fun_keeps_its_version():
    rt = Runtime()
    rt.load("m", src(REPORTER, v=1))
    out: list = []
    external = rt.spawn("m", "loop", out)  # not started yet
    local = rt.spawn_fun(rt.module("m").loop, out)  # a fun of v1
    rt.load("m", src(REPORTER, v=2))
    assert rt.check_process_code(local, "m")
    assert not rt.check_process_code(external, "m")
    rt.load("m", src(REPORTER, v=3))  # purge v1 before either ran
    assert rt.exit_reason(local) == "killed"
    rt.send(external, "version?")
    rt.run()
    assert out == [3]


# ---------------------------------------------------------------------------
# crashes
# ---------------------------------------------------------------------------

CRASHY = """\
from swaplint.runtime import receive

def loop(n):
    msg = receive()
    result = helper(msg)
    return loop(n + result)

def helper(msg):
    if msg == "boom":
        return 1 // 0
    return msg
"""


def test_a_crash_kills_only_its_process_and_is_reported(caplog):
    rt = Runtime()
    rt.load("m", CRASHY)
    a = rt.spawn("m", "loop", 0)
    b = rt.spawn("m", "loop", 0)
    with caplog.at_level(logging.ERROR, logger="swaplint.runtime"):
        rt.send(a, "boom")
        rt.send(b, 1)
        rt.send(a, 2)  # never handled
        rt.send(b, 2)
        rt.run()
    assert isinstance(rt.exit_reason(a), ZeroDivisionError)
    assert rt.is_alive(b)
    assert rt.stack_depth(b) == 1
    report = rt.crash_report(a)
    assert f"Error in process {a!r}" in report
    assert "line 10, in helper" in report
    assert "return 1 // 0" in report
    assert "line 5, in loop" in report
    assert "result = helper(msg)" in report
    assert "process.py" not in report and "tailcall.py" not in report
    assert any(report in r.getMessage() for r in caplog.records)
    assert "exit" in {ev for _, ev, _, _ in rt.trace}


def test_tracebacks_point_at_the_loaded_file_and_line(tmp_path):
    path = tmp_path / "crashy.py"
    path.write_text(CRASHY)
    rt = Runtime(log_crashes=False)
    rt.load_path("crashy", path)
    pid = rt.spawn("crashy", "loop", 0)
    rt.send(pid, 1)
    rt.send(pid, "boom")
    rt.run()
    exc = rt.exit_reason(pid)
    frames = [
        (Path(fs.filename).name, fs.lineno, fs.name, fs.line)
        for fs in traceback.extract_tb(exc.__traceback__)
    ]
    loaded = [f for f in frames if f[0] == "crashy.py"]
    assert loaded == [
        ("crashy.py", 5, "loop", "result = helper(msg)"),
        ("crashy.py", 10, "helper", "return 1 // 0"),
    ]


def test_tail_called_function_keeps_its_line_numbers():
    rt = Runtime(log_crashes=False)
    rt.load(
        "m",
        """\
from swaplint.runtime import receive

def loop(n):
    msg = receive()
    return step(n, msg)

def step(n, msg):
    if msg == "boom":
        raise ValueError(f"bad message at {n}")
    return loop(n + 1)
""",
    )
    pid = rt.spawn("m", "loop", 0)
    for msg in (1, 2, "boom"):
        rt.send(pid, msg)
    rt.run()
    exc = rt.exit_reason(pid)
    assert isinstance(exc, ValueError) and str(exc) == "bad message at 2"
    tb = [
        (fs.lineno, fs.name)
        for fs in traceback.extract_tb(exc.__traceback__)
        if fs.filename.startswith("<swaplint")
    ]
    assert tb == [(9, "step")]  # the callers were tail calls: their frames are gone


def test_syntax_errors_name_the_module_and_change_nothing():
    rt = Runtime()
    rt.load("m", "def f():\n    return 1\n")
    with pytest.raises(SyntaxError) as err:
        rt.load("m", "def f(:\n    pass\n")
    assert err.value.lineno == 1
    assert "m v2" in err.value.filename
    assert rt.versions("m") == (1,)
    assert rt.load("m", "def f():\n    return 2\n") == 2


# ---------------------------------------------------------------------------
# scale of a tail loop, census, determinism
# ---------------------------------------------------------------------------

COUNTER = """\
from swaplint.runtime import receive
import m

def loop(n, out):
    msg = receive()
    if msg == "report":
        out.append(n)
    elif msg == "switch_code":
        return m.loop(n, out)
    return loop(n + 1, out)
"""


def test_tail_loop_stays_flat_over_100000_messages():
    rt = Runtime(trace=False)
    rt.load("m", COUNTER)
    out: list = []
    pid = rt.spawn("m", "loop", 0, out)
    for _ in range(100_000):
        rt.send(pid, "tick")
    rt.send(pid, "report")
    rt.run()
    assert out == [100_000]  # no RecursionError, every message handled
    assert rt.is_alive(pid)
    assert rt.stack_depth(pid) == 1
    frame = rt.stack(pid)[0]
    assert (frame.module, frame.version, frame.function) == ("m", 1, "loop")
    rt.load("m", COUNTER)
    rt.send(pid, "switch_code")
    rt.send(pid, "report")
    rt.run()
    assert rt.current_function(pid) == ("m", "loop", 2)
    assert rt.stack_depth(pid) == 1
    assert out == [100_000, 100_001]


def test_processes_census():
    rt = Runtime()
    rt.load("m", LEAK)
    server = rt.spawn("m", "start", 2)
    rt.run()
    rt.load("m", LEAK)
    rt.send(server, "switch_code")
    rt.run()
    census = {row.pid: row for row in rt.processes()}
    assert census[server].function == ("m", "server_loop", 2)
    assert census[server].versions == (("m", 2),)
    assert census[server].status == "waiting"
    workers = [p for p in census if p != server]
    assert [census[w].versions for w in workers] == [(("m", 1),), (("m", 1),)]
    rt.load("m", LEAK)
    census = {row.pid: row for row in rt.processes()}
    assert [census[w].status for w in workers] == ["dead", "dead"]
    assert [census[w].exit_reason for w in workers] == ["killed", "killed"]


def _mixed_scenario() -> list:
    rt = Runtime(log_crashes=False)
    rt.load("m", LEAK)
    rt.load("c", CRASHY)
    server = rt.spawn("m", "start", 3)
    crashy = rt.spawn("c", "loop", 0)
    rt.run()
    for i in range(5):
        rt.send(server, i)
        rt.send(crashy, i)
    rt.run()
    rt.load("m", LEAK)
    rt.advance(7)
    rt.send(crashy, "boom")
    rt.send(server, "switch_code")
    rt.advance(5)
    idle = rt.spawn("m", "worker_loop", 0)
    rt.run()  # starts in v2
    rt.load("m", LEAK)
    rt.advance(30)
    rt.load("m", LEAK)
    rt.send(idle, "job")
    rt.run()
    return rt.trace


def test_the_same_scenario_gives_the_same_trace():
    first = _mixed_scenario()
    second = _mixed_scenario()
    assert first == second
    events = [ev for _, ev, _, _ in first]
    for ev in (
        "load",
        "spawn",
        "start",
        "send",
        "receive",
        "timeout",
        "kill",
        "purge",
        "exit",
    ):
        assert ev in events, ev
    assert len(first) > 50
    kills = [p for _, ev, p, _ in first if ev == "kill"]
    assert len(kills) == 4  # three workers, then the idle worker started on v2


# ---------------------------------------------------------------------------
# the repository's own examples, run for real
# ---------------------------------------------------------------------------


@pytest.mark.skipif(not (REPO / "examples" / "untracked_worker.py").exists(), reason="no example")
def test_example_untracked_worker():
    rt = Runtime()
    path = REPO / "examples" / "untracked_worker.py"
    rt.load_path("untracked_worker", path)
    server = rt.spawn("untracked_worker", "start")
    rt.run()
    workers = [p for p in rt.alive() if p != server]
    rt.load_path("untracked_worker", path)
    rt.send(server, "switch_code")
    rt.run()
    rt.load_path("untracked_worker", path)
    assert rt.is_alive(server)
    assert [rt.exit_reason(w) for w in workers] == ["killed"] * len(workers)
    assert len(workers) == 3


@pytest.mark.skipif(not (REPO / "examples" / "try_catch_loop.py").exists(), reason="no example")
def test_example_try_catch_loop():
    rt = Runtime()
    path = REPO / "examples" / "try_catch_loop.py"
    rt.load_path("try_catch_loop", path)
    pid = rt.spawn("try_catch_loop", "server_loop")
    for _ in range(3):
        rt.send(pid, "work")
    rt.run()
    assert rt.stack_depth(pid) == 4
    rt.load_path("try_catch_loop", path)
    rt.send(pid, "switch_code")
    rt.run()
    assert rt.current_function(pid)[2] == 2
    rt.load_path("try_catch_loop", path)
    assert rt.exit_reason(pid) == "killed"
    # switch_code is handled before the try, by a tail call: the frame that got
    # it leaves; the three frames below it, suspended inside try, stay
    assert rt.kill_record(pid).old_frames == 3


# ---------------------------------------------------------------------------
# lifecycle details
# ---------------------------------------------------------------------------


def test_a_dropped_runtime_is_freed_and_its_processes_unwound():
    import gc
    import weakref

    unwound: list = []
    rt = Runtime()
    rt.load(
        "m",
        """\
from swaplint.runtime import receive

def loop(log):
    try:
        receive()
    finally:
        log.append("unwound")
""",
    )
    rt.spawn("m", "loop", unwound)
    rt.run()
    ref = weakref.ref(rt)
    del rt
    gc.collect()
    assert ref() is None  # no cycle through a suspended greenlet keeps it
    assert unwound == ["unwound"]


def test_runtime_control_from_inside_a_process_is_refused():
    rt = Runtime(log_crashes=False)
    rt.load("m", "def meddle(rt):\n    rt.load('m', 'x = 1')\n")
    pid = rt.spawn("m", "meddle", rt)
    rt.run()
    assert isinstance(rt.exit_reason(pid), RuntimeError)
    assert "inside a process" in str(rt.exit_reason(pid))
    assert rt.versions("m") == (1,)


def test_trace_entries_are_simple_tuples():
    rt = Runtime()
    rt.load("m", src(IDLE_LOOP, timeout="timeout=10"))
    pid = rt.spawn("m", "loop", 0)
    rt.send(pid, 7)
    rt.run()
    rt.load("m", src(IDLE_LOOP, timeout="timeout=10"))
    rt.advance(10)
    rt.load("m", src(IDLE_LOOP, timeout="timeout=10"))
    assert rt.trace == [
        (0.0, "load", None, ("m", 1)),
        (0.0, "spawn", pid, (None, ("m", "loop", None))),
        (0.0, "send", pid, (None, 7)),
        (0.0, "start", pid, ("m", "loop", 1)),
        (0.0, "receive", pid, 7),
        (0.0, "load", None, ("m", 2)),
        (10.0, "timeout", pid, None),
        (10.0, "purge", None, ("m", 1, ())),
        (10.0, "load", None, ("m", 3)),
    ]
    assert rt.kills == [] and rt.is_alive(pid)


def test_a_busy_process_yields_to_others_after_its_reduction_budget():
    from swaplint.runtime.process import REDUCTIONS

    rt = Runtime(trace=False)
    rt.load("m", COUNTER)
    out: list = []
    a = rt.spawn("m", "loop", 0, out)
    b = rt.spawn("m", "loop", 0, out)
    rt.run()
    for _ in range(REDUCTIONS * 2):
        rt.send(a, "tick")
    rt.send(a, "report")
    rt.send(b, "report")
    rt.run()
    assert out == [0, REDUCTIONS * 2]  # b got its turn while a was still busy
