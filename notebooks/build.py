"""Rebuild the notebooks from their sources and execute them.

Each notebook has one source, the percent-format script beside it (``01_power_law.py``: cells
are ``# %%`` blocks, markdown in ``# %% [markdown]`` comments), paired with the executed
``.ipynb`` by jupytext. Edit the script, then run:

    .venv/bin/python notebooks/build.py            # every notebook
    .venv/bin/python notebooks/build.py 02 04      # those whose names start so

tests/test_notebooks.py checks that each pair agrees and that each notebook runs.
"""
import sys
from pathlib import Path

import jupytext
import nbclient

HERE = Path(__file__).resolve().parent


def sources(prefixes=()) -> list[Path]:
    """The notebook sources (``NN_name.py``), those starting with one of ``prefixes`` if given."""
    found = sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))
    return [p for p in found if not prefixes or p.name.startswith(tuple(prefixes))]


def build(source: Path) -> Path:
    """Execute ``source`` top to bottom in the notebooks folder and write the paired .ipynb."""
    nb = jupytext.read(source)
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}}).execute()
    target = source.with_suffix(".ipynb")
    jupytext.write(nb, target)
    return target


if __name__ == "__main__":
    chosen = sources(sys.argv[1:])
    if not chosen:
        sys.exit(f"build.py: no notebook source matches {' '.join(sys.argv[1:])}")
    for path in chosen:
        print(f"{path.name} -> {build(path).name}", flush=True)
