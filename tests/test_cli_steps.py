"""The command line on training curves: fit --law annealing|multipower, predict --log and
--schedule, compare, and bad logs."""
import json
import sys

import numpy as np
import pytest

from scalelaw.cli import main

from conftest import DATA

CURVES = DATA / "multipower_law" / "csv_100"


def test_fit_predict_log_and_schedule(tmp_path, capsys):
    fit_path, png = tmp_path / "fit.json", tmp_path / "fit.png"
    assert main(["fit", str(CURVES / "constant_24000.csv"), str(CURVES / "cosine_24000.csv"),
                 "--law", "annealing", "--step", "step", "--lr", "lr", "--loss", "loss",
                 "--save", str(fit_path), "--plot", str(png), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["law"] == "annealing" and out["converged"] and out["options"]["law_options"]["decay"] == 0.999
    assert png.stat().st_size > 10_000

    assert main(["predict", str(fit_path), "--log", str(CURVES / "wsdcon_9.csv"), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    rows = len((CURVES / "wsdcon_9.csv").read_text().splitlines()) - 1
    assert len(pred["step"]) == len(pred["loss"]) == rows and 0 < pred["mape"] < 0.5

    spec_cos = "cosine:peak=3e-4,total=24000,warmup=2160,final=3e-5"
    assert main(["predict", str(fit_path), "--schedule", spec_cos, "--at", "1000,24000", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["step"] == [1000, 24000] and pred["loss"][0] > pred["loss"][1]
    assert sum(pred["width_from"].values()) == pytest.approx(1.0, abs=1e-3)  # what the final width is made of
    assert {"parameters", "error scale"} <= set(pred["width_from"])
    spec_wsd = "wsd:peak=3e-4,total=24000,warmup=2160,final=3e-5,decay=0.2"
    assert main(["predict", str(fit_path), "--schedule", spec_cos, "--schedule", spec_wsd, "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    finals = {p["schedule"]: p["final_loss"] for p in both["schedules"]}
    assert both["best"] == min(finals, key=finals.get)

    # --plot draws each forecast with its band (issue 28): for schedules, and over a log's points
    drawn = tmp_path / "forecast.png"
    assert main(["predict", str(fit_path), "--schedule", spec_cos, "--schedule", spec_wsd, "--plot", str(drawn)]) == 0
    assert drawn.stat().st_size > 10_000
    capsys.readouterr()
    drawn.unlink()
    assert main(["predict", str(fit_path), "--log", str(CURVES / "wsdcon_9.csv"), "--plot", str(drawn), "--json"]) == 0
    assert drawn.stat().st_size > 10_000 and json.loads(capsys.readouterr().out)["mape"] < 0.5
    assert main(["predict", str(fit_path), "--schedule", spec_cos, "--plot", str(tmp_path / "x.xyz")]) == 2
    assert "cannot write a 'xyz' image" in capsys.readouterr().err and not (tmp_path / "x.xyz").exists()


def test_compare_prints_per_curve_errors(tmp_path, capsys):
    assert main(["compare", str(CURVES / "constant_24000.csv"), str(CURVES / "cosine_24000.csv"),
                 "--held-out", str(CURVES / "wsd_20000_24000.csv"), str(CURVES / "wsdcon_3.csv"),
                 "--laws", "annealing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["mape"]["annealing"]) == {"wsd_20000_24000", "wsdcon_3"}
    assert out["best"] == "annealing" and out["mean_mape"]["annealing"] < 0.3


@pytest.mark.slow
def test_compare_takes_auto_and_scores_each_run_of_a_held_out_file(tmp_path, capsys):
    import pandas as pd

    both = pd.concat([pd.read_csv(CURVES / f"{name}.csv").assign(run=name) for name in ("wsd_20000_24000", "wsdcon_3")])
    both.to_csv(tmp_path / "held.csv", index=False)
    assert main(["compare", str(CURVES / "constant_24000.csv"), str(CURVES / "cosine_24000.csv"),
                 "--held-out", str(tmp_path / "held.csv"), "--laws", "annealing,auto", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["laws"] == ["annealing", "auto"] and out["chosen"].split("(")[0] in ("annealing", "multipower")
    assert set(out["mape"]["auto"]) == {"held/wsd_20000_24000", "held/wsdcon_3"}
    assert all(v < 0.5 for v in out["mape"]["auto"].values())
    assert main(["compare", str(CURVES / "constant_24000.csv"), "--held-out", str(tmp_path / "held.csv"),
                 "--laws", "annealing,power"]) == 2
    assert "compare takes step laws" in capsys.readouterr().err


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("body, words", [
    ("step,loss\n100,3.5\n200,3.4\n300,3.3\n400,3.2\n500,3.1\n", "found no lr column"),
    ("step,lr,loss\n100,1e-3,3.5\n300,1e-3,3.4\n200,1e-3,3.3\n400,1e-3,3.2\n100,1e-3,3.1\n",
     "line 6: the steps start over (400 -> 100): several runs in one file? name the column"),
    ("step,lr,loss\n100,1e-3,3.5\n200,-1e-3,3.4\n300,1e-3,3.3\n400,1e-3,3.2\n500,1e-3,3.1\n",
     "column 'lr', line 3: -0.001 is not a non-negative number"),
    ("step,lr,loss\n100,0,3.5\n200,0,3.4\n300,0,3.3\n400,0,3.2\n500,0,3.1\n",
     "the learning rate is zero at every row"),
    ("step,lr,loss\n10,1e308,15.6\n40,9.8e-4,10.2\n70,9.6e-4,8.8\n100,9.5e-4,8.0\n130,9.3e-4,7.5\n160,9.2e-4,7.2\n",
     "makes the law's input S1 overflow"),  # found by hypothesis: was a LinAlgError traceback
])
def test_bad_logs_exit_2_with_one_line(tmp_path, capsys, body, words):
    log = write(tmp_path / "bad.csv", body)
    saved = tmp_path / "fit.json"
    assert main(["fit", str(log), "--law", "annealing", "--save", str(saved)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "bad.csv" in err and len(err.splitlines()) == 1
    assert not saved.exists()


def test_schedule_instead_of_lr_column_and_bad_spec(tmp_path, capsys):
    steps = np.arange(200, 6001, 100)
    loss = 3.0 + 0.5 * (steps * 3e-4) ** -0.5
    log = write(tmp_path / "run.csv", "step,loss\n" + "".join(f"{s},{v}\n" for s, v in zip(steps, loss)))
    spec = "constant:peak=3e-4,total=6000"
    assert main(["fit", str(log), "--law", "annealing", "--schedule", spec, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["alpha"] == pytest.approx(0.5, abs=0.02)
    assert main(["fit", str(log), "--law", "annealing", "--schedule", "cosine:total=6000"]) == 2
    assert "peak" in capsys.readouterr().err
    assert main(["fit", str(log), "--law", "power", "--schedule", spec]) == 2
    assert "step laws" in capsys.readouterr().err
    assert main(["fit", str(log), "--law", "annealing", "--schedule", "constant:peak=3e-4,total=5000"]) == 2
    assert "step 6000 was asked for" in capsys.readouterr().err


def test_predict_needs_log_or_schedule(tmp_path, capsys):
    fit_path = tmp_path / "fit.json"
    assert main(["fit", str(CURVES / "constant_24000.csv"), str(CURVES / "cosine_24000.csv"),
                 "--law", "annealing", "--save", str(fit_path)]) == 0
    capsys.readouterr()
    assert main(["predict", str(fit_path), "--x", "1e9"]) == 2
    assert "--log LOG or --schedule" in capsys.readouterr().err
    assert main(["predict", str(fit_path), "--schedule", "constant:peak=3e-4,total=100", "--at", "200"]) == 2
    assert "--at" in capsys.readouterr().err


def test_long_work_shows_progress_on_a_terminal_only(capsys, monkeypatch):
    """Issue 28: fit --law auto (and compare, isoflop, the starts of any fit) show a tqdm bar on
    stderr where it is a terminal, and print nothing of the kind into a pipe or a file."""
    pytest.importorskip("tqdm")
    log = str(CURVES / "cosine_24000.csv")
    assert main(["fit", log, "--law", "auto", "--json"]) == 0
    assert "scoring candidate laws" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["fit", log, "--law", "auto", "--json"]) == 0
    err = capsys.readouterr().err
    assert "auto: scoring candidate laws" in err and "starts" in err
