"""A loop re-enters itself from inside a `try`, `finally` or `with`: not a tail call.

## What it does
Flags a re-entry call of a recursive loop (a call cycle of the file in which some
function waits) made inside a `try` suite, any part of a `try` statement that has
a `finally`, a `finally` suite, a `with`/`async with` body or an `async for` body.
Under `importlib` it is reported once per loop, at its first such re-entry.

## Why is this bad?
**Under `importlib.reload` (plain Python).** CPython has no tail calls at all:
every message adds a frame, and the loop dies with `RecursionError` after about
`sys.getrecursionlimit()` (1,000) messages. Inside a `try` or `with`, each of
those frames also keeps this version's handler or cleanup alive: after a reload,
an error in new code is still caught by old code. (SWL005 reports recursive
loops whose re-entries sit outside such blocks.)

**Under `swaplint.runtime` (Erlang semantics).** A call there is not a tail call:
the caller's frame and its handler (or the cleanup that must run after the call
returns) stay on the stack, one per message, each pinned to the version that
created it. The process survives the first upgrade and is **killed** at the next
purge, even after it handled `switch_code` and runs the new version. `except` and
`else` suites of a `try` *without* `finally` are tail positions, as Erlang's
`catch` clauses are when the try has no `after`.

## Example
```python
import queue

def consume(inbox):
    msg = inbox.get(timeout=1.0)
    try:
        handle(msg)
        return consume(inbox)
    except queue.Empty:
        return None
```

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
Under `importlib`, loop with `while` and keep the `try` around one message:
```python
import queue

def consume(inbox, stop):
    while not stop.is_set():
        try:
            handle(inbox.get(timeout=1.0))
        except queue.Empty:
            pass
```

Under the runtime, do the risky work inside the `try`, and re-enter after it:
```python
import counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    try:
        state = handle(state, msg)
    except ValueError:
        pass
    return counter.server_loop(state)
```

## Fix
Unsafe (`--fix --unsafe-fixes`): exceptions raised while handling later messages
are no longer caught (and cleanups run once per message) by the frames that used
to stay on the stack; that is the point, but review it.

- Under `importlib`: the function becomes `while True:` around its body, and each
  re-entry becomes the assignment of its arguments and `continue`, when the
  recursion is direct, its arguments map onto the parameters and nothing runs
  after it. SWL006 may then ask for the loop body to move into a step function.
- Under the runtime: `return f(...)` as the last statement of a `try` body (no
  `else`, no `finally`) moves into a new `else:` clause; at the end of a `with`
  body or a `try`/`finally` it moves after the block. Arguments beyond names and
  constants are computed inside the block first.

Other shapes (a re-entry nested in an `if` inside the block, a `try` with both
handlers and `finally`) are display-only.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from swaplint.findings import Severity
from swaplint.model import FileModel
from swaplint.rules import _advice, _rewrite
from swaplint.rules._base import Report, Rule, importlib_model


class TailInTry(Rule):
    code = "SWL001"
    name = "tail-in-try"
    severity = Severity.ERROR

    VALID = (
        # A spawned task is no re-entry: the caller's frame ends (a reconnect path).
        "import asyncio\nclass C:\n    async def read_loop(self):\n        while True:\n"
        "            try:\n                self.handle(await self.queue.get())\n"
        "            except OSError as e:\n                await self.on_error(e)\n"
        "            finally:\n                self.done()\n"
        "    async def on_error(self, e):\n        asyncio.create_task(self.reconnect())\n"
        "    async def reconnect(self):\n        self.reader = asyncio.create_task(self.read_loop())\n",
        # A tree walk (`for child in ...` re-enters) ends with the tree.
        "class Client:\n    def delete(self, path, recursive=False):\n        if recursive:\n"
        "            return self._delete_tree(path)\n        return self.delete_async(path).get()\n"
        "    def _delete_tree(self, path):\n        for child in self.children(path):\n"
        "            self._delete_tree(path + '/' + child)\n        try:\n            self.delete(path)\n"
        "        except KeyError:\n            pass\n",
        "def loop(q):\n    msg = q.get(timeout=1)\n    try:\n        handle(msg)\n"
        "    except ValueError:\n        pass\n    return loop(q)\n",
        "def walk(node):\n    try:\n        return walk(node.next)\n    except AttributeError:\n        return None\n",
    )
    INVALID = (
        "def loop(q):\n    msg = q.get(timeout=1)\n    try:\n        return loop(q)\n    finally:\n        pass\n",
        "def loop(q):\n    with lock:\n        msg = q.get(timeout=1)\n        loop(q)\n",
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    try:\n        return m.loop(s)\n    except ValueError:\n"
        "        return m.loop(s)\n",
    )

    #: (before, after): what `--fix --unsafe-fixes` makes of each, with only this rule's fixes.
    FIXES = (
        (
            "import queue\n"
            "\n"
            "\n"
            "def consume(inbox, handled=0):\n"
            "    msg = inbox.get(timeout=1.0)\n"
            "    try:\n"
            "        handle(msg)\n"
            "        return consume(inbox, handled + 1)\n"
            "    except ValueError:\n"
            "        return consume(inbox, handled)\n",
            "import queue\n"
            "\n"
            "\n"
            "def consume(inbox, handled=0):\n"
            "    while True:\n"
            "        msg = inbox.get(timeout=1.0)\n"
            "        try:\n"
            "            handle(msg)\n"
            "            handled = handled + 1\n"
            "            continue\n"
            "        except ValueError:\n"
            "            continue\n",
        ),
        (
            "import counter\n"
            "from swaplint.runtime import receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive(timeout=10)\n"
            "    try:\n"
            "        return counter.server_loop(handle(state, msg))\n"
            "    except ValueError:\n"
            "        return counter.server_loop(state)\n",
            "import counter\n"
            "from swaplint.runtime import receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive(timeout=10)\n"
            "    try:\n"
            "        state = handle(state, msg)\n"
            "    except ValueError:\n"
            "        return counter.server_loop(state)\n"
            "    else:\n"
            "        return counter.server_loop(state)\n",
        ),
        (
            "import counter\n"
            "from swaplint.runtime import receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    with lock:\n"
            "        msg = receive(timeout=10)\n"
            "        return counter.server_loop(state + msg)\n",
            "import counter\n"
            "from swaplint.runtime import receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    with lock:\n"
            "        msg = receive(timeout=10)\n"
            "        state = state + msg\n"
            "    return counter.server_loop(state)\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        for cycle in model.cycles:
            inside = [r for r in cycle.reentries if r.not_tail is not None]
            if importlib_model(model):
                inside = inside[:1]
            for reentry in inside:
                callee = reentry.callee
                if importlib_model(model):
                    fix = _rewrite.make_fix(
                        model,
                        "loop with `while`",
                        _advice.step_loop_for(callee),
                        _rewrite.recursion_to_while(model, cycle),
                    )
                else:
                    fix = _rewrite.make_fix(
                        model,
                        "re-enter after the block",
                        _advice.reenter(model, callee),
                        _rewrite.reenter_after_block(model, reentry),
                    )
                if importlib_model(model):
                    yield Report(
                        reentry.call,
                        f"`{callee.name}` re-enters itself inside {reentry.not_tail}: one more frame per message",
                        "CPython has no tail calls: the stack grows by a frame per message until "
                        f"RecursionError (about {sys.getrecursionlimit()} messages), and every frame keeps "
                        "this version's handler or cleanup alive after a reload. Loop with `while` "
                        "and keep the block around one message.",
                        function=callee,
                        fix=fix,
                    )
                else:
                    yield Report(
                        reentry.call,
                        f"`{callee.name}` re-enters from inside {reentry.not_tail}: not a tail call",
                        "Each message leaves one frame of this version on the stack, and the purge of "
                        "that version kills the process even after it upgraded. Do the risky work "
                        "inside the block and re-enter after it.",
                        function=callee,
                        fix=fix,
                    )
