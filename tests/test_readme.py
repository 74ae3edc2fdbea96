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


PLACEHOLDERS = ("...", "FILE", "FIT.json", "DIR", "SPEC", "OUT.png", "COL", "OTHER.csv", "TRAIN")


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
    """Issue 28: every concrete command the README and the docs show exits 0, in order (a fit
    saved by one is read by the next), from a folder with the repository's data, and does what
    it says: prints something, ``--json`` prints JSON whose intervals hold their forecasts,
    ``--save`` writes a fit that loads, ``--plot`` writes an image."""
    import glob
    import json
    import subprocess
    import sys

    from scalelaw import FitResult

    commands = readme_commands()
    assert len(commands) >= 8, commands
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    for words in commands:
        argv = [match for w in words for match in (sorted(glob.glob(w)) if "*" in w else [w])]
        done = subprocess.run([sys.executable, "-m", "scalelaw", *argv], capture_output=True, text=True)
        said = f"scalelaw {' '.join(words)}"
        assert done.returncode == 0, f"{said}: exit {done.returncode}: {done.stderr[-500:]}"
        assert done.stdout.strip() and "Traceback" not in done.stderr, said
        if "--json" in words:
            for line in done.stdout.strip().splitlines():
                check_intervals(json.loads(line), said)
        for flag, check in (("--save", lambda p: FitResult.from_json(p)), ("--plot", lambda p: p.stat().st_size > 1000)):
            if flag in words:
                path = tmp_path / words[words.index(flag) + 1]
                assert path.exists() and check(path), f"{said}: {path.name}"


def check_intervals(out, said: str) -> None:
    """Where a JSON object gives a value with ``lo`` and ``hi`` (or ``_lower``/``_upper``), each
    interval holds its value."""
    import math

    if isinstance(out, list):
        for item in out:
            check_intervals(item, said)
        return
    if not isinstance(out, dict):
        return
    value = next((k for k in ("accuracy", "final", "loss") if k in out), None)  # what lo and hi bound
    for key, lo_key, hi_key in ((value, "lo", "hi"), ("loss", "loss_lo", "loss_hi")):
        if key in out and lo_key in out and hi_key in out:
            values, los, his = (v if isinstance(v, list) else [v] for v in (out[key], out[lo_key], out[hi_key]))
            for v, lo, hi in zip(values, los, his):
                assert math.isfinite(v) and lo <= v <= hi, f"{said}: {key} {v} outside [{lo}, {hi}]"
    for key, v in out.items():
        if isinstance(v, (dict, list)):
            check_intervals(v, said)
