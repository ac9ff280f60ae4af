"""Expected findings annotated in fixtures and examples: `# expect: CODE:COLUMN, ...`."""

from __future__ import annotations

import re
from pathlib import Path

EXPECT = re.compile(r"#\s*expect:\s*(?P<items>[A-Z]+\d+:\d+(?:\s*,\s*[A-Z]+\d+:\d+)*)")


def expected_findings(path: Path) -> list[tuple[str, int, int]]:
    """(code, line, column) for every annotation in the file, sorted like the engine's output."""
    expected = []
    text = path.read_bytes().decode("utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = EXPECT.search(line)
        if not match:
            continue
        for item in match.group("items").split(","):
            code, column = item.strip().split(":")
            expected.append((code, lineno, int(column)))
    return sorted(expected, key=lambda e: (e[1], e[2], e[0]))
