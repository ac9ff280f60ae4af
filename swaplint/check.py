"""The one orchestration of a check: paths + settings -> findings (-> verdicts).

``discover -> configure per file -> read -> screen -> model -> rules -> suppress
-> verify``. The CLI, the language server and the tests call :func:`run` (or
:func:`lint_text` for one buffer) and only render what comes back; nothing here
prints. Data flows one way: this module calls the discovery, configuration,
runner, cache and verifier modules, and none of them calls back into it.

Configuration is hierarchical, as ruff's: each file gets the closest
configuration above it (``.swaplint.toml``, ``swaplint.toml``, or a
``pyproject.toml`` with ``[tool.swaplint]``), unless ``config_path`` names one
for the whole run. Command-line choices are layered on top of each.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from swaplint.config import (
    CONFIG_FILENAMES,
    Config,
    ConfigError,
    PatternSet,
    Selection,
    find_config_file,
    load_config,
    resolve_selection,
)
from swaplint.discovery import Excluder, discover, is_path_excluded
from swaplint.findings import FileResult, Finding, ReloadModel, RuleError
from swaplint.settings import DEFAULT_FIX_TIMEOUT, DEFAULT_MAX_FILE_SIZE, Settings

if TYPE_CHECKING:
    from swaplint.fixer import FixPolicy


class CheckError(Exception):
    """A problem that stops the whole run (bad configuration, bad git ref): exit 2."""


class Request(NamedTuple):
    """What to check and how: the command line's choices, all optional."""

    paths: tuple[str, ...] = ()
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] | None = None
    config_path: str | None = None
    force_exclude: bool = False
    #: Source read from stdin for the path ``-``, and the name its findings carry.
    stdin: bytes | None = None
    stdin_filename: str | None = None
    jobs: int | None = None
    use_cache: bool = True
    cache_dir: str | None = None
    diff_base: str | None = None
    reload_model: ReloadModel | None = None
    max_file_size: int | None = None
    verify: bool = False
    verify_strict: bool = False
    progress: bool | None = None  # None: when stderr is a terminal
    #: ``--fix`` / ``--no-fix`` (None: the ``fix`` setting), ``--unsafe-fixes``, and
    #: ``--fixable`` / ``--unfixable`` on top of the settings.
    fix: bool | None = None
    unsafe_fixes: bool | None = None
    fixable: tuple[str, ...] | None = None
    unfixable: tuple[str, ...] | None = None
    #: ``--diff``: work out the fixes, write nothing, keep a diff per file.
    diff: bool = False
    #: ``--add-noqa``: suppress every finding where it is, in the files.
    add_noqa: bool = False


@dataclass
class Outcome:
    """What a check found, for a renderer."""

    results: list[FileResult]
    missing: list[str] = field(default_factory=list)
    #: One line each: files skipped (too large), configuration files that could not be read.
    notices: list[str] = field(default_factory=list)
    #: Display path -> path on disk, for showing source excerpts.
    disk_paths: dict[str, str] = field(default_factory=dict)
    #: Display path -> text, for sources that are not on disk (stdin).
    texts: dict[str, str] = field(default_factory=dict)
    root: Path = field(default_factory=lambda: Path(os.getcwd()))
    #: The directory of the configuration file of the working directory, if there is one.
    config_root: Path | None = None
    #: ``--fix``/``--diff``: display path -> fixes applied per code (or that would be).
    fixed: dict[str, Counter[str]] = field(default_factory=dict)
    #: ``--diff``: display path -> a unified diff of the fixes.
    diffs: dict[str, str] = field(default_factory=dict)
    #: ``--fix`` of stdin: the fixed source, for the caller to print.
    fixed_stdin: str | None = None
    #: ``--add-noqa``: how many lines got a directive.
    noqa_added: int = 0

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for r in self.results for f in r.findings), key=Finding.sort_key)

    @property
    def errors(self) -> list[RuleError]:
        return [e for r in self.results for e in r.errors]


class Configs:
    """The configuration of each file (closest above it) and the engine settings it gives."""

    def __init__(self, request: Request, cwd: Path, notices: list[str]) -> None:
        self.request = request
        self.cwd = cwd
        self.notices = notices
        self._by_dir: dict[str, Config] = {}  # directory (absolute, as text) -> its config
        self._by_file: dict[Path, Config] = {}
        self._settings: dict[tuple[int, frozenset[str]], Settings] = {}
        # What a path was found to have, this run (a file's is asked for several times).
        self._config_of: dict[str, Config] = {}
        self._settings_of: dict[str, Settings] = {}
        self._excluders: dict[int, tuple[Config, Excluder]] = {}
        self.default = Config(root=cwd)
        self.forced: Config | None = None
        if request.config_path:
            self.forced = self._load(Path(request.config_path))

    def _load(self, path: Path) -> Config:
        key = Path(os.path.abspath(path))
        if key not in self._by_file:
            try:
                self._by_file[key] = load_config(path)
            except ConfigError as exc:
                raise CheckError(str(exc)) from None
        return self._by_file[key]

    def for_path(self, path: str | os.PathLike[str]) -> Config:
        """The configuration that governs ``path`` (a file or a directory)."""
        if self.forced is not None:
            return self.forced
        known = self._config_of.get(os.fspath(path))
        if known is None:
            known = self._config_of[os.fspath(path)] = self._find(path)
        return known

    def _find(self, path: str | os.PathLike[str]) -> Config:
        text = os.path.abspath(path)
        # A Python file is a file: no need to ask the file system (this runs once per file).
        is_file = text.endswith((".py", ".pyi")) or not os.path.isdir(text)
        directory = os.path.dirname(text) if is_file else text
        config = self._by_dir.get(directory)
        if config is None:
            # A directory with no configuration file in it has its parent's configuration:
            # walk up to one that is known or holds a candidate, and remember the way.
            pending = [directory]
            while True:
                parent = os.path.dirname(pending[-1])
                if parent == pending[-1] or _holds_config_candidate(pending[-1]):
                    found = find_config_file(pending[-1], on_unreadable=self._unreadable)
                    config = self._load(found) if found else self.default
                    break
                config = self._by_dir.get(parent)
                if config is not None:
                    break
                pending.append(parent)
            for seen in pending:
                self._by_dir[seen] = config
        return config

    def _unreadable(self, path: Path, reason: str) -> None:
        line = f"{path}: skipped, cannot read it: {reason}"
        if line not in self.notices:
            self.notices.append(line)

    def settings_for(self, path: str | os.PathLike[str]) -> Settings:
        known = self._settings_of.get(os.fspath(path))
        if known is None:
            known = self._settings_of[os.fspath(path)] = self._settings_for(path)
        return known

    def _settings_for(self, path: str | os.PathLike[str]) -> Settings:
        config = self.for_path(path)
        ignored = config.ignored_codes_for(path)
        key = (id(config), ignored)
        if key not in self._settings:
            request = self.request
            try:
                enabled = resolve_selection(
                    Selection(config.select, config.extend_select, config.ignore),
                    Selection(request.select, request.extend_select or (), request.ignore or ()),
                )
            except ValueError as exc:
                raise CheckError(str(exc)) from None
            max_size = request.max_file_size
            if max_size is None:
                max_size = config.max_file_size if config.max_file_size is not None else DEFAULT_MAX_FILE_SIZE
            self._settings[key] = Settings(
                enabled=enabled - ignored,
                receive_calls=config.receive_calls,
                spawn_calls=config.spawn_calls,
                src=config.src,
                reload_model=request.reload_model or config.reload_model,
                max_file_size=max_size,
                fix_timeout=config.fix_timeout or DEFAULT_FIX_TIMEOUT,
            )
        return self._settings[key]

    def fix_policy(self, path: str | os.PathLike[str]) -> FixPolicy | None:
        """Which fixes to apply to ``path``: None when it is not to be fixed."""
        config = self.for_path(path)
        request = self.request
        fix = request.fix if request.fix is not None else bool(config.fix)
        if not (fix or request.diff):
            return None
        from swaplint.config import expand_selectors
        from swaplint.fixer import FixPolicy  # only when something is to be fixed

        unsafe = request.unsafe_fixes if request.unsafe_fixes is not None else bool(config.unsafe_fixes)
        fixable = request.fixable if request.fixable is not None else config.fixable
        try:
            return FixPolicy(
                unsafe=unsafe,
                fixable=None if fixable is None else expand_selectors(fixable),
                unfixable=expand_selectors((*config.unfixable, *(request.unfixable or ()))),
            )
        except ValueError as exc:
            raise CheckError(str(exc)) from None

    def excluder(self, config: Config) -> Excluder:
        """The excluder of ``config``'s files: one per configuration, so that what it
        learns (``.gitignore`` files read, patterns compiled) serves every path."""
        known = self._excluders.get(id(config))
        if known is None:
            known = self._excluders[id(config)] = (config, self._excluder(config))
        return known[1]

    def _excluder(self, config: Config) -> Excluder:
        request = self.request
        patterns: list[PatternSet] = []
        use_defaults = True
        if request.exclude is not None:
            patterns.append(PatternSet(self.cwd, request.exclude))
            use_defaults = False
        elif config.exclude is not None:
            patterns.append(PatternSet(config.root, config.exclude))
            use_defaults = False
        patterns.append(PatternSet(config.root, config.extend_exclude))
        if request.extend_exclude:
            patterns.append(PatternSet(self.cwd, request.extend_exclude))
        return Excluder(patterns=patterns, use_default_excludes=use_defaults)


def _holds_config_candidate(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, name)) for name in CONFIG_FILENAMES)


def run(request: Request, *, cwd: str | os.PathLike[str] | None = None) -> Outcome:
    """Check what ``request`` names. Raises :class:`CheckError` for run-stopping problems."""
    from swaplint.runner import Task

    base = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    outcome = Outcome(results=[], root=base)
    configs = Configs(request, base, outcome.notices)
    paths = list(request.paths) or ["."]
    if configs.for_path(base).path is not None:
        outcome.config_root = configs.for_path(base).root

    if "-" in paths:
        paths = [p for p in paths if p != "-"]
        name = request.stdin_filename or "-"
        config = configs.for_path(base / name if name != "-" else base)
        skip = (
            request.force_exclude
            and request.stdin_filename
            and is_path_excluded(name, configs.excluder(config), cwd=str(base))
        )
        if not skip:
            data = request.stdin or b""
            outcome.results.append(
                _lint(data, path=name, settings=configs.settings_for(base / name), module=None)
            )
            outcome.texts[name] = data.decode("utf-8", errors="replace")

    tasks: list[Task] = []
    changed = _changed_since(request.diff_base, base) if request.diff_base else None
    seen: set[str] = set()  # a file named twice (or inside a directory also named) is checked once
    # Paths named one after another under the same configuration are discovered together
    # (a pre-commit run names every file: one discovery, one set of exclusion caches).
    for config, grouped in groupby(paths, key=lambda given: configs.for_path(os.path.join(base, given))):
        group = list(grouped)
        limit = configs.settings_for(os.path.join(base, group[0])).max_file_size or None
        found = discover(
            group, configs.excluder(config), force_exclude=request.force_exclude, cwd=base, max_bytes=limit
        )
        outcome.missing.extend(found.missing)
        outcome.notices.extend(str(s) for s in found.skipped)
        for file in found.files:
            key = os.path.normcase(file.disk_path)
            if key in seen:
                continue
            seen.add(key)
            own = configs.for_path(file.disk_path)
            if own is not config and _excluded_by_own_config(file.disk_path, own, configs):
                continue
            if changed is not None and not changed(file.disk_path):
                continue
            settings = configs.settings_for(file.disk_path)
            tasks.append(Task(file.disk_path, file.display_path, settings, settings.max_file_size or None))
            outcome.disk_paths[file.display_path] = file.disk_path
    outcome.results.extend(_run_tasks(tasks, request, configs, base))
    outcome.notices.extend(f"{r.path}: {r.notice}" for r in outcome.results if r.notice)
    if request.add_noqa:
        _add_noqa(outcome, configs)
    else:
        _fix(outcome, configs, base)

    if request.verify:
        outcome.results = _verify(outcome, configs, strict=request.verify_strict)
    return outcome


def _fix(outcome: Outcome, configs: Configs, base: Path) -> None:
    """``--fix`` / ``--diff``: fix each file whose findings have fixes the policy allows."""
    request = configs.request
    for index, result in enumerate(outcome.results):
        disk = outcome.disk_paths.get(result.path)
        on_stdin = disk is None and result.path in outcome.texts
        target = disk if disk is not None else str(base / result.path)
        if disk is None and not on_stdin:
            continue
        policy = configs.fix_policy(target)
        if policy is None:
            continue
        if not any(policy.allows(f) for f in result.findings):
            if on_stdin and not request.diff:
                outcome.fixed_stdin = outcome.texts[result.path]
            continue
        if on_stdin:
            data = request.stdin or b""
        else:
            try:
                data = Path(target).read_bytes()
            except OSError as exc:
                outcome.notices.append(f"{result.path}: cannot fix, cannot read it: {exc.strerror or exc}")
                continue
        try:
            encoding = _encoding(data)
            text = data.decode(encoding)
        except (SyntaxError, UnicodeDecodeError, LookupError):
            continue
        settings = configs.settings_for(target)._replace(max_file_size=0)

        from swaplint.fixer import fix_text, unified_diff  # only when a file is to be fixed

        fixed = fix_text(
            text, functools.partial(_lint, path=result.path, settings=settings, module=result.module), policy
        )
        outcome.notices.extend(f"{result.path}:{problem}" for problem in fixed.problems)
        if not fixed.count:
            continue
        outcome.fixed[result.path] = fixed.applied
        if request.diff:
            outcome.diffs[result.path] = unified_diff(text, fixed.text, _relative(target, base))
            continue
        outcome.results[index] = fixed.result
        if on_stdin:
            outcome.fixed_stdin = fixed.text
            outcome.texts[result.path] = fixed.text
            continue
        try:
            Path(target).write_bytes(fixed.text.encode(encoding))
        except OSError as exc:
            outcome.notices.append(f"{result.path}: cannot write the fixes: {exc.strerror or exc}")
            outcome.results[index] = result
            del outcome.fixed[result.path]


def _lint(source: str | bytes, *, path: str, settings: Settings, module: str | None) -> FileResult:
    """The engine on one source (imported here: a run of cache hits never needs it)."""
    from swaplint.engine import check_source

    return check_source(source, path, settings, module=module)


def _relative(path: str, base: Path) -> str:
    """``path`` as a diff names it: relative to the working directory when it is below it."""
    try:
        return Path(os.path.abspath(path)).relative_to(base).as_posix()
    except ValueError:
        return Path(os.path.abspath(path)).as_posix()


def _encoding(data: bytes) -> str:
    import io
    import tokenize

    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]


def _add_noqa(outcome: Outcome, configs: Configs) -> None:
    """``--add-noqa``: a ``# noqa: CODE`` for every finding, on the line it is reported at."""
    from swaplint.fixer import add_noqa

    for index, result in enumerate(outcome.results):
        disk = outcome.disk_paths.get(result.path)
        findings = [f for f in result.findings if f.code != "SWL999"]
        if disk is None or not findings:
            continue
        try:
            data = Path(disk).read_bytes()
            encoding = _encoding(data)
            text = data.decode(encoding)
        except (OSError, SyntaxError, UnicodeDecodeError, LookupError) as exc:
            outcome.notices.append(f"{result.path}: cannot add noqa directives: {exc}")
            continue
        new, count = add_noqa(text, findings)
        if not count:
            continue
        try:
            Path(disk).write_bytes(new.encode(encoding))
        except OSError as exc:
            outcome.notices.append(f"{result.path}: cannot write noqa directives: {exc.strerror or exc}")
            continue
        outcome.noqa_added += count
        settings = configs.settings_for(disk)._replace(max_file_size=0)
        outcome.results[index] = _lint(new, path=result.path, settings=settings, module=result.module)


def _excluded_by_own_config(path: str, config: Config, configs: Configs) -> bool:
    """A file under a nested project: that project's own excludes apply to it."""
    excluder = configs.excluder(config)
    return excluder.is_excluded_with_ancestors(Path(path), is_dir=False, anchor=config.root)


def _changed_since(base_ref: str, cwd: Path) -> Callable[[str], bool]:
    from swaplint.gitdiff import GitDiffError, changed_filter

    try:
        return changed_filter(base_ref, cwd)
    except GitDiffError as exc:
        raise CheckError(f"--diff-base {base_ref}: {exc}") from None


def _run_tasks(tasks: Sequence[object], request: Request, configs: Configs, base: Path) -> list[FileResult]:
    from swaplint.runner import check_files, progress_bar

    if not tasks:
        return []
    cache = None
    if request.use_cache:
        from swaplint.cache import Cache, default_cache_dir

        cache = Cache(request.cache_dir or default_cache_dir(configs.for_path(base).root))
    with progress_bar(len(tasks), enabled=request.progress) as progress:
        return check_files(list(tasks), jobs=request.jobs or None, cache=cache, progress=progress)  # type: ignore[arg-type]


def _verify(outcome: Outcome, configs: Configs, *, strict: bool) -> list[FileResult]:
    """``--verify``: run the flagged loops and attach verdicts (see :mod:`swaplint.verify`)."""
    from swaplint.verify import VERIFIABLE, drop_not_reproduced, verify_results

    sources: dict[str, str | bytes] = dict(outcome.texts)
    scenarios = {}
    for result in outcome.results:
        disk = outcome.disk_paths.get(result.path)
        if disk is not None and any(f.code in VERIFIABLE for f in result.findings):
            try:
                sources[result.path] = Path(disk).read_bytes()
            except OSError:
                pass  # the verdict says the source is not available
            scenarios.update(configs.for_path(disk).scenarios)
    roots: list[str] = []
    for disk in outcome.disk_paths.values():
        config = configs.for_path(disk)
        for root in (str(config.root), *config.src):
            if root not in roots:
                roots.append(root)
    verified = verify_results(
        outcome.results, sources, scenarios, disk_paths=outcome.disk_paths, extra_roots=roots
    )
    return drop_not_reproduced(verified) if strict else verified


def lint_text(source: str, path: str, *, cwd: str | os.PathLike[str] | None = None) -> FileResult:
    """Check one buffer (an editor's unsaved text) as ``swaplint check`` would check ``path``:
    its configuration, selection and per-file ignores; nothing when its config excludes it.
    Raises :class:`CheckError` for a broken configuration."""
    base = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    configs = Configs(Request(), base, [])
    config = configs.for_path(path)
    if is_path_excluded(path, configs.excluder(config), cwd=str(config.root)):
        return FileResult(path=path)
    settings = configs.settings_for(path)
    return _lint(source, path=path, settings=settings._replace(max_file_size=0), module=None)
