"""The training module: corpora with known entropy, models, the trainer's log, resume and DDP."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from scalelaw.cli import main  # noqa: E402
from scalelaw.io import load_runs  # noqa: E402
from scalelaw.train import (GPT, EncDec, EncDecConfig, GPTConfig, MarkovSource, TrainConfig,  # noqa: E402
                            Translation, run_sweep, train)
from scalelaw.train.trainer import get_batch, make_corpus, make_model  # noqa: E402

TINY = dict(steps=12, batch_size=8, context=16, width=16, eval_every=5, eval_batches=2, checkpoint_every=4,
            vocab=16, order=2, schedule="cosine:peak=1e-2,warmup=2")


def read_log(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("vocab,order,concentration", [(16, 1, 0.3), (8, 2, 0.2), (4, 3, 1.0)])
def test_markov_entropy_rate_matches_a_long_sample(vocab, order, concentration):
    source = MarkovSource(vocab, order, concentration, seed=3)
    pi = source.stationary.reshape([vocab] * order)
    moved = np.einsum("a...x,a...->...x", source.transition.reshape([vocab] * (order + 1)), pi)
    np.testing.assert_allclose(moved.reshape(-1), source.stationary, atol=1e-10)  # stationary
    tokens = source.sample(400, 300, torch.Generator().manual_seed(0)).numpy()
    context = sum(tokens[:, i:tokens.shape[1] - order + i] * vocab ** (order - 1 - i) for i in range(order))
    nll = -np.log(source.transition[context, tokens[:, order:]])
    assert abs(nll.mean() - source.entropy) < 0.01 * source.entropy


def test_markov_targets_without_a_full_context_are_ignored():
    inputs, targets = MarkovSource(8, 3, 0.5).lm_batch(4, 10, torch.Generator().manual_seed(0))
    assert inputs.shape == targets.shape == (4, 10)
    assert (targets[:, :2] == -100).all() and (targets[:, 2:] >= 0).all()
    assert torch.equal(inputs[:, 3:], targets[:, 2:-1])  # targets are the inputs shifted by one


def test_translation_noise_rate_and_entropy():
    task = Translation(vocab=8, source_length=20, noise=0.3, seed=1)
    source, inputs, target = task.batch(3000, torch.Generator().manual_seed(0))
    right = (target == task.translate(source)).float().mean().item()
    assert abs(right - (0.7 + 0.3 / 8)) < 0.01
    q = 0.7 + 0.3 / 8
    assert task.entropy == pytest.approx(-(q * np.log(q) + 7 * (0.3 / 8) * np.log(0.3 / 8)))
    assert torch.equal(inputs[:, 1:], target[:, :-1]) and (inputs[:, 0] == 0).all()


def test_parameter_counts():
    gpt = GPT(GPTConfig(vocab=50, context=12, layers=2, heads=2, width=16))
    counts = gpt.parameter_counts()
    assert counts["total"] == sum(p.numel() for p in gpt.parameters())
    assert counts["non_embedding"] == counts["total"] - 50 * 16 - 12 * 16
    encdec = EncDec(EncDecConfig(vocab=20, source_context=6, target_context=5, enc_layers=1, enc_width=8,
                                 dec_layers=2, dec_width=16))
    c = encdec.parameter_counts()
    assert c["encoder"] == sum(p.numel() for p in encdec.encoder.parameters()) - 20 * 8 - 6 * 8
    assert c["decoder"] == sum(p.numel() for p in encdec.decoder.parameters()) - 20 * 16 - 5 * 16
    assert c["total"] == sum(p.numel() for p in encdec.parameters())
    wider = EncDec(EncDecConfig(vocab=20, source_context=6, target_context=5, enc_layers=1, enc_width=16,
                                dec_layers=2, dec_width=16)).parameter_counts()
    assert wider["encoder"] > c["encoder"] and wider["decoder"] > c["decoder"]  # cross-attention reads Ne's width


@pytest.mark.parametrize("kind", ["gpt", "encdec"])
def test_a_training_step_has_the_gradients_of_the_plain_loss(kind):
    """The models' only loss path is the chunked kernel; its gradients equal the logits loss's."""
    torch.manual_seed(0)
    if kind == "gpt":
        model = GPT(GPTConfig(vocab=40, context=12, width=16))
        batch = MarkovSource(40, 1, 0.5).lm_batch(5, 12, torch.Generator().manual_seed(1))
    else:
        model = EncDec(EncDecConfig(vocab=40, source_context=12, target_context=12, enc_width=16, dec_width=32))
        batch = Translation(40, 12).batch(5, torch.Generator().manual_seed(1))

    def grads(loss_fn):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

    ours, g_ours = grads(lambda: model(*batch))
    weight = model.decoder.tokens.weight
    ref, g_ref = grads(lambda: F.cross_entropy((model(*batch[:-1]) @ weight.T).reshape(-1, 40), batch[-1].reshape(-1)))
    torch.testing.assert_close(ours, ref)
    for name in g_ref:
        torch.testing.assert_close(g_ours[name], g_ref[name], rtol=1e-4, atol=1e-6, msg=name)


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


def test_text_corpus_from_a_users_file(tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    meta = train(TrainConfig(corpus=str(text), steps=4, batch_size=4, context=16, width=16, eval_every=2),
                 tmp_path / "run", progress=False)
    assert meta["corpus"]["kind"] == "text" and meta["corpus"]["entropy"] is None


def _cli(*args):
    return [sys.executable, "-m", "scalelaw", *args]


@pytest.mark.slow
def test_a_killed_run_resumes_with_no_lost_or_duplicated_rows(tmp_path):
    args = ["train", "--steps", "150", "--width", "16", "--vocab", "16", "--batch-size", "8", "--context", "16",
            "--eval-every", "25", "--checkpoint-every", "20", "--quiet"]
    subprocess.run(_cli(*args, "--out", str(tmp_path / "whole")), check=True)
    proc = subprocess.Popen(_cli(*args, "--out", str(tmp_path / "killed")))
    log = tmp_path / "killed" / "log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(read_log(log)) < 50):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cut = len(read_log(log))
    assert 50 <= cut < 150, "the run was not killed part-way"
    subprocess.run(_cli(*args, "--out", str(tmp_path / "killed"), "--resume"), check=True)
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
    subprocess.run(_cli(*args, "--out", str(tmp_path / "one")), check=True)
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


@pytest.mark.slow
def test_sweep_skips_complete_runs(tmp_path, capsys):
    summary = run_sweep("encdec", tmp_path, steps=10)
    assert len(summary) == 9 and set(summary.columns) >= {"run", "ne", "nd", "loss", "entropy", "tokens"}
    assert (summary.groupby("ne")["nd"].nunique() == 3).all()
    stamp = (tmp_path / "e16-d16" / "log.csv").stat().st_mtime_ns
    assert main(["sweep", "encdec", "--out", str(tmp_path), "--steps", "10"]) == 0
    assert "9 of 9 runs complete; training 0" in capsys.readouterr().out
    assert (tmp_path / "e16-d16" / "log.csv").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_sweep_on_the_local_executor_matches_serial(tmp_path):
    pytest.importorskip("submitit")
    serial = run_sweep("schedules", tmp_path / "serial", steps=12, progress=False)
    parallel = run_sweep("schedules", tmp_path / "parallel", executor="local", steps=12, max_parallel=2,
                         progress=False)
    np.testing.assert_allclose(parallel["loss"], serial["loss"], rtol=1e-4)



@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_stopping_a_local_sweep_stops_its_jobs_without_a_traceback(tmp_path, how):
    """Ctrl-C reaches the whole process group (driver, submitit's controllers and the jobs);
    SIGTERM only the driver. Either way: one line, every job stopped and recorded as
    interrupted, no child's traceback on the terminal; the sweep then resumes to the end."""
    pytest.importorskip("submitit")
    spec = tmp_path / "two.toml"
    spec.write_text('[sweep]\nname = "w{width}"\n[base]\nvocab = 16\nbatch_size = 8\ncontext = 16\n'
                    'steps = 4000\neval_every = 1000\ncheckpoint_every = 50\n'
                    'schedule = "constant:peak=3e-3,warmup=10"\n[[runs]]\nwidth = 16\n[[runs]]\nwidth = 24\n')
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli("sweep", "run", str(spec), "--out", str(out), "--executor", "local"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    logs = [out / "w16" / "log.csv", out / "w24" / "log.csv"]
    deadline = time.time() + 120
    while time.time() < deadline and not all(p.exists() and len(read_log(p)) >= 20 for p in logs):
        time.sleep(0.1)
    assert all(p.exists() for p in logs), "the jobs did not start"
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if how == "ctrl-c" else 143)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    time.sleep(1.0)
    sizes = [len(read_log(p)) for p in logs]
    time.sleep(1.0)
    assert [len(read_log(p)) for p in logs] == sizes, "a job trained on after the sweep was stopped"
    assert all(n < 4000 for n in sizes)
    for name in ("w16", "w24"):
        assert json.loads((out / name / "status.json").read_text())["state"] == "interrupted"


def test_stdlib_corpus_is_deterministic_and_held_out_at_the_end():
    from scalelaw.train import TextCorpus

    a, b = TextCorpus(limit_bytes=200_000), TextCorpus(limit_bytes=200_000)
    assert torch.equal(a.splits["train"], b.splits["train"]) and torch.equal(a.splits["val"], b.splits["val"])
    assert len(a.splits["train"]) + len(a.splits["val"]) == 200_000 and len(a.splits["val"]) == 20_000
    x, y = a.lm_batch(3, 32, torch.Generator().manual_seed(0), "val")
    assert torch.equal(x[:, 1:], y[:, :-1]) and int(x.max()) < 256


def test_every_train_option_has_help():
    from dataclasses import fields

    from scalelaw.train.config import HELP

    assert set(HELP) == {f.name for f in fields(TrainConfig)}


def test_the_cli_offers_every_sweep():
    from scalelaw.train import SWEEPS
    from scalelaw.train.config import SWEEP_KINDS

    assert set(SWEEP_KINDS) == {*SWEEPS, "all"}


@pytest.mark.parametrize("flags, words", [
    (["--heads", "0"], "--heads must be at least 1, got 0"),
    (["--context", "0"], "--context must be at least 1, got 0"),
    (["--width", "65", "--heads", "2"], "--width 65 must be a multiple of --heads 2"),
    (["--model", "encdec", "--corpus", "translation", "--dec-width", "30", "--heads", "4"],
     "--dec-width 30 must be a multiple of --heads 4"),
    (["--noise", "1.5"], "--noise must lie in [0, 1]"),
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


@pytest.mark.parametrize("kind", ["gpt", "encdec"])
def test_under_autocast_the_loss_runs_in_bfloat16_and_returns_float32(kind):
    """What --device cuda does to the model, checked on the CPU: the tied output weight and the
    hidden states reach the loss in bfloat16; the loss comes back in float32, close to the float32
    model's; gradients reach the float32 weights."""
    config = TrainConfig(model=kind, corpus="translation" if kind == "encdec" else "markov", **{
        k: v for k, v in TINY.items() if k not in ("steps",)})
    corpus = make_corpus(config)
    model = make_model(config, corpus)
    batch = get_batch(corpus, config, 8, torch.Generator().manual_seed(0))
    plain = model(*batch)
    seen = []
    from scalelaw.train import model as model_module
    original = model_module.linear_cross_entropy

    def spy(hidden, weight, targets, **kw):
        seen.append((hidden.dtype, weight.dtype))
        return original(hidden, weight, targets, **kw)

    model_module.linear_cross_entropy = spy
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(*batch)
    finally:
        model_module.linear_cross_entropy = original
    assert seen == [(torch.bfloat16, torch.bfloat16)]
    assert plain.dtype == low.dtype == torch.float32
    assert abs(low.item() - plain.item()) < 2e-2 * plain.item()
    low.backward()
    tied = model.decoder.tokens.weight
    assert tied.grad is not None and tied.grad.dtype == torch.float32 and torch.isfinite(tied.grad).all()


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
    subprocess.run(_cli(*args, "--out", str(tmp_path / "one")), check=True)
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


def test_noise_scale_estimators_are_unbiased():
    """Fed the expected squared norms, E|G_b|^2 = |G|^2 + tr(Sigma) / b, the estimate is exact."""
    from scalelaw.train.trainer import NoiseScale

    grad, trace = 2.0, 5000.0
    noise = NoiseScale(b_small=64, b_big=512)
    for _ in range(3):
        noise.update(torch.tensor(grad + trace / 64), torch.tensor(grad + trace / 512))
    assert noise.value() == pytest.approx(trace / grad, rel=1e-9)


class _Regression(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-1, 1, dim, dtype=torch.float64))

    def forward(self, x, y):
        return ((x @ self.w - y) ** 2).mean()


def test_noise_scale_matches_per_example_gradients():
    """On a least-squares model held still (lr 0), the logged estimate agrees with
    tr(Sigma) / |G|^2 computed from every example's own gradient."""
    from scalelaw.train.trainer import NoiseScale, train_step

    g = torch.Generator().manual_seed(0)
    dim, pool = 8, 4096
    x = torch.randn(pool, dim, generator=g, dtype=torch.float64)
    y = x @ torch.ones(dim, dtype=torch.float64) + 0.5 * torch.randn(pool, generator=g, dtype=torch.float64)
    model = _Regression(dim)
    per_example = 2 * (x @ model.w.detach() - y)[:, None] * x  # (pool, dim)
    mean = per_example.mean(0)
    truth = float(((per_example - mean) ** 2).sum(1).mean() / (mean @ mean))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    batch = 32
    noise = NoiseScale(b_small=batch // 2, b_big=batch, decay=0.999)
    for _ in range(3000):
        idx = torch.randint(0, pool, (batch,), generator=g)
        train_step(model, model, optimizer, [x[idx], y[idx]], clip=0.0, noise=noise)
    assert noise.value() == pytest.approx(truth, rel=0.15)


def test_a_step_with_the_noise_scale_makes_the_same_update():
    from scalelaw.train.trainer import NoiseScale, train_step

    config = TrainConfig(**TINY)
    corpus = make_corpus(config)
    batch = list(get_batch(corpus, config, 8, torch.Generator().manual_seed(1)))
    models = [make_model(config, corpus) for _ in range(2)]
    for model, noise in zip(models, (None, NoiseScale(4 * 16, 8 * 16))):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        train_step(model, model, optimizer, batch, clip=1.0, noise=noise)
    for a, b in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_training_steps_under_bfloat16_autocast_track_float32():
    """The trainer's GPU precision path (train_step and evaluate with amp), run on the CPU: ten
    steps with the noise scale measured land near the float32 steps, with float32 weights."""
    from scalelaw.train.trainer import NoiseScale, evaluate, train_step

    config = TrainConfig(**TINY)
    corpus = make_corpus(config)
    held = [list(get_batch(corpus, config, 8, torch.Generator().manual_seed(99)))]
    losses = {}
    for amp in (None, torch.bfloat16):
        model = make_model(config, corpus)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        noise = NoiseScale(4 * 16, 8 * 16)
        for step in range(10):
            batch = list(get_batch(corpus, config, 8, torch.Generator().manual_seed(step)))
            loss = train_step(model, model, optimizer, batch, clip=1.0, noise=noise, amp=amp)
            assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        losses[amp] = evaluate(model, held, amp)
    assert losses[torch.bfloat16] == pytest.approx(losses[None], rel=0.02)


# -- sweeps from a spec file ------------------------------------------------------------------

SPEC = """
[sweep]
name = "w{width}-s{seed}"
[base]
steps = 12
batch_size = 8
context = 16
vocab = 16
eval_every = 6
eval_batches = 2
[grid]
width = [8, 16]
seed = [0, 1]
"""


def test_spec_sweep_runs_its_grid_and_skips_complete_runs(tmp_path, capsys):
    spec = tmp_path / "ladder.toml"
    spec.write_text(SPEC + '[[runs]]\nwidth = 24\nsteps = 14\n')
    assert main(["sweep", "run", str(spec), "--out", str(tmp_path / "out")]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["run"]) == ["w16-s0", "w16-s1", "w24-s0", "w8-s0", "w8-s1"]
    assert {"flops", "flops_6nd", "batch_tokens"} <= set(summary.columns)
    assert (summary["flops"] > summary["flops_6nd"]).all()
    capsys.readouterr()
    assert main(["sweep", "run", str(spec), "--out", str(tmp_path / "out")]) == 0
    assert "5 of 5 runs complete; training 0" in capsys.readouterr().out
    assert main(["sweep", "status", str(tmp_path / "out"), "--json"]) == 0
    assert {r["state"] for r in json.loads(capsys.readouterr().out)["runs"]} == {"done"}
    assert main(["fit", str(tmp_path / "out" / "summary.csv"), "--law", "power"]) in (0, 3)


@pytest.mark.parametrize("text, words", [
    ("[base]\nwidht = 8\n[grid]\nseed = [0]\n", "[base] widht: not a scalelaw train option"),
    ("[grid]\nwidth = []\n", "[grid] width: expected a non-empty list"),
    ("[base]\nwidth = 8\n", "the sweep has no runs"),
    ("[grid]\nwidth = ['eight']\n", "[grid] width: expected int, got 'eight'"),
    ("[grid]\nwidth = [0]\n", "--width must be at least 1"),
    ("[[runs]]\nsteps = 5\nschedule = 1.5\n", "[[runs]] 1 schedule: expected str"),
    ("[grid]\nwidth = [8\n", "not a TOML file"),
    # issue 24: every path the sweep writes lies inside --out; the whole spec is read first
    ('[[runs]]\nname = "../../escaped_run"\nsteps = 5\n', "name '../../escaped_run': a run's name is one folder"),
    ('[[runs]]\nname = "ESCAPED_ABS"\nsteps = 5\n', "a run's name is one folder inside --out"),  # absolute
    ('[[runs]]\nname = 7\nsteps = 5\n', "name 7: a run's name is one folder"),
    ('[[runs]]\nname = "a/b"\nsteps = 5\n', "name 'a/b'"),
    ('[sweep]\nname = "{corpus}"\n[[runs]]\ncorpus = ".."\nsteps = 5\n', "name '..'"),
    ('[sweep]\nnmae = "w{width}"\n[grid]\nwidth = [8]\n', "[sweep] nmae is not a key of [sweep]"),
    ('[grid]\nwidth = [8]\nschedule = ["cosin:peak=1e-3"]\n', "unknown name 'cosin'"),
    ('[grid]\nwidth = [8]\nschedule = ["cosine:peak =1e-3,warmup=0.05"]\n', "warmup=0.05 must be a whole number"),
    ('[grid]\nwidth = [8]\ncorpus = ["MISSING_CORPUS.txt"]\n', "MISSING_CORPUS.txt: no such file or folder"),
    ('runs = "x"\n', "runs must be tables"),
    ('runs = [1, 2]\n', "runs must be tables"),
    ('base = 5\n[[runs]]\nwidth = 8\n', "base must be a table"),
    ('grid = [8]\n', "grid must be a table"),
])
def test_a_bad_spec_exits_2_naming_the_key_before_any_run(tmp_path, capsys, monkeypatch, text, words):
    monkeypatch.chdir(tmp_path)  # a relative escape would land in tmp_path's parents: watch there too
    escaped = [tmp_path.parent / "escaped_run", tmp_path.parent.parent / "escaped_run"]
    spec = tmp_path / "bad.toml"
    spec.write_text(text.replace("ESCAPED_ABS", str(tmp_path / "abs_run")))
    assert main(["sweep", "run", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "abs_run").exists()
    assert not any(p.exists() for p in escaped) and sorted(os.listdir(tmp_path)) == ["bad.toml"]


def test_a_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    tiny = tmp_path / "tiny.txt"  # exists, so the spec is valid; too short to train on, found by the run
    tiny.write_text("too short")
    spec.write_text(SPEC.replace("seed = [0, 1]", "seed = [0]") + f'[[runs]]\nname = "broken"\n'
                    f'corpus = "{tiny}"\n')
    assert main(["sweep", "run", str(spec), "--out", str(tmp_path / "out")]) == 3
    assert "broken" in capsys.readouterr().err
    assert main(["sweep", "status", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "failed" in text and "tiny.txt" in text and "2 done, 1 failed" in text
    assert sorted(pd.read_csv(tmp_path / "out" / "summary.csv")["run"]) == ["w16-s0", "w8-s0"]


def test_predefined_sweeps_are_spec_files():
    from scalelaw.train.sweep import SWEEPS, load_spec

    assert set(SWEEPS) == {"sizes", "schedules", "encdec", "batch", "isoflop"}
    assert list(load_spec("sizes")) == ["w16", "w24", "w32", "w48", "w64", "w96"]
    assert len(load_spec("batch")) == 12 and "e24-d32" in load_spec("encdec")


def _slurm_up() -> bool:
    """A Slurm controller answers and has a node that can take jobs."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return False
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s.strip().rstrip("*") in ("idle", "mixed", "allocated") for s in states.split())


NEEDS_SLURM = pytest.mark.skipif(not _slurm_up(), reason="no Slurm with an idle node here (scripts/slurm-local.sh "
                                 "starts a single-node Slurm, as .ci/run does)")


@pytest.mark.slow
@NEEDS_SLURM
def test_spec_sweep_on_slurm(tmp_path):
    pytest.importorskip("submitit")
    spec = tmp_path / "ladder.toml"
    spec.write_text(SPEC)
    summary = run_sweep(spec, tmp_path / "out", executor="slurm", max_parallel=2, slurm={"time": 5}, progress=False)
    assert sorted(summary["run"]) == ["w16-s0", "w16-s1", "w8-s0", "w8-s1"]


REQUEUE_SPEC = """
[base]
steps = 600
batch_size = 8
context = 16
vocab = 16
width = 16
eval_every = 100
eval_batches = 2
checkpoint_every = 25
[[runs]]
name = "run"
"""


def _slurm_run_under_way(tmp_path, spec_text: str, *flags: str):
    """``sweep run`` of a one-run spec on Slurm, in a subprocess, once its run has logged 60 steps:
    (the process, the sweep folder, the run's log, the Slurm job id)."""
    pytest.importorskip("submitit")
    spec = tmp_path / "one.toml"
    spec.write_text(spec_text)
    out = tmp_path / "out"
    sweep = subprocess.Popen(_cli("sweep", "run", str(spec), "--out", str(out), "--executor", "slurm", *flags),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "run" / "log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and sweep.poll() is None and (not log.exists() or len(read_log(log)) < 60):
        time.sleep(0.05)
    assert sweep.poll() is None, sweep.communicate()[0]
    jobs = [p.name for p in (out / ".submitit").iterdir() if p.is_dir()]  # submitit's folder per job: its id
    assert len(jobs) == 1, jobs
    return sweep, out, log, jobs[0]


def _output(sweep: subprocess.Popen, timeout: float) -> str:
    try:
        return sweep.communicate(timeout=timeout)[0]
    finally:
        sweep.kill()


@pytest.mark.slow
@NEEDS_SLURM
@pytest.mark.parametrize("preempted", [True, False], ids=["preempted", "timed-out"])
def test_a_preempted_or_timed_out_slurm_run_is_requeued_and_resumes(tmp_path, preempted):
    """Slurm signals the job as submitit configures it (SIGTERM then USR2 on preemption, USR2 before
    the time limit): submitit checkpoints our job, requeues it, and the run resumes from its
    checkpoint; the log ends up with every step once and matches an uninterrupted run. (A requeued
    job waits for its old credential to expire: 20 s in scripts/slurm-local.sh's Slurm.)"""
    # submitit counts a signal as a time-out when the job has used 80 % of its time, or any time
    # for a limit of 10 minutes or less
    sweep, out, log, job = _slurm_run_under_way(tmp_path, REQUEUE_SPEC, "--slurm-time", "60" if preempted else "5")
    if preempted:  # SIGTERM first, as Slurm does; USR2 once it has landed, or it may hit submitit's requeue call
        subprocess.run(["scancel", "--signal", "SIGTERM", job], check=True)
        deadline = time.time() + 30
        while time.time() < deadline and not any("Bypassing signal SIGTERM" in p.read_text()
                                                 for p in (out / ".submitit" / job).glob("*_log.*")):
            time.sleep(0.05)
    subprocess.run(["scancel", "--signal", "USR2", job], check=True)
    output = _output(sweep, 400)
    assert sweep.returncode == 0, output
    logs = "".join(p.read_text() for p in (out / ".submitit").rglob("*_log.*"))
    case = "preempted" if preempted else "timed-out"
    assert f"this job is {case}" in logs and "Calling checkpoint method" in logs and "Requeued job" in logs, logs
    resumed_at = re.search(r"resuming from the checkpoint at step (\d+)", logs)
    assert resumed_at and int(resumed_at.group(1)) >= 50, logs  # not from the start
    run_sweep(tmp_path / "one.toml", tmp_path / "whole", progress=False)  # the same run, uninterrupted
    whole, resumed = read_log(tmp_path / "whole" / "run" / "log.csv"), read_log(log)
    assert [r["step"] for r in resumed] == [str(s) for s in range(1, 601)]
    np.testing.assert_allclose([float(r["loss"]) for r in resumed], [float(r["loss"]) for r in whole], rtol=1e-4)
    assert json.loads((out / "run" / "run.json").read_text())["complete"]
    assert main(["sweep", "status", str(out)]) == 0


@pytest.mark.slow
@NEEDS_SLURM
def test_a_slurm_job_killed_without_a_result_is_recorded_as_failed(tmp_path):
    """Without accounting (sacct), submitit never learns that a killed job died: the sweep asks
    squeue, records the run as failed with the job's final state, and exits 3 instead of waiting."""
    sweep, out, _, job = _slurm_run_under_way(tmp_path, REQUEUE_SPEC.replace("steps = 600", "steps = 3000"))
    subprocess.run(["scancel", "--full", "--signal", "KILL", job], check=True)  # 3000 steps outlive KillWait
    output = _output(sweep, 240)
    assert sweep.returncode == 3, output
    status = json.loads((out / "run" / "status.json").read_text())
    assert status["state"] == "failed" and f"Slurm job {job} ended" in status["error"], status
    assert not json.loads((out / "run" / "run.json").read_text())["complete"]
