"""Every rule code, in code order -- without importing the rules.

A run resolves its rule selection before it checks any file, and a run whose files
are all cache hits checks none: neither needs the rules themselves. The registry
(:data:`swaplint.rules.RULES`) is held to this table by a test.
"""

from __future__ import annotations

CODES: tuple[str, ...] = ("SWL001", "SWL002", "SWL003", "SWL004", "SWL005", "SWL006", "SWL100", "SWL999")
