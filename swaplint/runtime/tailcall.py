"""Last-call optimisation for loaded code: the AST rewrite and the trampoline.

Erlang loops are recursive functions; a loop only stays flat, and only ever
leaves old code, because the compiler turns a call in *tail position* into a
jump (BEAM ``call_last``/``call_only``).  A call anywhere else -- inside a
``try`` body, or in a ``catch`` clause of a ``try ... after`` -- is an ordinary
call: the caller's frame stays on the stack, so the old version it belongs to
stays referenced and the next purge kills the process.

Python has no such optimisation, so the code server compiles every loaded
module through :func:`compile_module`:

* :class:`TailCallRewriter` rewrites ``return f(a, *b, k=v, **kw)`` in tail
  position into ``return __swaplint_tailcall__((f, (a, *b), {'k': v, **kw}))``.
  The callee and the arguments are evaluated in the caller, in Python's order;
  the call itself is deferred: a :class:`TailCall` marker is returned.
* every plain ``def`` (methods and nested closures included; ``async def``
  is left alone) and every ``lambda`` gets an innermost decorator that wraps
  it in a trampoline (:func:`make_wrapper`).  Calling the wrapper runs the function
  and, while the result is a marker, performs the deferred call *in the
  wrapper's frame*: the caller's frame is already gone.  A deferred call to
  another loaded function jumps straight to its raw code (no nested
  trampoline); a deferred call to anything else (``len``, a bound method of a
  library object, ...) is simply called.
* generator functions are wrapped by :func:`make_gen_wrapper`, which
  delegates like ``yield from``.  All wrappers raise :class:`BadFun` once
  their version is purged (Erlang's ``badfun``), and the trampoline counts
  calls as reductions so that the scheduler can preempt a busy process.

Tail positions, mirroring what ``erlc`` does with ``try``/``catch``/``after``
(a call in a protected ``try`` body, or in any clause of a ``try ... after``,
is not a tail call on the BEAM): a ``return`` is a tail
return unless it sits in a ``try`` suite, in any part of a ``try`` that has a
``finally``, in a ``finally`` suite, or in a ``with`` body.  ``except`` and
``else`` suites of a ``try`` *without* ``finally`` are tail positions (Erlang's
``catch``/``of`` clauses).  Calls to the frame-introspecting builtins
(``locals``, ``vars``, ``dir``, ``eval``, ``exec``, ``globals``, ``super``,
``breakpoint``) are never deferred.

Only ``return`` statements and ``lambda`` expressions are changed, and every
new node copies the location of the node it replaces, so tracebacks keep the
loaded source's line numbers.
The trampoline frames live in this module (their globals are not a loaded
version's namespace), so they are never counted as loaded-code frames.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Generator
from types import CodeType, FunctionType, MethodType
from typing import Any

from swaplint.tailpos import suites

__all__ = [
    "GEN_NAME",
    "REDUCTIONS",
    "TAILCALL_NAME",
    "WRAP_NAME",
    "BadFun",
    "TailCall",
    "TailCallRewriter",
    "compile_module",
    "drive",
    "loaded_info",
    "make_gen_wrapper",
    "make_wrapper",
]

TAILCALL_NAME = "__swaplint_tailcall__"
WRAP_NAME = "__swaplint_fn__"
GEN_NAME = "__swaplint_gen__"

# Reductions of one time slice: every call of a loaded function (a tail-call
# hop or a call through its wrapper) costs one; when a slice of them is used
# up the process goes to the back of the run queue, as on the BEAM.  (Messages
# sent and taken are counted per process by .process, against the same
# REDUCTIONS.)  Calls are counted by a module-global countdown that stays in
# CPython's small-int cache (no allocation on the hot path): _SUB calls make
# a sub-slice, _SUBS sub-slices a slice.  The countdown is shared: a process
# may inherit a partly used slice, which only makes it yield a little early.
REDUCTIONS = 2000
_SUB = 250
_SUBS = REDUCTIONS // _SUB
_hops = _SUB
_subs = _SUBS


class _Current:
    """What is running right now: the process (None outside processes) and
    the scheduler's preemption hook, called with the function about to be
    entered and its version when a time slice is used up (set by
    :mod:`.process`)."""

    __slots__ = ("p", "tick")

    def __init__(self) -> None:
        self.p: Any = None
        self.tick: Callable[[Any, Any], None] = _ignore


def _ignore(fn: Any, version: Any) -> None:
    pass


_cur = _Current()


def _sub_slice(fn: Any, version: Any) -> None:
    """A sub-slice of calls is used up: count it; a whole slice preempts."""
    global _hops, _subs
    _hops = _SUB
    _subs -= 1
    if _subs <= 0:
        _subs = _SUBS
        _cur.tick(fn, version)


def new_slice() -> None:
    """Give the process about to run a full time slice of calls."""
    global _hops, _subs
    _hops = _SUB
    _subs = _SUBS


# Builtins whose behaviour depends on the calling frame: deferring them to the
# trampoline would run them in the wrong frame.
_FRAME_SENSITIVE = frozenset({"locals", "vars", "dir", "eval", "exec", "globals", "super", "breakpoint"})


class TailCall(tuple[Any, Any, Any]):
    """Marker returned by a tail call: ``(callee, args, kwargs)``.

    A private tuple subclass, so no user value can be mistaken for it.
    """

    __slots__ = ()


class BadFun(Exception):
    """A function of a purged version was called (Erlang's ``badfun``).

    Raised when a process calls a closure (or any function object) whose
    version has since been purged.  Holding such a function is harmless.
    """


# --------------------------------------------------------------------------
# AST rewrite
# --------------------------------------------------------------------------


def _is_generator(fn: ast.FunctionDef) -> bool:
    """True if *fn*'s own body (not nested scopes) contains yield."""
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # own scope
        todo.extend(ast.iter_child_nodes(node))
    return False


class TailCallRewriter:
    """Rewrite tail-position ``return f(...)`` and wrap every plain ``def``.

    Not a generic ``NodeTransformer``: tail position is a property of the
    statement *context* (which suites enclose the return), so the walk carries
    a ``tail`` flag down through compound statements.
    """

    def __init__(self) -> None:
        self.rewritten = 0  # number of tail calls rewritten (for tests/stats)
        self.wrapped = 0  # number of functions wrapped

    # entry point -----------------------------------------------------------
    def rewrite(self, tree: ast.Module) -> ast.Module:
        self._suite(tree.body, tail=False)
        return ast.fix_missing_locations(tree)

    # statements --------------------------------------------------------------
    def _suite(self, body: list[ast.stmt], tail: bool) -> None:
        for i, stmt in enumerate(body):
            body[i] = self._stmt(stmt, tail)

    def _stmt(self, node: ast.stmt, tail: bool) -> ast.stmt:
        if isinstance(node, ast.Return):
            if tail and self._deferrable(node.value):
                return self._rewrite_return(node)
            return node
        if isinstance(node, ast.FunctionDef):
            self._function(node)
            return node
        if isinstance(node, ast.AsyncFunctionDef):
            # left alone; only nested plain defs are processed
            self._suite(node.body, tail=False)
            return node
        if isinstance(node, ast.ClassDef):
            self._suite(node.body, tail=False)
            return node
        for suite, not_tail in suites(node):  # tail position is defined once, in swaplint.tailpos
            self._suite(suite, tail and not_tail is None)
        return node

    # functions ---------------------------------------------------------------
    def _function(self, node: ast.FunctionDef) -> None:
        if _is_generator(node):
            self._suite(node.body, tail=False)  # nested defs only
            deco = ast.copy_location(ast.Name(id=GEN_NAME, ctx=ast.Load()), node)
            node.decorator_list.append(deco)  # calls check for a purged version
            return
        self._suite(node.body, tail=True)
        deco = ast.copy_location(ast.Name(id=WRAP_NAME, ctx=ast.Load()), node)
        node.decorator_list.append(deco)  # innermost: applied first
        self.wrapped += 1

    # returns -----------------------------------------------------------------
    @staticmethod
    def _deferrable(value: ast.expr | None) -> bool:
        if not isinstance(value, ast.Call):
            return False
        func = value.func
        return not (isinstance(func, ast.Name) and func.id in _FRAME_SENSITIVE)

    def _rewrite_return(self, node: ast.Return) -> ast.Return:
        call = node.value
        assert isinstance(call, ast.Call)
        args = ast.Tuple(elts=list(call.args), ctx=ast.Load())
        keys: list[ast.expr | None] = []
        values: list[ast.expr] = []
        for kw in call.keywords:
            keys.append(None if kw.arg is None else ast.Constant(kw.arg))
            values.append(kw.value)
        kwargs = ast.Dict(keys=keys, values=values)
        packed = ast.Tuple(elts=[call.func, args, kwargs], ctx=ast.Load())
        new_call = ast.Call(func=ast.Name(id=TAILCALL_NAME, ctx=ast.Load()), args=[packed], keywords=[])
        for new in (args, kwargs, packed, new_call):
            ast.copy_location(new, call)
        for key in keys:
            if key is not None:
                ast.copy_location(key, call)
        self.rewritten += 1
        return ast.copy_location(ast.Return(value=new_call), node)


class _LambdaWrapper(ast.NodeTransformer):
    """Wrap every ``lambda`` like a ``def`` (``__swaplint_fn__(lambda ...)``):
    a fun of a purged version then fails with :class:`BadFun` when called or
    spawned, as Erlang's ``badfun``.  Tail positions are not involved."""

    def visit_Lambda(self, node: ast.Lambda) -> ast.expr:
        self.generic_visit(node)
        func = ast.copy_location(ast.Name(id=WRAP_NAME, ctx=ast.Load()), node)
        return ast.copy_location(ast.Call(func=func, args=[node], keywords=[]), node)


def compile_module(source: str, filename: str) -> tuple[CodeType, TailCallRewriter]:
    """Parse, rewrite and compile *source*; returns ``(code, rewriter)``.

    Raises ``SyntaxError`` (with *filename* and the real line) on bad source.
    """
    tree = ast.parse(source, filename=filename, mode="exec")
    rewriter = TailCallRewriter()
    tree = rewriter.rewrite(tree)
    tree = _LambdaWrapper().visit(tree)
    return compile(tree, filename, "exec", dont_inherit=True), rewriter


# --------------------------------------------------------------------------
# Trampoline
# --------------------------------------------------------------------------


def drive(f: Any, a: tuple[Any, ...], k: dict[str, Any] | None) -> Any:
    """Call ``f(*a, **k)`` and perform every tail call it returns, here.

    This loop *is* the trampoline.  A loaded function (a wrapper made by
    :func:`make_wrapper`, or a bound method of one) is entered at its raw code,
    so chains of tail calls between loaded functions never nest.  Calls with
    up to four positional arguments and no keywords use a plain call, which
    CPython 3.11 runs without growing the C stack (``f(*a)`` would not): that
    keeps a suspended process's saved C stack, and the cost of a hop, small.
    """
    global _hops
    cells: Any
    while True:
        t = type(f)
        if t is FunctionType:
            if f.__code__ is _TCODE:  # a loaded function: jump to its raw code
                cells = f.__closure__
                if cells[_VER].cell_contents.purged:
                    raise _badfun(cells[_RAW].cell_contents, cells[_VER].cell_contents)
                f = cells[_RAW].cell_contents
                _hops -= 1
                if _hops <= 0:  # time to count a sub-slice
                    _sub_slice(f, cells[_VER].cell_contents)
        elif t is MethodType:
            fn = f.__func__
            if type(fn) is FunctionType and fn.__code__ is _TCODE:
                cells = fn.__closure__
                if cells[_VER].cell_contents.purged:
                    raise _badfun(cells[_RAW].cell_contents, cells[_VER].cell_contents)
                a = (f.__self__, *a)
                f = cells[_RAW].cell_contents
                _hops -= 1
                if _hops <= 0:
                    _sub_slice(f, cells[_VER].cell_contents)
        if k:
            r = f(*a, **k)
        else:
            n = len(a)
            if n == 1:
                r = f(a[0])
            elif n == 2:
                r = f(a[0], a[1])
            elif n == 0:
                r = f()
            elif n == 3:
                r = f(a[0], a[1], a[2])
            elif n == 4:
                r = f(a[0], a[1], a[2], a[3])
            else:
                r = f(*a)
        if type(r) is not TailCall:
            return r
        f, a, k = r


def _badfun(raw: Any, version: Any) -> BadFun:
    return BadFun(f"{raw.__qualname__} of purged {version!r}")


def make_wrapper(raw: FunctionType, version: Any) -> FunctionType:
    """Wrap a loaded function so its calls run under the trampoline.

    *version* is any object with a boolean ``purged`` attribute; calling the
    wrapper once its version is purged raises :class:`BadFun`.
    """

    def __swaplint_trampoline__(*args: Any, **kwargs: Any) -> Any:
        if version.purged:
            raise _badfun(raw, version)
        global _hops
        _hops -= 1
        if _hops <= 0:
            _sub_slice(raw, version)
        return drive(raw, args, kwargs)

    w: Any = __swaplint_trampoline__
    w.__name__ = raw.__name__
    w.__qualname__ = raw.__qualname__
    w.__doc__ = raw.__doc__
    w.__module__ = raw.__module__
    w.__wrapped__ = raw
    if raw.__dict__:
        for key, value in raw.__dict__.items():
            if key != "__wrapped__":
                setattr(w, key, value)
    return w  # type: ignore[no-any-return]


def _init_code() -> None:
    global _TCODE, _RAW, _VER

    class _V:
        purged = False

    def _probe() -> None:
        pass

    w = make_wrapper(_probe, _V())  # type: ignore[arg-type]
    _TCODE = w.__code__
    names = _TCODE.co_freevars
    _RAW = names.index("raw")
    _VER = names.index("version")


_TCODE: Any = None
_RAW = _VER = 0
_init_code()


def loaded_info(obj: Any) -> tuple[Any, Any] | None:
    """``(raw function, version)`` if *obj* is a wrapped loaded function or a
    bound method of one, else ``None``."""
    if type(obj) is MethodType:
        obj = obj.__func__
    if type(obj) is FunctionType and obj.__code__ is _TCODE:
        cells: Any = obj.__closure__
        return cells[_RAW].cell_contents, cells[_VER].cell_contents
    return None


# --------------------------------------------------------------------------
# Generators of loaded code
# --------------------------------------------------------------------------


def make_gen_wrapper(raw: Callable[..., Generator[Any, Any, Any]], version: Any) -> Callable[..., Any]:
    """Wrap a loaded generator function in a generator function that
    delegates to it like ``yield from``, but raises :class:`BadFun` instead
    of resuming it once *version* is purged (a fun of purged code)."""

    def __swaplint_generator__(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        if version.purged:
            raise _badfun(raw, version)
        it = raw(*args, **kwargs)
        try:
            y = it.send(None)
        except StopIteration as stop:
            return stop.value
        while True:
            try:
                sent = yield y
            except GeneratorExit:
                it.close()
                raise
            except BaseException as exc:
                if version.purged:
                    raise _badfun(raw, version) from None
                try:
                    y = it.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                if version.purged:
                    raise _badfun(raw, version)
                try:
                    y = it.send(sent)
                except StopIteration as stop:
                    return stop.value

    w: Any = __swaplint_generator__
    w.__name__ = raw.__name__
    w.__qualname__ = raw.__qualname__
    w.__doc__ = raw.__doc__
    w.__module__ = raw.__module__
    w.__wrapped__ = raw
    return w  # type: ignore[no-any-return]
