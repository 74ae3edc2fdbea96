"""Sweeps of tiny runs whose curves the laws are checked against, end to end.

- ``sizes``: six decoder-only widths on a Markov source of known entropy rate, one schedule;
- ``schedules``: one size under constant, cosine, WSD and multi-step schedules;
- ``encdec``: a 3 x 3 grid of encoder and decoder widths on the synthetic translation task;
- ``batch``: six batch sizes at two widths under a constant LR, with the gradient noise scale;
- ``all``: every sweep, each into ``out/KIND``.

``run_sweep`` trains each run into ``out/NAME/`` (skipping runs whose ``run.json`` says complete,
resuming interrupted ones) and writes ``out/summary.csv``: one row per run with ``run``, ``n``
(non-embedding parameters), ``params`` (all), ``ne``/``nd`` (encoder/decoder, non-embedding),
``tokens`` (trained on), ``loss`` (final held-out loss, nats/token), ``entropy`` (the corpus's
irreducible loss), ``batch_tokens`` (tokens per step), ``flops`` and ``flops_6nd`` (training
FLOPs with attention, and 6 N D, for runs that record them) and ``grad_noise_scale`` (the last
logged noise scale, tokens, where the log has one). ``scalelaw fit out/summary.csv --law power`` (sizes) or ``--law encdec``
(encdec) reads it without options; each ``out/NAME/log.csv`` is a step-law input.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..io import write_atomic
from ..schedules import join_spec, split_spec
from .config import EXECUTORS, SWEEP_KINDS, TrainConfig
from .trainer import train


_MARKOV = dict(corpus="markov", vocab=128, order=1, concentration=0.1)
_SIZES = {f"w{w}": TrainConfig(**_MARKOV, width=w, steps=800, schedule="cosine:peak=1e-2,warmup=40,final=1e-4")
          for w in (16, 24, 32, 48, 64, 96)}
_SCHEDULES = {name: TrainConfig(**_MARKOV, width=32, steps=1200, eval_every=20, eval_batches=4, schedule=spec)
              for name, spec in {
                  "constant": "constant:peak=5e-3,warmup=40",
                  "cosine": "cosine:peak=5e-3,warmup=40,final=5e-5",
                  "wsd": "wsd:peak=5e-3,warmup=40,decay=0.2,final=5e-5",
                  "multistep": "multistep:peak=5e-3,warmup=40,milestones=600/900,gamma=0.3",
              }.items()}
# encdec: a large held-out set (128 batches, 65k tokens), because the noisy task's per-token loss
# varies a lot (std about 1.7 nats): a small set would miss the loss by several percent
_ENCDEC = {f"e{e}-d{d}": TrainConfig(model="encdec", corpus="translation", vocab=32, context=16, enc_width=e,
                                     dec_width=d, steps=2000, schedule="cosine:peak=3e-3,warmup=30,final=3e-5",
                                     eval_every=250, eval_batches=128)
           for e in (16, 24, 32) for d in (16, 24, 32)}
# batch: 6 batch sizes (8 to 256 sequences of 64 tokens) around the critical batch size (the
# noise scale of this source is 5k-10k tokens near its final losses) at widths 16 and 32, under one
# constant LR after warmup; each run sees 3.2M tokens (at least 400 steps); held-out loss on at
# least 64 sequences about 16 times per run (the batch law fits the training loss)
_BATCH = {f"w{w}-b{b}": TrainConfig(**_MARKOV, width=w, batch_size=b, steps=max(400, 3_200_000 // (64 * b)),
                                    schedule="constant:peak=3e-3,warmup=40", eval_every=max(25, 800 // b * 4),
                                    eval_batches=max(2, 64 // b), checkpoint_every=500)
          for w in (16, 32) for b in (8, 16, 32, 64, 128, 256)}
SWEEPS: dict[str, dict[str, TrainConfig]] = {"sizes": _SIZES, "schedules": _SCHEDULES, "encdec": _ENCDEC,
                                             "batch": _BATCH}


def sweep_configs(kind: str, steps: int | None = None) -> dict[str, TrainConfig]:
    """The runs of a sweep by name; ``steps`` shortens every run (the schedules follow)."""
    if kind not in SWEEPS:
        raise InputError(f"sweep must be one of {', '.join(SWEEP_KINDS)}, got '{kind}'")
    configs = SWEEPS[kind]
    if steps is None:
        return dict(configs)
    if steps < 10:
        raise InputError(f"--steps must be at least 10 for a sweep, got {steps}")
    return {name: _shortened(c, steps) for name, c in configs.items()}


def _shortened(config: TrainConfig, steps: int) -> TrainConfig:
    """``config`` at ``steps`` steps, warmup, milestones and evaluation scaled alike; the
    held-out set cut to at most 8 batches (a quick look)."""
    factor = steps / config.steps
    name, items = split_spec(config.schedule)
    if "warmup" in items:
        items["warmup"] = str(max(1, round(int(items["warmup"]) * factor)))
    if "milestones" in items:
        items["milestones"] = "/".join(str(round(float(m) * factor)) for m in items["milestones"].split("/"))
    return replace(config, steps=steps, schedule=join_spec(name, items),
                   eval_every=max(1, round(config.eval_every * factor)), eval_batches=min(config.eval_batches, 8),
                   checkpoint_every=max(1, round(config.checkpoint_every * factor)))


def _run(args: tuple) -> dict:
    """Train (or finish) one run; ``threads``: torch threads for a worker process (None: as is)."""
    config, out, threads = args
    if threads:
        import torch

        torch.set_num_threads(threads)
    return train(config, out, resume=True, progress=False)


def run_sweep(kind: str, out: str | Path, executor: str = "serial", steps: int | None = None,
              workers: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Train the sweep's runs that are not complete, then write and return ``out/summary.csv``
    (for ``all``: each sweep into ``out/KIND``; returns the summaries stacked, with a ``sweep``
    column)."""
    if kind == "all":
        return pd.concat([run_sweep(k, Path(out) / k, executor, steps, workers, progress).assign(sweep=k)
                          for k in SWEEPS], ignore_index=True)
    if executor not in EXECUTORS:
        raise InputError(f"executor must be one of {', '.join(EXECUTORS)}, got '{executor}'")
    out = Path(out)
    configs = sweep_configs(kind, steps)
    todo = [name for name in configs if not _complete(out / name)]
    if progress:
        print(f"sweep {kind}: {len(configs) - len(todo)} of {len(configs)} runs complete; training {len(todo)}",
              flush=True)
    threads, pool, mapper = None, nullcontext(), map  # serial: in this process
    if executor == "process" and len(todo) > 1:
        workers = workers or min(len(todo), os.cpu_count() or 1)
        threads = max(1, (os.cpu_count() or 1) // workers)
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        mapper = pool.map
    with pool:
        for name, meta in zip(todo, mapper(_run, [(configs[n], out / n, threads) for n in todo])):
            if progress:
                print(f"  {name}: val loss {meta['final']['val_loss']:.4f} in {meta['final']['seconds']:.0f} s",
                      flush=True)
    summary = summarize(out, list(configs))
    write_atomic(out / "summary.csv", summary.to_csv(index=False))
    return summary


def _complete(run_dir: Path) -> bool:
    meta = run_dir / "run.json"
    return meta.exists() and bool(json.loads(meta.read_text()).get("complete"))


def summarize(out: str | Path, names: list[str]) -> pd.DataFrame:
    """One row per complete run under ``out`` (see the module docstring for the columns)."""
    rows = []
    for name in names:
        meta = json.loads((Path(out) / name / "run.json").read_text())
        counts = meta["parameters"]
        config = meta["config"]
        log = pd.read_csv(Path(out) / name / "log.csv")
        noise = log["grad_noise_scale"].dropna() if "grad_noise_scale" in log else pd.Series(dtype=float)
        rows.append({"run": name, "n": counts["non_embedding"], "params": counts["total"],
                     "ne": counts.get("encoder"), "nd": counts.get("decoder"), "tokens": meta["final"]["tokens"],
                     "loss": meta["final"]["val_loss"], "entropy": meta["corpus"]["entropy"],
                     "schedule": config["schedule"], "batch_tokens": config["batch_size"] * config["context"],
                     "flops": meta["final"].get("flops"), "flops_6nd": meta["final"].get("flops_6nd"),
                     "grad_noise_scale": noise.iloc[-1] if len(noise) else None})
    return pd.DataFrame(rows).dropna(axis=1, how="all")
