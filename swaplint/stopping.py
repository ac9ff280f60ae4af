"""Stopping cleanly: SIGTERM as an exception, and child processes that die with their parent.

Used by the runner (pool workers) and by ``--verify`` (the scenario child), so
that neither Ctrl-C, SIGTERM nor even a SIGKILL of swaplint leaves a process of
its own behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["Terminated", "die_with_parent", "sigterm_raises"]


def die_with_parent(parent: int) -> None:
    """Linux: have the kernel SIGKILL this process when its parent (pid ``parent``) dies."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


class Terminated(SystemExit):
    """SIGTERM arrived inside :func:`sigterm_raises` (exit status 128 + 15)."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread, so
    the ``except``/``finally`` clauses that stop the workers (or the ``--verify``
    child) run; SIGTERM's default action would end this process and leave them
    running. Nothing changes outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
