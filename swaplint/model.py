"""The loop model of one file: the single answer every rule reads.

The rules share one question: *which functions are process loops, how do they
re-enter, and where do they block?* :func:`build_model` answers it once per file
from the libcst tree, in one traversal plus some bookkeeping:

* **Receive calls** — calls that block until a message arrives (``receive()`` of
  :mod:`swaplint.runtime`, queue-like ``X.get()``, ``X.recv()``, ``X.accept()``,
  ``select.select(...)``, ``X.select()``, and the configured ``receive-calls``),
  each with whether it has a timeout.
* **Loop functions** — a function is a *recursive loop* when it belongs to a call
  cycle of the file (by bare name, ``self.``/``cls.``, or a handle of the file's own
  module) in which some function receives; it is an *iterative loop* when a
  ``while`` in it (its test or body, nested ``def`` s aside) receives.
* **Re-entry calls** — calls from a recursive loop to a function of its own
  cycle: *local* (bare name, ``self``/``cls``, a class of the file) or *qualified*
  (through a handle of the file's own module, which reaches the newest version).
* **Tail positions** — a re-entry is a tail call when it is the whole value of a
  ``return`` that is not inside a ``try`` suite, any part of a ``try`` with
  ``finally``, a ``finally`` suite, or a ``with`` body.
* **Spawns** — statements that start a process running a loop function of the
  file and throw its handle away.

Recognition is by shape, not by type: there is no type inference. The shapes and
their limits are documented in the README and in each rule's docs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import libcst as cst

RUNTIME = "swaplint.runtime"

# Why a call is not in tail position, innermost first. Values are shown in messages.
IN_TRY = "a `try` suite"
IN_TRY_FINALLY = "a `try` statement with `finally`"
IN_FINALLY = "a `finally` suite"
IN_WITH = "a `with` body"


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _positional(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and not a.star]


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _bool_literal(expr: cst.BaseExpression) -> bool | None:
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    return None


def _has_star(call: cst.Call) -> bool:
    return any(a.star for a in call.args)


# --------------------------------------------------------------------------------------
# The model's values
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class Function:
    """A ``def`` of the file (module level, method or nested)."""

    node: cst.FunctionDef
    index: int  # source order
    parent: Function | None  # the enclosing function, for nested defs
    cls: cst.ClassDef | None  # the class whose body holds the def directly
    qualname: str  # "server_loop", "Server.loop", "outer.<locals>.inner"
    children: dict[str, list[Function]] = field(default_factory=dict)
    receives: list[Receive] = field(default_factory=list)  # the receives that wait
    calls: list[CallSite] = field(default_factory=list)  # calls to functions of the file
    receive_whiles: list[cst.While] = field(default_factory=list)
    cycle: Cycle | None = None
    #: Names bound in the function itself (parameters, assignments): they shadow imports.
    local_names: set[str] = field(default_factory=set)

    def binds(self, name: str) -> bool:
        fn: Function | None = self
        while fn is not None:
            if name in fn.local_names:
                return True
            fn = fn.parent
        return False

    @property
    def name(self) -> str:
        return self.node.name.value

    @property
    def iterative(self) -> bool:
        return bool(self.receive_whiles)

    @property
    def is_loop(self) -> bool:
        return self.cycle is not None or self.iterative

    def qualified_hint(self, module: str) -> str | None:
        """How to call this function through the module, or None if it cannot be."""
        if "<locals>" in self.qualname:
            return None
        if self.cls is not None:
            return f"{module}.{self.qualname}(self, ...)"
        return f"{module}.{self.name}(...)"


@dataclass(eq=False)
class Receive:
    call: cst.Call
    function: Function | None
    has_timeout: bool
    label: str  # how messages show the call, e.g. "self.inbox.get()"
    #: False for polls that never wait (`get_nowait()`, `get(False)`, `select(..., 0)`):
    #: they count as having a timeout, but do not make a loop a process loop.
    waits: bool = True


@dataclass(eq=False)
class CallSite:
    """A call from one function of the file to another."""

    call: cst.Call
    caller: Function
    callee: Function
    qualified: bool  # through a handle of the file's own module
    returned: bool  # the whole value of a `return`
    not_tail_because: str | None  # IN_TRY, ...: why the enclosing `return` is no tail position


@dataclass(eq=False)
class Cycle:
    """A strongly connected set of functions that call each other and receive."""

    members: list[Function]  # in source order
    reentries: list[CallSite] = field(default_factory=list)

    @property
    def head(self) -> Function:
        return self.members[0]

    @property
    def qualified(self) -> bool:
        return any(site.qualified for site in self.reentries)


@dataclass(eq=False)
class Spawn:
    call: cst.Call
    target: Function
    label: str  # e.g. "threading.Thread(...).start()"
    spawner: Function | None  # the function that makes the call (None: module level)


@dataclass
class FileModel:
    module: str
    functions: list[Function] = field(default_factory=list)
    receives: dict[cst.Call, Receive] = field(default_factory=dict)
    reentries: dict[cst.Call, CallSite] = field(default_factory=dict)
    cycles: list[Cycle] = field(default_factory=list)
    spawns: dict[cst.Call, Spawn] = field(default_factory=dict)
    #: ``while`` statements of iterative loops that never return into new code.
    pinned_whiles: dict[cst.While, Function] = field(default_factory=dict)
    #: Cycle heads (their ``def`` names) of cycles with no qualified re-entry.
    unqualified_heads: dict[cst.FunctionDef, Cycle] = field(default_factory=dict)
    #: The top-level statement that holds each node a rule may report (calls, `while`
    #: statements, `def` names), so positions can be resolved for that statement only.
    top_statement: dict[cst.CSTNode, cst.CSTNode] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# One traversal: collect defs, imports, calls with their syntactic context
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class _CallRecord:
    node: cst.Call
    function: Function | None
    in_lambda: bool
    returned: bool
    not_tail_because: str | None
    whiles: tuple[cst.While, ...]  # enclosing `while`s of the function, innermost first
    wrapper: cst.Call | None  # the call this one is a direct argument of
    timeout_withs: tuple[cst.With, ...]  # enclosing `async with` statements
    statement: bool  # an expression statement, or assigned to `_`


class _Collector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[cst.CSTNode] = []
        self.scopes: list[Function | cst.ClassDef] = []
        self.functions: list[Function] = []
        self.module_funcs: dict[str, list[Function]] = {}
        self.class_methods: dict[cst.ClassDef, dict[str, list[Function]]] = {}
        self.top_classes: dict[str, cst.ClassDef] = {}
        self.class_names: dict[cst.ClassDef, str] = {}
        self.imports: list[tuple[str, str, int]] = []  # (bound name, dotted target, level)
        self.handle_assigns: list[tuple[str, cst.BaseExpression]] = []
        self.calls: list[_CallRecord] = []
        self.top_statement: dict[cst.CSTNode, cst.CSTNode] = {}

    # -- the ancestor stack ----------------------------------------------------------
    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        super().on_leave(original_node)
        self.stack.pop()

    @property
    def function(self) -> Function | None:
        for scope in reversed(self.scopes):
            if isinstance(scope, Function):
                return scope
        return None

    # -- scopes ----------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        outer = self.scopes[-1] if self.scopes else None
        if outer is None:
            self.top_classes.setdefault(node.name.value, node)
            name = node.name.value
        elif isinstance(outer, cst.ClassDef):
            name = f"{self.class_names[outer]}.{node.name.value}"
        else:
            name = f"{outer.qualname}.<locals>.{node.name.value}"
        self.class_names[node] = name
        self.class_methods[node] = {}
        self.scopes.append(node)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        outer = self.scopes[-1] if self.scopes else None
        parent = self.function
        cls = outer if isinstance(outer, cst.ClassDef) else None
        if cls is not None:
            qualname = f"{self.class_names[cls]}.{node.name.value}"
        elif isinstance(outer, Function):
            qualname = f"{outer.qualname}.<locals>.{node.name.value}"
        else:
            qualname = node.name.value
        self.top_statement[node.name] = self.stack[1]
        fn = Function(node=node, index=len(self.functions), parent=parent, cls=cls, qualname=qualname)
        self.functions.append(fn)
        if cls is not None:
            self.class_methods[cls].setdefault(fn.name, []).append(fn)
        elif isinstance(outer, Function):
            outer.children.setdefault(fn.name, []).append(fn)
        else:
            self.module_funcs.setdefault(fn.name, []).append(fn)
        self.scopes.append(fn)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    # -- imports and module handles ----------------------------------------------------
    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            target = dotted_name(alias.name)
            if target is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.imports.append((alias.asname.name.value, target, 0))
            else:
                first = target.split(".", 1)[0]
                self.imports.append((first, first, 0))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        base = dotted_name(node.module) if node.module is not None else ""
        level = len(node.relative)
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is None:
                continue
            bound = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                bound = alias.asname.name.value
            target = f"{base}.{name}" if base else name
            self.imports.append((bound, target, level))

    def visit_Assign(self, node: cst.Assign) -> None:
        fn = self.function
        for target in node.targets:
            if not isinstance(target.target, cst.Name):
                continue
            if fn is not None:
                fn.local_names.add(target.target.value)
            elif isinstance(node.value, (cst.Subscript, cst.Call)):
                # `this = sys.modules[__name__]`, `this = importlib.import_module(__name__)`
                self.handle_assigns.append((target.target.value, node.value))

    def visit_Param(self, node: cst.Param) -> None:
        fn = self.function
        if fn is not None and not (len(self.stack) > 2 and isinstance(self.stack[-3], cst.Lambda)):
            fn.local_names.add(node.name.value)

    def _bind_target(self, target: cst.BaseExpression | None) -> None:
        fn = self.function
        if fn is not None and isinstance(target, cst.Name):
            fn.local_names.add(target.value)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        if isinstance(self.stack[-2] if len(self.stack) > 1 else None, cst.WithItem):
            self._bind_target(node.name)  # type: ignore[arg-type]

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target)

    # -- calls -------------------------------------------------------------------------
    def visit_While(self, node: cst.While) -> None:
        self.top_statement[node] = self.stack[1]

    def visit_Call(self, node: cst.Call) -> None:
        stack = self.stack
        if len(stack) > 1:
            self.top_statement[node] = stack[1]
        fn = self.function
        in_lambda = False
        not_tail: str | None = None
        whiles: list[cst.While] = []
        withs: list[cst.With] = []
        for i in range(len(stack) - 2, -1, -1):
            anc, child = stack[i], stack[i + 1]
            if isinstance(anc, (cst.FunctionDef, cst.ClassDef, cst.Module)):
                break
            if isinstance(anc, cst.Lambda):
                in_lambda = True
                break
            if isinstance(anc, (cst.Try, cst.TryStar)):
                if child is anc.body:
                    reason = IN_TRY
                elif isinstance(child, cst.Finally):
                    reason = IN_FINALLY
                elif anc.finalbody is not None:
                    reason = IN_TRY_FINALLY
                else:
                    reason = None
                not_tail = not_tail or reason
            elif isinstance(anc, cst.With):
                if child is anc.body:
                    not_tail = not_tail or IN_WITH
                    if anc.asynchronous is not None:
                        withs.append(anc)
            elif isinstance(anc, cst.While):
                if child is anc.body or child is anc.test:
                    whiles.append(anc)
        parent = stack[-2] if len(stack) >= 2 else None
        grand = stack[-3] if len(stack) >= 3 else None
        returned = isinstance(parent, cst.Return) or (
            isinstance(parent, cst.Await) and isinstance(grand, cst.Return)
        )
        wrapper = grand if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call) else None
        statement = isinstance(parent, cst.Expr) or (
            isinstance(parent, cst.Assign)
            and len(parent.targets) == 1
            and isinstance(parent.targets[0].target, cst.Name)
            and parent.targets[0].target.value == "_"
        )
        self.calls.append(
            _CallRecord(
                node=node,
                function=fn,
                in_lambda=in_lambda,
                returned=returned,
                not_tail_because=not_tail,
                whiles=tuple(whiles),
                wrapper=wrapper,
                timeout_withs=tuple(withs),
                statement=statement,
            )
        )


# --------------------------------------------------------------------------------------
# Bookkeeping: names, receives, the call graph, cycles, loops, spawns
# --------------------------------------------------------------------------------------


class _Resolver:
    """Resolves names of the file: imports, own-module handles, functions."""

    def __init__(self, col: _Collector, module: str) -> None:
        self.col = col
        self.module = module
        package = module.rsplit(".", 1)[0] if "." in module else ""
        self.bindings: dict[str, str] = {}
        for bound, target, level in col.imports:
            if level:
                parts = package.split(".") if package else []
                if level > 1:
                    parts = parts[: len(parts) - (level - 1)] if len(parts) >= level - 1 else []
                target = ".".join([*parts, target]) if target else ".".join(parts)
            self.bindings[bound] = target
        for bound, value in col.handle_assigns:
            if self.is_self_module_expr(value):
                self.bindings[bound] = module

    def resolve(self, expr: cst.BaseExpression, scope: Function | None = None) -> str | None:
        """The dotted name an expression refers to, through imports; None if not imported."""
        text = dotted_name(expr)
        if text is None:
            return None
        first, _, rest = text.partition(".")
        if scope is not None and scope.binds(first):
            return None  # a local variable shadows the import
        target = self.bindings.get(first)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def is_self_module_expr(self, expr: cst.BaseExpression) -> bool:
        """``sys.modules[__name__]``, ``importlib.import_module(__name__)`` (or the name as text)."""
        if isinstance(expr, cst.Subscript):
            if self.resolve(expr.value) != "sys.modules" or len(expr.slice) != 1:
                return False
            index = expr.slice[0].slice
            return isinstance(index, cst.Index) and self._names_module(index.value)
        if isinstance(expr, cst.Call):
            if self.resolve(expr.func) != "importlib.import_module":
                return False
            args = _positional(expr)
            return len(args) == 1 and len(expr.args) == 1 and self._names_module(args[0].value)
        return False

    def _names_module(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Name):
            return expr.value == "__name__"
        if isinstance(expr, cst.SimpleString):
            return expr.evaluated_value == self.module
        return False

    def is_self_module(self, expr: cst.BaseExpression, scope: Function | None = None) -> bool:
        return self.resolve(expr, scope) == self.module or self.is_self_module_expr(expr)

    # -- functions -------------------------------------------------------------------
    def functions_for(self, func: cst.BaseExpression, caller: Function | None) -> tuple[list[Function], bool]:
        """The file's functions a callee expression names, and whether the call is qualified."""
        col = self.col
        if isinstance(func, cst.Name):
            scope = caller
            while scope is not None:
                if func.value in scope.children:
                    return scope.children[func.value], False
                scope = scope.parent
            return col.module_funcs.get(func.value, []), False
        if not isinstance(func, cst.Attribute):
            return [], False
        attr = func.attr.value
        value = func.value
        if isinstance(value, cst.Name) and value.value in ("self", "cls"):
            cls = self._enclosing_class(caller)
            if cls is None:
                return [], False
            return col.class_methods[cls].get(attr, []), False
        if self.is_self_module(value, caller):
            return col.module_funcs.get(attr, []), True
        if isinstance(value, cst.Attribute) and self.is_self_module(value.value, caller):
            cls = col.top_classes.get(value.attr.value)
            if cls is not None:
                return col.class_methods[cls].get(attr, []), True
        if isinstance(value, cst.Name) and value.value in col.top_classes:
            if value.value not in self.bindings and not (caller and caller.binds(value.value)):
                cls = col.top_classes[value.value]
                return col.class_methods[cls].get(attr, []), False
        return [], False

    @staticmethod
    def _enclosing_class(fn: Function | None) -> cst.ClassDef | None:
        while fn is not None:
            if fn.cls is not None:
                return fn.cls
            fn = fn.parent
        return None


class _Wait(enum.Enum):
    """How long a receive may block."""

    FOREVER = "forever"  # no timeout
    TIMEOUT = "timeout"  # a timeout that is not zero
    POLL = "poll"  # never waits: get_nowait(), get(False), a zero timeout


class _Receives:
    """Which calls are receives, and whether they have a timeout."""

    def __init__(self, resolver: _Resolver, extra: Iterable[str]) -> None:
        self.resolver = resolver
        self.extra = frozenset(extra)

    def classify(self, record: _CallRecord) -> tuple[bool, bool, str] | None:
        """(has_timeout, waits, label) when the call is a receive, else None."""
        call = record.node
        func = call.func
        resolved = self.resolver.resolve(func, record.function)
        text = dotted_name(func)
        wait = self._shape(call, resolved, text)
        if wait is None:
            return None
        label = f"{text or _short(func)}()"
        if wait is _Wait.FOREVER and self._wrapped_with_timeout(record):
            wait = _Wait.TIMEOUT
        return wait is not _Wait.FOREVER, wait is not _Wait.POLL, label

    def _shape(self, call: cst.Call, resolved: str | None, text: str | None) -> _Wait | None:
        """None: not a receive; else how long the call itself may block."""
        func = call.func
        if resolved == f"{RUNTIME}.receive":
            return self._timeout_arg(call, "timeout", 0)
        if self.extra and (resolved in self.extra or text in self.extra):
            return self._timeout_arg(call, "timeout", None)
        if resolved == "select.select":
            return self._timeout_arg(call, "timeout", 3)
        if not isinstance(func, cst.Attribute) or _has_star(call):
            return None
        attr = func.attr.value
        positional = _positional(call)
        if attr == "get":
            return self._queue_get(call, positional)
        if attr == "get_nowait" and not call.args:
            return _Wait.POLL
        if attr in ("recv", "recv_bytes", "accept") and not call.args:
            return _Wait.FOREVER
        if attr == "select" and len(positional) <= 1:
            if positional and not _timeout_like(positional[0].value):
                return None
            return self._timeout_arg(call, "timeout", 0)
        return None

    def _queue_get(self, call: cst.Call, positional: list[cst.Arg]) -> _Wait | None:
        keywords = {a.keyword.value for a in call.args if a.keyword is not None}
        if keywords - {"block", "timeout"} or len(positional) > 2:
            return None
        block_arg = positional[0].value if positional else None
        block_kw = _keyword(call, "block")
        if block_arg is not None and block_kw is not None:
            return None
        block_expr = block_arg if block_arg is not None else (block_kw.value if block_kw else None)
        if block_expr is not None:
            block = _bool_literal(block_expr)
            if block is None:
                return None  # `d.get(key)`: not a queue
            if not block:
                return _Wait.POLL  # non-blocking: as good as a timeout
        return self._timeout_arg(call, "timeout", 1)

    @staticmethod
    def _timeout_arg(call: cst.Call, keyword: str, slot: int | None) -> _Wait:
        """The timeout the call passes by keyword or in its positional slot."""
        arg = _keyword(call, keyword)
        if arg is None and slot is not None:
            positional = _positional(call)
            if len(positional) > slot:
                arg = positional[slot]
        if arg is None or _is_none(arg.value):
            return _Wait.FOREVER
        if isinstance(arg.value, (cst.Integer, cst.Float)) and arg.value.evaluated_value == 0:
            return _Wait.POLL
        return _Wait.TIMEOUT

    def _wrapped_with_timeout(self, record: _CallRecord) -> bool:
        wrapper = record.wrapper
        if wrapper is not None and self.resolver.resolve(wrapper.func) == "asyncio.wait_for":
            positional = _positional(wrapper)
            first = positional[0] if positional else _keyword(wrapper, "fut")
            if first is not None and first.value is record.node:
                if self._timeout_arg(wrapper, "timeout", 1) is not _Wait.FOREVER:
                    return True
        for with_node in record.timeout_withs:
            for item in with_node.items:
                ctx = item.item
                if isinstance(ctx, cst.Call) and self.resolver.resolve(ctx.func) in (
                    "asyncio.timeout",
                    "asyncio.timeout_at",
                ):
                    args = _positional(ctx)
                    given = args[0] if args else (_keyword(ctx, "delay") or _keyword(ctx, "when"))
                    if given is not None and not _is_none(given.value):
                        return True
        return False


def _timeout_like(expr: cst.BaseExpression) -> bool:
    """A positional argument that can be a timeout (not a string or a container)."""
    return not isinstance(
        expr,
        (
            cst.SimpleString,
            cst.ConcatenatedString,
            cst.FormattedString,
            cst.List,
            cst.Tuple,
            cst.Dict,
            cst.Set,
        ),
    )


def _short(node: cst.CSTNode) -> str:
    code = cst.Module(body=[]).code_for_node(node)
    return code if len(code) <= 40 else code[:37] + "..."


def _sccs(functions: list[Function], edges: dict[Function, list[Function]]) -> Iterator[list[Function]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[Function, int] = {}
    low: dict[Function, int] = {}
    on_stack: set[Function] = set()
    stack: list[Function] = []
    counter = 0
    for root in functions:
        if root in index:
            continue
        work: list[tuple[Function, Iterator[Function]]] = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member is node:
                        break
                yield component


def build_model(
    tree: cst.Module,
    *,
    module: str,
    receive_calls: Iterable[str] = (),
    spawn_calls: Iterable[str] = (),
) -> FileModel:
    """Build the loop model of one parsed file whose dotted module name is ``module``."""
    col = _Collector()
    tree.visit(col)
    resolver = _Resolver(col, module)
    model = FileModel(module=module, functions=col.functions, top_statement=col.top_statement)

    # Receives.
    receives = _Receives(resolver, receive_calls)
    for record in col.calls:
        classified = receives.classify(record)
        if classified is None:
            continue
        has_timeout, waits, label = classified
        fn = None if record.in_lambda else record.function
        receive = Receive(record.node, fn, has_timeout, label, waits)
        model.receives[record.node] = receive
        if fn is not None and waits:
            fn.receives.append(receive)
            if record.whiles and record.whiles[-1] not in fn.receive_whiles:
                fn.receive_whiles.append(record.whiles[-1])  # the outermost

    # The call graph among the file's functions (calls inside lambdas are deferred: not edges).
    edges: dict[Function, list[Function]] = {}
    for record in col.calls:
        caller = record.function
        if caller is None or record.in_lambda:
            continue
        callees, qualified = resolver.functions_for(record.node.func, caller)
        for callee in callees:
            site = CallSite(
                call=record.node,
                caller=caller,
                callee=callee,
                qualified=qualified,
                returned=record.returned,
                not_tail_because=record.not_tail_because,
            )
            caller.calls.append(site)
            edges.setdefault(caller, []).append(callee)

    # Cycles that receive are recursive loops.
    for component in _sccs(col.functions, edges):
        members = set(component)
        recursive = len(component) > 1 or component[0] in edges.get(component[0], ())
        if not recursive or not any(fn.receives for fn in component):
            continue
        cycle = Cycle(members=sorted(component, key=lambda f: f.index))
        for fn in cycle.members:
            fn.cycle = cycle
            for site in fn.calls:
                if site.callee in members:
                    cycle.reentries.append(site)
                    model.reentries.setdefault(site.call, site)
        model.cycles.append(cycle)
    model.cycles.sort(key=lambda c: c.head.index)
    for cycle in model.cycles:
        if not cycle.qualified:
            model.unqualified_heads[cycle.head.node] = cycle

    # Iterative loops with no way into new code.
    for fn in col.functions:
        if not fn.iterative:
            continue
        escapes = any(s.returned and s.qualified and s.callee.is_loop for s in fn.calls)
        if not escapes:
            for loop in fn.receive_whiles:
                model.pinned_whiles[loop] = fn

    # Spawns whose handle is thrown away.
    spawner = _Spawns(resolver, frozenset(spawn_calls), module)
    for record in col.calls:
        if not record.statement:
            continue
        found = spawner.classify(record)
        if found is not None and found[0].is_loop:
            model.spawns[record.node] = Spawn(record.node, found[0], found[1], record.function)
    return model


class _Spawns:
    """Which statements start a process, and which function the process runs."""

    def __init__(self, resolver: _Resolver, extra: frozenset[str], module: str) -> None:
        self.resolver = resolver
        self.extra = extra
        self.module = module

    def classify(self, record: _CallRecord) -> tuple[Function, str] | None:
        call = record.node
        func = call.func
        resolved = self.resolver.resolve(func)
        text = dotted_name(func)
        caller = record.function
        if resolved == f"{RUNTIME}.spawn" or (self.extra and (resolved in self.extra or text in self.extra)):
            target = self._target_arg(call, keyword="target")
            return self._pick(target, caller, f"{text}(...)")
        if not isinstance(func, cst.Attribute):
            return None
        attr = func.attr.value
        if attr == "start" and isinstance(func.value, cst.Call):
            ctor = func.value
            ctor_name = dotted_name(ctor.func) or ""
            last = ctor_name.rsplit(".", 1)[-1]
            if last in ("Thread", "Process"):
                target = _keyword(ctor, "target")
                if target is None and len(_positional(ctor)) >= 2:
                    target = _positional(ctor)[1]
                return self._pick(target.value if target else None, caller, f"{ctor_name}(...).start()")
            return None
        if attr in ("create_task", "ensure_future"):
            return self._pick(self._target_arg(call, keyword="coro"), caller, f"{text or attr}(...)")
        if attr == "submit":
            return self._pick(self._target_arg(call, keyword="fn"), caller, f"{text or attr}(...)")
        if attr == "spawn":
            # Runtime.spawn("module", "function", ...) naming this file's module.
            args = _positional(call)
            if len(args) >= 2 and all(isinstance(a.value, cst.SimpleString) for a in args[:2]):
                mod, name = (a.value.evaluated_value for a in args[:2])  # type: ignore[union-attr]
                if mod == self.module:
                    funcs = self.resolver.col.module_funcs.get(str(name), [])
                    if funcs:
                        return funcs[-1], f"{text}(...)"
        return None

    @staticmethod
    def _target_arg(call: cst.Call, keyword: str) -> cst.BaseExpression | None:
        args = _positional(call)
        if args:
            return args[0].value
        arg = _keyword(call, keyword)
        return arg.value if arg is not None else None

    def _pick(
        self, target: cst.BaseExpression | None, caller: Function | None, label: str
    ) -> tuple[Function, str] | None:
        if target is None:
            return None
        if isinstance(target, cst.Await):
            target = target.expression
        if isinstance(target, cst.Call):
            target = target.func
        funcs, _ = self.resolver.functions_for(target, caller)
        loops = [f for f in funcs if f.is_loop]
        if loops:
            return loops[-1], label
        return (funcs[-1], label) if funcs else None
