"""The engine: read -> parse once -> model -> rules -> suppressions -> findings.

Each file is parsed once with libcst. The loop model (:mod:`swaplint.model`) is
built from that tree, then every enabled rule visits the same tree in one batched
pass. Positions are resolved only when a rule reported something, since position
metadata costs more than parsing.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from swaplint.findings import FileResult, Finding, RuleError
from swaplint.model import build_model
from swaplint.prefilter import Screen, screen
from swaplint.rules import ALL_CODES, VISITOR_RULES, RuleContext, SyntaxErrorRule


@dataclass(frozen=True)
class Settings:
    """What the engine needs to know besides the source: which rules, which extra calls."""

    #: Codes of the rules to report.
    enabled: frozenset[str] = ALL_CODES
    #: Extra dotted names that block like a receive (``receive-calls``).
    receive_calls: tuple[str, ...] = ()
    #: Extra dotted names that start a process (``spawn-calls``).
    spawn_calls: tuple[str, ...] = ()
    #: Roots for module names (``src``), as absolute or working-directory-relative paths.
    src: tuple[str, ...] = field(default=())


# `# noqa`, `# noqa: SWL001, SWL003`, `# swaplint: ignore[SWL001,SWL003]`
_NOQA = re.compile(
    r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?",
    re.IGNORECASE,
)
_IGNORE = re.compile(r"#\s*swaplint:\s*ignore\[(?P<codes>[^\]]*)\]", re.IGNORECASE)


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


def is_suppressed(finding: Finding, lines: list[str]) -> bool:
    if not 1 <= finding.line <= len(lines):
        return False
    codes = suppressed_codes(lines[finding.line - 1])
    return codes is not None and (not codes or finding.code in codes)


def module_name(path: str | os.PathLike[str], src: Iterable[str | os.PathLike[str]] = ()) -> str:
    """The dotted module name of a file.

    With ``src`` roots, the name is the path relative to the first root that holds
    the file. Otherwise walk up the directories that hold an ``__init__.py``.
    """
    file = Path(os.path.abspath(path))
    stem = file.stem if file.suffix in (".py", ".pyi") else file.name
    for root in src:
        root_path = Path(os.path.abspath(root))
        try:
            rel = file.relative_to(root_path)
        except ValueError:
            continue
        parts = list(rel.parent.parts)
        if stem != "__init__" or not parts:
            parts.append(stem)
        return ".".join(parts)
    parts = [] if stem == "__init__" else [stem]
    directory = file.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts) or stem


def decode_source(data: bytes) -> str:
    """Decode a Python source file as the interpreter would (PEP 263 cookie, BOM)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def _syntax_finding(path: str, line: int, column: int, message: str) -> Finding:
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


def _syntax_error_finding(path: str, source: str, exc: cst.ParserSyntaxError) -> Finding:
    """Python's own parser words syntax errors best and points at the right column."""
    try:
        ast.parse(source)
    except SyntaxError as py_exc:
        if py_exc.lineno:
            column = max(py_exc.offset or 1, 1)
            return _syntax_finding(path, py_exc.lineno, column, f"syntax error: {py_exc.msg}")
    except (ValueError, RecursionError, MemoryError):
        pass
    line, column = max(exc.editor_line, 1), max(exc.editor_column, 1)
    return _syntax_finding(path, line, column, f"syntax error: {_one_line(exc.message)}")


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
    if isinstance(source, bytes):
        try:
            source = decode_source(source)
        except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
            if SyntaxErrorRule.code in settings.enabled:
                result.findings.append(_syntax_finding(path, 1, 1, f"cannot decode file: {_one_line(exc)}"))
            return result
    verdict = (
        screen(source, settings.receive_calls)
        if settings.enabled - {SyntaxErrorRule.code}
        else Screen.NO_MATCH
    )
    if verdict is Screen.CLEAN:
        return result  # `ast` parsed it, and no rule can fire on it
    if verdict is Screen.NO_MATCH:
        # No rule can fire: only a syntax error is left to report, and `ast` finds
        # those ten times faster than libcst. libcst still words the message.
        try:
            ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
        else:
            return result
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        if SyntaxErrorRule.code in settings.enabled:
            result.findings.append(_syntax_error_finding(path, source, exc))
        return result
    except (RecursionError, MemoryError, ValueError) as exc:
        if SyntaxErrorRule.code in settings.enabled:
            result.findings.append(_syntax_finding(path, 1, 1, f"cannot parse file: {_one_line(exc)}"))
        return result

    rules = [r for r in VISITOR_RULES if r.code in settings.enabled]
    try:
        model = build_model(
            tree,
            module=module,
            receive_calls=settings.receive_calls,
            spawn_calls=settings.spawn_calls,
        )
    except Exception as exc:
        result.errors.append(RuleError("engine", path, f"{type(exc).__name__}: {exc}"))
        return result

    context = RuleContext(model=model, path=path)
    cst.visit_batched(tree, [rule(context) for rule in rules])
    for code, exc in sorted(context.crashed.items()):
        result.errors.append(RuleError(code, path, f"{type(exc).__name__}: {exc}"))
    if context.reports:
        result.findings.extend(_resolve(tree, context, path, source))
    result.findings.sort(key=Finding.sort_key)
    return result


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what libcst counts as the end of a line


def _line_breaks(code: str) -> int:
    return len(_LINE_BREAK.findall(code))


def _positions(tree: cst.Module, context: RuleContext) -> Callable[[cst.CSTNode], CodeRange]:
    """Where each reported node is, computing position metadata only where needed.

    Position metadata over a whole module costs more than parsing it. Reported nodes
    sit in a few top-level statements, so positions are resolved for a module made of
    each such statement alone, then shifted by the lines of the code before it (plain
    code generation, several times cheaper). Columns need no shift: a top-level
    statement starts in column 0.
    """
    tops = context.model.top_statement
    needed = {tops.get(r.node) for r in context.reports}
    if None in needed:  # a node the model does not map: resolve the whole module
        full = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
        return lambda node: full[node]
    index = {id(stmt): i for i, stmt in enumerate(tree.body)}
    last = max(index[id(stmt)] for stmt in needed)
    lines_before = [sum(_line_breaks(tree.code_for_node(line)) for line in tree.header)]
    for stmt in tree.body[:last]:
        lines_before.append(lines_before[-1] + _line_breaks(tree.code_for_node(stmt)))
    table: dict[cst.CSTNode, CodeRange] = {}
    for stmt in needed:
        shift = lines_before[index[id(stmt)]]
        alone = tree.with_changes(header=(), body=(stmt,), footer=())
        for node, pos in MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider).items():
            table[node] = CodeRange(
                CodePosition(pos.start.line + shift, pos.start.column),
                CodePosition(pos.end.line + shift, pos.end.column),
            )
    return table.__getitem__


def _resolve(tree: cst.Module, context: RuleContext, path: str, source: str) -> list[Finding]:
    position_of = _positions(tree, context)
    lines = source.splitlines()
    findings = []
    seen = set()
    for report in context.reports:
        pos = position_of(report.node)
        line, column = pos.start.line, pos.start.column + 1
        if report.length is not None:
            end_line, end_column = line, column + report.length
        else:
            end_line, end_column = pos.end.line, pos.end.column + 1
        finding = Finding(
            code=report.rule.code,
            name=report.rule.name,
            path=path,
            line=line,
            column=column,
            end_line=end_line,
            end_column=end_column,
            message=report.message,
            severity=report.rule.severity,
            function=report.function,
        )
        key = (finding.code, line, column)
        if key in seen or is_suppressed(finding, lines):
            continue
        seen.add(key)
        findings.append(finding)
    return findings


def check_file(
    path: str | os.PathLike[str],
    settings: Settings = Settings(),
    *,
    display_path: str | None = None,
    module: str | None = None,
) -> FileResult:
    """Check one file on disk. Unreadable files give one SWL999 finding, never an exception."""
    shown = display_path if display_path is not None else os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        result = FileResult(path=shown, module=module)
        if SyntaxErrorRule.code in settings.enabled:
            reason = exc.strerror or type(exc).__name__
            result.findings.append(_syntax_finding(shown, 1, 1, f"cannot read file: {reason}"))
        return result
    if module is None:
        module = module_name(path, settings.src)
    return check_source(data, shown, settings, module=module)


def _one_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
