"""The try/catch table of the design doc, run for real.

Erlang (OTP 25, ``erlc -S`` and stack sizes after 1 and 101 iterations):
a recursive call in a ``try`` body, or in an ``of``/``catch`` clause of a
``try ... after``, is not a tail call: the stack grows per message and the
process is killed after two reloads even though it handled ``switch_code``.
In ``of``/``catch`` clauses of a ``try`` without ``after``, and after the
``try``, it is a tail call: flat, and the process upgrades.

The Python counterparts: the ``try`` suite is protected; ``except``/``else``
suites are tail positions only without ``finally``; a ``finally`` suite and a
``with`` body never are.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from swaplint.runtime import Runtime
from swaplint.runtime.tailcall import TailCallRewriter

HEADER = """\
import contextlib
from swaplint.runtime import receive
import m

class Next(Exception):
    pass

def nxt(msg):
    # the qualified path on switch_code, the local one otherwise
    return m.loop if msg == "switch_code" else loop

"""

CASES = {
    "protected body": (
        """
        def loop(n):
            try:
                msg = receive()
                return nxt(msg)(n + 1)
            except ValueError:
                return loop(n)
        """,
        "grows",
    ),
    "except clause, no finally": (
        """
        def loop(n):
            try:
                msg = receive()
                raise Next(msg)
            except Next as e:
                return nxt(e.args[0])(n + 1)
        """,
        "flat",
    ),
    "else clause, no finally": (
        """
        def loop(n):
            try:
                msg = receive()
            except ValueError:
                return loop(n)
            else:
                return nxt(msg)(n + 1)
        """,
        "flat",
    ),
    "except clause with finally": (
        """
        def loop(n):
            try:
                msg = receive()
                raise Next(msg)
            except Next as e:
                return nxt(e.args[0])(n + 1)
            finally:
                n = -1
        """,
        "grows",
    ),
    "else clause with finally": (
        """
        def loop(n):
            try:
                msg = receive()
            except ValueError:
                msg = None
            else:
                return nxt(msg)(n + 1)
            finally:
                n = -1
        """,
        "grows",
    ),
    "finally suite": (
        """
        def loop(n):
            try:
                msg = receive()
            finally:
                return nxt(msg)(n + 1)
        """,
        "grows",
    ),
    "with body": (
        """
        def loop(n):
            with contextlib.nullcontext():
                msg = receive()
                return nxt(msg)(n + 1)
        """,
        "grows",
    ),
    "re-entry after the try": (
        """
        def loop(n):
            try:
                msg = receive()
            except ValueError:
                msg = None
            return nxt(msg)(n + 1)
        """,
        "flat",
    ),
    "except inside a with body": (
        """
        def loop(n):
            with contextlib.nullcontext():
                try:
                    msg = receive()
                    raise Next(msg)
                except Next as e:
                    return nxt(e.args[0])(n + 1)
        """,
        "grows",
    ),
    "if/elif/else, match and loops are tail positions": (
        """
        def loop(n):
            for _ in range(1):
                msg = receive()
                match msg:
                    case "never":
                        return loop(n)
                    case _:
                        if msg is None:
                            return loop(n)
                        elif n < 0:
                            return loop(n)
                        else:
                            while True:
                                return nxt(msg)(n + 1)
        """,
        "flat",
    ),
}


def _source(body: str) -> str:
    return HEADER + textwrap.dedent(body)


@pytest.mark.parametrize("case", list(CASES))
def test_try_catch_table(case):
    body, expected = CASES[case]
    source = _source(body)
    rt = Runtime(trace=False)
    rt.load("m", source)
    pid = rt.spawn("m", "loop", 0)
    rt.send(pid, "work")
    rt.run()
    depth_1 = rt.stack_depth(pid)
    for _ in range(100):
        rt.send(pid, "work")
    rt.run()
    depth_101 = rt.stack_depth(pid)
    if expected == "flat":
        assert (depth_1, depth_101) == (1, 1)
    else:
        assert depth_101 - depth_1 == 100
        assert depth_1 == 2

    # two reloads, with the process told to switch in between
    rt.load("m", source)
    rt.send(pid, "switch_code")
    rt.run()
    assert rt.current_function(pid) == ("m", "loop", 2)  # it did switch
    rt.load("m", source)
    if expected == "flat":
        assert rt.is_alive(pid)
        assert rt.stack_versions(pid) == (("m", 2),)
        rt.send(pid, "switch_code")
        rt.run()
        rt.load("m", source)
        assert rt.is_alive(pid)
        assert rt.current_function(pid) == ("m", "loop", 3)
    else:
        assert rt.exit_reason(pid) == "killed"
        rec = rt.kill_record(pid)
        assert rec.function == ("m", "loop", 2)
        # every v1 frame stayed (the one that took switch_code included), the v2 frame on top
        assert (rec.old_frames, rec.depth) == (depth_101, depth_101 + 1)


@pytest.mark.parametrize("case", list(CASES))
def test_rewrite_decision_matches_the_table(case):
    body, expected = CASES[case]
    tree = ast.parse(_source(body))
    TailCallRewriter().rewrite(tree)
    loop = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "loop")
    tail_returns = [
        r
        for r in ast.walk(loop)
        if isinstance(r, ast.Return)
        and isinstance(r.value, ast.Call)
        and isinstance(r.value.func, ast.Name)
        and r.value.func.id == "__swaplint_tailcall__"
    ]
    # the recursive re-entry is the return that calls nxt(...)(...)
    reentry = [r for r in ast.walk(loop) if isinstance(r, ast.Return) and "nxt(" in ast.unparse(r)]
    assert len(reentry) == 1
    assert (reentry[0] in tail_returns) == (expected == "flat")
