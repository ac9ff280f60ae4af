"""The same worker, reload-safe under ``importlib.reload``.

The loop only calls ``step`` by name each iteration, so every message is handled by the
newest version of the module; the wait has a timeout, so ``stop`` is seen within a
second; and the thread is kept where shutdown (or a restart after a reload) can reach it.
"""

import queue
import threading

results = []
WORKERS = []


def render(job):
    return f"done: {job}"


def step(jobs):
    try:
        job = jobs.get(timeout=1.0)
    except queue.Empty:
        return
    if job == "flush":
        results.clear()
        return
    results.append(render(job))


def worker(jobs, stop):
    while not stop.is_set():
        step(jobs)


def start():
    jobs, stop = queue.Queue(), threading.Event()
    thread = threading.Thread(target=worker, args=(jobs, stop), daemon=True)
    WORKERS.append(thread)
    thread.start()
    return jobs, stop
