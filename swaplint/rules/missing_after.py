"""A loop blocks in a receive with no timeout: an idle process never upgrades.

## What it does
Flags a receive with no timeout inside a process loop (a recursive loop, or a
function whose `while` loop receives). Receives are `receive()` of
`swaplint.runtime`, queue-like `X.get()` / `X.get(True)`, `X.recv()`,
`X.recv_bytes()`, `X.accept()`, `select.select(r, w, x)`, `X.select()`, and the
names listed in the `receive-calls` setting. A timeout is a `timeout=` that is not
`None`, the positional timeout slot (`q.get(True, 5)`, `select.select(r, w, x, 5)`),
a non-blocking form (`get_nowait()`, `get(False)`), an enclosing
`asyncio.wait_for(..., timeout)` or `async with asyncio.timeout(t):`.

## Why is this bad?
A process that waits forever for a message never reaches its upgrade path while
it is idle. It stays suspended inside the old version's code: Erlang's
`soft_purge` refuses, and the next hard purge (the third load) kills it. This is
Erlang's `receive` without `after`.

## Example
```python
import counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive()
    if msg == "switch_code":
        return counter.server_loop(state)
    return server_loop(state + msg)
```

## Use instead
Wake up now and then and re-enter through the module:
```python
from swaplint.runtime import TIMEOUT, receive

def server_loop(state):
    msg = receive(timeout=10)
    if msg == "switch_code" or msg is TIMEOUT:
        return counter.server_loop(state)
    return server_loop(state + msg)
```
"""

from __future__ import annotations

import libcst as cst

from swaplint.findings import Severity
from swaplint.rules._base import Rule


class MissingAfter(Rule):
    code = "SWL003"
    name = "missing-after"
    severity = Severity.WARNING

    VALID = (
        "def worker(q):\n    while True:\n        item = q.get(timeout=5)\n",
        "def worker(q):\n    while True:\n        item = q.get_nowait()\n",
        # Not in a loop function.
        "def once(q):\n    return q.get()\n",
        "def lookup(d):\n    while True:\n        v = d.get('key')\n",
    )
    INVALID = (
        "def worker(q):\n    while True:\n        item = q.get()\n",
        "import select\ndef serve(r):\n    while True:\n        select.select(r, [], [])\n",
        "async def worker(q):\n    while True:\n        item = await q.get()\n",
    )

    def visit_Call(self, node: cst.Call) -> None:
        receive = self.model.receives.get(node)
        if receive is None or receive.has_timeout:
            return
        fn = receive.function
        if fn is None or not fn.is_loop:
            return
        self.report(
            node,
            f"`{receive.label}` in loop `{fn.name}` waits with no timeout: an idle process "
            "never reaches its upgrade path and is killed when a third version loads; "
            "give it a timeout and re-enter through the module when it expires",
            function=fn,
        )
