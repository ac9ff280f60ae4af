"""The findings as a JSON array: :meth:`Finding.to_dict` keys, plus ``url`` to the rule's docs.

Key order is stable: the finding's own keys in :meth:`Finding.to_dict` order
(``code`` ... ``severity``, ``function``), then ``url``, then ``verification``
when ``--verify`` attached one.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from swaplint.findings import Finding
from swaplint.output import RunReport, rule_url


def finding_to_json(finding: Finding) -> dict[str, Any]:
    out = finding.to_dict()
    verification = out.pop("verification", None)
    out["url"] = rule_url(finding.code)
    if verification is not None:
        out["verification"] = verification
    return out


def write(report: RunReport, stream: TextIO) -> None:
    payload = [finding_to_json(f) for f in report.findings]
    # One string, one write (json.dump writes every token on its own).
    stream.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
