"""The rule registry: every rule swaplint knows, in code order."""

from __future__ import annotations

from swaplint.rules._base import Report, Rule
from swaplint.rules.missing_after import MissingAfter
from swaplint.rules.non_tail_reentry import NonTailReentry
from swaplint.rules.pinned_loop import PinnedLoop
from swaplint.rules.syntax_error import SyntaxErrorRule
from swaplint.rules.tail_in_try import TailInTry
from swaplint.rules.unqualified_recursion import UnqualifiedRecursion
from swaplint.rules.untracked_process import UntrackedProcess
from swaplint.rules.unused_noqa import UnusedNoqa

#: Every rule, in code order. SWL100 and SWL999 are reported by the engine itself.
RULES: tuple[type[Rule], ...] = (
    TailInTry,
    UnqualifiedRecursion,
    MissingAfter,
    UntrackedProcess,
    NonTailReentry,
    PinnedLoop,
    UnusedNoqa,
    SyntaxErrorRule,
)
#: The rules that check a file's model.
MODEL_RULES: tuple[type[Rule], ...] = tuple(r for r in RULES if r not in (SyntaxErrorRule, UnusedNoqa))
RULES_BY_CODE: dict[str, type[Rule]] = {r.code: r for r in RULES}
ALL_CODES: frozenset[str] = frozenset(RULES_BY_CODE)


def get_rule(code: str) -> type[Rule]:
    """The rule with this code (case-insensitive), or ``KeyError``."""
    return RULES_BY_CODE[code.upper()]


__all__ = [
    "ALL_CODES",
    "MODEL_RULES",
    "RULES",
    "RULES_BY_CODE",
    "Report",
    "Rule",
    "SyntaxErrorRule",
    "UnusedNoqa",
    "get_rule",
]
