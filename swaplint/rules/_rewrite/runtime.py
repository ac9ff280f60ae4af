"""The runtime's forms: the re-entry after the block, through the module, returned."""

from __future__ import annotations

import ast

from swaplint.model import Cycle, FileModel, ReEntry, Via
from swaplint.rules._edits import (
    TextEdit,
    enclosing_statement,
    fresh,
    function_names,
    parents,
    suite_of,
)
from swaplint.rules._rewrite._base import (
    _call_of,
    _Ctx,
    _is_none,
    _module_handle,
    _no_loop_between,
    _param_names,
    _replace_stmt,
    _simple,
    _tail_statement,
)

# -- runtime forms ------------------------------------------------------------------------------


def reenter_after_block(model: FileModel, reentry: ReEntry) -> tuple[TextEdit, ...] | None:
    """Runtime: ``return loop(...)`` as the last statement of a ``try`` body (no ``else``,
    no ``finally``) moves to a new ``else:`` clause; at the end of a ``with`` body or a
    ``try``/``finally`` (no handlers) it moves after the block. Arguments that are more
    than a name or a constant are computed inside the block first, into the callee's
    parameter of the same name when it calls itself (the block's handlers see the old
    value: the assignment is the block's last step)."""
    ctx = _Ctx.of(model)
    fn = reentry.caller
    if ctx is None:
        return None
    source = ctx.source
    up = parents(fn.node)
    stmt = enclosing_statement(reentry.call, up)
    if not isinstance(stmt, ast.Return) or _call_of(stmt) is not reentry.call or not source.owns_lines(stmt):
        return None
    block = up.get(stmt)
    suite = suite_of(stmt, up)
    if not isinstance(block, ast.stmt) or suite is None or suite[-1] is not stmt:
        return None
    call = reentry.call
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    params = _param_names(reentry.callee)
    if reentry.callee.is_method and params:
        params = params[1:]
    taken = function_names(fn.node)
    bindings: list[str] = []
    replaced: dict[int, str] = {}
    for index, arg in enumerate([*call.args, *(k.value for k in call.keywords)]):
        if _simple(arg):
            continue
        keyword = call.keywords[index - len(call.args)].arg if index >= len(call.args) else None
        name = keyword if keyword else (params[index] if index < len(params) else None)
        if name is None or reentry.callee is not fn or name not in _param_names(fn):
            name = fresh(f"next_{index}", taken)
            taken.add(name)
        bindings.append(f"{name} = {source.segment(arg)}")
        replaced[id(arg)] = name
    text = source.text[source.start(stmt) : source.end(stmt)]
    for arg in sorted(
        (a for a in [*call.args, *(k.value for k in call.keywords)] if id(a) in replaced),
        key=lambda a: source.start(a),
        reverse=True,
    ):
        start, end = source.start(arg) - source.start(stmt), source.end(arg) - source.start(stmt)
        text = text[:start] + replaced[id(arg)] + text[end:]
    if "\n" in text or "\r" in text:
        return None
    nl, unit = source.newline, source.indent_unit
    block_indent = source.indent(block.lineno)
    if bindings:
        inner = _replace_stmt(source, stmt, bindings)
    elif len(suite) > 1:  # the statement's lines go
        last = stmt.end_lineno or stmt.lineno
        end = source.starts[last] if last < len(source.starts) else len(source.text)
        inner = TextEdit(source.starts[stmt.lineno - 1], end, "")
    else:
        inner = _replace_stmt(source, stmt, ["pass"])
    if inner is None:
        return None
    if (
        isinstance(block, ast.Try)
        and suite is block.body
        and not block.orelse
        and not block.finalbody
        and block.handlers
    ):
        end_at = source.line_end(block.handlers[-1].end_lineno or block.handlers[-1].lineno)
        return (inner, TextEdit(end_at, end_at, f"{nl}{block_indent}else:{nl}{block_indent}{unit}{text}"))
    plain_finally = (
        isinstance(block, ast.Try) and suite is block.body and block.finalbody and not block.handlers
    )
    if isinstance(block, (ast.With, ast.AsyncWith)) or plain_finally:
        end_at = source.line_end(block.end_lineno or block.lineno)
        return (inner, TextEdit(end_at, end_at, f"{nl}{block_indent}{text}"))
    return None


def qualify_reentries(model: FileModel, cycle: Cycle) -> tuple[TextEdit, ...] | None:
    """Runtime: every local re-entry of a recursive loop called through the module
    (``server_loop(s)`` -> ``counter.server_loop(s)``), importing the module if the file
    does not yet. Module-level functions only."""
    ctx = _Ctx.of(model)
    if ctx is None or any(fn.cls is not None or "<locals>" in fn.qualname for fn in cycle.members):
        return None
    handle = _module_handle(ctx)
    if handle is None:
        return None
    module, imports = handle
    edits = list(imports)
    for reentry in cycle.reentries:
        if reentry.via is not Via.BARE:
            continue
        if module in function_names(reentry.caller.node) - {module}:
            return None
        func = reentry.call.func
        edits.append(TextEdit(ctx.source.start(func), ctx.source.start(func), f"{module}."))
    return tuple(edits) if len(edits) > len(imports) else None


def return_reentry(model: FileModel, reentry: ReEntry) -> tuple[TextEdit, ...] | None:
    """Runtime: a re-entry made as a statement, with nothing after it, returned
    (``m.loop(s)`` -> ``return m.loop(s)``)."""
    ctx = _Ctx.of(model)
    fn = reentry.caller
    if ctx is None or fn.is_generator:
        return None
    up = parents(fn.node)
    stmt = enclosing_statement(reentry.call, up)
    if not isinstance(stmt, ast.Expr) or _call_of(stmt) is not reentry.call:
        return None
    if not _no_loop_between(stmt, fn.node, up):
        return None
    at = ctx.source.start(stmt)
    suite = suite_of(stmt, up) or []
    following = suite[suite.index(stmt) + 1 :] if stmt in suite else []
    if (  # `m.loop(s)` then `return` / `return None`: the two become `return m.loop(s)`
        len(following) == 1
        and isinstance(following[0], ast.Return)
        and (following[0].value is None or _is_none(following[0].value))
        and ctx.source.owns_lines(following[0])
    ):
        after = following[0]
        start = ctx.source.line_end(stmt.end_lineno or stmt.lineno)
        return (
            TextEdit(at, at, "return "),
            TextEdit(start, ctx.source.line_end(after.end_lineno or after.lineno), ""),
        )
    if not _tail_statement(stmt, fn.node, up):
        return None
    return (TextEdit(at, at, "return "),)
