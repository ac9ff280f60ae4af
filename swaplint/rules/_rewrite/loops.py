"""Loops rewritten: a recursion as ``while True``, a loop body as a module-level step."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from swaplint.model import Cycle, FileModel, LoopSite
from swaplint.rules import _advice
from swaplint.rules._edits import (
    TextEdit,
    enclosing_statement,
    fresh,
    function_names,
    module_bindings,
    parents,
    top_level_statement,
)
from swaplint.rules._rewrite._base import (
    _LOOPS,
    _bound_values,
    _call_of,
    _Ctx,
    _falls_through,
    _loop_level,
    _no_loop_between,
    _tail_statement,
    _walk_scope,
)

# -- recursion -> while ---------------------------------------------------------------------


def recursion_to_while(model: FileModel, cycle: Cycle) -> tuple[TextEdit, ...] | None:
    """A function that re-enters itself (``return loop(q)``) as ``while True:`` around its
    body, each re-entry becoming the assignment of its arguments and ``continue``.

    Applies when the cycle is one function that is not a generator, every re-entry
    calls it directly (by name, through ``self`` or the module), passes plain
    arguments that map onto its parameters (left-out ones with constant defaults),
    and sits where nothing runs after it (a ``return``, or the last statement on
    its path), with no loop around it in the function.
    """
    ctx = _Ctx.of(model)
    if ctx is None or len(cycle.members) != 1 or not cycle.reentries:
        return None
    fn = cycle.members[0]
    node = fn.node
    if fn.is_generator or fn.decorators - {"staticmethod", "classmethod"}:
        return None  # a decorator wraps every call: a loop would bypass it
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring stays the function's
    if not body or body[0].lineno == node.lineno:
        return None
    source = ctx.source
    up = parents(node)
    unit = source.indent_unit
    indent = source.indent(body[0].lineno)
    replacements: list[tuple[ast.stmt, list[str]]] = []
    for reentry in cycle.reentries:
        if reentry.callee is not fn or reentry.caller is not fn or reentry.in_for:
            return None
        stmt = enclosing_statement(reentry.call, up)
        if stmt is None or _call_of(stmt) is not reentry.call or not isinstance(stmt, (ast.Return, ast.Expr)):
            return None
        if not _no_loop_between(stmt, node, up):
            return None
        if isinstance(stmt, ast.Expr) and not _tail_statement(stmt, node, up):
            return None
        values = _bound_values(fn, reentry.call, reentry.via)
        if values is None:
            return None
        changed = [
            (name, source.segment(value)) for name, value in values.items() if source.segment(value) != name
        ]
        lines = []
        if changed:
            targets = ", ".join(name for name, _ in changed)
            exprs = ", ".join(f"({text})" if "\n" in text or "\r" in text else text for _, text in changed)
            lines.append(f"{targets} = {exprs}")
        if stmt is not body[-1]:
            lines.append("continue")  # the last statement of the loop goes round anyway
        replacements.append((stmt, lines))
    first, last = body[0].lineno, body[-1].end_lineno or body[-1].lineno
    reindented = source.reindent(body, "", unit)
    shift = {n: (len(unit) if reindented[n - first] != source.line(n) else 0) for n in range(first, last + 1)}
    region = list(reindented)
    for stmt, lines in sorted(replacements, key=lambda r: (r[0].lineno, r[0].col_offset), reverse=True):
        line, column = source.position(source.start(stmt))
        end_line, end_column = source.position(source.end(stmt))
        own = source.owns_lines(stmt)
        stmt_indent = source.indent(stmt.lineno) + unit
        text = (source.newline + stmt_indent).join(lines) if own else "; ".join(lines)
        head = region[line - first][: column - 1 + shift[line]]
        tail = region[end_line - first][end_column - 1 + shift[end_line] :]
        if not lines and own:
            del region[line - first : end_line - first + 1]
        else:
            region[line - first : end_line - first + 1] = [head + (text or "pass") + tail]
    text = source.newline.join([f"{indent}while True:", *region])
    if _falls_through(body[-1], frozenset(id(stmt) for stmt, _ in replacements)):
        text += f"{source.newline}{indent}{unit}return"
    start = source.starts[first - 1]
    return (TextEdit(start, source.line_end(last), text),)


# -- loop body -> step ------------------------------------------------------------------------


def _names(nodes: list[ast.stmt]) -> tuple[dict[str, int], dict[str, int]]:
    """The first store and the first load of each name in ``nodes`` (source order; a
    name loaded by the value of the statement that stores it counts as loaded first)."""
    stores: dict[str, int] = {}
    loads: dict[str, int] = {}
    order = 0
    for stmt in nodes:
        for node in _walk_with_scopes(stmt):
            order += 1
            if isinstance(node, ast.Name):
                target = stores if isinstance(node.ctx, (ast.Store, ast.Del)) else loads
                target.setdefault(node.id, order)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                stores.setdefault(node.name, order)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    stores.setdefault((alias.asname or alias.name).split(".")[0], order)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                stores.setdefault(node.name, order)
    return stores, loads


def _walk_with_scopes(stmt: ast.AST) -> Iterator[ast.AST]:
    """Nodes in evaluation order (value before targets); nested scopes give only their
    free loads."""
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        if stmt.value is not None:
            yield from _walk_with_scopes(stmt.value)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            yield ast.Name(id=stmt.target.id, ctx=ast.Load())
        for target in targets:
            yield from _walk_with_scopes(target)
        return
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        if not isinstance(stmt, ast.Lambda):
            yield stmt
        inner = (
            {a.arg for a in ast.walk(stmt.args) if isinstance(a, ast.arg)}
            if not isinstance(stmt, ast.ClassDef)
            else set()
        )
        inner |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in inner:
                yield sub
        return
    if isinstance(stmt, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        inner = {n.id for g in stmt.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in inner:
                yield sub
        return
    yield stmt
    for child in ast.iter_child_nodes(stmt):
        yield from _walk_with_scopes(child)


def extract_step(model: FileModel, site: LoopSite) -> tuple[TextEdit, ...] | None:
    """The body of a ``while``/``for`` loop moved into a module-level function that the
    loop calls by name each iteration (``worker_step(jobs)``).

    Applies to a loop in a function or a method (a nested function's step gets the
    enclosing names it reads as arguments), when the body has no ``return``,
    ``nonlocal``/``global``, zero-argument ``super()``, private (name-mangled)
    attributes or ``locals()``/``vars()``/``eval``/``exec``, and carries at most one
    name from one iteration to the next (then the step returns it, and the loop must
    have no ``break``). ``break`` becomes ``return True`` (the loop then stops when the
    step says so) and ``continue`` becomes ``return``. A body that yields (in a
    generator, not an async one) becomes a generator step the loop delegates to with
    ``yield from``.
    """
    ctx = _Ctx.of(model)
    fn = site.function
    loop = site.node
    if ctx is None or not isinstance(loop, (*_LOOPS,)):
        return None
    body = loop.body
    source = ctx.source
    if not body or body[0].lineno == loop.lineno or not source.owns_lines(loop):
        return None
    for node in _walk_scope(body):
        if isinstance(node, (ast.Return, ast.Global, ast.Nonlocal)):
            return None
        if isinstance(node, (ast.Yield, ast.YieldFrom)) and fn.is_async:
            return None  # an async generator cannot delegate to another (no `yield from`)
        if isinstance(node, ast.Attribute) and node.attr.startswith("__") and not node.attr.endswith("__"):
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("locals", "vars", "eval", "exec") or (
                node.func.id == "super" and not node.args
            ):
                return None
        if isinstance(node, ast.Name) and node.id == "__class__":
            return None
    if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in _walk_scope(fn.node.body)):
        return None
    controls = [s for s in _loop_level(body) if isinstance(s, (ast.Break, ast.Continue))]
    has_break = any(isinstance(s, ast.Break) for s in controls)

    params = [a.arg for a in ast.walk(fn.node.args) if isinstance(a, ast.arg)]
    body_ids = {id(n) for s in body for n in ast.walk(s)}
    fn_locals = set(params) | set(_names(fn.node.body)[0])
    # A nested function reads its enclosing functions' names through its closure: the
    # step, at module level, gets them as arguments (read at each call, as the closure is).
    enclosing: set[str] = set()
    outer = fn.parent
    while outer is not None:
        enclosing |= outer.local_names | {a.arg for a in ast.walk(outer.node.args) if isinstance(a, ast.arg)}
        outer = outer.parent
    target_names: list[str] = []
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        target_names = [n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)]
    stores, loads = _names(body)
    # Names the function reads or sets outside the body (the loop's own test, iterable and
    # else clause included; a ``for`` target is the loop's, rebound every iteration).
    loop_ids = {id(n) for n in ast.walk(loop)}
    outside = set(params) | {
        n.id for n in ast.walk(fn.node) if isinstance(n, ast.Name) and id(n) not in loop_ids
    }
    outside |= {n.id for n in ast.walk(loop) if isinstance(n, ast.Name) and id(n) not in body_ids} - set(
        target_names
    )
    carried = [
        name
        for name in stores
        if name in outside or (name in loads and loads[name] < stores[name] and name not in target_names)
    ]
    if len(carried) > 1 or (carried and has_break):
        return None
    order = {name: i for i, name in enumerate(params)}
    passed = [
        name
        for name in sorted(loads, key=lambda n: (order.get(n, len(order)), loads[n]))
        if (name in fn_locals or name in enclosing)
        and (name not in stores or name in carried)
        and name not in target_names
    ]
    passed += target_names
    top = top_level_statement(ctx.tree, fn.node)
    if top is None:
        return None
    taken = module_bindings(ctx.tree) | function_names(fn.node)
    if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
        taken |= function_names(top)
    name = fresh(_advice.step_name(fn), taken)
    is_async = fn.is_async
    # A body that yields becomes a generator the loop delegates to; what it returns
    # (the break signal, the carried name) is the value of `yield from`.
    yields = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _walk_scope(body))
    call = f"{'await ' if is_async else ''}{name}({', '.join(passed)})"
    if yields:
        call = f"(yield from {call})" if has_break else f"yield from {call}"
    unit = source.indent_unit
    indent = source.indent(body[0].lineno)
    if carried:
        statement = f"{indent}{carried[0]} = {call}"
    elif has_break:
        statement = f"{indent}if {call}:{source.newline}{indent}{unit}break"
    else:
        statement = f"{indent}{call}"
    first, last = body[0].lineno, body[-1].end_lineno or body[-1].lineno
    region = source.reindent(body, indent, unit)
    shift = {
        n: len(unit) - len(indent) if region[n - first] != source.line(n) else 0
        for n in range(first, last + 1)
    }
    result = "return" + (f" {carried[0]}" if carried else "")
    if isinstance(body[-1], ast.Continue) and source.owns_lines(body[-1]) and len(body) > 1:
        controls.remove(body[-1])
        del region[body[-1].lineno - first]
        last_body = body[-2]
    else:
        last_body = body[-1]
    for stmt in sorted(controls, key=lambda s: (s.lineno, s.col_offset), reverse=True):
        line, column = source.position(source.start(stmt))
        text = "return True" if isinstance(stmt, ast.Break) else result
        row = region[line - first]
        at = column - 1 + shift[line]
        region[line - first] = (
            row[:at] + text + row[at + len("continue" if isinstance(stmt, ast.Continue) else "break") :]
        )
    if carried and _falls_through(last_body):
        region.append(f"{unit}{result}")
    header = f"{'async ' if is_async else ''}def {name}({', '.join(passed)}):"
    nl = source.newline
    step = nl.join([header, *region])
    at = source.line_end(top.end_lineno or top.lineno)
    return (
        TextEdit(source.starts[first - 1], source.line_end(last), statement),
        TextEdit(at, at, f"{nl}{nl}{nl}{step}"),
    )
