"""scalelaw.train.trainer: the log it writes, resume after a kill, DDP, devices, checks before
writing, a diverging run."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalelaw.cli import main  # noqa: E402
from scalelaw.io import load_runs  # noqa: E402
from scalelaw.train import MarkovSource, TrainConfig, train  # noqa: E402

from conftest import TINY, cli_command, read_log  # noqa: E402


def test_train_writes_a_log_that_fit_reads(tmp_path):
    meta = train(TrainConfig(**TINY, noise_every=1), tmp_path / "run", progress=False)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert list(rows[0]) == ["step", "tokens", "lr", "loss", "val_loss", "batch_tokens", "grad_noise_scale"]
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert {int(r["batch_tokens"]) for r in rows} == {8 * 16}
    scales = [float(r["grad_noise_scale"]) for r in rows if r["grad_noise_scale"]]
    assert len(scales) >= 6 and all(v > 0 for v in scales)  # empty while an estimate is not yet positive
    train(TrainConfig(**TINY, noise_scale=False), tmp_path / "off", progress=False)
    assert not any(r["grad_noise_scale"] for r in read_log(tmp_path / "off" / "log.csv"))
    assert [int(r["tokens"]) for r in rows] == [8 * 16 * s for s in range(1, 13)]
    assert [bool(r["val_loss"]) for r in rows] == [s % 5 == 0 or s == 12 for s in range(1, 13)]
    lr = TrainConfig(**TINY).lr_schedule()
    np.testing.assert_allclose([float(r["lr"]) for r in rows], lr[1:], rtol=1e-5)
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved == json.loads(json.dumps(meta))
    assert saved["complete"] and saved["config"]["width"] == 16 and saved["config"]["noise_every"] == 1
    assert saved["corpus"]["entropy"] == pytest.approx(MarkovSource(16, 2, 0.1).entropy)
    assert set(saved["parameters"]) == {"total", "non_embedding"} and "torch" in saved["versions"]
    n, d, c = saved["parameters"]["non_embedding"], 12 * 8 * 16, TrainConfig(**TINY)
    assert saved["final"]["flops_6nd"] == 6 * n * d
    assert saved["final"]["flops"] == 3 * (2 * n + 2 * c.layers * c.context * c.width) * d  # with attention
    runs = load_runs([tmp_path / "run" / "log.csv"], ["step", "y", "lr"])
    assert len(runs) == 12 and runs.attrs["columns"] == {"step": "step", "y": "loss", "lr": "lr"}
    val = load_runs([tmp_path / "run" / "log.csv"], ["step", "y"], columns={"y": "val_loss"})
    assert val["step"].tolist() == [5, 10, 12]  # a loss logged every k steps, named explicitly


def test_loss_falls_towards_the_entropy(tmp_path):
    meta = train(TrainConfig(steps=150, batch_size=16, context=32, width=32, vocab=16, order=1,
                             concentration=0.2, eval_every=150, schedule="cosine:peak=1e-2,warmup=10"),
                 tmp_path, progress=False)
    start = float(read_log(tmp_path / "log.csv")[0]["loss"])
    final, entropy = meta["final"]["val_loss"], meta["corpus"]["entropy"]
    assert start > np.log(16) - 0.1
    assert entropy < final < entropy + 0.1 * (start - entropy)  # 90 % of the way, never below the truth


def test_cli_train_errors(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "a"), "--model", "encdec", "--steps", "3"]) == 2
    assert "does not fit corpus 'markov'" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "b"), "--corpus", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: no such file or folder" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "c"), "--schedule", "constant:peak=-1"]) == 2
    assert "peak must be a positive LR" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written
    args = ["train", "--out", str(tmp_path / "d"), "--steps", "3", "--width", "8", "--vocab", "8", "--quiet"]
    assert main(args) == 0
    assert "3 steps" in capsys.readouterr().out
    assert main(args) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(args[:-1] + ["--resume", "--steps", "4"]) == 2
    assert "another config (differs in steps)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_run_resumes_with_no_lost_or_duplicated_rows(tmp_path):
    args = ["train", "--steps", "150", "--width", "16", "--vocab", "16", "--batch-size", "8", "--context", "16",
            "--eval-every", "25", "--checkpoint-every", "20", "--quiet"]
    subprocess.run(cli_command(*args, "--out", str(tmp_path / "whole")), check=True)
    proc = subprocess.Popen(cli_command(*args, "--out", str(tmp_path / "killed")))
    log = tmp_path / "killed" / "log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(read_log(log)) < 50):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cut = len(read_log(log))
    assert 50 <= cut < 150, "the run was not killed part-way"
    subprocess.run(cli_command(*args, "--out", str(tmp_path / "killed"), "--resume"), check=True)
    whole, resumed = read_log(tmp_path / "whole" / "log.csv"), read_log(log)
    assert [r["step"] for r in resumed] == [str(s) for s in range(1, 151)]
    for a, b in zip(whole, resumed):
        assert a["lr"] == b["lr"] and a["tokens"] == b["tokens"]
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), abs=1e-5)
        if a["grad_noise_scale"]:  # its running averages are in the checkpoint
            assert float(a["grad_noise_scale"]) == pytest.approx(float(b["grad_noise_scale"]), rel=1e-3)
    assert json.loads((tmp_path / "killed" / "run.json").read_text())["complete"]


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not found")
@pytest.mark.slow
def test_ddp_on_two_processes_matches_one_process(tmp_path):
    args = ["train", "--steps", "20", "--width", "16", "--vocab", "16", "--batch-size", "8", "--context", "16",
            "--eval-every", "10", "--quiet"]
    subprocess.run(cli_command(*args, "--out", str(tmp_path / "one")), check=True)
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "scalelaw", *args,
                    "--out", str(tmp_path / "two")], check=True, env=env, timeout=300)
    one, two = read_log(tmp_path / "one" / "log.csv"), read_log(tmp_path / "two" / "log.csv")
    assert [r["step"] for r in two] == [str(s) for s in range(1, 21)]
    np.testing.assert_allclose([float(r["loss"]) for r in two], [float(r["loss"]) for r in one], rtol=1e-4)
    np.testing.assert_allclose([float(r["val_loss"]) for r in two if r["val_loss"]],
                               [float(r["val_loss"]) for r in one if r["val_loss"]], rtol=1e-4)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["processes"] == 2
    # the noise scale from per-process micro-batches: the same quantity, another estimate of it
    a = np.array([float(r["grad_noise_scale"] or "nan") for r in one[10:]])
    b = np.array([float(r["grad_noise_scale"] or "nan") for r in two[10:]])
    assert np.all(np.isfinite(b)) and 1 / 3 < np.median(b) / np.median(a) < 3


def test_every_train_option_has_help():
    from dataclasses import fields

    from scalelaw.train.config import HELP

    assert set(HELP) == {f.name for f in fields(TrainConfig)}


@pytest.mark.parametrize("flags, words", [
    (["--heads", "0"], "--heads must be at least 1, got 0"),
    (["--context", "0"], "--context must be at least 1, got 0"),
    (["--width", "65", "--heads", "2"], "--width 65 must be a multiple of --heads 2"),
    (["--model", "encdec", "--corpus", "translation", "--dec-width", "30", "--heads", "4"],
     "--dec-width 30 must be a multiple of --heads 4"),
    (["--noise", "1.5"], "--noise must lie in [0, 1]"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
])
def test_train_rejects_impossible_settings_before_writing(tmp_path, capsys, flags, words):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_a_gpu_is_refused_before_writing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "--device cpu" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_matches_the_cpu_run(tmp_path, monkeypatch):
    """--device cuda: bfloat16 autocast, the Triton loss, float32 logs; close to the CPU run."""
    from scalelaw.train import cce_triton

    calls = []
    original = cce_triton.linear_cross_entropy
    monkeypatch.setattr(cce_triton, "linear_cross_entropy", lambda *a: calls.append(a[0].dtype) or original(*a))
    args = ["train", "--steps", "60", "--width", "32", "--vocab", "16", "--batch-size", "16", "--context", "32",
            "--eval-every", "20", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "cpu")]) == 0
    assert main([*args, "--out", str(tmp_path / "gpu"), "--device", "cuda"]) == 0
    meta = json.loads((tmp_path / "gpu" / "run.json").read_text())
    assert meta["complete"] and meta["device"] != "cpu"
    if torch.cuda.is_bf16_supported():
        assert meta["precision"] == "bfloat16 autocast"
        assert cce_triton.available() and calls and set(calls) == {torch.bfloat16}
    cpu, gpu = read_log(tmp_path / "cpu" / "log.csv"), read_log(tmp_path / "gpu" / "log.csv")
    assert [r["step"] for r in gpu] == [r["step"] for r in cpu]
    a = np.array([float(r["val_loss"]) for r in cpu if r["val_loss"]])
    b = np.array([float(r["val_loss"]) for r in gpu if r["val_loss"]])
    assert np.all(np.abs(b - a) < 0.03 * a), (a, b)
    losses = torch.tensor([float(r["loss"]) for r in gpu])
    assert not torch.equal(losses.bfloat16().float(), losses)  # logged in float32, not rounded to bfloat16


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two CUDA devices")
@pytest.mark.slow
def test_ddp_over_nccl_on_two_gpus_matches_one_gpu(tmp_path):
    args = ["train", "--steps", "20", "--width", "32", "--vocab", "16", "--batch-size", "16", "--context", "16",
            "--eval-every", "10", "--device", "cuda", "--quiet"]
    subprocess.run(cli_command(*args, "--out", str(tmp_path / "one")), check=True)
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "scalelaw", *args,
                    "--out", str(tmp_path / "two")], check=True, timeout=300)
    one, two = read_log(tmp_path / "one" / "log.csv"), read_log(tmp_path / "two" / "log.csv")
    assert [r["step"] for r in two] == [str(s) for s in range(1, 21)]
    np.testing.assert_allclose([float(r["loss"]) for r in two], [float(r["loss"]) for r in one], rtol=2e-2)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["processes"] == 2


def test_a_diverging_run_stops_with_exit_3_and_keeps_its_log(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--steps", "60", "--schedule", "constant:peak=50", "--clip", "0", "--quiet"]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "diverged" in err and "log.csv" in err and len(err.strip().splitlines()) == 1
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[-1].split(",")[3] in ("nan", "inf", "-inf") and len(rows) < 61
    assert json.loads((out / "run.json").read_text())["diverged_at"] == len(rows) - 1


@pytest.mark.slow
def test_resume_drops_a_torn_last_line_and_leftover_temporary_files(tmp_path, capsys, monkeypatch):
    from scalelaw.train import trainer

    args = ["--steps", "40", "--checkpoint-every", "20", "--eval-every", "20", "--quiet"]
    assert main(["train", "--out", str(tmp_path / "whole"), *args]) == 0
    make = trainer._generator

    def interrupted(seed, step):
        if step == 26:
            raise KeyboardInterrupt
        return make(seed, step)

    out = tmp_path / "cut"
    monkeypatch.setattr(trainer, "_generator", interrupted)
    assert main(["train", "--out", str(out), *args]) == 130  # Ctrl-C after step 25; checkpoint at 20
    with open(out / "log.csv", "a") as fh:
        fh.write("26,3328,0.00")  # a row torn by a kill mid-write
    (out / ".checkpoint.pt.x1y2z3").write_bytes(b"half a checkpoint")
    monkeypatch.setattr(trainer, "_generator", make)
    assert main(["train", "--out", str(out), *args, "--resume"]) == 0
    assert not list(out.glob(".checkpoint.pt.*"))
    assert (out / "log.csv").read_text() == (tmp_path / "whole" / "log.csv").read_text()


def test_threads_are_honoured_and_the_default_does_not_take_every_core(tmp_path, monkeypatch):
    """``--threads N`` sets torch's CPU threads (recorded in run.json); the default is
    OMP_NUM_THREADS where set, else half the cores, at most 4 (issue 28: torch's default of every
    core thrashed on a busy machine)."""
    from scalelaw.train import trainer

    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            out = tmp_path / f"t{threads}"
            assert main(["train", "--out", str(out), "--steps", "4", "--eval-every", "2", "--quiet",
                         "--threads", str(threads)]) == 0
            assert torch.get_num_threads() == threads
            assert json.loads((out / "run.json").read_text())["threads"] == threads
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert trainer.default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert trainer.default_threads() == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert trainer.default_threads() == 1
