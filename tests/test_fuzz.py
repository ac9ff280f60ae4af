"""Fuzzing the engine: generated and mutated sources never crash it.

"Crash" means an exception out of :func:`swaplint.engine.check_source` or a
:class:`~swaplint.findings.RuleError` in its result; a syntax error must come back
as an SWL999 finding. Three sources of input:

* hypothesmith's grammar-based generator (syntactically plausible Python);
* mutations of real files (the rule fixtures, the examples and a few small
  standard-library modules): slices deleted, duplicated or moved, tokens and odd
  characters (form feeds, lone ``\\r``, tabs, NULs, unbalanced brackets, ``receive()``
  loops) inserted;
* raw bytes, with and without an encoding cookie or a BOM.

Each runs a bounded number of examples (a few seconds each; the whole module
well under 30 s). ``SWAPLINT_FUZZ_EXAMPLES`` raises the count for a longer run, and
``SWAPLINT_FUZZ_SEED`` replays a run (hypothesis prints the failing example).

Deep nesting (hundreds of brackets) can overflow the C stack inside libcst's
native parser and kill the process; the engine's guard for that (issue 12, item 1)
is tested on its own, so inputs nested deeper than :data:`MAX_DEPTH` are skipped
here rather than risk taking the test run down.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st

from swaplint.engine import Settings, check_source
from swaplint.runner import Task, _check_data

# Hypothesis's cache goes to a temporary folder (tests/conftest.py), not the repository.
hypothesmith = pytest.importorskip("hypothesmith")

# `ast.parse` warns about odd-but-valid code ("'list' object is not callable"): not a crash.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

ROOT = Path(__file__).resolve().parents[1]
SCALE = max(1, int(os.environ.get("SWAPLINT_FUZZ_EXAMPLES", "1")))
SEED = os.environ.get("SWAPLINT_FUZZ_SEED")
MAX_DEPTH = 60
SETTINGS = Settings()

FUZZ = settings(
    deadline=None,
    derandomize=SEED is None,  # the same examples on every CI run unless asked otherwise
    database=None,  # write nothing into the repository
    suppress_health_check=list(HealthCheck),
)


def _seeded(test):  # type: ignore[no-untyped-def]
    return seed(int(SEED))(test) if SEED is not None else test


def _corpus() -> list[str]:
    files = sorted((ROOT / "tests" / "fixtures").rglob("*.py")) + sorted((ROOT / "examples").glob("*.py"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("bisect.py", "colorsys.py", "keyword.py", "sched.py", "queue.py", "this.py"):
        if (stdlib / name).is_file():
            files.append(stdlib / name)
    return [f.read_text(encoding="utf-8", errors="replace") for f in files]


CORPUS = _corpus()

TOKENS = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    ".",
    "=",
    "\n",
    "\r",
    "\r\n",
    "\x0c",
    "\t",
    "    ",
    "\\\n",
    "\x00",
    "'",
    '"',
    '"""',
    "#",
    "# noqa",
    "# noqa: SWL003",
    "\ufeff",
    "\u2028",
    "é",
    "😀",
    "\x1b[31m",
    "def ",
    "async def ",
    "await ",
    "class ",
    "return ",
    "yield ",
    "lambda: ",
    "while True:\n",
    "for x in y:\n",
    "try:\n",
    "except Exception:\n",
    "finally:\n",
    "with x:\n",
    "match msg:\n",
    "case _:\n",
    "if msg == 'switch_code':\n",
    "receive()",
    "msg = receive()\n",
    "receive(timeout=1)",
    "spawn(loop)",
    "return loop(s)\n",
    "return mod.loop(s)\n",
    "q.get()",
    "from swaplint.runtime import receive\n",
    "import swaplint.runtime\n",
    "global x\n",
    "nonlocal x\n",
    "*",
    "**",
    "@decorator\n",
    ":=",
    "->",
    "f'{x}'",
    "0x",
    "1e",
    "del ",
    "pass\n",
    "...",
]


def _depth(source: str) -> int:
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth = max(depth - 1, 0)
    return deepest


def _check(source: str | bytes) -> None:
    text = source if isinstance(source, str) else source.decode("latin-1")
    assume(_depth(text) <= MAX_DEPTH)  # see the module docstring
    result = check_source(source, "fuzz.py", SETTINGS)
    assert result.errors == [], result.errors
    for finding in result.findings:
        assert finding.line >= 1 and finding.column >= 1
    # The runner's path: the prefilter first, the engine only when it must.
    data = source if isinstance(source, bytes) else source.encode("utf-8", errors="surrogatepass")
    screened = _check_data(data, Task("fuzz.py", "fuzz.py", SETTINGS), "fuzz")
    assert screened.errors == [], screened.errors


@st.composite
def mutated(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 6))):
        n = len(source)
        start = draw(st.integers(0, n))
        end = draw(st.integers(start, min(n, start + 400)))
        operation = draw(st.sampled_from(["delete", "duplicate", "move", "insert", "insert", "replace"]))
        if operation == "delete":
            source = source[:start] + source[end:]
        elif operation == "duplicate":
            source = source[:end] + source[start:end] + source[end:]
        elif operation == "move":
            piece, rest = source[start:end], source[:start] + source[end:]
            at = draw(st.integers(0, len(rest)))
            source = rest[:at] + piece + rest[at:]
        else:
            inserted = "".join(draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8)))
            source = source[:start] + inserted + source[end if operation == "replace" else start :]
    return source


@settings(FUZZ, max_examples=120 * SCALE)
@_seeded
@given(mutated())
def test_mutated_real_files_never_crash(source: str) -> None:
    _check(source)


@settings(FUZZ, max_examples=30 * SCALE)
@_seeded
@given(hypothesmith.from_grammar())
def test_generated_sources_never_crash(source: str) -> None:
    _check(source)


COOKIES = [
    b"",
    b"# -*- coding: latin-1 -*-\n",
    b"# coding: bogus-codec\n",
    b"\xef\xbb\xbf",
    b"\xef\xbb\xbf# coding: latin-1\n",
]


@settings(FUZZ, max_examples=100 * SCALE)
@_seeded
@given(st.sampled_from(COOKIES), st.binary(max_size=300), st.sampled_from(CORPUS))
def test_raw_bytes_never_crash(cookie: bytes, noise: bytes, base: str) -> None:
    _check(cookie + noise)
    _check(cookie + base.encode("utf-8")[:500] + noise)


def test_the_corpus_is_real() -> None:
    assert len(CORPUS) >= 10
    assert any("receive(" in source for source in CORPUS)
