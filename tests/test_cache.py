"""The result cache: keys, self-healing, atomic and concurrent writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from swaplint.cache import CACHE_FORMAT, Cache, content_hash, default_cache_dir, settings_key
from swaplint.engine import Settings, check_file
from swaplint.findings import FileResult, RuleError
from swaplint.runner import Task, check_files

LOOP = "def worker(q):\n    while True:\n        q.get()\n"
CLEAN = "def f(d):\n    return d.get('k')\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "loop.py").write_text(LOOP)
    (tmp_path / "src" / "clean.py").write_text(CLEAN)
    return tmp_path


def _tasks(root: Path, settings: Settings = Settings()) -> list[Task]:
    files = sorted((root / "src").glob("*.py"))
    return [Task(str(p), f"src/{p.name}", settings) for p in files]


def _index_files(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / f"v{CACHE_FORMAT}").glob("*.json"))


def test_default_cache_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SWAPLINT_CACHE_DIR", raising=False)
    assert default_cache_dir(tmp_path) == str(tmp_path / ".swaplint_cache")
    monkeypatch.setenv("SWAPLINT_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir(tmp_path) == str(tmp_path / "elsewhere")
    monkeypatch.setenv("SWAPLINT_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert default_cache_dir() == str(tmp_path / ".swaplint_cache")


def test_hit_after_a_run_and_identical_results(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    tasks = _tasks(project)
    cold = Cache(cache_dir)
    first = check_files(tasks, jobs=1, cache=cold)
    assert cold.hits == 0 and cold.misses == 2
    warm = Cache(cache_dir)
    second = check_files(tasks, jobs=1, cache=warm)
    assert warm.hits == 2 and warm.misses == 0
    assert [r.findings for r in first] == [r.findings for r in second]
    assert [r.module for r in first] == [r.module for r in second]
    assert any(r.findings for r in second)  # files with findings are cached too
    assert [f.function for r in first for f in r.findings] == [f.function for r in second for f in r.findings]
    assert (cache_dir / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (cache_dir / ".gitignore").read_text() == "*\n"
    assert not [p for p in cache_dir.rglob(".tmp-*")]


def test_content_change_misses(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    check_files(_tasks(project), jobs=1, cache=Cache(cache_dir))
    (project / "src" / "clean.py").write_text(LOOP)
    cache = Cache(cache_dir)
    results = check_files(_tasks(project), jobs=1, cache=cache)
    assert cache.hits == 1 and cache.misses == 1
    assert results[0].findings  # clean.py now has the loop
    assert [(f.code, f.line) for f in results[0].findings] == [
        (f.code, f.line)
        for f in check_file(project / "src" / "clean.py", display_path="src/clean.py").findings
    ]


def test_settings_and_module_are_part_of_the_key(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    check_files(_tasks(project), jobs=1, cache=Cache(cache_dir))
    other = Settings(enabled=frozenset({"SWL003"}))
    assert settings_key(other) != settings_key(Settings())
    cache = Cache(cache_dir)
    results = check_files(_tasks(project, other), jobs=1, cache=cache)
    assert cache.hits == 0
    assert {f.code for r in results for f in r.findings} == {"SWL003"}
    # The module name changes when the folder becomes a package: a miss.
    (project / "src" / "__init__.py").write_text("")
    cache = Cache(cache_dir)
    results = check_files(_tasks(project), jobs=1, cache=cache)
    assert cache.hits == 0 and cache.misses == 3  # both files changed module; __init__ is new
    assert {r.module for r in results} == {"src.clean", "src.loop", "src"}


def test_corrupt_index_is_ignored_and_rewritten(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    tasks = _tasks(project)
    expected = [r.findings for r in check_files(tasks, jobs=1, cache=Cache(cache_dir))]
    (index,) = _index_files(cache_dir)
    for garbage in (b"\x00\xffnot json", b'{"format": 1, "entries": []}', b"[1, 2]", b""):
        index.write_bytes(garbage)
        cache = Cache(cache_dir)
        assert [r.findings for r in check_files(tasks, jobs=1, cache=cache)] == expected
        assert cache.hits == 0
        assert json.loads(index.read_bytes())["format"] == CACHE_FORMAT  # rewritten
    # Malformed entries: each is a miss, never a crash.
    data = json.loads(index.read_bytes())
    for key in data["entries"]:
        data["entries"][key][2] = [{"code": "SWL003", "severity": "bogus"}]
    index.write_text(json.dumps(data))
    cache = Cache(cache_dir)
    assert [r.findings for r in check_files(tasks, jobs=1, cache=cache)] == expected
    assert cache.hits == 0
    data["entries"] = {k: "nonsense" for k in data["entries"]}
    index.write_text(json.dumps(data))
    assert [r.findings for r in check_files(tasks, jobs=1, cache=Cache(cache_dir))] == expected


def test_concurrent_runs_merge(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first, second = _tasks(project)
    a, b = Cache(cache_dir), Cache(cache_dir)
    # Both read the (empty) index, then each saves its own file's entry.
    check_files([first], jobs=1, cache=a)
    check_files([second], jobs=1, cache=b)
    cache = Cache(cache_dir)
    check_files([first, second], jobs=1, cache=cache)
    assert cache.hits == 2


def test_unwritable_cache_dir_is_no_error(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = Cache(blocker / "cache")
    results = check_files(_tasks(project), jobs=1, cache=cache)
    assert any(r.findings for r in results)


def test_errors_are_not_cached(project: Path, tmp_path: Path, monkeypatch) -> None:
    import swaplint.runner as runner

    cache_dir = tmp_path / "cache"

    def crash(data, task, module):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "_check_data", crash)
    results = check_files(_tasks(project), jobs=1, cache=Cache(cache_dir))
    assert all(r.errors for r in results)
    monkeypatch.undo()
    cache = Cache(cache_dir)
    results = check_files(_tasks(project), jobs=1, cache=cache)
    assert cache.hits == 0 and not any(r.errors for r in results)


def test_unreadable_file_is_not_cached(tmp_path: Path) -> None:
    task = Task(str(tmp_path / "missing.py"), "missing.py", Settings())
    cache = Cache(tmp_path / "cache")
    (result,) = check_files([task], jobs=1, cache=cache)
    assert [f.code for f in result.findings] == ["SWL999"]
    cache = Cache(tmp_path / "cache")
    (again,) = check_files([task], jobs=1, cache=cache)
    assert cache.hits == 0 and again.findings == result.findings


def test_content_hash_is_stable() -> None:
    assert content_hash(b"x") == content_hash(b"x") != content_hash(b"y")
    assert isinstance(FileResult("p", errors=[RuleError("engine", "p", "e")]).errors[0], RuleError)
    assert os.sep  # keep imports used


# -- hardening (issue 12, item 6): nothing read from the cache is trusted --------------------


def _entries(index: Path) -> dict:
    return json.loads(index.read_bytes())["entries"]


def test_a_forged_entry_cannot_hide_findings(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    tasks = _tasks(project)
    expected = [r.findings for r in check_files(tasks, jobs=1, cache=Cache(cache_dir))]
    assert any(expected)
    (index,) = _index_files(cache_dir)
    data = json.loads(index.read_bytes())
    # Right content hash and module, findings emptied: a truncated or edited entry.
    for entry in data["entries"].values():
        entry[2] = []
    index.write_text(json.dumps(data))
    cache = Cache(cache_dir)
    assert [r.findings for r in check_files(tasks, jobs=1, cache=cache)] == expected
    assert cache.hits == 1  # clean.py's entry had no findings to drop: unchanged
    # An entry filed under another path (or copied from another index) is a miss too.
    data = json.loads(index.read_bytes())
    entries = data["entries"]
    entries["src/clean.py"], entries["src/loop.py"] = entries["src/loop.py"], entries["src/clean.py"]
    (project / "src" / "clean.py").write_text(LOOP)
    (project / "src" / "loop.py").write_text(CLEAN)
    index.write_text(json.dumps(data))
    cache = Cache(cache_dir)
    swapped = check_files(tasks, jobs=1, cache=cache)
    assert cache.hits == 0
    assert [r.findings for r in swapped] == [
        check_file(t.disk_path, display_path=t.display_path).findings for t in tasks
    ]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda e: e[:3],  # truncated
        lambda e: [*e[:2], [{"code": "SWL003"}], e[3]],  # missing fields
        lambda e: [*e[:2], [dict(e[2][0], line=-5)] if e[2] else [1], e[3]],  # bad line
        lambda e: [*e[:2], "rows", e[3]],
        lambda e: [*e[:2], [[1, 2]], e[3]],
        lambda e: [None, None, None, None],
        lambda e: {"a": 1},
    ],
    ids=["truncated", "missing-fields", "bad-line", "rows-not-a-list", "row-not-a-dict", "nulls", "dict"],
)
def test_malformed_entries_are_misses(project: Path, tmp_path: Path, mangle) -> None:
    cache_dir = tmp_path / "cache"
    tasks = _tasks(project)
    expected = [r.findings for r in check_files(tasks, jobs=1, cache=Cache(cache_dir))]
    (index,) = _index_files(cache_dir)
    data = json.loads(index.read_bytes())
    data["entries"] = {k: mangle(v) for k, v in data["entries"].items()}
    index.write_text(json.dumps(data))
    cache = Cache(cache_dir)
    assert [r.findings for r in check_files(tasks, jobs=1, cache=cache)] == expected
    assert cache.hits == 0
    cache = Cache(cache_dir)  # and rewritten: the next run hits
    check_files(tasks, jobs=1, cache=cache)
    assert cache.hits == 2


def test_deeply_nested_index_is_a_miss(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    tasks = _tasks(project)
    expected = [r.findings for r in check_files(tasks, jobs=1, cache=Cache(cache_dir))]
    (index,) = _index_files(cache_dir)
    index.write_text("[" * 200_000 + "]" * 200_000)
    cache = Cache(cache_dir)
    assert [r.findings for r in check_files(tasks, jobs=1, cache=cache)] == expected
    assert cache.hits == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_or_device_in_the_cache_never_hangs(project: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    cache_dir = tmp_path / "cache"
    tasks = _tasks(project)
    check_files(tasks, jobs=1, cache=Cache(cache_dir))
    (index,) = _index_files(cache_dir)
    index.unlink()
    os.mkfifo(index)
    # In a child with a time limit: the old code blocks forever opening the FIFO.
    script = (
        "import sys\n"
        "from swaplint.cache import Cache\n"
        "from swaplint.engine import Settings\n"
        "from swaplint.runner import Task, check_files\n"
        "tasks = [Task(p, p, Settings()) for p in sys.argv[2:]]\n"
        "cache = Cache(sys.argv[1])\n"
        "results = check_files(tasks, jobs=1, cache=cache)\n"
        "print(cache.hits, sum(len(r.findings) for r in results))\n"
    )
    args = [sys.executable, "-c", script, str(cache_dir), *(t.disk_path for t in tasks)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.split()[0] == "0" and int(out.split()[1]) > 0
    # Replaced by a real index on save: the next run hits.
    assert index.is_file() and not index.is_symlink()
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.split()[0] == "2"
    # A symlink to a device is not followed.
    index.unlink()
    index.symlink_to("/dev/zero")
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.split()[0] == "0"
