"""Power law plus constant (Henighan et al. 2020): ``L(x) = L_inf + (x0/x)^alpha``.

x is a size: parameters, tokens or compute (any positive unit; x0 comes out in the same unit).
L_inf is the irreducible loss, the estimate of the data's entropy (nats/token when the loss is a
cross-entropy in nats); ``(x0/x)^alpha`` is the reducible loss. The compute-optimal relation
built on it is ``scalelaw.analysis.compute_optimal``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .base import Column, Inputs, Law, Param, register


def power_law(inputs: Inputs, L_inf: float, x0: float, alpha: float) -> np.ndarray:
    """Loss at sizes ``inputs["x"]`` (array, any shape); computed in log space, so x0 may be huge."""
    x = np.asarray(inputs["x"], dtype=float)
    return L_inf + np.exp(alpha * (np.log(x0) - np.log(x)))


def _jacobian(inputs: Inputs, L_inf: float, x0: float, alpha: float) -> np.ndarray:
    """d loss / d (L_inf, x0, alpha), shape (n, 3), computed in log space like the law."""
    log_ratio = np.log(x0) - np.log(np.asarray(inputs["x"], dtype=float))
    term = np.exp(alpha * log_ratio)
    return np.stack([np.ones_like(term), term * alpha / x0, term * log_ratio], axis=-1)


def _starts(inputs: Inputs, y: np.ndarray):
    """A grid over (L_inf, alpha); x0 set so that the power term matches the data at mid x."""
    x = np.asarray(inputs["x"], dtype=float)
    log_mid, y_mid = np.mean(np.log(x)), np.median(y)
    for frac in (0.0, 0.5, 0.8, 0.9, 0.97):
        L_inf = frac * y.min()
        for alpha in (0.05, 0.1, 0.2, 0.35, 0.6, 1.0):
            log_x0 = log_mid + np.log(y_mid - L_inf) / alpha
            yield {"L_inf": L_inf, "x0": float(np.exp(np.clip(log_x0, -230, 230))), "alpha": alpha}


def _derived(params: Mapping[str, float], domain: Mapping[str, tuple[float, float]]) -> dict:
    out = {"irreducible_loss": params["L_inf"]}
    if "x" in domain:
        x_max = domain["x"][1]
        out["reducible_loss_at_max_x"] = float((params["x0"] / x_max) ** params["alpha"])
    return out


POWER = register(Law(
    name="power",
    columns={"x": Column(("n", "n_params", "params", "parameters", "tokens", "d", "d_tokens", "compute", "c",
                          "flops", "step", "_step", "global_step", "iter", "iteration", "steps"), ("--x",),
                         "size column: parameters, tokens or compute (or steps, for a run at a constant LR)")},
    formula="L(x) = L_inf + (x0/x)^alpha",
    inputs=("x",),
    params=(
        Param("L_inf", 0.0, np.inf, doc="irreducible loss (data entropy estimate), loss units"),
        Param("x0", 1e-100, 1e100, log=True, doc="scale, units of x"),
        Param("alpha", 1e-4, 5.0, doc="exponent, dimensionless"),
    ),
    func=power_law,
    jacobian=_jacobian,
    starts=_starts,
    derived=_derived,
))
