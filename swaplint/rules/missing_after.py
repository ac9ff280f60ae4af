"""A loop waits with no timeout: while idle it never reaches its stop or upgrade path.

## What it does
Flags a wait with no timeout in a loop that runs for good: a loop site's wait
(directly, or in a helper of the file the loop calls) or a recursive loop's
wait. Waits are `receive()` of `swaplint.runtime`, queue-like `X.get()`,
socket reads and `accept()`, stream reads on reader-like names, `select`,
`Event.wait()`, iteration over a message source (`for msg in consumer`), broker
waits (`drain_events()`, `blpop()`, ...) and the `receive-calls` setting. A
timeout is a `timeout=` (or positional slot) that is not `None`, a non-blocking
form, `sock.settimeout(t)`/`setblocking(False)` in the file, a `select`
readiness check before the read in the same loop, or an enclosing
`asyncio.wait_for(..., t)` / `async with asyncio.timeout(t)`.

When the loop is also pinned to old code, SWL006 reports it and names the wait;
SWL003 then stays silent, so one loop gives one finding.

## Why is this bad?
**Under `importlib.reload` (plain Python).** A thread blocked in `q.get()` sees
no stop flag and no reload request until a message arrives: it cannot be joined,
stopped or restarted onto new code while idle, and a process restart has to kill
it.

**Under `swaplint.runtime` (Erlang semantics).** A process that waits forever
never reaches its upgrade path while idle: it stays in the old version's code,
`soft_purge` refuses, and the next hard purge (the third load) kills it. This is
Erlang's `receive` without `after`.

## Example
```python
def worker(jobs, stop):
    while not stop.is_set():
        step(jobs.get())
```

```python
import counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive()
    if msg == "switch_code":
        return counter.server_loop(state)
    return counter.server_loop(state + msg)
```

## Use instead
Wake up now and then, and check the stop flag or re-enter through the module:
```python
import queue

def worker(jobs, stop):
    while not stop.is_set():
        try:
            step(jobs.get(timeout=1.0))
        except queue.Empty:
            pass
```

```python
import counter
from swaplint.runtime import TIMEOUT, receive

def server_loop(state):
    msg = receive(timeout=10)
    if msg == "switch_code" or msg is TIMEOUT:
        return counter.server_loop(state)
    return counter.server_loop(state + msg)
```

## Fix
Unsafe: the wait now wakes up every `fix-timeout` seconds (setting, default 1)
with nothing to do, and the code must tolerate that.

- `x = q.get()` becomes `x = q.get(timeout=1)` inside `try`, with
  `except queue.Empty: continue` in a loop (or `return` in a step function that
  returns nothing); `import queue` is added when needed.
- `x = await q.get()` (asyncio) becomes `asyncio.wait_for(q.get(), timeout=1)`
  with `except asyncio.TimeoutError`.
- `select.select(r, w, x)` gets a fourth argument; `selector.select()` a timeout.
- Under the runtime, `msg = receive()` becomes `receive(timeout=1)` followed by
  `if msg is TIMEOUT: return module.loop(...)`, re-entering through the module.

Socket reads (which need `settimeout` on the socket, changing every later call),
iteration over a library's stream and other shapes are display-only.
"""

from __future__ import annotations

from collections.abc import Iterator

from swaplint.findings import Severity
from swaplint.model import FileModel, Wait, WaitPath
from swaplint.rules import _advice, _rewrite
from swaplint.rules._base import Report, Rule, importlib_model
from swaplint.rules.pinned_loop import pinned
from swaplint.shapes import WaitKind


class MissingAfter(Rule):
    code = "SWL003"
    name = "missing-after"
    severity = Severity.WARNING

    VALID = (
        # Reads while bytes are waiting (pyserial's `in_waiting`): it drains them, then ends.
        "class Port:\n    def flush(self):\n        while self.serial.in_waiting:\n"
        "            self.serial.read()\n",
        # `os.pipe()` is a pair of descriptors: iterating it waits for nothing.
        "import os\nclass W:\n    def init(self):\n        self.PIPE = os.pipe()\n"
        "        for p in self.PIPE:\n            set_non_blocking(p)\n",
        # An attribute of metadata is data (the topics a member subscribed to).
        "def assign(members):\n    for mid, member_metadata in members.items():\n"
        "        for topic in member_metadata.subscription:\n            add(mid, topic)\n",
        "def worker(q, stop):\n    while not stop.is_set():\n        step(q.get(timeout=5))\n",
        "def drain(q):\n    while True:\n        try:\n            item = q.get_nowait()\n"
        "        except Empty:\n            break\n",
        # Not in a loop.
        "def once(q):\n    return q.get()\n",
        "def lookup(d):\n    while True:\n        v = d.get('key')\n",
        "import select\ndef serve(sock, stop):\n    while not stop.is_set():\n"
        "        ready, _, _ = select.select([sock], [], [], 1.0)\n        if ready:\n"
        "            handle(sock.recv(4096))\n",
    )
    INVALID = (
        "def worker(q, stop):\n    while not stop.is_set():\n        step(q.get())\n",
        "import select\ndef serve(r):\n    while True:\n        handle(select.select(r, [], []))\n",
        "async def worker(q):\n    while True:\n        step(await q.get())\n",
        "from swaplint.runtime import receive\nimport m\n"
        "def loop(s):\n    msg = receive()\n    return m.loop(s + msg)\n",
    )

    #: (before, after): what `--fix --unsafe-fixes` makes of each, with only this rule's fixes.
    FIXES = (
        (
            "import queue\n"
            "\n"
            "\n"
            "def worker(jobs, stop):\n"
            "    while not stop.is_set():\n"
            "        job = jobs.get()\n"
            "        handle(job)\n",
            "import queue\n"
            "\n"
            "\n"
            "def worker(jobs, stop):\n"
            "    while not stop.is_set():\n"
            "        try:\n"
            "            job = jobs.get(timeout=1)\n"
            "        except queue.Empty:\n"
            "            continue\n"
            "        handle(job)\n",
        ),
        (
            "import asyncio\n"
            "\n"
            "\n"
            "async def pump(inbox, stop):\n"
            "    while not stop.is_set():\n"
            "        item = await inbox.get()\n"
            "        await handle(item)\n",
            "import asyncio\n"
            "\n"
            "\n"
            "async def pump(inbox, stop):\n"
            "    while not stop.is_set():\n"
            "        try:\n"
            "            item = await asyncio.wait_for(inbox.get(), timeout=1)\n"
            "        except asyncio.TimeoutError:\n"
            "            continue\n"
            "        await handle(item)\n",
        ),
        (
            "import counter\n"
            "from swaplint.runtime import receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive()\n"
            "    if msg == 'switch_code':\n"
            "        return counter.server_loop(state)\n"
            "    return server_loop(state + msg)\n",
            "import counter\n"
            "from swaplint.runtime import receive, TIMEOUT\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive(timeout=1)\n"
            "    if msg is TIMEOUT:\n"
            "        return counter.server_loop(state)\n"
            "    if msg == 'switch_code':\n"
            "        return counter.server_loop(state)\n"
            "    return server_loop(state + msg)\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        seen: set[int] = set()
        paths: list[tuple[WaitPath, str]] = []
        for site in model.loops:
            if pinned(model, site):
                continue  # SWL006 reports the loop and names its wait
            paths.extend((p, site.function.name) for p in site.blocking)
        for cycle in model.cycles:
            paths.extend((p, cycle.head.name) for p in cycle.waits if _forever(p.wait))
        for path, loop in paths:
            wait = path.wait
            if id(wait.node) in seen:
                continue
            seen.add(id(wait.node))
            where = (
                ""
                if wait.function is not None and wait.function.name == loop
                else f" (in the loop of `{loop}`)"
            )
            snippet = _advice.with_timeout(wait, wait.function)
            edits = _rewrite.add_timeout(model, wait)
            if importlib_model(model):
                yield Report(
                    wait.node,
                    f"`{wait.label}` waits with no timeout{where}: while idle the loop never sees a stop request",
                    "A thread or task blocked here cannot be stopped, joined or restarted onto reloaded "
                    "code until a message arrives. Give the wait a timeout and check a stop flag when "
                    "it expires.",
                    function=wait.function,
                    fix=_rewrite.make_fix(model, "wait with a timeout", snippet or "", edits)
                    if snippet or edits
                    else None,
                )
            else:
                yield Report(
                    wait.node,
                    f"`{wait.label}` waits with no timeout{where}: an idle process never upgrades",
                    "While idle, the process stays in the old version's code and is killed when a third "
                    "version loads. Give it a timeout and re-enter through the module when it expires.",
                    function=wait.function,
                    fix=_rewrite.make_fix(model, "receive with a timeout", snippet or "", edits)
                    if snippet or edits
                    else None,
                )


def _forever(wait: Wait) -> bool:
    return wait.forever and wait.kind in (WaitKind.RECEIVE, WaitKind.LIBRARY)
