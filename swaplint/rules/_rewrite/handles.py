"""Handles kept: a started thread, task or process put in a module-level registry."""

from __future__ import annotations

import ast

from swaplint.model import FileModel, Spawn
from swaplint.rules._edits import (
    TextEdit,
    after_imports,
    enclosing_statement,
    fresh,
    function_names,
    module_bindings,
    parents,
)
from swaplint.rules._rewrite._base import (
    _Ctx,
    _replace_stmt,
)

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
