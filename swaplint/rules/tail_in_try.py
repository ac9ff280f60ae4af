"""A loop re-enters itself from inside a `try`, `finally` or `with`: not a tail call.

## What it does
Flags a re-entry call of a recursive process loop (a call to a function of its own
call cycle, local or module-qualified) made inside a `try` suite, any part of a
`try` statement that has a `finally`, a `finally` suite, or a `with`/`async with`
body.

## Why is this bad?
A call there is not a tail call: the caller's frame and its exception handler (or
the cleanup that must run after the call returns) stay on the stack. Every message
adds one more frame, and each frame is pinned to the version of the code that
created it. In Erlang, the process survives the first upgrade and is **killed** at
the next purge, even after it handled `switch_code` and runs the new version: an
old `try` frame is still on its stack. In Python the stack also grows until
`RecursionError`.

`except` and `else` suites of a `try` *without* `finally` are tail positions, as
Erlang's `catch` clauses are when the try has no `after`.

## Example
```python
import counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    try:
        return counter.server_loop(handle(state, msg))
    except ValueError:
        return counter.server_loop(state)
```

## Use instead
Do the risky work inside the `try`, and re-enter after it:
```python
def server_loop(state):
    msg = receive(timeout=10)
    try:
        state = handle(state, msg)
    except ValueError:
        pass
    return counter.server_loop(state)
```
"""

from __future__ import annotations

import libcst as cst

from swaplint.findings import Severity
from swaplint.rules._base import Rule


class TailInTry(Rule):
    code = "SWL001"
    name = "tail-in-try"
    severity = Severity.ERROR

    VALID = (
        # Re-entry after the try: a tail call.
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    try:\n        s = s + msg\n"
        "    except TypeError:\n        pass\n    return m.loop(s)\n",
        # except clause of a try without finally is a tail position.
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    try:\n        msg = receive(timeout=1)\n    except KeyError:\n"
        "        return m.loop(s)\n    return m.loop(s + msg)\n",
        # Ordinary recursion inside try (no receive): not a loop.
        "def walk(node):\n    try:\n        return walk(node.next)\n    except AttributeError:\n        return None\n",
    )
    INVALID = (
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    try:\n        return m.loop(s + msg)\n"
        "    except TypeError:\n        return m.loop(s)\n",
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    with lock:\n        msg = receive(timeout=1)\n        return m.loop(s + msg)\n",
    )

    def visit_Call(self, node: cst.Call) -> None:
        site = self.model.reentries.get(node)
        if site is None or site.not_tail_because is None:
            return
        where = site.not_tail_because
        self.report(
            node,
            f"`{site.callee.name}` is re-entered inside {where} in `{site.caller.name}`: "
            "not a tail call, so every message stacks a frame that pins the old version "
            "(killed at the next purge); re-enter after the block instead",
            function=site.caller,
        )
