"""Run the engine over many files and return the results in a stable order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swaplint.engine import Settings, check_file
from swaplint.findings import FileResult


@dataclass(frozen=True)
class Task:
    """One file to check: where it is on disk, how findings name it, with what settings."""

    disk_path: str
    display_path: str
    settings: Settings


def check_files(tasks: Sequence[Task]) -> list[FileResult]:
    """Check every task's file; results come back in the order of ``tasks``."""
    return [check_file(t.disk_path, t.settings, display_path=t.display_path) for t in tasks]
