"""SARIF 2.1.0, as GitHub code scanning reads it.

* ``tool.driver``: name, version, informationUri and every rule (id, name, short and
  full description, help text and Markdown, default level, tags).
* one result per finding: ruleId/ruleIndex, level, message, a location relative to
  ``%SRCROOT%`` (the git root, else the config root: :func:`swaplint.output.source_root`;
  given in ``originalUriBaseIds``) with a
  region in Unicode code points (``columnKind``), and ``partialFingerprints`` that
  survive unrelated edits: a hash of the rule id, the relative path, the normalised
  text of the flagged line(s) and an occurrence index (never a line number).
* ``invocations[0]``: ``executionSuccessful`` is false when a rule crashed or a path
  was missing; each such problem is a ``toolExecutionNotifications`` entry.
* a finding's ``help``, reload model and ``--verify`` verdict go to the result's ``properties``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from swaplint import __version__
from swaplint.findings import Finding, Severity
from swaplint.output import HOMEPAGE_URL, RunReport, rule_url, source_root

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
#: The key of our fingerprint in ``partialFingerprints`` (bump the version if the recipe changes).
FINGERPRINT_KEY = "swaplint/v1"


def _level(severity: Severity) -> str:
    return "error" if severity is Severity.ERROR else "warning"


def rule_descriptor(rule: Any) -> dict[str, Any]:
    doc = rule.doc()
    summary = rule.summary()
    full = _section(doc, "What it does") or summary
    tags = ["hot-swap", "correctness" if rule.severity is Severity.ERROR else "reliability"]
    if rule.code == "SWL999":
        tags = ["syntax"]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": full},
        "helpUri": rule_url(rule.code),
        "help": {"text": doc or summary, "markdown": doc or summary},
        "defaultConfiguration": {"level": _level(rule.severity)},
        "properties": {"tags": tags},
    }


def _section(doc: str, title: str) -> str:
    """The text of a ``## title`` section of a rule's Markdown docs, on one line."""
    lines = doc.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip().lower() == title.lower()
            continue
        if inside:
            out.append(line.strip())
    return " ".join(" ".join(out).split())


def artifact_location(path: str, root: Path) -> dict[str, Any]:
    """A URI relative to ``%SRCROOT%`` when the file is under it, else an absolute file URI."""
    absolute = Path(os.path.abspath(path))
    try:
        rel = absolute.relative_to(root)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(rel.as_posix(), safe="/"), "uriBaseId": SRCROOT}


def normalised_text(finding: Finding, lines: list[str]) -> str:
    """The flagged line(s) with all whitespace runs collapsed: what the fingerprint hashes."""
    chosen = lines[finding.line - 1 : max(finding.end_line, finding.line)]
    return " ".join(" ".join(chosen).split())


def fingerprints(report: RunReport, root: Path | None = None) -> list[str]:
    """One fingerprint per finding of ``report.findings`` (same order)."""
    root = root if root is not None else source_root(report)
    seen: Counter[tuple[str, str, str]] = Counter()
    out = []
    for finding in report.findings:
        uri = artifact_location(finding.path, root)["uri"]
        text = normalised_text(finding, report.sources.lines(finding.path))
        key = (finding.code, uri, text)
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256(
            "\0".join((finding.code, uri, text, str(occurrence))).encode("utf-8")
        ).hexdigest()
        out.append(f"{digest[:32]}:{occurrence + 1}")
    return out


def _fix(finding: Finding, root: Path) -> dict[str, Any]:
    """A SARIF fix: the finding's edits as replacements (columns count characters, as the
    run's ``columnKind`` says)."""
    assert finding.fix is not None
    return {
        "description": {"text": f"{finding.fix.title} ({finding.fix.applicability.value} fix)"},
        "artifactChanges": [
            {
                "artifactLocation": artifact_location(finding.path, root),
                "replacements": [
                    {
                        "deletedRegion": {
                            "startLine": e.line,
                            "startColumn": e.column,
                            "endLine": e.end_line,
                            "endColumn": e.end_column,
                        },
                        "insertedContent": {"text": e.content},
                    }
                    for e in finding.fix.edits
                ],
            }
        ],
    }


def build_sarif(report: RunReport) -> dict[str, Any]:
    from swaplint.rules import RULES

    rules = list(RULES)
    index = {rule.code: i for i, rule in enumerate(rules)}
    root = source_root(report)
    results = []
    for finding, fingerprint in zip(report.findings, fingerprints(report, root)):
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "level": _level(finding.severity),
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": artifact_location(finding.path, root),
                        "region": {
                            "startLine": finding.line,
                            "startColumn": finding.column,
                            "endLine": max(finding.end_line, finding.line),
                            "endColumn": max(finding.end_column, 1),
                        },
                    }
                }
            ],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        }
        if finding.code in index:
            result["ruleIndex"] = index[finding.code]
        if finding.fix is not None and finding.fix.applicable:
            result["fixes"] = [_fix(finding, root)]
        properties: dict[str, Any] = {}
        if finding.help is not None:
            properties["help"] = finding.help
        if finding.reload_model is not None:
            properties["reloadModel"] = finding.reload_model.value
        if finding.verification is not None:
            properties["verification"] = finding.verification.to_dict()
        if properties:
            result["properties"] = properties
        results.append(result)

    notifications = []
    for error in report.errors:
        notification: dict[str, Any] = {
            "level": "error",
            "message": {"text": f"rule {error.code} crashed: {error.error}"},
            "locations": [{"physicalLocation": {"artifactLocation": artifact_location(error.path, root)}}],
        }
        if error.code in index:
            notification["associatedRule"] = {"id": error.code, "index": index[error.code]}
        notifications.append(notification)
    for path in report.missing:
        notifications.append({"level": "error", "message": {"text": f"path not found: {path}"}})
    invocation: dict[str, Any] = {"executionSuccessful": report.execution_successful}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications

    root_uri = root.as_uri()
    if not root_uri.endswith("/"):
        root_uri += "/"
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "swaplint",
                        "version": __version__,
                        "informationUri": HOMEPAGE_URL,
                        "rules": [rule_descriptor(rule) for rule in rules],
                    }
                },
                "invocations": [invocation],
                "originalUriBaseIds": {SRCROOT: {"uri": root_uri}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def write(report: RunReport, stream: TextIO) -> None:
    json.dump(build_sarif(report), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
