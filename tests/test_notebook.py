"""docs/example.ipynb runs top to bottom in a fresh kernel, and its results show as pictures.

The notebook is stored without outputs; here it runs in a temporary directory with the same
bends the tests import (its source folder first on the kernel's PYTHONPATH)."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import bends

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "example.ipynb"


def _tagged(notebook, tag: str):
    (cell,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell


def test_the_example_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_example_notebook_runs_and_shows_pictures(tmp_path, monkeypatch):
    source = str(Path(bends.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [source,
                       os.environ.get("PYTHONPATH")])))  # fmt: skip
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()  # raises CellExecutionError at the first cell that fails
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert not errors, f"{cell.source}\n{errors}"
    for tag, result in [("trace", "Trace("), ("partition", "Partition("), ("traces", "Traces(")]:
        outputs = _tagged(notebook, tag).outputs
        shown = [o for o in outputs if o.output_type == "execute_result"]
        assert shown and "image/png" in shown[0].data, tag
        assert shown[0].data["text/plain"].startswith(result)
