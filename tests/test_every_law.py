"""Every registered law through every path: fit, save, load, predict, plot, and the CLI (fit
--plot, predict --json, and compare for step laws), on small synthetic data from the law itself.
A new law adds its case to CASES; a law without one fails here."""
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import FitResult, available_laws, get_law, schedules
from scalelaw.cli import main
from conftest import assert_drawn

matplotlib.use("Agg")

SPECS = {"constant": "constant:peak=1e-3,total=3000,warmup=100",
         "cosine": "cosine:peak=1e-3,total=3000,warmup=100,final=1e-4",
         "wsd": "wsd:peak=1e-3,total=3000,warmup=100,decay=0.3,final=1e-4"}


def sizes(law, true, **grid):
    """A frame over a grid of sizes with the law's loss: ``grid`` maps each input role to values."""
    mesh = np.meshgrid(*grid.values())
    frame = pd.DataFrame({role: m.ravel() for role, m in zip(grid, mesh)})
    frame["loss"] = law.bind(law.options)({r: frame[r].to_numpy() for r in law.inputs}, **true)
    return frame


def curves(law, params, sizes_=(None,)):
    """Runs under constant, cosine and WSD schedules (for each model size, when the law has one)."""
    rows = []
    for n in sizes_:
        for name, spec in SPECS.items():
            lr, steps = schedules.parse(spec), np.arange(150, 3001, 50)
            X = law.features(lr, steps, law.options)
            run = pd.DataFrame({"run": name if n is None else f"{name}_{n:g}", "step": steps, "lr": lr[steps]})
            if n is not None:
                X["N"] = np.full(len(steps), n)
                run["N"] = n
            run["loss"] = law(X, **params)
            rows.append(run)
    return pd.concat(rows, ignore_index=True)


def batch_curves(law, params, sizes_=(None,)):
    """Runs at four batch sizes (tokens per step), for each model size when the law has one."""
    rows = []
    for n in sizes_:
        for b in (2e4, 8e4, 3e5, 1.2e6):
            run = pd.DataFrame({"run": f"b{b:g}" + ("" if n is None else f"_{n:g}"),
                                "step": np.unique(np.geomspace(100, 20000, 40).round()), "B": b})
            if n is not None:
                run["N"] = n
            run["loss"] = law.bind(law.options)({r: run[r].to_numpy(float) for r in law.inputs}, **params)
            rows.append(run)
    return pd.concat(rows, ignore_index=True)


BATCH = {"S_c": 2.1e3, "alpha_S": 0.76, "B_star": 2.1e8, "alpha_B": 0.21}
OPTIONS = {"downstream": {"chance": 0.25}}  # options a law needs from its user (the CLI's flags)

CASES = {
    "power": lambda law: sizes(law, {"L_inf": 2.0, "x0": 1e5, "alpha": 0.3}, x=np.geomspace(1e6, 1e10, 9)),
    "chinchilla": lambda law: sizes(law, {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37},
                                    N=np.geomspace(1e7, 1e9, 5), D=np.geomspace(1e9, 1e11, 5)),
    "encdec": lambda law: sizes(law, {"a": 0.9, "pe": 0.25, "pd": 0.40, "L_inf": 1.6, "ref_ne": 1e8, "ref_nd": 1e8},
                                Ne=np.geomspace(1e7, 1e9, 4), Nd=np.geomspace(1e7, 1e9, 4)),
    "annealing": lambda law: curves(law, {"L0": 3.0, "A": 0.5, "alpha": 0.5, "C": 0.4}),
    "multipower": lambda law: curves(law, {"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 300.0, "C": 2.0,
                                           "beta": 0.6, "gamma": 0.5}),
    "annealing_size": lambda law: curves(law, {"L0": 2.0, "B": 50.0, "beta": 0.3, "A": 0.5, "alpha": 0.5, "C": 0.4},
                                         sizes_=(1e7, 3e7, 1e8)),
    "batch": lambda law: batch_curves(law, {"L_N": 2.8, **BATCH}),
    "batch_kaplan": lambda law: batch_curves(law, {"N_c": 8.8e13, "alpha_N": 0.076, **BATCH}, sizes_=(1e7, 1e9)),
    "batch_sizes": lambda law: batch_curves(law, {"L_inf": 1.0, "N_c": 1e9, "alpha_N": 0.3, **BATCH},
                                            sizes_=(1e6, 1e7, 1e8)),
    "downstream": lambda law: sizes(law.bind(OPTIONS["downstream"]), {"a": 0.7, "k": 4.0, "L0": 2.9},
                                    x=np.linspace(2.3, 3.6, 12)),
    "downstream_exp": lambda law: sizes(law, {"eps": 1.2, "k": 4.0, "gamma": 0.6}, x=np.linspace(2.3, 3.6, 12)),
}
PREDICT = {"power": ["--x", "1e7,1e9"], "chinchilla": ["--n", "1e8", "--d", "1e10"], "encdec": ["--ne", "1e8", "--nd", "2e8"],
           "batch": ["--batch", "1e5", "--at", "1000,5000"],
           "batch_kaplan": ["--batch", "1e5", "--n", "1e8", "--at", "1000,5000"],
           "batch_sizes": ["--batch", "1e5", "--n", "3e7", "--at", "1000,5000"],
           "downstream": ["--x", "2.5,3.0"], "downstream_exp": ["--x", "2.5,3.0"]}
FIT_FLAGS = {"downstream": ["--x", "x", "--chance", "0.25"], "downstream_exp": ["--x", "x"]}


def test_every_registered_law_has_a_case():
    from scalelaw.plot import PLOTS

    assert set(available_laws()) == set(CASES)
    for name in available_laws():  # what the CLI and the plot read from the law's declaration
        law = get_law(name)
        assert (callable(law.plot) or law.plot in PLOTS) and set(law.flags) <= set(law.options), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_law_through_every_path(name, tmp_path, capsys):
    law = get_law(name)
    data = CASES[name](law)
    path = tmp_path / "data.csv"
    names = {role: column.names[0] for role, column in law.columns.items()}  # names the CLI recognises
    data.rename(columns=names).to_csv(path, index=False)
    frame = data.rename(columns={"loss": "y"})

    result = scalelaw.fit(law, frame, options=OPTIONS.get(name))
    assert result.status in ("converged", "at_bound")
    saved = tmp_path / "fit.json"
    result.to_json(saved)
    loaded = FitResult.from_json(saved)
    if law.step_law:
        run = frame[frame["run"] == frame["run"].iloc[-1]]
        log = (run["step"].to_numpy(), run["lr"].to_numpy())
        pred = loaded.predict(run["step"].to_numpy(), log, **law.run_inputs(run))
        lo, hi = loaded.predict_interval(run["step"].to_numpy(), log, **law.run_inputs(run))
        # the saved fit gives the fitted one's interval, and it holds its own prediction
        np.testing.assert_allclose(np.c_[lo, hi], np.c_[result.predict_interval(run["step"].to_numpy(), log,
                                                                                 **law.run_inputs(run))], rtol=1e-9)
        assert np.all(np.isfinite(hi)) and np.all(lo <= pred) and np.all(pred <= hi) and np.any(lo < hi)
        truth = run["y"].to_numpy()
    else:
        pred, truth = loaded.predict(frame[list(law.inputs)]), frame["y"].to_numpy()
    assert np.max(np.abs(pred - truth) / truth) < 0.01
    assert_drawn(result.plot(), frame["y"])  # the axes of a figure that shows the data and the fit

    image = tmp_path / "fit.png"
    assert main(["fit", str(path), "--law", name, *FIT_FLAGS.get(name, []), "--save", str(saved),
                 "--plot", str(image)]) == 0, \
        capsys.readouterr().err
    assert image.stat().st_size > 0
    capsys.readouterr()
    if law.step_law:
        held = tmp_path / "held.csv"
        one = data[data["run"] == data["run"].iloc[-1]].drop(columns="run")
        one.to_csv(held, index=False)
        args = ["--log", str(held)] + (["--n", f"{one['N'].iloc[0]:g}"] if "N" in one else [])
        assert main(["predict", str(saved), *args, "--json"]) == 0, capsys.readouterr().err
        out = json.loads(capsys.readouterr().out)
        assert out["mape"] < 1.0 and len(out["lo"]) == len(one)
        train = tmp_path / "train.csv"
        data[data["run"] != data["run"].iloc[-1]].to_csv(train, index=False)
        assert main(["compare", str(train), "--held-out", str(held), "--laws", name, "--json"]) == 0, \
            capsys.readouterr().err
        assert json.loads(capsys.readouterr().out)["mean_mape"][name] < 1.0
    else:
        assert main(["predict", str(saved), *PREDICT[name], "--json"]) == 0, capsys.readouterr().err
        assert all(np.isfinite(json.loads(capsys.readouterr().out)[law.predicts]))
