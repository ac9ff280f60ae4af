"""Does the text screen drop a finding? Check files with the screen and without it.

    python benchmarks/screen_exactness.py PATH [PATH ...]

Every ``.py`` file under the paths is checked twice, on both cores: as ``swaplint
check`` does (the screen lets through only files that may hold a finding), and with the
screen letting every file through to the model. Prints how many files reached the model
each way and every file whose findings differ; exits 1 if any does.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import swaplint.engine as engine  # noqa: E402
from swaplint.runner import Task, check_files  # noqa: E402
from swaplint.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args()
    files = sorted(
        str(path)
        for root in args.paths
        for path in ([root] if root.is_file() else root.rglob("*.py"))
        if "__pycache__" not in path.parts
    )
    tasks = [Task(f, f, Settings()) for f in files]

    def run() -> list[tuple[str, list[tuple[str, int, int, str]]]]:
        return [
            (r.path, [(f.code, f.line, f.column, f.message) for f in r.findings])
            for r in check_files(tasks, jobs=os.cpu_count())
        ]

    screen = engine._needles(())
    admitted = sum(1 for f in files if screen.search(Path(f).read_text(encoding="utf-8", errors="replace")))
    screened = run()
    engine._needles = lambda extra: re.compile("")  # type: ignore[assignment,return-value]
    unscreened = run()
    differ = [(a, b) for a, b in zip(screened, unscreened) if a != b]
    findings = sum(len(found) for _, found in screened)
    print(
        f"{len(files)} files, {admitted} let through by the screen, {findings} findings; {len(differ)} differ"
    )
    for (path, with_screen), (_, without) in differ:
        print(f"  {path}: with the screen {with_screen}, without {without}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
