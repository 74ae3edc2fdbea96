"""Real per-step logs (issue 23): the initial transient found from the data and left out of the
fit, "not a result" judged on the fitted rows against the noise, and the fit's speed-ups
(trust-region least squares, binned starts, warm-started held-out refits) keeping the optimum."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import engine, optimise, transient
from scalelaw.cli import main
from scalelaw.laws import design, get_law
from scalelaw.synthetic import per_step_log

from conftest import DATA, assert_jacobian

TRAINER = Path(__file__).resolve().parent / "data" / "no_warmup"
COSINE = "cosine:peak=6e-4,total=33908,final=6e-5"


@pytest.fixture(scope="module")
def per_step(tmp_path_factory):
    """The issue's log: 33,908 steps from step 0, no warmup, loss 10.4 -> 2.5, 1.5 % noise."""
    path = tmp_path_factory.mktemp("logs") / "run.csv"
    log = per_step_log(COSINE, seed=1)
    log.drop(columns=["run", "true_loss"]).to_csv(path, index=False)
    return path, log


def rolling_mape(result, log, window=101):
    """MAPE (percent) of the fit on its fitted steps against a centred rolling mean of the loss."""
    smooth = log["loss"].rolling(window, center=True).mean()
    keep = (log["step"] >= result.options["fitted_from_step"]) & smooth.notna()
    pred = result.predict(log["step"][keep].to_numpy(), (log["step"].to_numpy(), log["lr"].to_numpy()))
    return float(100 * np.mean(np.abs(pred - smooth[keep]) / smooth[keep]))


@pytest.mark.parametrize("law", ["annealing", "auto"])
def test_a_per_step_log_from_step_0_fits_without_flags(per_step, capsys, law):
    path, log = per_step
    assert main(["fit", str(path), "--law", law, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["converged"] and out["status"] != "not_a_result"  # (multipower may be singular: a
    start = out["fitted_from_step"]                               # decay term it cannot split)
    assert 256 <= start <= 4096 and "initial transient" in out["fitted_from_why"]
    result = scalelaw.FitResult.from_json(json.dumps(out))
    assert rolling_mape(result, log) <= 0.3
    # the report says it too
    assert main(["fit", str(path), "--law", law]) == 0
    assert f"from     step {start} on: initial transient" in capsys.readouterr().out


def test_the_rows_before_the_transient_ends_are_kept_and_marked_not_fitted(per_step):
    path, log = per_step
    data = scalelaw.load_runs(path, roles=("step", "y", "lr"))
    result = scalelaw.fit("annealing", data)
    start = result.options["fitted_from_step"]
    assert result.metrics["n"] == int((log["step"] >= start).sum())
    before = result.data[~result.data["fitted"]]
    assert len(before) == start - 1 and before["step"].max() == start - 1  # step 0 is set aside as before
    assert result.metrics["r2"] > 0.5 and abs(result.metrics["noise"] - 1.5) < 0.1  # the noise is 1.5 %
    ax = result.plot()
    labels = ax[0].get_legend_handles_labels()[1]
    assert any(label.startswith("not fitted") for label in labels)


def test_step_min_overrides_the_rule_and_keeps_the_lr_before_it(per_step):
    path, _ = per_step
    data = scalelaw.load_runs(path, roles=("step", "y", "lr"))
    result = scalelaw.fit("annealing", data, step_min=3000)
    assert result.options["fitted_from_step"] == 3000 and "given" in result.options["fitted_from_why"]
    assert result.domain["step"][0] == 3000
    # the LR area at step 3000 counts the 2999 steps before it at 6e-4 (not a rebuilt warmup)
    assert result.domain["S1"][0] == pytest.approx(scalelaw.schedules.parse(COSINE)[1:3001].sum(), rel=1e-6)
    whole = scalelaw.fit("annealing", data, step_min=None)  # the transient is no law's: it bends the fit
    assert whole.metrics["rms_error"] > 2 * whole.metrics["noise"]
    assert result.metrics["rms_error"] < 1.1 * result.metrics["noise"]
    assert abs(whole.params["alpha"] - 0.4) > 3 * abs(result.params["alpha"] - 0.4)


def test_an_lr_logged_every_10_steps_fits(tmp_path, capsys):
    path = tmp_path / "lr10.csv"
    per_step_log(COSINE, seed=3, lr_every=10).drop(columns=["run", "true_loss"]).to_csv(path, index=False)
    assert main(["fit", str(path), "--law", "annealing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "converged" and out["fitted_from_step"] >= 256


def test_two_per_step_logs_fit_together(tmp_path, capsys):
    paths = []
    for seed, spec in enumerate([COSINE, "constant:peak=6e-4,total=33908"]):
        paths.append(tmp_path / f"r{seed}.csv")
        per_step_log(spec, seed=seed).drop(columns=["run", "true_loss"]).to_csv(paths[-1], index=False)
    assert main(["fit", *map(str, paths), "--law", "annealing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "converged" and out["metrics"]["mape"] < 1.5
    truth = scalelaw.synthetic.ANNEALING_100M
    for name in ("L0", "A", "alpha"):
        assert out["params"][name] == pytest.approx(truth[name], rel=0.1), name


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_the_trainers_own_log_without_warmup_fits(schedule, capsys):
    log = TRAINER / schedule / "log.csv"
    assert main(["fit", str(log), "--law", "annealing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] in ("converged", "at_bound")
    # the loss sits near 4.85 for about 100 steps and falls fast until about 500: not the law's
    assert 64 <= out["fitted_from_step"] <= 512
    assert out["metrics"]["rms_error"] < 2 * out["metrics"]["noise"]


def test_the_trainers_runs_fit_together_with_auto(capsys):
    logs = [str(TRAINER / s / "log.csv") for s in ("cosine", "constant")]
    assert main(["fit", *logs, "--law", "auto", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["auto"]["chosen"] and out["fitted_from_step"] >= 64


@pytest.mark.parametrize("tau, noise, schedule", [
    (50, 0.005, "cosine:peak=6e-4,total=20000,final=6e-5"),
    (150, 0.015, "cosine:peak=6e-4,total=20000,warmup=500,final=6e-5"),
    (150, 0.03, "constant:peak=1e-3,total=10000,warmup=200"),
])
def test_the_start_falls_where_little_of_the_transient_is_left(tau, noise, schedule):
    law = get_law("annealing")
    log = per_step_log(schedule, tau=tau, noise=noise, seed=7).rename(columns={"loss": "y"})
    start, why = transient.find_start(law, design.of(law).table(log), law.options)
    true_law = law(design.of(law).predict_inputs(np.arange(1, len(log)), schedule, law.options), **scalelaw.synthetic.ANNEALING_100M)
    left = (log["true_loss"].to_numpy()[1:] - np.minimum(true_law, 10.4)) / log["true_loss"].to_numpy()[1:]
    assert start is not None and "initial transient" in why
    assert left[start - 1] < 0.015  # less than 1.5 % of the loss is still transient where the fit starts
    assert start <= 8 * tau  # and it does not wait long after (the transient has decayed by e^-8)


def test_curves_logged_after_warmup_are_not_cut():
    """All 18 curves of Luo et al. (logged every 128 steps from the end of warmup), alone and as
    the MPL protocol's training set: no transient, every point fitted."""
    law = get_law("annealing")
    frames = []
    for size in ("25", "100"):
        for path in sorted((DATA / "multipower_law" / f"csv_{size}").glob("*.csv")):
            data = scalelaw.load_runs(path, roles=("step", "y", "lr"))
            assert transient.find_start(law, design.of(law).table(data), law.options)[0] is None, path.name
            if path.stem in ("constant_24000", "cosine_24000", "wsdcon_9"):
                frames.append(data.assign(run=f"{size}/{path.stem}"))
    for size in ("25", "100"):
        train = pd.concat([f for f in frames if f["run"].iloc[0].startswith(size + "/")], ignore_index=True)
        result = scalelaw.fit("annealing", train)
        assert result.options["fitted_from_step"] is None and bool(result.data["fitted"].all())
        assert "no initial transient" in result.options["fitted_from_why"]


def test_the_power_law_over_steps_leaves_the_transient_out_too(tmp_path, capsys):
    path = tmp_path / "nolr.csv"
    per_step_log("constant:peak=6e-4,total=33908", seed=4).drop(columns=["run", "true_loss", "lr"]).to_csv(path, index=False)
    assert main(["fit", str(path), "--json"]) == 0  # the default law: power over the step column
    out = json.loads(capsys.readouterr().out)
    assert out["law"] == "power" and out["status"] == "converged" and out["fitted_from_step"] >= 256
    # a power law over sizes is no curve over steps: nothing is cut
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("params,loss\n1e6,3.0\n1e7,2.6\n1e8,2.3\n1e9,2.1\n1e10,2.0\n")
    assert main(["fit", str(sizes), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fitted_from_step"] is None


def test_a_curve_at_the_noise_level_is_never_refused_but_garbage_still_is():
    rng = np.random.default_rng(0)
    steps = np.arange(1, 3001)
    # flat within its noise: R2 near 0 (it may be negative), error at the noise level: a result
    flat = pd.DataFrame({"x": steps, "y": 3.0 * np.exp(rng.normal(0, 0.01, len(steps)))})
    result = scalelaw.fit("power", flat)
    assert result.status != "not_a_result"
    # a loss that rises along the steps is still refused
    rising = pd.DataFrame({"x": steps, "y": 3.0 + 1e-4 * steps})
    assert scalelaw.fit("power", rising).status == "not_a_result"


def test_power_law_jacobian():
    law = get_law("power")
    assert_jacobian(law, {"x": np.geomspace(1e6, 1e10, 7)}, {"L_inf": 1.7, "x0": 3e8, "alpha": 0.3})


def test_a_warm_start_reaches_the_same_optimum_as_the_grid(per_step):
    path, _ = per_step
    data = scalelaw.load_runs(path, roles=("step", "y", "lr"))
    cold = scalelaw.fit("annealing", data)
    warm = engine.fit("annealing", data, start={**cold.params, "alpha": cold.params["alpha"] * 1.3},
                      step_min=cold.options["fitted_from_step"])
    assert warm.metrics["starts"] == 1
    for name, value in cold.params.items():
        assert warm.params[name] == pytest.approx(value, rel=1e-3), name


def test_trust_region_and_lbfgsb_reach_the_same_optimum():
    """The two optimisers minimise one objective: on the MPL protocol's runs they agree."""
    frames = [scalelaw.load_runs(DATA / "multipower_law" / "csv_100" / f"{n}.csv", roles=("step", "y", "lr"))
              .assign(run=n) for n in ("constant_24000", "cosine_24000", "wsdcon_9")]
    data = pd.concat(frames, ignore_index=True)
    law = get_law("annealing")
    X, y, _, _ = design.of(law).fit_inputs(design.of(law).table(data))
    bounds = law.theta_bounds()
    start = law.to_theta(next(iter(law.starts(X, y))))
    trf = optimise.trf(law, X, y, start, bounds, "huber", 1e-3, 2000)
    lbfgsb = optimise.lbfgsb(law, X, y, start, bounds, "huber", 1e-3, 2000)
    assert trf.fun == pytest.approx(optimise.objective(lbfgsb.x, law, X, y, "huber", 1e-3), rel=1e-6)
    np.testing.assert_allclose(trf.x, lbfgsb.x, rtol=1e-3)


def test_predict_log_scores_a_per_step_log_from_where_the_fit_starts(per_step, tmp_path, capsys):
    path, log = per_step
    saved = tmp_path / "fit.json"
    assert main(["fit", str(path), "--law", "annealing", "--save", str(saved), "--json"]) == 0
    start = json.loads(capsys.readouterr().out)["fitted_from_step"]
    assert main(["predict", str(saved), "--log", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scored_from_step"] == start and len(out["step"]) == len(log) - 1  # every step predicted
    assert out["mape"] < 1.5  # the per-step noise (1.5 % sd: 1.2 % mean absolute), not the transient
