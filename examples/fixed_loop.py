"""The same server, fixed: re-entry after the `try`, a timeout, a qualified upgrade path.

Only the work sits in the `try`; the loop re-enters after it, in tail position, so
the stack stays flat. The receive wakes up every 10 seconds and re-enters through
the module (`fixed_loop.server_loop`), so even an idle process reaches new code.
"""

import fixed_loop
from swaplint.runtime import TIMEOUT, receive


def server_loop(count=0):
    msg = receive(timeout=10)
    if msg == "switch_code" or msg is TIMEOUT:
        return fixed_loop.server_loop(count)
    try:
        count = handle(count, msg)
    except ValueError:
        pass
    return server_loop(count)


def handle(count, msg):
    if msg == "crash":
        raise ValueError(msg)
    return count + 1
