"""The shapes swaplint recognises, stated once as data.

A *wait* is a call (or an iteration) that can block a loop: receiving a message,
a connection or data, sleeping, waiting for an event, or running a library's own
forever loop. The model (:mod:`swaplint.model`) classifies every call of a file
with these tables, and the text screen (:func:`needles`) is derived from the same
tables, so the two cannot drift apart.

Recognition is by shape, not by type: there is no type inference. Where a name
is ambiguous (``x.get()`` is a queue, a ``ContextVar`` or a Tk ``Entry``), the
receiver's name and the constructor it was bound from decide; each table below
says what it accepts. Users extend the tables with the ``receive-calls`` and
``spawn-calls`` settings.
"""

from __future__ import annotations

import enum
import re
from functools import lru_cache
from typing import NamedTuple


class WaitKind(enum.StrEnum):
    RECEIVE = "receive"  # waits for a message, a connection or data
    TIMER = "timer"  # sleeps, or waits for an event, for a while
    POLL = "poll"  # returns at once: get_nowait(), get(False), a zero timeout
    LIBRARY = "library"  # a library's own loop: serve_forever(), start_consuming(), ...


class Default(enum.StrEnum):
    """What a call does when it is given no timeout argument."""

    FOREVER = "forever"
    POLL = "poll"
    TIMEOUT = "timeout"  # it wakes up by itself (sleep, serve_forever's poll interval)


class Timeout(NamedTuple):
    """Where a call takes its timeout, and what its values mean."""

    keywords: tuple[str, ...] = ("timeout",)
    position: int | None = None  # the positional slot, if any
    default: Default = Default.FOREVER
    zero: Default = Default.POLL  # what a literal 0 means (redis' blpop: forever)


class Shape(NamedTuple):
    """A call that may wait. ``name`` is a method name, or a dotted function name."""

    name: str
    kind: WaitKind
    timeout: Timeout = Timeout()
    #: Its timeout may come from the object instead (``sock.settimeout(t)``) or from a
    #: readiness check (``select`` / ``selectors`` before it).
    socket_like: bool = False
    #: The receiver's name must hold one of these words (None: any receiver).
    receivers: frozenset[str] | None = None
    #: The receiver's name must hold none of these words.
    not_receivers: frozenset[str] = frozenset()
    max_args: int | None = None  # more arguments than this: not this shape


#: Words of names that read or write a stream: ``self.rfile``, ``reader``, ``conn``.
STREAM_WORDS = frozenset(
    {
        "reader",
        "stream",
        "sock",
        "socket",
        "conn",
        "connection",
        "stdin",
        "rfile",
        "pipe",
        "serial",
        "ws",
        "websocket",
        "transport",
        "channel",
        "client",
    }
)
#: Words of names iterated as a source of messages: ``for msg in consumer``,
#: ``async for msg in websocket``, ``for line in self.rfile``. A socket is not iterable
#: (``for s in sock`` walks a list of them), nor is a client or a channel.
ITERATION_WORDS = STREAM_WORDS - {"client", "channel", "sock", "socket"} | {
    "consumer",
    "subscriber",
    "subscription",
    "pubsub",
    "inbox",
    "mailbox",
    "listener",
    "watcher",
    "feed",
}
#: Constructors (last dotted component; literals count as their type) whose objects are
#: finite collections: iterating one never waits. ``self.PIPE = os.pipe()`` is two file
#: descriptors, ``multiprocessing.Pipe()`` two connections.
COLLECTION_CONSTRUCTORS = frozenset(
    {
        "tuple",
        "list",
        "set",
        "frozenset",
        "dict",
        "pipe",
        "Pipe",
        "socketpair",
        "sorted",
        "range",
        "enumerate",
        "zip",
        "keys",
        "values",
        "items",
        "split",
        "splitlines",
        "listdir",
        "glob",
        "Tuple",
        "List",
        "Set",
        "Sequence",
        "Iterable",
        "Mapping",
        "Dict",
    }
)
#: Words of an object whose attributes are data, not sources: iterating
#: ``member_metadata.subscription`` walks the topics a member subscribed to.
DATA_OWNER_WORDS = frozenset(
    {
        "metadata",
        "meta",
        "config",
        "cfg",
        "conf",
        "settings",
        "options",
        "opts",
        "info",
        "spec",
        "args",
        "params",
    }
)
#: Words of a loop test that says the loop runs until told to stop.
FLAG_WORDS = frozenset(
    {
        "run",
        "running",
        "alive",
        "stop",
        "stopped",
        "stopping",
        "shutdown",
        "closed",
        "closing",
        "active",
        "quit",
        "exit",
        "exiting",
        "terminate",
        "terminated",
        "cancelled",
        "subscribed",
        "connected",
        "listening",
        "serving",
        "keep",
        "keepalive",
    }
)
#: Methods whose call result is iterated as a message stream: ``pubsub.listen()``.
ITERATION_METHODS = frozenset({"listen", "consume", "iter_messages", "messages", "subscribe", "watch"})
#: Receivers of a zero-argument ``.get()`` that are not queues.
NOT_QUEUE_WORDS = frozenset(
    {
        "var",
        "entry",
        "ctx",
        "context",
        "contextvar",
        "config",
        "conf",
        "cfg",
        "settings",
        "setting",
        "option",
        "options",
        "widget",
        "field",
        "env",
        "environ",
        "cache",
        "dict",
        "map",
        "mapping",
        "registry",
        "headers",
        "params",
        "request",
        "session",
        "response",
        "result",
        "future",
        "value",
        "local",
        "storage",
        "store",
        "text",
        "combo",
        "spinbox",
        "scale",
        "state",
    }
)
#: Constructors (last dotted component) whose objects' ``.get()`` never blocks.
NOT_QUEUE_CONSTRUCTORS = frozenset(
    {
        "ContextVar",
        "Entry",
        "StringVar",
        "IntVar",
        "BooleanVar",
        "DoubleVar",
        "Variable",
        "Combobox",
        "Spinbox",
        "Scale",
        "Text",
        "dict",
        "OrderedDict",
        "defaultdict",
        "ChainMap",
        "Counter",
        "local",
    }
)
#: Words of names that hold a queue (an alias ``get = self.inbox.get`` must name one).
QUEUE_WORDS = frozenset(
    {
        "queue",
        "q",
        "inbox",
        "mailbox",
        "jobs",
        "tasks",
        "work",
        "messages",
        "msgs",
        "requests",
        "events",
        "channel",
        "chan",
        "pending",
    }
)
#: Constructors (last dotted component) of queues: their ``.get()`` waits.
QUEUE_CONSTRUCTORS = frozenset({"Queue", "SimpleQueue", "LifoQueue", "PriorityQueue", "JoinableQueue"})
#: Receivers of ``.wait()`` that are processes, not events.
PROCESS_WORDS = frozenset({"proc", "process", "popen", "child", "subprocess", "p"})

_SOCKET_READS = (
    "recv",
    "recv_bytes",
    "recvfrom",
    "recv_into",
    "recvfrom_into",
    "recvmsg",
    "recv_multipart",
    "recv_string",
    "recv_json",
    "recv_pyobj",
)

#: Method calls ``X.name(...)`` that may wait.
METHODS: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        # queue.Queue / asyncio.Queue / multiprocessing.Queue; see model for block=...
        Shape("get", WaitKind.RECEIVE, Timeout(("timeout",), 1)),
        Shape("get_nowait", WaitKind.POLL, max_args=0),
        *(Shape(name, WaitKind.RECEIVE, socket_like=True) for name in _SOCKET_READS),
        Shape("accept", WaitKind.RECEIVE, socket_like=True, max_args=0),
        Shape("readline", WaitKind.RECEIVE, socket_like=True, receivers=STREAM_WORDS, max_args=1),
        Shape("readexactly", WaitKind.RECEIVE, socket_like=True, receivers=STREAM_WORDS),
        Shape("readuntil", WaitKind.RECEIVE, socket_like=True, receivers=STREAM_WORDS),
        Shape("read", WaitKind.RECEIVE, socket_like=True, receivers=STREAM_WORDS, max_args=1),
        Shape("receive", WaitKind.RECEIVE, Timeout(("timeout",), 0)),
        Shape("select", WaitKind.RECEIVE, Timeout(("timeout",), 0)),
        Shape("poll", WaitKind.RECEIVE, Timeout(("timeout", "timeout_ms"), 0, Default.POLL)),
        Shape("wait", WaitKind.TIMER, Timeout(("timeout",), 0), not_receivers=PROCESS_WORDS),
        Shape("wait_for", WaitKind.TIMER, Timeout(("timeout",), 1)),
        Shape("join", WaitKind.TIMER, Timeout(("timeout",), 0)),
        Shape("drain_events", WaitKind.RECEIVE, Timeout(("timeout",))),
        Shape("process_data_events", WaitKind.RECEIVE, Timeout(("time_limit",), 0, Default.POLL)),
        Shape("get_message", WaitKind.RECEIVE, Timeout(("timeout",), 1, Default.POLL)),
        *(
            Shape(name, WaitKind.RECEIVE, Timeout(("timeout",), 1, Default.FOREVER, Default.FOREVER))
            for name in ("blpop", "brpop", "brpoplpush", "blmove", "bzpopmin", "bzpopmax")
        ),
        Shape("serve_forever", WaitKind.LIBRARY, Timeout((), None, Default.TIMEOUT)),
        Shape("loop_forever", WaitKind.LIBRARY),
        Shape("start_consuming", WaitKind.LIBRARY),
        Shape("run_forever", WaitKind.LIBRARY),
    )
}

#: Functions (dotted names, as imports resolve them) that may wait.
FUNCTIONS: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        Shape("swaplint.runtime.receive", WaitKind.RECEIVE, Timeout(("timeout",), 0)),
        Shape("select.select", WaitKind.RECEIVE, Timeout(("timeout",), 3)),
        Shape("asyncio.wait", WaitKind.RECEIVE, Timeout(("timeout",))),
        *(
            Shape(name, WaitKind.TIMER, Timeout(("seconds", "delay"), 0, Default.TIMEOUT))
            for name in ("time.sleep", "asyncio.sleep", "gevent.sleep", "eventlet.sleep", "trio.sleep")
        ),
    )
}

#: Calls that make a socket's later reads time out (``X.settimeout(t)``,
#: ``X.setblocking(False)``), by method name.
TIMEOUT_SETTERS = frozenset({"settimeout", "setblocking"})
#: Readiness checks: a socket read after one of these in the same loop is governed
#: by the check's timeout.
READINESS = frozenset({"select", "poll", "select.select", "wait_for_read"})

#: Wrappers that give the call they wrap a timeout.
TIMEOUT_WRAPPERS = {"asyncio.wait_for": Timeout(("timeout",), 1)}
#: ``async with`` context managers that give their body a timeout.
TIMEOUT_CONTEXTS = frozenset({"asyncio.timeout", "asyncio.timeout_at", "async_timeout.timeout"})


class SpawnShape(NamedTuple):
    """A call that starts a thread, task or process running ``target``."""

    name: str  # a constructor's last component, a method name, or a dotted function name
    what: str  # "thread", "task", "process"
    target_keyword: str | None
    target_position: int | None


#: Constructors whose ``.start()`` runs ``target`` (matched on the last component).
SPAWN_CONSTRUCTORS: dict[str, SpawnShape] = {
    "Thread": SpawnShape("Thread", "thread", "target", 1),
    "Process": SpawnShape("Process", "process", "target", 1),
    "Greenlet": SpawnShape("Greenlet", "greenlet", "run", 0),
}
#: Method calls that start their first argument.
SPAWN_METHODS: dict[str, SpawnShape] = {
    "create_task": SpawnShape("create_task", "task", "coro", 0),
    "ensure_future": SpawnShape("ensure_future", "task", "coro_or_future", 0),
    "submit": SpawnShape("submit", "thread", "fn", 0),
    "spawn": SpawnShape("spawn", "process", None, 0),
    "start_new_thread": SpawnShape("start_new_thread", "thread", "function", 0),
    "run_in_executor": SpawnShape("run_in_executor", "thread", None, 1),
}
#: Functions (dotted names) that start their first argument.
SPAWN_FUNCTIONS: dict[str, SpawnShape] = {
    "swaplint.runtime.spawn": SpawnShape("swaplint.runtime.spawn", "process", None, 0),
    "asyncio.create_task": SpawnShape("asyncio.create_task", "task", "coro", 0),
    "asyncio.ensure_future": SpawnShape("asyncio.ensure_future", "task", "coro_or_future", 0),
    "_thread.start_new_thread": SpawnShape("_thread.start_new_thread", "thread", "function", 0),
    "gevent.spawn": SpawnShape("gevent.spawn", "greenlet", None, 0),
    "eventlet.spawn": SpawnShape("eventlet.spawn", "greenlet", None, 0),
}


_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")


@lru_cache(maxsize=8192)
def name_words(name: str) -> frozenset[str]:
    """The lower-case words of an identifier: ``_inQueue`` -> {"in", "queue"}.
    (Remembered: the model asks for the same few names over and over.)"""
    spaced = _CAMEL_HUMP.sub(r"\1_\2", name)
    return frozenset(w for w in spaced.lower().split("_") if w)


def last_word(name: str) -> str:
    """The last lower-case word of an identifier: ``connection_pools`` -> ``pools``."""
    spaced = _CAMEL_HUMP.sub(r"\1_\2", name)
    words = [w for w in spaced.lower().split("_") if w]
    return words[-1] if words else ""


class Screen:
    """A cheap test that every file with a possible finding passes (see :func:`needles`).

    Each shape is a small regular expression that starts with a literal (``.recv(``,
    ``sleep(``, ``async for``), which the regular expression engine finds at memory speed;
    one expression with every shape in it would cost as much as parsing the file.
    """

    def __init__(
        self, patterns: list[re.Pattern[str]], receivers: dict[re.Pattern[str], frozenset[str]]
    ) -> None:
        self.patterns = patterns
        self.receivers = receivers

    def search(self, text: str) -> bool:
        if any(pattern.search(text) for pattern in self.patterns):
            return True
        for pattern, words in self.receivers.items():  # `self.rfile.readline(`: a stream's read
            for match in pattern.finditer(text):
                before = _RECEIVER.search(text, max(0, match.start() - 80), match.start())
                if before is not None and name_words(before.group(1)) & words:
                    return True
        return _long_lived_loop(text)


# Loops the model takes for long-lived with no wait in sight (the wait may be in another
# module): a run/stop flag test, `while True`, `for _ in count()`. Found by their literal
# (`while`, `count(`) and then looked at, not by one pattern that backtracks through every
# line of the file.
_WHILE = re.compile(r"while\b([^:]{0,200})")
_FLAG_TEST = re.compile("|".join(sorted(FLAG_WORDS)), re.IGNORECASE)
_ENDLESS_TEST = re.compile(r"\s*\(?\s*(?:True|1)\s*\)?\s*\Z")
_COUNT = re.compile(r"count\s*\(")
_EXIT = re.compile(r"(?:return|raise|break)\b")
_LOOP_HEADER = re.compile(r"(?:async\s+)?(?:for|while)\b")
_NESTED_SCOPE = re.compile(r"(?:async\s+def|def|class)\b|.*\blambda\b")


def _leaves(text: str, body: int, indent: int) -> bool:
    """Whether the ``while True:`` whose body starts at offset ``body`` surely has a way
    out the model counts -- a ``return`` or ``raise`` anywhere in it, or a ``break`` that
    is not inside a loop nested in it -- so that the model cannot take it for endless.
    Unsure (a nested ``def``/``class``/``lambda``, a multi-line string, a body on the
    header's line): False, and the file goes on to the model."""
    end = text.find("\n", body)
    if text[body : end if end >= 0 else len(text)].split("#", 1)[0].strip():
        return False  # `while True: step()`: the body is on the header's line
    nested: list[int] = []  # indents of loops nested in the body
    position = end + 1 if end >= 0 else len(text)
    while position < len(text):
        end = text.find("\n", position)
        line = text[position : end if end >= 0 else len(text)]
        position = end + 1 if end >= 0 else len(text)
        code = line.lstrip()
        if not code or code.startswith("#"):
            continue
        depth = len(line[: len(line) - len(code)].expandtabs())
        if depth <= indent:
            return False  # the body ended without a way out
        if '"""' in code or "'''" in code or _NESTED_SCOPE.match(code):
            return False
        while nested and depth <= nested[-1]:
            nested.pop()
        if _LOOP_HEADER.match(code):
            nested.append(depth)
            continue
        exit_ = _EXIT.match(code)
        if exit_ and (exit_.group() != "break" or not nested):
            return True
    return False


_IN_BEFORE = re.compile(r"\bin\s+[\w.]*\Z")


def _long_lived_loop(text: str) -> bool:
    for match in _WHILE.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        indent = text[line_start : match.start()]
        if indent.strip():
            continue  # "while" inside a line: prose, a string, `meanwhile`
        test = match.group(1)
        if _FLAG_TEST.search(test):
            return True
        if _ENDLESS_TEST.match(test) and not _leaves(text, match.end() + 1, len(indent.expandtabs())):
            return True
    for match in _COUNT.finditer(text):
        if _IN_BEFORE.search(text, max(0, match.start() - 60), match.start()):
            return True
    return False


_RECEIVER = re.compile(r"(\w+)\s*\Z")


def needles(extra: tuple[str, ...] = ()) -> Screen:
    """A screen that every file with a possible finding passes.

    Built from the tables above, each shape by what its call must look like in the
    text (``.get(`` with no key, ``sock.read(``, ``sleep(``, ``Thread``, ``async for``,
    ``for ... in consumer:``), and the loops the model takes for long-lived without a
    wait (:func:`_long_lived_loop`). A file that passes none has no wait, no spawn and no
    such loop, so no rule can fire on it (SWL999 aside); a test checks that the screen never drops
    a finding the model would make.
    """
    restricted = {name: shape.receivers for name, shape in METHODS.items() if shape.receivers is not None}
    methods = sorted(set(METHODS) - {"get", "join"} - set(restricted))
    functions = sorted({n.rsplit(".", 1)[-1] for n in FUNCTIONS} | set(SPAWN_METHODS))
    functions += sorted({n.rsplit(".", 1)[-1] for n in SPAWN_FUNCTIONS} - set(functions))
    configured = sorted({re.escape(n.rsplit(".", 1)[-1]) for n in extra if n})  # any mention: aliases too
    words = "|".join(sorted(ITERATION_WORDS))
    sources = [
        r"\.(?:" + "|".join(methods) + r")\s*\(",
        r"\.get\s*\(\s*(?:\)|True|False|[01]\s*[,)]|block|timeout)",
        r"\.join\s*\(\s*(?:timeout|[\d.]+\s*\))",  # not `", ".join(parts)`
        r"(?:" + "|".join(functions) + r")\s*\(",
        r"(?:" + "|".join(sorted(SPAWN_CONSTRUCTORS)) + r")\b",
        r"async\s+for\b",
        r"iter\(\s*[\w.]+\.(?:" + "|".join(sorted(METHODS)) + r")\s*,",
        r"\.(?:" + "|".join(sorted(ITERATION_METHODS)) + r")\s*\(",
        r" in\s+[\w.]*?(?:\b|_)(?i:" + words + r")s?(?:\b|_)[\w.()]*\s*:",  # `for msg in consumer:`
        r"=\s*[\w.]+\.(?:" + "|".join(sorted(METHODS)) + r")\s*$",  # `get = self.queue.get`
    ]
    if configured:
        sources.append(r"\b(?:" + "|".join(configured) + r")\b")
    receivers = {
        re.compile(r"\.\s*(?:" + "|".join(sorted(restricted)) + r")\s*\("): frozenset().union(
            *restricted.values()
        )
    }
    return Screen([re.compile(source, re.MULTILINE) for source in sources], receivers)
