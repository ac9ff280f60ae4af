"""The upgrade scenario the verifier runs for one flagged function (in a child process).

:func:`study` reads what the source tells about the function: how many start
arguments it needs, the literal messages it compares against (``msg == "reset"``,
``case ("add", n)``), and the longest receive timeout. :func:`run` then plays the
scenario of :mod:`swaplint.verify` under a fresh :class:`~swaplint.runtime.Runtime`
and turns what happened into a :class:`~swaplint.verify.Verdict`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from swaplint.model import Function, build_model
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


def _literal(node: cst.BaseExpression) -> tuple[bool, Any]:
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float)):
        try:
            return True, ast.literal_eval(cst.Module(body=[]).code_for_node(node))
        except (ValueError, SyntaxError):
            return False, None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        ok, value = _literal(node.expression)
        return (ok, -value) if ok and isinstance(value, (int, float)) else (False, None)
    return False, None


class _Literals(cst.CSTVisitor):
    """Literals a function compares against, and the patterns it matches."""

    def __init__(self) -> None:
        self.found: list[Any] = []

    def _add(self, value: Any) -> None:
        if value not in self.found:
            self.found.append(value)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        for expr in [node.left, *(t.comparator for t in node.comparisons)]:
            ok, value = _literal(expr)
            if ok:
                self._add(value)
        for target in node.comparisons:
            if isinstance(target.operator, (cst.In, cst.NotIn)) and isinstance(
                target.comparator, (cst.Tuple, cst.List, cst.Set)
            ):
                for element in target.comparator.elements:
                    ok, value = _literal(element.value)
                    if ok:
                        self._add(value)

    def visit_MatchCase(self, node: cst.MatchCase) -> None:
        for value in _pattern_samples(node.pattern):
            self._add(value)


def _pattern_samples(pattern: cst.MatchPattern) -> list[Any]:
    """A sample message for a `case` pattern: literals kept, captures filled with 1."""
    if isinstance(pattern, cst.MatchValue):
        ok, value = _literal(pattern.value)
        return [value] if ok else []
    if isinstance(pattern, cst.MatchOr):
        return [v for element in pattern.patterns for v in _pattern_samples(element.pattern)]
    if isinstance(pattern, cst.MatchSequence):
        items: list[Any] = []
        for element in pattern.patterns:
            if isinstance(element, cst.MatchSequenceElement):
                inner = element.value
                if isinstance(inner, cst.MatchValue):
                    ok, value = _literal(inner.value)
                    if not ok:
                        return []
                    items.append(value)
                elif isinstance(inner, cst.MatchAs):
                    items.append(PROBE_MESSAGE)
                else:
                    return []
            else:
                return []  # a star pattern: no single sample
        return [tuple(items)]
    return []


def _timeout_value(call: cst.Call) -> float | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "timeout":
            ok, value = _literal(arg.value)
            return float(value) if ok and isinstance(value, (int, float)) else None
    positional = [a for a in call.args if a.keyword is None]
    if positional:
        ok, value = _literal(positional[0].value)
        return float(value) if ok and isinstance(value, (int, float)) else None
    return None


def study(source: str, module: str, function: str) -> Facts:
    """What the source says about ``module:function`` (a module-level function)."""
    tree = cst.parse_module(source)
    model = build_model(tree, module=module)
    target = next((f for f in model.functions if f.qualname == function), None)
    facts = Facts()
    if target is None:
        return facts
    facts.found = True
    params = target.node.params
    positional = [*params.posonly_params, *params.params]
    facts.params = [p.name.value for p in positional]
    facts.required = sum(1 for p in positional if p.default is None) + sum(
        1 for p in params.kwonly_params if p.default is None
    )
    related: list[Function] = [target]
    if target.cycle is not None:
        related += [f for f in target.cycle.members if f is not target]
    related += [site.callee for f in list(related) for site in f.calls if site.callee not in related]
    literals = _Literals()
    for fn in _unique(related):
        fn.node.body.visit(literals)
    facts.literals = literals.found
    timeouts = [
        t
        for fn in _unique(related)
        for receive in fn.receives
        if (t := _timeout_value(receive.call)) is not None
    ]
    facts.max_timeout = max(timeouts) if timeouts else None
    return facts


def _unique(functions: Iterable[Function]) -> list[Function]:
    seen: list[Function] = []
    for fn in functions:
        if fn not in seen:
            seen.append(fn)
    return seen


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
