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
* every plain ``def`` (methods and nested closures included; generators and
  ``async def`` are left alone) gets an innermost decorator that wraps it in a
  trampoline (:func:`make_wrapper`).  Calling the wrapper runs the function
  and, while the result is a marker, performs the deferred call *in the
  wrapper's frame*: the caller's frame is already gone.  A deferred call to
  another loaded function jumps straight to its raw code (no nested
  trampoline); a deferred call to anything else (``len``, a bound method of a
  library object, ...) is simply called.

Tail positions, mirroring what ``erlc`` does with ``try``/``catch``/``after``
(see ``/work/shared/design/erlang-semantics.md``): a ``return`` is a tail
return unless it sits in a ``try`` suite, in any part of a ``try`` that has a
``finally``, in a ``finally`` suite, or in a ``with`` body.  ``except`` and
``else`` suites of a ``try`` *without* ``finally`` are tail positions (Erlang's
``catch``/``of`` clauses).  Calls to the frame-introspecting builtins
(``locals``, ``vars``, ``dir``, ``eval``, ``exec``, ``globals``, ``super``,
``breakpoint``) are never deferred.

Only ``return`` statements are changed and every new node copies the location
of the node it replaces, so tracebacks keep the loaded source's line numbers.
The trampoline frames live in this module (their globals are not a loaded
version's namespace), so they are never counted as loaded-code frames.
"""

from __future__ import annotations

import ast
from types import FunctionType, MethodType

__all__ = [
    "TAILCALL_NAME",
    "WRAP_NAME",
    "BadFun",
    "TailCall",
    "TailCallRewriter",
    "compile_module",
    "drive",
    "loaded_info",
    "make_wrapper",
]

TAILCALL_NAME = "__swaplint_tailcall__"
WRAP_NAME = "__swaplint_fn__"

# Builtins whose behaviour depends on the calling frame: deferring them to the
# trampoline would run them in the wrong frame.
_FRAME_SENSITIVE = frozenset({"locals", "vars", "dir", "eval", "exec", "globals", "super", "breakpoint"})


class TailCall(tuple):
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
    todo = list(fn.body)
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
        if isinstance(node, (ast.If, ast.For, ast.While)):
            self._suite(node.body, tail)
            self._suite(node.orelse, tail)
        elif isinstance(node, ast.AsyncFor):
            self._suite(node.body, False)
            self._suite(node.orelse, False)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            self._suite(node.body, False)  # __exit__ runs after the body
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            clause_tail = tail and not node.finalbody
            self._suite(node.body, False)  # protected: handlers still active
            for handler in node.handlers:
                self._suite(handler.body, clause_tail)
            self._suite(node.orelse, clause_tail)
            self._suite(node.finalbody, False)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                self._suite(case.body, tail)
        return node

    # functions ---------------------------------------------------------------
    def _function(self, node: ast.FunctionDef) -> None:
        if _is_generator(node):
            self._suite(node.body, tail=False)  # nested defs only
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


def compile_module(source: str, filename: str):
    """Parse, rewrite and compile *source*; returns ``(code, rewriter)``.

    Raises ``SyntaxError`` (with *filename* and the real line) on bad source.
    """
    tree = ast.parse(source, filename=filename, mode="exec")
    rewriter = TailCallRewriter()
    tree = rewriter.rewrite(tree)
    return compile(tree, filename, "exec", dont_inherit=True), rewriter


# --------------------------------------------------------------------------
# Trampoline
# --------------------------------------------------------------------------


def drive(f, a, k):
    """Call ``f(*a, **k)`` and perform every tail call it returns, here.

    This loop *is* the trampoline.  A loaded function (a wrapper made by
    :func:`make_wrapper`, or a bound method of one) is entered at its raw code,
    so chains of tail calls between loaded functions never nest.  Calls with
    up to four positional arguments and no keywords use a plain call, which
    CPython 3.11 runs without growing the C stack (``f(*a)`` would not): that
    keeps a suspended process's saved C stack, and the cost of a hop, small.
    """
    while True:
        t = type(f)
        if t is FunctionType:
            if f.__code__ is _TCODE:  # a loaded function: jump to its raw code
                cells = f.__closure__
                if cells[_VER].cell_contents.purged:
                    raise _badfun(cells[_RAW].cell_contents, cells[_VER].cell_contents)
                f = cells[_RAW].cell_contents
        elif t is MethodType:
            fn = f.__func__
            if type(fn) is FunctionType and fn.__code__ is _TCODE:
                cells = fn.__closure__
                if cells[_VER].cell_contents.purged:
                    raise _badfun(cells[_RAW].cell_contents, cells[_VER].cell_contents)
                a = (f.__self__, *a)
                f = cells[_RAW].cell_contents
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


def _badfun(raw, version) -> BadFun:
    return BadFun(f"{raw.__qualname__} of purged {version!r}")


def make_wrapper(raw: FunctionType, version):
    """Wrap a loaded function so its calls run under the trampoline.

    *version* is any object with a boolean ``purged`` attribute; calling the
    wrapper once its version is purged raises :class:`BadFun`.
    """

    def __swaplint_trampoline__(*args, **kwargs):
        if version.purged:
            raise _badfun(raw, version)
        return drive(raw, args, kwargs)

    w = __swaplint_trampoline__
    w.__name__ = raw.__name__
    w.__qualname__ = raw.__qualname__
    w.__doc__ = raw.__doc__
    w.__module__ = raw.__module__
    w.__wrapped__ = raw
    if raw.__dict__:
        for key, value in raw.__dict__.items():
            if key != "__wrapped__":
                setattr(w, key, value)
    return w


def _init_code() -> None:
    global _TCODE, _RAW, _VER

    class _V:
        purged = False

    def _probe():
        pass

    w = make_wrapper(_probe, _V())
    _TCODE = w.__code__
    names = _TCODE.co_freevars
    _RAW = names.index("raw")
    _VER = names.index("version")


_TCODE = None
_RAW = _VER = 0
_init_code()


def loaded_info(obj):
    """``(raw function, version)`` if *obj* is a wrapped loaded function or a
    bound method of one, else ``None``."""
    if type(obj) is MethodType:
        obj = obj.__func__
    if type(obj) is FunctionType and obj.__code__ is _TCODE:
        cells = obj.__closure__
        return cells[_RAW].cell_contents, cells[_VER].cell_contents
    return None
