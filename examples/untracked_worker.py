"""The untracked workers: the seed's real cause.

`start` spawns three workers and throws their pids away, then becomes the server.
At upgrade time only the server is sent `switch_code`. The workers wait for a
message that never comes, in old code, and the third load kills all three.
"""

import untracked_worker
from swaplint.runtime import TIMEOUT, receive, spawn


def start(workers=3):
    for _ in range(workers):
        spawn(worker_loop)
    return untracked_worker.server_loop(0)


def server_loop(count=0):
    msg = receive(timeout=10)
    if msg == "switch_code" or msg is TIMEOUT:
        return untracked_worker.server_loop(count)
    return server_loop(count + 1)


def worker_loop(jobs=0):
    msg = receive()
    if msg == "switch_code":
        return untracked_worker.worker_loop(jobs)
    return worker_loop(jobs + 1)
