"""Corpora for the trainer, all available offline.

- ``MarkovSource``: a random Markov source of a chosen order whose entropy rate is known exactly,
  the true irreducible loss of a language model trained on it.
- ``TextCorpus``: bytes of real text; by default the Python standard library's own source files,
  read from the running interpreter in a fixed order; or a user's file or folder.
- ``Translation``: a synthetic translation task, a fixed noisy transduction of random source
  sentences (each token mapped through a random dictionary), whose conditional entropy per
  target token is known exactly.

Every corpus draws a batch from a ``torch.Generator``, so the trainer makes batches reproducible
(and a resumed run identical) by seeding one generator per step. ``lm_batch`` returns
(inputs [B, T], targets [B, T]); ``Translation.batch`` returns (source [B, S], inputs [B, T],
targets [B, T]). Targets equal to -100 are ignored by the loss.
"""
from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from ..errors import InputError

IGNORE = -100


class MarkovSource:
    """Tokens from a Markov chain of order ``order`` over ``vocab`` symbols; each context's
    next-token distribution is drawn once from Dirichlet(``concentration``) (smaller = more
    predictable). ``entropy`` is the entropy rate in nats/token: the stationary average of the
    contexts' next-token entropies. Sequences start from the stationary distribution, so every
    target that follows a full context has exactly that expected loss under the true model; the
    first ``order - 1`` targets (which lack a full context) are ignored."""

    def __init__(self, vocab: int = 64, order: int = 2, concentration: float = 0.1, seed: int = 0):
        if vocab < 2 or order < 1 or vocab**order > 2**22:
            raise InputError(f"markov source: need vocab >= 2, order >= 1 and vocab^order <= 2^22 "
                             f"contexts; got vocab {vocab}, order {order}")
        if not concentration > 0:
            raise InputError(f"markov source: concentration must be positive, got {concentration}")
        self.vocab, self.order = vocab, order
        rng = np.random.default_rng(seed)
        self.transition = rng.dirichlet(np.full(vocab, concentration), size=vocab**order)  # [contexts, vocab]
        self.cdf = torch.from_numpy(np.cumsum(self.transition, axis=1))
        self.cdf[:, -1] = 1.0
        self.stationary = self._stationary()
        self.entropy = float(self.stationary @ stats.entropy(self.transition, axis=1))

    def _stationary(self, tol: float = 1e-13, max_iter: int = 100_000) -> np.ndarray:
        """Stationary distribution over contexts (the last ``order`` tokens), by power iteration."""
        v, k = self.vocab, self.order
        moves = self.transition.reshape(v, v ** (k - 1), v)  # [oldest token, rest of context, next]
        pi = np.full(v**k, 1.0 / v**k)
        for _ in range(max_iter):
            new = np.einsum("arx,ar->rx", moves, pi.reshape(v, v ** (k - 1))).reshape(-1)
            new = 0.5 * (new + pi)  # lazy step: same fixed point, no oscillation on periodic chains
            if np.abs(new - pi).sum() < tol:
                return new
            pi = new
        raise RuntimeError("markov source: the stationary distribution did not converge")

    def sample(self, batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """[batch, length] tokens; the first ``order`` drawn jointly from the stationary law."""
        v, k = self.vocab, self.order
        context = torch.multinomial(torch.from_numpy(self.stationary), batch, replacement=True, generator=generator)
        digits = [(context // v ** (k - 1 - i)) % v for i in range(k)]
        out = torch.empty(batch, length, dtype=torch.long)
        out[:, :k] = torch.stack(digits, 1)[:, :length]
        u = torch.rand(length, batch, generator=generator, dtype=torch.float64)
        for t in range(k, length):
            row = self.cdf[context]
            nxt = torch.searchsorted(row, u[t, :, None]).squeeze(1).clamp_(max=v - 1)
            out[:, t] = nxt
            context = (context * v + nxt) % v**k
        return out

    def lm_batch(self, batch: int, length: int, generator: torch.Generator, split: str = "train"):
        tokens = self.sample(batch, length + 1, generator)
        targets = tokens[:, 1:].clone()
        targets[:, : self.order - 1] = IGNORE
        return tokens[:, :-1], targets

    def describe(self) -> dict:
        return {"kind": "markov", "vocab": self.vocab, "order": self.order, "entropy": self.entropy}


def stdlib_files(limit_bytes: int) -> list[Path]:
    """The standard library's .py files in sorted order, as many as make ``limit_bytes``."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files, total = [], 0
    for path in sorted(root.glob("*.py")):
        files.append(path)
        total += path.stat().st_size
        if total >= limit_bytes:
            break
    return files


class TextCorpus:
    """Byte-level text (vocabulary 256): the last ``val_fraction`` of the bytes is held out.
    ``paths``: files or folders (every file below a folder, sorted); default: the Python
    standard library's sources, about ``limit_bytes`` of them. No known entropy."""

    vocab = 256
    entropy = None

    def __init__(self, paths: list[str | Path] | None = None, limit_bytes: int = 4_000_000,
                 val_fraction: float = 0.1):
        files = stdlib_files(limit_bytes) if not paths else _expand(paths)
        data = b"".join(Path(f).read_bytes() for f in files)[:limit_bytes]
        if len(data) < 1000:
            raise InputError(f"text corpus: {', '.join(map(str, paths or ['stdlib']))} holds {len(data)} bytes; "
                             "need at least 1000")
        self.source = "python-stdlib" if not paths else ",".join(map(str, paths))
        tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
        cut = int(len(tokens) * (1 - val_fraction))
        self.splits = {"train": tokens[:cut], "val": tokens[cut:]}

    def lm_batch(self, batch: int, length: int, generator: torch.Generator, split: str = "train"):
        data = self.splits[split]
        if len(data) <= length + 1:
            raise InputError(f"text corpus: the {split} split has {len(data)} bytes, fewer than a sequence "
                             f"of {length + 1}")
        starts = torch.randint(0, len(data) - length - 1, (batch,), generator=generator)
        windows = data[starts[:, None] + torch.arange(length + 1)]
        return windows[:, :-1], windows[:, 1:]

    def describe(self) -> dict:
        return {"kind": "text", "source": self.source, "bytes": sum(len(s) for s in self.splits.values()),
                "entropy": None}


def _expand(paths) -> list[Path]:
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    return files


class Translation:
    """A synthetic translation task. A source sentence is ``source_length`` uniform tokens; its
    clean translation maps each token, position by position, through a fixed random dictionary
    (``table``); each target token is then replaced by a uniform random one with probability
    ``noise``. The decoder reads BOS (token 0) and the previous targets.
    ``entropy``: the exact conditional entropy per target token (nats), the irreducible loss."""

    def __init__(self, vocab: int = 64, source_length: int = 16, noise: float = 0.1, seed: int = 0):
        if vocab < 2 or not 0 < noise <= 1:
            raise InputError(f"translation task: need vocab >= 2 and noise in (0, 1]; got {vocab}, {noise}")
        self.vocab, self.source_length, self.noise = vocab, source_length, noise
        self.table = torch.randint(0, vocab, (vocab,), generator=torch.Generator().manual_seed(seed))
        right, other = 1 - noise + noise / vocab, noise / vocab
        self.entropy = float(stats.entropy([right] + [other] * (vocab - 1)))

    def translate(self, source: torch.Tensor) -> torch.Tensor:
        """The clean translation of ``source`` [B, S]."""
        return self.table[source]

    def batch(self, batch: int, generator: torch.Generator, split: str = "train"):
        v, n = self.vocab, self.source_length
        source = torch.randint(0, v, (batch, n), generator=generator)
        flip = torch.rand(batch, n, generator=generator) < self.noise
        target = torch.where(flip, torch.randint(0, v, (batch, n), generator=generator), self.translate(source))
        inputs = torch.cat([torch.zeros(batch, 1, dtype=torch.long), target[:, :-1]], 1)
        return source, inputs, target

    def describe(self) -> dict:
        return {"kind": "translation", "vocab": self.vocab, "source_length": self.source_length,
                "noise": self.noise, "entropy": self.entropy}
