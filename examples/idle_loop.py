"""The idle loop: an upgrade path, but no timeout.

The loop does switch to new code when told `switch_code`. Nobody tells it, and it
never wakes up by itself: idle in the old version's receive, it is killed when a
third version loads.
"""

import idle_loop
from swaplint.runtime import receive


def server_loop(count=0):
    msg = receive()
    if msg == "switch_code":
        return idle_loop.server_loop(count)
    return server_loop(count + 1)
