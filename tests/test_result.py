"""FitResult: predictions and their intervals, and the fit file it goes to and comes back from."""
import dataclasses

import numpy as np
import pytest

from scalelaw import FitResult, InputError, fit

from test_engine import synthetic


def test_json_round_trip(tmp_path):
    result = fit("power", synthetic(n=100, noise=0.01), bootstrap=10)
    path = tmp_path / "fit.json"
    result.to_json(path)
    loaded = FitResult.from_json(path)
    x = np.array([1e8, 1e12])
    assert np.allclose(loaded.predict(x), result.predict(x))
    assert np.allclose(loaded.predict_interval(x)[0], result.predict_interval(x)[0])
    assert loaded.params == result.params
    assert loaded.converged and loaded.law is result.law
    assert "L_inf" in loaded.report()


def test_delta_method_band_without_bootstrap():
    result = fit("power", synthetic(n=100, noise=0.01))
    lo, hi = result.predict_interval([1e7, 1e12])
    assert np.all(lo < result.predict([1e7, 1e12])) and np.all(hi > result.predict([1e7, 1e12]))
    # the band widens when extrapolating
    assert hi[1] - lo[1] > hi[0] - lo[0]


def test_an_interval_wider_than_the_loss_starts_at_zero():
    result = fit("power", synthetic(n=100, noise=0.01))
    x = [1e3, 1e7]  # far below the data, and inside it
    lo, hi = result.predict_interval(x)
    result.covariance = result.covariance * 1e6  # a fit that pins nothing down
    wide_lo, wide_hi = result.predict_interval(x)
    assert wide_lo[0] == 0.0 and np.all(wide_lo >= 0) and np.all(wide_hi > hi) and wide_lo[1] < lo[1]


def test_the_level_is_checked_once_for_every_interval():
    result = fit("power", synthetic(n=60, noise=0.01))
    for level in (0, 1, 1.5, -0.1, float("nan"), True):
        with pytest.raises(InputError, match="level must lie strictly between 0 and 1"):
            result.predict_interval([1e8], level=level)
    narrow, wide = result.predict_interval([1e12], level=0.5), result.predict_interval([1e12], level=0.99)
    assert wide[1][0] - wide[0][0] > narrow[1][0] - narrow[0][0]


def held_out_by_hand(data, blocks: int = 20) -> float:
    """The scatter of a new run computed apart from the engine: the points in order of size, in
    ``blocks`` blocks of neighbours; each block predicted by a power law fitted from scratch on
    the rest; its log errors brought back to the edge of the rest's sizes by ``1 + ln`` of how
    far beyond it lies; the RMS of them all."""
    from scalelaw import engine

    x, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
    order = np.argsort(x, kind="stable")
    errors = []
    for part in np.array_split(order, blocks):
        rest = np.setdiff1d(order, part)
        saved, engine.MIN_HELD_OUT = engine.MIN_HELD_OUT, 10**9  # no refits inside these refits
        try:
            refit = fit("power", {"x": x[rest], "y": y[rest]})
        finally:
            engine.MIN_HELD_OUT = saved
        lo, hi = x[rest].min(), x[rest].max()
        beyond = np.where(x[part] > hi, x[part] / hi, np.where(x[part] < lo, lo / x[part], 1.0))
        errors.append((np.log(refit.predict(x[part])) - np.log(y[part])) / (1 + np.log(beyond)))
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def test_a_new_runs_interval_adds_the_held_out_scatter_to_the_mean_curves_bootstrap_band():
    result = fit("power", synthetic(n=80, noise=0.01), bootstrap=20)
    inside, outside = np.array([1e8]), np.array([1e13])
    assert result.beyond({"x": inside}).tolist() == [1.0] and result.beyond({"x": outside})[0] == pytest.approx(1e3)
    draws = np.array([result.law({"x": inside}, **dict(zip(result.law.param_names, s))) for s in result.bootstrap_samples])
    lo, hi = result.predict_interval(inside, of="mean")
    np.testing.assert_allclose([lo[0], hi[0]], np.percentile(draws, [2.5, 97.5], axis=0).ravel())
    # 80 points, one per size: each left out in turn, merged into 20 blocks of neighbours
    assert result.held_out["by"] == "block of neighbouring points" and result.held_out["groups"] == 20
    sigma, dof, source = dataclasses.astuple(result.run_scatter)
    assert sigma == pytest.approx(held_out_by_hand(synthetic(n=80, noise=0.01)), rel=0.02)
    assert 0.005 < sigma < 0.03 and "held out" in source and dof == 19
    centre, (run_lo, run_hi) = result.predict(inside)[0], result.predict_interval(inside)
    half = np.hypot((hi[0] - lo[0]) / 2, 2.093024 * sigma * centre)  # Student's t, 19 degrees of freedom
    np.testing.assert_allclose([run_lo[0], run_hi[0]], [centre - half, centre + half], rtol=1e-6)
    # beyond the fitted sizes the scatter grows with 1 + ln(how far): 1e3 beyond, 1 + 6.9 times
    far_lo, far_hi = result.predict_interval(outside)
    mean_lo, mean_hi = result.predict_interval(outside, of="mean")
    assert far_hi[0] - far_lo[0] > 2 * 1.959964 * sigma * (1 + np.log(1e3)) * result.predict(outside)[0] * 0.99
    assert far_hi[0] - far_lo[0] > mean_hi[0] - mean_lo[0]
    with pytest.raises(InputError, match="of must be 'run'"):
        result.predict_interval(inside, of="new")


def test_with_too_few_models_to_leave_out_a_new_run_takes_the_fits_own_scatter():
    """Four model sizes, but leaving out the one with most rows leaves chinchilla fewer points than
    parameters: three groups can be scored, below the four needed, so the scatter is the fit's own
    residuals (scaled for the parameters fitted), and says so."""
    rng = np.random.default_rng(0)
    N = np.r_[np.full(10, 1e8), 2e8, 4e8, 8e8]
    D = np.r_[np.geomspace(1e9, 1e11, 10), 1e10, 1e10, 1e10]
    y = (1.7 + 400 / N ** 0.34 + 400 / D ** 0.28) * np.exp(rng.normal(0, 0.01, len(N)))
    result = fit("chinchilla", {"N": N, "D": D, "y": y})
    assert result.held_out == {}
    scatter = result.run_scatter
    assert "too few runs" in scatter.source and scatter.dof == len(N) - 5
    assert scatter.sigma == pytest.approx(result.metrics["rms_error"] / 100 * np.sqrt(len(N) / (len(N) - 5)))
    X = {"N": np.array([1e9]), "D": np.array([1e10])}
    run, mean = result.predict_interval(X), result.predict_interval(X, of="mean")
    assert run[1][0] - run[0][0] > mean[1][0] - mean[0][0]


def test_a_fit_file_whose_held_out_is_null_predicts_with_the_fits_own_scatter(tmp_path):
    import json

    result = fit("power", synthetic(n=30, noise=0.01))
    saved = json.loads(result.to_json())
    saved["options"]["held_out"] = None  # hand-edited (found by the property test of broken fit files)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(saved))
    loaded = FitResult.from_json(path)
    assert loaded.held_out == {} and loaded.run_scatter.source.startswith("the fit's own residuals")
    lo, hi = loaded.predict_interval([1e9])
    assert lo[0] < loaded.predict([1e9])[0] < hi[0]
    saved["options"]["binned"] = {"bins": "many", "rows": 3}
    path.write_text(json.dumps(saved))
    with pytest.raises(InputError, match="options.binned"):
        FitResult.from_json(path)
