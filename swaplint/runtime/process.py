"""Processes, mailboxes and the deterministic scheduler.

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
* switching is cheap (measured ~1 M deliveries/s) and a blocked process costs
  a few KB, so tens of thousands of processes fit in one interpreter.

Scheduling is cooperative and deterministic: one FIFO run queue, processes are
resumed in the order they became runnable, and a process yields only when it
blocks in ``receive`` (or after a fixed budget of ``REDUCTIONS`` non-blocking
receives, as Erlang's reduction counting does, so a process with a full
mailbox cannot starve the others).  Time is virtual: ``receive(timeout=t)``
registers a timer at ``now + t`` that only fires when ``Runtime.advance``
moves the clock past it; nothing ever sleeps.

A kill (purge) is an untrappable exit: the process is marked dead first and
its stack is unwound by throwing :class:`Killed` (a ``BaseException``, so
``except Exception`` never sees it) into the greenlet.  ``finally`` blocks run
during the unwind; a process that swallows ``BaseException`` and carries on is
still dead: ``send``/``spawn`` raise ``Killed`` again and its next ``receive``
freezes it forever (it is never scheduled again).
"""

from __future__ import annotations

import heapq
import weakref
from collections import deque

import greenlet

from .tailcall import drive

__all__ = [
    "REDUCTIONS",
    "TIMEOUT",
    "Killed",
    "NotInProcess",
    "Pid",
    "Process",
    "Scheduler",
    "receive",
    "self_pid",
    "send",
    "spawn",
]

REDUCTIONS = 2000  # non-blocking receives before a forced yield


class _Timeout:
    """The value ``receive(timeout=...)`` returns when the timeout expires."""

    __slots__ = ()
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TIMEOUT"

    def __reduce__(self):
        return (_Timeout, ())


TIMEOUT = _Timeout()


class Pid(int):
    """A process identifier (an ``int`` with an Erlang-looking repr).

    Pids are numbered 1, 2, 3, ... per ``Runtime``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<0.{int(self)}.0>"

    __str__ = __repr__


class Killed(BaseException):
    """Thrown into a process killed by a purge (exit reason ``"killed"``).

    Derives from ``BaseException``: ``except Exception`` does not see it.
    """


class NotInProcess(RuntimeError):
    """A process primitive (``receive``, ``send``, ...) was called outside a
    process spawned by a ``Runtime``."""


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
        "mailbox",
        "parent",
        "pid",
        "resume",
        "rt",
        "status",
        "timer",
    )

    def __init__(self, rt, pid: Pid, initial, parent) -> None:
        self.pid = pid
        self.rt = rt
        self.gr = None  # created when first scheduled
        # the shared empty tuple until the first message, then a deque kept
        # for life (re-allocating it per message costs more in GC than the
        # ~600 bytes it saves)
        self.mailbox = _EMPTY
        self.status = RUNNABLE
        self.resume = None  # value handed to receive() on resume (TIMEOUT)
        self.timer = 0  # token of the pending timer (0: none)
        self.budget = REDUCTIONS
        # (callable, args) or (module name, function name, args) before start
        self.initial = initial
        self.exit_reason = None
        self.crash_report = None
        self.kill_record = None
        self.parent = parent

    def __repr__(self) -> str:
        return f"<Process {self.pid!r} {self.status}>"


_EMPTY = ()


_DYING = Process(None, Pid(0), None, None)  # stands in for a process unwound by GC
_DYING.status = DEAD


class _Current:
    """The process whose code is running right now (None: no process)."""

    __slots__ = ("p",)

    def __init__(self) -> None:
        self.p = None


_cur = _Current()
_saved_current: list = []  # _cur.p of the code interrupted by a GC unwind
# Greenlets of killed processes that swallowed the kill and tried to block
# again: kept forever so that garbage collection never resumes them.
_FROZEN: list = []


# ---------------------------------------------------------------------------
# primitives used inside loaded code
# ---------------------------------------------------------------------------


def receive(timeout=None):
    """Take the oldest message from the calling process's mailbox.

    Blocks (suspends the process) while the mailbox is empty.  *timeout* is in
    virtual seconds; ``None`` waits forever; on expiry returns ``TIMEOUT``.
    """
    p = _cur.p
    if p is None:
        raise NotInProcess(
            "receive() called outside a swaplint process; "
            "spawn the function with Runtime.spawn(...) and call Runtime.run()"
        )
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


def send(pid, msg) -> None:
    """Append *msg* to the mailbox of *pid* (dropped if it is dead)."""
    p = _cur.p
    if p is None:
        raise NotInProcess("send() called outside a swaplint process; use Runtime.send")
    if p.status is DEAD:
        raise Killed(p.pid)
    p.rt._deliver(pid, msg, p.pid)


def spawn(fun, *args) -> Pid:
    """Start a new process running ``fun(*args)``; returns its pid.

    *fun* is a function object: ``spawn(loop, 0)`` runs the caller's version
    of ``loop`` (a local fun), ``spawn(mod.loop, 0)`` the current one.
    """
    p = _cur.p
    if p is None:
        raise NotInProcess("spawn() called outside a swaplint process; use Runtime.spawn")
    if p.status is DEAD:
        raise Killed(p.pid)
    if not callable(fun):
        raise TypeError(f"spawn() needs a function object, got {fun!r}")
    return p.rt._spawn((fun, args), p.pid)


def self_pid() -> Pid:
    """The pid of the calling process."""
    p = _cur.p
    if p is None:
        raise NotInProcess("self_pid() called outside a swaplint process")
    return p.pid


# ---------------------------------------------------------------------------
# scheduler
# ---------------------------------------------------------------------------


class Scheduler:
    """Run queue, virtual clock, timers and process lifecycle.

    Mixed into ``Runtime``; needs ``self._resolve_initial(p)`` (code server)
    and ``self._on_exit(p)`` hooks from it.
    """

    def __init__(self, *, trace: bool = True) -> None:
        self.now = 0.0
        self.trace: list = []
        self._tracing = trace
        self._procs: dict = {}  # pid -> Process (alive and dead)
        self._alive: dict = {}  # pid -> Process (alive only, insertion order)
        self._runq: deque = deque()
        self._timers: list = []  # heap of (deadline, token, process)
        self._timer_seq = 0
        self._timer_limit = 1024
        self._next_pid = 0
        self._sched = None  # greenlet running the scheduler loop

    # -- process creation and messages ------------------------------------
    def _spawn(self, initial, parent) -> Pid:
        self._next_pid += 1
        pid = Pid(self._next_pid)
        p = Process(self, pid, initial, parent)
        self._procs[pid] = p
        self._alive[pid] = p
        self._runq.append(p)
        if self._tracing:
            self.trace.append((self.now, "spawn", pid, (parent, self._describe_initial(initial))))
        return pid

    def _deliver(self, pid, msg, sender) -> None:
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

    # -- blocking: see _block() ------------------------------------------------
    def _compact_timers(self) -> None:
        """Drop timers cancelled by an earlier message (amortised O(1))."""
        live = [t for t in self._timers if t[2].status is WAITING and t[2].timer == t[1]]
        heapq.heapify(live)
        self._timers = live
        self._timer_limit = max(1024, 2 * len(live))

    def _timed_out(self, p: Process):
        if self._tracing:
            self.trace.append((self.now, "timeout", p.pid, None))
        return TIMEOUT

    # -- running -----------------------------------------------------------
    def run(self) -> int:
        """Run until every process is blocked in receive or dead.

        Returns the number of process resumptions.  Never sleeps.
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

    def _exit(self, p: Process, reason) -> None:
        p.status = DEAD
        p.exit_reason = reason
        p.mailbox = _EMPTY
        p.timer = 0
        self._alive.pop(p.pid, None)
        if self._tracing:
            detail = reason if isinstance(reason, str) else repr(reason)
            self.trace.append((self.now, "exit", p.pid, detail))
        self._on_exit(p, reason)

    def _kill(self, p: Process) -> None:
        """Kill *p* (exit reason ``"killed"``); no user code can prevent it."""
        if p.status is DEAD:
            return
        self._exit(p, "killed")
        gr = p.gr
        if gr is None or gr.dead:
            p.gr = None
            return
        gr.parent = greenlet.getcurrent()
        saved, _cur.p = _cur.p, p
        try:
            gr.throw(Killed(p.pid))
        finally:
            _cur.p = saved
        p.gr = None

    # -- hooks (overridden by Runtime) ---------------------------------------
    def _resolve_initial(self, p):  # pragma: no cover - abstract
        raise NotImplementedError

    def _describe_initial(self, initial):  # pragma: no cover - abstract
        return None

    def _on_exit(self, p, reason) -> None:  # pragma: no cover - hook
        pass


# ---------------------------------------------------------------------------
# the process side of the scheduler
#
# Greenlets do not take part in cyclic garbage collection: a cycle running
# through a suspended greenlet's frames is never freed.  So no frame of a
# suspended process holds its Process or its Runtime: they are looked up in
# ``_cur.p`` (set by whoever resumes the greenlet) after every switch, and the
# bottom frame holds only a weak reference.  A dropped Runtime is then freed,
# and its blocked processes are unwound (GreenletExit) like killed ones.
# ---------------------------------------------------------------------------


def _bootstrap(wp) -> None:
    """Bottom frame of every process greenlet (*wp*: weakref to its Process)."""
    p = wp()
    fn, args = p.rt._resolve_initial(p)
    p.initial = None
    del p
    reason = "normal"
    try:
        drive(fn, args, None)  # the trampoline runs in this frame
    except Killed:
        reason = "killed"
    except greenlet.GreenletExit:  # garbage collected with its runtime
        _cur.p = _saved_current.pop()
        return
    except BaseException as exc:
        reason = exc
    p = wp()
    if p is not None and p.status is not DEAD:
        p.rt._exit(p, reason)
    # a killed process was already recorded by the purge


def _block(timeout):
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
    """Reduction budget exhausted: go to the back of the run queue."""
    p = _cur.p
    p.budget = REDUCTIONS
    p.status = RUNNABLE
    p.rt._runq.append(p)
    sched = p.rt._sched
    del p
    _switch(sched)


def _switch(sched) -> None:
    """Suspend the calling process (the only place a process suspends)."""
    try:
        sched.switch()
    except greenlet.GreenletExit:
        # the greenlet is being garbage collected: unwind as a kill, as a
        # process that may do nothing any more
        _saved_current.append(_cur.p)
        _cur.p = _DYING
        raise


def _freeze() -> None:
    """Park a killed process that swallowed the kill: it never runs again."""
    gr = greenlet.getcurrent()
    _FROZEN.append(gr)
    if _cur.p is _DYING:
        _cur.p = _saved_current.pop()
    gr.parent.switch()
    raise AssertionError("a frozen process was resumed")  # pragma: no cover
