"""Output formats: text, concise, JSON, SARIF (schema-valid, stable fingerprints), GitHub."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest

from swaplint.findings import Finding, RuleError, Severity, VerdictStatus, Verification
from swaplint.output import RULE_DOCS_URL, RunReport, SourceCache, rule_url
from swaplint.output import github as github_format
from swaplint.output import json as json_format
from swaplint.output import sarif as sarif_format
from swaplint.output import text as text_format
from swaplint.rules import RULES
from tests.conftest import CLEAN, FLAGGED

SARIF_SCHEMA = (
    Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"
)  # vendored, see its licence


def make_finding(**changes) -> Finding:
    values = dict(
        code="SWL003",
        name="missing-after",
        path="a.py",
        line=2,
        column=7,
        end_line=2,
        end_column=16,
        message="waits with no timeout",
        severity=Severity.WARNING,
    )
    values.update(changes)
    return Finding(**values)


def render(write, report) -> str:
    out = io.StringIO()
    write(report, out)
    return out.getvalue()


# -- text -----------------------------------------------------------------------------------


def test_text_groups_by_file_with_caret_and_summary(project, write, run):
    write("server.py", FLAGGED)
    write("z/other.py", FLAGGED)
    result = run("check", "server.py", "z/other.py")
    lines = result.stdout.splitlines()
    assert lines[0] == "server.py"
    assert lines[1].startswith("  3:5 SWL002 [error] `server_loop` re-enters itself")
    assert lines[2:5] == ["   |", " 3 | def server_loop(state):", "   |     ^^^^^^^^^^^"]
    assert lines[5].startswith("     = help: A local call runs the caller's version")
    assert lines[6].startswith("  4:11 SWL003 [warning] ")
    assert lines[8:10] == [" 4 |     msg = receive()", "   |           ^^^^^^^^^"]
    assert "z/other.py" in lines
    assert lines[-2] == "Found 4 findings in 2 files (2 errors, 2 warnings)"
    assert lines[-1] == "[*] No safe fixes (4 more with `--fix --unsafe-fixes`)."


def test_text_summary_wording():
    one = RunReport(findings=[make_finding()])
    assert one.summary() == "Found 1 finding in 1 file (0 errors, 1 warning)"
    assert RunReport(findings=[]).summary() == "All checks passed!"


def test_text_multiline_span_tabs_and_extra():
    sources = SourceCache()
    sources.add_text("a.py", "x = (\n\tfoo,\n    bar)\n")
    finding = make_finding(
        line=1,
        column=5,
        end_line=3,
        end_column=9,
        verification=Verification(VerdictStatus.CONFIRMED, "stack grew"),
    )
    out = render(text_format.write, RunReport(findings=[finding], sources=sources))
    lines = out.splitlines()
    assert " 1 | x = (" in lines and "   |     ^" in lines
    assert " 2 |     foo," in lines and "   |     ^^^^" in lines  # tab expanded, caret aligned
    assert " 3 |     bar)" in lines and "   |     ^^^^" in lines
    assert "     = verification: confirmed: stack grew" in lines


def test_text_survives_missing_source():
    finding = make_finding(path="gone.py", line=40)
    out = render(text_format.write, RunReport(findings=[finding]))
    assert "40:7 SWL003 [warning] waits with no timeout" in out


# -- concise ----------------------------------------------------------------------------------


def test_concise(project, write, run):
    write("server.py", FLAGGED)
    result = run("check", "--format", "concise", "server.py")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("server.py:3:5: SWL002 `server_loop` re-enters itself only by local calls")
    assert lines[1].startswith("server.py:4:11: SWL003 `receive()` waits with no timeout")
    assert lines[2] == "Found 2 findings in 1 file (1 error, 1 warning)"


# -- json -------------------------------------------------------------------------------------


def test_json_shape_and_key_order(project, write, run):
    write("server.py", FLAGGED)
    data = json.loads(run("check", "--format", "json", "server.py").stdout)
    keys = list(data[0])
    assert keys[:9] == [
        "code",
        "name",
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "message",
        "severity",
    ]
    assert keys[-1] == "url"  # after every key of Finding.to_dict (no extra here)
    assert data[0]["url"] == f"{RULE_DOCS_URL}#swl002" == rule_url("SWL002")
    assert (data[1]["code"], data[1]["line"], data[1]["column"], data[1]["end_column"]) == (
        "SWL003",
        4,
        11,
        20,
    )
    assert (
        run("check", "--format", "json", "--stdin-filename", "counter.py", "-", input=CLEAN).stdout.strip()
        == "[]"
    )


def test_json_carries_the_verdict_last():
    finding = make_finding(verification=Verification(VerdictStatus.CONFIRMED, "stack grew", ("1",)))
    data = json.loads(render(json_format.write, RunReport(findings=[finding])))
    assert list(data[0])[-2:] == ["url", "verification"]
    assert data[0]["verification"] == {"status": "confirmed", "evidence": "stack grew", "messages": ["1"]}


# -- github -----------------------------------------------------------------------------------


def test_github_workflow_commands(project, write, run):
    write("server.py", FLAGGED)
    lines = run("check", "--format", "github", "server.py").stdout.splitlines()
    assert lines[0].startswith(
        "::error file=server.py,line=3,col=5,endLine=3,endColumn=16,title=SWL002 unqualified-recursion::"
    )
    assert lines[1].startswith(
        "::warning file=server.py,line=4,col=11,endLine=4,endColumn=20,title=SWL003 missing-after::"
    )
    assert len(lines) == 2


def test_github_escaping_and_multiline():
    finding = make_finding(path="dir,x/a:b.py", message="100% bad\r\nreally", line=1, end_line=3)
    line = github_format.format_finding(finding)
    assert line == (
        "::warning file=dir%2Cx/a%3Ab.py,line=1,endLine=3,title=SWL003 missing-after::100%25 bad%0D%0Areally"
    )


# -- sarif ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    return json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))


def validate(schema: dict, document: dict) -> None:
    # The validator of the draft the schema declares, and Draft 7 as the brief asks.
    declared = jsonschema.validators.validator_for(schema)
    for validator_class in {declared, jsonschema.Draft7Validator}:
        validator_class.check_schema(schema)
        errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_sarif_validates_and_carries_what_github_uses(project, write, run, sarif_schema):
    write("server.py", FLAGGED)
    write("pkg/bad file.py", "def f(:\n")
    result = run("check", "--format", "sarif", ".")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    validate(sarif_schema, document)

    assert document["version"] == "2.1.0"
    run_ = document["runs"][0]
    driver = run_["tool"]["driver"]
    assert (
        driver["name"] == "swaplint" and driver["version"] and driver["informationUri"].startswith("https://")
    )
    assert [r["id"] for r in driver["rules"]] == [r.code for r in RULES]
    for descriptor in driver["rules"]:
        assert (
            descriptor["name"]
            and descriptor["shortDescription"]["text"]
            and descriptor["fullDescription"]["text"]
        )
        assert descriptor["help"]["text"] and descriptor["help"]["markdown"]
        assert descriptor["defaultConfiguration"]["level"] in ("error", "warning")
        assert descriptor["properties"]["tags"]
    assert run_["columnKind"] == "unicodeCodePoints"
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"
    assert run_["invocations"][0]["executionSuccessful"] is True

    results = run_["results"]
    assert [r["ruleId"] for r in results] == ["SWL999", "SWL002", "SWL003"]
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["partialFingerprints"]
    bad, swl002, swl003 = results
    assert bad["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "pkg/bad%20file.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert swl003["level"] == "warning" and swl002["level"] == "error"
    assert swl003["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 4,
        "startColumn": 11,
        "endLine": 4,
        "endColumn": 20,
    }
    assert swl003["message"]["text"].startswith("`receive()` waits with no timeout")


def test_sarif_fingerprints_survive_moved_lines(project, write, run):
    write("server.py", FLAGGED)
    before = json.loads(run("check", "--format", "sarif", "server.py").stdout)["runs"][0]["results"]
    write("server.py", '"""A docstring."""\n\nimport os\n\n\n' + FLAGGED)
    after = json.loads(run("check", "--format", "sarif", "server.py").stdout)["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after] == [8, 9]
    assert [r["partialFingerprints"] for r in after] == [r["partialFingerprints"] for r in before]
    # ...but changing the flagged line changes its fingerprint
    write("server.py", FLAGGED.replace("msg = receive()", "message = receive()"))
    changed = json.loads(run("check", "--format", "sarif", "server.py").stdout)["runs"][0]["results"]
    assert changed[0]["partialFingerprints"] == before[0]["partialFingerprints"]
    assert changed[1]["partialFingerprints"] != before[1]["partialFingerprints"]


def test_sarif_identical_lines_get_distinct_fingerprints():
    sources = SourceCache()
    sources.add_text("a.py", "x\n    msg = receive()\n    msg = receive()\n")
    report = RunReport(findings=[make_finding(line=2), make_finding(line=3)], sources=sources)
    first, second = sarif_format.fingerprints(report)
    assert first != second


def test_sarif_rule_crash_and_extra(project, sarif_schema, tmp_path):
    sources = SourceCache()
    sources.add_text("a.py", "x\n    msg = receive()\n")
    finding = make_finding(verification=Verification(VerdictStatus.CONFIRMED, "stack grew"))
    report = RunReport(
        findings=[finding],
        errors=[RuleError("SWL001", "a.py", "RuntimeError: boom")],
        missing=["nope.py"],
        sources=sources,
        root=project,
    )
    document = json.loads(render(sarif_format.write, report))
    validate(sarif_schema, document)
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert texts == ["rule SWL001 crashed: RuntimeError: boom", "path not found: nope.py"]
    assert invocation["toolExecutionNotifications"][0]["associatedRule"]["id"] == "SWL001"
    assert document["runs"][0]["results"][0]["properties"]["verification"]["status"] == "confirmed"


def test_sarif_file_outside_srcroot_gets_absolute_uri(project, tmp_path):
    outside = tmp_path / "elsewhere" / "m.py"
    location = sarif_format.artifact_location(str(outside), project)
    assert location == {"uri": outside.as_uri()}


def test_sarif_output_file_from_cli(project, write, run, sarif_schema):
    write("server.py", FLAGGED)
    result = run("check", "--format", "sarif", "-o", "results.sarif", "server.py")
    assert result.exit_code == 1 and result.stdout == ""
    validate(sarif_schema, json.loads((project / "results.sarif").read_text(encoding="utf-8")))


# -- hardening (issue 12: items 17 and 19) ---------------------------------------------------


def _sarif_results(run, *args):
    document = json.loads(run("check", "--no-cache", "--format", "sarif", *args).stdout)
    (run_,) = document["runs"]
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run_["results"]]
    fingerprints = [r["partialFingerprints"] for r in run_["results"]]
    return run_["originalUriBaseIds"]["%SRCROOT%"]["uri"], locations, fingerprints


def test_sarif_srcroot_is_the_git_root_from_any_directory(project, write, run, monkeypatch):
    import subprocess

    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=30)
    write("sub/server.py", FLAGGED)
    from_root = _sarif_results(run, "sub/server.py")
    monkeypatch.chdir(project / "sub")
    from_sub = _sarif_results(run, "server.py")
    assert from_root == from_sub
    root_uri, locations, _ = from_sub
    assert root_uri == project.as_uri() + "/"
    assert locations[0] == {"uri": "sub/server.py", "uriBaseId": "%SRCROOT%"}


def test_sarif_srcroot_is_the_config_root_outside_git(project, write, monkeypatch):
    from swaplint.output import source_root

    write("sub/server.py", FLAGGED)
    sources = SourceCache()
    documents = []
    for cwd, path in ((project, "sub/server.py"), (project / "sub", "server.py")):
        monkeypatch.chdir(cwd)
        sources.add_text(path, FLAGGED)
        report = RunReport(findings=[make_finding(path=path)], sources=sources, root=cwd, config_root=project)
        assert source_root(report) == project
        documents.append(json.loads(render(sarif_format.write, report))["runs"][0])
    first, second = documents
    assert first["originalUriBaseIds"] == second["originalUriBaseIds"]
    assert first["results"][0]["locations"] == second["results"][0]["locations"]
    assert first["results"][0]["partialFingerprints"] == second["results"][0]["partialFingerprints"]
    # Without a config, not in git: the working directory, as before.
    monkeypatch.chdir(project)
    assert source_root(RunReport(findings=[make_finding()], root=project)) == project


ANSI_SOURCE = (
    "from swaplint.runtime import receive\n\n"
    "def server_loop(state):\n"
    '    x = "\x1b[2J"; msg = receive()  # \x1b[31mred\x1b[0m \u202e\x07\n'
    "    return server_loop(state + msg)\n"
)


def test_text_escapes_control_characters(project, write, run):
    name = "evil\x1b[2J.py"
    (project / name).write_text(ANSI_SOURCE, encoding="utf-8")
    out = run("check", "--no-cache", "--no-color", name).stdout
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert lines[0] == "evil\\x1b[2J.py"
    row = next(i for i, line in enumerate(lines) if "msg = receive()" in line)
    assert lines[row] == ' 4 |     x = "\\x1b[2J"; msg = receive()  # \\x1b[31mred\\x1b[0m \\u202e\\x07'
    caret = lines[row + 1]
    assert lines[row][caret.index("^") : caret.rindex("^") + 1] == "receive()"


def test_concise_and_github_escape_control_characters():
    finding = make_finding(path="evil\x1b[2J.py", message="waits \x1b]8;;http://x\x07here")
    report = RunReport(findings=[finding])
    from swaplint.output import concise

    for write_ in (concise.write, github_format.write):
        out = render(write_, report)
        assert "\x1b" not in out and "\x07" not in out, out
        assert "\\x1b" in out
    assert github_format.escape_data("a\nb\x1b") == "a%0Ab\\x1b"


def test_escape_controls():
    from swaplint.output import escape_controls

    assert escape_controls("plain\ttab é 😀") == "plain\ttab é 😀"
    assert escape_controls("\x00\x1b\x7f\x9b\u202e\u2066") == "\\x00\\x1b\\x7f\\x9b\\u202e\\u2066"
    assert escape_controls("a\nb\r", keep="\n") == "a\nb\\x0d"


def test_caret_columns_count_display_cells():
    """Carets line up under wide characters (two cells), tabs and escaped controls."""
    from swaplint.output.text import _cells

    assert _cells("q.get()", 2) == 2
    assert _cells("東京 = q.get()", 2) == 4  # each ideograph is two cells wide
    assert _cells("\tq.get()", 1) == text_format.TAB_WIDTH  # a tab is expanded
    assert _cells("\x1bq", 1) == len("\\x1b")  # a control character is shown escaped
