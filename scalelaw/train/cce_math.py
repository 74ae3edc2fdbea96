"""The math both cross-entropy paths share (the chunked torch one in ``cce`` and the Triton one
in ``cce_triton``): per-token loss from the log-sum-exp, its reduction, and the weight of each
token in the gradient. Both import it; it imports neither."""
from __future__ import annotations

import torch


def _token_scale(valid: torch.Tensor, reduction: str, go: torch.Tensor) -> torch.Tensor:
    """The weight of each token's loss in what is differentiated, given the incoming gradient
    ``go`` (per token for ``none``): go / (number of valid targets) for ``mean``, go for the
    others; 0 for ignored targets."""
    if reduction == "none":
        return go.reshape(-1) * valid
    if reduction == "mean":
        return valid * (go / valid.sum().clamp(min=1))
    return valid * go


def _token_loss(lse, picked, mean_logit, smoothing: float, z_loss: float) -> torch.Tensor:
    """Per-token loss from the log-sum-exp, the target's logit and (with label smoothing) the
    mean logit: ``lse - (1 - eps) z_y - eps mean(z) + z_loss lse^2``."""
    loss = lse - (1.0 - smoothing) * picked
    if smoothing:
        loss = loss - smoothing * mean_logit
    return loss + z_loss * lse * lse if z_loss else loss


def _reduce(losses: torch.Tensor, valid: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / valid.sum() if reduction == "mean" else total  # 0/0 = NaN, as F.cross_entropy
