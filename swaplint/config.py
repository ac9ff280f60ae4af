"""Configuration: ``[tool.swaplint]`` in ``pyproject.toml``, or ``swaplint.toml`` / ``.swaplint.toml``.

Each file to check gets the configuration found by walking up from its own
directory (ruff's hierarchical configuration), unless ``--config`` names one. In one
directory ``.swaplint.toml`` wins over ``swaplint.toml``, which wins over
``pyproject.toml`` (as ruff does); a ``pyproject.toml`` without a
``[tool.swaplint]`` table is skipped and the walk goes on upwards.

Every setting that names files (``exclude``, ``extend-exclude``,
``per-file-ignores``, ``src``) is relative to the directory of the file that set
it. Command-line options override the file: see :func:`resolve_selection`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from swaplint.codes import CODES
from swaplint.findings import ReloadModel

if TYPE_CHECKING:
    import pathspec

    from swaplint.verify_common import Scenario

#: Files that configure swaplint, in order of precedence within one directory.
CONFIG_FILENAMES: tuple[str, ...] = (".swaplint.toml", "swaplint.toml", "pyproject.toml")

#: The keys a configuration may set, with what each expects (used in error messages).
KNOWN_KEYS: dict[str, str] = {
    "select": "a list of rule codes or prefixes",
    "ignore": "a list of rule codes or prefixes",
    "extend-select": "a list of rule codes or prefixes",
    "exclude": "a list of gitignore-style patterns",
    "extend-exclude": "a list of gitignore-style patterns",
    "per-file-ignores": "a table mapping a glob to a list of rule codes or prefixes",
    "receive-calls": "a list of dotted names",
    "spawn-calls": "a list of dotted names",
    "src": "a list of directories",
    "reload-model": 'one of "auto", "runtime", "importlib"',
    "max-file-size": "a size in bytes (an integer, 0 for no limit)",
    "verify": "a table",
    "fix": "a boolean",
    "unsafe-fixes": "a boolean",
    "fixable": "a list of rule codes or prefixes",
    "unfixable": "a list of rule codes or prefixes",
    "fix-timeout": "a number of seconds greater than 0",
}


class ConfigError(Exception):
    """A configuration that cannot be used. ``str()`` is one line naming the file and key."""


@dataclass(frozen=True)
class PatternSet:
    """Gitignore-style patterns anchored at a directory (the config file's, or the cwd)."""

    base: Path
    patterns: tuple[str, ...]

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return _compile(self.patterns)

    @cached_property
    def _prefix(self) -> str:
        return os.path.join(os.path.abspath(self.base), "")

    def matches(self, path: str | os.PathLike[str], *, is_dir: bool = False) -> bool:
        """Whether the path (absolute, or relative to the cwd) matches one of the patterns."""
        if not self.patterns:
            return False
        rel = _relative_posix(path, self.base, self._prefix)
        if rel is None:
            return False
        if is_dir:
            rel += "/"
        return self.spec.match_file(rel)


_SPEC_CACHE: dict[tuple[str, ...], pathspec.PathSpec[Any]] = {}


def _compile(patterns: tuple[str, ...]) -> pathspec.PathSpec[Any]:
    spec = _SPEC_CACHE.get(patterns)
    if spec is None:
        import pathspec  # only when there are patterns to match (~20 ms to import)

        spec = _SPEC_CACHE[patterns] = pathspec.GitIgnoreSpec.from_lines(patterns)
    return spec


def _relative_posix(path: str | os.PathLike[str], base: Path, prefix: str | None = None) -> str | None:
    """``path`` relative to ``base`` in POSIX form, or ``None`` when it is not under it.

    String operations (this runs for every file and directory a walk meets): both sides
    are normalised by ``os.path.abspath``; ``prefix`` is ``base`` so normalised, with a
    trailing separator, when the caller has it already."""
    absolute = os.path.abspath(path)
    if prefix is None:
        prefix = os.path.join(os.path.abspath(base), "")
    if not absolute.startswith(prefix) or len(absolute) == len(prefix):
        return None  # not below the base, or the base itself
    text = absolute[len(prefix) :]
    return text.replace(os.sep, "/") if os.sep != "/" else text


class PerFileIgnore(NamedTuple):
    """One ``per-file-ignores`` entry: a pattern and the codes it turns off."""

    pattern: str
    codes: frozenset[str]


@dataclass(frozen=True)
class Config:
    """One configuration file, validated. Empty (all defaults) when there is no file."""

    path: Path | None = None
    #: Directory the file's relative paths are anchored at (the cwd when there is no file).
    root: Path = field(default_factory=lambda: Path(os.getcwd()))
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[PerFileIgnore, ...] = ()
    receive_calls: tuple[str, ...] = ()
    spawn_calls: tuple[str, ...] = ()
    #: ``src`` roots as absolute paths.
    src: tuple[str, ...] = ()
    #: Which reload semantics findings are decided under (``reload-model``).
    reload_model: ReloadModel = ReloadModel.AUTO
    #: Files larger than this many bytes are skipped with a notice (None: the default).
    max_file_size: int | None = None
    #: The raw ``[tool.swaplint.verify]`` table (not validated here; the verifier reads it).
    verify: dict[str, Any] = field(default_factory=dict)
    #: The same, validated: ``"module:function"`` -> start arguments and messages.
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    #: ``fix``: apply fixes as if ``--fix`` were given (None: not set).
    fix: bool | None = None
    #: ``unsafe-fixes``: also apply fixes that may change behaviour (None: not set).
    unsafe_fixes: bool | None = None
    #: ``fixable`` / ``unfixable``: which rules' fixes ``--fix`` may apply.
    fixable: tuple[str, ...] | None = None
    unfixable: tuple[str, ...] = ()
    #: ``fix-timeout``: the timeout, in seconds, that fixes give a wait that has none.
    fix_timeout: float | None = None
    #: The whole raw table, for later features.
    raw: dict[str, Any] = field(default_factory=dict)

    def ignored_codes_for(self, path: str | os.PathLike[str]) -> frozenset[str]:
        """The codes ``per-file-ignores`` turns off for this file."""
        codes: set[str] = set()
        for entry in self.per_file_ignores:
            if PatternSet(self.root, (entry.pattern,)).matches(path):
                codes |= entry.codes
        return frozenset(codes)


# -- finding the file ----------------------------------------------------------------


def find_config_file(
    start: str | os.PathLike[str], *, on_unreadable: Callable[[Path, str], None] | None = None
) -> Path | None:
    """The configuration file for ``start``: walk up from it (or from its directory).

    A ``pyproject.toml`` that cannot be read is skipped; ``on_unreadable`` hears why.
    """
    directory = Path(os.path.abspath(start))
    if not directory.is_dir():
        directory = directory.parent
    for candidate_dir in (directory, *directory.parents):
        for name in CONFIG_FILENAMES:
            candidate = candidate_dir / name
            if not candidate.is_file():
                continue
            if name == "pyproject.toml" and not _has_swaplint_table(candidate, on_unreadable):
                continue
            return candidate
    return None


def _has_swaplint_table(pyproject: Path, on_unreadable: Callable[[Path, str], None] | None = None) -> bool:
    try:
        raw = pyproject.read_bytes()
    except OSError as exc:
        if on_unreadable is not None:
            on_unreadable(pyproject, exc.strerror or str(exc))
        return False
    # A TOML key spells `swaplint` in its own letters or, in a quoted key, with
    # \u escapes: a file with neither holds no swaplint table, and is not parsed.
    if b"swaplint" not in raw and b"\\u" not in raw and b"\\U" not in raw:
        return False
    import tomllib  # only when there is a pyproject.toml that may hold the table

    try:
        # Decoded as load_config reads it (newlines translated).
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
        data = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        # A broken pyproject.toml that might hold our table: load_config reports it.
        return b"[tool.swaplint" in raw
    tool = data.get("tool")
    return isinstance(tool, dict) and "swaplint" in tool


# -- loading and validating ----------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate one configuration file. Raises :class:`ConfigError`."""
    import tomllib  # only when there is a configuration to read

    file = Path(os.path.abspath(path))
    shown = os.fspath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{shown}: cannot read configuration: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: invalid TOML: {exc}") from None
    if file.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("swaplint", {}) if isinstance(tool, dict) else {}
        prefix = "tool.swaplint."
        if not isinstance(table, dict):
            raise ConfigError(f"{shown}: 'tool.swaplint' must be a table")
    else:
        table, prefix = data, ""
    return config_from_dict(table, path=file, shown=shown, prefix=prefix)


def config_from_dict(
    table: Mapping[str, Any],
    *,
    path: Path | None = None,
    shown: str | None = None,
    prefix: str = "",
) -> Config:
    """Validate a configuration table (the keys of ``[tool.swaplint]``)."""
    where = shown or (os.fspath(path) if path else "<config>")
    root = path.parent if path else Path(os.getcwd())

    def fail(key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{where}: '{prefix}{key}' must be {expected}, got {_describe(value)}")

    unknown = [k for k in table if k not in KNOWN_KEYS]
    if unknown:
        known = ", ".join(sorted(KNOWN_KEYS))
        return_key = unknown[0]
        raise ConfigError(f"{where}: unknown key '{prefix}{return_key}' (expected one of: {known})")

    def string_list(key: str) -> tuple[str, ...] | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, KNOWN_KEYS[key], value)
        return tuple(value)

    def code_list(key: str, value: Any = None, label: str | None = None) -> tuple[str, ...] | None:
        if value is None:
            values = string_list(key)
        else:
            values = value
        if values is None:
            return None
        for selector in values:
            try:
                expand_selector(selector)
            except ValueError as exc:
                raise ConfigError(f"{where}: '{prefix}{label or key}': {exc}") from None
        return tuple(values)

    per_file: list[PerFileIgnore] = []
    if "per-file-ignores" in table:
        raw_pfi = table["per-file-ignores"]
        if not isinstance(raw_pfi, dict):
            raise fail("per-file-ignores", KNOWN_KEYS["per-file-ignores"], raw_pfi)
        for pattern, codes in raw_pfi.items():
            label = f'per-file-ignores."{pattern}"'
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ConfigError(
                    f"{where}: '{prefix}{label}' must be a list of rule codes or prefixes, "
                    f"got {_describe(codes)}"
                )
            code_list("per-file-ignores", tuple(codes), label)
            per_file.append(PerFileIgnore(pattern, expand_selectors(codes)))

    verify = table.get("verify", {})
    if not isinstance(verify, dict):
        raise fail("verify", KNOWN_KEYS["verify"], verify)
    scenarios: dict[str, Scenario] = {}
    if verify:  # the scenario model only for a configuration that has one
        from swaplint.verify_common import VerifyConfigError, parse_verify_table

        try:
            scenarios = parse_verify_table(verify, f"{prefix}verify")
        except VerifyConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    src = string_list("src") or ()
    reload_model = table.get("reload-model", "auto")
    if reload_model not in {m.value for m in ReloadModel}:
        raise fail("reload-model", KNOWN_KEYS["reload-model"], reload_model)
    max_size = table.get("max-file-size")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0):
        raise fail("max-file-size", KNOWN_KEYS["max-file-size"], max_size)
    flags: dict[str, bool | None] = {}
    for key in ("fix", "unsafe-fixes"):
        value = table.get(key)
        if value is not None and not isinstance(value, bool):
            raise fail(key, KNOWN_KEYS[key], value)
        flags[key] = value
    fix_timeout = table.get("fix-timeout")
    if fix_timeout is not None and (
        isinstance(fix_timeout, bool)
        or not isinstance(fix_timeout, (int, float))
        or not 0 < fix_timeout < 1e6
    ):
        raise fail("fix-timeout", KNOWN_KEYS["fix-timeout"], fix_timeout)
    return Config(
        path=path,
        root=root,
        select=code_list("select"),
        ignore=code_list("ignore") or (),
        extend_select=code_list("extend-select") or (),
        exclude=string_list("exclude"),
        extend_exclude=string_list("extend-exclude") or (),
        per_file_ignores=tuple(per_file),
        receive_calls=_dotted_names("receive-calls", string_list("receive-calls"), where, prefix),
        spawn_calls=_dotted_names("spawn-calls", string_list("spawn-calls"), where, prefix),
        src=tuple(os.path.normpath(root / s) for s in src),
        reload_model=ReloadModel(reload_model),
        max_file_size=max_size,
        verify=dict(verify),
        scenarios=scenarios,
        fix=flags["fix"],
        unsafe_fixes=flags["unsafe-fixes"],
        fixable=code_list("fixable"),
        unfixable=code_list("unfixable") or (),
        fix_timeout=None if fix_timeout is None else float(fix_timeout),
        raw=dict(table),
    )


def _dotted_names(key: str, values: tuple[str, ...] | None, where: str, prefix: str) -> tuple[str, ...]:
    for value in values or ():
        if not value or not all(part.isidentifier() for part in value.split(".")):
            raise ConfigError(f"{where}: '{prefix}{key}' must be a list of dotted names, got {value!r}")
    return values or ()


def _describe(value: Any) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        bad = next(v for v in value if not isinstance(v, str))
        return f"an array containing {kinds.get(type(bad), type(bad).__name__)} ({bad!r})"
    return f"{kinds.get(type(value), type(value).__name__)} ({value!r})"


# -- rule selection ------------------------------------------------------------------


SYNTAX_ERROR_CODE = "SWL999"


def all_codes() -> tuple[str, ...]:
    return CODES


def expand_selector(selector: str) -> frozenset[str]:
    """The codes a selector stands for: a code, a prefix (``SWL00``) or ``ALL``.

    Raises ``ValueError`` naming the selector when it matches no rule.
    """
    text = selector.strip().upper()
    codes = all_codes()
    if text == "ALL":
        return frozenset(codes)
    matched = frozenset(c for c in codes if text and c.startswith(text))
    if not matched:
        raise ValueError(f"unknown rule code or prefix '{selector}'")
    return matched


def expand_selectors(selectors: Iterable[str]) -> frozenset[str]:
    result: set[str] = set()
    for selector in selectors:
        result |= expand_selector(selector)
    return frozenset(result)


class Selection(NamedTuple):
    """One layer of rule selection (the file's, then the command line's)."""

    select: Sequence[str] | None = None
    extend_select: Sequence[str] = ()
    ignore: Sequence[str] = ()


def resolve_selection(*layers: Selection) -> frozenset[str]:
    """The enabled codes after applying each layer in turn, as ruff does.

    A layer's ``select`` replaces everything before it (including earlier ignores);
    then its ``extend-select`` adds and its ``ignore`` removes. With no ``select``
    anywhere, every rule is enabled. SWL999 (syntax-error) is always reported, as
    ruff reports syntax errors whatever is selected, unless an ``ignore`` names it.
    """
    enabled = frozenset(all_codes())
    syntax_ignored = False
    for layer in layers:
        if layer.select is not None:
            enabled = expand_selectors(layer.select)
            syntax_ignored = False
        enabled = enabled | expand_selectors(layer.extend_select)
        ignored = expand_selectors(layer.ignore)
        enabled = enabled - ignored
        syntax_ignored = syntax_ignored or SYNTAX_ERROR_CODE in ignored
    if not syntax_ignored:
        enabled = enabled | {SYNTAX_ERROR_CODE}
    return enabled
