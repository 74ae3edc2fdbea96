"""The multi-power law of Luo et al. 2025: the loss over training steps under any schedule.

    L(t)  = L0 + A * S1(t)^-alpha - LD(t)
    LD(t) = B * sum_{k<=t} (lr_{k-1} - lr_k) * G(lr_k^-gamma * S_k(t)),  S_k(t) = sum_{tau=k..t} lr_tau
    G(x)  = 1 - (C*x + 1)^-beta

Every LR drop at step k keeps lowering the loss afterwards, by a power law in the LR area
travelled since then. Seven parameters: L0, A, alpha, B, C, beta, gamma.

Conventions (explicit, since they differ between the paper and its code):
- S1(t) includes the warmup. By default (``warmup="peak"``) warmup steps count at the peak LR,
  as in our annealing law; ``warmup="actual"`` sums the logged warmup LRs (the paper's
  S1 + S_W).
- By default only LR changes after the warmup enter LD. The authors' code also sums the LR
  *increases* of the warmup into LD (as negative drops): option ``warmup_drops=True`` (with
  ``warmup="actual"``, the authors' conventions; ``--law auto`` tries them).
- LR increases after warmup (cyclic schedules, re-warming) enter LD with a negative sign.

Computation: LD needs, for every step t asked for, a sum over all earlier steps. The LR changes
are gathered into blocks of at most ``block`` steps (128 by default), cut also at every step
asked for and wherever log LR has moved by ``tol`` (0.02); within a block a change is
represented by its total, at the change-weighted mean position and log LR. A single drop in a
block is therefore exact. Measured against one block per step on the published curves, the
loss differs by at most 2e-5 (cosine to 72k steps) and 2e-4 (WSD 20k-24k); the tests bound it.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import InputError
from .. import schedules
from . import Inputs, Law, Param, register
from .annealing import AREA_PARAMS

OPTIONS = {"warmup": "peak", "warmup_drops": False, "block": 128, "tol": 0.02}


def drop_terms(lr: np.ndarray, steps: np.ndarray, options: Mapping) -> dict[str, np.ndarray]:
    """Inputs of the law at ``steps`` (integers) from the per-step LR ``lr``.

    Returns ``S1`` (n,), and ``drop``, ``gap``, ``log_lr`` (n, K): for each point and each block
    of LR changes before it, the LR change, the LR area travelled since it, and the log LR just
    after it (zero columns where a block lies after the point).
    """
    width = int(options["block"])
    if width < 1:
        raise InputError(f"multipower: block must be at least 1 step, got {options['block']}")
    s1 = schedules.forward_area(schedules.hold_warmup(lr, options["warmup"]))
    rises = "actual" if options.get("warmup_drops") else "peak"
    change = -np.diff(schedules.hold_warmup(lr, rises))  # change[k-1] = lr[k-1] - lr[k]
    total = len(lr) - 1
    log_lr = np.log(np.maximum(lr[1:], 1e-12 * max(lr.max(), 1e-300)))
    steps = np.asarray(steps, int)
    marks = np.unique(np.concatenate([steps, [0, total]]))
    grid = np.arange(0, total, width)
    near = np.searchsorted(marks, grid)  # grid edges closer than width/2 to a step are not needed
    gap_to_mark = np.minimum(np.abs(grid - marks[np.maximum(near - 1, 0)]),
                             np.abs(marks[np.minimum(near, len(marks) - 1)] - grid))
    # and where the LR changes fast, a cut each time log LR has moved by another ``tol``
    travel = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(log_lr)))]) / float(options["tol"])
    fast = np.flatnonzero(np.diff(np.floor(travel)) > 0) + 1  # k - 1 of the first step past a cut
    edges = np.unique(np.concatenate([marks, grid[gap_to_mark >= width / 2], fast]))
    edges = edges[edges <= total]
    start, end = edges[:-1], edges[1:]  # block b holds steps k in (start, end]
    blocks = []
    for sign in (1.0, -1.0):  # drops and rises apart, so that weights never cancel
        w = np.maximum(sign * change, 0.0)
        size = np.add.reduceat(w, start)
        keep = size > 0
        if keep.any():
            pos = np.add.reduceat(w * s1[:-1], start)[keep] / size[keep]  # weighted S1(k-1)
            loglr = np.add.reduceat(w * log_lr, start)[keep] / size[keep]
            blocks.append((sign * size[keep], pos, loglr, end[keep]))
    if not blocks:
        zero = np.zeros((len(steps), 1))
        return {"S1": s1[steps], "drop": zero, "gap": zero, "log_lr": zero}
    size, pos, loglr, last = (np.concatenate(parts) for parts in zip(*blocks))
    before = last[None, :] <= steps[:, None]
    return {
        "S1": s1[steps],
        "drop": np.where(before, size[None, :], 0.0),
        "gap": np.where(before, s1[steps][:, None] - pos[None, :], 0.0),
        "log_lr": np.broadcast_to(loglr, before.shape).copy(),
    }


def _parts(inputs: Inputs, C: float, beta: float, gamma: float):
    """scaled = lr_k^-gamma * S_k(t); u = C*scaled + 1; q = u^-beta; log u."""
    scaled = np.exp(-gamma * inputs["log_lr"]) * inputs["gap"]
    log_u = np.log1p(C * scaled)
    return scaled, log_u, np.exp(-beta * log_u)


def multipower_law(inputs: Inputs, L0: float, A: float, alpha: float, B: float, C: float,
                   beta: float, gamma: float) -> np.ndarray:
    """Loss at the points of ``inputs`` (from ``drop_terms``), loss units."""
    _, _, q = _parts(inputs, C, beta, gamma)
    return L0 + A * inputs["S1"] ** -alpha - B * np.sum(inputs["drop"] * (1.0 - q), axis=-1)


def _jacobian(inputs: Inputs, L0: float, A: float, alpha: float, B: float, C: float, beta: float,
              gamma: float) -> np.ndarray:
    scaled, log_u, q = _parts(inputs, C, beta, gamma)
    drop, s1 = inputs["drop"], inputs["S1"]
    power = s1**-alpha
    d_scaled = drop * beta * q / (1.0 + C * scaled) * scaled  # drop * dG/du * scaled
    return np.stack([
        np.ones_like(s1),
        power,
        -A * power * np.log(s1),
        -np.sum(drop * (1.0 - q), axis=-1),
        -B * np.sum(d_scaled, axis=-1),
        -B * np.sum(drop * q * log_u, axis=-1),
        B * C * np.sum(d_scaled * inputs["log_lr"], axis=-1),
    ], axis=-1)


def _starts(inputs: Inputs, y: np.ndarray):
    """A grid over (alpha, beta, gamma, C); (L0, A, B) by linear least squares for each."""
    nonzero = inputs["drop"] != 0
    for gamma in (0.3, 0.6):
        scaled = np.exp(-gamma * inputs["log_lr"]) * inputs["gap"]
        ref = float(np.median(scaled[nonzero])) if nonzero.any() else 1.0
        for c in (0.03, 0.3, 3.0):
            C = c / max(ref, 1e-300)
            for beta in (0.3, 0.6, 1.0):
                G = np.sum(inputs["drop"] * (1.0 - (C * scaled + 1.0) ** -beta), axis=-1)
                for alpha in (0.3, 0.5, 0.8):
                    basis = np.stack([np.ones_like(y), inputs["S1"] ** -alpha, -G], axis=-1)
                    (L0, A, B), *_ = np.linalg.lstsq(basis, y, rcond=None)
                    yield {"L0": float(np.clip(L0, 0, y.min())), "A": max(float(A), 1e-6),
                           "alpha": alpha, "B": float(np.clip(B, 1e-6, 1e12)), "C": C,
                           "beta": beta, "gamma": gamma}


MULTIPOWER = register(Law(
    name="multipower",
    formula="L(t) = L0 + A*S1^-alpha - B*sum_k (lr_{k-1}-lr_k)*(1 - (C*lr_k^-gamma*S_k(t) + 1)^-beta)",
    inputs=("S1", "drop", "gap", "log_lr"),
    params=(
        *AREA_PARAMS,
        Param("B", 1e-6, 1e12, log=True, doc="loss drop per unit of LR decrease, loss / LR"),
        Param("C", 1e-12, 1e12, log=True, doc="rate of the loss drop over scaled LR area"),
        Param("beta", 1e-3, 10.0, doc="exponent of the loss drop, dimensionless"),
        Param("gamma", 0.0, 3.0, doc="LR exponent scaling the area after a drop, dimensionless"),
    ),
    func=multipower_law,
    starts=_starts,
    jacobian=_jacobian,
    features=drop_terms,
    options=OPTIONS,
    refine=2,
    decay_params=("B", "C", "beta", "gamma"),
    max_points=1024,
))
