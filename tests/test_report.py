"""The text a user reads: a fit's report, and the tables of predict and allocate."""
import numpy as np

from scalelaw import fit
from scalelaw.report import format_allocation, format_size_predictions

from test_engine import synthetic


def test_a_report_says_the_law_data_status_parameters_and_metrics():
    result = fit("power", synthetic(n=60, noise=0.01))
    text = result.report()
    lines = text.splitlines()
    assert lines[0].startswith("law      power: L(x) = L_inf + (x0/x)^alpha")
    assert lines[1].startswith("data     60 points in 1 run(s)")
    assert any(line.startswith("status   converged") for line in lines)
    for name in ("L_inf", "x0", "alpha"):
        assert any(line.startswith(name) for line in lines)
    assert "RMS error" in text and "point-to-point noise" in text


def test_a_report_says_it_is_not_a_result_and_warns():
    result = fit("power", {"x": [1e6, 1e7, 1e8, 1e9, 1e10], "y": [2.0, 2.2, 2.5, 2.7, 3.0]})
    text = result.report()
    assert "status   NOT A RESULT" in text and "the loss rises with x" in text


def test_the_size_table_marks_extrapolated_rows_and_a_missing_interval():
    out = {"law": "power", "x": [1e6, 1e12], "loss": [2.5, 1.9], "lo": [2.4, 1.7], "hi": [2.6, 2.1],
           "mean_lo": [2.45, 1.8], "mean_hi": [2.55, 2.0], "scatter": 0.012, "scatter_from": "held out each point in turn, 8",
           "level": 0.95, "extrapolated": [False, True]}
    lines = format_size_predictions(out, ["x"]).splitlines()
    assert lines[0].split()[:2] == ["x", "loss"] and "new run" in lines[0] and "mean curve" in lines[0]
    assert "[2.4, 2.6]" in lines[1] and "[2.45, 2.55]" in lines[1]
    assert not lines[1].endswith("(extrapolated)") and lines[2].endswith("(extrapolated)")
    assert "1.2 %" in lines[3] and "held out each point" in lines[3]
    text = format_size_predictions({**out, "lo": None, "hi": None, "mean_lo": None, "mean_hi": None, "scatter": None},
                                   ["x"])
    assert text.count("n/a") == 4


def test_the_allocation_table_has_a_row_per_budget():
    result = fit("chinchilla", _chinchilla_points())
    table = result.allocate([1e20, 1e22])
    out = {"law": "chinchilla", "budget": result.law.budget.name, "level": 0.95,
           "allocations": table.to_dict(orient="records")}
    text = format_allocation(out, result)
    assert "budget 1e+20" in text and "budget 1e+22" in text and "loss" in text


def _chinchilla_points():
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e7, 1e9, 6), 5)
    D = np.tile(np.geomspace(1e9, 1e11, 5), 6)
    y = 1.7 + 400 / N ** 0.34 + 410 / D ** 0.28
    return {"N": N, "D": D, "y": y * np.exp(rng.normal(0, 0.003, len(y)))}
