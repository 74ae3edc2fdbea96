"""The LR-annealing law of Tissue et al. 2024: the loss over training steps under any schedule.

    L(s) = L0 + A * S1(s)^-alpha - C * S2(s)

S1(s) is the forward area, the sum of the LR over steps 1..s; S2(s) is the annealing area,
the sum of m_1..m_s with m_i = lambda * m_{i-1} + (lr_{i-1} - lr_i) (lambda = ``decay``, 0.999
by default). Both come from ``scalelaw.schedules`` for every step at once. L0 is the loss as
S1 grows without bound at a constant LR, A and alpha the power law over the LR area, and C the
loss removed per unit of annealing area.

Warmup: by default the warmup steps count at the peak LR (the paper's convention, option
``warmup="peak"``); ``warmup="actual"`` sums the logged warmup LRs into S1 instead. Either way
the LR increases of the warmup never enter S2.

``annealing_size`` adds a model-size term so that curves of several sizes are fitted together:
``L(s, N) = L0 + B * N^-beta + A * S1^-alpha - C * S2``, with N (parameters) a column of the
data. The additive, Chinchilla-style size term is our choice; A, alpha and C are shared by all
sizes.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .. import schedules
from .base import MODEL_SIZE, Flag, Inputs, Law, Param, register

OPTIONS = {"decay": 0.999, "warmup": "peak"}
FLAGS = {"decay": Flag("annealing: momentum lambda of S2 (default 0.999)"),
         "warmup": Flag("step laws: warmup steps counted at the peak LR (default) or at their logged LR",
                        choices=schedules.WARMUP_CONVENTIONS)}


def areas(lr: np.ndarray, steps: np.ndarray, options: Mapping) -> dict[str, np.ndarray]:
    """S1 and S2 at ``steps`` (integer array) from the per-step LR ``lr``."""
    s1 = schedules.forward_area(schedules.hold_warmup(lr, options["warmup"]))
    s2 = schedules.annealing_area(schedules.hold_warmup(lr, "peak"), options["decay"])
    return {"S1": s1[steps], "S2": s2[steps]}


def annealing_law(inputs: Inputs, L0: float, A: float, alpha: float, C: float) -> np.ndarray:
    """Loss at forward areas ``inputs["S1"]`` and annealing areas ``inputs["S2"]`` (LR x steps)."""
    return L0 + A * inputs["S1"] ** -alpha - C * inputs["S2"]


def _jacobian(inputs: Inputs, L0: float, A: float, alpha: float, C: float) -> np.ndarray:
    s1 = inputs["S1"]
    out = np.empty((len(s1), 4))
    out[:, 0] = 1.0
    np.power(s1, -alpha, out=out[:, 1])
    np.multiply(out[:, 1], np.log(s1), out=out[:, 2])
    out[:, 2] *= -A
    np.negative(inputs["S2"], out=out[:, 3])
    return out


def _starts(inputs: Inputs, y: np.ndarray):
    """For each alpha of a grid, (L0, A, C) by linear least squares on the loss."""
    for alpha in (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7):
        basis = np.stack([np.ones_like(y), inputs["S1"] ** -alpha, -inputs["S2"]], axis=-1)
        (L0, A, C), *_ = np.linalg.lstsq(basis, y, rcond=None)
        yield {"L0": float(np.clip(L0, 0, y.min())), "A": max(float(A), 1e-6), "alpha": alpha,
               "C": max(float(C), 0.0)}


def annealing_size_law(inputs: Inputs, L0: float, B: float, beta: float, A: float, alpha: float,
                       C: float) -> np.ndarray:
    """As ``annealing_law`` plus ``B * N^-beta`` with N = ``inputs["N"]`` (parameters)."""
    return annealing_law(inputs, L0, A, alpha, C) + B * inputs["N"] ** -beta


def _size_jacobian(inputs: Inputs, L0: float, B: float, beta: float, A: float, alpha: float,
                   C: float) -> np.ndarray:
    base = _jacobian(inputs, L0, A, alpha, C)
    size = inputs["N"] ** -beta
    return np.concatenate([base[:, :1], np.stack([size, -B * size * np.log(inputs["N"])], axis=-1),
                           base[:, 1:]], axis=-1)


def _size_starts(inputs: Inputs, y: np.ndarray):
    n = inputs["N"]
    for beta in (0.15, 0.3, 0.5):
        for alpha in (0.1, 0.3, 0.6, 1.0):
            basis = np.stack([np.ones_like(y), n**-beta, inputs["S1"] ** -alpha, -inputs["S2"]], axis=-1)
            (L0, B, A, C), *_ = np.linalg.lstsq(basis, y, rcond=None)
            yield {"L0": float(np.clip(L0, 0, y.min())), "B": max(float(B), 1e-6), "beta": beta,
                   "A": max(float(A), 1e-6), "alpha": alpha, "C": max(float(C), 0.0)}


# L0 + A*S1^-alpha: the power law over the LR area, shared with the multi-power law
AREA_PARAMS = (
    Param("L0", 0.0, np.inf, doc="loss at unbounded LR area (constant LR), loss units"),
    Param("A", 0.0, np.inf, doc="scale of the LR-area power law, loss units"),
    Param("alpha", 1e-3, 5.0, doc="exponent over the LR area, dimensionless"),
)
_PARAMS = (*AREA_PARAMS,
           Param("C", 0.0, np.inf, doc="loss drop per unit of annealing area, loss / (LR x steps)"))

ANNEALING = register(Law(
    name="annealing",
    kind="schedule",
    formula="L(s) = L0 + A*S1^-alpha - C*S2",
    inputs=("S1", "S2"),
    params=_PARAMS,
    func=annealing_law,
    starts=_starts,
    jacobian=_jacobian,
    features=areas,
    options=OPTIONS,
    flags=FLAGS,
    plot="steps",
    refine=1,
    decay_params=("C",),
    area_param="A",
))

ANNEALING_SIZE = register(Law(
    name="annealing_size",
    kind="schedule",
    columns={"N": MODEL_SIZE},
    formula="L(s, N) = L0 + B*N^-beta + A*S1^-alpha - C*S2",
    inputs=("S1", "S2", "N"),
    params=(_PARAMS[0],
            Param("B", 0.0, np.inf, doc="scale of the model-size term, loss units x N^beta"),
            Param("beta", 1e-3, 3.0, doc="exponent over model size, dimensionless"),
            *_PARAMS[1:]),
    func=annealing_size_law,
    starts=_size_starts,
    jacobian=_size_jacobian,
    features=areas,  # N comes from the data (or predict's N=...)
    options=OPTIONS,
    flags=FLAGS,
    plot="steps",
    refine=1,
    decay_params=("C",),
    area_param="A",
))


# The law in a form free of the loss's scale, for a population of runs (``scalelaw.population``):
# at the run's largest fitted LR area S1_T and peak LR,
#     L(s) = P * [(1 - r) + r * (S1 / S1_T)^-alpha - q * W],   W = (1 - lambda) * S2 / peak
# P: the loss without decay at S1_T (loss units); r = A S1_T^-alpha / P, the share of it that LR
# area has yet to remove; q = C peak / ((1 - lambda) P), the share of it a whole anneal removes
# (W, the fraction of a whole anneal made: a drop of the LR to 0 held for long reaches 1).
def scale_free(params: Mapping[str, float], S1_T: float, peak: float, decay: float = OPTIONS["decay"]) -> dict:
    """``{"P", "r", "alpha", "q"}`` of annealing-law ``params`` (L0, A, alpha, C) at ``S1_T``
    and ``peak`` (see above)."""
    area = params["A"] * S1_T ** -params["alpha"]
    P = params["L0"] + area
    return {"P": P, "r": area / P, "alpha": params["alpha"], "q": params["C"] * peak / ((1 - decay) * P)}


def from_scale_free(P, r, alpha, q, S1_T: float, peak: float, decay: float = OPTIONS["decay"]) -> dict:
    """The inverse of ``scale_free``: ``{"L0", "A", "alpha", "C"}`` (arrays broadcast)."""
    return {"L0": P * (1 - r), "A": r * P * S1_T ** alpha, "alpha": alpha, "C": q * P * (1 - decay) / peak}
