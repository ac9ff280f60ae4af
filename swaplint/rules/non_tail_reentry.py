"""A loop re-enters itself by recursion: the stack grows by one frame per message.

## What it does
Flags a recursive loop (a call cycle of the file in which some function waits).
Under `importlib` it is reported once per loop, at its first re-entry, unless
SWL001 already reports it (a re-entry inside `try`/`with`). Under the runtime it
flags each re-entry that is not in tail position and not inside such a block:
`loop(s)` as a statement, `x = loop(s)`, `return 1 + loop(s)`.

## Why is this bad?
**Under `importlib.reload` (plain Python).** CPython has no tail calls: even
`return loop(q)` keeps the caller's frame. Every message adds a frame, and the
loop dies with `RecursionError` after about `sys.getrecursionlimit()` (1,000)
messages. A bare-name re-entry does reach the newest version of the function
after a reload, but every frame below it still holds the code it started with.

**Under `swaplint.runtime` (Erlang semantics).** Only a call that is the whole
value of a `return` replaces the caller's frame. Any other call keeps the caller
waiting on the stack for a result, pinned to the version that made the call: the
process keeps old code alive after an upgrade and is killed when that version is
purged.

## Example
```python
def consume(inbox):
    msg = inbox.get(timeout=1.0)
    handle(msg)
    return consume(inbox)
```

```python
import counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    counter.server_loop(state + msg)
```

## Use instead
Under `importlib`, loop with `while` and call a handler by name per message:
```python
import queue

def consume(inbox, stop):
    while not stop.is_set():
        try:
            handle(inbox.get(timeout=1.0))
        except queue.Empty:
            pass
```

Under the runtime, make the re-entry the whole value of a `return`:
```python
import counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    return counter.server_loop(state + msg)
```

## Fix
Unsafe. Under `importlib`, the function becomes `while True:` around its body,
each `return f(args)` the assignment of the new arguments and `continue` (when
the recursion is direct, the function is not decorated (a decorator wraps each
call) and its arguments map onto the parameters; a left-out argument needs a
constant default). Under the runtime, a re-entry made as the
last statement (or followed only by `return None`) becomes `return f(...)`: the
function now returns what the re-entered loop returns.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from swaplint.findings import Severity
from swaplint.model import FileModel
from swaplint.rules import _advice, _rewrite
from swaplint.rules._base import Report, Rule, importlib_model


class NonTailReentry(Rule):
    code = "SWL005"
    name = "non-tail-reentry"
    severity = Severity.ERROR

    VALID = (
        "def loop(q):\n    while True:\n        handle(q.get(timeout=1))\n",
        "def walk(node):\n    walk(node.left)\n    walk(node.right)\n",
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    return m.loop(s + msg)\n",
    )
    INVALID = (
        "def loop(q):\n    msg = q.get(timeout=1)\n    return loop(q)\n",
        "class C:\n    def loop(self):\n        msg = self.q.get(timeout=1)\n        self.loop()\n",
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    m.loop(s + msg)\n",
    )

    #: (before, after): what `--fix --unsafe-fixes` makes of each, with only this rule's fixes.
    FIXES = (
        (
            "def audit(inbox):\n"
            "    entry = inbox.get(timeout=1.0)\n"
            "    record(entry)\n"
            "    return audit(inbox)\n",
            "def audit(inbox):\n"
            "    while True:\n"
            "        entry = inbox.get(timeout=1.0)\n"
            "        record(entry)\n",
        ),
        (
            "def count(inbox, seen=0):\n"
            "    msg = inbox.get(timeout=1.0)\n"
            "    if msg is None:\n"
            "        return seen\n"
            "    count(inbox, seen + 1)\n",
            "def count(inbox, seen=0):\n"
            "    while True:\n"
            "        msg = inbox.get(timeout=1.0)\n"
            "        if msg is None:\n"
            "            return seen\n"
            "        seen = seen + 1\n",
        ),
        (
            "import counter\n"
            "from swaplint.runtime import TIMEOUT, receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive(timeout=10)\n"
            "    if msg == 'switch_code':\n"
            "        counter.server_loop(state)\n"
            "        return None\n"
            "    return counter.server_loop(state + msg)\n",
            "import counter\n"
            "from swaplint.runtime import TIMEOUT, receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive(timeout=10)\n"
            "    if msg == 'switch_code':\n"
            "        return counter.server_loop(state)\n"
            "    return counter.server_loop(state + msg)\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        for cycle in model.cycles:
            if importlib_model(model):
                if any(r.not_tail is not None for r in cycle.reentries) or not cycle.reentries:
                    continue  # SWL001 reports it
                first = cycle.reentries[0]
                yield Report(
                    first.call,
                    f"`{first.callee.name}` re-enters itself once per message: the stack grows until "
                    "RecursionError",
                    "CPython has no tail calls, even for `return f(...)`: every message adds a frame, "
                    f"and the loop dies with RecursionError after about {sys.getrecursionlimit()} "
                    "messages, each frame holding the code it started with. Loop with `while` and "
                    "call a handler by name per message.",
                    function=first.callee,
                    fix=_rewrite.make_fix(
                        model,
                        "loop with `while`",
                        _advice.step_loop_for(first.callee),
                        _rewrite.recursion_to_while(model, cycle),
                    ),
                )
                continue
            for reentry in cycle.reentries:
                if reentry.returned or reentry.not_tail is not None:
                    continue
                yield Report(
                    reentry.call,
                    f"`{reentry.callee.name}(...)` re-enters but is not the whole value of a `return`",
                    "Only `return f(...)` replaces the caller's frame: this one stays on the stack, "
                    "pinned to its version, one more per message, and is killed when that version "
                    "is purged.",
                    function=reentry.callee,
                    fix=_rewrite.make_fix(
                        model,
                        "return the re-entry",
                        _advice.reenter(model, reentry.callee),
                        _rewrite.return_reentry(model, reentry),
                    ),
                )
