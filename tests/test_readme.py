"""The README's Python examples run as written, in order."""
import re

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_readme_python_example(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    text = (ROOT / "README.md").read_text()
    block = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["result"].converged
    assert (tmp_path / "fit.json").exists()
    assert 0 < namespace["opt"].beta < 1.5
