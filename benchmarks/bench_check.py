#!/usr/bin/env python3
"""How fast is ``swaplint check``, next to the parse floor and to its peers?

Times, over this machine's CPython standard library and over its ``asyncio`` +
``concurrent`` + ``multiprocessing`` + ``logging`` subset:

* ``ast.parse`` of every file, on one core: the floor every ratio refers to;
* ``libcst.parse_module`` of every file, on one core (the whole stdlib only
  without ``--quick``: it takes about a minute);
* swaplint cold (no cache) with one job and with all cores, and warm (every file a
  cache hit), each as a whole process, start-up included;
* when installed: fixit with one rule, flake8 with one check, ruff with one rule.

Each figure is the median of several runs (the table says how many), with its
ratio to the ``ast.parse`` floor and the peak resident memory of the largest
process of the run (the main one or a worker: ``ru_maxrss`` of the children).

The files are copied to a temporary folder first, outside any git work tree, so
every tool sees exactly the same files (fixit skips files a ``.gitignore`` hides,
and pyenv's own tree ignores ``versions/``). Run from the repository root::

    python benchmarks/bench_check.py           # everything: about 10 minutes on 2 cores
    python benchmarks/bench_check.py --quick   # the subset only, fewer runs: 1-2 minutes

Tools are looked up next to this Python, then on ``PATH``; ``--fixit``,
``--flake8`` and ``--ruff`` name them explicitly. This is a script that prints a
table, not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ("asyncio", "concurrent", "multiprocessing", "logging")

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


def cli_supports_options(python: str) -> bool:
    probe = subprocess.run(
        [python, "-m", "swaplint.cli", "check", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    text = probe.stdout
    return probe.returncode == 0 and all(o in text for o in ("--jobs", "--no-cache", "--cache-dir"))


# The driver, for when the CLI has no --jobs/--no-cache/--cache-dir yet: the same
# runner the CLI calls, over the listed files, output as JSON to /dev/null.
DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[4])
from swaplint.cache import Cache
from swaplint.engine import Settings
from swaplint.runner import Task, check_files
listing, jobs, cache_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = open(listing, encoding="utf-8").read().split("\n")
settings = Settings()
tasks = [Task(f, f, settings) for f in files]
cache = Cache(cache_dir) if cache_dir != "-" else None
results = check_files(tasks, jobs=jobs, cache=cache)
with open("/dev/null", "w") as out:
    json.dump([f.to_dict() for r in results for f in r.findings], out)
"""


def swaplint_argv(
    use_cli: bool, listing: Path, files: list[str], jobs: int, cache_dir: str | None
) -> list[str]:
    if use_cli:
        argv = [sys.executable, "-m", "swaplint.cli", "check", "--format", "json", "-o", os.devnull]
        argv += ["--jobs", str(jobs)]
        argv += ["--no-cache"] if cache_dir is None else ["--cache-dir", cache_dir]
        return argv + files
    return [sys.executable, "-c", DRIVER, str(listing), str(jobs), cache_dir or "-", str(ROOT)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the subset only, fewer runs")
    parser.add_argument("--stdlib", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--fixit")
    parser.add_argument("--flake8")
    parser.add_argument("--ruff")
    parser.add_argument("--no-peers", action="store_true", help="swaplint and the parsers only")
    args = parser.parse_args()

    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    tools = {
        name: None if args.no_peers else find_tool(name, getattr(args, name))
        for name in ("fixit", "flake8", "ruff")
    }
    use_cli = cli_supports_options(sys.executable)
    # This checkout's swaplint, whether or not it is installed.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    rows: list[Row] = []

    with tempfile.TemporaryDirectory(prefix="swaplint-bench-") as tmp_name:
        tmp = Path(tmp_name)
        every, subset = copy_corpus(args.stdlib, tmp / "stdlib")
        corpora = [("subset", subset)] + ([] if args.quick else [("stdlib", every)])
        sizes = {"subset": subset, "stdlib": every}
        megabytes = {k: sum(os.path.getsize(f) for f in v) / 1e6 for k, v in sizes.items()}
        for corpus, files in corpora:
            listing = tmp / f"{corpus}.txt"
            listing.write_text("\n".join(files), encoding="utf-8")
            big = corpus == "stdlib"
            reps = 1 if args.quick else 3
            note_progress = lambda what: print(f"  {corpus}: {what}", file=sys.stderr, flush=True)  # noqa: E731

            note_progress("ast.parse")
            row = Row(corpus, "ast.parse", "parse every file, 1 core (the floor)")
            for _ in range(max(reps, 2)):
                seconds, rss = parse_time("ast", listing)
                row.times.append(seconds)
                row.rss_kb = max(row.rss_kb, rss)
            rows.append(row)

            row = Row(corpus, "libcst.parse_module", "parse every file, 1 core")
            if importlib.util.find_spec("libcst") is None:
                row.note = "libcst is not installed (swaplint no longer needs it)"
            elif big and args.quick:
                row.note = "not run with --quick"
            else:
                note_progress("libcst.parse_module")
                for _ in range(1 if big else reps):
                    seconds, rss = parse_time("libcst", listing)
                    row.times.append(seconds)
                    row.rss_kb = max(row.rss_kb, rss)
            rows.append(row)

            how = "CLI" if use_cli else "runner driver"
            for label, n_jobs in (("cold, 1 job", 1), (f"cold, {jobs} jobs", jobs)):
                note_progress(f"swaplint {label}")
                row = Row(corpus, "swaplint", f"{label} (no cache), {how}")
                for _ in range(2 if big and n_jobs == 1 else max(reps, 2)):
                    argv = swaplint_argv(use_cli, listing, files, n_jobs, None)
                    seconds, rss, problem = measure(argv, tmp, env)
                    row.times.append(seconds)
                    row.rss_kb = max(row.rss_kb, rss)
                    row.note = problem or row.note
                rows.append(row)

            note_progress("swaplint warm")
            cache_dir = str(tmp / f"cache-{corpus}")
            measure(swaplint_argv(use_cli, listing, files, jobs, cache_dir), tmp, env)  # fill it
            row = Row(corpus, "swaplint", f"warm (every file a cache hit), {how}")
            for _ in range(5):
                seconds, rss, problem = measure(
                    swaplint_argv(use_cli, listing, files, jobs, cache_dir), tmp, env
                )
                row.times.append(seconds)
                row.rss_kb = max(row.rss_kb, rss)
                row.note = problem or row.note
            rows.append(row)

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
            for name, what, runs, make in peers:
                exe = tools[name]
                row = Row(corpus, name, what)
                if exe is None:
                    row.note = "not installed"
                    rows.append(row)
                    continue
                note_progress(name)
                for _ in range(runs):
                    seconds, rss, problem = measure(make(exe), tmp)
                    row.times.append(seconds)
                    row.rss_kb = max(row.rss_kb, rss)
                    row.note = problem or row.note
                rows.append(row)

    print_table(rows, sizes, megabytes, jobs, use_cli)
    return 0


def print_table(
    rows: list[Row], sizes: dict[str, list[str]], megabytes: dict[str, float], jobs: int, use_cli: bool
) -> None:
    print(
        f"Python {sys.version.split()[0]} on {os.cpu_count()} cores ({jobs} usable); "
        f"swaplint timed through {'its CLI' if use_cli else 'a driver script calling swaplint.runner.check_files (the CLI has no --jobs/--cache-dir yet)'}."
    )
    print()
    floors = {r.corpus: r.median for r in rows if r.tool == "ast.parse"}
    seen = []
    for corpus in ("subset", "stdlib"):
        if not any(r.corpus == corpus for r in rows):
            continue
        seen.append(corpus)
        title = (
            "asyncio + concurrent + multiprocessing + logging"
            if corpus == "subset"
            else "whole standard library"
        )
        print(f"### {title}: {len(sizes[corpus])} files, {megabytes[corpus]:.1f} MB")
        print()
        print("| tool | what | runs | median (s) | × ast.parse | peak RSS (MB) | note |")
        print("|---|---|---:|---:|---:|---:|---|")
        for r in rows:
            if r.corpus != corpus:
                continue
            median = r.median
            floor = floors.get(corpus)
            ratio = f"{median / floor:.1f}×" if median is not None and floor else "—"
            shown = f"{median:.2f}" if median is not None else "—"
            rss = f"{r.rss_kb / 1024:.0f}" if r.rss_kb else "—"
            print(f"| {r.tool} | {r.what} | {len(r.times)} | {shown} | {ratio} | {rss} | {r.note} |")
        print()


if __name__ == "__main__":
    sys.exit(main())
