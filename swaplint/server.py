"""``swaplint server``: a language server over stdio, built on pygls.

What an editor gets:

* diagnostics when a document is opened, changed (debounced) or saved: the rule
  code with a link to its docs (``codeDescription``), the severity, the message
  and its help, and related information pointing at the wait or the re-entry;
* a quick fix per diagnostic that adds ``# noqa: CODE`` to its line (merged into an
  existing ``# noqa: ...`` list);
* hover on a rule code (in a ``# noqa`` comment, say) or on a flagged range shows
  the rule's documentation.

The configuration is the project's, found per file as ``swaplint check`` finds it
(the nearest ``.swaplint.toml``, ``swaplint.toml`` or ``pyproject.toml`` with a
``[tool.swaplint]`` table), re-read when it changes. A file that the configuration
excludes gets no diagnostics.

Every check goes through :func:`_lint`, the one place that turns a path and a
source text into findings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from swaplint import __version__
from swaplint.config import CONFIG_FILENAMES, ConfigError
from swaplint.engine import source_lines, suppressed_codes
from swaplint.findings import Applicability, Finding, Fix, Severity
from swaplint.noqa import add_codes
from swaplint.output import rule_url
from swaplint.rules import RULES_BY_CODE, get_rule

log = logging.getLogger(__name__)

#: The ``source`` of every diagnostic this server publishes.
SOURCE = "swaplint"
#: Seconds to wait after a change before checking (a newer change restarts the wait).
CHANGE_DELAY = 0.15

# -- the one adapter: path + source -> findings ---------------------------------------


def _lint(path: str, source: str) -> list[Finding]:
    """The findings of one document, as ``swaplint check`` would report them on disk.

    :func:`swaplint.check.lint_text` applies the project's configuration for this
    path (selection, per-file ignores, excludes, reload model) and ``# noqa``
    comments. Raises :class:`ConfigError` for a broken configuration.
    """
    from swaplint.check import CheckError, lint_text

    try:
        result = lint_text(source, path)
    except CheckError as exc:
        raise ConfigError(str(exc)) from None
    for error in result.errors:
        log.warning("%s", error)
    return result.findings


# -- positions ------------------------------------------------------------------------

_CODE = re.compile(r"\b[A-Za-z]{2,}[0-9]{3}\b")


def _lines(source: str) -> list[str]:
    return source_lines(source)  # LSP's line breaks are Python's: \r\n, \r, \n


def _units(text: str, encoding: str) -> int:
    """The length of ``text`` in the client's position units."""
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", errors="surrogatepass"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def _index(line: str, units: int, encoding: str) -> int:
    """The code point index of a client column on a line (clamped to the line)."""
    if encoding == types.PositionEncodingKind.Utf32:
        return min(units, len(line))
    count = 0
    for i, char in enumerate(line):
        if count >= units:
            return i
        count += _units(char, encoding)
    return len(line)


def _position(lines: Sequence[str], line: int, column: int, encoding: str) -> types.Position:
    """A 1-based line and 1-based code point column as an LSP position."""
    row = min(max(line - 1, 0), max(len(lines) - 1, 0))
    text = lines[row] if lines else ""
    return types.Position(row, _units(text[: max(column - 1, 0)], encoding))


# -- diagnostics ----------------------------------------------------------------------


def to_diagnostic(finding: Finding, uri: str, lines: Sequence[str], encoding: str) -> types.Diagnostic:
    """An LSP diagnostic for a finding of the document ``uri`` (whose text is ``lines``)."""
    start = _position(lines, finding.line, finding.column, encoding)
    end = _position(lines, finding.end_line, finding.end_column, encoding)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    related = []
    for item in finding.related:
        at = _position(lines, item.line, item.column, encoding)
        row_text = lines[at.line] if at.line < len(lines) else ""
        line_end = types.Position(at.line, _units(row_text.rstrip(), encoding))
        if (line_end.line, line_end.character) < (at.line, at.character):
            line_end = at
        related.append(
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=uri, range=types.Range(at, line_end)), message=item.message
            )
        )
    message = finding.message if finding.help is None else f"{finding.message}\n\n{finding.help}"
    severity = (
        types.DiagnosticSeverity.Error
        if finding.severity is Severity.ERROR
        else types.DiagnosticSeverity.Warning
    )
    return types.Diagnostic(
        range=types.Range(start, end),
        message=message,
        severity=severity,
        code=finding.code,
        code_description=types.CodeDescription(href=rule_url(finding.code)),
        source=SOURCE,
        related_information=related or None,
        data=_data(finding),
    )


def _data(finding: Finding) -> dict[str, Any]:
    """What a diagnostic carries back to ``codeAction``: the rule's name and its fix."""
    data: dict[str, Any] = {"name": finding.name}
    if finding.fix is not None and finding.fix.applicable:
        data["fix"] = finding.fix.to_dict()
    return data


def fix_action(diagnostic: types.Diagnostic, uri: str, source: str, encoding: str) -> types.CodeAction | None:
    """The code action that applies a diagnostic's fix (its edits, as ``--fix`` would)."""
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    raw = data.get("fix")
    if not isinstance(raw, dict):
        return None
    try:
        fix = Fix.from_dict(raw)
    except (KeyError, TypeError, ValueError):
        return None
    lines = _lines(source)
    edits = [
        types.TextEdit(
            range=types.Range(
                _position(lines, e.line, e.column, encoding),
                _position(lines, e.end_line, e.end_column, encoding),
            ),
            new_text=e.content,
        )
        for e in fix.edits
    ]
    safe = fix.applicability is Applicability.SAFE
    return types.CodeAction(
        title=f"Fix {diagnostic.code}: {fix.title}" + ("" if safe else " (unsafe: review it)"),
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        is_preferred=safe,
        edit=types.WorkspaceEdit(changes={uri: edits}),
    )


# -- suppressions ---------------------------------------------------------------------


def noqa_edit(source: str, row: int, code: str, encoding: str) -> types.TextEdit | None:
    """The edit that suppresses ``code`` on line ``row`` (0-based), or None if none is needed or safe."""
    lines = _lines(source)
    if row >= len(lines):
        return None
    line = lines[row]
    codes = suppressed_codes(line)
    if codes is not None and (not codes or code.upper() in codes):
        return None  # already suppressed
    change = add_codes(source, line, row + 1, [code.upper()])
    if change is None:
        return None
    start, end, new_text = change
    return types.TextEdit(
        range=types.Range(
            types.Position(row, _units(line[:start], encoding)),
            types.Position(row, _units(line[:end], encoding)),
        ),
        new_text=new_text,
    )


# -- hover ----------------------------------------------------------------------------


def rule_markdown(code: str) -> str | None:
    """The documentation of a rule as Markdown, or None for an unknown code."""
    try:
        rule = get_rule(code)
    except KeyError:
        return None
    return (
        f"**{rule.code}** `{rule.name}` ({rule.severity.value})\n\n{rule.doc()}\n\n"
        f"[Documentation]({rule_url(rule.code)})"
    )


def _covers(finding: Finding, line: int, column: int) -> bool:
    """Whether 1-based ``line``/``column`` lies in a finding's range (end inclusive)."""
    return (finding.line, finding.column) <= (line, column) <= (finding.end_line, finding.end_column)


# -- the server -----------------------------------------------------------------------


class SwaplintServer(LanguageServer):
    """The language server, holding the latest findings of each open document."""

    def __init__(self) -> None:
        super().__init__("swaplint", __version__)
        self.findings: dict[str, list[Finding]] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        # One checking thread: checks never run at once, and the event loop stays free.
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swaplint-check")
        self.config_errors: set[str] = set()

    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)

    def schedule(self, uri: str, delay: float = 0.0) -> None:
        """Check a document after ``delay`` seconds, replacing a check not yet run."""
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._check(uri, delay))

    async def _check(self, uri: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        document = self.workspace.get_text_document(uri)
        version, source = document.version, document.source
        path = _document_path(uri)
        loop = asyncio.get_running_loop()
        try:
            findings = await loop.run_in_executor(self.checker, _lint, path, source)
        except ConfigError as exc:
            self._config_error(str(exc))
            findings = []
        except Exception as exc:  # a crash must not take the server down
            log.exception("checking %s failed", path)
            self.window_log_message(
                types.LogMessageParams(types.MessageType.Error, f"swaplint: checking {path} failed: {exc}")
            )
            return
        current = self.workspace.text_documents.get(uri)
        if current is None or current.version != version:
            return  # closed or changed meanwhile: a newer check is on its way
        self.findings[uri] = findings
        lines = _lines(source)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri,
                version=version,
                diagnostics=[to_diagnostic(f, uri, lines, self.encoding) for f in findings],
            )
        )
        if self.pending.get(uri) is asyncio.current_task():
            del self.pending[uri]

    def _config_error(self, message: str) -> None:
        if message in self.config_errors:
            return
        self.config_errors.add(message)
        self.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"swaplint: {message}"))

    def forget(self, uri: str) -> None:
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()
        self.findings.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _document_path(uri: str) -> str:
    """A file path for a document URI (a made-up one in the working directory for ``untitled:``)."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    if path:
        return path
    name = uri.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "untitled"
    return os.path.join(os.getcwd(), name if name.endswith((".py", ".pyi")) else f"{name}.py")


def build_server() -> SwaplintServer:
    """A server with every feature registered (a new one per call, for tests)."""
    server = SwaplintServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: SwaplintServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: SwaplintServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, CHANGE_DELAY)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: SwaplintServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri.rsplit("/", 1)[-1] in CONFIG_FILENAMES:
            ls.config_errors.clear()  # a fixed configuration may fail again later: say so again
            for other in list(ls.workspace.text_documents):
                if other.endswith((".py", ".pyi")) or other in ls.findings:
                    ls.schedule(other)
        elif uri in ls.workspace.text_documents:
            ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: SwaplintServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(ls: SwaplintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        source = ls.workspace.get_text_document(uri).source
        actions: list[types.CodeAction] = []
        for diagnostic in params.context.diagnostics:
            if diagnostic.source != SOURCE or not isinstance(diagnostic.code, str):
                continue
            fix = fix_action(diagnostic, uri, source, ls.encoding)
            if fix is not None:
                actions.append(fix)
            edit = noqa_edit(source, diagnostic.range.start.line, diagnostic.code, ls.encoding)
            if edit is None:
                continue
            actions.append(
                types.CodeAction(
                    title=f"Suppress {diagnostic.code} on this line (# noqa: {diagnostic.code})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=types.WorkspaceEdit(changes={uri: [edit]}),
                )
            )
        return actions

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: SwaplintServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        lines = _lines(ls.workspace.get_text_document(uri).source)
        row = params.position.line
        if row >= len(lines):
            return None
        line = lines[row]
        column = _index(line, params.position.character, ls.encoding)
        for match in _CODE.finditer(line):  # a rule code under the cursor
            if match.start() <= column <= match.end() and match.group(0).upper() in RULES_BY_CODE:
                text = rule_markdown(match.group(0))
                if text is not None:
                    return types.Hover(
                        contents=types.MarkupContent(types.MarkupKind.Markdown, text),
                        range=types.Range(
                            types.Position(row, _units(line[: match.start()], ls.encoding)),
                            types.Position(row, _units(line[: match.end()], ls.encoding)),
                        ),
                    )
        parts: list[str] = []
        seen: set[str] = set()
        for finding in ls.findings.get(uri, []):  # a flagged range under the cursor
            if not _covers(finding, row + 1, column + 1):
                continue
            parts.append(f"**{finding.code}**: {finding.message}")
            if finding.help:
                parts.append(finding.help)
            if finding.code not in seen:
                seen.add(finding.code)
                doc = rule_markdown(finding.code)
                if doc is not None:
                    parts.append(doc)
        if not parts:
            return None
        return types.Hover(contents=types.MarkupContent(types.MarkupKind.Markdown, "\n\n---\n\n".join(parts)))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: SwaplintServer, params: None) -> None:
        for task in ls.pending.values():
            task.cancel()
        ls.pending.clear()
        ls.checker.shutdown(wait=False, cancel_futures=True)

    return server


def main() -> None:
    """Serve LSP over stdin/stdout until the client says ``exit``."""
    logging.basicConfig(level=os.environ.get("SWAPLINT_LOG_LEVEL", "WARNING").upper())
    build_server().start_io()


if __name__ == "__main__":  # python -m swaplint.server
    main()
