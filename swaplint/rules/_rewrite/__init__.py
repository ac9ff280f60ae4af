"""Rewrites that more than one rule applies, as text edits.

Each function returns the edits of one fix, or None when the code is outside
what the rewrite can keep exact (then the rule's fix stays display-only, and its
snippet shows the shape). The conditions are written out in each function: a
rewrite that cannot prove its own precondition from the tree does not apply.

* :func:`recursion_to_while`: a function that re-enters itself once per message
  becomes a ``while True`` loop (CPython has no tail calls).
* :func:`extract_step`: a loop body moves into a module-level function that the
  loop calls by name each iteration (the loop then reaches reloaded code).
* :func:`add_timeout`: a wait with no timeout gets one, and the branch that handles
  its expiry.
* :func:`keep_handle`: a started thread, task or process is kept in a registry.
* :func:`reenter_after_block`, :func:`qualify_reentries`, :func:`return_reentry`:
  the runtime's tail-call and qualified-call forms.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where each rewrite lives. A submodule is imported when a rule first asks for one of
#: its functions -- when a file has a finding: a clean run never pays for the fixes.
_HOMES = {
    "make_fix": "_base",
    "merge_inserts": "_base",
    "source_of": "_base",
    "keep_handle": "handles",
    "extract_step": "loops",
    "recursion_to_while": "loops",
    "qualify_reentries": "runtime",
    "reenter_after_block": "runtime",
    "return_reentry": "runtime",
    "add_timeout": "waits",
    "upgrade_on_timeout": "waits",
}

if TYPE_CHECKING:
    from swaplint.rules._rewrite._base import make_fix, merge_inserts, source_of
    from swaplint.rules._rewrite.handles import keep_handle
    from swaplint.rules._rewrite.loops import extract_step, recursion_to_while
    from swaplint.rules._rewrite.runtime import qualify_reentries, reenter_after_block, return_reentry
    from swaplint.rules._rewrite.waits import add_timeout, upgrade_on_timeout
else:

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value


__all__ = [
    "add_timeout",
    "extract_step",
    "keep_handle",
    "make_fix",
    "merge_inserts",
    "qualify_reentries",
    "recursion_to_while",
    "reenter_after_block",
    "return_reentry",
    "source_of",
    "upgrade_on_timeout",
]
