"""The batch-size law (Kaplan et al. 2020; McCandlish et al. 2018): recovery of Kaplan's
published constants from synthetic curves, the implicit solve and its Jacobian, which law the
data choose, warmup, allocation at a target loss, the CLI, and the shipped batch sweep
(data/generated/batch) against the gradient noise scale its trainer measured."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import InputError, get_law
from scalelaw.cli import main
from scalelaw.laws.batch import KAPLAN, b_crit, reach, steps_and_tokens

from conftest import DATA, assert_jacobian, published_text

BATCHES = (3.3e4, 1.3e5, 5.2e5, 2.1e6, 8.4e6)  # tokens per step, around Kaplan's B_crit (~5e5 at L = 3.5)
STEP_TERMS = ("S_c", "alpha_S", "B_star", "alpha_B")


def kaplan_curves(sizes=(1e8,), batches=BATCHES, noise=0.002, seed=0, l_inf=0.0):
    """Loss curves from Kaplan's constants, 150 points per run from step 300 to 60k, noise 0.2 %."""
    law = get_law("batch_sizes")
    rng, rows = np.random.default_rng(seed), []
    for n in sizes:
        for b in batches:
            steps = np.unique(np.geomspace(300, 60_000, 150).round())
            inputs = {"step": steps, "B": np.full_like(steps, b), "N": np.full_like(steps, n)}
            y = law(inputs, L_inf=l_inf, **KAPLAN) * np.exp(rng.normal(0, noise, len(steps)))
            rows.append(pd.DataFrame({"run": f"b{b:g}-n{n:g}", "step": steps, "B": b, "N": n, "y": y}))
    return pd.concat(rows, ignore_index=True)


def test_one_size_recovers_kaplans_step_and_batch_constants():
    result = scalelaw.fit("batch", kaplan_curves().drop(columns="N"))
    assert result.law.name == "batch" and result.status == "converged"
    for name in STEP_TERMS:
        assert result.params[name] == pytest.approx(KAPLAN[name], rel=0.10), name
        lo, hi = result.ci[name]
        assert lo < KAPLAN[name] < hi or result.params[name] == pytest.approx(KAPLAN[name], rel=0.02), name
    assert result.params["L_N"] == pytest.approx((KAPLAN["N_c"] / 1e8) ** KAPLAN["alpha_N"], rel=0.01)


def test_held_out_batch_sizes_widen_the_interval_by_the_laws_misfit():
    exact = scalelaw.fit("batch", kaplan_curves(noise=0.0005).drop(columns="N"))
    assert exact.held_out["by"] == "B" and len(exact.held_out["mape"]) == len(BATCHES)
    assert exact.held_out["sigma"] < 0.001  # the law holds: only noise, averaged away along the curves
    few = scalelaw.fit("batch", kaplan_curves(batches=BATCHES[:3]).drop(columns="N"))
    assert few.held_out == {}  # three batch sizes: leaving one out would not identify the law


@pytest.mark.slow
def test_two_sizes_fit_kaplans_form_and_recover_every_constant():
    result = scalelaw.fit("batch", kaplan_curves(sizes=(1e7, 1e9)))
    assert result.law.name == "batch_kaplan" and result.converged
    assert set(result.params) == {"N_c", "alpha_N", *STEP_TERMS}
    for name in ("alpha_N", *STEP_TERMS):
        assert result.params[name] == pytest.approx(KAPLAN[name], rel=0.10), name


@pytest.mark.slow
def test_three_sizes_fit_henighans_constant_too():
    result = scalelaw.fit("batch", kaplan_curves(sizes=(1e6, 1e7, 1e8), l_inf=1.2, seed=3))
    assert result.law.name == "batch_sizes" and result.converged
    assert result.params["L_inf"] == pytest.approx(1.2, abs=0.3)
    for name in ("alpha_S", "alpha_B"):
        assert result.params[name] == pytest.approx(KAPLAN[name], rel=0.10), name


@pytest.mark.parametrize("name", ["batch", "batch_sizes", "batch_kaplan"])
def test_implicit_solution_and_exact_jacobian(name):
    law = get_law(name)
    params = {"L_N": 2.8, "L_inf": 1.0, **KAPLAN}
    params = {k: params[k] for k in law.param_names}
    steps = np.array([200.0, 1e3, 5e3, 3e4, 2e5])
    X = {"step": steps, "B": np.array([1e4, 1e5, 1e6, 1e7, 3e5]), "N": np.array([1e6, 1e7, 1e8, 1e9, 1e10])}
    X = {r: X[r] for r in law.inputs}
    L = law(X, **params)
    floor = params.get("L_N", 0) if "L_N" in params else params.get("L_inf", 0) + (params["N_c"] / X["N"]) ** params["alpha_N"]
    s_min = steps / (1 + b_crit(L, params["B_star"], params["alpha_B"]) / X["B"])
    np.testing.assert_allclose(L, floor + (params["S_c"] / s_min) ** params["alpha_S"], rtol=1e-12)
    assert_jacobian(law, X, params, rtol=1e-5, atol=1e-10)


def test_steps_and_tokens_lie_on_one_hyperbola():
    params = {"L_N": 2.8, **KAPLAN}
    r = reach(params, 3.3)
    curve = steps_and_tokens(params, 3.3, np.geomspace(1e3, 1e9, 30))
    np.testing.assert_allclose((curve["steps"] / r["S_min"] - 1) * (curve["tokens"] / r["E_min"] - 1), 1.0)
    assert r["B_crit"][0] == pytest.approx(KAPLAN["B_star"] / 3.3 ** (1 / KAPLAN["alpha_B"]))
    law = get_law("batch")  # a run at B_crit for 2 S_min steps reaches the target
    assert law({"step": r["step"], "B": r["B"]}, **params)[0] == pytest.approx(3.3, rel=1e-9)
    with pytest.raises(InputError, match="not above"):
        reach(params, 2.7)


def test_fewer_than_three_batch_sizes_cannot_identify_the_critical_batch():
    data = kaplan_curves(batches=(1e5, 1e6)).drop(columns="N")
    with pytest.raises(InputError, match="3 or more batch sizes"):
        scalelaw.fit("batch", data)


def test_warmup_is_left_out():
    data = kaplan_curves().drop(columns="N")
    data["lr"] = np.where(data["step"] < 1000, data["step"] / 1000 * 1e-3, 1e-3)
    result = scalelaw.fit("batch", data)
    assert result.domain["step"][0] >= 1000
    assert any("before its LR peak" in w for w in result.warnings)
    given = scalelaw.fit("batch", data.drop(columns="lr"), options={"warmup_steps": 2000})
    assert given.domain["step"][0] > 2000


@pytest.mark.slow
def test_allocate_a_target_loss_with_intervals():
    result = scalelaw.fit("batch", kaplan_curves().drop(columns="N"))
    table = result.allocate([3.2, 3.5])
    exact = reach({"L_N": (KAPLAN["N_c"] / 1e8) ** KAPLAN["alpha_N"], **KAPLAN}, [3.2, 3.5])
    for key in ("S_min", "E_min", "B_crit"):
        np.testing.assert_allclose(table[key], exact[key], rtol=0.15, err_msg=key)
        assert np.all(table[f"{key}_lower"] < table[key]) and np.all(table[key] < table[f"{key}_upper"])
    np.testing.assert_allclose(table["loss"], [3.2, 3.5], rtol=1e-9)
    sizes = scalelaw.fit("batch", kaplan_curves(sizes=(1e7, 1e9)))
    with pytest.raises(InputError, match="N=..."):
        sizes.allocate(3.5)
    assert np.isfinite(sizes.allocate(3.5, N=1e8)["S_min"]).all()


def test_cli_fit_predict_allocate(tmp_path, capsys):
    data = kaplan_curves().drop(columns="N").rename(columns={"B": "batch_tokens", "y": "loss"})
    files = []
    for run, g in data.groupby("run"):
        files.append(tmp_path / f"{run}.csv")
        g.drop(columns="run").to_csv(files[-1], index=False)
    saved = tmp_path / "fit.json"
    assert main(["fit", *map(str, files), "--law", "batch", "--save", str(saved), "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert set(fitted["params"]) == {"L_N", *STEP_TERMS}
    assert main(["predict", str(saved), "--batch", "2e5", "--at", "1000,10000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    truth = get_law("batch_sizes")({"step": np.array([1e3, 1e4]), "B": np.full(2, 2e5), "N": np.full(2, 1e8)},
                                   L_inf=0.0, **KAPLAN)
    np.testing.assert_allclose(out["loss"], truth, rtol=0.005)
    assert all(lo < y < hi for lo, y, hi in zip(out["lo"], out["loss"], out["hi"]))
    assert out["lo"] == out["lower"] and out["hi"] == out["upper"]
    assert main(["allocate", str(saved), "--target-loss", "3.3", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["allocations"][0]
    assert {"S_min", "E_min", "B_crit", "step", "B", "tokens"} <= set(row)
    assert main(["allocate", str(saved), "--budget", "1e20"]) == 2
    assert "--target-loss" in capsys.readouterr().err


# -- the shipped sweep -----------------------------------------------------------------------

SWEEP = DATA / "generated" / "batch"
HELD_OUT = 64  # sequences per step of the run whose curve is predicted from the others


def sweep_runs(width: int) -> pd.DataFrame:
    frames = []
    for path in sorted(SWEEP.glob(f"w{width}-b*/log.csv")):
        frame = scalelaw.load_runs(path, roles=("step", "y", "B"), optional=("lr",))
        frames.append(frame.assign(run=path.parent.name, noise=pd.read_csv(path)["grad_noise_scale"]
                                   .reindex(frame.index).to_numpy()))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.slow
@pytest.mark.parametrize("width", [16, 32])
def test_sweep_predicts_a_held_out_batch_size(width):
    runs = sweep_runs(width)
    held = runs["run"] == f"w{width}-b{HELD_OUT}"
    result = scalelaw.fit("batch", runs[~held].drop(columns="noise"))
    assert result.converged, result.message
    g = runs[held & (runs["step"] > 40)]
    pred = result.predict({"step": g["step"], "B": g["B"]})
    assert scalelaw.quality.mape(pred, g["y"].to_numpy()) < 2.0
    # the interval, widened by the error on batch sizes left out of the fit in turn, holds the
    # held-out curve (its training loss averaged over 25 steps) most of the time
    assert set(result.held_out["mape"]) == {f"{b:g}" for b in runs[~held]["B"].unique()}
    smooth = g["y"].rolling(25, center=True).mean().to_numpy()
    ok = np.isfinite(smooth)
    lo, hi = result.predict_interval({"step": g["step"].to_numpy()[ok], "B": g["B"].to_numpy()[ok]})
    inside = np.mean((smooth[ok] >= lo) & (smooth[ok] <= hi))
    assert inside >= 0.85, inside  # the README (bench_batch_intervals.py): 88 % (width 16) and 91 % (width 32)


@pytest.mark.slow
@pytest.mark.parametrize("width", [16, 32])
def test_sweep_critical_batch_against_the_measured_noise_scale(width):
    """McCandlish et al. found B_crit close to the simple noise scale: their ratio at each run's
    final loss lies within a factor of 3."""
    runs = sweep_runs(width)
    result = scalelaw.fit("batch", runs.drop(columns="noise"))
    last = runs.groupby("run").tail(20).groupby("run")[["y", "noise"]].mean()
    ratio = b_crit(last["y"], result.params["B_star"], result.params["alpha_B"]) / last["noise"]
    assert 1 / 3 < np.median(ratio) < 3


def test_the_docs_quote_the_batch_interval_benchmark():
    """The batch section's coverage figures come from benchmarks/results/batch_intervals.json."""
    root = Path(__file__).resolve().parents[1]
    results = json.loads((root / "benchmarks" / "results" / "batch_intervals.json").read_text())["left_out"]
    text = published_text()
    w16, w32 = (100 * results[f"w{w}-b{HELD_OUT}"]["inside"] for w in (16, 32))
    assert f"{w16:.0f} % (width 16) and {w32:.0f} % (width 32) of the time" in text
    inside = [r["inside"] for r in results.values()]
    assert f"{100 * np.mean(inside):.0f} % on average and {100 * min(inside):.0f} % at worst" in text
