"""`swaplint check --verify`: findings confirmed (or refuted) by running them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from swaplint.cli import cli
from swaplint.engine import check_source
from swaplint.verify import (
    CONFIRMED,
    NOT_REPRODUCED,
    NOT_RUN,
    Scenario,
    VerifyConfigError,
    parse_verify_table,
    verify_results,
)
from swaplint.verify_scenarios import run as run_scenario
from swaplint.verify_scenarios import study

ROOT = Path(__file__).resolve().parents[1]
VERIFY_FIXTURES = ROOT / "tests" / "fixtures" / "verify"


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args])
    return result.exit_code, result.stdout


def verdicts(stdout: str) -> list[tuple[str, str, str]]:
    return [(Path(f["path"]).name, f["code"], f["verification"]["status"]) for f in json.loads(stdout)]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_every_example_finding_is_confirmed_with_evidence():
    code, out = check("--verify", "--format", "json", "examples/")
    assert code == 1
    findings = json.loads(out)
    assert [(f["code"], f["verification"]["status"]) for f in findings] == [
        ("SWL003", CONFIRMED),
        ("SWL006", CONFIRMED),  # examples/plain: a real thread under importlib.reload
        ("SWL005", CONFIRMED),
        ("SWL004", CONFIRMED),
        ("SWL001", CONFIRMED),
        ("SWL004", CONFIRMED),
        ("SWL003", CONFIRMED),
    ]
    by_code = {f["code"]: f["verification"]["evidence"] for f in findings if "plain" not in f["path"]}
    assert "killed at the third load with 1 frame of version 1" in by_code["SWL001"]
    assert "stack grew by 1 frame over 2 messages" in by_code["SWL001"]
    assert "3 of 3 processes spawned by `start` were killed" in by_code["SWL004"]
    assert by_code["SWL003"].startswith("idle and never told; killed at the third load")


def test_verdicts_in_text_concise_and_sarif():
    code, text = check("--verify", "--no-color", "examples/idle_loop.py")
    assert code == 1 and "= verification: confirmed: idle and never told" in text
    code, concise = check("--verify", "--format", "concise", "examples/idle_loop.py")
    assert concise.splitlines()[0].endswith(
        "[confirmed: idle and never told; killed at the third load with 1 frame of version 1 on its stack (messages 1)]"
    )
    code, sarif = check("--verify", "--format", "sarif", "examples/idle_loop.py")
    (result,) = json.loads(sarif)["runs"][0]["results"]
    assert result["properties"]["verification"]["status"] == CONFIRMED


def test_without_verify_nothing_runs():
    _code, out = check("--format", "json", "examples/")
    assert all("verification" not in f for f in json.loads(out))


def test_the_fixed_loop_survives_when_run():
    source = (ROOT / "examples" / "fixed_loop.py").read_text()
    assert check_source(source, "fixed_loop.py").findings == []
    facts = study(source, "fixed_loop", "server_loop")
    verdict = run_scenario(
        module="fixed_loop",
        path="fixed_loop.py",
        source=source,
        function="server_loop",
        kind="told",
        codes=["SWL001"],
        args=None,
        messages=None,
        upgrade="switch_code",
        facts=facts,
    )
    assert verdict.status == NOT_REPRODUCED
    assert verdict.evidence.startswith("survived the third load on version 2")


def test_runtime_fixtures_agree_with_the_rules():
    code, out = check("--verify", "--format", "json", str(VERIFY_FIXTURES))
    assert code == 1
    got = verdicts(out)
    assert ("not_reproduced.py", "SWL002", NOT_REPRODUCED) in got
    assert [v for v in got if v[0] != "not_reproduced.py" and v[2] != CONFIRMED] == []
    assert {c for _, c, _ in got} == {"SWL001", "SWL002", "SWL003", "SWL004", "SWL005", "SWL006"}


def test_strict_drops_what_the_run_refuted():
    code, out = check("--verify=strict", "--format", "json", str(VERIFY_FIXTURES))
    got = verdicts(out)
    assert all(status == CONFIRMED for _, _, status in got)
    assert "not_reproduced.py" not in {name for name, _, _ in got}
    # The refuted file alone: nothing left, so exit 0.
    code, out = check("--verify=strict", "--format", "json", str(VERIFY_FIXTURES / "not_reproduced.py"))
    assert (code, json.loads(out)) == (0, [])


def test_verify_flag_does_not_swallow_the_path():
    code, out = check("--verify", "--format", "json", "examples/idle_loop.py")
    assert code == 1 and len(json.loads(out)) == 1
    code, _ = check("--verify=bogus", "examples/idle_loop.py")
    assert code == 2


def test_scenario_from_configuration():
    _code, out = check("--verify", "--format", "json", str(VERIFY_FIXTURES / "configured.py"))
    findings = {f["function"]: f["verification"] for f in json.loads(out)}
    assert findings["needs_args"]["status"] == CONFIRMED
    assert findings["needs_args"]["messages"] == ["('add', 3)", "('add', 4)"]
    assert "told ('upgrade', 2)" in findings["custom_upgrade"]["evidence"]


def test_messages_are_inferred_from_comparisons_and_patterns():
    source = (VERIFY_FIXTURES / "idle_loops.py").read_text()
    assert study(source, "idle_loops", "matcher").literals == ["switch_code", ("add", 1), "reset"]
    assert study(source, "idle_loops", "idle").literals == ["switch_code"]


def _verify(source: str, name: str = "mod.py", timeout: float = 30.0):
    result = check_source(source, name)
    (verified,) = verify_results([result], {name: source}, timeout=timeout)
    return [(f.code, f.verification.status, f.verification.evidence) for f in verified.findings]


LOOP = (
    "from swaplint.runtime import receive\n\ndef loop(s=0):\n    msg = receive()\n    return loop(s + msg)\n"
)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            "raise RuntimeError('no import for you')\n" + LOOP,
            "the module failed to load: RuntimeError: no import for you",
        ),
        (LOOP.replace("loop(s=0)", "loop(a, b)"), "start arguments unknown: `loop(a, b)`"),
        (LOOP.replace("msg = receive()", "1 / 0\n    msg = receive()"), "crashed with ZeroDivisionError"),
        (
            "from swaplint.runtime import receive\nclass S:\n    def loop(self):\n        msg = receive()\n        return self.loop()\n",
            "`S.loop` is a method or nested function",
        ),
    ],
    ids=["load-error", "unknown-args", "crash", "method"],
)
def test_not_run_says_why(source, reason):
    got = _verify(source)
    assert got and all(status == NOT_RUN for _, status, _ in got)
    assert all(reason in evidence for _, _, evidence in got), got


def test_a_loop_that_never_blocks_is_stopped():
    source = "from swaplint.runtime import receive\n\ndef loop(s=0):\n    while True:\n        s += 1\n        if s < 0:\n            receive(timeout=1)\n"
    got = _verify(source, timeout=3)
    assert got == [("SWL006", NOT_RUN, "the scenario did not finish within 3 s (a loop that never blocks?)")]


def test_a_module_that_exits_at_import_does_not_stop_the_run():
    source = "import os\nos._exit(3)\n" + LOOP
    ((_code, status, evidence), *_) = _verify(source)
    assert status == NOT_RUN and evidence.startswith("the verifier stopped")


def test_single_parameter_loops_start_with_none():
    source = "import mod\nfrom swaplint.runtime import receive\n\ndef loop(state):\n    msg = receive()\n    if msg == 'switch_code':\n        return mod.loop(state)\n    return loop(state)\n"
    assert _verify(source) == [
        (
            "SWL003",
            CONFIRMED,
            "idle and never told; killed at the third load with 1 frame of version 1 on its stack (messages 1)",
        )
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"no-colon": {}}, 'must look like "module:function"'),
        ({"m:f": []}, "expected a table"),
        ({"m:f": {"args": 3}}, "args: expected an array"),
        ({"m:f": {"mesages": []}}, "unknown key 'mesages'"),
    ],
)
def test_bad_verify_tables(table, message):
    with pytest.raises(VerifyConfigError, match=message.replace("(", r"\(")):
        parse_verify_table(table)


def test_bad_verify_table_is_a_config_error_exit_2(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.swaplint.verify."m:f"]\nargs = 3\n')
    (tmp_path / "m.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "m.py"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "pyproject.toml" in line and "args: expected an array" in line and "\n" not in line


def test_toml_arrays_become_tuples_for_messages_only():
    scenarios = parse_verify_table(
        {"m:f": {"args": [[1, 2]], "messages": [["add", [1, 2]]], "upgrade-message": ["up", 1]}}
    )
    assert scenarios["m:f"] == Scenario(
        args=([1, 2],), messages=(("add", (1, 2)),), upgrade_message=("up", 1)
    )


# -- hardening (issue 12: items 9-13) ------------------------------------------------------

ACCEPTING_LOOP = (
    "from swaplint.runtime import receive\n\ndef loop(s=0):\n    msg = receive()\n    return loop(msg)\n"
)


def test_output_is_capped_and_the_verdict_says_so():
    from swaplint.verify import OUTPUT_CAP

    noisy = f"import sys\nsys.stdout.write('x' * {3 * OUTPUT_CAP})\nsys.stdout.flush()\n" + ACCEPTING_LOOP
    got = _verify(noisy)
    assert got and all(status != NOT_RUN for _, status, _ in got), got
    assert all(
        re.search(r"it wrote [\d.]+ MB to stdout, of which only the last 1.0 MB was kept", e)
        for _, _, e in got
    )


def test_a_loop_that_prints_forever_is_stopped_with_bounded_output():
    source = "import sys\nwhile True:\n    sys.stderr.write('spam ' * 1000)\n" + LOOP
    ((_code, status, evidence), *_) = _verify(source, timeout=2)
    assert status == NOT_RUN
    assert evidence.startswith("the scenario did not finish within 2 s")
    assert "to stderr, of which only the last 1.0 MB was kept" in evidence


def test_the_tail_keeps_the_last_bytes():
    from swaplint.verify import _Tail

    tail = _Tail(10)
    for _ in range(100):
        tail.add(b"0123456789abc")
    assert (bytes(tail.data), tail.total, tail.truncated) == (b"456789abc"[-10:].rjust(10, b"3"), 1300, True)
    assert len(tail.data) == 10


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_processes_the_code_forks_die_with_the_run(tmp_path):
    import os
    import signal
    import time

    pidfile = tmp_path / "pid"
    source = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    fd = os.open(os.devnull, os.O_RDWR)\n"
        "    for n in (0, 1, 2):\n"
        "        os.dup2(fd, n)\n"
        "    time.sleep(20)\n"
        "    os._exit(0)\n"
        f"open({str(pidfile)!r}, 'w').write(str(pid))\n" + ACCEPTING_LOOP
    )
    got = _verify(source, timeout=10)
    pid = int(pidfile.read_text())
    try:
        deadline = time.monotonic() + 3
        while not _dead(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _dead(pid), "the forked process outlived the verification"
    finally:
        if not _dead(pid):
            os.kill(pid, signal.SIGKILL)
    assert got and all(status != NOT_RUN for _, status, _ in got), got


def test_the_child_gets_a_clean_environment_and_a_fresh_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("SWAPLINT_TEST_SECRET", "hunter2")
    monkeypatch.chdir(tmp_path)
    source = (
        "import os\n"
        "if 'SWAPLINT_TEST_SECRET' in os.environ:\n"
        "    raise RuntimeError('the environment leaked')\n"
        f"if os.getcwd() == {str(tmp_path)!r} or set(os.listdir('.')) - {{'scratch.txt'}}:\n"
        "    raise RuntimeError('not a fresh directory')\n"
        "open('scratch.txt', 'w').write('x')\n" + ACCEPTING_LOOP
    )
    got = _verify(source)
    assert got and all(status != NOT_RUN for _, status, _ in got), got
    assert list(tmp_path.iterdir()) == []


def test_memory_is_limited():
    source = "block = bytearray(1 << 30)\n" + LOOP
    result = check_source(source, "mod.py")
    (verified,) = verify_results([result], {"mod.py": source}, memory_limit=256 << 20)
    evidence = [f.verification.evidence for f in verified.findings]
    assert evidence and all(e == "the module failed to load: MemoryError: " for e in evidence), evidence


def test_the_default_memory_limit_applies():
    source = "block = bytearray(3 << 30)\n" + LOOP  # the default limit is 2 GiB
    got = _verify(source)
    assert got and all(e.startswith("the module failed to load: MemoryError") for _, _, e in got), got


def test_toml_dates_and_times_as_messages(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.swaplint.verify."loop:loop"]\n'
        "messages = [1979-05-27, 1979-05-27T07:32:00Z, 07:32:00, 1979-05-27T07:32:00, {when = 1979-05-27}]\n"
    )
    (tmp_path / "loop.py").write_text(ACCEPTING_LOOP)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "--verify", "--no-cache", "--format", "json", "loop.py"])
    assert result.exit_code == 1, result.output
    verifications = [f["verification"] for f in json.loads(result.stdout)]
    assert verifications and all(v["status"] == CONFIRMED for v in verifications), verifications
    assert verifications[0]["messages"] == [
        "datetime.date(1979, 5, 27)",
        "datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.timezone.utc)",
        "datetime.time(7, 32)",
        "datetime.datetime(1979, 5, 27, 7, 32)",
        "{'when': datetime.date(1979, 5, 27)}",
    ]


def test_unsendable_scenario_values_are_not_run():
    source = ACCEPTING_LOOP
    result = check_source(source, "loop.py")
    scenarios = {"loop:loop": Scenario(messages=(object(),))}
    (verified,) = verify_results([result], {"loop.py": source}, scenarios)
    assert {f.verification.status for f in verified.findings} == {NOT_RUN}
    assert all("cannot be sent to the verifier" in f.verification.evidence for f in verified.findings)


def _src_layout(root: Path) -> Path:
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for pkg in ("app", "shared"):
        (root / "src" / pkg).mkdir(parents=True)
        (root / "src" / pkg / "__init__.py").write_text("")
    (root / "src" / "shared" / "util.py").write_text("START = 0\n")
    (root / "tools.py").write_text("HELPER = 1\n")
    loop = root / "src" / "app" / "loop.py"
    loop.write_text(
        "import tools\nfrom shared.util import START\n" + ACCEPTING_LOOP.replace("s=0", "s=START")
    )
    return loop


@pytest.mark.parametrize("where", ["project", "outside"])
def test_sibling_packages_import_in_a_src_layout(tmp_path, monkeypatch, where):
    project = tmp_path / "proj"
    project.mkdir()
    loop = _src_layout(project)
    monkeypatch.chdir(project if where == "project" else tmp_path)
    target = os.path.relpath(loop)
    result = CliRunner().invoke(cli, ["check", "--verify", "--no-cache", "--format", "json", target])
    verifications = [f["verification"] for f in json.loads(result.stdout)]
    assert verifications and all(v["status"] == CONFIRMED for v in verifications), verifications


def test_import_roots(tmp_path):
    from swaplint.verify import import_roots

    loop = _src_layout(tmp_path)
    assert import_roots(loop, "app.loop") == [str(tmp_path / "src"), str(tmp_path)]
    assert import_roots(tmp_path / "src" / "app" / "__init__.py", "app") == [
        str(tmp_path / "src"),
        str(tmp_path),
    ]
    assert import_roots(loop, "loop", [tmp_path / "src", tmp_path / "missing"]) == [
        str(tmp_path / "src" / "app"),
        str(tmp_path),
        str(tmp_path / "src"),
    ]
    assert import_roots(tmp_path / "nowhere.py", "nowhere") == []


def test_plain_python_runs_under_a_real_reload():
    """A file that does not use the runtime is run in a real thread and reloaded with importlib."""
    source = (
        "import queue\n\nseen = []\n\ndef worker(jobs):\n    while True:\n        job = jobs.get()\n"
        "        if job == 'flush':\n            seen.clear()\n        seen.append(job)\n"
    )
    ((code, status, evidence),) = _verify(source, name="plainworker.py")
    assert code == "SWL006" and status == CONFIRMED, evidence
    assert "version 1" in evidence and "purge" not in evidence
