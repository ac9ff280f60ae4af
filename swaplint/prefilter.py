"""Decide cheaply, and exactly, whether any rule can fire on a file.

Every rule needs a *receive inside a loop function*: SWL001, SWL002 and SWL005 need
a recursive loop (a call cycle one of whose functions receives), SWL003 a receive
in a loop function, SWL006 a ``while`` holding a receive, and SWL004 a spawn whose
target is a loop function, which again needs one of those. So a file can produce
a finding (SWL999 aside) only if some function ``F`` of it holds a receive-shaped
call and either

* a ``while`` of ``F`` holds it (an iterative loop), or
* ``F`` belongs to a call cycle, which means ``F`` is *called* somewhere in the
  file (by bare name, ``self.F``/``cls.F``, ``Class.F`` or a module handle) from
  a function that ``F`` itself calls, directly or not.

The screen answers that question in two steps, each a superset of what
:mod:`swaplint.model` recognises (so it may keep a file the model finds clean,
never drop one it would flag):

1. **Text.** No receive name (``receive``, ``get``, ``recv``, ``accept``,
   ``select``, or the last component of a configured ``receive-calls`` name) as a
   substring anywhere: no receive call is possible, whatever the imports say
   (an alias like ``from swaplint.runtime import receive as r`` names it too).
2. **ast.** Parse with :mod:`ast` (ten times cheaper than libcst) and look, only
   in the statements whose lines hold such a name, for a receive-*shaped* call:
   ``X.get()`` whose blocking argument is absent or a ``True`` literal
   (``d.get(key)`` is not one; ``get(False)`` and ``get_nowait()`` are polls,
   which the model does not count as waiting), ``X.recv()``, ``X.recv_bytes()``,
   ``X.accept()`` (no arguments), ``X.select()``/``X.select(t)``,
   ``select.select(...)`` through a name ``import select`` binds, ``X.receive()``,
   bare ``receive()``/``select()``, configured names, and names an import binds to
   any of those (``as`` aliases). It must sit in a ``def`` (class bodies are
   transparent), under a ``while`` of that ``def`` (test, body or ``else``), or in
   a ``def`` that may be on a call cycle: a graph over the file's ``def`` s whose
   edges are the words naming them, resolved the way the model resolves calls
   (a bare name reaches the non-methods visible there, ``self.F`` the methods of
   the caller's class, ``X.F`` module functions and the methods of a top-level
   class ``X``; ``super().F`` and ``self.attr.F`` reach nothing; text after a
   ``#`` with no quote before it on its line is a comment). Wherever in doubt
   the screen keeps the file: lambdas, strings, decorators and odd spellings
   all count as possible calls.

A file that fails ``ast.parse`` always goes on to libcst, which words the error.

``SWAPLINT_NO_PREFILTER=1`` in the environment (read at import, inherited by
worker processes) or :func:`set_enabled` (``False``) turns the screen off: every
file is then parsed with libcst, which the equivalence tests use.
"""

from __future__ import annotations

import ast
import bisect
import enum
import os
import re
import warnings
from collections.abc import Iterable
from functools import lru_cache

BUILTIN_RECEIVE_NAMES = ("receive", "get", "get_nowait", "recv", "recv_bytes", "accept", "select")
# Substrings that every builtin receive name contains (``get_nowait`` holds ``get``).
_BUILTIN_NEEDLES = ("get", "recv", "accept", "select", "receive")
# Receive names that may be called bare (after ``from M import name``).
_BARE_NAMES = frozenset({"receive", "select"})
# Receive names the model accepts only with no argument at all.
_NO_ARG_NAMES = frozenset({"get_nowait", "recv", "recv_bytes", "accept"})


def _env_enabled() -> bool:
    return os.environ.get("SWAPLINT_NO_PREFILTER", "").strip().lower() in ("", "0", "false", "no")


#: Module-level switch: when False every file goes to libcst. Read by :func:`screen`.
ENABLED: bool = _env_enabled()


def set_enabled(flag: bool) -> None:
    """Turn the screen on or off, here and in worker processes started afterwards."""
    global ENABLED
    ENABLED = flag
    if flag:
        os.environ.pop("SWAPLINT_NO_PREFILTER", None)
    else:
        os.environ["SWAPLINT_NO_PREFILTER"] = "1"


class Screen(enum.Enum):
    """The screen's verdict on one file."""

    #: A rule may fire: build the concrete syntax tree.
    NEEDS_CST = "needs-cst"
    #: No receive name in the text: no rule can fire. Not parsed: syntax unknown.
    NO_MATCH = "no-match"
    #: ``ast`` parsed it and found no receive in a possible loop: no rule can fire.
    CLEAN = "clean"


class _Names:
    """Everything the screen needs to know about the configured receive names."""

    def __init__(self, extra: tuple[str, ...]) -> None:
        lasts = {name.strip().rsplit(".", 1)[-1] for name in extra if name and name.strip()}
        lasts.discard("")
        self.extra_lasts = frozenset(lasts)
        self.needles = tuple(sorted(set(_BUILTIN_NEEDLES) | lasts))
        self.attr_names = frozenset(BUILTIN_RECEIVE_NAMES) | self.extra_lasts
        self.bare_names = _BARE_NAMES | self.extra_lasts
        self.importable = self.attr_names  # imported names whose `as` alias may be a receive


@lru_cache(maxsize=64)
def _names(extra: tuple[str, ...]) -> _Names:
    return _Names(extra)


# The last verdict, by identity of the source string: the runner screens a file,
# then the engine screens the very same string again.
_last: tuple[str | None, tuple[str, ...], Screen] = (None, (), Screen.NEEDS_CST)


def screen(source: str, receive_calls: Iterable[str] = ()) -> Screen:
    """Whether a rule can fire on ``source`` (see the module docs)."""
    global _last
    if not ENABLED:
        return Screen.NEEDS_CST
    extra = tuple(receive_calls)
    if _last[0] is source and _last[1] == extra:
        return _last[2]
    verdict = _screen(source, extra)
    _last = (source, extra, verdict)
    return verdict


def _screen(source: str, extra: tuple[str, ...]) -> Screen:
    names = _names(extra)
    if not any(needle in source for needle in names.needles):
        return Screen.NO_MATCH
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return Screen.NEEDS_CST  # libcst reports the error in its own words
    if "\r" in source:  # the scan counts lines by "\n", as `ast` numbers them
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    try:
        found = _Scan(source, names).run(tree)
    except RecursionError:
        return Screen.NEEDS_CST
    return Screen.NEEDS_CST if found else Screen.CLEAN


def may_have_findings(source: str, receive_calls: Iterable[str] = ()) -> bool:
    """False only when no rule can report anything on this source (syntax aside)."""
    return screen(source, receive_calls) is Screen.NEEDS_CST


@lru_cache(maxsize=4096)
def _word_pattern(name: str) -> re.Pattern[str]:
    # A literal first, so `re` can search fast; the start is checked by hand.
    return re.compile(rf"{re.escape(name)}(?!\w)")


def _token_lines(source: str, names: Iterable[str]) -> list[int]:
    """Sorted 1-based line numbers holding one of ``names`` as a whole word."""
    starts: list[int] = []
    for name in names:
        if name not in source:
            continue
        for match in _word_pattern(name).finditer(source):
            start = match.start()
            if start and (source[start - 1].isalnum() or source[start - 1] == "_"):
                continue
            starts.append(start)
    starts.sort()
    lines: list[int] = []
    line = 1
    prev = 0
    for start in starts:
        line += source.count("\n", prev, start)
        prev = start
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


class _Found(Exception):
    """Raised to stop the scan at the first receive that may sit in a loop."""


class _Scan:
    def __init__(self, source: str, names: _Names) -> None:
        self.source = source
        self.names = names
        self.aliases: set[str] = set()
        self.lines: list[int] = []
        self.tree: ast.Module | None = None
        self._cycles: dict[tuple[str, int], bool] = {}
        self._occ: dict[str, list[tuple[int, str, str | None]]] = {}
        self._defs: list[tuple[int, int, int, str, int | None]] | None = None
        self._context: tuple[_Funcs, bool] = ((), False)
        self.select_modules: set[str] = set()  # names `import select [as X]` binds
        self.select_calls: list[tuple[str, tuple[_Funcs, bool]]] = []

    def run(self, tree: ast.Module) -> bool:
        self.tree = tree
        self.lines = _token_lines(self.source, self.names.attr_names)
        if not self.lines:
            return False
        try:
            self._block(tree.body, (), False)
            self._deferred()
        except _Found:
            return True
        if self.aliases - self.names.attr_names:
            # A receive imported under another name (`import ... as r`): scan again
            # with the alias lines too. Imports always hold a receive name, so the
            # first pass saw every one of them.
            self.lines = _token_lines(self.source, self.names.attr_names | self.aliases)
            try:
                self._block(tree.body, (), False)
                self._deferred()
            except _Found:
                return True
        return False

    def _deferred(self) -> None:
        for name, (funcs, in_while) in self.select_calls:
            if name in self.select_modules and self._maybe_loop(funcs, in_while):
                raise _Found

    # -- pruning by line -------------------------------------------------------------
    def _touches(self, node: ast.AST) -> bool:
        lo = getattr(node, "lineno", None)
        if lo is None:
            return True
        decorators = getattr(node, "decorator_list", None)
        if decorators:
            lo = min(lo, decorators[0].lineno)
        hi = getattr(node, "end_lineno", None) or lo
        lines = self.lines
        i = bisect.bisect_left(lines, lo)
        return i < len(lines) and lines[i] <= hi

    # -- statements ------------------------------------------------------------------
    def _block(self, stmts: list[ast.stmt], funcs: _Funcs, in_while: bool) -> None:
        for stmt in stmts:
            if self._touches(stmt):
                self._stmt(stmt, funcs, in_while)

    def _stmt(self, stmt: ast.stmt, funcs: _Funcs, in_while: bool) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = (*funcs, (stmt.name, stmt.lineno))
            # The model counts the header (decorators, defaults) as part of the def.
            for expr in (*stmt.decorator_list, stmt.returns):
                if expr is not None:
                    self._expr(expr, inner, True)  # loose: as if under a while
            self._generic(stmt.args, inner, True)
            self._block(stmt.body, inner, False)
            return
        if isinstance(stmt, ast.While):
            self._expr(stmt.test, funcs, True)
            self._block(stmt.body, funcs, True)
            self._block(stmt.orelse, funcs, True)
            return
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self._imports(stmt)
            return
        self._generic(stmt, funcs, in_while)

    def _generic(self, node: ast.AST, funcs: _Funcs, in_while: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                if self._touches(child):
                    self._stmt(child, funcs, in_while)
            elif isinstance(child, ast.expr):
                if self._touches(child):
                    self._expr(child, funcs, in_while)
            else:  # handlers, match cases, with items, arguments, comprehensions...
                self._generic(child, funcs, in_while)

    def _imports(self, stmt: ast.Import | ast.ImportFrom) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == "select":
                    self.select_modules.add(alias.asname or "select")
        for alias in stmt.names:
            if alias.asname and alias.name.rsplit(".", 1)[-1] in self.names.importable:
                self.aliases.add(alias.asname)

    # -- expressions -----------------------------------------------------------------
    def _expr(self, expr: ast.expr, funcs: _Funcs, in_while: bool) -> None:
        self._context = (funcs, in_while)
        for node in ast.walk(expr):
            if isinstance(node, ast.Call) and self._receive_shaped(node):
                if self._maybe_loop(funcs, in_while):
                    raise _Found

    def _receive_shaped(self, call: ast.Call) -> bool:
        func = call.func
        if isinstance(func, ast.Attribute):
            attr = func.attr
            if attr in self.names.extra_lasts or attr in self.aliases:
                return True
            if attr == "get":
                return _blocking_get(call)
            if attr == "get_nowait":
                return False  # a poll: never waits, so never makes a loop nor SWL003
            if attr in _NO_ARG_NAMES:
                return not call.args and not call.keywords  # the model wants `X.recv()`
            if attr == "select":
                if len(call.args) <= 1:
                    return True  # `X.select()`, `X.select(t)`
                # `select.select(r, w, x)`: only through a name `import select` binds,
                # which may come later in the file; decided at the end of the pass.
                if isinstance(func.value, ast.Name):
                    self.select_calls.append((func.value.id, self._context))
                return False
            return attr == "receive"
        if isinstance(func, ast.Name):
            return func.id in self.names.bare_names or func.id in self.aliases
        return False

    def _maybe_loop(self, funcs: _Funcs, in_while: bool) -> bool:
        if not funcs:
            return False  # module level: not in a function, so in no loop function
        if in_while:
            return True
        key = funcs[-1]  # the model gives a receive to its innermost `def`
        verdict = self._cycles.get(key)
        if verdict is None:
            verdict = self._cycles[key] = self._may_recurse(*key)
        return verdict

    # -- call cycles -------------------------------------------------------------------
    def _may_recurse(self, name: str, def_line: int) -> bool:
        """Whether the ``def name`` on ``def_line`` may be on a call cycle of the file.

        Over-approximates the model's call graph from the text: ``G`` may call ``F``
        when the word ``F`` occurs (other than in ``def F``) on a line inside ``G``
        (decorators included; every enclosing ``def`` counts as the caller). What
        precedes the word narrows which ``F`` it can mean, as the model resolves
        calls: a bare name never means a method; ``self.F``/``cls.F`` means a
        method of the class of the calling method; ``super().F`` and
        ``self.attr.F`` mean no function of the file; any other ``X.F`` may mean
        any ``F``. A cycle needs the ``def`` among its own transitive callers.
        """
        if not name.isascii():
            return True  # NFKC-normalised identifiers: the text may spell it otherwise
        if self._defs is None:
            self._index()
        start = self._by_line.get((def_line, name))
        if start is None:
            return True  # not found (cannot happen): be safe
        seen = {start}
        frontier = [start]
        while frontier:
            for caller in self._callers(frontier.pop()):
                if caller == start:
                    return True
                if caller not in seen:
                    seen.add(caller)
                    frontier.append(caller)
        return False

    def _index(self) -> None:
        # Every def: (first line incl. decorators, def line, last line, name, holding class).
        found: list[tuple[int, int, int, str, int | None]] = []
        top_classes: dict[str, set[int]] = {}
        classes = 0
        assert self.tree is not None
        # (node, class holding defs found directly under it, whether at module level)
        stack: list[tuple[ast.AST, int | None, bool]] = [(self.tree, None, True)]
        while stack:
            node, holder, top = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lo = child.decorator_list[0].lineno if child.decorator_list else child.lineno
                    hi = child.end_lineno or child.lineno
                    found.append((min(lo, child.lineno), child.lineno, hi, child.name, holder))
                    stack.append((child, None, False))
                elif isinstance(child, ast.ClassDef):
                    classes += 1
                    if top:
                        top_classes.setdefault(child.name, set()).add(classes)
                    stack.append((child, classes, False))
                elif isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
                    stack.append((child, holder, top))
        found.sort(key=lambda d: (d[0], -d[2]))
        parents: list[int] = []
        open_: list[int] = []
        for i, (lo, _, _, _, _) in enumerate(found):
            while open_ and found[open_[-1]][2] < lo:
                open_.pop()
            parents.append(open_[-1] if open_ else -1)
            open_.append(i)
        self._defs = found
        self._parents = parents
        self._starts = [d[0] for d in found]
        self._by_line = {(d[1], d[3]): i for i, d in enumerate(found)}
        self._top_classes = top_classes
        self._binds_self = bool(_BINDS_SELF.search(self.source))

    def _innermost(self, line: int) -> int:
        i = bisect.bisect_right(self._starts, line) - 1
        while i >= 0 and self._defs[i][2] < line:
            i = self._parents[i]
        return i

    def _encloses(self, outer: int, inner: int) -> bool:
        while inner >= 0:
            if inner == outer:
                return True
            inner = self._parents[inner]
        return False

    def _class_of(self, i: int) -> int | None:
        """The class whose methods ``self.`` means inside def ``i`` (as the model has it)."""
        while i >= 0:
            holder = self._defs[i][4]
            if holder is not None:
                return holder
            i = self._parents[i]
        return None

    def _callers(self, target: int) -> set[int]:
        _, _, _, name, holder = self._defs[target]
        module_level = holder is None and self._parents[target] < 0
        callers: set[int] = set()
        for line, kind, receiver in self._occurrences(name):
            caller = self._innermost(line)
            if caller < 0:
                continue  # module or class level: no caller function
            if kind == _BARE:
                if holder is not None:
                    continue  # a bare name never means a method
                scope = self._parents[target]
                if scope >= 0 and not self._encloses(scope, caller):
                    continue  # a nested def is visible only inside the def that holds it
            elif kind == _SELF:
                cls = self._class_of(caller)
                if cls is not None and cls != holder:
                    continue
            elif kind == _MODULE:
                if not module_level:
                    continue
            elif kind == _ATTR:
                # `handle.F` (a module function) or `Class.F`/`handle.Class.F` (its method)
                if not module_level and holder not in self._top_classes.get(receiver or "", ()):
                    continue
            else:  # _NONE
                continue
            while caller >= 0:  # the innermost enclosing def and all its ancestors
                callers.add(caller)
                caller = self._parents[caller]
        return callers

    def _occurrences(self, name: str) -> list[tuple[int, str, str | None]]:
        cached = self._occ.get(name)
        if cached is not None:
            return cached
        source = self.source
        out: list[tuple[int, str, str | None]] = []
        line, prev = 1, 0
        pattern = _word_pattern(name)
        for match in pattern.finditer(source):
            start = match.start()
            if start and (source[start - 1].isalnum() or source[start - 1] == "_"):
                continue
            line += source.count("\n", prev, start)
            prev = start
            before = source[source.rfind("\n", 0, start) + 1 : start]
            if "#" in before:
                if "'" not in before and '"' not in before:
                    # After a `#` with no quote anywhere before it on the line: a
                    # comment (or inside a multi-line string). Not a call.
                    continue
            kind = self._kind(start)
            if kind is not None:
                out.append((line, *kind))
        self._occ[name] = out
        return out

    def _kind(self, start: int) -> tuple[str, str | None] | None:
        """How the word at ``start`` is reached, and the name before its dot.

        None for the name in ``def F``/``class F``.
        """
        source = self.source
        j = _skip_space_back(source, start)
        if j < 0 or source[j] != ".":
            before = _WORD_BEFORE.search(source, max(0, j - 16), j + 1) if j >= 0 else None
            if before is not None and before.group(1) in ("def", "class"):
                return None
            return _BARE, None
        k = _skip_space_back(source, j)
        if k >= 0 and source[k] == ")":
            opening = source.rfind("(", 0, k)
            head = source[max(0, opening - 16) : opening] if opening >= 0 else ""
            if _SUPER_END.search(head):
                return _NONE, None  # super().F, super(C, self).F
            return _MODULE, None  # importlib.import_module(__name__).F, or no function
        if k >= 0 and source[k] == "]":
            return _MODULE, None  # sys.modules[__name__].F
        word = _WORD_BEFORE.search(source, max(0, k - 64), k + 1) if k >= 0 else None
        if word is None:
            return _ATTR, None
        receiver = word.group(1)
        k2 = _skip_space_back(source, word.start(1))
        chained = k2 >= 0 and source[k2] == "."
        if receiver in ("self", "cls") and not chained:
            return _SELF, None
        if chained and not self._binds_self:
            if _chain_root(source, word.start(1)) in ("self", "cls"):
                return _NONE, None  # `self.attr.F`: the model resolves nothing through it
        return _ATTR, receiver


_Funcs = tuple[tuple[str, int], ...]  # the enclosing defs: (name, def line), outermost first
_BARE, _SELF, _ATTR, _MODULE, _NONE = "bare", "self", "attr", "module", "none"
_SUPER_END = re.compile(r"(?<![\w.])super\s*$")
_WORD_BEFORE = re.compile(r"(?<!\w)([^\W\d]\w*)\s*$")  # with an end position: the word there
_WORD_AT = re.compile(r"[^\W\d]\w*")
_BINDS_SELF = re.compile(r"\b(?:as|import)\s+(?:self|cls)\b")


def _skip_space_back(source: str, pos: int) -> int:
    """Index of the last non-blank character before ``pos`` (line continuations too)."""
    j = pos - 1
    while j >= 0 and source[j] in " \t\f\r\n\\":
        j -= 1
    return j


def _chain_root(source: str, pos: int) -> str | None:
    """The first name of the dotted chain ``a.b.c`` whose name at ``pos`` is a part."""
    for _ in range(32):
        j = _skip_space_back(source, pos)
        if j < 0 or source[j] != ".":
            match = _WORD_AT.match(source, pos)
            return match.group() if match else None
        k = _skip_space_back(source, j)
        word = _WORD_BEFORE.search(source, max(0, k - 64), k + 1)
        if word is None:
            return None  # `f().a.b`, `x[0].a.b`
        pos = word.start(1)
    return None


def _blocking_get(call: ast.Call) -> bool:
    """``X.get(...)`` that the model may take for a queue: no key-like blocking argument."""
    block: ast.expr | None = None
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            return True  # unknown: keep it
        block = arg
        break
    if block is None:
        for keyword in call.keywords:
            if keyword.arg == "block":
                block = keyword.value
    if block is None:
        return True
    # `get(True)` blocks; `get(False)` is a poll, which never makes a loop (nor SWL003).
    return isinstance(block, ast.Constant) and block.value is True
