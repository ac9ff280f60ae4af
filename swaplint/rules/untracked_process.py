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

Under the runtime, a process whose loop upgrades itself is not flagged: its
receive has a timeout, and the `TIMEOUT` branch re-enters through the module.

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
Under `importlib`, safe: the handle is kept in a module-level list (`WORKERS`,
created after the imports when the module has none): `Thread(...).start()`
becomes a named handle appended to it and then started, a dropped local handle is
appended after it is made, and `create_task(...)`/`submit(...)` are wrapped in
`WORKERS.append(...)`. Nothing else changes: shutdown and reload code can now find
the handles.

For a process of the runtime, unsafe: a kept pid alone upgrades nothing (someone must still
send it the upgrade message), so the fix makes the spawned loop upgrade itself:
its `msg = receive(...)` gets a timeout if it has none, followed by
`if msg is TIMEOUT: return module.loop(...)`. The loop then wakes every
`fix-timeout` seconds when idle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from swaplint.findings import Applicability, Severity
from swaplint.model import FileModel, Function
from swaplint.rules import _rewrite
from swaplint.rules._base import Report, Rule, importlib_model


class UntrackedProcess(Rule):
    code = "SWL004"
    name = "untracked-process"
    severity = Severity.WARNING

    VALID = (
        # The thread's inner loop only waits for room (a value read to decide, under a lock).
        "import threading, time\nclass F:\n    def start(self, chunks):\n"
        "        t = threading.Thread(target=self.prefetch, args=(chunks,))\n        t.start()\n"
        "    def prefetch(self, chunks):\n        for chunk in chunks:\n            while True:\n"
        "                with self.lock:\n                    n = len(self.pending)\n"
        "                    if n < 8:\n                        break\n                time.sleep(0.01)\n"
        "            self.request(chunk)\n",
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
        (
            "import counter\n"
            "from swaplint.runtime import receive, spawn\n"
            "\n"
            "\n"
            "def start(n):\n"
            "    for _ in range(n):\n"
            "        spawn(worker)\n"
            "\n"
            "\n"
            "def worker(jobs=0):\n"
            "    msg = receive(timeout=5)\n"
            "    if msg == 'switch_code':\n"
            "        return counter.worker(jobs)\n"
            "    return worker(jobs + 1)\n",
            "import counter\n"
            "from swaplint.runtime import receive, spawn, TIMEOUT\n"
            "\n"
            "\n"
            "def start(n):\n"
            "    for _ in range(n):\n"
            "        spawn(worker)\n"
            "\n"
            "\n"
            "def worker(jobs=0):\n"
            "    msg = receive(timeout=5)\n"
            "    if msg is TIMEOUT:\n"
            "        return counter.worker(jobs)\n"
            "    if msg == 'switch_code':\n"
            "        return counter.worker(jobs)\n"
            "    return worker(jobs + 1)\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        for spawn in model.spawns:
            target = spawn.target.name
            runtime_process = not importlib_model(model) and _runtime_spawn(spawn.label)
            if not runtime_process:
                fix = _rewrite.make_fix(
                    model,
                    "keep the handle",
                    _keep(spawn.node),
                    _rewrite.keep_handle(model, spawn),
                    Applicability.SAFE,
                )
            elif upgrades_itself(model, spawn.target):
                continue  # it times out into a qualified call: no message needs to reach it
            else:
                fix = _rewrite.make_fix(
                    model,
                    "let the loop upgrade itself on a timeout",
                    f"msg = receive(timeout=10)\nif msg is TIMEOUT:\n    return {model.module}.{target}(...)",
                    _rewrite.upgrade_on_timeout(model, spawn.target),
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
                    "path can notify it, or let the loop re-enter through the module on a timeout.",
                    function=spawn.spawner,
                    related=[(spawn.target.node, f"the loop it runs: `{spawn.target.qualname}`")],
                    fix=fix,
                )


def _keep(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "start" and isinstance(func.value, ast.Call):
        return f"handle = {ast.unparse(func.value)}\nWORKERS.append(handle)\nhandle.start()"
    return f"WORKERS.append({ast.unparse(call)})"


def upgrades_itself(model: FileModel, fn: Function) -> bool:
    """Runtime: every wait of ``fn`` has a timeout, and a branch on ``TIMEOUT`` returns a
    call through a module (``if msg is TIMEOUT: return counter.loop(s)``)."""
    waits = [w for w in model.waits if w.function is fn]
    if not waits or any(w.forever for w in waits):
        return False
    for node in ast.walk(fn.node):
        if not isinstance(node, ast.If):
            continue
        if not any(_names_timeout(sub) for sub in ast.walk(node.test)):
            continue
        for stmt in node.body:
            value = stmt.value if isinstance(stmt, ast.Return) else None
            if isinstance(value, ast.Await):
                value = value.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
                root = value.func.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id not in ("self", "cls"):
                    return True
    return False


def _names_timeout(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "TIMEOUT") or (
        isinstance(node, ast.Attribute) and node.attr == "TIMEOUT"
    )


def _runtime_spawn(label: str) -> bool:
    """A process of :mod:`swaplint.runtime` (``spawn(...)``, ``rt.spawn(...)``), not a thread
    or task started in a file that also uses the runtime."""
    name = label.split("(", 1)[0]
    return name.rsplit(".", 1)[-1] in ("spawn", "spawn_link", "spawn_monitor", "spawn_fun")
