"""The seed's counter server, written the OTP way.

The seed's counter ran its own `server_loop`: whoever was not sent
`switch_code` stayed in old code and died at the next purge. Here the loop is
the runtime's generic server (`swaplint.runtime.serve`, OTP's gen_server):
it calls this module's callbacks as qualified calls, so between two messages
no frame of this module is on the server's stack. No load can leave it in
old code and no purge can kill it.

This is version 2. Version 1 (`V1` below) kept the count as a bare int;
version 2 keeps a dict. `Runtime.upgrade` handles the queued messages with
the old code, loads this version, and has each server migrate its state
through `code_change` before it handles anything else. A supervisor restarts
the server if it crashes.

Run it: python examples/otp_counter.py
"""

from typing import Any

VERSION = 2

State = dict[str, int]


def init(start: int = 0) -> State:
    return {"count": start, "hits": 0}


def handle_call(request: str, from_pid: int, state: State) -> tuple[Any, State]:
    if request == "get":
        return state["count"], state
    if request == "stats":
        return dict(state, version=VERSION), state
    raise ValueError(f"unknown call {request!r}")


def handle_cast(request: tuple[str, int], state: State) -> State:
    op, n = request
    if op == "add":
        return {"count": state["count"] + n, "hits": state["hits"] + 1}
    raise ValueError(f"unknown cast {request!r}")


def handle_info(message: object, state: State) -> State:
    return state  # stray messages are ignored


def code_change(old_version: int | None, state: int | State, extra: object) -> State:
    if isinstance(state, int):  # version 1 kept the bare count
        return {"count": state, "hits": 0}
    return state


#: Version 1: the count as a bare int, no "stats".
V1 = """\
VERSION = 1

def init(start=0):
    return start

def handle_call(request, from_pid, state):
    if request == "get":
        return state, state
    raise ValueError(f"unknown call {request!r}")

def handle_cast(request, state):
    op, n = request
    if op == "add":
        return state + n
    raise ValueError(f"unknown cast {request!r}")
"""


def main() -> None:
    from swaplint.runtime import Runtime, server

    with open(__file__, encoding="utf-8") as fh:
        v2 = fh.read()
    rt = Runtime(log_crashes=False)
    rt.load("otp_counter", V1)
    sup = rt.start_supervisor([server("counter", "otp_counter", 0, name="counter")], name="counter_sup")
    rt.run()
    for n in (1, 2, 3):
        rt.cast("counter", ("add", n))
    print("v1 count:", rt.call("counter", "get"))  # 6

    rt.cast("counter", ("add", 4))  # queued: handled by version 1 first
    rt.upgrade("otp_counter", v2)
    print("after upgrade:", rt.call("counter", "stats"))  # count 10, version 2
    for _ in range(3):  # purge after purge: the server is never in old code
        rt.upgrade("otp_counter", v2)
    print("kills by purges:", len(rt.kills))  # 0

    first = rt.whereis("counter")
    rt.cast("counter", ("sub", 1))  # an unknown cast: the server crashes
    rt.run()
    print("restarted:", rt.whereis("counter") != first, rt.which_children(sup))
    print("fresh state:", rt.call("counter", "stats"))  # init(0) of version 2


if __name__ == "__main__":
    main()
