"""Confirm findings by running them: ``swaplint check --verify``.

A static finding is a prediction. For every file that uses :mod:`swaplint.runtime`
and has findings of SWL001, SWL002, SWL003, SWL004, SWL005 or SWL006, the verifier
loads the file under a fresh :class:`~swaplint.runtime.Runtime` and runs a standard
upgrade scenario for each flagged function:

1. load version 1 and spawn the function with its start arguments;
2. drive it: send the scenario messages and run;
3. load version 2 (the same source). For SWL003 leave the process alone (the hazard
   is the idle process nobody tells); for SWL004 tell only the spawner (the spawned
   processes are the untracked ones); otherwise send the upgrade message. Then
   advance the virtual clock past the longest timeout the function uses (or 60 s);
4. load version 3 with a hard purge and observe: alive, on which version, or killed
   with what on its stack.

Each finding gets a :class:`Verdict`: *confirmed* (with the evidence), *not
reproduced* (the process survived on current code), or *not run* (and why).

Loading runs user code, so each file's scenarios run in a child process with a
time limit: a loop that never blocks, a ``sys.exit`` at import, or a crash cannot
take the linter down. Nothing runs unless ``--verify`` is given.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swaplint.findings import FileResult, Finding, VerdictStatus, Verification

#: Codes whose findings the verifier can check by running them.
VERIFIABLE = frozenset({"SWL001", "SWL002", "SWL003", "SWL004", "SWL005", "SWL006"})
DEFAULT_UPGRADE_MESSAGE = "switch_code"
#: Sent first when messages are inferred: a plain value that matches no literal, so
#: the loop's ordinary (non-special) path runs at least once.
PROBE_MESSAGE = 1
DEFAULT_ADVANCE = 60.0
TIMEOUT_SECONDS = 30.0

CONFIRMED = "confirmed"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run"

_USES_RUNTIME = re.compile(r"^\s*(?:from\s+swaplint\.runtime\s+import|import\s+swaplint\.runtime)\b", re.M)


class VerifyConfigError(ValueError):
    """A bad ``[tool.swaplint.verify]`` table; the message names the key."""


@dataclass(frozen=True)
class Scenario:
    """What ``[tool.swaplint.verify."module:function"]`` says about one loop."""

    args: tuple[Any, ...] | None = None
    messages: tuple[Any, ...] | None = None
    upgrade_message: Any = DEFAULT_UPGRADE_MESSAGE


@dataclass(frozen=True)
class Verdict:
    status: str  # CONFIRMED, NOT_REPRODUCED or NOT_RUN
    evidence: str
    messages: tuple[Any, ...] = ()

    def to_verification(self) -> Verification:
        return Verification(VerdictStatus(self.status), self.evidence, tuple(repr(m) for m in self.messages))


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


def uses_runtime(source: str) -> bool:
    return _USES_RUNTIME.search(source) is not None


# --------------------------------------------------------------------------------------
# The parent side: pick what to run, run it in a child, attach verdicts
# --------------------------------------------------------------------------------------


def _kind(code: str) -> str:
    return {"SWL003": "idle", "SWL004": "spawner"}.get(code, "told")


def verify_results(
    results: Sequence[FileResult],
    sources: Mapping[str, str | bytes],
    scenarios: Mapping[str, Scenario] | None = None,
    *,
    timeout: float = TIMEOUT_SECONDS,
) -> list[FileResult]:
    """Attach a verdict to every verifiable finding. ``sources`` maps a result's path to its source."""
    scenarios = scenarios or {}
    out = []
    for result in results:
        wanted = [f for f in result.findings if f.code in VERIFIABLE]
        if not wanted:
            out.append(result)
            continue
        source = sources.get(result.path)
        if isinstance(source, bytes):
            source = source.decode("utf-8", errors="replace")
        verdicts = dict(zip(map(id, wanted), _verify_file(result, wanted, source, scenarios, timeout)))
        findings = [
            dataclasses.replace(f, verification=verdicts[id(f)].to_verification()) if id(f) in verdicts else f
            for f in result.findings
        ]
        out.append(dataclasses.replace(result, findings=findings))
    return out


def _verify_file(
    result: FileResult,
    findings: list[Finding],
    source: str | None,
    scenarios: Mapping[str, Scenario],
    timeout: float,
) -> list[Verdict]:
    if source is None:
        return [Verdict(NOT_RUN, "the source is not available")] * len(findings)
    if not uses_runtime(source):
        return [Verdict(NOT_RUN, "the file does not use swaplint.runtime")] * len(findings)
    module = result.module or ""
    jobs: dict[tuple[str, str], dict[str, Any]] = {}
    keys: list[tuple[str, str] | Verdict] = []
    for finding in findings:
        fn = finding.function
        if not fn:
            keys.append(Verdict(NOT_RUN, "the finding is at module level: there is no function to run"))
            continue
        if "." in fn:
            keys.append(
                Verdict(
                    NOT_RUN, f"`{fn}` is a method or nested function; only module-level functions are run"
                )
            )
            continue
        key = (fn, _kind(finding.code))
        keys.append(key)
        if key not in jobs:
            scenario = scenarios.get(f"{module}:{fn}", Scenario())
            jobs[key] = {
                "function": fn,
                "kind": key[1],
                "args": _jsonable(scenario.args),
                "messages": _jsonable(scenario.messages),
                "upgrade": _jsonable(scenario.upgrade_message),
                "codes": [],
            }
        jobs[key]["codes"].append(finding.code)
    verdicts: dict[tuple[str, str], Verdict] = {}
    if jobs:
        verdicts = _run_child(
            {"module": module, "path": result.path, "source": source, "jobs": list(jobs.values())},
            list(jobs),
            timeout,
        )
    return [k if isinstance(k, Verdict) else verdicts[k] for k in keys]


def _jsonable(value: Any) -> Any:
    """Tuples survive the trip to the child as {"__tuple__": [...]}."""
    if isinstance(value, tuple):
        return {"__tuple__": [_jsonable(v) for v in value]}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__tuple__"}:
        return tuple(_unjson(v) for v in value["__tuple__"])
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value


def _run_child(
    spec: dict[str, Any], keys: list[tuple[str, str]], timeout: float
) -> dict[tuple[str, str], Verdict]:
    def all_not_run(reason: str) -> dict[tuple[str, str], Verdict]:
        return {k: Verdict(NOT_RUN, reason) for k in keys}

    try:
        proc = subprocess.run(
            [sys.executable, "-m", "swaplint.verify"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return all_not_run(f"the scenario did not finish within {timeout:g} s (a loop that never blocks?)")
    except OSError as exc:
        return all_not_run(f"could not start the verifier: {exc}")
    try:
        answers = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
    except (json.JSONDecodeError, IndexError):
        answers = None
    if not isinstance(answers, list) or len(answers) != len(keys):
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return all_not_run(f"the verifier stopped: {tail}")
    return {
        key: Verdict(a["status"], a["evidence"], tuple(_unjson(a.get("messages", []))))
        for key, a in zip(keys, answers)
    }


def drop_not_reproduced(results: Iterable[FileResult]) -> list[FileResult]:
    """``--verify=strict``: keep only findings that were not refuted by running them."""
    out = []
    for result in results:
        kept = [
            f
            for f in result.findings
            if f.verification is None or f.verification.status is not VerdictStatus.NOT_REPRODUCED
        ]
        out.append(dataclasses.replace(result, findings=kept))
    return out


# --------------------------------------------------------------------------------------
# The child side: run the scenarios of one file under a fresh Runtime
# --------------------------------------------------------------------------------------


def _child_main() -> int:
    spec = json.loads(sys.stdin.read())
    answers = []
    for job in spec["jobs"]:
        try:
            verdict = _run_job(spec["module"], spec["path"], spec["source"], job)
        except Exception as exc:
            verdict = Verdict(NOT_RUN, f"the verifier failed: {type(exc).__name__}: {exc}")
        answers.append(
            {
                "status": verdict.status,
                "evidence": verdict.evidence,
                "messages": _jsonable(list(verdict.messages)),
            }
        )
    # User code may print: the answer is the last line.
    sys.stdout.write("\n" + json.dumps(answers) + "\n")
    sys.stdout.flush()
    return 0


def _run_job(module: str, path: str, source: str, job: dict[str, Any]) -> Verdict:
    from swaplint import verify_scenarios

    facts = verify_scenarios.study(source, module, job["function"])
    args = _unjson(job["args"])
    messages = _unjson(job["messages"])
    upgrade = _unjson(job["upgrade"])
    return verify_scenarios.run(
        module=module,
        path=path,
        source=source,
        function=job["function"],
        kind=job["kind"],
        codes=job["codes"],
        args=tuple(args) if args is not None else None,
        messages=tuple(messages) if messages is not None else None,
        upgrade=upgrade,
        facts=facts,
    )


if __name__ == "__main__":
    raise SystemExit(_child_main())
