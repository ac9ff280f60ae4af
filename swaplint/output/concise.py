"""One ``path:line:col: CODE message`` line per finding, for editors and grep.

Control characters (from a file name or a message) are shown escaped (``\\x1b``).
"""

from __future__ import annotations

from typing import TextIO

from swaplint.findings import Finding
from swaplint.output import RunReport, escape_controls


def format_finding(finding: Finding) -> str:
    message = " ".join(finding.message.split())
    line = f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {message}"
    verdict = finding.verification
    if verdict is not None:
        line += f" [{verdict.status}: {verdict.evidence}]"
    return escape_controls(line)


def write(report: RunReport, stream: TextIO) -> None:
    for finding in report.findings:
        stream.write(format_finding(finding) + "\n")
    if not report.quiet:
        stream.write(report.summary() + "\n")
