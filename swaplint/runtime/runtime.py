"""``Runtime``: the code server and the scheduler put together.

This is where the two halves of Erlang's hot code loading meet:

* ``load`` = ``c:l/1``: purge the old version (killing every process whose
  stack still holds one of its frames, with reason ``"killed"``), then load
  the new code; current becomes old.  ``purge="soft"`` is
  ``code:soft_purge/1`` + ``code:load_file/1``: refuse (``NotPurged``,
  nothing changes) while old code is in use; ``purge="none"`` is a bare
  ``code:load_file/1``: refuse whenever an old version still exists.
* ``check_process_code`` walks the process's stack (``gr_frame`` chain): true
  when its current function or any frame below it belongs to the old version.
* inspection for tools: ``stack_depth``, ``stack_versions``,
  ``current_function``, ``processes()`` (a census), ``kill_record``/``kills``
  (what a killed process's stack held at the kill) and ``trace`` (the event
  log, identical for identical scenarios).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, NamedTuple

from .codeserver import CodeServer, NotPurged, UndefinedFunction, Version
from .process import DEAD, RUNNABLE, RUNNING, WAITING, Pid, Process, Scheduler
from .tailcall import _cur, loaded_info

__all__ = ["Frame", "KillRecord", "ProcessInfo", "Runtime"]

log = logging.getLogger("swaplint.runtime")

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_ids = itertools.count(1)


class Frame(NamedTuple):
    """One frame of loaded code on a process's stack."""

    module: str
    version: int
    function: str  # qualified name
    lineno: int


class KillRecord(NamedTuple):
    """What a process's stack held when a purge killed it."""

    pid: Pid
    time: float  # virtual time of the kill
    module: str  # the purged module
    version: int  # the purged (old) version number
    function: tuple[str, str, int] | None  # (module, qualname, version) innermost loaded frame
    versions: tuple[tuple[str, int], ...]  # sorted unique (module, version) pairs on the stack
    old_frames: int  # frames of the purged version (the pending initial call counts 1)
    depth: int  # loaded-code frames on the stack
    frames: tuple[Frame, ...]  # Frame tuples, innermost first


class ProcessInfo(NamedTuple):
    """One row of ``Runtime.processes()``."""

    pid: Pid
    status: str  # "runnable" | "running" | "waiting" | "dead"
    function: tuple[str, str, int] | None  # (module, qualname, version) it sits in, or None
    versions: tuple[tuple[str, int], ...]  # sorted unique (module, version) pairs on its stack
    depth: int  # loaded-code frames on its stack
    mailbox: int  # queued messages
    exit_reason: object  # None while alive; "normal", "killed" or the exception


class Runtime(Scheduler):
    """A deterministic Erlang-style runtime with a virtual clock at 0.0.

    *busy_limit*: reductions a process may run without taking a message
    before ``run()`` raises :class:`~.process.Busy` (``None``: no limit, a
    busy loop then runs forever, preempted, as on the BEAM).
    *recursion_limit*: if given, Python's recursion limit is raised to at
    least this while ``run()``/``advance()`` execute processes, so that a
    non-tail loop can go that deep (about a third as many messages: a
    non-tail call of loaded code takes three Python frames).  Deep C
    recursion under a high limit can overflow the C stack, hence opt-in.
    """

    def __init__(
        self,
        *,
        trace: bool = True,
        log_crashes: bool = True,
        busy_limit: int | None = 10_000_000,
        recursion_limit: int | None = None,
    ) -> None:
        if busy_limit is not None and busy_limit <= 0:
            raise ValueError("busy_limit must be positive or None")
        super().__init__(trace=trace, busy_limit=busy_limit)
        self.recursion_limit = recursion_limit
        self.id = next(_ids)
        self.code = CodeServer(f"rt{self.id}")
        self.kills: list[KillRecord] = []
        self.log_crashes = log_crashes
        self._servers: dict[Pid, str] = {}  # generic servers (otp.serve) -> module
        self._supervisors: dict[Pid, Any] = {}  # supervisors (otp.supervise) -> state
        weakref.finalize(self, CodeServer.close, self.code)

    def __repr__(self) -> str:
        alive = len(self._alive)
        return f"<Runtime rt{self.id} now={self.now} processes={alive} alive>"

    # ------------------------------------------------------------------ code
    def load(
        self,
        module: str,
        source: str,
        *,
        purge: str = "hard",
        filename: str | None = None,
    ) -> int:
        """Load *source* as the new current version of *module*; returns its
        number (1, 2, 3, ...).  See the module docstring for *purge*.

        *module* is an identifier or a dotted name (``pkg.relative``, as the
        linter names a file inside a package; a *filename* ending in
        ``__init__.py`` makes it a package).  A load that raises changes
        nothing: a failed first load leaves *module* unknown, a failed reload
        leaves the current version current."""
        if purge not in ("hard", "soft", "none"):
            raise ValueError("purge must be 'hard', 'soft' or 'none'")
        self._outside("load")
        old = self.code.old(module)
        if old is not None and purge != "hard":
            # refused before any of the new code runs (code:soft_purge/1 is
            # called before code:load_file/1)
            users = self._users(old)
            if purge == "none" or users:
                raise NotPurged(module, old.number, users)
        version = self.code.prepare(module, source, filename)
        old = self.code.old(module)
        if old is not None:
            if purge == "hard":
                self.purge(module)
            elif purge == "soft":
                if not self.soft_purge(module):
                    raise NotPurged(module, old.number, self._users(old))
            else:
                raise NotPurged(module, old.number, self._users(old))
        self.code.install(version)
        if self._tracing:
            self.trace.append((self.now, "load", None, (module, version.number)))
        return version.number

    def load_path(self, module: str, path: str | os.PathLike[str], *, purge: str = "hard") -> int:
        """``load`` from a file; tracebacks name the file."""
        path = os.path.abspath(os.fspath(path))
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        return self.load(module, source, purge=purge, filename=path)

    def purge(self, module: str) -> bool:
        """Hard purge: kill every process using the old version of *module*,
        then remove it.  True if any process was killed (``code:purge/1``)."""
        self._outside("purge")
        old = self.code.old(module)
        if old is None:
            return False
        victims = [p for p in self._alive.values() if self._uses(p, old)]
        records = [self._kill_record(p, old) for p in victims]  # all before any kill
        for p, rec in zip(victims, records):
            p.kill_record = rec
            self.kills.append(rec)
            if self._tracing:
                self.trace.append((self.now, "kill", p.pid, (module, old.number, rec.old_frames)))
            with self._deep():
                self._kill(p)
        self.code.drop_old(module)
        if self._tracing:
            self.trace.append(
                (
                    self.now,
                    "purge",
                    None,
                    (module, old.number, tuple(p.pid for p in victims)),
                )
            )
        return bool(victims)

    def soft_purge(self, module: str) -> bool:
        """Remove the old version of *module* unless a process still uses it
        (then change nothing and return False)."""
        self._outside("soft_purge")
        old = self.code.old(module)
        if old is None:
            return True
        if self._users(old):
            return False
        self.code.drop_old(module)
        if self._tracing:
            self.trace.append((self.now, "purge", None, (module, old.number, ())))
        return True

    def versions(self, module: str) -> tuple[int, ...]:
        """``(old, current)``, ``(current,)`` or ``()`` if never loaded."""
        rec = self.code.record(module)
        if rec is None or rec.current is None:
            return ()
        if rec.old is None:
            return (rec.current.number,)
        return (rec.old.number, rec.current.number)

    def module(self, module: str) -> Any:
        """The module handle (attribute access = the current version)."""
        h = self.code.handle(module)
        if h is None:
            raise UndefinedFunction(f"module {module!r} is not loaded")
        return h

    # ------------------------------------------------------------- processes
    def spawn(self, module: str, function: str, *args: Any) -> Pid:
        """Spawn ``module:function(*args)``: an external call, resolved to the
        current version when the process starts."""
        h = self.code.handle(module)
        if h is None:
            raise UndefinedFunction(f"module {module!r} is not loaded")
        if not callable(h.__dict__.get(function)):
            raise UndefinedFunction(f"{module}.{function} is not defined")
        return self._spawn((module, function, args), None)

    def spawn_fun(self, fun: Callable[..., Any], *args: Any) -> Pid:
        """Spawn a function object (a local fun keeps its version)."""
        if not callable(fun):
            raise TypeError(f"spawn_fun() needs a callable, got {fun!r}")
        return self._spawn((fun, args), None)

    def send(self, pid: Pid | str, message: object) -> None:
        """Send *message* from outside any process, to a pid or a registered
        name (:class:`~.process.BadArg` if nobody has that name)."""
        self._deliver(pid, message, None)

    def register(self, name: str, pid: Pid) -> None:
        """Register *pid* as *name* (see :func:`~.process.register`)."""
        self._register(name, pid)

    def unregister(self, name: str) -> None:
        self._unregister(name)

    def whereis(self, name: str) -> Pid | None:
        """The pid registered as *name*, or None."""
        return self._names.get(name)

    def registered(self) -> dict[str, Pid]:
        """Every registered name and its pid."""
        return dict(self._names)

    def links(self, pid: Pid) -> tuple[Pid, ...]:
        """The processes linked to *pid*, in the order the links were made."""
        links = self._proc(pid).links
        return tuple(links) if links else ()

    def monitored_by(self, pid: Pid) -> tuple[Pid, ...]:
        """The processes monitoring *pid*."""
        watchers = self._proc(pid).watchers
        return tuple(watchers.values()) if watchers else ()

    def exit(self, pid: Pid | str, reason: object = "kill") -> None:
        """Send an exit signal from outside (see :func:`~.process.exit_signal`):
        ``"kill"`` kills it (``"killed"``), other reasons can be trapped."""
        self._outside("exit")
        if isinstance(pid, str):
            pid = self._whereis_or_badarg(pid)
        q = self._alive.get(pid)
        if q is not None:
            with self._deep():
                self._signal(q, reason, None, kill=reason == "kill")

    # ------------------------------------------------------------------- OTP
    def upgrade(
        self,
        module: str,
        source: str,
        *,
        extra: object = None,
        purge: str = "hard",
        filename: str | None = None,
    ) -> int:
        """Load a new version of *module* the OTP way and migrate the state
        of its generic servers (:func:`~.otp.serve`).

        Like a release upgrade: first every queued message is handled with
        the old code (``run()``, as ``sys:suspend`` waits for), then the new
        version is loaded (``load(..., purge=purge)``), then each live
        server of *module* gets ``code_change(old_version, state, extra)``
        before any other message (``sys:change_code``) and everything runs
        again.  Returns the new version number."""
        self._outside("upgrade")
        self.run()
        before = self.code.current(module)
        number = self.load(module, source, purge=purge, filename=filename)
        old_number = None if before is None else before.number
        for pid, mod in list(self._servers.items()):
            p = self._alive.get(pid)
            if p is not None and mod == module:
                self._deliver_first(p, ("$code_change", old_number, extra))
        self.run()
        return number

    def _deliver_first(self, q: Process, msg: object) -> None:
        """A system message, ahead of everything in the mailbox."""
        if self._tracing:
            self.trace.append((self.now, "send", q.pid, (None, msg)))
        if not q.mailbox:
            q.mailbox = deque((msg,))
        else:
            q.mailbox.appendleft(msg)
        if q.status == WAITING:
            q.status = RUNNABLE
            q.timer = 0
            self._runq.append(q)

    def start_supervisor(
        self,
        children: Sequence[Any],
        *,
        intensity: int = 3,
        period: float = 5.0,
        name: str | None = None,
    ) -> Pid:
        """Spawn a ``one_for_one`` supervisor of *children* (``ChildSpec``s,
        see :mod:`.otp`); it starts them when it first runs."""
        from .otp import supervise

        return self._spawn((supervise, (tuple(children), intensity, period, name)), None)

    def start_server(self, module: str, *args: Any, name: str | None = None) -> Pid:
        """Spawn a generic server with callbacks in *module* (unsupervised)."""
        from .otp import serve

        return self._spawn((serve, (module, args, name)), None)

    def which_children(self, sup: Pid | str) -> list[tuple[str, Pid | None]]:
        """``[(child id, pid or None), ...]`` of a supervisor."""
        from .otp import _which

        return _which(self, sup)

    def call(self, server: Pid | str, request: object, timeout: float | None = 5.0) -> Any:
        """:func:`~.otp.call` from outside: runs until the reply is there."""
        from .otp import call

        return self._outside_do(call, server, request, timeout)

    def cast(self, server: Pid | str, request: object) -> None:
        """:func:`~.otp.cast` from outside (then ``run()`` to handle it)."""
        pid = self._names.get(server) if isinstance(server, str) else server
        if pid is not None:
            self._deliver(pid, ("$cast", request), None)

    def get_state(self, server: Pid | str) -> Any:
        """A generic server's state (``sys:get_state``)."""
        from .otp import get_state

        return self._outside_do(get_state, server)

    def _outside_do(self, fn: Any, *args: Any) -> Any:
        from .otp import _outside_call

        self._outside(getattr(fn, "__name__", "call"))
        results: list[Any] = []
        self._spawn((_outside_call, (results, fn, args)), None)
        self.run()
        if not results:
            raise RuntimeError(f"{fn.__name__}() did not finish; advance the clock?")
        kind, value = results[0]
        if kind == "error":
            raise value
        return value

    def run(self) -> int:
        with self._deep():
            return super().run()

    run.__doc__ = Scheduler.run.__doc__

    @contextlib.contextmanager
    def _deep(self) -> Iterator[None]:
        """Python's recursion limit raised to ``recursion_limit``, if set."""
        want = self.recursion_limit
        old = sys.getrecursionlimit()
        if want is None or old >= want:
            yield
            return
        sys.setrecursionlimit(want)
        try:
            yield
        finally:
            sys.setrecursionlimit(old)

    def is_alive(self, pid: Pid) -> bool:
        return pid in self._alive

    def exit_reason(self, pid: Pid) -> object:
        """None while alive; ``"normal"``, ``"killed"`` or the exception."""
        return self._proc(pid).exit_reason

    def crash_report(self, pid: Pid) -> str | None:
        """Formatted traceback (loaded-code frames only) of a crashed process."""
        return self._proc(pid).crash_report

    def kill_record(self, pid: Pid) -> KillRecord | None:
        record: KillRecord | None = self._proc(pid).kill_record
        return record

    def mailbox(self, pid: Pid) -> tuple[Any, ...]:
        return tuple(self._proc(pid).mailbox)

    # ------------------------------------------------------------ inspection
    def check_process_code(self, pid: Pid, module: str) -> bool:
        """True if the process's stack (current function included) holds any
        frame of the old version of *module*."""
        old = self.code.old(module)
        p = self._proc(pid)
        if old is None or p.status is DEAD:
            return False
        return self._uses(p, old)

    def stack_depth(self, pid: Pid) -> int:
        """Number of loaded-code frames on the process's stack."""
        return len(self._stack(self._proc(pid)))

    def stack(self, pid: Pid) -> tuple[Frame, ...]:
        """The loaded-code frames on the stack, innermost first."""
        return tuple(
            Frame(v.module, v.number, f.f_code.co_qualname, f.f_lineno)
            for v, f in self._stack(self._proc(pid))
        )

    def stack_versions(self, pid: Pid, module: str | None = None) -> tuple[Any, ...]:
        """Versions referenced by the stack: sorted ``(module, version)``
        pairs, or sorted version numbers of *module* if given."""
        p = self._proc(pid)
        pairs = {(v.module, v.number) for v, _ in self._stack(p)}
        pending = self._pending_version(p)
        if pending is not None:
            pairs.add((pending.module, pending.number))
        if module is None:
            return tuple(sorted(pairs))
        return tuple(sorted(n for m, n in pairs if m == module))

    def current_function(self, pid: Pid) -> tuple[str, str, int] | None:
        """``(module, qualname, version)`` of the innermost loaded frame (the
        function the process sits in), or of its pending initial call."""
        p = self._proc(pid)
        st = self._stack(p)
        if st:
            v, f = st[0]
            return (v.module, f.f_code.co_qualname, v.number)
        pending = self._pending_version(p)
        if pending is not None:
            fn = p.next_call[0] if p.next_call is not None else p.initial[0]
            return (pending.module, getattr(fn, "__qualname__", "?"), pending.number)
        return None

    def processes(self) -> list[ProcessInfo]:
        """A census of every process ever spawned, in pid order."""
        out = []
        for pid, p in self._procs.items():
            depth = self.stack_depth(pid) if p.status is not DEAD else 0
            out.append(
                ProcessInfo(
                    pid,
                    p.status,
                    self.current_function(pid) if p.status is not DEAD else None,
                    self.stack_versions(pid) if p.status is not DEAD else (),
                    depth,
                    len(p.mailbox),
                    p.exit_reason,
                )
            )
        return out

    def alive(self) -> tuple[Pid, ...]:
        """Pids of the live processes, in pid order."""
        return tuple(self._alive)

    # -------------------------------------------------------------- internal
    def _outside(self, what: str) -> None:
        if _cur.p is not None:
            raise RuntimeError(f"Runtime.{what}() cannot be called from inside a process")

    def _proc(self, pid: Pid) -> Process:
        try:
            return self._procs[pid]
        except KeyError:
            raise KeyError(f"no such process {pid!r}") from None

    def _frames(self, p: Process) -> Iterator[FrameType]:
        """Raw frames of *p*'s stack, innermost first (a generator)."""
        gr = p.gr
        if gr is None or gr.dead:
            return
        f: FrameType | None
        if p.status is RUNNING and _cur.p is p:
            f = sys._getframe(1)
        else:
            f = gr.gr_frame
        while f is not None:
            yield f
            f = f.f_back

    def _stack(self, p: Process) -> list[tuple[Version, FrameType]]:
        """``[(Version, frame), ...]`` of loaded code, innermost first."""
        if p.status is DEAD:
            return []
        lookup = self.code.version_of_globals
        out = []
        for f in self._frames(p):
            v = lookup(f.f_globals)
            if v is not None:
                out.append((v, f))
        return out

    def _pending_version(self, p: Process) -> Version | None:
        """Version of a not-yet-started process's initial fun (local funs
        only), or of the function a preempted process is about to enter."""
        if p.next_call is not None and p.status is not DEAD:
            v: Version = p.next_call[1]
            return v
        if p.gr is not None or p.initial is None or p.status is DEAD or len(p.initial) != 2:
            return None
        info = loaded_info(p.initial[0])
        return None if info is None else info[1]

    def _uses(self, p: Process, old: Version) -> bool:
        """Does *p*'s stack (or pending initial call) reference *old*?"""
        ns = old.namespace
        for f in self._frames(p):
            if f.f_globals is ns:
                return True
        return self._pending_version(p) is old

    def _users(self, old: Version) -> list[Pid]:
        return [p.pid for p in self._alive.values() if self._uses(p, old)]

    def _kill_record(self, p: Process, old: Version) -> KillRecord:
        st = self._stack(p)
        frames = tuple(Frame(v.module, v.number, f.f_code.co_qualname, f.f_lineno) for v, f in st)
        pairs = {(v.module, v.number) for v, _ in st}
        old_frames = sum(1 for v, _ in st if v is old)
        pending = self._pending_version(p)
        if pending is not None:
            pairs.add((pending.module, pending.number))
            old_frames += pending is old
        return KillRecord(
            pid=p.pid,
            time=self.now,
            module=old.module,
            version=old.number,
            function=self.current_function(p.pid),
            versions=tuple(sorted(pairs)),
            old_frames=old_frames,
            depth=len(st),
            frames=frames,
        )

    def _resolve_initial(self, p: Process) -> tuple[Any, tuple[Any, ...]]:
        initial = p.initial
        if len(initial) == 3:  # external call: the current version, now
            module, function, args = initial
            h = self.code.handle(module)
            fn = None if h is None else h.__dict__.get(function)
            if fn is None:
                raise UndefinedFunction(f"{module}.{function} is not defined")
        else:
            fn, args = initial
        if self._tracing:
            info = loaded_info(fn)
            if info is not None:
                v = info[1]
                desc = (v.module, info[0].__qualname__, v.number)
            else:
                desc = (
                    getattr(fn, "__module__", None),
                    getattr(fn, "__qualname__", repr(fn)),
                    None,
                )
            self.trace.append((self.now, "start", p.pid, desc))
        return fn, args

    def _describe_initial(self, initial: Any) -> Any:
        if len(initial) == 3:
            return (initial[0], initial[1], None)
        fn = initial[0]
        info = loaded_info(fn)
        if info is not None:
            return (info[1].module, info[0].__qualname__, info[1].number)
        return (
            getattr(fn, "__module__", None),
            getattr(fn, "__qualname__", repr(fn)),
            None,
        )

    def _on_exit(self, p: Process, reason: object, crashed: bool) -> None:
        if self._servers:
            self._servers.pop(p.pid, None)
        if self._supervisors:
            self._supervisors.pop(p.pid, None)
        if crashed and isinstance(reason, BaseException):
            p.crash_report = _format_crash(p.pid, reason)
            if self.log_crashes:
                log.error("%s", p.crash_report)


def _format_crash(pid: Pid, exc: BaseException) -> str:
    """Erlang-style crash report with the runtime's own frames left out."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [fs for fs in te.stack if not fs.filename.startswith(_PKG_DIR + os.sep)]
    )
    return f"Error in process {pid!r} with exit value:\n" + "".join(te.format())
