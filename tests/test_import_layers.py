"""The import graph of src/bends: no cycles, and imports only point down the layer order that
docs/architecture.md states (its line ``Layers, bottom first: a < b < ...``) and, inside
``tracing``, down the order of its rooms (the line ``Rooms of tracing, bottom first: ...``);
no module imports another room's private (underscored) name."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "bends"


def _layers(heading: str = "Layers") -> dict[str, int]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    line = re.search(heading + r", bottom first: `([^`]+)`", text).group(1)
    return {
        name.strip(): rank
        for rank, level in enumerate(line.split("<"))
        for name in level.split(",")
    }


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every bends module ``path`` imports, anywhere in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def _private_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every underscored name ``path`` imports from a bends module."""
    return [
        (node.module, alias.name)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bends")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def _room(module: str) -> str:
    """A tracing module's room (``bends.tracing._graph.walker`` → ``graph``); elsewhere the
    top-level layer (``bends.runner.store`` → ``runner``)."""
    parts = module.split(".")
    if parts[1:2] == ["tracing"] and len(parts) > 2:
        return parts[2]
    return parts[1] if len(parts) > 1 else parts[0]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def _layer(module: str, layers: dict[str, int]) -> int | None:
    parts = module.split(".")
    return None if len(parts) == 1 else layers[parts[1]]


def test_every_top_level_module_has_a_layer():
    layers = _layers()
    tops = {name.split(".")[1] for name in _modules() if "." in name}
    assert tops - {"__main__"} <= set(layers), f"no layer for {tops - set(layers)}"


def test_imports_point_down():
    layers = _layers()
    upward = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        for target in targets
        if source not in ("bends", "bends.__main__")  # the facade re-exports from above
        and (_layer(target, layers) is None or _layer(target, layers) > _layer(source, layers))
    ]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def test_every_tracing_room_has_a_place_in_the_order():
    rooms = _layers("Rooms of tracing")
    found = {_room(name) for name in _modules() if name.startswith("bends.tracing.")}
    assert found == set(rooms)


def test_tracing_rooms_import_only_down_their_order():
    rooms = _layers("Rooms of tracing")
    upward = [
        f"{source} -> {target}"
        for source, targets in _graph().items()
        if source.startswith("bends.tracing.")
        for target in targets
        if target.startswith("bends.tracing.") and rooms[_room(target)] > rooms[_room(source)]
    ]
    assert not upward, "imports pointing up the rooms of tracing:\n" + "\n".join(sorted(upward))


def test_no_private_name_crosses_a_room():
    crossing = [
        f"{source} imports {name} from {module}"
        for source, path in _modules().items()
        if "." in source
        for module, name in _private_imports(path)
        if _room(module) != _room(source)
    ]
    assert not crossing, "\n".join(sorted(crossing))


#: Public modules that re-export a private one's names (equinox's way), and so may import it.
FACADES = {"bends.plotting": "bends.tracing"}


def test_private_modules_are_imported_only_inside_their_package():
    """``bends.tracing._line.tracer`` is for ``bends.tracing`` alone: the layers above import
    the names ``bends.tracing`` re-exports."""
    outside = []
    for source, targets in _graph().items():
        for target in targets:
            parts = target.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_")]
            if not private or parts[private[0]].startswith("__"):
                continue
            package = ".".join(parts[: private[0]])
            inside = source == package or source.startswith(package + ".")
            if not inside and FACADES.get(source) != package:
                outside.append(f"{source} -> {target}")
    assert not outside, "\n".join(sorted(outside))


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("module", ["bends", "bends.constructions", "bends.nets", "bends.tracing"])
def test_core_imports_without_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
