"""A plain-Python job worker, as most services have one: a thread around a queue.

Reloaded with ``importlib.reload`` (or a plugin reloader), it goes wrong quietly:

* the ``while`` body is version 1 forever (its frame never leaves), while the names
  it calls, like ``render``, are version 2: mixed versions (SWL006);
* ``jobs.get()`` has no timeout, so an idle worker never sees ``stop`` (named in SWL006);
* the thread is started and dropped: nobody can join, stop or restart it (SWL004);
* ``audit`` re-enters itself once per message: CPython has no tail calls, so it dies of
  ``RecursionError`` after about a thousand messages (SWL005).
"""

import queue
import threading

results = []


def render(job):
    return f"done: {job}"


def worker(jobs, stop):
    while not stop.is_set():
        job = jobs.get()
        if job == "flush":
            results.clear()
            continue
        results.append(render(job))


def audit(inbox):
    try:
        entry = inbox.get(timeout=1.0)
    except queue.Empty:
        entry = None
    results.append(("audit", entry))
    return audit(inbox)


def start():
    jobs, stop = queue.Queue(), threading.Event()
    threading.Thread(target=worker, args=(jobs, stop), daemon=True).start()
    return jobs, stop
