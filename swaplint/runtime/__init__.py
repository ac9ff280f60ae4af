"""swaplint.runtime: Erlang-style processes under a versioned code loader.

The runtime makes swaplint's findings observable.  It runs Python loops as
lightweight processes with mailboxes (:mod:`.process`, greenlets on a
deterministic scheduler with a virtual clock) under a code server
(:mod:`.codeserver`) that keeps at most two versions of each module -- current
and old -- and, like ``c:l/1``, kills every process still executing old code
when it purges.  Loaded code is compiled with last-call optimisation
(:mod:`.tailcall`) so that a properly tail-recursive loop stays flat and leaves
old code at its next qualified call, while a call inside a ``try`` suite keeps
an old frame on the stack, exactly as on the BEAM.

Outside::

    rt = Runtime()
    rt.load("counter", source)           # 1
    pid = rt.spawn("counter", "server_loop", 0)
    rt.send(pid, 5); rt.run()
    rt.load("counter", source_v2)        # 2: current=2, old=1
    rt.load("counter", source_v3)        # 3: purges 1, killing its users
    rt.load("pkg.relative", source)      # dotted names, as the linter computes them

Inside loaded code::

    from swaplint.runtime import receive, send, spawn, self_pid, TIMEOUT
    import counter                       # qualified calls go to the current version

    def server_loop(state):
        msg = receive(timeout=10)        # virtual seconds; None = forever
        if msg == "switch_code" or msg is TIMEOUT:
            return counter.server_loop(state)   # qualified: upgrade
        return server_loop(state + msg)         # local: stay in this version

Also inside: selective ``receive(match=...)``, ``monitor``/``demonitor``,
``link``/``unlink``/``spawn_link``/``trap_exit``, ``exit_signal``, ``Exit``,
``register``/``whereis``; and a minimal OTP (:mod:`.otp`): generic servers
with ``code_change`` (``Runtime.upgrade``) and ``one_for_one`` supervisors.
Reference and the differences from Erlang/OTP: ``docs/runtime.md``.
"""

from .codeserver import ModuleHandle, NotPurged, UndefinedFunction, Version
from .otp import (
    CallError,
    CallTimeout,
    ChildSpec,
    call,
    cast,
    get_state,
    serve,
    server,
    supervise,
    supervisor,
    which_children,
    worker,
)
from .process import (
    ANY,
    TIMEOUT,
    BadArg,
    Busy,
    Exit,
    Killed,
    NoProc,
    NotInProcess,
    Pid,
    Ref,
    TimeoutValue,
    demonitor,
    exit_signal,
    link,
    matches,
    monitor,
    receive,
    register,
    self_pid,
    send,
    spawn,
    spawn_link,
    trap_exit,
    unlink,
    unregister,
    whereis,
)
from .runtime import Frame, KillRecord, ProcessInfo, Runtime
from .tailcall import BadFun, TailCall

__all__ = [
    "ANY",
    "TIMEOUT",
    "BadArg",
    "BadFun",
    "Busy",
    "CallError",
    "CallTimeout",
    "ChildSpec",
    "Exit",
    "Frame",
    "KillRecord",
    "Killed",
    "ModuleHandle",
    "NoProc",
    "NotInProcess",
    "NotPurged",
    "Pid",
    "ProcessInfo",
    "Ref",
    "Runtime",
    "TailCall",
    "TimeoutValue",
    "UndefinedFunction",
    "Version",
    "call",
    "cast",
    "demonitor",
    "exit_signal",
    "get_state",
    "link",
    "matches",
    "monitor",
    "receive",
    "register",
    "self_pid",
    "send",
    "serve",
    "server",
    "spawn",
    "spawn_link",
    "supervise",
    "supervisor",
    "trap_exit",
    "unlink",
    "unregister",
    "whereis",
    "which_children",
    "worker",
]
