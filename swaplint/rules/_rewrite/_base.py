"""What the rewrites share: the file they edit, statement and call shapes, tail
position, parameters, imports, and the making of a finding's :class:`Fix`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import NamedTuple

from swaplint.findings import Applicability, Fix
from swaplint.model import FileModel, Function, Via
from swaplint.rules._edits import (
    Source,
    TextEdit,
    import_insertion,
    imported_as,
    module_bindings,
    suite_of,
)

_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


class _Ctx(NamedTuple):
    """What every rewrite of one file reads: its model, its text and its tree."""

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
    if not edits or model.tree is None:
        return Fix(title, snippet)
    return Fix(
        title, snippet, applicability, source_of(model.text, model.tree).edits(merge_inserts(list(edits)))
    )


def source_of(text: str, tree: ast.Module) -> Source:
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
