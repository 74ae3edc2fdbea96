"""End to end on the shipped sweeps in data/generated (made by ``scalelaw sweep all``): the laws
fitted on curves of runs whose irreducible loss is known."""
import json

import numpy as np
import pandas as pd
import pytest

import scalelaw
from conftest import ROOT
from scalelaw.cli import main
from scalelaw.schedules import from_log

GENERATED = ROOT / "data" / "generated"


def test_power_law_finds_the_markov_entropy_within_5_percent():
    sizes = pd.read_csv(GENERATED / "sizes" / "summary.csv")
    assert len(sizes) >= 5 and sizes["entropy"].nunique() == 1
    result = scalelaw.fit("power", sizes[["n", "loss"]].rename(columns={"n": "x", "loss": "y"}))
    truth = sizes["entropy"].iloc[0]
    assert result.converged
    assert abs(result.params["L_inf"] - truth) < 0.05 * truth


def test_annealing_law_on_two_schedules_predicts_the_others_within_1_percent():
    logs = {r: pd.read_csv(GENERATED / "schedules" / r / "log.csv") for r in ("constant", "cosine", "wsd", "multistep")}
    tidy = pd.concat([logs[r].assign(run=r).rename(columns={"loss": "y"}) for r in ("constant", "cosine")])
    result = scalelaw.fit("annealing", tidy[tidy["step"] >= 100][["run", "step", "y", "lr"]])
    assert result.converged
    for name in ("wsd", "multistep"):
        log = logs[name]
        pred = result.predict(log["step"].to_numpy(), from_log(log["step"], log["lr"]))
        keep = log["val_loss"].notna() & (log["step"] >= 120)
        mape = 100 * np.mean(np.abs(pred[keep] - log["val_loss"][keep]) / log["val_loss"][keep])
        assert mape < 1.0, name


def test_encdec_grid_fits_and_its_interval_holds_the_conditional_entropy():
    grid = pd.read_csv(GENERATED / "encdec" / "summary.csv")
    assert grid["ne"].nunique() >= 3 and grid["nd"].nunique() >= 3
    assert (grid["loss"] > 0.99 * grid["entropy"]).all()  # no run beats the truth (beyond held-out noise)
    result = scalelaw.fit("encdec", grid[["ne", "nd", "loss"]].rename(columns={"ne": "Ne", "nd": "Nd", "loss": "y"}))
    truth = grid["entropy"].iloc[0]
    assert result.converged and result.metrics["mape"] < 1.0
    low, high = result.ci["L_inf"]
    assert low < truth < high
    assert scalelaw.versus_total(result)["preferred"] == "encdec"


@pytest.mark.parametrize("args", [["sizes/summary.csv", "--law", "power"], ["encdec/summary.csv", "--law", "encdec"],
                                  ["schedules/cosine/log.csv", "--law", "annealing"]])
def test_the_cli_reads_the_sweeps_without_column_options(args, capsys):
    assert main(["fit", str(GENERATED / args[0]), *args[1:], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["converged"]


def test_every_shipped_run_is_complete_and_knows_its_entropy():
    metas = [json.loads(p.read_text()) for p in GENERATED.glob("*/*/run.json")]
    assert len(metas) == 6 + 4 + 9 + 12 + 20 + 48  # sizes, schedules, encdec, batch, isoflop, forecast
    assert all(m["complete"] for m in metas)
    # every synthetic corpus knows its entropy; real text (the forecast sweep's stdlib bytes) does not
    assert all(m["corpus"]["entropy"] > 0 for m in metas if m["corpus"]["kind"] != "text")
    assert all(m["corpus"]["entropy"] is None for m in metas if m["corpus"]["kind"] == "text")


def test_every_shipped_sweep_has_its_status_and_both_flops_counts(capsys):
    """Runs made before run.json recorded FLOPs get them from their config in summary.csv."""
    from scalelaw.train.config import TrainConfig

    for folder in sorted(p.parent for p in GENERATED.glob("*/sweep.json")):
        assert main(["sweep", "status", str(folder), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)["runs"]
        assert rows and all(r["state"] == "done" for r in rows), folder
        summary = pd.read_csv(folder / "summary.csv").set_index("run")
        assert (summary["flops"] > summary["flops_6nd"]).all()
        for run in summary.index:
            meta = json.loads((folder / run / "run.json").read_text())
            expected = TrainConfig(**meta["config"]).training_flops(meta["parameters"]["non_embedding"],
                                                                   meta["final"]["tokens"])
            assert summary.loc[run, "flops"] == expected["flops"], (folder, run)
    assert len(list(GENERATED.glob("*/sweep.json"))) == 6


def test_isoflop_ladder_finds_interior_optima_that_grow_with_compute():
    """The shipped ladder (5 widths x 4 budgets of 6ND): the smallest budget's best size is the
    smallest trained (refused, with the reason); the others have interior minima, and N_opt
    grows with compute."""
    from scalelaw.analysis import isoflop

    summary = pd.read_csv(GENERATED / "isoflop" / "summary.csv")
    out = isoflop(summary.rename(columns={"n": "N", "flops_6nd": "C", "loss": "y"})[["N", "C", "y"]])
    used = [b for b in out["budgets"] if b["interior"]]
    assert len(used) >= 2 and not out["budgets"][0]["interior"] and out["budgets"][0]["reason"]
    assert all(a["n_opt"] < b["n_opt"] for a, b in zip(used, used[1:]))
    assert 0 < out["n_opt_exponent"] < 1.5
