"""``swaplint server``: driven over stdio with real LSP messages (Content-Length framing)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from swaplint.config import ConfigError
from swaplint.findings import Finding, Related, Severity
from swaplint.server import _lines, _lint, noqa_edit, to_diagnostic

#: Every wait for a message from the server is bounded by this many seconds.
TIMEOUT = 30.0

HAZARD = (
    "def worker(q):\n    while True:\n        job = q.get()\n        print(job)\n\n\n"
    "class Pump:\n    def run(self):\n        while True:\n            self.step(self.q.get(timeout=1))\n"
)
CLEAN = "def worker(q):\n    return q\n"


class LspClient:
    """A minimal LSP client: frames messages, reads the server's in a thread."""

    def __init__(self, cwd: Path, stderr: IO[bytes], args: tuple[str, ...] = ("server",)) -> None:
        # The real command: `swaplint server`, through the console script's entry point.
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from swaplint.cli import main; main()", *args],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.next_id = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        msg_id = self.next_id
        self.send({"id": msg_id, "method": method, "params": params})
        reply = self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m)
        assert "error" not in reply, reply
        return reply.get("result")

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message within {TIMEOUT}s; saw {self.seen}")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message is None:
                raise AssertionError(f"the server closed its output; saw {self.seen}")
            self.seen.append(message)
            if "method" in message and "id" in message:  # a request from the server
                self.send({"id": message["id"], "result": None})
            if predicate(message):
                return message

    def diagnostics(self, uri: str, version: int) -> list[dict[str, Any]]:
        message = self.wait_for(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri
                and m["params"].get("version") == version
            )
        )
        result: list[dict[str, Any]] = message["params"]["diagnostics"]
        return result

    def close(self) -> int:
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None)
                self.notify("exit", None)
            return self.proc.wait(timeout=TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with open(tmp_path / "server.log", "wb") as stderr:
        lsp = LspClient(tmp_path, stderr)
        try:
            yield lsp
        finally:
            if lsp.proc.poll() is None:
                lsp.proc.kill()
                lsp.proc.wait(timeout=TIMEOUT)


def initialize(client: LspClient, root: Path) -> dict[str, Any]:
    result: dict[str, Any] = client.request(
        "initialize",
        {
            "processId": None,
            "rootUri": root.as_uri(),
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "textDocument": {"publishDiagnostics": {"relatedInformation": True}},
            },
        },
    )
    client.notify("initialized", {})
    return result


def test_open_change_code_action_hover_shutdown(client: LspClient, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    source = project / "worker.py"
    source.write_text(HAZARD)
    uri = source.as_uri()

    result = initialize(client, project)
    capabilities = result["capabilities"]
    assert capabilities["hoverProvider"]
    assert capabilities["codeActionProvider"]
    assert result["serverInfo"]["name"] == "swaplint"

    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": HAZARD}},
    )
    diagnostics = client.diagnostics(uri, 1)
    by_code = {d["code"]: d for d in diagnostics}
    assert set(by_code) == {"SWL003", "SWL006"}
    wait = by_code["SWL003"]
    assert wait["source"] == "swaplint"
    assert wait["severity"] == 2  # warning
    assert by_code["SWL006"]["severity"] == 1  # error
    # `q.get()` on line 3 (0-based 2), columns 14..21 (0-based, end exclusive).
    assert wait["range"] == {"start": {"line": 2, "character": 14}, "end": {"line": 2, "character": 21}}
    assert wait["codeDescription"]["href"].endswith("#swl003")
    assert "q.get()" in wait["message"]

    # Quick fix: add a noqa comment for SWL003 to the flagged line.
    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": wait["range"],
            "context": {"diagnostics": [wait]},
        },
    )
    assert len(actions) == 2
    fix = next(a for a in actions if a["title"].startswith("Fix SWL003"))
    assert "unsafe" in fix["title"] and not fix.get("isPreferred")
    fix_edits = fix["edit"]["changes"][uri]
    assert any(e["newText"] == "import queue\n" for e in fix_edits)
    assert any("job = q.get(timeout=1)" in e["newText"] for e in fix_edits)
    action = next(a for a in actions if "noqa" in a["title"])
    assert action["kind"] == "quickfix"
    assert "SWL003" in action["title"]
    (edit,) = action["edit"]["changes"][uri]
    assert edit["newText"] == "  # noqa: SWL003"
    assert edit["range"]["start"] == {"line": 2, "character": 21}
    fixed = HAZARD.replace("q.get()\n", "q.get()  # noqa: SWL003\n")

    # Apply the edit as an editor would: the SWL003 diagnostic goes, SWL006 stays.
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"range": edit["range"], "text": edit["newText"]}],
        },
    )
    assert {d["code"] for d in client.diagnostics(uri, 2)} == {"SWL006"}

    # Hover on the flagged `while` shows the rule's documentation.
    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 8, "character": 10}}
    )
    assert hover["contents"]["kind"] == "markdown"
    text = hover["contents"]["value"]
    assert "SWL006" in text and "pinned-loop" in text and "## What it does" in text
    # Hover on the code inside the noqa comment shows that rule's documentation.
    column = fixed.splitlines()[2].index("SWL003") + 2
    hover = client.request(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 2, "character": column}}
    )
    assert "missing-after" in hover["contents"]["value"]
    # Nowhere near a finding or a code: no hover.
    assert (
        client.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 9}}
        )
        is None
    )

    # A clean version (full-text change): empty diagnostics.
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": CLEAN}]},
    )
    assert client.diagnostics(uri, 3) == []
    assert (
        client.request(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": uri},
                "range": wait["range"],
                "context": {"diagnostics": []},
            },
        )
        == []
    )

    assert client.close() == 0


def test_configuration_is_found_per_file(client: LspClient, tmp_path: Path) -> None:
    """Two projects, two configurations: each document is checked under its own."""
    strict = tmp_path / "strict"
    relaxed = tmp_path / "relaxed"
    for folder in (strict, relaxed):
        (folder / "pkg").mkdir(parents=True)
        (folder / "pkg" / "worker.py").write_text(HAZARD)
    (relaxed / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.swaplint]
            ignore = ["SWL006"]
            per-file-ignores = { "pkg/other.py" = ["SWL003"] }
            extend-exclude = ["generated"]
            """
        )
    )
    (relaxed / "pkg" / "other.py").write_text(HAZARD)
    (relaxed / "generated").mkdir()
    (relaxed / "generated" / "gen.py").write_text(HAZARD)

    initialize(client, tmp_path)
    expected = {
        strict / "pkg" / "worker.py": {"SWL003", "SWL006"},
        relaxed / "pkg" / "worker.py": {"SWL003"},
        relaxed / "pkg" / "other.py": set(),
        relaxed / "generated" / "gen.py": set(),
    }
    for path in expected:
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": path.as_uri(), "languageId": "python", "version": 7, "text": HAZARD}},
        )
    for path, codes in expected.items():
        assert {d["code"] for d in client.diagnostics(path.as_uri(), 7)} == codes, path

    # Saving the configuration in the editor re-checks the open documents under it.
    config = relaxed / "pyproject.toml"
    config.write_text("[tool.swaplint]\n")
    client.notify("textDocument/didSave", {"textDocument": {"uri": config.as_uri()}})
    worker = (relaxed / "pkg" / "worker.py").as_uri()
    message = client.wait_for(
        lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == worker
    )
    assert {d["code"] for d in message["params"]["diagnostics"]} == {"SWL003", "SWL006"}

    # Closing a document clears its diagnostics.
    uri = (strict / "pkg" / "worker.py").as_uri()
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    message = client.wait_for(
        lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
    )
    assert message["params"]["diagnostics"] == []
    assert client.close() == 0


def test_broken_configuration_is_shown_once(tmp_path: Path) -> None:
    (tmp_path / "swaplint.toml").write_text("select = 3\n")
    path = tmp_path / "worker.py"
    with open(tmp_path / "server.log", "wb") as stderr:
        client = LspClient(tmp_path, stderr, ("server", "--stdio"))  # as some clients start it
        try:
            check_broken_configuration(client, path)
        finally:
            if client.proc.poll() is None:
                client.proc.kill()
                client.proc.wait(timeout=TIMEOUT)


def check_broken_configuration(client: LspClient, path: Path) -> None:
    initialize(client, path.parent)
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": path.as_uri(), "languageId": "python", "version": 1, "text": HAZARD}},
    )
    shown = client.wait_for(lambda m: m.get("method") == "window/showMessage")
    assert shown["params"]["type"] == 1
    assert "swaplint.toml" in shown["params"]["message"]
    assert client.diagnostics(path.as_uri(), 1) == []
    assert client.close() == 0


# -- the suppression edit, without a server ----------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x = q.get()", "x = q.get()  # noqa: SWL003"),
        ("x = q.get()   ", "x = q.get()  # noqa: SWL003"),
        ("x = q.get()  # fetch", "x = q.get()  # fetch  # noqa: SWL003"),
        ("x = q.get()  # noqa: SWL006", "x = q.get()  # noqa: SWL006, SWL003"),
        ("x = q.get()  # noqa: SWL006,SWL001 why", "x = q.get()  # noqa: SWL006,SWL001, SWL003 why"),
        ("s = 'é' + q.get()", "s = 'é' + q.get()  # noqa: SWL003"),
    ],
)
def test_noqa_edit(line: str, expected: str) -> None:
    source = f"{line}\nrest()\n"
    edit = noqa_edit(source, 0, "SWL003", "utf-32")
    assert edit is not None
    start, end = edit.range.start.character, edit.range.end.character
    assert line[:start] + edit.new_text + line[end:] == expected


@pytest.mark.parametrize(
    "source",
    [
        "x = q.get()  # noqa\n",  # everything is suppressed already
        "x = q.get()  # noqa: SWL003\n",
        "x = f(q.get(), '''\nrest''')\n",  # the line ends inside a string
        "x = q.get() + \\\n    1\n",  # a backslash continuation
    ],
)
def test_noqa_edit_not_offered(source: str) -> None:
    assert noqa_edit(source, 0, "SWL003", "utf-16") is None


def test_positions_count_utf16_units() -> None:
    line = "s = '\U0001f600' + q.get()"
    edit = noqa_edit(line + "\n", 0, "SWL003", "utf-16")
    assert edit is not None
    assert edit.range.start.character == len(line) + 1  # the emoji is two UTF-16 units
    assert _lines("a\r\nb\rc\n") == ["a", "b", "c", ""]


def test_diagnostic_carries_help_related_information_and_docs_link() -> None:
    finding = Finding(
        code="SWL002",
        name="unqualified-recursion",
        path="w.py",
        line=1,
        column=5,
        end_line=1,
        end_column=11,
        message="re-enters itself by its bare name",
        severity=Severity.ERROR,
        help="call it through its module",
        related=(Related(2, 12, "the re-entry"),),
    )
    uri = "file:///p/w.py"
    lines = ["def worker(q):", "    return worker(q)  ", ""]
    diagnostic = to_diagnostic(finding, uri, lines, "utf-16")
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (0, 4)
    assert (diagnostic.range.end.line, diagnostic.range.end.character) == (0, 10)
    assert diagnostic.message == "re-enters itself by its bare name\n\ncall it through its module"
    assert diagnostic.code_description is not None
    assert diagnostic.code_description.href.endswith("#swl002")
    assert diagnostic.related_information is not None
    (related,) = diagnostic.related_information
    assert related.location.uri == uri and related.message == "the re-entry"
    assert (related.location.range.start.line, related.location.range.start.character) == (1, 11)
    assert related.location.range.end.character == len("    return worker(q)")


def test_lint_rereads_a_changed_configuration(tmp_path: Path) -> None:
    config = tmp_path / "swaplint.toml"
    config.write_text('ignore = ["SWL006"]\n')
    path = str(tmp_path / "worker.py")
    assert {f.code for f in _lint(path, HAZARD)} == {"SWL003"}
    config.write_text('select = ["SWL006"]\n')
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a visibly newer file
    assert {f.code for f in _lint(path, HAZARD)} == {"SWL006"}
    config.write_text("select = 3\n")
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))
    with pytest.raises(ConfigError):
        _lint(path, HAZARD)
