"""The default, human format: findings grouped by file, each with its source and a caret.

```
examples/idle.py
  4:11 SWL003 [warning] `receive()` in loop `server_loop` waits with no timeout: ...
     |
   4 |     msg = receive()
     |           ^^^^^^^^^
     = verification: {"verdict": "confirmed"}

Found 1 finding in 1 file (0 errors, 1 warning)
```

Colour only when the stream is a terminal (the CLI decides; ``NO_COLOR`` and
``--no-color`` turn it off). Control characters from a file (its name, its source
lines) or a message are shown escaped (``\\x1b``), never sent to the terminal.
"""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING, TextIO

from swaplint.findings import Finding, Severity
from swaplint.output import RunReport, escape_controls

if TYPE_CHECKING:
    from rich.console import Console

#: At most this many source lines of a multi-line span are shown.
MAX_SPAN_LINES = 4
TAB_WIDTH = 4


def make_console(stream: TextIO, color: bool, *, wrap: bool = False) -> Console:
    """A rich console on ``stream``; findings are never wrapped unless ``wrap`` (docs, tables)."""
    from rich.console import Console

    return Console(
        file=stream,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=not wrap,
        width=None if (wrap or color) else 10_000,
    )


def severity_style(severity: Severity) -> str:
    return "bold red" if severity is Severity.ERROR else "bold yellow"


#: One printed line: its pieces, each with a rich style ("" for none).
Line = list[tuple[str, str]]


def write(report: RunReport, stream: TextIO) -> None:
    if not report.findings:  # the common case (a clean pre-commit run)
        if not report.quiet:
            summary = report.summary()
            stream.write(f"\x1b[1;32m{summary}\x1b[0m\n" if report.color else f"{summary}\n")
        return
    lines: list[Line] = []
    for path, group in groupby(report.findings, key=lambda f: f.path):
        lines.append([(escape_controls(path), "bold underline")])
        for finding in group:
            lines.extend(_finding_lines(finding, report.sources.lines(path)))
        lines.append([])
    if not report.quiet:
        lines.append([(report.summary(), "bold")])
    if report.color:
        _print_styled(lines, stream)
    else:  # plain text needs no rich console (it costs ~35 ms to import)
        stream.writelines("".join(text for text, _ in line) + "\n" for line in lines)


def _print_styled(lines: list[Line], stream: TextIO) -> None:
    from rich.text import Text

    console = make_console(stream, True)
    for line in lines:
        console.print(Text.assemble(*line))


def _finding_lines(finding: Finding, lines: list[str]) -> list[Line]:
    style = severity_style(finding.severity)
    out: list[Line] = [
        [
            ("  ", ""),
            (f"{finding.line}:{finding.column}", "cyan"),
            (" ", ""),
            (finding.code, style),
            (f" [{finding.severity.value}] ", style),
            (escape_controls(finding.message), ""),
        ]
    ]
    for gutter, bar, body in source_excerpt(finding, lines):
        out.append([(gutter, "blue"), (bar, "blue"), (body, "" if gutter.strip() else style)])
    if finding.help:
        help_text = f": {escape_controls(finding.help)}"
        out.append([("     = ", "dim"), ("help", "bold cyan"), (help_text, "")])
    if finding.verification is not None:
        verdict = finding.verification
        evidence = escape_controls(verdict.evidence)
        out.append([(f"     = verification: {verdict.status}: {evidence}", "dim")])
    return out


def source_excerpt(finding: Finding, lines: list[str]) -> list[tuple[str, str, str]]:
    """Rows ``(gutter, " | ", text)``: the flagged line(s), each followed by its carets."""
    first, last = finding.line, max(finding.end_line, finding.line)
    if not lines or first > len(lines):
        return []
    last = min(last, len(lines))
    shown = list(range(first, last + 1))
    elided = False
    if len(shown) > MAX_SPAN_LINES:
        shown = [*shown[: MAX_SPAN_LINES - 1], last]
        elided = True
    width = max(len(str(n)) for n in shown) + 2
    blank = " " * width
    rows: list[tuple[str, str, str]] = [(blank, "|", "")]
    for index, number in enumerate(shown):
        if elided and index == len(shown) - 1:
            rows.append((" " * (width - 4) + "... ", "|", ""))
        raw = lines[number - 1]
        display = escape_controls(raw).expandtabs(TAB_WIDTH)
        start = finding.column if number == first else _indent(raw) + 1
        end = finding.end_column if number == finding.end_line else len(raw) + 1
        start_cells = _cells(raw, start - 1)
        end_cells = _cells(raw, max(end - 1, start))
        carets = "^" * max(end_cells - start_cells, 1)
        rows.append((str(number).rjust(width - 1) + " ", "|", " " + display))
        rows.append((blank, "|", " " + " " * start_cells + carets))
    return rows


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _cells(line: str, chars: int) -> int:
    """Display width of the first ``chars`` code points of ``line`` (escaped, tabs expanded)."""
    shown = escape_controls(line[: max(chars, 0)]).expandtabs(TAB_WIDTH)
    if shown.isascii():
        return len(shown)  # control characters are escaped: one cell each
    from rich.cells import cell_len  # wide and zero-width characters

    return cell_len(shown)
