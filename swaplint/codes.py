"""Every rule code, in code order -- without importing the rules.

A run resolves its rule selection before it checks any file, and a run whose files
are all cache hits checks none: neither needs the rules themselves. The registry
(:data:`swaplint.rules.RULES`) is held to this table by a test.
"""

from __future__ import annotations

CODES: tuple[str, ...] = ("SWL001", "SWL002", "SWL003", "SWL004", "SWL005", "SWL006", "SWL100", "SWL999")
#: The codes the engine itself reports: a suppression that hid nothing, a file it cannot read.
UNUSED_NOQA = "SWL100"
SYNTAX_ERROR = "SWL999"
#: The codes of the rules that check a file's model (every other one).
MODEL_CODES: tuple[str, ...] = tuple(c for c in CODES if c not in (UNUSED_NOQA, SYNTAX_ERROR))
