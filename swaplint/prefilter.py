"""Decide cheaply, and exactly, whether any rule can fire on a file.

Every rule needs a receive-like call in the file: SWL001, SWL002 and SWL005 need a
recursive loop (a call cycle holding a receive), SWL003 a receive, SWL006 a
``while`` holding a receive, and SWL004 a spawn whose target is a loop function,
which again needs a receive. So a file whose text names no receive-like call
cannot produce a finding (other than SWL999), and needs no concrete syntax tree.

The scan looks for the *last component* of every receive shape the model knows
(``receive``, ``get``, ``get_nowait``, ``recv``, ``recv_bytes``, ``accept``,
``select``) and of every configured ``receive-calls`` name, as a word followed by
``(`` with optional whitespace. It is a superset test: it may keep files without
a receive (``d.get(k)``), never the reverse, except through code the model cannot
see either (``getattr(q, "get")()``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

BUILTIN_RECEIVE_NAMES = ("receive", "get", "get_nowait", "recv", "recv_bytes", "accept", "select")


@lru_cache(maxsize=64)
def _pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    names = set(BUILTIN_RECEIVE_NAMES)
    names.update(name.rsplit(".", 1)[-1] for name in extra if name)
    alternatives = "|".join(sorted(map(re.escape, names)))
    return re.compile(rf"\b(?:{alternatives})\s*\(")


def may_have_findings(source: str, receive_calls: Iterable[str] = ()) -> bool:
    """False only when no rule can report anything on this source (syntax aside)."""
    return _pattern(tuple(receive_calls)).search(source) is not None
