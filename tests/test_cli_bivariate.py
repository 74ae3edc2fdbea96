"""The command line for the bivariate laws: fit, predict, allocate, and bad input."""
import json

import numpy as np
import pytest

from scalelaw.cli import main
from test_bivariate import chinchilla_grid, encdec_grid


@pytest.fixture
def encdec_log(tmp_path):
    path = tmp_path / "encdec.csv"
    encdec_grid().rename(columns={"Ne": "enc_params", "Nd": "dec_params", "y": "loss"}).to_csv(path, index=False)
    return path


def test_encdec_fit_allocate_predict(encdec_log, tmp_path, capsys):
    saved, png = tmp_path / "fit.json", tmp_path / "fit.png"
    assert main(["fit", str(encdec_log), "--law", "encdec", "--ne", "enc_params", "--nd", "dec_params",
                 "--y", "loss", "--ref-ne", "1e8", "--ref-nd", "1e8", "--save", str(saved),
                 "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "optimal_ne_over_nd" in text and "preferred encdec" in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["allocate", str(saved), "--budget", "1e9"]) == 0
    assert "encoder_fraction" in capsys.readouterr().out
    assert main(["allocate", str(saved), "--budget", "1e9,2e9", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["allocations"]
    assert rows[0]["encoder_fraction"] == pytest.approx(0.25 / 0.65, abs=0.01)
    assert rows[1]["Ne"] + rows[1]["Nd"] == pytest.approx(2e9)
    assert main(["predict", str(saved), "--ne", "1e8,2e8", "--nd", "1e8", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["Ne"] == [1e8, 2e8] and pred["Nd"] == [1e8, 1e8]
    assert pred["loss"][0] == pytest.approx(0.9 + 1.6, rel=0.01)  # a + L_inf at the reference
    assert pred["lower"][0] < pred["loss"][0] < pred["upper"][0]


def test_encdec_json_has_the_total_size_comparison(encdec_log, capsys):
    assert main(["fit", str(encdec_log), "--law", "encdec", "--ne", "enc_params", "--nd", "dec_params",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["options"]["law_options"]["ref_ne"] > 0
    assert out["versus_total"]["preferred"] == "encdec" and out["versus_total"]["delta_aic"] > 0


def test_chinchilla_from_d_column_and_predict_from_compute(tmp_path, capsys):
    path, saved = tmp_path / "nd.csv", tmp_path / "fit.json"
    chinchilla_grid().rename(columns={"y": "loss"}).to_csv(path, index=False)
    assert main(["fit", str(path), "--law", "chinchilla", "--n", "N", "--d", "D", "--save", str(saved),
                 "--bootstrap", "10"]) == 0
    capsys.readouterr()
    assert main(["predict", str(saved), "--n", "1e9", "--c", "1.2e20", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["D"] == [pytest.approx(2e10)]
    assert main(["allocate", str(saved), "--budget", "1e21"]) == 0
    assert "bootstrap" in capsys.readouterr().out


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("rows, args, message", [
    ("Ne,Nd,loss\n1e8,1e8,3\n0,2e8,2.9\n2e8,1e8,2.8\n", ["--law", "encdec"],
     "column 'Ne', line 3: 0.0 is not a positive number"),
    ("Ne,Nd,loss\n" + "".join(f"1e8,{d},{3 - i / 10}\n" for i, d in enumerate([1e7, 2e7, 4e7, 8e7, 1.6e8, 3.2e8])),
     ["--law", "encdec"], "every point has the same Ne"),
    ("Ne,Nd,loss\n1e8,1e8,3\n2e8,1e8,2.8\n", ["--law", "encdec"], "at least 5 points"),
    ("N,C,loss\n1e8,1e19,3\n", ["--law", "chinchilla"], "found no D column; name it with --d (or compute with --c)"),
    ("N,D,loss\n1e8,-1e9,3\n", ["--law", "chinchilla"], "column 'D', line 2: -1000000000.0 is not a positive"),
    ("N,D,loss\n1e8,1e9,3\n", ["--law", "power", "--ref-ne", "1"], "--ref-ne does not apply to law 'power'"),
    ("N,D,loss\n1e8,1e9,3\n", ["--law", "chinchilla", "--drop-top-loss", "3"], "--drop-top-loss 3: only 1 points"),
])
def test_bad_bivariate_input_exits_2(tmp_path, capsys, rows, args, message):
    path = write(tmp_path / "bad.csv", rows)
    saved = tmp_path / "out.json"
    assert main(["fit", str(path), *args, "--save", str(saved)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not saved.exists()


def test_allocate_rejects_a_size_law_and_bad_budget(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = np.geomspace(1e6, 1e10, 20)
    path = write(tmp_path / "sizes.csv", "params,loss\n" + "".join(
        f"{a},{(1.8 + (2e6 / a) ** 0.3) * np.exp(rng.normal(0, 0.003))}\n" for a in n))
    saved = tmp_path / "power.json"
    assert main(["fit", str(path), "--x", "params", "--save", str(saved)]) == 0
    capsys.readouterr()
    assert main(["allocate", str(saved), "--budget", "1e9"]) == 2
    assert "no budget to allocate" in capsys.readouterr().err
    encdec = tmp_path / "encdec.csv"
    encdec_grid().rename(columns={"y": "loss"}).to_csv(encdec, index=False)
    assert main(["fit", str(encdec), "--law", "encdec", "--save", str(saved)]) == 0
    capsys.readouterr()
    assert main(["allocate", str(saved), "--budget", "-5"]) == 2
    assert "budget must be positive" in capsys.readouterr().err
    assert main(["predict", str(saved), "--ne", "1e8"]) == 2
    assert "predicts from --ne VALUES --nd VALUES" in capsys.readouterr().err
