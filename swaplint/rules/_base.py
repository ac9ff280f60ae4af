"""What every rule is: a code, a name, a severity, its docs, and one decision.

A rule reads the facts of one file's :class:`~swaplint.model.FileModel` and yields
:class:`Report` s; it never walks the tree itself. The whole decision of a rule,
under each reload model, is in its own module, whose docstring is the rule's
documentation (what it does, why it is bad, an example and what to use instead
for each reload model); ``swaplint rule CODE`` shows it and a test runs its
examples. Rules also carry ``VALID`` and ``INVALID`` snippets, which the tests run.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from swaplint.findings import Fix, ReloadModel, Severity
from swaplint.model import FileModel, Function


@dataclass
class Report:
    """A finding before positions are resolved: the node, the message, the help."""

    node: ast.AST
    message: str  # one terminal line: what is wrong here
    help: str  # why it matters, and what to do
    function: Function | None = None
    length: int | None = None  # report only the first ``length`` characters of the node
    at_name: bool = False  # for a ``def``: report its name, not the whole statement
    related: list[tuple[ast.AST, str]] = field(default_factory=list)
    fix: Fix | None = None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    #: Snippets (whole modules) on which the rule must stay silent / must fire. A
    #: snippet that imports ``swaplint.runtime`` is checked under the runtime model.
    VALID: ClassVar[tuple[str, ...]] = ()
    INVALID: ClassVar[tuple[str, ...]] = ()
    #: (before, after) pairs: ``before`` fixed by this rule's fixes alone, safe and unsafe,
    #: must give exactly ``after``. Checked as ``counter.py`` when it imports ``counter``.
    FIXES: ClassVar[tuple[tuple[str, str], ...]] = ()

    def check(self, model: FileModel) -> Iterator[Report]:
        """Every report of this rule on one file."""
        raise NotImplementedError

    # -- documentation -------------------------------------------------------------
    @classmethod
    def doc(cls) -> str:
        """The rule's documentation: its module's docstring, in Markdown."""
        module = sys.modules[cls.__module__]
        return inspect.cleandoc(module.__doc__ or cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first line of the docs: one sentence saying what the rule flags."""
        return cls.doc().splitlines()[0].strip() if cls.doc() else cls.name


def importlib_model(model: FileModel) -> bool:
    return model.reload_model is ReloadModel.IMPORTLIB
