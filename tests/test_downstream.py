"""From loss to task accuracy (issue 27): the downstream laws recover known parameters, refuse
what is not an accuracy or a chance level below it, predict ``accuracy`` with its interval,
and on Gemstones predict the held-out largest models' accuracy from their measured loss."""
import json

import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw.cli import main

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


@pytest.mark.parametrize("flags, column, words", [
    (["--chance", "0.25"], "pct", "accuracies must be fractions in [0, 1], got 56.5"),
    (["--chance", "0.9"], "acc_hellaswag", "--chance 0.9 is at or above every accuracy"),
    ([], "acc_hellaswag", "give the task's chance level with --chance"),
])
def test_refusals_are_one_line_and_write_nothing(tmp_path, capsys, flags, column, words):
    data = pd.read_csv(GEMSTONES)
    data["pct"] = 100 * data["acc_hellaswag"]
    path = tmp_path / "acc.csv"
    data.to_csv(path, index=False)
    saved = tmp_path / "acc.json"
    assert main(["fit", str(path), "--law", "downstream", "--x", "loss_fineweb_edu", "--y", column, *flags,
                 "--save", str(saved)]) == 2
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
    three near 1B from their measured loss, over the 9 tasks: mean absolute error <= 1.5 points
    and >= 80 % inside the 95 % intervals (measured: 1.09 points, 24 of 27 inside; 8 of the 9
    fits put the ceiling at a perfect score, a bound: the losses seen do not pin it)."""
    data = pd.read_csv(GEMSTONES)
    final = data[data["step"] == data["step"].max()]
    largest = final.sort_values("params")["run"].iloc[-3:]
    train, held = data[~data["run"].isin(largest)], final[final["run"].isin(largest)]
    errors, inside = [], []
    for task, chance in CHANCE.items():
        result = scalelaw.fit("downstream", pd.DataFrame({"x": train["loss_fineweb_edu"], "y": train[f"acc_{task}"]}),
                              options={"chance": chance})
        X = {"x": held["loss_fineweb_edu"].to_numpy()}
        pred, (lo, hi) = result.predict(X), result.predict_interval(X)
        y = held[f"acc_{task}"].to_numpy()
        errors += list(100 * np.abs(pred - y))
        inside += list((lo <= y) & (y <= hi))
    assert np.mean(errors) <= 1.5 and np.mean(inside) >= 0.8, (np.mean(errors), np.mean(inside))
