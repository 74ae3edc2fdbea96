"""scalelaw.train.sweep: spec files checked before any run, the serial, local and Slurm executors,
skipping complete runs, stopping, requeueing."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from scalelaw.cli import main  # noqa: E402
from scalelaw.train import run_sweep  # noqa: E402

from conftest import cli_command, read_log  # noqa: E402


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
    proc = subprocess.Popen(cli_command("sweep", "run", str(spec), "--out", str(out), "--executor", "local"),
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
    for name in ("w16", "w24"):  # each job records it as it stops (on a busy machine, some seconds later)
        state, deadline = None, time.time() + 20
        while state != "interrupted" and time.time() < deadline:
            try:
                state = json.loads((out / name / "status.json").read_text())["state"]
            except ValueError:  # caught while it was being written
                pass
            time.sleep(0.2)
        assert state == "interrupted", (name, state)


def test_the_cli_offers_every_sweep():
    from scalelaw.train import SWEEPS
    from scalelaw.train.config import SWEEP_KINDS

    assert set(SWEEP_KINDS) == {*SWEEPS, "all"}


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
    assert main(["fit", str(tmp_path / "out" / "summary.csv"), "--law", "power"]) == 0


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
    from scalelaw.train.spec import SWEEPS, load_spec

    assert set(SWEEPS) == {"sizes", "schedules", "encdec", "batch", "isoflop", "forecast"}
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
    sweep = subprocess.Popen(cli_command("sweep", "run", str(spec), "--out", str(out), "--executor", "slurm", *flags),
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
