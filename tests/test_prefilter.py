"""The screen (swaplint.prefilter) is exact: it never drops a finding the rules report.

Each case runs the real engine with the screen and without it and compares the
findings; cases that have findings must also be kept by the screen.
"""

from __future__ import annotations

import os
import sysconfig
import textwrap
from pathlib import Path

import pytest

from swaplint import prefilter
from swaplint.engine import Settings, check_source
from swaplint.prefilter import Screen, screen
from swaplint.rules import VISITOR_RULES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_screen():
    """Run the block with the screen off (every file through libcst)."""
    saved = prefilter.ENABLED

    class Off:
        def __enter__(self):
            prefilter.ENABLED = False

        def __exit__(self, *exc):
            prefilter.ENABLED = saved

    yield Off()
    prefilter.ENABLED = saved


def _keys(result):
    return [(f.code, f.line, f.column, f.end_line, f.end_column, f.message) for f in result.findings]


def _both(source: str, no_screen, settings: Settings = Settings(), module: str = "m"):
    screened = check_source(source, "m.py", settings, module=module)
    with no_screen:
        full = check_source(source, "m.py", settings, module=module)
    return screened, full


# Hand-made cases aimed at each shortcut the screen takes. Each is a whole module.
CASES = {
    "dict-get-not-a-receive": """
        def f(d):
            while True:
                d.get("k")
    """,
    "queue-get-in-while": """
        def worker(q):
            while True:
                q.get()
    """,
    "get-block-literal": """
        def worker(q):
            while True:
                q.get(True, None)
                q.get(block=False)
    """,
    "poll-only-loop": """
        def drain(q):
            while True:
                yield q.get_nowait()
                q.get(False)
                q.get(block=False)
    """,
    "poll-and-wait": """
        def drain(q):
            while True:
                q.get_nowait()
                q.get(True)
    """,
    "nested-same-name-elsewhere": """
        def a(q):
            def main():
                q.get()
            main()

        def b():
            def main():
                return main()
            return main()
    """,
    "nested-visible-from-inner": """
        def a(q):
            def main():
                q.get()
                return helper()
            def helper():
                return main()
            return main()
    """,
    "comments-and-strings": """
        def loop(q):
            q.get()  # loop() again? no
            x = "#"; return loop(q)

        def other(q):
            y = '''
        #'''; return other(q)
            q.get()
    """,
    "module-level-while": """
        import queue
        q = queue.Queue()
        while True:
            q.get()
    """,
    "recursive-bare": """
        def loop(q):
            msg = q.get()
            return loop(q)
    """,
    "recursive-mutual": """
        def a(q):
            q.get()
            return b(q)

        def b(q):
            return a(q)
    """,
    "recursive-self-method": """
        class Server:
            def loop(self):
                self.inbox.get()
                return self.loop()
    """,
    "self-attr-chain-is-not-a-reentry": """
        class Server:
            def loop(self):
                self.inbox.get()
                return self.other.loop()
    """,
    "super-is-not-a-reentry": """
        class Base:
            def loop(self):
                return 1

        class Server(Base):
            def loop(self):
                self.inbox.get()
                return super().loop()
    """,
    "class-name-call": """
        class Server:
            def loop(self):
                self.inbox.get()
                return Server.loop(self)
    """,
    "other-class-same-name": """
        class A:
            def run(self):
                self.q.get()
                return B.run(self)

        class B:
            def run(self):
                return A.run(self)
    """,
    "module-handle": """
        import m

        def loop(q):
            q.get()
            return m.loop(q)
    """,
    "sys-modules-handle": """
        import sys

        def loop(q):
            q.get()
            return sys.modules[__name__].loop(q)
    """,
    "import-module-handle": """
        import importlib

        def loop(q):
            q.get()
            return importlib.import_module(__name__).loop(q)
    """,
    "qualified-class-method": """
        import m

        class S:
            def loop(self, q):
                q.get()
                return m.S.loop(self, q)
    """,
    "nested-function-cycle": """
        def outer(q):
            def inner():
                q.get()
                return inner()
            return inner
    """,
    "decorated": """
        import functools

        @functools.lru_cache()
        def loop(q):
            q.get()
            return loop(q)
    """,
    "receive-in-lambda": """
        def f(q):
            while True:
                g = lambda: q.get()
    """,
    "class-in-function": """
        def f(q):
            while True:
                class A:
                    x = q.get()
    """,
    "while-test": """
        def f(q):
            while q.get():
                pass
    """,
    "while-else": """
        def f(q):
            while x:
                pass
            else:
                q.get()
    """,
    "nested-def-in-while": """
        def f(q):
            while True:
                def g():
                    return q.get()
                g()
    """,
    "runtime-receive-alias": """
        from swaplint.runtime import receive as r

        def loop():
            while True:
                r()
    """,
    "runtime-module-alias": """
        import swaplint.runtime as rt

        def loop():
            msg = rt.receive()
            return loop()
    """,
    "select-module-after-use": """
        def serve(r):
            while True:
                s.select(r, [], [])

        import select as s
    """,
    "select-from-import-alias": """
        from select import select as sel

        def serve(r):
            while True:
                sel(r, [], [])
    """,
    "recv-with-arg-is-not-a-receive": """
        def f(sock):
            while True:
                sock.recv(1024)
    """,
    "accept-and-recv": """
        def serve(sock):
            while True:
                conn, _ = sock.accept()
                conn.recv()
    """,
    "spawn-untracked": """
        import threading

        def loop(q):
            while True:
                q.get()

        def start(q):
            threading.Thread(target=loop, args=(q,)).start()
    """,
    "one-line-recursion": """
        def loop(q): q.get(); return loop(q)
    """,
    "line-continuation": """
        def loop(q):
            q.get \\
                ()
            return loop \\
                (q)
    """,
    "noqa": """
        def worker(q):
            while True:  # noqa
                q.get()  # noqa: SWL003
    """,
    "syntax-error": """
        def f(:
            q.get()
    """,
    "only-words-no-call": """
        # get recv accept select receive
        x = "q.get()"
    """,
    "async-loop": """
        import asyncio

        async def worker(q):
            while True:
                await q.get()

        async def main(q):
            asyncio.create_task(worker(q))
    """,
    "async-wait-for": """
        import asyncio

        async def worker(q):
            while True:
                await asyncio.wait_for(q.get(), 5)
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cases_same_findings_with_and_without_screen(name: str, no_screen) -> None:
    source = textwrap.dedent(CASES[name]).lstrip()
    screened, full = _both(source, no_screen)
    assert _keys(screened) == _keys(full)
    assert screened.errors == full.errors == []
    if full.findings:
        assert screen(source) is Screen.NEEDS_CST


def test_configured_receive_calls(no_screen) -> None:
    source = textwrap.dedent(
        """
        from mylib.mail import wait_message as wm

        def loop():
            while True:
                wm()
        """
    ).lstrip()
    settings = Settings(receive_calls=("mylib.mail.wait_message",))
    screened, full = _both(source, no_screen, settings)
    assert full.findings, "the configured receive must be recognised"
    assert _keys(screened) == _keys(full)
    assert screen(source) is not Screen.NEEDS_CST  # without the setting, nothing to see
    assert screen(source, settings.receive_calls) is Screen.NEEDS_CST


@pytest.mark.parametrize("rule", VISITOR_RULES, ids=lambda r: r.code)
def test_rule_snippets(rule, no_screen) -> None:
    for snippet in (*rule.VALID, *rule.INVALID):
        screened, full = _both(snippet, no_screen)
        assert _keys(screened) == _keys(full), snippet
        if full.findings:
            assert screen(snippet) is Screen.NEEDS_CST, snippet


def _corpus_files() -> list[Path]:
    files = sorted((ROOT / "tests" / "fixtures").rglob("*.py"))
    files += sorted((ROOT / "examples").rglob("*.py"))
    return files


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_fixtures_and_examples(path: Path, no_screen) -> None:
    data = path.read_bytes()
    screened = check_source(data, str(path), Settings())
    with no_screen:
        full = check_source(data, str(path), Settings())
    assert _keys(screened) == _keys(full)


def _stdlib_sample(limit: int = 160, max_size: int = 12_000) -> list[Path]:
    """Small stdlib files that name a receive: the ones the screen must judge."""
    root = Path(sysconfig.get_paths()["stdlib"])
    picked: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__"))
        for name in sorted(files):
            path = Path(directory, name)
            if not name.endswith(".py"):
                continue
            try:
                if path.stat().st_size > max_size:
                    continue
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if any(word in text for word in (".get(", ".recv(", ".accept(", "select(")):
                picked.append(path)
    step = max(1, len(picked) // limit)
    return picked[::step][:limit]


def test_stdlib_sample_same_findings(no_screen) -> None:
    sample = _stdlib_sample()
    assert len(sample) > 50
    differ = []
    kept = 0
    for path in sample:
        data = path.read_bytes()
        screened = check_source(data, str(path), Settings())
        with no_screen:
            full = check_source(data, str(path), Settings())
        kept += screen(data.decode("utf-8")) is Screen.NEEDS_CST
        if _keys(screened) != _keys(full):
            differ.append(str(path))
    assert differ == []
    assert kept < len(sample)  # the screen does skip files


def test_switch_and_env(monkeypatch) -> None:
    source = "def f(d):\n    return d.get('k')\n"
    assert screen(source) is Screen.CLEAN
    monkeypatch.setattr(prefilter, "ENABLED", False)
    assert screen(source) is Screen.NEEDS_CST
    monkeypatch.setattr(prefilter, "ENABLED", True)
    monkeypatch.setenv("SWAPLINT_NO_PREFILTER", "1")
    assert prefilter._env_enabled() is False
    monkeypatch.setenv("SWAPLINT_NO_PREFILTER", "0")
    assert prefilter._env_enabled() is True


def test_set_enabled_reaches_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("SWAPLINT_NO_PREFILTER", raising=False)
    saved = prefilter.ENABLED
    try:
        prefilter.set_enabled(False)
        assert os.environ["SWAPLINT_NO_PREFILTER"] == "1"
        prefilter.set_enabled(True)
        assert "SWAPLINT_NO_PREFILTER" not in os.environ
    finally:
        prefilter.ENABLED = saved


def test_no_match_and_clean() -> None:
    assert screen("x = 1\n") is Screen.NO_MATCH
    assert screen("def f(d):\n    return d.get('k')\n") is Screen.CLEAN
    assert screen("def f(:\n  q.get()\n") is Screen.NEEDS_CST  # libcst words the error


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
@pytest.mark.parametrize("name", ["queue-get-in-while", "dict-get-not-a-receive"])
def test_other_newlines_same_findings(name: str, newline: str, no_screen) -> None:
    source = textwrap.dedent(CASES[name]).lstrip().replace("\n", newline)
    screened, full = _both(source, no_screen)
    assert _keys(screened) == _keys(full)
