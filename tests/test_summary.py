"""Fits at any log length (scalelaw.laws.summary): a long per-step log is fitted on its summary over
bins of steps, which keeps every row's weight, noise and LR; the fit says so, agrees with the fit
on every row, recovers known parameters, and a short log is fitted in full."""
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import engine, schedules
from scalelaw.laws import design, get_law, multipower, summary
from scalelaw.synthetic import ANNEALING_100M, per_step_log

from conftest import ROOT, cli_command, published_block, published_text


def long_log(total=60_000, noise=0.01, seed=0, spec="cosine:peak=6e-4,total={total},final=6e-5", tau=150.0):
    log = per_step_log(spec.format(total=total), noise=noise, seed=seed, tau=tau).drop(columns="true_loss")
    return log.rename(columns={"loss": "y"})


def test_a_summary_keeps_every_row_and_the_steps_each_run_covers():
    log = long_log(20_000)
    frame = design.of(get_law("annealing")).table(log)
    bins = summary.summarise_log(frame, step_min=300)
    assert bins[summary.BIN_ROWS].sum() == len(frame) == 20_000
    assert 100 < len(bins) < 400  # 16 an octave over 14 octaves, and the LR's moves
    assert bins["step"].iloc[0] == frame["step"].iloc[0] and bins["step"].iloc[-1] == frame["step"].iloc[-1]
    assert bins[summary.BIN_ROWS].iloc[[0, -1]].tolist() == [1, 1]  # first and last rows: bins of their own
    # no bin straddles step_min: the rows below it and from it on are bins apart
    edges = np.concatenate([[0], np.cumsum(bins[summary.BIN_ROWS])])
    assert 299 in edges  # steps 1..299 (rows 0..298) end a bin
    # the log loss's mean is kept: the rows' mean of log loss, from the bins
    mean_log = np.average(np.log(bins["y"]), weights=bins[summary.BIN_ROWS])
    assert mean_log == pytest.approx(np.mean(np.log(frame["y"])), rel=1e-12)
    # the within-bin spread is the noise: 1 % per row, measured back from the bins
    assert summary.row_mse(np.zeros(len(bins)), bins) ** 0.5 == pytest.approx(0.0100, rel=0.05)
    # every row's LR is kept beside the bins, for the LR areas
    steps, lr = summary.schedule_log(bins, "run")
    assert len(steps) == 20_000 and np.allclose(lr, frame["lr"])


def test_bins_follow_the_lr_a_cooldown_and_a_jump():
    total = 40_000
    frame = pd.DataFrame({"run": "r", "step": np.arange(1, total + 1), "y": 3.0,
                          "lr": schedules.parse(f"wsd:peak=1e-3,total={total},decay=0.1,final=0")[1:]})
    bins = summary.summarise_log(frame)
    cooldown = bins[bins["step"] > 0.9 * total]
    assert len(cooldown) > 40  # log LR falls by ln(1000): a bin each 0.05
    step = pd.DataFrame({"run": "r", "step": np.arange(1, total + 1), "y": 3.0,
                         "lr": np.where(np.arange(1, total + 1) < 30_000, 1e-3, 1e-4)})
    after = summary.summarise_log(step)
    first = after[after["step"] >= 30_000]["step"].to_numpy()[:5]
    assert first[0] == 30_000 and np.all(np.diff(first) < 5)  # small bins again after the jump


def test_a_long_log_is_fitted_on_its_summary_and_recovers_known_parameters():
    log = long_log(80_000, seed=3, tau=1.0)  # (no transient: the law from the first steps)
    assert len(log) > design.Schedule.SUMMARY_ABOVE
    result = scalelaw.fit("annealing", log)
    binned = result.options["binned"]
    assert binned["rows"] >= 76_000 and binned["bins"] < 500 and binned["location"] == "huber"
    assert result.metrics["n"] == binned["rows"] and result.metrics["bins"] == binned["bins"]
    assert result.metrics["noise"] == pytest.approx(1.0, rel=0.05)  # per row, percent
    assert result.metrics["rms_error"] == pytest.approx(1.0, rel=0.05)
    for name, true in ANNEALING_100M.items():
        assert abs(result.params[name] - true) < 3 * result.stderr[name], name
    assert result.to_dict()["binned"] == binned
    assert f"binned   {binned['bins']} bins from {binned['rows']} rows" in result.report()


def test_a_summary_agrees_with_the_fit_on_every_row():
    log = long_log(30_000, seed=5)
    full, binned = (scalelaw.fit("annealing", log, summarise=s) for s in (False, True))
    assert "binned" not in full.options and "binned" in binned.options
    for name in full.params:
        assert abs(binned.params[name] - full.params[name]) < full.stderr[name], name
        assert binned.stderr[name] == pytest.approx(full.stderr[name], rel=0.15), name
    spec = "cosine:peak=6e-4,total=60000,final=6e-5"
    (lo_f, hi_f), (lo_b, hi_b) = full.predict_interval([60_000], spec), binned.predict_interval([60_000], spec)
    assert binned.predict([60_000], spec)[0] == pytest.approx(full.predict([60_000], spec)[0], rel=0.002)
    assert (hi_b - lo_b)[0] == pytest.approx((hi_f - lo_f)[0], rel=0.02)


def test_two_logs_of_34k_steps_are_fitted_row_by_row_as_before():
    log = pd.concat([long_log(34_000, seed=1).assign(run="a"), long_log(34_000, seed=2).assign(run="b")])
    assert "binned" not in scalelaw.fit("annealing", log).options  # 68,000 rows, runs of 34,000


def test_a_short_log_is_fitted_in_full_even_when_a_summary_is_asked_for():
    log = long_log(400, noise=0.005)  # its bins would hold about two rows each
    result = scalelaw.fit("annealing", log, summarise=True)
    assert "binned" not in result.options and result.metrics["n"] == len(log) - 1 - (
        result.options["fitted_from_step"] or 1) + 1
    assert "binned" not in result.report()


def test_the_bootstrap_of_a_summary_resamples_its_rows():
    rng = np.random.default_rng(0)
    rows = np.array([1, 3, 10, 40, 200, 746])
    times = engine._block_reweight(rows, rng)
    assert times.sum() == rows.sum() and np.all(times >= 0)
    result = scalelaw.fit("annealing", long_log(20_000, seed=2), summarise=True, bootstrap=30, seed=1)
    assert result.options["bootstrap_by"] == "blocks of steps" and len(result.bootstrap_samples) >= 25
    for name, (lo, hi) in result.ci_bootstrap.items():
        assert lo <= result.params[name] <= hi, name


def test_auto_scores_and_fits_a_long_log_on_its_summary():
    log = pd.concat([long_log(30_000, seed=1).assign(run="cosine"),
                     long_log(30_000, seed=2, spec="constant:peak=6e-4,total={total}").assign(run="constant")])
    result = scalelaw.fit("auto", log, summarise=True)
    assert result.options["binned"]["rows"] > 57_000
    # the held-out errors are the rows': at least the 1 % noise of a row, not the bins' means
    for c in result.options["auto"]["candidates"]:
        assert c["rms"] > 0.009


def test_multipower_blocks_of_a_long_schedule_stay_close_to_blocks_of_128_steps():
    law = get_law("multipower")
    total = 1_000_000
    lr = schedules.parse(f"cosine:peak=6e-4,total={total},final=6e-5")
    steps = np.unique(np.geomspace(1000, total, 60).astype(int))
    wide = law.features(lr, steps, dict(law.options))
    assert wide["drop"].shape[1] < 2 * multipower.MAX_BLOCKS  # (the tol cuts besides)
    fine = law.features(lr, steps, {**law.options, "block": multipower.BLOCK})
    params = {"L0": 2.3, "A": 0.6, "alpha": 0.4, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.5}
    assert np.max(np.abs(law(wide, **params) / law(fine, **params) - 1)) < 1e-4


@pytest.mark.slow
def test_the_cli_says_a_long_log_was_summarised(tmp_path):
    path = tmp_path / "long.csv"
    long_log(60_000).rename(columns={"y": "loss"}).to_csv(path, index=False)
    out = subprocess.run(cli_command("fit", str(path), "--law", "annealing", "--json"), capture_output=True,
                         text=True, check=True)
    fit = json.loads(out.stdout)
    assert fit["binned"]["rows"] > 57_000 and fit["binned"]["bins"] < 500
    out = subprocess.run(cli_command("fit", str(path), "--law", "annealing"), capture_output=True, text=True,
                         check=True)
    assert "bins from" in out.stdout


def test_the_readme_tables_of_bench_scale_are_made_from_its_results_file():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = json.loads((ROOT / "benchmarks" / "results" / "bench_scale.json").read_text())
    assert not results["quick"]  # the README quotes the whole run
    assert published_block(bench.README_MARK) == bench.readme_table(results)
    readme = published_text()
    # and the threshold the README and --help name is the one the code uses
    kind = design.Schedule
    assert f"a run of more than {kind.SUMMARY_ABOVE:,} rows, or more than {kind.SUMMARY_TOTAL:,} rows in all" in readme
    assert f"a run above {kind.SUMMARY_ABOVE:,} rows, or above {kind.SUMMARY_TOTAL:,} rows in all" in (
        ROOT / "scalelaw" / "cli_args.py").read_text()  # --help


def test_compare_scores_a_long_held_out_curve_on_its_summary_as_on_its_rows():
    from scalelaw.analysis import compare

    train = long_log(20_000, seed=4).assign(run="train")
    held = {"long": long_log(60_000, seed=6, spec="constant:peak=6e-4,total={total}").assign(run="long")}
    on_bins = compare(["annealing"], train, held)
    on_rows = compare(["annealing"], train, held, summarise=False)
    assert on_bins["params"] == on_rows["params"]  # (the training log is short: fitted row by row both times)
    assert on_bins["mape"]["annealing"]["long"] == pytest.approx(on_rows["mape"]["annealing"]["long"], rel=0.03)
    assert on_bins["final_error"]["annealing"]["long"] == pytest.approx(
        on_rows["final_error"]["annealing"]["long"], rel=1e-9)  # the last row is a bin of its own
