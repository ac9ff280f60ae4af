"""The ``swaplint`` command line, driven through the real click entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import swaplint
from swaplint.rules import RULES
from swaplint.rules.tail_in_try import TailInTry
from tests.conftest import CLEAN, FLAGGED, SWAPLINT, subprocess_env


def codes(result) -> list[tuple[str, str, int]]:
    return [(f["path"], f["code"], f["line"]) for f in json.loads(result.stdout)]


# -- basics and exit codes ---------------------------------------------------------------


def test_flagged_file_gives_findings_and_exit_1(project, write, run):
    write("server.py", FLAGGED)
    result = run("check", "server.py")
    assert result.exit_code == 1
    assert "SWL002" in result.stdout and "SWL003" in result.stdout
    assert "Found 2 findings in 1 file (1 error, 1 warning)" in result.stdout


def test_clean_file_exit_0(project, write, run):
    write("counter.py", CLEAN)
    result = run("check", "counter.py")
    assert result.exit_code == 0, result.output
    assert "All checks passed!" in result.stdout


def test_default_path_is_cwd_and_walks_py_and_pyi(project, write, run):
    write("a.py", FLAGGED)
    write("pkg/b.pyi", FLAGGED)
    write("notes.txt", FLAGGED)
    result = run("check", "--format", "json")
    assert result.exit_code == 1
    assert {p for p, _, _ in codes(result)} == {"a.py", os.path.join("pkg", "b.pyi")}


def test_a_file_named_twice_is_checked_once(project, write, run):
    # Named twice, named again inside a named directory, named by another spelling:
    # one file, one set of findings (as a pre-commit run that passes every file expects).
    write("pkg/server.py", FLAGGED)
    write("pkg/clean.py", CLEAN)
    result = run("check", "--format", "json", "pkg/server.py", "pkg/server.py", "pkg", "./pkg/server.py")
    assert result.exit_code == 1
    assert sorted(codes(result)) == sorted(set(codes(result)))
    assert {p for p, _, _ in codes(result)} == {os.path.join("pkg", "server.py")}
    assert len(codes(result)) == 2


def test_a_test_function_is_no_long_lived_loop(project, write, run):
    # pytest runs a test to its end once: its loops and library loops are not upgraded in
    # place. A loop a test module defines for a thread is still one.
    body = (
        "import asyncio\nimport queue\n\n\n"
        "def test_serves(app):\n    app.run_forever()\n\n\n"
        "def test_drains(q):\n    async def consumer():\n        while True:\n            await q.get()\n\n\n"
        "def worker(q):\n    while True:\n        q.get()\n"
    )
    write("tests/test_app.py", body)
    write("app.py", body)
    result = run("check", "--format", "json", ".")
    found = codes(result)
    in_app = sorted({line for p, _, line in found if p == "app.py"})
    in_tests = sorted({line for p, _, line in found if p != "app.py"})
    assert in_app == [6, 12, 17]  # the same code outside a test module: each loop reported
    assert in_tests == [17]  # in the test module: only `worker`


def test_exit_zero(project, write, run):
    write("server.py", FLAGGED)
    result = run("check", "--exit-zero", "server.py")
    assert result.exit_code == 0
    assert "SWL002" in result.stdout


def test_version(project, run):
    for args in (["--version"], ["check", "--version"]):
        result = run(*args)
        assert result.exit_code == 0
        assert result.stdout.strip() == f"swaplint {swaplint.__version__}"


def test_python_dash_m_swaplint_is_the_command(project, write):
    write("server.py", FLAGGED)
    result = subprocess.run(
        [sys.executable, "-m", "swaplint", "check", "--no-cache", "--format", "concise", "server.py"],
        cwd=project,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "server.py:" in result.stdout and "SWL00" in result.stdout


# -- rule selection -----------------------------------------------------------------------


def test_select_by_code_and_prefix(project, write, run):
    write("server.py", FLAGGED)
    only3 = run("check", "--select", "SWL003", "--format", "json", "server.py")
    assert [c for _, c, _ in codes(only3)] == ["SWL003"]
    prefix = run("check", "--select", "swl00", "--format", "json", "server.py")
    assert [c for _, c, _ in codes(prefix)] == ["SWL002", "SWL003"]
    comma = run("check", "--select", "SWL001,SWL002", "--format", "json", "server.py")
    assert [c for _, c, _ in codes(comma)] == ["SWL002"]


def test_ignore_and_extend_select(project, write, run):
    write("server.py", FLAGGED)
    ignored = run("check", "--ignore", "SWL002", "--format", "json", "server.py")
    assert [c for _, c, _ in codes(ignored)] == ["SWL003"]
    extended = run(
        "check", "--select", "SWL001", "--extend-select", "SWL003", "--format", "json", "server.py"
    )
    assert [c for _, c, _ in codes(extended)] == ["SWL003"]
    nothing = run("check", "--ignore", "SWL", "server.py")
    assert nothing.exit_code == 0


def test_syntax_errors_are_reported_whatever_is_selected_unless_ignored(project, write, run):
    write("bad.py", "def f(:\n")
    for args in (["--select", "SWL00"], ["--select", "SWL003"]):
        result = run("check", *args, "--format", "json", "bad.py")
        assert [c for _, c, _ in codes(result)] == ["SWL999"], args
    ignored = run("check", "--ignore", "SWL999", "bad.py")
    assert ignored.exit_code == 0


@pytest.mark.parametrize("option", ["--select", "--ignore", "--extend-select"])
def test_unknown_code_is_a_one_line_usage_error(project, write, run, option):
    write("server.py", FLAGGED)
    result = run("check", option, "SWL0X", "server.py")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SWL0X" in lines[0] and option in lines[0]


def test_bad_format_is_a_usage_error(project, run):
    result = run("check", "--format", "xml")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'xml'" in result.stderr and "--format" in result.stderr


def test_unknown_option_is_a_usage_error(project, run):
    result = run("check", "--frobnicate")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swaplint: error: No such option")
    assert "--frobnicate" in lines[0]


# -- bad input never stops the run ---------------------------------------------------------


def test_unparsable_file_is_a_finding_and_others_are_checked(project, write, run):
    write("bad.py", "def f(:\n")
    write("server.py", FLAGGED)
    result = run("check", "--format", "json", ".")
    assert result.exit_code == 1
    assert codes(result) == [("bad.py", "SWL999", 1), ("server.py", "SWL002", 3), ("server.py", "SWL003", 4)]
    assert "Traceback" not in result.output


def test_undecodable_file_is_a_finding(project, run):
    (project / "latin.py").write_bytes(b"x = '\xe9'\n")
    result = run("check", "--format", "json", "latin.py")
    assert result.exit_code == 1
    assert [c for _, c, _ in codes(result)] == ["SWL999"]


def test_missing_path_is_reported_and_other_paths_checked(project, write, run):
    write("counter.py", CLEAN)
    write("server.py", FLAGGED)
    clean = run("check", "nope.py", "counter.py")
    assert clean.exit_code == 2  # nothing else explains a failure
    assert clean.stderr.strip().splitlines() == ["swaplint: error: path not found: nope.py"]
    assert "All checks passed!" not in clean.stdout  # it did not check everything it was asked to
    assert "No findings, but not everything was checked: 1 path not found" in clean.stdout
    flagged = run("check", "--format", "json", "nope.py", "server.py")
    assert flagged.exit_code == 1  # findings explain the failure
    assert "path not found: nope.py" in flagged.stderr
    assert len(codes(flagged)) == 2
    # --exit-zero silences findings, not a missing path
    assert run("check", "--exit-zero", "nope.py", "server.py").exit_code == 2


class _CrashingTailInTry(TailInTry):
    def check(self, model):
        raise RuntimeError("boom")


@pytest.fixture
def crashing_rule(monkeypatch):
    import swaplint.rules

    monkeypatch.setitem(swaplint.rules.RULES_BY_CODE, TailInTry.code, _CrashingTailInTry)


def test_rule_crash_is_reported_and_run_goes_on(project, write, run, crashing_rule):
    write("server.py", FLAGGED)
    write("other.py", FLAGGED)
    result = run("check", "--format", "json", ".")
    # The other rules still report, on both files: findings explain exit 1.
    assert result.exit_code == 1
    assert [c for _, c, _ in codes(result)] == ["SWL002", "SWL003", "SWL002", "SWL003"]
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "swaplint: error: rule SWL001 crashed on other.py: RuntimeError: boom",
        "swaplint: error: rule SWL001 crashed on server.py: RuntimeError: boom",
    ]
    assert "Traceback" not in result.output


def test_rule_crash_without_findings_exits_2(project, write, run, crashing_rule):
    write("server.py", FLAGGED)
    result = run("check", "--select", "SWL001", "server.py")
    assert result.exit_code == 2
    assert "rule SWL001 crashed on server.py" in result.stderr


def test_internal_error_is_one_line_exit_2(project, write, run, monkeypatch):
    import swaplint.cli

    def explode(*args):
        raise ValueError("kaput")

    import swaplint.check

    monkeypatch.setattr(swaplint.check, "_run_tasks", explode)
    write("server.py", FLAGGED)
    result = run("check", "server.py")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        "swaplint: error: internal error: ValueError: kaput (set SWAPLINT_DEBUG=1 for a traceback)"
    ]


# -- excludes -----------------------------------------------------------------------------


def test_default_excludes_and_gitignore(project, write, run):
    for skipped in (
        ".git/x.py",
        ".venv/x.py",
        "__pycache__/x.py",
        "build/x.py",
        "dist/x.py",
        "node_modules/x.py",
        ".tox/x.py",
        "myenv/x.py",
        "generated/x.py",
    ):
        write(skipped, FLAGGED)
    write("myenv/pyvenv.cfg", "home = /usr\n")
    write(".gitignore", "generated/\n")
    write("src/ok.py", FLAGGED)
    result = run("check", "--format", "json")
    assert {p for p, _, _ in codes(result)} == {os.path.join("src", "ok.py")}


def test_exclude_and_extend_exclude(project, write, run):
    write("a.py", FLAGGED)
    write("gen/b.py", FLAGGED)
    write("build/c.py", FLAGGED)
    ext = run("check", "--extend-exclude", "gen/", "--format", "json")
    assert {p for p, _, _ in codes(ext)} == {"a.py"}
    # --exclude replaces the defaults: build/ is walked again.
    exc = run("check", "--exclude", "a.py,gen", "--format", "json")
    assert {p for p, _, _ in codes(exc)} == {os.path.join("build", "c.py")}


def test_explicit_file_is_checked_unless_force_exclude(project, write, run):
    write("gen/b.py", FLAGGED)
    write("build/c.py", FLAGGED)
    explicit = run("check", "--extend-exclude", "gen/", "gen/b.py", "build/c.py")
    assert explicit.exit_code == 1
    forced = run("check", "--force-exclude", "--extend-exclude", "gen/", "gen/b.py", "build/c.py")
    assert forced.exit_code == 0, forced.output


# -- output options -----------------------------------------------------------------------


def test_output_file(project, write, run):
    write("server.py", FLAGGED)
    result = run("check", "--format", "json", "-o", "reports/out.json", "server.py")
    assert result.exit_code == 1
    assert result.stdout == ""
    data = json.loads((project / "reports" / "out.json").read_text())
    assert [f["code"] for f in data] == ["SWL002", "SWL003"]
    long = run("check", "--output-file", "out.txt", "server.py")
    assert "Found 2 findings" in (project / "out.txt").read_text()
    assert long.exit_code == 1


def test_unwritable_output_file(project, write, run):
    write("server.py", FLAGGED)
    write("file", "")
    result = run("check", "-o", "file/out.json", "server.py")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "file/out.json" in result.stderr


def test_statistics(project, write, run):
    write("a.py", FLAGGED)
    write("b.py", FLAGGED)
    write("c.py", "def f(:\n")
    text = run("check", "--statistics")
    assert text.exit_code == 1
    lines = text.stdout.splitlines()
    assert lines[:3] == [
        "2  SWL002  unqualified-recursion",
        "2  SWL003  missing-after",
        "1  SWL999  syntax-error",
    ]
    assert "server_loop" not in text.stdout  # counts instead of findings
    as_json = run("check", "--statistics", "--format", "json")
    assert json.loads(as_json.stdout) == [
        {"code": "SWL002", "name": "unqualified-recursion", "severity": "error", "count": 2},
        {"code": "SWL003", "name": "missing-after", "severity": "warning", "count": 2},
        {"code": "SWL999", "name": "syntax-error", "severity": "error", "count": 1},
    ]


def test_quiet(project, write, run):
    write("server.py", FLAGGED)
    write("counter.py", CLEAN)
    loud = run("check", "--format", "concise", "server.py")
    quiet = run("check", "--format", "concise", "--quiet", "server.py")
    # the summary line and the fix hint ("[*] ... fixable with `--fix` ...") go with --quiet
    assert loud.stdout.splitlines()[-1].startswith("[*] ")
    assert loud.stdout.splitlines()[:-2] == quiet.stdout.splitlines()
    assert "Found" in loud.stdout and "Found" not in quiet.stdout
    assert run("check", "-q", "counter.py").stdout == ""


def test_no_color_option_and_plain_pipe(project, write, run):
    write("server.py", FLAGGED)
    forced = run("check", "server.py", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stdout
    assert "\x1b[" not in run("check", "--no-color", "server.py", env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run("check", "server.py", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert "\x1b[" not in run("check", "server.py").stdout  # not a terminal


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_color_on_terminal_and_no_color_env(project, write):
    import pty

    write("server.py", FLAGGED)

    def on_tty(env):
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [*SWAPLINT, "check", "server.py"], stdout=secondary, stderr=subprocess.PIPE, env=env
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait()
        os.close(primary)
        return proc.returncode, b"".join(chunks).decode()

    code, colored = on_tty(subprocess_env())
    assert code == 1 and "\x1b[" in colored and "SWL002" in colored
    code, plain = on_tty(subprocess_env(NO_COLOR="1"))
    assert code == 1 and "\x1b[" not in plain and "SWL002" in plain


# -- stdin ---------------------------------------------------------------------------------


def test_stdin_in_process(project, run):
    result = run("check", "--format", "json", "-", input=FLAGGED)
    assert result.exit_code == 1
    assert codes(result) == [("-", "SWL002", 3), ("-", "SWL003", 4)]
    named = run("check", "--stdin-filename", "counter.py", "-", input=CLEAN)
    assert named.exit_code == 0, named.output


def test_stdin_subprocess(project):
    proc = subprocess.run(
        [*SWAPLINT, "check", "--format", "concise", "--stdin-filename", "pkg/server.py", "-"],
        input=FLAGGED.encode(),
        capture_output=True,
        env=subprocess_env(),
        cwd=project,
    )
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.decode().splitlines()
    assert out[0].startswith("pkg/server.py:3:5: SWL002 ")
    assert out[1].startswith("pkg/server.py:4:11: SWL003 ")
    assert proc.stderr == b""


def test_stdin_filename_force_exclude(project, write, run):
    write("pyproject.toml", '[tool.swaplint]\nextend-exclude = ["gen/"]\n')
    result = run("check", "--force-exclude", "--stdin-filename", "gen/x.py", "-", input=FLAGGED)
    assert result.exit_code == 0
    unforced = run("check", "--stdin-filename", "gen/x.py", "-", input=FLAGGED)
    assert unforced.exit_code == 1


def test_stdin_syntax_error(project, run):
    result = run("check", "--format", "json", "-", input="def f(:\n")
    assert result.exit_code == 1
    assert codes(result) == [("-", "SWL999", 1)]


# -- rule / rules -----------------------------------------------------------------------------


def test_rule_doc(project, run):
    result = run("rule", "swl001")
    assert result.exit_code == 0
    assert "SWL001" in result.stdout and "tail-in-try" in result.stdout
    assert "What it does" in result.stdout and "Use instead" in result.stdout
    as_json = json.loads(run("rule", "SWL003", "--format", "json").stdout)
    assert as_json["code"] == "SWL003" and as_json["name"] == "missing-after"
    assert as_json["url"].endswith("#swl003")
    assert "## Why is this bad?" in as_json["doc"]


def test_rule_unknown_code(project, run):
    result = run("rule", "SWL042")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "swaplint: error: Invalid value for 'CODE': unknown rule code 'SWL042'"
    ]


def test_rules_table_and_json(project, run):
    result = run("rules")
    assert result.exit_code == 0
    for rule in RULES:
        assert rule.code in result.stdout and rule.name in result.stdout
    data = json.loads(run("rules", "--format", "json").stdout)
    assert [r["code"] for r in data] == [r.code for r in RULES]
    assert {"code", "name", "severity", "summary", "url", "doc"} <= set(data[0])


def test_no_subcommand_prints_help_exit_2(project, run):
    result = run()
    assert result.exit_code == 2
    assert "check" in result.stderr


def test_unknown_subcommand(project, run):
    result = run("lint")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "lint" in result.stderr


# -- the installed console script ----------------------------------------------------------------


def test_console_script(project, write):
    script = shutil.which("swaplint", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the swaplint console script is not installed in this environment (pip install -e .)")
    write("server.py", FLAGGED)
    proc = subprocess.run(
        [script, "check", "--format", "concise", "server.py"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "server.py:3:5: SWL002" in proc.stdout


def test_module_entry_point(project, write):
    write("counter.py", CLEAN)
    proc = subprocess.run(
        [*SWAPLINT, "check", "counter.py"], capture_output=True, text=True, env=subprocess_env()
    )
    assert proc.returncode == 0, proc.stderr
    assert "All checks passed!" in proc.stdout


def test_closed_pipe_is_not_an_error(project, write):
    for i in range(300):
        write(f"m{i:03d}.py", FLAGGED)
    proc = subprocess.run(
        f"{sys.executable} -m swaplint.cli check --no-cache --format concise . | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
    )
    assert proc.stdout.count("\n") == 1
    assert "error" not in proc.stderr and "Traceback" not in proc.stderr
