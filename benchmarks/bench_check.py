#!/usr/bin/env python3
"""How fast is ``swaplint check``, next to the parse floor (and to its peers)?

One table per corpus (this machine's CPython standard library, and its
``asyncio`` + ``concurrent`` + ``multiprocessing`` + ``logging`` subset):

* ``ast.parse`` of every file, on one core: the floor every ratio refers to,
  measured in the same run;
* swaplint cold (no cache) with ``--jobs 1`` and with the default (every core
  this process may use), on a quiet machine and with one core kept busy by a
  ``yes > /dev/null`` hog;
* swaplint warm (every file a cache hit), pre-commit-like runs over 5 files
  (the hook's command, no cache): five large concurrency modules, and the five
  files of median size; and the start-up (one empty file);
* the peak resident memory of the largest process of each run;
* the per-stage split, measured in one process (``swaplint.engine.stage_times``):
  read, decode, screen, syntax check (files the screen drops), parse, model,
  rules (files it keeps), and output (rendering every finding as text and JSON);
* ``libcst.parse_module`` with ``--libcst``, and fixit, flake8 and ruff unless
  ``--no-peers`` (when installed).

Each figure is the median of several runs (the table says how many), with the
fastest run beside it (this machine's timings swing by 20-30%). swaplint
runs as a whole process through its CLI, start-up included, with its bytecode
cached as an installed package has it (``PYTHONDONTWRITEBYTECODE`` is cleared
for those runs, and one run warms the cache first).

The files are copied to a temporary folder first, outside any git work tree, so
every tool sees exactly the same files. Run from the repository root::

    python benchmarks/bench_check.py --no-peers    # about 5 minutes on 2 cores
    python benchmarks/bench_check.py --quick       # the subset only, fewer runs

``--root DIR`` times another checkout of swaplint (e.g. an older commit, for a
before/after table). This is a script that prints a table, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ("asyncio", "concurrent", "multiprocessing", "logging")
#: The pre-commit-like run: five files of the subset, by path below the stdlib.
FIVE = (
    "asyncio/locks.py",
    "asyncio/queues.py",
    "concurrent/futures/thread.py",
    "logging/config.py",
    "multiprocessing/pool.py",
)

# Runs in a child: run a command, report its wall time and the peak RSS of the
# largest process it started (its children's, waited for, included).
WRAPPER = r"""
import json, resource, subprocess, sys, time
argv = json.loads(sys.argv[1])
start = time.perf_counter()
proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "rss_kb": rss, "rc": proc.returncode,
                  "stdout": proc.stdout.decode(errors="replace")[-200:],
                  "stderr": proc.stderr.decode(errors="replace")[-2000:]}))
"""

# Runs in a child: the in-process time of parsing every listed file.
PARSE = r"""
import sys, time
kind, listing = sys.argv[1], sys.argv[2]
files = open(listing, encoding="utf-8").read().split("\n")
if kind == "ast":
    import ast, warnings
    warnings.simplefilter("ignore")
    parse = ast.parse
else:
    import libcst
    parse = libcst.parse_module
start = time.perf_counter()
for name in files:
    with open(name, "rb") as handle:
        data = handle.read()
    try:
        parse(data)
    except Exception:
        pass
print(time.perf_counter() - start)
"""

# Runs in a child: swaplint's stages, in one process, over every listed file.
STAGES = r"""
import io, json, os, sys, time
from pathlib import Path
listing = sys.argv[1]
files = open(listing, encoding="utf-8").read().split("\n")
from swaplint import engine
from swaplint.output import RunReport, SourceCache, get_formatter
if not hasattr(engine, "stage_times"):
    print(json.dumps({}))
    sys.exit(0)
engine.stage_times = times = {"read": 0.0}
settings = engine.Settings()
results = []
for name in files:
    start = time.perf_counter()
    with open(name, "rb") as handle:
        data = handle.read()
    times["read"] += time.perf_counter() - start
    results.append(engine.check_source(data, name, settings, module="m"))
findings = sorted((f for r in results for f in r.findings), key=lambda f: f.sort_key())
sources = SourceCache()
for name in files:
    sources.add_file(name, name)
for fmt in ("text", "json"):
    report = RunReport(findings=findings, errors=[], files_checked=len(files), missing=[],
                       sources=sources, root=Path(os.getcwd()), config_root=None, color=False, quiet=False)
    start = time.perf_counter()
    get_formatter(fmt)(report, io.StringIO())
    times[f"output ({fmt})"] = time.perf_counter() - start
times["findings"] = len(findings)
print(json.dumps(times))
"""


@dataclass
class Row:
    corpus: str
    tool: str
    what: str
    times: list[float] = field(default_factory=list)
    rss_kb: int = 0
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def fastest(self) -> float | None:
        return min(self.times) if self.times else None


def median_sized(files: list[str], count: int = 5) -> list[str]:
    """The ``count`` files around the median size of ``files``: what a commit touches
    (the subset's median file is ~9 kB, as is the whole stdlib's)."""
    by_size = sorted(files, key=lambda f: (os.path.getsize(f), f))
    start = max(0, len(by_size) // 2 - count // 2)
    return by_size[start : start + count]


def find_tool(name: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def copy_corpus(stdlib: Path, dest: Path) -> tuple[list[str], list[str]]:
    """Copy every ``.py`` of the stdlib (no site-packages, no caches) to ``dest``."""
    every: list[str] = []
    subset: list[str] = []
    for directory, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__"))
        rel_dir = Path(directory).relative_to(stdlib)
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            target = dest / rel_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(directory, name), target)
            every.append(str(target))
            if rel_dir.parts and rel_dir.parts[0] in SUBSET:
                subset.append(str(target))
    return every, subset


def measure(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int, str]:
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    problem = ""
    # 0/1: clean/findings for swaplint, flake8 and ruff; fixit adds bits (2, 3...) for
    # fixable findings. Only a signal or a usage error (>= 4) is worth a note.
    if not 0 <= data["rc"] < 4:
        problem = f"exit {data['rc']}: {data['stderr'].strip().splitlines()[-1:] or ''}"
    return data["wall"], data["rss_kb"], problem


def parse_time(kind: str, listing: Path) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps([sys.executable, "-c", PARSE, kind, str(listing)])],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    return float(data["stdout"].strip()), data["rss_kb"]


def stage_times(listing: Path, cwd: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", STAGES, str(listing)], cwd=cwd, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return {}
    data: dict[str, float] = json.loads(out.stdout)
    return data


def swaplint_argv(
    files: list[str], *, jobs: int | None, cache_dir: str | None, fmt: str = "json"
) -> list[str]:
    argv = [sys.executable, "-m", "swaplint", "check", "--format", fmt, "-o", os.devnull]
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    argv += ["--no-cache"] if cache_dir is None else ["--cache-dir", cache_dir]
    return argv + files


def hook_argv(root: Path) -> list[str]:
    """The command the pre-commit hook runs (``entry`` in ``.pre-commit-hooks.yaml``),
    output to a pipe as pre-commit has it."""
    hooks = (root / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    entry = next(line.split(":", 1)[1] for line in hooks.splitlines() if line.strip().startswith("entry:"))
    program, *args = entry.split()
    assert program == "swaplint", entry
    return [sys.executable, "-m", "swaplint", *args]


def _time_into(row: Row, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    seconds, rss, problem = measure(argv, cwd, env)
    row.times.append(seconds)
    row.rss_kb = max(row.rss_kb, rss)
    row.note = problem or row.note


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """One core kept busy by ``yes > /dev/null`` while the block runs."""
    with open(os.devnull, "wb") as sink:
        hog = subprocess.Popen(["yes"], stdout=sink)
    try:
        yield
    finally:
        hog.kill()
        hog.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the subset only, fewer runs")
    parser.add_argument("--stdlib", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--root", type=Path, default=ROOT, help="the swaplint checkout to time")
    parser.add_argument("--libcst", action="store_true", help="also time libcst.parse_module")
    parser.add_argument("--no-busy", action="store_true", help="skip the runs with one core busy")
    parser.add_argument("--fixit")
    parser.add_argument("--flake8")
    parser.add_argument("--ruff")
    parser.add_argument("--no-peers", action="store_true", help="swaplint and the parsers only")
    args = parser.parse_args()

    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    tools = {name: find_tool(name, getattr(args, name)) for name in ("fixit", "flake8", "ruff")}
    root = args.root.resolve()
    # That checkout's swaplint, whether or not it is installed; its bytecode cached.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    rows: list[Row] = []
    stages: dict[str, dict[str, float]] = {}
    load = os.getloadavg() if hasattr(os, "getloadavg") else None

    with tempfile.TemporaryDirectory(prefix="swaplint-bench-") as tmp_name:
        tmp = Path(tmp_name)
        every, subset = copy_corpus(args.stdlib, tmp / "stdlib")
        five = [str(tmp / "stdlib" / name) for name in FIVE]
        empty = tmp / "empty.py"
        empty.write_text("", encoding="utf-8")
        corpora = [("subset", subset)] + ([] if args.quick else [("stdlib", every)])
        sizes = {"subset": subset, "stdlib": every}
        megabytes = {k: sum(os.path.getsize(f) for f in v) / 1e6 for k, v in sizes.items()}
        measure(swaplint_argv([str(empty)], jobs=None, cache_dir=None), tmp, env)  # bytecode
        for corpus, files in corpora:
            listing = tmp / f"{corpus}.txt"
            listing.write_text("\n".join(files), encoding="utf-8")
            big = corpus == "stdlib"
            reps = 1 if args.quick else 3
            note_progress = lambda what: print(f"  {corpus}: {what}", file=sys.stderr, flush=True)  # noqa: E731

            # The floor and the cold runs take turns, round after round, so that a
            # machine whose load changes (another test suite...) weighs on each alike.
            floor = Row(corpus, "ast.parse", "parse every file, 1 core (the floor)")
            cold: list[tuple[Row, int | None]] = [
                (Row(corpus, "swaplint", "cold, --jobs 1 (no cache)"), 1),
                (Row(corpus, "swaplint", f"cold, default ({jobs} jobs) (no cache)"), None),
            ]
            busy_rows: list[tuple[Row, int | None]] = [
                (Row(corpus, "swaplint", "cold, --jobs 1, one core busy (no cache)"), 1),
                (Row(corpus, "swaplint", f"cold, default ({jobs} jobs), one core busy (no cache)"), None),
            ]
            rounds = 3 if not args.quick else 2
            for round_number in range(rounds):
                note_progress(f"ast.parse and swaplint cold, round {round_number + 1} of {rounds}")
                seconds, rss = parse_time("ast", listing)
                floor.times.append(seconds)
                floor.rss_kb = max(floor.rss_kb, rss)
                for row, n_jobs in cold:
                    _time_into(row, swaplint_argv(files, jobs=n_jobs, cache_dir=None), tmp, env)
            rows.append(floor)
            rows.extend(row for row, _ in cold)
            if not args.no_busy:
                with busy_core():
                    for round_number in range(2):
                        note_progress(f"swaplint cold, one core busy, round {round_number + 1} of 2")
                        for row, n_jobs in busy_rows:
                            _time_into(row, swaplint_argv(files, jobs=n_jobs, cache_dir=None), tmp, env)
                rows.extend(row for row, _ in busy_rows)

            if args.libcst:
                row = Row(corpus, "libcst.parse_module", "parse every file, 1 core")
                if importlib.util.find_spec("libcst") is None:
                    row.note = "libcst is not installed (swaplint does not need it)"
                else:
                    note_progress("libcst.parse_module")
                    for _ in range(1 if big else reps):
                        seconds, rss = parse_time("libcst", listing)
                        row.times.append(seconds)
                        row.rss_kb = max(row.rss_kb, rss)
                rows.append(row)

            note_progress("swaplint warm")
            cache_dir = str(tmp / f"cache-{corpus}")
            measure(swaplint_argv(files, jobs=None, cache_dir=cache_dir), tmp, env)  # fill it
            row = Row(corpus, "swaplint", "warm (every file a cache hit)")
            for _ in range(5):
                seconds, rss, problem = measure(
                    swaplint_argv(files, jobs=None, cache_dir=cache_dir), tmp, env
                )
                row.times.append(seconds)
                row.rss_kb = max(row.rss_kb, rss)
                row.note = problem or row.note
            rows.append(row)

            if corpus == "subset":
                note_progress("swaplint 5 files, start-up")
                size = sum(os.path.getsize(f) for f in five) / 1000
                typical = median_sized(files)
                typical_size = sum(os.path.getsize(f) for f in typical) / 1000
                for what, argv in (
                    (
                        f"5 files ({size:.0f} kB), pre-commit: the hook's command, no cache",
                        [*hook_argv(root), "--no-cache", *five],
                    ),
                    (
                        f"5 files of median size ({typical_size:.0f} kB), pre-commit, no cache",
                        [*hook_argv(root), "--no-cache", *typical],
                    ),
                    (
                        "start-up: one empty file, no cache",
                        swaplint_argv([str(empty)], jobs=None, cache_dir=None, fmt="text"),
                    ),
                    ("`python -c pass`, for scale", [sys.executable, "-c", "pass"]),
                    (
                        "`python -c 'import click'`: the CLI framework alone",
                        [sys.executable, "-c", "import click"],
                    ),
                ):
                    row = Row(corpus, "swaplint" if "python" not in what else "python", what)
                    for _ in range(15):
                        seconds, rss, problem = measure(argv, tmp, env)
                        row.times.append(seconds)
                        row.rss_kb = max(row.rss_kb, rss)
                        row.note = problem or row.note
                    rows.append(row)

            note_progress("per-stage split")
            stages[corpus] = stage_times(listing, tmp, env)

            if args.no_peers:
                continue
            peers = [
                (
                    "fixit",
                    "one rule (NoRedundantFString), its own pool",
                    1 if big or args.quick else 2,
                    lambda exe: [exe, "--rules", "fixit.rules.no_redundant_fstring", "lint", *files],
                ),
                (
                    "flake8",
                    "one check (F401), --jobs auto",
                    reps,
                    lambda exe: [
                        exe,
                        "--isolated",
                        "--select",
                        "F401",
                        "--jobs",
                        "auto",
                        "--output-file",
                        os.devnull,
                        *files,
                    ],
                ),
                (
                    "ruff",
                    "one rule (F401), no cache, its own threads",
                    max(reps, 3),
                    lambda exe: [
                        exe,
                        "check",
                        "--isolated",
                        "--no-cache",
                        "--select",
                        "F401",
                        "--exit-zero",
                        "--quiet",
                        *files,
                    ],
                ),
            ]
            for name, what, n_runs, make in peers:
                exe = tools[name]
                row = Row(corpus, name, what)
                if exe is None:
                    row.note = "not installed"
                    rows.append(row)
                    continue
                note_progress(name)
                for _ in range(n_runs):
                    seconds, rss, problem = measure(make(exe), tmp)
                    row.times.append(seconds)
                    row.rss_kb = max(row.rss_kb, rss)
                    row.note = problem or row.note
                rows.append(row)

    print_table(rows, stages, sizes, megabytes, jobs, root, load)
    return 0


def print_table(
    rows: list[Row],
    stages: dict[str, dict[str, float]],
    sizes: dict[str, list[str]],
    megabytes: dict[str, float],
    jobs: int,
    root: Path,
    load: tuple[float, float, float] | None,
) -> None:
    busy = f"; load average {load[0]:.2f} when it started" if load else ""
    print(
        f"Python {sys.version.split()[0]} on {os.cpu_count()} cores ({jobs} usable){busy}; "
        f"swaplint from {root}, timed through its CLI."
    )
    print()
    floors = {r.corpus: r.median for r in rows if r.tool == "ast.parse"}
    for corpus in ("subset", "stdlib"):
        if not any(r.corpus == corpus for r in rows):
            continue
        title = (
            "asyncio + concurrent + multiprocessing + logging"
            if corpus == "subset"
            else "whole standard library"
        )
        print(f"**{title}: {len(sizes[corpus])} files, {megabytes[corpus]:.1f} MB**")
        print()
        print("| tool | what | runs | median (s) | fastest (s) | × ast.parse | peak RSS (MB) | note |")
        print("|---|---|---:|---:|---:|---:|---:|---|")
        for r in rows:
            if r.corpus != corpus:
                continue
            median = r.median
            floor = floors.get(corpus)
            ratio = f"{median / floor:.2f}×" if median is not None and floor else "—"
            shown = (
                f"{median:.2f}"
                if median is not None and median >= 0.995
                else f"{median:.3f}"
                if median is not None
                else "—"
            )
            fastest = r.fastest
            quickest = "—" if fastest is None else f"{fastest:.2f}" if fastest >= 0.995 else f"{fastest:.3f}"
            rss = f"{r.rss_kb / 1024:.0f}" if r.rss_kb else "—"
            print(
                f"| {r.tool} | {r.what} | {len(r.times)} | {shown} | {quickest} | {ratio} | {rss} | {r.note} |"
            )
        split = dict(stages.get(corpus) or {})
        if split:
            count = int(split.pop("findings", 0))
            checked = sum(v for k, v in split.items() if not k.startswith("output"))
            parts = ", ".join(f"{k} {v:.2f}" for k, v in split.items())
            print()
            print(
                f"Per-stage split, one process, seconds: {parts}; {checked:.2f} s to check, {count} findings."
            )
        print()


if __name__ == "__main__":
    sys.exit(main())
