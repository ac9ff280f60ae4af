"""pytest plugin: test that your loops survive hot upgrades.

Installed with swaplint (entry point ``pytest11``), it gives:

* the ``swap_runtime`` fixture: a fresh :class:`swaplint.runtime.Runtime`
  (deterministic scheduler, virtual clock at 0.0);
* :func:`assert_survives_upgrades`: load a module from a file, spawn a loop, load
  it again N times (each load purges the version before the previous one, as
  Erlang's ``c:l``), and fail readably if the process dies or lags behind::

      from swaplint.pytest_plugin import assert_survives_upgrades

      def test_counter_upgrades(swap_runtime):
          assert_survives_upgrades(swap_runtime, "src/counter.py", "server_loop", 0, upgrades=5)

For plain Python code (threads, asyncio tasks, ``importlib.reload``):

* the ``swap_live`` fixture: :mod:`swaplint.live`, with every module loaded or reloaded
  through it during the test forgotten (and removed from ``sys.modules``) at teardown;
* :func:`assert_reload_safe`: load a file, start a loop in a real thread (or an asyncio task),
  feed it messages through a real queue, reload the module N times with ``importlib``, feed
  the messages again, and fail readably, with the stale frames, unless each message was
  handled entirely by the current version's code, the stack did not grow per message, and
  the loop saw its stop request::

      from swaplint.pytest_plugin import assert_reload_safe

      def test_worker_reloads():
          assert_reload_safe("src/worker.py", start="run", messages=["job-1", "flush"], reloads=3)
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from swaplint import live
from swaplint.runtime import Runtime


@pytest.fixture
def swap_runtime() -> Runtime:
    """A fresh swaplint Runtime for one test."""
    return Runtime()


class UpgradeFailed(AssertionError):
    """The process did not survive an upgrade, or did not reach the current version."""


def _stack_text(frames: Iterable[Any]) -> str:
    lines = [f"    {f.module} v{f.version} {f.function} (line {f.lineno})" for f in frames]
    return "\n".join(lines) if lines else "    (no frames of loaded code)"


def assert_survives_upgrades(
    runtime: Runtime,
    path: str | os.PathLike[str],
    function: str,
    *args: Any,
    module: str | None = None,
    upgrades: int = 3,
    messages: Iterable[Any] = (),
    upgrade_message: Any = "switch_code",
    tell: bool = True,
    advance: float | None = None,
) -> Any:
    """Spawn ``module:function(*args)`` and load the file ``upgrades`` more times.

    After each load the process is sent ``upgrade_message`` (unless ``tell`` is
    false) and the clock is advanced by ``advance`` virtual seconds (if given).
    Fails with :class:`UpgradeFailed` naming the load that killed the process and
    what its stack held, or when it ends up on an old version. Returns the pid.
    """
    path = Path(path)
    module = module or path.stem
    first = runtime.load_path(module, path)
    pid = runtime.spawn(module, function, *args)
    runtime.run()
    for message in messages:
        runtime.send(pid, message)
        runtime.run()
    _check_alive(runtime, pid, module, function, f"before any upgrade (version {first})")
    for _ in range(upgrades):
        version = runtime.load_path(module, path)
        if not runtime.is_alive(pid):
            record = runtime.kill_record(pid)
            if record is not None:
                raise UpgradeFailed(
                    f"{module}.{function} was killed by load {version} (the purge of version "
                    f"{record.version}); its stack held {record.old_frames} frame(s) of version "
                    f"{record.version}:\n{_stack_text(record.frames)}"
                )
            _check_alive(runtime, pid, module, function, f"at load {version}")
        if tell:
            runtime.send(pid, upgrade_message)
        runtime.run()
        if advance:
            runtime.advance(advance)
        _check_alive(runtime, pid, module, function, f"after load {version}")
    current = runtime.versions(module)[-1]
    stack_versions = runtime.stack_versions(pid, module)
    if stack_versions and set(stack_versions) != {current}:
        raise UpgradeFailed(
            f"{module}.{function} survived but its stack still references version(s) "
            f"{', '.join(map(str, stack_versions))} (current is {current}):\n"
            f"{_stack_text(runtime.stack(pid))}"
        )
    return pid


def _check_alive(runtime: Runtime, pid: Any, module: str, function: str, when: str) -> None:
    if runtime.is_alive(pid):
        return
    reason = runtime.exit_reason(pid)
    detail = runtime.crash_report(pid) if isinstance(reason, BaseException) else None
    raise UpgradeFailed(
        f"{module}.{function} is not running {when}: exit reason {reason!r}"
        + (f"\n{detail}" if detail else "")
    )


# -- plain Python: importlib.reload -------------------------------------------------------------------


@pytest.fixture
def swap_live() -> Iterator[types.ModuleType]:
    """:mod:`swaplint.live`; modules it tracks from this test on are forgotten at teardown."""
    before = set(live._tracked)
    yield live
    for name in set(live._tracked) - before:
        live.forget(name)
        sys.modules.pop(name, None)


class ReloadUnsafe(AssertionError):
    """A loop did not move to the new code after importlib.reload, grew its stack, or ignored stop."""


def assert_reload_safe(
    path: str | os.PathLike[str],
    start: str,
    *args: Any,
    messages: Sequence[Any] | None = None,
    reloads: int = 3,
    module: str | None = None,
) -> Any:
    """Run loop ``start`` of the file for real and fail unless it is reload-safe under importlib.

    ``start`` is a module-level function (``"run"``) or a method (``"Worker.run"``; the class
    is built with ``args``, or with none). Queue and stop-event parameters are made here;
    ``args`` give the other start arguments. ``messages`` default to a probe and the literals
    the loop compares against. Returns the :class:`swaplint.reloadcheck.Observation`; raises
    :class:`ReloadUnsafe` with the stale frames when the loop is not reload-safe.

    The loop runs in this process: its stop event, flag or stop message is used at the end,
    but a loop that cannot be stopped keeps its daemon thread until the test process exits.
    """
    from swaplint.reloadcheck import observe

    name = module or Path(path).stem
    try:
        obs = observe(path, start, args=args or None, messages=messages, reloads=reloads, module=name)
    except RuntimeError as exc:
        raise ReloadUnsafe(f"{name}.{start} could not be run: {exc}") from None
    finally:
        live.forget(name)
    if obs.safe:
        return obs
    lines = [
        f"{name}.{start} is not reload-safe after {reloads} reload{'s' if reloads != 1 else ''} "
        f"(version {obs.current} is current):"
    ]
    lines += [f"  {problem}" for problem in obs.problems]
    lines += [f"  {line}" for line in obs.handled if line not in obs.problems]
    if obs.stale:
        lines.append(f"  stale frames of {obs.label}:")
        lines += [f"    `{s.function}` of version {s.version} at {s.path}:{s.line}" for s in obs.stale[:20]]
        if len(obs.stale) > 20:
            lines.append(f"    ... and {len(obs.stale) - 20} more")
    else:
        lines.append(f"  {obs.label} runs no superseded code")
    raise ReloadUnsafe("\n".join(lines))
