"""docs/architecture.md lists every swaplint module and what it may import: hold the code to it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "swaplint"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path, *, module_level: bool = False) -> set[str]:
    """The swaplint modules a module imports (type-checking-only imports aside; with
    ``module_level``, only those that run when the module is imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    if module_level:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                skip.update(id(sub) for sub in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "swaplint")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "swaplint":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            found.update(subs or [target])
    found.discard(name)
    return found


def _allowed() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w.*]+)` \|([^|\n]*)\|$", text, re.MULTILINE)
    return {module: set(re.findall(r"`([\w.*]+)`", allowed)) for module, allowed in rows}


def _matches(pattern: str, name: str) -> bool:
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1]) and name != pattern[:-2]
    return name == pattern


def _row(allowed: dict[str, set[str]], name: str) -> set[str]:
    if name in allowed:
        return allowed[name]
    for pattern, targets in allowed.items():
        if _matches(pattern, name):
            return targets
    raise AssertionError(f"{name} is not in the table of docs/architecture.md")


def test_every_module_imports_only_what_the_architecture_allows():
    allowed = _allowed()
    problems = []
    for name, path in sorted(MODULES.items()):
        permitted = _row(allowed, name)
        for target in sorted(_imports(name, path)):
            if not any(_matches(p, target) for p in permitted):
                problems.append(f"{name} imports {target}")
    assert problems == []


def test_there_is_no_import_cycle():
    graph = {name: _imports(name, path, module_level=True) for name, path in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if target == node or target not in graph:
                continue
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, target]))
            if target not in state:
                visit(target, [*trail, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_the_version_is_the_packaged_one():
    import tomllib

    import swaplint

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert swaplint.__version__ == project["version"]


def test_the_code_table_is_the_rule_registry():
    from swaplint.codes import CODES, MODEL_CODES, SYNTAX_ERROR, UNUSED_NOQA
    from swaplint.rules import ALL_CODES, MODEL_RULES, RULES, SyntaxErrorRule, UnusedNoqa

    assert tuple(rule.code for rule in RULES) == CODES
    assert frozenset(CODES) == ALL_CODES
    assert tuple(rule.code for rule in MODEL_RULES) == MODEL_CODES
    assert (SyntaxErrorRule.code, UnusedNoqa.code) == (SYNTAX_ERROR, UNUSED_NOQA)


def test_a_file_the_screen_lets_by_loads_no_model_or_rules(tmp_path):
    """An empty file (or any the screen lets by) is checked without importing the
    model or the rules: start-up of a small run depends on it."""
    import subprocess
    import sys

    (tmp_path / "empty.py").write_text("", encoding="utf-8")
    probe = (
        "import sys; from swaplint.engine import check_file; "
        f"r = check_file({str(tmp_path / 'empty.py')!r}); "
        "print(r.findings, sorted(m for m in sys.modules if m.startswith(('swaplint.model', 'swaplint.rules'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"
