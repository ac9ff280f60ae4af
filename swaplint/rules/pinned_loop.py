"""A loop that runs for good keeps running the code it started with.

## What it does
Flags a loop site: a `while True`/flag loop, or iteration over a message source
(`for msg in consumer`, `async for msg in websocket`), that waits (for a
message, a connection, data, a timer or an event), directly or in a helper of
the file that the loop calls, plus library loops such as `serve_forever()` or
`start_consuming()` called on their own. Not flagged: drain loops (poll until
empty, then stop), bounded I/O helpers (read `n` bytes and return them), retry
loops that end when an attempt succeeds, loops that read back what the same
function queued, and `while len(buf) < n`-style bounded tests.

**Under `importlib`** a loop is not flagged when it is a *driver*: its body only
calls code by bare name or through a module (never through `self`/`cls` or a
function object bound in the function), so each iteration reaches reloaded code.

**Under the runtime** a loop is not flagged when its function returns a
module-qualified call to a loop function (`return workers.worker(q)`).

When the loop's wait has no timeout, the finding says so (SWL003 then stays
silent for that wait).

## Why is this bad?
**Under `importlib.reload` (plain Python).** CPython never changes the code of a
running frame. After a reload, this loop body, and every `self.` method it calls
(an old instance keeps its old class), stays version 1 forever, while the bare
names it calls are version 2: mixed versions, with module state re-initialised
under it.

**Under `swaplint.runtime` (Erlang semantics).** The frame runs the version it
was entered with until that version is purged, and then the process is killed.

## Example
```python
def worker(jobs):
    while True:
        job = jobs.get(timeout=1.0)
        if job is not None:
            job.run()
```

```python
from swaplint.runtime import receive

def worker(jobs):
    while True:
        job = receive(timeout=1)
```

## Use instead
Under `importlib`, let the loop only call a module-level function by name, so
each iteration reaches reloaded code:
```python
def worker(jobs, stop):
    while not stop.is_set():
        worker_step(jobs)
```

Under the runtime, leave the frame on the upgrade path with a qualified call:
```python
import workers
from swaplint.runtime import receive

def worker(jobs):
    while True:
        job = receive(timeout=1)
        if job == "switch_code":
            return workers.worker(jobs)
```

## Fix
Unsafe, under `importlib`: the loop body moves into a module-level function
(`worker_step`; `server_run_step` for `Server.run`) that the loop calls by name
each iteration, with the names it reads passed as arguments (`self` too, for a
method); a body that yields becomes a generator the loop runs with `yield from`. `continue` becomes
`return`; `break` becomes `return True` and the call `if worker_step(...): break`;
one name carried from one iteration to the next is passed in and returned.
A nested function's step gets the enclosing names it reads as arguments.
Display-only for bodies that `return`, yield in an async generator, use `global`,
`nonlocal`, zero-argument `super()`, private `self.__names` or `locals()`, carry
more than one name, and under the runtime (where the fix is a qualified call on
the upgrade path, written by hand).
"""

from __future__ import annotations

from collections.abc import Iterator

from swaplint.findings import Fix, Severity
from swaplint.model import FileModel, LoopSite
from swaplint.rules import _advice, _rewrite
from swaplint.rules._base import Report, Rule, importlib_model


def pinned(model: FileModel, site: LoopSite) -> bool:
    """Whether the loop site stays on old code under the file's reload model."""
    return not site.driver if importlib_model(model) else not site.escapes


class PinnedLoop(Rule):
    code = "SWL006"
    name = "pinned-loop"
    severity = Severity.ERROR

    VALID = (
        # A deadline from a setting: `start + self.clear_to_send_timeout` does not move.
        "import time\nclass T:\n    def send(self, data):\n        start = time.time()\n        while True:\n"
        "            self.clear.wait(0.1)\n            if self.clear.is_set():\n                break\n"
        "            self.lock.release()\n"
        "            if time.time() > start + self.clear_to_send_timeout:\n                raise TimeoutError\n",
        # Waits until a deadline fixed before the loop, then gives up: a bounded wait.
        "import time\ndef wait_ready(client, timeout):\n    deadline = time.monotonic() + timeout\n"
        "    while True:\n        if client.state() == 'up':\n            return\n"
        "        if time.monotonic() >= deadline:\n            raise TimeoutError\n        time.sleep(0.1)\n",
        # Waits for one event and checks on the way: no work of its own (a join).
        "class Transport:\n    def start(self, event):\n        while True:\n            event.wait(0.1)\n"
        "            if not self.active:\n                raise RuntimeError('failed')\n"
        "            if event.is_set():\n                break\n",
        # Waits until one value arrives (here a child's exit status), then goes on.
        "import os, time\ndef reap(pid):\n    status = None\n    while status is None:\n"
        "        done, status = os.waitpid(pid, os.WNOHANG)\n        if done == 0:\n"
        "            status = None\n            time.sleep(0.01)\n    return status\n",
        # Waits until the socket is readable, then returns: one event, not a loop for good.
        "def wait_for_read(conn, sock):\n    while True:\n"
        "        readable = conn.checker.select(sock, read=True, timeout=0.5)\n"
        "        if conn.cancelled:\n            raise RuntimeError('cancelled')\n"
        "        if readable:\n            return\n",
        # Drains what is there: the first `get` that times out raises Empty, which ends it.
        "import queue\ndef drain(q, client):\n    try:\n        while True:\n"
        "            message = q.get(timeout=1)\n            client.publish(message.topic, b'')\n"
        "    except queue.Empty:\n        pass\n",
        # Runs while events keep coming: the first wait that times out ends it.
        "class Client:\n    def connect(self):\n        while self.event.wait(timeout=5):\n"
        "            self.event.clear()\n            self.count += 1\n",
        # A socket is not iterable: `for s in sock` walks a list of sockets.
        "def bind_all(runner, sock):\n    sites = []\n    for s in sock:\n"
        "        sites.append(runner.site(s))\n    return sites\n",
        # A non-blocking socket: it reads what is there, and BlockingIOError ends it.
        "class Tun:\n    def read_ready(self):\n        while True:\n            try:\n"
        "                data = self.sock.recv(65540)\n            except BlockingIOError:\n"
        "                break\n            self.protocol.data_received(data)\n",
        # One pass of the event loop: the stop is scheduled before it runs.
        "def run_once(loop):\n    loop.call_soon(loop.stop)\n    loop.run_forever()\n",
        # `run` is the batch it works through (it reads `run.ops`), not a run flag.
        "class Bulk:\n    def execute(self, generator):\n        run = next(generator, None)\n"
        "        while run:\n            self.send(run.ops)\n            run = next(generator, None)\n",
        # Runs while the cursor is alive only until it has a document, and returns it.
        "class Cursor:\n    def next(self):\n        while self.alive:\n"
        "            doc = self._try_next(True)\n            if doc is not None:\n"
        "                return doc\n        raise StopIteration\n",
        # The `break` in a `for` loop's `else` clause leaves the `while` around it.
        "def cancel(ng, dg):\n    while True:\n        for x in ng:\n            if x in dg:\n"
        "                break\n        else:\n            break\n        ng.remove(x)\n        dg.remove(x)\n",
        # `while 1` that an exception ends: the `try` around it catches StopIteration.
        "def drive(g):\n    try:\n        while 1:\n            g.send(None)\n    except StopIteration:\n        pass\n",
        # An atomic counter's get() never blocks: no wait, and the loop ends.
        "class Acc:\n    def __init__(self):\n        self.appends_in_progress = AtomicInteger()\n"
        "    def abort_all(self):\n        while True:\n            self.abort_batches()\n"
        "            if not self.appends_in_progress.get():\n                break\n",
        # `is_active()` asks whether work is left (graphlib's sorter), not a stop flag.
        "class Sorter:\n    def order(self):\n        while self.is_active():\n"
        "            group = self.get_ready()\n            self.done(*group)\n",
        "import m\nfrom swaplint.runtime import receive\ndef worker(q):\n    while True:\n"
        "        job = receive(timeout=1)\n        if job == 'switch_code':\n            return m.worker(q)\n",
        "def count(items):\n    while items:\n        items.pop()\n",
        "def worker(q, stop):\n    while not stop.is_set():\n        step(q)\n",
        "def read_exactly(sock, n):\n    buf = b''\n    while len(buf) < n:\n        buf += sock.recv(n)\n"
        "    return buf\n",
    )
    INVALID = (
        # A server's main thread: `loop.stop` only runs on Ctrl-C.
        "import signal\ndef main(loop):\n    loop.add_signal_handler(signal.SIGINT, loop.stop)\n"
        "    loop.run_forever()\n",
        # A heartbeat thread: the event's wait is its sleep, and setting the event stops it.
        "class Heartbeat:\n    def loop(self):\n        while not self.terminate.is_set():\n"
        "            stop = self.terminate.wait(self.interval)\n            if stop:\n"
        "                break\n            self.transport.send_heartbeat()\n",
        # Restores the connection for its whole life; the `done()` test in the `except`
        # suite is how a failure leaves, not what the loop waits for.
        "class Conn:\n    async def restorer(self):\n        while not self.is_closed:\n"
        "            await self.restore_event.wait()\n            try:\n"
        "                await self.reconnect()\n            except OSError as e:\n"
        "                if not self.fail_fast.done():\n"
        "                    self.fail_fast.set_exception(e)\n                    return\n",
        # `Optional[Queue]` names the queue's type: its `get()` waits.
        "from typing import Optional\nfrom queue import Queue\nclass W:\n"
        "    def __init__(self):\n        self.inbox: Optional[Queue] = None\n"
        "    def run(self):\n        while True:\n            msg = self.inbox.get()\n"
        "            if msg is None:\n                break\n            self.handle(msg)\n",
        # A run flag asked of the object; the wait is in a subclass elsewhere.
        "class Emitter:\n    def run(self):\n        while self.should_keep_running():\n"
        "            self.queue_events(1)\n",
        # Polls until told to stop (not a drain: nothing ends it but the flag).
        "class IOLoop:\n    def start(self):\n        while not self._stopping:\n"
        "            self.poll()\n            self.process_timeouts()\n",
        # A peer's liveness is no deadline: it moves while the loop runs.
        "import time\nclass Session:\n    def serve(self, conn):\n        while True:\n"
        "            msg = conn.recv(4096)\n            if time.time() - self.last_seen > 30:\n"
        "                return\n            self.handle(msg)\n",
        "def worker(q):\n    while True:\n        job = q.get(timeout=1)\n        if job.urgent:\n            run_now(job)\n",
        "import socket\ndef serve(s):\n    while True:\n        conn, addr = s.accept()\n        conn.close()\n",
        "class Reader:\n    def run(self):\n        while self.running:\n            self._read_one()\n"
        "    def _read_one(self):\n        return self.sock.recv(4096)\n",
    )

    #: (before, after): what `--fix --unsafe-fixes` makes of each, with only this rule's fixes.
    FIXES = (
        (
            "def worker(jobs, results):\n"
            "    while True:\n"
            "        job = jobs.get(timeout=1)  # one job\n"
            "        if job == 'skip':\n"
            "            continue\n"
            "        results.append(render(job))\n",
            "def worker(jobs, results):\n"
            "    while True:\n"
            "        worker_step(jobs, results)\n"
            "\n"
            "\n"
            "def worker_step(jobs, results):\n"
            "    job = jobs.get(timeout=1)  # one job\n"
            "    if job == 'skip':\n"
            "        return\n"
            "    results.append(render(job))\n",
        ),
        (
            "def reader(sock, out):\n"
            "    buf = b''\n"
            "    while True:\n"
            "        buf += sock.recv(4096)\n"
            "        buf = out.feed(buf)\n",
            "def reader(sock, out):\n"
            "    buf = b''\n"
            "    while True:\n"
            "        buf = reader_step(sock, out, buf)\n"
            "\n"
            "\n"
            "def reader_step(sock, out, buf):\n"
            "    buf += sock.recv(4096)\n"
            "    buf = out.feed(buf)\n"
            "    return buf\n",
        ),
        (
            "def worker(jobs, results):\n"
            "    while True:\n"
            "        job = jobs.get(timeout=1)\n"
            "        if job is None:\n"
            "            break\n"
            "        results.append(job)\n"
            "    results.close()\n",
            "def worker(jobs, results):\n"
            "    while True:\n"
            "        if worker_step(jobs, results):\n"
            "            break\n"
            "    results.close()\n"
            "\n"
            "\n"
            "def worker_step(jobs, results):\n"
            "    job = jobs.get(timeout=1)\n"
            "    if job is None:\n"
            "        return True\n"
            "    results.append(job)\n",
        ),
        (
            "class Consumer:\n"
            "    def run(self):\n"
            "        for message in self.consumer:\n"
            "            self.handle(message)\n",
            "class Consumer:\n"
            "    def run(self):\n"
            "        for message in self.consumer:\n"
            "            consumer_run_step(self, message)\n"
            "\n"
            "\n"
            "def consumer_run_step(self, message):\n"
            "    self.handle(message)\n",
        ),
        (
            "class Monitor:\n"
            "    def listen(self):\n"
            "        while True:\n"
            "            yield self.parse(self.sock.recv(4096))\n",
            "class Monitor:\n"
            "    def listen(self):\n"
            "        while True:\n"
            "            yield from monitor_listen_step(self)\n"
            "\n"
            "\n"
            "def monitor_listen_step(self):\n"
            "    yield self.parse(self.sock.recv(4096))\n",
        ),
        (
            "import threading\n"
            "\n"
            "\n"
            "def start(jobs, prefix):\n"
            "    results = []\n"
            "\n"
            "    def worker():\n"
            "        while True:\n"
            "            job = jobs.get(timeout=1)\n"
            "            results.append(prefix + job)\n"
            "\n"
            "    threading.Thread(target=worker, daemon=True).start()\n"
            "    return results\n",
            "import threading\n"
            "\n"
            "\n"
            "def start(jobs, prefix):\n"
            "    results = []\n"
            "\n"
            "    def worker():\n"
            "        while True:\n"
            "            start_worker_step(jobs, results, prefix)\n"
            "\n"
            "    threading.Thread(target=worker, daemon=True).start()\n"
            "    return results\n"
            "\n"
            "\n"
            "def start_worker_step(jobs, results, prefix):\n"
            "    job = jobs.get(timeout=1)\n"
            "    results.append(prefix + job)\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        for site in model.loops:
            if not pinned(model, site):
                continue
            fn = site.function
            blocking = site.blocking
            waits = f"; it waits in {blocking[0].describe()} with no timeout" if blocking else ""
            keyword = site.keyword if site.node in fn.loops else "library loop"
            length = len(keyword) if site.node in fn.loops else None
            if importlib_model(model):
                stale = " and the `self.` methods it calls" if fn.is_method else ""
                verb = "stay" if fn.is_method else "stays"
                idle = ", and while idle it never sees a stop request" if blocking else ""
                yield Report(
                    site.node,
                    f"this {keyword} in `{fn.name}` keeps running its first version after a reload{waits}",
                    f"CPython never swaps the code of a running frame: this body{stale} {verb} version 1 "
                    f"while the bare names it calls are version 2{idle}. Let the loop call a "
                    "module-level function by name each iteration, with a timeout on its wait.",
                    function=fn,
                    length=length,
                    related=[(p.wait.node, f"waits here: `{p.wait.label}`") for p in site.waits[:1]],
                    fix=_rewrite.make_fix(
                        model,
                        "call a module-level step each iteration",
                        _advice.step_loop(site),
                        _rewrite.extract_step(model, site),
                    ),
                )
            else:
                hint = model.qualified_hint(fn)
                yield Report(
                    site.node,
                    f"`{fn.name}` loops in a `{keyword}` that never returns into new code{waits}",
                    "The frame runs the version it was entered with until that version is purged, "
                    "and then the process is killed. "
                    + (
                        f"On the upgrade path, `return {hint}`."
                        if hint
                        else "Move it to module level and return a qualified call on the upgrade path."
                    ),
                    function=fn,
                    length=length,
                    fix=Fix("re-enter through the module", _advice.reenter(model, fn)) if hint else None,
                )
