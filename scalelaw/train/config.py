"""The configuration of a training run: a plain dataclass, importable without torch (the CLI
builds its ``scalelaw train`` flags from it)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .. import schedules

MODELS = ("gpt", "encdec")


@dataclass
class TrainConfig:
    """Everything that defines a run. Sizes are for ``model="gpt"`` (layers, heads, width) or
    ``"encdec"`` (enc_*/dec_*, heads); ``batch_size`` is the global number of sequences per step."""

    model: str = "gpt"                    # gpt | encdec
    corpus: str = "markov"                # markov | stdlib | translation | a text file or folder
    steps: int = 300
    batch_size: int = 32
    context: int = 64                     # tokens per sequence (source length for translation)
    layers: int = 2
    heads: int = 2
    width: int = 64
    enc_layers: int = 2
    enc_width: int = 64
    dec_layers: int = 2
    dec_width: int = 64
    schedule: str = "cosine:peak=3e-3,final=3e-5"  # scalelaw.schedules spec (see lr_schedule)
    weight_decay: float = 0.1
    clip: float = 1.0                     # max gradient norm (0 = off)
    seed: int = 0
    eval_every: int = 50
    eval_batches: int = 8
    checkpoint_every: int = 100
    vocab: int = 128                      # markov and translation corpora
    order: int = 1                        # markov
    concentration: float = 0.1            # markov
    noise: float = 0.1                    # translation
    corpus_seed: int = 0                  # the synthetic corpus's own randomness

    def lr_schedule(self) -> np.ndarray:
        """Per-step LR, shape (steps + 1,), from ``schedule``; ``total`` defaults to ``steps``
        and ``warmup`` to a tenth of them."""
        name, _, rest = self.schedule.partition(":")
        keys = {item.partition("=")[0].strip() for item in rest.split(",") if item.strip()}
        extra = [f"total={self.steps}"] * ("total" not in keys) + [f"warmup={self.steps // 10}"] * ("warmup" not in keys)
        spec = f"{name}:{','.join([rest.strip(',')] * bool(rest.strip(',')) + extra)}"
        return schedules.resolve(spec, total=self.steps)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
