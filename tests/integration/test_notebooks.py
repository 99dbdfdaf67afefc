"""The notebooks, executed top to bottom with nbclient on tiny worlds, as a reader would run them;
each asserts its own claims (the oracle ahead of the model, the model far above chance …)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_are_stored_without_outputs():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_"]
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert cells, path.name
        assert all(not c["outputs"] and c["execution_count"] is None for c in cells), f"{path.name} has outputs in git"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_top_to_bottom(path, built_features, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    world, _, _ = built_features
    monkeypatch.setenv("AD_NOTEBOOK_WORLD", str(world))  # notebook 2 trains on the shared featurised world
    monkeypatch.setenv("AD_NOTEBOOK_PROFILE", "smoke")  # the least effort that still trains: tests check behaviour
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "every notebook shows at least one plot"
