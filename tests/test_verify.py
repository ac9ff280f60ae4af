"""`swaplint check --verify`: findings confirmed (or refuted) by running them."""

from __future__ import annotations

import json
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
        ("SWL001", CONFIRMED),
        ("SWL004", CONFIRMED),
        ("SWL003", CONFIRMED),
    ]
    by_code = {f["code"]: f["verification"]["evidence"] for f in findings}
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
            "import threading\ndef loop(q=None):\n    while True:\n        q.get()\n",
            "the file does not use swaplint.runtime",
        ),
        (
            "from swaplint.runtime import receive\nclass S:\n    def loop(self):\n        msg = receive()\n        return self.loop()\n",
            "`S.loop` is a method or nested function",
        ),
    ],
    ids=["load-error", "unknown-args", "crash", "no-runtime", "method"],
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
