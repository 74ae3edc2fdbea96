"""The fit engine on synthetic data with known parameters."""
import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import InputError, fit

TRUE = {"L_inf": 1.7, "x0": 3e5, "alpha": 0.3}


def synthetic(n=300, noise=0.005, seed=0, runs=1):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e10, n)
    frames = []
    for r in range(runs):
        y = scalelaw.laws.power.power_law({"x": x}, **TRUE) * np.exp(rng.normal(0, noise, n))
        frames.append(pd.DataFrame({"run": f"r{r}", "x": x, "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("loss", ["huber", "lsq"])
def test_recovers_known_parameters(loss):
    result = fit("power", synthetic(), loss=loss)
    assert result.converged, result.message
    for name, true in TRUE.items():
        assert result.params[name] == pytest.approx(true, rel=0.05), name
        # within 4 standard errors (a 95 % interval misses 1 time in 20 by design)
        assert abs(result.params[name] - true) < 4 * result.stderr[name], name
        lo, hi = result.ci[name]
        assert lo < result.params[name] < hi
    assert result.metrics["r2"] > 0.9
    assert result.metrics["mape"] < 1.0


def test_noise_free_is_exact():
    result = fit("power", synthetic(noise=0.0))
    for name, true in TRUE.items():
        assert result.params[name] == pytest.approx(true, rel=1e-4)


@pytest.mark.slow
def test_stderr_matches_scatter_across_seeds():
    """Standard errors are honest: they match the spread of estimates over noise draws."""
    estimates = [fit("power", synthetic(n=200, noise=0.01, seed=s)).params["alpha"] for s in range(12)]
    one = fit("power", synthetic(n=200, noise=0.01, seed=99))
    spread = np.std(estimates, ddof=1)
    assert 0.5 * spread < one.stderr["alpha"] < 2.0 * spread


def test_bootstrap_resamples_whole_runs_and_is_seeded():
    data = synthetic(n=60, noise=0.01, runs=5)
    a = fit("power", data, bootstrap=30, seed=1)
    b = fit("power", data, bootstrap=30, seed=1)
    assert a.options["bootstrap_by"] == "run"
    assert np.array_equal(a.bootstrap_samples, b.bootstrap_samples)
    assert a.bootstrap_samples.shape == (30, 3)
    lo, hi = a.ci_bootstrap["alpha"]
    assert lo < a.params["alpha"] < hi
    band = a.predict_interval([1e11])
    assert band[0][0] < a.predict([1e11])[0] < band[1][0]


def test_bootstrap_by_point_for_one_run():
    result = fit("power", synthetic(n=80, noise=0.01), bootstrap=20, seed=3)
    assert result.options["bootstrap_by"] == "point"
    assert np.all(np.isfinite(result.bootstrap_samples))


def test_non_convergence_is_flagged():
    result = fit("power", synthetic(), max_iter=1)
    assert not result.converged
    assert "NOT CONVERGED" in result.report()
    assert result.to_dict()["converged"] is False


def test_no_covariance_is_stated():
    # all points at one size: L_inf, x0 and alpha cannot be told apart
    data = pd.DataFrame({"x": [1e6] * 6, "y": [3.0, 3.01, 2.99, 3.0, 3.02, 2.98]})
    result = fit("power", data)
    assert result.covariance is None and result.ci is None
    assert all(v is None for v in result.stderr.values())
    assert any("no covariance" in w for w in result.warnings)


def test_too_few_points_is_an_input_error():
    with pytest.raises(InputError, match="at least 4 points"):
        fit("power", {"x": [1e6, 1e7, 1e8], "y": [3.0, 2.5, 2.2]})


def test_bad_values_are_input_errors():
    with pytest.raises(InputError, match="positive"):
        fit("power", {"x": [1e6, 1e7, 1e8, 1e9], "y": [3.0, -2.5, 2.2, 2.0]})
    with pytest.raises(InputError, match="finite"):
        fit("power", {"x": [1e6, np.nan, 1e8, 1e9], "y": [3.0, 2.5, 2.2, 2.0]})
    with pytest.raises(InputError, match="unknown law"):
        fit("nope", {"x": [1], "y": [1]})


def test_bootstrap_stops_at_its_time_budget_and_says_so():
    x = np.geomspace(1e6, 1e10, 12)
    data = pd.DataFrame({"x": x, "y": 2.0 + (3e5 / x) ** 0.3})
    result = scalelaw.fit("power", data, bootstrap=100_000, bootstrap_seconds=0.3)
    done = len(result.bootstrap_samples)
    assert 0 < done < 100_000
    assert any(f"{done} of 100000 refits" in w for w in result.warnings)
    with pytest.raises(scalelaw.InputError, match="bootstrap_seconds"):
        scalelaw.fit("power", data, bootstrap=10, bootstrap_seconds=0)


def test_a_long_bootstrap_says_so_and_shows_progress(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    from scalelaw import engine

    monkeypatch.setattr(engine, "LONG_BOOTSTRAP", 0.0)  # every bootstrap counts as long
    x = np.geomspace(1e6, 1e10, 12)
    data = pd.DataFrame({"x": x, "y": 2.0 + (3e5 / x) ** 0.3})
    result = scalelaw.fit("power", data, bootstrap=20, progress=True)
    assert len(result.bootstrap_samples) == 20
    assert any("the bootstrap took about" in w and "--bootstrap-seconds" in w for w in result.warnings)
    assert "bootstrap" in capsys.readouterr().err  # the tqdm bar
