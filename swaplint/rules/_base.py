"""What every rule is: a libcst visitor with a code, a name, a severity and its own docs.

A rule never computes the loop model itself: the engine builds one
:class:`~swaplint.model.FileModel` per file and every rule reads from it while it
visits the same tree. Each rule module's docstring is the rule's documentation
(what it does, why it is bad, example, use instead); ``swaplint rule CODE`` shows it.
Rules also carry ``VALID`` and ``INVALID`` snippets, which the test suite runs.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from swaplint.findings import Severity

if TYPE_CHECKING:
    from swaplint.model import FileModel, Function


@dataclass
class Report:
    """A finding before positions are resolved: the rule, the node, the message."""

    rule: type[Rule]
    node: cst.CSTNode
    message: str
    length: int | None = None  # report only the first ``length`` characters of the node
    function: str | None = None  # qualified name of the loop function concerned


@dataclass
class RuleContext:
    model: FileModel
    path: str
    reports: list[Report] = field(default_factory=list)
    crashed: dict[str, BaseException] = field(default_factory=dict)


class Rule(cst.BatchableCSTVisitor):
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    #: Snippets (whole modules) on which the rule must stay silent / must fire.
    VALID: ClassVar[tuple[str, ...]] = ()
    INVALID: ClassVar[tuple[str, ...]] = ()

    def __init__(self, context: RuleContext) -> None:
        super().__init__()
        self.context = context

    @property
    def model(self) -> FileModel:
        return self.context.model

    def report(
        self,
        node: cst.CSTNode,
        message: str,
        *,
        function: Function | None = None,
        length: int | None = None,
    ) -> None:
        qualname = function.qualname if function is not None else None
        self.context.reports.append(Report(type(self), node, message, length, qualname))

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

    # -- crash isolation -----------------------------------------------------------
    def get_visitors(self) -> dict[str, Callable[..., Any]]:
        """The batched visitor's callbacks, each guarded so a crash disables only this rule."""
        return {name: self._guard(fn) for name, fn in super().get_visitors().items()}

    def _guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.code in self.context.crashed:
                return None
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                self.context.crashed[self.code] = exc
                return None

        return guarded
