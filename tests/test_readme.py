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
    assert lines[0].startswith("Trace(MLP [1, 64, 1] on [-10.0] → [10.0]: 60 pieces, 60 ")
    assert lines[1:3] == ["[0 1 1 1 1 1 0 1]", "60"]
    float_regions, exact_regions = lines[3].split()
    assert float_regions == exact_regions  # float64 = rational
    assert lines[4:6] == ["1048576 1048576", "[9.53674316e-07 1.90734863e-06 2.86102295e-06]"]
    assert lines[6] == ("Partition(MLP [2, 32, 32, 1]: 1423 regions, 1423 pieces, "
                        "1490 vertices, 2912 edges)")  # fmt: skip
    assert lines[7] == "43"
    assert lines[8] == "(Fraction(0, 1), Fraction(1, 16), Fraction(1, 8))"
    assert lines[-1] == (
        "Complex(5028 regions, 5028 pieces, 4480 vertices, 13951 edges on the whole space)"
    )
