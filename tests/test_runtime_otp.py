"""The minimal OTP of swaplint.runtime: generic servers, code_change,
supervisors, and examples/otp_counter.py (the seed's counter, the OTP way)."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from swaplint.runtime import (
    CallError,
    CallTimeout,
    ChildSpec,
    Runtime,
    server,
    supervisor,
    worker,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "otp_counter.py"


def example_module():
    spec = importlib.util.spec_from_file_location("otp_counter_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------
# the example
# ---------------------------------------------------------------------------


def test_the_otp_counter_survives_upgrades_and_migrates_its_state():
    ex = example_module()
    v2 = EXAMPLE.read_text(encoding="utf-8")
    rt = Runtime(log_crashes=False)
    rt.load("otp_counter", ex.V1)
    sup = rt.start_supervisor([server("counter", "otp_counter", 0, name="counter")])
    rt.run()
    pid = rt.whereis("counter")
    for n in (1, 2, 3):
        rt.cast("counter", ("add", n))
    assert rt.call("counter", "get") == 6
    assert rt.get_state("counter") == 6  # version 1: a bare int

    rt.cast("counter", ("add", 4))  # queued before the upgrade: v1 handles it
    assert rt.upgrade("otp_counter", v2) == 2
    assert rt.get_state("counter") == {"count": 10, "hits": 0}
    assert rt.call("counter", "stats") == {"count": 10, "hits": 0, "version": 2}
    rt.cast("counter", ("add", 5))
    assert rt.call("counter", "get") == 15

    for expected in (3, 4, 5):  # purge after purge
        assert rt.upgrade("otp_counter", v2) == expected
    assert rt.kills == []
    assert rt.whereis("counter") == pid  # the same process all along
    assert rt.which_children(sup) == [("counter", pid)]
    assert not rt.check_process_code(pid, "otp_counter")


def test_the_otp_counter_is_restarted_by_its_supervisor():
    ex = example_module()
    rt = Runtime(log_crashes=False)
    rt.load("otp_counter", EXAMPLE.read_text(encoding="utf-8"))
    sup = rt.start_supervisor([server("counter", "otp_counter", 7, name="counter")], name="sup")
    rt.run()
    first = rt.whereis("counter")
    rt.cast("counter", ("sub", 1))  # unknown cast: ValueError
    rt.run()
    assert isinstance(rt.exit_reason(first), ValueError)
    second = rt.whereis("counter")
    assert second is not None and second != first
    assert rt.which_children("sup") == [("counter", second)]
    assert rt.call("counter", "get") == 7  # init(7) again
    assert rt.is_alive(sup)
    assert ex.VERSION == 2


def test_the_example_runs_as_a_script(capsys):
    example_module().main()
    out = capsys.readouterr().out
    assert "v1 count: 6" in out
    assert "after upgrade: {'count': 10, 'hits': 0, 'version': 2}" in out
    assert "kills by purges: 0" in out
    assert "restarted: True" in out


# ---------------------------------------------------------------------------
# generic servers
# ---------------------------------------------------------------------------

KV = """\
def init(*pairs):
    return dict(pairs)

def handle_call(request, from_pid, state):
    op, key = request
    if op == "get":
        return state.get(key), state
    if op == "pop":
        return state.pop(key), state
    raise ValueError(op)

def handle_cast(request, state):
    key, value = request
    state[key] = value
    return state

def handle_info(message, state):
    state.setdefault("_info", []).append(message)
    return state
"""


def test_call_cast_and_info():
    rt = Runtime(log_crashes=False)
    rt.load("kv", KV)
    pid = rt.start_server("kv", ("a", 1), name="kv")
    rt.run()
    assert rt.call("kv", ("get", "a")) == 1
    rt.cast(pid, ("b", 2))
    assert rt.call(pid, ("get", "b")) == 2
    rt.send("kv", "hello")
    rt.run()
    assert rt.get_state("kv")["_info"] == ["hello"]


def test_call_to_a_crashing_or_missing_server_is_a_call_error():
    rt = Runtime(log_crashes=False)
    rt.load("kv", KV)
    pid = rt.start_server("kv", name="kv")
    rt.run()
    with pytest.raises(CallError) as info:
        rt.call("kv", ("pop", "missing"))  # KeyError in the server
    assert isinstance(info.value.reason, KeyError)
    assert not rt.is_alive(pid)
    with pytest.raises(CallError) as info:
        rt.call("kv", ("get", "a"))
    assert info.value.reason == "noproc"


def test_call_timeout_leaves_other_messages_queued():
    rt = Runtime()
    rt.load(
        "slow",
        textwrap.dedent(
            """\
            from swaplint.runtime import receive

            def loop():
                receive()
                return loop()
            """
        ),
    )
    rt.load(
        "client",
        textwrap.dedent(
            """\
            from swaplint.runtime import call, CallTimeout, receive

            def go(server, out):
                try:
                    call(server, "ping", timeout=5)
                except CallTimeout:
                    out.append("timeout")
                out.append(receive())
            """
        ),
    )
    slow = rt.spawn("slow", "loop")
    out: list = []
    client = rt.spawn("client", "go", slow, out)
    rt.run()
    rt.send(client, "unrelated")  # arrives while the call waits
    rt.run()
    assert out == []
    rt.advance(5)
    assert out == ["timeout", "unrelated"]
    assert issubclass(CallTimeout, CallError)


def test_a_server_in_a_callback_is_not_a_user_loop():
    # the server's stack between messages holds no frame of its module
    rt = Runtime()
    rt.load("kv", KV)
    pid = rt.start_server("kv")
    rt.run()
    assert rt.stack_versions(pid, "kv") == ()
    assert rt.stack_depth(pid) == 0


# ---------------------------------------------------------------------------
# supervisors
# ---------------------------------------------------------------------------

WORKERS = """\
from swaplint.runtime import receive, Exit
VERSION = {v}

def loop(log):
    msg = receive()
    if msg == "crash":
        raise RuntimeError("crash")
    if msg == "stop":
        return "done"
    if msg == "shutdown":
        raise Exit("shutdown")
    log.append((VERSION, msg))
    return loop(log)
"""


def workers(v: int) -> str:
    return WORKERS.replace("{v}", str(v))


def sup_rt(children, **kw):
    rt = Runtime(log_crashes=False)
    rt.load("w", workers(1))
    sup = rt.start_supervisor(children, **kw)
    rt.run()
    return rt, sup


def pids(rt, sup):
    return dict(rt.which_children(sup))


def test_restart_types():
    # OTP: permanent always restarts; transient only after an abnormal exit;
    # temporary never.
    log: list = []
    rt, sup = sup_rt(
        [
            worker("perm", "w", "loop", log),
            worker("trans", "w", "loop", log, restart="transient"),
            worker("temp", "w", "loop", log, restart="temporary"),
        ],
        intensity=10,
    )
    before = pids(rt, sup)
    for child in ("perm", "trans", "temp"):
        rt.send(before[child], "stop")  # normal exits
    rt.run()
    after = pids(rt, sup)
    assert after["perm"] not in (None, before["perm"])
    assert after["trans"] is None and after["temp"] is None

    log2: list = []
    rt, sup = sup_rt([worker("trans", "w", "loop", log2, restart="transient")])
    first = pids(rt, sup)["trans"]
    rt.send(first, "crash")
    rt.run()
    assert pids(rt, sup)["trans"] not in (None, first)


def test_a_restart_runs_the_current_version():
    # the child spec is an external call: each (re)start takes the current code
    log: list = []
    rt, sup = sup_rt([worker("w", "w", "loop", log)])
    first = pids(rt, sup)["w"]
    rt.send(first, "a")
    rt.run()
    rt.load("w", workers(2))
    rt.load("w", workers(3))  # purges v1: kills the worker (it waits in v1)
    assert rt.exit_reason(first) == "killed"
    rt.run()
    second = pids(rt, sup)["w"]
    rt.send(second, "b")
    rt.run()
    assert log == [(1, "a"), (3, "b")]


def test_too_many_restarts_stop_the_supervisor_and_its_children():
    # OTP: more than MaxR restarts in MaxT seconds: the supervisor kills its
    # children and exits with reason shutdown.
    log: list = []
    rt, sup = sup_rt([worker("a", "w", "loop", log), worker("b", "w", "loop", log)], intensity=2, period=10)
    b = pids(rt, sup)["b"]
    for _ in range(2):
        rt.send(pids(rt, sup)["a"], "crash")
        rt.run()
    assert rt.is_alive(sup)
    rt.advance(1)
    rt.send(pids(rt, sup)["a"], "crash")  # third restart within 10 s
    rt.run()
    assert rt.exit_reason(sup) == "shutdown"
    assert rt.exit_reason(b) == "shutdown"


def test_restarts_spread_over_time_are_fine():
    log: list = []
    rt, sup = sup_rt([worker("a", "w", "loop", log)], intensity=1, period=5)
    for _ in range(4):
        rt.send(pids(rt, sup)["a"], "crash")
        rt.run()
        rt.advance(6)
    assert rt.is_alive(sup)


def test_a_child_that_traps_exits_gets_its_shutdown_time_then_is_killed():
    rt = Runtime(log_crashes=False)
    rt.load(
        "stubborn",
        textwrap.dedent(
            """\
            from swaplint.runtime import receive, trap_exit

            def start(log):
                trap_exit(True)
                return loop(log)

            def loop(log):
                log.append(receive())
                return loop(log)
            """
        ),
    )
    rt.load("crasher", "def go():\n    raise RuntimeError('x')\n")
    log: list = []
    spec = ChildSpec("s", (("stubborn", "start"), (log,)), shutdown=3)
    sup = rt.start_supervisor([spec, worker("c", "crasher", "go")], intensity=0)
    rt.run()
    stubborn = pids(rt, sup)["s"]
    assert rt.exit_reason(sup) is None  # waiting for the stubborn child
    rt.advance(3)
    assert rt.exit_reason(stubborn) == "killed"
    assert rt.exit_reason(sup) == "shutdown"
    assert log[0][0] == "EXIT" and log[0][2] == "shutdown"


def test_nested_supervisors():
    log: list = []
    rt = Runtime(log_crashes=False)
    rt.load("w", workers(1))
    top = rt.start_supervisor([supervisor("inner", [worker("w", "w", "loop", log)])])
    rt.run()
    inner = pids(rt, top)["inner"]
    w = pids(rt, inner)["w"]
    rt.send(w, "crash")
    rt.run()
    assert pids(rt, inner)["w"] not in (None, w)
    rt.exit(inner, "kill")
    rt.run()
    new_inner = pids(rt, top)["inner"]
    assert new_inner not in (None, inner)
    assert rt.is_alive(pids(rt, new_inner)["w"])


def test_child_spec_validation():
    with pytest.raises(ValueError):
        worker("x", "m", "f", restart="sometimes")


def test_a_dropped_runtime_with_servers_supervisors_and_selective_receives_is_freed():
    import gc
    import weakref

    rt = Runtime()
    rt.load("kv", KV)
    rt.load("w", workers(1))
    rt.load(
        "sel",
        "from swaplint.runtime import receive, ANY\ndef wait():\n    return receive(match=('x', ANY))\n",
    )
    rt.start_server("kv", name="kv")
    rt.start_supervisor([worker("w", "w", "loop", [])])
    rt.spawn("sel", "wait")
    rt.run()
    rt.call("kv", ("get", "a"))
    ref = weakref.ref(rt)
    del rt
    gc.collect()
    assert ref() is None  # no suspended frame holds its runtime


def test_a_server_calling_itself_is_an_error_not_a_deadlock():
    # OTP: gen_server:call(self(), ...) exits with calling_self
    rt = Runtime(log_crashes=False)
    rt.load(
        "selfish",
        textwrap.dedent(
            """\
            from swaplint.runtime import call, self_pid

            def init():
                return 0

            def handle_call(request, from_pid, state):
                return call(self_pid(), "again"), state
            """
        ),
    )
    pid = rt.start_server("selfish")
    rt.run()
    with pytest.raises(CallError) as info:
        rt.call(pid, "go")
    assert info.value.reason.reason == "calling_self"  # the server crashed with it
    assert not rt.is_alive(pid)
