"""A stale-code census for a running CPython program: Erlang's ``check_process_code`` for Python.

``importlib.reload`` re-executes a module's new source into the same module dict. Nothing
that is already running changes: a frame keeps the code object it started with, an instance
keeps the class it was made from, and a function object kept elsewhere keeps its old code.
This module records which code objects each version of a module had, and tells which frames
of which threads and asyncio tasks still run superseded code::

    from swaplint import live

    mod = live.load("path/to/worker.py")    # version 1, a real module in sys.modules
    live.reload(mod)                         # importlib.reload; records the superseded version
    for s in live.stale():                   # frames of threads and asyncio tasks running old code
        print(s.thread, s.function, s.version, s.path, s.line)

It costs nothing until called: no trace hook, no thread, no import hook. A module is known
to the census once it went through :func:`load`, :func:`reload` or :func:`track`; a module
tracked with :func:`track` may then be reloaded by any means (``importlib.reload``, a plugin
reloader): the census notices a new version the next time it looks.

Threads are found with ``sys._current_frames()``. Asyncio tasks are found on the event loops
the census can see: loops running in any thread (found from the frames of ``run_forever``),
the loop running in the calling thread, and the loops passed as ``loops=``. A loop that is
not running at the time of the call (a stopped loop holding suspended tasks) is seen only
when passed explicitly.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import os
import sys
import threading
import types
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "StaleFrame",
    "StaleInstance",
    "current_version",
    "forget",
    "load",
    "reload",
    "stale",
    "stale_instances",
    "track",
    "version_of",
]


@dataclass(frozen=True)
class StaleFrame:
    """One frame of a thread or an asyncio task that runs code of a superseded version."""

    thread: str  # the thread's name, or the task's name for a suspended task
    kind: str  # "thread" or "task"
    module: str  # the module's name
    function: str  # the code's qualified name: "worker", "Worker.run"
    version: int  # the version the frame runs (1 = the first one recorded)
    current: int  # the module's current version
    path: str
    line: int
    depth: int  # 0 = the outermost frame of the thread or task
    ident: int | None = None  # the thread's ident (None for a suspended task)
    task: Any = field(default=None, compare=False, repr=False)  # the asyncio.Task, if any

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.thread!r} runs `{self.function}` of {self.module} version "
            f"{self.version} (current {self.current}) at {self.path}:{self.line}"
        )


@dataclass(frozen=True)
class StaleInstance:
    """An object whose class was replaced by a reload: its methods are the old version's."""

    object: Any = field(repr=False)
    module: str
    cls: str  # the class's qualified name
    version: int
    current: int

    def __str__(self) -> str:
        return (
            f"a {self.cls} of {self.module} version {self.version} (current {self.current}) "
            f"at {id(self.object):#x}"
        )


@dataclass
class _Version:
    number: int
    codes: dict[int, types.CodeType]  # id -> code (held, so ids stay unique)
    classes: list[weakref.ReferenceType[type]]


@dataclass
class _Tracked:
    name: str
    module: weakref.ReferenceType[types.ModuleType]
    namespace: dict[str, Any]
    path: str | None
    versions: list[_Version]


_lock = threading.RLock()
_tracked: dict[str, _Tracked] = {}


# -- recording versions ---------------------------------------------------------------------------


def _nested_codes(code: types.CodeType, into: dict[int, types.CodeType]) -> None:
    if id(code) in into:
        return
    into[id(code)] = code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _nested_codes(const, into)


def _function_code(obj: Any) -> types.CodeType | None:
    seen = 0
    while obj is not None and seen < 8:
        seen += 1
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
            continue
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            return code
        obj = getattr(obj, "__wrapped__", None)
    return None


def _harvest(namespace: dict[str, Any], name: str) -> tuple[dict[int, types.CodeType], list[type]]:
    """The code objects reachable from the module's current functions and classes."""
    codes: dict[int, types.CodeType] = {}
    classes: list[type] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if isinstance(obj, type):
            if obj.__module__ != name:
                return
            classes.append(obj)
            for value in list(vars(obj).values()):
                visit(value, depth + 1)
            return
        if isinstance(obj, property):
            for part in (obj.fget, obj.fset, obj.fdel):
                visit(part, depth + 1)
            return
        code = _function_code(obj)
        if code is not None:
            if (
                getattr(obj, "__globals__", namespace) is namespace
                or getattr(getattr(obj, "__func__", None), "__globals__", None) is namespace
            ):
                _nested_codes(code, codes)
            wrapped = getattr(obj, "__wrapped__", None)
            if wrapped is not None:
                visit(wrapped, depth + 1)

    for value in list(namespace.values()):
        visit(value, 0)
    return codes, classes


def _record(entry: _Tracked) -> _Version:
    codes, classes = _harvest(entry.namespace, entry.name)
    number = entry.versions[-1].number + 1 if entry.versions else 1
    version = _Version(number, codes, [weakref.ref(c) for c in classes])
    entry.versions.append(version)
    return version


def _refresh(entry: _Tracked) -> None:
    """Notice a reload done by other means: the current code differs from the last recorded."""
    codes, classes = _harvest(entry.namespace, entry.name)
    last = entry.versions[-1]
    if codes and not (codes.keys() & last.codes.keys()):
        number = last.number + 1
        entry.versions.append(_Version(number, codes, [weakref.ref(c) for c in classes]))
    elif codes.keys() - last.codes.keys():
        last.codes.update(codes)  # functions defined after the snapshot (exec, late imports)


def _entry_for(module: types.ModuleType) -> _Tracked:
    entry = _tracked.get(module.__name__)
    if entry is None or entry.namespace is not module.__dict__:
        entry = _Tracked(
            module.__name__, weakref.ref(module), module.__dict__, getattr(module, "__file__", None), []
        )
        _tracked[module.__name__] = entry
        _record(entry)
    return entry


# -- public API: loading and reloading ------------------------------------------------------------


def track(module: types.ModuleType) -> int:
    """Start the census of ``module`` (imported normally) as it is now; return its version number.

    Tracking an already tracked module changes nothing. After this, reloads done by any
    reloader are noticed the next time the census looks.
    """
    with _lock:
        entry = _entry_for(module)
        _refresh(entry)
        return entry.versions[-1].number


def forget(module: types.ModuleType | str) -> None:
    """Stop the census of a module and drop the code objects it holds."""
    name = module if isinstance(module, str) else module.__name__
    with _lock:
        _tracked.pop(name, None)


def load(path: str | os.PathLike[str], name: str | None = None) -> types.ModuleType:
    """Import the file at ``path`` as module ``name`` (default: the file's stem): version 1.

    The module is a real module in ``sys.modules``; a module of that name that was loaded
    before is replaced and its census starts again.
    """
    path = os.fspath(path)
    name = name or os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path!r} as a module", name=name, path=path)
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise
    with _lock:
        _tracked.pop(name, None)
        _entry_for(module)
    return module


def reload(module: types.ModuleType) -> types.ModuleType:
    """``importlib.reload(module)``, recording the version it supersedes; return the module.

    Works on modules imported normally and on modules made by :func:`load` from a file
    outside ``sys.path`` (re-executed from the same file into the same module dict, which
    is what ``importlib.reload`` does).
    """
    with _lock:
        entry = _entry_for(module)
        _refresh(entry)
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    try:
        importlib.reload(module)
    except ModuleNotFoundError as exc:
        # A module loaded from a file outside sys.path: no finder knows it. Re-execute the
        # same file into the same module dict, as importlib.reload would.
        if exc.name != module.__name__ or not origin or not os.path.exists(origin):
            raise
        fresh = importlib.util.spec_from_file_location(module.__name__, origin)
        if fresh is None or fresh.loader is None:
            raise
        sys.modules[module.__name__] = module
        module.__spec__ = fresh
        module.__loader__ = fresh.loader
        fresh.loader.exec_module(module)
    with _lock:
        _record(entry)
    return module


def current_version(module: types.ModuleType | str) -> int:
    """The number of the module's current version (1 before any reload)."""
    name = module if isinstance(module, str) else module.__name__
    with _lock:
        entry = _tracked.get(name)
        if entry is None:
            raise KeyError(f"module {name!r} is not tracked: use live.load, live.reload or live.track")
        _refresh(entry)
        return entry.versions[-1].number


def version_of(code: types.CodeType) -> tuple[str, int] | None:
    """``(module, version)`` of a code object of a tracked module, or None."""
    with _lock:
        for entry in _tracked.values():
            for version in reversed(entry.versions):
                if version.codes.get(id(code)) is code:
                    return entry.name, version.number
    return None


# -- the census -----------------------------------------------------------------------------------


@dataclass
class _Index:
    """id(code) -> (module, version, current) for the code of superseded versions only."""

    stale: dict[int, tuple[types.CodeType, str, int, int]]
    namespaces: dict[int, _Tracked]  # id(module dict) -> entry, for code of no known version

    def lookup(self, frame: types.FrameType) -> tuple[str, int, int] | None:
        code = frame.f_code
        hit = self.stale.get(id(code))
        if hit is not None and hit[0] is code:
            return hit[1], hit[2], hit[3]
        return None


def _index(modules: Iterable[types.ModuleType | str] | None) -> _Index:
    names = None if modules is None else {m if isinstance(m, str) else m.__name__ for m in modules}
    stale: dict[int, tuple[types.CodeType, str, int, int]] = {}
    namespaces: dict[int, _Tracked] = {}
    with _lock:
        for entry in list(_tracked.values()):
            if names is not None and entry.name not in names:
                continue
            _refresh(entry)
            current = entry.versions[-1]
            namespaces[id(entry.namespace)] = entry
            for version in entry.versions[:-1]:
                for key, code in version.codes.items():
                    if key not in current.codes and key not in stale:
                        stale[key] = (code, entry.name, version.number, current.number)
    return _Index(stale, namespaces)


def _loop_of_frame(frame: types.FrameType) -> asyncio.AbstractEventLoop | None:
    if frame.f_code.co_name not in ("run_forever", "_run_once"):
        return None
    candidate = frame.f_locals.get("self")
    return candidate if isinstance(candidate, asyncio.AbstractEventLoop) else None


def _task_frames(task: asyncio.Task[Any]) -> list[types.FrameType]:
    """The frames of a task's coroutine chain, outermost first (``await`` links included)."""
    frames: list[types.FrameType] = []
    coro: Any = task.get_coro()
    for _ in range(10_000):
        if coro is None:
            break
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


def _all_tasks(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
    for _ in range(5):
        try:
            return list(asyncio.all_tasks(loop))
        except RuntimeError:  # the set changed size while it was read (another thread)
            continue
    return []


def _frames_of_thread(frame: types.FrameType | None) -> list[types.FrameType]:
    chain: list[types.FrameType] = []
    while frame is not None:
        chain.append(frame)
        frame = frame.f_back
    chain.reverse()
    return chain


def stale(
    modules: Iterable[types.ModuleType | str] | None = None,
    *,
    loops: Sequence[asyncio.AbstractEventLoop] = (),
    tasks: bool = True,
) -> list[StaleFrame]:
    """Every frame of every thread and asyncio task that runs code of a superseded version.

    ``modules`` limits the census to some tracked modules (default: all). Frames are listed
    thread by thread (then task by task), outermost first; a task that is running at the
    moment of the call is listed under its thread. ``loops`` adds event loops the census
    cannot find by itself (loops that are not running).
    """
    index = _index(modules)
    if not index.stale:
        return []
    names = {t.ident: t.name for t in threading.enumerate()}
    current = sys._current_frames()
    found: list[StaleFrame] = []
    seen_loops: dict[int, asyncio.AbstractEventLoop] = {id(loop): loop for loop in loops}
    try:
        running = asyncio.get_running_loop()
        seen_loops[id(running)] = running
    except RuntimeError:
        pass
    for ident, top in current.items():
        chain = _frames_of_thread(top)
        thread = names.get(ident, f"thread-{ident}")
        for depth, frame in enumerate(chain):
            loop = _loop_of_frame(frame) if tasks else None
            if loop is not None:
                seen_loops.setdefault(id(loop), loop)
            hit = index.lookup(frame)
            if hit is not None:
                found.append(
                    StaleFrame(
                        thread,
                        "thread",
                        hit[0],
                        frame.f_code.co_qualname,
                        hit[1],
                        hit[2],
                        frame.f_code.co_filename,
                        frame.f_lineno,
                        depth,
                        ident,
                    )
                )
    del current
    if tasks:
        for loop in seen_loops.values():
            for task in _all_tasks(loop):
                if task.done():
                    continue
                if getattr(task.get_coro(), "cr_running", False):
                    continue  # running right now: its frames are on its thread's stack
                frames = _task_frames(task)
                for depth, frame in enumerate(frames):
                    hit = index.lookup(frame)
                    if hit is not None:
                        found.append(
                            StaleFrame(
                                task.get_name(),
                                "task",
                                hit[0],
                                frame.f_code.co_qualname,
                                hit[1],
                                hit[2],
                                frame.f_code.co_filename,
                                frame.f_lineno,
                                depth,
                                None,
                                task,
                            )
                        )
    return found


def stale_instances(modules: Iterable[types.ModuleType | str] | None = None) -> list[StaleInstance]:
    """Live objects whose class is a class of a superseded version (their methods are old).

    This walks every object the garbage collector tracks: call it on request, not in a hot path.
    """
    old: dict[int, tuple[type, str, int, int]] = {}
    names = None if modules is None else {m if isinstance(m, str) else m.__name__ for m in modules}
    with _lock:
        for entry in _tracked.values():
            if names is not None and entry.name not in names:
                continue
            _refresh(entry)
            current = entry.versions[-1]
            live_now = {id(c) for ref in current.classes if (c := ref()) is not None}
            for version in entry.versions[:-1]:
                for ref in version.classes:
                    cls = ref()
                    if cls is not None and id(cls) not in live_now:
                        old.setdefault(id(cls), (cls, entry.name, version.number, current.number))
    if not old:
        return []
    result: list[StaleInstance] = []
    for obj in gc.get_objects():
        hit = old.get(id(type(obj)))
        if hit is not None and type(obj) is hit[0]:
            result.append(StaleInstance(obj, hit[1], hit[0].__qualname__, hit[2], hit[3]))
    return result


def iter_versions(module: types.ModuleType | str) -> Iterator[tuple[int, int]]:
    """``(version, number of code objects)`` for each recorded version of a tracked module."""
    name = module if isinstance(module, str) else module.__name__
    with _lock:
        entry = _tracked.get(name)
        versions = list(entry.versions) if entry is not None else []
    for version in versions:
        yield version.number, len(version.codes)
