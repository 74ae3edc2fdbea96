"""Power law plus constant (Henighan et al. 2020): ``L(x) = L_inf + (x0/x)^alpha``.

x is a size: parameters, tokens or compute (any positive unit; x0 comes out in the same unit).
L_inf is the irreducible loss, the estimate of the data's entropy (nats/token when the loss is a
cross-entropy in nats); ``(x0/x)^alpha`` is the reducible loss.

Also here: the compute-optimal relation. From learning curves of several model sizes, logged
over compute, take the loss frontier ``L*(C) = min_N L(N, C)`` and fit ``N_opt(C) = k * C^beta``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from . import Inputs, Law, Param, register


def power_law(inputs: Inputs, L_inf: float, x0: float, alpha: float) -> np.ndarray:
    """Loss at sizes ``inputs["x"]`` (array, any shape); computed in log space, so x0 may be huge."""
    x = np.asarray(inputs["x"], dtype=float)
    return L_inf + np.exp(alpha * (np.log(x0) - np.log(x)))


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
    formula="L(x) = L_inf + (x0/x)^alpha",
    inputs=("x",),
    params=(
        Param("L_inf", 0.0, np.inf, doc="irreducible loss (data entropy estimate), loss units"),
        Param("x0", 1e-100, 1e100, log=True, doc="scale, units of x"),
        Param("alpha", 1e-4, 5.0, doc="exponent, dimensionless"),
    ),
    func=power_law,
    starts=_starts,
    derived=_derived,
))


@dataclass
class ComputeOptimal:
    """Compute-optimal relation from learning curves of several model sizes.

    Attributes:
        frontier: frame with columns ``C`` (compute), ``loss`` (lowest loss at C) and ``N_opt``
            (the size that reaches it, interpolated between trained sizes); one row per compute
            value where the best run has a smaller and a larger neighbour reaching that compute.
        frontier_fit: power law plus constant fitted to the frontier, loss vs C.
        k, beta: ``N_opt(C) = k * C^beta`` (least squares in log-log), with standard errors.
    """

    frontier: pd.DataFrame
    frontier_fit: "object"
    k: float
    beta: float
    k_stderr: float
    beta_stderr: float

    def n_opt(self, compute: np.ndarray | float) -> np.ndarray:
        """Compute-optimal model size at ``compute`` (same units as the fitted C)."""
        return self.k * np.asarray(compute, dtype=float) ** self.beta

    def report(self) -> str:
        return (f"N_opt(C) = k * C^beta with k = {self.k:.4g} (se {self.k_stderr:.2g}), "
                f"beta = {self.beta:.4f} (se {self.beta_stderr:.2g}); "
                f"frontier over {len(self.frontier)} compute values\n" + self.frontier_fit.report())


def compute_optimal(runs: pd.DataFrame, n: str = "N", c: str = "C", loss: str = "loss",
                    points: int = 200) -> ComputeOptimal:
    """Loss frontier over compute and ``N_opt(C) = k*C^beta`` from several runs.

    Args:
        runs: one row per logged point: model size ``n`` (parameters), compute ``c`` (FLOPs, or
            anything proportional) and ``loss``; each distinct ``n`` is one learning curve.
        points: log-spaced compute values at which the frontier is evaluated.
    """
    from ..engine import fit  # the one fitting engine

    for col in (n, c, loss):
        if col not in runs.columns:
            raise InputError(f"compute_optimal: no column '{col}' (columns: {', '.join(runs.columns)})")
    curves = {size: g.sort_values(c) for size, g in runs.groupby(n)}
    if len(curves) < 3:
        raise InputError(f"compute_optimal: needs learning curves of at least 3 sizes, got {len(curves)}")
    lo, hi = runs[c].min(), runs[c].max()
    grid = np.geomspace(lo, hi, points)
    sizes = np.array(sorted(curves))
    # log loss of every run on the grid; NaN outside the compute range the run covers
    table = np.full((len(sizes), points), np.nan)
    for i, size in enumerate(sizes):
        g = curves[size]
        lc, ll = np.log(g[c].to_numpy(float)), np.log(g[loss].to_numpy(float))
        inside = (grid >= g[c].min()) & (grid <= g[c].max())
        table[i, inside] = np.interp(np.log(grid[inside]), lc, ll)
    # At each compute value, the best run among those that reach it. Where that run is the
    # smallest or largest of them, the true optimum may lie outside the sizes trained: such
    # (censored) points are left out. Otherwise a parabola in log N through the best run and its
    # two neighbours gives N_opt between the trained sizes (the IsoFLOP method).
    rows = []
    for j in range(points):
        avail = np.flatnonzero(~np.isnan(table[:, j]))
        if len(avail) < 3:
            continue
        best = int(np.argmin(table[avail, j]))
        if best == 0 or best == len(avail) - 1:
            continue
        near = avail[best - 1:best + 2]
        a2, a1, a0 = np.polyfit(np.log(sizes[near]), table[near, j], 2)
        log_n = -a1 / (2 * a2) if a2 > 0 else np.log(sizes[avail[best]])
        rows.append((grid[j], float(np.exp(a0 + a1 * log_n + a2 * log_n**2)), float(np.exp(log_n))))
    frontier = pd.DataFrame(rows, columns=["C", "loss", "N_opt"])
    if len(frontier) < 5:
        raise InputError("compute_optimal: the best size is the smallest or largest run at almost every "
                         "compute value, so N_opt(C) cannot be identified (add smaller or larger runs)")
    reg = stats.linregress(np.log(frontier["C"]), np.log(frontier["N_opt"]))
    k = float(np.exp(reg.intercept))
    frontier_fit = fit(POWER, frontier.rename(columns={"C": "x", "loss": "y"}))
    return ComputeOptimal(frontier, frontier_fit, k, float(reg.slope), k * float(reg.intercept_stderr),
                          float(reg.stderr))
