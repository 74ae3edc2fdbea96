"""Power law plus constant on real published data."""
import filecmp

import numpy as np
import pandas as pd
import pytest

from scalelaw import fit, load_runs
from conftest import DATA

GOOGLE = DATA / "google_revisiting_scaling" / "benchmark.lang.csv"
GADRE = DATA / "gadre_overtraining" / "models_final_loss.csv"


def google_lm_heldout_errors(path):
    """Fit each decoder-only LM learning curve on its Training=1 points; relative error on Training=0."""
    table = pd.read_csv(path)
    table = table[table.Domain == "LM"].drop_duplicates(["Model", "Seen Examples"])  # upstream repeats rows
    errors = {}
    for model, curve in table.groupby("Model"):
        train, test = curve[curve.Training == 1], curve[curve.Training == 0]
        result = fit("power", {"x": train["Seen Examples"], "y": train["Loss"]})
        assert result.converged, (model, result.message)
        errors[model] = np.abs(result.predict(test["Seen Examples"]) - test["Loss"].to_numpy()) / test["Loss"].to_numpy()
    return errors


@pytest.mark.slow
def test_google_lm_curves_extrapolate_to_heldout_points():
    errors = google_lm_heldout_errors(GOOGLE)
    assert len(errors) == 5
    for model, rel in errors.items():
        assert rel.mean() < 0.003, f"{model}: held-out MAPE {100 * rel.mean():.3f} %"
        assert rel.max() < 0.005, f"{model}: worst held-out error {100 * rel.max():.3f} %"
    assert np.mean([rel.mean() for rel in errors.values()]) < 0.002


@pytest.mark.parametrize("dataset", ["c4_original", "rpj", "rw_original"])
def test_gadre_loss_over_model_size(dataset):
    """Six sizes (11M-6.9B) at 20 tokens per parameter: a tight fit, and the largest model
    predicted from the five smaller ones."""
    where = f"dataset == '{dataset}' and tokens_per_param == 20"
    runs = load_runs(GADRE, roles=("x", "y"), columns={"x": "N_params", "y": "loss_c4_val"}, where=where)
    assert len(runs) == 6
    full = fit("power", runs)
    assert full.converged and full.metrics["r2"] > 0.999
    assert 0.2 < full.params["alpha"] < 0.35
    assert 1.5 < full.params["L_inf"] < 2.1  # C4 entropy estimate, nats/token
    smaller = fit("power", runs.iloc[:-1])
    largest = runs.iloc[-1]
    assert abs(smaller.predict([largest.x])[0] - largest.y) / largest.y < 0.04


def test_shipped_data_matches_shared(shared_data):
    assert filecmp.cmp(GOOGLE, shared_data / "google_revisiting_scaling" / "benchmark.lang.csv", shallow=False)
    assert filecmp.cmp(GADRE, shared_data / "gadre_overtraining" / "models_final_loss.csv", shallow=False)


@pytest.mark.slow
def test_google_curves_from_shared(shared_data):
    errors = google_lm_heldout_errors(shared_data / "google_revisiting_scaling" / "benchmark.lang.csv")
    assert np.mean([rel.mean() for rel in errors.values()]) < 0.002
