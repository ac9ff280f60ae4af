"""The tail-call rewrite and trampoline of loaded code (swaplint.runtime.tailcall)."""

from __future__ import annotations

import asyncio
import inspect
import sys
import traceback

import pytest

from swaplint.runtime import Runtime
from swaplint.runtime.tailcall import TailCall, compile_module, loaded_info


def load(source: str):
    rt = Runtime(log_crashes=False)
    rt.load("t", source)
    return rt, rt.module("t")


def test_deep_mutual_tail_recursion_does_not_overflow():
    _, t = load(
        """\
def even(n):
    if n == 0:
        return True
    return odd(n - 1)

def odd(n):
    if n == 0:
        return False
    return even(n - 1)
"""
    )
    assert sys.getrecursionlimit() < 200_000
    assert t.even(200_000) is True
    assert t.odd(200_001) is True


def test_non_tail_recursion_is_an_ordinary_call():
    _, t = load(
        """\
def depth(n):
    if n == 0:
        return 0
    return 1 + depth(n - 1)
"""
    )
    assert t.depth(100) == 100
    with pytest.raises(RecursionError):
        t.depth(100_000)


def test_tail_calls_to_anything_callable():
    _, t = load(
        """\
import functools

class Acc:
    def __init__(self):
        self.items = []
    def add(self, x):
        self.items.append(x)
        return self.total()
    def total(self):
        return sum(self.items)

class Base:
    def hello(self, who):
        return f"hello {who}"

class Child(Base):
    def hello(self, who):
        return super().hello(who.upper())

def length(x):
    return len(x)

def joined(parts):
    return ", ".join(parts)

def method(acc, x):
    return acc.add(x)

def star(f, *args, **kwargs):
    return f(*args, sep="-", **kwargs)

def order(log):
    return record(log, "f")(record(log, "a"), k=record(log, "k"))

def record(log, what):
    log.append(what)
    return (lambda *a, **k: tuple(log)) if what == "f" else what

def partial_call(x):
    return functools.partial(length)(x)

def child(who):
    return Child().hello(who)

def where():
    return locals()

def builtin_class(x):
    return list(x)
"""
    )
    assert t.length([1, 2, 3]) == 3
    assert t.joined(["a", "b"]) == "a, b"
    acc = t.Acc()
    assert t.method(acc, 5) == 5 and t.method(acc, 6) == 11
    assert t.star(lambda *a, sep: sep.join(a), "x", "y") == "x-y"
    log: list = []
    assert t.order(log) == ("f", "a", "k")  # callee, then args, in Python's order
    assert t.partial_call("abcd") == 4
    assert t.child("bob") == "hello BOB"
    assert t.where() == {}  # frame-sensitive builtins are not deferred
    assert t.builtin_class("ab") == ["a", "b"]


def test_no_tail_call_marker_ever_escapes():
    _, t = load(
        """\
def a(x):
    return b(x)

def b(x):
    return c(x)

def c(x):
    return ("done", x)
"""
    )
    for fn in (t.a, t.b, t.c):
        result = fn(1)
        assert result == ("done", 1)
        assert type(result) is tuple and not isinstance(result, TailCall)


def test_generators_and_async_functions_are_left_alone():
    _, t = load(
        """\
def helper(x):
    return x * 2

def gen(n):
    yield n
    return helper(n)

async def coro(n):
    return helper(n)

def outer():
    def inner(x):
        return helper(x)
    return inner
"""
    )
    assert inspect.isgeneratorfunction(t.gen)
    g = t.gen(3)
    assert next(g) == 3
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == 6
    assert inspect.iscoroutinefunction(t.coro)
    assert asyncio.run(t.coro(4)) == 8
    inner = t.outer()
    assert loaded_info(inner) is not None  # nested defs are wrapped too
    assert inner(5) == 10


def test_decorators_and_descriptors_still_work():
    _, t = load(
        """\
import functools

def traced(fn):
    @functools.wraps(fn)
    def wrapper(*a):
        return ("traced", fn(*a))
    return wrapper

@traced
def f(x):
    return g(x)

def g(x):
    return x + 1

class K:
    @staticmethod
    def s(x):
        return g(x)
    @classmethod
    def c(cls, x):
        return cls.s(x)
    @property
    def p(self):
        return g(41)
"""
    )
    assert t.f(1) == ("traced", 2)
    assert t.f.__name__ == "f"
    assert t.K.s(1) == 2 and t.K.c(2) == 3 and t.K().p == 42
    assert inspect.signature(t.g).parameters.keys() == {"x"}


def test_rewrite_keeps_line_numbers_in_tracebacks():
    _, t = load(
        """\
def first(x):
    y = x + 1
    return second(y)

def second(y):
    z = [y]
    return third(z)

def third(z):
    return z[5]
"""
    )
    with pytest.raises(IndexError) as err:
        t.first(1)
    loaded = [
        (fs.lineno, fs.name, fs.line)
        for fs in traceback.extract_tb(err.value.__traceback__)
        if fs.filename.startswith("<swaplint")
    ]
    assert loaded == [(10, "third", "return z[5]")]
    assert t.first.__wrapped__.__code__.co_firstlineno == 1
    assert t.third.__wrapped__.__code__.co_firstlineno == 9


def test_compile_module_counts_and_reports_syntax_errors():
    _code, rw = compile_module("def f(x):\n    return g(x)\n\ndef g(x):\n    return x\n", "<test>")
    assert (rw.rewritten, rw.wrapped) == (1, 2)
    with pytest.raises(SyntaxError) as err:
        compile_module("x = 1\ndef f(:\n", "<bad>")
    assert (err.value.filename, err.value.lineno) == ("<bad>", 2)


def test_trampoline_frames_are_not_loaded_code():
    rt = Runtime()
    rt.load(
        "t",
        """\
from swaplint.runtime import receive

def a(n):
    return b(n)

def b(n):
    receive()
    return a(n + 1)
""",
    )
    pid = rt.spawn("t", "a", 0)
    rt.run()
    assert [f.function for f in rt.stack(pid)] == ["b"]
    for _ in range(1000):
        rt.send(pid, 0)
    rt.run()
    assert rt.stack_depth(pid) == 1
