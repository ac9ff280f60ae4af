"""Waits rewritten: a timeout and the branch that handles its expiry."""

from __future__ import annotations

import ast

from swaplint.model import FileModel, Function, Wait
from swaplint.rules import _advice
from swaplint.rules._edits import (
    Source,
    TextEdit,
    enclosing_statement,
    function_names,
    imported_as,
    parents,
    strings_within,
)
from swaplint.rules._rewrite._base import (
    _LOOPS,
    _bind_name,
    _call_of,
    _Ctx,
    _is_none,
    _module_handle,
    _walk_scope,
    merge_inserts,
)

# -- waits ------------------------------------------------------------------------------------


def add_timeout(model: FileModel, wait: Wait) -> tuple[TextEdit, ...] | None:
    """A wait with no timeout, given one (the ``fix-timeout`` setting) and the branch that
    handles its expiry: go round the loop again (``continue``), or leave a step that
    returns nothing (``return``); under the runtime, re-enter through the module.

    Shapes: ``q.get()`` (``queue.Empty``), ``await q.get()`` in asyncio
    (``asyncio.wait_for``), ``event.wait()`` as a statement, ``select.select(r, w, x)``,
    ``selector.select()``, and the runtime's ``NAME = receive()``. Others (sockets,
    which need ``settimeout`` on the socket, or library loops) stay display-only.
    """
    ctx = _Ctx.of(model)
    fn = wait.function
    call = wait.node
    if ctx is None or fn is None or not isinstance(call, ast.Call):
        return None
    source = ctx.source
    up = parents(fn.node)
    stmt = enclosing_statement(call, up)
    if stmt is None or not source.owns_lines(stmt):
        return None
    timeout = ctx.timeout()
    shape = wait.shape
    if shape == "receive" or shape.endswith(".receive"):
        return _receive_timeout(ctx, fn, call, stmt, up, timeout)
    if shape == "select.select" and len(call.args) == 3 and not call.keywords:
        return (TextEdit(source.end(call.args[-1]), source.end(call.args[-1]), f", {timeout}"),)
    if shape == "select" and not call.args and not call.keywords and isinstance(call.func, ast.Attribute):
        return (TextEdit(source.end(call) - 1, source.end(call) - 1, f"timeout={timeout}"),)
    if call.args or call.keywords or not isinstance(call.func, ast.Attribute):
        return None
    expiry = _on_expiry(stmt, fn, up)
    if expiry is None:
        return None
    unit = source.indent_unit
    indent = source.indent(stmt.lineno)
    receiver = source.segment(call.func.value)
    if shape == "wait" and isinstance(stmt, ast.Expr) and stmt.value is call:
        return (
            TextEdit(
                source.start(stmt),
                source.end(stmt),
                f"if not {receiver}.wait({timeout}):{source.newline}{indent}{unit}{expiry}",
            ),
        )
    if shape != "get":
        return None
    taken = function_names(fn.node)
    awaited = isinstance(up.get(call), ast.Await)
    if awaited:
        if not fn.is_async:
            return None
        bound = imported_as(ctx.tree, "asyncio")
        if bound is None or bound in taken:
            return None
        new_call = f"{bound}.wait_for({source.segment(call)}, timeout={timeout})"
        error, imports = f"{bound}.TimeoutError", list[TextEdit]()
    else:
        if fn.is_async:
            return None  # a blocking get in a coroutine is a different hazard
        named = _bind_name(ctx, "queue", "Empty", taken)
        if named is None:
            return None
        error, imports = named
        new_call = f"{receiver}.get(timeout={timeout})"
    text = (
        source.text[source.start(stmt) : source.start(call)]
        + new_call
        + source.text[source.end(call) : source.end(stmt)]
    )
    inner = _reindent_text(source, stmt, text, unit)
    nl = source.newline
    block = f"try:{nl}{indent}{unit}{inner}{nl}{indent}except {error}:{nl}{indent}{unit}{expiry}"
    return (*imports, TextEdit(source.start(stmt), source.end(stmt), block))


def _reindent_text(source: Source, stmt: ast.stmt, text: str, unit: str) -> str:
    nl = source.newline
    lines = text.split(nl)
    out = [lines[0]]
    inside = strings_within([stmt])
    for offset, line in enumerate(lines[1:], start=1):
        out.append(line if stmt.lineno + offset in inside or not line.strip() else unit + line)
    return nl.join(out)


def _on_expiry(stmt: ast.stmt, fn: Function, up: dict[ast.AST, ast.AST]) -> str | None:
    """What to do when the wait expires: ``continue`` in a loop; ``return`` in a function
    that returns nothing (a step a loop calls)."""
    node: ast.AST = stmt
    while node is not fn.node:
        parent = up.get(node)
        if parent is None:
            return None
        if isinstance(parent, _LOOPS) and node in parent.body:
            return "continue"
        if isinstance(parent, (ast.Try,)) and node in parent.finalbody:
            return None
        node = parent
    for sub in _walk_scope(fn.node.body):
        if isinstance(sub, ast.Return) and sub.value is not None:
            return None
    return "return"


def upgrade_on_timeout(model: FileModel, fn: Function) -> tuple[TextEdit, ...] | None:
    """Runtime: a recursive loop whose ``NAME = receive(...)`` (a statement of its own
    body) gets a timeout if it has none, and ``if NAME is TIMEOUT: return module.loop(...)``
    after it: an idle process then moves to the newest version by itself."""
    ctx = _Ctx.of(model)
    if ctx is None:
        return None
    up = parents(fn.node)
    for stmt in fn.node.body:
        call = _call_of(stmt) if isinstance(stmt, ast.Assign) else None
        name = _call_name(call.func) if call is not None else None
        if call is not None and name == "receive":
            return _receive_timeout(ctx, fn, call, stmt, up, ctx.timeout())
    return None


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _receive_timeout(
    ctx: _Ctx, fn: Function, call: ast.Call, stmt: ast.stmt, up: dict[ast.AST, ast.AST], timeout: str
) -> tuple[TextEdit, ...] | None:
    given = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "timeout"), None)
    if (given is None and call.keywords) or not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return None
    forever = given is not None and _is_none(given)  # `timeout=None`: the value is replaced
    target = stmt.targets[0]
    if not isinstance(target, ast.Name) or up.get(stmt) is not fn.node or "<locals>" in fn.qualname or fn.cls:
        return None
    source = ctx.source
    handle = _module_handle(ctx)
    if handle is None:
        return None
    module, imports = handle
    taken = function_names(fn.node)
    named = _bind_name(ctx, "swaplint.runtime", "TIMEOUT", taken)
    if named is None:
        return None
    timeout_name, more = named
    reenter = f"return {module}.{fn.name}({_advice.arguments(fn)})"
    if fn.is_async:
        reenter = f"return await {module}.{fn.name}({_advice.arguments(fn)})"
    nl, indent, unit = source.newline, source.indent(stmt.lineno), source.indent_unit
    at = source.end(call) - 1
    branch = f"{nl}{indent}if {target.id} is {timeout_name}:{nl}{indent}{unit}{reenter}"
    if given is None:
        give = [TextEdit(at, at, f"timeout={timeout}")]
    elif forever:
        give = [TextEdit(source.start(given), source.end(given), timeout)]
    else:
        give = []
    return merge_inserts([*imports, *more, *give, TextEdit(source.end(stmt), source.end(stmt), branch)])
