"""Every notebook in notebooks/ runs top to bottom on the current backend, quickly.

Each notebook's editable source is its paired jupytext percent script (``notebooks/NAME.py``);
the committed ``.ipynb`` must hold the same cells (``jupytext --sync notebooks/NAME.py``).
"""

from __future__ import annotations

import os
import pathlib
import time

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))

# Cells run after a notebook's own, for what it leaves running: the demo trains in a
# background task after showing its widget; wait for it and check the widget followed.
FINAL_CHECKS = {
    "demo.ipynb": """acc = await training
assert acc >= 0.85, f"test accuracy {acc:.3f} after {EPOCHS} epochs (chance: 0.10)"
assert progress.value == EPOCHS
assert w.data_version == 1 + EPOCHS, w.data_version  # set_input after every epoch
assert np.array_equal(w.fm["conv1"], fmwidget.extract(model, x)["conv1"])  # trained maps
print(f"demo: trained to {acc:.3f}")""",
}


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_matches_its_source(path):
    source = path.with_suffix(".py")
    assert source.exists(), f"{path.name} has no paired source {source.name}"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent", (
        f"{path.name} is not paired with its .py (jupytext --set-formats ipynb,py:percent)"
    )
    expected = _cells(jupytext.read(source))
    assert _cells(nb) == expected, (
        f"{path.name} differs from {source.name}: run `jupytext --sync {source}`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    if path.name in FINAL_CHECKS:
        nb.cells.append(nbformat.v4.new_code_cell(FINAL_CHECKS[path.name]))
    env_backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute(env={**os.environ, "KERAS_BACKEND": env_backend})
    elapsed = time.perf_counter() - start
    assert elapsed < 120, f"{path.name} took {elapsed:.0f} s (limit 2 minutes)"
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    widgets = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert widgets, f"{path.name} displays no widget"
