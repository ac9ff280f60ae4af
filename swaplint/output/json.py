"""The findings as a JSON array: :meth:`Finding.to_dict` keys, plus ``url`` to the rule's docs.

Key order is stable: the finding's own keys in :meth:`Finding.to_dict` order
(``code`` ... ``severity``, ``function``), then ``url``, then whatever the
finding's ``extra`` carries (e.g. ``verification``).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from swaplint.findings import Finding
from swaplint.output import RunReport, rule_url


def finding_to_json(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    out: dict[str, Any] = {k: v for k, v in data.items() if k not in finding.extra}
    out["url"] = rule_url(finding.code)
    out.update((k, v) for k, v in data.items() if k in finding.extra)
    return out


def write(report: RunReport, stream: TextIO) -> None:
    payload = [finding_to_json(f) for f in report.findings]
    json.dump(payload, stream, indent=2, ensure_ascii=False, default=str)
    stream.write("\n")
