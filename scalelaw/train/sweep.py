"""Sweeps of tiny runs from a spec file, on this machine or a Slurm cluster (through submitit).

A spec is a TOML file whose keys are ``scalelaw train`` options (flag names without dashes,
``_`` for ``-``)::

    [sweep]
    name = "w{width}-b{batch_size}"   # optional: run names from their options
    [base]                             # every run
    corpus = "markov"
    steps = 800
    [grid]                             # the product of these lists
    width = [16, 32]
    batch_size = [8, 64]
    [[runs]]                           # optional: more runs, each its own options (and name)
    width = 96
    steps = 2000

Run names come from their options (``[sweep] name``, or ``key=value`` of the keys that vary), so a
re-run finds its runs again: complete ones are skipped, interrupted ones resume from their
checkpoints. The predefined sweeps are such specs, shipped in ``scalelaw/train/sweeps/``:
``sizes`` (six widths, one schedule), ``schedules`` (one width under four schedules), ``encdec``
(3 x 3 encoder/decoder widths) and ``batch`` (six batch sizes at two widths); ``all`` runs each
into ``out/KIND``.

Executors: ``serial`` (this process), ``local`` and ``slurm`` (submitit: one job per run, as one
Slurm job array, at most ``max_parallel`` at a time; a preempted or timed-out run is requeued and
resumes from its checkpoint). A run that fails records the last line of its error in
``out/NAME/status.json`` and the sweep goes on; so does a Slurm job that ended without a result
(killed, cancelled), found through squeue where the cluster keeps no accounting for submitit. ``out/sweep.json`` lists the sweep's runs, for
``status``; ``out/summary.csv`` has one row per complete run: ``run``, ``n`` (non-embedding
parameters), ``params`` (all), ``ne``/``nd`` (encoder/decoder), ``tokens``, ``loss`` (final
held-out loss, nats/token), ``entropy`` (the corpus's irreducible loss), ``schedule``,
``batch_tokens`` (tokens per step), ``flops`` and ``flops_6nd`` (training FLOPs with attention,
and 6 N D) and ``grad_noise_scale`` (the last logged, tokens). ``scalelaw fit out/summary.csv
--law power`` (sizes) or ``--law encdec`` (encdec) reads it without options.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..io import read_json, write_atomic
from .config import EXECUTORS, TrainConfig

try:  # a job submitit requeues on preemption or time-out calls this again: it resumes
    from submitit.helpers import Checkpointable as _Requeueable
except ImportError:  # the slurm extra is not installed: serial sweeps only
    _Requeueable = object

from .spec import LABELS, SWEEPS, check_name as _check_name, sweep_configs


# -- running -----------------------------------------------------------------------------------

def _status(run_dir: Path, state: str | None, error: str | None = None) -> None:
    path = run_dir / "status.json"
    if state is None:
        path.unlink(missing_ok=True)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"state": state, **({"error": error} if error else {}), "time": time.time()}))


def run_one(config: TrainConfig, out: Path, threads: int | None = None) -> dict | None:
    """Train (or finish) one run into ``out``; a failure is recorded in ``out/status.json``
    (with the last line of its error) and None returned, so that the sweep goes on. An
    interruption (Ctrl-C, or the ``SystemExit`` with which submitit ends a job it has requeued
    after preemption or time-out) is recorded as ``interrupted`` and raised: the run resumes
    from its checkpoint when it is run again."""
    out = Path(out)
    _status(out, "running")
    try:
        from .trainer import train  # torch: here, not for sweep status

        meta = train(config, out, resume=True, progress=False, threads=threads)
    except (KeyboardInterrupt, SystemExit) as exc:  # Ctrl-C, or submitit requeueing a preempted job: stop
        with _deaf_to_ctrl_c():  # a second Ctrl-C (a local job gets one from the terminal and one from its
            _status(out, "interrupted", _last_line(f"{type(exc).__name__}: {exc}"))  # controller) must not tear it
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, then the sweep goes on
        _status(out, "failed", _last_line(f"{type(exc).__name__}: {exc}"))
        return None
    _status(out, None)
    return meta


@contextlib.contextmanager
def _deaf_to_ctrl_c():
    """SIGINT ignored inside (in the main thread; elsewhere signals cannot be set and none arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Processes started inside write their stderr to ``path``. submitit's local controller
    prints a traceback when it is stopped (by Ctrl-C or a cancel); it belongs in the sweep's
    folder, not on the user's terminal."""
    sys.stderr.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Job(_Requeueable):
    """``run_one`` as a submitit job with ``threads`` torch threads: requeued on preemption or
    time-out, it resumes."""

    def __init__(self, threads: int = 1):
        self.threads = threads

    def __call__(self, config: TrainConfig, out: Path) -> dict | None:
        return run_one(config, out, self.threads)


def run_sweep(kind: str | Path, out: str | Path, executor: str = "serial", steps: int | None = None,
              max_parallel: int | None = None, slurm: dict | None = None, progress: bool = True,
              threads: int | None = None) -> pd.DataFrame:
    """Train the sweep's runs that are not complete, then write and return ``out/summary.csv``.

    Args:
        kind: a predefined sweep (``SWEEPS``), ``"all"`` (each into ``out/KIND``; the summaries
            are stacked with a ``sweep`` column), or a spec file.
        executor: ``serial``, ``local`` or ``slurm`` (``EXECUTORS``).
        max_parallel: runs at a time (local: default the CPU count; slurm: the array's limit).
        slurm: ``partition``, ``time`` (minutes), ``gpus_per_run``, ``cpus_per_run``.
        threads: torch's CPU threads per run (default: serial ``trainer.default_threads()``;
            local the machine's cores shared between the runs at a time; slurm ``cpus_per_run``).
    """
    if str(kind) == "all":
        return pd.concat([run_sweep(k, Path(out) / k, executor, steps, max_parallel, slurm, progress, threads)
                          .assign(sweep=k)
                          for k in SWEEPS], ignore_index=True)
    if executor not in EXECUTORS:
        raise InputError(f"executor must be one of {', '.join(EXECUTORS)}, got '{executor}'")
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    if max_parallel is not None and max_parallel < 1:
        raise InputError(f"--max-parallel must be at least 1, got {max_parallel}")
    labels: dict = {}
    configs = sweep_configs(kind, steps, labels)  # every run checked before any starts
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "sweep.json", json.dumps({"spec": str(kind), "runs": {n: asdict(c) for n, c in configs.items()},
                                                 **({"labels": labels} if labels else {})}, indent=1))
    todo = [name for name in configs if not _complete(out / name)]
    if progress:
        print(f"sweep {kind}: {len(configs) - len(todo)} of {len(configs)} runs complete; training {len(todo)}",
              flush=True)
    if executor == "serial":
        for name in todo:
            _report(name, run_one(configs[name], out / name, threads), out, progress)
    else:
        _submit(executor, {n: configs[n] for n in todo}, out, max_parallel, slurm or {}, progress, threads)
    done = [n for n in configs if _complete(out / n)]
    summary = summarize(out, done)
    write_atomic(out / "summary.csv", summary.to_csv(index=False))
    failed = [n for n in configs if n not in done]
    if failed and progress:
        print(f"sweep {kind}: {len(failed)} run(s) not complete: {', '.join(failed)} (see: scalelaw sweep status {out})",
              flush=True)
    return summary


def _report(name: str, meta: dict | None, out: Path, progress: bool) -> None:
    if not progress:
        return
    if meta is None:
        error = _read_status(out / name).get("error", "no error recorded")
        print(f"  {name}: FAILED: {error}", flush=True)
    else:
        print(f"  {name}: val loss {meta['final']['val_loss']:.4f} in {meta['final']['seconds']:.0f} s", flush=True)


def _submit(executor: str, configs: dict[str, TrainConfig], out: Path, max_parallel: int | None, slurm: dict,
            progress: bool, threads: int | None = None) -> None:
    """The runs as submitit jobs: on Slurm one job array (``max_parallel`` at a time); locally
    as subprocesses, at most ``max_parallel`` at a time."""
    try:
        import submitit
    except ImportError:
        raise InputError(f"--executor {executor} needs submitit: pip install -e '.[slurm]'") from None
    if not configs:
        return
    ex = submitit.AutoExecutor(folder=out / ".submitit" / "%j", cluster=executor)
    limit = max_parallel or ((os.cpu_count() or 1) if executor == "local" else len(configs))
    params = {"name": f"scalelaw-{out.name}", "timeout_min": int(slurm.get("time", 60)),
              "cpus_per_task": int(slurm.get("cpus_per_run", 1))}
    if executor == "slurm":
        params.update(slurm_array_parallelism=limit, gpus_per_node=int(slurm.get("gpus_per_run", 0)),
                      **({"slurm_partition": slurm["partition"]} if slurm.get("partition") else {}))
    ex.update_parameters(**params)
    names = list(configs)
    # local runs share this machine's cores; a Slurm run has its own cpus_per_task
    job = _Job(threads or (params["cpus_per_task"] if executor == "slurm" else max(1, (os.cpu_count() or 1) // limit)))
    pending, running = list(names), {}
    if executor == "slurm":  # one array; Slurm keeps at most `limit` running
        running = dict(zip(names, ex.map_array(job, [configs[n] for n in names], [out / n for n in names])))
        pending = []
    try:
        _watch(ex, job, executor, configs, out, limit, pending, running, progress)
    except KeyboardInterrupt:
        if executor == "local":  # this machine's jobs stop with the sweep; Slurm's run on (sweep status shows them)
            _stop(running)
        raise


def _watch(ex, job, executor: str, configs: dict, out: Path, limit: int, pending: list, running: dict,
           progress: bool) -> None:
    """Submit ``pending`` as slots free up and collect the jobs in ``running`` as they end."""
    checked = time.time()
    while pending or running:
        while pending and len(running) < limit:
            name = pending.pop(0)
            with _stderr_to(out / ".submitit" / "controllers.err"):
                running[name] = ex.submit(job, configs[name], out / name)
        look = executor == "slurm" and time.time() - checked > _SLURM_CHECK_S
        checked = time.time() if look else checked
        finished = {}
        for name, j in running.items():
            if j.done():
                finished[name] = None
            elif look and (state := _ended_without_result(j)):
                finished[name] = state
        for name, lost in finished.items():
            _collect(name, running.pop(name), out, progress, lost)
        if not finished:
            time.sleep(0.2 if executor == "local" else 2.0)


def _stop(running: dict, wait_s: float = 10.0) -> None:
    """Cancel local jobs (SIGINT: each records itself as interrupted and keeps its checkpoint)
    and wait a little for them to end, so that nothing trains on after the sweep is stopped."""
    with _deaf_to_ctrl_c():
        for j in running.values():
            j.cancel(check=False)
        end = time.time() + wait_s
        while time.time() < end and not all(j.done() for j in running.values()):
            time.sleep(0.1)


_SLURM_CHECK_S = 30  # how often squeue is asked about Slurm jobs whose state submitit does not know


def _ended_without_result(job) -> str | None:
    """The final Slurm state of a job that ended without a result (killed, cancelled, failed to
    start), or None. submitit learns a job's state from sacct; on a cluster without accounting
    it never learns that such a job died and would wait for it for ever, so squeue is asked."""
    if job.paths.result_pickle.exists() or job.state not in ("UNKNOWN", "NODE_FAIL"):
        return None
    listed = subprocess.run(["squeue", "-h", "-t", "all", "-j", str(job.job_id), "-o", "%T"],
                            capture_output=True, text=True)
    state = listed.stdout.strip()
    if listed.returncode != 0 and "Invalid job id" in listed.stderr:
        state = "PURGED"  # gone from the controller's memory
    if not state or state in ("PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING", "SUSPENDED",
                              "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT"):
        return None
    time.sleep(1.0)  # a job that just finished writes its result as it exits
    return None if job.paths.result_pickle.exists() else state


def _collect(name: str, job, out: Path, progress: bool, lost: str | None = None) -> None:
    """A finished job's result; a job that died without one (killed, out of memory, past its
    time limit and not requeued) is recorded as failed with the end of its log, or with the
    Slurm state it ended in (``lost``)."""
    meta = None
    if lost:
        _status(out / name, "failed", f"the Slurm job {job.job_id} ended {lost} without a result (log: {job.paths.stderr})")
    else:
        try:
            meta = job.result()
        except Exception as exc:  # noqa: BLE001 - submitit raises several kinds for a dead job
            _status(out / name, "failed", _last_line(str(exc)) or type(exc).__name__)
    _report(name, meta, out, progress)


def _last_line(text: str) -> str:
    """The last non-blank line of an error (a remote traceback ends with the exception)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].rstrip() if lines else ""


def _complete(run_dir: Path) -> bool:
    meta = run_dir / "run.json"
    return meta.exists() and bool(read_json(meta, "run.json").get("complete"))


def _read_status(run_dir: Path) -> dict:
    path = run_dir / "status.json"
    return read_json(path, "status.json") if path.exists() else {}


def sweep_status(out: str | Path) -> list[dict]:
    """Each run of the sweep in ``out`` (from ``out/sweep.json``): ``run``, ``state`` (done,
    running, failed, interrupted or pending), ``error`` (failed or interrupted: the last line of
    its error), ``step`` (the last logged step) and ``steps``. For a folder of sweeps (``sweep
    all --out``), the runs of each, named ``SWEEP/RUN``, with ``sweep``."""
    out = Path(out)
    index = out / "sweep.json"
    if not index.exists():
        inner = sorted(p.parent for p in out.glob("*/sweep.json")) if out.is_dir() else []
        if inner:  # a parent of sweeps (sweep all --out): each, its runs named SWEEP/RUN
            return [{**row, "run": f"{sub.name}/{row['run']}", "sweep": sub.name} for sub in inner
                    for row in sweep_status(sub)]
        raise InputError(f"{out}: no sweep.json: not a sweep folder (scalelaw sweep run SPEC --out {out} makes one)")
    runs = read_json(index, "sweep.json", keys=("runs",))["runs"]
    if not isinstance(runs, dict) or not all(isinstance(c, dict) and isinstance(c.get("steps"), int)
                                             for c in runs.values()):
        raise InputError(f"{index}: not a sweep.json: 'runs' should map each run to its config")
    rows = []
    for name, config in runs.items():
        _check_name(index, "runs", name)
        run_dir = out / name
        status = _read_status(run_dir)
        state = "done" if _complete(run_dir) else status.get("state") or \
            ("running" if (run_dir / "log.csv").exists() else "pending")
        log = run_dir / "log.csv"
        step = None
        if log.exists():
            lines = log.read_text().splitlines()
            step = int(lines[-1].split(",")[0]) if len(lines) > 1 and lines[-1].split(",")[0].isdigit() else 0
        rows.append({"run": name, "state": state, "step": step, "steps": config["steps"],
                     **({"error": status["error"]} if state in ("failed", "interrupted") and "error" in status else {})})
    return rows


def summarize(out: str | Path, names: list[str]) -> pd.DataFrame:
    """One row per complete run under ``out`` (see the module docstring for the columns)."""
    rows = []
    sweep = Path(out) / "sweep.json"
    labels = read_json(sweep, "sweep.json", keys=()).get("labels", {}) if sweep.exists() else {}
    for name in names:
        meta = read_json(Path(out) / name / "run.json", "run.json", keys=("parameters", "config", "final"))
        counts = meta["parameters"]
        config = meta["config"]
        # runs made before run.json recorded FLOPs: the same count from their config
        flops = {k: meta["final"][k] for k in ("flops", "flops_6nd") if k in meta["final"]} or \
            TrainConfig(**config).training_flops(counts["non_embedding"], meta["final"]["tokens"])
        log = pd.read_csv(Path(out) / name / "log.csv")
        noise = log["grad_noise_scale"].dropna() if "grad_noise_scale" in log else pd.Series(dtype=float)
        rows.append({"run": name, "n": counts["non_embedding"], "params": counts["total"],
                     "ne": counts.get("encoder"), "nd": counts.get("decoder"), "tokens": meta["final"]["tokens"],
                     "loss": meta["final"]["val_loss"], "entropy": meta["corpus"]["entropy"],
                     "schedule": config["schedule"], "batch_tokens": config["batch_size"] * config["context"],
                     "flops": flops.get("flops"), "flops_6nd": flops.get("flops_6nd"),
                     "grad_noise_scale": noise.iloc[-1] if len(noise) else None,
                     **{k: labels.get(name, {}).get(k) for k in LABELS}})
    return pd.DataFrame(rows).dropna(axis=1, how="all")
