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
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

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
