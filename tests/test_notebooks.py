"""Every notebook in notebooks/ runs top to bottom in a real kernel (nbclient + ipykernel).

Each runs in a temporary folder, so the reports and poll logs it writes land there. The
notebooks start the simulator themselves, so no cloud account is needed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_the_notebooks():
    """The quickstart, failure investigation, live monitoring, investigation, archive and
    findings notebooks exist."""
    assert [p.stem for p in NOTEBOOKS] == [
        "01-quickstart",
        "02-failure-investigation",
        "03-live-monitoring",
        "04-investigation",
        "05-archive",
        "06-findings",
    ]


def test_the_readme_says_the_notebooks_ship_without_outputs():
    """The README promises what the next test checks: no outputs in the committed notebooks."""
    readme = (NOTEBOOKS[0].parent.parent / "README.md").read_text(encoding="utf-8")
    assert "They ship without outputs" in readme
    assert "with output:" not in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path):
    """Committed notebooks carry no outputs or execution counts, so diffs stay readable."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_error(path: Path, tmp_path: Path):
    """Executing every cell raises nothing (nbclient fails on the first cell that errors)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    assert any((tmp_path / "reports").iterdir())
    # Everything a notebook writes is under reports/, which .gitignore covers in notebooks/.
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]
