"""The training loop: AdamW, gradient clipping, an LR schedule from ``scalelaw.schedules``, a
per-step CSV log that ``scalelaw fit`` reads as it is, checkpoints, resume and DDP.

A run directory holds:

- ``log.csv``: ``step, tokens, lr, loss, val_loss, batch_tokens, grad_noise_scale``, one row per
  optimizer step, flushed as it is written; ``loss`` is the mean training loss (nats/token) of
  the step's batch, ``val_loss`` the loss on a fixed held-out set every ``eval_every`` steps
  (empty otherwise); ``lr`` is the LR of the update that produced ``step`` (the convention of
  ``scalelaw.schedules``); ``batch_tokens`` the tokens per step; ``grad_noise_scale`` McCandlish
  et al.'s simple noise scale in tokens (``NoiseScale``; empty with ``noise_scale=False``);
- ``run.json``: the config, parameter counts, library versions, the corpus and its known
  entropy (nats/token, or null), and ``complete`` once the last step is logged, with ``final``
  (steps, tokens, held-out loss, seconds, and training FLOPs counted with attention, ``flops``,
  and as ``6 N D``, ``flops_6nd``: ``TrainConfig.training_flops``);
- ``checkpoint.pt``: model, optimizer and step, every ``checkpoint_every`` steps. ``resume=True``
  continues from it and cuts the log back to that step, so no row is lost or duplicated.

Batches are drawn (on the CPU) from a generator seeded by (seed, step), so a resumed run, and a
run split over processes, see exactly the batches of an uninterrupted single-process run. Under
``torchrun --nproc_per_node K`` each process takes 1/K of every global batch and DDP averages
the gradients (gloo on CPU; NCCL with ``device="cuda"``, one GPU per process, ``LOCAL_RANK``);
process 0 writes the files. With ``device="cuda"`` the forward passes run under bfloat16
autocast (float32 where the GPU has no bfloat16), the loss through the Triton kernel; the
weights, optimizer and logged losses stay float32. ``run.json`` records the GPU and precision.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import socket
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .. import __version__
from ..errors import InputError, NotAResult
from ..io import read_json, write_atomic
from .data import MarkovSource, TextCorpus, Translation
from .config import MODELS, TrainConfig
from .model import GPT, EncDec, EncDecConfig, GPTConfig

LOG_COLUMNS = ("step", "tokens", "lr", "loss", "val_loss", "batch_tokens", "grad_noise_scale")
_VAL_SEED = 10**9  # validation generators are seeded past any training step


def make_corpus(config: TrainConfig):
    """The corpus a config names."""
    if config.corpus == "markov":
        return MarkovSource(config.vocab, config.order, config.concentration, config.corpus_seed)
    if config.corpus == "translation":
        return Translation(config.vocab, config.context, config.noise, config.corpus_seed)
    return TextCorpus(None if config.corpus == "stdlib" else [config.corpus])


def make_model(config: TrainConfig, corpus) -> torch.nn.Module:
    """The model a config names, for ``corpus``'s vocabulary (seeded by ``config.seed``)."""
    if config.model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}, got '{config.model}'")
    if (config.model == "encdec") != isinstance(corpus, Translation):
        raise InputError(f"model '{config.model}' does not fit corpus '{config.corpus}': encdec trains on "
                         "'translation', gpt on the language corpora")
    torch.manual_seed(config.seed)
    if config.model == "gpt":
        return GPT(GPTConfig(corpus.vocab, config.context, config.layers, config.heads, config.width))
    return EncDec(EncDecConfig(corpus.vocab, config.context, config.context, config.enc_layers, config.enc_width,
                               config.dec_layers, config.dec_width, config.heads))


def get_batch(corpus, config: TrainConfig, size: int, generator: torch.Generator, split: str = "train") -> tuple:
    """The model's arguments (inputs and targets) for ``size`` sequences."""
    if isinstance(corpus, Translation):
        return corpus.batch(size, generator, split)
    return corpus.lm_batch(size, config.context, generator, split)


def _generator(seed: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + index)


def held_out_batches(corpus, config: TrainConfig) -> list[tuple]:
    """The fixed held-out set: ``eval_batches`` batches from their own seeds."""
    return [get_batch(corpus, config, config.batch_size, _generator(config.seed, _VAL_SEED + i), "val")
            for i in range(config.eval_batches)]


def _autocast(batch: list, amp: torch.dtype | None):
    """Autocast to ``amp`` on the batch's device (None: off)."""
    return torch.autocast(batch[0].device.type, dtype=amp, enabled=amp is not None)


@torch.no_grad()
def evaluate(model, batches: list, amp: torch.dtype | None = None) -> float:
    """Mean loss over the held-out ``batches`` (nats/token), under autocast to ``amp``."""
    was_training = model.training
    model.eval()
    losses = []
    for batch in batches:
        with _autocast(batch, amp):
            losses.append(float(model(*batch)))
    model.train(was_training)
    return float(np.mean(losses))


def default_threads() -> int:
    """torch's CPU threads for one run unless told: ``OMP_NUM_THREADS`` where set, else half the
    cores this process may use, at most 4, at least 1. Our models are tiny: more threads than
    that buy little and, on a machine busy with other work, thrash (a 40-step width-32 run on a
    loaded 2-core machine: 72-121 s with torch's default of every core, 10-12 s with one)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores // 2))


def set_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads to ``threads`` (default ``default_threads()``); returns the count."""
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    n = default_threads() if threads is None else int(threads)
    torch.set_num_threads(n)
    return n


def train(config: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
          threads: int | None = None) -> dict:
    """Train one run into ``out`` and return its ``run.json`` contents. ``threads``: torch's
    CPU threads (default ``default_threads()``).

    Raises InputError when ``out`` already holds a run and ``resume`` is False, or when the
    saved config differs from ``config``.
    """
    out = Path(out)
    log_path, meta_path, ckpt_path = out / "log.csv", out / "run.json", out / "checkpoint.pt"
    config.check()
    threads = set_threads(threads)
    lr = config.lr_schedule()
    if config.device == "cuda" and not torch.cuda.is_available():
        why = "is a CPU build" if torch.version.cuda is None else "sees no CUDA device"
        raise InputError(f"--device cuda: this torch ({torch.__version__}) {why}; train with --device cpu")
    rank, world = _init_distributed(config.device)
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if config.device == "cuda" \
        else torch.device("cpu")
    amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if config.batch_size % world:
        raise InputError(f"batch_size {config.batch_size} must be divisible by the {world} processes")
    if log_path.exists() and not resume:
        raise InputError(f"{out}: already holds a run; pass --resume to continue it, or choose another --out")
    if resume and meta_path.exists():
        previous = read_json(meta_path, "run.json", keys=("config",))
        if not isinstance(previous["config"], dict):
            raise InputError(f"{meta_path}: not a run.json: 'config' should be an object")
        saved = {**asdict(TrainConfig()), **previous["config"]}  # options added since: their defaults
        if saved != asdict(config):
            changed = sorted(k for k in saved if saved.get(k) != asdict(config).get(k))
            raise InputError(f"{meta_path}: the run was started with another config (differs in {', '.join(changed)})")
        if previous.get("complete"):
            return previous
    lock = RunLock(out) if rank == 0 else None  # one trainer writes a run folder at a time
    try:
        corpus = make_corpus(config)
        model = make_model(config, corpus).to(device)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        rest = [p for p in model.parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                       {"params": rest, "weight_decay": 0.0}], lr=float(lr[1]))
        start = 0
        if resume and ckpt_path.exists():
            try:
                with warnings.catch_warnings():  # a foreign pickle warns before it fails
                    warnings.simplefilter("ignore")
                    state = torch.load(ckpt_path, map_location=device, weights_only=True)
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                start = int(state["step"])
            except Exception as exc:  # torch raises many types for a torn or foreign file
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:100]
                raise InputError(f"{ckpt_path}: not a checkpoint of this run ({type(exc).__name__}: {first}); "
                                 "remove it to start the run over") from None
            if rank == 0:  # said even without progress: a sweep job's log shows that it resumed
                print(f"{out}: resuming from the checkpoint at step {start}", file=sys.stderr, flush=True)
        meta = {"config": asdict(config), "parameters": model.parameter_counts(), "corpus": corpus.describe(),
                "versions": {"scalelaw": __version__, "torch": torch.__version__, "numpy": np.__version__,
                             "python": platform.python_version()},
                "processes": world, "threads": threads, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                "precision": "bfloat16 autocast" if amp is not None else "float32", "complete": False}
        if rank == 0:  # everything is checked: from here on the run folder is written, under its lock
            lock.acquire()
            for name in (ckpt_path.name, meta_path.name, log_path.name):  # temporary files of a killed write
                for leftover in out.glob(f".{name}.*"):
                    leftover.unlink(missing_ok=True)
            write_atomic(meta_path, json.dumps(meta, indent=2))
            _truncate_log(log_path, start)
        net = model if world == 1 else \
            torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        held_out = [[x.to(device) for x in batch] for batch in held_out_batches(corpus, config)]
        tokens_per_step = config.batch_size * config.context
        share = config.batch_size // world
        noise = NoiseScale(share // 2 * config.context, tokens_per_step, world) \
            if config.noise_scale and share >= 2 else None  # measured every noise_every steps
        if noise is not None and resume and ckpt_path.exists():
            noise.load(state.get("noise_scale"))
        t0, val = time.perf_counter(), None
        with open(log_path, "a", newline="") if rank == 0 else open(os.devnull, "w") as fh:
            writer = csv.writer(fh)
            for step in range(start + 1, config.steps + 1):
                for group in optimizer.param_groups:
                    group["lr"] = float(lr[step])
                batch = get_batch(corpus, config, config.batch_size, _generator(config.seed, step))
                measure = noise is not None and step % config.noise_every == 0
                loss = train_step(net, model, optimizer, [x[rank * share:(rank + 1) * share].to(device) for x in batch],
                                  config.clip, noise if measure else None, amp)
                val = evaluate(model, held_out, amp) if step % config.eval_every == 0 or step == config.steps else None
                scale = noise.value() if noise is not None else None
                writer.writerow([step, step * tokens_per_step, f"{lr[step]:.6g}", f"{float(loss):.6f}",
                                 "" if val is None else f"{val:.6f}", tokens_per_step,
                                 "" if scale is None else f"{scale:.6g}"])
                fh.flush()
                if not np.isfinite(float(loss)) or (val is not None and not np.isfinite(val)):
                    if rank == 0:
                        meta["diverged_at"] = step
                        write_atomic(meta_path, json.dumps(meta, indent=2))
                    raise NotAResult(f"{out}: step {step}: the loss is {float(loss)}: the run diverged (a lower "
                                     f"peak LR or --clip may help); {log_path} holds the log up to that step")
                if step % config.checkpoint_every == 0 or step == config.steps:
                    if rank == 0:
                        _save_checkpoint(ckpt_path, model, optimizer, step, noise)
                if rank == 0 and progress:
                    _progress(step, config.steps, float(loss), val, time.perf_counter() - t0)
        meta["complete"] = True
        meta["final"] = {"step": config.steps, "tokens": config.steps * tokens_per_step, "val_loss": val,
                         "seconds": round(time.perf_counter() - t0, 2),
                         **config.training_flops(meta["parameters"]["non_embedding"], config.steps * tokens_per_step)}
        if rank == 0:
            write_atomic(meta_path, json.dumps(meta, indent=2))
        if world > 1:
            dist.barrier()
        return meta
    finally:
        if lock is not None:
            lock.release()


def train_step(net, model, optimizer, batch: list, clip: float, noise: "NoiseScale | None" = None,
               amp: torch.dtype | None = None) -> torch.Tensor:
    """One optimizer step on this process's share of the batch (``batch``: the model's
    arguments); returns the mean loss over every process. With ``noise``, the share is run as two
    micro-batches (the first without DDP's gradient sync): the gradient norm of the first (this
    process's alone) and that of the whole batch feed the noise scale; the update is the same.
    The forward passes run under autocast to ``amp`` (None: off)."""
    optimizer.zero_grad(set_to_none=True)
    params = [p for p in model.parameters() if p.requires_grad]
    if noise is None:
        with _autocast(batch, amp):
            loss = net(*batch)
        loss.backward()
        big = torch.nn.utils.clip_grad_norm_(params, clip) if clip else None
    else:
        half = len(batch[0]) // 2
        first, second = [x[:half] for x in batch], [x[half:] for x in batch]
        w1 = half / len(batch[0])
        sync = net.no_sync() if isinstance(net, torch.nn.parallel.DistributedDataParallel) else nullcontext()
        with sync:  # this process's first micro-batch: its own gradient, not yet averaged
            with _autocast(batch, amp):
                loss1 = net(*first)
            (loss1 * w1).backward()
        small = _squared_norm([p.grad for p in params if p.grad is not None]) / w1**2
        with _autocast(batch, amp):
            loss2 = net(*second)
        (loss2 * (1 - w1)).backward()
        loss = (loss1 * w1 + loss2 * (1 - w1)).detach()
        big = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
        noise.update(small, big**2)
    optimizer.step()
    loss = loss.detach()
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(loss)
        loss /= dist.get_world_size()
    return loss


def _squared_norm(tensors: list) -> torch.Tensor:
    """The squared 2-norm of ``tensors`` taken together (one fused kernel per dtype and device)."""
    return torch.stack(torch._foreach_norm(tensors)).float().pow(2).sum()


class NoiseScale:
    """McCandlish et al. 2018's simple noise scale ``B_simple = tr(Sigma) / |G|^2`` (tokens),
    from squared gradient norms at two batch sizes each step: ``b_small`` tokens (one
    micro-batch of one process) and ``b_big`` (the whole batch). Their unbiased estimators,

        |G|^2     = (b_big |G_big|^2 - b_small |G_small|^2) / (b_big - b_small)
        tr(Sigma) = (|G_small|^2 - |G_big|^2) / (1 / b_small - 1 / b_big),

    are each smoothed by an exponential moving average (``decay`` per measurement) before their
    ratio is taken, as McCandlish et al. advise: the ratio of noisy estimates is biased. Under
    DDP the small norms are averaged over processes. ``value()`` is None until both averages
    are positive."""

    def __init__(self, b_small: int, b_big: int, world: int = 1, decay: float = 0.95):
        self.b_small, self.b_big, self.world, self.decay = float(b_small), float(b_big), world, decay
        self.trace = self.grad = 0.0
        self.count = 0

    def update(self, small_sq: torch.Tensor, big_sq: torch.Tensor) -> None:
        small_sq = small_sq.detach().float()
        if self.world > 1:
            dist.all_reduce(small_sq)
            small_sq /= self.world
        small, big = float(small_sq), float(big_sq)
        grad = (self.b_big * big - self.b_small * small) / (self.b_big - self.b_small)
        trace = (small - big) / (1 / self.b_small - 1 / self.b_big)
        self.grad = self.decay * self.grad + (1 - self.decay) * grad
        self.trace = self.decay * self.trace + (1 - self.decay) * trace
        self.count += 1

    def value(self) -> float | None:
        if self.count == 0 or self.grad <= 0 or self.trace <= 0:
            return None
        return self.trace / self.grad  # the bias corrections of the two averages cancel

    def state(self) -> dict:
        return {"trace": self.trace, "grad": self.grad, "count": self.count}

    def load(self, state: dict | None) -> None:
        if state:
            self.trace, self.grad, self.count = float(state["trace"]), float(state["grad"]), int(state["count"])


def _init_distributed(device: str = "cpu") -> tuple[int, int]:
    """(rank, world size): one process unless launched by torchrun, then gloo on CPU, or NCCL
    with one GPU per process (``LOCAL_RANK``) on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _truncate_log(path: Path, step: int) -> None:
    """Keep the header and the rows up to ``step`` (all of a fresh log: just the header). A last
    line without its newline was torn by a kill mid-write: it is dropped, as is any row without
    every field. The log is replaced whole (``write_atomic``): a kill here leaves the old one."""
    rows = []
    if path.exists() and step > 0:
        text = path.read_text()
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        rows = list(csv.reader(io.StringIO(text)))[1:]
        rows = [r for r in rows if len(r) == len(LOG_COLUMNS) and r[0].isdigit() and int(r[0]) <= step]
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([LOG_COLUMNS, *rows])
    write_atomic(path, buffer.getvalue())


class RunLock:
    """A run folder's lock, ``.lock`` in it, holding the owner's pid, host and Slurm job: a second
    trainer on the same folder exits 2 naming the holder. A lock left by a process that is gone
    (same host, pid not alive; or the same Slurm job, requeued) is taken over with a note."""

    def __init__(self, out: Path):
        self.out, self.path = Path(out), Path(out) / ".lock"
        self.me = {"pid": os.getpid(), "host": socket.gethostname(), "slurm_job": os.environ.get("SLURM_JOB_ID")}

    def acquire(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None or not self._stale(holder):
                    who = "another trainer" if holder is None else \
                        f"another trainer (pid {holder.get('pid')} on {holder.get('host')})"
                    raise InputError(f"{self.out}: {who} is writing this run; wait for it to end, or remove "
                                     f"{self.path} if it is gone") from None
                print(f"{self.out}: taking over the lock of pid {holder.get('pid')} on {holder.get('host')}, which "
                      "is gone", file=sys.stderr, flush=True)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(self.me, fh)
            return
        raise InputError(f"{self.out}: could not take the run's lock {self.path}")

    def release(self) -> None:
        if self.path.exists() and self._holder() == self.me:
            self.path.unlink(missing_ok=True)

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
            return holder if isinstance(holder, dict) else None
        except (OSError, ValueError):
            return None

    def _stale(self, holder: dict) -> bool:
        if holder.get("slurm_job") and holder.get("slurm_job") == self.me["slurm_job"]:
            return True  # this Slurm job, requeued: its earlier process is gone
        if holder.get("host") != self.me["host"] or not isinstance(holder.get("pid"), int):
            return False
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return holder["pid"] == self.me["pid"]  # our own (a retry in this process)


def _save_checkpoint(path: Path, model, optimizer, step: int, noise: "NoiseScale | None" = None) -> None:
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                **({"noise_scale": noise.state()} if noise is not None else {})}, buffer)
    write_atomic(path, buffer.getvalue())


def _progress(step: int, steps: int, loss: float, val: float | None, seconds: float) -> None:
    """A progress line: redrawn in place on a terminal, printed every tenth of the run otherwise."""
    text = f"step {step}/{steps}  loss {loss:.4f}" + (f"  val {val:.4f}" if val is not None else "") + \
        f"  {seconds:.0f}s"
    if sys.stderr.isatty():
        print("\r" + text, end="\n" if step == steps else "", file=sys.stderr, flush=True)
    elif step == steps or step % max(1, steps // 10) == 0:
        print(text, file=sys.stderr, flush=True)
