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


def test_isoflop_on_the_shipped_ladder_with_default_flags_finds_its_four_budgets(capsys):
    """Issue 28: the sweep records each run's planned budget (summary.csv ``budget``) and
    ``scalelaw isoflop`` groups by it with no flags; without it, the attention-counting FLOP
    column (8-31 % above 6ND by width) still clusters into the 4 budgets; an exponent whose
    interval is wider than its value is flagged."""
    summary = GENERATED / "isoflop" / "summary.csv"
    assert main(["isoflop", str(summary), "--json"]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert len(out["budgets"]) == 4 and sum(b["interior"] for b in out["budgets"]) == 3
    assert [b["c"] for b in out["budgets"]] == pytest.approx([3e10, 1e11, 3e11, 1e12])
    assert "budget" in out["flops"]
    lo, hi = out["n_opt_exponent_ci"]
    assert (hi - lo > abs(out["n_opt_exponent"])) == any("wider than the exponent" in w for w in out["warnings"])
    assert main(["isoflop", str(summary), "--c", "flops", "--json"]) == 0
    by_flops = json.loads(capsys.readouterr().out)
    assert len(by_flops["budgets"]) == 4 and sum(b["interior"] for b in by_flops["budgets"]) == 3


def test_run_folders_and_a_parent_of_sweeps_read_with_no_flags(capsys):
    """Issue 28: a run folder reads as its log.csv plus the parameter counts of its run.json;
    the size law over steps finds N with no column flag; sweep status on the folder that
    ``sweep all --out`` made reports every sweep."""
    assert main(["inspect", str(GENERATED / "sizes" / "w32"), "--json"]) == 0
    assert "run.json" in capsys.readouterr().out
    logs = sorted(str(p) for p in (GENERATED / "sizes").glob("*/log.csv"))
    assert len(logs) == 6
    assert main(["fit", *logs, "--law", "annealing_size", "--json"]) == 0  # converges on the shipped runs
    out = json.loads(capsys.readouterr().out)
    assert out["columns"]["N"] == "n" and out["options"]["runs"] == 6
    assert main(["sweep", "status", str(GENERATED), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert {r["sweep"] for r in rows} == {"batch", "encdec", "forecast", "isoflop", "schedules", "sizes"}
    assert len(rows) == 99 and all(r["state"] == "done" for r in rows)
