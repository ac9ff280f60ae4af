"""Run flagged loops of a plain-Python file for real, reload the module twice, and judge.

This is ``--verify`` for code under the ``importlib`` reload model. For each job (one finding
of one loop) a child process loads the file as a real module, starts the loop in a real
thread (an ``async def`` as an asyncio task on an event loop in a thread), feeds it messages
through a real ``queue.Queue`` / ``asyncio.Queue`` where it reads one (a parameter, a
``self.<attr>`` or a module global), reloads the module twice with :func:`swaplint.live.reload`,
and decides with :func:`swaplint.live.stale` and with a record of which version's code handled
each message (a trace hook set on the threads the job starts, so that the code objects that
run between a message's delivery and the next one are known).

A loop is reload-safe under ``importlib`` when, after the reloads, the next message is handled
entirely by the new version's code, and a stop request (a stop ``Event`` or flag it checks, or
a stop message it compares against) is seen within its timeout. Per rule:

* SWL001/SWL005 (a recursive loop): the stack grows one frame per message and the thread dies
  of ``RecursionError`` near ``sys.getrecursionlimit()`` messages;
* SWL003 (a receive with no timeout): the idle thread stays in superseded code after the
  reloads and does not see a stop request;
* SWL004 (an untracked thread or task): nothing holds the handle of what the function (or the
  module's import, for a module-level start) started, while it runs superseded code;
* anything else (SWL002, SWL006): a message after the reloads is handled, wholly or in part,
  by superseded code.

The parent enforces the time limit (the child runs in its own session and its whole process
group is killed on timeout), keeps at most 1 MB of the child's output, gives the child a clean
environment, a temporary working directory and a 2 GiB address-space limit, and never raises
for what the child does: a crash, an ``os._exit`` at import or a hang is a "not run" verdict.

This module depends only on the standard library and :mod:`swaplint.live`.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import dis
import json
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, cast

CONFIRMED = "confirmed"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run"

PROBE_MESSAGE = 1
OUTPUT_CAP = 1 << 20  # bytes of the child's stdout and stderr kept in memory, each
MEMORY_LIMIT = 2 << 30  # the child's address-space limit
RELOADS = 2
GROWTH_CODES = frozenset({"SWL001", "SWL005"})
STOP_WORDS = ("stop", "quit", "exit", "shutdown", "close", "terminate")
QUEUE_NAMES = ("q", "queue", "inbox", "jobs", "tasks", "mailbox", "messages", "requests", "work", "incoming")
EVENT_NAMES = ("stop", "stopped", "stopping", "shutdown", "done", "quit", "cancel", "cancelled", "exit")


@dataclass(frozen=True)
class LoopJob:
    """One finding to check: its rule code and the loop's qualified name.

    ``function`` is a module-level function (``"worker"``) or a method (``"Worker.run"``);
    for SWL004 it is the function that starts the untracked thread or task, or ``""`` /
    ``"<module>"`` when the module's import starts it. For a method, ``args`` are the
    class's constructor arguments. Queue and stop-event parameters are filled in by the
    checker (they cannot be written in a configuration file); ``args`` give the others, in
    order.
    """

    code: str
    function: str
    args: tuple[Any, ...] | None = None
    messages: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class ReloadVerdict:
    """What the run showed: status is exactly "confirmed", "not reproduced" or "not run"."""

    status: str
    evidence: str
    messages: tuple[Any, ...] = ()


# ================================================================================================
# The parent: one child process per file
# ================================================================================================


def _swaplint_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _clean_env(sys_path: Sequence[str]) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT", "USER")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    paths = [os.path.abspath(p) for p in sys_path]
    root = _swaplint_root()
    if root not in paths:
        paths.append(root)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # never write __pycache__ into the checked project
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONFAULTHANDLER"] = "1"
    return env


class _CappedReader(threading.Thread):
    """Drain a pipe, keeping at most ``cap`` bytes (the rest is read and dropped)."""

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.cap = cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    def run(self) -> None:
        try:
            while chunk := self.stream.read(65536):
                room = self.cap - self.size
                if room > 0:
                    self.chunks.append(chunk[:room])
                    self.size += min(room, len(chunk))
                if len(chunk) > room:
                    self.truncated = True
        except (OSError, ValueError):
            pass

    def text(self) -> str:
        text = b"".join(self.chunks).decode("utf-8", errors="replace")
        return text + ("\n[output truncated at 1 MB]" if self.truncated else "")


def _encode(value: Any) -> str | None:
    if value is None:
        return None
    return base64.b64encode(pickle.dumps(value)).decode("ascii")


def _decode_message(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def verify_file(
    path: str,
    module: str,
    jobs: Sequence[LoopJob],
    *,
    sys_path: Sequence[str] = (),
    timeout: float = 30.0,
) -> list[ReloadVerdict]:
    """Check every job of one file in one child process; one verdict per job, in order."""
    if not jobs:
        return []
    verdicts: list[ReloadVerdict | None] = [None] * len(jobs)
    encoded: list[dict[str, Any]] = []
    for i, job in enumerate(jobs):
        try:
            encoded.append(
                {
                    "code": job.code,
                    "function": job.function,
                    "args": _encode(job.args),
                    "messages": _encode(job.messages),
                }
            )
        except Exception as exc:
            verdicts[i] = ReloadVerdict(NOT_RUN, f"the job's arguments cannot be sent to a child: {exc}")
            encoded.append({"code": job.code, "function": job.function, "skip": True})
    with tempfile.TemporaryDirectory(prefix="swaplint-reload-") as work:
        results = os.path.join(work, "results.jsonl")
        payload = {
            "path": os.path.abspath(path),
            "module": module,
            "jobs": encoded,
            "results": results,
            "timeout": timeout,
        }
        reason = ""
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "swaplint.reloadcheck"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work,
                env=_clean_env(sys_path),
                start_new_session=True,
            )
        except OSError as exc:
            return [
                v or ReloadVerdict(NOT_RUN, f"the child process could not start: {exc}") for v in verdicts
            ]
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out = _CappedReader(proc.stdout, OUTPUT_CAP)
        err = _CappedReader(proc.stderr, OUTPUT_CAP)
        out.start()
        err.start()
        try:
            proc.stdin.write(json.dumps(payload).encode("utf-8"))
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            reason = f"the check did not finish within {timeout:g} s and was stopped"
        finally:
            _kill_group(proc)  # a hang, or processes the loops started: the whole group goes
            proc.wait()
        out.join(5)
        err.join(5)
        if not reason and proc.returncode != 0:
            tail = _last_line(err.text()) or _last_line(out.text())
            how = (
                f"was killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else f"exited with code {proc.returncode}"
            )
            reason = f"the child process {how}" + (f" ({tail})" if tail else "")
        started: set[int] = set()
        try:
            with open(results, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            index = record.get("index")
            if not isinstance(index, int) or not 0 <= index < len(jobs):
                continue
            if record.get("event") == "start":
                started.add(index)
                continue
            messages = tuple(_decode_message(m) for m in record.get("messages", []))
            verdicts[index] = ReloadVerdict(str(record["status"]), str(record["evidence"]), messages)
    final: list[ReloadVerdict] = []
    for i, verdict in enumerate(verdicts):
        if verdict is not None:
            final.append(verdict)
            continue
        where = "while checking it" if i in started else "before its check started"
        final.append(
            ReloadVerdict(NOT_RUN, f"{reason or 'the child process ended without a verdict'} {where}")
        )
    return final


# ================================================================================================
# Static study of the source (ast)
# ================================================================================================

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class Study:
    """What the source tells about the job's function and the functions it calls."""

    node: FunctionNode | None = None
    cls: ast.ClassDef | None = None
    params: list[ast.arg] = field(default_factory=list)  # without self/cls
    defaults: int = 0  # how many trailing params have defaults
    queue_params: set[str] = field(default_factory=set)
    socket_params: set[str] = field(default_factory=set)  # read with `.recv()`: fed a socket pair
    event_params: set[str] = field(default_factory=set)
    queue_attrs: set[str] = field(default_factory=set)
    event_attrs: set[str] = field(default_factory=set)
    flag_attrs: dict[str, bool] = field(default_factory=dict)  # self.X -> value that stops the loop
    queue_globals: set[str] = field(default_factory=set)
    event_globals: set[str] = field(default_factory=set)
    literals: list[Any] = field(default_factory=list)
    stop_messages: list[Any] = field(default_factory=list)
    max_timeout: float | None = None
    receive_calls: list[str] = field(default_factory=list)  # `conn.recv()` etc. that are not fed


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None
    return isinstance(value, (str, bytes, int, float, tuple, bool)) or value is None, value


def _queue_like(name: str) -> bool:
    low = name.lower()
    return low in QUEUE_NAMES or low.endswith(("_queue", "_q", "queue", "inbox", "_jobs", "_tasks"))


def _event_like(name: str) -> bool:
    low = name.lower()
    return low in EVENT_NAMES or low.endswith(("_event", "_stop", "stop_flag")) or low.startswith("stop")


def _timeout_of(call: ast.Call) -> tuple[bool, float | None]:
    """(has a timeout, its value when literal) for a `.get(...)`-like call."""
    for kw in call.keywords:
        if kw.arg == "timeout":
            ok, value = _literal(kw.value)
            if ok and value is None:
                return False, None
            return True, float(value) if ok and isinstance(value, (int, float)) else None
        if kw.arg == "block":
            ok, value = _literal(kw.value)
            if ok and value is False:
                return True, 0.0
    if len(call.args) >= 2:
        ok, value = _literal(call.args[1])
        return True, float(value) if ok and isinstance(value, (int, float)) else None
    if call.args:
        ok, value = _literal(call.args[0])
        if ok and value is False:
            return True, 0.0
    return False, None


class _Module:
    def __init__(self, tree: ast.Module) -> None:
        self.functions: dict[str, FunctionNode] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node

    def method(self, cls: ast.ClassDef, name: str) -> FunctionNode | None:
        for node in cls.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return node
        return None


def _params(node: FunctionNode, *, method: bool) -> list[ast.arg]:
    params = [*node.args.posonlyargs, *node.args.args]
    return params[1:] if method and params else params


def _receiver(call: ast.Call) -> ast.expr | None:
    if isinstance(call.func, ast.Attribute) and call.func.attr in ("get", "recv", "recv_bytes", "accept"):
        return call.func.value
    return None


def study(source: str, function: str) -> Study:
    """Read the job's function (and what it calls in the file) for queues, events and literals."""
    tree = ast.parse(source)
    mod = _Module(tree)
    facts = Study()
    parts = function.split(".")
    if len(parts) == 1 and parts[0] in mod.functions:
        facts.node = mod.functions[parts[0]]
    elif len(parts) == 2 and parts[0] in mod.classes:
        facts.cls = mod.classes[parts[0]]
        facts.node = mod.method(facts.cls, parts[1])
    if facts.node is None:
        return facts
    facts.params = _params(facts.node, method=facts.cls is not None)
    facts.defaults = len(facts.node.args.defaults)
    module_globals = {
        t.id
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }

    # Which parameter of each function is read as a queue / an event, to a fixed point over calls.
    def direct(fn: FunctionNode, method: bool) -> tuple[set[str], set[str], set[str]]:
        names = {a.arg for a in _params(fn, method=method)}
        queues: set[str] = set()
        events: set[str] = set()
        sockets: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                if isinstance(target, ast.Name) and target.id in names:
                    if node.func.attr in ("get", "get_nowait"):
                        queues.add(target.id)
                    elif node.func.attr in ("is_set", "wait"):
                        events.add(target.id)
                    elif node.func.attr == "recv":
                        sockets.add(target.id)
        return queues, events, sockets

    related: list[tuple[FunctionNode, bool]] = [(facts.node, facts.cls is not None)]
    queue_of: dict[str, set[str]] = {}
    event_of: dict[str, set[str]] = {}
    socket_of: dict[str, set[str]] = {}
    for name, fn in mod.functions.items():
        queue_of[name], event_of[name], socket_of[name] = direct(fn, False)
    for _ in range(3):
        for name, fn in mod.functions.items():
            callee_params = {n: [a.arg for a in _params(f, method=False)] for n, f in mod.functions.items()}
            for node in ast.walk(fn):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in callee_params
                ):
                    called = node.func.id
                    for pos, arg in enumerate(node.args):
                        if isinstance(arg, ast.Name) and pos < len(callee_params[called]):
                            p = callee_params[called][pos]
                            if p in queue_of[called]:
                                queue_of[name].add(arg.id)
                            if p in event_of[called]:
                                event_of[name].add(arg.id)
                            if p in socket_of[called]:
                                socket_of[name].add(arg.id)
    own_queues, own_events, own_sockets = direct(facts.node, facts.cls is not None)
    if facts.cls is None:
        own_queues |= queue_of.get(facts.node.name, set())
        own_events |= event_of.get(facts.node.name, set())
        own_sockets |= socket_of.get(facts.node.name, set())
    # Functions and methods the loop calls (one or two levels), for literals and timeouts.
    seen: set[int] = {id(facts.node)}
    frontier = [facts.node]
    for _ in range(2):
        nxt: list[FunctionNode] = []
        for fn in frontier:
            for node in ast.walk(fn):
                if not isinstance(node, ast.Call):
                    continue
                callee: FunctionNode | None = None
                if isinstance(node.func, ast.Name):
                    callee = mod.functions.get(node.func.id)
                elif (
                    facts.cls is not None
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("self", "cls")
                ):
                    callee = mod.method(facts.cls, node.func.attr)
                if callee is not None and id(callee) not in seen:
                    seen.add(id(callee))
                    nxt.append(callee)
                    related.append((callee, facts.cls is not None and callee in facts.cls.body))
        frontier = nxt
    param_names = {a.arg for a in facts.params}
    facts.socket_params = own_sockets & param_names
    facts.queue_params = (own_queues | {n for n in param_names if _queue_like(n)}) & param_names
    facts.queue_params -= facts.socket_params
    facts.event_params = (own_events | {n for n in param_names if _event_like(n)}) & param_names
    facts.event_params -= facts.queue_params | facts.socket_params
    timeouts: list[float] = []
    for fn, _method in related:
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                recv = _receiver(node)
                if recv is not None:
                    has, value = _timeout_of(node)
                    if has and value is not None:
                        timeouts.append(value)
                    if isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name):
                        if recv.value.id == "self" and isinstance(node.func, ast.Attribute):
                            if node.func.attr == "get":
                                facts.queue_attrs.add(recv.attr)
                            else:
                                facts.receive_calls.append(f"self.{recv.attr}.{node.func.attr}()")
                    elif isinstance(recv, ast.Name) and isinstance(node.func, ast.Attribute):
                        if node.func.attr != "get":
                            facts.receive_calls.append(f"{recv.id}.{node.func.attr}()")
                        elif recv.id in module_globals and recv.id not in param_names:
                            facts.queue_globals.add(recv.id)
                if (
                    isinstance(node.func, ast.Attribute)
                    and node.func.attr == "wait_for"
                    and len(node.args) >= 2
                ):
                    ok, value = _literal(node.args[1])
                    if ok and isinstance(value, (int, float)):
                        timeouts.append(float(value))
                if isinstance(node.func, ast.Attribute) and node.func.attr == "is_set":
                    target = node.func.value
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                        if target.value.id == "self":
                            facts.event_attrs.add(target.attr)
                    elif isinstance(target, ast.Name) and target.id in module_globals:
                        if target.id not in param_names:
                            facts.event_globals.add(target.id)
            if isinstance(node, ast.While):
                test = node.test
                negate = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
                inner = test.operand if isinstance(test, ast.UnaryOp) else test
                if (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id == "self"
                ):
                    facts.flag_attrs[inner.attr] = negate
            if isinstance(node, ast.Compare):
                _collect_literals(node, facts)
            if isinstance(node, ast.match_case):
                sample = _pattern_sample(node.pattern)
                if sample is not _NO_SAMPLE and sample not in facts.literals:
                    facts.literals.append(sample)
    facts.max_timeout = max(timeouts) if timeouts else None
    facts.receive_calls = [
        call for call in facts.receive_calls if call.split(".", 1)[0] not in facts.socket_params
    ]
    for value in list(facts.literals):
        word = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if value is None or (isinstance(word, str) and word.strip().lower() in STOP_WORDS):
            facts.literals.remove(value)
            facts.stop_messages.append(value)
    return facts


def _collect_literals(node: ast.Compare, facts: Study) -> None:
    exprs = [node.left, *node.comparators]
    for expr in exprs:
        if isinstance(expr, ast.Constant) and not isinstance(expr.value, bool):
            if expr.value not in facts.literals:
                facts.literals.append(expr.value)
    for op, comparator in zip(node.ops, node.comparators):
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(comparator, (ast.Tuple, ast.List, ast.Set)):
            for element in comparator.elts:
                ok, value = _literal(element)
                if ok and value not in facts.literals:
                    facts.literals.append(value)


_NO_SAMPLE = object()


def _pattern_sample(pattern: ast.pattern) -> Any:
    if isinstance(pattern, ast.MatchValue):
        ok, value = _literal(pattern.value)
        return value if ok else _NO_SAMPLE
    if isinstance(pattern, ast.MatchSingleton):
        return pattern.value
    if isinstance(pattern, ast.MatchOr) and pattern.patterns:
        return _pattern_sample(pattern.patterns[0])
    if isinstance(pattern, ast.MatchSequence):
        items = []
        for element in pattern.patterns:
            if isinstance(element, ast.MatchAs):
                items.append(PROBE_MESSAGE)
            else:
                value = _pattern_sample(element)
                if value is _NO_SAMPLE:
                    return _NO_SAMPLE
                items.append(value)
        return tuple(items)
    return _NO_SAMPLE


# ================================================================================================
# The child: running a job for real
# ================================================================================================


class _FedSocket(socket.socket):
    """One end of a real socket pair; its ``recv`` is Python code, so deliveries can be traced."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        return data


def _to_bytes(message: Any) -> bytes:
    if isinstance(message, bytes):
        return message
    return str(message).encode("utf-8")


_GENERATOR_FLAGS = 0x20 | 0x80 | 0x100 | 0x200  # generator, coroutine, iterable coroutine, async gen
_GET_CODES = frozenset({queue.Queue.get.__code__, asyncio.Queue.get.__code__, _FedSocket.recv.__code__})
_RETURN_OPS = frozenset(op for name, op in dis.opmap.items() if name == "RETURN_VALUE")


def _returned(frame: types.FrameType) -> bool:
    """A 'return' trace event that is a real return (not a yield, not an exception)."""
    try:
        return frame.f_code.co_code[frame.f_lasti] in _RETURN_OPS
    except IndexError:
        return False


@dataclass
class Delivery:
    index: int  # 1-based number of the message among all fed
    message: Any
    thread: int
    receiver: types.FrameType | None
    codes: dict[int, types.CodeType] = field(default_factory=dict)
    lines: dict[int, int] = field(default_factory=dict)  # id(code) -> first line run


class Tracer:
    """Records, per message, the code objects run by the frame that received it and its callees."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] | None = None
        self.active = True
        self.fed: dict[int, Any] = {}  # id -> a queue messages were put into
        self.pending: list[tuple[int, Any]] = []  # (index, message) fed, not yet delivered
        self.deliveries: list[Delivery] = []
        self.current: dict[int, Delivery] = {}
        self.lock = threading.Lock()

    # -- the hooks --------------------------------------------------------------------------------
    def global_trace(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if not self.active:
            return None
        code = frame.f_code
        if code in _GET_CODES:
            return self.local_get  # which queue it is, is checked at the return
        if self.namespace is not None and frame.f_globals is self.namespace:
            self._attribute(
                frame, resumed=frame.f_lasti >= 0 and bool(frame.f_code.co_flags & _GENERATOR_FLAGS)
            )
            return self.local_module
        return None

    def local_get(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if self.active and event == "return" and _returned(frame):
            if id(frame.f_locals.get("self")) in self.fed and arg != b"":
                self._delivered(frame, arg)
        return self.local_get

    def local_module(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if not self.active:
            return None
        if event == "line":
            self._attribute(frame)
        elif event == "return" and _returned(frame):
            current = self.current.get(threading.get_ident())
            if current is not None and current.receiver is frame:
                del self.current[threading.get_ident()]
        return self.local_module

    # -- bookkeeping ------------------------------------------------------------------------------
    def _delivered(self, frame: types.FrameType, message: Any) -> None:
        receiver = frame.f_back
        for _ in range(20):
            if receiver is None or receiver.f_globals is self.namespace:
                break
            receiver = receiver.f_back
        with self.lock:
            index = len(self.deliveries) + 1
            for i, (n, m) in enumerate(self.pending):
                if m is message or _same(m, message):
                    index = n
                    del self.pending[i]
                    break
            delivery = Delivery(index, message, threading.get_ident(), receiver)
            self.deliveries.append(delivery)
            self.current[threading.get_ident()] = delivery
        if receiver is not None:
            self._note(delivery, receiver)

    def _attribute(self, frame: types.FrameType, resumed: bool = False) -> None:
        delivery = self.current.get(threading.get_ident())
        if delivery is None:
            return
        if delivery.receiver is None:
            if resumed:
                return  # a coroutine resumed on its way to the receiver: not the receiver itself
            delivery.receiver = frame
        elif not _descends(frame, delivery.receiver):
            return
        self._note(delivery, frame)

    @staticmethod
    def _note(delivery: Delivery, frame: types.FrameType) -> None:
        code = frame.f_code
        if id(code) not in delivery.codes:
            delivery.codes[id(code)] = code
            delivery.lines[id(code)] = frame.f_lineno


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _descends(frame: types.FrameType | None, ancestor: types.FrameType) -> bool:
    for _ in range(200):
        if frame is None:
            return False
        if frame is ancestor:
            return True
        frame = frame.f_back
    return False


class _JobFailed(Exception):
    """The job cannot go on: the verdict says why."""

    def __init__(self, verdict: ReloadVerdict) -> None:
        super().__init__(verdict.evidence)
        self.verdict = verdict


class _Retry(_JobFailed):
    """The loop died on these messages: try a smaller set."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe_exc(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class Consumer:
    """The thread or task running the loop, as the job started it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.thread: threading.Thread | None = None
        self.task: asyncio.Task[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.outcome: tuple[str, Any] | None = None  # ("returned", value) / ("raised", exc)
        self.done = threading.Event()

    @property
    def label(self) -> str:
        return f"task {self.name!r}" if self.task is not None else f"thread {self.name!r}"

    def alive(self) -> bool:
        return not self.done.is_set()

    def frames(self) -> list[types.FrameType]:
        """The consumer's frames, outermost first (a suspended task: its coroutine chain)."""
        from swaplint import live

        if self.task is not None:
            if self.task.done():
                return []
            coro: Any = self.task.get_coro()
            if getattr(coro, "cr_running", False) and self.thread is not None:
                return self._thread_frames()
            return live._task_frames(self.task)
        return self._thread_frames()

    def _thread_frames(self) -> list[types.FrameType]:
        if self.thread is None or self.thread.ident is None:
            return []
        top = sys._current_frames().get(self.thread.ident)
        chain: list[types.FrameType] = []
        while top is not None:
            chain.append(top)
            top = top.f_back
        chain.reverse()
        return chain

    def waiting_frame(self, fed: dict[int, Any]) -> types.FrameType | None:
        """The `get` frame of a fed queue the consumer is blocked in, if it is.

        For a task, a `get` awaited in a task of its own (``asyncio.wait_for`` makes one) counts.
        """
        from swaplint import live

        chains = [self.frames()]
        if self.task is not None and self.loop is not None:
            chains += [live._task_frames(t) for t in live._all_tasks(self.loop) if t is not self.task]
        for chain in chains:
            for frame in reversed(chain):
                if frame.f_code in _GET_CODES and id(frame.f_locals.get("self")) in fed:
                    return frame
        return None


class Job:
    """One job in the child: load, start, feed, reload, judge."""

    def __init__(self, path: str, module: str, code: str, function: str, args: Any, messages: Any) -> None:
        self.path = path
        self.module_name = module
        self.code = code
        self.function = function
        self.args: tuple[Any, ...] | None = None if args is None else tuple(args)
        self.messages: tuple[Any, ...] | None = None if messages is None else tuple(messages)
        with open(path, encoding="utf-8") as handle:
            self.source = handle.read()
        self.facts = study(self.source, function) if function not in ("", "<module>") else Study()
        self.tracer = Tracer()
        self.mod: types.ModuleType | None = None
        self.consumer: Consumer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: threading.Thread | None = None
        self.instance: Any = None
        self.param_queue: Any = None
        self.fed_socket: _FedSocket | None = None
        self.peer: socket.socket | None = None
        self.stoppers: list[Callable[[], None]] = []
        self.fed_count = 0
        self.sentinel_fed = False

    # -- environment ------------------------------------------------------------------------------
    @property
    def settle(self) -> float:
        """How long the loop may take to come back from a receive with a timeout."""
        return min(self.facts.max_timeout or 0.0, 3.0) + 0.3

    def load(self) -> types.ModuleType:
        from swaplint import live

        if "." in self.module_name:
            _ensure_parents(self.module_name, self.path)
        threading.settrace(self.tracer.global_trace)
        try:
            mod = live.load(self.path, self.module_name)
        except BaseException as exc:
            raise _JobFailed(
                ReloadVerdict(NOT_RUN, f"the module failed to load: {_describe_exc(exc)}")
            ) from None
        self.tracer.namespace = mod.__dict__
        self.mod = mod
        return mod

    def event_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="swaplint-event-loop", daemon=True)
            thread.start()
            self.loop, self.loop_thread = loop, thread
        return self.loop

    def call_in_loop(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        loop = self.event_loop()
        box: list[Any] = []
        done = threading.Event()

        def run() -> None:
            try:
                box.append(("ok", fn()))
            except BaseException as exc:
                box.append(("err", exc))
            done.set()

        loop.call_soon_threadsafe(run)
        if not done.wait(timeout):
            raise _JobFailed(ReloadVerdict(NOT_RUN, "the event loop did not answer within 5 s"))
        kind, value = box[0]
        if kind == "err":
            raise value
        return value

    # -- building the call --------------------------------------------------------------------------
    def _is_async(self) -> bool:
        return isinstance(self.facts.node, ast.AsyncFunctionDef)

    def _new_queue(self) -> Any:
        if self._is_async():
            return self.call_in_loop(asyncio.Queue)
        return queue.Queue()

    def _new_socket(self) -> _FedSocket:
        if self.fed_socket is None:
            ours, theirs = socket.socketpair()
            self.fed_socket = _FedSocket(ours.family, ours.type, ours.proto, fileno=ours.detach())
            self.peer = theirs
        return self.fed_socket

    def _new_event(self) -> Any:
        if self._is_async():
            event = self.call_in_loop(asyncio.Event)
            self.stoppers.append(_setter(self, event))
            return event
        event = threading.Event()
        self.stoppers.append(event.set)
        return event

    def _arguments(
        self,
        params: list[ast.arg],
        defaults: int,
        given: tuple[Any, ...] | None,
        what: str,
        queues: set[str],
        events: set[str],
        sockets: frozenset[str] = frozenset(),
    ) -> list[Any]:
        values: list[Any] = []
        rest = list(given or ())
        required = len(params) - defaults
        for i, param in enumerate(params):
            if param.arg in sockets:
                values.append(self._new_socket())
            elif param.arg in queues:
                if self.param_queue is None:
                    self.param_queue = self._new_queue()
                values.append(self.param_queue)
            elif param.arg in events:
                values.append(self._new_event())
            elif rest:
                values.append(rest.pop(0))
            elif i >= required:
                break  # the default, and every later parameter's
            else:
                names = ", ".join(p.arg for p in params)
                key = f'[tool.swaplint.verify."{self.module_name}:{self.function}"]'
                raise _JobFailed(
                    ReloadVerdict(
                        NOT_RUN,
                        f"start arguments unknown: `{what}({names})` needs `{param.arg}`, which is not a "
                        f"queue or a stop event; set args in {key}",
                    )
                )
        return values

    def _build_instance(self) -> Any:
        assert self.mod is not None and self.facts.cls is not None
        cls = getattr(self.mod, self.facts.cls.name, None)
        if not isinstance(cls, type):
            raise _JobFailed(ReloadVerdict(NOT_RUN, f"`{self.facts.cls.name}` is not a class after loading"))
        init = _Module(ast.parse(self.source)).method(self.facts.cls, "__init__")
        args = list(self.args or ())
        if init is not None:
            params = _params(init, method=True)
            queues = {p.arg for p in params if _queue_like(p.arg)}
            events = {p.arg for p in params if _event_like(p.arg)}
            for node in ast.walk(init):  # self.inbox = inbox, where the loop reads self.inbox.get()
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                    for t in node.targets:
                        if (
                            isinstance(t, ast.Attribute)
                            and isinstance(t.value, ast.Name)
                            and t.value.id == "self"
                        ):
                            if t.attr in self.facts.queue_attrs:
                                queues.add(node.value.id)
                            if t.attr in self.facts.event_attrs:
                                events.add(node.value.id)
            args = self._arguments(
                params, len(init.args.defaults), self.args, "__init__", queues, events - queues
            )
        try:
            return cls(*args)
        except Exception as exc:
            raise _JobFailed(
                ReloadVerdict(
                    NOT_RUN,
                    f"cannot build `{cls.__name__}` to run `{self.function}`: {_describe_exc(exc)}; "
                    f'set args in [tool.swaplint.verify."{self.module_name}:{self.function}"]',
                )
            ) from None

    # -- starting -------------------------------------------------------------------------------------
    def start(self) -> Consumer:
        assert self.mod is not None
        facts = self.facts
        if facts.node is None:
            if "<locals>" in self.function or self.function.count(".") > 1:
                why = "a nested function or a nested class's method: only module-level functions and methods are started"
            else:
                why = "not a module-level function or a method of a module-level class"
            raise _JobFailed(ReloadVerdict(NOT_RUN, f"`{self.function}` is {why}"))
        name = self.function.rsplit(".", 1)[-1]
        consumer = Consumer(name)
        if facts.cls is not None:
            self.instance = self._build_instance()
            target = getattr(self.instance, facts.node.name)
            call_args = self._arguments(
                facts.params, facts.defaults, None, facts.node.name, facts.queue_params, facts.event_params
            )
            for attr in facts.event_attrs:
                event = getattr(self.instance, attr, None)
                if isinstance(event, (threading.Event, asyncio.Event)):
                    self.stoppers.append(_setter(self, event))
            for attr, negate in facts.flag_attrs.items():
                self.stoppers.append(_flag_setter(self.instance, attr, negate))
        else:
            target = getattr(self.mod, facts.node.name)
            call_args = self._arguments(
                facts.params,
                facts.defaults,
                self.args,
                name,
                facts.queue_params,
                facts.event_params,
                frozenset(facts.socket_params),
            )
        for global_name in facts.event_globals:
            self.stoppers.append(self._global_event_setter(global_name))
        if self._is_async():
            loop = self.event_loop()
            consumer.thread = self.loop_thread
            consumer.loop = loop

            def spawn() -> asyncio.Task[Any]:
                task = loop.create_task(target(*call_args), name=name)
                task.add_done_callback(lambda t: _task_outcome(consumer, t))
                return task

            consumer.task = self.call_in_loop(spawn)
        elif (
            facts.cls is not None
            and isinstance(self.instance, threading.Thread)
            and facts.node.name == "run"
            and not call_args
        ):
            consumer.thread = self.instance
            consumer.name = self.instance.name
            previous = threading.excepthook

            def hook(info: Any) -> None:
                if info.thread is self.instance:
                    consumer.outcome = ("raised", info.exc_value)
                else:
                    previous(info)

            threading.excepthook = hook
            self.instance.start()
            threading.Thread(target=_watch_thread, args=(consumer,), daemon=True).start()
        else:

            def body() -> None:
                try:
                    consumer.outcome = ("returned", target(*call_args))
                except BaseException as exc:
                    consumer.outcome = ("raised", exc)
                finally:
                    consumer.done.set()

            consumer.thread = threading.Thread(target=body, name=name, daemon=True)
            consumer.thread.start()
        self.consumer = consumer
        return consumer

    def _global_event_setter(self, name: str) -> Callable[[], None]:
        def set_it() -> None:
            event = getattr(self.mod, name, None)
            if isinstance(event, (threading.Event, asyncio.Event)):
                _setter(self, event)()

        return set_it

    # -- feeding ------------------------------------------------------------------------------------
    def inbox(self) -> Any:
        """The queue to put the next message into (re-read: a reload may have replaced it)."""
        if self.param_queue is not None:
            return self.param_queue
        if self.fed_socket is not None:
            return self.fed_socket
        for attr in sorted(self.facts.queue_attrs):
            candidate = getattr(self.instance, attr, None)
            if isinstance(candidate, (queue.Queue, asyncio.Queue)):
                return candidate
        for name in sorted(self.facts.queue_globals):
            candidate = getattr(self.mod, name, None)
            if isinstance(candidate, (queue.Queue, asyncio.Queue)):
                return candidate
        return None

    def can_feed(self) -> bool:
        return self.inbox() is not None

    def put(self, message: Any, *, record: bool = True) -> int:
        target = self.inbox()
        assert target is not None
        self.tracer.fed[id(target)] = target
        self.fed_count += 1
        index = self.fed_count
        if isinstance(target, socket.socket):
            message = _to_bytes(message)
        if record:
            with self.tracer.lock:
                self.tracer.pending.append((index, message))
        if isinstance(target, socket.socket):
            assert self.peer is not None
            self.peer.sendall(message)
        elif isinstance(target, asyncio.Queue):
            self.event_loop().call_soon_threadsafe(target.put_nowait, message)
        else:
            target.put(message)
        return index

    def register_inbox(self) -> None:
        target = self.inbox()
        if target is not None:
            self.tracer.fed[id(target)] = target

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the consumer blocks in a fed queue again (or ends); True if it did."""
        assert self.consumer is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.consumer.alive():
                return True
            if self.consumer.waiting_frame(self.tracer.fed) is not None:
                return True
            time.sleep(0.005)
        return False

    def feed(self, message: Any) -> Delivery | None:
        """Put one message, wait until it is delivered and handled; its delivery record."""
        assert self.consumer is not None
        index = self.put(message)
        deadline = time.monotonic() + self.settle + 2.0
        delivery = None
        while time.monotonic() < deadline and delivery is None:
            delivery = next((d for d in self.tracer.deliveries if d.index == index), None)
            if delivery is None:
                if not self.consumer.alive():
                    break
                time.sleep(0.003)
        if delivery is not None:
            self.wait_idle(self.settle + 2.0)
        return delivery

    def depth(self) -> int:
        assert self.consumer is not None
        name = self.facts.node.name if self.facts.node is not None else ""
        return sum(
            1
            for f in self.consumer.frames()
            if f.f_code.co_name == name and f.f_globals is self.tracer.namespace
        )

    def request_stop(self, *, messages: bool = True) -> str | None:
        """Set every stop event / flag the loop checks, or send its stop message; what was done."""
        if self.stoppers:
            for stop in self.stoppers:
                try:
                    stop()
                except Exception:
                    pass
            return (
                "the stop event"
                if self.facts.event_params or self.facts.event_globals or self.facts.event_attrs
                else "its stop flag"
            )
        if messages and self.facts.stop_messages and self.can_feed():
            self.put(self.facts.stop_messages[0], record=False)
            self.sentinel_fed = True
            return f"the stop message {_short(self.facts.stop_messages[0])}"
        if messages and self.peer is not None:
            self.peer.close()
            return "the peer close the connection"
        return None

    def cleanup(self) -> None:
        self.tracer.active = False
        threading.settrace(cast(Any, None))  # no hook for threads started from now on
        self.request_stop()
        if self.consumer is not None and self.consumer.alive() and self.can_feed():
            for message in self.facts.stop_messages[:1]:
                try:
                    self.put(message, record=False)
                except Exception:
                    pass
        if self.loop is not None:
            loop = self.loop

            def cancel() -> None:
                for task in asyncio.all_tasks(loop):
                    task.cancel()

            try:
                loop.call_soon_threadsafe(cancel)
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:
                pass


def _setter(job: Job, event: Any) -> Callable[[], None]:
    def set_it() -> None:
        if isinstance(event, asyncio.Event):
            job.event_loop().call_soon_threadsafe(event.set)
        else:
            event.set()

    return set_it


def _flag_setter(instance: Any, attr: str, value: bool) -> Callable[[], None]:
    def set_it() -> None:
        setattr(instance, attr, value)

    return set_it


def _task_outcome(consumer: Consumer, task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        consumer.outcome = ("cancelled", None)
    elif task.exception() is not None:
        consumer.outcome = ("raised", task.exception())
    else:
        consumer.outcome = ("returned", task.result())
    consumer.done.set()


def _watch_thread(consumer: Consumer) -> None:
    assert consumer.thread is not None
    consumer.thread.join()
    if consumer.outcome is None:
        consumer.outcome = ("returned", None)
    consumer.done.set()


def _ensure_parents(dotted: str, path: str) -> None:
    """Make the parent packages of a dotted module name importable (stubs when not found)."""
    import importlib

    parts = dotted.split(".")
    directory = os.path.dirname(os.path.abspath(path))
    for depth in range(1, len(parts)):
        name = ".".join(parts[:depth])
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:
            stub = types.ModuleType(name)
            up = len(parts) - 1 - depth
            where = directory
            for _ in range(up):
                where = os.path.dirname(where)
            stub.__path__ = [where]
            sys.modules[name] = stub


def _outcome_text(consumer: Consumer) -> str:
    if consumer.outcome is None:
        return "ended"
    kind, value = consumer.outcome
    if kind == "raised":
        return f"crashed with {_describe_exc(value)}"
    if kind == "cancelled":
        return "was cancelled"
    return "returned" + (f" {_short(value)}" if value is not None else "")


# -- judging ---------------------------------------------------------------------------------------------


@dataclass
class Handled:
    delivery: Delivery
    versions: dict[int, list[str]]  # version -> functions of that version that ran


def _versions(delivery: Delivery) -> dict[int, list[str]]:
    from swaplint import live

    found: dict[int, list[str]] = {}
    for code in delivery.codes.values():
        hit = live.version_of(code)
        if hit is not None:
            names = found.setdefault(hit[1], [])
            if code.co_qualname not in names:
                names.append(code.co_qualname)
    return found


def _handled_text(handled: Handled, current: int) -> str:
    parts = []
    for version in sorted(handled.versions):
        names = ", ".join(f"`{n}`" for n in handled.versions[version])
        parts.append(f"version-{version} code ({names})")
    if not parts:
        return f"message {handled.delivery.index} was handled by no code of the module"
    if set(handled.versions) == {current}:
        return f"message {handled.delivery.index} was handled entirely by {parts[0]}"
    mixed = ": mixed versions" if len(parts) > 1 else ""
    return f"message {handled.delivery.index} was handled by {' and '.join(parts)}{mixed}"


def _frame_text(frames: Sequence[Any], label: str, reloads: int = RELOADS) -> str:
    first = frames[0]
    more = f" (and {_plural(len(frames) - 1, 'more stale frame')})" if len(frames) > 1 else ""
    return (
        f"{label} still runs `{first.function}` of version {first.version} at line {first.line} "
        f"after {_plural(reloads, 'reload')}{more}"
    )


def _pick(stale_frames: Sequence[Any], function: str) -> list[Any]:
    """The stale frames to show: those of the job's function first."""
    short = function.rsplit(".", 1)[-1]
    own = [s for s in stale_frames if s.function.rsplit(".", 1)[-1] == short][::-1]  # innermost first
    return own + [s for s in stale_frames if s not in own]


def run_job(job: Job, deadline: float) -> ReloadVerdict:
    if job.code == "SWL004":
        try:
            return _run_spawner(job)
        except _JobFailed as failed:
            return failed.verdict
        finally:
            job.cleanup()
    if job.messages is not None:
        candidates = [job.messages]
    else:
        literals = tuple(job.facts.literals)
        candidates = []
        for option in ((PROBE_MESSAGE, *literals), literals, (PROBE_MESSAGE,), ()):
            if option not in candidates:
                candidates.append(option)
    last: ReloadVerdict | None = None
    for messages in candidates:
        if time.monotonic() > deadline:
            break
        attempt = Job(job.path, job.module_name, job.code, job.function, job.args, job.messages)
        try:
            return _scenario(attempt, messages)
        except _Retry as retry:
            last = retry.verdict
        except _JobFailed as failed:
            return failed.verdict
        finally:
            attempt.cleanup()
    return last or ReloadVerdict(NOT_RUN, "no time was left to run the loop")


def _census(job: Job) -> list[Any]:
    from swaplint import live

    assert job.consumer is not None and job.mod is not None
    consumer = job.consumer
    frames = live.stale([job.mod], loops=[job.loop] if job.loop is not None else ())
    if consumer.task is not None:
        mine = [s for s in frames if s.task is consumer.task]
        if not mine and consumer.thread is not None:
            names = {f.f_code.co_qualname for f in consumer.frames()}
            mine = [s for s in frames if s.ident == consumer.thread.ident and s.function in names]
        return mine
    ident = consumer.thread.ident if consumer.thread is not None else None
    return [s for s in frames if s.ident == ident]


def _scenario(job: Job, messages: tuple[Any, ...]) -> ReloadVerdict:
    from swaplint import live

    mod = job.load()
    consumer = job.start()
    job.register_inbox()
    feedable = job.can_feed()
    label = consumer.label
    # Let it reach its receive.
    job.wait_idle(1.0 if feedable else 0.3)
    if not consumer.alive():
        raise _JobFailed(
            ReloadVerdict(NOT_RUN, f"`{job.function}` {_outcome_text(consumer)} before any message")
        )
    if not feedable:
        messages = ()
    depth0 = job.depth()
    depths: list[int] = []
    for message in messages:
        delivery = job.feed(message)
        if not consumer.alive():
            raise _Retry(
                ReloadVerdict(
                    NOT_RUN,
                    f"`{job.function}` {_outcome_text(consumer)} on message {_short(message)}",
                    messages,
                )
            )
        if delivery is None:
            raise _JobFailed(
                ReloadVerdict(
                    NOT_RUN,
                    f"message {_short(message)} was put into the loop's queue but not received within "
                    f"{job.settle + 2.0:g} s",
                    messages,
                )
            )
        depths.append(job.depth())
    for _ in range(RELOADS):
        try:
            live.reload(mod)
        except BaseException as exc:
            raise _JobFailed(
                ReloadVerdict(NOT_RUN, f"the reload failed: {_describe_exc(exc)}", messages)
            ) from None
    current = live.current_version(mod)
    time.sleep(job.settle)
    stale_after = _census(job)
    if not consumer.alive():
        raise _Retry(
            ReloadVerdict(NOT_RUN, f"`{job.function}` {_outcome_text(consumer)} after the reloads", messages)
        )
    waiting = job.consumer.waiting_frame(job.tracer.fed) if job.consumer else None
    untimed = False
    if waiting is not None:
        local = waiting.f_locals
        untimed = local.get("block", True) is not False and local.get("timeout") is None
        if waiting.f_code is asyncio.Queue.get.__code__:
            untimed = job.facts.max_timeout is None
        if waiting.f_code is _FedSocket.recv.__code__:
            untimed = job.fed_socket is not None and job.fed_socket.gettimeout() is None
    stale_text = _frame_text(_pick(stale_after, job.function), label) if stale_after else ""

    if job.code == "SWL003":
        return _judge_idle(job, messages, stale_after, stale_text, untimed, label)

    handled: list[Handled] = []
    post = messages if messages else ((PROBE_MESSAGE,) if feedable and job.messages is None else ())
    for message in post:
        delivery = job.feed(message)
        if delivery is None:
            if not consumer.alive():
                raise _JobFailed(
                    ReloadVerdict(
                        NOT_RUN,
                        f"`{job.function}` {_outcome_text(consumer)} on message {_short(message)} after the reloads",
                        messages,
                    )
                )
            return ReloadVerdict(
                CONFIRMED,
                f"after {_plural(RELOADS, 'reload')}, message {job.fed_count} ({_short(message)}) was not "
                f"received within {job.settle + 2.0:g} s: {label} waits on a queue the new version no longer "
                "feeds (module state was re-initialised)" + (f"; {stale_text}" if stale_text else ""),
                messages,
            )
        handled.append(Handled(delivery, _versions(delivery)))
    all_fed = (*messages, *post)

    if job.code in GROWTH_CODES:
        return _judge_growth(job, all_fed, depth0, depths, stale_after, label, current)

    old = [h for h in handled if set(h.versions) - {current}]
    stop_text, stopped = _stop(job)
    if old:
        text = _handled_text(old[0], current)
        lead = stale_text or f"after {_plural(RELOADS, 'reload')}"
        return ReloadVerdict(CONFIRMED, f"{lead}; {text}" + _stop_suffix(stop_text, stopped, job), all_fed)
    if not handled and stale_after:
        receiving = [
            s for s in stale_after if s.function.rsplit(".", 1)[-1] == job.function.rsplit(".", 1)[-1]
        ]
        if receiving and not feedable:
            what = ", ".join(job.facts.receive_calls) or "no queue it reads could be found"
            return ReloadVerdict(
                CONFIRMED,
                f"{stale_text}; the frame that receives is superseded code, so the next message goes to "
                f"version-1 code (no message could be fed: {what})",
                all_fed,
            )
    if stop_text is not None and not stopped:
        return ReloadVerdict(
            CONFIRMED,
            (stale_text or f"after {_plural(RELOADS, 'reload')}")
            + f"; {label} did not see {stop_text} within {_stop_wait(job):g} s",
            all_fed,
        )
    parts = []
    if handled:
        parts.append(f"after {_plural(RELOADS, 'reload')}, {_handled_text(handled[-1], current)}")
    else:
        parts.append(f"after {_plural(RELOADS, 'reload')} no message could be fed")
    if stale_after:
        first = _pick(stale_after, job.function)[0]
        parts.append(
            f"{label} keeps only `{first.function}` of version {first.version} at line {first.line}, "
            "which handles no message"
        )
    else:
        parts.append(f"{label} runs no superseded code")
    text = "; ".join(parts) + _stop_suffix(stop_text, stopped, job)
    return ReloadVerdict(NOT_REPRODUCED, text, all_fed)


def _stop_wait(job: Job) -> float:
    return min(job.facts.max_timeout if job.facts.max_timeout is not None else 1.0, 3.0) + 0.7


def _stop(job: Job, *, messages: bool = True) -> tuple[str | None, bool]:
    assert job.consumer is not None
    what = job.request_stop(messages=messages)
    if what is None:
        return None, False
    stopped = job.consumer.done.wait(_stop_wait(job))
    return what, stopped


def _stop_suffix(what: str | None, stopped: bool, job: Job) -> str:
    if what is None:
        return ""
    if stopped:
        return f"; it saw {what} and ended"
    return f"; it did not see {what} within {_stop_wait(job):g} s"


def _judge_idle(
    job: Job, messages: tuple[Any, ...], stale_after: list[Any], stale_text: str, untimed: bool, label: str
) -> ReloadVerdict:
    assert job.consumer is not None
    idle = job.consumer.waiting_frame(job.tracer.fed) is not None
    what, stopped = _stop(job, messages=False)  # a stop message is a message: it wakes any loop
    if stopped:
        return ReloadVerdict(
            NOT_REPRODUCED,
            f"after {_plural(RELOADS, 'reload')}, idle {label} woke within its timeout and saw {what} "
            f"within {_stop_wait(job):g} s",
            messages,
        )
    if stale_after and (untimed or what is not None):
        first = _pick(stale_after, job.function)[0]
        where = "blocked in a receive with no timeout" if untimed and idle else "idle"
        tail = (
            f"it did not see {what} within {_stop_wait(job):g} s"
            if what is not None
            else "it has no stop flag or event, so only a message can wake it"
        )
        return ReloadVerdict(
            CONFIRMED,
            f"{label} is {where} in `{first.function}` of version {first.version} at line {first.line} after "
            f"{_plural(RELOADS, 'reload')}; {tail}",
            messages,
        )
    if what is None and not untimed:
        return ReloadVerdict(
            NOT_REPRODUCED,
            f"after {_plural(RELOADS, 'reload')}, {label} is not blocked in a receive without timeout"
            + (f"; {stale_text}" if stale_text else ""),
            messages,
        )
    return ReloadVerdict(
        NOT_REPRODUCED,
        f"after {_plural(RELOADS, 'reload')}, {label} runs no superseded code while idle",
        messages,
    )


def _judge_growth(
    job: Job,
    fed: tuple[Any, ...],
    depth0: int,
    depths: list[int],
    stale_after: list[Any],
    label: str,
    current: int,
) -> ReloadVerdict:
    assert job.consumer is not None
    name = job.facts.node.name if job.facts.node is not None else job.function
    depth_now = job.depth()
    n = len(fed)
    if n == 0:
        return ReloadVerdict(
            NOT_RUN,
            "no message could be fed to measure the stack: "
            + (", ".join(job.facts.receive_calls) or "no queue found"),
        )
    grew = depth_now - depth0
    versions = sorted({s.version for s in stale_after})
    if grew < n:
        stop_text, stopped = _stop(job)
        return ReloadVerdict(
            NOT_REPRODUCED,
            f"the stack of {label} held {_plural(depth_now, f'frame of `{name}`')} after {_plural(n, 'message')} "
            f"({depth0} before the first){_stop_suffix(stop_text, stopped, job)}",
            fed,
        )
    per = grew / n
    text = (
        f"the stack of {label} grew from {depth0} to {depth_now} frames of `{name}` over "
        f"{_plural(n, 'message')} (one more frame per message{', and per receive timeout' if per > 1 else ''})"
    )
    if versions:
        old = sum(1 for s in stale_after)
        text += (
            f"; after {_plural(RELOADS, 'reload')} {_plural(old, 'frame')} of version "
            f"{', '.join(map(str, versions))} stay on it (current {current})"
        )
    limit = sys.getrecursionlimit()
    # Push it to the limit with the trace hook off (it only slows this down).
    job.tracer.active = False
    if job.can_feed() and not isinstance(job.inbox(), socket.socket):  # a stream merges messages
        sample = fed[0]
        base = job.fed_count
        deadline = time.monotonic() + 10.0
        target = limit + 50
        sent = 0
        while sent < target and job.consumer.alive() and time.monotonic() < deadline:
            job.put(sample, record=False)
            sent += 1
            if sent % 50 == 0:
                inbox = job.inbox()
                while inbox is not None and job.consumer.alive() and time.monotonic() < deadline:
                    size = inbox.qsize()
                    if size <= 5:
                        break
                    time.sleep(0.002)
        job.consumer.done.wait(max(0.0, min(3.0, deadline - time.monotonic())))
        outcome = job.consumer.outcome
        if outcome is not None and outcome[0] == "raised" and isinstance(outcome[1], RecursionError):
            inbox = job.inbox()
            left = inbox.qsize() if inbox is not None else 0
            handled = job.fed_count - left
            text += (
                f"; it died with RecursionError after {handled} messages in all "
                f"(sys.getrecursionlimit() = {limit})"
            )
        elif outcome is not None:
            text += f"; fed {sent} more messages, it {_outcome_text(job.consumer)} (after {job.fed_count - base} more)"
        else:
            text += f"; fed {sent} more messages without reaching the limit of {limit} in time"
    else:
        text += f"; it dies with RecursionError after about sys.getrecursionlimit() = {limit} messages"
    return ReloadVerdict(CONFIRMED, text, fed)


# -- SWL004: what a function starts and forgets ---------------------------------------------------------


def _holds(root: Any, target: Any, depth: int = 3) -> bool:
    seen: set[int] = set()

    def walk(obj: Any, level: int) -> bool:
        if obj is target:
            return True
        if level >= depth or id(obj) in seen:
            return False
        seen.add(id(obj))
        if isinstance(obj, (str, bytes, int, float, bool, type(None), types.ModuleType, type)):
            return False
        if isinstance(obj, dict):
            return any(walk(v, level + 1) for v in list(obj.values()))
        if isinstance(obj, (list, tuple, set, frozenset)):
            return any(walk(v, level + 1) for v in list(obj))
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict) and not isinstance(obj, (threading.Thread, asyncio.Future)):
            return any(walk(v, level + 1) for v in list(attrs.values()))
        return False

    return walk(root, 0)


def _run_spawner(job: Job) -> ReloadVerdict:
    from swaplint import live

    before_threads = set(threading.enumerate())
    at_import = job.function in ("", "<module>")
    spawner = "the module's import" if at_import else f"`{job.function}`"
    mod = job.load()
    job.event_loop()
    helper_threads = {job.loop_thread}
    loop = job.event_loop()
    before_tasks: set[asyncio.Task[Any]] = set(job.call_in_loop(lambda: asyncio.all_tasks(loop)))
    returned: list[Any] = []
    if not at_import:
        facts = job.facts
        if facts.node is None or facts.cls is not None:
            raise _JobFailed(
                ReloadVerdict(NOT_RUN, f"`{job.function}` is not a module-level function of the file")
            )
        target = getattr(mod, facts.node.name)
        args = job._arguments(
            facts.params, facts.defaults, job.args, facts.node.name, facts.queue_params, facts.event_params
        )
        if isinstance(facts.node, ast.AsyncFunctionDef):
            result = asyncio.run_coroutine_threadsafe(target(*args), loop)
            try:
                returned.append(result.result(1.0))
            except Exception:
                pass
            before_tasks |= {
                t
                for t in job.call_in_loop(lambda: asyncio.all_tasks(loop))
                if t.get_coro() is not None
                and getattr(t.get_coro(), "cr_code", None) is getattr(target, "__code__", None)
            }
        else:
            done = threading.Event()

            def body() -> None:
                try:
                    returned.append(target(*args))
                except BaseException as exc:
                    returned.append(exc)
                finally:
                    done.set()

            runner = threading.Thread(target=body, name=f"swaplint-run-{facts.node.name}", daemon=True)
            helper_threads.add(runner)
            runner.start()
            done.wait(1.0)
            if returned and isinstance(returned[0], BaseException):
                return ReloadVerdict(NOT_RUN, f"{spawner} crashed with {_describe_exc(returned[0])}")
    time.sleep(0.1)
    threads = [t for t in threading.enumerate() if t not in before_threads and t not in helper_threads]
    tasks = [
        t for t in job.call_in_loop(lambda: asyncio.all_tasks(loop)) if t not in before_tasks and not t.done()
    ]
    if not threads and not tasks:
        return ReloadVerdict(NOT_RUN, f"{spawner} started no thread or asyncio task within 1 s")
    roots: list[tuple[str, Any]] = [(f"a name of module `{job.module_name}`", mod.__dict__)]
    if returned and not at_import:
        roots.append((f"the value {spawner} returned", returned[0]))
    if job.instance is not None:
        roots.append(("the instance", job.instance))
    held: dict[str, str] = {}
    started: list[tuple[str, Any, int | None]] = [(t.name, t, t.ident) for t in threads]
    started += [(t.get_name(), t, None) for t in tasks]
    for name, obj, _ in started:
        for where, root in roots:
            if _holds(root, obj):
                held[name] = where
                break
    for _ in range(RELOADS):
        try:
            live.reload(mod)
        except BaseException as exc:
            return ReloadVerdict(NOT_RUN, f"the reload failed: {_describe_exc(exc)}")
    time.sleep(0.3)
    frames = live.stale([mod], loops=[loop])
    idents = {ident for _, _, ident in started if ident is not None}
    task_objs = {id(obj) for _, obj, ident in started if ident is None}
    stale_started = [
        s
        for s in frames
        if (s.ident in idents and s.kind == "thread") or (s.task is not None and id(s.task) in task_objs)
    ]
    kinds = "thread" if not tasks else ("task" if not threads else "thread/task")
    names = ", ".join(repr(n) for n, _, _ in started[:4]) + (" ..." if len(started) > 4 else "")
    what = f"{_plural(len(started), kinds)} ({names})"
    unheld = [n for n, _, _ in started if n not in held]
    stale_names = {s.thread for s in stale_started}
    if unheld and stale_names & set(unheld):
        first = next(s for s in stale_started if s.thread in unheld)
        nowhere = " or ".join(where for where, _ in roots)
        return ReloadVerdict(
            CONFIRMED,
            f"{spawner} started {what} and nothing holds {'it' if len(started) == 1 else 'them'} "
            f"(not {nowhere}); after {_plural(RELOADS, 'reload')} {first.kind} {first.thread!r} still runs "
            f"`{first.function}` of version {first.version} at line {first.line}, and "
            + (
                "cannot be awaited, cancelled or told to reload (the event loop keeps only a weak "
                "reference to a task)"
                if first.kind == "task"
                else "cannot be joined, stopped or told to reload"
            ),
        )
    if unheld:
        return ReloadVerdict(
            NOT_REPRODUCED,
            f"{spawner} started {what} that nothing holds, but after {_plural(RELOADS, 'reload')} none of "
            "them runs superseded code",
        )
    holders = sorted(set(held.values()))
    old = (
        f"; they still run superseded code (`{stale_started[0].function}` of version {stale_started[0].version})"
        if stale_started
        else ""
    )
    return ReloadVerdict(
        NOT_REPRODUCED,
        f"{spawner} started {what}, all held by {' and '.join(holders)}, so they can be joined and stopped{old}",
    )


# -- in-process use: the pytest helper ---------------------------------------------------------------------


@dataclass
class Observation:
    """What happened to one loop run in this process across ``reloads`` reloads."""

    module: str
    function: str
    label: str  # "thread 'worker'" / "task 'consumer'"
    reloads: int
    current: int
    messages: tuple[Any, ...]
    handled: list[str] = field(default_factory=list)  # one line per message fed after the reloads
    stale: list[Any] = field(default_factory=list)  # live.StaleFrame of the loop after the reloads
    problems: list[str] = field(default_factory=list)  # empty: reload-safe

    @property
    def safe(self) -> bool:
        return not self.problems


def observe(
    path: str | os.PathLike[str],
    function: str,
    *,
    args: Sequence[Any] | None = None,
    messages: Sequence[Any] | None = None,
    reloads: int = 3,
    module: str | None = None,
) -> Observation:
    """Run ``function`` of the file in this process, feed it, reload ``reloads`` times, observe.

    The loop starts in a daemon thread (an ``async def`` as a task on an event loop in a
    thread), as :func:`verify_file` does in its child. After the reloads the messages are fed
    again; the loop is reload-safe when each of them is handled entirely by the current
    version's code, its stack does not grow per message, and it sees a stop request (when it
    has a stop event, flag or message) within its timeout. Raises ``RuntimeError`` when the
    loop cannot be run (the reason is the message).
    """
    from swaplint import live

    path = os.fspath(path)
    name = module or os.path.splitext(os.path.basename(path))[0]
    job = Job(path, name, "", function, None if args is None else tuple(args), None)
    try:
        try:
            mod = job.load()
            consumer = job.start()
        except _JobFailed as failed:
            raise RuntimeError(failed.verdict.evidence) from None
        job.register_inbox()
        if not job.can_feed():
            what = ", ".join(job.facts.receive_calls) or "no `.get()` of a parameter, attribute or global"
            raise RuntimeError(f"`{function}` reads no queue that can be fed ({what})")
        if messages is None:
            messages = (PROBE_MESSAGE, *job.facts.literals)
        fed = tuple(messages)
        obs = Observation(name, function, consumer.label, reloads, 1, fed)
        job.wait_idle(1.0)
        depth0 = job.depth()
        for message in fed:
            if job.feed(message) is None or not consumer.alive():
                obs.problems.append(
                    f"{consumer.label} {_outcome_text(consumer)} on message {_short(message)}"
                )
                return obs
        for _ in range(reloads):
            live.reload(mod)
        obs.current = live.current_version(mod)
        time.sleep(job.settle)
        obs.stale = _census(job)
        for message in fed:
            delivery = job.feed(message)
            if delivery is None:
                why = _outcome_text(consumer) if not consumer.alive() else "did not receive it in time"
                obs.problems.append(f"{consumer.label} {why}: message {job.fed_count} ({_short(message)})")
                break
            line = _handled_text(Handled(delivery, _versions(delivery)), obs.current)
            obs.handled.append(line)
            if set(_versions(delivery)) - {obs.current}:
                obs.problems.append(line)
        depth = job.depth()
        if fed and depth - depth0 >= len(fed):
            obs.problems.append(
                f"the stack of {consumer.label} grew from {depth0} to {depth} frames of "
                f"`{function.rsplit('.', 1)[-1]}` over {_plural(2 * len(fed), 'message')}: it dies with "
                f"RecursionError after about sys.getrecursionlimit() = {sys.getrecursionlimit()} messages"
            )
        if consumer.alive():
            request, stopped = _stop(job)
            if request is not None and not stopped:
                obs.problems.append(f"{consumer.label} did not see {request} within {_stop_wait(job):g} s")
        return obs
    finally:
        job.cleanup()


# -- the child's entry point ------------------------------------------------------------------------------


def _limit_memory() -> None:
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def _child_main() -> None:
    _limit_memory()
    payload = json.loads(sys.stdin.read())
    deadline = time.monotonic() + float(payload.get("timeout", 30.0))
    results = open(payload["results"], "a", encoding="utf-8")  # noqa: SIM115

    def write(record: dict[str, Any]) -> None:
        results.write(json.dumps(record) + "\n")
        results.flush()

    for index, spec in enumerate(payload["jobs"]):
        if spec.get("skip"):
            continue
        write({"index": index, "event": "start"})
        try:
            args = pickle.loads(base64.b64decode(spec["args"])) if spec.get("args") else None
            messages = pickle.loads(base64.b64decode(spec["messages"])) if spec.get("messages") else None
            job = Job(payload["path"], payload["module"], spec["code"], spec["function"], args, messages)
            verdict = run_job(job, deadline)
        except _JobFailed as failed:
            verdict = failed.verdict
        except BaseException as exc:
            verdict = ReloadVerdict(NOT_RUN, f"the check failed: {_describe_exc(exc)}")
        write(
            {
                "index": index,
                "status": verdict.status,
                "evidence": verdict.evidence,
                "messages": [repr(m) for m in verdict.messages],
            }
        )
    results.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # daemon threads and loops that never end: leave now


if __name__ == "__main__":
    _child_main()
