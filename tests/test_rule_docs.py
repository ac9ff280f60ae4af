"""Each rule's documented examples are executed: the "Example" blocks give the rule's
finding, the "Use instead" blocks give no finding at all. And every fix snippet the
rules generate is valid Python in the flagged function's context."""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

import pytest

from swaplint.engine import check_file, check_source
from swaplint.findings import Finding
from swaplint.rules import MODEL_RULES, RULES

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _section(doc: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", doc, re.DOTALL | re.MULTILINE)
    assert match, heading
    return match.group(1)


def _blocks(rule, heading):
    return _BLOCK.findall(_section(rule.doc(), heading))


CASES = [
    (rule, kind, i, block)
    for rule in MODEL_RULES
    for kind in ("Example", "Use instead")
    for i, block in enumerate(_blocks(rule, kind))
]


@pytest.mark.parametrize(
    ("rule", "kind", "index", "block"), CASES, ids=[f"{r.code}-{k}-{i}" for r, k, i, _ in CASES]
)
def test_documented_examples(rule, kind, index, block):
    # A runtime example re-enters through its own module (`import counter`): name it so.
    own = [m for m in re.findall(r"^import (\w+)$", block, re.MULTILINE) if m not in sys.stdlib_module_names]
    result = check_source(block, "example.py", module=own[0] if own else "example")
    assert result.errors == []
    codes = [f.code for f in result.findings]
    if kind == "Example":
        assert codes.count(rule.code) == 1, codes
    else:
        assert codes == [], [f.message for f in result.findings]


@pytest.mark.parametrize("rule", MODEL_RULES, ids=[r.code for r in MODEL_RULES])
def test_docs_show_both_reload_models(rule):
    doc = rule.doc()
    assert "importlib" in doc and "runtime" in doc
    examples = _blocks(rule, "Example")
    assert any("swaplint.runtime" in b for b in examples) or rule.code in ("SWL004", "SWL100")
    assert any("swaplint.runtime" not in b for b in examples)


def _all_findings() -> list[Finding]:
    findings: list[Finding] = []
    for path in sorted([*(ROOT / "tests" / "fixtures").rglob("*.py"), *(ROOT / "examples").glob("*.py")]):
        findings += check_file(path).findings
    for rule in RULES:
        for block in [*rule.INVALID, *_BLOCK.findall(rule.doc())]:
            findings += check_source(block, "snippet.py").findings
    return findings


def test_every_fix_snippet_parses_in_its_context():
    checked = 0
    for finding in _all_findings():
        if finding.fix is None or finding.code == "SWL100":  # SWL100's snippet is a comment
            continue
        snippet = finding.fix.snippet
        is_async = "await " in snippet or "async for" in snippet
        wrapper = "async def _context(self):\n" if is_async else "def _context(self):\n"
        try:  # compile, not just parse: `yield from` in an `async def` is a compile-time error
            compile(wrapper + textwrap.indent(snippet, "    "), "<snippet>", "exec")
        except SyntaxError as exc:
            raise AssertionError(
                f"{finding.path}:{finding.line} {finding.code}: {snippet!r}: {exc}"
            ) from None
        checked += 1
    assert checked > 20


def test_snippets_respect_async_generators_and_static_methods():
    source = textwrap.dedent(
        """
        class C:
            @staticmethod
            def pump(q):
                while True:
                    item = q.get()
                    if item.urgent:
                        go(item)

            async def agen(self):
                while True:
                    item = await self.q.get()
                    yield self.transform(item)
        """
    )
    fixes = {f.function: f.fix.snippet for f in check_source(source, "c.py").findings if f.fix}
    assert fixes["C.pump"] == "while True:\n    c_pump_step(q)"
    assert fixes["C.agen"] == "while True:\n    async for item in c_agen_step(self): yield item"
    ast.parse("async def f(self):\n" + textwrap.indent(fixes["C.agen"], "    "))


def test_a_snippet_passes_the_loop_target_before_kwargs():
    source = textwrap.dedent(
        """
        from itertools import count

        class Consumer:
            def consume(self, limit=None, **kwargs):
                for i in count():
                    self.conn.drain_events()
                    self.tick(i)
        """
    )
    (finding,) = [f for f in check_source(source, "c.py").findings if f.code == "SWL006"]
    assert finding.fix is not None
    assert finding.fix.snippet == "for i in count():\n    consumer_consume_step(self, limit, i, **kwargs)"
    ast.parse("def f(self):\n" + textwrap.indent(finding.fix.snippet, "    "))
