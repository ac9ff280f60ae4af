"""The loop model of one file: the facts every rule reads.

The rules share one question: *which code runs for the life of a thread, task or
process, how does it re-enter, where does it wait, and who holds it?*
:func:`build_model` answers it once per file, from Python's own syntax tree (one
walk, then bookkeeping), and exposes plain facts:

* **Waits** (:class:`Wait`): calls and iterations that can block, classified by
  the tables of :mod:`swaplint.shapes` (receive, timer, poll, library loop), each
  with whether it can time out. A socket read counts as timed when its socket
  was given a timeout in the file, and as no wait at all right after a
  ``select``/``selectors`` readiness check in the same loop.
* **Loop sites** (:class:`LoopSite`): ``while``/``for``/``async for`` statements
  that run for the life of their thread (a ``while True``/flag test, or
  iteration over a message source) and wait, directly or in helpers of the file
  that the loop calls (``self._read_one()``, ``step(q)``). Drain loops, bounded
  I/O helpers, retry loops and waits for a finite queue are not loop sites.
* **Recursive loops** (:class:`Cycle`): call cycles of the file that wait, with
  their re-entry calls (:class:`ReEntry`): how each is called (bare name,
  ``self``/``cls``, a class, the module's own handle) and, by
  :mod:`swaplint.tailpos`, why it is not a tail call.
* **Spawns** (:class:`Spawn`): threads, tasks and processes started to run a loop
  function of the file whose handle nobody keeps.

There is no type inference: recognition is by shape and name. The limits are in
each rule's docs.
"""

from __future__ import annotations

import ast
import enum
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from swaplint import shapes, tailpos
from swaplint.findings import ReloadModel
from swaplint.shapes import Default, WaitKind

RUNTIME = "swaplint.runtime"
#: How deep helper calls are followed to find a loop's wait.
HELPER_DEPTH = 3

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
LoopNode = ast.While | ast.For | ast.AsyncFor


#: Literals (and comprehensions) bound to a name: what they construct.
_LITERAL_TYPES: dict[type, str] = {
    ast.Tuple: "tuple",
    ast.List: "list",
    ast.ListComp: "list",
    ast.Set: "set",
    ast.SetComp: "set",
    ast.Dict: "dict",
    ast.DictComp: "dict",
}


def dotted_name(node: ast.expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if type(node) is ast.Name:  # the common case, first
        return node.id
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _unawaited(expr: ast.expr) -> ast.expr:
    """``await f()`` -> ``f()``; anything else as it is."""
    return expr.value if isinstance(expr, ast.Await) else expr


def last_name(node: ast.expr) -> str:
    """The last identifier of an expression: ``self._inbox`` -> ``_inbox``; calls look through."""
    while isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Subscript):
        return last_name(node.value)
    return ""


def short(node: ast.AST, limit: int = 40) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_constant(node: ast.expr | None, *values: object) -> bool:
    return isinstance(node, ast.Constant) and any(
        node.value is v or (type(node.value) is type(v) and node.value == v) for v in values
    )


# --------------------------------------------------------------------------------------
# The model's values
# --------------------------------------------------------------------------------------


class Condition(enum.StrEnum):
    """What a loop's test says about how long it runs."""

    FOREVER = "forever"  # while True
    FLAG = "flag"  # while self.running / while not stop.is_set()
    ITERATION = "iteration"  # for msg in consumer
    BOUNDED = "bounded"  # while len(buf) < n, for x in items


@dataclass(eq=False)
class Function:
    """A ``def`` or ``async def`` of the file (module level, method or nested)."""

    node: FunctionNode
    index: int  # source order
    parent: Function | None  # the enclosing function, for nested defs
    cls: ClassInfo | None  # the class whose body holds the def directly
    qualname: str  # "server_loop", "Server.loop", "outer.<locals>.inner"
    children: dict[str, Function] = field(default_factory=dict)
    calls: list[CallInfo] = field(default_factory=list)  # calls in the body, nested defs aside
    loops: list[LoopNode] = field(default_factory=list)
    local_names: set[str] = field(default_factory=set)
    is_generator: bool = False
    #: Local names bound to a thread/task handle: name -> the call that made it.
    handles: dict[str, ast.Call] = field(default_factory=dict)

    def uses(self, name: str) -> list[ast.AST]:
        """The parent node of every load of ``name`` in the function (nested defs aside)."""
        return self._loads.get(name, [])

    @functools.cached_property
    def _loads(self) -> dict[str, list[ast.AST]]:
        """Name -> the parent node of every load of it: the body walked once, on the first ask."""
        out: dict[str, list[ast.AST]] = {}
        stack: list[ast.AST] = list(self.node.body)
        while stack:
            parent = stack.pop()
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            for child in ast.iter_child_nodes(parent):
                if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                    out.setdefault(child.id, []).append(parent)
                stack.append(child)
        return out

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def decorators(self) -> set[str]:
        return {dotted_name(d) or "" for d in self.node.decorator_list}

    @property
    def is_method(self) -> bool:
        return self.cls is not None and not self.decorators & {"staticmethod"}

    @property
    def first_param(self) -> str | None:
        args = self.node.args.posonlyargs + self.node.args.args
        return args[0].arg if args else None

    def binds(self, name: str) -> bool:
        fn: Function | None = self
        while fn is not None:
            if name in fn.local_names:
                return True
            fn = fn.parent
        return False

    def enclosing_class(self) -> ClassInfo | None:
        fn: Function | None = self
        while fn is not None:
            if fn.cls is not None:
                return fn.cls
            fn = fn.parent
        return None


@dataclass(eq=False)
class ClassInfo:
    """A class of the file, and its methods by name."""

    node: ast.ClassDef
    qualname: str
    methods: dict[str, Function] = field(default_factory=dict)

    @property
    def bases(self) -> set[str]:
        return {(dotted_name(b) or "").rsplit(".", 1)[-1] for b in self.node.bases}


@dataclass(eq=False)
class CallInfo:
    """A call and where it sits."""

    node: ast.Call
    function: Function | None
    loops: tuple[LoopNode, ...]  # enclosing loops of the function, innermost first
    not_tail: str | None  # why the enclosing return is no tail position (tailpos)
    in_lambda: bool
    returned: bool = False  # the whole value of a ``return`` (through ``await``)
    statement: bool = False  # an expression statement, or assigned to ``_``
    wrapper: ast.Call | None = None  # the call this one is a direct argument of
    timeout_withs: tuple[ast.withitem, ...] = ()  # enclosing ``async with`` items
    handler: str | None = None  # inside an ``except`` suite: what it catches


@dataclass(eq=False)
class Wait:
    """A call (or an iteration) that can block."""

    node: ast.AST  # the call, or the ``for`` statement of an iteration
    function: Function | None
    kind: WaitKind
    forever: bool  # no timeout: it may block until something arrives
    label: str  # how messages show it: "self.inbox.get()"
    shape: str  # the shape's name: "get", "recv", "time.sleep", "iteration"
    receiver: str | None = None  # "self.inbox" for a method call
    loops: tuple[LoopNode, ...] = ()


class WaitPath(NamedTuple):
    """A wait a loop reaches, and the helper calls it goes through."""

    wait: Wait
    via: tuple[str, ...] = ()  # "self._read_one()", ...

    def describe(self) -> str:
        return " → ".join([*(f"`{v}`" for v in self.via), f"`{self.wait.label}`"])


@dataclass(eq=False)
class LoopSite:
    """A loop that runs for the life of its thread, task or process, and waits."""

    node: LoopNode | ast.AST  # a library loop: the call, e.g. `server.serve_forever()`
    function: Function
    condition: Condition
    waits: list[WaitPath]
    #: A body that only calls code by name each iteration (importlib: reload-safe).
    driver: bool = False
    #: Under the runtime: the function returns a module-qualified call to a loop.
    escapes: bool = False

    @property
    def blocking(self) -> list[WaitPath]:
        """The waits with no timeout (receives and library loops)."""
        return [p for p in self.waits if p.wait.forever and p.wait.kind is not WaitKind.TIMER]

    @property
    def keyword(self) -> str:
        if isinstance(self.node, ast.While):
            return "while"
        return "async for" if isinstance(self.node, ast.AsyncFor) else "for"


class Via(enum.StrEnum):
    """How a re-entry call names its callee."""

    BARE = "bare"  # server_loop(s): a global (or closure) lookup
    SELF = "self"  # self.loop(), cls.loop()
    CLASS = "class"  # Server.loop(self)
    MODULE = "module"  # counter.server_loop(s), sys.modules[__name__].f(s)


@dataclass(eq=False)
class ReEntry:
    """A call by which a loop function re-enters itself (directly, or via a helper)."""

    call: ast.Call
    caller: Function
    callee: Function
    via: Via
    returned: bool
    not_tail: str | None
    #: Inside a ``for`` loop: a walk over a structure, not one step per message.
    in_for: bool = False
    #: Inside an ``except`` suite: what it catches.
    handler: str | None = None

    @property
    def qualified(self) -> bool:
        return self.via is Via.MODULE


@dataclass(eq=False)
class Cycle:
    """A strongly connected set of functions that call each other and wait."""

    members: list[Function]  # in source order
    reentries: list[ReEntry] = field(default_factory=list)
    waits: list[WaitPath] = field(default_factory=list)

    @property
    def head(self) -> Function:
        return self.members[0]

    @property
    def qualified(self) -> bool:
        return any(r.qualified for r in self.reentries)


@dataclass(eq=False)
class Spawn:
    """A thread, task or process started on a function of this file."""

    node: ast.Call  # the call that starts it (or makes the handle)
    target: Function
    label: str  # "threading.Thread(...).start()"
    what: str  # "thread", "task", "process", "greenlet"
    spawner: Function | None


@dataclass
class FileModel:
    """The facts of one file that every rule reads: functions, waits, loops, cycles, spawns."""

    module: str
    reload_model: ReloadModel
    functions: list[Function] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    loops: list[LoopSite] = field(default_factory=list)
    cycles: list[Cycle] = field(default_factory=list)
    spawns: list[Spawn] = field(default_factory=list)
    #: What fixes are written from (set by the engine): the text, its tree, the timeout to add.
    text: str = ""
    tree: ast.Module | None = None
    fix_timeout: float = 1.0

    def loop_functions(self) -> set[Function]:
        """Functions that run a loop: a loop site's, or a member of a recursive loop."""
        out = {site.function for site in self.loops}
        for cycle in self.cycles:
            out.update(cycle.members)
        return out

    def qualified_hint(self, fn: Function) -> str | None:
        """How to call ``fn`` through its module, or None if it cannot be."""
        if "<locals>" in fn.qualname:
            return None
        if fn.cls is not None:
            first = "self, ..." if fn.is_method else "..."
            return f"{self.module}.{fn.qualname}({first})"
        return f"{self.module}.{fn.name}(...)"


# --------------------------------------------------------------------------------------
# One walk: defs, classes, imports, calls with their context
# --------------------------------------------------------------------------------------


#: Call names `_Waits._note` looks at, and those of them it must resolve through imports.
_RESOLVED_NOTES = frozenset({"setdefaulttimeout", "create_connection", "select", "poll", "wait_for_read"})
_NOTED = _RESOLVED_NOTES | shapes.TIMEOUT_SETTERS | {"put", "put_nowait"}

#: Nodes that hold nothing the model looks at.
_LEAVES = (ast.Constant, ast.Name, ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _subclasses(kind: type[ast.AST]) -> set[type[ast.AST]]:
    out = {kind}
    for sub in kind.__subclasses__():
        out |= _subclasses(sub)
    return out


#: The concrete types of :data:`_LEAVES`: ``type(node) in`` a set is cheaper than ``isinstance``.
_LEAF_TYPES: frozenset[type[ast.AST]] = frozenset().union(*(_subclasses(k) for k in _LEAVES))
#: Fields that never hold a node the walk enters: names, flags, operators and contexts.
_NOT_NODES = frozenset(
    {"id", "attr", "arg", "name", "names", "kind", "conversion", "is_async", "level", "type_comment"}
    | {"ctx", "op", "ops", "kwd_attrs", "rest"}
)
#: Node type -> the fields the generic walk looks into (found once per type).
_NODE_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _node_fields(kind: type[ast.AST]) -> tuple[str, ...]:
    fields = _NODE_FIELDS.get(kind)
    if fields is None:
        fields = _NODE_FIELDS[kind] = tuple(f for f in kind._fields if f not in _NOT_NODES)
    return fields


class _Ctx(NamedTuple):
    function: Function | None = None
    cls: ClassInfo | None = None
    loops: tuple[LoopNode, ...] = ()
    not_tail: str | None = None
    in_lambda: bool = False
    timeout_withs: tuple[ast.withitem, ...] = ()
    #: Inside an ``except`` suite: the text of what it catches ("" for a bare except).
    handler: str | None = None


_Visitor = Callable[["_Collector", Any, _Ctx], None]
#: Node type -> the :class:`_Collector` function that visits it.
_VISITORS: dict[type[ast.AST], _Visitor] = {}


class _Collector:
    def __init__(self) -> None:
        self.functions: list[Function] = []
        self.module_funcs: dict[str, Function] = {}
        self.classes: dict[ast.ClassDef, ClassInfo] = {}
        self.top_classes: dict[str, ClassInfo] = {}
        self.imports: list[tuple[str, str, int]] = []  # (bound name, dotted target, level)
        self.handle_assigns: list[tuple[str, ast.expr]] = []
        self.calls: list[CallInfo] = []
        self.call_info: dict[ast.Call, CallInfo] = {}
        self.for_loops: list[tuple[ast.For | ast.AsyncFor, _Ctx]] = []
        #: Receiver text -> last component of the constructor it was bound from.
        self.constructed: dict[str, str] = {}
        #: Local aliases of wait methods: (function, name) -> the bound attribute.
        self.aliases: dict[tuple[Function | None, str], ast.Attribute] = {}
        #: Node type -> the function that visits it (found once per type, not per node;
        #: kept unbound and shared, so the collector is in no reference cycle).
        self._dispatch = _VISITORS

    # -- the walk ------------------------------------------------------------------
    def walk(self, node: ast.AST, ctx: _Ctx) -> None:
        visit = self._dispatch.get(type(node))
        if visit is None:
            visit = self._add_visitor(type(node))
        visit(self, node, ctx)

    @staticmethod
    def _add_visitor(kind: type[ast.AST]) -> _Visitor:
        """The function that visits a node type: ``visit_<Type>``, else a generic walk."""
        fallback: _Visitor = _Collector._statement if issubclass(kind, ast.stmt) else _Collector._children
        found: _Visitor = getattr(_Collector, "visit_" + kind.__name__, fallback)
        _VISITORS[kind] = found
        return found

    def _children(self, node: ast.AST, ctx: _Ctx) -> None:
        # walk() inlined: this runs for most nodes of a file.
        dispatch = self._dispatch
        leaves = _LEAF_TYPES
        for name in _node_fields(type(node)):
            value: Any = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    kind = type(item)
                    if kind not in leaves and isinstance(item, ast.AST):
                        (dispatch.get(kind) or self._add_visitor(kind))(self, item, ctx)
            else:
                kind = type(value)
                if kind not in leaves and isinstance(value, ast.AST):
                    (dispatch.get(kind) or self._add_visitor(kind))(self, value, ctx)

    def _statement(self, node: ast.stmt, ctx: _Ctx) -> None:
        """Walk a statement; its suites get the tail reason :mod:`tailpos` gives them."""
        held = tailpos.suites(node)
        if not held:  # a simple statement: its fields hold expressions only
            self._children(node, ctx)
            return
        suite_ids = {id(suite) for suite, _ in held}
        for name, value in ast.iter_fields(node):
            if isinstance(value, list):
                if id(value) in suite_ids:
                    continue
                for item in value:
                    if isinstance(item, (ast.excepthandler, ast.match_case)):
                        for sub_name, sub in ast.iter_fields(item):
                            if sub_name != "body" and isinstance(sub, ast.AST):
                                self.walk(sub, ctx)
                    elif isinstance(item, ast.AST):
                        self.walk(item, ctx)
            elif isinstance(value, ast.AST) and name != "body":
                self.walk(value, ctx)
        handlers = {}
        if isinstance(node, (ast.Try, ast.TryStar)):
            handlers = {id(h.body): ast.unparse(h.type) if h.type is not None else "" for h in node.handlers}
        for suite, reason in held:
            inner = _Ctx(
                ctx.function,
                ctx.cls,
                ctx.loops,
                ctx.not_tail or reason,
                ctx.in_lambda,
                ctx.timeout_withs,
                handlers.get(id(suite), ctx.handler),
            )
            for stmt in suite:
                self.walk(stmt, inner)

    # -- scopes --------------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef, ctx: _Ctx) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.walk(expr, ctx)
        if ctx.cls is not None:
            qualname = f"{ctx.cls.qualname}.{node.name}"
        elif ctx.function is not None:
            qualname = f"{ctx.function.qualname}.<locals>.{node.name}"
        else:
            qualname = node.name
        info = ClassInfo(node, qualname)
        self.classes[node] = info
        if ctx.function is None and ctx.cls is None:
            self.top_classes.setdefault(node.name, info)
        elif ctx.function is not None:
            ctx.function.local_names.add(node.name)
        inner = _Ctx(ctx.function, info, (), None, False, ())
        for stmt in node.body:
            self.walk(stmt, inner)

    def visit_FunctionDef(self, node: FunctionNode, ctx: _Ctx) -> None:
        for expr in node.decorator_list:
            self.walk(expr, ctx)
        self.walk(node.args, ctx)
        if node.returns is not None:
            self.walk(node.returns, ctx)
        parent = ctx.function
        if ctx.cls is not None:
            qualname = f"{ctx.cls.qualname}.{node.name}"
        elif parent is not None:
            qualname = f"{parent.qualname}.<locals>.{node.name}"
        else:
            qualname = node.name
        fn = Function(node=node, index=len(self.functions), parent=parent, cls=ctx.cls, qualname=qualname)
        self.functions.append(fn)
        if ctx.cls is not None:
            ctx.cls.methods[fn.name] = fn
        elif parent is not None:
            parent.children[fn.name] = fn
            parent.local_names.add(fn.name)
        else:
            self.module_funcs[fn.name] = fn
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            fn.local_names.add(arg.arg)
            self._note_annotation(f"{arg.arg}", arg.annotation)
        for star in (node.args.vararg, node.args.kwarg):
            if star is not None:
                fn.local_names.add(star.arg)
        inner = _Ctx(fn, None, (), None, False, ())
        for stmt in node.body:
            self.walk(stmt, inner)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda, ctx: _Ctx) -> None:
        self.walk(node.args, ctx)
        self.walk(node.body, _Ctx(ctx.function, ctx.cls, ctx.loops, None, True, ctx.timeout_withs))

    def visit_Yield(self, node: ast.Yield | ast.YieldFrom, ctx: _Ctx) -> None:
        if ctx.function is not None and not ctx.in_lambda:
            ctx.function.is_generator = True
        if node.value is not None:
            self.walk(node.value, ctx)

    visit_YieldFrom = visit_Yield

    # -- loops ---------------------------------------------------------------------
    def visit_While(self, node: ast.While, ctx: _Ctx) -> None:
        inner = _Ctx(
            ctx.function, ctx.cls, (node, *ctx.loops), ctx.not_tail, ctx.in_lambda, ctx.timeout_withs
        )
        if ctx.function is not None and not ctx.in_lambda:
            ctx.function.loops.append(node)
        self.walk(node.test, inner)
        for stmt in node.body:
            self.walk(stmt, inner)
        for stmt in node.orelse:
            self.walk(stmt, ctx)

    def visit_For(self, node: ast.For | ast.AsyncFor, ctx: _Ctx) -> None:
        self.walk(node.iter, ctx)
        self._bind(node.target, ctx)
        if ctx.function is not None and not ctx.in_lambda:
            ctx.function.loops.append(node)
        self.for_loops.append((node, ctx))
        reason = tailpos.IN_ASYNC_FOR if isinstance(node, ast.AsyncFor) else None
        inner = _Ctx(
            ctx.function,
            ctx.cls,
            (node, *ctx.loops),
            ctx.not_tail or reason,
            ctx.in_lambda,
            ctx.timeout_withs,
        )
        for stmt in node.body:
            self.walk(stmt, inner)
        outer = _Ctx(
            ctx.function, ctx.cls, ctx.loops, ctx.not_tail or reason, ctx.in_lambda, ctx.timeout_withs
        )
        for stmt in node.orelse:
            self.walk(stmt, outer)

    visit_AsyncFor = visit_For

    def visit_AsyncWith(self, node: ast.AsyncWith, ctx: _Ctx) -> None:
        for item in node.items:
            self.walk(item, ctx)
        inner = _Ctx(
            ctx.function,
            ctx.cls,
            ctx.loops,
            ctx.not_tail or tailpos.IN_WITH,
            ctx.in_lambda,
            (*node.items, *ctx.timeout_withs),
        )
        for stmt in node.body:
            self.walk(stmt, inner)

    # -- names, imports, assignments --------------------------------------------------
    def visit_Import(self, node: ast.Import, ctx: _Ctx) -> None:
        for alias in node.names:
            if alias.asname:
                self.imports.append((alias.asname, alias.name, 0))
                self._bind_name(alias.asname, ctx)
            else:
                first = alias.name.split(".", 1)[0]
                self.imports.append((first, first, 0))
                self._bind_name(first, ctx)

    def visit_ImportFrom(self, node: ast.ImportFrom, ctx: _Ctx) -> None:
        base = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                continue
            bound = alias.asname or alias.name
            self.imports.append((bound, f"{base}.{alias.name}" if base else alias.name, node.level))
            self._bind_name(bound, ctx)

    def visit_Assign(self, node: ast.Assign | ast.AnnAssign, ctx: _Ctx) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value = node.value
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == "_":
            self._walk_value(node, ctx)
            if isinstance(value, ast.Call) and value in self.call_info:
                self.call_info[value].statement = True
            return
        for target in targets:
            self._bind(target, ctx)
            text = dotted_name(target)
            if text is None or value is None:
                continue
            if type(value) in _LITERAL_TYPES:
                self.constructed.setdefault(text, _LITERAL_TYPES[type(value)])
            if isinstance(value, ast.Call):
                ctor = (dotted_name(value.func) or "").rsplit(".", 1)[-1]
                if ctor:
                    self.constructed.setdefault(text, ctor)
                if (
                    isinstance(target, ast.Name)
                    and ctx.function is not None
                    and not ctx.in_lambda
                    and all(isinstance(t, ast.Name) for t in targets)  # `self.t = t = Thread()`: kept
                ):
                    ctx.function.handles.setdefault(target.id, value)
            if (
                isinstance(value, ast.Attribute)
                and value.attr in shapes.METHODS
                and isinstance(target, ast.Name)
            ):
                self.aliases[(ctx.function, target.id)] = value
            if (
                ctx.function is None
                and isinstance(target, ast.Name)
                and isinstance(value, (ast.Subscript, ast.Call))
            ):
                self.handle_assigns.append((target.id, value))
        if isinstance(node, ast.AnnAssign):
            self._note_annotation(dotted_name(node.target) or "", node.annotation)
        self._walk_value(node, ctx)
        for target in targets:
            if not isinstance(target, ast.Name):
                self.walk(target, ctx)

    def _walk_value(self, node: ast.Assign | ast.AnnAssign, ctx: _Ctx) -> None:
        """The children of an assignment but its targets, in source order."""
        if isinstance(node, ast.AnnAssign):
            self.walk(node.annotation, ctx)
            if node.value is not None:
                self.walk(node.value, ctx)
        else:
            self.walk(node.value, ctx)

    visit_AnnAssign = visit_Assign

    def _note_annotation(self, text: str, annotation: ast.expr | None) -> None:
        if annotation is None or not text:
            return
        node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
        ctor = (dotted_name(node) or "").rsplit(".", 1)[-1]
        if ctor:
            self.constructed.setdefault(text, ctor)

    def _bind(self, target: ast.expr, ctx: _Ctx) -> None:
        if isinstance(target, ast.Name):
            self._bind_name(target.id, ctx)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind(elt, ctx)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, ctx)

    def _bind_name(self, name: str, ctx: _Ctx) -> None:
        if ctx.function is not None and not ctx.in_lambda:
            ctx.function.local_names.add(name)

    def visit_NamedExpr(self, node: ast.NamedExpr, ctx: _Ctx) -> None:
        self._bind(node.target, ctx)
        self.walk(node.value, ctx)

    def visit_withitem(self, node: ast.withitem, ctx: _Ctx) -> None:
        self.walk(node.context_expr, ctx)
        if node.optional_vars is not None:
            self._bind(node.optional_vars, ctx)

    def visit_Name(self, node: ast.Name, ctx: _Ctx) -> None:
        pass  # a leaf; how a handle's name is used is looked up when it matters (_uses)

    # -- calls -----------------------------------------------------------------------
    def visit_Return(self, node: ast.Return, ctx: _Ctx) -> None:
        if node.value is not None:
            self.walk(node.value, ctx)
            value = node.value.value if isinstance(node.value, ast.Await) else node.value
            if isinstance(value, ast.Call) and value in self.call_info:
                self.call_info[value].returned = True

    def visit_Expr(self, node: ast.Expr, ctx: _Ctx) -> None:
        self.walk(node.value, ctx)
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call) and value in self.call_info:
            self.call_info[value].statement = True

    def visit_Call(self, node: ast.Call, ctx: _Ctx) -> None:
        info = CallInfo(
            node=node,
            function=ctx.function,
            loops=ctx.loops,
            not_tail=ctx.not_tail,
            in_lambda=ctx.in_lambda,
            timeout_withs=ctx.timeout_withs,
            handler=ctx.handler,
        )
        self.calls.append(info)
        call_info = self.call_info
        call_info[node] = info
        if ctx.function is not None and not ctx.in_lambda:
            ctx.function.calls.append(info)
        walk = self.walk
        leaves = _LEAF_TYPES
        func = node.func
        if type(func) not in leaves:
            walk(func, ctx)
        for arg in node.args:
            if type(arg) not in leaves:
                walk(arg, ctx)
        for keyword in node.keywords:
            if type(keyword.value) not in leaves:
                walk(keyword.value, ctx)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            inner = arg.value if type(arg) is ast.Await else arg
            if type(inner) is ast.Call and inner in call_info:
                call_info[inner].wrapper = node


# --------------------------------------------------------------------------------------
# Names of the file
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
        #: The names of the file's defs: a callee is one of them, or no def of the file.
        self.def_names = frozenset(fn.name for fn in col.functions)

    def resolve(self, expr: ast.expr, scope: Function | None = None) -> str | None:
        """The dotted name an expression refers to through imports; None if not imported."""
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

    def is_self_module_expr(self, expr: ast.expr) -> bool:
        """``sys.modules[__name__]``, ``importlib.import_module(__name__)`` (or the name as text)."""
        if isinstance(expr, ast.Subscript):
            return self.resolve(expr.value) == "sys.modules" and self._names_module(expr.slice)
        if isinstance(expr, ast.Call):
            if self.resolve(expr.func) != "importlib.import_module":
                return False
            return len(expr.args) == 1 and not expr.keywords and self._names_module(expr.args[0])
        return False

    def _names_module(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id == "__name__"
        return isinstance(expr, ast.Constant) and expr.value == self.module

    def is_self_module(self, expr: ast.expr, scope: Function | None = None) -> bool:
        return self.resolve(expr, scope) == self.module or self.is_self_module_expr(expr)

    def callee(self, func: ast.expr, caller: Function | None) -> tuple[Function, Via] | None:
        """The file's function a callee expression names, and how."""
        col = self.col
        name = (
            func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        )
        if name not in self.def_names:
            return None  # most calls: no def of this file has the name they call
        if isinstance(func, ast.Name):
            scope = caller
            while scope is not None:
                if func.id in scope.children:
                    return scope.children[func.id], Via.BARE
                if func.id in scope.local_names:
                    return None  # a local variable, not a def of the file
                scope = scope.parent
            fn = col.module_funcs.get(func.id)
            return (fn, Via.BARE) if fn is not None else None
        if not isinstance(func, ast.Attribute):
            return None
        attr, value = func.attr, func.value
        if isinstance(value, ast.Name) and caller is not None:
            cls = caller.enclosing_class()
            if cls is not None and value.id in ("self", "cls", caller.first_param):
                fn = cls.methods.get(attr)
                return (fn, Via.SELF) if fn is not None else None
        if self.is_self_module(value, caller):
            fn = col.module_funcs.get(attr)
            return (fn, Via.MODULE) if fn is not None else None
        if isinstance(value, ast.Attribute) and self.is_self_module(value.value, caller):
            info = col.top_classes.get(value.attr)
            fn = info.methods.get(attr) if info is not None else None
            return (fn, Via.MODULE) if fn is not None else None
        if isinstance(value, ast.Name) and value.id in col.top_classes:
            if value.id not in self.bindings and not (caller and caller.binds(value.id)):
                fn = col.top_classes[value.id].methods.get(attr)
                return (fn, Via.CLASS) if fn is not None else None
        return None


# --------------------------------------------------------------------------------------
# Waits
# --------------------------------------------------------------------------------------


class _Waits:
    """Which calls and iterations are waits, and whether they can time out."""

    def __init__(self, col: _Collector, resolver: _Resolver, extra: Iterable[str]) -> None:
        self.col = col
        self.resolver = resolver
        self.extra = frozenset(extra)
        #: Every name a wait can be called by: methods, and functions' last components.
        self.interesting = frozenset(shapes.METHODS) | {n.rsplit(".", 1)[-1] for n in shapes.FUNCTIONS}
        self.interesting |= {n.rsplit(".", 1)[-1] for n in shapes.TIMEOUT_WRAPPERS}
        self.interesting |= {
            bound for bound, target in resolver.bindings.items() if target in shapes.FUNCTIONS
        }
        self.timed_receivers: set[str] = set()
        self.default_timeout = False
        #: The first line of a readiness check in each loop.
        self.readiness_lines: dict[LoopNode, int] = {}
        self.puts: dict[tuple[Function | None, str], list[int]] = {}
        #: The local name each call's value is bound to (`sock = create_connection(...)`).
        self.assigned_to = {call: name for fn in col.functions for name, call in fn.handles.items()}
        for info in col.calls:
            self._note(info)

    def _note(self, info: CallInfo) -> None:
        """Socket timeouts, readiness checks and ``put`` calls, seen anywhere in the file."""
        func = info.node.func
        last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if last not in _NOTED:
            return
        resolved = self.resolver.resolve(func, info.function) if last in _RESOLVED_NOTES else None
        if (
            resolved == "socket.setdefaulttimeout"
            and info.node.args
            and not _is_constant(info.node.args[0], None)
        ):
            self.default_timeout = True
        if resolved == "socket.create_connection":
            given = _argument(info.node, ("timeout",), 1)
            if given is not None and not _is_constant(given, None) and info.node in self.assigned_to:
                self.timed_receivers.add(self.assigned_to[info.node])
        if isinstance(func, ast.Attribute):
            receiver = dotted_name(func.value)
            if func.attr in shapes.TIMEOUT_SETTERS and receiver and info.node.args:
                value = info.node.args[0]
                if func.attr == "settimeout" and not _is_constant(value, None):
                    self.timed_receivers.add(receiver)
                if func.attr == "setblocking" and _is_constant(value, False, 0):
                    self.timed_receivers.add(receiver)
            if func.attr in ("put", "put_nowait") and receiver:
                self.puts.setdefault((info.function, receiver), []).append(info.node.lineno)
        if info.loops and self._is_readiness(info):
            loop = info.loops[0]
            line = info.node.lineno
            self.readiness_lines[loop] = min(line, self.readiness_lines.get(loop, line))

    def _is_readiness(self, info: CallInfo) -> bool:
        func = info.node.func
        resolved = self.resolver.resolve(func, info.function)
        if resolved in shapes.READINESS:
            return True
        return isinstance(func, ast.Attribute) and func.attr in ("select", "poll") and resolved is None

    # -- calls -------------------------------------------------------------------------
    def classify(self, info: CallInfo) -> Wait | None:
        call = info.node
        func = call.func
        last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if last not in self.interesting and (info.function, last) not in self.col.aliases and not self.extra:
            return None  # no shape has this name: no need to resolve it
        resolved = self.resolver.resolve(func, info.function)
        text = dotted_name(func)
        label = f"{text or short(func)}()"
        if self.extra and (resolved in self.extra or text in self.extra):
            configured = _timeout(call, shapes.Timeout(("timeout",)))
            return self._wait(info, WaitKind.RECEIVE, configured, label, text or "", None)
        shape = shapes.FUNCTIONS.get(resolved or "")
        if shape is not None:
            return self._wait(info, shape.kind, _timeout(call, shape.timeout), label, shape.name, None)
        receiver: ast.expr | None = None
        name = ""
        aliased = False
        if isinstance(func, ast.Attribute):
            receiver, name = func.value, func.attr
        elif isinstance(func, ast.Name) and (info.function, func.id) in self.col.aliases:
            alias = self.col.aliases[(info.function, func.id)]
            receiver, name, aliased = alias.value, alias.attr, True
            label = f"{func.id}() = {short(alias)}()"
        if receiver is None or (isinstance(receiver, ast.Name) and resolved is not None):
            return None  # ``os.read(fd, n)``: a module's function, not a method of an object
        shape = shapes.METHODS.get(name)
        if shape is None or any(isinstance(a, ast.Starred) for a in call.args):
            return None
        receiver_text = dotted_name(receiver) or ""
        words = shapes.name_words(last_name(receiver))
        if shape.receivers is not None and not words & shape.receivers:
            return None
        if words & shape.not_receivers:
            return None
        if shape.max_args is not None and len(call.args) + len(call.keywords) > shape.max_args:
            return None
        if (
            aliased
            and name == "get"
            and not (
                words & shapes.QUEUE_WORDS
                or self.col.constructed.get(receiver_text, "") in shapes.QUEUE_CONSTRUCTORS
            )
        ):
            return None  # `sourceget = source.get`: a tokenizer's get, not a queue's
        wait: Default | None
        if shape.kind is WaitKind.POLL:
            wait = Default.POLL
        elif name == "get":
            wait = self._queue_get(call, receiver_text, words)
        elif name == "select" and len(call.args) >= 3:
            wait = _timeout(call, shapes.Timeout(("timeout",), 3))  # select.select's signature
        elif name in ("select", "poll") and call.args and not _timeout_like(call.args[0]):
            return None
        elif name == "join" and not (
            any(k.arg == "timeout" for k in call.keywords)
            or (
                call.args
                and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, (int, float))
            )
        ):
            return None  # `", ".join(parts)`, or a join with no timeout: not a wait of a loop
        else:
            wait = _timeout(call, shape.timeout)
        if wait is None:
            return None
        if shape.socket_like and wait is Default.FOREVER:
            ready = self.readiness_lines.get(info.loops[0]) if info.loops else None
            if ready is not None and ready <= call.lineno:
                return None  # a read after readiness: the readiness check is the wait
            if self.default_timeout or receiver_text in self.timed_receivers:
                wait = Default.TIMEOUT
        return self._wait(info, shape.kind, wait, label, name, receiver_text)

    def _queue_get(self, call: ast.Call, receiver: str, words: frozenset[str]) -> Default | None:
        keywords = {k.arg for k in call.keywords}
        if None in keywords or keywords - {"block", "timeout"} or len(call.args) > 2:
            return None
        block = (
            call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "block"), None)
        )
        if block is not None:
            if not _is_constant(block, True, False, 0, 1):
                return None  # `d.get(key)`: not a queue
            if _is_constant(block, False, 0):
                return Default.POLL
        elif not call.args and not call.keywords:
            ctor = self.col.constructed.get(receiver, "")
            if ctor in shapes.NOT_QUEUE_CONSTRUCTORS:
                return None
            if ctor[:1].isupper() and ctor not in _TYPE_WRAPPERS and not _queue_class(ctor):
                return None  # `self.count = AtomicInteger()`: a known class, and no queue
            if ctor not in shapes.QUEUE_CONSTRUCTORS and words & shapes.NOT_QUEUE_WORDS:
                return None
        return _timeout(call, shapes.Timeout(("timeout",), 1))

    def _wait(
        self, info: CallInfo, kind: WaitKind, wait: Default, label: str, shape: str, receiver: str | None
    ) -> Wait:
        if wait is Default.FOREVER and self._wrapped_with_timeout(info):
            wait = Default.TIMEOUT
        if wait is Default.POLL:
            kind = WaitKind.POLL
        return Wait(
            node=info.node,
            function=None if info.in_lambda else info.function,
            kind=kind,
            forever=wait is Default.FOREVER,
            label=label,
            shape=shape,
            receiver=receiver,
            loops=info.loops,
        )

    def _wrapped_with_timeout(self, info: CallInfo) -> bool:
        wrapper = info.wrapper
        if wrapper is not None:
            spec = shapes.TIMEOUT_WRAPPERS.get(self.resolver.resolve(wrapper.func, info.function) or "")
            if spec is not None and _timeout(wrapper, spec) is not Default.FOREVER:
                return True
        for item in info.timeout_withs:
            ctx = item.context_expr
            if isinstance(ctx, ast.Call) and self.resolver.resolve(ctx.func) in shapes.TIMEOUT_CONTEXTS:
                given = ctx.args[0] if ctx.args else next((k.value for k in ctx.keywords), None)
                if given is not None and not _is_constant(given, None):
                    return True
        return False

    # -- iteration ---------------------------------------------------------------------
    def iteration(self, node: ast.For | ast.AsyncFor, ctx: _Ctx) -> Wait | None:
        """``for msg in consumer``, ``async for m in ws``, ``for x in iter(q.get, None)``."""
        source = node.iter
        label = f"{'async for' if isinstance(node, ast.AsyncFor) else 'for'} ... in {short(source)}"
        if isinstance(source, ast.Call):
            func = source.func
            if isinstance(func, ast.Name) and func.id == "iter" and len(source.args) == 2:
                inner = source.args[0]
                if isinstance(inner, ast.Attribute) and inner.attr in shapes.METHODS:
                    shape = shapes.METHODS[inner.attr]
                    if shape.kind is WaitKind.RECEIVE:
                        return self._iteration(node, ctx, label, dotted_name(inner.value))
                return None
            if isinstance(func, ast.Attribute) and func.attr in shapes.ITERATION_METHODS:
                if self.resolver.resolve(func, ctx.function) is None:
                    return self._iteration(node, ctx, label, dotted_name(func.value))
            return None
        if isinstance(source, (ast.Name, ast.Attribute)):
            if shapes.last_word(last_name(source)) not in shapes.ITERATION_WORDS:
                return None
            text = dotted_name(source)
            if self.col.constructed.get(text or "") in shapes.COLLECTION_CONSTRUCTORS:
                return None  # `self.PIPE = os.pipe()`: a pair of descriptors, not a stream
            if isinstance(source, ast.Attribute) and shapes.name_words(last_name(source.value)) & (
                shapes.DATA_OWNER_WORDS
            ):
                return None  # `member_metadata.subscription`: data about a source
            return self._iteration(node, ctx, label, text)
        return None

    def _iteration(self, node: ast.For | ast.AsyncFor, ctx: _Ctx, label: str, receiver: str | None) -> Wait:
        timed = receiver is not None and (receiver in self.timed_receivers or self.default_timeout)
        return Wait(
            node=node,
            function=None if ctx.in_lambda else ctx.function,
            kind=WaitKind.RECEIVE,
            forever=not timed,
            label=label,
            shape="iteration",
            receiver=receiver,
            loops=(node, *ctx.loops),
        )


#: Annotations that wrap the type that matters: ``Optional[Queue]`` names no class.
_TYPE_WRAPPERS = frozenset({"Optional", "Union", "Final", "ClassVar", "Annotated", "Any"})


def _in_test(fn: Function, module: str) -> bool:
    """A test as pytest collects them (``test*`` in ``test_*.py`` or ``*_test.py``), or a
    function nested in one: it runs once, to its end, and nobody upgrades it in place.
    (A loop a test starts in a thread is another function's, and is still checked.)"""
    last = module.rsplit(".", 1)[-1]
    if not (last.startswith("test_") or last.endswith("_test")):
        return False
    outer = fn
    while outer.parent is not None:
        outer = outer.parent
    return outer.node.name.startswith("test")


def _spawned(info: CallInfo, resolver: _Resolver) -> bool:
    """``create_task(self._reconnect())``: the call is the argument of a spawn."""
    wrapper = info.wrapper
    if wrapper is None:
        return False
    func = wrapper.func
    if isinstance(func, ast.Attribute) and func.attr in shapes.SPAWN_METHODS:
        return True
    return (resolver.resolve(func, info.function) or "") in shapes.SPAWN_FUNCTIONS


def _queue_class(ctor: str) -> bool:
    """A constructor that makes a queue: ``Queue``, ``JoinableQueue``, ``Inbox``, ``MyChannel``."""
    return ctor in shapes.QUEUE_CONSTRUCTORS or bool(
        shapes.name_words(ctor) & (shapes.QUEUE_WORDS | {"queue"})
    )


def _argument(call: ast.Call, keywords: tuple[str, ...], position: int | None) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg in keywords:
            return kw.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


def _timeout(call: ast.Call, spec: shapes.Timeout) -> Default:
    """How long the call may block, from its timeout argument."""
    given = _argument(call, spec.keywords, spec.position)
    if given is None:
        # An argument named for a timeout is one, wherever the shape expects it:
        # `bus.recv(self.timeout)` (python-can's recv takes the timeout first).
        if any("timeout" in shapes.name_words(last_name(arg)) for arg in call.args):
            return Default.TIMEOUT
        return spec.default
    if _is_constant(given, None):
        return Default.FOREVER
    if isinstance(given, ast.Constant) and isinstance(given.value, (int, float)) and given.value == 0:
        return spec.zero
    return Default.TIMEOUT


def _timeout_like(expr: ast.expr) -> bool:
    """A positional argument that can be a timeout (not a string or a container)."""
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, (int, float)) or expr.value is None
    return not isinstance(expr, (ast.JoinedStr, ast.List, ast.Tuple, ast.Dict, ast.Set))


# --------------------------------------------------------------------------------------
# Loop sites
# --------------------------------------------------------------------------------------


def _condition(node: LoopNode, iteration: Wait | None) -> Condition:
    if not isinstance(node, ast.While):
        if iteration is not None:
            return Condition.ITERATION
        return Condition.FOREVER if _counting(node) else Condition.BOUNDED
    test = node.test
    if isinstance(test, ast.Constant):
        return Condition.FOREVER if test.value else Condition.BOUNDED
    for sub in ast.walk(test):
        if isinstance(sub, ast.Compare) and any(
            isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in sub.ops
        ):
            return Condition.BOUNDED
        if isinstance(sub, ast.Call) and last_name(sub.func) in ("len", "empty", "qsize"):
            return Condition.BOUNDED  # runs while there is something left: a drain
    return Condition.FLAG


def _own_statements(node: LoopNode) -> Iterator[ast.AST]:
    """Every node inside the loop's body, nested defs, classes and lambdas aside."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(item))


def _exits(node: LoopNode) -> list[ast.stmt]:
    """``break`` statements of this loop and ``return`` statements inside it."""
    out: list[ast.stmt] = []
    stack: list[tuple[ast.stmt, bool]] = [(s, True) for s in node.body]
    while stack:  # statements only: no expression holds a `return` or a `break`
        item, own = stack.pop()
        if isinstance(item, ast.Return) or (own and isinstance(item, ast.Break)):
            out.append(item)
        if isinstance(item, (ast.While, ast.For, ast.AsyncFor)):
            stack.extend((child, False) for child in item.body)  # a `break` there leaves the inner loop
            stack.extend((child, own) for child in item.orelse)  # `for ...: ... else: break` leaves this one
            continue
        for suite, _ in tailpos.suites(item):  # none for a def or a class: a new frame
            stack.extend((child, own) for child in suite)
    return out


def _in_try_body(loop: LoopNode, target: ast.stmt) -> bool:
    """Whether ``target`` sits in the protected suite of a ``try`` inside ``loop``."""
    for sub in _own_statements(loop):
        if isinstance(sub, (ast.Try, ast.TryStar)):
            for stmt in sub.body:
                if any(n is target for n in ast.walk(stmt)):
                    return True
    return False


class _Loops:
    """Decides which loops are loop sites, following helper calls for their waits."""

    def __init__(self, col: _Collector, resolver: _Resolver, waits: _Waits, runtime: bool) -> None:
        self.col = col
        self.resolver = resolver
        self.waits = waits
        self.runtime = runtime
        self.by_function: dict[Function | None, list[Wait]] = {}
        self.helper_cache: dict[Function, list[WaitPath]] = {}

    def add(self, wait: Wait) -> None:
        self.by_function.setdefault(wait.function, []).append(wait)

    def helper_waits(
        self, fn: Function, depth: int = 0, seen: frozenset[Function] = frozenset()
    ) -> list[WaitPath]:
        """Waits a call to ``fn`` may block in: its own (outside its possibly endless
        loops, which are loop sites of their own), and its helpers', transitively."""
        if fn in self.helper_cache:
            return self.helper_cache[fn]
        out: list[WaitPath] = []
        endless = {loop for loop in fn.loops if _condition(loop, None) is not Condition.BOUNDED}
        for wait in self.by_function.get(fn, []):
            if not endless.intersection(wait.loops):
                out.append(WaitPath(wait))
        if depth < HELPER_DEPTH:
            for info in fn.calls:
                if endless.intersection(info.loops) or info.in_lambda:
                    continue
                found = self.resolver.callee(info.node.func, fn)
                if found is None or found[0] in seen or found[0] is fn:
                    continue
                for path in self.helper_waits(found[0], depth + 1, seen | {fn}):
                    out.append(WaitPath(path.wait, (f"{short(info.node.func)}()", *path.via)))
        if not seen:
            self.helper_cache[fn] = out
        return out

    def loop_waits(self, fn: Function, loop: LoopNode) -> list[WaitPath]:
        out = [WaitPath(w) for w in self.by_function.get(fn, []) if loop in w.loops]
        for info in fn.calls:
            if loop not in info.loops or info.in_lambda:
                continue
            found = self.resolver.callee(info.node.func, fn)
            if found is None or found[0] is fn:
                continue
            for path in self.helper_waits(found[0], 1, frozenset({fn})):
                out.append(WaitPath(path.wait, (f"{short(info.node.func)}()", *path.via)))
        return out

    def site(self, fn: Function, loop: LoopNode, iteration: Wait | None) -> LoopSite | None:
        condition = _condition(loop, iteration)
        if condition is Condition.BOUNDED or _until_complete(loop):
            return None
        paths = self.loop_waits(fn, loop)
        if iteration is not None:
            paths.insert(0, WaitPath(iteration))
        kinds = {p.wait.kind for p in paths}
        exits = _exits(loop)
        if any(isinstance(e, ast.Return) and _result(e.value, fn, self.resolver) for e in exits):
            return None  # returns what it waited for: one receive, not a process loop
        if any(_attempt(loop, e) for e in exits):
            return None  # `try: attempt(); break`: it ends once an attempt succeeds
        if (exits or (condition is Condition.FLAG and not _flag_test(loop))) and _returns_result_after(
            fn, loop
        ):
            return None  # stops with what it read, and the function returns it
        if not paths:
            # No wait in sight (plain Python: it may be in another module): only a loop
            # that says it runs for good counts: `while True` with no way out, or a
            # run/stop flag test. Under the runtime every wait is a visible `receive()`.
            if self.runtime:
                return None
            endless = _endless(loop, exits, fn) and not _ended_by_exception(loop, fn)
            if (endless or _flag_test(loop)) and not _pure_generator(loop, fn):
                return LoopSite(node=loop, function=fn, condition=condition, waits=[])
            return None
        if isinstance(loop, ast.While) and any(
            p.wait.kind is WaitKind.POLL and _inside(p.wait.node, loop.test) for p in paths
        ):
            return None  # `while poll(): take()`: it runs while something is there, then ends
        if isinstance(loop, ast.While) and any(
            not p.wait.forever and not p.via and _unawaited(loop.test) is p.wait.node for p in paths
        ):
            return None  # `while event.wait(timeout=5):`: it ends the first time a wait times out
        if any(not p.wait.forever and not p.via for p in paths) and _ended_by_timeout(loop, fn):
            return None  # `try: while True: q.get(timeout=1) ... except Empty:`: ends when idle
        if kinds == {WaitKind.POLL} and (
            exits or _only_waits(loop) or not (_spins(loop) or _flag_test(loop))
        ):
            return None  # a drain loop: it polls until the queue is empty, then ends
        # (`while not self._stopping: self.poll(); ...` polls until told to stop: a loop.)
        if _exits_once_ready(loop, paths):
            return None  # `ready = select(...); if ready: return`: it waits for one event
        if _nonblocking_drain(loop, exits):
            return None  # `except BlockingIOError: break`: it reads what is there, then ends
        if WaitKind.RECEIVE not in kinds and WaitKind.LIBRARY not in kinds and _only_waits(loop):
            return None  # waits for a condition another thread sets: a join, not a loop
        receives = [p for p in paths if p.wait.kind is WaitKind.RECEIVE and not p.via]
        if receives and all(self._finite(fn, loop, p.wait) for p in receives) and len(receives) == len(paths):
            return None  # reads back what this function itself queued: a finite drain
        return LoopSite(node=loop, function=fn, condition=condition, waits=paths)

    def _finite(self, fn: Function, loop: LoopNode, wait: Wait) -> bool:
        if wait.receiver is None:
            return False
        lines = self.waits.puts.get((fn, wait.receiver), [])
        return any(line < loop.lineno for line in lines)


def _is_call(expr: ast.expr) -> bool:
    return isinstance(_unawaited(expr), ast.Call)


def _result(value: ast.expr | None, fn: Function, resolver: _Resolver) -> bool:
    """A returned value that ends the loop with a result: anything but ``None`` and a
    re-entry into a function of the file (the runtime's upgrade path)."""
    if value is None or _is_constant(value, None):
        return False
    inner = _unawaited(value)
    if isinstance(inner, ast.Call):
        return resolver.callee(inner.func, fn) is None
    return True


def _attempt(loop: LoopNode, exit: ast.stmt) -> bool:
    """A ``break``/``return`` right in a ``try`` suite (or its ``else``) of the loop:
    ``try: attempt(); break``."""
    for sub in _own_statements(loop):
        if isinstance(sub, (ast.Try, ast.TryStar)) and any(stmt is exit for stmt in (*sub.body, *sub.orelse)):
            return True
    return False


#: Words that say a loop runs until one thing is complete (a frame, a handshake, a deadline).
COMPLETION_WORDS = frozenset(
    {"fin", "done", "complete", "completed", "finished", "ready", "enough", "handshake"}
)
#: Words of a loop test that says the loop runs while work is left: ``while pending:``,
#: ``while port.in_waiting:`` (bytes waiting to be read: it drains them, then ends).
LEFT_WORDS = frozenset({"remaining", "pending", "todo", "left", "waiting", "available"})


def _completion(expr: ast.AST, words: frozenset[str] = COMPLETION_WORDS) -> bool:
    for sub in ast.walk(expr):
        name = sub.attr if isinstance(sub, ast.Attribute) else sub.id if isinstance(sub, ast.Name) else None
        if name is not None and shapes.name_words(name) & words:
            return True
    return False


def _until_complete(loop: LoopNode) -> bool:
    """``while not frame.fin``, ``if sasl.complete: break``, ``sock.settimeout(deadline...)``,
    ``if time.monotonic() >= deadline: raise``: the loop waits for one thing to complete,
    or until a deadline, then ends."""
    if (
        isinstance(loop, ast.While)
        and not _flag_test(loop)
        and _completion(loop.test, COMPLETION_WORDS | LEFT_WORDS)
    ):
        return True
    if isinstance(loop, ast.While) and _deadline(loop.test, loop):
        return True  # `while time.monotonic() < deadline:`
    if isinstance(loop, ast.While) and _until_set(loop.test):
        return True  # `while status is None: status = poll()`
    # `while self._workers: w = self._workers.pop()`: it ends when what it tests is empty
    tested = (
        ast.unparse(loop.test)
        if isinstance(loop, ast.While) and isinstance(loop.test, (ast.Name, ast.Attribute))
        else None
    )
    on_error: set[int] | None = None  # what the loop's `except` suites hold, found when needed
    for sub in _own_statements(loop):
        if isinstance(sub, ast.If):
            # `if fut.done(): break` waits for one thing; the same test in an `except`
            # suite is how a failure leaves (aio-pika's fail-fast), not what the loop waits for.
            if _completion(sub.test) and any(isinstance(s, (ast.Break, ast.Return)) for s in sub.body):
                if on_error is None:
                    on_error = {
                        id(inner)
                        for handler in _own_statements(loop)
                        if isinstance(handler, ast.ExceptHandler)
                        for inner in ast.walk(handler)
                    }
                if id(sub) not in on_error:
                    return True
            if _exit_check(sub) and _deadline(sub.test, loop):
                return True  # `if time.monotonic() >= deadline: raise TimeoutError`
        elif isinstance(sub, ast.Call):
            name = last_name(sub.func)
            if name == "settimeout" and sub.args:
                if any(
                    "deadline" in shapes.name_words(last_name(a))
                    for a in ast.walk(sub.args[0])
                    if isinstance(a, ast.expr)
                ):
                    return True  # `sock.settimeout(deadline.timeout())`: one exchange against a deadline
            if (
                tested is not None
                and isinstance(sub.func, ast.Attribute)
                and name.startswith("pop")
                and ast.unparse(sub.func.value) == tested
            ):
                return True
    return False


#: What a non-blocking read raises when nothing is left to read.
WOULD_BLOCK = frozenset({"BlockingIOError", "SSLWantReadError", "WouldBlock"})


def _nonblocking_drain(loop: LoopNode, exits: list[ast.stmt]) -> bool:
    """``try: data = sock.recv(n) except BlockingIOError: break``: the socket is
    non-blocking, and the loop leaves when it has read all there was."""
    leaving = {id(e) for e in exits}
    for sub in _own_statements(loop):
        if isinstance(sub, (ast.Try, ast.TryStar)):
            for handler in sub.handlers:
                if handler.type is None:
                    continue
                if any(last_name(n) in WOULD_BLOCK for n in _caught(handler.type)) and any(
                    id(stmt) in leaving for stmt in handler.body
                ):
                    return True
    return False


#: Event-loop methods that schedule a callback to run on their own.
_SCHEDULING = frozenset({"call_soon", "call_soon_threadsafe", "call_later", "call_at"})


def _stop_scheduled(wait: Wait) -> bool:
    """``loop.call_soon(loop.stop); loop.run_forever()``: it runs until the stop it
    scheduled first (one pass of the event loop)."""
    if wait.function is None or wait.receiver is None:
        return False
    return any(
        info.node.lineno <= getattr(wait.node, "lineno", 0)
        and last_name(info.node.func) in _SCHEDULING  # not `add_signal_handler(SIGINT, loop.stop)`
        and any(
            isinstance(arg, ast.Attribute) and arg.attr == "stop" and dotted_name(arg.value) == wait.receiver
            for arg in info.node.args
        )
        for info in wait.function.calls
    )


def _exits_once_ready(loop: LoopNode, paths: list[WaitPath]) -> bool:
    """``readable = select(sock, timeout=0.5); if readable: return``: the loop leaves as
    soon as its own wait delivers, so it waits for one event. (``if not data: break``
    leaves at the end of a stream, and ``if msg == 'quit': break`` on one message: both
    are loops that handle what they receive.)"""
    # (an event's `wait(t)` is how a loop sleeps until told to stop: `if stopped: break`)
    waited = {id(p.wait.node) for p in paths if not p.via and p.wait.kind is not WaitKind.TIMER}
    got: set[str] = set()  # names bound to what a wait of this loop returned
    for sub in _own_statements(loop):
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
            if id(_unawaited(sub.value)) in waited:
                got.add(sub.targets[0].id)
    return bool(got) and any(
        isinstance(sub, ast.If)
        and isinstance(sub.test, ast.Name)
        and sub.test.id in got
        and not sub.orelse
        and isinstance(sub.body[-1], (ast.Return, ast.Break))
        for sub in _own_statements(loop)
    )


def _until_set(test: ast.expr) -> bool:
    """``while status is None:``, ``while self.response is None:``: the loop runs until
    one value arrives (a child's exit status, a reply set by a callback), then ends. A
    loop for the life of a process tests a flag or a queue, not for a missing value."""
    return (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Is)
        and dotted_name(test.left) is not None
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    )


def _exit_check(stmt: ast.If) -> bool:
    """``if <test>: ...; break`` (or ``return``/``raise``), with no ``else``: what runs
    there runs once, on the way out."""
    return not stmt.orelse and isinstance(stmt.body[-1], (ast.Break, ast.Return, ast.Raise))


#: Calls that read a clock (``time.monotonic()``, ``loop.time()``).
CLOCK_CALLS = frozenset({"time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"})
#: Words of a name that says a deadline passed: ``timer.expired``.
DEADLINE_WORDS = frozenset({"deadline", "expired", "expiry"})
#: Words of an attribute that holds a length of time, not a point in it.
DURATION_WORDS = frozenset({"timeout", "limit", "max", "duration", "period"})


def _deadline(test: ast.expr, loop: LoopNode) -> bool:
    """A test against a deadline fixed before the loop: ``time.monotonic() >= deadline``,
    ``time.time() - start > limit``, ``not timer.expired``. A comparison with anything the
    loop (or another thread) may move -- ``time.time() - self.last_seen > T``, a peer's
    liveness -- is no deadline. (What the loop assigns is looked up only for a test that
    names a deadline or reads a clock: most loops have neither.)"""
    rebound: set[str] | None = None
    for sub in ast.walk(test):
        name = sub.attr if isinstance(sub, ast.Attribute) else sub.id if isinstance(sub, ast.Name) else None
        if name is not None and shapes.name_words(name) & DEADLINE_WORDS:
            base = sub
            while isinstance(base, ast.Attribute):
                base = base.value
            rebound = _rebound(loop) if rebound is None else rebound
            if not (isinstance(base, ast.Name) and base.id in rebound):
                return True
        if isinstance(sub, ast.Compare) and _reads_clock(sub):
            rebound = _rebound(loop) if rebound is None else rebound
            if _against_clock([sub.left, *sub.comparators], rebound):
                return True
    return False


def _reads_clock(compare: ast.Compare) -> bool:
    return any(isinstance(n, ast.Call) and last_name(n.func) in CLOCK_CALLS for n in ast.walk(compare))


def _against_clock(operands: list[ast.expr], rebound: set[str]) -> bool:
    clock = False
    for operand in operands:
        stack: list[ast.expr] = [operand]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Call):
                if node.args or node.keywords or last_name(node.func) not in CLOCK_CALLS:
                    return False
                clock = True
            elif isinstance(node, ast.BinOp):
                stack += [node.left, node.right]
            elif isinstance(node, ast.UnaryOp):
                stack.append(node.operand)
            elif isinstance(node, ast.Name):
                if node.id in rebound:
                    return False
            elif isinstance(node, ast.Attribute) and shapes.name_words(node.attr) & DURATION_WORDS:
                continue  # `start + self.clear_to_send_timeout`: a setting, not a moving time
            elif not isinstance(node, ast.Constant):
                return False  # another attribute (`self.last_seen`), a subscript: it may move
    return clock


def _rebound(loop: LoopNode) -> set[str]:
    """The names the loop assigns."""
    return {sub.id for sub in ast.walk(loop) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}


def _spins(loop: LoopNode) -> bool:
    """A polling loop that catches the poll's miss inside the loop and goes on (a busy wait)."""
    for sub in _own_statements(loop):
        if isinstance(sub, (ast.Try, ast.TryStar)):
            for handler in sub.handlers:
                if not any(isinstance(s, (ast.Break, ast.Return, ast.Raise)) for s in handler.body):
                    return True
    return False


def _pure_generator(loop: LoopNode, fn: Function) -> bool:
    """An endless generator that computes values (no wait, no call through ``self``)."""
    if not fn.is_generator:
        return False
    for sub in _own_statements(loop):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            root = sub.func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in ("self", "cls"):
                return False
    return True


def _returns_result_after(fn: Function, loop: LoopNode) -> bool:
    """The function returns a value after the loop: the loop computes it, then stops."""
    end = getattr(loop, "end_lineno", loop.lineno)
    for node in ast.walk(fn.node):
        if isinstance(node, ast.Return) and node.lineno > end and node.value is not None:
            name = last_name(node.value)
            if _is_constant(node.value, None, True, False) or name.isupper():
                continue  # a status, not what the loop read: `return STOP_CONNECTING`
            if isinstance(node.value, (ast.Name, ast.Attribute)) and shapes.name_words(name) & STATUS_WORDS:
                continue  # `return retcode`
            return True
    return False


#: Words of names that hold an exit status, not data.
STATUS_WORDS = frozenset({"rc", "code", "retcode", "exitcode", "status", "ret"})


#: Words of a method whose answer is a run/stop flag (``is_active()`` rather asks whether
#: work is left, as ``graphlib``'s sorter does).
METHOD_FLAG_WORDS = shapes.FLAG_WORDS - {"active"}


def _flag_test(loop: LoopNode) -> bool:
    """``while self.running``, ``while not self._stopped.is_set()``,
    ``while self.should_keep_running()``: every name the test reads (the last attribute
    of each chain; of a method called on it, the object -- or the method, called on
    ``self`` or by name) says run or stop.
    ``while self.fifo and self.connected`` also runs out of work: not a flag loop."""
    if not isinstance(loop, ast.While):
        return False
    inner = {id(sub.value) for sub in ast.walk(loop.test) if isinstance(sub, ast.Attribute)}
    called = {id(sub.func) for sub in ast.walk(loop.test) if isinstance(sub, ast.Call)}
    asked = {
        id(sub.func)
        for sub in ast.walk(loop.test)
        if isinstance(sub, ast.Call) and not (sub.args or sub.keywords)
    }
    leaves: list[str] = []
    for sub in ast.walk(loop.test):
        if id(sub) in called or id(sub) in inner:
            if id(sub) in called and isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute):
                leaves.append(sub.value.attr)  # `self._stopped.is_set()`: the flag is `_stopped`
            elif id(sub) in asked and isinstance(sub, (ast.Attribute, ast.Name)):
                # `self.should_keep_running()`, `keep_running()`: a question the name asks
                leaves.append(sub.attr if isinstance(sub, ast.Attribute) else sub.id)
                if not shapes.name_words(leaves[-1]) & METHOD_FLAG_WORDS:
                    return False  # `self.is_active()`: has it work left? not a stop flag
            continue
        if isinstance(sub, ast.Attribute):
            leaves.append(sub.attr)
        elif isinstance(sub, ast.Name):
            leaves.append(sub.id)
    if not leaves or not all(shapes.name_words(name) & shapes.FLAG_WORDS for name in leaves):
        return False
    # `while run: ... run.ops ...`: a name the loop uses as an object (pymongo's current
    # bulk run) is the data it walks, not a run flag, which is only ever tested.
    tested = {
        sub.id
        for sub in ast.walk(loop.test)
        if isinstance(sub, ast.Name) and id(sub) not in inner and id(sub) not in called
    }
    return not tested or not any(
        isinstance(sub, (ast.Attribute, ast.Subscript))
        and isinstance(sub.value, ast.Name)
        and sub.value.id in tested
        for sub in _own_statements(loop)
    )


def _endless(loop: LoopNode, exits: list[ast.stmt], fn: Function) -> bool:
    """``while True`` (or ``for _ in count()``) with no ``break``, ``return`` or ``raise``,
    that calls something each time (an endless ``yield`` counter is no process)."""
    if exits or any(isinstance(sub, ast.Raise) for sub in _own_statements(loop)):
        return False
    if any(
        isinstance(sub, ast.Call) and last_name(sub.func) in ("pop", "popitem", "popleft", "next", "heappop")
        for sub in _own_statements(loop)
    ):
        return False  # `while True: d.popitem()`: ends with KeyError/StopIteration, a drain
    if isinstance(loop, ast.While):
        if not (isinstance(loop.test, ast.Constant) and loop.test.value):
            return False
    elif not _counting(loop):
        return False
    return any(isinstance(sub, ast.Call) for sub in _own_statements(loop))


#: Exceptions a handler catches to keep a process alive, not to end one loop.
BROAD_EXCEPTIONS = frozenset(
    {"BaseException", "Exception", "KeyboardInterrupt", "SystemExit", "CancelledError", "GeneratorExit"}
)


def _caught(kind: ast.expr) -> list[ast.expr]:
    """The exceptions an ``except`` clause names: ``(A, B)`` -> ``[A, B]``."""
    return kind.elts if isinstance(kind, ast.Tuple) else [kind]


def _caught_around(loop: LoopNode, fn: Function) -> Iterator[ast.expr]:
    """What the ``try`` statements whose body holds the loop catch (``except:`` aside)."""
    for node in ast.walk(fn.node):
        if isinstance(node, (ast.Try, ast.TryStar)) and any(stmt is loop for stmt in node.body):
            for handler in node.handlers:
                if handler.type is not None:
                    yield handler.type


def _ended_by_exception(loop: LoopNode, fn: Function) -> bool:
    """``try: while 1: y = g.send(x) ... except StopIteration: pass``: the loop is the
    body of a ``try`` that catches a particular exception, which is how it ends."""
    return any(
        last_name(name) not in BROAD_EXCEPTIONS for kind in _caught_around(loop, fn) for name in _caught(kind)
    )


def _ended_by_timeout(loop: LoopNode, fn: Function) -> bool:
    """The loop is the body of a ``try`` that catches a timeout (``asyncio.TimeoutError``,
    ``queue.Empty``): the first wait that times out ends it."""
    return any(_timeout_handler(ast.unparse(kind)) for kind in _caught_around(loop, fn))


def _counting(loop: LoopNode) -> bool:
    """``for i in count()`` (or ``limit and range(limit) or count()``): an endless iteration."""
    source = loop.iter if isinstance(loop, (ast.For, ast.AsyncFor)) else None
    if source is None:
        return False
    return any(
        isinstance(sub, ast.Call)
        and dotted_name(sub.func) in ("count", "itertools.count")
        and not sub.keywords
        and all(isinstance(a, ast.Constant) for a in sub.args)
        for sub in ast.walk(source)
    )


def _only_waits(loop: LoopNode) -> bool:
    """A body that does nothing but sleep or wait (and ``pass``/``continue``), and check
    when to stop: ``if not self.active: raise ...``, ``if event.is_set(): break``, or
    ``with lock: n = len(pending); if n < limit: break`` (a value read only to decide)."""
    tested = {
        sub.id
        for stmt in _own_statements(loop)
        if isinstance(stmt, ast.If) and _exit_check(stmt)
        for sub in ast.walk(stmt.test)
        if isinstance(sub, ast.Name)
    }
    return _waits_and_exits(loop.body, tested)


def _waits_and_exits(suite: list[ast.stmt], tested: set[str]) -> bool:
    for stmt in suite:
        if isinstance(stmt, (ast.Pass, ast.Continue)):
            continue
        if isinstance(stmt, ast.If) and _exit_check(stmt):
            continue
        if isinstance(stmt, (ast.With, ast.AsyncWith)) and _waits_and_exits(stmt.body, tested):
            continue  # `with lock:` around the check
        if isinstance(stmt, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id in tested for t in stmt.targets
        ):
            continue  # `n = len(pending)`, then `if n < limit: break`
        if isinstance(stmt, ast.Expr):
            value = _unawaited(stmt.value)
            if isinstance(value, ast.Call) and last_name(value.func) in (
                "sleep",
                "wait",
                "poll",
                "get_nowait",
            ):
                continue
        return False
    return True


# --------------------------------------------------------------------------------------
# Drivers (importlib) and escapes (runtime)
# --------------------------------------------------------------------------------------


def _driver(site: LoopSite, resolver: _Resolver) -> bool:
    """A body that hands every message to code looked up anew each iteration.

    Every call it makes is a wait, or a call by bare name (a global lookup: the
    newest version after a reload) or through an imported module. Calls through
    ``self``/``cls``, on other objects (``seen.append(msg)``, ``conn.sendall(...)``)
    or to functions bound in the function are handling done inline, in the frame's
    own version. Besides those calls, only stop checks (``if msg is None: break``).
    """
    assert isinstance(site.node, (ast.While, ast.For, ast.AsyncFor))
    # The test is a stop check: `while not stop.is_set()`.
    return _DriverBody(site, resolver).suite_ok(site.node.body)


class _DriverBody:
    """The checks of :func:`_driver` (a class, not recursive closures: a closure that
    calls itself is a reference cycle, which would hold the file's model)."""

    def __init__(self, site: LoopSite, resolver: _Resolver) -> None:
        self.fn = site.function
        self.resolver = resolver
        self.waits = {id(p.wait.node) for p in site.waits if not p.via}

    def call_ok(self, call: ast.Call) -> bool:
        fn, resolver = self.fn, self.resolver
        if id(call) in self.waits:
            return True
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in fn.children:
                return False  # a nested def: captured with the old frame
            return not fn.binds(func.id) or func.id in resolver.bindings
        root = func
        while isinstance(root, ast.Attribute):
            root = root.value
        return isinstance(root, ast.Name) and root.id in resolver.bindings and not fn.binds(root.id)

    def expr_ok(self, expr: ast.expr | None) -> bool:
        if expr is None:
            return True
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Call) and not self.call_ok(sub):
                return False
            if isinstance(sub, (ast.Lambda, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)):
                return False
        return True

    @staticmethod
    def control_only(body: list[ast.stmt]) -> bool:
        """Statements that decide whether to go on, and handle nothing."""
        for stmt in body:
            if any(isinstance(sub, ast.Call) for sub in ast.walk(stmt)):
                return False
            if not isinstance(stmt, (ast.Pass, ast.Break, ast.Continue, ast.Return, ast.Assign, ast.Raise)):
                return False
        return True

    def suite_ok(self, body: list[ast.stmt]) -> bool:
        expr_ok, control_only, suite_ok = self.expr_ok, self.control_only, self.suite_ok
        for stmt in body:
            if isinstance(stmt, (ast.Pass, ast.Break, ast.Continue)):
                continue
            if isinstance(stmt, (ast.Expr, ast.Return)) and expr_ok(stmt.value):
                continue
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and expr_ok(stmt.value):
                if all(
                    isinstance(t, ast.Name)
                    for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                ):
                    continue
            if (
                isinstance(stmt, ast.If)
                and expr_ok(stmt.test)
                and control_only(stmt.body + stmt.orelse)  # `if msg is None: break`
            ):
                continue
            if isinstance(stmt, (ast.Try, ast.TryStar)) and all(
                suite_ok(s)
                for s in (stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers))
            ):
                continue
            if isinstance(stmt, (ast.With, ast.AsyncWith)) and suite_ok(stmt.body):
                if all(expr_ok(item.context_expr) for item in stmt.items):
                    continue
            return False
        return True


def _escapes(fn: Function, resolver: _Resolver, loop_fns: set[Function]) -> bool:
    """Runtime: the function returns a module-qualified call to a loop function."""
    for info in fn.calls:
        if not info.returned:
            continue
        found = resolver.callee(info.node.func, fn)
        if found is not None and found[1] is Via.MODULE and found[0] in loop_fns:
            return True
    return False


# --------------------------------------------------------------------------------------
# Cycles and spawns
# --------------------------------------------------------------------------------------


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


#: The last name of every call that may start something: a spawn function's, a spawn
#: method, and ``start`` (``Thread(...).start()``).
_SPAWN_ATTRIBUTES = frozenset(
    {name.rsplit(".", 1)[-1] for name in shapes.SPAWN_FUNCTIONS} | set(shapes.SPAWN_METHODS) | {"start"}
)


class _Spawns:
    """Which calls start a thread, task or process running a loop, and drop its handle."""

    def __init__(self, col: _Collector, resolver: _Resolver, extra: Iterable[str], module: str) -> None:
        self.col = col
        self.resolver = resolver
        self.extra = frozenset(extra)
        self.module = module

    @functools.cached_property
    def thread_classes(self) -> dict[str, ClassInfo]:
        return {
            name: info
            for name, info in self.col.top_classes.items()
            if info.bases & {"Thread", "Process"} and "run" in info.methods
        }

    def started(self, call: ast.Call, caller: Function | None) -> tuple[Function, str, str] | None:
        """What a call starts: (target function, label, what), or None."""
        func = call.func
        if not self.extra and isinstance(func, ast.Attribute) and func.attr not in _SPAWN_ATTRIBUTES:
            return None  # `x.y(...)` resolves to `....y`: no spawn shape ends in `y`
        resolved = self.resolver.resolve(func, caller)
        dotted = dotted_name(func)
        if resolved in shapes.SPAWN_FUNCTIONS or (
            self.extra and (resolved in self.extra or (dotted or short(func)) in self.extra)
        ):
            text = dotted or short(func)
            shape = shapes.SPAWN_FUNCTIONS.get(resolved or "")
            target = _arg(
                call, shape.target_keyword if shape else "target", shape.target_position if shape else 0
            )
            if target is None and shape is None:
                target = _arg(call, "target", 0)
            what = shape.what if shape else "process"
            return self._pick(target, caller, f"{text}(...)", what)
        if not isinstance(func, ast.Attribute):
            return None
        if func.attr == "start" and isinstance(func.value, ast.Call):
            return self.constructed(func.value, caller, suffix=".start()")
        shape = shapes.SPAWN_METHODS.get(func.attr)
        if shape is not None and resolved is None:
            text = dotted or short(func)
            if func.attr == "spawn":
                return self._runtime_spawn(call, text)
            target = _arg(call, shape.target_keyword, shape.target_position)
            return self._pick(target, caller, f"{text}(...)", shape.what)
        return None

    def constructed(
        self, ctor: ast.Call, caller: Function | None, suffix: str = ""
    ) -> tuple[Function, str, str] | None:
        """``Thread(target=loop)`` or an instance of a ``Thread`` subclass of the file."""
        name = dotted_name(ctor.func) or ""
        last = name.rsplit(".", 1)[-1]
        shape = shapes.SPAWN_CONSTRUCTORS.get(last)
        if shape is not None:
            target = _arg(ctor, shape.target_keyword, shape.target_position)
            return self._pick(target, caller, f"{name}(...){suffix}", shape.what)
        info = self.thread_classes.get(name)
        if info is not None:
            what = "process" if "Process" in info.bases else "thread"
            return info.methods["run"], f"{name}(){suffix}", what
        return None

    def _runtime_spawn(self, call: ast.Call, text: str) -> tuple[Function, str, str] | None:
        # Runtime.spawn("module", "function", ...) naming this file's module.
        args = call.args
        if len(args) >= 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args[:2]):
            mod, name = (a.value for a in args[:2])  # type: ignore[attr-defined]
            if mod == self.module and name in self.col.module_funcs:
                return self.col.module_funcs[name], f"{text}(...)", "process"
        return None

    def _pick(
        self, target: ast.expr | None, caller: Function | None, label: str, what: str
    ) -> tuple[Function, str, str] | None:
        if target is None:
            return None
        if isinstance(target, ast.Await):
            target = target.value
        if isinstance(target, ast.Call):
            if self.resolver.resolve(target.func, caller) == "functools.partial" and target.args:
                target = target.args[0]
            else:
                target = target.func
        found = self.resolver.callee(target, caller)
        return (found[0], label, what) if found is not None else None


def _arg(call: ast.Call, keyword: str | None, position: int | None) -> ast.expr | None:
    for kw in call.keywords:
        if keyword is not None and kw.arg == keyword:
            return kw.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


_HANDLE_ONLY = frozenset({"start", "daemon", "setDaemon", "name", "setName"})


def _handle_dropped(fn: Function, name: str) -> bool:
    """Whether a local handle is only started and configured, never kept or joined."""
    uses = fn.uses(name)
    if not uses:
        return True
    return all(isinstance(parent, ast.Attribute) and parent.attr in _HANDLE_ONLY for parent in uses)


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


def resolve_reload_model(setting: ReloadModel, imports: Iterable[tuple[str, str, int]]) -> ReloadModel:
    """``auto``: the runtime model for a file that imports :mod:`swaplint.runtime`."""
    if setting is not ReloadModel.AUTO:
        return setting
    uses = any(level == 0 and target.startswith(RUNTIME) for _, target, level in imports)
    return ReloadModel.RUNTIME if uses else ReloadModel.IMPORTLIB


def build_model(
    tree: ast.Module,
    *,
    module: str,
    reload_model: ReloadModel = ReloadModel.AUTO,
    receive_calls: Iterable[str] = (),
    spawn_calls: Iterable[str] = (),
) -> FileModel:
    """Build the loop model of one parsed file whose dotted module name is ``module``."""
    col = _Collector()
    for stmt in tree.body:
        col.walk(stmt, _Ctx())
    resolver = _Resolver(col, module)
    model = FileModel(module=module, reload_model=resolve_reload_model(reload_model, col.imports))
    model.functions = col.functions

    # Waits.
    waits = _Waits(col, resolver, receive_calls)
    loops = _Loops(col, resolver, waits, model.reload_model is ReloadModel.RUNTIME)
    for info in col.calls:
        wait = waits.classify(info)
        if wait is not None:
            model.waits.append(wait)
            loops.add(wait)
    iterations: dict[LoopNode, Wait] = {}
    for node, ctx in col.for_loops:
        wait = waits.iteration(node, ctx)
        if wait is not None:
            model.waits.append(wait)
            iterations[node] = wait

    # Loop sites: the outermost loop of each nest that runs for good and waits.
    for fn in col.functions:
        if _in_test(fn, module):
            continue
        taken: list[LoopNode] = []
        for loop in fn.loops:
            if any(_inside(loop, outer) for outer in taken):
                continue
            site = loops.site(fn, loop, iterations.get(loop))
            if site is not None:
                taken.append(loop)
                model.loops.append(site)

    # Library loops called outside any loop: the call is the loop.
    in_sites = {id(p.wait.node) for s in model.loops for p in s.waits}
    for wait in model.waits:
        if wait.kind is WaitKind.LIBRARY and wait.function is not None and id(wait.node) not in in_sites:
            if not wait.loops and not _in_test(wait.function, module) and not _stop_scheduled(wait):
                model.loops.append(
                    LoopSite(
                        node=wait.node,
                        function=wait.function,
                        condition=Condition.FOREVER,
                        waits=[WaitPath(wait)],
                    )
                )

    # The call graph among the file's functions; cycles that wait are recursive loops.
    edges: dict[Function, list[Function]] = {}
    sites: dict[Function, list[ReEntry]] = {}
    for info in col.calls:
        caller = info.function
        if caller is None or info.in_lambda:
            continue
        named = resolver.callee(info.node.func, caller)
        if named is None or _spawned(info, resolver):
            continue  # a spawned call runs in a task of its own: the caller's frame ends
        callee, via = named
        edges.setdefault(caller, []).append(callee)
        sites.setdefault(caller, []).append(
            ReEntry(
                info.node,
                caller,
                callee,
                via,
                info.returned,
                info.not_tail,
                any(isinstance(loop, (ast.For, ast.AsyncFor)) for loop in info.loops),
                info.handler,
            )
        )
    for component in _sccs(col.functions, edges):
        members = set(component)
        recursive = len(component) > 1 or component[0] in edges.get(component[0], ())
        if not recursive:
            continue
        # One step per message: the cycle receives (a sleep alone makes a retry), and
        # re-enters outside `for` walks and outside `except` suites other than a
        # receive's timeout (re-entering from `except ConnectionError:` is a retry).
        cycle_waits = [
            WaitPath(w)
            for fn in component
            for w in loops.by_function.get(fn, [])
            if w.kind is WaitKind.RECEIVE
        ]
        reentries = [r for fn in component for r in sites.get(fn, []) if r.callee in members]
        steps = [r for r in reentries if not r.in_for and (r.handler is None or _timeout_handler(r.handler))]
        if not cycle_waits or not steps:
            continue
        if any(r.in_for for r in reentries):
            continue  # `for child in children: self._delete(child)`: a walk of a tree, which ends
        if any(_in_test(fn, module) for fn in component):
            continue
        cycle = Cycle(members=sorted(component, key=lambda f: f.index), waits=cycle_waits)
        cycle.reentries.extend(r for r in reentries if not r.in_for)
        model.cycles.append(cycle)
    model.cycles.sort(key=lambda c: c.head.index)

    # How each loop site reaches new code.
    loop_fns = model.loop_functions()
    for site in model.loops:
        if isinstance(site.node, (ast.While, ast.For, ast.AsyncFor)):
            site.driver = _driver(site, resolver)
        site.escapes = _escapes(site.function, resolver, loop_fns)

    # Spawns whose handle is thrown away.
    spawner = _Spawns(col, resolver, spawn_calls, module)
    runs_loop = _runs_loop(model, resolver)
    handle_names = {call: name for fn in col.functions for name, call in fn.handles.items()}
    for info in col.calls:
        if info.in_lambda:
            continue
        found: tuple[Function, str, str] | None = None
        if info.statement:
            found = spawner.started(info.node, info.function)
        if found is None and info.node in handle_names:
            found = _local_handle(info, spawner, handle_names)
        if found is not None and runs_loop(found[0]):
            model.spawns.append(Spawn(info.node, found[0], found[1], found[2], info.function))
    return model


def _local_handle(
    info: CallInfo, spawner: _Spawns, names: dict[ast.Call, str]
) -> tuple[Function, str, str] | None:
    """``t = Thread(target=loop); t.start()`` with ``t`` never kept or joined."""
    fn = info.function
    assert fn is not None
    name = names.get(info.node)
    if name is not None:
        call = info.node
        found = spawner.constructed(call, fn)
        if found is None:
            started = spawner.started(call, fn)
            if started is None or started[2] != "task":
                return None
            found = started
        elif not any(isinstance(p, ast.Attribute) and p.attr == "start" for p in fn.uses(name)):
            return None  # never started here
        return found if _handle_dropped(fn, name) else None
    return None


def _runs_loop(model: FileModel, resolver: _Resolver) -> Callable[[Function], bool]:
    return _RunsLoop(model.loop_functions(), resolver)


class _RunsLoop:
    """Whether a function runs a loop of the file, itself or through helpers (a class,
    not a recursive closure: a closure that calls itself is a reference cycle)."""

    def __init__(self, loop_fns: set[Function], resolver: _Resolver) -> None:
        self.loop_fns = loop_fns
        self.resolver = resolver

    def __call__(self, fn: Function, depth: int = 0) -> bool:
        if fn in self.loop_fns:
            return True
        if depth >= HELPER_DEPTH:
            return False
        for info in fn.calls:
            if info.in_lambda:
                continue
            found = self.resolver.callee(info.node.func, fn)
            if found is not None and found[0] is not fn and self(found[0], depth + 1):
                return True
        return False


def release(model: FileModel) -> None:
    """Break the reference cycles of a model nobody will read again (functions and their
    parents, children, classes and calls), so that it and its syntax tree are freed at
    once by reference counting instead of waiting for the garbage collector."""
    for fn in model.functions:
        if fn.cls is not None:
            fn.cls.methods.clear()
        fn.parent = None
        fn.cls = None
        fn.children.clear()
        fn.calls.clear()


def _timeout_handler(caught: str) -> bool:
    """``except queue.Empty:``, ``except socket.timeout:``: the receive timed out."""
    words = shapes.name_words(caught.replace(".", "_").replace("(", "_").replace(",", "_"))
    return bool(words & {"empty", "timeout", "timeouterror"})


def _inside(node: ast.AST, outer: ast.AST) -> bool:
    return any(sub is node for sub in ast.walk(outer))
