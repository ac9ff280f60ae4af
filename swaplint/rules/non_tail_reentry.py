"""A loop re-enters itself, but not as the whole value of a `return`.

## What it does
Flags a re-entry call of a recursive process loop that is not in tail position
and is not already reported by SWL001 (tail-in-try): `loop(s)` as a statement,
`x = loop(s)`, `return 1 + loop(s)`, `return [loop(s)]`.

## Why is this bad?
Only a call that is the whole value of a `return` replaces the caller's frame.
Any other call keeps the caller waiting on the stack for a result, so each message
adds a frame pinned to the version that made the call. The process keeps old code
alive after an upgrade and is killed when that version is purged, and in plain
Python it dies of `RecursionError` after about a thousand messages.

## Example
```python
import counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    counter.server_loop(state + msg)
```

## Use instead
```python
def server_loop(state):
    msg = receive(timeout=10)
    return counter.server_loop(state + msg)
```
"""

from __future__ import annotations

import libcst as cst

from swaplint.findings import Severity
from swaplint.rules._base import Rule


class NonTailReentry(Rule):
    code = "SWL005"
    name = "non-tail-reentry"
    severity = Severity.ERROR

    VALID = (
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    return m.loop(s + msg)\n",
        # Not a loop: no receive in the cycle.
        "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n",
    )
    INVALID = (
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    m.loop(s + msg)\n",
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    return 1 + m.loop(s + msg)\n",
    )

    def visit_Call(self, node: cst.Call) -> None:
        site = self.model.reentries.get(node)
        if site is None or site.not_tail_because is not None or site.returned:
            return
        self.report(
            node,
            f"`{site.callee.name}` is re-entered outside tail position in `{site.caller.name}`: "
            "the caller's frame stays on the stack, pinning the old version, one frame per "
            "message; make the call the whole value of a `return`",
            function=site.caller,
        )
