"""A recursive loop that re-enters itself only by local calls never leaves its version.

## What it does
Flags a recursive process loop (a call cycle of the file in which some function
receives messages) where no re-entry call of the cycle goes through the file's own
module. It is reported once per cycle, at the name of its first function.

A *local* call is one by bare name (`server_loop(s)`), through `self`/`cls`, or
through a class of the file. A *qualified* call goes through a handle of the
module: `import counter` then `counter.server_loop(s)`, `sys.modules[__name__]`,
or `importlib.import_module(__name__)`.

## Why is this bad?
A local call runs the version of the code the caller runs; only a qualified call
looks the function up in the module, and so reaches a newly loaded version. A loop
that re-enters only locally can never switch to new code: its processes run the
version they were spawned in until they are killed when that version is purged.

## Example
```python
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    return server_loop(state + msg)
```

## Use instead
Re-enter through the module, at least on the upgrade path:
```python
import counter
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


class UnqualifiedRecursion(Rule):
    code = "SWL002"
    name = "unqualified-recursion"
    severity = Severity.ERROR

    VALID = (
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    if msg == 'switch_code':\n"
        "        return m.loop(s)\n    return loop(s + msg)\n",
        "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n",
    )
    INVALID = (
        "from swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    return loop(s + msg)\n",
        "class Server:\n    def loop(self, s):\n        msg = self.inbox.get(timeout=1)\n"
        "        return self.loop(s + msg)\n",
    )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        cycle = self.model.unqualified_heads.get(node)
        if cycle is None:
            return
        head = cycle.head
        names = [f"`{fn.name}`" for fn in cycle.members]
        if len(names) == 1:
            subject = f"{names[0]} re-enters itself"
        else:
            subject = f"{', '.join(names[:-1])} and {names[-1]} re-enter each other"
        hint = head.qualified_hint(self.model.module)
        if hint is None:
            advice = (
                "it is nested in another function, so no module handle can reach it; "
                "move it to module level and re-enter through the module on the upgrade path"
            )
        else:
            advice = f"call it as `{hint}` on the upgrade path"
        self.report(node.name, f"{subject} only by local calls; {advice}", function=head)
