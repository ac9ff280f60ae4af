"""GitHub Actions workflow commands: one ``::error``/``::warning`` annotation per finding.

``::error file=a.py,line=4,col=11,endLine=4,endColumn=20,title=SWL003 missing-after::message``

Escaping follows the workflow-command rules: in the message ``%``, ``\\r`` and ``\\n``
become ``%25``, ``%0D`` and ``%0A``; property values also escape ``:`` and ``,``
(``%3A``, ``%2C``); other control characters are shown escaped (``\\x1b``). GitHub
rejects column properties on an annotation that spans several lines, so
``col``/``endColumn`` are only given when the finding is on one line.
"""

from __future__ import annotations

from typing import TextIO

from swaplint.findings import Finding, Severity
from swaplint.output import RunReport, escape_controls


def escape_data(value: str) -> str:
    value = escape_controls(value, keep="\r\n")  # no ANSI escapes in the log
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_finding(finding: Finding) -> str:
    command = "error" if finding.severity is Severity.ERROR else "warning"
    props: list[tuple[str, str]] = [("file", finding.path), ("line", str(finding.line))]
    if finding.end_line == finding.line:
        props += [
            ("col", str(finding.column)),
            ("endLine", str(finding.end_line)),
            ("endColumn", str(finding.end_column)),
        ]
    else:
        props.append(("endLine", str(finding.end_line)))
    props.append(("title", f"{finding.code} {finding.name}"))
    joined = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{command} {joined}::{escape_data(finding.message)}"


def write(report: RunReport, stream: TextIO) -> None:
    for finding in report.findings:
        stream.write(format_finding(finding) + "\n")
