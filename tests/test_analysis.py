import json
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


# -- isoflop (Chinchilla's approach 2) ---------------------------------------------------------

CHIN = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}


def isoflop_runs(**kwargs):
    """Runs on Chinchilla's surface ``CHIN`` (``scalelaw.synthetic.isoflop_runs``)."""
    from scalelaw.synthetic import isoflop_runs as runs

    return runs(CHIN, **kwargs)


def test_isoflop_recovers_the_known_optimum():
    from scalelaw.analysis import isoflop

    truth = CHIN["beta"] / (CHIN["alpha"] + CHIN["beta"])
    out = isoflop(isoflop_runs())
    assert out["n_opt_exponent"] == pytest.approx(truth, abs=0.03)
    assert out["d_opt_exponent"] == pytest.approx(1 - truth, abs=0.03)
    lo, hi = out["n_opt_exponent_ci"]
    assert lo < out["n_opt_exponent"] < hi
    assert all(b["interior"] for b in out["budgets"]) and len(out["budgets"]) == 5
    assert out["approach3"]["n_opt_exponent"] == pytest.approx(truth, abs=0.03)


def test_isoflop_on_chinchillas_runs_finds_the_published_exponent(shared_data, capsys):
    """Approach 2 on the 245 runs Besiroglu et al. read off Hoffmann et al.'s Figure 4, whose
    FLOPs scatter around the planned budgets: at the default 5 % tolerance the budgets with three
    or more sizes and an interior minimum give a = 0.49 [0.462, 0.534] in Hoffmann et al.'s
    Table 2 (approach 2)."""
    from scalelaw.cli import main

    path = shared_data / "chinchilla_epoch" / "svg_extracted_data.csv"
    assert main(["isoflop", str(path), "--n", "Model Size", "--c", "Training FLOP", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    used = [b for b in out["budgets"] if b["interior"]]
    assert len(used) >= 8 and any(not b["interior"] for b in out["budgets"])
    assert abs(out["n_opt_exponent"] - 0.49) < 0.03
    lo, hi = out["n_opt_exponent_ci"]
    assert lo < 0.49 < hi and hi - lo < 0.15


def test_isoflop_refuses_a_budget_without_an_interior_minimum():
    from scalelaw.analysis import isoflop

    runs = pd.concat([isoflop_runs(), isoflop_runs(budgets=[3e22], span=(0.05, 0.5))], ignore_index=True)
    out = isoflop(runs)
    last = max(out["budgets"], key=lambda b: b["c"])
    assert not last["interior"] and "outside the sampled sizes" in last["reason"]
    assert sum(b["interior"] for b in out["budgets"]) == 5
    with pytest.raises(InputError, match="interior minimum"):
        isoflop(isoflop_runs(budgets=[1e19, 1e20], span=(2, 20)))


def test_isoflop_cli(tmp_path, capsys):
    from scalelaw.cli import main

    runs = isoflop_runs(noise=0.0)
    path = tmp_path / "ladder.csv"
    runs.assign(tokens=runs["C"] / (6 * runs["N"])).rename(columns={"N": "params", "y": "loss"}) \
        .drop(columns="C").to_csv(path, index=False)
    image = tmp_path / "iso.png"
    assert main(["isoflop", str(path), "--json", "--plot", str(image)]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert {"n_opt_exponent", "d_opt_exponent", "budgets"} <= set(out)
    assert {"c", "n_opt", "loss_min", "interior"} <= set(out["budgets"][0])
    assert out["flops"] == "C = 6 N D" and image.stat().st_size > 0
    assert main(["isoflop", str(path)]) == 0
    assert "approach 2" in capsys.readouterr().out
    both = tmp_path / "both.csv"  # a compute column and a tokens column: --d chooses the tokens
    pd.read_csv(path).assign(flops=runs["C"] * 1.2).to_csv(both, index=False)
    assert main(["isoflop", str(both), "--d", "tokens", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flops"] == "C = 6 N D"
