"""Fixes on generated loops: whatever the body, `--fix --unsafe-fixes` never crashes,
every fix it applies leaves code that compiles, and it never applies a fix twice.

The loops are built from the statements real workers are made of (waits with and
without timeouts, breaks, continues, names carried across iterations, nested loops,
`try`/`with` blocks, comments, multi-line strings), in functions, methods,
generators and coroutines, as `while` and `for` loops and as recursion."""

from __future__ import annotations

import os
import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swaplint.engine import Settings, check_source
from swaplint.findings import ReloadModel
from swaplint.fixer import FixPolicy, compiles, fix_text

STATEMENTS = [
    "msg = q.get(timeout=1)",
    "msg = q.get()",
    "results.append(msg)",
    "handle(msg)",
    "if msg is None:\n    break",
    "if msg == 'skip':\n    continue",
    "count = count + 1",
    "count += 1",
    "# a comment line",
    'text = """first\n  second\nthird"""',
    "with lock:\n    results.append(count)",
    "try:\n    handle(msg)\nexcept ValueError:\n    continue",
    "for item in batch:\n    if item:\n        break\n    results.append(item)",
    "data = sock.recv(1024)",
    "buf = buf + data",
    "if ready:\n    pass\nelse:\n    results.clear()",
    "self.seen += 1",
    "log(f'{msg!r}')",
]
ASYNC_STATEMENTS = ["item = await inbox.get()", "await out.put(item)", "await asyncio.sleep(0)"]
GEN_STATEMENTS = ["yield msg"]

HEADERS = ["while True:", "while not stop.is_set():", "for msg in source:", "while self.running:"]


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(["def", "method", "generator", "async", "recursive", "runtime"]))
    pool = list(STATEMENTS)
    if kind == "async":
        pool += ASYNC_STATEMENTS
    if kind == "generator":
        pool += GEN_STATEMENTS
    body = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    if all(line.startswith("#") for line in body):
        body.append("handle(msg)")
    if kind in ("recursive", "runtime"):
        body = [s for s in body if "break" not in s and "continue" not in s] or ["handle(msg)"]
        wait = "msg = receive()" if kind == "runtime" else "msg = q.get(timeout=1)"
        tail = draw(st.sampled_from(["return loop(q, count + 1)", "loop(q, count)", "return loop(q)"]))
        inner = "\n".join([wait, *body, tail])
        head = "from swaplint.runtime import receive\n\n\n" if kind == "runtime" else ""
        return head + "def loop(q, count=0):\n" + textwrap.indent(inner, "    ") + "\n", kind
    header = draw(st.sampled_from(HEADERS))
    loop = header + "\n" + textwrap.indent("\n".join(body), "    ")
    setup = "count = 0\nbuf = b''\n"
    if kind == "method":
        fn = "def run(self, q, stop, source, sock, results):\n" + textwrap.indent(setup + loop, "    ")
        return "class Worker:\n" + textwrap.indent(fn, "    ") + "\n", kind
    prefix = "async def" if kind == "async" else "def"
    head = "import asyncio\n\n\n" if kind == "async" else ""
    fn = f"{prefix} work(q, stop, source, sock, results, inbox, out):\n" + textwrap.indent(
        setup + loop, "    "
    )
    return head + fn + "\n", kind


@settings(
    max_examples=150 * max(1, int(os.environ.get("SWAPLINT_FUZZ_EXAMPLES", "1"))),
    deadline=None,
    derandomize=not os.environ.get("SWAPLINT_FUZZ_SEED"),  # the same examples on every CI run
    database=None,  # write nothing into the repository
    suppress_health_check=[HealthCheck.too_slow],
)
@given(programs())
def test_fixes_on_generated_loops_always_compile(program: tuple[str, str]) -> None:
    source, kind = program
    assert compiles(source), source
    model = ReloadModel.RUNTIME if kind == "runtime" else ReloadModel.IMPORTLIB
    config = Settings(reload_model=model)
    fixed = fix_text(source, lambda text: check_source(text, "worker.py", config), FixPolicy(unsafe=True))
    assert compiles(fixed.text), f"{source}\n---\n{fixed.text}"
    assert not [p for p in fixed.problems if "compile" in p or "did not remove" in p], (
        source,
        fixed.problems,
    )
    left = [f for f in fixed.result.findings if f.fix is not None and f.fix.applicable]
    assert not left, (source, fixed.text, left)
