"""The engine: one file's source -> parse once -> model -> rules -> suppressions -> findings.

Each file is parsed once, by CPython's own parser (:mod:`ast`): it gives exact
positions for every node, words syntax errors as Python does, and costs a tenth
of a concrete-syntax parse. A text screen built from the shape tables
(:func:`swaplint.shapes.needles`) skips the model for files that hold no wait and
no spawn at all. The loop model (:mod:`swaplint.model`) is built from the tree,
then every enabled rule reads it. Nothing here raises for a bad file: it becomes
an SWL999 finding (or a :class:`~swaplint.findings.RuleError` when a rule crashes).
"""

from __future__ import annotations

import ast
import gc
import os
import re
import symtable
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

from swaplint.codes import CODES, MODEL_CODES, SYNTAX_ERROR, UNUSED_NOQA
from swaplint.discovery import decode_source as decode_source
from swaplint.findings import FileResult, Finding, Related, RuleError
from swaplint.settings import DEFAULT_FIX_TIMEOUT as DEFAULT_FIX_TIMEOUT
from swaplint.settings import DEFAULT_MAX_FILE_SIZE as DEFAULT_MAX_FILE_SIZE
from swaplint.settings import Settings as Settings
from swaplint.settings import module_name as module_name
from swaplint.shapes import Screen, needles

if TYPE_CHECKING:
    from swaplint.model import FileModel
    from swaplint.rules import Report, Rule

# `# noqa`, `# noqa: SWL001, SWL003`, `# swaplint: ignore[SWL001,SWL003]`
_NOQA = re.compile(
    r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?",
    re.IGNORECASE,
)
_IGNORE = re.compile(r"#\s*swaplint:\s*ignore\[(?P<codes>[^\]]*)\]", re.IGNORECASE)
# A comment line of its own: `# swaplint: noqa` (the whole file) or `# swaplint: noqa: SWL003`.
_FILE_NOQA = re.compile(
    r"^[ \t\f]*#\s*(?:swaplint:\s*noqa|swaplint:\s*noqa-file)"
    r"(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
#: What Python's tokenizer counts as the end of a line (a form feed is not one).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def source_lines(source: str) -> list[str]:
    """The lines of a source as the parser numbers them (``str.splitlines`` splits on
    form feeds and other characters Python does not end lines at)."""
    return _LINE_BREAK.split(source)


def suppressed_codes(line: str) -> frozenset[str] | None:
    """Codes suppressed on a source line: ``None`` for none, an empty set for all."""
    if "#" not in line:
        return None
    codes: set[str] = set()
    found = False
    for match in _NOQA.finditer(line):
        found = True
        if not match.group("codes"):
            return frozenset()
        codes.update(c.upper() for c in re.split(r"[\s,]+", match.group("codes")) if c)
    for match in _IGNORE.finditer(line):
        found = True
        codes.update(c.strip().upper() for c in match.group("codes").split(",") if c.strip())
    return frozenset(codes) if found else None


def file_suppressions(source: str) -> frozenset[str] | None:
    """Codes a file suppresses as a whole (``# swaplint: noqa``): None, or empty for all."""
    codes: set[str] = set()
    found = False
    for match in _FILE_NOQA.finditer(source):
        found = True
        if not match.group("codes"):
            return frozenset()
        codes.update(c.upper() for c in re.split(r"[\s,]+", match.group("codes")) if c)
    return frozenset(codes) if found else None


def is_suppressed(finding: Finding, lines: list[str]) -> bool:
    if not 1 <= finding.line <= len(lines):
        return False
    codes = suppressed_codes(lines[finding.line - 1])
    return codes is not None and (not codes or finding.code in codes)


def _syntax_finding(path: str, line: int, column: int, message: str) -> Finding:
    from swaplint.rules.syntax_error import SyntaxErrorRule  # only for a file that cannot be read

    return Finding(
        code=SyntaxErrorRule.code,
        name=SyntaxErrorRule.name,
        path=path,
        line=line,
        column=column,
        end_line=line,
        end_column=column + 1,
        message=message,
        severity=SyntaxErrorRule.severity,
    )


TOO_DEEP = "too deeply nested to analyse"


def parse(source: str, path: str) -> ast.Module | Finding:
    """The tree of a source, or the SWL999 finding that says why there is none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning: invalid escape sequences
            return ast.parse(source, filename=path)
    except SyntaxError as exc:
        line = exc.lineno or 1
        column = max(exc.offset or 1, 1)
        message = exc.msg
        if "too many nested" in message or "too complex" in message:
            message = f"{TOO_DEEP} ({message})"
        return _syntax_finding(path, line, column, f"syntax error: {message}")
    except (RecursionError, MemoryError):
        return _syntax_finding(path, 1, 1, f"cannot parse file: {TOO_DEEP}")
    except ValueError as exc:  # source code string cannot contain null bytes
        return _syntax_finding(path, 1, 1, f"cannot parse file: {_one_line(exc)}")


def syntax_ok(source: str, path: str) -> bool:
    """Whether ``source`` certainly parses, found without building a syntax tree.

    CPython's symbol-table pass parses the source with the same parser as
    :func:`ast.parse` but makes no Python object per node, so it costs about two
    thirds of a parse. It is stricter (it also rejects ``nonlocal x`` at module
    level, a name both global and a parameter...), so False only means "ask
    :func:`parse`", which decides; True means :func:`parse` succeeds.

    Both passes stop at a nesting depth that shrinks with the depth of the Python
    stack they are called from; the symbol-table pass's limit sits one node above
    the parse's at equal depth, so it is called a few frames deeper (a margin of
    about eight nodes) and a file at the very limit is left to :func:`parse`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning: invalid escape sequences
            return _deeper(_DEEPER_FRAMES, source, path)
    except Exception:  # SyntaxError, ValueError (null bytes), RecursionError, MemoryError
        return False


#: Frames between :func:`syntax_ok` and the symbol-table pass (each takes three nodes off its limit).
_DEEPER_FRAMES = 3


def _deeper(frames: int, source: str, path: str) -> bool:
    if frames:
        return _deeper(frames - 1, source, path)
    symtable.symtable(source, path, "exec")
    return True


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a file's tree lives.

    A syntax tree holds no reference cycles, but it is up to millions of new
    container objects: the collector would walk each of them several times while
    they are made and used (a third of the time of a check). Paused, the tree and
    the model (its cycles broken by :func:`swaplint.model.release`) are freed by
    reference counting when the check ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: Set to a dict to have :func:`check_source` add up the seconds it spends in each
#: stage ("decode", "screen", "syntax check", "parse", "model", "rules"); for
#: ``benchmarks/bench_check.py``. None (the default): nothing is recorded.
stage_times: dict[str, float] | None = None


def _lap(stage: str, start: float) -> float:
    now = time.perf_counter()
    if stage_times is not None:
        stage_times[stage] = stage_times.get(stage, 0.0) + (now - start)
    return now


@lru_cache(maxsize=8)
def _needles(extra: tuple[str, ...]) -> Screen:
    return needles(extra)


def check_source(
    source: str | bytes,
    path: str,
    settings: Settings = Settings(),
    *,
    module: str | None = None,
) -> FileResult:
    """Check one file's source. ``path`` is how findings name the file."""
    if module is None:
        module = module_name(path, settings.src)
    result = FileResult(path=path, module=module)
    start = time.perf_counter()
    if isinstance(source, bytes):
        try:
            source = decode_source(source)
        except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
            if SYNTAX_ERROR in settings.enabled:
                result.findings.append(_syntax_finding(path, 1, 1, f"cannot decode file: {_one_line(exc)}"))
            return result
        start = _lap("decode", start)
    codes = [code for code in MODEL_CODES if code in settings.enabled]
    syntax = SYNTAX_ERROR in settings.enabled
    screened_in = bool(codes) and _needles(settings.receive_calls + settings.spawn_calls).search(source)
    start = _lap("screen", start)
    if not screened_in:
        # No wait and no spawn anywhere: no rule can fire. Only a syntax error can be
        # found, and a syntax check needs no tree (see :func:`syntax_ok`).
        if syntax and not syntax_ok(source, path):
            tree = parse(source, path)
            if isinstance(tree, Finding):
                result.findings.append(tree)
        if not result.findings:
            _unused_suppressions(result, source, set(), settings)
        _lap("syntax check", start)
        return result
    with _no_gc():
        _check_tree(source, path, settings, module, codes, result, start)
    return result


def _check_tree(
    source: str,
    path: str,
    settings: Settings,
    module: str,
    codes: list[str],
    result: FileResult,
    start: float,
) -> None:
    """Parse, model and run the rules of ``codes`` into ``result``. The tree and the
    model are dropped when this returns: the caller keeps the garbage collector paused
    until then, so it never walks them (see :func:`_no_gc`).

    The model and the rules are imported here, by the first file that needs them:
    a run whose files the screen lets by never loads them."""
    from swaplint.model import build_model, release
    from swaplint.rules import RULES_BY_CODE

    rules = [RULES_BY_CODE[code]() for code in codes]
    syntax = SYNTAX_ERROR in settings.enabled
    used: set[tuple[int, str]] = set()  # (line, code) of every suppression that hid a finding
    tree = parse(source, path)
    start = _lap("parse", start)
    if isinstance(tree, Finding):
        if syntax:
            result.findings.append(tree)
        return
    try:
        model = build_model(
            tree,
            module=module,
            reload_model=settings.reload_model,
            receive_calls=settings.receive_calls,
            spawn_calls=settings.spawn_calls,
        )
    except (RecursionError, MemoryError):
        if syntax:
            result.findings.append(_syntax_finding(path, 1, 1, f"cannot analyse file: {TOO_DEEP}"))
        return
    except Exception as exc:
        result.errors.append(RuleError("engine", path, f"{type(exc).__name__}: {exc}"))
        return
    start = _lap("model", start)

    model.text, model.tree, model.fix_timeout = source, tree, settings.fix_timeout
    lines = source_lines(source)
    whole_file = file_suppressions(source)
    seen: set[tuple[str, int, int]] = set()
    for rule in rules:
        if whole_file is not None and (not whole_file or rule.code in whole_file):
            continue
        try:
            reports = list(rule.check(model))
        except RecursionError:
            result.errors.append(RuleError(rule.code, path, f"RecursionError: {TOO_DEEP}"))
            continue
        except Exception as exc:
            result.errors.append(RuleError(rule.code, path, f"{type(exc).__name__}: {exc}"))
            continue
        for report in reports:
            finding = _finding(rule, report, model, path, lines)
            key = (finding.code, finding.line, finding.column)
            if key in seen:
                continue
            if is_suppressed(finding, lines):
                used.add((finding.line, finding.code))
                continue
            seen.add(key)
            result.findings.append(finding)
    _unused_suppressions(result, source, used, settings, lines)
    result.findings.sort(key=Finding.sort_key)
    release(model)  # freed now, by reference counting: the collector need not walk it
    _lap("rules", start)


#: A comment that may hold a suppression naming a swaplint code (SWL100 only looks at those).
_SWL_DIRECTIVE = re.compile(r"#[^\r\n]*(?:noqa|swaplint:\s*ignore)[^\r\n]*swl", re.IGNORECASE)


def _unused_suppressions(
    result: FileResult,
    source: str,
    used: set[tuple[int, str]],
    settings: Settings,
    lines: list[str] | None = None,
) -> None:
    """SWL100: suppression comments that hid nothing (decided after every other rule)."""
    if UNUSED_NOQA not in settings.enabled or not _SWL_DIRECTIVE.search(source):
        return  # no directive names a swaplint code: nothing to tokenize (flake8's `# noqa` is common)
    whole_file = file_suppressions(source)
    if whole_file is not None and (not whole_file or UNUSED_NOQA in whole_file):
        return
    from swaplint.rules.unused_noqa import unused

    lines = lines if lines is not None else source_lines(source)
    found = unused(source, result.path, lines, used, settings.enabled, frozenset(CODES))
    result.findings.extend(f for f in found if not is_suppressed(f, lines))


def _column(lines: list[str], line: int, offset: int) -> int:
    """A 1-based character column from the parser's UTF-8 byte offset."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(text.encode("utf-8")[:offset].decode("utf-8", errors="replace")) + 1


def _position(node: ast.AST, lines: list[str]) -> tuple[int, int, int, int]:
    line = getattr(node, "lineno", 1)
    column = _column(lines, line, getattr(node, "col_offset", 0))
    end_line = getattr(node, "end_lineno", None) or line
    end_column = _column(lines, end_line, getattr(node, "end_col_offset", None) or 0)
    return line, column, end_line, end_column


def _finding(rule: Rule, report: Report, model: FileModel, path: str, lines: list[str]) -> Finding:
    line, column, end_line, end_column = _position(report.node, lines)
    if report.at_name and isinstance(report.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        match = re.compile(r"\bdef\s+(" + re.escape(report.node.name) + r")\b").search(text, column - 1)
        if match is not None:
            column = match.start(1) + 1
        end_line, end_column = line, column + len(report.node.name)
    elif report.length is not None:
        end_line, end_column = line, column + report.length
    related = tuple(Related(*_position(node, lines)[:2], message) for node, message in report.related)
    return Finding(
        code=rule.code,
        name=rule.name,
        path=path,
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        message=report.message,
        severity=rule.severity,
        function=report.function.qualname if report.function is not None else None,
        help=report.help,
        reload_model=model.reload_model,
        related=related,
        fix=report.fix,
    )


def check_file(
    path: str | os.PathLike[str],
    settings: Settings = Settings(),
    *,
    display_path: str | None = None,
    module: str | None = None,
) -> FileResult:
    """Check one file on disk. Unreadable files give one SWL999 finding, never an exception."""
    shown = display_path if display_path is not None else os.fspath(path)
    from swaplint.discovery import FileTooLarge, read_regular_file

    try:
        data = read_regular_file(path, settings.max_file_size or None)
    except FileTooLarge as exc:
        return FileResult(path=shown, module=module, notice=f"skipped: {exc}")
    except OSError as exc:
        result = FileResult(path=shown, module=module)
        if SYNTAX_ERROR in settings.enabled:
            reason = exc.strerror or str(exc) or type(exc).__name__
            result.findings.append(_syntax_finding(shown, 1, 1, f"cannot read file: {reason}"))
        return result
    if module is None:
        module = module_name(path, settings.src)
    return check_source(data, shown, settings, module=module)


def _one_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
