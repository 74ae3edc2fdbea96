"""The scalelaw command line: outputs, exit codes, and malformed input (fuzz)."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from scalelaw.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "scalelaw", *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def log(tmp_path):
    rng = np.random.default_rng(0)
    n = np.geomspace(1e6, 1e10, 40)
    loss = (1.8 + (2e6 / n) ** 0.3) * np.exp(rng.normal(0, 0.003, n.size))
    path = tmp_path / "sizes.csv"
    path.write_text("params,loss\n" + "".join(f"{a},{b}\n" for a, b in zip(n, loss)))
    return path


def test_fit_json_save_plot_predict(log, tmp_path, capsys):
    fit_path, png = tmp_path / "fit.json", tmp_path / "fit.png"
    assert main(["fit", str(log), "--law", "power", "--x", "params", "--y", "loss", "--json",
                 "--save", str(fit_path), "--plot", str(png), "--bootstrap", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("law", "params", "stderr", "metrics", "converged"):
        assert key in out
    assert out["law"] == "power" and out["converged"] is True
    assert {"r2", "mape"} <= set(out["metrics"]) and out["metrics"]["r2"] > 0.99
    assert out["params"]["alpha"] == pytest.approx(0.3, rel=0.1)
    assert fit_path.exists() and png.read_bytes()[:4] == b"\x89PNG"

    assert main(["predict", str(fit_path), "--x", "1e9,1e11", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["x"] == [1e9, 1e11] and pred["extrapolated"] == [False, True]
    assert pred["loss"][0] == pytest.approx(1.8 + (2e6 / 1e9) ** 0.3, rel=0.01)
    assert all(lo < y < hi for lo, y, hi in zip(pred["lower"], pred["loss"], pred["upper"]))


def test_report_and_column_recognition(log, capsys):
    assert main(["fit", str(log)]) == 0
    captured = capsys.readouterr()
    assert "L_inf" in captured.out and "converged" in captured.out
    assert "x='params'" in captured.err and "y='loss'" in captured.err


def test_not_converged_exits_3_and_saves_nothing(log, tmp_path, capsys):
    fit_path = tmp_path / "fit.json"
    assert main(["fit", str(log), "--max-iter", "1", "--save", str(fit_path)]) == 3
    assert "NOT CONVERGED" in capsys.readouterr().out
    assert not fit_path.exists()


@pytest.mark.slow
def test_entry_point_runs_without_traceback(log):
    proc = run_cli("fit", log, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["law"] == "power"
    proc = run_cli("fit", log.with_name("missing.csv"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "missing.csv" in proc.stderr


MALFORMED = {
    "empty": "",
    "header only": "params,loss\n",
    "missing column": "params,acc\n1e6,3\n1e7,2.5\n1e8,2.2\n1e9,2.0\n",
    "text value": "params,loss\n1e6,3\n1e7,two\n1e8,2.2\n1e9,2.0\n",
    "nan": "params,loss\n1e6,3\n1e7,nan\n1e8,2.2\n1e9,2.0\n",
    "inf": "params,loss\n1e6,3\ninf,2.5\n1e8,2.2\n1e9,2.0\n",
    "empty cell": "params,loss\n1e6,3\n1e7,\n1e8,2.2\n1e9,2.0\n",
    "zero size": "params,loss\n0,3\n1e7,2.5\n1e8,2.2\n1e9,2.0\n",
    "negative loss": "params,loss\n1e6,3\n1e7,-2.5\n1e8,2.2\n1e9,2.0\n",
    "too few points": "params,loss\n1e6,3\n1e7,2.5\n1e8,2.2\n",
    "ragged rows": "params,loss\n1e6,3\n1e7,2.5,9,9\n1e8,2.2\n1e9,2.0\n",
    "binary": "\x00\x01\x02\xff\xfe",
    "steps start over": "step,loss\n1,3\n2,2.5\n3,2.2\n1,2.4\n2,2.0\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_csv_exits_2_with_one_line(tmp_path, name, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(MALFORMED[name].encode("latin-1"))
    out = tmp_path / "fit.json"
    args = ["fit", str(path), "--save", str(out)]
    if name == "steps start over":
        args += ["--x", "step", "--step", "step"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("scalelaw: error: ") and err.count("\n") == 1 and "bad.csv" in err
    assert not out.exists()


def test_fuzzed_csvs_never_crash(tmp_path, capsys):
    """Random corruptions of a good log: every run ends in exit 0, 2 or 3, never an exception."""
    rng = np.random.default_rng(7)
    good = "params,loss\n" + "".join(f"{10 ** (6 + i / 4)},{3 - i / 20}\n" for i in range(16))
    junk = ["", "nan", "-1", "0", "inf", "x", '"', ",", "1e999", "\t", "NULL", "3,3"]
    for trial in range(40):
        cells = [line.split(",") for line in good.splitlines()]
        for _ in range(rng.integers(1, 4)):
            i, j = rng.integers(0, len(cells)), rng.integers(0, 2)
            cells[i][j] = junk[rng.integers(len(junk))]
        path = tmp_path / f"fuzz{trial}.csv"
        path.write_text("\n".join(",".join(c) for c in cells) + "\n")
        code = main(["fit", str(path)])
        err = capsys.readouterr().err
        assert code in (0, 2, 3), (trial, path.read_text())
        if code == 2:
            assert err.count("\n") == 1 and str(path) in err


def test_predict_bad_fit_file(tmp_path, capsys):
    bad = tmp_path / "fit.json"
    bad.write_text("{not json")
    assert main(["predict", str(bad), "--x", "1e9"]) == 2
    assert "not a scalelaw fit file" in capsys.readouterr().err


def test_ctrl_c_is_one_line_exit_130_and_leaves_no_file(tmp_path, capsys, monkeypatch):
    import scalelaw.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    path = tmp_path / "p.csv"
    path.write_text("params,loss\n1e6,3.0\n1e7,2.6\n1e8,2.3\n1e9,2.1\n1e10,2.0\n")
    monkeypatch.setattr(cli, "fit", interrupted)
    saved = tmp_path / "fit.json"
    assert cli.main(["fit", str(path), "--save", str(saved)]) == 130
    assert capsys.readouterr().err == "scalelaw: interrupted\n" and not saved.exists()


@pytest.mark.parametrize("body, words", [
    ("params,loss\n1e6,2.0\n1e7,2.2\n1e8,2.5\n1e9,2.7\n1e10,3.0\n", "the loss rises with x (Spearman +1.00)"),
    ("params,loss\n1e9,2.0\n1e9,2.2\n1e9,2.5\n1e9,2.7\n1e9,3.0\n", "column 'x' has one distinct value (1e+09)"),
    ("params,loss\n1e6,1e308\n1e7,9e307\n1e8,8e307\n1e9,7e307\n1e10,6e307\n", "overflow the fit's metrics"),
    ("params,loss\n1e6,2.5\n1e7,2.4\n1e8,2.3\n1e9,2.25\n1e10,60\n", "R2 is -"),
])
def test_a_fit_that_is_not_a_result_exits_3_and_saves_nothing(tmp_path, capsys, body, words):
    path = tmp_path / "p.csv"
    path.write_text(body)
    saved = tmp_path / "fit.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(path), "--save", str(saved)]) == 3
    out, err = capsys.readouterr()
    assert "NOT A RESULT" in out and "not a result: " in err and words in err and not saved.exists()
    assert main(["fit", str(path), "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["status"] == "not_a_result"


def test_plot_format_is_checked_before_fitting_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    import scalelaw.cli as cli

    path = tmp_path / "p.csv"
    path.write_text("params,loss\n1e6,3.0\n1e7,2.6\n1e8,2.3\n1e9,2.1\n1e10,2.0\n")
    monkeypatch.setattr(cli, "fit", lambda *a, **k: pytest.fail("fitted before checking --plot"))
    saved, image = tmp_path / "fit.json", tmp_path / "fit.xyz"
    assert cli.main(["fit", str(path), "--save", str(saved), "--plot", str(image)]) == 2
    err = capsys.readouterr().err
    assert "fit.xyz: cannot write a 'xyz' image" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_an_absurd_schedule_is_refused_before_allocating(tmp_path, capsys):
    path = tmp_path / "p.csv"
    steps = np.arange(100, 3001, 100)
    path.write_text("step,lr,loss\n" + "".join(f"{s},1e-3,{3 + (s * 1e-3) ** -0.5}\n" for s in steps))
    saved = tmp_path / "fit.json"
    assert main(["fit", str(path), "--law", "annealing", "--save", str(saved)]) == 0
    capsys.readouterr()
    assert main(["predict", str(saved), "--schedule", "constant:peak=1e-3,total=1e12", "--at", "1e12"]) == 2
    assert "total must lie between 1 and 20,000,000 steps" in capsys.readouterr().err


def test_write_errors_name_the_file_not_a_temporary_one(tmp_path):
    from scalelaw.io import write_atomic

    target = tmp_path / "missing" / "fit.json"
    with pytest.raises(OSError) as err:
        write_atomic(target, "{}")
    assert err.value.filename == str(target)


def test_usage_errors_are_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "x.csv", "--bootstrap", "many"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("scalelaw: error: argument --bootstrap: invalid int value: 'many'") and err.count("\n") == 1


def test_a_reader_that_stops_early_loses_no_output_and_sees_no_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("params,loss\n" + "".join(f"{n:g},{2 + (n / 1e5) ** -0.3}\n" for n in np.geomspace(1e6, 1e10, 9)))
    image, saved = tmp_path / "fit.png", tmp_path / "fit.json"
    cmd = (f"{sys.executable} -m scalelaw fit {path} --save {saved} --plot {image} --bootstrap 50 "
           f"| head -c 1 > /dev/null")
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stderr.strip().startswith("scalelaw: using columns") \
        and "Broken pipe" not in out.stderr and "Traceback" not in out.stderr
    assert image.stat().st_size > 0 and saved.exists()
