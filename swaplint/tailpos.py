"""Tail position: where a ``return f(...)`` can replace the caller's frame.

Defined once here and used by both the linter (:mod:`swaplint.model`, which says
*why* a re-entry is not a tail call) and the runtime's tail-call compiler
(:mod:`swaplint.runtime.tailcall`, which rewrites the calls that are).

The rule follows Erlang's try/catch tail table, carried over to Python:

* the protected suite of a ``try`` is never a tail position (its handlers are
  still active while the call runs);
* ``except`` and ``else`` suites are tail positions only when the ``try`` has no
  ``finally`` (the cleanup must run after the call returns);
* a ``finally`` suite and a ``with``/``async with`` body are never tail positions
  (``__exit__`` runs after the body);
* an ``async for`` body is never one (the iterator's ``__anext__`` frame is live);
* ``if``, ``for``, ``while`` and ``match`` suites inherit their statement's position.

CPython itself has no tail calls at all: under ``importlib.reload`` every re-entry
adds a frame, wherever it sits. The reasons below still say which re-entries also
keep a handler or a cleanup of the old version alive.
"""

from __future__ import annotations

import ast

# Why a suite is not a tail position. The values are shown in messages.
IN_TRY = "a `try` suite"
IN_TRY_FINALLY = "a `try` statement with `finally`"
IN_FINALLY = "a `finally` suite"
IN_WITH = "a `with` body"
IN_ASYNC_FOR = "an `async for` body"


def suites(node: ast.stmt) -> list[tuple[list[ast.stmt], str | None]]:
    """The statement suites a compound statement holds, each with why a ``return``
    in it is not in tail position (``None``: it is exactly when ``node`` is).

    Function and class definitions hold no suites here: their bodies start a new
    frame, so tail position starts afresh inside them.
    """
    if isinstance(node, (ast.If, ast.For, ast.While)):
        return [(node.body, None), (node.orelse, None)]
    if isinstance(node, ast.AsyncFor):
        return [(node.body, IN_ASYNC_FOR), (node.orelse, IN_ASYNC_FOR)]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [(node.body, IN_WITH)]
    if isinstance(node, (ast.Try, ast.TryStar)):
        clause = IN_TRY_FINALLY if node.finalbody else None
        out: list[tuple[list[ast.stmt], str | None]] = [(node.body, IN_TRY)]
        out.extend((handler.body, clause) for handler in node.handlers)
        out.append((node.orelse, clause))
        out.append((node.finalbody, IN_FINALLY))
        return out
    if isinstance(node, ast.Match):
        return [(case.body, None) for case in node.cases]
    return []
