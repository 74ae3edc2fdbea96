"""Two tiny transformers, readable top to bottom: a decoder-only language model (``GPT``) and an
encoder-decoder (``EncDec``) whose encoder and decoder depth and width are set separately.

Given targets, both return the mean loss (nats/token, float32), computed by the chunked linear
cross-entropy (``scalelaw.train.linear_cross_entropy``), the only loss path, so the [tokens,
vocabulary] logits never exist; without, the final hidden states. Under autocast (the trainer's
``--device cuda`` runs in bfloat16) the final hidden states and the tied output weight go to the
loss in the autocast dtype, so that on a GPU the Triton path runs on 16-bit tiles; the loss is
accumulated and returned in float32. The output layer is tied to the token embedding (as in GPT-2).

Parameter counts follow Kaplan et al. 2020: ``non_embedding`` leaves out the token and position
embeddings (the tied output layer is the token embedding).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cce import linear_cross_entropy


@dataclass
class GPTConfig:
    vocab: int = 64       # tokens
    context: int = 64     # tokens per sequence
    layers: int = 2
    heads: int = 2
    width: int = 64       # model dimension; a multiple of heads


@dataclass
class EncDecConfig:
    vocab: int = 32            # shared by source and target
    source_context: int = 32   # source tokens
    target_context: int = 32   # target tokens
    enc_layers: int = 2
    enc_width: int = 64
    dec_layers: int = 2
    dec_width: int = 64
    heads: int = 2             # in every attention layer


def _loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean loss of ``targets`` (float32). Autocast does not reach inside our autograd function,
    so under autocast the inputs are cast here (LayerNorm leaves ``hidden`` in float32)."""
    kind = hidden.device.type
    if torch.is_autocast_enabled(kind):
        dtype = torch.get_autocast_dtype(kind)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    return linear_cross_entropy(hidden, weight, targets, out_dtype=torch.float32)


class Attention(nn.Module):
    """Multi-head attention of queries from ``x`` over keys and values from ``memory`` (or ``x``)."""

    def __init__(self, width: int, heads: int, memory_width: int | None = None):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key_value = nn.Linear(memory_width or width, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        b, t, w = x.shape
        memory = x if memory is None else memory
        k, v = self.key_value(memory).split(w, dim=2)
        split = lambda z: z.view(b, z.shape[1], self.heads, w // self.heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(self.query(x)), split(k), split(v), is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(b, t, w))


class Block(nn.Module):
    """Pre-norm transformer block: self-attention, optional cross-attention, 4x GELU MLP."""

    def __init__(self, width: int, heads: int, causal: bool, memory_width: int | None = None):
        super().__init__()
        self.causal = causal
        self.norm1, self.attn = nn.LayerNorm(width), Attention(width, heads)
        self.cross = None
        if memory_width is not None:
            self.norm_cross, self.cross = nn.LayerNorm(width), Attention(width, heads, memory_width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), causal=self.causal)
        if self.cross is not None:
            x = x + self.cross(self.norm_cross(x), memory)
        return x + self.mlp(self.norm2(x))


class Stack(nn.Module):
    """Token + learned position embeddings, ``layers`` blocks, a final norm."""

    def __init__(self, vocab: int, context: int, layers: int, width: int, heads: int, causal: bool,
                 memory_width: int | None = None):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, causal, memory_width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, idx: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        x = self.tokens(idx) + self.positions(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x, memory)
        return self.norm(x)

    def counts(self) -> tuple[int, int]:
        """(total, non-embedding) parameters."""
        total = sum(p.numel() for p in self.parameters())
        return total, total - self.tokens.weight.numel() - self.positions.weight.numel()


class GPT(nn.Module):
    """Decoder-only language model: ``idx`` [B, T] tokens -> hidden states [B, T, width], or the
    mean loss of predicting ``targets`` [B, T] (-100 = ignored)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.decoder = Stack(config.vocab, config.context, config.layers, config.width, config.heads, causal=True)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.decoder(idx)
        return hidden if targets is None else _loss(hidden, self.decoder.tokens.weight, targets)

    def parameter_counts(self) -> dict[str, int]:
        total, non_embedding = self.decoder.counts()
        return {"total": total, "non_embedding": non_embedding}


class EncDec(nn.Module):
    """Encoder-decoder: ``source`` [B, S] and decoder input ``idx`` [B, T] -> hidden states
    [B, T, dec_width], or the mean loss of the target tokens ``targets`` [B, T]."""

    def __init__(self, config: EncDecConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = Stack(c.vocab, c.source_context, c.enc_layers, c.enc_width, c.heads, causal=False)
        self.decoder = Stack(c.vocab, c.target_context, c.dec_layers, c.dec_width, c.heads, causal=True,
                             memory_width=c.enc_width)

    def forward(self, source: torch.Tensor, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.decoder(idx, self.encoder(source))
        return hidden if targets is None else _loss(hidden, self.decoder.tokens.weight, targets)

    def parameter_counts(self) -> dict[str, int]:
        enc_total, enc = self.encoder.counts()
        dec_total, dec = self.decoder.counts()
        return {"total": enc_total + dec_total, "non_embedding": enc + dec, "encoder": enc, "decoder": dec}
