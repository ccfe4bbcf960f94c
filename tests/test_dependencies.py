"""Every import is a declared dependency (deptry reads pyproject.toml against the imports of
src, tests and benchmarks), the versions `make` installs are pinned (constraints.txt), and
the package works without its extras: `bends -h`, `count`, `construct`, `plot` and a study
sweep run with every extra's modules hidden."""

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The modules only the extras bring (and their own imports a base install lacks).
EXTRA_MODULES = ["ray", "onnx", "regioncam", "lightning", "pytorch_lightning", "click",
                 "pytest", "hypothesis", "nbclient", "nbformat", "ipykernel", "deptry"]  # fmt: skip


def _deptry(folder: Path) -> subprocess.CompletedProcess:
    deptry = shutil.which("deptry") or str(Path(sys.executable).parent / "deptry")
    return subprocess.run([deptry, "--no-ansi", "src", "tests", "benchmarks"], cwd=folder,
                          capture_output=True, text=True)  # fmt: skip


def test_every_import_is_declared():
    run = _deptry(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


def test_an_undeclared_import_is_caught(tmp_path):
    """The check is not vacuous: a module importing an undeclared package fails it."""
    for name in ("pyproject.toml", "src", "tests", "benchmarks"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    (tmp_path / "src" / "bends" / "undeclared.py").write_text("import yaml\nimport nowhere\n")
    run = _deptry(tmp_path)
    assert run.returncode != 0
    said = run.stderr + run.stdout
    assert "'nowhere' imported but missing from the dependency definitions" in said
    assert "'yaml' imported but it is a transitive dependency" in said  # ray brings it


def _requirement_name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0]


def test_make_installs_pinned_versions():
    """constraints.txt pins one exact version of every direct dependency and every extra."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    project = PYPROJECT["project"]
    wanted = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        wanted += extra
    missing = {_requirement_name(r).strip().lower() for r in wanted} - set(pins)
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)}"
    assert pins["torch"] == "2.13.0"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


HIDE_EXTRAS = f"""
import sys
for name in {EXTRA_MODULES!r}:
    sys.modules[name] = None  # import raises ImportError, as in an install without extras
from bends.cli import main
sys.argv = ["bends", *sys.argv[1:]]
main()
"""


def test_the_commands_run_without_extras(tmp_path):
    commands = [
        ["-h"],
        ["construct", "sawtooth", "--depth", "3", "-o", f"{tmp_path}/saw.json"],
        ["count", f"{tmp_path}/saw.json"],
        ["plot", f"{tmp_path}/saw.json", "-o", f"{tmp_path}/saw.png"],
        ["run", "selfcheck", "--out", f"{tmp_path}/run"],
    ]
    for arguments in commands:
        run = subprocess.run([sys.executable, "-c", HIDE_EXTRAS, *arguments],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert run.returncode == 0, f"bends {' '.join(arguments)}:\n{run.stdout}{run.stderr}"
    assert (tmp_path / "saw.png").stat().st_size > 0


#: Tools of the dev and bench extras: tests and benchmarks import them, the package never.
TOOLS = {"pytest", "hypothesis", "nbclient", "nbformat", "ipykernel", "deptry", "regioncam"}
#: Runtime extras: imported only inside the functions that need them.
RUNTIME_EXTRAS = {"ray": "cluster", "onnx": "onnx", "lightning": "lightning"}


def test_the_package_imports_extras_only_where_they_are_needed():
    """No module of bends imports a dev or bench tool, and none imports a runtime extra at
    module level: a base install imports every module (checked below by importing them all)."""
    found = []
    for path in sorted((ROOT / "src" / "bends").rglob("*.py")):
        tree = ast.parse(path.read_text())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in (n.split(".")[0] for n in names):
                where = path.relative_to(ROOT)
                if name in TOOLS:
                    found.append(f"{where}:{node.lineno} imports the tool {name}")
                elif name in RUNTIME_EXTRAS and id(node) in top_level:
                    found.append(f"{where}:{node.lineno} imports {name} (extra "
                                 f"'{RUNTIME_EXTRAS[name]}') at module level")  # fmt: skip
    assert not found, "\n".join(found)


def test_every_module_imports_without_extras():
    code = HIDE_EXTRAS.split("from bends.cli")[0] + (
        "import importlib, pkgutil, bends\n"
        "for module in pkgutil.walk_packages(bends.__path__, 'bends.'):\n"
        "    importlib.import_module(module.name)\n"
        "print('imported')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == "imported", run.stderr
