"""swaplint.live: the stale-code census of real threads and asyncio tasks under importlib.reload."""

from __future__ import annotations

import asyncio
import importlib
import queue
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from swaplint import live

WORKER = """\
import asyncio

log = []


def worker(q):
    while True:
        m = q.get()
        if m is None:
            return
        handle(m)


def handle(m):
    log.append(("v{v}", m))


def step(q):
    try:
        m = q.get(timeout=0.05)
    except Exception:
        return
    handle(m)


async def consumer(q):
    while True:
        m = await q.get()
        if m is None:
            return
        handle(m)


async def astep(q):
    try:
        m = await asyncio.wait_for(q.get(), 0.05)
    except asyncio.TimeoutError:
        return
    handle(m)


class Counter:
    def bump(self):
        return "v{v}"
"""


def _write(path: Path, version: int) -> None:
    # Each version has a different size, so a bytecode cache of the same second is never reused.
    path.write_text(WORKER.format(v=version) + "#" * version + "\n", encoding="utf-8")


@pytest.fixture
def module(tmp_path: Path) -> Iterator[Any]:
    name = f"live_worker_{id(tmp_path)}"
    path = tmp_path / f"{name}.py"
    _write(path, 1)
    mod = live.load(path, name)
    yield mod
    live.forget(mod)
    sys.modules.pop(name, None)


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _reload(mod: Any, tmp_path: Path, version: int) -> None:
    _write(Path(mod.__file__), version)
    live.reload(mod)


def test_load_makes_a_real_module_at_version_1(module: Any) -> None:
    assert sys.modules[module.__name__] is module
    assert live.current_version(module) == 1
    assert live.stale([module]) == []
    assert live.version_of(module.worker.__code__) == (module.__name__, 1)


def test_thread_in_an_inline_loop_is_stale_after_reload(module: Any, tmp_path: Path) -> None:
    q: queue.Queue[Any] = queue.Queue()
    thread = threading.Thread(target=module.worker, args=(q,), name="inline-worker", daemon=True)
    thread.start()
    try:
        q.put(1)
        assert _wait(lambda: module.log == [("v1", 1)])
        _reload(module, tmp_path, 2)
        assert live.current_version(module) == 2
        found = [s for s in live.stale([module]) if s.thread == "inline-worker"]
        assert [(s.kind, s.function, s.version, s.current) for s in found] == [("thread", "worker", 1, 2)]
        assert found[0].path == module.__file__ and found[0].line == 8  # m = q.get()
        assert "worker" in str(found[0]) and "version 1" in str(found[0])
        # The old frame calls `handle` by name: the new one (mixed versions), into the new `log`.
        q.put(2)
        assert _wait(lambda: module.log == [("v2", 2)])
    finally:
        q.put(None)
        thread.join(5)
    assert not thread.is_alive()
    assert live.stale([module]) == []


def test_thread_that_returns_to_a_driver_moves_to_new_code(module: Any, tmp_path: Path) -> None:
    q: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    def driver() -> None:  # not module code: looks `step` up in the module at every call
        while not stop.is_set():
            sys.modules[module.__name__].step(q)

    thread = threading.Thread(target=driver, name="driven", daemon=True)
    thread.start()
    try:
        assert _wait(lambda: "driven" in _threads_in_module(module))
        _reload(module, tmp_path, 2)
        assert _wait(lambda: not [s for s in live.stale([module]) if s.thread == "driven"])
        q.put(7)
        assert _wait(lambda: module.log == [("v2", 7)])
    finally:
        stop.set()
        thread.join(5)


def _threads_in_module(module: Any) -> set[str]:
    """Names of the threads whose stack holds a frame of the module (any version)."""
    frames = sys._current_frames()
    return {t.name for t in threading.enumerate() if t.ident in frames and _runs(frames[t.ident], module)}


def _runs(frame: Any, module: Any) -> bool:
    while frame is not None:
        if frame.f_globals is module.__dict__:
            return True
        frame = frame.f_back
    return False


def _run_loop_in_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="event-loop", daemon=True)
    thread.start()
    return loop, thread


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    async def cancel_all() -> None:
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_asyncio_task_in_an_inline_loop_is_stale_after_reload(module: Any, tmp_path: Path) -> None:
    loop, thread = _run_loop_in_thread()
    try:
        q: asyncio.Queue[Any] = asyncio.Queue()

        async def start() -> asyncio.Task[Any]:
            return asyncio.get_running_loop().create_task(module.consumer(q), name="consumer-task")

        task = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
        loop.call_soon_threadsafe(q.put_nowait, 1)
        assert _wait(lambda: module.log == [("v1", 1)])
        _reload(module, tmp_path, 2)
        # Found without being told about the loop: it runs in a thread, seen through run_forever.
        found = [s for s in live.stale([module]) if s.kind == "task"]
        assert [(s.thread, s.function, s.version, s.current) for s in found] == [
            ("consumer-task", "consumer", 1, 2)
        ]
        assert found[0].task is task and found[0].line == 28
        loop.call_soon_threadsafe(q.put_nowait, None)
        assert _wait(task.done)
        assert live.stale([module]) == []
    finally:
        _stop_loop(loop, thread)


def test_asyncio_task_driven_from_outside_moves_to_new_code(module: Any, tmp_path: Path) -> None:
    loop, thread = _run_loop_in_thread()
    stop = threading.Event()
    try:
        q: asyncio.Queue[Any] = asyncio.Queue()

        async def driver() -> None:
            while not stop.is_set():
                await sys.modules[module.__name__].astep(q)

        future = asyncio.run_coroutine_threadsafe(driver(), loop)
        assert _wait(lambda: _task_in_module(module, loop))
        _reload(module, tmp_path, 2)
        assert _wait(lambda: live.stale([module]) == [])
        loop.call_soon_threadsafe(q.put_nowait, 5)
        assert _wait(lambda: module.log == [("v2", 5)])
        stop.set()
        future.result(5)
    finally:
        _stop_loop(loop, thread)


def _task_in_module(module: Any, loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a task of the loop is suspended in a frame of the module (any version)."""
    tasks = list(asyncio.all_tasks(loop))
    return any(f.f_globals is module.__dict__ for task in tasks for f in live._task_frames(task))


def test_loops_argument_sees_a_loop_that_is_not_running(module: Any, tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        q: asyncio.Queue[Any] = asyncio.Queue()
        task = loop.create_task(module.consumer(q), name="parked")
        loop.run_until_complete(asyncio.sleep(0.01))  # the task is now suspended in q.get()
        _reload(module, tmp_path, 2)
        assert [s for s in live.stale([module]) if s.kind == "task"] == []
        found = live.stale([module], loops=[loop])
        assert [(s.thread, s.function, s.version) for s in found] == [("parked", "consumer", 1)]
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    finally:
        loop.close()


def test_stale_instances_keep_old_methods(module: Any, tmp_path: Path) -> None:
    old = module.Counter()
    _reload(module, tmp_path, 2)
    new = module.Counter()
    assert old.bump() == "v1" and new.bump() == "v2"
    found = live.stale_instances([module])
    assert [(s.object, s.cls, s.version, s.current) for s in found] == [(old, "Counter", 1, 2)]
    assert "Counter" in str(found[0])
    del old, found
    assert live.stale_instances([module]) == []


def test_a_normally_imported_module_and_an_outside_reload(tmp_path: Path) -> None:
    name = f"live_plain_{id(tmp_path)}"
    path = tmp_path / f"{name}.py"
    _write(path, 1)
    sys.path.insert(0, str(tmp_path))
    q: queue.Queue[Any] = queue.Queue()
    try:
        mod = importlib.import_module(name)
        thread = threading.Thread(target=mod.worker, args=(q,), name="plain", daemon=True)
        thread.start()
        _write(path, 2)
        live.reload(mod)  # not made by live.load: version 1 is recorded at this first reload
        assert live.current_version(mod) == 2
        assert [(s.thread, s.version) for s in live.stale([mod])] == [("plain", 1)]
        # A reload by another reloader is noticed once the module is tracked.
        _write(path, 3)
        importlib.reload(mod)
        assert live.current_version(mod) == 3
        assert [(s.thread, s.version, s.current) for s in live.stale([mod])] == [("plain", 1, 3)]
        assert [v for v, _ in live.iter_versions(mod)] == [1, 2, 3]
    finally:
        q.put(None)
        sys.path.remove(str(tmp_path))
        live.forget(name)
        sys.modules.pop(name, None)


def test_census_costs_nothing_until_called() -> None:
    assert sys.gettrace() is None
    assert threading.gettrace() is None if hasattr(threading, "gettrace") else True
    before = {t.name for t in threading.enumerate()}
    assert live.stale(["no-such-module"]) == []
    assert {t.name for t in threading.enumerate()} == before


def test_a_module_that_fails_to_load_is_not_left_in_sys_modules(tmp_path: Path) -> None:
    path = tmp_path / "broken_live_mod.py"
    path.write_text(textwrap.dedent("raise ValueError('boom')\n"), encoding="utf-8")
    with pytest.raises(ValueError, match="boom"):
        live.load(path)
    assert "broken_live_mod" not in sys.modules


def _doc_example() -> dict[str, Any]:
    text = (Path(__file__).resolve().parents[1] / "docs" / "live.md").read_text(encoding="utf-8")
    block = text.split("<!-- tested: stale-code -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/live.md", "exec"), namespace)
    return namespace


def test_the_documented_debug_endpoint(module: Any, tmp_path: Path) -> None:
    import json
    import urllib.error
    import urllib.request
    from http.server import HTTPServer

    example = _doc_example()
    server = HTTPServer(("127.0.0.1", 0), example["DebugHandler"])
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}/debug/stale-code"
    q: queue.Queue[Any] = queue.Queue()
    thread = threading.Thread(target=module.worker, args=(q,), name="svc-worker", daemon=True)
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.status == 200
            assert json.load(answer)["ok"] is True
        thread.start()
        _reload(module, tmp_path, 2)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, timeout=5)
        assert info.value.code == 409
        report = json.load(info.value)
        assert {
            "thread": "svc-worker",
            "function": f"{module.__name__}.worker",
            "version": 1,
        }.items() <= next(r for r in report["stale"] if r["thread"] == "svc-worker").items()
        info.value.close()
    finally:
        q.put(None)
        thread.join(5)
        server.shutdown()
        server.server_close()
    assert example["stale_code_report"]()["stale"] == [] or all(
        r["thread"] != "svc-worker" for r in example["stale_code_report"]()["stale"]
    )
