"""A thread, task or process running a loop is started and its handle thrown away.

## What it does
Flags a call that starts a thread, task or process running a loop function of
this file (a loop site's function, a recursive loop, or a function that calls
one) and keeps no handle to it:

- an expression statement (or an assignment to `_`) of
  `threading.Thread(target=loop).start()`, `multiprocessing.Process(...).start()`,
  `MyThread().start()` for a `Thread` subclass of the file,
  `asyncio.create_task(loop(...))`, `asyncio.ensure_future(...)`,
  `X.create_task(...)`, `X.submit(loop, ...)`, `_thread.start_new_thread`,
  `gevent.spawn`, `spawn(loop, ...)` of `swaplint.runtime`, or a name listed in
  the `spawn-calls` setting;
- a local handle that is only started or configured (`t = Thread(...)`,
  `t.daemon = True`, `t.start()`) and never stored, returned, passed on or joined.

## Why is this bad?
**Under `importlib.reload` (plain Python).** Nobody can join, stop or tell such a
thread to reload: it runs version-1 code for the life of the process, and a
clean restart has to kill it. An asyncio task with no reference may even be
garbage-collected mid-run.

**Under `swaplint.runtime` (Erlang semantics).** An upgrade reaches a process
only through a message (`switch_code`) or its own timeout. A process that nobody
tracks never gets the message, so unless it times out into a qualified call it
stays in old code and dies at the next purge.

## Example
```python
import threading

def worker(q):
    while True:
        handle(q.get(timeout=1))

threading.Thread(target=worker, args=(jobs,)).start()
```

## Use instead
Keep the handle where the upgrade path (or shutdown) can reach it:
```python
import threading

def worker(q):
    while True:
        handle(q.get(timeout=1))

workers.append(threading.Thread(target=worker, args=(jobs,)))
workers[-1].start()
```

## Fix
Safe: the handle is kept in a module-level list (`WORKERS`, created after the
imports when the module has none): `Thread(...).start()` becomes a named handle
appended to it and then started, a dropped local handle is appended after it is
made, and `spawn(...)`/`create_task(...)` are wrapped in `WORKERS.append(...)`.
Nothing else changes: shutdown and reload code can now find the handles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from swaplint.findings import Applicability, Severity
from swaplint.model import FileModel
from swaplint.rules import _rewrite
from swaplint.rules._base import Report, Rule, importlib_model


class UntrackedProcess(Rule):
    code = "SWL004"
    name = "untracked-process"
    severity = Severity.WARNING

    VALID = (
        "import threading\ndef worker(q):\n    while True:\n        q.get(timeout=1)\n"
        "workers = [threading.Thread(target=worker, args=(1,))]\nworkers[0].start()\n",
        # Not a loop function.
        "import threading\ndef job():\n    pass\nthreading.Thread(target=job).start()\n",
        "import threading\ndef worker(q):\n    while True:\n        q.get(timeout=1)\n"
        "def main():\n    t = threading.Thread(target=worker)\n    t.start()\n    t.join()\n",
    )
    INVALID = (
        "import threading\ndef worker(q):\n    while True:\n        q.get(timeout=1)\n"
        "threading.Thread(target=worker, args=(1,)).start()\n",
        "import threading\ndef worker(q):\n    while True:\n        q.get(timeout=1)\n"
        "def main():\n    t = threading.Thread(target=worker)\n    t.daemon = True\n    t.start()\n",
        "from swaplint.runtime import spawn, receive\n"
        "def worker(s):\n    while True:\n        receive(timeout=1)\n"
        "def main():\n    spawn(worker, 0)\n",
    )

    #: (before, after): what `--fix --unsafe-fixes` makes of each, with only this rule's fixes.
    FIXES = (
        (
            "import threading\n"
            "\n"
            "\n"
            "def worker(q):\n"
            "    while True:\n"
            "        q.get(timeout=1)\n"
            "\n"
            "\n"
            "def main(q):\n"
            "    threading.Thread(target=worker, args=(q,), daemon=True).start()\n",
            "import threading\n"
            "\n"
            "WORKERS: list = []  # every thread, task and process started here: for shutdown and reload\n"
            "\n"
            "\n"
            "def worker(q):\n"
            "    while True:\n"
            "        q.get(timeout=1)\n"
            "\n"
            "\n"
            "def main(q):\n"
            "    thread = threading.Thread(target=worker, args=(q,), daemon=True)\n"
            "    WORKERS.append(thread)\n"
            "    thread.start()\n",
        ),
        (
            "import threading\n"
            "\n"
            "\n"
            "def worker(q):\n"
            "    while True:\n"
            "        q.get(timeout=1)\n"
            "\n"
            "\n"
            "def main(q):\n"
            "    t = threading.Thread(target=worker, args=(q,))\n"
            "    t.daemon = True\n"
            "    t.start()\n",
            "import threading\n"
            "\n"
            "WORKERS: list = []  # every thread, task and process started here: for shutdown and reload\n"
            "\n"
            "\n"
            "def worker(q):\n"
            "    while True:\n"
            "        q.get(timeout=1)\n"
            "\n"
            "\n"
            "def main(q):\n"
            "    t = threading.Thread(target=worker, args=(q,))\n"
            "    WORKERS.append(t)\n"
            "    t.daemon = True\n"
            "    t.start()\n",
        ),
        (
            "import asyncio\n"
            "\n"
            "\n"
            "async def consumer(inbox, stop):\n"
            "    while not stop.is_set():\n"
            "        await asyncio.wait_for(inbox.get(), 1)\n"
            "\n"
            "\n"
            "async def main(inbox, stop):\n"
            "    asyncio.create_task(consumer(inbox, stop))\n",
            "import asyncio\n"
            "\n"
            "WORKERS: list = []  # every thread, task and process started here: for shutdown and reload\n"
            "\n"
            "\n"
            "async def consumer(inbox, stop):\n"
            "    while not stop.is_set():\n"
            "        await asyncio.wait_for(inbox.get(), 1)\n"
            "\n"
            "\n"
            "async def main(inbox, stop):\n"
            "    WORKERS.append(asyncio.create_task(consumer(inbox, stop)))\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        for spawn in model.spawns:
            target = spawn.target.name
            fix = _rewrite.make_fix(
                model,
                "keep the handle",
                _keep(spawn.node),
                _rewrite.keep_handle(model, spawn),
                Applicability.SAFE,
            )
            if importlib_model(model):
                yield Report(
                    spawn.node,
                    f"{spawn.what} running loop `{target}` is started by `{spawn.label}` and nobody keeps it",
                    f"No one can join, stop or tell this {spawn.what} to reload: it runs its first version "
                    "for the life of the process. Keep its handle in a registry that shutdown and "
                    "reload can reach.",
                    function=spawn.spawner,
                    related=[(spawn.target.node, f"the loop it runs: `{spawn.target.qualname}`")],
                    fix=fix,
                )
            else:
                yield Report(
                    spawn.node,
                    f"process running loop `{target}` is started by `{spawn.label}` and its handle is dropped",
                    "No upgrade message can reach it: unless it times out into a qualified call it stays "
                    "in old code and is killed at the next purge. Keep the handle where the upgrade "
                    "path can notify it.",
                    function=spawn.spawner,
                    related=[(spawn.target.node, f"the loop it runs: `{spawn.target.qualname}`")],
                    fix=fix,
                )


def _keep(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "start" and isinstance(func.value, ast.Call):
        return f"handle = {ast.unparse(func.value)}\nWORKERS.append(handle)\nhandle.start()"
    return f"WORKERS.append({ast.unparse(call)})"
