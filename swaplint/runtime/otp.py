"""A minimal OTP: a generic server with ``code_change`` and a supervisor.

This is the runtime's answer to "untracked processes".  A process written
the OTP way never runs a loop of *its own* module: the loop lives here, in
the runtime (like ``gen_server`` in OTP's ``stdlib``), and calls the user's
callbacks as qualified calls through the module handle, so between two
messages no frame of user code is on its stack.  Loading a new version can
therefore never leave it in old code, and a purge never kills it;
:meth:`~swaplint.runtime.Runtime.upgrade` also migrates its state with the
module's ``code_change`` (``sys:suspend`` / ``sys:change_code`` /
``sys:resume`` in OTP).  A supervisor restarts the children that die.

A server module defines::

    def init(*args): return state
    def handle_call(request, from_pid, state): return reply, new_state
    def handle_cast(request, state): return new_state
    def handle_info(message, state): return new_state          # optional
    def code_change(old_version, state, extra): return new_state  # optional

and runs as ``rt.spawn_fun(serve, "counter", (0,), "counter")`` or, under a
supervisor, ``server("counter", "counter", 0, name="counter")``.  Inside
processes: :func:`call`, :func:`cast`, :func:`which_children`; outside:
``rt.call``, ``rt.cast``, ``rt.start_supervisor``, ``rt.upgrade``,
``rt.which_children``.

Deliberately small: one restart strategy (``one_for_one``), no dynamic
children, no ``handle_call`` ``noreply``/``stop`` returns (raise
:class:`~.process.Exit` to stop).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .codeserver import UndefinedFunction
from .process import (
    ANY,
    DEAD,
    TIMEOUT,
    Exit,
    NotInProcess,
    Pid,
    Process,
    demonitor,
    exit_signal,
    monitor,
    receive,
    self_pid,
    send,
    spawn_link,
    trap_exit,
    unlink,
)
from .tailcall import _cur

__all__ = [
    "CallError",
    "CallTimeout",
    "ChildSpec",
    "call",
    "cast",
    "get_state",
    "serve",
    "server",
    "supervise",
    "supervisor",
    "which_children",
    "worker",
]

RESTARTS = ("permanent", "transient", "temporary")


class CallError(RuntimeError):
    """The server of a :func:`call` is not there or died before replying
    (``exit({Reason, {gen_server, call, ...}})`` in OTP); ``reason`` says why."""

    def __init__(self, server: object, reason: object) -> None:
        super().__init__(f"call to {server!r} failed: {reason!r}")
        self.server = server
        self.reason = reason


class CallTimeout(CallError):
    """No reply within the :func:`call` timeout."""


def _me() -> Process:
    p: Process | None = _cur.p
    if p is None:
        raise NotInProcess("this OTP function must run inside a swaplint process")
    return p


# ---------------------------------------------------------------------------
# the generic server
# ---------------------------------------------------------------------------


def _handle(module: str) -> Any:
    """The module's handle: attribute access reaches the current version.
    (Looked up afresh each time: no frame of a server keeps its runtime.)"""
    h = _me().rt.code.handle(module)
    if h is None:
        raise UndefinedFunction(f"module {module!r} is not loaded")
    return h


def serve(module: str, args: Sequence[Any] = (), name: str | None = None) -> NoReturn:
    """The loop of a generic server whose callbacks are in *module*.

    Messages ``("$call", from, ref, request)`` and ``("$cast", request)`` go
    to ``handle_call``/``handle_cast``, ``("$code_change", old, extra)`` to
    ``code_change`` and anything else to ``handle_info``; every callback is
    a qualified call, so the current version of *module* handles each
    message, and no frame of it stays on the stack while the server waits.
    """
    p = _me()
    if name is not None:
        p.rt._register(name, p.pid)
    p.rt._servers[p.pid] = module
    del p
    state = _handle(module).init(*args)
    while True:
        msg = receive()
        mod = _handle(module)
        tag = msg[0] if type(msg) is tuple and msg else None
        if tag == "$call" and len(msg) == 4:
            _, sender, ref, request = msg
            reply, state = mod.handle_call(request, sender, state)
            send(sender, ("$reply", ref, reply))
        elif tag == "$cast" and len(msg) == 2:
            state = mod.handle_cast(msg[1], state)
        elif tag == "$code_change" and len(msg) == 3:
            change = getattr(mod, "code_change", None)
            if change is not None:
                state = change(msg[1], state, msg[2])
        elif tag == "$get_state" and len(msg) == 3:
            send(msg[1], ("$reply", msg[2], state))
        else:
            info = getattr(mod, "handle_info", None)
            if info is not None:
                state = info(msg, state)
        del mod, msg


def call(server: Pid | str, request: Any, timeout: float | None = 5.0) -> Any:
    """Send *request* to a generic server and wait for its reply (a
    selective receive: other messages stay queued).  :class:`CallError` if
    the server is not there or dies first, :class:`CallTimeout` after
    *timeout* virtual seconds."""
    p = _me()
    pid = p.rt._names.get(server) if isinstance(server, str) else server
    del p
    if pid is None:
        raise CallError(server, "noproc")
    if pid == self_pid():
        raise CallError(server, "calling_self")  # would wait for itself
    ref = monitor(pid)
    send(pid, ("$call", self_pid(), ref, request))

    def answer(m: Any) -> bool:
        return type(m) is tuple and len(m) >= 3 and m[1] is ref and m[0] in ("$reply", "DOWN")

    msg = receive(match=answer, timeout=timeout)
    demonitor(ref, flush=True)
    if msg is TIMEOUT:
        raise CallTimeout(server, "timeout")
    if msg[0] == "DOWN":
        raise CallError(server, msg[3])
    return msg[2]


def cast(server: Pid | str, request: Any) -> None:
    """Send *request* to a generic server without waiting (never fails)."""
    p = _me()
    pid = p.rt._names.get(server) if isinstance(server, str) else server
    del p
    if pid is not None:
        send(pid, ("$cast", request))


def get_state(server: Pid | str, timeout: float | None = 5.0) -> Any:
    """The server's state (``sys:get_state``), for tests and debugging."""
    p = _me()
    pid = p.rt._names.get(server) if isinstance(server, str) else server
    del p
    if pid is None:
        raise CallError(server, "noproc")
    ref = monitor(pid)
    send(pid, ("$get_state", self_pid(), ref))

    def answer(m: Any) -> bool:
        return type(m) is tuple and len(m) >= 3 and m[1] is ref and m[0] in ("$reply", "DOWN")

    msg = receive(match=answer, timeout=timeout)
    demonitor(ref, flush=True)
    if msg is TIMEOUT:
        raise CallTimeout(server, "timeout")
    if msg[0] == "DOWN":
        raise CallError(server, msg[3])
    return msg[2]


# ---------------------------------------------------------------------------
# the supervisor
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildSpec:
    """What a supervisor starts and when it restarts it.

    *start* is ``((module, function), args)`` -- an external call, so every
    (re)start runs the current version -- or ``(callable, args)``.
    *restart*: ``"permanent"`` (always), ``"transient"`` (unless it exits
    ``"normal"`` or ``"shutdown"``) or ``"temporary"`` (never).  *shutdown*:
    virtual seconds a child that traps exits gets to stop before it is
    killed.
    """

    id: str
    start: tuple[Any, tuple[Any, ...]]
    restart: str = "permanent"
    shutdown: float = 5.0

    def __post_init__(self) -> None:
        if self.restart not in RESTARTS:
            raise ValueError(f"restart must be one of {RESTARTS}, got {self.restart!r}")


def worker(id: str, module: str, function: str, *args: Any, restart: str = "permanent") -> ChildSpec:
    """A child running ``module.function(*args)`` (current version at each start)."""
    return ChildSpec(id, ((module, function), args), restart)


def server(
    id: str, module: str, *args: Any, name: str | None = None, restart: str = "permanent"
) -> ChildSpec:
    """A child that is a generic server with callbacks in *module*."""
    return ChildSpec(id, (serve, (module, args, name)), restart)


def supervisor(
    id: str,
    children: Sequence[ChildSpec],
    *,
    intensity: int = 3,
    period: float = 5.0,
    name: str | None = None,
) -> ChildSpec:
    """A child that is itself a supervisor (a supervision tree)."""
    return ChildSpec(
        id, (supervise, (tuple(children), intensity, period, name)), "permanent", shutdown=3600.0
    )


@dataclass
class _SupState:
    children: tuple[ChildSpec, ...]
    intensity: int
    period: float
    pids: dict[str, Pid | None] = field(default_factory=dict)
    restarts: deque[float] = field(default_factory=deque)
    log: list[tuple[float, str, object]] = field(default_factory=list)  # (time, id, exit reason)


def _start_child(spec: ChildSpec) -> Pid:
    target, args = spec.start
    if isinstance(target, tuple):  # (module, function): an external call
        p = _me()
        rt = p.rt
        module, function = target
        h = rt.code.handle(module)
        if h is None or not callable(h.__dict__.get(function)):
            raise UndefinedFunction(f"{module}.{function} is not defined")
        pid: Pid = rt._spawn((module, function, tuple(args)), p.pid)
        rt._link(p, rt._procs[pid])
        return pid
    return spawn_link(target, *args)


def _stop_child(pid: Pid, spec: ChildSpec) -> None:
    """OTP's shutdown: unlink, exit signal ``shutdown``, ``kill`` if it has
    not stopped within ``spec.shutdown`` virtual seconds."""
    ref = monitor(pid)
    unlink(pid)
    # an EXIT of this child may already be queued: drop it
    receive(match=lambda m: type(m) is tuple and len(m) == 3 and m[0] == "EXIT" and m[1] == pid, timeout=0)
    exit_signal(pid, "shutdown")
    down = receive(match=("DOWN", ref, pid, ANY), timeout=spec.shutdown)
    if down is TIMEOUT:
        exit_signal(pid, "kill")
        receive(match=("DOWN", ref, pid, ANY))


def supervise(
    children: Sequence[ChildSpec], intensity: int = 3, period: float = 5.0, name: str | None = None
) -> NoReturn:
    """The loop of a ``one_for_one`` supervisor: start *children* in order,
    restart each one that dies (per its ``restart``); more than *intensity*
    restarts within *period* virtual seconds stops every child (in reverse
    order) and the supervisor itself, with reason ``"shutdown"``."""
    p = _me()
    if name is not None:
        p.rt._register(name, p.pid)
    state = _SupState(tuple(children), intensity, period)
    p.rt._supervisors[p.pid] = state
    parent = p.parent
    del p
    trap_exit(True)
    for spec in state.children:
        state.pids[spec.id] = _start_child(spec)
    while True:
        msg = receive()
        if not (type(msg) is tuple and len(msg) == 3 and msg[0] == "EXIT"):
            continue  # a supervisor ignores other messages
        _, pid, reason = msg
        found = next((s for s in state.children if state.pids.get(s.id) == pid), None)
        if found is None:
            if pid == parent:  # the parent went away: so do we
                _shutdown(state)
                raise Exit(reason)
            continue
        spec = found
        now = _me().rt.now
        state.pids[spec.id] = None
        state.log.append((now, spec.id, reason))
        normal = isinstance(reason, str) and reason in ("normal", "shutdown")
        if spec.restart == "temporary" or (spec.restart == "transient" and normal):
            continue
        state.restarts.append(now)
        while state.restarts and state.restarts[0] <= now - state.period:
            state.restarts.popleft()
        if len(state.restarts) > state.intensity:
            _shutdown(state)
            raise Exit("shutdown")
        state.pids[spec.id] = _start_child(spec)


def _shutdown(state: _SupState) -> None:
    for spec in reversed(state.children):
        pid = state.pids.get(spec.id)
        if pid is not None:
            _stop_child(pid, spec)
            state.pids[spec.id] = None


def which_children(sup: Pid | str) -> list[tuple[str, Pid | None]]:
    """``[(child id, pid or None), ...]`` of a supervisor, in start order."""
    p = _me()
    return _which(p.rt, sup)


def _which(rt: Any, sup: Pid | str) -> list[tuple[str, Pid | None]]:
    pid = rt._names.get(sup) if isinstance(sup, str) else sup
    state = rt._supervisors.get(pid)
    proc = rt._procs.get(pid)
    if state is None or proc is None or proc.status is DEAD:
        raise CallError(sup, "noproc")
    return [(spec.id, state.pids.get(spec.id)) for spec in state.children]


# used by Runtime.call/cast/get_state from outside any process
def _outside_call(results: list[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        results.append(("ok", fn(*args)))
    except Exception as exc:
        results.append(("error", exc))
