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
are gathered into blocks of at most ``block`` steps (by default 128, or as many as make at most
1,024 blocks on a schedule longer than 131,072 steps: 1,954 steps a block on 2,000,000), cut
also wherever log LR has moved by ``tol`` (0.02); within a block a change is represented by its
total, at the change-weighted mean position and log LR. The block a point lies in enters only up to the
point's own step, exactly (from cumulative sums). The blocks depend on the schedule alone, so a
point costs one row of K blocks (K ~ 700 for a 72k-step cosine), and the law sums only the
blocks before each point. Measured against one block per step, the loss differs by at most
1.2e-5 (cosine to 72k steps) and 1.2e-4 (cosine to 8k); the tests bound it, and bound the wider
blocks of a 1,000,000-step schedule against blocks of 128 steps. Fits average per-step logs to
``max_points`` per run first (a log long enough to be summarised, ``scalelaw.laws.summary``, is
fitted on its bins instead), and predictions at many steps go in batches
(``FitResult.predict``), so memory stays bounded (benchmarks/bench_lr_speed.py). Over a
2,000,000-step cosine at its summary's 330 points, one evaluation takes well under a
millisecond (benchmarks/bench_scale.py).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import InputError
from .. import schedules
from .base import Inputs, Law, Param, register
from .annealing import AREA_PARAMS, FLAGS

OPTIONS = {"warmup": "peak", "warmup_drops": False, "block": None, "tol": 0.02}
BLOCK, MAX_BLOCKS = 128, 1024  # block=None: blocks of 128 steps, at most 1024 of them (see the docstring)


def drop_terms(lr: np.ndarray, steps: np.ndarray, options: Mapping) -> dict[str, np.ndarray]:
    """Inputs of the law at ``steps`` (integers) from the per-step LR ``lr``.

    Returns ``S1`` (n,), and ``drop``, ``gap``, ``log_lr`` (n, K + 2): for each point, each block
    of LR changes wholly before it, then the part of the block it lies in up to its own step
    (drops, then rises): the LR change, the LR area travelled since it, and the log LR just after
    it (zeros where a block lies after the point). K depends on the schedule, not on ``steps``.
    """
    block = options.get("block")
    if block is not None and not int(block) >= 1:
        raise InputError(f"multipower: block must be at least 1 step, got {block}")
    # by default BLOCK steps, or wider on a schedule of more than MAX_BLOCKS * BLOCK steps
    width = int(block) if block is not None else max(BLOCK, -(-(len(lr) - 1) // MAX_BLOCKS))
    s1 = schedules.forward_area(schedules.hold_warmup(lr, options["warmup"]))
    rises = "actual" if options.get("warmup_drops") else "peak"
    change = -np.diff(schedules.hold_warmup(lr, rises))  # change[k-1] = lr[k-1] - lr[k]
    total = len(lr) - 1
    log_lr = np.log(np.maximum(lr[1:], 1e-12 * max(lr.max(), 1e-300)))
    steps = np.asarray(steps, int)
    # block edges every ``width`` steps, and where the LR changes fast, each time log LR has
    # moved by another ``tol``
    travel = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(log_lr)))]) / float(options["tol"])
    fast = np.flatnonzero(np.diff(np.floor(travel)) > 0) + 1  # k - 1 of the first step past a cut
    edges = np.unique(np.concatenate([np.arange(0, total, width), fast, [total]]))
    start, end = edges[:-1], edges[1:]  # block b holds steps k in (start, end]
    # the block a point lies in holds steps (edge, point]: its part up to the point, exactly
    edge = edges[np.searchsorted(edges, steps, side="right") - 1]
    at = s1[steps]
    drop, gap, loglr = [], [], []
    for sign in (1.0, -1.0):  # drops and rises apart, so that weights never cancel
        w = np.maximum(sign * change, 0.0)
        sums = [np.concatenate([[0.0], np.cumsum(v)]) for v in (w, w * s1[:-1], w * log_lr)]
        size, pos, mean_log = ((s[end] - s[start]) for s in sums)
        keep = size > 0
        size, pos, mean_log, last = size[keep], pos[keep] / size[keep], mean_log[keep] / size[keep], end[keep]
        before = last[None, :] <= steps[:, None]
        part = [s[steps] - s[edge] for s in sums]
        has = part[0] > 0
        own = np.where(has, part[0], 1.0)
        drop += [np.where(before, sign * size, 0.0), np.where(has, sign * part[0], 0.0)[:, None]]
        # (>= 0: positions come from differences of cumulative sums, which can round past the point)
        gap += [np.where(before, np.maximum(at[:, None] - pos, 0.0), 0.0),
                np.where(has, np.maximum(at - part[1] / own, 0.0), 0.0)[:, None]]
        loglr += [np.where(before, mean_log, 0.0), np.where(has, part[2] / own, 0.0)[:, None]]
    return {"S1": at, "drop": np.hstack(drop), "gap": np.hstack(gap), "log_lr": np.hstack(loglr)}


# The last inputs seen and their entries, and the last (entries, C, beta, gamma) and _parts'
# result. Each is one tuple, read once and replaced whole, so that threads never mix them up;
# holding the inputs' array keeps its id its own.
_ENTRIES: tuple = (None, None)
_PARTS: tuple = (None, None, None)


def _entries(inputs: Inputs):
    """The (point, block) pairs where a block lies before its point, flat and point by point:
    (the points that have any, where each one's entries start), drop, gap, log LR. The (n, K)
    inputs are about half zeros (blocks after their point)."""
    global _ENTRIES
    key, entries = _ENTRIES
    if key is not inputs["gap"]:
        rows, cols = np.nonzero(inputs["drop"])  # row by row
        count = np.bincount(rows, minlength=len(inputs["drop"]))
        points = (count > 0, np.cumsum(count)[count > 0] - count[count > 0])  # points with entries, their starts
        entries = (points, inputs["drop"][rows, cols], inputs["gap"][rows, cols], inputs["log_lr"][rows, cols])
        _ENTRIES = (inputs["gap"], entries)
    return entries


def _parts(inputs: Inputs, C: float, beta: float, gamma: float):
    """The entries of ``_entries``, with scaled = lr_k^-gamma * S_k(t), log u with u = C*scaled
    + 1, and q = u^-beta. The optimiser asks for the loss and then its Jacobian at the same
    parameters: the last result is kept for that."""
    global _PARTS
    entries = _entries(inputs)
    key, values, out = _PARTS
    if key is entries and values == (C, beta, gamma):
        return out
    rows, drop, gap, log_lr = entries
    scaled = np.exp(-gamma * log_lr) * gap
    log_u = np.log1p(C * scaled)
    out = rows, drop, log_lr, scaled, log_u, np.exp(-beta * log_u)
    _PARTS = (entries, (C, beta, gamma), out)
    return out


def _by_point(rows, values: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (flat entries, as from ``_entries``) point by point; 0 for a point with none."""
    has, starts = rows
    out = np.zeros(len(has))
    if len(starts):
        out[has] = np.add.reduceat(values, starts)
    return out


def multipower_law(inputs: Inputs, L0: float, A: float, alpha: float, B: float, C: float,
                   beta: float, gamma: float) -> np.ndarray:
    """Loss at the points of ``inputs`` (from ``drop_terms``), loss units."""
    rows, drop, _, _, _, q = _parts(inputs, C, beta, gamma)
    return L0 + A * inputs["S1"] ** -alpha - B * _by_point(rows, drop * (1.0 - q))


def _jacobian(inputs: Inputs, L0: float, A: float, alpha: float, B: float, C: float, beta: float,
              gamma: float) -> np.ndarray:
    rows, drop, log_lr, scaled, log_u, q = _parts(inputs, C, beta, gamma)
    s1 = inputs["S1"]
    power = s1**-alpha
    d_scaled = drop * beta * q / (1.0 + C * scaled) * scaled  # drop * dG/du * scaled
    return np.stack([
        np.ones_like(s1),
        power,
        -A * power * np.log(s1),
        -_by_point(rows, drop * (1.0 - q)),
        -B * _by_point(rows, d_scaled),
        -B * _by_point(rows, drop * q * log_u),
        B * C * _by_point(rows, d_scaled * log_lr),
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
    kind="schedule",
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
    flags={"warmup": FLAGS["warmup"]},
    plot="steps",
    refine=3,
    decay_params=("B", "C", "beta", "gamma"),
    area_param="A",
    max_points=1024,
))
