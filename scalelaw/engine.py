"""The one fitting engine. Every law is fitted here; a new law needs no new fitting code.

Recipe (Hoffmann et al. 2022, Besiroglu et al. 2024, Tissue et al. 2024): minimise the sum of
Huber(delta) over log residuals ``log(pred) - log(y)`` (delta = 1e-3 by default; plain least
squares selectable) from every starting point of the law's grid, keep the best, and take it to
a tight tolerance. Laws with an exact Jacobian are minimised by trust-region least squares
(scipy's ``least_squares``, whose ``huber`` loss is the same objective): tens of evaluations
where L-BFGS-B needs hundreds. Laws without one use L-BFGS-B on finite differences, polished
with lmfit (``least_squares``, same loss, same bounds). Starts are compared at a loose
tolerance; on long per-step logs they are compared on the curve averaged over log-spaced bins,
and only the best goes on to every point. Standard errors and
correlations come from the Gauss-Newton covariance of the log residuals at the optimum, where
it exists (a clear warning where it does not). Optional bootstrap: refits on data resampled by
whole runs (several runs) or by points (one run), with a seed.
"""
from __future__ import annotations

import math
import sys
import time
import warnings as _warnings
from typing import Any, Mapping

import lmfit
import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .errors import InputError
from .laws import Law, get_law
from .laws import design
from .laws.base import numeric_jacobian
from .intervals import check_level, percentile_interval, z_of
from .result import FitResult

LOSSES = ("huber", "lsq")


# -- the engine ------------------------------------------------------------------------------

def fit(
    law: Law | str,
    data: pd.DataFrame | Mapping[str, Any],
    *,
    schedules: Any = None,
    options: Mapping[str, Any] | None = None,
    loss: str = "huber",
    delta: float = 1e-3,
    bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
    max_iter: int = 2000,
    bootstrap_seconds: float | None = None,
    progress: bool = False,
    start: Mapping[str, float] | None = None,
    step_min: float | None = None,
    step_min_why: str | None = None,
    fixed: Mapping[str, float] | None = None,
) -> FitResult:
    """Fit ``law`` to ``data``.

    Args:
        law: a ``Law`` or its registered name (``"power"``, ``"annealing"``, ...).
        data: frame (or mapping of arrays) with the law's input roles, ``y`` (loss, > 0) and
            optionally ``run`` (several runs make the bootstrap resample whole runs). Step laws
            read ``run``, ``step``, ``y`` and, unless ``schedules`` is given, ``lr`` (the logged
            LR, interpolated between rows by ``scalelaw.schedules.from_log``).
        schedules: step laws: the LR of every step of each run, as a spec string or per-step
            array, or a mapping run -> spec/array; overrides the ``lr`` column.
        options: step laws: options of the law (``law.options``: e.g. ``decay``, ``warmup``).
        loss: ``"huber"`` (Huber(delta) on log residuals) or ``"lsq"`` (least squares on them).
        delta: Huber threshold, in log-loss units.
        bootstrap: number of bootstrap refits (0 = none).
        seed: seed of the bootstrap resampling.
        level: confidence level of the intervals.
        max_iter: iteration cap of each optimisation; a fit that hits it is flagged unconverged.
        bootstrap_seconds: a time budget for the bootstrap: it stops when it is spent, with the
            refits done so far (the result's warnings say how many).
        progress: show a progress bar of the bootstrap on stderr (tqdm, when installed).
        start: parameter values (natural units) to start the optimiser from, instead of the
            law's grid of starts: a warm start from an earlier fit of the same law (a running job
            refitted as it goes on). Parameters it lacks start from the grid's first start.
        step_min: laws over steps: fit only the rows from this step on; the rows before it (an
            initial transient) stay in ``result.data`` with ``fitted`` False, and a step law's
            LR areas still count their LR. ``step_min_why`` says why, in the report and JSON
            (``fitted_from_step``, ``fitted_from_why``). ``scalelaw.fit`` finds it from the data
            (``scalelaw.transient``) unless it is given.
        fixed: parameter values (natural units) held where they are, as lmfit's ``vary=False``:
            the others are fitted, and the result reports the whole law, the held ones with
            standard error 0 (zero rows and columns in the covariance).
    """
    law = get_law(law) if isinstance(law, str) else law
    check_level(level)
    if bootstrap < 0:
        raise InputError(f"bootstrap must be >= 0, got {bootstrap}")
    if bootstrap_seconds is not None and not bootstrap_seconds > 0:
        raise InputError(f"bootstrap_seconds must be positive, got {bootstrap_seconds}")
    if loss not in LOSSES:
        raise InputError(f"loss must be one of {', '.join(LOSSES)}, got '{loss}'")
    if not delta > 0:
        raise InputError(f"delta must be positive, got {delta}")
    if max_iter < 1:
        raise InputError(f"max_iter must be at least 1, got {max_iter}")
    law = law.for_data(data)  # e.g. batch hands runs of several model sizes to batch_sizes
    law_options = law.resolve_options(options)
    kind = design.of(law)  # how data become the law's inputs
    whole = kind.table(data, law_options)
    frame, before = kind.split(whole, step_min)
    # schedule laws: the LR of every logged row, those before step_min too, makes the areas
    X, y, runs, lrs = kind.fit_inputs(frame, schedules, law_options, step_min, whole=whole)
    n, p = len(y), len(law.params)
    if n < p + 1:
        raise InputError(f"law '{law.name}' has {p} parameters: it needs at least {p + 1} points, got {n}")
    if law.setup is not None:
        law_options = law.setup(X, law_options)
    full = law.bind(law_options)
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    unknown = set(fixed) - set(full.param_names)
    if unknown:
        raise InputError(f"fixed: law '{full.name}' has no parameter {', '.join(sorted(unknown))}")
    law = full.fix(fixed)  # the law over the parameters that vary

    bounds = law.theta_bounds()
    # long per-step logs: the starts are compared on the curve averaged over log-spaced bins
    bins = kind.binned(frame, lrs, law_options, len(y))
    binned = bins is not None
    Xs, ys = bins if binned else (X, y)
    starts, n_starts = _ranked_starts(law, Xs, ys, bounds, loss, delta, start)
    # several starts (or a binned curve): each run to a loose tolerance, the best on to the tight one
    loose = len(starts) > 1 or binned
    best = min((_minimise(law, Xs, ys, theta, bounds, loss, delta, max_iter, loose) for theta in starts),
               key=lambda res: res.fun)
    if loose:
        best = _minimise(law, X, y, best.x, bounds, loss, delta, max_iter)
    method = "trust-region least squares" if law.jacobian is not None else "L-BFGS-B"
    message = f"{method} from {len(starts)} of {n_starts} starts: {_text(best.message)}"
    if law.jacobian is not None and best.success and np.isfinite(best.fun):
        # exact gradients and a converged trust-region fit: a polish would not move the optimum
        polished, converged = best.x, True
    else:
        polished, lm = _polish(law, X, y, best.x, loss, delta, max_iter)
        converged = bool(lm.success) and np.isfinite(lm.chisqr)
        message += f"; lmfit least_squares polish: {lm.message}"

    blocks = _step_blocks(runs) if kind.along_steps else None
    covariance, stderr, ci, notes = _uncertainty(law, X, y, polished, bounds, level, blocks)
    params = {**law.from_theta(polished), **fixed}
    at_bounds = _at_bounds(law, polished, bounds)
    notes += [f"{name} is at its {side} bound ({value:g}): the data do not pin it down"
              for name, side, value in at_bounds]

    with np.errstate(all="ignore"):  # (a constant loss has no variance: R2 is NaN)
        metrics = {**_metrics(law, X, y, polished), "objective": _objective(polished, law, X, y, loss, delta),
                   "starts": n_starts, "noise": 100 * _noise(y, runs, kind.noise_order(X))}
    problem = _not_a_result(law, kind.trend(), frame, y, metrics)
    if problem:
        converged, message = False, problem
    result = FitResult(
        law=full, params={k: params[k] for k in full.param_names},
        stderr={k: 0.0 if k in fixed else stderr[k] for k in full.param_names},
        ci=None if ci is None else {k: (fixed[k], fixed[k]) if k in fixed else ci[k] for k in full.param_names},
        covariance=_embed(covariance, full, fixed), theta_names=full.theta_names, metrics=metrics,
        converged=converged, message=message, design=(X, y),
        warnings=frame.attrs.get("notes", []) + notes, options={"loss": loss, "delta": delta, "level": level, "bootstrap": bootstrap,
                                 "seed": seed, "runs": int(frame["run"].nunique()),
                                 **({"not_a_result": problem} if problem else {}),
                                 **({"fixed": fixed} if fixed else {}),
                                 **({"law_options": law_options} if law.options else {})},
        domain=kind.domain(frame, X), columns=dict(frame.attrs.get("columns", {})), schedules=lrs,
        data=frame.assign(fitted=True) if before.empty else design.join_rows(
            [before.assign(fitted=False), frame.assign(fitted=True)], frame.attrs).sort_values(
            ["run", kind.order_key(frame)], kind="stable").reset_index(drop=True),
        at_bounds=[name for name, _, _ in at_bounds],
    )
    if step_min is not None or step_min_why:
        result.options["fitted_from_step"] = None if step_min is None else int(np.ceil(step_min))
        result.options["fitted_from_why"] = step_min_why or "given (step_min)"
        if len(before):
            result.warnings.append(f"fitted from step {int(np.ceil(step_min))} on ({step_min_why}); "
                                   f"{len(before)} earlier row(s) read but not fitted")
    if len(y) < len(frame):
        result.warnings.append(f"{len(frame)} logged points were averaged (in log space) into {len(y)} "
                               f"of consecutive steps, at most {law.max_points} per run, for the fit")
    if law.held_out_by and converged:
        result.options["held_out"] = _held_out(law, X, y, runs, polished, bounds, loss, delta, max_iter)
    if bootstrap:
        _bootstrap(result, law, kind.resample, X, y, runs, polished, bounds, bootstrap, seed, level, max_iter,
                   bootstrap_seconds, progress)
    return result


MIN_HELD_OUT = 4  # settings (e.g. batch sizes) needed to leave one out and still fit the law


def _held_out(law, X, y, runs, theta, bounds, loss, delta, max_iter) -> dict[str, Any]:
    """The law's error on settings it was not fitted on: for each value of ``law.held_out_by``
    (with at least ``MIN_HELD_OUT`` of them), a refit without its points (from the full fit's
    optimum) predicts them; ``sigma`` is the RMS of the log errors averaged over blocks of
    consecutive points of each left-out run (the curve's misfit, not its step-to-step noise),
    ``mape`` each setting's MAPE (percent). Empty below ``MIN_HELD_OUT`` settings."""
    groups = np.asarray(X[law.held_out_by], dtype=float)
    values = np.unique(groups)
    if len(values) < MIN_HELD_OUT:
        return {}
    errors, mapes = [], {}
    for value in values:
        out = groups == value
        res = _minimise(law, {k: v[~out] for k, v in X.items()}, y[~out], theta, bounds, loss, delta, max_iter)
        pred = np.asarray(law({k: v[out] for k, v in X.items()}, **law.from_theta(res.x)), dtype=float)
        r = np.log(pred) - np.log(y[out])
        blocks = np.unique(_step_blocks(runs[out]), return_inverse=True)[1]
        errors.append(np.bincount(blocks, r) / np.bincount(blocks))
        mapes[f"{value:g}"] = mape(pred, y[out])
    sigma = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    return {"by": law.held_out_by, "sigma": sigma, "mape": mapes}


def _uncertainty(law, X, y, theta, bounds, level, blocks=None):
    """Covariance, stderr (natural units), ``level`` intervals and notes at the optimum ``theta``.
    With ``blocks`` (a label per point: consecutive steps of one run), the covariance is robust to
    residuals that are correlated within each block (step laws: misfit runs along the curve)."""
    covariance = _covariance(law, X, y, theta, blocks)
    if covariance is None:
        note = ("no covariance: the Jacobian at the optimum is singular or no degrees of freedom "
                "are left; standard errors are not available (use --bootstrap)")
        return None, {name: None for name in law.param_names}, None, [note]
    se_theta = np.sqrt(np.diag(covariance))
    stderr = {par.name: float(se * math.log(10) * 10.0**t if par.log else se)
              for par, t, se in zip(law.params, theta, se_theta)}
    z = z_of(level)
    lo = law.from_theta(np.clip(theta - z * se_theta, bounds[:, 0], bounds[:, 1]))
    hi = law.from_theta(np.clip(theta + z * se_theta, bounds[:, 0], bounds[:, 1]))
    return covariance, stderr, {k: (lo[k], hi[k]) for k in law.param_names}, []


def _not_a_result(law: Law, trend: str | None, frame: pd.DataFrame, y: np.ndarray,
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


def _noise(y, runs, order=None) -> float:
    """The relative noise of one point (a fraction): the robust scale of successive differences of
    log y within each run (in the order of ``order``, else as given), over sqrt 2. A trend between
    neighbours adds to it, so it errs high on sparse points (few sizes)."""
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


def _metrics(law, X, y, theta) -> dict[str, float]:
    """R2, MAPE (percent) and RMSE on the loss; R2 of the log loss (the space of the fit); AIC/BIC
    of the log residuals (lmfit's definition). All on the fitted points."""
    n, p = len(y), len(theta)
    resid = law(X, **law.from_theta(theta)) - y
    rss_log = float(np.sum(_log_residuals(theta, law, X, y) ** 2))
    logy = np.log(y)
    return {
        "r2": float(1 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2)),
        "r2_log": float(1 - rss_log / np.sum((logy - logy.mean()) ** 2)),
        "rms_error": float(100 * np.sqrt(rss_log / n)),
        "mape": mape(resid + y, y),
        "rmse": float(np.sqrt(np.mean(resid**2))),
        "n": n,
        "aic": n * math.log(rss_log / n) + 2 * p if rss_log > 0 else -math.inf,
        "bic": n * math.log(rss_log / n) + math.log(n) * p if rss_log > 0 else -math.inf,
    }


def _objective(theta, law, X, y, loss, delta) -> float:
    r = _log_residuals(theta, law, X, y)
    value = special.huber(delta, r).sum() if loss == "huber" else 0.5 * np.dot(r, r)
    return float(value) if np.isfinite(value) else 1e300


def _objective_grad(theta, law, X, y, loss, delta) -> tuple[float, np.ndarray]:
    """The objective and its exact gradient (laws with a ``jacobian``)."""
    with np.errstate(all="ignore"):
        pred = np.asarray(law(X, **law.from_theta(theta)), dtype=float)
        r = np.log(np.clip(pred, 1e-300, None) / y)
    psi = np.clip(r, -delta, delta) if loss == "huber" else r
    value = psi @ (r - 0.5 * psi)  # Huber: r^2/2 inside delta, delta*|r| - delta^2/2 outside
    if not np.isfinite(value):
        return 1e300, np.zeros_like(theta)
    with np.errstate(all="ignore"):
        grad = (psi / pred) @ law.gradient(X, theta)  # d r / d theta = (d pred / d theta) / pred
    return float(value), np.where(np.isfinite(grad), grad, 0.0)


def _residual_jacobian(law, X, theta, pred=None) -> np.ndarray:
    """d(log residual)/d(theta), shape (n, p): exact when the law has a jacobian. ``pred``: the
    prediction at ``theta`` when already computed."""
    if law.jacobian is None:  # y does not change the derivative: take log(pred) - log(1)
        return numeric_jacobian(lambda t: _log_residuals(t, law, X, np.ones(1)), np.asarray(theta, float))
    if pred is None:
        pred = law(X, **law.from_theta(theta))
    with np.errstate(all="ignore"):
        return law.gradient(X, theta) / pred[:, None]


def _log_residuals(theta, law, X, y) -> np.ndarray:
    with np.errstate(all="ignore"):
        pred = law(X, **law.from_theta(theta))
        return np.log(np.clip(pred, 1e-300, None)) - np.log(y)


def _covariance(law, X, y, theta, blocks=None) -> np.ndarray | None:
    """Gauss-Newton covariance ``s^2 (J^T J)^-1`` of the optimiser's coordinates, with J the
    Jacobian of the log residuals and ``s^2 = sum r^2 / (n - p)``; None where it does not exist.
    With ``blocks``, the block-robust (sandwich) covariance ``H^-1 (sum_b g_b g_b^T) H^-1`` with
    ``g_b = J_b^T r_b`` instead, when it is the larger (residuals correlated along a curve)."""
    n, p = len(y), len(theta)
    if n <= p:
        return None
    J = _residual_jacobian(law, X, theta)
    r = _log_residuals(theta, law, X, y)
    JTJ = J.T @ J
    if not np.all(np.isfinite(JTJ)) or np.linalg.cond(JTJ) > 1e14:
        return None
    inv = np.linalg.inv(JTJ)
    cov = inv * (r @ r) / (n - p)
    labels = None if blocks is None else np.unique(blocks, return_inverse=True)[1]
    if labels is not None and labels.max() + 1 >= 2 * p:
        nb = labels.max() + 1
        g = np.zeros((nb, p))
        np.add.at(g, labels, J * r[:, None])
        robust = inv @ (g.T @ g) @ inv * nb / (nb - 1)
        if np.all(np.isfinite(robust)) and np.all(np.diag(robust) > np.diag(cov)):
            cov = robust
    return cov if np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0) else None


def _lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """L-BFGS-B from ``theta0``. The objective is divided by its size at a perfect fit scale
    (n * delta^2), so that the stopping tolerances are relative to the fit's own scale;
    ``loose``: to a relative tolerance of 1e-9 instead of 1e-13 (to compare starts)."""
    theta0 = np.clip(theta0, bounds[:, 0], bounds[:, 1])
    scale = 1.0 / (len(y) * (delta**2 if loss == "huber" else 1e-6))
    if law.jacobian is not None:
        def fun(t):
            value, grad = _objective_grad(t, law, X, y, loss, delta)
            return value * scale, grad * scale
    else:
        def fun(t):
            return _objective(t, law, X, y, loss, delta) * scale
    return optimize.minimize(fun, theta0, jac=law.jacobian is not None, method="L-BFGS-B",
                             bounds=bounds, options={"maxiter": max_iter, "ftol": 1e-9 if loose else 1e-13, "gtol": 1e-9})


LOOSE_EVALUATIONS = 100  # a start compared with others runs at most this many evaluations


def _trf(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """Trust-region least squares (scipy's ``least_squares``, method "trf") from ``theta0`` on the
    same objective as ``_lbfgsb`` (its ``huber`` loss with ``f_scale = delta`` is Huber(delta) on
    the log residuals), with the law's exact Jacobian. A Gauss-Newton method needs tens of
    evaluations where L-BFGS-B needs hundreds. ``fun`` is the objective, as for ``_lbfgsb``;
    ``loose``: tolerances of 1e-6 instead of 1e-8 and at most ``LOOSE_EVALUATIONS`` evaluations
    (to compare starts)."""
    theta0 = np.clip(np.asarray(theta0, dtype=float), bounds[:, 0], bounds[:, 1])

    def residual(t):
        return _log_residuals(t, law, X, y)

    def jac(t):
        return np.nan_to_num(_residual_jacobian(law, X, t), nan=0.0, posinf=1e300, neginf=-1e300)

    tol = 1e-6 if loose else 1e-8
    if loose:  # comparing starts: the best one goes on to the tight tolerance
        max_iter = min(max_iter, LOOSE_EVALUATIONS)
    # parameters the data cannot move (their Jacobian column is 0 at the start and nearby: the
    # loss-drop terms of a log whose LR never changes) stay where they are: the optimiser would
    # wander on the flat directions until its evaluation limit
    free = _movable(jac, theta0, bounds)
    x = theta0.copy()

    def part(f):
        def g(t):
            x[free] = t
            return f(x)
        return g

    try:
        with np.errstate(all="ignore"):
            ls = optimize.least_squares(part(residual), theta0[free], jac=lambda t: part(jac)(t)[:, free],
                                        bounds=(bounds[free, 0], bounds[free, 1]),
                                        method="trf", loss="huber" if loss == "huber" else "linear",
                                        f_scale=delta, x_scale="jac", ftol=tol, xtol=tol, gtol=tol,
                                        max_nfev=max_iter)
    except (ValueError, np.linalg.LinAlgError):  # e.g. residuals not finite at the start
        return _lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    theta = theta0.copy()
    theta[free] = ls.x
    return optimize.OptimizeResult(x=theta, fun=_objective(theta, law, X, y, loss, delta), success=ls.status > 0,
                                   message=ls.message, nit=ls.nfev, status=ls.status)


def _movable(jac, theta0, bounds) -> np.ndarray:
    """Which parameters the residuals depend on: a Jacobian column that is 0 at ``theta0`` and
    at a point nearby (inside the bounds) is the data's, not the start's."""
    J0 = jac(theta0)
    nearby = np.clip(theta0 + 1e-3 * np.maximum(1.0, np.abs(theta0)), bounds[:, 0], bounds[:, 1])
    nearby = np.where(nearby == theta0, np.clip(theta0 - 1e-3 * np.maximum(1.0, np.abs(theta0)),
                                                bounds[:, 0], bounds[:, 1]), nearby)
    free = np.any(J0 != 0, axis=0) | np.any(jac(nearby) != 0, axis=0)
    return free if free.any() else np.ones(len(theta0), dtype=bool)


def _minimise(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """The optimiser for ``law``: trust-region least squares with its exact Jacobian (``_trf``),
    L-BFGS-B with finite differences without one (``_lbfgsb``). ``fun``: the objective."""
    if law.jacobian is not None:
        return _trf(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    res = _lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    res.fun = _objective(res.x, law, X, y, loss, delta)
    return res


def _ranked_starts(law, X, y, bounds, loss, delta, warm=None) -> tuple[list[np.ndarray], int]:
    """The law's starting points in the optimiser's coordinates (clipped to the bounds); with
    ``law.refine``, only that many of the best by the objective. Returns (kept, total). With
    ``warm`` (parameter values, natural units) that alone, completed from the grid's first start."""
    if warm is not None:
        grid = next(iter(law.starts(X, y)))
        values = {name: float(warm.get(name, grid[name])) for name in law.param_names}
        if not all(np.isfinite(list(values.values()))):
            raise InputError(f"start: parameter values must be finite numbers, got {values}")
        return [np.clip(law.to_theta(values), bounds[:, 0], bounds[:, 1])], 1
    starts = [np.clip(law.to_theta(s), bounds[:, 0], bounds[:, 1]) for s in law.starts(X, y)]
    if law.refine is not None and len(starts) > law.refine:
        order = np.argsort([_objective(t, law, X, y, loss, delta) for t in starts], kind="stable")
        return [starts[i] for i in order[: law.refine]], len(starts)
    return starts, len(starts)


def _polish(law, X, y, theta, loss, delta, max_iter):
    """lmfit least_squares from the L-BFGS-B optimum (same loss, same bounds) to refine it;
    log-scale parameters are varied as log10_NAME."""
    names = law.theta_names
    params = lmfit.Parameters()
    for name, t, (lo, hi) in zip(names, theta, law.theta_bounds()):
        params.add(name, value=float(t), min=lo, max=hi)

    def residual(pars: lmfit.Parameters) -> np.ndarray:
        return _log_residuals(np.array([pars[k].value for k in names]), law, X, y)

    kws = {"loss": "huber", "f_scale": delta} if loss == "huber" else {}
    if law.jacobian is not None:
        kws["jac"] = lambda pars: _residual_jacobian(law, X, np.array([pars[k].value for k in names]))
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        lm = lmfit.minimize(residual, params, method="least_squares",
                            max_nfev=max_iter * (len(names) + 1), **kws)
    polished = np.array([lm.params[k].value for k in names])
    # keep whichever of the two optima is lower (the polish never should be worse, but check)
    if _objective(polished, law, X, y, loss, delta) > _objective(theta, law, X, y, loss, delta):
        polished = np.asarray(theta, dtype=float)
    return polished, lm


LONG_BOOTSTRAP = 60.0  # seconds: a bootstrap expected to take longer says so in the warnings


def _bootstrap(result: FitResult, law: Law, resample: str, X, y, runs, theta, bounds, B, seed, level, max_iter,
               seconds=None, progress=False) -> None:
    """Refit on ``B`` resamples: with ``resample="blocks"`` (schedule laws), blocks of consecutive
    steps within each run (a moving-block bootstrap: correlated misfit along a curve stays
    together); otherwise whole runs when there are several, points when there is one. Stops when ``seconds`` are
    spent; ``progress``: a tqdm bar on stderr. ``law``: the law over the parameters that vary
    (``theta``, ``bounds``); the samples are of the whole law (``result.law``), held ones as held."""
    loss, delta = result.options["loss"], result.options["delta"]
    rng = np.random.default_rng(seed)
    labels = np.unique(runs)
    by_run = [np.flatnonzero(runs == r) for r in labels] if len(labels) > 1 else None
    samples, failed, done = [], 0, 0
    refits = range(B)
    if progress:
        try:
            from tqdm import tqdm
        except ImportError:  # optional: pip install 'scalelaw[progress]'
            pass
        else:
            refits = tqdm(refits, desc="bootstrap", unit="refit", file=sys.stderr, leave=False)
    start = time.perf_counter()
    for i in refits:
        elapsed = time.perf_counter() - start
        if seconds is not None and elapsed > seconds:
            result.warnings.append(f"bootstrap stopped at its time budget ({seconds:g} s): {done} of {B} refits")
            break
        if i == 1 and seconds is None and elapsed * B > LONG_BOOTSTRAP:
            result.warnings.append(f"the bootstrap took about {elapsed * B:.0f} s ({B} refits); "
                                   "bootstrap_seconds (--bootstrap-seconds) caps it")
        done += 1
        if resample == "blocks":
            idx = np.concatenate([_block_resample(np.flatnonzero(runs == r), rng) for r in labels])
        elif by_run is not None:
            idx = np.concatenate([by_run[i] for i in rng.integers(0, len(by_run), len(by_run))])
        else:
            idx = rng.integers(0, len(y), len(y))
        Xb = {k: v[idx] for k, v in X.items()}
        res = _minimise(law, Xb, y[idx], theta, bounds, loss, delta, max_iter)
        if np.isfinite(res.fun) and res.nit < max_iter:
            samples.append(res.x)
        else:
            failed += 1
    held = result.options.get("fixed", {})
    samples = np.array([[{**law.from_theta(s), **held}[k] for k in result.law.param_names]
                        for s in samples]).reshape(-1, len(result.law.params))
    result.bootstrap_samples = samples
    lower, upper = percentile_interval(samples, level) if len(samples) else (None, None)
    result.ci_bootstrap = {name: (float(lower[i]), float(upper[i]))
                           for i, name in enumerate(result.law.param_names)} if len(samples) else None
    result.options["bootstrap_by"] = ("blocks of steps" if resample == "blocks" else
                                      "run" if by_run is not None else "point")
    if failed:
        result.warnings.append(f"{failed} of {B} bootstrap refits did not converge and were left out")


BLOCKS_PER_RUN = 10


def _step_blocks(runs) -> np.ndarray:
    """A label per point: each run cut into ``BLOCKS_PER_RUN`` blocks of consecutive points."""
    labels = np.empty(len(runs), dtype=np.int64)
    for i, r in enumerate(np.unique(runs)):
        idx = np.flatnonzero(runs == r)
        labels[idx] = i * BLOCKS_PER_RUN + np.arange(len(idx)) * BLOCKS_PER_RUN // len(idx)
    return labels


def _block_resample(idx: np.ndarray, rng) -> np.ndarray:
    """A moving-block resample of one run's points ``idx`` (kept in step order): blocks of
    ``len / BLOCKS_PER_RUN`` consecutive points drawn with replacement, wrapping around."""
    n = len(idx)
    width = max(1, n // BLOCKS_PER_RUN)
    starts = rng.integers(0, n, -(-n // width))
    picks = (starts[:, None] + np.arange(width)[None, :]).ravel()[:n] % n
    return idx[np.sort(picks)]


def _embed(covariance, full: Law, fixed: Mapping[str, float]):
    """The covariance of the varied parameters as one of ``full``'s, zero where held."""
    if covariance is None or not fixed:
        return covariance
    free = [i for i, n in enumerate(full.param_names) if n not in fixed]
    out = np.zeros((len(full.params), len(full.params)))
    out[np.ix_(free, free)] = covariance
    return out


# -- helpers ---------------------------------------------------------------------------------

def _at_bounds(law: Law, theta, bounds) -> list[tuple[str, str, float]]:
    """(name, "lower" | "upper", bound in natural units) for each parameter at a bound."""
    out = []
    for p, t, (lo, hi) in zip(law.params, theta, bounds):
        for edge, side in ((lo, "lower"), (hi, "upper")):
            if np.isfinite(edge) and abs(t - edge) <= 1e-6 * max(1.0, abs(edge)):
                out.append((p.name, side, 10.0**edge if p.log else edge))
    return out


def _text(message) -> str:
    return message.decode() if isinstance(message, bytes) else str(message)
