"""The upgrade scenario the verifier runs for one flagged function (in a child process).

:func:`study` reads what the source tells about the function: how many start
arguments it needs, the literal messages it compares against (``msg == "reset"``,
``case ("add", n)``), and the longest receive timeout. :func:`run` then plays the
scenario of :mod:`swaplint.verify` under a fresh :class:`~swaplint.runtime.Runtime`
and turns what happened into a :class:`~swaplint.verify.Verdict`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from swaplint.verify_common import (
    CONFIRMED,
    DEFAULT_ADVANCE,
    NOT_REPRODUCED,
    NOT_RUN,
    PROBE_MESSAGE,
    Verdict,
)

GROWTH_CODES = frozenset({"SWL001", "SWL005"})


@dataclass
class Facts:
    found: bool = False
    params: list[str] = field(default_factory=list)  # positional parameter names
    required: int = 0  # parameters without a default
    literals: list[Any] = field(default_factory=list)  # candidate messages, source order
    max_timeout: float | None = None


def _literal(node: ast.expr) -> tuple[bool, Any]:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes, int, float)):
        return not isinstance(node.value, bool), node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        ok, value = _literal(node.operand)
        return (ok, -value) if ok and isinstance(value, (int, float)) else (False, None)
    return False, None


def _literals(body: list[ast.stmt]) -> list[Any]:
    """Literals a function compares against, and samples of the patterns it matches."""
    found: list[Any] = []

    def add(value: Any) -> None:
        if value not in found:
            found.append(value)

    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.Compare):
            for expr in [node.left, *node.comparators]:
                ok, value = _literal(expr)
                if ok:
                    add(value)
            for op, comparator in zip(node.ops, node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)) and isinstance(
                    comparator, (ast.Tuple, ast.List, ast.Set)
                ):
                    for element in comparator.elts:
                        ok, value = _literal(element)
                        if ok:
                            add(value)
        elif isinstance(node, ast.match_case):
            for value in _pattern_samples(node.pattern):
                add(value)
    return found


def _pattern_samples(pattern: ast.pattern) -> list[Any]:
    """A sample message for a `case` pattern: literals kept, captures filled with 1."""
    if isinstance(pattern, ast.MatchValue):
        ok, value = _literal(pattern.value)
        return [value] if ok else []
    if isinstance(pattern, ast.MatchOr):
        return [v for element in pattern.patterns for v in _pattern_samples(element)]
    if isinstance(pattern, ast.MatchSequence):
        items: list[Any] = []
        for inner in pattern.patterns:
            if isinstance(inner, ast.MatchValue):
                ok, value = _literal(inner.value)
                if not ok:
                    return []
                items.append(value)
            elif isinstance(inner, ast.MatchAs):
                items.append(PROBE_MESSAGE)
            else:
                return []  # a star pattern: no single sample
        return [tuple(items)]
    return []


def _timeouts(body: list[ast.stmt]) -> list[float]:
    """The literal timeouts of the receives a function makes (``receive(timeout=5)``)."""
    out: list[float] = []
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name != "receive":
            continue
        given = next((k.value for k in node.keywords if k.arg == "timeout"), None)
        if given is None and node.args:
            given = node.args[0]
        ok, value = _literal(given) if given is not None else (False, None)
        if ok and isinstance(value, (int, float)):
            out.append(float(value))
    return out


def study(source: str, module: str, function: str) -> Facts:
    """What the source says about ``module:function`` (a module-level function)."""
    tree = ast.parse(source)
    functions = {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    target = functions.get(function)
    facts = Facts()
    if target is None:
        return facts
    facts.found = True
    args = target.args
    positional = [*args.posonlyargs, *args.args]
    facts.params = [a.arg for a in positional]
    facts.required = len(positional) - len(args.defaults) + sum(1 for d in args.kw_defaults if d is None)
    # The function and the module-level functions it calls by name (its cycle, its handlers).
    related = [target]
    for node in ast.walk(target):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            callee = functions[node.func.id]
            if callee not in related:
                related.append(callee)
    for fn in related:
        facts.literals.extend(v for v in _literals(fn.body) if v not in facts.literals)
    timeouts = [t for fn in related for t in _timeouts(fn.body)]
    facts.max_timeout = max(timeouts) if timeouts else None
    return facts


class _Retry(Exception):
    """This message set made the loop crash or stop: try a smaller one."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.evidence)
        self.verdict = verdict


def run(
    *,
    module: str,
    path: str,
    source: str,
    function: str,
    kind: str,
    codes: list[str],
    args: tuple[Any, ...] | None,
    messages: tuple[Any, ...] | None,
    upgrade: Any,
    facts: Facts,
) -> Verdict:
    if not facts.found:
        return Verdict(NOT_RUN, f"`{function}` is not a module-level function of `{module}`")
    if args is None:
        if facts.required == 0:
            args = ()
        elif len(facts.params) == 1 and facts.required == 1:
            args = (None,)
        else:
            return Verdict(
                NOT_RUN,
                f"start arguments unknown: `{function}({', '.join(facts.params)})`; "
                f'set args in [tool.swaplint.verify."{module}:{function}"]',
            )
    if messages is not None:
        candidates = [tuple(messages)]
    else:
        inferred = tuple(m for m in facts.literals if m != upgrade)
        candidates = []
        for option in ((PROBE_MESSAGE, *inferred), inferred, (PROBE_MESSAGE,), ()):
            if option not in candidates:
                candidates.append(option)
    advance = facts.max_timeout + 1.0 if facts.max_timeout is not None else DEFAULT_ADVANCE
    last: Verdict | None = None
    for msgs in candidates:
        try:
            return _scenario(module, path, source, function, kind, codes, args, msgs, upgrade, advance)
        except _Retry as retry:
            last = retry.verdict
    assert last is not None
    return last


def _describe_exit(rt: Any, pid: Any) -> str:
    reason = rt.exit_reason(pid)
    if reason == "normal":
        return "returned"
    if isinstance(reason, BaseException):
        return f"crashed with {type(reason).__name__}: {reason}"
    return f"exited ({reason!r})"


def _scenario(
    module: str,
    path: str,
    source: str,
    function: str,
    kind: str,
    codes: list[str],
    args: tuple[Any, ...],
    msgs: tuple[Any, ...],
    upgrade: Any,
    advance: float,
) -> Verdict:
    from swaplint.runtime import Runtime

    driven = f"messages {', '.join(map(repr, msgs))}" if msgs else "no messages"
    rt: Any = Runtime(log_crashes=False)  # the runtime's API is not fully annotated
    try:
        rt.load(module, source, filename=path)
    except Exception as exc:
        return Verdict(NOT_RUN, f"the module failed to load: {type(exc).__name__}: {exc}")
    pid = rt.spawn(module, function, *args)
    rt.run()
    if not rt.is_alive(pid):
        return Verdict(NOT_RUN, f"`{function}` {_describe_exit(rt, pid)} before any message", ())
    depth_before = rt.stack_depth(pid)
    for message in msgs:
        rt.send(pid, message)
        rt.run()
        if not rt.is_alive(pid):
            raise _Retry(
                Verdict(NOT_RUN, f"`{function}` {_describe_exit(rt, pid)} on message {message!r}", msgs)
            )
    depth_after = rt.stack_depth(pid)

    rt.load(module, source, filename=path)  # version 2
    if kind in ("told", "spawner") and rt.is_alive(pid):
        rt.send(pid, upgrade)
    rt.run()
    rt.advance(advance)
    if kind != "spawner" and not rt.is_alive(pid):
        raise _Retry(Verdict(NOT_RUN, f"`{function}` {_describe_exit(rt, pid)} before the third load", msgs))
    children = [info.pid for info in rt.processes() if info.pid != pid]
    rt.load(module, source, filename=path)  # version 3: purges version 1

    told = f"; told {upgrade!r} at the second load" if kind == "told" else ""
    if kind == "spawner":
        if not children:
            return Verdict(NOT_RUN, f"`{function}` spawned no process ({driven})", msgs)
        killed = [c for c in children if rt.exit_reason(c) == "killed"]
        if killed:
            return Verdict(
                CONFIRMED,
                f"{len(killed)} of {len(children)} processes spawned by `{function}` were killed "
                f"at the third load; only `{function}` was told {upgrade!r}",
                msgs,
            )
        return Verdict(
            NOT_REPRODUCED,
            f"the {len(children)} processes spawned by `{function}` survived the third load",
            msgs,
        )

    growth = ""
    if GROWTH_CODES & set(codes) and msgs:
        grew = depth_after - depth_before
        growth = f"; stack grew by {grew} frame{'s' if grew != 1 else ''} over {len(msgs)} message{'s' if len(msgs) != 1 else ''}"
    if rt.exit_reason(pid) == "killed":
        record = rt.kill_record(pid)
        frames = (
            f"{record.old_frames} frame{'s' if record.old_frames != 1 else ''} of version {record.version}"
        )
        idle = "idle and never told; " if kind == "idle" else ""
        return Verdict(
            CONFIRMED,
            f"{idle}killed at the third load with {frames} on its stack{growth} ({driven}{told})",
            msgs,
        )
    if rt.is_alive(pid):
        versions = rt.stack_versions(pid, module)
        on = f"version {max(versions)}" if versions else "no loaded code"
        return Verdict(NOT_REPRODUCED, f"survived the third load on {on}{growth} ({driven}{told})", msgs)
    raise _Retry(Verdict(NOT_RUN, f"`{function}` {_describe_exit(rt, pid)} at the third load", msgs))
