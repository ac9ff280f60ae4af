"""A `while` loop that receives messages never leaves the frame running old code.

## What it does
Flags the `while` of an iterative process loop (a `while` whose test or body
waits for a message) when the function never returns a module-qualified call to a
loop function of its file. Nested loops are reported once, at the outermost `while`
that waits. A loop that only polls (`get_nowait()`, `get(False)`, a zero timeout)
drains a queue and ends; it is not a process loop and is not flagged.

## Why is this bad?
Reloading a module changes what its names refer to, never the code of a frame
that is already running. A `while True:` worker entered once runs the version it
was entered with for as long as it lives: no hot-reload tool (importlib.reload,
autoreload, jurigged) can upgrade it, and under a purging loader it is killed.

## Example
```python
def worker(jobs):
    while True:
        job = jobs.get(timeout=1)
        handle(job)
```

## Use instead
Leave the frame on the upgrade path by returning a qualified call:
```python
import workers

def worker(jobs):
    while True:
        job = jobs.get(timeout=1)
        if job == "switch_code":
            return workers.worker(jobs)
        handle(job)
```
"""

from __future__ import annotations

import libcst as cst

from swaplint.findings import Severity
from swaplint.rules._base import Rule


class PinnedLoop(Rule):
    code = "SWL006"
    name = "pinned-loop"
    severity = Severity.ERROR

    VALID = (
        "import m\ndef worker(q):\n    while True:\n        job = q.get(timeout=1)\n"
        "        if job == 'switch_code':\n            return m.worker(q)\n",
        "def count(items):\n    while items:\n        items.pop()\n",
    )
    INVALID = (
        "def worker(q):\n    while True:\n        job = q.get(timeout=1)\n",
        "import socket\ndef serve(s):\n    while True:\n        conn, addr = s.accept()\n",
    )

    def visit_While(self, node: cst.While) -> None:
        fn = self.model.pinned_whiles.get(node)
        if fn is None:
            return
        hint = fn.qualified_hint(self.model.module)
        advice = (
            f"on the upgrade path `return {hint}`"
            if hint is not None
            else "move it to module level and return a qualified call on the upgrade path"
        )
        self.report(
            node,
            f"`{fn.name}` loops in a `while` that never returns into new code: the frame "
            f"runs the version it was entered with forever; {advice}",
            function=fn,
            length=len("while"),
        )
