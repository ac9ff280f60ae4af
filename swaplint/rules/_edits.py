"""Text edits over a file's source, placed by the parser's positions.

Fixes are text edits, as ruff's are: each replaces a range of the original text,
so everything outside the range (comments, blank lines, formatting) stays as it
was, and text moved inside a range is copied, never regenerated. The helpers here
know Python's layout rules: which lines start inside a multi-line string (and so
must never be re-indented), how a file indents, where imports end, which names a
module or a function already binds.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import NamedTuple

from swaplint.findings import Edit

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class TextEdit(NamedTuple):
    """Replace ``text[start:end]`` (character offsets) with ``content``."""

    start: int
    end: int
    content: str


class Source:
    """One file's text, with conversions from the parser's positions."""

    def __init__(self, text: str, tree: ast.Module) -> None:
        self.text = text
        #: The parsed text: string extents and indentation come from it.
        self.tree = tree
        self.starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]
        match = _LINE_BREAK.search(text)
        self.newline = match.group(0) if match else "\n"

    def line(self, number: int) -> str:
        """Line ``number`` (1-based) without its line break."""
        start = self.starts[number - 1]
        end = self.starts[number] if number < len(self.starts) else len(self.text)
        return _LINE_BREAK.sub("", self.text[start:end])

    def line_end(self, number: int) -> int:
        """The offset of the end of line ``number``, before its line break."""
        return self.starts[number - 1] + len(self.line(number))

    def offset(self, line: int, byte_column: int) -> int:
        """A character offset from the parser's (line, UTF-8 byte column)."""
        text = self.line(line)
        return self.starts[line - 1] + len(text.encode("utf-8")[:byte_column].decode("utf-8", "replace"))

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def segment(self, node: ast.AST) -> str:
        return self.text[self.start(node) : self.end(node)]

    def indent(self, line: int) -> str:
        text = self.line(line)
        return text[: len(text) - len(text.lstrip(" \t"))]

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, character column) of a character offset."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo] + 1

    def to_edit(self, edit: TextEdit) -> Edit:
        line, column = self.position(edit.start)
        end_line, end_column = self.position(edit.end)
        return Edit(line, column, end_line, end_column, edit.content)

    def edits(self, edits: Iterable[TextEdit]) -> tuple[Edit, ...]:
        return tuple(sorted(self.to_edit(e) for e in edits))

    @cached_property
    def string_lines(self) -> frozenset[int]:
        """Lines that begin inside a multi-line string: re-indenting them changes the string."""
        return strings_within([self.tree])

    @cached_property
    def indent_unit(self) -> str:
        """How this file indents one level: as its first indented block (four spaces if none)."""
        for node in ast.walk(self.tree):
            body = getattr(node, "body", None)
            if (
                isinstance(node, ast.stmt)
                and isinstance(body, list)
                and body
                and body[0].lineno > node.lineno
            ):
                outer, inner = self.indent(node.lineno), self.indent(body[0].lineno)
                if inner.startswith(outer) and len(inner) > len(outer):
                    return inner[len(outer) :]
        return "    "

    def owns_lines(self, stmt: ast.stmt) -> bool:
        """Whether ``stmt`` starts its line and nothing but a comment follows it."""
        before = self.text[self.starts[stmt.lineno - 1] : self.start(stmt)]
        after = self.text[self.end(stmt) : self.line_end(stmt.end_lineno or stmt.lineno)]
        return not before.strip() and (not after.strip() or after.strip().startswith("#"))

    def reindent(self, nodes: list[ast.stmt], old: str, new: str) -> list[str]:
        """The lines of ``nodes`` (consecutive statements) with the leading ``old``
        indentation replaced by ``new`` (lines inside a string and blank lines are kept as
        they are)."""
        first, last = nodes[0].lineno, nodes[-1].end_lineno or nodes[-1].lineno
        inside = strings_within(nodes)
        out: list[str] = []
        for number in range(first, last + 1):
            text = self.line(number)
            if number in inside or not text.strip():
                out.append(text if text.strip() else "")
            elif text.startswith(old):
                out.append(new + text[len(old) :])
            else:  # a continuation line indented less than the block: keep it
                out.append(text)
        return out


def strings_within(nodes: Iterable[ast.AST]) -> frozenset[int]:
    """Lines that begin inside a string spanning lines, below ``nodes`` (a string constant
    or f-string; an implicit concatenation across lines counts too, whose lines sit inside
    brackets where indentation is free)."""
    inside: set[int] = set()
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, (ast.Constant, ast.JoinedStr)) and (node.end_lineno or 0) > node.lineno:
                if isinstance(node, ast.JoinedStr) or isinstance(node.value, (str, bytes)):
                    inside.update(range(node.lineno + 1, (node.end_lineno or node.lineno) + 1))
    return frozenset(inside)


# -- names --------------------------------------------------------------------------


def module_bindings(tree: ast.Module) -> set[str]:
    """Names bound at module level (imports, defs, classes, assignments)."""
    names: set[str] = set()
    for stmt in _top_statements(tree.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                names.add((alias.asname or alias.name).split(".")[0])
        else:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


def _top_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking into ``if``/``try`` blocks (conditional imports)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _top_statements(stmt.body + stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _top_statements(stmt.body + [s for h in stmt.handlers for s in h.body] + stmt.orelse)


def imported_as(tree: ast.Module, module: str, name: str | None = None) -> str | None:
    """How module level reaches ``module`` (or ``module.name``): the bound name, or None."""
    for stmt in _top_statements(tree.body):
        if isinstance(stmt, ast.Import) and name is None:
            for alias in stmt.names:
                if alias.name == module:
                    return alias.asname or (module if "." not in module else None)
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == module and not stmt.level and name:
            for alias in stmt.names:
                if alias.name == name:
                    return alias.asname or name
    return None


def function_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Every name a function binds or reads (its own scope and nested ones)."""
    names = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not fn:
            names.add(node.name)
    return names


def fresh(base: str, taken: set[str]) -> str:
    """``base``, or ``base2``, ``base3``... whichever is not taken."""
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def import_insertion(source: Source, tree: ast.Module, statement: str) -> TextEdit:
    """Insert ``statement`` (an import) after the file's first block of imports; with no
    import, after its docstring, or before its first statement (below any header
    comments, shebang or coding line)."""
    nl = source.newline
    body = tree.body
    first = next((i for i, s in enumerate(body) if isinstance(s, (ast.Import, ast.ImportFrom))), None)
    if first is not None:
        while first + 1 < len(body) and isinstance(body[first + 1], (ast.Import, ast.ImportFrom)):
            first += 1
        at = source.line_end(body[first].end_lineno or body[first].lineno)
        return TextEdit(at, at, nl + statement)
    if body and _is_docstring(body[0]):
        at = source.line_end(body[0].end_lineno or body[0].lineno)
        return TextEdit(at, at, nl + statement)
    if body:
        at = source.starts[_first_line(body[0]) - 1]
        return TextEdit(at, at, statement + nl)
    return TextEdit(len(source.text), len(source.text), (nl if source.text.strip() else "") + statement + nl)


def after_imports(source: Source, tree: ast.Module, statement: str) -> TextEdit:
    """Insert a module-level ``statement`` after the imports, set off by a blank line."""
    edit = import_insertion(source, tree, statement)
    if edit.content.startswith(source.newline):
        return TextEdit(edit.start, edit.end, source.newline + edit.content)
    return TextEdit(edit.start, edit.end, edit.content + source.newline)


def _first_line(stmt: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def top_level_statement(tree: ast.Module, node: ast.AST) -> ast.stmt | None:
    """The module-level statement that holds ``node``."""
    line = getattr(node, "lineno", None)
    if line is None:
        return None
    for stmt in tree.body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        if first <= line <= (stmt.end_lineno or stmt.lineno):
            return stmt
    return None


def parents(root: ast.AST) -> dict[ast.AST, ast.AST]:
    """Each node's parent, below ``root``."""
    out: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(root):
        for child in ast.iter_child_nodes(node):
            out[child] = node
    return out


def enclosing_statement(node: ast.AST, up: dict[ast.AST, ast.AST]) -> ast.stmt | None:
    while node in up and not isinstance(node, ast.stmt):
        node = up[node]
    return node if isinstance(node, ast.stmt) else None


def suite_of(stmt: ast.stmt, up: dict[ast.AST, ast.AST]) -> list[ast.stmt] | None:
    """The statement list that holds ``stmt`` directly."""
    parent = up.get(stmt)
    if parent is None:
        return None
    for name in ("body", "orelse", "finalbody", "handlers"):
        suite = getattr(parent, name, None)
        if isinstance(suite, list) and stmt in suite:
            return suite
    return None
