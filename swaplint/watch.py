"""``swaplint check --watch``: check once, then re-check files as they are saved.

The first run prints what ``swaplint check`` prints. After that, every batch of
saved files is re-checked through the result cache (an unchanged file costs one
read and one hash) and only what changed is printed: the findings that are new
since the last check of that file, and a ``fixed:`` line for each finding that
went away, then one status line. A finding that only moved (lines inserted above
it) is neither new nor fixed.

A change to a configuration file (``pyproject.toml``, ``swaplint.toml``,
``.swaplint.toml``) or to a ``.gitignore`` reloads the configuration and re-checks
every file. Files appear and disappear with the walk: a new file under a watched
directory is checked, a deleted one drops its findings. Ctrl-C stops with exit 0.

File events come from ``watchfiles`` (inotify, FSEvents, ReadDirectoryChangesW),
batched for :data:`DEBOUNCE_MS` so an editor's write-and-rename counts once.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from swaplint.config import CONFIG_FILENAMES, Config, ConfigError
from swaplint.discovery import PYTHON_SUFFIXES, discover
from swaplint.findings import FileResult, Finding, RuleError
from swaplint.output import RunReport, SourceCache, get_formatter

if TYPE_CHECKING:
    from swaplint.cache import Cache
    from swaplint.check import Request
    from swaplint.cli import CheckOptions

#: The formats that make sense as a stream of updates.
WATCH_FORMATS = ("text", "concise", "github")
#: watchfiles groups the changes of this many milliseconds into one batch.
DEBOUNCE_MS = 100
#: ...and waits this long for more changes before it yields a batch.
STEP_MS = 50
#: How often (ms) the watcher wakes up with no changes (the first wake-up says "ready").
IDLE_MS = 200
#: Files whose change reloads the configuration and re-checks everything.
RELOAD_NAMES = (*CONFIG_FILENAMES, ".gitignore")


def _error(message: str) -> None:
    click.echo(f"swaplint: error: {' '.join(message.split())}", err=True)


def _unsupported(opts: CheckOptions) -> str | None:
    """Why these options cannot be watched, or None."""
    if "-" in opts.paths:
        return "stdin ('-')"
    for flag, used in (
        ("--output-file", opts.output_file is not None),
        ("--statistics", opts.statistics),
        ("--diff-base", opts.diff_base is not None),
        ("--verify", opts.verify),
        ("--fix", bool(opts.fix)),
        ("--diff", opts.diff),
        ("--add-noqa", opts.add_noqa),
    ):
        if used:
            return flag
    if opts.output_format not in WATCH_FORMATS:
        return f"--format {opts.output_format} (use one of: {', '.join(WATCH_FORMATS)})"
    return None


def _color_enabled(no_color: bool, stream: TextIO) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _identity(finding: Finding, lines: Sequence[str]) -> tuple[str, str | None, str, str]:
    """What makes a finding the same one after an edit: not its line number."""
    text = lines[finding.line - 1].strip() if 0 < finding.line <= len(lines) else ""
    return (finding.code, finding.function, " ".join(finding.message.split()), text)


@dataclass
class _State:
    """What the last check of each file found (display path -> findings)."""

    findings: dict[str, list[Finding]] = field(default_factory=dict)
    #: disk path -> display path, of every file the last walk found.
    files: dict[str, str] = field(default_factory=dict)


class Watcher:
    """One ``--watch`` session: the configuration, the cache and what was found so far."""

    def __init__(self, opts: CheckOptions, request: Request, out: TextIO) -> None:
        self.opts = opts
        self.request = request
        self.out = out
        self.cwd = Path(os.getcwd())
        self.paths = list(opts.paths) or ["."]
        self.state = _State()
        self.config = Config()
        self.settings: Any = None
        self.excluder: Any = None
        self.cache: Cache | None = None
        self.color = _color_enabled(opts.no_color, out)
        #: display path -> the lines its findings were found on (files with findings only).
        self.old_lines: dict[str, list[str]] = {}

    # -- the adapter to the CLI's configuration and checking ----------------------------

    def load(self) -> None:
        """(Re)load the configuration: selection, excludes, cache. Raises ConfigError."""
        from swaplint.check import CheckError, Configs

        try:
            configs = Configs(self.request, self.cwd, [])
            config = configs.for_path(self.cwd / self.paths[0])
        except CheckError as exc:
            raise ConfigError(str(exc)) from None
        self.config = config
        self.settings = configs
        self.excluder = configs.excluder(config)
        self.cache = None
        if not self.opts.no_cache:
            from swaplint.cache import Cache, default_cache_dir

            self.cache = Cache(self.opts.cache_dir or default_cache_dir(config.root))

    def walk(self) -> tuple[dict[str, str], list[str]]:
        """Every file to check (disk path -> display path) and the missing paths."""
        if self.excluder is not None:
            self.excluder._gitignores.clear()  # a .gitignore may have changed
        found = discover(self.paths, self.excluder, force_exclude=self.opts.force_exclude)
        return {f.disk_path: f.display_path for f in found.files}, found.missing

    def check(self, files: dict[str, str]) -> list[FileResult]:
        from swaplint.check import CheckError
        from swaplint.runner import Task, check_files

        try:
            tasks = [Task(disk, shown, self.settings.settings_for(disk)) for disk, shown in files.items()]
        except CheckError as exc:
            raise ConfigError(str(exc)) from None
        return check_files(tasks, jobs=self.opts.jobs or None, cache=self.cache)

    # -- the first run and the updates ---------------------------------------------------

    def roots(self) -> list[str]:
        """What to watch: the given paths that exist, and the configuration file."""
        roots = {os.path.normpath(self.cwd / p) for p in self.paths}
        if self.config.path is not None:
            roots.add(str(self.config.path))
        return sorted(r for r in roots if os.path.exists(r))

    def relevant(self, change: Any, path: str) -> bool:
        """The watchfiles filter: Python files, configuration files, ``.gitignore``."""
        name = os.path.basename(path)
        return path.endswith(PYTHON_SUFFIXES) or name in RELOAD_NAMES or path in self.state.files

    def first_run(self) -> int:
        """Check everything and print the full report; the exit code ``check`` would give."""
        self.load()
        files, missing = self.walk()
        results = self.check(files)
        self.state = _State({r.path: list(r.findings) for r in results}, files)
        for path in missing:
            _error(f"path not found: {path}")
        errors = [e for r in results for e in r.errors]
        self._report_errors(errors)
        findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
        sources = self._sources(files)
        self._write(findings, sources, quiet=self.opts.quiet, files_checked=len(results))
        self._remember_lines(sources)
        if findings and not self.opts.exit_zero:
            return 1
        return 2 if errors or missing else 0

    def update(self, changed: Iterable[str]) -> None:
        """Re-check after a batch of file changes and print what changed."""
        changed = set(changed)
        reload = any(os.path.basename(p) in RELOAD_NAMES for p in changed)
        if reload:
            try:
                self.load()
            except ConfigError as exc:
                _error(f"{exc} (still using the previous configuration)")
                return
        files, _ = self.walk()
        if reload:
            to_check = dict(files)  # the settings may have changed: check everything
        else:
            to_check = {d: s for d, s in files.items() if d in changed}
        gone = [shown for disk, shown in self.state.files.items() if disk not in files]
        if not to_check and not gone:
            return
        results = self.check(to_check)
        self._report_errors([e for r in results for e in r.errors])

        sources = self._sources(files)
        new: list[Finding] = []
        fixed: list[Finding] = []
        for result in results:
            before = self.state.findings.get(result.path, [])
            new_lines = sources.lines(result.path)
            old_lines = self.old_lines.get(result.path, new_lines)
            added = Counter(_identity(f, new_lines) for f in result.findings)
            removed = Counter(_identity(f, old_lines) for f in before)
            added, removed = added - removed, removed - added
            for finding in result.findings:
                key = _identity(finding, new_lines)
                if added[key] > 0:
                    added[key] -= 1
                    new.append(finding)
            for finding in before:
                key = _identity(finding, old_lines)
                if removed[key] > 0:
                    removed[key] -= 1
                    fixed.append(finding)
        for shown in gone:
            fixed.extend(self.state.findings.get(shown, []))

        findings = {} if reload else dict(self.state.findings)
        for shown in gone:
            findings.pop(shown, None)
        findings.update((r.path, list(r.findings)) for r in results)
        self.state = _State(findings, files)
        self._remember_lines(sources)

        stamp = time.strftime("%H:%M:%S")
        names = sorted({r.path for r in results} | set(gone))
        shown_names = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        new.sort(key=Finding.sort_key)
        fixed.sort(key=Finding.sort_key)
        if new:
            self._write(new, sources, quiet=True, files_checked=len(results))
        for finding in fixed:
            message = " ".join(finding.message.split())
            self.out.write(
                f"fixed: {finding.path}:{finding.line}:{finding.column}: {finding.code} {message}\n"
            )
        if not self.opts.quiet:
            total = [f for fs in self.state.findings.values() for f in fs]
            summary = RunReport(findings=total).summary()
            what = "configuration reloaded" if reload else f"checked {shown_names}"
            self.out.write(f"[{stamp}] {what}: {len(new)} new, {len(fixed)} fixed. {summary}\n")
        self.out.flush()

    # -- helpers -----------------------------------------------------------------------

    def _remember_lines(self, sources: SourceCache) -> None:
        """The lines of files with findings, to recognise those findings after the next edit."""
        self.old_lines = {p: sources.lines(p) for p, fs in self.state.findings.items() if fs}

    @staticmethod
    def _sources(files: dict[str, str]) -> SourceCache:
        sources = SourceCache()
        for disk, shown in files.items():
            sources.add_file(shown, disk)
        return sources

    def _write(
        self, findings: list[Finding], sources: SourceCache, *, quiet: bool, files_checked: int
    ) -> None:
        report = RunReport(
            findings=findings,
            files_checked=files_checked,
            sources=sources,
            root=self.cwd,
            color=self.color,
            quiet=quiet,
        )
        get_formatter(self.opts.output_format)(report, self.out)
        self.out.flush()

    def _report_errors(self, errors: list[RuleError]) -> None:
        for err in errors:
            if err.code == "engine":
                _error(f"the engine crashed on {err.path}: {err.error}")
            else:
                _error(f"rule {err.code} crashed on {err.path}: {err.error}")


class WatchConfigError(click.ClickException):
    """A configuration that cannot be used at the start: one line, exit 2."""

    exit_code = 2


def watch(opts: CheckOptions, request: Request, out: TextIO | None = None) -> int:
    """Run ``swaplint check --watch``: returns 0 when stopped with Ctrl-C."""
    import watchfiles

    problem = _unsupported(opts)
    if problem is not None:
        raise click.UsageError(f"--watch cannot be used with {problem}")
    watcher = Watcher(opts, request, out if out is not None else sys.stdout)
    try:
        try:
            watcher.first_run()
        except ConfigError as exc:
            raise WatchConfigError(str(exc)) from None
        announced = False
        while True:
            roots = watcher.roots()
            restart = False
            for changes in watchfiles.watch(
                *roots,
                watch_filter=watcher.relevant,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                rust_timeout=IDLE_MS,
                yield_on_timeout=True,
            ):
                if not changes:
                    if not announced:
                        announced = True
                        click.echo(
                            f"swaplint: watching {', '.join(watcher.paths)} for changes (Ctrl-C to stop)",
                            err=True,
                        )
                    continue
                changed = {os.path.normpath(path) for _, path in changes}
                watcher.update(changed)
                # A watched file replaced by a rename (as editors save) loses its watch.
                if changed & {r for r in roots if not os.path.isdir(r)} or roots != watcher.roots():
                    restart = True
                    break
            if not restart:
                return 0
    except KeyboardInterrupt:
        return 0
