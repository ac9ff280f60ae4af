"""Findings are identical in every mode: serial, parallel, cold and warm cache,
with the text screen and without it (fixtures, examples, and a slice of the stdlib)."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

import swaplint.runner as runner
from swaplint.cache import Cache
from swaplint.engine import Settings
from swaplint.runner import Task, check_files

ROOT = Path(__file__).resolve().parents[1]
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SUBSET = ("asyncio", "concurrent", "multiprocessing", "logging")


def _corpus() -> list[Task]:
    tasks = []
    for base in (ROOT / "tests" / "fixtures", ROOT / "examples"):
        for path in sorted(base.rglob("*.py")):
            tasks.append(Task(str(path), str(path.relative_to(ROOT)), Settings()))
    for package in SUBSET:
        for directory, dirs, files in os.walk(STDLIB / package):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = Path(directory, name)
                    tasks.append(Task(str(path), str(path.relative_to(STDLIB)), Settings()))
    return tasks


def _flat(results):
    return [
        (
            r.path,
            r.module,
            [(f.code, f.line, f.column, f.end_line, f.end_column, f.message, f.function) for f in r.findings],
            r.errors,
        )
        for r in results
    ]


def test_every_mode_gives_the_same_findings(tmp_path: Path, monkeypatch) -> None:
    tasks = _corpus()
    assert len(tasks) > 60
    serial = _flat(check_files(tasks, jobs=1))
    assert any(findings for _, _, findings, _ in serial)
    monkeypatch.setattr(runner, "MIN_PARALLEL_FILES", 1)
    monkeypatch.setattr(runner, "MIN_PARALLEL_BYTES", 0)
    assert _flat(check_files(tasks, jobs=2)) == serial

    cache_dir = tmp_path / "cache"
    cold = Cache(cache_dir)
    assert _flat(check_files(tasks, jobs=2, cache=cold)) == serial
    warm = Cache(cache_dir)
    assert _flat(check_files(tasks, jobs=2, cache=warm)) == serial
    assert warm.misses == 0 and warm.hits == len(tasks)
    warm_serial = Cache(cache_dir)
    assert _flat(check_files(tasks, jobs=1, cache=warm_serial)) == serial


def test_the_text_screen_drops_no_finding(monkeypatch) -> None:
    """Files the shape screen skips give no finding when the model is built anyway."""
    import re

    import swaplint.engine as engine

    tasks = _corpus()
    screened = _flat(check_files(tasks, jobs=1))
    monkeypatch.setattr(engine, "_needles", lambda extra: re.compile(""))
    assert _flat(check_files(tasks, jobs=1)) == screened


def test_the_text_screen_drops_no_rule_snippet(monkeypatch) -> None:
    """Every VALID/INVALID snippet of every rule: the same findings with the screen as
    without it -- in particular loops with no wait in sight (`while self.running:`,
    `while True:`), which the model takes for long-lived whatever else the file holds."""
    import re

    import swaplint.engine as engine
    from swaplint.engine import check_source
    from swaplint.rules import RULES

    snippets = [s for rule in RULES for s in (*rule.VALID, *rule.INVALID)]
    assert len(snippets) > 50

    def run() -> list[list[tuple[str, int]]]:
        return [
            [(f.code, f.line) for f in check_source(s.encode(), "s.py", Settings()).findings]
            for s in snippets
        ]

    screened = run()
    monkeypatch.setattr(engine, "_needles", lambda extra: re.compile(""))
    assert run() == screened


LOOPS_WITHOUT_A_WAIT = [
    "class R:\n    def run(self):\n        while self.running:\n            self.step()\n",
    "class R:\n    def run(self):\n        while (\n            not self._stopping\n        ):\n            self.step()\n",
    # (each body works inline -- `state.tick()` -- so that it is no driver loop)
    "def main(state):\n    while (\n        True\n    ):\n        state.tick()\n",
    "def main(state):\n    while 1:\n        state.tick()\n",
    "import itertools\ndef main(state):\n    for _ in itertools.count():\n        state.tick()\n",
    "from itertools import count\ndef main(state):\n    for i in count(1):\n        state.tick(i)\n",
    "class E:\n    def run(self):\n        while self.should_keep_running():\n            self.queue_events(1)\n",
]


@pytest.mark.parametrize("source", LOOPS_WITHOUT_A_WAIT)
def test_the_screen_admits_loops_without_a_wait(source: str, monkeypatch) -> None:
    import re

    import swaplint.engine as engine
    from swaplint.engine import check_source

    screened = [f.code for f in check_source(source.encode(), "s.py", Settings()).findings]
    assert screened  # the model takes each for a long-lived loop
    monkeypatch.setattr(engine, "_needles", lambda extra: re.compile(""))
    assert [f.code for f in check_source(source.encode(), "s.py", Settings()).findings] == screened
