"""The try/catch loop: a server re-enters itself inside `try`.

The recursive call in the `try` suite is not a tail call. Every message leaves one
more frame (with its handler) of the running version on the stack. The process
handles `switch_code` and runs the new version, yet the next purge still kills it:
old frames sit under the new one.
"""

import try_catch_loop
from swaplint.runtime import TIMEOUT, receive


def server_loop(count=0):
    msg = receive(timeout=10)
    if msg == "switch_code" or msg is TIMEOUT:
        return try_catch_loop.server_loop(count)
    try:
        count = handle(count, msg)
        return server_loop(count)
    except ValueError:
        return server_loop(count)


def handle(count, msg):
    if msg == "crash":
        raise ValueError(msg)
    return count + 1
