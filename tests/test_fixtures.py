"""The real engine over every annotated fixture: exactly the annotated findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplint.engine import check_file
from tests.annotations import expected_findings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "tests" / "fixtures").rglob("*.py"))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", FIXTURES, ids=_ids(FIXTURES))
def test_exactly_the_annotated_findings(path: Path) -> None:
    result = check_file(path)
    assert result.errors == []
    got = [(f.code, f.line, f.column) for f in result.findings]
    assert got == expected_findings(path)


def test_every_rule_has_a_flagged_fixture() -> None:
    from swaplint.rules import RULES

    annotated = {code for path in FIXTURES for code, _, _ in expected_findings(path)}
    assert {rule.code for rule in RULES} <= annotated


@pytest.mark.parametrize("path", FIXTURES, ids=_ids(FIXTURES))
def test_fixtures_are_valid_python_unless_they_test_syntax_errors(path: Path) -> None:
    import ast

    if path.name == "syntax_error.py":
        pytest.skip("this fixture is meant not to parse")
    ast.parse(path.read_text(encoding="utf-8"))  # libcst accepts some code CPython rejects
