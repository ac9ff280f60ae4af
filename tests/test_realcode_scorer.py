"""The real-code benchmark's fetcher and scorer (benchmarks/realcode/realcode.py).

Everything runs on a tiny synthetic corpus built in tmp_path: a hand-made sdist placed
in the cache (so nothing is downloaded), labels, and a stand-in for swaplint that prints
fixed findings, so these tests do not depend on what the rules report today.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
import tarfile
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "realcode" / "realcode.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realcode_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rc = _load()

LOOPS = textwrap.dedent(
    """\
    import queue


    def worker(q):
        while True:
            msg = q.get()
            handle(msg)


    def drain(q):
        while True:
            try:
                q.get_nowait()
            except queue.Empty:
                break


    def wait_for(flag):
        while not flag.is_set():
            flag.wait(1)


    def other(q):
        while True:
            q.get()
    """
)

LABELS = textwrap.dedent(
    """\
    [[site]]
    file = "loops.py"
    lines = [5, 7]
    function = "worker"
    label = "hazard"
    codes = ["SWL006", "SWL003"]
    shape = "queue-get"
    note = "blocking get forever"

    [[site]]
    file = "loops.py"
    lines = [11, 15]
    function = "drain"
    label = "clean"
    shape = "drain"
    note = "get_nowait until Empty"

    [[site]]
    file = "loops.py"
    lines = [19, 20]
    function = "wait_for"
    label = "debatable"
    shape = "event-wait"
    note = "unsure"
    """
)


def _tar(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _corpus(tmp_path: Path, members: dict[str, bytes] | None = None) -> tuple[Path, Path, Path]:
    """manifest, labels folder and cache folder of a one-project corpus."""
    cache = tmp_path / "cache"
    (cache / "sdists").mkdir(parents=True)
    if members is None:
        members = {"demo-1.0/demo/loops.py": LOOPS.encode(), "demo-1.0/tests/test_x.py": b"x = 1\n"}
    sha = _tar(cache / "sdists" / "demo-1.0.tar.gz", members)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        textwrap.dedent(
            f"""\
            [[project]]
            name = "demo"
            version = "1.0"
            sdist = "demo-1.0.tar.gz"
            sha256 = "{sha}"
            subtree = "demo"
            exclude = ["tests/"]
            """
        )
    )
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "demo.toml").write_text(LABELS)
    return manifest, labels, cache


def _fake_swaplint(tmp_path: Path, findings: list[dict[str, Any]]) -> str:
    """A stand-in CLI that checks its arguments and prints ``findings`` as JSON."""
    script = tmp_path / "fake_swaplint.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import json, sys
            args = sys.argv[1:]
            assert args[:5] == ["check", "--format", "json", "--no-cache", "--exit-zero"], args
            assert args[-1] == "."
            with open({str(tmp_path / "argv.json")!r}, "w") as fh:
                json.dump(args, fh)
            print(json.dumps({findings!r}))
            """
        )
    )
    return f"{sys.executable} {script}"


def _finding(line: int, code: str, path: str = "loops.py") -> dict[str, Any]:
    return {"code": code, "path": path, "line": line, "column": 1, "message": f"{code} here", "function": "f"}


# --------------------------------------------------------------------------- fetch


def test_fetch_unpacks_verifies_and_is_idempotent(tmp_path: Path) -> None:
    manifest, _, cache = _corpus(tmp_path)
    (project,) = rc.load_manifest(manifest)
    subtree = rc.fetch(project, cache, download=False)
    assert (subtree / "loops.py").read_text() == LOOPS
    marker = subtree.parents[1] / ".swaplint-sha256"
    assert marker.read_text().strip() == project.sha256
    # A second fetch keeps the unpacked tree (a file added there survives).
    (subtree / "extra.py").write_text("")
    assert rc.fetch(project, cache, download=False) == subtree
    assert (subtree / "extra.py").exists()


def test_fetch_rejects_a_wrong_sha256(tmp_path: Path) -> None:
    manifest, _, cache = _corpus(tmp_path)
    text = manifest.read_text()
    sha = text.split('sha256 = "')[1].split('"')[0]
    manifest.write_text(text.replace(sha, "0" * 64))
    (project,) = rc.load_manifest(manifest)
    with pytest.raises(rc.CorpusError, match="sha256"):
        rc.fetch(project, cache, download=False)
    assert not (cache / "src" / "demo-1.0").exists()


def test_fetch_offline_without_the_archive_fails(tmp_path: Path) -> None:
    manifest, _, cache = _corpus(tmp_path)
    (cache / "sdists" / "demo-1.0.tar.gz").unlink()
    (project,) = rc.load_manifest(manifest)
    with pytest.raises(rc.CorpusError, match="missing"):
        rc.fetch(project, cache, download=False)


@pytest.mark.parametrize("bad", ["../evil.py", "/abs/evil.py", "demo-1.0/../../evil.py"])
def test_safe_extract_refuses_names_that_leave_the_folder(tmp_path: Path, bad: str) -> None:
    archive = tmp_path / "bad.tar.gz"
    _tar(archive, {"demo-1.0/ok.py": b"", bad: b"boom"})
    with pytest.raises(rc.CorpusError, match=r"unsafe|leaves"):
        rc.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_safe_extract_skips_links(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        link = tarfile.TarInfo("demo-1.0/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tf.addfile(link)
        data = b"x = 1\n"
        info = tarfile.TarInfo("demo-1.0/a.py")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    rc.safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "demo-1.0" / "a.py").read_bytes() == b"x = 1\n"
    assert not (tmp_path / "out" / "demo-1.0" / "passwd").exists()


# --------------------------------------------------------------------------- labels


def test_load_labels_validates(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    cases = {
        'label = "maybe"': "label",
        'label = "clean"\ncodes = ["SWL003"]': "only a hazard",
        'label = "hazard"': "codes",
        'label = "hazard"\ncodes = ["SWL042"]': "unknown codes",
    }
    for body, message in cases.items():
        path.write_text(f'[[site]]\nfile = "a.py"\nlines = [3, 4]\n{body}\n')
        with pytest.raises(rc.CorpusError, match=message):
            rc.load_labels(path, "p")
    path.write_text('[[site]]\nfile = "../a.py"\nlines = [3, 4]\nlabel = "clean"\n')
    with pytest.raises(rc.CorpusError, match="safe"):
        rc.load_labels(path, "p")


def test_check_sites_reports_missing_files_and_spans_past_the_end(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\ny = 2\n\nwhile x:\n    y()\n")
    sites = [
        rc.Site("p", "a.py", 1, 2, "", "clean", (), "", ""),
        rc.Site("p", "a.py", 2, 9, "", "clean", (), "", ""),
        rc.Site("p", "a.py", 3, 5, "", "clean", (), "", ""),
        rc.Site("p", "a.py", 4, 5, "", "clean", (), "", ""),
        rc.Site("p", "a.py", 4, 5, "", "hazard", ("SWL006",), "", ""),
        rc.Site("p", "b.py", 1, 1, "", "clean", (), "", ""),
    ]
    problems = rc.check_sites(sites, tmp_path)
    assert any("a.py:2-9" in p and "past the end" in p for p in problems)
    assert any("a.py:3-5" in p and "starts no statement" in p for p in problems)
    assert any("a.py:4-5" in p and "labelled twice" in p for p in problems)
    assert any("b.py" in p and "no such file" in p for p in problems)
    assert not any("a.py:1-2" in p for p in problems)
    assert len(problems) == 4


# --------------------------------------------------------------------------- scoring


def _sites() -> list[Any]:
    return [
        rc.Site("p", "m.py", 10, 30, "outer", "hazard", ("SWL006",), "helper-wait", ""),
        rc.Site("p", "m.py", 12, 14, "outer", "clean", (), "select-guarded", ""),
        rc.Site("p", "m.py", 40, 45, "h", "hazard", ("SWL006", "SWL003"), "queue-get", ""),
        rc.Site("p", "m.py", 50, 55, "d", "debatable", (), "poll-sleep", ""),
        rc.Site("p", "m.py", 60, 65, "missed", "hazard", ("SWL003",), "iteration", ""),
        rc.Site("q", "m.py", 10, 30, "other project", "hazard", ("SWL006",), "poll-sleep", ""),
    ]


def test_score_matches_the_smallest_span_and_counts() -> None:
    findings = [
        rc.Finding("p", "m.py", 13, "SWL003", "recv after select"),  # clean inner span: FP
        rc.Finding("p", "m.py", 41, "SWL003", "get"),  # hazard with the code: TP
        rc.Finding("p", "m.py", 40, "SWL006", "loop"),  # TP
        rc.Finding("p", "m.py", 42, "SWL001", "wrong code"),  # hazard without the code: FP
        rc.Finding("p", "m.py", 51, "SWL006", "maybe"),  # debatable: excluded
        rc.Finding("p", "m.py", 99, "SWL006", "nowhere"),  # unjudged
        rc.Finding("p", "other.py", 41, "SWL006", "other file"),  # unjudged
    ]
    report = rc.score(findings, _sites(), ["p", "q"])
    verdicts = [j.verdict for j in report.judged]
    assert verdicts == ["fp", "tp", "tp", "fp", "debatable", "unjudged", "unjudged"]
    assert report.judged[0].site.label == "clean"

    overall = report.overall
    assert (overall.tp, overall.fp, overall.debatable, overall.unjudged) == (2, 2, 1, 2)
    assert overall.precision == pytest.approx(2 / 4)
    assert overall.precision_pessimistic == pytest.approx(2 / 6)
    # Hazard sites: outer (only a false finding inside it: not found), h (found),
    # missed (not found), q's outer (not found).
    assert (overall.sites, overall.found, overall.found_strict) == (4, 1, 1)
    assert {s.function for s in report.missed} == {"outer", "missed", "other project"}

    swl003 = report.by_rule["SWL003"]
    assert (swl003.sites, swl003.found, swl003.tp, swl003.fp) == (2, 1, 1, 1)
    swl001 = report.by_rule["SWL001"]
    assert (swl001.tp, swl001.fp, swl001.sites) == (0, 1, 0)
    assert report.by_project["q"].sites == 1 and report.by_project["q"].found == 0
    assert report.label_counts == {"hazard": 4, "clean": 1, "debatable": 1}
    assert report.shape_counts["hazard"]["queue-get"] == 1


def test_a_true_finding_in_an_inner_span_finds_the_enclosing_hazard() -> None:
    sites = [
        rc.Site("p", "m.py", 10, 30, "outer", "hazard", ("SWL006",), "", ""),
        rc.Site("p", "m.py", 12, 14, "inner", "hazard", ("SWL003",), "", ""),
    ]
    report = rc.score([rc.Finding("p", "m.py", 13, "SWL003", "")], sites, ["p"])
    assert report.overall.found == 2
    assert report.overall.found_strict == 1  # the outer loop's code was not reported
    assert [s.function for s in report.missed_strict] == ["outer"]


def test_wrong_code_counts_as_found_but_not_strictly() -> None:
    sites = [rc.Site("p", "m.py", 1, 5, "f", "hazard", ("SWL006",), "", "")]
    report = rc.score([rc.Finding("p", "m.py", 2, "SWL003", "")], sites, ["p"])
    assert (report.overall.found, report.overall.found_strict, report.overall.fp) == (1, 0, 1)
    assert report.missed == [] and len(report.missed_strict) == 1


def test_empty_tallies_print_dashes() -> None:
    report = rc.score([], [], ["p"])
    text = rc.markdown(report)
    assert "| p | 0 | 0 | – | – | 0 | 0 | 0 | 0 | – | – |" in text


# --------------------------------------------------------------------------- end to end


def test_score_end_to_end_with_a_stand_in_swaplint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, labels, cache = _corpus(tmp_path)
    fake = _fake_swaplint(
        tmp_path,
        [
            _finding(5, "SWL006"),
            _finding(6, "SWL003"),
            _finding(13, "SWL003"),
            _finding(19, "SWL006"),
            _finding(24, "SWL006"),
            _finding(1, "SWL006", path="tests/test_x.py"),  # excluded by the manifest: dropped
        ],
    )
    base = ["--manifest", str(manifest), "--labels", str(labels), "--cache-dir", str(cache), "--offline"]
    args = [*base, "score", "--swaplint", fake, "--swaplint-args", "--reload-model importlib"]
    assert rc.main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    overall = data["overall"]
    assert (overall["tp"], overall["fp"], overall["debatable"], overall["unjudged"]) == (2, 1, 1, 1)
    assert overall["recall"] == 1.0 and overall["precision"] == pytest.approx(2 / 3)
    passed = json.loads((tmp_path / "argv.json").read_text())
    assert "--reload-model" in passed and "importlib" in passed
    assert passed[passed.index("--extend-exclude") + 1] == "tests/"

    assert rc.main(args) == 0
    text = capsys.readouterr().out
    assert "Labelled sites: 3 (1 hazard, 1 clean, 1 debatable)." in text
    assert "| demo | 1 | 1 | 100% | 100% | 2 | 1 | 1 | 1 | 67% | 50% |" in text
    assert "### Unjudged findings (label these): 1" in text
    assert "- demo loops.py:24 SWL006: SWL006 here" in text
    assert "### Missed hazard sites: 0" in text


def test_candidates_lists_unlabelled_loops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest, labels, cache = _corpus(tmp_path)
    base = ["--manifest", str(manifest), "--labels", str(labels), "--cache-dir", str(cache), "--offline"]
    assert rc.main([*base, "candidates"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["demo loops.py:24-25 other While"]


def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest, labels, cache = _corpus(tmp_path)
    base = ["--manifest", str(manifest), "--labels", str(labels), "--cache-dir", str(cache), "--offline"]
    assert rc.main([*base, "score", "nosuch"]) == 2
    assert "unknown projects: nosuch" in capsys.readouterr().err
    fail = tmp_path / "fail.py"
    fail.write_text("import sys\nsys.exit(3)\n")
    assert rc.main([*base, "score", "--swaplint", f"{sys.executable} {fail}"]) == 2
    assert "exited 3" in capsys.readouterr().err


def test_the_real_cli_output_is_understood(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """swaplint's own JSON goes through the scorer; the numbers depend on the rules, so
    only the plumbing is checked: every finding has a verdict and a relative path."""
    manifest, labels, cache = _corpus(tmp_path)
    base = ["--manifest", str(manifest), "--labels", str(labels), "--cache-dir", str(cache), "--offline"]
    command = f"{sys.executable} -c 'from swaplint.cli import main; main()'"
    assert rc.main([*base, "score", "--json", "--swaplint", command]) == 0
    data = json.loads(capsys.readouterr().out)
    for finding in data["findings"]:
        assert finding["path"] == "loops.py"
        assert finding["verdict"] in {"tp", "fp", "debatable", "unjudged"}


# --------------------------------------------------------------------------- the committed corpus


def test_the_committed_manifest_and_labels_are_consistent() -> None:
    here = ROOT / "benchmarks" / "realcode"
    projects = rc.load_manifest(here / "manifest.toml")
    names = {p.name for p in projects}
    assert len(projects) >= 10
    for project in projects:
        assert len(project.sha256) == 64
        assert project.sdist.startswith(project.folder)
    files = sorted((here / "labels").glob("*.toml"))
    assert {f.stem for f in files} <= names
    sites = [site for f in files for site in rc.load_labels(f, f.stem)]
    hazards = [s for s in sites if s.label == "hazard"]
    assert len(sites) >= 120 and len(hazards) >= 60
    assert len({s.project for s in hazards}) >= 10
    keys = [(s.project, s.file, s.start, s.end) for s in sites]
    assert len(keys) == len(set(keys)), "a span is labelled twice"
    assert all(s.note and s.shape for s in sites)


def test_fix_snippets_are_checked_as_python_in_their_context() -> None:
    assert rc.snippet_parses("while True:\n    worker_step(q)")
    assert rc.snippet_parses("while True:\n    await consume_step(inbox)")
    assert rc.snippet_parses("while True:\n    async for item in agen_step(self): yield item")
    assert not rc.snippet_parses("while True:\n    yield from step(q)\n    await x")  # async generator
    assert not rc.snippet_parses("return m.loop(self, *")
