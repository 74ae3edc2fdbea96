"""Issue 24 (part): outputs never overwrite inputs, fit files are checked when read, --json is
always valid JSON, and a step law refuses or flags answers outside its domain."""
import json
import math

import pytest

from scalelaw.cli import main

from conftest import DATA

POWER = "params,loss\n1e6,3.0\n1e7,2.6\n1e8,2.3\n1e9,2.1\n1e10,2.0\n"
MPL = [DATA / "multipower_law" / "csv_25" / f"{n}.csv" for n in ("constant_24000", "cosine_24000")]


@pytest.fixture
def power_fit(tmp_path, capsys):
    path = tmp_path / "power.csv"
    path.write_text(POWER)
    saved = tmp_path / "power.json"
    assert main(["fit", str(path), "--save", str(saved)]) == 0
    capsys.readouterr()
    return path, saved


@pytest.fixture(scope="module")
def annealing_fit(tmp_path_factory):
    saved = tmp_path_factory.mktemp("fit") / "ann.json"
    assert main(["fit", *map(str, MPL), "--law", "annealing", "--save", str(saved)]) == 0
    return saved


def test_save_and_plot_never_overwrite_an_input_and_are_checked_first(power_fit, tmp_path, capsys):
    path, _ = power_fit
    for args in (["--save", str(path)], ["--plot", str(path)], ["--save", str(tmp_path)],
                 ["--save", str(path / "x.json")], ["--save", str(tmp_path / "a.png"), "--plot", str(tmp_path / "a.png")]):
        assert main(["fit", str(path), *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert path.read_text() == POWER


def test_a_column_named_twice_is_refused(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("N,loss,loss\n1e6,3,3\n1e7,2.6,2\n1e8,2.3,2\n1e9,2.1,2\n1e10,2.0,1\n")
    assert main(["fit", str(path)]) == 2
    assert "column 'loss' appears twice" in capsys.readouterr().err


def test_compare_refuses_to_score_on_its_own_training_curve(capsys):
    assert main(["compare", str(MPL[0]), "--held-out", str(MPL[0])]) == 2
    assert "is also a log to fit on" in capsys.readouterr().err


@pytest.mark.parametrize("change, key", [
    (lambda d: d["options"].__setitem__("law_options", "default"), "options.law_options"),
    (lambda d: d.__setitem__("options", "default"), "'options'"),
    (lambda d: d["covariance"].__setitem__("matrix", [[1.0, 0.0], [0.0, 1.0]]), "covariance.matrix"),
    (lambda d: d["params"].__setitem__("L0", "2.5"), "params.L0"),
    (lambda d: d["params"].__setitem__("L0", float("nan")), "params.L0"),
    (lambda d: d["params"].__setitem__("L0", -50.0), "outside the law's range"),
    (lambda d: d["options"]["law_options"].__setitem__("decay", "0.999"), "option 'decay' should be a float"),
    (lambda d: d["forecast"].__setitem__("alternatives", [{"law": "annealing", "params": {}}]), "alternatives[0]"),
    (lambda d: d.__setitem__("law", "nope"), "unknown law 'nope'"),
    (lambda d: d.pop("params"), "no 'params'"),
])
def test_a_hand_broken_fit_file_exits_2_naming_the_key(annealing_fit, tmp_path, capsys, change, key):
    d = json.loads(annealing_fit.read_text())
    change(d)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(d))
    assert main(["predict", str(broken), "--schedule", "cosine:peak=3e-4,total=24000,warmup=2160", "--json"]) == 2
    err = capsys.readouterr().err
    assert key in err and str(broken) in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_fit_file_whose_name_starts_with_a_brace_is_a_file(annealing_fit, tmp_path, capsys):
    named = tmp_path / "{w32}.json"
    named.write_text(annealing_fit.read_text())
    assert main(["predict", str(named), "--schedule", "cosine:peak=3e-4,total=24000,warmup=2160", "--json"]) == 0


@pytest.mark.parametrize("peak, code", [("3e-4", 0), ("6e-4", 0), ("1e-2", 3), ("0.1", 3)])
def test_an_lr_above_the_fitted_ones_is_flagged_or_refused(annealing_fit, capsys, peak, code):
    assert main(["predict", str(annealing_fit), "--schedule", f"cosine:peak={peak},total=4000", "--json"]) == code
    out, err = capsys.readouterr()
    if code:
        assert out == "" and "outside its domain" in err and "nothing printed" in err
        return
    d = json.loads(out)  # valid JSON
    assert d["extrapolated"] is (peak != "3e-4")
    assert d["loss"][0] > 0 and d["lo"][0] <= d["loss"][0] <= d["hi"][0]
    if d["extrapolated"]:
        assert "extrapolates" in err


def test_json_output_is_always_valid_json(power_fit, capsys):
    _, saved = power_fit
    assert main(["predict", str(saved), "--x", "1e12", "--json"]) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    assert all(v is None or math.isfinite(v) for v in json.loads(text)["loss"])


TRAIN = ["--steps", "6", "--width", "8", "--batch-size", "4", "--context", "16", "--vocab", "16",
         "--eval-every", "3", "--checkpoint-every", "3", "--quiet"]


@pytest.fixture
def finished_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TRAIN]) == 0
    capsys.readouterr()
    return run


@pytest.mark.parametrize("damage, words", [
    (lambda run: (run / "run.json").write_text((run / "run.json").read_text()[:40]), "run.json: not a readable run.json"),
    (lambda run: (run / "run.json").write_text("[1, 2]"), "run.json: not a run.json"),
    (lambda run: ((run / "run.json").write_text((run / "run.json").read_text().replace('"complete": true', '"complete": false')),
                  (run / "checkpoint.pt").write_bytes((run / "checkpoint.pt").read_bytes()[:100])),
     "checkpoint.pt: not a checkpoint of this run"),
    (lambda run: ((run / "run.json").write_text((run / "run.json").read_text().replace('"complete": true', '"complete": false')),
                  (run / "checkpoint.pt").write_bytes(__import__("pickle").dumps({"model": 1}))),
     "checkpoint.pt: not a checkpoint of this run"),
])
def test_resume_from_a_broken_run_folder_exits_2_naming_the_file(finished_run, capsys, damage, words):
    damage(finished_run)
    assert main(["train", "--out", str(finished_run), *TRAIN, "--resume"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("sweep_json, run_json, words", [
    ('{"runs": {"a": {"st', None, "sweep.json: not a readable sweep.json"),
    ('{"spec": "x"}', None, "sweep.json: not a sweep.json: no 'runs'"),
    ('{"runs": {"../a": {"steps": 5}}}', None, "a run's name is one folder"),
    ('{"runs": {"a": {"steps": 5}}}', '{"comp', "a/run.json: not a readable run.json"),
])
def test_sweep_status_of_a_broken_sweep_exits_2_naming_the_file(tmp_path, capsys, sweep_json, run_json, words):
    (tmp_path / "sweep.json").write_text(sweep_json)
    if run_json is not None:
        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "run.json").write_text(run_json)
    assert main(["sweep", "status", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


@pytest.mark.slow
def test_sigterm_ends_a_command_like_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "scalelaw", "train", "--out", str(run), "--steps", "100000",
                             "--width", "8", "--quiet"], stderr=subprocess.PIPE, text=True)
    while not (run / "log.csv").exists() or len((run / "log.csv").read_text().splitlines()) < 5:
        time.sleep(0.2)
        assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and err == "scalelaw: terminated (SIGTERM)\n"
    lines = (run / "log.csv").read_text().splitlines()
    assert all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)  # no torn row


@pytest.mark.slow
def test_two_trainers_never_write_one_run_folder(tmp_path, capsys):
    """A second trainer on a run folder that a live one is writing exits 2 naming the holder; once
    the holder is killed (-9: its lock stays behind), a resume takes the lock over and the log
    ends with every step once."""
    import signal
    import subprocess
    import sys
    import time

    import pandas as pd

    run = tmp_path / "run"
    args = ["--steps", "400", "--width", "8", "--batch-size", "4", "--context", "16", "--vocab", "16",
            "--eval-every", "50", "--checkpoint-every", "20", "--quiet"]
    first = subprocess.Popen([sys.executable, "-m", "scalelaw", "train", "--out", str(run), *args])
    while not (run / "log.csv").exists() or len((run / "log.csv").read_text().splitlines()) < 60:
        time.sleep(0.1)
        assert first.poll() is None
    assert main(["train", "--out", str(run), *args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"another trainer (pid {first.pid}" in err and "is writing this run" in err
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (run / ".lock").exists()
    assert main(["train", "--out", str(run), *args, "--resume"]) == 0
    assert f"taking over the lock of pid {first.pid}" in capsys.readouterr().err
    log = pd.read_csv(run / "log.csv")
    assert log["step"].tolist() == list(range(1, 401)) and not (run / ".lock").exists()


@pytest.mark.parametrize("args,words", [
    (["fit", str(MPL[1]), "--law", "annealing", "--step-min", "-1"], "a step is a finite number >= 0, got '-1'"),
    (["fit", str(MPL[1]), "--law", "annealing", "--step-min", "nan"], "got 'nan'"),
    (["compare", str(MPL[0]), "--held-out", str(MPL[1]), "--step-min", "inf"], "got 'inf'"),
    (["fit", str(MPL[1]), "--step-max", "-5"], "got '-5'"),
    (["predict", "FIT", "--schedule", "constant:peak=1e-3,total=100,peak=2"], "'peak' is given twice"),
    (["train", "--schedule", "cosine:peak=1e-3, peak =2", "--steps", "3", "--out", "OUT"], "'peak' is given twice"),
])
def test_found_by_running_many_odd_inputs(annealing_fit, tmp_path, capsys, args, words):
    """Cases from a run of 732 odd inputs through every command: each exits 2 naming the value."""
    args = [str(annealing_fit) if a == "FIT" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own refusal of a flag's value
        code = exc.code
    assert code == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
