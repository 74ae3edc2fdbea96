"""Every notebook in notebooks/ has one source (its percent-format script), agrees with it, and
runs top to bottom without error (rebuild them with: python notebooks/build.py)."""
from pathlib import Path

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_agrees_with_its_source(path: Path):
    jupytext = pytest.importorskip("jupytext")
    source = path.with_suffix(".py")
    assert source.exists(), f"{path.name} has no percent-format source {source.name}"
    assert cells(jupytext.read(source)) == cells(jupytext.read(path)), \
        f"{path.name} differs from {source.name}: run python notebooks/build.py {path.name[:2]}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def test_there_is_a_notebook():
    assert any(p.name == "01_power_law.ipynb" for p in NOTEBOOKS)
