"""A file that swaplint cannot read or parse.

## What it does
Reports a file that is not valid Python (at the parser's line and column), that
cannot be decoded (it is not UTF-8 and declares no other encoding), that cannot
be read at all, or that is too deeply nested to analyse. The other files of the
run are still checked.

## Why is this bad?
swaplint cannot see the loops of a file it cannot parse, so none of its hazards
are checked there: a clean run would be a false reassurance.

## Example
```python
def server_loop(state)
    return server_loop(state)
```

## Use instead
Fix the syntax error (here, the missing `:`), or exclude the file if it is not
meant to be Python (`exclude = ["templates/"]`).
"""

from __future__ import annotations

from collections.abc import Iterator

from swaplint.findings import Severity
from swaplint.model import FileModel
from swaplint.rules._base import Report, Rule


class SyntaxErrorRule(Rule):
    """The engine reports it when a file cannot be read or parsed; it has no model to check."""

    code = "SWL999"
    name = "syntax-error"
    severity = Severity.ERROR

    def check(self, model: FileModel) -> Iterator[Report]:
        return iter(())
