"""Run the engine over many files: cached, in parallel, in a stable order.

:func:`check_files` is the one entry point the CLI needs. It

1. looks every file up in the result cache (:mod:`swaplint.cache`), when one is
   given: a hit costs reading the file's bytes, hashing them and one dict lookup;
2. checks the misses, in a pool of worker processes when there are enough of them
   to pay for the pool (:data:`MIN_PARALLEL_FILES`), serially otherwise;
3. stores the new results in the cache and returns every result in the order of
   ``tasks``, whatever the scheduling.

A file whose check raises, or whose worker process dies, comes back as a
:class:`~swaplint.findings.RuleError` in its own result; the run goes on. Only
regular files are read (:func:`swaplint.discovery.read_regular_file`): a FIFO, a
device or a socket gets one SWL999 finding ("not a regular file") and is never
opened in a way that blocks.

Stopping: on Ctrl-C (``KeyboardInterrupt``) or SIGTERM the worker processes are
killed at once, not left to finish their chunk. SIGTERM raises :class:`Terminated`
(a ``SystemExit`` with status 143) in the main process while :func:`check_files`
runs; each worker also asks the kernel to kill it if the main process dies
(Linux), so not even a SIGKILL of the main process leaves workers behind.

Each worker runs the engine, which screens a file's text first: most files hold no
wait or spawn at all, and for those one ``ast.parse`` is all the work.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from swaplint.discovery import read_regular_file
from swaplint.findings import FileResult, Finding, RuleError
from swaplint.settings import Settings, module_name
from swaplint.stopping import Terminated, die_with_parent, sigterm_raises

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from swaplint.cache import Cache
    from swaplint.gitdiff import GitDiffError, changed_files, changed_filter

__all__ = [
    "MIN_PARALLEL_BYTES",
    "MIN_PARALLEL_FILES",
    "GitDiffError",
    "Progress",
    "Task",
    "Terminated",
    "changed_files",
    "changed_filter",
    "check_files",
    "default_jobs",
    "progress_bar",
    "sigterm_raises",
]


def __getattr__(name: str) -> Any:
    """``GitDiffError``, ``changed_files`` and ``changed_filter``, re-exported from
    :mod:`swaplint.gitdiff` when asked for (it imports ``subprocess``)."""
    if name in ("GitDiffError", "changed_files", "changed_filter"):
        from swaplint import gitdiff

        return getattr(gitdiff, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: ``progress(done, total)``: called from the main process as files complete.
Progress = Callable[[int, int], None]

#: The pool is used only for enough work: this many files to check (cache hits aside)
#: *and* this many bytes of them; below, this process checks them. Measured on 2 cores
#: (Python 3.11, fork; asyncio/logging/... files, medians of 5): serial vs a pool of 2
#: is 41 vs 65 ms for 79 kB, 56 vs 78 ms for 130 kB, 151 vs 99 ms for 264 kB and
#: 351 vs 217 ms for 1 MB -- the pool costs ~25-35 ms to start, feed and stop.
MIN_PARALLEL_FILES = 4
MIN_PARALLEL_BYTES = 256 * 1024
#: With the spawn start method (macOS, Windows) every worker imports swaplint anew.
MIN_PARALLEL_FILES_SPAWN = 48
MIN_PARALLEL_BYTES_SPAWN = 2 * 1024 * 1024


class Task(NamedTuple):
    """One file to check: where it is on disk, how findings name it, with what settings."""

    disk_path: str
    display_path: str
    settings: Settings
    #: A file larger than this is not read: one SWL999 finding ("file too large").
    max_bytes: int | None = None


def default_jobs() -> int:
    """All the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------------------
# Checking one file (in the main process or in a worker)
# --------------------------------------------------------------------------------------


def _check_data(data: bytes, task: Task, module: str) -> FileResult:
    """The engine's result on one file's bytes (imported on the first miss)."""
    from swaplint.engine import check_source

    return check_source(data, task.display_path, task.settings, module=module)


def _unreadable(task: Task, module: str, exc: OSError) -> FileResult:
    """One SWL999 finding: the file cannot be read (or is no regular file)."""
    from swaplint.rules import SyntaxErrorRule

    result = FileResult(path=task.display_path, module=module)
    if SyntaxErrorRule.code in task.settings.enabled:
        reason = exc.strerror or str(exc).split(":", 1)[0] or type(exc).__name__
        result.findings.append(
            Finding(
                code=SyntaxErrorRule.code,
                name=SyntaxErrorRule.name,
                path=task.display_path,
                line=1,
                column=1,
                end_line=1,
                end_column=2,
                message=f"cannot read file: {reason}",
                severity=SyntaxErrorRule.severity,
            )
        )
    return result


def _check_task(task: Task, module: str | None) -> tuple[FileResult, str | None]:
    """Check one file; never raises. Returns the result and the hash of what was checked.

    ``module`` is given when the run has a cache (which keyed the file with it); without
    one, the module is found here and no hash is made (nor ``hashlib`` imported).
    """
    cached = module is not None
    try:
        if module is None:
            module = module_name(task.disk_path, task.settings.src)
        try:
            data = read_regular_file(task.disk_path, task.max_bytes)
        except OSError as exc:
            return _unreadable(task, module, exc), None
        result = _check_data(data, task, module)
        if not cached:
            return result, None
        from swaplint.cache import content_hash

        return result, content_hash(data)
    except Exception as exc:
        error = RuleError("engine", task.display_path, f"{type(exc).__name__}: {exc}")
        return FileResult(path=task.display_path, errors=[error], module=module), None


_Item = tuple[int, Task, "str | None"]  # (index in tasks, task, module or None)
_Done = tuple[int, FileResult, "str | None"]  # (index, result, content hash)


def _check_chunk(items: list[_Item]) -> list[_Done]:
    out = []
    for index, task, module in items:
        result, digest = _check_task(task, module)
        out.append((index, result, digest))
    return out


def _init_worker(parent: int) -> None:
    # What the worker inherited (imports, the parent's state) lives as long as it:
    # the collector need never walk it (nor touch its pages, shared with the parent).
    gc.freeze()
    with contextlib.suppress(Exception):
        # A worker must not die of ^C before the main process decides what to do;
        # the main process kills it. SIGTERM: die (a forked worker inherits the
        # main process's handler, which is not for it).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: kill its processes (their current chunk is abandoned) and reap them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + 2.0
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))


# --------------------------------------------------------------------------------------
# The pool
# --------------------------------------------------------------------------------------


def _mp_context() -> Any:
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    # fork: workers inherit the imported engine.
    if "fork" in methods and sys.platform != "darwin":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _enough_work(context: Any, files: int, size: int) -> bool:
    """Whether ``files`` files of ``size`` bytes in all pay for a pool of workers."""
    if context.get_start_method() == "fork":
        return files >= MIN_PARALLEL_FILES and size >= MIN_PARALLEL_BYTES
    return files >= MIN_PARALLEL_FILES_SPAWN and size >= MIN_PARALLEL_BYTES_SPAWN


def _chunks(items: list[_Item], sizes: dict[int, int], jobs: int) -> list[list[_Item]]:
    """Largest files first, grouped so that every chunk is about the same work.

    Work is roughly proportional to size; largest-first keeps the tail of the run
    made of small files, so no core idles while another parses a big one.
    """
    ordered = sorted(items, key=lambda item: -sizes.get(item[0], 0))
    total = sum(sizes.get(i, 0) for i, _, _ in items) or 1
    budget = max(32_768, total // (jobs * 24))
    max_files = 64
    chunks: list[list[_Item]] = []
    current: list[_Item] = []
    current_bytes = 0
    for item in ordered:
        size = sizes.get(item[0], 0)
        if current and (current_bytes + size > budget or len(current) >= max_files):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        chunks.append(current)
    return chunks


def _run_pool(
    items: list[_Item],
    sizes: dict[int, int],
    jobs: int,
    context: Any,
    on_done: Callable[[list[_Done]], None],
) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    chunks = _chunks(items, sizes, jobs)
    pending: dict[Future[list[_Done]], list[_Item]] = {}
    broken: list[_Item] = []
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(chunks)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    try:
        for chunk in chunks:
            pending[pool.submit(_check_chunk, chunk)] = chunk
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = pending.pop(future)
                try:
                    on_done(future.result())
                except BrokenProcessPool:
                    broken.extend(chunk)
    except BaseException:
        # ^C, SIGTERM (or a bug here): drop the queued chunks and kill the workers.
        _kill_workers(pool)
        raise
    pool.shutdown(wait=True)
    if broken:
        _isolate(broken, context, on_done)


def _isolate(items: list[_Item], context: Any, on_done: Callable[[list[_Done]], None]) -> None:
    """A worker died (a crash in native code, ``os._exit``...): find the file, report it.

    Each file of the chunks that were lost runs in a process of its own; the
    ones whose process dies again get a RuleError.
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    for item in sorted(items, key=lambda it: it[0]):
        index, task, _ = item
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        try:
            done = pool.submit(_check_chunk, [item]).result()
            pool.shutdown(wait=True)
        except BrokenProcessPool:
            pool.shutdown(wait=True)
            error = RuleError("engine", task.display_path, "worker process crashed on this file")
            done = [(index, FileResult(path=task.display_path, errors=[error], module=item[2]), None)]
        except BaseException:
            _kill_workers(pool)
            raise
        on_done(done)


# --------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------


def check_files(
    tasks: Sequence[Task],
    *,
    jobs: int | None = None,
    cache: Cache | None = None,
    progress: Progress | None = None,
) -> list[FileResult]:
    """Check every task's file; results come back in the order of ``tasks``.

    ``jobs``: worker processes (None: all cores; 1: serial, in this process).
    ``cache``: a :class:`swaplint.cache.Cache` to read and fill (None: no cache).
    ``progress``: called as ``progress(done, total)`` while files complete.
    """
    total = len(tasks)
    results: list[FileResult | None] = [None] * total
    done_count = 0

    def report(n: int) -> None:
        nonlocal done_count
        done_count += n
        if progress is not None and n:
            progress(done_count, total)

    items: list[_Item] = []
    sizes: dict[int, int] = {}
    keys: dict[int, str] = {}  # index -> module the cache keyed it with
    hits = 0
    packages: dict[str, tuple[str, ...]] = {}  # directory -> its dotted package, this run
    for index, task in enumerate(tasks):
        if cache is None:
            items.append((index, task, None))
            continue
        module = module_name(task.disk_path, task.settings.src, packages=packages)
        keys[index] = module
        hit, size = cache.lookup(task.disk_path, task.display_path, module, task.settings, task.max_bytes)
        if hit is not None:
            results[index] = hit
            hits += 1
        else:
            items.append((index, task, module))
            if size is not None:
                sizes[index] = size
    report(hits)

    def on_done(done: list[_Done]) -> None:
        for index, result, digest in done:
            results[index] = result
            if cache is not None and digest is not None and not result.errors:
                task = tasks[index]
                cache.store(task.display_path, keys[index], digest, task.settings, result)
        report(len(done))

    if items:
        with sigterm_raises():
            _check_items(items, sizes, jobs, on_done)

    if cache is not None:
        cache.save()
    return [r if r is not None else FileResult(path=t.display_path) for r, t in zip(results, tasks)]


def _check_items(
    items: list[_Item], sizes: dict[int, int], jobs: int | None, on_done: Callable[[list[_Done]], None]
) -> None:
    """Check the cache misses: in a pool when there are enough of them, else here."""
    workers = default_jobs() if jobs is None or jobs < 1 else jobs
    if workers > 1 and len(items) >= min(MIN_PARALLEL_FILES, MIN_PARALLEL_FILES_SPAWN):
        for index, task, _ in items:  # sizes for scheduling (the cache knows them already)
            if index not in sizes:
                with contextlib.suppress(OSError):
                    sizes[index] = os.stat(task.disk_path).st_size
        size = sum(sizes.get(index, 0) for index, _, _ in items)
        # The start method (and so multiprocessing, ~10 ms to import) only when it may matter.
        if size >= min(MIN_PARALLEL_BYTES, MIN_PARALLEL_BYTES_SPAWN):
            context = _mp_context()
            if _enough_work(context, len(items), size):
                _run_pool(items, sizes, min(workers, len(items)), context, on_done)
                return
    for item in items:
        on_done(_check_chunk([item]))


# --------------------------------------------------------------------------------------
# Progress on a terminal
# --------------------------------------------------------------------------------------


def _may_be_terminal() -> bool:
    """Whether rich may take stderr for a terminal (it is one, or the environment says
    so): if not, there is no bar to draw and rich need not be imported."""
    if os.environ.get("TTY_COMPATIBLE") or os.environ.get("FORCE_COLOR") is not None:
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def progress_bar(
    total: int,
    enabled: bool | None = None,
    *,
    delay: float = 1.0,
    min_files: int = 50,
    console: Any = None,
) -> Iterator[Progress | None]:
    """A ``progress(done, total)`` callback drawing a rich bar on stderr, or None.

    Nothing is shown when ``enabled`` is False, when stderr is not an interactive
    terminal (or ``TERM=dumb``, or ``CI`` is set), for fewer than ``min_files``
    files, or until the run has taken ``delay`` seconds. ``console`` (a rich
    Console) is for tests. The bar refreshes from the callback itself
    (no refresh thread, so worker processes fork from a single-threaded parent).
    """
    if enabled is False or total < min_files:
        yield None
        return

    if console is None:
        if os.environ.get("CI") or os.environ.get("TERM", "") == "dumb" or not _may_be_terminal():
            yield None
            return

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    if console is None:
        console = Console(stderr=True)
    if not console.is_terminal or console.is_dumb_terminal:
        yield None
        return
    bar = RichProgress(
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    )
    started = time.monotonic()
    state: dict[str, Any] = {"task": None, "last": 0.0}

    def callback(done: int, all_files: int) -> None:
        now = time.monotonic()
        if state["task"] is None:
            if now - started < delay:
                return
            bar.start()
            state["task"] = bar.add_task("check", total=all_files)
        bar.update(state["task"], completed=done)
        if now - state["last"] >= 0.1 or done >= all_files:
            state["last"] = now
            bar.refresh()

    try:
        yield callback
    finally:
        if state["task"] is not None:
            bar.stop()
