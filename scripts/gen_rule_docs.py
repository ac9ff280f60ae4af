"""Write docs/rules.md from the rule modules' docstrings: `python scripts/gen_rule_docs.py`.

The rule modules are the source of truth; tests/test_docs.py fails when the page
is out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from swaplint.rules import RULES

OUT = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def render() -> str:
    parts = [
        "# swaplint rules",
        "",
        "Generated from the rule modules by `python scripts/gen_rule_docs.py`; do not edit by hand.",
        "",
        "| code | name | severity | summary |",
        "|---|---|---|---|",
    ]
    for rule in RULES:
        anchor = rule.code.lower()
        parts.append(f"| [{rule.code}](#{anchor}) | {rule.name} | {rule.severity.value} | {rule.summary()} |")
    for rule in RULES:
        body = rule.doc().split("\n", 1)[1].strip() if "\n" in rule.doc() else ""
        body = re.sub(r"^## ", "### ", body, flags=re.MULTILINE)
        parts += [
            "",
            f'<a id="{rule.code.lower()}"></a>',
            f"## {rule.code} {rule.name}",
            "",
            f"*{rule.summary()}* Severity: {rule.severity.value}.",
            "",
            body,
        ]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUT}\n")
