"""How often running a finding confirms it: `python scripts/verify_agreement.py [PATHS...]`.

Runs `swaplint check --verify --format json` over the given paths (default: the
fixtures and examples) and prints, per rule, how many findings were confirmed, not
reproduced and not run, then every finding that was not confirmed with its reason.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    paths = argv or ["tests/fixtures", "examples"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "swaplint.cli",
            "check",
            "--verify",
            "--format",
            "json",
            "--exit-zero",
            *paths,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    findings = [f for f in json.loads(proc.stdout) if "verification" in f]
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for f in findings:
        table[f["code"]][f["verification"]["status"]] += 1
    statuses = ("confirmed", "not reproduced", "not run")
    print(f"| rule | {' | '.join(statuses)} |")
    print(f"|---|{'---|' * len(statuses)}")
    for code in sorted(table):
        print(f"| {code} | {' | '.join(str(table[code][s]) for s in statuses)} |")
    totals = [sum(table[c][s] for c in table) for s in statuses]
    print(f"| all | {' | '.join(map(str, totals))} |")
    print()
    for f in findings:
        v = f["verification"]
        if v["status"] != "confirmed":
            print(f"{f['path']}:{f['line']} {f['code']} {f.get('function')}: {v['status']}: {v['evidence']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
