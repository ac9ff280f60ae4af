"""Suppression comments as written: where they are, which codes they name, how to edit them.

The engine decides what a comment suppresses (:func:`swaplint.engine.suppressed_codes`);
this module finds the comments themselves, so that swaplint can add codes to them
(``--add-noqa``, the language server's quick fix) and remove the ones nothing
needs (SWL100). Only real comments count: text that looks like a directive inside
a string is not one.
"""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize
from dataclasses import dataclass

_NOQA = re.compile(
    r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[\s,]+[A-Za-z]+[0-9]+)*))?",
    re.IGNORECASE,
)
_IGNORE = re.compile(r"#\s*swaplint:\s*ignore\[(?P<codes>[^\]]*)\]", re.IGNORECASE)
_FILE_NOQA = re.compile(r"#\s*swaplint:\s*noqa", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Directive:
    """One ``# noqa: ...`` or ``# swaplint: ignore[...]`` in a comment.

    ``start``/``end`` are 0-based character columns of the directive on its line."""

    line: int
    start: int
    end: int
    kind: str  # "noqa" or "ignore"
    codes: tuple[str, ...]  # upper-case, as written; empty for a blanket ``# noqa``

    def rewritten(self, codes: tuple[str, ...]) -> str:
        """The directive naming only ``codes`` (empty: nothing, the directive goes)."""
        if not codes:
            return ""
        if self.kind == "ignore":
            return f"# swaplint: ignore[{','.join(codes)}]"
        return f"# noqa: {', '.join(codes)}"


def comments(source: str) -> list[tuple[int, int, str]]:
    """Every comment as (line, 0-based column, text). Broken code: a best-effort scan."""
    out: list[tuple[int, int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(_LINE_BREAK.sub("\n", source)).readline):
            if token.type == tokenize.COMMENT:
                out.append((token.start[0], token.start[1], token.string))
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def directives(source: str) -> list[Directive]:
    """The line directives of a file, in order (file-level ``# swaplint: noqa`` aside)."""
    out: list[Directive] = []
    lines = _LINE_BREAK.split(source)
    for line, column, text in comments(source):
        own_line = not lines[line - 1][:column].strip() if line <= len(lines) else False
        if _FILE_NOQA.match(text) and own_line:
            continue  # a file-level directive on a line of its own
        for match in _NOQA.finditer(text):
            codes = match.group("codes")
            parsed = tuple(c.upper() for c in re.split(r"[\s,]+", codes) if c) if codes else ()
            out.append(Directive(line, column + match.start(), column + match.end(), "noqa", parsed))
        for match in _IGNORE.finditer(text):
            parsed = tuple(c.strip().upper() for c in match.group("codes").split(",") if c.strip())
            out.append(Directive(line, column + match.start(), column + match.end(), "ignore", parsed))
    return out


def comment_fits(source: str, row: int) -> bool:
    """Whether a comment can be added at the end of line ``row`` (1-based): the line does
    not end inside a string or with a backslash."""
    lines = _LINE_BREAK.split(source)
    if not 0 < row <= len(lines) or lines[row - 1].rstrip().endswith("\\"):
        return False
    try:
        for token in tokenize.generate_tokens(io.StringIO(_LINE_BREAK.sub("\n", source)).readline):
            if token.start[0] > row:
                break
            if token.start[0] <= row < token.end[0] and token.type not in (tokenize.NL, tokenize.NEWLINE):
                return False  # a string (or f-string part) runs past this line
    except (tokenize.TokenError, SyntaxError):
        pass  # broken code: the line is still worth a try
    return True


def add_codes(source: str, line_text: str, row: int, codes: list[str]) -> tuple[int, int, str] | None:
    """How to make line ``row`` (1-based, text ``line_text``) suppress ``codes`` as well:
    (start column, end column, new text) in 0-based characters, or None if it cannot be done
    (or nothing is needed)."""
    existing = [d for d in directives_on(line_text, row) if d.kind == "noqa"]
    for directive in existing:
        if not directive.codes:
            return None  # a blanket noqa already suppresses everything
        missing = tuple(c for c in codes if c not in directive.codes)
        if not missing:
            return None
        return (
            directive.start,
            directive.end,
            f"{line_text[directive.start : directive.end]}, {', '.join(missing)}",
        )
    if not comment_fits(source, row):
        return None
    end = len(line_text.rstrip())
    return end, len(line_text), f"  # noqa: {', '.join(dict.fromkeys(codes))}"


def directives_on(line_text: str, row: int) -> list[Directive]:
    """The directives of one line, scanned alone (fast for one edit)."""
    if "#" not in line_text:
        return []
    return [dataclasses.replace(d, line=row) for d in directives(line_text + "\n")]
