"""What to write instead, generated from the code a finding is about.

Every snippet is valid Python in the flagged function's own context: ``await``
only in ``async def``, ``yield from`` in generators, ``async for ... yield`` in
async generators, ``self`` passed only to methods. A test parses every snippet
the fixtures and examples produce.
"""

from __future__ import annotations

import ast
import re

from swaplint.model import FileModel, Function, LoopSite, Wait, dotted_name, short


def arguments(fn: Function, *extra: str) -> str:
    """The call arguments that pass ``fn``'s own parameters on (``self, q, *args``), with
    ``extra`` positional arguments placed before any ``**kwargs``."""
    args = fn.node.args
    parts = [a.arg for a in [*args.posonlyargs, *args.args]]
    if fn.cls is not None and "classmethod" in fn.decorators and parts:
        parts = parts[1:]  # cls is passed by the call through the class
    if args.vararg is not None:
        parts.append(f"*{args.vararg.arg}")
    parts.extend(extra)
    parts.extend(f"{a.arg}={a.arg}" for a in args.kwonlyargs)
    if args.kwarg is not None:
        parts.append(f"**{args.kwarg.arg}")
    return ", ".join(parts)


def delegate(fn: Function, call: str) -> str:
    """A statement that runs ``call`` (a call expression) as ``fn``'s body would."""
    if fn.is_async and fn.is_generator:
        return f"async for item in {call}: yield item"
    if fn.is_generator:
        return f"yield from {call}"
    if fn.is_async:
        return f"await {call}"
    return call


def reenter(model: FileModel, fn: Function) -> str:
    """Runtime: the statement that leaves the frame for the newest version of ``fn``."""
    if "<locals>" in fn.qualname:
        call = f"{model.module}.{fn.name}({arguments(fn)})"
    else:
        call = f"{model.module}.{fn.qualname}({arguments(fn)})"
    if fn.is_generator:
        return delegate(fn, call)
    return f"return await {call}" if fn.is_async else f"return {call}"


def step_name(fn: Function) -> str:
    """The module-level step function of ``fn``'s loop: ``worker_step`` for a function,
    ``pub_sub_listen_step`` for ``PubSub.listen`` (the class keeps two classes' methods
    of the same name apart)."""
    owners = [part for part in fn.qualname.split(".")[:-1] if part != "<locals>"]
    prefix = "".join(f"{_snake(part)}_" for part in owners)
    return f"{prefix}{fn.name.lstrip('_')}_step".lstrip("_")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.lstrip("_")).lower()


def step_loop(site: LoopSite) -> str:
    """Importlib: the loop as a driver that calls a module-level step each iteration."""
    fn = site.function
    call = f"{step_name(fn)}({arguments(fn)})"
    node = site.node
    if isinstance(node, ast.While):
        header = f"while {ast.unparse(node.test)}:"
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        keyword = "async for" if isinstance(node, ast.AsyncFor) else "for"
        target = ast.unparse(node.target)
        header = f"{keyword} {target} in {ast.unparse(node.iter)}:"
        call = f"{step_name(fn)}({arguments(fn, target)})"
    else:  # a library loop: nothing to restructure in the file
        return f"{short(node, 60)}  # started again after each reload"
    return f"{header}\n    {delegate(fn, call)}"


def with_timeout(wait: Wait, fn: Function | None, seconds: str = "1.0") -> str | None:
    """The wait with a timeout, and the branch that handles it."""
    receiver = wait.receiver or "q"
    is_async = fn is not None and fn.is_async
    if wait.shape == "get":
        if is_async:
            return f"msg = await asyncio.wait_for({receiver}.get(), timeout={seconds})"
        return f"msg = {receiver}.get(timeout={seconds})  # except queue.Empty: check the stop flag"
    if wait.shape == "iteration":
        return None
    if wait.shape in ("recv", "recv_bytes", "recvfrom", "accept", "read", "readline", "recv_into"):
        return f"{receiver}.settimeout({seconds})  # except TimeoutError: check the stop flag"
    if wait.shape == "wait":
        return f"{receiver}.wait({seconds})"
    if wait.shape == "receive" or wait.shape.endswith(".receive"):
        return "msg = receive(timeout=10)  # TIMEOUT: re-enter through the module"
    if wait.shape == "select.select":
        return "select.select(rlist, wlist, xlist, 1.0)"
    if wait.shape in ("select", "poll", "drain_events"):
        return f"{receiver}.{wait.shape}(timeout={seconds})"
    if isinstance(wait.node, ast.Call):
        func = dotted_name(wait.node.func) or short(wait.node.func)
        return f"{func}(..., timeout={seconds})"
    return None


def step_loop_for(fn: Function) -> str:
    """Importlib: a recursive loop written as a ``while`` that calls a step per message."""
    return f"while True:\n    {delegate(fn, f'{step_name(fn)}({arguments(fn)})')}"
