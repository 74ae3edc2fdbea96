"""Triton path of the chunked linear cross-entropy, for CUDA tensors (used by
``scalelaw.train.linear_cross_entropy`` when Triton is installed and the input is on a GPU).

Forward: one program per block of tokens walks the vocabulary in tiles, forming each logit tile
in registers (``tl.dot`` over D) and keeping an online log-sum-exp, the target's logit and the
sum of the logits (for label smoothing); the logits never reach memory. Backward recomputes each
(token block, vocabulary tile) of logits, turns it into the gradient of the loss with respect to
the logits and adds its products with W and h into float32 ``grad_hidden`` and ``grad_weight``
(atomic adds). Tiles whose softmax values all lie below float32 resolution and hold no target
contribute nothing and are skipped (the gradient filter of Wijmans et al. 2024; off when label
smoothing makes every logit's gradient non-zero).
"""
from __future__ import annotations

import torch

from .cce import _reduce, _token_loss, _token_scale

try:
    import triton
    import triton.language as tl
except ImportError:  # no Triton: the torch path runs
    triton = None

# Tile sizes and launch settings of the two kernels, per input width. 16-bit: the best of a grid
# timed on an H100 at N = 8192, V = 50304, D = 256 in bf16; float32 tiles take twice the shared
# memory, so they keep smaller settings.
FORWARD = {2: {"BN": 64, "BV": 256, "BD": 64, "num_warps": 8, "num_stages": 4},
           4: {"BN": 64, "BV": 128, "BD": 64, "num_warps": 4, "num_stages": 3}}
BACKWARD = {2: {"BN": 128, "BV": 128, "BD": 32, "num_warps": 4, "num_stages": 2},
            4: {"BN": 64, "BV": 128, "BD": 64, "num_warps": 4, "num_stages": 3}}
FILTER_EPS = 2.0**-24  # softmax values below this (float32 resolution next to 1) are skipped


def available() -> bool:
    """True where the Triton path can run: Triton installed and a CUDA device present."""
    return triton is not None and torch.cuda.is_available()


if triton is not None:
    @triton.jit
    def _load_rows(ptr, idx, limit, ks, d):
        """Rows ``idx`` (< limit), columns ``ks`` (< d) of a row-major [*, d] matrix; 0 outside."""
        return tl.load(ptr + idx[:, None] * d + ks[None, :], mask=(idx[:, None] < limit) & (ks[None, :] < d),
                       other=0.0)

    @triton.jit
    def _tile_logits(h_ptr, w_ptr, b_ptr, rows, cols, n, v, d, softcap,
                     HAS_BIAS: tl.constexpr, SOFTCAP: tl.constexpr, PREC: tl.constexpr,
                     BN: tl.constexpr, BV: tl.constexpr, BD: tl.constexpr):
        """Logits of a [BN, BV] tile in float32 (capped when SOFTCAP), -inf outside the vocabulary."""
        acc = tl.zeros((BN, BV), dtype=tl.float32)
        for k in range(0, d, BD):
            ks = k + tl.arange(0, BD)
            h = _load_rows(h_ptr, rows, n, ks, d)
            w = _load_rows(w_ptr, cols, v, ks, d)
            acc = tl.dot(h, tl.trans(w), acc, input_precision=PREC)
        if HAS_BIAS:
            acc += tl.load(b_ptr + cols, mask=cols < v, other=0.0).to(tl.float32)[None, :]
        if SOFTCAP:
            acc = softcap * (1.0 - 2.0 / (tl.exp(2.0 * acc / softcap) + 1.0))  # softcap * tanh(acc / softcap)
        return tl.where(cols[None, :] < v, acc, float("-inf"))

    @triton.jit
    def _forward_kernel(h_ptr, w_ptr, b_ptr, y_ptr, lse_ptr, picked_ptr, total_ptr, n, v, d, softcap,
                        HAS_BIAS: tl.constexpr, SOFTCAP: tl.constexpr, PREC: tl.constexpr,
                        BN: tl.constexpr, BV: tl.constexpr, BD: tl.constexpr):
        rows = tl.program_id(0) * BN + tl.arange(0, BN)
        y = tl.load(y_ptr + rows, mask=rows < n, other=-1)
        top = tl.full((BN,), float("-inf"), tl.float32)
        mass = tl.zeros((BN,), tl.float32)
        picked = tl.zeros((BN,), tl.float32)
        total = tl.zeros((BN,), tl.float32)
        for start in range(0, v, BV):
            cols = start + tl.arange(0, BV)
            z = _tile_logits(h_ptr, w_ptr, b_ptr, rows, cols, n, v, d, softcap, HAS_BIAS, SOFTCAP, PREC, BN, BV, BD)
            new_top = tl.maximum(top, tl.max(z, 1))
            mass = mass * tl.exp(top - new_top) + tl.sum(tl.exp(z - new_top[:, None]), 1)
            top = new_top
            inside = cols[None, :] < v
            picked += tl.sum(tl.where(cols[None, :] == y[:, None], z, 0.0), 1)
            total += tl.sum(tl.where(inside, z, 0.0), 1)
        tl.store(lse_ptr + rows, top + tl.log(mass), mask=rows < n)
        tl.store(picked_ptr + rows, picked, mask=rows < n)
        tl.store(total_ptr + rows, total, mask=rows < n)

    @triton.jit
    def _backward_kernel(h_ptr, w_ptr, b_ptr, y_ptr, lse_ptr, scale_ptr, gh_ptr, gw_ptr, gb_ptr,
                         n, v, d, softcap, smoothing, z_loss, filter_eps,
                         HAS_BIAS: tl.constexpr, SOFTCAP: tl.constexpr, FILTER: tl.constexpr, PREC: tl.constexpr,
                         BN: tl.constexpr, BV: tl.constexpr, BD: tl.constexpr):
        rows = tl.program_id(0) * BN + tl.arange(0, BN)
        cols = tl.program_id(1) * BV + tl.arange(0, BV)
        z = _tile_logits(h_ptr, w_ptr, b_ptr, rows, cols, n, v, d, softcap, HAS_BIAS, SOFTCAP, PREC, BN, BV, BD)
        lse = tl.load(lse_ptr + rows, mask=rows < n, other=0.0)
        s = tl.load(scale_ptr + rows, mask=rows < n, other=0.0)
        y = tl.load(y_ptr + rows, mask=rows < n, other=-1)
        p = tl.exp(z - lse[:, None])
        hit = cols[None, :] == y[:, None]
        work = True
        if FILTER:  # skip a tile with no target whose softmax values are all negligible
            work = (tl.max(tl.max(p, 1), 0) >= filter_eps) | (tl.sum(tl.sum(hit.to(tl.int32), 1), 0) > 0)
        if work:
            grad = p * (1.0 + 2.0 * z_loss * lse)[:, None] - tl.where(hit, 1.0 - smoothing, 0.0) - smoothing / v
            grad = grad * s[:, None]
            if SOFTCAP:
                t = z / softcap
                grad = grad * (1.0 - t * t)
            grad = tl.where(cols[None, :] < v, grad, 0.0)
            if HAS_BIAS:
                tl.atomic_add(gb_ptr + cols, tl.sum(grad, 0), mask=cols < v)
            grad_in = grad.to(h_ptr.dtype.element_ty)
            for k in range(0, d, BD):
                ks = k + tl.arange(0, BD)
                h = _load_rows(h_ptr, rows, n, ks, d)
                w = _load_rows(w_ptr, cols, v, ks, d)
                tl.atomic_add(gh_ptr + rows[:, None] * d + ks[None, :], tl.dot(grad_in, w, input_precision=PREC),
                              mask=(rows[:, None] < n) & (ks[None, :] < d))
                tl.atomic_add(gw_ptr + cols[:, None] * d + ks[None, :],
                              tl.dot(tl.trans(grad_in), h, input_precision=PREC),
                              mask=(cols[:, None] < v) & (ks[None, :] < d))


class TritonLinearCrossEntropy(torch.autograd.Function):
    """Loss from blockwise log-sum-exp; gradients recomputed tile by tile in backward."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, reduction, options):
        ignore_index, smoothing, z_loss, softcap, _ = options
        hidden, weight = hidden.contiguous(), weight.contiguous()
        n, d = hidden.shape
        v = weight.shape[0]
        lse, picked, total = (torch.empty(n, dtype=torch.float32, device=hidden.device) for _ in range(3))
        valid = targets != ignore_index
        safe = torch.where(valid, targets, 0).contiguous()
        config = FORWARD[hidden.element_size()]
        _forward_kernel[(triton.cdiv(n, config["BN"]),)](
            hidden, weight, hidden if bias is None else bias, safe, lse, picked, total, n, v, d,
            float(softcap or 1.0), HAS_BIAS=bias is not None, SOFTCAP=softcap is not None,
            PREC=_precision(hidden), **config)
        losses = torch.where(valid, _token_loss(lse, picked, total / v, smoothing, z_loss), 0.0)
        ctx.save_for_backward(hidden, weight, bias, safe, valid, lse)
        ctx.reduction, ctx.options = reduction, options
        return _reduce(losses, valid, reduction).to(hidden.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        hidden, weight, bias, safe, valid, lse = ctx.saved_tensors
        _, smoothing, z_loss, softcap, _ = ctx.options
        n, d = hidden.shape
        v = weight.shape[0]
        scale = _token_scale(valid, ctx.reduction, grad_output.float()).float().contiguous()
        grad_h = torch.zeros(n, d, dtype=torch.float32, device=hidden.device)
        grad_w = torch.zeros(v, d, dtype=torch.float32, device=hidden.device)
        grad_b = torch.zeros(v if bias is not None else 1, dtype=torch.float32, device=hidden.device)
        config = BACKWARD[hidden.element_size()]
        grid = (triton.cdiv(n, config["BN"]), triton.cdiv(v, config["BV"]))
        _backward_kernel[grid](
            hidden, weight, hidden if bias is None else bias, safe, lse, scale, grad_h, grad_w, grad_b, n, v, d,
            float(softcap or 1.0), float(smoothing), float(z_loss), FILTER_EPS, HAS_BIAS=bias is not None,
            SOFTCAP=softcap is not None, FILTER=smoothing == 0.0, PREC=_precision(hidden), **config)
        return (grad_h.to(hidden.dtype), grad_w.to(weight.dtype),
                None if bias is None else grad_b.to(bias.dtype), None, None, None)


def _precision(hidden: torch.Tensor) -> str:
    """Full float32 products for float32 inputs (as the torch path); tensor-core default otherwise."""
    return "ieee" if hidden.dtype == torch.float32 else "tf32"


def linear_cross_entropy(hidden, weight, targets, bias, reduction, options) -> torch.Tensor:
    """The Triton path on flattened inputs (see ``scalelaw.train.linear_cross_entropy``)."""
    return TritonLinearCrossEntropy.apply(hidden, weight, bias, targets, reduction, options)
