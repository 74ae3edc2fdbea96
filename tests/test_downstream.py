"""From loss to task accuracy (issue 27): the downstream laws recover known parameters, refuse
what is not an accuracy or a chance level below it, predict ``accuracy`` with its interval,
and on Gemstones predict the held-out largest models' accuracy from their measured loss."""
import json

import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw.cli import main
from scalelaw.errors import InputError

from conftest import ROOT

GEMSTONES = ROOT / "data" / "gemstones" / "checkpoints.csv"
CHANCE = {"arc_challenge": 0.25, "arc_easy": 0.25, "commonsense_qa": 0.2, "hellaswag": 0.25, "mmlu": 0.25,
          "openbookqa": 0.25, "piqa": 0.5, "siqa": 1 / 3, "winogrande": 0.5}


def test_the_sigmoid_and_the_exponential_form_recover_known_parameters():
    rng = np.random.default_rng(0)
    loss = np.linspace(2.3, 3.6, 40)
    truth = {"a": 0.7, "k": 4.0, "L0": 2.9}
    acc = 0.25 + 0.75 * truth["a"] / (1 + np.exp(truth["k"] * (loss - truth["L0"])))
    result = scalelaw.fit("downstream", pd.DataFrame({"x": loss, "y": acc + rng.normal(0, 0.004, len(loss))}),
                          options={"chance": 0.25})
    assert result.status == "converged"
    for name, value in truth.items():
        assert abs(result.params[name] - value) < 3 * result.stderr[name] + 0.02 * value, name
    exp_truth = {"eps": 1.2, "k": 4.0, "gamma": 0.6}
    acc = 1 - exp_truth["eps"] + exp_truth["k"] * np.exp(-exp_truth["gamma"] * loss)
    result = scalelaw.fit("downstream_exp", pd.DataFrame({"x": loss, "y": acc}))
    assert result.params["gamma"] == pytest.approx(0.6, rel=0.02) and result.params["eps"] == pytest.approx(1.2, rel=0.02)


def test_the_standard_error_weights_each_point():
    """With a stderr column each point's log residual is weighted by its inverse relative error:
    equal relative errors change nothing; points measured 30 times less precisely, and far off, barely
    move the fit, where unweighted they pull it away from the truth."""
    rng = np.random.default_rng(1)
    loss = np.linspace(2.3, 3.6, 60)
    truth = {"a": 0.7, "k": 4.0, "L0": 2.9}
    acc = 0.25 + 0.75 * truth["a"] / (1 + np.exp(truth["k"] * (loss - truth["L0"])))
    noisy = np.arange(len(loss)) % 4 == 0
    se = np.where(noisy, 0.12, 0.004)
    y = np.clip(acc + rng.normal(0, se), 0.01, 0.99)
    frame = pd.DataFrame({"x": loss, "y": y})
    # least squares: the default Huber loss already makes far-off points count for little
    plain = scalelaw.fit("downstream", frame, options={"chance": 0.25}, loss="lsq")
    same = scalelaw.fit("downstream", frame.assign(stderr=0.01 * y), options={"chance": 0.25}, loss="lsq")
    assert same.params == pytest.approx(plain.params, rel=1e-6)
    weighted = scalelaw.fit("downstream", frame.assign(stderr=se), options={"chance": 0.25}, loss="lsq")
    assert weighted.status == "converged"
    error = {name: max(abs(fit.params[k] - v) / v for k, v in truth.items())
             for name, fit in (("plain", plain), ("weighted", weighted))}
    assert error["weighted"] < 0.05 and error["weighted"] < error["plain"] / 2, error
    with pytest.raises(InputError, match="standard errors must be positive"):
        scalelaw.fit("downstream", frame.assign(stderr=np.where(noisy, 0.0, 0.01)), options={"chance": 0.25})


@pytest.mark.parametrize("flags, column, words", [
    (["--chance", "0.25"], "pct", "accuracies must be fractions in [0, 1], got 5"),
    (["--chance", "0.9"], "acc_hellaswag", "--chance 0.9 is at or above every accuracy of column 'acc_hellaswag'"),
    ([], "acc_hellaswag", "give the task's chance level with --chance"),
    (["--chance", "0.25", "--x", "params"], "acc_hellaswag", "column 'params': values up to 1.047e+09 are not a loss"),
])
def test_refusals_are_one_line_and_write_nothing(tmp_path, capsys, flags, column, words):
    data = pd.read_csv(GEMSTONES)
    data["pct"] = 100 * data["acc_hellaswag"]
    path = tmp_path / "acc.csv"
    data.to_csv(path, index=False)
    saved = tmp_path / "acc.json"
    x = [] if "--x" in flags else ["--x", "loss_fineweb_edu"]
    assert main(["fit", str(path), "--law", "downstream", *x, "--y", column, *flags, "--save", str(saved)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and not saved.exists()


def test_predict_gives_the_accuracy_and_its_interval(tmp_path, capsys):
    saved = tmp_path / "acc.json"
    assert main(["fit", str(GEMSTONES), "--law", "downstream", "--x", "loss_fineweb_edu", "--y", "acc_hellaswag",
                 "--chance", "0.25", "--save", str(saved)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["predict", str(saved), "--x", "2.49", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["x"] == [2.49] and out["lo"][0] < out["accuracy"][0] < out["hi"][0] and 0.25 < out["accuracy"][0] < 1
    assert main(["predict", str(saved), "--x", "2.49"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_gemstones_largest_models_from_their_measured_loss():
    """Issue 27 (a): fitted on the 16 smaller models (every checkpoint), the final accuracy of the
    three near 1B from their measured loss, over the 9 tasks, the form (sigmoid or exponential)
    chosen per task by the error on models left out: mean absolute error <= 1.5 points and >= 80 %
    inside a new model's 95 % interval (measured: 1.10 points, 25 of 27 inside, the mean curve's
    band 6 of 27). The sigmoid alone is not a result on arc_challenge, whose smaller models score
    below chance; the exponential form is chosen there."""
    data = pd.read_csv(GEMSTONES)
    final = data[data["step"] == data["step"].max()]
    largest = final.sort_values("params")["run"].iloc[-3:]
    train, held = data[~data["run"].isin(largest)], final[final["run"].isin(largest)]
    errors, inside, inside_mean = [], [], []
    for task, chance in CHANCE.items():
        result = scalelaw.fit(["downstream", "downstream_exp"], pd.DataFrame(
            {"run": train["run"], "x": train["loss_fineweb_edu"], "y": train[f"acc_{task}"]}), options={"chance": chance})
        assert result.converged and result.held_out["by"] == "run" and result.held_out["groups"] == 16
        X = {"x": held["loss_fineweb_edu"].to_numpy()}
        pred, (lo, hi), (mean_lo, mean_hi) = result.predict(X), result.predict_interval(X), \
            result.predict_interval(X, of="mean")
        y = held[f"acc_{task}"].to_numpy()
        errors += list(100 * np.abs(pred - y))
        inside += list((lo <= y) & (y <= hi))
        inside_mean += list((mean_lo <= y) & (y <= mean_hi))
    assert np.mean(errors) <= 1.5 and np.mean(inside) >= 0.8, (np.mean(errors), np.mean(inside))
    assert np.mean(inside_mean) < np.mean(inside)


def _held_out():
    data = pd.read_csv(GEMSTONES)
    final = data[data["step"] == data["step"].max()]
    largest = final.sort_values("params")["run"].iloc[-3:]
    return data[~data["run"].isin(largest)], final[final["run"].isin(largest)]


def test_the_chain_from_sizes_carries_both_steps_uncertainty():
    """Issue 27 (b): loss from (N, D) through a chinchilla fit, then accuracy; the interval
    through both steps is wider than the accuracy step's alone and than the loss step's carried
    alone. On Gemstones' three largest models over the 9 tasks: mean absolute error <= 2.5 points
    and >= 80 % inside (measured, the form chosen per task: 1.27 points, 27 of 27 inside a new
    model's interval, median width 7.2 points; 12 of 27 inside the mean curves' band)."""
    from scalelaw.analysis import chain

    train, held = _held_out()
    loss_fit = scalelaw.fit("chinchilla", pd.DataFrame({"run": train["run"], "N": train["params"],
                                                        "D": train["tokens"], "y": train["loss_fineweb_edu"]}))
    inputs = {"N": held["params"].to_numpy(float), "D": held["tokens"].to_numpy(float)}
    errors, inside = [], []
    for task, chance in CHANCE.items():
        acc_fit = scalelaw.fit(["downstream", "downstream_exp"], pd.DataFrame(
            {"run": train["run"], "x": train["loss_fineweb_edu"], "y": train[f"acc_{task}"]}), options={"chance": chance})
        out = chain(acc_fit, loss_fit, inputs)
        width = out["hi"] - out["lo"]
        assert out["interval"] == "new_run" and np.all(out["mean_hi"] - out["mean_lo"] < width)
        assert np.all(width >= out["accuracy_only_hi"] - out["accuracy_only_lo"] - 1e-12)
        step = 1e-4
        slope = np.abs(acc_fit.predict({"x": out["loss"] + step}) - acc_fit.predict({"x": out["loss"] - step})) / (2 * step)
        inner = (out["lo"] > 0) & (out["hi"] < 1)  # where the [0, 1] clip does not cut the band
        assert np.all(width[inner] >= slope[inner] * (out["loss_hi"] - out["loss_lo"])[inner] - 1e-12)
        y = held[f"acc_{task}"].to_numpy()
        errors += list(100 * np.abs(out["accuracy"] - y))
        inside += list((out["lo"] <= y) & (y <= out["hi"]))
    assert np.mean(errors) <= 2.5 and np.mean(inside) >= 0.8, (np.mean(errors), np.mean(inside))


def test_predict_via_a_loss_fit(tmp_path, capsys):
    train, held = _held_out()
    path = tmp_path / "train.csv"
    train.to_csv(path, index=False)
    acc, loss = tmp_path / "acc.json", tmp_path / "loss.json"
    assert main(["fit", str(path), "--law", "downstream", "--x", "loss_fineweb_edu", "--y", "acc_piqa",
                 "--chance", "0.5", "--save", str(acc)]) == 0
    assert main(["fit", str(path), "--law", "chinchilla", "--n", "params", "--d", "tokens", "--y", "loss_fineweb_edu",
                 "--save", str(loss)]) == 0
    capsys.readouterr()
    n, d = held["params"].iloc[0], held["tokens"].iloc[0]
    assert main(["predict", str(acc), "--via", str(loss), "--n", f"{n:g}", "--d", f"{d:g}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["via"] == "chinchilla" and out["lo"][0] < out["accuracy"][0] < out["hi"][0]
    assert out["loss_lo"][0] < out["loss"][0] < out["loss_hi"][0]
    assert main(["predict", str(loss), "--via", str(acc), "--n", "1e9", "--d", "1e11"]) == 2  # the wrong way round
    assert "--via chains a loss fit into an accuracy fit" in capsys.readouterr().err


def test_the_form_is_chosen_by_the_error_on_models_left_out(tmp_path, capsys):
    """--law downstream,downstream_exp fits both and keeps the one with the smaller error on
    models left out in turn; the JSON says what each scored."""
    train, _ = _held_out()
    frame = pd.DataFrame({"run": train["run"], "x": train["loss_fineweb_edu"], "y": train["acc_arc_easy"]})
    both = {name: scalelaw.fit(name, frame, options={"chance": 0.25} if name == "downstream" else None)
            for name in ("downstream", "downstream_exp")}
    chosen = scalelaw.fit(["downstream", "downstream_exp"], frame, options={"chance": 0.25})
    errors = {name: 100 * r.held_out["sigma"] for name, r in both.items()}
    assert chosen.law.name == min(errors, key=errors.get)
    assert {k: v["held_out_error"] for k, v in chosen.options["compared"].items()} == pytest.approx(errors)
    path = tmp_path / "train.csv"
    train.to_csv(path, index=False)
    assert main(["fit", str(path), "--law", "downstream,downstream_exp", "--x", "loss_fineweb_edu", "--y",
                 "acc_arc_easy", "--chance", "0.25", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["law"] == chosen.law.name and set(out["options"]["compared"]) == {"downstream", "downstream_exp"}
    assert out["options"]["held_out"]["by"] == "run" and out["options"]["held_out"]["groups"] == 16
    with pytest.raises(InputError, match="size laws of the same inputs"):
        scalelaw.fit(["downstream", "chinchilla"], frame, options={"chance": 0.25})
    with pytest.raises(InputError, match="listed twice"):
        scalelaw.fit(["downstream", "downstream"], frame, options={"chance": 0.25})
    with pytest.raises(InputError, match="auto chooses among step laws"):
        scalelaw.fit(["auto", "downstream"], frame, options={"chance": 0.25})
    with pytest.raises(InputError, match="option decay applies to none"):
        scalelaw.fit(["downstream", "downstream_exp"], frame, options={"chance": 0.25, "decay": 1.0})
    assert main(["fit", str(path), "--law", "downstream,downstream_exp", "--x", "loss_fineweb_edu", "--y",
                 "acc_arc_easy", "--chance", "0.25", "--decay", "1"]) == 2
    assert "--decay does not apply" in capsys.readouterr().err


def test_several_tasks_in_one_call(tmp_path, capsys):
    """--y with several columns fits each (with its own --chance), prints a report or a JSON line
    each, and saves one file per column; a bad column or chance level writes nothing."""
    train, held = _held_out()
    path = tmp_path / "train.csv"
    train.to_csv(path, index=False)
    base = ["fit", str(path), "--law", "downstream", "--x", "loss_fineweb_edu"]
    assert main([*base, "--y", "acc_piqa,acc_mmlu", "--chance", "0.5,0.25", "--save", str(tmp_path / "a_{y}.json"),
                 "--json"]) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.strip().splitlines()
    fits = [json.loads(line) for line in lines]
    assert [f["columns"]["y"] for f in fits] == ["acc_piqa", "acc_mmlu"]
    assert [f["options"]["law_options"]["chance"] for f in fits] == [0.5, 0.25]
    one = scalelaw.FitResult.from_json(tmp_path / "a_acc_mmlu.json")
    alone = scalelaw.fit("downstream", pd.DataFrame({"run": train["run"], "x": train["loss_fineweb_edu"],
                                                     "y": train["acc_mmlu"]}), options={"chance": 0.25})
    assert one.params == pytest.approx(alone.params)
    assert main([*base, "--y", "acc_piqa,acc_mmlu", "--chance", "0.25"]) == 0  # one chance level for both
    text = capsys.readouterr().out
    assert "== acc_piqa ==" in text and "== acc_mmlu ==" in text
    # each task weighted by its own standard error column
    assert main([*base, "--y", "acc_piqa,acc_mmlu", "--chance", "0.5,0.25", "--stderr", "stderr_piqa,stderr_mmlu",
                 "--json"]) == 0
    fits = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [f["columns"].get("stderr") for f in fits] == ["stderr_piqa", "stderr_mmlu"]
    assert main(["fit", str(path), "--law", "power", "--x", "loss_fineweb_edu", "--y", "acc_piqa", "--stderr",
                 "stderr_piqa"]) == 2
    assert "--stderr: law 'power' does not read it" in capsys.readouterr().err
    for flags, words in [(["--y", "acc_siqa,acc_mmlu", "--chance", "0.2,0.9"], "every accuracy of column 'acc_mmlu'"),
                         (["--y", "acc_siqa,nope", "--chance", "0.2"], "no column 'nope'"),
                         (["--y", "acc_siqa,acc_mmlu", "--chance", "0.2,0.25,0.5"], "one value for all 2"),
                         (["--y", "acc_siqa", "--chance", "0.2,0.25"], "several values go with several --y"),
                         (["--y", "acc_siqa,acc_mmlu", "--chance", "0.2", "--save", str(tmp_path / "b.json")],
                          "give a path with {y}"),
                         (["--y", "acc_siqa,..", "--chance", "0.2", "--save", str(tmp_path / "{y}" / "b.json")],
                          "column '..': several columns name the output files")]:
        assert main([*base, *flags, "--save", str(tmp_path / "b_{y}.json")] if "--save" not in flags
                    else [*base, *flags]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("b*"))
