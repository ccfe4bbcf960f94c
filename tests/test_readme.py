"""The README's Python example runs as written and imports only what `bends` exports (and the
constructions, `bends.constructions`): a newcomer's first code never reaches into a private
module."""

import ast
import contextlib
import io
import re
from pathlib import Path

import bends

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    python = text[text.index("## Python") :]
    return re.search(r"```python\n(.*?)```", python, re.S).group(1)


def test_the_example_imports_only_public_names():
    for node in ast.walk(ast.parse(_example())):
        if isinstance(node, ast.ImportFrom) and node.module.startswith("bends"):
            assert node.module in ("bends", "bends.constructions"), node.module
            if node.module == "bends":
                for alias in node.names:
                    assert alias.name in bends.__all__, alias.name


def test_the_example_runs_and_prints_what_its_comments_say():
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_example(), str(README), "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0].startswith("Trace(MLP [1, 64, 1]")
    assert "1048576 1048576" in lines
