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

Loading runs user code, with the user's rights and *no sandbox*: nothing runs
unless ``--verify`` is given. Each file's scenarios run in a child process that
cannot take the linter down or outlive it:

* a time limit (:data:`TIMEOUT_SECONDS`); a loop that never blocks is stopped;
* its own session and process group, killed as a whole at the end or on timeout,
  so processes the code forks die with it (unless they start a session of their
  own);
* an address-space limit (``RLIMIT_AS``, :data:`DEFAULT_MEMORY_LIMIT`);
* a clean environment (``PATH`` and a few locale and Python settings, nothing
  else), and a fresh temporary working directory, removed afterwards;
* ``sys.path`` starts with the file's import root, its project root (the nearest
  directory with ``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``), that
  root's ``src`` directory and the configured ``src`` roots, so sibling packages
  import as they do in the project;
* what it prints is kept in memory up to :data:`OUTPUT_CAP` bytes per stream (the
  last ones); a verdict says when more was written. The verdicts come back on a
  pipe of their own, so no amount of printing can hide them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from swaplint.findings import FileResult, Finding, ReloadModel, VerdictStatus
from swaplint.verify_common import (
    CONFIRMED,
    DEFAULT_ADVANCE,
    DEFAULT_UPGRADE_MESSAGE,
    NOT_REPRODUCED,
    NOT_RUN,
    PROBE_MESSAGE,
    Scenario,
    Verdict,
    VerifyConfigError,
    parse_verify_table,
)

__all__ = [
    "CONFIRMED",
    "DEFAULT_ADVANCE",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_UPGRADE_MESSAGE",
    "NOT_REPRODUCED",
    "NOT_RUN",
    "OUTPUT_CAP",
    "PROBE_MESSAGE",
    "TIMEOUT_SECONDS",
    "VERIFIABLE",
    "Scenario",
    "Verdict",
    "VerifyConfigError",
    "drop_not_reproduced",
    "import_roots",
    "parse_verify_table",
    "uses_runtime",
    "verify_results",
]

#: Codes whose findings the verifier can check by running them.
VERIFIABLE = frozenset({"SWL001", "SWL002", "SWL003", "SWL004", "SWL005", "SWL006"})
TIMEOUT_SECONDS = 30.0
#: The child's address-space limit (``RLIMIT_AS``), in bytes: user code that
#: allocates without bound gets a MemoryError instead of taking the machine.
DEFAULT_MEMORY_LIMIT = 2 << 30
#: Of what the child writes to stdout and to stderr, at most this many bytes (the
#: last ones) are kept; the verdict says when more was written.
OUTPUT_CAP = 1 << 20
#: The child's answer (the verdicts as JSON) is never larger than this.
ANSWER_CAP = 16 << 20

_USES_RUNTIME = re.compile(r"^\s*(?:from\s+swaplint\.runtime\s+import|import\s+swaplint\.runtime)\b", re.M)
#: Files that mark the root of a project (where its imports start).
_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


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
    disk_paths: Mapping[str, str] | None = None,
    extra_roots: Sequence[str | os.PathLike[str]] = (),
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> list[FileResult]:
    """Attach a verdict to every verifiable finding. ``sources`` maps a result's path to its source.

    ``disk_paths`` maps a result's path to the file on disk when the two differ
    (the result's path is used otherwise); ``extra_roots`` (e.g. the configured
    ``src`` roots and the config file's directory) go on the child's ``sys.path``
    after the roots found from the file's location (see :func:`import_roots`).
    ``memory_limit``: the child's ``RLIMIT_AS`` in bytes (None: no limit).
    """
    from swaplint.stopping import sigterm_raises

    with sigterm_raises():  # SIGTERM still kills the child's group (a `finally` below)
        return _verify_all(results, sources, scenarios or {}, timeout, disk_paths, extra_roots, memory_limit)


def _verify_all(
    results: Sequence[FileResult],
    sources: Mapping[str, str | bytes],
    scenarios: Mapping[str, Scenario],
    timeout: float,
    disk_paths: Mapping[str, str] | None,
    extra_roots: Sequence[str | os.PathLike[str]],
    memory_limit: int | None,
) -> list[FileResult]:
    out = []
    for result in results:
        wanted = [f for f in result.findings if f.code in VERIFIABLE]
        if not wanted:
            out.append(result)
            continue
        source = sources.get(result.path)
        if isinstance(source, bytes):
            source = source.decode("utf-8", errors="replace")
        disk = (disk_paths or {}).get(result.path, result.path)
        limits = _Limits(timeout, memory_limit, import_roots(disk, result.module or "", extra_roots), disk)
        verdicts = dict(zip(map(id, wanted), _verify_file(result, wanted, source, scenarios, limits)))
        findings = [
            dataclasses.replace(f, verification=verdicts[id(f)].to_verification()) if id(f) in verdicts else f
            for f in result.findings
        ]
        out.append(dataclasses.replace(result, findings=findings))
    return out


def import_roots(
    disk_path: str | os.PathLike[str], module: str, extra: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """The directories the child puts first on ``sys.path`` for a file: absolute, existing, unique.

    In order: the file's import root (its directory, less one level per dot of
    ``module``, one more for a package's ``__init__``), the project root above it
    (the nearest directory holding one of :data:`_PROJECT_MARKERS`) and that
    root's ``src``, then ``extra``.
    """
    candidates: list[Path] = []
    file = Path(os.path.abspath(disk_path))
    if file.is_file():
        depth = module.count(".") + (1 if file.stem == "__init__" and module else 0)
        base = file.parent
        for _ in range(depth):
            base = base.parent
        candidates.append(base)
        for directory in (file.parent, *file.parent.parents):
            if any((directory / marker).exists() for marker in _PROJECT_MARKERS):
                candidates += [directory, directory / "src"]
                break
    candidates += [Path(os.path.abspath(e)) for e in extra]
    roots: list[str] = []
    for candidate in candidates:
        text = str(candidate)
        if text not in roots and candidate.is_dir():
            roots.append(text)
    return roots


@dataclass(frozen=True)
class _Limits:
    timeout: float
    memory_limit: int | None
    sys_path: list[str]
    disk_path: str | None = None


def _verify_plain(
    result: FileResult,
    findings: list[Finding],
    source: str,
    scenarios: Mapping[str, Scenario],
    limits: _Limits,
) -> list[Verdict]:
    """Plain Python: run each flagged loop in a real thread or task, reload its module
    twice with ``importlib`` and let the stale-code census decide (:mod:`swaplint.reloadcheck`)."""
    from swaplint.reloadcheck import LoopJob
    from swaplint.reloadcheck import verify_file as verify_plain_file

    module = result.module or ""
    jobs = []
    for finding in findings:
        scenario = scenarios.get(f"{module}:{finding.function}", Scenario())
        jobs.append(LoopJob(finding.code, finding.function or "", scenario.args, scenario.messages))
    path = limits.disk_path or result.path
    with tempfile.TemporaryDirectory(prefix="swaplint-verify-") as scratch:
        if not os.path.isfile(path):  # stdin, or an editor's buffer: run what was checked
            path = os.path.join(scratch, (module.rsplit(".", 1)[-1] or "module") + ".py")
            Path(path).write_text(source, encoding="utf-8")
        verdicts = verify_plain_file(path, module, jobs, sys_path=limits.sys_path, timeout=limits.timeout)
    return [Verdict(v.status, v.evidence, tuple(v.messages)) for v in verdicts]


def _verify_file(
    result: FileResult,
    findings: list[Finding],
    source: str | None,
    scenarios: Mapping[str, Scenario],
    limits: _Limits,
) -> list[Verdict]:
    if source is None:
        return [Verdict(NOT_RUN, "the source is not available")] * len(findings)
    # The rules already decided each finding under the file's reload model (setting,
    # flag or `auto`): run it under the same one.
    models = {f.reload_model for f in findings if f.reload_model is not None}
    plain = models == {ReloadModel.IMPORTLIB} if models else not uses_runtime(source)
    if plain:
        return _verify_plain(result, findings, source, scenarios, limits)
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
        spec = {
            "module": module,
            "path": result.path,
            "source": source,
            "jobs": list(jobs.values()),
            "sys_path": limits.sys_path,
            "memory_limit": limits.memory_limit,
            "parent": os.getpid(),
        }
        try:
            payload = json.dumps(spec).encode("utf-8", errors="surrogatepass")
        except (TypeError, ValueError) as exc:
            reason = f"the scenario cannot be sent to the verifier: {exc}"
            verdicts = {k: Verdict(NOT_RUN, reason) for k in jobs}
        else:
            verdicts = _run_child(payload, list(jobs), limits.timeout)
    return [k if isinstance(k, Verdict) else verdicts[k] for k in keys]


# Values that are not JSON travel tagged: tuples (messages are often tuples) and the
# dates and times a TOML file may hold.
_TAGS: tuple[tuple[str, type, Any], ...] = (
    ("__datetime__", datetime.datetime, datetime.datetime.fromisoformat),
    ("__date__", datetime.date, datetime.date.fromisoformat),
    ("__time__", datetime.time, datetime.time.fromisoformat),
)


def _jsonable(value: Any) -> Any:
    """Tuples, dates and times survive the trip to the child as ``{"__tuple__": [...]}`` etc."""
    if isinstance(value, tuple):
        return {"__tuple__": [_jsonable(v) for v in value]}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_jsonable(k), _jsonable(v)] for k, v in value.items()]}
    for tag, kind, _ in _TAGS:  # datetime first: it is a date too
        if isinstance(value, kind):
            stamp: Any = value
            return {tag: stamp.isoformat()}
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "__tuple__":
            return tuple(_unjson(v) for v in inner)
        if tag == "__dict__":
            return {_unjson(k): _unjson(v) for k, v in inner}
        for name, _, parse in _TAGS:
            if tag == name:
                return parse(inner)
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value


class _Tail:
    """The last ``cap`` bytes written to a stream, and how many were written in all."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.cap:
            del self.data[: len(self.data) - self.cap]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def child_env(workdir: str) -> dict[str, str]:
    """The verifier child's whole environment: nothing of the caller's but ``PATH``."""
    import swaplint

    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONSAFEPATH": "1",
        # swaplint itself must import in the child, wherever it was imported from here.
        "PYTHONPATH": str(Path(swaplint.__file__).resolve().parent.parent),
    }
    if sys.platform == "win32":  # Python cannot start on Windows without it
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "C:\\Windows")
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group (it leads its own session)."""
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            proc.kill()
        return
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)


def _run_child(payload: bytes, keys: list[tuple[str, str]], timeout: float) -> dict[tuple[str, str], Verdict]:
    def all_not_run(reason: str) -> dict[tuple[str, str], Verdict]:
        return {k: Verdict(NOT_RUN, reason) for k in keys}

    with tempfile.TemporaryDirectory(prefix="swaplint-verify-") as workdir:
        answer_r, answer_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "swaplint.verify", str(answer_w)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=workdir,
                env=child_env(workdir),
                pass_fds=(answer_w,),
                start_new_session=True,
            )
        except OSError as exc:
            os.close(answer_r)
            return all_not_run(f"could not start the verifier: {exc}")
        finally:
            os.close(answer_w)
        with os.fdopen(answer_r, "rb") as answer_pipe:
            try:
                out, err, answer, timed_out = _communicate(proc, payload, answer_pipe, timeout)
            finally:
                _kill_group(proc)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
    notes = [
        f"it wrote {_size(tail.total)} to {name}, of which only the last {_size(OUTPUT_CAP)} was kept"
        for name, tail in (("stdout", out), ("stderr", err))
        if tail.truncated
    ]
    note = f" ({'; '.join(notes)})" if notes else ""
    if timed_out:
        return all_not_run(
            f"the scenario did not finish within {timeout:g} s (a loop that never blocks?){note}"
        )
    try:
        answers = json.loads(answer.data) if answer.data and not answer.truncated else None
    except (ValueError, RecursionError):
        answers = None
    if not isinstance(answers, list) or len(answers) != len(keys):
        last = (err.text().strip().splitlines() or out.text().strip().splitlines() or [""])[-1]
        tail = last.strip()[:500] or f"exit status {proc.returncode}"
        return all_not_run(f"the verifier stopped: {tail}{note}")
    try:
        return {
            key: Verdict(a["status"], a["evidence"] + note, tuple(_unjson(a.get("messages", []))))
            for key, a in zip(keys, answers)
        }
    except (TypeError, KeyError, ValueError, AttributeError):
        return all_not_run(f"the verifier gave a malformed answer{note}")


def _communicate(
    proc: subprocess.Popen[bytes], payload: bytes, answer: IO[bytes], timeout: float
) -> tuple[_Tail, _Tail, _Tail, bool]:
    """Feed the spec, collect (capped) stdout, stderr and the answer until the child
    exits or ``timeout`` passes. Does not wait for pipes that something the child
    forked still holds open. Returns (stdout, stderr, answer, timed out)."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    tails = {
        proc.stdout.fileno(): _Tail(OUTPUT_CAP),
        proc.stderr.fileno(): _Tail(OUTPUT_CAP),
        answer.fileno(): _Tail(ANSWER_CAP),
    }
    out, err, ans = tails.values()
    for fd in tails:
        os.set_blocking(fd, False)
    stdin_fd = proc.stdin.fileno()
    os.set_blocking(stdin_fd, False)
    view = memoryview(payload)
    with selectors.DefaultSelector() as selector:
        for fd in tails:
            selector.register(fd, selectors.EVENT_READ)
        selector.register(stdin_fd, selectors.EVENT_WRITE)

        def close_stdin() -> None:
            selector.unregister(stdin_fd)
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]

        def drain(fd: int) -> bool:
            """Read what is there now; False at end of file."""
            while True:
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not chunk:
                    return False
                tails[fd].add(chunk)
                if len(chunk) < 1 << 16:
                    return True

        exited_at: float | None = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                return out, err, ans, True
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            # The child is gone: collect what is left, briefly (a forked process may
            # hold the pipes open; it is killed with the group afterwards).
            if exited_at is not None and (not selector.get_map() or now - exited_at > 0.5):
                break
            if not selector.get_map():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=min(0.05, deadline - now))
                continue
            for key, _ in selector.select(timeout=min(0.05, max(deadline - now, 0))):
                fd = int(key.fd)
                if fd == stdin_fd:
                    try:
                        written = os.write(fd, view[:65536])
                    except BlockingIOError:
                        continue
                    except OSError:  # the child is gone or stopped reading
                        close_stdin()
                        continue
                    view = view[written:]
                    if not view:
                        close_stdin()
                elif not drain(fd):
                    selector.unregister(fd)
        for key in list(selector.get_map().values()):
            if key.fd != stdin_fd:
                drain(key.fd)
    return out, err, ans, False


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


def _child_main(argv: Sequence[str] = ()) -> int:
    """The child: ``python -m swaplint.verify ANSWER_FD`` with the spec on stdin."""
    # Imported before the memory limit, so the verifier itself always fits.
    from swaplint import runtime, verify_scenarios  # noqa: F401
    from swaplint.stopping import die_with_parent

    spec = json.loads(sys.stdin.buffer.read().decode("utf-8", errors="surrogatepass"))
    if "parent" in spec:
        die_with_parent(spec["parent"])  # even a SIGKILL of swaplint ends the scenario

    answer: IO[str] = os.fdopen(int(argv[0]), "w", encoding="utf-8") if argv else sys.stdout
    limit = spec.get("memory_limit")
    if limit:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    sys.path[:0] = [p for p in spec.get("sys_path", []) if p not in sys.path]
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
    try:
        text = json.dumps(answers)
    except (TypeError, ValueError):  # a message that is not JSON: keep the verdicts
        for item in answers:
            item["messages"] = []
        text = json.dumps(answers)
    answer.write(("\n" if answer is sys.stdout else "") + text + "\n")
    answer.flush()
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
    raise SystemExit(_child_main(sys.argv[1:]))
