"""Applying fixes: ``--fix``, ``--unsafe-fixes``, ``--diff`` and ``--add-noqa``.

A finding's :class:`~swaplint.findings.Fix` carries text edits. Fixing a file is
done in rounds, as ruff does: lint, take every allowed fix whose edits do not
overlap an edit already taken (the rest wait for the next round), apply them, and
lint the new text again, until no allowed fix is left. A round whose text would not
parse is retried one fix at a time, and a fix that breaks the file is left out
for good (and said so). Nothing here touches the disk: :mod:`swaplint.check`
reads and writes the files.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from swaplint.findings import Applicability, Edit, FileResult, Finding, Fix
from swaplint.noqa import add_codes

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: Rounds of fixing one file before giving up (a fix that keeps re-appearing).
MAX_ROUNDS = 20


@dataclass(frozen=True)
class FixPolicy:
    """Which fixes may be applied: ``--unsafe-fixes``, ``fixable``, ``unfixable``."""

    unsafe: bool = False
    fixable: frozenset[str] | None = None  # None: every rule
    unfixable: frozenset[str] = frozenset()

    def allows(self, finding: Finding) -> bool:
        fix = finding.fix
        if fix is None or not fix.applicable:
            return False
        if fix.applicability is Applicability.UNSAFE and not self.unsafe:
            return False
        if self.fixable is not None and finding.code not in self.fixable:
            return False
        return finding.code not in self.unfixable


@dataclass
class Fixed:
    """What fixing one text did."""

    text: str
    result: FileResult  # the findings of the final text
    applied: Counter[str] = field(default_factory=Counter)  # code -> fixes applied
    problems: list[str] = field(default_factory=list)  # fixes left out, and why
    rounds: int = 0

    @property
    def count(self) -> int:
        return sum(self.applied.values())


def _starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def _offset(starts: list[int], text: str, line: int, column: int) -> int:
    if line > len(starts):
        return len(text)
    return min(starts[line - 1] + column - 1, len(text))


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return (a[0] < b[1] and b[0] < a[1]) or a[0] == b[0]


def apply_fixes(text: str, fixes: Sequence[Fix]) -> tuple[str, list[int]]:
    """Apply the fixes that do not collide with an earlier one (in the given order).
    Returns the new text and the indexes of the fixes applied."""
    starts = _starts(text)
    taken: list[tuple[int, int, str]] = []
    applied: list[int] = []
    for index, fix in enumerate(fixes):
        spans = [
            (
                _offset(starts, text, e.line, e.column),
                _offset(starts, text, e.end_line, e.end_column),
                e.content,
            )
            for e in fix.edits
        ]
        if any(s > e for s, e, _ in spans):
            continue
        if any(_overlaps((s, e), (ts, te)) for s, e, _ in spans for ts, te, _ in taken):
            continue
        if any(_overlaps(a[:2], b[:2]) for i, a in enumerate(spans) for b in spans[i + 1 :]):
            continue
        taken.extend(spans)
        applied.append(index)
    for start, end, content in sorted(taken, key=lambda s: (s[0], s[1]), reverse=True):
        text = text[:start] + content + text[end:]
    return text, applied


def compiles(text: str) -> bool:
    """Whether ``text`` compiles: parsing alone would miss what the compiler checks
    (``from __future__`` placement, ``continue`` outside a loop, ``await`` outside
    ``async def``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, "<fixed>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


def _redefines(old: str, new: str) -> bool:
    """Whether fixes applied together define one module-level name twice (two fixes each
    adding a function of the same name): the later would shadow the earlier."""

    def twice(text: str) -> set[str]:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return set()
        names = [
            s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
        return {n for n in names if names.count(n) > 1}

    return bool(twice(new) - twice(old))


def parses(text: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


def _key(finding: Finding) -> tuple[str, int, str]:
    assert finding.fix is not None
    return finding.code, finding.line, finding.fix.title


def _signature(finding: Finding) -> tuple[str, str, tuple[str, ...]]:
    assert finding.fix is not None
    return finding.code, finding.message, tuple(e.content for e in finding.fix.edits)


def fix_text(text: str, lint: Callable[[str], FileResult], policy: FixPolicy) -> Fixed:
    """Fix ``text`` in rounds; ``lint`` checks a text as the file it stands for."""
    result = lint(text)
    fixed = Fixed(text=text, result=result)
    valid = compiles if compiles(text) else parses  # a file that never compiled: parsing is the bar
    refused: set[tuple[str, int, str]] = set()
    done: set[tuple[str, str, tuple[str, ...]]] = set()  # fixes applied, by what they wrote
    while fixed.rounds < MAX_ROUNDS:
        candidates = []
        for finding in result.findings:
            if not policy.allows(finding) or _key(finding) in refused:
                continue
            if _signature(finding) in done:  # applied once, and the finding came back
                refused.add(_key(finding))
                fixed.problems.append(
                    f"{finding.line}:{finding.column}: the {finding.code} fix did not remove the finding; "
                    "applied once"
                )
                continue
            candidates.append(finding)
        if not candidates:
            break
        fixed.rounds += 1
        new, applied = apply_fixes(text, [f.fix for f in candidates if f.fix is not None])
        chosen = [candidates[i] for i in applied]
        if not valid(new) or _redefines(text, new):
            new, chosen = _one_by_one(text, chosen, fixed, refused, valid)
        if not chosen:
            break
        done.update(_signature(f) for f in chosen)
        fixed.applied.update(f.code for f in chosen)
        text = new
        result = lint(text)
    else:
        fixed.problems.append(f"fixes still apply after {MAX_ROUNDS} rounds; stopped")
    fixed.text, fixed.result = text, result
    return fixed


def _one_by_one(
    text: str,
    chosen: list[Finding],
    fixed: Fixed,
    refused: set[tuple[str, int, str]],
    valid: Callable[[str], bool],
) -> tuple[str, list[Finding]]:
    kept: list[Finding] = []
    for finding in chosen:
        assert finding.fix is not None
        trial, applied = apply_fixes(text, [finding.fix])
        if applied and valid(trial):
            text = trial
            kept.append(finding)
            break  # positions after it have moved: the next round lints again
        refused.add(_key(finding))
        fixed.problems.append(
            f"{finding.line}:{finding.column}: the {finding.code} fix ({finding.fix.title}) "
            "would leave the file unable to compile; left as it was"
        )
    return text, kept


def unified_diff(old: str, new: str, path: str) -> str:
    """A diff of one file that ``patch -p1`` and ``git apply`` accept."""
    import difflib  # only for --diff

    name = path.replace("\\", "/").lstrip("/")
    if name.startswith("./"):
        name = name[2:]
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    out = []
    for line in lines:
        out.append(line)
        if not line.endswith(("\n", "\r")):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def add_noqa(text: str, findings: Sequence[Finding]) -> tuple[str, int]:
    """Suppress every finding on its line: ``# noqa: CODE`` added (or merged into the
    line's own ``# noqa: ...``). Returns the new text and the number of lines changed."""
    by_line: dict[int, list[str]] = {}
    for finding in findings:
        by_line.setdefault(finding.line, [])
        if finding.code not in by_line[finding.line]:
            by_line[finding.line].append(finding.code)
    starts = _starts(text)
    edits: list[Edit] = []
    for row, codes in sorted(by_line.items()):
        if row > len(starts):
            continue
        end = starts[row] if row < len(starts) else len(text)
        line_text = _LINE_BREAK.sub("", text[starts[row - 1] : end])
        change = add_codes(text, line_text, row, codes)
        if change is not None:
            start, stop, content = change
            edits.append(Edit(row, start + 1, row, stop + 1, content))
    new, applied = apply_fixes(text, [Fix("add noqa", "", Applicability.SAFE, (e,)) for e in edits])
    return new, len(applied)
