"""What the fast paths must not change: the syntax check without a tree, stat-trusted
cache hits, configurations memoised per directory, the serial threshold, lazy imports."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swaplint import cache as cache_module
from swaplint import engine, runner
from swaplint.cache import Cache, file_signature
from swaplint.check import Configs, Request
from swaplint.config import find_config_file
from swaplint.engine import Finding, Settings, check_source, parse, syntax_ok
from swaplint.runner import Task, check_files

LOOP = "import queue\n\ndef worker(q):\n    while True:\n        q.get()\n"


# -- the syntax check of files the screen drops --------------------------------------------


def _parses(source: str) -> bool:
    return not isinstance(parse(source, "x.py"), Finding)


DEEP = [
    lambda n: "x = " + "-" * n + "1",
    lambda n: "x = " + "a." * n + "b",
    lambda n: "x = " + "lambda: " * n + "1",
    lambda n: "x = 1" + " + 1" * n,
    lambda n: "@" + "a." * n + "b\ndef f(): pass\n",
    lambda n: "def f(a: " + "-" * n + "1): pass\n",
]


@pytest.mark.parametrize("make", DEEP)
def test_syntax_ok_never_passes_what_parse_rejects_near_the_depth_limit(make) -> None:
    # The two passes stop at about the same nesting depth; syntax_ok must stop first.
    low, high = 100, 20_000
    while low < high:  # the deepest nesting parse accepts
        middle = (low + high + 1) // 2
        low, high = (middle, high) if _parses(make(middle)) else (low, middle - 1)
    for depth in range(low - 3, low + 12):
        source = make(depth)
        if syntax_ok(source, "x.py"):
            assert _parses(source), depth


@pytest.mark.parametrize(
    "source",
    [
        "x = (\n",
        "def f(:\n    pass\n",
        "x = 1\n\0\n",
        "nonlocal x\n",  # the symbol table rejects it, the parser does not
        "def f(a):\n    global a\n",
        "x = 'a\\d'\n",  # a SyntaxWarning, not an error
        "return 1\n",  # a compiler error, not a parse error
    ],
)
def test_a_screened_out_file_gets_exactly_the_parse_verdict(source: str) -> None:
    result = check_source(source, "plain.py")
    tree = parse(source, "plain.py")
    expected = [tree] if isinstance(tree, Finding) else []
    assert result.findings == expected


def test_stage_times_add_up_the_stages(monkeypatch) -> None:
    times: dict[str, float] = {}
    monkeypatch.setattr(engine, "stage_times", times)
    check_source(LOOP.encode(), "loop.py")
    check_source(b"x = 1\n", "plain.py")
    assert {"decode", "screen", "parse", "model", "rules", "syntax check"} <= set(times)
    assert all(v >= 0 for v in times.values())


def test_the_collector_is_running_again_after_a_check() -> None:
    import gc

    assert gc.isenabled()
    check_source(LOOP, "loop.py")
    check_source("def f(:\n", "bad.py")
    assert gc.isenabled()


# -- the cache trusts a file's stat only when it is safe -------------------------------------


def _age(path: Path, seconds: float = 60.0) -> None:
    """Make a file look unchanged for a while (its mtime in the past; ctime is now, so
    the test waits out the stability window instead of faking it)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def stable(monkeypatch) -> None:
    # A file counts as stable at once: the tests need not sleep two seconds.
    monkeypatch.setattr(cache_module, "STABLE_AFTER_NS", 0)


def test_an_unchanged_file_is_a_hit_without_being_read(tmp_path: Path, monkeypatch, stable) -> None:
    source = tmp_path / "loop.py"
    source.write_text(LOOP)
    tasks = [Task(str(source), "loop.py", Settings())]
    first = check_files(tasks, jobs=1, cache=Cache(tmp_path / "cache"))
    index = next((tmp_path / "cache").rglob("*.json"))
    (entry,) = json.loads(index.read_bytes())["entries"].values()
    assert entry[4] == file_signature(os.stat(source))

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("read a file whose stat says it is unchanged")

    monkeypatch.setattr(cache_module, "read_regular_file_and_stat", no_reading)
    cache = Cache(tmp_path / "cache")
    assert check_files(tasks, jobs=1, cache=cache)[0].findings == first[0].findings
    assert cache.hits == 1


def test_a_change_that_keeps_size_and_mtime_is_still_seen(tmp_path: Path, stable) -> None:
    source = tmp_path / "loop.py"
    source.write_text(LOOP)
    _age(source)
    tasks = [Task(str(source), "loop.py", Settings())]
    assert check_files(tasks, jobs=1, cache=Cache(tmp_path / "cache"))[0].findings
    before = os.stat(source)
    time.sleep(0.05)  # past the file system's clock tick: the change time moves
    source.write_text(LOOP.replace("q.get()", "q.pop()"))  # same size, no wait
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))  # `touch -r`: mtime kept
    assert os.stat(source).st_size == before.st_size
    cache = Cache(tmp_path / "cache")
    assert check_files(tasks, jobs=1, cache=cache)[0].findings == []  # ctime moved: re-read
    assert cache.hits == 0


def test_a_file_changed_just_before_it_was_read_gets_no_signature(tmp_path: Path) -> None:
    source = tmp_path / "loop.py"
    source.write_text(LOOP)  # now: inside the stability window
    tasks = [Task(str(source), "loop.py", Settings())]
    check_files(tasks, jobs=1, cache=Cache(tmp_path / "cache"))
    index = next((tmp_path / "cache").rglob("*.json"))
    (entry,) = json.loads(index.read_bytes())["entries"].values()
    assert len(entry) == 4  # hash only: the next run reads and hashes it
    cache = Cache(tmp_path / "cache")
    check_files(tasks, jobs=1, cache=cache)
    assert cache.hits == 1


def test_a_forged_signature_is_a_miss(tmp_path: Path, stable) -> None:
    source = tmp_path / "loop.py"
    source.write_text(LOOP)
    tasks = [Task(str(source), "loop.py", Settings())]
    check_files(tasks, jobs=1, cache=Cache(tmp_path / "cache"))
    source.write_text(LOOP.replace("q.get()", "break"))  # same size? no matter: the signature is forged
    index = next((tmp_path / "cache").rglob("*.json"))
    data = json.loads(index.read_bytes())
    for entry in data["entries"].values():
        entry[4] = file_signature(os.stat(source))  # claims the new bytes, checksum not redone
    index.write_text(json.dumps(data))
    cache = Cache(tmp_path / "cache")
    assert check_files(tasks, jobs=1, cache=cache)[0].findings == []
    assert cache.hits == 0


# -- configurations per directory ----------------------------------------------------------


def test_configs_per_directory_match_find_config_file(tmp_path: Path) -> None:
    tree = tmp_path / "a" / "b" / "c" / "d"
    tree.mkdir(parents=True)
    (tmp_path / "a" / ".swaplint.toml").write_text("")
    (tmp_path / "a" / "b" / "c" / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no table
    (tmp_path / "a" / "b" / "c" / "d" / "swaplint.toml").write_text("")
    (tmp_path / "e" / "f").mkdir(parents=True)
    configs = Configs(Request(), tmp_path, [])
    directories = [tmp_path, *sorted(p for p in tmp_path.rglob("*") if p.is_dir())]
    for directory in [*directories, *reversed(directories)]:
        expected = find_config_file(directory)
        assert configs.for_path(directory).path == expected, directory
        assert configs.for_path(directory / "m.py").path == expected, directory


# -- the pool only for enough work -----------------------------------------------------------


def _files(tmp_path: Path, count: int) -> list[Task]:
    tasks = []
    for i in range(count):
        path = tmp_path / f"m{i}.py"
        path.write_text(LOOP)
        tasks.append(Task(str(path), path.name, Settings()))
    return tasks


def test_a_small_run_starts_no_pool(tmp_path: Path, monkeypatch) -> None:
    started: list[int] = []
    real = runner._run_pool
    monkeypatch.setattr(
        runner, "_run_pool", lambda items, *rest: started.append(len(items)) or real(items, *rest)
    )
    tasks = _files(tmp_path, 12)
    serial = check_files(tasks, jobs=2)
    assert started == []  # 12 small files: less work than a pool costs
    monkeypatch.setattr(runner, "MIN_PARALLEL_BYTES", 0)
    assert check_files(tasks, jobs=2) == serial
    assert started == [12]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_check_imports_no_pool_and_no_rich_console(tmp_path: Path, fmt: str) -> None:
    # Plain text (not a terminal) is written without rich's console; only its cell
    # widths are used, for the carets under wide characters.
    source = tmp_path / "loop.py"
    source.write_text(LOOP)
    script = (
        "import sys\n"
        "from swaplint.cli import main\n"
        "try:\n"
        f"    main(['check', '--no-cache', '--format', {fmt!r}, {str(source)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('multiprocessing', 'concurrent.futures', 'rich.console', 'rich.text', 'pathspec',\n"
        "         'tempfile', 'difflib')\n"
        "print([n for n in names if n in sys.modules], file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert "SWL" in out.stdout  # the loop was reported
    assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr


def test_module_name_matches_the_path_arithmetic(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "src" / "pkg" / "sub"
    package.mkdir(parents=True)
    for directory in (tmp_path / "src" / "pkg", package):
        (directory / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    cases = {
        (str(package / "mod.py"), ()): "pkg.sub.mod",
        (str(package / "__init__.py"), ()): "pkg.sub",
        ("src/pkg/sub/mod.pyi", ()): "pkg.sub.mod",
        (str(package / "mod.py"), ("src",)): "pkg.sub.mod",
        (str(package / "__init__.py"), (str(tmp_path / "src") + os.sep,)): "pkg.sub",
        (str(package / "mod.py"), ("elsewhere", "src/pkg")): "sub.mod",
        ("src/pkg/__init__.py", ("src/pkg",)): "__init__",
        ("script", ()): "script",
        ("a.b.py", ()): "a.b",
    }
    packages: dict[str, tuple[str, ...]] = {}
    for (path, src), expected in cases.items():
        assert engine.module_name(path, src) == expected, (path, src)
        assert engine.module_name(path, src, packages=packages) == expected, (path, src)
    assert packages  # the run's memo was filled (and then used, for the second file of pkg.sub)


def test_parse_and_symbol_table_agree_on_real_files() -> None:
    # Every module of swaplint itself: syntax_ok says yes exactly when parse does.
    root = Path(engine.__file__).parent
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert syntax_ok(source, str(path)) == isinstance(ast.parse(source), ast.Module)


def test_a_checked_file_leaves_no_garbage_cycles() -> None:
    """The model's reference cycles are broken after the rules ran (model.release), so a
    file's tree is freed by reference counting: the collector never walks it. A new
    cycle in the model (a recursive closure, a back reference) shows up here."""
    import gc

    source = (Path(engine.__file__).parent / "model.py").read_text(encoding="utf-8") + "\n" + LOOP
    check_source(source, "loop.py")
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        assert check_source(source, "loop.py").findings
        assert gc.collect() == 0, {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


#: A loop that reaches the model and the rules, and is fine: it ends when idle.
CLEAN_LOOP = b"""import queue


def drain(q):
    while True:
        try:
            item = q.get(timeout=1)
        except queue.Empty:
            return
        print(item)
"""


def test_every_rewrite_resolves_and_a_clean_run_loads_none(monkeypatch) -> None:
    from swaplint.rules import _rewrite

    assert sorted(_rewrite.__all__) == sorted(_rewrite._HOMES)
    for name in _rewrite.__all__:
        assert callable(getattr(_rewrite, name)), name
    with pytest.raises(AttributeError):
        _rewrite.no_such_rewrite  # noqa: B018
    script = (
        "import sys\n"
        "from swaplint.engine import check_source\n"
        "from swaplint.engine import Settings\n"
        f"check_source({CLEAN_LOOP!r}, 'clean.py', Settings())\n"
        "print(sorted(n for n in sys.modules if n.startswith('swaplint.rules._rewrite.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    # ... and the file did reach the model and the rules, clean.
    monkeypatch.setattr(engine, "stage_times", {})
    assert check_source(CLEAN_LOOP, "clean.py", Settings()).findings == []
    assert {"model", "rules"} <= set(engine.stage_times)


def test_a_run_of_cache_hits_imports_no_engine(tmp_path: Path) -> None:
    source = tmp_path / "loop.py"
    source.write_text(LOOP)
    cache_dir = tmp_path / "cache"
    script = (
        "import sys\n"
        "from swaplint.cli import main\n"
        "try:\n"
        f"    main(['check', '--cache-dir', {str(cache_dir)!r}, '--format', 'text', {str(source)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('swaplint.engine', 'swaplint.model', 'swaplint.rules', 'swaplint.shapes')\n"
        "print([n for n in names if n in sys.modules], file=sys.stderr)\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        for _ in range(2)
    ]
    assert "SWL" in runs[0].stdout and runs[1].stdout == runs[0].stdout  # the finding, then from the cache
    assert runs[0].stderr.strip().splitlines()[-1] != "[]"  # the first run checked the file
    assert runs[1].stderr.strip().splitlines()[-1] == "[]", runs[1].stderr


@pytest.mark.parametrize(
    ("source", "admitted"),
    [
        # A way out the model counts: the file need not reach it.
        ("def f(s):\n    while True:\n        s.step()\n        if s.done:\n            break\n", False),
        ("def f(s):\n    while True:\n        s.step()\n        return s\n", False),
        (
            "def f(s):\n    while True:\n        if s.bad:\n            raise ValueError\n        s.step()\n",
            False,
        ),
        # A break of a nested loop is no way out of this one.
        (
            "def f(s):\n    while True:\n        for x in s.items:\n            break\n        s.step()\n",
            True,
        ),
        # Unsure: a nested def, a string, a body on the header's line, no exit at all.
        ("def f(s):\n    while True:\n        def g():\n            return 1\n        s.step(g)\n", True),
        ('def f(s):\n    while True:\n        s.log("""\nreturn\n""")\n', True),
        ("def f(s):\n    while True: s.step()\n", True),
        ("def f(s):\n    while True:\n        s.step()\n", True),
    ],
)
def test_the_screen_lets_through_every_while_true_the_model_may_take_for_endless(
    source: str, admitted: bool
) -> None:
    from swaplint.shapes import needles

    assert needles().search(source) is admitted


def test_the_screen_exactness_script_finds_no_difference_on_the_examples() -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "screen_exactness.py"
    root = script.parents[1]
    out = subprocess.run(
        [sys.executable, str(script), str(root / "examples"), str(root / "tests" / "fixtures")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith("; 0 differ")
