"""A process running a loop is started and its handle thrown away.

## What it does
Flags a statement that starts a process running a loop function of this file and
keeps no handle to it: an expression statement (or an assignment to `_`) of
`spawn(loop, ...)` (`swaplint.runtime`), `threading.Thread(target=loop).start()`,
`multiprocessing.Process(target=loop).start()`, `asyncio.create_task(loop(...))`,
`asyncio.ensure_future(loop(...))`, `X.create_task(loop(...))`,
`X.submit(loop, ...)`, or a name listed in the `spawn-calls` setting.

## Why is this bad?
An upgrade reaches a process only through a message (`switch_code`) or its own
timeout. A process that nobody tracks never gets the message, so unless it times
out into a qualified call it stays in old code and dies at the next purge. In the
seed's incident, only the server was told to switch; the third load killed all
three untracked workers.

## Example
```python
import threading

def worker(q):
    while True:
        handle(q.get(timeout=1))

threading.Thread(target=worker, args=(jobs,)).start()
```

## Use instead
Keep the handle where the upgrade path can reach it:
```python
workers.append(threading.Thread(target=worker, args=(jobs,)))
workers[-1].start()
```
"""

from __future__ import annotations

import libcst as cst

from swaplint.findings import Severity
from swaplint.rules._base import Rule


class UntrackedProcess(Rule):
    code = "SWL004"
    name = "untracked-process"
    severity = Severity.WARNING

    VALID = (
        "import threading\ndef worker(q):\n    while True:\n        q.get(timeout=1)\n"
        "t = threading.Thread(target=worker, args=(1,))\nt.start()\n",
        # Not a loop function.
        "import threading\ndef job():\n    pass\nthreading.Thread(target=job).start()\n",
    )
    INVALID = (
        "import threading\ndef worker(q):\n    while True:\n        q.get(timeout=1)\n"
        "threading.Thread(target=worker, args=(1,)).start()\n",
        "from swaplint.runtime import spawn, receive\n"
        "def worker(s):\n    while True:\n        receive(timeout=1)\n"
        "def main():\n    spawn(worker, 0)\n",
    )

    def visit_Call(self, node: cst.Call) -> None:
        spawn = self.model.spawns.get(node)
        if spawn is None:
            return
        self.report(
            node,
            f"process running loop `{spawn.target.name}` is started by `{spawn.label}` and "
            "its handle is thrown away: no upgrade message can reach it; keep the handle "
            "where the upgrade path can notify it",
            function=spawn.spawner,
        )
