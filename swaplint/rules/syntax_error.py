"""A file that swaplint cannot read or parse.

## What it does
Reports a file that is not valid Python (at the parser's line and column), that
cannot be decoded (it is not UTF-8 and declares no other encoding), or that cannot
be read at all. The other files of the run are still checked.

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

from swaplint.findings import Severity
from swaplint.rules._base import Rule


class SyntaxErrorRule(Rule):
    """Not a visitor: the engine reports it when a file cannot be read or parsed."""

    code = "SWL999"
    name = "syntax-error"
    severity = Severity.ERROR
