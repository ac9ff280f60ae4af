"""One ``path:line:col: CODE message`` line per finding, for editors and grep."""

from __future__ import annotations

from typing import TextIO

from swaplint.output import RunReport


def format_finding(finding) -> str:  # type: ignore[no-untyped-def]
    message = " ".join(finding.message.split())
    line = f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {message}"
    verdict = finding.extra.get("verification")
    if isinstance(verdict, dict):
        line += f" [{verdict.get('status')}: {verdict.get('evidence')}]"
    return line


def write(report: RunReport, stream: TextIO) -> None:
    for finding in report.findings:
        stream.write(format_finding(finding) + "\n")
    if not report.quiet:
        stream.write(report.summary() + "\n")
