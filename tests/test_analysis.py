import numpy as np
import pandas as pd
import pytest

from scalelaw import InputError, compute_optimal

E, A, B, ALPHA, BETA = 1.7, 400.0, 410.0, 0.34, 0.28


def chinchilla_runs(sizes):
    rows = []
    for n in sizes:
        c = np.geomspace(6 * n * n / 100, 6 * n * n * 100, 60)  # 0.01 to 100 tokens per parameter
        d = c / (6 * n)
        rows.append(pd.DataFrame({"N": n, "C": c, "loss": E + A / n**ALPHA + B / d**BETA}))
    return pd.concat(rows, ignore_index=True)


def test_recovers_known_compute_optimal_exponent():
    result = compute_optimal(chinchilla_runs(np.geomspace(1e7, 1e10, 16)))
    assert result.beta == pytest.approx(BETA / (ALPHA + BETA), abs=0.01)
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    c = 1e21
    assert result.n_opt(c) == pytest.approx(g * (c / 6) ** (BETA / (ALPHA + BETA)), rel=0.05)
    assert result.frontier_fit.params["L_inf"] == pytest.approx(E, rel=0.02)
    assert "N_opt(C)" in result.report()


def test_too_few_sizes():
    with pytest.raises(InputError, match="at least 3 sizes"):
        compute_optimal(chinchilla_runs([1e7, 1e8]))
