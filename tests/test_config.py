"""Configuration files: discovery, every key, precedence, and clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from swaplint.config import Config, ConfigError, find_config_file, load_config
from tests.conftest import CLEAN, FLAGGED


def found(result) -> list[tuple[str, str]]:
    return [(f["path"], f["code"]) for f in json.loads(result.stdout)]


# -- finding the file --------------------------------------------------------------------------


def test_pyproject_found_by_walking_up(project, write, run):
    write("pyproject.toml", '[tool.swaplint]\nselect = ["SWL003"]\n')
    write("src/pkg/server.py", FLAGGED)
    result = run("check", "--format", "json", "src/pkg")
    assert [c for _, c in found(result)] == ["SWL003"]


def test_pyproject_without_table_is_skipped(project, write, run):
    write("swaplint.toml", 'select = ["SWL003"]\n')
    write("sub/pyproject.toml", '[project]\nname = "x"\n')
    write("sub/server.py", FLAGGED)
    assert find_config_file(project / "sub" / "server.py") == project / "swaplint.toml"
    result = run("check", "--format", "json", "sub")
    assert [c for _, c in found(result)] == ["SWL003"]


@pytest.mark.parametrize(
    "text",
    [
        '[tool."swap\\u006cint"]\nselect = ["SWL003"]\n',  # the key spelled with an escape
        'tool = { "swaplint" = { select = ["SWL003"] } }\n',
        '[tool . swaplint]\r\nselect = ["SWL003"]\r\n',
    ],
)
def test_pyproject_table_found_however_spelled(project, write, text):
    """Discovery reads a pyproject.toml only when its text may name swaplint; every way
    TOML can spell the key must still be found."""
    (project / "pyproject.toml").write_bytes(text.encode())
    assert find_config_file(project) == project / "pyproject.toml"
    assert load_config(project / "pyproject.toml").select == ("SWL003",)


def test_pyproject_that_never_names_swaplint_is_not_parsed(project, write, monkeypatch):
    write("pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 99\n')
    import tomllib

    monkeypatch.setattr(tomllib, "loads", lambda *a, **k: pytest.fail("parsed"))
    assert find_config_file(project) is None


def test_precedence_in_one_directory(project, write):
    write("pyproject.toml", '[tool.swaplint]\nselect = ["SWL001"]\n')
    assert find_config_file(project) == project / "pyproject.toml"
    write("swaplint.toml", 'select = ["SWL002"]\n')
    assert find_config_file(project) == project / "swaplint.toml"
    write(".swaplint.toml", 'select = ["SWL003"]\n')
    assert find_config_file(project) == project / ".swaplint.toml"


def test_dot_swaplint_toml_top_level_keys(project, write, run):
    write(".swaplint.toml", 'ignore = ["SWL002"]\n')
    write("server.py", FLAGGED)
    assert [c for _, c in found(run("check", "--format", "json"))] == ["SWL003"]


def test_explicit_config_option(project, write, run):
    write("pyproject.toml", '[tool.swaplint]\nselect = ["SWL003"]\n')
    write("ci/strict.toml", 'select = ["SWL002"]\n')
    write("server.py", FLAGGED)
    result = run("check", "--config", "ci/strict.toml", "--format", "json", "server.py")
    assert [c for _, c in found(result)] == ["SWL002"]
    missing = run("check", "--config", "nope.toml", "server.py")
    assert missing.exit_code == 2 and "nope.toml" in missing.stderr


def test_no_config_means_defaults(project, write, run):
    write("server.py", FLAGGED)
    assert [c for _, c in found(run("check", "--format", "json"))] == ["SWL002", "SWL003"]


# -- every key ---------------------------------------------------------------------------------


def test_select_ignore_extend_select_keys(project, write, run):
    write("server.py", FLAGGED)
    write(
        "pyproject.toml",
        '[tool.swaplint]\nselect = ["SWL001"]\nextend-select = ["SWL00"]\nignore = ["SWL003"]\n',
    )
    assert [c for _, c in found(run("check", "--format", "json"))] == ["SWL002"]


def test_command_line_overrides_file(project, write, run):
    write("server.py", FLAGGED)
    write("pyproject.toml", '[tool.swaplint]\nselect = ["SWL003"]\nignore = ["SWL002"]\n')
    # --select replaces the file's selection, ignores included (as ruff's layers).
    assert [c for _, c in found(run("check", "--select", "SWL002", "--format", "json"))] == ["SWL002"]
    # --ignore adds to the file's selection.
    assert run("check", "--ignore", "SWL003").exit_code == 0
    # --extend-select adds on top of the file's selection.
    result = run("check", "--extend-select", "SWL002", "--format", "json")
    assert [c for _, c in found(result)] == ["SWL002", "SWL003"]


def test_exclude_keys_relative_to_config_dir(project, write, run):
    write("pyproject.toml", '[tool.swaplint]\nextend-exclude = ["/gen/", "*_pb2.py"]\n')
    write("gen/a.py", FLAGGED)
    write("sub/gen/b.py", FLAGGED)  # "/gen/" is anchored at the config's directory
    write("sub/c_pb2.py", FLAGGED)
    write("build/d.py", FLAGGED)  # still a default exclude
    result = run("check", "--format", "json", "sub", "gen", ".")
    paths = {p for p, _ in found(result)}
    # gen/ was named on the command line: checked (no --force-exclude).
    assert paths == {os.path.join("sub", "gen", "b.py"), os.path.join("gen", "a.py")}
    # From inside sub/, the patterns are still relative to the config's directory.
    os.chdir(project / "sub")
    result = run("check", "--format", "json")
    assert {p for p, _ in found(result)} == {os.path.join("gen", "b.py")}


def test_exclude_key_replaces_defaults(project, write, run):
    write("pyproject.toml", '[tool.swaplint]\nexclude = ["legacy/"]\n')
    write("legacy/a.py", FLAGGED)
    write("build/b.py", FLAGGED)
    assert {p for p, _ in found(run("check", "--format", "json"))} == {os.path.join("build", "b.py")}


def test_force_exclude_uses_config_excludes(project, write, run):
    write("pyproject.toml", '[tool.swaplint]\nextend-exclude = ["legacy/"]\n')
    write("legacy/a.py", FLAGGED)
    assert run("check", "legacy/a.py").exit_code == 1
    assert run("check", "--force-exclude", "legacy/a.py").exit_code == 0


def test_per_file_ignores(project, write, run):
    write(
        "pyproject.toml",
        '[tool.swaplint]\n[tool.swaplint.per-file-ignores]\n"tests/*.py" = ["SWL002"]\n"legacy.py" = ["SWL00"]\n',
    )
    write("tests/t.py", FLAGGED)
    write("legacy.py", FLAGGED)
    write("server.py", FLAGGED)
    result = run("check", "--format", "json")
    assert found(result) == [
        ("server.py", "SWL002"),
        ("server.py", "SWL003"),
        (os.path.join("tests", "t.py"), "SWL003"),
    ]


def test_per_file_ignores_apply_to_stdin_filename(project, write, run):
    write("pyproject.toml", '[tool.swaplint.per-file-ignores]\n"tests/*" = ["SWL003"]\n')
    result = run("check", "--format", "json", "--stdin-filename", "tests/x.py", "-", input=FLAGGED)
    assert found(result) == [("tests/x.py", "SWL002")]


RECEIVE_LOOP = """\
import mybus

def poll_loop(state):
    msg = mybus.wait()
    return poll_loop(state + msg)
"""


def test_receive_calls(project, write, run):
    write("poller.py", RECEIVE_LOOP)
    assert run("check", "poller.py").exit_code == 0  # mybus.wait is not a known receive
    write("pyproject.toml", '[tool.swaplint]\nreceive-calls = ["mybus.wait"]\n')
    # plain Python (importlib): a bare-name re-entry reaches new code, but the stack grows
    assert [c for _, c in found(run("check", "--format", "json", "poller.py"))] == ["SWL003", "SWL005"]


SPAWN = """\
import counter
import pool
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    return counter.server_loop(state + msg)

def start():
    pool.launch(server_loop, 0)
"""


def test_spawn_calls(project, write, run):
    write("counter.py", SPAWN)
    assert run("check", "counter.py").exit_code == 0
    write("pyproject.toml", '[tool.swaplint]\nspawn-calls = ["pool.launch"]\n')
    assert found(run("check", "--format", "json", "counter.py")) == [("counter.py", "SWL004")]


SRC_LOOP = """\
import app.counter
from swaplint.runtime import receive

def server_loop(state):
    msg = receive(timeout=10)
    if msg == "upgrade":
        return app.counter.server_loop(state)
    return server_loop(state + msg)
"""


def test_src_roots(project, write, run):
    # No __init__.py: without src the module is "counter", so app.counter.server_loop is
    # another module's function and the loop only re-enters itself locally.
    write("src/app/counter.py", SRC_LOOP)
    assert [c for _, c in found(run("check", "--format", "json"))] == ["SWL002"]
    write("pyproject.toml", '[tool.swaplint]\nsrc = ["src"]\n')
    assert run("check").exit_code == 0
    # relative to the config file's directory, not the working directory
    os.chdir(project / "src" / "app")
    assert run("check", "counter.py").exit_code == 0


def test_verify_table_is_kept_raw_and_parsed(project, write, run):
    write(
        "pyproject.toml",
        '[tool.swaplint]\nselect = ["SWL0"]\n[tool.swaplint.verify."counter:server_loop"]\n'
        'args = [0]\nmessages = [["add", 1]]\n',
    )
    config = load_config(project / "pyproject.toml")
    assert config.verify == {"counter:server_loop": {"args": [0], "messages": [["add", 1]]}}
    scenario = config.scenarios["counter:server_loop"]
    assert (scenario.args, scenario.messages) == ((0,), (("add", 1),))
    assert config.raw["select"] == ["SWL0"]
    write("counter.py", CLEAN)
    assert run("check").exit_code == 0


def test_config_unit_defaults():
    config = Config()
    assert config.select is None and config.exclude is None and config.verify == {}


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "needles"),
    [
        ('[tool.swaplint]\nselct = ["SWL001"]\n', ["pyproject.toml", "tool.swaplint.selct", "unknown key"]),
        (
            '[tool.swaplint]\nselect = "SWL001"\n',
            ["pyproject.toml", "tool.swaplint.select", "list", "string"],
        ),
        ("[tool.swaplint]\nignore = [1]\n", ["tool.swaplint.ignore", "integer"]),
        ('[tool.swaplint]\nselect = ["SWL0X"]\n', ["tool.swaplint.select", "SWL0X"]),
        ('[tool.swaplint]\nexclude = "build"\n', ["tool.swaplint.exclude", "list"]),
        ('[tool.swaplint]\nper-file-ignores = ["x"]\n', ["tool.swaplint.per-file-ignores", "table"]),
        ('[tool.swaplint.per-file-ignores]\n"a.py" = "SWL001"\n', ['per-file-ignores."a.py"', "list"]),
        ('[tool.swaplint.per-file-ignores]\n"a.py" = ["NOPE1"]\n', ['per-file-ignores."a.py"', "NOPE1"]),
        ('[tool.swaplint]\nreceive-calls = ["not a name"]\n', ["tool.swaplint.receive-calls", "dotted"]),
        ("[tool.swaplint]\nspawn-calls = [true]\n", ["tool.swaplint.spawn-calls", "boolean"]),
        ('[tool.swaplint]\nsrc = "src"\n', ["tool.swaplint.src", "list"]),
        ("[tool.swaplint]\nverify = 3\n", ["tool.swaplint.verify", "table"]),
        ("[tool.swaplint\nselect = 1\n", ["pyproject.toml", "invalid TOML"]),
        ("[tool]\nswaplint = 3\n", ["pyproject.toml", "tool.swaplint", "table"]),
    ],
)
def test_bad_config_is_one_line_exit_2(project, write, run, toml, needles):
    write("pyproject.toml", toml)
    write("server.py", FLAGGED)
    result = run("check", "server.py")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("swaplint: error: ")
    for needle in needles:
        assert needle in lines[0]


def test_bad_swaplint_toml_names_bare_key(project, write, run):
    write("swaplint.toml", "extend-exclude = [3]\n")
    result = run("check")
    assert result.exit_code == 2
    assert "swaplint.toml: 'extend-exclude' must be a list of gitignore-style patterns" in result.stderr


def test_load_config_raises_config_error(tmp_path: Path):
    bad = tmp_path / "swaplint.toml"
    bad.write_text("bogus = 1\n")
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        load_config(bad)
