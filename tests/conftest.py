import csv
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalelaw import load_runs, schedules
from scalelaw.laws import get_law

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared" / "data"


def published_text() -> str:
    """The README and the docs' pages, whitespace collapsed: where a quoted figure must appear."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return " ".join(" ".join(p.read_text().split()) for p in pages)


def published_block(marks: tuple[str, str]) -> str:
    """The block between ``marks`` in the one page (README or docs) that holds it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from measure import page_with, readme_block

    return readme_block(page_with(marks).read_text(), marks)


def assert_drawn(drawn, y) -> None:
    """``result.plot()``'s axes (one, or an array) drew lines or points at the data's scale: the
    y values plotted reach into the range of ``y``, the data fitted."""
    axes = drawn.figure.axes if hasattr(drawn, "figure") else np.ravel(drawn)[0].figure.axes
    plotted = [np.asarray(line.get_ydata(), float) for ax in axes for line in ax.lines]
    plotted += [np.asarray(c.get_offsets(), float)[:, 1] for ax in axes for c in ax.collections
                if len(c.get_offsets())]
    values = np.concatenate([v.ravel() for v in plotted]) if plotted else np.array([])
    values = values[np.isfinite(values)]
    y = np.asarray(y, float)
    assert values.size, "the plot drew nothing"
    assert np.any((values >= y.min()) & (values <= y.max())), "nothing was drawn within the data's range"


@pytest.fixture(autouse=True)
def _close_figures():
    """Every figure a test opened is closed after it (pyplot keeps them otherwise)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture
def shared_data() -> Path:
    """The team's public data folder beside the checkout; tests using it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


# -- step laws: synthetic curves under known schedules, and the real curves of Luo et al. --
PEAK = 3e-4
SCHEDULES = {
    "constant": f"constant:peak={PEAK},total=8000,warmup=300",
    "cosine": f"cosine:peak={PEAK},total=8000,warmup=300,final=3e-5",
    "step": f"multistep:peak={PEAK},total=8000,warmup=300,milestones=4000,gamma=0.3",
    "wsd": f"wsd:peak={PEAK},total=8000,warmup=300,decay=0.25,final=1e-5",
}


def step_curves(law_name, params, names, noise=5e-4, every=50, seed=0, **extra):
    """Curves of ``law`` under the named schedules, logged every ``every`` steps with lr."""
    law, rng, frames = get_law(law_name), np.random.default_rng(seed), []
    for name in names:
        lr = schedules.parse(SCHEDULES[name])
        steps = np.arange(400, len(lr), every)
        inputs = law.features(lr, steps, dict(law.options))
        inputs.update({k: np.full(len(steps), v) for k, v in extra.items()})
        y = law(inputs, **params) * np.exp(rng.normal(0, noise, len(steps)))
        frames.append(pd.DataFrame({"run": name, "step": steps, "lr": lr[steps], "y": y,
                                    **{k: v for k, v in extra.items()}}))
    return pd.concat(frames, ignore_index=True)


def real_curves(size):
    """The multi-power law paper's curves at one model size (25 or 100M), by name."""
    return {p.stem: load_runs(p, roles=("step", "y", "lr"))
            for p in sorted((DATA / "multipower_law" / f"csv_{size}").glob("*.csv"))}


TRAIN = ("constant_24000", "cosine_24000")  # the runs the step laws are fitted on in the papers


def assert_jacobian(law, X, params, rtol=1e-4, atol=1e-8, h=1e-6):
    """``law.jacobian`` at ``X`` against central finite differences, parameter by parameter
    (steps of ``h`` times the parameter, or ``h`` for parameters below 1 in size)."""
    J = law.jacobian(X, **params)
    for i, p in enumerate(law.param_names):
        step = h * max(1.0, abs(params[p]))
        up, down = dict(params, **{p: params[p] + step}), dict(params, **{p: params[p] - step})
        np.testing.assert_allclose(J[:, i], (law(X, **up) - law(X, **down)) / (2 * step), rtol=rtol, atol=atol,
                                   err_msg=p)


# -- the training tests' shared helpers (no torch here) ----------------------------------------
TINY = dict(steps=12, batch_size=8, context=16, width=16, eval_every=5, eval_batches=2, checkpoint_every=4,
            vocab=16, order=2, schedule="cosine:peak=1e-2,warmup=2")  # a TrainConfig's options for a tiny run


def read_log(path):
    """A trainer's log.csv as a list of dicts (strings as written)."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def cli_command(*args):
    """``scalelaw ARGS`` as a subprocess command line, with this interpreter."""
    return [sys.executable, "-m", "scalelaw", *args]
