"""A new law of an existing kind needs its own module and nothing else: two throwaway laws,
declared and registered here (as a law module would), go through fit, save, load, predict with
intervals, plot and the command line without any other file knowing them."""
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import FitResult, schedules
from scalelaw.cli import main
from scalelaw.laws import Law, Param, register
from scalelaw.laws.annealing import areas
from scalelaw.laws.base import _REGISTRY
from conftest import assert_drawn

matplotlib.use("Agg")


def exponential(inputs, L_inf, A, x0):
    """A saturating size law (no one proposes it; it is only new): L = L_inf + A exp(-x / x0)."""
    return L_inf + A * np.exp(-np.asarray(inputs["x"], dtype=float) / x0)


def exponential_starts(inputs, y):
    x = np.asarray(inputs["x"], dtype=float)
    for frac in (0.5, 0.9):
        yield {"L_inf": frac * y.min(), "A": y.max() - frac * y.min(), "x0": float(np.median(x))}


def no_decay(inputs, L0, A, alpha):
    """The annealing law without its decay term: L = L0 + A S1^-alpha (a schedule law)."""
    return L0 + A * np.asarray(inputs["S1"], dtype=float) ** -alpha


def no_decay_starts(inputs, y):
    for alpha in (0.3, 0.6):
        yield {"L0": 0.8 * y.min(), "A": y.max() - 0.8 * y.min(), "alpha": alpha}


SIZE_LAW = Law(name="throwaway_size", formula="L = L_inf + A exp(-x/x0)", inputs=("x",),
               params=(Param("L_inf", 0.0, np.inf), Param("A", 1e-6, 1e3), Param("x0", 1e-3, 1e6, log=True)),
               func=exponential, starts=exponential_starts)
SCHEDULE_LAW = Law(name="throwaway_schedule", formula="L = L0 + A S1^-alpha", inputs=("S1", "S2"), kind="schedule",
                   params=(Param("L0", 0.0, np.inf), Param("A", 1e-6, 1e3), Param("alpha", 1e-3, 3.0)),
                   func=no_decay, starts=no_decay_starts, features=areas, options={"warmup": "peak", "decay": 0.999},
                   plot="steps")


@pytest.fixture
def registered():
    """The two laws registered for one test, as importing their modules would, then removed."""
    for law in (SIZE_LAW, SCHEDULE_LAW):
        register(law)
    yield
    for law in (SIZE_LAW, SCHEDULE_LAW):
        _REGISTRY.pop(law.name)


def test_a_new_size_law_fits_saves_loads_predicts_plots_and_runs_in_the_cli(registered, tmp_path, capsys):
    x = np.linspace(1.0, 40.0, 25)
    truth = {"L_inf": 2.0, "A": 1.5, "x0": 9.0}
    y = exponential({"x": x}, **truth) * np.exp(np.random.default_rng(0).normal(0, 0.002, len(x)))
    result = scalelaw.fit("throwaway_size", pd.DataFrame({"x": x, "y": y}))
    assert result.converged and result.status == "converged"
    for name, value in truth.items():
        assert result.params[name] == pytest.approx(value, rel=0.05)
    loaded = FitResult.from_json(result.to_json(tmp_path / "fit.json") and tmp_path / "fit.json")
    at = np.array([5.0, 60.0])
    np.testing.assert_allclose(loaded.predict(at), result.predict(at))
    lo, hi = loaded.predict_interval(at)
    assert np.all(lo < loaded.predict(at)) and np.all(loaded.predict(at) < hi)
    assert loaded.extrapolated({"x": at}).tolist() == [False, True]
    assert_drawn(result.plot(), y)
    csv = tmp_path / "sizes.csv"
    pd.DataFrame({"params": x, "loss": y}).to_csv(csv, index=False)
    saved = tmp_path / "cli.json"
    assert main(["fit", str(csv), "--law", "throwaway_size", "--save", str(saved), "--plot",
                 str(tmp_path / "fit.png")]) == 0
    assert (tmp_path / "fit.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["predict", str(saved), "--x", "5,60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["law"] == "throwaway_size" and out["extrapolated"] == [False, True]
    np.testing.assert_allclose(out["loss"], result.predict(at), rtol=1e-6)


def test_a_new_schedule_law_forecasts_through_the_same_paths(registered, tmp_path, capsys):
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.5}
    frames = []
    for name, spec in (("constant", "constant:peak=1e-3,total=2000,warmup=50"),
                       ("cosine", "cosine:peak=1e-3,total=2000,warmup=50")):
        lr = schedules.parse(spec)
        steps = np.arange(20, 2001, 20)
        law_inputs = areas(lr, steps, SCHEDULE_LAW.options)
        frames.append(pd.DataFrame({"run": name, "step": steps, "lr": lr[steps],
                                    "y": no_decay(law_inputs, **truth)}))
    data = pd.concat(frames, ignore_index=True)
    result = scalelaw.fit("throwaway_schedule", data)
    assert result.converged and result.forecast is not None
    for name, value in truth.items():
        assert result.params[name] == pytest.approx(value, rel=0.02)
    loaded = FitResult.from_json(result.to_json())
    spec = "wsd:peak=1e-3,total=3000,warmup=50,decay=0.2"
    assert loaded.final_loss(spec) == pytest.approx(result.final_loss(spec))
    lo, hi = loaded.predict_interval([3000], spec)
    assert lo[0] < loaded.final_loss(spec) < hi[0]
    assert_drawn(result.plot(), data["y"])
    for name, g in data.groupby("run"):
        g.drop(columns="run").rename(columns={"y": "loss"}).to_csv(tmp_path / f"{name}.csv", index=False)
    saved = tmp_path / "cli.json"
    assert main(["fit", str(tmp_path / "constant.csv"), str(tmp_path / "cosine.csv"), "--law",
                 "throwaway_schedule", "--save", str(saved)]) == 0
    capsys.readouterr()
    assert main(["predict", str(saved), "--schedule", spec, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["law"] == "throwaway_schedule"
    assert out["final_loss"] == pytest.approx(result.final_loss(spec), rel=1e-4)
