"""The code stays readable at a glance: no source file over 400 lines, no function over 60."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "modules").glob("*/src/**/*.py")])
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_the_sources_are_found() -> None:
    assert len(SOURCES) > 50
    assert ROOT / "src" / "plugin_analytics" / "app.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_file_or_function_too_long(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= MAX_FILE_LINES, f"over {MAX_FILE_LINES} lines: split it by meaning"
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
