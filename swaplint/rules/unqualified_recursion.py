"""A recursive loop re-enters through a name that never reaches new code.

## What it does
**Under `importlib`**, flags a re-entry of a recursive loop made through `self`
or `cls` (`self.loop()`), at the first such re-entry of each loop. A bare-name
re-entry of a module-level function is *not* flagged: it looks the function up
in the module's globals at each call, and so reaches the reloaded version.

**Under the runtime**, flags a recursive loop where no re-entry of the cycle
goes through the file's own module (`import counter` then
`counter.server_loop(s)`, `sys.modules[__name__]`, or
`importlib.import_module(__name__)`), once per cycle, at the name of its first
function. A *local* call is one by bare name, through `self`/`cls`, or through a
class of the file.

## Why is this bad?
**Under `importlib.reload` (plain Python).** Reloading a module makes a *new*
class object; an instance made before the reload keeps the old class, so every
`self.loop()` runs version-1 code forever, while the bare names that code calls
are version 2: mixed versions.

**Under `swaplint.runtime` (Erlang semantics).** A local call runs the version
the caller runs; only a qualified call looks the function up in the module and
reaches a newly loaded version. A loop that re-enters only locally runs the
version it was spawned in until it is killed when that version is purged.

## Example
```python
class Consumer:
    def loop(self):
        handle(self.inbox.get(timeout=1.0))
        return self.loop()
```

```python
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    return server_loop(state + msg)
```

## Use instead
Under `importlib`, loop in a module-level function that looks the handler up by
name per message, and restart the consumer's thread after a reload:
```python
def consume(consumer, stop):
    while not stop.is_set():
        handle(consumer.inbox.get(timeout=1.0))
```

Under the runtime, re-enter through the module, at least on the upgrade path:
```python
import counter
from swaplint.runtime import TIMEOUT, receive

def server_loop(state):
    msg = receive(timeout=10)
    if msg == "switch_code" or msg is TIMEOUT:
        return counter.server_loop(state)
    return server_loop(state + msg)
```

## Fix
Unsafe. Under the runtime, every local re-entry is called through the module
(`server_loop(s)` becomes `counter.server_loop(s)`, adding `import counter` when the
file lacks it): from then on each message runs the newest loaded version with the
state the old one built, so the state must stay compatible across versions.
Under `importlib`, a re-entry through `self` becomes a `while True:` loop, as for
SWL005. Methods under the runtime and nested functions are display-only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from swaplint.findings import Severity
from swaplint.model import FileModel, Via
from swaplint.rules import _advice, _rewrite
from swaplint.rules._base import Report, Rule, importlib_model


class UnqualifiedRecursion(Rule):
    code = "SWL002"
    name = "unqualified-recursion"
    severity = Severity.ERROR

    VALID = (
        "import m\nfrom swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    if msg == 'switch_code':\n"
        "        return m.loop(s)\n    return loop(s + msg)\n",
        "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n",
        # importlib: a bare name reaches the new version
        "def loop(q):\n    msg = q.get(timeout=1)\n    return loop(q)\n",
    )
    INVALID = (
        "from swaplint.runtime import receive\n"
        "def loop(s):\n    msg = receive(timeout=1)\n    return loop(s + msg)\n",
        "class Server:\n    def loop(self, s):\n        msg = self.inbox.get(timeout=1)\n"
        "        return self.loop(s + msg)\n",
    )

    #: (before, after): what `--fix --unsafe-fixes` makes of each, with only this rule's fixes.
    FIXES = (
        (
            "class Server:\n"
            "    def loop(self, count):\n"
            "        msg = self.inbox.get(timeout=1)\n"
            "        self.handle(msg)\n"
            "        return self.loop(count + 1)\n",
            "class Server:\n"
            "    def loop(self, count):\n"
            "        while True:\n"
            "            msg = self.inbox.get(timeout=1)\n"
            "            self.handle(msg)\n"
            "            count = count + 1\n",
        ),
        (
            "from swaplint.runtime import receive\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive(timeout=10)\n"
            "    return server_loop(state + msg)\n",
            "from swaplint.runtime import receive\n"
            "import snippet\n"
            "\n"
            "\n"
            "def server_loop(state):\n"
            "    msg = receive(timeout=10)\n"
            "    return snippet.server_loop(state + msg)\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        for cycle in model.cycles:
            if importlib_model(model):
                stale = [r for r in cycle.reentries if r.via is Via.SELF]
                if stale:
                    first = stale[0]
                    yield Report(
                        first.call,
                        f"`{ast.unparse(first.call.func)}()` re-enters through the instance: it never reaches reloaded code",
                        "An instance made before `importlib.reload` keeps its old class, so this loop "
                        "runs version-1 code forever while the bare names it calls are version 2. "
                        "Loop in a module-level function that calls handlers by name, and restart the "
                        "thread after a reload.",
                        function=first.callee,
                        fix=_rewrite.make_fix(
                            model,
                            "loop with `while` in a module-level function",
                            _advice.step_loop_for(first.callee),
                            _rewrite.recursion_to_while(model, cycle),
                        ),
                    )
                continue
            if cycle.qualified:
                continue
            head = cycle.head
            names = [f"`{fn.name}`" for fn in cycle.members]
            if len(names) == 1:
                subject = f"{names[0]} re-enters itself"
            else:
                subject = f"{', '.join(names[:-1])} and {names[-1]} re-enter each other"
            hint = model.qualified_hint(head)
            yield Report(
                head.node,
                f"{subject} only by local calls: it never leaves its version",
                "A local call runs the caller's version; only a call through the module reaches a "
                "newly loaded one, so this process runs its first version until a purge kills it. "
                + (
                    f"Call it as `{hint}` on the upgrade path."
                    if hint is not None
                    else "It is nested in another function: move it to module level and re-enter "
                    "through the module on the upgrade path."
                ),
                function=head,
                at_name=True,
                fix=_rewrite.make_fix(
                    model,
                    "re-enter through the module",
                    _advice.reenter(model, head),
                    _rewrite.qualify_reentries(model, cycle),
                )
                if hint
                else None,
            )
