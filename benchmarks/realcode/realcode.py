#!/usr/bin/env python3
"""The real-code benchmark: fetch a pinned corpus of PyPI sdists and score swaplint on it.

Subcommands (run from anywhere; paths default to the files beside this script)::

    python benchmarks/realcode/realcode.py fetch            # download, verify, unpack
    python benchmarks/realcode/realcode.py score            # fetch if needed, run swaplint, print tables
    python benchmarks/realcode/realcode.py score --json     # the same as JSON
    python benchmarks/realcode/realcode.py score --swaplint-args "--select SWL003"
    python benchmarks/realcode/realcode.py candidates NAME  # loop-like sites not yet labelled
    python benchmarks/realcode/realcode.py fixes            # apply every fix to a copy; compile it

The sources are never kept in the repository: they are downloaded on demand with
``pip download --no-deps --no-binary :all: NAME==VERSION`` into a cache folder
(``$SWAPLINT_CORPUS_DIR``, default ``~/.cache/swaplint/realcode``), checked against the
sha256 in ``manifest.toml`` and unpacked there. A site label's ``file`` is relative to the
project's scored ``subtree`` (itself relative to the sdist's top folder).

Matching: a finding belongs to the smallest labelled span (``lines = [start, end]``) of
its file that holds its line. It is a true positive when that site is a ``hazard`` whose
``codes`` hold the finding's code; a false positive when the site is ``clean`` or a
``hazard`` without that code; excluded when ``debatable``; ``unjudged`` outside every
span. A hazard site is found when any finding falls in its span, except one judged false
in a smaller labelled span inside it (``strict``: a finding with one of the site's codes). Precision is shown over judged findings and pessimistically,
with unjudged findings counted as false. This is a report, not a gate: it exits 0.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

HERE = Path(__file__).resolve().parent
LABELS = ("hazard", "clean", "debatable")
CODES = ("SWL001", "SWL002", "SWL003", "SWL004", "SWL005", "SWL006")
PIP_TIMEOUT = 900
SWAPLINT_TIMEOUT = 900


class CorpusError(Exception):
    """A manifest, label, download or archive problem, reported in one line."""


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    sdist: str
    sha256: str
    subtree: str
    exclude: tuple[str, ...] = ()
    note: str = ""

    @property
    def folder(self) -> str:
        """The unpacked sdist's top folder: the sdist name without its archive suffix."""
        for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".zip"):
            if self.sdist.endswith(suffix):
                return self.sdist[: -len(suffix)]
        raise CorpusError(f"{self.name}: unknown archive type {self.sdist!r}")


def load_manifest(path: Path) -> list[Project]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    projects: list[Project] = []
    for entry in data.get("project", []):
        try:
            project = Project(
                name=str(entry["name"]),
                version=str(entry["version"]),
                sdist=str(entry["sdist"]),
                sha256=str(entry["sha256"]).lower(),
                subtree=str(entry["subtree"]),
                exclude=tuple(str(x) for x in entry.get("exclude", [])),
                note=str(entry.get("note", "")),
            )
        except KeyError as exc:
            raise CorpusError(f"{path}: a [[project]] lacks {exc.args[0]!r}") from None
        _safe_relative(project.subtree, f"{project.name}: subtree")
        projects.append(project)
    names = [p.name for p in projects]
    if len(set(names)) != len(names):
        raise CorpusError(f"{path}: duplicate project names")
    return projects


def _safe_relative(name: str, what: str) -> PurePosixPath:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name:
        raise CorpusError(f"{what}: {name!r} is not a safe relative path")
    return pure


# --------------------------------------------------------------------------- fetch


def default_cache_dir() -> Path:
    env = os.environ.get("SWAPLINT_CORPUS_DIR")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/swaplint/realcode").expanduser()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(project: Project, dest: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"{project.name}=={project.version}",
        "-d",
        str(dest),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{project.name}: pip download timed out after {PIP_TIMEOUT}s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise CorpusError(f"{project.name}: pip download failed: {' / '.join(tail)}")


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into ``dest``, refusing links, devices and names that leave ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()

    def target(name: str) -> Path:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name or ":" in name:
            raise CorpusError(f"{archive.name}: unsafe member name {name!r}")
        out = (root / pure).resolve()
        if out != root and root not in out.parents:
            raise CorpusError(f"{archive.name}: member {name!r} leaves the folder")
        return out

    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                out = target(info.filename)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as zsrc, out.open("wb") as dst:
                    shutil.copyfileobj(zsrc, dst)
        return
    with tarfile.open(archive, "r:*") as tf:
        for member in tf.getmembers():
            out = target(member.name)
            if member.isdir():
                out.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                if src is None:  # pragma: no cover - isfile() members always have data
                    continue
                with src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            else:
                # Links, devices and fifos are never needed to read source: skip them.
                continue


def fetch(project: Project, cache: Path, *, download: bool = True) -> Path:
    """Return the scored subtree of ``project``, downloading and unpacking it when needed."""
    sdists = cache / "sdists"
    unpacked = cache / "src" / project.folder
    marker = unpacked / ".swaplint-sha256"
    if marker.is_file() and marker.read_text().strip() == project.sha256:
        return unpacked / project.folder / project.subtree
    archive = sdists / project.sdist
    if not archive.is_file():
        if not download:
            raise CorpusError(f"{project.name}: {archive} is missing and downloading is off")
        sdists.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=sdists) as tmp:
            _download(project, Path(tmp))
            got = Path(tmp) / project.sdist
            if not got.is_file():
                found = ", ".join(sorted(os.listdir(tmp))) or "nothing"
                raise CorpusError(f"{project.name}: expected {project.sdist}, pip saved {found}")
            os.replace(got, archive)
    actual = sha256_of(archive)
    if actual != project.sha256:
        raise CorpusError(
            f"{project.name}: sha256 of {archive} is {actual}, the manifest says {project.sha256}"
        )
    if unpacked.exists():
        shutil.rmtree(unpacked)
    partial = unpacked.with_name(unpacked.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    safe_extract(archive, partial)
    (partial / ".swaplint-sha256").write_text(project.sha256 + "\n")
    os.replace(partial, unpacked)
    subtree = unpacked / project.folder / project.subtree
    if not subtree.is_dir():
        raise CorpusError(f"{project.name}: subtree {project.subtree!r} is not in {project.sdist}")
    return subtree


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class Site:
    project: str
    file: str
    start: int
    end: int
    function: str
    label: str
    codes: tuple[str, ...]
    shape: str
    note: str

    def where(self) -> str:
        return f"{self.file}:{self.start}-{self.end}"


def load_labels(path: Path, project: str) -> list[Site]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    sites: list[Site] = []
    for i, entry in enumerate(data.get("site", []), 1):
        what = f"{path.name} site {i}"
        try:
            lines = entry["lines"]
            site = Site(
                project=project,
                file=str(_safe_relative(str(entry["file"]), what)),
                start=int(lines[0]),
                end=int(lines[1]),
                function=str(entry.get("function", "")),
                label=str(entry["label"]),
                codes=tuple(str(c) for c in entry.get("codes", [])),
                shape=str(entry.get("shape", "")),
                note=str(entry.get("note", "")),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise CorpusError(f"{what}: malformed ({exc!r})") from None
        if site.label not in LABELS:
            raise CorpusError(f"{what}: label {site.label!r} is not one of {', '.join(LABELS)}")
        if not 1 <= site.start <= site.end:
            raise CorpusError(f"{what}: bad span {site.start}-{site.end}")
        unknown = [c for c in site.codes if c not in CODES]
        if unknown:
            raise CorpusError(f"{what}: unknown codes {unknown}")
        if site.label == "hazard" and not site.codes:
            raise CorpusError(f"{what}: a hazard names the codes that are true there")
        if site.label != "hazard" and site.codes:
            raise CorpusError(f"{what}: only a hazard has codes")
        sites.append(site)
    return sites


def check_sites(sites: Sequence[Site], subtree: Path) -> list[str]:
    """Problems of labels against the unpacked source: missing files, spans past the end,
    spans that start on no statement or expression (an off-by-one label), duplicates."""
    problems: list[str] = []
    by_file: dict[str, list[Site]] = defaultdict(list)
    for site in sites:
        by_file[site.file].append(site)
    for name, group in sorted(by_file.items()):
        path = subtree / name
        if not path.is_file():
            problems.extend(f"{s.project}: {s.where()}: no such file" for s in group)
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        count = len(source.splitlines())
        problems.extend(
            f"{s.project}: {s.where()}: past the end ({count} lines)" for s in group if s.end > count
        )
        try:
            starts = {n.lineno for n in ast.walk(ast.parse(source)) if isinstance(n, ast.stmt | ast.expr)}
        except SyntaxError:
            starts = set()
        problems.extend(
            f"{s.project}: {s.where()}: line {s.start} starts no statement or expression"
            for s in group
            if starts and s.start not in starts and s.end <= count
        )
        spans = sorted(group, key=lambda s: (s.start, s.end))
        for a, b in itertools.pairwise(spans):
            if a.start == b.start and a.end == b.end:
                problems.append(f"{a.project}: {a.where()}: labelled twice")
    return problems


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Finding:
    project: str
    path: str
    line: int
    code: str
    message: str
    function: str = ""
    snippet: str = ""  # the fix snippet swaplint generated, if any

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Judged:
    finding: Finding
    verdict: str  # tp | fp | debatable | unjudged
    site: Site | None


def site_for(finding: Finding, sites: Iterable[Site]) -> Site | None:
    """The smallest labelled span of the finding's file that holds its line."""
    best: Site | None = None
    for site in sites:
        if site.file == finding.path and site.start <= finding.line <= site.end:
            if best is None or (site.end - site.start) < (best.end - best.start):
                best = site
    return best


def judge(finding: Finding, sites: Iterable[Site]) -> Judged:
    site = site_for(finding, sites)
    if site is None:
        return Judged(finding, "unjudged", None)
    if site.label == "debatable":
        return Judged(finding, "debatable", site)
    if site.label == "hazard" and finding.code in site.codes:
        return Judged(finding, "tp", site)
    return Judged(finding, "fp", site)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    debatable: int = 0
    unjudged: int = 0
    sites: int = 0
    found: int = 0
    found_strict: int = 0

    def add(self, verdict: str) -> None:
        setattr(self, verdict, getattr(self, verdict) + 1)

    @property
    def precision(self) -> float | None:
        judged = self.tp + self.fp
        return self.tp / judged if judged else None

    @property
    def precision_pessimistic(self) -> float | None:
        total = self.tp + self.fp + self.unjudged
        return self.tp / total if total else None

    @property
    def recall(self) -> float | None:
        return self.found / self.sites if self.sites else None

    @property
    def recall_strict(self) -> float | None:
        return self.found_strict / self.sites if self.sites else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out.update(
            precision=self.precision,
            precision_pessimistic=self.precision_pessimistic,
            recall=self.recall,
            recall_strict=self.recall_strict,
        )
        return out


@dataclass
class Report:
    overall: Tally = field(default_factory=Tally)
    by_rule: dict[str, Tally] = field(default_factory=dict)
    by_project: dict[str, Tally] = field(default_factory=dict)
    judged: list[Judged] = field(default_factory=list)
    missed: list[Site] = field(default_factory=list)
    missed_strict: list[Site] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)
    shape_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Fix snippets seen, and those that are not valid Python in a function body.
    snippets: int = 0
    bad_snippets: list[Finding] = field(default_factory=list)


def snippet_parses(snippet: str) -> bool:
    """Whether a fix snippet is valid Python in a function (``async def`` if it awaits)."""
    is_async = "await " in snippet or "async for" in snippet
    body = "\n".join("    " + line for line in snippet.splitlines())
    try:  # compile, not just parse: `yield from` in an `async def` is a compile-time error
        compile(("async def _f(self):\n" if is_async else "def _f(self):\n") + body, "<snippet>", "exec")
    except SyntaxError:
        return False
    return True


def score(findings: Sequence[Finding], sites: Sequence[Site], projects: Sequence[str]) -> Report:
    """Match findings to labelled sites and count, overall, per rule and per project."""
    report = Report()
    for finding in findings:
        if finding.snippet:
            report.snippets += 1
            if not snippet_parses(finding.snippet):
                report.bad_snippets.append(finding)
    report.by_project = {name: Tally() for name in projects}
    report.by_rule = {code: Tally() for code in CODES}
    by_project_sites: dict[str, list[Site]] = defaultdict(list)
    for site in sites:
        by_project_sites[site.project].append(site)
    hits: dict[Site, set[str]] = defaultdict(set)
    for finding in findings:
        judged = judge(finding, by_project_sites[finding.project])
        report.judged.append(judged)
        report.overall.add(judged.verdict)
        report.by_project.setdefault(finding.project, Tally()).add(judged.verdict)
        report.by_rule.setdefault(finding.code, Tally()).add(judged.verdict)
        if judged.site is None:
            continue
        hits[judged.site].add(finding.code)
        # A finding also finds the labelled spans that enclose its own (an inner loop
        # of a labelled outer loop), unless it was judged false where it is.
        if judged.verdict == "fp":
            continue
        for site in by_project_sites[finding.project]:
            if site.file == finding.path and site.start <= finding.line <= site.end:
                hits[site].add(finding.code)
    for site in sites:
        report.label_counts[site.label] = report.label_counts.get(site.label, 0) + 1
        shapes = report.shape_counts.setdefault(site.label, {})
        shapes[site.shape] = shapes.get(site.shape, 0) + 1
        if site.label != "hazard":
            continue
        codes_hit = hits.get(site, set())
        found = bool(codes_hit)
        strict = bool(codes_hit & set(site.codes))
        for tally in (report.overall, report.by_project.setdefault(site.project, Tally())):
            tally.sites += 1
            tally.found += found
            tally.found_strict += strict
        for code in site.codes:
            rule = report.by_rule.setdefault(code, Tally())
            rule.sites += 1
            rule.found += code in codes_hit
            rule.found_strict += code in codes_hit
        if not found:
            report.missed.append(site)
        if not strict:
            report.missed_strict.append(site)
    return report


# --------------------------------------------------------------------------- running swaplint


def swaplint_command(explicit: str | None) -> list[str]:
    if explicit:
        return shlex.split(explicit)
    beside = Path(sys.executable).with_name("swaplint")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("swaplint")
    if found:
        return [found]
    return [sys.executable, "-c", "from swaplint.cli import main; main()"]


def run_swaplint(
    project: Project, subtree: Path, command: Sequence[str], extra: Sequence[str]
) -> list[Finding]:
    cmd = [*command, "check", "--format", "json", "--no-cache", "--exit-zero"]
    if project.exclude:
        cmd += ["--extend-exclude", ",".join(project.exclude)]
    cmd += [*extra, "."]
    try:
        proc = subprocess.run(cmd, cwd=subtree, capture_output=True, text=True, timeout=SWAPLINT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{project.name}: swaplint timed out after {SWAPLINT_TIMEOUT}s") from None
    if proc.returncode != 0:
        raise CorpusError(f"{project.name}: swaplint exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    try:
        raw = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise CorpusError(f"{project.name}: swaplint printed no JSON: {proc.stdout[:200]!r}") from None
    findings: list[Finding] = []
    for item in raw:
        path = Path(str(item["path"]))
        rel = os.path.relpath(subtree / path if not path.is_absolute() else path, subtree)
        rel = rel.replace(os.sep, "/")
        if _excluded(rel, project.exclude):
            continue
        findings.append(
            Finding(
                project=project.name,
                path=rel,
                line=int(item["line"]),
                code=str(item["code"]),
                message=str(item.get("message", "")),
                function=str(item.get("function", "")),
                snippet=str((item.get("fix") or {}).get("snippet", "")),
            )
        )
    return findings


@dataclass
class FixTally:
    """What ``--fix --unsafe-fixes`` did to one project (a copy of it)."""

    project: str
    findings: int = 0
    safe: int = 0  # findings whose fix applies without --unsafe-fixes
    unsafe: int = 0
    display: int = 0  # a snippet to follow, no edit
    fixed: int = 0
    fixed_hazard: int = 0  # findings with an applicable fix at sites labelled hazard / clean
    fixed_clean: int = 0
    files_changed: int = 0
    files_broken: list[str] = field(default_factory=list)  # changed files that no longer compile
    remaining: int = 0
    remaining_fixable: int = 0
    problems: list[str] = field(default_factory=list)
    #: With --verify: verdict -> count, on the original and on the fixed copy.
    verified_before: dict[str, int] = field(default_factory=dict)
    verified_after: dict[str, int] = field(default_factory=dict)


def fix_project(
    project: Project, subtree: Path, command: Sequence[str], sites: Sequence[Site], *, verify: bool = False
) -> FixTally:
    """Apply every fix (safe and unsafe) to a copy of the project, then compile each changed file.
    With ``verify``, run ``--verify`` on the original and on the fixed copy and count the verdicts."""
    tally = FixTally(project.name)
    raw_before = _json_findings(project, subtree, command, ["--verify"] if verify else [])
    if verify:
        tally.verified_before = _verdicts(raw_before)
    tally.findings = len(raw_before)
    for item in raw_before:
        fix = item.get("fix") or {}
        kind = fix.get("applicability") if fix.get("edits") else "display-only"
        if kind == "safe":
            tally.safe += 1
        elif kind == "unsafe":
            tally.unsafe += 1
        else:
            tally.display += 1
            continue
        finding = Finding(project.name, item["path"], int(item["line"]), str(item["code"]), "", "", "")
        site = site_for(finding, sites)
        if site is not None and site.label == "hazard":
            tally.fixed_hazard += 1
        elif site is not None and site.label == "clean":
            tally.fixed_clean += 1
    with tempfile.TemporaryDirectory(prefix="swaplint-fix-") as tmp:
        copy = Path(tmp) / subtree.name  # the same folder name: the same module names
        shutil.copytree(subtree, copy, symlinks=True)
        cmd = [*command, "check", "--format", "json", "--no-cache", "--exit-zero", "--fix", "--unsafe-fixes"]
        if project.exclude:
            cmd += ["--extend-exclude", ",".join(project.exclude)]
        proc = subprocess.run(
            [*cmd, "--show-fixes", "."], cwd=copy, capture_output=True, text=True, timeout=SWAPLINT_TIMEOUT
        )
        if proc.returncode != 0:
            raise CorpusError(
                f"{project.name}: swaplint --fix exited {proc.returncode}: {proc.stderr[-500:]}"
            )
        after = json.loads(proc.stdout)
        tally.remaining = len(after)
        tally.remaining_fixable = sum(1 for f in after if (f.get("fix") or {}).get("edits"))
        for line in proc.stderr.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "×" and parts[0].isdigit():
                tally.fixed += int(parts[0])  # a --show-fixes line: count, the multiplication sign, code
            elif "warning" in line or "unable to compile" in line or "did not remove" in line:
                tally.problems.append(line.strip())
        for path in sorted(copy.rglob("*.py")):
            rel = path.relative_to(copy).as_posix()
            try:
                if (subtree / rel).read_bytes() == path.read_bytes():
                    continue
            except OSError:
                continue
            tally.files_changed += 1
            try:
                compile(path.read_bytes(), rel, "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                tally.files_broken.append(f"{rel}: {exc}")
        if verify:  # the fixed copy has fewer findings: run the original ones from it
            tally.verified_after = _verdicts(_verify_against(project, copy, raw_before))
    return tally


def _verdicts(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        status = str((item.get("verification") or {}).get("status", "none"))
        out[status] = out.get(status, 0) + 1
    return out


_VERIFY_AGAINST = """\
import json, sys
from pathlib import Path
from swaplint.engine import module_name
from swaplint.findings import FileResult, Finding
from swaplint.verify import verify_results
root, items = Path(sys.argv[1]), json.load(sys.stdin)
by_path = {}
for item in items:
    item.pop("verification", None)
    by_path.setdefault(item["path"], []).append(Finding.from_dict(item))
out = []
for path, found in by_path.items():
    result = FileResult(path, found, module=module_name(root / path))
    done = verify_results([result], {path: (root / path).read_bytes()},
                          disk_paths={path: str(root / path)}, extra_roots=[str(root)])
    out += [f.to_dict() for f in done[0].findings]
print(json.dumps(out))
"""


def _verify_against(project: Project, copy: Path, findings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The original findings' verdicts when their loops run from the fixed copy."""
    proc = subprocess.run(
        [sys.executable, "-P", "-c", _VERIFY_AGAINST, str(copy)],
        input=json.dumps(list(findings)),
        capture_output=True,
        text=True,
        timeout=SWAPLINT_TIMEOUT,
        cwd=copy,
    )
    if proc.returncode != 0:
        raise CorpusError(f"{project.name}: verifying the fixed copy failed: {proc.stderr[-500:]}")
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def _json_findings(
    project: Project, subtree: Path, command: Sequence[str], extra: Sequence[str] = ()
) -> list[dict[str, Any]]:
    cmd = [*command, "check", "--format", "json", "--no-cache", "--exit-zero", *extra]
    if project.exclude:
        cmd += ["--extend-exclude", ",".join(project.exclude)]
    proc = subprocess.run([*cmd, "."], cwd=subtree, capture_output=True, text=True, timeout=SWAPLINT_TIMEOUT)
    items: list[dict[str, Any]] = json.loads(proc.stdout)
    out = []
    for item in items:
        rel = os.path.relpath(subtree / str(item["path"]), subtree).replace(os.sep, "/")
        if not _excluded(rel, project.exclude):
            item["path"] = rel
            out.append(item)
    return out


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "–"


def fixes_markdown(tallies: Sequence[FixTally]) -> str:
    head = (
        "| project | findings | safe fix | unsafe fix | display-only | fixed | fixable at hazard sites | at clean sites "
        "| files changed | files that no longer compile | remaining (fixable) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    total = FixTally("**all**")
    for t in tallies:
        for name in (
            "findings",
            "safe",
            "unsafe",
            "display",
            "fixed",
            "fixed_hazard",
            "fixed_clean",
            "files_changed",
            "remaining",
            "remaining_fixable",
        ):
            setattr(total, name, getattr(total, name) + getattr(t, name))
        total.files_broken += t.files_broken
    for t in [*tallies, total]:
        rows.append(
            f"| {t.project} | {t.findings} | {t.safe} | {t.unsafe} | {t.display} | {t.fixed} | {t.fixed_hazard} "
            f"| {t.fixed_clean} | {t.files_changed} | {len(t.files_broken)} | {t.remaining} ({t.remaining_fixable}) |"
        )
    lines = [head + "\n".join(rows)]
    if any(t.verified_before for t in tallies):
        lines.append("\n| project | --verify before fixing | the same findings, run from the fixed copy |")
        lines.append("|---|---|---|")
        for t in tallies:
            lines.append(f"| {t.project} | {_counts(t.verified_before)} | {_counts(t.verified_after)} |")
    for t in tallies:
        for broken in t.files_broken:
            lines.append(f"- {t.project}: does not compile after fixing: {broken}")
        for problem in t.problems:
            lines.append(f"- {t.project}: {problem}")
    return "\n".join(lines) + "\n"


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    parts = PurePosixPath(rel).parts
    for pattern in patterns:
        stripped = pattern.strip("/")
        if stripped in parts[:-1] or PurePosixPath(rel).match(stripped):
            return True
    return False


# --------------------------------------------------------------------------- output


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _row(name: str, t: Tally) -> str:
    return (
        f"| {name} | {t.sites} | {t.found} | {_pct(t.recall)} | {_pct(t.recall_strict)} | "
        f"{t.tp} | {t.fp} | {t.debatable} | {t.unjudged} | {_pct(t.precision)} | "
        f"{_pct(t.precision_pessimistic)} |"
    )


HEADER = (
    "| {what} | hazard sites | found | recall | recall (strict) | TP | FP | debatable | unjudged "
    "| precision | precision (pessimistic) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _short(text: str, width: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def markdown(report: Report, *, details: bool = True) -> str:
    out: list[str] = []
    counts = ", ".join(f"{report.label_counts.get(k, 0)} {k}" for k in LABELS)
    out.append(f"Labelled sites: {sum(report.label_counts.values())} ({counts}).\n")
    bad = len(report.bad_snippets)
    out.append(
        f"Fix snippets: {report.snippets} generated, {report.snippets - bad} valid Python, {bad} not.\n"
    )
    for finding in report.bad_snippets:
        out.append(
            f"- invalid snippet at {finding.project} {finding.where()} {finding.code}: {finding.snippet!r}"
        )
    out.append(HEADER.format(what="overall"))
    out.append(_row("all", report.overall))
    out.append("")
    out.append(HEADER.format(what="rule"))
    for code, tally in sorted(report.by_rule.items()):
        out.append(_row(code, tally))
    out.append("")
    out.append(HEADER.format(what="project"))
    for name, tally in report.by_project.items():
        out.append(_row(name, tally))
    if not details:
        return "\n".join(out) + "\n"
    sections = [
        ("Unjudged findings (label these)", [j for j in report.judged if j.verdict == "unjudged"]),
        ("False positives", [j for j in report.judged if j.verdict == "fp"]),
    ]
    for title, group in sections:
        out.append(f"\n### {title}: {len(group)}\n")
        for j in group:
            f = j.finding
            tag = f" [{j.site.label} {j.site.shape}]" if j.site else ""
            out.append(f"- {f.project} {f.where()} {f.code}{tag}: {_short(f.message)}")
    out.append(f"\n### Missed hazard sites: {len(report.missed)}\n")
    for s in report.missed:
        out.append(f"- {s.project} {s.where()} `{s.function}` {'/'.join(s.codes)} [{s.shape}]: {s.note}")
    extra = [s for s in report.missed_strict if s not in report.missed]
    out.append(f"\n### Hazard sites found only by a code not labelled true there: {len(extra)}\n")
    for s in extra:
        out.append(f"- {s.project} {s.where()} `{s.function}` {'/'.join(s.codes)} [{s.shape}]: {s.note}")
    return "\n".join(out) + "\n"


def as_json(report: Report) -> dict[str, Any]:
    return {
        "overall": report.overall.as_dict(),
        "by_rule": {k: v.as_dict() for k, v in report.by_rule.items()},
        "by_project": {k: v.as_dict() for k, v in report.by_project.items()},
        "label_counts": report.label_counts,
        "shape_counts": report.shape_counts,
        "findings": [
            {**asdict(j.finding), "verdict": j.verdict, "site": asdict(j.site) if j.site else None}
            for j in report.judged
        ],
        "missed": [asdict(s) for s in report.missed],
        "missed_strict": [asdict(s) for s in report.missed_strict],
    }


# --------------------------------------------------------------------------- candidates

_WAIT_WORDS = ("get(", "recv", "accept(", "read", "wait(", "sleep(", "select(", "poll(", "drain", "consum")


def candidates(subtree: Path, exclude: Sequence[str]) -> list[tuple[str, int, int, str, str]]:
    """Loop-like statements: every ``while``/``async for``, and ``for`` over a non-literal
    whose body or iterable mentions a wait word. A helper for labelling, not a detector."""
    out: list[tuple[str, int, int, str, str]] = []
    for path in sorted(subtree.rglob("*.py")):
        rel = path.relative_to(subtree).as_posix()
        if _excluded(rel, exclude):
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, qual = stack.pop()
            for child in ast.iter_child_nodes(node):
                name = qual
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{qual}.{child.name}" if qual else child.name
                elif isinstance(child, ast.While | ast.AsyncFor):
                    out.append(
                        (rel, child.lineno, child.end_lineno or child.lineno, qual, type(child).__name__)
                    )
                elif isinstance(child, ast.For) and not isinstance(child.iter, ast.List | ast.Tuple):
                    text = ast.unparse(child)
                    if any(word in text for word in _WAIT_WORDS):
                        out.append((rel, child.lineno, child.end_lineno or child.lineno, qual, "For"))
                stack.append((child, name))
    return sorted(out)


# --------------------------------------------------------------------------- CLI


def _select(projects: list[Project], names: Sequence[str]) -> list[Project]:
    if not names:
        return projects
    known = {p.name: p for p in projects}
    missing = [n for n in names if n not in known]
    if missing:
        raise CorpusError(f"unknown projects: {', '.join(missing)}")
    return [known[n] for n in names]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.toml")
    parser.add_argument("--labels", type=Path, default=HERE / "labels", help="folder of <name>.toml")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: $SWAPLINT_CORPUS_DIR")
    parser.add_argument("--offline", action="store_true", help="never download; fail if missing")
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download, verify and unpack")
    p_fetch.add_argument("projects", nargs="*")
    p_score = sub.add_parser("score", help="run swaplint and print recall and precision")
    p_score.add_argument("projects", nargs="*")
    p_score.add_argument("--json", action="store_true", help="machine-readable output")
    p_score.add_argument("--summary", action="store_true", help="tables only, no lists")
    p_score.add_argument("--swaplint", default=None, help="the command to run (default: beside python)")
    p_score.add_argument("--swaplint-args", default="", help="extra arguments for swaplint check")
    p_cand = sub.add_parser("candidates", help="list loop-like sites not yet labelled")
    p_cand.add_argument("projects", nargs="*")
    p_fix = sub.add_parser("fixes", help="apply every fix to a copy of each project and compile the result")
    p_fix.add_argument("projects", nargs="*")
    p_fix.add_argument("--swaplint", default=None, help="the command to run (default: beside python)")
    p_fix.add_argument(
        "--verify", action="store_true", help="also run --verify before and after (runs the projects' code)"
    )
    args = parser.parse_args(argv)

    cache = (args.cache_dir or default_cache_dir()).expanduser()
    try:
        projects = _select(load_manifest(args.manifest), args.projects)
        if args.command == "fetch":
            for project in projects:
                subtree = fetch(project, cache, download=not args.offline)
                print(f"{project.name} {project.version}: {subtree}")
            return 0
        sites: list[Site] = []
        subtrees: dict[str, Path] = {}
        for project in projects:
            subtrees[project.name] = fetch(project, cache, download=not args.offline)
            label_file = args.labels / f"{project.name}.toml"
            if label_file.is_file():
                sites += load_labels(label_file, project.name)
        problems: list[str] = []
        for project in projects:
            problems += check_sites([s for s in sites if s.project == project.name], subtrees[project.name])
        for problem in problems:
            print(f"label problem: {problem}", file=sys.stderr)
        if args.command == "candidates":
            labelled = {(s.project, s.file, s.start) for s in sites}
            for project in projects:
                for rel, start, end, qual, kind in candidates(subtrees[project.name], project.exclude):
                    if (project.name, rel, start) not in labelled:
                        print(f"{project.name} {rel}:{start}-{end} {qual} {kind}")
            return 0
        command = swaplint_command(args.swaplint)
        if args.command == "fixes":
            tallies = [
                fix_project(
                    p,
                    subtrees[p.name],
                    command,
                    [s for s in sites if s.project == p.name],
                    verify=args.verify,
                )
                for p in projects
            ]
            print(fixes_markdown(tallies), end="")
            return 1 if any(t.files_broken for t in tallies) else 0
        extra = shlex.split(args.swaplint_args)
        findings: list[Finding] = []
        for project in projects:
            findings += run_swaplint(project, subtrees[project.name], command, extra)
        report = score(findings, sites, [p.name for p in projects])
        if args.json:
            print(json.dumps(as_json(report), indent=2))
        else:
            print(markdown(report, details=not args.summary), end="")
        return 0
    except CorpusError as exc:
        print(f"realcode: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
