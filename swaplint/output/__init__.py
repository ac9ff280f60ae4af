"""Formatters: turn the findings of a run into text, concise, JSON, SARIF or GitHub output.

A formatter is a function ``write(report, stream)``: it only reads the
:class:`RunReport` (findings, rule errors, how many files were checked) and writes
to ``stream``. One small module per format; :data:`FORMATS` maps the names the
``--format`` option accepts to them.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from swaplint.discovery import read_regular_file
from swaplint.findings import Finding, RuleError, Severity

#: Where each rule's documentation lives; a rule's anchor is its lower-case code.
RULE_DOCS_URL = "https://github.com/swaplint/swaplint/blob/main/docs/rules.md"
#: The project's home page.
HOMEPAGE_URL = "https://github.com/swaplint/swaplint"


def rule_url(code: str) -> str:
    """The documentation link of a rule, e.g. ``.../docs/rules.md#swl001``."""
    return f"{RULE_DOCS_URL}#{code.lower()}"


# C0 controls but tab, DEL, C1 controls, and the bidirectional overrides and isolates
# that reorder what a terminal shows ("Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with control characters written as escapes (``\\x1b``, ``\\u202e``).

    What a file or a finding says must never drive the terminal: an ANSI escape in
    a comment, a string or a file name is shown, not obeyed. Tabs are kept, and the
    characters in ``keep`` (e.g. ``"\\n"``).
    """
    if not _CONTROL.search(text):
        return text
    if keep:
        return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escaped(m), text)
    return _CONTROL.sub(_escaped, text)


class SourceCache:
    """The text of checked files, by display path, read lazily (only files with findings)."""

    def __init__(self) -> None:
        self._disk: dict[str, str] = {}
        self._text: dict[str, list[str]] = {}

    def add_file(self, display_path: str, disk_path: str) -> None:
        self._disk[display_path] = disk_path

    def add_text(self, display_path: str, text: str) -> None:
        self._text[display_path] = text.splitlines()

    def lines(self, display_path: str) -> list[str]:
        """The file's lines (without line ends); empty when it cannot be read."""
        if display_path not in self._text:
            disk = self._disk.get(display_path, display_path)
            try:
                data = read_regular_file(disk)
            except OSError:
                self._text[display_path] = []
            else:
                self._text[display_path] = _decode(data).splitlines()
        return self._text[display_path]


def _decode(data: bytes) -> str:
    from swaplint.discovery import decode_source

    try:
        return decode_source(data)
    except (UnicodeDecodeError, SyntaxError, LookupError):
        return data.decode("utf-8", errors="replace")


@dataclass
class RunReport:
    """Everything a formatter may show about one run."""

    findings: list[Finding]
    errors: list[RuleError] = field(default_factory=list)
    files_checked: int = 0
    #: Command-line paths that do not exist.
    missing: list[str] = field(default_factory=list)
    sources: SourceCache = field(default_factory=SourceCache)
    #: The working directory (display paths are relative to it).
    root: Path = field(default_factory=lambda: Path(os.getcwd()))
    #: The configuration file's directory, if any: SARIF's ``%SRCROOT%`` when the
    #: working directory is not in a git repository (see :func:`source_root`).
    config_root: Path | None = None
    color: bool = False
    quiet: bool = False

    @property
    def execution_successful(self) -> bool:
        return not self.errors and not self.missing

    def counts(self) -> tuple[int, int]:
        """(errors, warnings) among the findings."""
        errors = sum(1 for f in self.findings if f.severity is Severity.ERROR)
        return errors, len(self.findings) - errors

    def summary(self) -> str:
        """``Found 7 findings in 3 files (2 errors, 5 warnings)`` or ``All checks passed!``."""
        if not self.findings:
            problems = []
            if self.missing:
                problems.append(f"{_plural(len(self.missing), 'path')} not found")
            if self.errors:
                problems.append(f"{_plural(len(self.errors), 'rule error')}")
            if problems:
                return f"No findings, but not everything was checked: {', '.join(problems)}"
            return "All checks passed!"
        errors, warnings = self.counts()
        files = len({f.path for f in self.findings})
        return (
            f"Found {_plural(len(self.findings), 'finding')} in {_plural(files, 'file')} "
            f"({_plural(errors, 'error')}, {_plural(warnings, 'warning')})"
        )


def source_root(report: RunReport) -> Path:
    """The directory SARIF paths and fingerprints are relative to (``%SRCROOT%``).

    The git root of the working directory; else the configuration's directory;
    else the git root of the first file with a finding; else the working directory.
    So the same finding gets the same path and fingerprint from any directory.
    """
    from swaplint.discovery import git_root

    cwd = Path(os.path.abspath(report.root))
    found = git_root(cwd)
    if found is None and report.config_root is not None:
        found = Path(os.path.abspath(report.config_root))
    if found is None and report.findings:
        first = Path(os.path.abspath(report.findings[0].path))
        found = git_root(first.parent)
    return found or cwd


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


Formatter = Callable[[RunReport, TextIO], None]


def _formats() -> dict[str, Formatter]:
    from swaplint.output import concise, github, json, sarif, text

    return {
        "text": text.write,
        "concise": concise.write,
        "json": json.write,
        "sarif": sarif.write,
        "github": github.write,
    }


#: The names ``--format`` accepts, in the order the help lists them.
FORMAT_NAMES: Sequence[str] = ("text", "concise", "json", "sarif", "github")


def get_formatter(name: str) -> Formatter:
    if name not in FORMAT_NAMES:
        raise KeyError(name)
    # Only the one asked for: the text formatter imports rich (~30 ms), JSON needs none of it.
    module = importlib.import_module(f"swaplint.output.{name}")
    write: Formatter = module.write
    return write


__all__ = [
    "FORMAT_NAMES",
    "HOMEPAGE_URL",
    "RULE_DOCS_URL",
    "Formatter",
    "RunReport",
    "SourceCache",
    "escape_controls",
    "get_formatter",
    "rule_url",
    "source_root",
]
