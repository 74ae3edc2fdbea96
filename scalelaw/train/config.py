"""The configuration of a training run: a plain dataclass, importable without torch (the CLI
builds its ``scalelaw train`` flags from it)."""
from __future__ import annotations

from dataclasses import dataclass

from pathlib import Path

import numpy as np

from .. import schedules

MODELS = ("gpt", "encdec")
DEVICES = ("cpu", "cuda")
SWEEP_KINDS = ("sizes", "schedules", "encdec", "batch", "isoflop", "forecast", "all")  # all: every sweep, each into out/KIND
EXECUTORS = ("serial", "local", "slurm")  # local and slurm through submitit


@dataclass
class TrainConfig:
    """Everything that defines a run. Sizes are for ``model="gpt"`` (layers, heads, width) or
    ``"encdec"`` (enc_*/dec_*, heads); ``batch_size`` is the global number of sequences per step."""

    model: str = "gpt"
    corpus: str = "markov"
    steps: int = 300
    batch_size: int = 32
    context: int = 64
    layers: int = 2
    heads: int = 2
    width: int = 64
    enc_layers: int = 2
    enc_width: int = 64
    dec_layers: int = 2
    dec_width: int = 64
    schedule: str = "cosine:peak=3e-3,final=3e-5"
    weight_decay: float = 0.1
    clip: float = 1.0
    seed: int = 0
    eval_every: int = 50
    eval_batches: int = 8
    checkpoint_every: int = 100
    vocab: int = 128
    order: int = 1
    concentration: float = 0.1
    noise: float = 0.1
    corpus_seed: int = 0
    noise_scale: bool = True
    noise_every: int = 4
    device: str = "cpu"

    def lr_schedule(self) -> np.ndarray:
        """Per-step LR, shape (steps + 1,), from ``schedule``; ``total`` defaults to ``steps``
        and ``warmup`` to a tenth of them."""
        name, items = schedules.split_spec(self.schedule)
        items.setdefault("total", str(self.steps))
        items.setdefault("warmup", str(self.steps // 10))
        spec = schedules.join_spec(name, items)
        return schedules.resolve(spec, total=self.steps)

    def training_flops(self, non_embedding: int, tokens: int) -> dict[str, int]:
        """Training FLOPs of ``tokens`` tokens for a model of ``non_embedding`` parameters:
        ``flops`` counts attention (Kaplan et al. 2020: per token forward ``2 N + 2 n_layer
        n_ctx d_model``, times 3 for forward plus backward; encdec: the encoder's self-attention
        and the decoder's self- and cross-attention, per target token), ``flops_6nd`` is
        ``6 N D``. For tiny models the attention term is a large share."""
        if self.model == "gpt":
            attention = 2 * self.layers * self.context * self.width
        else:
            attention = 2 * (self.enc_layers * self.context * self.enc_width
                             + 2 * self.dec_layers * self.context * self.dec_width)
        return {"flops": int(3 * (2 * non_embedding + attention) * tokens), "flops_6nd": int(6 * non_embedding * tokens)}

    def check(self) -> None:
        """InputError naming the first setting that cannot make a run (before anything is written)."""
        from ..errors import InputError

        positive = ["steps", "batch_size", "context", "heads", "eval_every", "eval_batches", "checkpoint_every",
                    "vocab", "order", "noise_every"]
        positive += ["layers", "width"] if self.model == "gpt" else ["enc_layers", "enc_width", "dec_layers", "dec_width"]
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        widths = ["width"] if self.model == "gpt" else ["enc_width", "dec_width"]
        for name in widths:
            if getattr(self, name) % self.heads:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)} must be a multiple of "
                                 f"--heads {self.heads}")
        for name in ("weight_decay", "clip"):
            if not getattr(self, name) >= 0:
                raise InputError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.device not in DEVICES:
            raise InputError(f"--device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        if not self.concentration > 0:
            raise InputError(f"--concentration must be positive, got {self.concentration}")
        if not 0 <= self.noise <= 1:
            raise InputError(f"--noise must lie in [0, 1], got {self.noise}")
        try:  # the schedule is read now, not at the first step of a run
            lr = self.lr_schedule()
        except (InputError, ValueError, TypeError) as exc:
            raise InputError(f"--schedule {self.schedule!r}: {exc}") from None
        if len(lr) < self.steps + 1:
            raise InputError(f"--schedule {self.schedule!r}: gives {len(lr) - 1} steps, fewer than --steps {self.steps}")
        if self.corpus not in ("markov", "stdlib", "translation") and not Path(self.corpus).exists():
            raise InputError(f"{self.corpus}: no such file or folder (--corpus: markov, stdlib, translation or a "
                             "text file or folder)")


HELP = {
    "model": "gpt (decoder-only) or encdec (encoder-decoder, on the translation corpus)",
    "corpus": "markov | stdlib | translation | a text file or folder (bytes)",
    "steps": "optimizer steps",
    "batch_size": "sequences per step, over all processes",
    "context": "tokens per sequence (source and target length for translation)",
    "layers": "gpt: transformer blocks", "heads": "attention heads (every model)", "width": "gpt: model width",
    "enc_layers": "encdec: encoder blocks", "enc_width": "encdec: encoder width",
    "dec_layers": "encdec: decoder blocks", "dec_width": "encdec: decoder width",
    "schedule": "LR schedule spec (scalelaw.schedules); total defaults to --steps, warmup to a tenth",
    "weight_decay": "AdamW weight decay of the matrices", "clip": "max gradient norm (0 = off)",
    "seed": "initialisation and batches", "eval_every": "steps between held-out evaluations",
    "eval_batches": "held-out batches per evaluation", "checkpoint_every": "steps between checkpoints",
    "vocab": "markov and translation: vocabulary size", "order": "markov: order of the chain",
    "concentration": "markov: Dirichlet concentration of each context's next-token law (smaller: lower entropy)",
    "noise": "translation: share of target tokens replaced at random",
    "corpus_seed": "the synthetic corpus's own randomness",
    "noise_scale": "log the gradient noise scale (McCandlish et al. 2018) as grad_noise_scale: each step's batch "
                   "runs as two micro-batches (--no-noise-scale: one)",
    "noise_every": "steps between measurements of the noise scale (its cost is paid on those steps only)",
    "device": "cpu, or cuda: bfloat16 autocast and the Triton loss; under torchrun one GPU per process, "
              "DDP over NCCL",
}
