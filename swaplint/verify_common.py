"""What the two halves of ``--verify`` share: verdict values and scenario constants.

:mod:`swaplint.verify` (the parent side: pick what to run, run it in a child,
attach verdicts) and :mod:`swaplint.verify_scenarios` (the child side: play the
upgrade scenario) both import from here, so neither imports the other at module
level and there is no import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class VerifyConfigError(ValueError):
    """A bad ``[tool.swaplint.verify]`` table; the message names the key."""


@dataclass(frozen=True)
class Scenario:
    """What ``[tool.swaplint.verify."module:function"]`` says about one loop."""

    args: tuple[Any, ...] | None = None
    messages: tuple[Any, ...] | None = None
    upgrade_message: Any = DEFAULT_UPGRADE_MESSAGE


def _tuples(value: Any) -> Any:
    """TOML arrays given as messages become tuples (recursively)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def parse_verify_table(
    table: Mapping[str, Any], where: str = "[tool.swaplint.verify]"
) -> dict[str, Scenario]:
    """Validate the ``verify`` table: ``"module:function" = {args, messages, upgrade-message}``."""
    scenarios: dict[str, Scenario] = {}
    if not isinstance(table, Mapping):
        raise VerifyConfigError(f'{where}: expected a table of "module:function" entries')
    for key, entry in table.items():
        if not isinstance(key, str) or key.count(":") != 1 or not all(key.split(":")):
            raise VerifyConfigError(f'{where}: key {key!r} must look like "module:function"')
        if not isinstance(entry, Mapping):
            raise VerifyConfigError(f'{where}."{key}": expected a table with args, messages, upgrade-message')
        unknown = set(entry) - {"args", "messages", "upgrade-message"}
        if unknown:
            raise VerifyConfigError(
                f'{where}."{key}": unknown key {sorted(unknown)[0]!r} (expected args, messages, upgrade-message)'
            )
        for name in ("args", "messages"):
            if name in entry and not isinstance(entry[name], list):
                raise VerifyConfigError(f'{where}."{key}".{name}: expected an array')
        scenarios[key] = Scenario(
            args=tuple(entry["args"]) if "args" in entry else None,
            messages=tuple(_tuples(m) for m in entry["messages"]) if "messages" in entry else None,
            upgrade_message=_tuples(entry.get("upgrade-message", DEFAULT_UPGRADE_MESSAGE)),
        )
    return scenarios
