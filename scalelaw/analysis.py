"""Analyses built on fits (the laws never import the engine; these do):

- ``compare``: fit several step laws on the same logs and score each on logs it did not see
  (MAPE over the curve and error at its final step);
- ``versus_total``: the encoder/decoder law against one power law in Ne + Nd;
- ``compute_optimal``: the loss frontier over compute and ``N_opt(C) = k * C^beta`` from the
  learning curves of several model sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .engine import fit, mape as error
from .errors import InputError
from .laws import Law, get_law
from .laws.power import POWER


def compare(laws: Iterable[Law | str], train: pd.DataFrame, held_out: Mapping[str, pd.DataFrame],
            **fit_kwargs: Any) -> dict[str, Any]:
    """Fit each law on ``train`` and predict each held-out curve from its logged LR.

    Args:
        laws: step laws (or their names).
        train: tidy frame with ``run``, ``step``, ``y``, ``lr`` (``scalelaw.load_runs``).
        held_out: curve name -> tidy frame with ``step``, ``y``, ``lr`` (and the law's other
            inputs, e.g. ``N`` for ``annealing_size``).
        **fit_kwargs: passed to ``scalelaw.fit`` (e.g. ``loss``, ``delta``).

    Returns:
        dict with ``laws``, ``curves``, ``mape`` and ``final_error`` (law -> curve -> percent),
        ``mean_mape`` and ``max_final_error`` (law -> percent), ``converged`` (law -> bool),
        ``params`` (law -> dict), ``best`` (the law with the lowest mean MAPE among converged
        fits) and ``fits`` (law -> FitResult; the one key that is not plain JSON).
    """
    laws = [get_law(law) if isinstance(law, str) else law for law in laws]
    out: dict[str, Any] = {"laws": [law.name for law in laws], "curves": list(held_out), "mape": {},
                           "final_error": {}, "mean_mape": {}, "max_final_error": {}, "converged": {},
                           "params": {}, "fits": {}}
    for law in laws:
        result = fit(law, train, **fit_kwargs)
        mape, final = {}, {}
        for name, g in held_out.items():
            steps, y = g["step"].to_numpy(int), g["y"].to_numpy(float)
            pred = result.predict(steps, (steps, g["lr"].to_numpy(float)), **law.run_inputs(g))
            mape[name] = error(pred, y)
            final[name] = error(pred[-1:], y[-1:])
        out["mape"][law.name], out["final_error"][law.name] = mape, final
        out["mean_mape"][law.name] = float(np.mean(list(mape.values())))
        out["max_final_error"][law.name] = float(max(final.values()))
        out["converged"][law.name] = bool(result.converged)
        out["params"][law.name] = result.params
        out["fits"][law.name] = result
    ok = [name for name in out["laws"] if out["converged"][name]] or out["laws"]
    out["best"] = min(ok, key=lambda name: out["mean_mape"][name])
    return out


def versus_total(result, held_out: pd.DataFrame | None = None, **fit_kwargs: Any) -> dict[str, Any]:
    """Does a bivariate fit need both sizes? Fit the power law in the total that its budget
    counts (Ne + Nd for ``encdec``) to the same points and compare.

    Args:
        result: a fitted bivariate law (``FitResult`` holding its data).
        held_out: optional frame with the law's input roles and ``y``, scored by both fits.
        **fit_kwargs: passed to ``scalelaw.fit`` for the power law (default: the options of
            ``result``: loss and delta).

    Returns:
        dict with ``total`` (what the power law's x is), ``aic``, ``bic``, ``mape`` (percent,
        on the fitted points) and, with ``held_out``, ``held_out_mape`` (law name -> value for
        both laws); ``delta_aic`` (power minus bivariate: positive favours the bivariate law)
        and ``preferred`` (the law with the lower AIC, or the lower held-out MAPE when given).
    """
    law = result.law
    if law.budget is None or result.data is None:
        raise ValueError("versus_total needs a bivariate fit that still holds its data")
    kwargs = {"loss": result.options["loss"], "delta": result.options["delta"], **fit_kwargs}
    frame = result.data
    inputs = {role: frame[role].to_numpy(float) for role in law.inputs}
    power = fit("power", {"x": law.budget.cost(inputs), "y": frame["y"].to_numpy(float),
                          "run": frame["run"].to_numpy()}, **kwargs)
    out: dict[str, Any] = {"total": law.budget.name, "laws": [law.name, "power"], "aic": {}, "bic": {},
                           "mape": {}, "params": {"power": power.params}}
    for name, r in ((law.name, result), ("power", power)):
        out["aic"][name], out["bic"][name] = r.metrics["aic"], r.metrics["bic"]
        out["mape"][name] = r.metrics["mape"]
    out["delta_aic"] = out["aic"]["power"] - out["aic"][law.name]
    out["preferred"] = law.name if out["delta_aic"] > 0 else "power"
    if held_out is not None:
        sizes = {role: held_out[role].to_numpy(float) for role in law.inputs}
        y = held_out["y"].to_numpy(float)
        preds = {law.name: result.predict(sizes), "power": power.predict(law.budget.cost(sizes))}
        out["held_out_mape"] = {k: float(100 * np.mean(np.abs(p - y) / y)) for k, p in preds.items()}
        out["preferred"] = min(out["held_out_mape"], key=out["held_out_mape"].get)
    return out


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
