"""Triton path of the chunked linear cross-entropy, for CUDA tensors (used by
``scalelaw.train.linear_cross_entropy`` when Triton is installed and the input is on a GPU).

Forward: one program per block of tokens walks the vocabulary in tiles, forming each logit tile
in registers (``tl.dot`` over D) and keeping an online log-sum-exp, the target's logit and the
sum of the logits (for label smoothing); the logits never reach memory. Backward runs two
kernels, each recomputing the logit tiles and turning them into the gradient of the loss with
respect to the logits: one program per token block walks the vocabulary and accumulates its rows
of ``grad_hidden``; one program per vocabulary tile walks the tokens and accumulates its rows of
``grad_weight`` (and ``grad_bias``). Each program owns its output, so there are no atomics; the
price is one extra logit recomputation (4 matmuls in backward). Tiles that hold no target and whose softmax values all lie below
``finfo(input dtype).eps / 32`` are skipped: the gradient filter of Wijmans et al. 2024, with
their threshold (2^-12 for bfloat16, 2^-15 for float16, 2^-28 for float32). Off when label
smoothing makes every logit's gradient non-zero.
"""
from __future__ import annotations

import torch

from .cce_math import _reduce, _token_loss, _token_scale

try:
    import triton
    import triton.language as tl
except ImportError:  # no Triton: the torch path runs
    triton = None

# Tile sizes and launch settings of the three kernels, per input width (BDO: the block of D that
# one backward program writes). 16-bit: the best of a grid
# timed on an H100 at N = 8192, V = 50304, D = 256 in bf16; float32 tiles take twice the shared
# memory, so they keep smaller settings.
FORWARD = {2: {"BN": 64, "BV": 256, "BD": 64, "num_warps": 8, "num_stages": 4},
           4: {"BN": 64, "BV": 128, "BD": 64, "num_warps": 4, "num_stages": 3}}
GRAD_HIDDEN = {2: {"BN": 64, "BV": 64, "BD": 64, "BDO": 256, "num_warps": 8, "num_stages": 3},
               4: {"BN": 32, "BV": 64, "BD": 64, "BDO": 128, "num_warps": 4, "num_stages": 2}}
GRAD_WEIGHT = {2: {"BN": 128, "BV": 64, "BD": 64, "BDO": 256, "num_warps": 8, "num_stages": 3},
               4: {"BN": 64, "BV": 32, "BD": 64, "BDO": 128, "num_warps": 4, "num_stages": 2}}


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
    def _tile_grad(z, rows, cols, y, lse, s, v, softcap, smoothing, z_loss, filter_eps,
                   SOFTCAP: tl.constexpr, FILTER: tl.constexpr):
        """d loss / d logits of one tile (float32, 0 outside the vocabulary), and whether the tile
        is worth using: False when it holds no target and every softmax value is below
        ``filter_eps`` (only when FILTER)."""
        p = tl.exp(z - lse[:, None])
        hit = cols[None, :] == y[:, None]
        work = True
        if FILTER:
            work = (tl.max(tl.max(p, 1), 0) >= filter_eps) | (tl.sum(tl.sum(hit.to(tl.int32), 1), 0) > 0)
        grad = p * (1.0 + 2.0 * z_loss * lse)[:, None] - tl.where(hit, 1.0 - smoothing, 0.0) - smoothing / v
        grad = grad * s[:, None]
        if SOFTCAP:
            t = z / softcap
            grad = grad * (1.0 - t * t)
        return tl.where(cols[None, :] < v, grad, 0.0), work

    @triton.jit
    def _grad_hidden_kernel(h_ptr, w_ptr, b_ptr, y_ptr, lse_ptr, scale_ptr, gh_ptr,
                            n, v, d, softcap, smoothing, z_loss, filter_eps,
                            HAS_BIAS: tl.constexpr, SOFTCAP: tl.constexpr, FILTER: tl.constexpr,
                            PREC: tl.constexpr, BN: tl.constexpr, BV: tl.constexpr, BD: tl.constexpr,
                            BDO: tl.constexpr):
        """grad_hidden[rows, D block] = sum over vocabulary tiles of grad_logits @ W: one program
        per (token block, D block), walking the vocabulary; no atomics."""
        rows = tl.program_id(0) * BN + tl.arange(0, BN)
        ks = tl.program_id(1) * BDO + tl.arange(0, BDO)
        lse = tl.load(lse_ptr + rows, mask=rows < n, other=0.0)
        s = tl.load(scale_ptr + rows, mask=rows < n, other=0.0)
        y = tl.load(y_ptr + rows, mask=rows < n, other=-1)
        acc = tl.zeros((BN, BDO), dtype=tl.float32)
        for start in range(0, v, BV):
            cols = start + tl.arange(0, BV)
            z = _tile_logits(h_ptr, w_ptr, b_ptr, rows, cols, n, v, d, softcap, HAS_BIAS, SOFTCAP, PREC, BN, BV, BD)
            grad, work = _tile_grad(z, rows, cols, y, lse, s, v, softcap, smoothing, z_loss, filter_eps,
                                    SOFTCAP, FILTER)
            if work:
                w = _load_rows(w_ptr, cols, v, ks, d)
                acc = tl.dot(grad.to(w_ptr.dtype.element_ty), w, acc, input_precision=PREC)
        tl.store(gh_ptr + rows[:, None] * d + ks[None, :], acc.to(gh_ptr.dtype.element_ty), mask=(rows[:, None] < n) & (ks[None, :] < d))

    @triton.jit
    def _grad_weight_kernel(h_ptr, w_ptr, b_ptr, y_ptr, lse_ptr, scale_ptr, gw_ptr, gb_ptr,
                            n, v, d, softcap, smoothing, z_loss, filter_eps,
                            HAS_BIAS: tl.constexpr, SOFTCAP: tl.constexpr, FILTER: tl.constexpr,
                            PREC: tl.constexpr, BN: tl.constexpr, BV: tl.constexpr, BD: tl.constexpr,
                            BDO: tl.constexpr):
        """grad_weight[cols, D block] = sum over token blocks of grad_logits.T @ h (and grad_bias
        from the first D block): one program per (vocabulary tile, D block), walking the tokens."""
        cols = tl.program_id(0) * BV + tl.arange(0, BV)
        ks = tl.program_id(1) * BDO + tl.arange(0, BDO)
        acc = tl.zeros((BV, BDO), dtype=tl.float32)
        acc_b = tl.zeros((BV,), dtype=tl.float32)
        for start in range(0, n, BN):
            rows = start + tl.arange(0, BN)
            lse = tl.load(lse_ptr + rows, mask=rows < n, other=0.0)
            s = tl.load(scale_ptr + rows, mask=rows < n, other=0.0)
            y = tl.load(y_ptr + rows, mask=rows < n, other=-1)
            z = _tile_logits(h_ptr, w_ptr, b_ptr, rows, cols, n, v, d, softcap, HAS_BIAS, SOFTCAP, PREC, BN, BV, BD)
            grad, work = _tile_grad(z, rows, cols, y, lse, s, v, softcap, smoothing, z_loss, filter_eps,
                                    SOFTCAP, FILTER)
            if work:
                h = _load_rows(h_ptr, rows, n, ks, d)
                acc = tl.dot(tl.trans(grad.to(h_ptr.dtype.element_ty)), h, acc, input_precision=PREC)
                if HAS_BIAS:
                    acc_b += tl.sum(grad, 0)
        tl.store(gw_ptr + cols[:, None] * d + ks[None, :], acc.to(gw_ptr.dtype.element_ty), mask=(cols[:, None] < v) & (ks[None, :] < d))
        if HAS_BIAS:
            tl.store(gb_ptr + cols, acc_b.to(gb_ptr.dtype.element_ty), mask=(cols < v) & (tl.program_id(1) == 0))


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
        return _reduce(losses, valid, reduction)  # float32; the caller casts

    @staticmethod
    def backward(ctx, grad_output):
        hidden, weight, bias, safe, valid, lse = ctx.saved_tensors
        _, smoothing, z_loss, softcap, _ = ctx.options
        n, d = hidden.shape
        v = weight.shape[0]
        scale = _token_scale(valid, ctx.reduction, grad_output.float()).float().contiguous()
        # each program accumulates its rows in float32 and writes them once, in the input dtype
        grad_h, grad_w = torch.empty_like(hidden), torch.empty_like(weight)
        grad_b = torch.empty_like(bias) if bias is not None else None
        common = (hidden, weight, hidden if bias is None else bias, safe, lse, scale)
        numbers = (n, v, d, float(softcap or 1.0), float(smoothing), float(z_loss), filter_eps(hidden.dtype))
        flags = dict(HAS_BIAS=bias is not None, SOFTCAP=softcap is not None, FILTER=smoothing == 0.0,
                     PREC=_precision(hidden))
        cfg = _backward_config(GRAD_HIDDEN, hidden)
        _grad_hidden_kernel[(triton.cdiv(n, cfg["BN"]), triton.cdiv(d, cfg["BDO"]))](
            *common, grad_h, *numbers, **flags, **cfg)
        cfg = _backward_config(GRAD_WEIGHT, hidden)
        _grad_weight_kernel[(triton.cdiv(v, cfg["BV"]), triton.cdiv(d, cfg["BDO"]))](
            *common, grad_w, grad_w if bias is None else grad_b, *numbers, **flags, **cfg)
        return grad_h, grad_w, grad_b, None, None, None


def _backward_config(table: dict, hidden: torch.Tensor) -> dict:
    """The launch settings for ``hidden``'s width, with the D block no wider than D needs."""
    config = dict(table[hidden.element_size()])
    config["BDO"] = min(config["BDO"], triton.next_power_of_2(hidden.shape[1]))
    return config


def filter_eps(dtype: torch.dtype) -> float:
    """Softmax values below this, in a tile without targets, are skipped in backward: the input
    dtype's resolution next to 1 over 32, as in Wijmans et al. 2024."""
    return torch.finfo(dtype).eps / 32


def _precision(hidden: torch.Tensor) -> str:
    """Full float32 products for float32 inputs (as the torch path); tensor-core default otherwise."""
    return "ieee" if hidden.dtype == torch.float32 else "tf32"


def linear_cross_entropy(hidden, weight, targets, bias, reduction, options) -> torch.Tensor:
    """The Triton path on flattened inputs (see ``scalelaw.train.linear_cross_entropy``)."""
    return TritonLinearCrossEntropy.apply(hidden, weight, bias, targets, reduction, options)
