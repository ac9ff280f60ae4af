"""A suppression comment names a swaplint code that suppresses nothing, or no rule at all.

## What it does
Flags a `# noqa: SWL...` or `# swaplint: ignore[SWL...]` comment when a code it
names has no finding of that rule on that line, or names no swaplint rule
(`SWL042`). Codes of other tools (`E501`, `RUF100`) and a blanket `# noqa` are
left alone: they may serve another linter. Codes of rules that are not enabled
in this run are left alone too, as are lines whose own `# noqa` names SWL100.

## Why is this bad?
A suppression outlives the hazard it hid: the loop was fixed, moved or deleted,
and the comment stays. The next hazard written on that line is then hidden
without anyone deciding to hide it, and a code that names no rule (a typo)
suppresses nothing while looking as if it did. This holds whatever the reload
model.

## Example
```python
def handle(msg):  # noqa: SWL003
    return msg
```

## Use instead
```python
def handle(msg):
    return msg
```

## Fix
Safe: the unused and unknown codes are removed from the comment, and a comment
left with no code is removed (when it is nothing but the directive, or ends
with it).
"""

from __future__ import annotations

from collections.abc import Iterator

from swaplint.findings import Applicability, Edit, Finding, Fix, Severity
from swaplint.model import FileModel
from swaplint.rules._base import Report, Rule


class UnusedNoqa(Rule):
    code = "SWL100"
    name = "unused-noqa"
    severity = Severity.WARNING

    VALID = (
        "def worker(q):\n    while True:\n        q.get()  # noqa: SWL003\n",
        "x = 1  # noqa: E501\n",
        "x = 1  # noqa\n",
        "x = 1  # noqa: SWL003, SWL100\n",
    )
    INVALID = (
        "x = 1  # noqa: SWL003\n",
        "x = 1  # swaplint: ignore[SWL042]\n",
        "def worker(q):\n    while True:\n        q.get()  # noqa: SWL003, SWL004\n",
    )

    #: (before, after): what `--fix --unsafe-fixes` makes of each, with only this rule's fixes.
    FIXES = (
        (
            "def handle(msg):  # noqa: SWL003\n    return msg\n",
            "def handle(msg):\n    return msg\n",
        ),
        (
            "def worker(q):\n    while True:\n        q.get()  # noqa: SWL003, SWL004\n",
            "def worker(q):\n    while True:\n        q.get()  # noqa: SWL003\n",
        ),
        (
            "x = 1  # swaplint: ignore[SWL042]\n",
            "x = 1\n",
        ),
    )

    def check(self, model: FileModel) -> Iterator[Report]:
        return iter(())  # decided from the comments, after every other rule: see unused()


def unused(
    source: str,
    path: str,
    lines: list[str],
    used: set[tuple[int, str]],
    enabled: frozenset[str],
    known: frozenset[str],
) -> list[Finding]:
    """SWL100's findings: ``used`` holds the (line, code) pairs that suppressed a finding."""
    from swaplint.noqa import comments, directives  # only for a file that names a swaplint code

    found: list[Finding] = []
    spans = {(line, column): text for line, column, text in comments(source)}
    for directive in directives(source):
        ours = [c for c in directive.codes if c.startswith("SWL")]
        if not ours or UnusedNoqa.code in directive.codes:
            continue
        unknown = [c for c in ours if c not in known]
        stale = [c for c in ours if c in known and c in enabled and (directive.line, c) not in used]
        if not unknown and not stale:
            continue
        parts = []
        if stale:
            parts.append("unused: " + ", ".join(f"`{c}`" for c in stale))
        if unknown:
            parts.append("unknown: " + ", ".join(f"`{c}`" for c in unknown))
        kept = tuple(c for c in directive.codes if c not in stale and c not in unknown)
        text = lines[directive.line - 1] if directive.line <= len(lines) else ""
        edit = _edit(directive.line, text, directive.start, directive.end, directive.rewritten(kept), spans)
        label = "`# noqa`" if directive.kind == "noqa" else "`# swaplint: ignore`"
        found.append(
            Finding(
                code=UnusedNoqa.code,
                name=UnusedNoqa.name,
                path=path,
                line=directive.line,
                column=directive.start + 1,
                end_line=directive.line,
                end_column=directive.end + 1,
                message=f"{label} directive suppresses nothing here ({'; '.join(parts)})",
                severity=UnusedNoqa.severity,
                help="A suppression with no finding to hide will hide the next one written on this "
                "line without anyone deciding to. Remove the codes that suppress nothing.",
                fix=Fix(
                    "remove the unused codes" if kept else "remove the directive",
                    directive.rewritten(kept),
                    Applicability.SAFE if edit else Applicability.DISPLAY_ONLY,
                    (edit,) if edit else (),
                ),
            )
        )
    return found


def _edit(
    line: int, text: str, start: int, end: int, replacement: str, spans: dict[tuple[int, int], str]
) -> Edit | None:
    if end > len(text) or text[start:end] != text[start:end].lstrip() or not text[start:].startswith("#"):
        return None  # the comment is not where the line says: make no edit
    if replacement:
        return Edit(line, start + 1, line, end + 1, replacement)
    comment = next(
        ((col, body) for (row, col), body in spans.items() if row == line and col <= start < col + len(body)),
        None,
    )
    if comment is None:
        return None
    col, body = comment
    if col + len(body) != end and text[end : col + len(body)].strip():
        return None  # the comment goes on after the directive: leave its wording to its author
    cut = start
    while cut > 0 and text[cut - 1] in " \t":
        cut -= 1
    return Edit(line, cut + 1, line, max(end, col + len(body)) + 1, "")
