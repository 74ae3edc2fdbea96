"""Bivariate laws (chinchilla, encdec): recovery of known parameters, allocation, bad input."""
import json

import numpy as np
import pandas as pd
import pytest

from scalelaw import CHINCHILLA, ENCDEC, FitResult, InputError, fit, tokens_from_compute, versus_total
from scalelaw.laws.base import numeric_jacobian
from scalelaw.laws.bivariate import chinchilla_optimum

CHIN_TRUE = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
ENC_TRUE = {"a": 0.9, "pe": 0.25, "pd": 0.40, "L_inf": 1.6}


def chinchilla_grid(noise=0.004, seed=0):
    """Iso-FLOP-like design: 6 budgets x 8 sizes, log-normal noise on the loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.geomspace(1e18, 1e22, 6):
        for n in np.geomspace(3e7, 3e10, 8):
            d = tokens_from_compute(n, c)
            if 1e8 < d < 1e13:
                rows.append((n, d))
    n, d = np.array(rows).T
    y = CHINCHILLA({"N": n, "D": d}, **CHIN_TRUE) * np.exp(rng.normal(0, noise, len(n)))
    return pd.DataFrame({"N": n, "D": d, "y": y})


def encdec_grid(noise=0.003, seed=1, sizes=4):
    rng = np.random.default_rng(seed)
    ne, nd = (g.ravel() for g in np.meshgrid(np.geomspace(2e7, 5e8, sizes), np.geomspace(2e7, 5e8, sizes)))
    y = ENCDEC.bind({"ref_ne": 1e8, "ref_nd": 1e8})({"Ne": ne, "Nd": nd}, **ENC_TRUE)
    return pd.DataFrame({"Ne": ne, "Nd": nd, "y": y * np.exp(rng.normal(0, noise, len(ne)))})


def test_chinchilla_recovers_known_parameters():
    result = fit("chinchilla", chinchilla_grid())
    assert result.converged, result.message
    for name, true in CHIN_TRUE.items():
        lo, hi = result.ci[name]
        assert lo <= true <= hi, (name, true, result.ci[name])
    assert abs(result.params["alpha"] - CHIN_TRUE["alpha"]) < 0.03
    assert abs(result.params["beta"] - CHIN_TRUE["beta"]) < 0.03
    assert abs(result.params["E"] - CHIN_TRUE["E"]) < 0.05


def test_chinchilla_optimum_is_the_minimum_on_the_iso_flop_line():
    c = 1e22
    best = chinchilla_optimum(CHIN_TRUE, np.array([c]))
    n = np.geomspace(best["N"][0] / 3, best["N"][0] * 3, 2001)
    loss = CHINCHILLA({"N": n, "D": tokens_from_compute(n, c)}, **CHIN_TRUE)
    assert abs(np.log(n[np.argmin(loss)] / best["N"][0])) < 0.01
    assert np.isclose(6 * best["N"][0] * best["D"][0], c)
    assert np.isclose(best["tokens_per_parameter"][0], best["D"][0] / best["N"][0])


def test_allocate_reports_optimum_loss_and_intervals():
    result = fit("chinchilla", chinchilla_grid(), bootstrap=30, seed=3)
    table = result.allocate([1e20, 1e23])
    truth = chinchilla_optimum(CHIN_TRUE, np.array([1e20, 1e23]))
    assert list(table["budget"]) == [1e20, 1e23]
    for key in ("N", "D", "tokens_per_parameter", "loss"):
        assert np.all(table[f"{key}_lower"] <= table[key]) and np.all(table[key] <= table[f"{key}_upper"])
    assert np.all(np.abs(np.log(table["N"] / truth["N"])) < 0.3)
    pred = result.predict({"N": table["N"], "D": table["D"]})
    assert np.allclose(pred, table["loss"])
    # the loss's interval is a new run's: the mean curve's (kept as loss_mean_*) and the runs' scatter
    assert np.all(table["loss_lower"] < table["loss_mean_lower"]) and np.all(table["loss_mean_upper"] < table["loss_upper"])
    # by hand: the mean band and t (on the held-out scatter's dof) times the scatter, in quadrature,
    # the scatter grown by 1 + ln of how far beyond the fitted sizes the optimum lies
    from scipy import stats

    held = result.held_out
    t = stats.t.ppf(0.975, held["groups"] - 1)
    inputs = {"N": table["N"].to_numpy(), "D": table["D"].to_numpy()}
    spread = held["sigma"] * table["loss"].to_numpy() * (1 + np.log(result.beyond(inputs)))
    half_mean = (table["loss_mean_upper"] - table["loss_mean_lower"]).to_numpy() / 2
    np.testing.assert_allclose(table["loss_upper"] - table["loss"], np.hypot(half_mean, t * spread), rtol=1e-6)
    delta = fit("chinchilla", chinchilla_grid()).allocate(1e21)  # no bootstrap: delta method
    assert {"N_lower", "N_upper", "loss_mean_lower", "loss_mean_upper"} <= set(delta.columns)
    with pytest.raises(InputError, match="budget"):
        result.allocate([-1.0])
    # a budget of 1 FLOP puts the optimum far below the fitted sizes: flagged, as predict does
    flagged = result.allocate([1.0, 1e20])
    inside = all(result.domain[r][0] <= flagged[r][1] <= result.domain[r][1] for r in ("N", "D"))
    assert flagged["extrapolated"].tolist() == [True, not inside]


@pytest.mark.parametrize("law, params, inputs", [
    (CHINCHILLA, CHIN_TRUE, {"N": np.geomspace(1e7, 1e10, 5), "D": np.geomspace(1e9, 1e12, 5)[::-1]}),
    (ENCDEC.bind({"ref_ne": 1e8, "ref_nd": 2e8}), ENC_TRUE,
     {"Ne": np.geomspace(1e7, 1e9, 5), "Nd": np.geomspace(1e7, 1e9, 5)[::-1]}),
])
def test_exact_jacobians_match_finite_differences(law, params, inputs):
    theta = law.to_theta(params)
    exact = law.gradient(inputs, theta)
    numeric = numeric_jacobian(lambda t: law(inputs, **law.from_theta(t)), theta)
    assert np.allclose(exact, numeric, rtol=1e-5, atol=1e-9)


def test_encdec_recovers_known_parameters_and_split():
    result = fit("encdec", encdec_grid(), options={"ref_ne": 1e8, "ref_nd": 1e8})
    assert result.converged, result.message
    for name, true in ENC_TRUE.items():
        assert abs(result.params[name] - true) < 0.03 * max(1.0, true), (name, result.params[name])
    split = result.allocate(1e9)
    assert abs(split["encoder_fraction"][0] - 0.25 / 0.65) < 0.01
    assert np.isclose(split["Ne"][0] + split["Nd"][0], 1e9)
    assert abs(result.derived["optimal_ne_over_nd"] - 0.25 / 0.40) < 0.03
    assert abs(result.derived["symmetric_exponent"] - 0.65) < 0.02


def test_encdec_default_reference_and_json_round_trip(tmp_path):
    data = encdec_grid()
    result = fit("encdec", data)
    geo = float(np.exp(np.log(data["Ne"]).mean()))
    assert np.isclose(result.law_options["ref_ne"], geo)
    # a depends on the reference, the exponents and predictions do not
    fixed = fit("encdec", data, options={"ref_ne": 1e8, "ref_nd": 1e8})
    assert abs(result.params["pe"] - fixed.params["pe"]) < 1e-3
    grid = {"Ne": np.array([3e7, 4e8]), "Nd": np.array([1e9, 5e7])}
    assert np.allclose(result.predict(grid), fixed.predict(grid), rtol=1e-4)
    loaded = FitResult.from_json(result.to_json(tmp_path / "fit.json"))
    assert np.allclose(loaded.predict(grid), result.predict(grid))
    assert loaded.law_options == result.law_options
    assert json.loads(result.to_json())["options"]["law_options"]["ref_nd"] > 0


def test_versus_total_prefers_the_bivariate_law_when_the_split_matters():
    table = versus_total(fit("encdec", encdec_grid()))
    assert table["preferred"] == "encdec" and table["delta_aic"] > 10
    # a loss that depends on Ne + Nd only: the power law in the total is as good, with fewer parameters
    data = encdec_grid()
    data["y"] = 1.6 + (2e8 / (data["Ne"] + data["Nd"])) ** 0.3 * np.exp(np.random.default_rng(4).normal(0, 0.002, len(data)))
    table = versus_total(fit("encdec", data), held_out=data.iloc[::3])
    assert table["held_out_mape"]["power"] < 0.5


def test_bad_bivariate_inputs():
    data = encdec_grid()
    with pytest.raises(InputError, match="same Ne"):
        fit("encdec", data.assign(Ne=1e8))
    with pytest.raises(InputError, match="proportional"):
        fit("encdec", data.assign(Nd=data["Ne"] * 3))
    with pytest.raises(InputError, match="positive"):
        fit("encdec", data.assign(Nd=np.where(data.index == 2, 0.0, data["Nd"])))
    with pytest.raises(InputError, match="at least 5 points"):
        fit("encdec", data.iloc[:4])
    with pytest.raises(InputError, match="ref_ne"):
        fit("encdec", data, options={"ref_ne": -1.0})
    with pytest.raises(InputError, match="proportional"):
        grid = chinchilla_grid()
        fit("chinchilla", grid.assign(D=20 * grid["N"]))
    with pytest.raises(InputError, match="no option"):
        fit("chinchilla", chinchilla_grid(), options={"ref_ne": 1.0})


def test_chinchilla_reads_compute_in_place_of_tokens():
    """The compute column C stands for the tokens D = C / (6 N), in fit and in predict alike."""
    grid = chinchilla_grid()
    by_compute = grid.assign(C=6 * grid["N"] * grid["D"]).drop(columns="D")
    by_compute.attrs["columns"] = {"N": "params", "C": "flops", "y": "loss"}
    a, b = fit("chinchilla", grid), fit("chinchilla", by_compute)
    assert a.params == pytest.approx(b.params, rel=1e-6)
    assert b.columns["D"] == "flops / (6 N)"
    n, c = np.array([1e9, 1e10]), np.array([1e21, 1e22])
    assert b.predict({"N": n, "C": c}) == pytest.approx(b.predict({"N": n, "D": c / (6 * n)}))
    with pytest.raises(InputError, match="missing D"):
        b.predict({"N": n})
