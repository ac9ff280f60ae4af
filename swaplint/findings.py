"""The values that flow from the engine to the formatters: findings and rule errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Finding:
    """One reported hazard. Lines and columns are 1-based; ``end_column`` is exclusive."""

    code: str
    name: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    severity: Severity
    #: The function the finding is about ("server_loop", "Server.run"): the loop, or for
    #: SWL004 the function that spawns it (None at module level).
    function: str | None = None
    # Extra facts a formatter may show (e.g. the verifier's verdict); never part of identity.
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a finding, keys in a stable order."""
        data: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "severity": self.severity.value,
        }
        if self.function is not None:
            data["function"] = self.function
        data.update(self.extra)
        return data


@dataclass(frozen=True)
class RuleError:
    """A rule (or the engine) crashed on one file. The run goes on; the CLI reports it."""

    code: str  # the rule's code, or "engine"
    path: str
    error: str  # "ExceptionType: message"

    def __str__(self) -> str:
        return f"{self.path}: rule {self.code} crashed: {self.error}"


@dataclass
class FileResult:
    """Everything the engine learned about one file."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    module: str | None = None  # the dotted module name the rules used
