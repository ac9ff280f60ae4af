"""The engine and the rules' own snippets, through the public engine API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swaplint.engine import Settings, check_file, check_source, module_name, suppressed_codes
from swaplint.rules import MODEL_RULES, RULES, get_rule
from swaplint.rules.missing_after import MissingAfter

SNIPPETS = [
    (rule, kind, source)
    for rule in MODEL_RULES
    for kind, sources in (("valid", rule.VALID), ("invalid", rule.INVALID))
    for source in sources
]


@pytest.mark.parametrize(
    ("rule", "kind", "source"),
    SNIPPETS,
    ids=[f"{r.code}-{k}-{i}" for i, (r, k, _) in enumerate(SNIPPETS)],
)
def test_rule_snippets(rule, kind, source):
    result = check_source(source, "m.py")
    assert result.errors == []
    codes = [f.code for f in result.findings]
    if kind == "valid":
        assert rule.code not in codes
    else:
        assert rule.code in codes


@pytest.mark.parametrize("rule", MODEL_RULES, ids=[r.code for r in MODEL_RULES])
def test_every_rule_has_snippets_of_both_kinds(rule):
    assert rule.VALID and rule.INVALID


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_rule_docs_follow_the_house_style(rule):
    doc = rule.doc()
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert heading in doc, f"{rule.code} docs lack {heading!r}"
    assert rule.summary() and not rule.summary().startswith("#")
    assert get_rule(rule.code.lower()) is rule


def test_finding_fields_are_one_based_and_cover_the_span():
    source = (
        "class W:\n    def run(self):\n        while True:\n            self.handle(self.q.get(timeout=1))\n"
    )
    (finding,) = check_source(source, "w.py").findings
    data = finding.to_dict()
    assert {k: data[k] for k in ("code", "name", "path", "line", "column", "end_line", "end_column")} == {
        "code": "SWL006",
        "name": "pinned-loop",
        "path": "w.py",
        "line": 3,
        "column": 9,
        "end_line": 3,
        "end_column": 14,  # exclusive: the `while` keyword
    }
    assert data["function"] == "W.run" and data["reload_model"] == "importlib"
    assert data["related"] == [{"line": 4, "column": 25, "message": "waits here: `self.q.get()`"}]
    assert data["fix"]["snippet"] == "while True:\n    w_run_step(self)"
    assert "`run`" in finding.message and "reload" in finding.message
    assert "purge" not in finding.message + finding.help and "killed" not in finding.message + finding.help


def test_messages_name_the_function_and_the_fix():
    source = "from swaplint.runtime import receive\n\ndef server_loop(s):\n    msg = receive(timeout=1)\n    return server_loop(s + msg)\n"
    (finding,) = check_source(source, "counter.py").findings
    assert finding.code == "SWL002"
    assert (
        finding.message == "`server_loop` re-enters itself only by local calls: it never leaves its version"
    )
    assert finding.help is not None and "`counter.server_loop(...)` on the upgrade path" in finding.help
    assert finding.fix is not None and finding.fix.snippet == "return counter.server_loop(s)"
    assert (finding.line, finding.column, finding.end_column) == (3, 5, 16)


@pytest.mark.parametrize(
    ("call", "no_timeout"),
    [
        ("bus.recv(self.timeout)", False),  # python-can: the timeout comes first
        ("bus.recv(timeout=self.timeout)", False),
        ("sock.recv(4096)", True),  # a buffer size, not a timeout
        ("sock.recv(self.chunk_size)", True),
    ],
)
def test_an_argument_named_for_a_timeout_is_one(call, no_timeout):
    """The message says "with no timeout" only when the wait has none."""
    source = (
        "class Rx:\n    def run(self, bus, sock):\n        while not self._stopped:\n"
        f"            msg = {call}\n            self.handle(msg)\n"
    )
    (finding,) = [f for f in check_source(source, "rx.py").findings if f.code == "SWL006"]
    assert finding.message.endswith("with no timeout") is no_timeout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x = 1", None),
        ("x = 1  # a comment", None),
        ("x = 1  # noqa", frozenset()),
        ("x = 1  # NOQA", frozenset()),
        ("x = 1  # noqa: SWL001", frozenset({"SWL001"})),
        ("x = 1  # noqa: SWL001, swl003", frozenset({"SWL001", "SWL003"})),
        ("x = 1  # noqa:SWL001,SWL003", frozenset({"SWL001", "SWL003"})),
        ("x = 1  # swaplint: ignore[SWL001,SWL003]", frozenset({"SWL001", "SWL003"})),
        ("x = 1  # swaplint: ignore[SWL003]  # noqa: E501", frozenset({"SWL003", "E501"})),
    ],
)
def test_suppression_comments(line, expected):
    assert suppressed_codes(line) == expected


def test_module_name_walks_up_packages(tmp_path):
    pkg = tmp_path / "app" / "workers"
    pkg.mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "pool.py").write_text("")
    assert module_name(pkg / "pool.py") == "app.workers.pool"
    assert module_name(pkg / "__init__.py") == "app.workers"
    (tmp_path / "script.py").write_text("")
    assert module_name(tmp_path / "script.py") == "script"


def test_module_name_from_src_roots(tmp_path):
    (tmp_path / "src" / "app").mkdir(parents=True)
    path = tmp_path / "src" / "app" / "loop.py"
    path.write_text("")
    # No __init__.py (a namespace package): only `src` tells the name.
    assert module_name(path) == "loop"
    assert module_name(path, [tmp_path / "src"]) == "app.loop"
    assert module_name(path, [tmp_path / "elsewhere", tmp_path / "src"]) == "app.loop"


def test_module_handles_follow_src(tmp_path):
    (tmp_path / "src" / "app").mkdir(parents=True)
    path = tmp_path / "src" / "app" / "loop.py"
    path.write_text(
        "import app.loop\nfrom swaplint.runtime import receive\n\n"
        "def run(s):\n    msg = receive(timeout=1)\n    if msg == 'tick':\n        return run(s)\n"
        "    return app.loop.run(s + msg)\n"
    )
    assert check_file(path, Settings(src=(str(tmp_path / "src"),))).findings == []
    assert [f.code for f in check_file(path).findings] == ["SWL002"]


def test_non_utf8_file_is_one_finding(tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes(b"x = '\xe9t\xe9'\n")
    result = check_file(path)
    (finding,) = result.findings
    assert (finding.code, finding.line, finding.column) == ("SWL999", 1, 1)
    assert finding.message.startswith("cannot decode file:")


def test_declared_encoding_and_bom_are_honoured(tmp_path):
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\nx = '\xe9t\xe9'\n")
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef worker(q):\n    while True:\n        q.get()\n")
    assert check_file(latin).findings == []
    assert [(f.code, f.line, f.column) for f in check_file(bom).findings] == [("SWL003", 3, 9)]


def test_unreadable_path_is_one_finding_not_an_exception(tmp_path):
    result = check_file(tmp_path / "missing.py")
    (finding,) = result.findings
    assert finding.code == "SWL999" and finding.message.startswith("cannot read file:")
    directory = tmp_path / "dir.py"
    directory.mkdir()
    assert check_file(directory).findings[0].code == "SWL999"


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads anything")
def test_permission_denied_is_one_finding(tmp_path):
    path = tmp_path / "secret.py"
    path.write_text("x = 1\n")
    path.chmod(0)
    assert check_file(path).findings[0].message == "cannot read file: Permission denied"


def test_syntax_error_does_not_hide_nothing_else(tmp_path):
    result = check_source("def f(:\n    pass\n", "bad.py")
    (finding,) = result.findings
    assert finding.code == "SWL999" and finding.line == 1
    assert finding.message.startswith("syntax error:")


def test_disabled_rules_are_not_reported():
    source = "class W:\n    def loop(self):\n        self.q.get()\n        return self.loop()\n"
    assert [f.code for f in check_source(source, "w.py").findings] == ["SWL003", "SWL002", "SWL005"]
    only = Settings(enabled=frozenset({"SWL003"}))
    assert [f.code for f in check_source(source, "w.py", only).findings] == ["SWL003"]
    assert check_source("def f(:\n", "x.py", Settings(enabled=frozenset({"SWL003"}))).findings == []


def test_receive_calls_setting_adds_receives():
    source = (
        "import mq\n\ndef consume(chan):\n    while True:\n        mq.wait(chan)\n"
        "        chan.pull(timeout=3)\n"
    )
    # An endless loop is a loop site even when its wait is unknown: pinned, no wait named.
    (finding,) = check_source(source, "c.py").findings
    assert finding.code == "SWL006" and "waits in" not in finding.message
    settings = Settings(receive_calls=("mq.wait", "chan.pull"))
    got = [(f.code, f.line) for f in check_source(source, "c.py", settings).findings]
    assert got == [("SWL003", 5)]  # a driver: it calls by name, but waits forever in mq.wait


def test_receive_calls_resolve_through_imports():
    source = "from mq import wait as w\n\ndef consume(chan):\n    while True:\n        w(chan)\n"
    settings = Settings(receive_calls=("mq.wait",))
    assert [f.code for f in check_source(source, "c.py", settings).findings] == ["SWL003"]


def test_spawn_calls_setting_adds_spawns():
    source = (
        "import pool\n\ndef worker(q):\n    while True:\n        q.get(timeout=1)\n"
        "        q.task_done()\n\n"
        "def main(q):\n    pool.go(worker, q)\n    gevent.spawn(worker, q)\n"
    )
    assert [f.code for f in check_source(source, "c.py").findings] == ["SWL006"]
    settings = Settings(spawn_calls=("pool.go", "gevent.spawn"))
    got = [(f.code, f.line) for f in check_source(source, "c.py", settings).findings]
    assert got == [("SWL006", 4), ("SWL004", 9), ("SWL004", 10)]


def test_a_crashing_rule_is_reported_and_the_others_still_run(monkeypatch):
    def check(self, model):
        raise RuntimeError("rule bug")

    monkeypatch.setattr(MissingAfter, "check", check)
    source = "class W:\n    def loop(self):\n        self.q.get()\n        return self.loop()\n"
    result = check_source(source, "w.py")
    assert [f.code for f in result.findings] == ["SWL002", "SWL005"]
    (error,) = result.errors
    assert (error.code, error.path, error.error) == ("SWL003", "w.py", "RuntimeError: rule bug")


def test_an_engine_crash_is_a_rule_error(monkeypatch):
    import swaplint.model

    def boom(*args, **kwargs):
        raise ValueError("model bug")

    monkeypatch.setattr(swaplint.model, "build_model", boom)
    result = check_source("def worker(q):\n    while True:\n        q.get()\n", "w.py")
    assert result.findings == []
    assert [(e.code, e.error) for e in result.errors] == [("engine", "ValueError: model bug")]


def test_recursion_cycles_do_not_overflow_on_deep_chains():
    # A long chain of functions calling each other, closed into one big cycle.
    n = 3000
    lines = ["from swaplint.runtime import receive"]
    for i in range(n):
        lines.append(f"def f{i}(s):\n    return f{(i + 1) % n}(s)")
    lines.append("def f_recv(s):\n    return receive(timeout=1)")
    lines[1] = "def f0(s):\n    receive(timeout=1)\n    return f1(s)"
    result = check_source("\n".join(lines) + "\n", "chain.py")
    assert [f.code for f in result.findings] == ["SWL002"]


def test_findings_are_sorted_and_unique(tmp_path):
    path = Path(__file__).parent / "fixtures" / "missing_after.py"
    findings = check_file(path).findings
    keys = [f.sort_key() for f in findings]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


TRICKY = (
    "# header comment\n\n#!second\n"
    "import m; from swaplint.runtime import receive\n"
    "x = 1; y = '''a\nb\x0cc'''\n\x0c\n"
    "@decorator\n@other(\n    1)\n"
    "def loop(s):\n    é = receive()\n    return loop(s)\n\n"
    "class C:\n    # comment\n    def run(self):\n        while True:\n            é = self.q.get()  # noqa: SWL999\n"
)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_positions_are_exact_whatever_the_line_ends(newline):
    """Lines as Python numbers them (a form feed ends no line); columns in characters."""
    source = TRICKY.replace("\n", newline)
    got = [
        (f.code, f.line, f.column, f.end_line, f.end_column) for f in check_source(source, "m.py").findings
    ]
    assert got == [
        ("SWL002", 11, 5, 11, 9),  # the name of `def loop`
        ("SWL003", 12, 9, 12, 18),  # columns count characters, not UTF-8 bytes
        ("SWL006", 18, 9, 18, 14),  # the `while` keyword
        ("SWL100", 19, 31, 19, 45),  # `# noqa: SWL999` hides nothing (after a multi-byte name)
    ]


def test_noqa_applies_to_the_line_python_numbers_after_a_form_feed():
    source = "x = 1\x0c\ndef worker(q):\n    while True:\n        q.get()  # noqa: SWL003\n"
    assert check_source(source, "w.py").findings == []
    assert [f.line for f in check_source(source.replace("  # noqa: SWL003", ""), "w.py").findings] == [4]


def test_a_file_level_suppression_silences_the_whole_file():
    source = "def worker(q):\n    while True:\n        q.get()\n"
    assert check_source("# swaplint: noqa\n" + source, "w.py").findings == []
    assert check_source("# swaplint: noqa: SWL006\n" + source, "w.py").findings != []
    assert check_source("# swaplint: noqa: SWL003\n" + source, "w.py").findings == []
