"""The values that flow from the engine to the formatters: findings and rule errors.

Everything here is plain, typed data. Formatters only read it; nothing downstream
builds it back from text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class ReloadModel(enum.StrEnum):
    """Which hot-reload semantics a file's findings are decided and worded under.

    * ``runtime``: :mod:`swaplint.runtime`'s Erlang-style code server (two versions,
      a purge kills processes still in old code, tail calls, module-qualified calls
      reach the newest version).
    * ``importlib``: plain CPython under ``importlib.reload`` (or a restart): nothing
      is killed, bare names reach new code, ``self.`` stays old, no tail calls.
    * ``auto`` (the setting's default): ``runtime`` for a file that imports
      ``swaplint.runtime``, ``importlib`` for every other file.
    """

    AUTO = "auto"
    RUNTIME = "runtime"
    IMPORTLIB = "importlib"


class VerdictStatus(enum.StrEnum):
    """What running a flagged loop showed (``--verify``)."""

    CONFIRMED = "confirmed"
    NOT_REPRODUCED = "not reproduced"
    NOT_RUN = "not run"


class Applicability(enum.StrEnum):
    """How far a suggested fix may be trusted (as ruff's fix applicability)."""

    SAFE = "safe"  # keeps behaviour: may be applied without review
    UNSAFE = "unsafe"  # may change behaviour: review it
    DISPLAY_ONLY = "display-only"  # a shape to follow, written from the code it replaces


class Edit(NamedTuple):
    """Replace the text from (line, column) up to (end_line, end_column) with ``content``.

    Lines and columns are 1-based characters, the end is exclusive (as a finding's);
    an empty range inserts."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "content": self.content,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Edit:
        return cls(
            int(data["line"]),
            int(data["column"]),
            int(data["end_line"]),
            int(data["end_column"]),
            str(data["content"]),
        )


class Fix(NamedTuple):
    """What to write instead, generated from the flagged code.

    ``snippet`` shows the shape to follow. A fix with ``edits`` can be applied by
    ``--fix`` (safe fixes) or ``--fix --unsafe-fixes``; one without is display-only."""

    title: str
    snippet: str  # valid Python in the flagged function's context
    applicability: Applicability = Applicability.DISPLAY_ONLY
    edits: tuple[Edit, ...] = ()

    @property
    def applicable(self) -> bool:
        return bool(self.edits) and self.applicability is not Applicability.DISPLAY_ONLY

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "title": self.title,
            "snippet": self.snippet,
            "applicability": self.applicability.value,
        }
        if self.edits:
            data["edits"] = [e.to_dict() for e in self.edits]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fix:
        return cls(
            str(data["title"]),
            str(data["snippet"]),
            Applicability(data["applicability"]),
            tuple(Edit.from_dict(e) for e in data.get("edits", ())),
        )


class Verification(NamedTuple):
    """The verdict ``--verify`` attached to a finding, with the evidence for it."""

    status: VerdictStatus
    evidence: str
    messages: tuple[str, ...] = ()  # the messages sent, as ``repr`` text

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "evidence": self.evidence, "messages": list(self.messages)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verification:
        return cls(VerdictStatus(data["status"]), str(data["evidence"]), tuple(map(str, data["messages"])))


class Related(NamedTuple):
    """A second place that explains a finding: the wait, the re-entry, the spawned loop."""

    line: int
    column: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Related:
        return cls(int(data["line"]), int(data["column"]), str(data["message"]))


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
    #: One terminal line: what is wrong here.
    message: str
    severity: Severity
    #: The function the finding is about ("server_loop", "Server.run"): the loop, or for
    #: SWL004 the function that spawns it (None at module level).
    function: str | None = None
    #: Why it matters and what to write instead (shown as ruff shows ``help:``).
    help: str | None = None
    #: The reload model the finding was decided under (None for SWL999).
    reload_model: ReloadModel | None = None
    related: tuple[Related, ...] = ()
    fix: Fix | None = None
    #: Attached by ``--verify``; never part of a finding's identity.
    verification: Verification | None = field(default=None, compare=False, hash=False)

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
        if self.help is not None:
            data["help"] = self.help
        if self.function is not None:
            data["function"] = self.function
        if self.reload_model is not None:
            data["reload_model"] = self.reload_model.value
        if self.related:
            data["related"] = [r.to_dict() for r in self.related]
        if self.fix is not None:
            data["fix"] = self.fix.to_dict()
        if self.verification is not None:
            data["verification"] = self.verification.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of :meth:`to_dict` (used by the cache); raises on a malformed entry."""
        model = data.get("reload_model")
        verification = data.get("verification")
        return cls(
            code=str(data["code"]),
            name=str(data["name"]),
            path=str(data["path"]),
            line=int(data["line"]),
            column=int(data["column"]),
            end_line=int(data["end_line"]),
            end_column=int(data["end_column"]),
            message=str(data["message"]),
            severity=Severity(data["severity"]),
            function=None if data.get("function") is None else str(data["function"]),
            help=None if data.get("help") is None else str(data["help"]),
            reload_model=None if model is None else ReloadModel(model),
            related=tuple(Related.from_dict(r) for r in data.get("related", ())),
            fix=None if data.get("fix") is None else Fix.from_dict(data["fix"]),
            verification=None if verification is None else Verification.from_dict(verification),
        )


class RuleError(NamedTuple):
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
    notice: str | None = None  # why the file was skipped (too large), shown once
