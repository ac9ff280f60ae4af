"""What the two halves of ``--verify`` share: verdict values and scenario constants.

:mod:`swaplint.verify` (the parent side: pick what to run, run it in a child,
attach verdicts) and :mod:`swaplint.verify_scenarios` (the child side: play the
upgrade scenario) both import from here, so neither imports the other at module
level and there is no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swaplint.findings import VerdictStatus, Verification

DEFAULT_UPGRADE_MESSAGE = "switch_code"
#: Sent first when messages are inferred: a plain value that matches no literal, so
#: the loop's ordinary (non-special) path runs at least once.
PROBE_MESSAGE = 1
#: How far the virtual clock is advanced after the upgrade when no timeout is known.
DEFAULT_ADVANCE = 60.0

CONFIRMED = "confirmed"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run"


@dataclass(frozen=True)
class Verdict:
    status: str  # CONFIRMED, NOT_REPRODUCED or NOT_RUN
    evidence: str
    messages: tuple[Any, ...] = ()

    def to_verification(self) -> Verification:
        return Verification(VerdictStatus(self.status), self.evidence, tuple(repr(m) for m in self.messages))
