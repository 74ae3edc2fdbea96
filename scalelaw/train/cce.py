"""Chunked linear cross-entropy: the loss of ``hidden @ weight.T + bias`` against targets without
ever holding the full [tokens, vocabulary] logit matrix (the idea of Cut Cross-Entropy,
Wijmans et al. 2024).

The tokens are processed ``chunk_size`` at a time. For each chunk the logits are formed in
float32, reduced to the per-token log-sum-exp and loss, and (when gradients are wanted) turned
at once into the chunk's gradient, which is pushed through the classifier into
``grad_hidden`` and ``grad_weight``. So a training step costs the baseline's three matmuls
(one forward, two backward) while its extra memory is one or two [chunk, V] float32 buffers
plus the float32 gradients: O(N + chunk * V + V * D).

Two ways of getting gradients are implemented, and the faster one is the default:

- in the forward pass (``mean`` and ``sum``): the gradients are computed during the forward
  sweep and only scaled by the incoming gradient in ``backward``; 3 matmuls in all;
- recomputed in ``backward`` (``reduction="none"``, whose per-token incoming gradients are
  not known in the forward pass): the forward keeps the loss only; 4 matmuls in all.

``benchmarks/bench_cce.py`` measures both. On a CUDA machine with Triton installed,
``scalelaw.train.cce_triton`` supplies a Triton path; everywhere else this torch path runs.
"""
from __future__ import annotations

import torch

from .cce_math import _reduce, _token_loss, _token_scale

REDUCTIONS = ("mean", "sum", "none")
_BUFFER_ELEMENTS = 1 << 24  # default chunk: about 64 MB of float32 logits per buffer


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *,
                         bias: torch.Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                         label_smoothing: float = 0.0, z_loss: float = 0.0, softcap: float | None = None,
                         chunk_size: int | None = None, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Cross-entropy of the logits ``softcap(hidden @ weight.T + bias)``, computed in chunks.

    Equal to ``F.cross_entropy(logits, targets, ignore_index=..., reduction=...,
    label_smoothing=...)`` plus ``z_loss * logsumexp(logits)^2`` per token (the PaLM z-loss,
    reduced like the loss), where ``softcap(z) = softcap * tanh(z / softcap)``.

    Args:
        hidden: [N, D] or [B, T, D] hidden states (float32, float16 or bfloat16).
        weight: [V, D] classifier weight (the unembedding).
        targets: [N] or [B, T] class indices in [0, V), or ``ignore_index``.
        bias: optional [V] classifier bias.
        ignore_index: target value that contributes no loss and no gradient.
        reduction: ``"mean"`` (over the targets not ignored), ``"sum"`` or ``"none"`` (per token,
            0 where ignored, shaped like ``targets``). As with ``F.cross_entropy``, a ``"mean"``
            over a batch whose every target is ignored is NaN (0/0); its ``"sum"`` is 0.
        label_smoothing: in [0, 1]: the target is mixed with the uniform distribution.
        z_loss: weight of the log-sum-exp squared (0 = off).
        softcap: cap of the logits (None = off), e.g. 30.0.
        chunk_size: tokens per chunk (default: about 2^24 / V, at least 16).
        out_dtype: the dtype of the returned loss (default ``hidden``'s, as ``F.cross_entropy``);
            ``torch.float32`` keeps the float32 accumulation of a bfloat16 model's loss, which
            bfloat16 would round to about 3 significant digits.

    Returns:
        the loss in ``out_dtype``: a scalar, or per token for ``reduction="none"``.
        Accumulation is in float32 whatever the input dtype (float64 for float64 inputs).
        Differentiable with respect to ``hidden``, ``weight`` and ``bias``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if hidden.shape[-1:] != weight.shape[-1:] or weight.dim() != 2:
        raise ValueError(f"hidden [..., D] and weight [V, D] must share D: got {tuple(hidden.shape)} "
                         f"and {tuple(weight.shape)}")
    if tuple(targets.shape) != tuple(hidden.shape[:-1]):
        raise ValueError(f"targets must be shaped like hidden without its last dimension: "
                         f"{tuple(hidden.shape[:-1])}, got {tuple(targets.shape)}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    if z_loss < 0:
        raise ValueError(f"z_loss must be >= 0, got {z_loss}")
    if softcap is not None and not softcap > 0:
        raise ValueError(f"softcap must be positive, got {softcap}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    vocab = weight.shape[0]
    chunk = chunk_size or default_chunk(vocab)
    flat_h, flat_y = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1)
    bad = (flat_y != ignore_index) & ((flat_y < 0) | (flat_y >= vocab))
    if bool(bad.any()):
        raise ValueError(f"targets must lie in [0, {vocab}) or equal ignore_index ({ignore_index}); "
                         f"got {int(flat_y[bad][0])}")
    options = (ignore_index, label_smoothing, z_loss, softcap, chunk)
    if _triton_ready(hidden, weight):
        from . import cce_triton

        loss = cce_triton.linear_cross_entropy(flat_h, weight, flat_y, bias, reduction, options)
    else:
        loss = LinearCrossEntropy.apply(flat_h, weight, bias, flat_y, reduction, options, reduction == "none")
    loss = loss.to(out_dtype or hidden.dtype)  # both paths return their accumulation dtype
    return loss.reshape(targets.shape) if reduction == "none" else loss


def _triton_ready(hidden: torch.Tensor, weight: torch.Tensor) -> bool:
    """The Triton path takes CUDA inputs of one floating dtype, where Triton is installed."""
    if not (hidden.is_cuda and hidden.dtype in (torch.float32, torch.float16, torch.bfloat16)
            and weight.dtype == hidden.dtype):
        return False
    from . import cce_triton

    return cce_triton.available()


def default_chunk(vocab: int) -> int:
    """Tokens per chunk for a vocabulary of ``vocab``: about 2^24 float32 logits (64 MB)."""
    return max(16, _BUFFER_ELEMENTS // vocab)


class LinearCrossEntropy(torch.autograd.Function):
    """The torch path. ``recompute=False`` computes the gradients in the forward pass (only for
    ``mean``/``sum``); ``recompute=True`` recomputes the logits in ``backward``."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, reduction, options, recompute):
        ignore_index = options[0]
        valid = targets != ignore_index
        scale = None
        if any(ctx.needs_input_grad[:3]) and not recompute:
            if reduction == "none":
                raise ValueError("reduction='none' needs recompute=True (its incoming gradient is per token)")
            scale = _token_scale(valid, reduction, torch.ones((), device=hidden.device))
        losses, grads = _sweep(hidden, weight, bias, targets, valid, scale, options)
        ctx.reduction, ctx.options, ctx.recompute = reduction, options, recompute
        if scale is not None:
            ctx.save_for_backward(*grads)
        elif any(ctx.needs_input_grad[:3]):
            ctx.save_for_backward(hidden, weight, bias, targets)
        return _reduce(losses, valid, reduction)  # in the accumulation dtype

    @staticmethod
    def backward(ctx, grad_output):
        if not ctx.recompute:
            grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
            go = grad_output.to(grad_hidden.dtype)
            return (_scaled(grad_hidden, go), _scaled(grad_weight, go),
                    None if grad_bias.numel() == 0 else _scaled(grad_bias, go), None, None, None, None)
        hidden, weight, bias, targets = ctx.saved_tensors
        valid = targets != ctx.options[0]
        scale = _token_scale(valid, ctx.reduction, grad_output.to(torch.promote_types(hidden.dtype, torch.float32)))
        _, (grad_hidden, grad_weight, grad_bias) = _sweep(hidden, weight, bias, targets, valid, scale, ctx.options)
        return (grad_hidden.to(hidden.dtype), grad_weight.to(weight.dtype),
                None if bias is None else grad_bias.to(bias.dtype), None, None, None, None)


def _scaled(grad: torch.Tensor, go: torch.Tensor) -> torch.Tensor:
    return grad if bool(go == 1) else grad * go.to(grad.dtype)


def _sweep(hidden, weight, bias, targets, valid, scale, options):
    """One pass over the tokens in chunks.

    Returns the per-token losses (float32, or float64 for float64 inputs; 0 where ignored) and,
    when ``scale`` ([N]: the weight of each token's loss in the quantity differentiated) is
    given, the gradients (grad_hidden, grad_weight, grad_bias) in the input dtypes; else
    (None, None, None).
    """
    _, smoothing, z_loss, softcap, chunk = options
    n, vocab = hidden.shape[0], weight.shape[0]
    acc = torch.promote_types(hidden.dtype, torch.float32)  # float32, or float64 for float64 inputs
    w32 = weight.to(acc)
    b32 = None if bias is None else bias.to(acc)
    losses = torch.zeros(n, dtype=acc, device=hidden.device)
    want = scale is not None
    if want:
        grad_hidden = torch.empty(hidden.shape, dtype=hidden.dtype, device=hidden.device)
        grad_w = torch.zeros_like(w32)
        grad_b = torch.zeros(vocab if bias is not None else 0, dtype=acc, device=hidden.device)
    safe_targets = torch.where(valid, targets, 0)
    # [chunk, V] float32 buffers, allocated once: fresh ones per chunk cost page faults
    logits = torch.empty((min(chunk, n), vocab), dtype=acc, device=hidden.device)
    tanh = torch.empty_like(logits) if softcap is not None else None
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        h = hidden[start:stop].to(acc)
        y = safe_targets[start:stop, None]
        z = logits[: stop - start]
        if b32 is not None:
            torch.addmm(b32, h, w32.t(), out=z)
        else:
            torch.mm(h, w32.t(), out=z)
        if softcap is not None:
            t = torch.div(z, softcap, out=tanh[: stop - start]).tanh_()  # t = tanh(logits / cap)
            torch.mul(t, softcap, out=z)                                  # capped logits
        picked = z.gather(1, y).squeeze(1)
        mean_logit = z.mean(1) if smoothing else None
        top = z.amax(1, keepdim=True)
        p = z.sub_(top).exp_()                      # in place: unnormalised probabilities
        total = p.sum(1, keepdim=True)
        lse = (top + total.log()).squeeze(1)
        losses[start:stop] = torch.where(valid[start:stop], _token_loss(lse, picked, mean_logit, smoothing, z_loss), 0.0)
        if not want:
            continue
        # d loss / d capped logits = p * (1 + 2 z lse) - (1 - eps) onehot - eps / V, per token weight s
        s = scale[start:stop, None].to(acc)
        factor = s / total
        if z_loss:
            factor = factor * (1.0 + 2.0 * z_loss * lse[:, None])
        p.mul_(factor)
        p.scatter_add_(1, y, -(1.0 - smoothing) * s)
        if smoothing:
            p.sub_(smoothing / vocab * s)
        if softcap is not None:
            p.mul_(t.mul_(t).neg_().add_(1.0))      # d capped / d logits = 1 - t^2
        if grad_hidden.dtype == acc:
            torch.mm(p, w32, out=grad_hidden[start:stop])
        else:
            grad_hidden[start:stop] = (p @ w32).to(hidden.dtype)
        grad_w.addmm_(p.t(), h)
        if bias is not None:
            grad_b += p.sum(0)
    if not want:
        return losses, (None, None, None)
    return losses, (grad_hidden, grad_w.to(weight.dtype), grad_b if bias is None else grad_b.to(bias.dtype))
