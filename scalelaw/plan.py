"""Planning with a fitted law: the best sizes for a budget (compute for ``chinchilla``, total
parameters for ``encdec``), or what a target loss costs (``batch``: the fewest steps, the fewest
tokens, the critical batch size). The law says how (``Law.budget``); this module adds the
intervals, by bootstrap or by the delta method."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .errors import InputError
from .intervals import check_level, percentile_interval, z_of
from .laws import design
from .laws.base import numeric_jacobian


def allocate(result, budget: Any, level: float = 0.95, **inputs: Any) -> pd.DataFrame:
    """The best sizes for each budget under the fit ``result``, and the predicted loss there.
    Laws with a budget only.

    Args:
        budget: one budget or an array, in the units of ``law.budget.name`` (FLOPs for
            ``chinchilla``, total parameters Ne + Nd for ``encdec``, a loss to reach for
            ``batch``).
        level: level of the intervals: bootstrap percentiles when the fit has bootstrap
            samples, else the delta method (in log space) on the covariance.
        **inputs: what else the law's optimum needs, e.g. ``N`` for ``batch_sizes``.

    Returns:
        frame with one row per budget: ``budget``, the optimal value of each input role
        (e.g. ``N``, ``D``), the law's extra quantities (e.g. ``tokens_per_parameter``),
        ``loss``, and ``<column>_lower`` / ``<column>_upper`` for each of them where an
        interval can be had (size laws: the loss's is a new run's, ``loss_mean_lower`` /
        ``loss_mean_upper`` the mean curve's); ``extrapolated``: an optimal size outside the
        fitted range.
    """
    check_level(level)
    if result.law.budget is None:
        raise InputError(f"law '{result.law.name}' has no budget to allocate (chinchilla, encdec, batch)")
    needs = result.law.budget.needs
    if set(inputs) != set(needs):
        raise InputError(f"law '{result.law.name}' allocates " + (f"at one value of {', '.join(needs)}: pass "
                         f"{', '.join(r + '=...' for r in needs)}" if needs else "from the budget alone")
                         + (f"; {', '.join(sorted(set(inputs) - set(needs)))} does not apply"
                            if set(inputs) - set(needs) else ""))
    budget = np.atleast_1d(np.asarray(budget, dtype=float))
    if budget.ndim != 1 or not np.all(np.isfinite(budget) & (budget > 0)):
        raise InputError(f"budget must be positive numbers, got {budget.tolist()}")

    def table(params: Mapping[str, float]) -> dict[str, np.ndarray]:
        best = {k: np.asarray(v, dtype=float) for k, v in result.law.budget.optimum(params, budget, **inputs).items()}
        return {**best, "loss": np.asarray(result.law(best, **params), dtype=float)}

    out = {"budget": budget, **table(result.params)}
    out["extrapolated"] = result.extrapolated({k: out[k] for k in result.law.inputs})
    if result.bootstrap_samples is not None and len(result.bootstrap_samples):
        draws = [table(dict(zip(result.law.param_names, s))) for s in result.bootstrap_samples]
        for key in draws[0]:
            out[f"{key}_lower"], out[f"{key}_upper"] = percentile_interval([d[key] for d in draws], level)
    elif result.covariance is not None:
        keys = [k for k in out if k not in ("budget", "extrapolated")]
        theta = result.law.to_theta(result.params)
        with np.errstate(all="ignore"):
            def logs(t):
                t = np.clip(t, *result.law.theta_bounds().T)
                values = table(result.law.from_theta(t))
                return np.log(np.stack([values[k] for k in keys]))
            J = numeric_jacobian(logs, theta)  # (keys, budgets, p)
        se = np.sqrt(np.maximum(np.einsum("kbi,ij,kbj->kb", J, result.covariance, J), 0.0))
        z = z_of(level)
        for i, key in enumerate(keys):
            if np.all(np.isfinite(se[i])):
                out[f"{key}_lower"] = out[key] * np.exp(-z * se[i])
                out[f"{key}_upper"] = out[key] * np.exp(z * se[i])
    if "loss_lower" in out and design.of(result.law).widens_beyond:
        # the loss a new run of those sizes reaches: the mean curve's band and the runs' scatter
        out["loss_mean_lower"], out["loss_mean_upper"] = out["loss_lower"], out["loss_upper"]
        best = {k: out[k] for k in result.law.inputs}
        out["loss_lower"], out["loss_upper"] = result.run_band(best, out["loss"], (out["loss_lower"], out["loss_upper"]),
                                                               level)
    return pd.DataFrame(out)
