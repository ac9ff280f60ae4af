"""Rewrites that more than one rule applies, as text edits.

Each function returns the edits of one fix, or None when the code is outside
what the rewrite can keep exact (then the rule's fix stays display-only, and its
snippet shows the shape). The conditions are written out in each function: a
rewrite that cannot prove its own precondition from the tree does not apply.

* :func:`recursion_to_while`: a function that re-enters itself once per message
  becomes a ``while True`` loop (CPython has no tail calls).
* :func:`extract_step`: a loop body moves into a module-level function that the
  loop calls by name each iteration (the loop then reaches reloaded code).
* :func:`add_timeout`: a wait with no timeout gets one, and the branch that handles
  its expiry.
* :func:`keep_handle`: a started thread, task or process is kept in a registry.
* :func:`reenter_after_block`, :func:`qualify_reentries`, :func:`return_reentry`:
  the runtime's tail-call and qualified-call forms.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from swaplint.findings import Applicability, Fix
from swaplint.model import Cycle, FileModel, Function, LoopSite, ReEntry, Spawn, Via, Wait
from swaplint.rules import _advice
from swaplint.rules._edits import (
    Source,
    TextEdit,
    after_imports,
    enclosing_statement,
    fresh,
    function_names,
    import_insertion,
    imported_as,
    module_bindings,
    parents,
    strings_within,
    suite_of,
    top_level_statement,
)

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


@dataclass
class _Ctx:
    model: FileModel
    source: Source
    tree: ast.Module

    @classmethod
    def of(cls, model: FileModel) -> _Ctx | None:
        if model.tree is None or not model.text:
            return None
        return cls(model, source_of(model.text, model.tree), model.tree)

    def timeout(self) -> str:
        value = self.model.fix_timeout
        return repr(int(value)) if float(value).is_integer() else repr(value)


# -- small helpers ----------------------------------------------------------------------


def merge_inserts(edits: list[TextEdit]) -> tuple[TextEdit, ...]:
    """Insertions at the same place made one (in order), so that a fix never collides
    with itself."""
    out: list[TextEdit] = []
    # At one place, what continues the line (``, TIMEOUT`` after an import's last name)
    # goes before what starts a new line.
    for edit in sorted(edits, key=lambda e: e.content[:1] in ("\n", "\r")):
        same = next((i for i, e in enumerate(out) if e.start == e.end == edit.start == edit.end), None)
        if same is None:
            out.append(edit)
        else:
            out[same] = TextEdit(edit.start, edit.end, out[same].content + edit.content)
    return tuple(out)


def _walk_scope(nodes: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node under ``nodes``, not entering nested functions, lambdas or classes."""
    stack: list[ast.AST] = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _loop_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements of a loop body whose ``break``/``continue`` belong to that loop."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        if isinstance(node, (*_SCOPES, *_LOOPS)):
            if isinstance(node, _LOOPS):
                stack.extend(reversed(node.orelse))  # a loop's else belongs to the outer loop
            continue
        stack.extend(
            reversed(
                [
                    c
                    for c in ast.iter_child_nodes(node)
                    if isinstance(c, (ast.stmt, ast.excepthandler, ast.match_case))
                ]
            )
        )


def _simple(expr: ast.expr) -> bool:
    """An expression whose evaluation cannot raise or change anything (a name, a constant)."""
    return isinstance(expr, (ast.Name, ast.Constant))


def _call_of(stmt: ast.stmt) -> ast.Call | None:
    value = getattr(stmt, "value", None)
    if isinstance(value, ast.Await):
        value = value.value
    return value if isinstance(value, ast.Call) else None


def _replace_stmt(source: Source, stmt: ast.stmt, lines: list[str]) -> TextEdit | None:
    """Replace a statement that owns its lines with ``lines`` (at its own indentation)."""
    if not source.owns_lines(stmt):
        return None
    indent = source.indent(stmt.lineno)
    text = source.newline.join(lines[:1] + [indent + line if line else line for line in lines[1:]])
    return TextEdit(source.start(stmt), source.end(stmt), text)


def _param_names(fn: Function) -> list[str]:
    args = fn.node.args
    return [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]


def _bound_values(fn: Function, call: ast.Call, via: Via) -> dict[str, ast.expr] | None:
    """What a self-call passes for each parameter (defaults for those it leaves out)."""
    args = fn.node.args
    if args.vararg is not None or args.kwarg is not None:
        return None
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    if fn.cls is not None and "staticmethod" not in fn.decorators:
        if via is not Via.SELF or not positional:
            return None
        positional = positional[1:]  # self / cls is the receiver
    elif via is Via.SELF:
        return None
    if len(call.args) > len(positional):
        return None
    values: dict[str, ast.expr] = dict(zip(positional, call.args, strict=False))
    for keyword in call.keywords:
        assert keyword.arg is not None
        if keyword.arg in values or keyword.arg not in positional + [a.arg for a in args.kwonlyargs]:
            return None
        values[keyword.arg] = keyword.value
    defaults = dict(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=False))
    defaults.update(
        {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=False) if d is not None}
    )
    for name in positional + [a.arg for a in args.kwonlyargs]:
        if name in values:
            continue
        default = defaults.get(name)
        if default is None or not isinstance(default, ast.Constant):
            return None  # a missing argument whose default is not a constant: evaluated once, at def
        values[name] = default
    return values


def _falls_through(stmt: ast.stmt, ends: frozenset[int] = frozenset()) -> bool:
    """Whether control can run off the end of ``stmt`` (a safe over-estimate); statements
    whose id is in ``ends`` are taken not to (they become ``continue``)."""
    if id(stmt) in ends or isinstance(stmt, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
        return False

    def suite(body: list[ast.stmt]) -> bool:
        return not body or _falls_through(body[-1], ends)

    if isinstance(stmt, ast.If):
        return suite(stmt.body) or suite(stmt.orelse)
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return suite(stmt.body)
    if isinstance(stmt, ast.Try):
        main = suite(stmt.orelse) if stmt.orelse else suite(stmt.body)
        return main or any(suite(h.body) for h in stmt.handlers)
    return True


def _tail_statement(stmt: ast.stmt, fn: ast.AST, up: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``stmt`` is the last thing the function does when it runs (the statements
    around it are blocks that end with it, all the way up), with no loop in between."""
    node: ast.AST = stmt
    while node is not fn:
        parent = up.get(node)
        if parent is None or isinstance(parent, _LOOPS):
            return False
        if isinstance(node, (ast.excepthandler, ast.match_case)):
            node = parent
            continue
        suite = suite_of(node, up) if isinstance(node, ast.stmt) else None
        if suite is None or suite[-1] is not node:
            return False
        if isinstance(parent, ast.Try) and (
            suite is parent.finalbody or (suite is parent.body and parent.orelse)
        ):
            return False
        node = parent
    return True


def _no_loop_between(stmt: ast.stmt, fn: ast.AST, up: dict[ast.AST, ast.AST]) -> bool:
    node: ast.AST = stmt
    while node is not fn:
        parent = up.get(node)
        if parent is None or (isinstance(parent, (*_LOOPS, *_SCOPES)) and parent is not fn):
            return False
        node = parent
    return True


def _module_handle(ctx: _Ctx) -> tuple[str, list[TextEdit]] | None:
    """The name through which this module reaches its own newest version (runtime)."""
    module = ctx.model.module
    bound = imported_as(ctx.tree, module)
    if bound is not None:
        return bound, []
    if "." in module or module in module_bindings(ctx.tree):
        return None
    return module, [import_insertion(ctx.source, ctx.tree, f"import {module}")]


def _bind_name(ctx: _Ctx, module: str, name: str, taken: set[str]) -> tuple[str, list[TextEdit]] | None:
    """How to name ``module.name`` at module level, importing it if need be."""
    direct = imported_as(ctx.tree, module, name)
    if direct is not None:
        return direct, []
    whole = imported_as(ctx.tree, module)
    if whole is not None and whole not in taken:
        return f"{whole}.{name}", []
    bindings = module_bindings(ctx.tree)
    if name not in bindings and name not in taken:
        for stmt in ctx.tree.body:
            if (
                isinstance(stmt, ast.ImportFrom)
                and stmt.module == module
                and not stmt.level
                and stmt.lineno == stmt.end_lineno
                and stmt.names[-1].name != "*"
                and ctx.source.text[ctx.source.end(stmt) - 1] != ")"
            ):
                at = ctx.source.end(stmt.names[-1])
                return name, [TextEdit(at, at, f", {name}")]
    if "." not in module and module not in bindings and module not in taken:
        return f"{module}.{name}", [import_insertion(ctx.source, ctx.tree, f"import {module}")]
    if name not in bindings and name not in taken:
        return name, [import_insertion(ctx.source, ctx.tree, f"from {module} import {name}")]
    return None


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


# -- spawns -------------------------------------------------------------------------------------


def keep_handle(model: FileModel, spawn: Spawn) -> tuple[TextEdit, ...] | None:
    """The handle of a started thread, task or process kept in a module-level list
    (``WORKERS``), which shutdown and reload code can reach.

    Applies to ``Thread(...).start()`` and ``spawn(...)``/``create_task(...)`` as
    statements, and to a handle assigned to a local name and then dropped.
    """
    ctx = _Ctx.of(model)
    if ctx is None:
        return None
    source = ctx.source
    scope: ast.AST = spawn.spawner.node if spawn.spawner is not None else ctx.tree
    up = parents(scope)
    stmt = enclosing_statement(spawn.node, up)
    if stmt is None or not source.owns_lines(stmt):
        return None
    registry, setup = _registry(ctx)
    taken = function_names(spawn.spawner.node) if spawn.spawner is not None else module_bindings(ctx.tree)
    nl, indent = source.newline, source.indent(stmt.lineno)
    call = spawn.node
    func = call.func
    if isinstance(stmt, ast.Expr) and stmt.value is call:
        if isinstance(func, ast.Attribute) and func.attr == "start" and isinstance(func.value, ast.Call):
            handle = fresh(spawn.what if spawn.what.isidentifier() else "handle", taken)
            lines = [
                f"{handle} = {source.segment(func.value)}",
                f"{registry}.append({handle})",
                f"{handle}.start()",
            ]
            edit = _replace_stmt(source, stmt, lines)
            return None if edit is None else (*setup, edit)
        return (
            *setup,
            TextEdit(source.start(call), source.end(call), f"{registry}.append({source.segment(call)})"),
        )
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        if stmt.value is not call:
            return None
        if stmt.targets[0].id == "_":  # thrown away on purpose: keep it instead
            return (
                *setup,
                TextEdit(source.start(stmt), source.end(stmt), f"{registry}.append({source.segment(call)})"),
            )
        at = source.end(stmt)
        return (*setup, TextEdit(at, at, f"{nl}{indent}{registry}.append({stmt.targets[0].id})"))
    return None


def _registry(ctx: _Ctx) -> tuple[str, list[TextEdit]]:
    """The module-level list that keeps handles, made if the module has none."""
    for stmt in ctx.tree.body:
        targets = (
            stmt.targets
            if isinstance(stmt, ast.Assign)
            else [stmt.target]
            if isinstance(stmt, ast.AnnAssign)
            else []
        )
        value = getattr(stmt, "value", None)
        if isinstance(value, ast.List) and not value.elts:
            for target in targets:
                if isinstance(target, ast.Name) and target.id.upper() == target.id and "WORKER" in target.id:
                    return target.id, []
    name = fresh("WORKERS", module_bindings(ctx.tree))
    comment = "  # every thread, task and process started here: for shutdown and reload"
    return name, [after_imports(ctx.source, ctx.tree, f"{name}: list = []{comment}")]


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


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


# -- to a finding's fix -------------------------------------------------------------------------


def make_fix(
    model: FileModel,
    title: str,
    snippet: str,
    edits: tuple[TextEdit, ...] | None,
    applicability: Applicability = Applicability.UNSAFE,
) -> Fix:
    """A finding's fix: applicable with these edits, or display-only when there are none."""
    if not edits:
        return Fix(title, snippet)
    return Fix(
        title, snippet, applicability, source_of(model.text, model.tree).edits(merge_inserts(list(edits)))
    )


def source_of(text: str, tree: ast.Module | None) -> Source:
    """One :class:`Source` per file text, shared by the fixes of all its findings (found by
    the text's identity: hashing a large text for each finding would cost more)."""
    held = _SOURCES.get(id(text))
    if held is not None and held[0] is text:
        return held[1]
    source = Source(text, tree)
    if _SOURCES:  # one file at a time: an older text (and its tree) is not kept alive
        _SOURCES.clear()
    _SOURCES[id(text)] = (text, source)
    return source


#: id(text) -> (the text, kept alive so that the id stays its own; its Source)
_SOURCES: dict[int, tuple[str, Source]] = {}
