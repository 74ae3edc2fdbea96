"""How good a fit is, and when it is not a fit at all: the metrics on the fitted points (R2,
MAPE, RMS error of the log loss, AIC/BIC), the point-to-point noise of a curve, and the reasons a
fit the optimiser finished is refused as "not a result"."""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .laws import Law
from .laws.summary import BIN_ROWS, BIN_SS, row_mse, row_noise
from .optimise import WEIGHT, log_residuals


def not_a_result(law: Law, trend: str | None, frame: pd.DataFrame, y: np.ndarray,
                  metrics: Mapping[str, float]) -> str | None:
    """Why a fit that the optimiser finished is still not a fit of the law, or None. ``trend``:
    the column the law has the loss fall along (its kind's ``trend``), or None."""
    if np.ptp(y) == 0:
        return f"the loss is {y[0]:g} at every fitted point: there is no trend to fit a law to"
    if not all(np.isfinite(metrics[k]) for k in ("r2", "mape", "rmse")):
        return f"the loss values (up to {np.max(y):g}) overflow the fit's metrics; give the loss in nats or bits"
    for role in law.inputs:
        if role in frame.columns and frame[role].nunique() == 1:
            return (f"column '{role}' has one distinct value ({frame[role].iloc[0]:g}): nothing to fit a law "
                    f"over it by (its parameters stay where they started)")
    if trend is not None and len(frame) > 3:
        rho, p = stats.spearmanr(frame[trend], frame["y"])
        if rho > 0 and p < 0.01:
            return (f"the loss rises with {trend} (Spearman {rho:+.2f}), while law '{law.name}' has it fall "
                    "(the wrong loss column, or a run that diverged?)")
    rms = metrics["rms_error"]
    if metrics["r2_log"] < 0 and rms > NOISE_FACTOR * metrics["noise"]:
        return (f"R2 is {metrics['r2_log']:.2f} (log loss, fitted rows): the law fits the loss worse than its mean "
                f"does, with an error ({rms:.2g} %) above {NOISE_FACTOR:g}x the point-to-point noise "
                f"({metrics['noise']:.2g} %)")
    return None


NOISE_FACTOR = 2.0  # a fit whose error is within this factor of the noise is never "not a result"


def noise(y, runs, order=None, X=None) -> float:
    """The relative noise of one point (a fraction): the robust scale of successive differences of
    log y within each run (in the order of ``order``, else as given), over sqrt 2. A trend between
    neighbours adds to it, so it errs high on sparse points (few sizes). Points that are a
    summary's bins (``X`` holds ``summary.BIN_ROWS``): the noise of one logged row, from the
    spread of the log loss within each bin (``summary.BIN_SS``), pooled over the bins."""
    if X is not None and BIN_ROWS in X:
        return row_noise(X)
    logy, diffs = np.log(np.asarray(y, dtype=float)), []
    runs = np.asarray(runs)
    for r in np.unique(runs):
        idx = np.flatnonzero(runs == r)
        if order is not None:
            idx = idx[np.argsort(np.asarray(order)[idx], kind="stable")]
        diffs.append(np.diff(logy[idx]))
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    if len(d) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def mape(pred, y) -> float:
    """Mean absolute percentage error of ``pred`` against ``y`` (same shapes), in percent."""
    pred, y = np.asarray(pred, dtype=float), np.asarray(y, dtype=float)
    return float(100 * np.mean(np.abs(pred - y) / y))


def row_abs_mean(r: np.ndarray, X=None) -> float:
    """The mean absolute (relative or log) residual of the logged rows, from ``r``, the
    residuals of the fitted points: their mean, or, where the points are a summary's bins
    (``X`` holds ``summary.BIN_ROWS``), the mean over rows of ``E|r_b + e|``, with ``e`` each
    row's normal deviation from its bin's mean at the pooled noise of the bins
    (``summary.row_noise``)."""
    r = np.abs(np.asarray(r, dtype=float))
    if X is None or BIN_ROWS not in X:
        return float(np.mean(r))
    s = row_noise(X)
    if s == 0:
        return float(np.average(r, weights=X[BIN_ROWS]))
    folded = s * math.sqrt(2 / math.pi) * np.exp(-0.5 * (r / s) ** 2) + r * (1 - 2 * stats.norm.cdf(-r / s))
    return float(np.average(folded, weights=X[BIN_ROWS]))


def metrics_of(law, X, y, theta) -> dict[str, float]:
    """R2, MAPE (percent) and RMSE on the loss; R2 of the log loss (the space of the fit); AIC/BIC
    of the log residuals (lmfit's definition). All on the fitted points; where they are a
    summary's bins, on the rows summarised: ``n`` counts rows (``bins`` the bins), the sums of
    squares of the log loss are the rows' (``summary.row_mse``), MAPE is the rows' expected one
    (``row_abs_mean``), and R2 and RMSE count the spread about the bins' lines."""
    p = len(theta)
    rows = X.get(BIN_ROWS)
    X = {k: v for k, v in X.items() if k != WEIGHT}  # the errors as they are, not as weighted
    resid = law(X, **law.from_theta(theta)) - y
    r = log_residuals(theta, law, X, y)
    logy = np.log(y)
    if rows is None:
        n, rss_log = len(y), float(np.sum(r**2))
        r2 = 1 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2)
        tss_log = np.sum((logy - logy.mean()) ** 2)
        mape_, rmse = mape(resid + y, y), np.sqrt(np.mean(resid**2))
    else:  # a summary's bins, each weighing as its rows
        n = int(rows.sum())
        rss_log = n * row_mse(r, X)
        spread = y**2 @ X[BIN_SS]  # the rows' squares about their bins' lines, in loss units (to first order)
        r2 = 1 - (rows @ resid**2 + spread) / (rows @ (y - np.average(y, weights=rows)) ** 2 + spread)
        tss_log = rows @ (logy - np.average(logy, weights=rows)) ** 2 + X[BIN_SS].sum()
        mape_ = 100 * row_abs_mean(resid / y, X)
        rmse = np.sqrt((rows @ resid**2 + spread) / n)
    return {
        "r2": float(r2),
        "r2_log": float(1 - rss_log / tss_log),
        "rms_error": float(100 * np.sqrt(rss_log / n)),
        "mape": float(mape_),
        "rmse": float(rmse),
        "n": n,
        **({"bins": len(y)} if rows is not None else {}),
        "aic": n * math.log(rss_log / n) + 2 * p if rss_log > 0 else -math.inf,
        "bic": n * math.log(rss_log / n) + math.log(n) * p if rss_log > 0 else -math.inf,
    }
