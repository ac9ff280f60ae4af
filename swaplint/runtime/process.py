"""Processes, mailboxes, links, monitors and the deterministic scheduler.

An Erlang process is a function call with its own stack and a mailbox; it
runs until it blocks in ``receive`` and is resumed when a message (or its
``after`` timeout) arrives.  Here a process is a **greenlet**:

* a greenlet can suspend at any depth of plain ``def`` code, so ``receive()``
  is an ordinary function call, exactly like Erlang's: a loop that re-enters
  from a ``try`` suite, or calls ``receive`` three helpers down, keeps those
  frames -- and the code versions they belong to -- on *its own* stack.  A
  generator/asyncio design would force every frame between the loop and the
  receive to be a generator (``yield from``/``await``), changing the very code
  whose stack shape we want to observe;
* a suspended greenlet exposes its stack through ``gr_frame`` (``f_back``
  chain), which is what ``check_process_code`` and purge walk;
* switching is cheap and a blocked process costs a few KB, so tens of
  thousands of processes fit in one interpreter.

Scheduling is deterministic: one FIFO run queue, processes are resumed in the
order they became runnable.  A process runs until it blocks in ``receive`` or
has used its time slice of :data:`~.tailcall.REDUCTIONS` reductions (a call
of a loaded function, a message sent or taken costs one, as on the BEAM); then it
goes to the back of the queue, so a busy loop cannot starve the others.  A
process that runs ``Runtime(busy_limit=...)`` reductions without ever taking
a message makes ``Runtime.run`` raise :class:`Busy` naming it instead of
running forever.  Time is virtual: ``receive(timeout=t)`` registers a timer
at ``now + t`` that only fires when ``Runtime.advance`` moves the clock past
it; nothing ever sleeps.

Exits follow Erlang.  A process exits with reason ``"normal"`` (it returned),
an exception (it crashed), ``Exit(reason).reason`` (it raised :class:`Exit`)
or the reason of an exit signal.  Monitors get ``("DOWN", ref, pid,
reason)``; linked processes get an exit signal: a process trapping exits
receives ``("EXIT", pid, reason)``, any other dies with the same reason
unless it is ``"normal"``.  A ``"kill"`` signal and a purge are untrappable
and give the reason ``"killed"``.

A process killed by a signal runs **none** of its code any more, as in
Erlang: the process is dead (exit recorded, monitors and links notified)
before anything else happens, and then its stack is dropped without running
handlers.  If no ``except``/``finally``/``with`` block of non-runtime code
covers a frame of the stack, the stack is unwound by throwing
:class:`Killed`, which runs nothing and frees it.  Otherwise unwinding would
run those handlers, so the greenlet is parked for good instead (it keeps its
memory: a documented cost, see ``docs/runtime.md``).
"""

from __future__ import annotations

import dis
import heapq
import itertools
import math
import os
import sys
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from types import CodeType, FrameType
from typing import Any

import greenlet  # type: ignore[import-untyped]

from .tailcall import REDUCTIONS, _cur, drive, new_slice

__all__ = [
    "ANY",
    "REDUCTIONS",
    "TIMEOUT",
    "BadArg",
    "Busy",
    "Exit",
    "Killed",
    "NoProc",
    "NotInProcess",
    "Pid",
    "Process",
    "Ref",
    "Scheduler",
    "TimeoutValue",
    "demonitor",
    "exit_signal",
    "link",
    "matches",
    "monitor",
    "receive",
    "register",
    "self_pid",
    "send",
    "spawn",
    "spawn_link",
    "trap_exit",
    "unlink",
    "unregister",
    "whereis",
]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _Timeout:
    """The value ``receive(timeout=...)`` returns when the timeout expires."""

    __slots__ = ()
    _instance: _Timeout | None = None

    def __new__(cls) -> _Timeout:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TIMEOUT"

    def __reduce__(self) -> tuple[type[_Timeout], tuple[()]]:
        return (_Timeout, ())


TIMEOUT = _Timeout()


class _Any:
    """Wildcard of the pattern form of ``receive(match=...)`` (Erlang's ``_``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()


class Pid(int):
    """A process identifier (an ``int`` with an Erlang-looking repr).

    Pids are numbered 1, 2, 3, ... per ``Runtime``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<0.{int(self)}.0>"

    __str__ = __repr__


class Ref:
    """A unique reference (``make_ref()``): what ``monitor`` returns.

    Equal only to itself; numbered per ``Runtime`` for a deterministic repr.
    """

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"#Ref<0.{self.n}>"


class Killed(BaseException):
    """Thrown into a process killed by a purge or an exit signal to unwind a
    stack on which no handler would run.  Derives from ``BaseException``."""


class Exit(BaseException):
    """``raise Exit(reason)`` ends the calling process with *reason* (Erlang's
    ``exit/1``): ``Exit("normal")`` is a normal exit, anything else an
    abnormal one that linked processes see, without a crash report."""

    def __init__(self, reason: object = "normal") -> None:
        super().__init__(reason)
        self.reason = reason


class NotInProcess(RuntimeError):
    """A process primitive (``receive``, ``send``, ...) was called outside a
    process spawned by a ``Runtime``."""


class BadArg(ValueError):
    """Erlang's ``badarg``: a name that is not registered, registered twice,
    a dead process given to ``register``..."""


class NoProc(LookupError):
    """Erlang's ``noproc``: ``link`` to a process that does not exist, while
    not trapping exits."""


class TimeoutValue(ValueError):
    """Erlang's ``timeout_value`` error: a negative, NaN or non-numeric
    ``receive`` timeout (OTP 25 raises ``timeout_value`` for ``after -1``)."""


class Busy(RuntimeError):
    """``Runtime.run`` would never return: these processes ran the runtime's
    ``busy_limit`` reductions without taking a message.  They are still
    alive and runnable; ``run()`` again gives them another ``busy_limit``."""

    def __init__(self, pids: tuple[Pid, ...], limit: int) -> None:
        self.pids = pids
        self.limit = limit
        who = ", ".join(map(repr, pids))
        super().__init__(
            f"process {who} ran {limit:,} reductions without receiving a message "
            "(a busy loop: Erlang would keep preempting it; Runtime.run() gives up)"
        )


# process states
RUNNABLE = "runnable"
RUNNING = "running"
WAITING = "waiting"
DEAD = "dead"


class Process:
    """One process: a greenlet, a mailbox and its bookkeeping."""

    __slots__ = (
        "__weakref__",
        "budget",
        "crash_report",
        "exit_reason",
        "gr",
        "initial",
        "kill_record",
        "links",
        "mailbox",
        "monitors",
        "name",
        "next_call",
        "parent",
        "pending",
        "pid",
        "resume",
        "rt",
        "slices",
        "status",
        "timer",
        "trap",
        "watchers",
    )

    def __init__(self, rt: Any, pid: Pid, initial: Any, parent: Pid | None) -> None:
        self.pid = pid
        self.rt = rt
        self.gr: Any = None  # created when first scheduled
        # the shared empty tuple until the first message, then a deque kept
        # for life (re-allocating it per message costs more in GC than the
        # ~600 bytes it saves)
        self.mailbox: Any = _EMPTY
        self.status: str = RUNNABLE
        self.resume: Any = None  # value handed to receive() on resume (TIMEOUT)
        self.timer = 0  # token of the pending timer (0: none)
        self.budget = REDUCTIONS  # messages it may take before it yields
        self.slices = 0  # time slices of calls used up since it last blocked
        # (callable, args) or (module name, function name, args) before start
        self.initial = initial
        self.exit_reason: object = None
        self.crash_report: str | None = None
        self.kill_record: Any = None
        self.parent = parent
        self.links: dict[Pid, None] | None = None  # an ordered set
        self.monitors: dict[Ref, Pid] | None = None  # monitors this process holds
        self.watchers: dict[Ref, Pid] | None = None  # monitors on this process
        self.trap = False
        self.name: str | None = None
        self.pending: object = None  # exit signal to the running process itself
        # (raw function, version) it is about to enter when preempted: the
        # call is pending and, like an initial call, counts as a use
        self.next_call: Any = None

    def __repr__(self) -> str:
        return f"<Process {self.pid!r} {self.status}>"


_EMPTY = ()


_DYING = Process(None, Pid(0), None, None)  # stands in for a process unwound by GC
_DYING.status = DEAD


_saved_current: list[Any] = []  # _cur.p of the code interrupted by a GC unwind
# Greenlets of killed processes whose unwinding would run handlers: kept
# forever so that nothing ever resumes (or garbage-collects) them.
_FROZEN: list[Any] = []


# ---------------------------------------------------------------------------
# primitives used inside loaded code
# ---------------------------------------------------------------------------


def _me(what: str) -> Process:
    p: Process | None = _cur.p
    if p is None:
        raise NotInProcess(f"{what}() called outside a swaplint process")
    if p.status is DEAD:
        raise Killed(p.pid)
    return p


def _check_timeout(timeout: Any) -> Any:
    """Erlang's ``after`` rules: a number >= 0; infinity waits forever."""
    try:
        ok = timeout >= 0
    except TypeError:
        ok = False
    if not ok or timeout != timeout:  # negative, NaN or not a number
        raise TimeoutValue(f"receive timeout must be a number >= 0 or None, got {timeout!r}")
    return None if timeout == math.inf else timeout


def receive(timeout: float | None = None, match: Any = None) -> Any:
    """Take the oldest message from the calling process's mailbox.

    Blocks (suspends the process) while there is none.  *timeout* is in
    virtual seconds, ``None`` (or ``math.inf``) waits forever; on expiry
    returns ``TIMEOUT``.  A negative timeout raises :class:`TimeoutValue`.

    *match* makes it a **selective receive**: the oldest message that
    matches is taken and the others stay in the mailbox, in order (Erlang's
    save queue).  *match* is a predicate, a class (``isinstance``), or a
    pattern: a tuple matches a tuple of the same length element by element,
    :data:`ANY` matches anything, anything else matches what equals it.
    """
    p = _cur.p
    if p is None:
        raise NotInProcess(
            "receive() called outside a swaplint process; "
            "spawn the function with Runtime.spawn(...) and call Runtime.run()"
        )
    if timeout is not None:
        timeout = _check_timeout(timeout)
    if match is not None:
        del p  # no suspended frame may hold its process (see _bootstrap)
        return _receive_match(timeout, match)
    mb = p.mailbox
    if mb and p.status is RUNNING:
        p.budget -= 1
        if p.budget <= 0:
            del p, mb
            _yield()
            p = _cur.p
            mb = p.mailbox
        msg = mb.popleft()
        rt = p.rt
        if rt._tracing:
            rt.trace.append((rt.now, "receive", p.pid, msg))
        return msg
    del p, mb
    return _block(timeout)


def matches(pattern: Any, msg: Any) -> bool:
    """Does *msg* match *pattern* (the pattern form of ``receive(match=)``)?"""
    return bool(_matcher(pattern)(msg))


def _matcher(match: Any) -> Callable[[Any], Any]:
    """*match* as a predicate; patterns are compiled once per receive."""
    if match is ANY:
        return lambda msg: True
    if isinstance(match, type):
        return lambda msg: isinstance(msg, match)
    if isinstance(match, tuple):
        size = len(match)
        literals: list[tuple[int, Any]] = []  # compared with ==, no call
        nested: list[tuple[int, Callable[[Any], Any]]] = []
        for i, p in enumerate(match):
            if p is ANY:
                continue
            if isinstance(p, (type, tuple)) or callable(p):
                nested.append((i, _matcher(p)))
            else:
                literals.append((i, p))

        def test(msg: Any) -> bool:
            if not isinstance(msg, tuple) or len(msg) != size:
                return False
            for i, value in literals:
                if value != msg[i]:
                    return False
            return all(check(msg[i]) for i, check in nested)

        return test
    if callable(match):
        return match  # type: ignore[no-any-return]
    return lambda msg: bool(match == msg)


def _receive_match(timeout: float | None, match: Any) -> Any:
    """Selective receive: scan the mailbox, block for newer messages."""
    test = _matcher(match)
    p = _cur.p
    rt = p.rt
    deadline = None if timeout is None else rt.now + timeout
    i = 0  # messages before i have been tried (the save queue)
    while True:
        if p.status is DEAD:  # pragma: no cover - a killed process is never resumed
            del p, rt
            _freeze()
        mb = p.mailbox
        for msg in itertools.islice(mb, i, None):
            if test(msg):
                del mb[i]
                p.budget -= 1
                if rt._tracing:
                    rt.trace.append((rt.now, "receive", p.pid, msg))
                return msg
            i += 1
        if deadline is not None and deadline <= rt.now:
            return rt._timed_out(p)
        # wait for a new message or the deadline
        if deadline is not None:
            rt._timer_seq += 1
            token = rt._timer_seq
            if len(rt._timers) >= rt._timer_limit:
                rt._compact_timers()
            p.timer = token
            heapq.heappush(rt._timers, (deadline, token, p))
        p.status = WAITING
        p.slices = 0
        sched = rt._sched
        del p, rt
        _switch(sched)
        p = _cur.p
        p.budget = REDUCTIONS
        rt = p.rt
        if p.resume is TIMEOUT:
            p.resume = None
            # messages that came in before the timer fired are tried first
            mb = p.mailbox
            for j in range(i, len(mb)):
                msg = mb[j]
                if test(msg):
                    del mb[j]
                    if rt._tracing:
                        rt.trace.append((rt.now, "receive", p.pid, msg))
                    return msg
            return rt._timed_out(p)


def send(pid: Any, msg: Any) -> Any:
    """Send *msg* to *pid* or to a registered name; returns *msg*.

    A message to a dead pid is dropped; a name that is not registered raises
    :class:`BadArg`, as in Erlang."""
    p = _cur.p
    if p is None:
        raise NotInProcess("send() called outside a swaplint process; use Runtime.send")
    if p.status is DEAD:
        raise Killed(p.pid)
    p.rt._deliver(pid, msg, p.pid)
    p.budget -= 1  # a send is a reduction: a sending loop is preempted too
    if p.budget <= 0:
        p.budget = REDUCTIONS
        del p
        _tick(None, None)
    return msg


def spawn(fun: Callable[..., Any], *args: Any) -> Pid:
    """Start a new process running ``fun(*args)``; returns its pid.

    *fun* is a function object: ``spawn(loop, 0)`` runs the caller's version
    of ``loop`` (a local fun), ``spawn(mod.loop, 0)`` the current one.
    """
    p = _me("spawn")
    if not callable(fun):
        raise TypeError(f"spawn() needs a function object, got {fun!r}")
    pid: Pid = p.rt._spawn((fun, args), p.pid)
    return pid


def spawn_link(fun: Callable[..., Any], *args: Any) -> Pid:
    """``spawn`` and ``link`` in one step (the child cannot die unlinked)."""
    p = _me("spawn_link")
    if not callable(fun):
        raise TypeError(f"spawn_link() needs a function object, got {fun!r}")
    pid: Pid = p.rt._spawn((fun, args), p.pid)
    p.rt._link(p, p.rt._procs[pid])
    return pid


def self_pid() -> Pid:
    """The pid of the calling process."""
    p = _cur.p
    if p is None:
        raise NotInProcess("self_pid() called outside a swaplint process")
    pid: Pid = p.pid
    return pid


def link(pid: Pid) -> bool:
    """Link the calling process and *pid*: when one exits, the other gets an
    exit signal.  Linking to a dead process gives ``("EXIT", pid, "noproc")``
    when trapping exits, and raises :class:`NoProc` otherwise."""
    p = _me("link")
    rt = p.rt
    q = rt._alive.get(pid)
    if q is None:
        if p.trap:
            rt._deliver(p.pid, ("EXIT", pid, "noproc"), pid)
            return True
        raise NoProc(f"link({pid!r}): no such process")
    rt._link(p, q)
    return True


def unlink(pid: Pid) -> bool:
    """Remove the link between the calling process and *pid* (if any)."""
    p = _me("unlink")
    q = p.rt._procs.get(pid)
    if p.links is not None:
        p.links.pop(pid, None)
    if q is not None and q.links is not None:
        q.links.pop(p.pid, None)
    return True


def trap_exit(flag: bool = True) -> bool:
    """``process_flag(trap_exit, flag)``: exit signals (but ``kill``) become
    ``("EXIT", pid, reason)`` messages.  Returns the previous value."""
    p = _me("trap_exit")
    old = p.trap
    p.trap = bool(flag)
    return old


def monitor(pid: Any) -> Ref:
    """Monitor *pid* (or a registered name): when it exits the caller gets
    ``("DOWN", ref, pid, reason)``; at once with ``"noproc"`` if it does not
    exist.  Returns *ref*."""
    p = _me("monitor")
    rt = p.rt
    if isinstance(pid, str):
        target = rt._names.get(pid)
        if target is None:
            ref = rt._make_ref()
            rt._deliver(p.pid, ("DOWN", ref, pid, "noproc"), None)
            return ref  # type: ignore[no-any-return]
        pid = target
    ref = rt._monitor(p, pid)
    return ref  # type: ignore[no-any-return]


def demonitor(ref: Ref, flush: bool = False) -> bool:
    """Turn off the monitor *ref*; with *flush*, also remove its ``DOWN``
    message if it already arrived.  True if the monitor was active."""
    p = _me("demonitor")
    rt = p.rt
    found = False
    if p.monitors is not None and ref in p.monitors:
        target = p.monitors.pop(ref)
        q = rt._procs.get(target)
        if q is not None and q.watchers is not None:
            q.watchers.pop(ref, None)
        found = True
    if flush and p.mailbox:
        mb = p.mailbox
        keep = [m for m in mb if not (type(m) is tuple and len(m) == 4 and m[0] == "DOWN" and m[1] is ref)]
        if len(keep) != len(mb):
            mb.clear()
            mb.extend(keep)
    return found


def exit_signal(pid: Any, reason: object) -> None:
    """Send an exit signal to *pid* (Erlang's ``exit/2``).  ``"kill"`` kills
    it (reason ``"killed"``, untrappable); a process trapping exits gets any
    other reason as ``("EXIT", sender, reason)``; otherwise it dies with
    *reason*, unless that is ``"normal"``."""
    p = _me("exit_signal")
    rt = p.rt
    if isinstance(pid, str):
        pid = rt._whereis_or_badarg(pid)
    q = rt._alive.get(pid)
    if q is not None:
        rt._signal(q, reason, p.pid, kill=reason == "kill")
    del p, rt, q  # it may be parked for good just below: hold nothing
    _check_pending()


def register(name: str, pid: Pid) -> bool:
    """Register *pid* under *name* (``send(name, msg)``, ``whereis``).  The
    name goes away when the process exits.  :class:`BadArg` if the name is
    taken, the process is dead or already has a name."""
    p = _cur.p
    if p is None:
        raise NotInProcess("register() called outside a swaplint process; use Runtime.register")
    p.rt._register(name, pid)
    return True


def unregister(name: str) -> bool:
    p = _cur.p
    if p is None:
        raise NotInProcess("unregister() called outside a swaplint process")
    p.rt._unregister(name)
    return True


def whereis(name: str) -> Pid | None:
    """The pid registered as *name*, or None."""
    p = _cur.p
    if p is None:
        raise NotInProcess("whereis() called outside a swaplint process; use Runtime.whereis")
    pid: Pid | None = p.rt._names.get(name)
    return pid


# ---------------------------------------------------------------------------
# scheduler
# ---------------------------------------------------------------------------


class Scheduler:
    """Run queue, virtual clock, timers, signals and process lifecycle.

    Mixed into ``Runtime``; needs ``self._resolve_initial(p)`` (code server)
    and ``self._on_exit(p, reason, crashed)`` hooks from it.
    """

    def __init__(self, *, trace: bool = True, busy_limit: int | None = None) -> None:
        self.now = 0.0
        self.trace: list[tuple[float, str, Any, Any]] = []
        self.busy_limit = busy_limit
        self._tracing = trace
        self._procs: dict[Pid, Process] = {}  # pid -> Process (alive and dead)
        self._alive: dict[Pid, Process] = {}  # pid -> Process (alive only, insertion order)
        self._names: dict[str, Pid] = {}  # registered names
        self._runq: deque[Process] = deque()
        self._stalled: list[Process] = []  # over busy_limit, taken off the run queue
        self._timers: list[tuple[float, int, Process]] = []  # heap of (deadline, token, process)
        self._timer_seq = 0
        self._timer_limit = 1024
        self._next_pid = 0
        self._refs = itertools.count(1)
        self._sched: Any = None  # greenlet running the scheduler loop

    # -- process creation and messages ------------------------------------
    def _spawn(self, initial: Any, parent: Pid | None) -> Pid:
        self._next_pid += 1
        pid = Pid(self._next_pid)
        p = Process(self, pid, initial, parent)
        self._procs[pid] = p
        self._alive[pid] = p
        self._runq.append(p)
        if self._tracing:
            self.trace.append((self.now, "spawn", pid, (parent, self._describe_initial(initial))))
        return pid

    def _deliver(self, pid: Any, msg: Any, sender: Pid | None) -> None:
        q = self._alive.get(pid)
        if q is None and isinstance(pid, str):  # a registered name
            pid = self._whereis_or_badarg(pid)
            q = self._alive.get(pid)
        if self._tracing:
            self.trace.append((self.now, "send", pid, (sender, msg)))
        if q is None:
            return  # dead or unknown: dropped, as in Erlang
        mb = q.mailbox
        if mb is _EMPTY:
            q.mailbox = deque((msg,))
        else:
            mb.append(msg)
        if q.status is WAITING:
            q.status = RUNNABLE
            q.timer = 0
            self._runq.append(q)

    def _make_ref(self) -> Ref:
        return Ref(next(self._refs))

    # -- names ----------------------------------------------------------------
    def _register(self, name: str, pid: Pid) -> None:
        if not isinstance(name, str) or not name:
            raise BadArg(f"register: a name is a non-empty str, got {name!r}")
        if name in self._names:
            raise BadArg(f"register: {name!r} is already registered to {self._names[name]!r}")
        q = self._alive.get(pid)
        if q is None:
            raise BadArg(f"register: {pid!r} is not alive")
        if q.name is not None:
            raise BadArg(f"register: {pid!r} is already registered as {q.name!r}")
        self._names[name] = q.pid
        q.name = name

    def _unregister(self, name: str) -> None:
        pid = self._names.pop(name, None)
        if pid is None:
            raise BadArg(f"unregister: {name!r} is not registered")
        self._procs[pid].name = None

    def _whereis_or_badarg(self, name: str) -> Pid:
        pid = self._names.get(name)
        if pid is None:
            raise BadArg(f"no process is registered as {name!r}")
        return pid

    # -- links and monitors ---------------------------------------------------
    def _link(self, p: Process, q: Process) -> None:
        if p is q:
            return
        if p.links is None:
            p.links = {}
        if q.links is None:
            q.links = {}
        p.links[q.pid] = None
        q.links[p.pid] = None

    def _monitor(self, p: Process, pid: Pid) -> Ref:
        ref = self._make_ref()
        q = self._alive.get(pid)
        if q is None:
            self._deliver(p.pid, ("DOWN", ref, pid, "noproc"), None)
            return ref
        if p.monitors is None:
            p.monitors = {}
        if q.watchers is None:
            q.watchers = {}
        p.monitors[ref] = pid
        q.watchers[ref] = p.pid
        return ref

    def _signal(self, q: Process, reason: object, sender: Pid | None, *, kill: bool = False) -> None:
        """Deliver an exit signal from *sender* to *q*."""
        if q.status is DEAD:
            return
        if kill:
            reason = "killed"
        elif q.trap:
            self._deliver(q.pid, ("EXIT", sender, reason), sender)
            return
        elif isinstance(reason, str) and reason == "normal" and sender != q.pid:
            return  # (exit(self(), normal) does end the caller, as in Erlang)
        if q is _cur.p and q.status is RUNNING:
            if q.pending is None:
                q.pending = reason  # dies when the primitive it is in returns
            return
        self._kill(q, reason)

    # -- blocking: see _block() ------------------------------------------------
    def _compact_timers(self) -> None:
        """Drop timers cancelled by an earlier message (amortised O(1))."""
        live = [t for t in self._timers if t[2].status is WAITING and t[2].timer == t[1]]
        heapq.heapify(live)
        self._timers = live
        self._timer_limit = max(1024, 2 * len(live))

    def _timed_out(self, p: Process) -> Any:
        if self._tracing:
            self.trace.append((self.now, "timeout", p.pid, None))
        return TIMEOUT

    # -- running -----------------------------------------------------------
    def run(self) -> int:
        """Run until every process is blocked in receive or dead.

        Returns the number of process resumptions.  Never sleeps.  Raises
        :class:`Busy` if a process ran ``busy_limit`` reductions without
        taking a message (the others still ran until they blocked).
        """
        if _cur.p is not None:
            raise RuntimeError("Runtime.run() cannot be called from inside a process")
        sched = greenlet.getcurrent()
        self._sched = sched
        runq = self._runq
        steps = 0
        try:
            while runq:
                p = runq.popleft()
                if p.status is not RUNNABLE:
                    continue
                gr = p.gr
                p.status = RUNNING
                _cur.p = p
                steps += 1
                if gr is None:
                    gr = p.gr = greenlet.greenlet(_bootstrap, sched)
                    gr.switch(weakref.ref(p))
                else:
                    if gr.parent is not sched:
                        gr.parent = sched
                    gr.switch()
                _cur.p = None
        finally:
            _cur.p = None
        if self._stalled:
            stalled, self._stalled = self._stalled, []
            pids = []
            for p in stalled:
                if p.status is RUNNABLE:
                    p.slices = 0
                    runq.append(p)
                    pids.append(p.pid)
            if pids:
                raise Busy(tuple(pids), self.busy_limit or 0)
        return steps

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward by *seconds*, firing due receive
        timeouts in deadline order (ties: registration order) and running the
        processes they wake before moving on."""
        if seconds < 0:
            raise ValueError("cannot move the clock backwards")
        target = self.now + seconds
        self.run()
        while self._timers and self._timers[0][0] <= target:
            timers = self._timers
            deadline = timers[0][0]
            self.now = max(self.now, deadline)
            while timers and timers[0][0] == deadline:
                _, token, p = heapq.heappop(timers)
                if p.status is WAITING and p.timer == token:
                    p.timer = 0
                    p.status = RUNNABLE
                    p.resume = TIMEOUT
                    self._runq.append(p)
            self.run()
        self.now = target

    def _exit(self, p: Process, reason: object, *, crashed: bool = False) -> None:
        """*p* is dead: record it, then notify its monitors and links."""
        p.status = DEAD
        p.exit_reason = reason
        p.mailbox = _EMPTY
        p.timer = 0
        self._alive.pop(p.pid, None)
        if p.name is not None:
            self._names.pop(p.name, None)
        if self._tracing:
            detail = reason if isinstance(reason, str) else repr(reason)
            self.trace.append((self.now, "exit", p.pid, detail))
        self._on_exit(p, reason, crashed)
        if p.monitors:  # monitors it held go away
            for ref, target in p.monitors.items():
                t = self._procs.get(target)
                if t is not None and t.watchers:
                    t.watchers.pop(ref, None)
        p.monitors = None
        watchers, p.watchers = p.watchers, None
        if watchers:
            for ref, w in watchers.items():
                wp = self._alive.get(w)
                if wp is not None:
                    if wp.monitors:
                        wp.monitors.pop(ref, None)
                    self._deliver(w, ("DOWN", ref, p.pid, reason), p.pid)
        links, p.links = p.links, None
        if links:
            for qpid in links:
                q = self._alive.get(qpid)
                if q is not None:
                    if q.links:
                        q.links.pop(p.pid, None)
                    self._signal(q, reason, p.pid)

    def _kill(self, p: Process, reason: object = "killed") -> None:
        """*p* dies with *reason* at once; none of its code runs any more."""
        if p.status is DEAD:
            return
        self._exit(p, reason)
        gr = p.gr
        p.gr = None
        if gr is None or gr.dead:
            return
        if _unwind_runs_code(gr.gr_frame):
            _FROZEN.append(gr)  # never resumed: its handlers never run
            return
        gr.parent = greenlet.getcurrent()
        saved, _cur.p = _cur.p, p
        try:
            gr.throw(Killed(p.pid))
        finally:
            _cur.p = saved

    # -- hooks (overridden by Runtime) ---------------------------------------
    def _resolve_initial(self, p: Process) -> tuple[Any, tuple[Any, ...]]:  # pragma: no cover
        raise NotImplementedError

    def _describe_initial(self, initial: Any) -> Any:  # pragma: no cover - abstract
        return None

    def _on_exit(self, p: Process, reason: object, crashed: bool) -> None:  # pragma: no cover
        pass


# ---------------------------------------------------------------------------
# does unwinding a stack run code?
# ---------------------------------------------------------------------------

_handler_cache: dict[CodeType, tuple[tuple[int, int], ...]] = {}


def _handler_ranges(code: CodeType) -> tuple[tuple[int, int], ...]:
    """Byte ranges of *code* covered by an exception handler (try, with)."""
    ranges = _handler_cache.get(code)
    if ranges is None:
        parse = getattr(dis, "_parse_exception_table", None)
        if parse is None:  # pragma: no cover - not CPython 3.11+
            ranges = ((0, sys.maxsize),)
        else:
            ranges = tuple((e.start, e.end) for e in parse(code))
        if len(_handler_cache) > 4096:
            _handler_cache.clear()
        _handler_cache[code] = ranges
    return ranges


def _user_frames(f: FrameType | None) -> Iterator[FrameType]:
    while f is not None:
        if not f.f_code.co_filename.startswith(_PKG_DIR):
            yield f
        f = f.f_back


def _unwind_runs_code(f: FrameType | None) -> bool:
    """Would unwinding the stack from frame *f* run a handler of code other
    than the runtime's own (``except``, ``finally``, ``with``)?"""
    for frame in _user_frames(f):
        lasti = frame.f_lasti
        for start, end in _handler_ranges(frame.f_code):
            if start <= lasti < end:
                return True
    return False


# ---------------------------------------------------------------------------
# the process side of the scheduler
#
# Greenlets do not take part in cyclic garbage collection: a cycle running
# through a suspended greenlet's frames is never freed.  So no frame of a
# suspended process holds its Process or its Runtime: they are looked up in
# ``_cur.p`` (set by whoever resumes the greenlet) after every switch, and the
# bottom frame holds only a weak reference.  A dropped Runtime is then freed,
# and its blocked processes are unwound (GreenletExit).
# ---------------------------------------------------------------------------


def _bootstrap(wp: Callable[[], Process | None]) -> None:
    """Bottom frame of every process greenlet (*wp*: weakref to its Process)."""
    p = wp()
    assert p is not None
    new_slice()
    fn, args = p.rt._resolve_initial(p)
    p.initial = None
    del p
    reason: object = "normal"
    crashed = False
    try:
        drive(fn, args, None)  # the trampoline runs in this frame
    except Killed:
        reason = "killed"
    except Exit as exc:
        reason = exc.reason
    except greenlet.GreenletExit:  # garbage collected with its runtime
        _cur.p = _saved_current.pop()
        return
    except BaseException as exc:
        reason = exc
        crashed = True
    p = wp()
    if p is not None and p.status is not DEAD:
        p.rt._exit(p, reason, crashed=crashed)
    # a killed process was already recorded by whoever killed it


def _block(timeout: float | None) -> Any:
    """Suspend the calling process until a message arrives or *timeout*."""
    p = _cur.p
    if p.status is DEAD:  # killed, swallowed the kill, tried to block again
        _freeze()
    rt = p.rt
    if timeout is not None:
        if timeout <= 0:
            return rt._timed_out(p)
        rt._timer_seq += 1
        token = rt._timer_seq
        if len(rt._timers) >= rt._timer_limit:
            rt._compact_timers()
        p.timer = token
        heapq.heappush(rt._timers, (rt.now + timeout, token, p))
    p.status = WAITING
    p.slices = 0
    sched = rt._sched
    del p, rt
    _switch(sched)
    p = _cur.p
    p.budget = REDUCTIONS
    rt = p.rt
    if p.resume is TIMEOUT:
        p.resume = None
        return rt._timed_out(p)
    mb = p.mailbox
    msg = mb.popleft()
    if rt._tracing:
        rt.trace.append((rt.now, "receive", p.pid, msg))
    return msg


def _yield() -> None:
    """Time slice used up while taking messages: back of the run queue."""
    p = _cur.p
    p.budget = REDUCTIONS
    p.slices = 0  # it takes messages: not a busy loop
    p.status = RUNNABLE
    p.rt._runq.append(p)
    sched = p.rt._sched
    del p
    _switch(sched)


def _tick(fn: Any, version: Any) -> None:
    """Time slice used up by calls (``_cur.tick``): preempt the process,
    which is about to enter *fn* of *version*."""
    p = _cur.p
    if p is None or p.status is not RUNNING or p.rt._sched is None:
        return  # not in a process (top-level code, a test)
    if greenlet.getcurrent() is not p.gr:  # pragma: no cover - defensive
        return
    rt = p.rt
    p.slices += 1
    p.status = RUNNABLE
    limit = rt.busy_limit
    if limit is not None and p.slices * REDUCTIONS >= limit:
        rt._stalled.append(p)  # run() reports it once the others are idle
    else:
        rt._runq.append(p)
    if version is not None:
        p.next_call = (fn, version)
    sched = rt._sched
    del p, rt
    _switch(sched)
    _cur.p.next_call = None


_cur.tick = _tick


def _switch(sched: Any) -> None:
    """Suspend the calling process (the only place a process suspends)."""
    try:
        sched.switch()
    except greenlet.GreenletExit:
        # the greenlet is being garbage collected: unwind as a kill, as a
        # process that may do nothing any more
        _saved_current.append(_cur.p)
        _cur.p = _DYING
        raise


def _check_pending() -> None:
    """The running process got an exit signal (from a cascade it started)."""
    p = _cur.p
    reason = p.pending
    if reason is None or p.status is DEAD:
        return
    p.pending = None
    p.rt._exit(p, reason)
    pid = p.pid
    del p
    if _unwind_runs_code(sys._getframe(1)):
        _freeze()
    raise Killed(pid)


def _freeze() -> None:
    """Park a dead process for good: it never runs again."""
    gr = greenlet.getcurrent()
    _FROZEN.append(gr)
    p = _cur.p
    if p is _DYING:
        _cur.p = _saved_current.pop()
    elif p is not None:
        p.gr = None
    del p
    gr.parent.switch()
    raise AssertionError("a frozen process was resumed")  # pragma: no cover
