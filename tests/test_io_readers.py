"""Logs as trainers write them (issue 14): each format read with at most one flag naming the loss
column, and fitted; resumed runs, step 0, sparse lr, several runs in one file; scalelaw inspect."""
import json

import numpy as np
import pandas as pd
import pytest

from scalelaw import InputError, load_runs, schedules
from scalelaw.cli import main
from scalelaw.laws.annealing import ANNEALING, areas

TRUE = {"L0": 3.0, "A": 0.5, "alpha": 0.5, "C": 0.4}
SPEC = "cosine:peak=1e-3,total=4000,warmup=200,final=1e-4"


def curve(every=20, start=20):
    """step, lr, loss of a cosine run from the annealing law."""
    lr = schedules.parse(SPEC)
    steps = np.arange(start, 4001, every)
    with np.errstate(divide="ignore"):  # step 0: no LR area yet (the tests set its loss)
        loss = ANNEALING(areas(lr, steps, ANNEALING.options), **TRUE)
    return steps, lr[steps], loss


def fits_the_truth(argv, capsys, alpha=TRUE["alpha"]):
    assert main([*argv, "--law", "annealing", "--json"]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["alpha"] == pytest.approx(alpha, abs=0.03)
    return out


def test_tensorboard_folder_of_runs(tmp_path, capsys):
    pytest.importorskip("tbparse")
    tensorboard = pytest.importorskip("torch.utils.tensorboard")
    for run in ("seed1", "seed2"):
        writer = tensorboard.SummaryWriter(str(tmp_path / "logs" / run))
        steps, lr, loss = curve()
        for s, a, y in zip(steps, lr, loss):
            writer.add_scalar("train/loss", y, int(s))
            writer.add_scalar("train/lr", a, int(s))
            if s % 200 == 0:
                writer.add_scalar("eval/loss", y + 0.05, int(s))
        writer.close()
    data = load_runs(tmp_path / "logs", roles=("step", "y", "lr"))
    assert sorted(data["run"].unique()) == ["seed1", "seed2"] and len(data) == 2 * len(curve()[0])
    fits_the_truth(["fit", str(tmp_path / "logs")], capsys)
    evals = load_runs(tmp_path / "logs", roles=("step", "y", "lr"), columns={"y": "eval/loss"})
    assert len(evals) == 2 * 20 and np.allclose(evals["lr"], schedules.parse(SPEC)[evals["step"].astype(int)])


def test_wandb_run_history_with_empty_cells(tmp_path, capsys):
    steps, lr, loss = curve()
    rows = ["_step,_runtime,_timestamp,train/loss,train/learning_rate,eval/loss"]
    for i, (s, a, y) in enumerate(zip(steps, lr, loss)):
        rows.append(f"{s},{i},{1.7e9 + i},{y},{a},")
        if s % 200 == 0:
            rows.append(f"{s},{i},{1.7e9 + i},,,{y + 0.05}")  # eval logged in its own row
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows) + "\n")
    fits_the_truth(["fit", str(path)], capsys)
    fits_the_truth(["fit", str(path), "--y", "eval/loss"], capsys)


def test_wandb_panel_export_holds_several_runs(tmp_path):
    steps, _, loss = curve()
    frame = pd.DataFrame({"Step": steps, "a - train/loss": loss, "a - train/loss__MIN": loss,
                          "a - train/loss__MAX": loss, "b - train/loss": loss + 0.1})
    frame.to_csv(tmp_path / "panel.csv", index=False)
    data = load_runs(tmp_path / "panel.csv", roles=("step", "y"))
    assert sorted(data["run"].unique()) == ["a", "b"] and len(data) == 2 * len(steps)


def test_curves_without_lr_fit_a_power_law_in_steps_with_no_flag(tmp_path, capsys):
    steps = np.arange(0, 5001, 50)
    loss = 2.0 + (np.maximum(steps, 1) / 40.0) ** -0.4
    pd.DataFrame({"Step": steps, "a - train/loss": loss, "b - train/loss": loss * 1.0005}).to_csv(
        tmp_path / "panel.csv", index=False)
    lines = [f"iter {s}: loss {y:.6f}, time 45.12ms, mfu 12.30%" for s, y in zip(steps, loss)]
    (tmp_path / "train.log").write_text("\n".join(["compiling the model...", *lines]) + "\n")
    for name in ("panel.csv", "train.log"):
        assert main(["fit", str(tmp_path / name), "--json"]) == 0, capsys.readouterr().err
        out = json.loads(capsys.readouterr().out)
        assert out["params"]["alpha"] == pytest.approx(0.4, abs=0.02) and out["status"] == "converged"
        assert any("step 0" in w for w in out["warnings"])


def test_trainer_state_eval_loss_takes_its_lr_from_the_training_entries(tmp_path, capsys):
    steps, lr, loss = curve()
    records = []
    for s, a, y in zip(steps, lr, loss):
        records.append({"epoch": s / 1000, "learning_rate": a, "loss": y, "step": int(s)})
        if s % 100 == 0:
            records.append({"epoch": s / 1000, "eval_loss": y + 0.05, "eval_runtime": 1.0, "step": int(s)})
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"global_step": 4000, "log_history": records}))
    out = fits_the_truth(["fit", str(path), "--y", "eval_loss"], capsys)
    assert out["params"]["L0"] == pytest.approx(3.05, abs=0.03)


def test_nanogpt_text_log(tmp_path, capsys):
    steps, _, loss = curve()
    lines = ["Overriding config with config/train_shakespeare_char.py:", "tokens per iteration will be: 16,384"]
    for s, y in zip(steps, loss):
        if s % 200 == 0:
            lines.append(f"step {s}: train loss {y:.6f}, val loss {y + 0.05:.6f}")
        lines.append(f"iter {s}: loss {y:.6f}, time 45.12ms, mfu 12.30%")
    path = tmp_path / "train.log"
    path.write_text("\n".join(lines) + "\n")
    fits_the_truth(["fit", str(path), "--schedule", SPEC], capsys)
    fits_the_truth(["fit", str(path), "--schedule", SPEC, "--y", "val_loss"], capsys)


def test_plain_fit_names_a_step_law_for_a_decaying_lr_and_keeps_runs_apart(tmp_path, capsys):
    """``scalelaw fit`` (a power law over steps) on logs whose lr decays says that it ignores
    the lr and names --law auto; runs that ``inspect`` recognises stay runs (issue 28)."""
    steps, lr, loss = curve()
    frame = pd.concat([pd.DataFrame({"run": name, "step": steps, "lr": lr, "loss": loss * k})
                       for name, k in (("a", 1.0), ("b", 1.02))])
    frame.to_csv(tmp_path / "multi_run.csv", index=False)
    assert main(["fit", str(tmp_path / "multi_run.csv"), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["options"]["runs"] == 2 and "lr" not in out["columns"]
    assert "--law auto" in captured.err and "falls by 90 %" in captured.err
    frame.assign(lr=1e-3).to_csv(tmp_path / "constant.csv", index=False)  # a constant lr: nothing to say
    assert main(["fit", str(tmp_path / "constant.csv")]) == 0
    assert "--law auto" not in capsys.readouterr().err
    # a power law over model sizes whose table carries each model's peak lr: not a curve over steps
    sizes = pd.DataFrame({"N": [1e7, 3e7, 1e8, 3e8, 1e9], "lr": [3e-3, 3e-3, 1e-3, 3e-4, 3e-4]})
    sizes["loss"] = 2.0 + (5e7 / sizes["N"]) ** 0.3
    sizes.to_csv(tmp_path / "sizes.csv", index=False)
    assert main(["fit", str(tmp_path / "sizes.csv"), "--x", "N"]) == 0
    assert "--law auto" not in capsys.readouterr().err


def test_auto_takes_the_schedule_of_logs_without_lr(tmp_path, capsys):
    """A nanoGPT text log and a W&B panel export log the loss only: ``--law auto --schedule``
    gives every run the schedule, fits, and names it in the report and the JSON (issue 28)."""
    steps, _, loss = curve()
    (tmp_path / "train.log").write_text("\n".join(f"iter {s}: loss {y:.6f}, time 45.12ms" for s, y in zip(steps, loss)))
    pd.DataFrame({"Step": steps, "a - train/loss": loss, "b - train/loss": loss * 1.001}).to_csv(
        tmp_path / "panel.csv", index=False)
    for name, runs in (("train.log", 1), ("panel.csv", 2)):
        path = str(tmp_path / name)
        assert main(["fit", path, "--law", "auto"]) == 2
        assert "--schedule" in capsys.readouterr().err  # the refusal names the way out
        assert main(["fit", path, "--law", "auto", "--schedule", SPEC, "--json"]) == 0, capsys.readouterr().err
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "converged" and out["options"]["runs"] == runs
        assert list(out["options"]["schedule"].values()) == [SPEC] * runs
        assert out["params"]["alpha"] == pytest.approx(TRUE["alpha"], abs=0.05)
        assert main(["fit", path, "--law", "auto", "--schedule", SPEC]) == 0
        assert "lr       from the schedule given (the logs have no lr): " in capsys.readouterr().out


@pytest.mark.parametrize("name, sep", [("log.tsv", "\t"), ("log.csv", ";"), ("log.txt", " "), ("spaced.csv", ", ")])
def test_delimited_text(tmp_path, capsys, name, sep):
    steps, lr, loss = curve()
    path = tmp_path / name
    path.write_text(sep.join(["step", "lr", "loss"]) + "\n"
                    + "".join(sep.join([str(s), repr(float(a)), repr(float(y))]) + "\n" for s, a, y in zip(steps, lr, loss)))
    fits_the_truth(["fit", str(path)], capsys)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_lr_logged_less_often_than_the_loss_is_interpolated(tmp_path, capsys, suffix):
    steps, lr, loss = curve(every=10)
    frame = pd.DataFrame({"step": steps, "loss": loss, "lr": np.where(steps % 100 == 0, lr, np.nan)})
    path = tmp_path / f"log{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if v == v}) + "\n"
                                for r in frame.to_dict("records")))
    data = load_runs(path, roles=("step", "y", "lr"))
    assert len(data) == len(steps) and any("interpolated" in n for n in data.attrs["notes"])
    fits_the_truth(["fit", str(path)], capsys)


def test_step_zero_is_read_and_skipped_by_step_laws_with_a_warning(tmp_path, capsys):
    steps, lr, loss = curve(start=0)
    loss[0] = 10.9  # the loss at initialisation
    path = tmp_path / "log.csv"
    pd.DataFrame({"step": steps, "lr": lr, "loss": loss}).to_csv(path, index=False)
    out = fits_the_truth(["fit", str(path)], capsys)
    assert any("step 0" in w for w in out["warnings"])


def test_resumed_run_keeps_the_last_occurrence_of_each_step(tmp_path, capsys):
    steps, lr, loss = curve()
    first = steps <= 2000  # the first attempt got to 2000, was killed, resumed from step 1500
    frame = pd.concat([pd.DataFrame({"step": steps[first], "lr": lr[first], "loss": loss[first] + 0.3}),
                       pd.DataFrame({"step": steps[steps > 1500], "lr": lr[steps > 1500], "loss": loss[steps > 1500]})])
    frame.loc[frame["step"] <= 1500, "loss"] -= 0.3
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    data = load_runs(path, roles=("step", "y", "lr"))
    assert len(data) == len(steps) and np.allclose(data["y"], loss)
    out = fits_the_truth(["fit", str(path)], capsys)
    assert any("resumed" in w and "last occurrence" in w for w in out["warnings"])


def test_several_runs_in_one_file(tmp_path, capsys):
    steps, lr, loss = curve()
    one = pd.DataFrame({"step": steps, "lr": lr, "loss": loss})
    both = pd.concat([one.assign(run_id="a"), one.assign(run_id="b")])
    both.to_csv(tmp_path / "runs.csv", index=False)
    assert load_runs(tmp_path / "runs.csv", roles=("step", "y", "lr"))["run"].nunique() == 2
    pd.concat([one, one]).to_csv(tmp_path / "bare.csv", index=False)
    assert main(["fit", str(tmp_path / "bare.csv"), "--law", "annealing"]) == 2
    err = capsys.readouterr().err
    assert "start over" in err and "--group COL" in err and len(err.splitlines()) == 1


def test_inspect_says_what_was_read(tmp_path, capsys):
    path = tmp_path / "log.tsv"
    path.write_text("step\tloss\tlr\tmfu\n0\t5.0\t0\t1\n10\t4.0\t\t1\n20\t3.5\t1e-3\t1\n10\t3.9\t\t1\n20\t3.4\t1e-3\t1\n")
    assert main(["inspect", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "TSV" and out["rows"] == 5
    assert {c["name"]: c["role"] for c in out["columns"]} == {"step": "step", "loss": "y", "lr": "lr", "mfu": None}
    assert out["curve"]["rows"] == 3 and any("resumed" in n for n in out["curve"]["notes"])
    assert main(["inspect", str(path)]) == 0
    assert "TSV, 5 rows" in capsys.readouterr().out
    (tmp_path / "acc.csv").write_text("step,acc\n1,0.5\n")
    with pytest.raises(InputError, match="scalelaw inspect"):
        load_runs(tmp_path / "acc.csv", roles=("step", "y"))


def test_a_sweep_spec_given_as_a_log_is_refused_naming_what_it_is(tmp_path, capsys):
    spec = tmp_path / "sweep.toml"
    spec.write_text('[sweep]\nname = "x"\n[grid]\nwidth = [8, 16]\n')
    with pytest.raises(InputError, match="a TOML file is a sweep spec"):
        load_runs(spec, roles=("step", "y"))
    assert main(["inspect", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "scalelaw sweep" in err and len(err.strip().splitlines()) == 1
