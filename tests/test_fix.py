"""Fixes: each rule's own cases, the fixer's rounds and refusals, and the CLI paths
(--fix, --unsafe-fixes, --diff, --show-fixes, --fixable/--unfixable, the settings,
--add-noqa, stdin), proven on the examples and fixtures: after fixing, every changed
file compiles and no fixable finding is left."""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swaplint.engine import Settings, check_source
from swaplint.findings import Applicability, Edit, FileResult, Finding, Fix, Severity
from swaplint.fixer import FixPolicy, add_noqa, apply_fixes, fix_text, unified_diff
from swaplint.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
CASES = [(rule.code, i, before, after) for rule in RULES for i, (before, after) in enumerate(rule.FIXES)]


def _lint(path: str):
    return lambda text: check_source(text, path, Settings())


@pytest.mark.parametrize(("code", "index", "before", "after"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_rule_fixes_its_own_cases(code, index, before, after):
    path = "counter.py" if "import counter" in before else "snippet.py"
    assert any(f.code == code for f in check_source(before, path, Settings()).findings)
    fixed = fix_text(before, _lint(path), FixPolicy(unsafe=True, fixable=frozenset({code})))
    assert fixed.text == after
    assert fixed.applied[code] >= 1 and not fixed.problems
    compile(after, path, "exec")
    assert not [f for f in fixed.result.findings if f.code == code and f.fix is not None and f.fix.applicable]


def test_every_rule_with_a_fix_carries_cases():
    with_cases = {rule.code for rule in RULES if rule.FIXES}
    assert with_cases == {"SWL001", "SWL002", "SWL003", "SWL004", "SWL005", "SWL006", "SWL100"}


def test_every_rule_documents_its_fix():
    for rule in RULES:
        if rule.FIXES:
            assert "\n## Fix\n" in rule.doc(), rule.code


# -- the fixer ----------------------------------------------------------------------------


def _finding(line: int, edits: tuple[Edit, ...], code: str = "SWL004") -> Finding:
    return Finding(
        code,
        "x",
        "m.py",
        line,
        1,
        line,
        2,
        "m",
        Severity.WARNING,
        fix=Fix("t", "", Applicability.SAFE, edits),
    )


def test_overlapping_fixes_wait_for_the_next_round():
    text = "a = 1\nb = 2\n"
    first = Fix("t", "", Applicability.SAFE, (Edit(1, 1, 1, 2, "x"),))
    second = Fix("t", "", Applicability.SAFE, (Edit(1, 1, 1, 6, "y = 3"),))
    third = Fix("t", "", Applicability.SAFE, (Edit(2, 1, 2, 2, "c"),))
    new, applied = apply_fixes(text, [first, second, third])
    assert new == "x = 1\nc = 2\n" and applied == [0, 2]


def test_a_fix_that_breaks_parsing_is_refused_and_said():
    def lint(text: str) -> FileResult:
        if text.startswith("def"):
            return FileResult("m.py", [_finding(1, (Edit(1, 1, 1, 4, "(("),))])
        return FileResult("m.py")

    fixed = fix_text("def f(): pass\n", lint, FixPolicy())
    assert fixed.text == "def f(): pass\n" and not fixed.count
    assert "would leave the file unable to compile" in fixed.problems[0]


def test_a_fix_that_does_not_remove_its_finding_is_applied_once():
    def lint(text: str) -> FileResult:  # the finding never goes: the fix keeps inserting
        return FileResult("m.py", [_finding(1, (Edit(1, 1, 1, 1, "# x\n"),))])

    fixed = fix_text("pass\n", lint, FixPolicy())
    assert fixed.text == "# x\npass\n" and fixed.count == 1
    assert "did not remove the finding" in fixed.problems[0]


def test_unsafe_fixes_need_asking_for():
    source = (
        "def audit(inbox):\n    entry = inbox.get(timeout=1.0)\n    record(entry)\n    return audit(inbox)\n"
    )
    assert fix_text(source, _lint("m.py"), FixPolicy()).count == 0
    assert fix_text(source, _lint("m.py"), FixPolicy(unsafe=True)).count == 1
    assert fix_text(source, _lint("m.py"), FixPolicy(unsafe=True, unfixable=frozenset({"SWL005"}))).count == 0


def test_fixes_that_collide_are_applied_in_rounds():
    source = (
        "from swaplint.runtime import receive\n\n\ndef server_loop(state):\n"
        "    msg = receive()\n    return server_loop(state + msg)\n"
    )
    fixed = fix_text(source, _lint("server.py"), FixPolicy(unsafe=True))
    assert fixed.applied == {"SWL002": 1, "SWL003": 1}
    assert fixed.rounds >= 2
    assert fixed.result.findings == []
    assert "import server" in fixed.text and "receive(timeout=1)" in fixed.text
    ast.parse(fixed.text)


def test_the_fix_timeout_setting_is_what_fixes_write():
    source = "def worker(jobs, stop):\n    while not stop.is_set():\n        job = jobs.get()\n        handle(job)\n"
    settings = Settings(fix_timeout=2.5)
    fixed = fix_text(source, lambda t: check_source(t, "m.py", settings), FixPolicy(unsafe=True))
    assert "jobs.get(timeout=2.5)" in fixed.text


def test_fixes_keep_crlf_line_ends_and_comments():
    source = "import threading\r\n\r\n\r\ndef worker(q):\r\n    while True:\r\n        q.get(timeout=1)\r\n\r\n\r\n"
    source += "def main(q):\r\n    threading.Thread(target=worker).start()  # keep me\r\n"
    fixed = fix_text(source, _lint("m.py"), FixPolicy())
    assert fixed.count == 1
    assert "\n" not in fixed.text.replace("\r\n", "")
    assert "# keep me" in fixed.text


def test_a_body_with_a_multiline_string_is_moved_without_changing_the_string():
    source = (
        "def worker(jobs, out):\n    while True:\n        job = jobs.get(timeout=1)\n"
        '        out.write("""header\n  indented line\nlast""" + job)\n'
    )
    fixed = fix_text(source, _lint("m.py"), FixPolicy(unsafe=True))
    assert fixed.applied == {"SWL006": 1}
    assert '"""header\n  indented line\nlast"""' in fixed.text
    ast.parse(fixed.text)


def test_loops_outside_what_a_rewrite_can_keep_exact_are_display_only():
    source = (  # two names carried from one iteration to the next: a step can return only one
        "def worker(jobs, results):\n    a = b = 0\n    while True:\n"
        "        job = jobs.get(timeout=1)\n        a, b = b, a + job\n        results.append(a)\n"
    )
    findings = check_source(source, "m.py").findings
    assert [f.code for f in findings] == ["SWL006"]
    assert findings[0].fix is not None and findings[0].fix.applicability is Applicability.DISPLAY_ONLY


def test_add_noqa_merges_into_an_existing_list_and_skips_lines_inside_strings():
    text = "x = f()  # noqa: E501\ny = 2\n"
    findings = [_finding(1, (), "SWL003"), _finding(2, (), "SWL004"), _finding(2, (), "SWL006")]
    new, count = add_noqa(text, findings)
    assert new == "x = f()  # noqa: E501, SWL003\ny = 2  # noqa: SWL004, SWL006\n" and count == 2
    inside = 'x = """a\nb"""\n'
    assert add_noqa(inside, [_finding(1, (), "SWL003")]) == (inside, 0)


def test_diff_names_both_sides_for_patch_p1():
    diff = unified_diff("a\n", "b\n", "./pkg/m.py")
    assert diff.startswith("--- a/pkg/m.py\n+++ b/pkg/m.py\n")
    assert unified_diff("a", "b", "m.py").endswith("\\ No newline at end of file\n")


# -- through the CLI ------------------------------------------------------------------------


def _swaplint(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swaplint.cli", *args],
        cwd=cwd,
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", ".swaplint_cache"))
    return dest


def _texts(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.py"))}


def test_fix_unsafe_fixes_leaves_the_examples_clean(tmp_path):
    work = _copy(ROOT / "examples", tmp_path / "ex")
    before = _texts(work)
    done = _swaplint("check", "--no-cache", "--fix", "--unsafe-fixes", "--show-fixes", ".", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All checks passed!" in done.stdout
    assert "Fixed 8 findings." in done.stderr and "2 × SWL006 (pinned-loop)" in done.stderr
    after = _texts(work)
    changed = [name for name in after if after[name] != before[name]]
    assert len(changed) == 4
    for name in changed:
        compile(after[name], name, "exec")


def test_fix_alone_applies_only_safe_fixes_and_says_what_is_left(tmp_path):
    work = _copy(ROOT / "examples", tmp_path / "ex")
    done = _swaplint("check", "--no-cache", "--fix", ".", cwd=work)
    assert done.returncode == 1
    assert "Fixed 1 finding." in done.stderr
    assert "[*] 6 more fixable with `--unsafe-fixes`." in done.stdout
    assert "WORKERS.append(" in (work / "plain" / "job_worker.py").read_text()
    assert "receive()" in (work / "idle_loop.py").read_text()  # an unsafe fix: not applied


def test_diff_writes_nothing_and_applies_cleanly(tmp_path):
    work = _copy(ROOT / "examples", tmp_path / "a")
    target = _copy(ROOT / "examples", tmp_path / "b")
    before = _texts(work)
    diff = _swaplint("check", "--no-cache", "--diff", "--unsafe-fixes", ".", cwd=work)
    assert diff.returncode == 1 and diff.stdout.startswith("--- a/")
    assert "Would fix 8 findings in 4 files." in diff.stderr
    assert _texts(work) == before
    (tmp_path / "fix.patch").write_text(diff.stdout)
    applied = subprocess.run(
        ["git", "apply", "-p1", "--unsafe-paths", str(tmp_path / "fix.patch")],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert applied.returncode == 0, applied.stderr
    _swaplint("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=work)
    assert _texts(target) == _texts(work)
    if shutil.which("patch"):
        third = _copy(ROOT / "examples", tmp_path / "c")
        with open(tmp_path / "fix.patch") as patch:
            run = subprocess.run(["patch", "-p1"], stdin=patch, cwd=third, capture_output=True, timeout=60)
        assert run.returncode == 0 and _texts(third) == _texts(work)
    clean = _swaplint("check", "--no-cache", "--diff", "--unsafe-fixes", ".", cwd=work)
    assert clean.returncode == 0 and clean.stdout == ""


def test_fixable_unfixable_and_the_settings(tmp_path):
    work = _copy(ROOT / "examples", tmp_path / "ex")
    done = _swaplint("check", "--no-cache", "--fix", "--unsafe-fixes", "--unfixable", "SWL004", ".", cwd=work)
    assert "WORKERS" not in (work / "plain" / "job_worker.py").read_text()
    assert "receive(timeout=1)" in (work / "idle_loop.py").read_text()
    assert done.returncode == 1  # the SWL004 findings are left
    other = _copy(ROOT / "examples", tmp_path / "ex2")
    (other / "pyproject.toml").write_text(
        '[tool.swaplint]\nfix = true\nunsafe-fixes = true\nfixable = ["SWL003"]\nfix-timeout = 3\n'
    )
    _swaplint("check", "--no-cache", ".", cwd=other)
    assert "receive(timeout=3)" in (other / "idle_loop.py").read_text()
    assert "WORKERS" not in (other / "plain" / "job_worker.py").read_text()
    (other / "pyproject.toml").write_text("[tool.swaplint]\nfix = 1\n")
    bad = _swaplint("check", "--no-cache", ".", cwd=other)
    assert bad.returncode == 2 and "'tool.swaplint.fix' must be a boolean" in bad.stderr
    unknown = _swaplint("check", "--no-cache", "--fix", "--fixable", "SWL042", ".", cwd=other)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_add_noqa_adopts_a_codebase_in_one_step(tmp_path):
    work = _copy(ROOT / "examples", tmp_path / "ex")
    done = _swaplint("check", "--no-cache", "--add-noqa", ".", cwd=work)
    assert done.returncode == 0 and "Added 7 noqa directives." in done.stderr
    again = _swaplint("check", "--no-cache", ".", cwd=work)
    assert again.returncode == 0 and "All checks passed!" in again.stdout
    assert "Added 0 noqa directives." in _swaplint("check", "--no-cache", "--add-noqa", ".", cwd=work).stderr
    clash = _swaplint("check", "--add-noqa", "--fix", ".", cwd=work)
    assert clash.returncode == 2 and "cannot be combined" in clash.stderr


def test_stdin_fix_prints_the_fixed_source(tmp_path):
    source = (ROOT / "examples" / "plain" / "job_worker.py").read_bytes()
    done = _swaplint(
        "check",
        "--fix",
        "--unsafe-fixes",
        "--stdin-filename",
        "job_worker.py",
        "-",
        cwd=tmp_path,
        stdin=source,
    )
    assert done.returncode == 0, done.stderr
    assert "def worker_step(jobs):" in done.stdout
    compile(done.stdout, "job_worker.py", "exec")


def test_json_and_sarif_carry_the_edits(tmp_path):
    work = _copy(ROOT / "examples", tmp_path / "ex")
    data = json.loads(_swaplint("check", "--no-cache", "--format", "json", ".", cwd=work).stdout)
    fixes = [f["fix"] for f in data if f["fix"].get("edits")]
    assert {f["applicability"] for f in fixes} == {"safe", "unsafe"}
    sarif = json.loads(_swaplint("check", "--no-cache", "--format", "sarif", ".", cwd=work).stdout)
    results = sarif["runs"][0]["results"]
    with_fixes = [r for r in results if r.get("fixes")]
    assert len(with_fixes) == len(fixes)
    replacement = with_fixes[0]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert set(replacement) == {"deletedRegion", "insertedContent"}


def test_fixing_the_fixtures_leaves_no_fixable_finding_and_valid_python(tmp_path):
    work = _copy(ROOT / "tests" / "fixtures", tmp_path / "fx")
    before = _texts(work)
    old = json.loads(
        _swaplint("check", "--no-cache", "--format", "json", "--exit-zero", ".", cwd=work).stdout
    )
    fixed = _swaplint(
        "check", "--no-cache", "--fix", "--unsafe-fixes", "--format", "json", "--exit-zero", ".", cwd=work
    )
    assert "Traceback" not in fixed.stderr
    left = json.loads(fixed.stdout)
    assert not [f for f in left if f.get("fix", {}).get("edits")]
    assert len(left) < len(old) / 2
    after = _texts(work)
    for name in after:
        if after[name] != before[name]:
            compile(after[name], name, "exec")
    # What is left was there before (by rule and function); or is the loop a fix wrote
    # (a recursion turned into a `while` that the step rewrite cannot take); or is the
    # wait an SWL006 finding named, now in the step function the fix made (SWL003).
    was = {(f["path"], f["code"], f.get("function")) for f in old}
    for finding in left:
        key = (finding["path"], finding["code"], finding.get("function"))
        moved = finding["code"] == "SWL003" and (finding.get("function") or "").endswith("_step")
        assert key in was or finding["code"] == "SWL006" or moved, finding


@pytest.mark.slow
def test_verification_turns_from_confirmed_to_not_reproduced(tmp_path):
    """Run every example's findings before the fix and against the fixed code."""
    from swaplint.engine import check_file
    from swaplint.verify import verify_results

    original = _copy(ROOT / "examples", tmp_path / "original")
    work = _copy(ROOT / "examples", tmp_path / "ex")
    findings = {}
    for path in sorted(original.rglob("*.py")):
        rel = path.relative_to(original).as_posix()
        result = check_file(path, display_path=rel)
        if result.findings:
            findings[rel] = result
    _swaplint("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=work)
    statuses = []
    for rel, result in findings.items():
        before = verify_results(
            [result], {rel: (original / rel).read_bytes()}, disk_paths={rel: str(original / rel)}
        )[0].findings
        after = verify_results([result], {rel: (work / rel).read_bytes()}, disk_paths={rel: str(work / rel)})[
            0
        ].findings
        for old, new in zip(before, after, strict=True):
            assert old.verification is not None and new.verification is not None
            statuses.append((rel, old.code, old.verification.status.value, new.verification.status.value))
    assert len(statuses) == 7
    assert all(s[2:] == ("confirmed", "not reproduced") for s in statuses), statuses


def test_two_fixes_that_would_define_the_same_function_are_applied_one_at_a_time():
    def lint(text: str) -> FileResult:
        if "def step" in text:
            return FileResult("m.py")
        first = Edit(2, 1, 2, 1, "def step():\n    pass\n")
        second = Edit(3, 1, 3, 1, "def step():\n    pass\n")
        return FileResult("m.py", [_finding(1, (first,), "SWL006"), _finding(2, (second,), "SWL006")])

    fixed = fix_text("x = 1\ny = 2\n", lint, FixPolicy())
    assert fixed.text.count("def step") == 1


@pytest.mark.slow
def test_runtime_fixes_stop_the_kills_the_verifier_saw(tmp_path):
    """The `--verify` fixtures (runtime): a finding the fixes removed was confirmed (or not
    reproduced) before, and is not reproduced from the fixed code."""
    from swaplint.engine import check_file
    from swaplint.verify import verify_results

    original = _copy(ROOT / "tests" / "fixtures" / "verify", tmp_path / "original")
    work = _copy(ROOT / "tests" / "fixtures" / "verify", tmp_path / "fixed")
    _swaplint("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=work)
    seen = []
    for path in sorted(original.rglob("*.py")):
        rel = path.relative_to(original).as_posix()
        result = check_file(path, display_path=rel)
        left = {(f.code, f.function) for f in check_file(work / rel, display_path=rel).findings}
        gone = [f for f in result.findings if (f.code, f.function) not in left]
        if not gone:
            continue
        result = dataclasses.replace(result, findings=gone)
        after = verify_results([result], {rel: (work / rel).read_bytes()}, disk_paths={rel: str(work / rel)})
        for finding in after[0].findings:
            assert finding.verification is not None
            seen.append((rel, finding.code, finding.verification.status.value))
    codes = {code for _, code, _ in seen}
    assert {"SWL002", "SWL003", "SWL004", "SWL005"} <= codes, seen
    assert all(status == "not reproduced" for _, _, status in seen), seen
