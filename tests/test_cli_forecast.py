"""``scalelaw forecast``: a run's final loss from its log so far, on the bundled curves of Luo et al."""
import json
from pathlib import Path

import pandas as pd
import pytest

from scalelaw.cli import main

MPL = Path(__file__).resolve().parents[1] / "data" / "multipower_law"
COSINE_100M = "cosine:total=72000,peak=3e-4,warmup=2160"


def _part(tmp_path, size: str, run: str, share: float) -> tuple[Path, float, int]:
    frame = pd.read_csv(MPL / f"csv_{size}" / f"{run}.csv")
    last = int(frame["step"].iloc[-1])
    path = tmp_path / f"{size}_{run}_{share}.csv"
    frame[frame["step"] <= share * last].to_csv(path, index=False)
    return path, float(frame["loss"].iloc[-1]), last


def test_forecast_of_a_cosine_from_its_first_40_percent(tmp_path, capsys):
    """The 100M cosine of Luo et al. seen to 40 %: the final loss (logged at step 71,936) lies in
    the 95 % interval, whose width is under 10 % of the loss; the decay term comes from the run."""
    path, truth, last = _part(tmp_path, "100", "cosine_72000", 0.4)
    assert main(["forecast", str(path), "--schedule", COSINE_100M, "--at", str(last), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lo"] <= truth <= out["hi"], (out["lo"], truth, out["hi"])
    assert (out["hi"] - out["lo"]) / out["final"] < 0.10
    assert out["from"] == "run" and out["method"] in ("laplace", "sampled")
    assert out["steps"] == [last] and out["seen"]["anneal_seen"] > 0.1


def test_step_max_reads_the_run_as_it_stood(tmp_path, capsys):
    """--step-max on the whole log gives the forecast of the log cut at that step."""
    path, _, last = _part(tmp_path, "100", "cosine_72000", 0.2)
    cut = int(pd.read_csv(path)["step"].iloc[-1])
    whole = MPL / "csv_100" / "cosine_72000.csv"
    outs = []
    for argv in ([str(path)], [str(whole), "--step-max", str(cut)]):
        assert main(["forecast", *argv, "--schedule", COSINE_100M, "--at", str(last), "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[1]["seen"]["rows"] == outs[0]["seen"]["rows"] < len(pd.read_csv(whole))
    assert outs[1]["final"] == pytest.approx(outs[0]["final"]) and outs[1]["hi"] == pytest.approx(outs[0]["hi"])


def test_references_of_other_sizes(tmp_path, capsys):
    """The 25M cosine at 20 % with finished 100M runs as references: the forecast says it came
    from them, and its interval is narrower than alone."""
    path, truth, last = _part(tmp_path, "25", "cosine_72000", 0.2)
    refs = [str(MPL / "csv_100" / f"{r}.csv") for r in ("cosine_24000", "constant_24000")]
    widths = {}
    for label, extra in (("alone", []), ("refs", ["--reference", *refs])):
        assert main(["forecast", str(path), "--schedule", COSINE_100M, "--json", *extra]) == 0
        out = json.loads(capsys.readouterr().out)
        widths[label] = out["hi"] - out["lo"]
        assert out["from"] == ("references" if extra else "prior")  # 20 % of a cosine: too little anneal
    assert widths["refs"] < widths["alone"]


def test_the_text_report(tmp_path, capsys):
    path, _, _ = _part(tmp_path, "400", "constant_24000", 0.3)
    assert main(["forecast", str(path), "--total", "24000"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("forecast at step 24,000:") and "posterior" in text and "population" in text


@pytest.mark.parametrize("extra, message", [
    (["--total", "100"], "--total 100"),
    (["--schedule", "cosine:total=1000,peak=1e-3", "--at", "5000"], "--at"),
    (["--schedule", "cosine:total=24000,peak=1e-3", "--population", "missing.json"], "missing.json"),
])
def test_bad_input_is_one_line(tmp_path, capsys, extra, message):
    path, _, _ = _part(tmp_path, "400", "constant_24000", 0.3)
    assert main(["forecast", str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("extra", [["--schedule", "cosine:total=24000,peak=1e-3", "--total", "24000"], []])
def test_one_of_schedule_or_total(tmp_path, capsys, extra):
    path, _, _ = _part(tmp_path, "400", "constant_24000", 0.3)
    with pytest.raises(SystemExit) as exc:
        main(["forecast", str(path), *extra])
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1
