"""The README's and the docs' examples run as written, in order: the Python of the README and
the Python page, and every concrete command of the README and the docs' pages."""
import re

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_readme_python_example(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    page = (ROOT / "docs" / "python.md").read_text()
    for example in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        assert example in page  # the README's example is the Python page's first, run below
    block = "\n".join(re.findall(r"```python\n(.*?)```", page, re.S))
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "docs/python.md", "exec"), namespace)
    assert namespace["result"].converged
    assert (tmp_path / "fit.json").exists()
    assert 0 < namespace["opt"].beta < 1.5


PLACEHOLDERS = ("...", "FILE", "FIT.json", "DIR", "SPEC", "OUT.png", "COL", "OTHER.csv", "TRAIN", "[")


def readme_commands() -> list[list[str]]:
    """The ``scalelaw`` commands of the bash blocks of the README and the docs' pages that name
    real files (not the synopsis with its placeholders, and not train or sweep, which the
    trainer's tests run)."""
    import shlex

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(p.read_text() for p in pages)
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if not words or words[0] not in (".venv/bin/scalelaw", "scalelaw"):
                    continue
                if words[1] in ("train", "sweep") or any(p in w for w in words for p in PLACEHOLDERS):
                    continue
                commands.append(words[1:])
    return commands


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path, monkeypatch):
    """Issue 28: every concrete command the README shows exits 0, in order (a fit saved by one
    is read by the next), from a folder with the repository's data."""
    import glob
    import subprocess
    import sys

    commands = readme_commands()
    assert len(commands) >= 8, commands
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    for words in commands:
        argv = [match for w in words for match in (sorted(glob.glob(w)) if "*" in w else [w])]
        done = subprocess.run([sys.executable, "-m", "scalelaw", *argv], capture_output=True, text=True)
        assert done.returncode == 0, f"scalelaw {' '.join(words)}: exit {done.returncode}: {done.stderr[-500:]}"
