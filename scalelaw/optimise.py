"""Minimising a law's objective from a start: the sum of Huber(delta) (or squares) over the log
residuals ``log(pred) - log(y)``, each times its point's weight where the inputs hold one
(``X["weight"]``, ``WEIGHT``: the inverse relative standard error of a measured accuracy, mean 1). Trust-region least squares (``trf``) for laws with an exact
Jacobian; L-BFGS-B on finite differences (``lbfgsb``) and an lmfit polish (``polish``) for laws
without one; ``ranked_starts`` picks the starts and ``from_starts`` runs them. ``scalelaw.engine`` fits with these."""
from __future__ import annotations

import warnings as _warnings

import lmfit
import numpy as np
from scipy import optimize, special

from .errors import InputError
from .laws.base import numeric_jacobian
# the inputs' key of each point's weight, not an input of any law (``design`` sets it: the
# inverse relative error of a measured accuracy; the square root of a summary bin's rows)
from .laws.summary import WEIGHT


def objective(theta, law, X, y, loss, delta) -> float:
    r = log_residuals(theta, law, X, y)
    value = special.huber(delta, r).sum() if loss == "huber" else 0.5 * np.dot(r, r)
    return float(value) if np.isfinite(value) else 1e300


def objective_grad(theta, law, X, y, loss, delta) -> tuple[float, np.ndarray]:
    """The objective and its exact gradient (laws with a ``jacobian``)."""
    with np.errstate(all="ignore"):
        pred = np.asarray(law(X, **law.from_theta(theta)), dtype=float)
        w = X.get(WEIGHT, 1.0)
        r = w * np.log(np.clip(pred, 1e-300, None) / y)
    psi = np.clip(r, -delta, delta) if loss == "huber" else r
    value = psi @ (r - 0.5 * psi)  # Huber: r^2/2 inside delta, delta*|r| - delta^2/2 outside
    if not np.isfinite(value):
        return 1e300, np.zeros_like(theta)
    with np.errstate(all="ignore"):
        grad = (psi * w / pred) @ law.gradient(X, theta)  # d r / d theta = w (d pred / d theta) / pred
    return float(value), np.where(np.isfinite(grad), grad, 0.0)


def residual_jacobian(law, X, theta, pred=None) -> np.ndarray:
    """d(log residual)/d(theta), shape (n, p): exact when the law has a jacobian. ``pred``: the
    prediction at ``theta`` when already computed."""
    if law.jacobian is None:  # y does not change the derivative: take log(pred) - log(1)
        return numeric_jacobian(lambda t: log_residuals(t, law, X, np.ones(1)), np.asarray(theta, float))
    if pred is None:
        pred = law(X, **law.from_theta(theta))
    with np.errstate(all="ignore"):
        return law.gradient(X, theta) * (np.asarray(X.get(WEIGHT, 1.0)) / pred)[:, None]


def log_residuals(theta, law, X, y) -> np.ndarray:
    """``log(pred) - log(y)`` at ``theta``, times the points' weights where ``X`` holds them."""
    with np.errstate(all="ignore"):
        pred = law(X, **law.from_theta(theta))
        return X.get(WEIGHT, 1.0) * (np.log(np.clip(pred, 1e-300, None)) - np.log(y))


def lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """L-BFGS-B from ``theta0``. The objective is divided by its size at a perfect fit scale
    (n * delta^2), so that the stopping tolerances are relative to the fit's own scale;
    ``loose``: to a relative tolerance of 1e-9 instead of 1e-13 (to compare starts)."""
    theta0 = np.clip(theta0, bounds[:, 0], bounds[:, 1])
    scale = 1.0 / (len(y) * (delta**2 if loss == "huber" else 1e-6))
    if law.jacobian is not None:
        def fun(t):
            value, grad = objective_grad(t, law, X, y, loss, delta)
            return value * scale, grad * scale
    else:
        def fun(t):
            return objective(t, law, X, y, loss, delta) * scale
    return optimize.minimize(fun, theta0, jac=law.jacobian is not None, method="L-BFGS-B",
                             bounds=bounds, options={"maxiter": max_iter, "ftol": 1e-9 if loose else 1e-13, "gtol": 1e-9})


LOOSE_EVALUATIONS = 100  # a start compared with others runs at most this many evaluations


def trf(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """Trust-region least squares (scipy's ``least_squares``, method "trf") from ``theta0`` on the
    same objective as ``lbfgsb`` (its ``huber`` loss with ``f_scale = delta`` is Huber(delta) on
    the log residuals), with the law's exact Jacobian. A Gauss-Newton method needs tens of
    evaluations where L-BFGS-B needs hundreds. ``fun`` is the objective, as for ``lbfgsb``;
    ``loose``: tolerances of 1e-6 instead of 1e-8 and at most ``LOOSE_EVALUATIONS`` evaluations
    (to compare starts)."""
    theta0 = np.clip(np.asarray(theta0, dtype=float), bounds[:, 0], bounds[:, 1])

    def residual(t):
        return log_residuals(t, law, X, y)

    def jac(t):
        return np.nan_to_num(residual_jacobian(law, X, t), nan=0.0, posinf=1e300, neginf=-1e300)

    tol = 1e-6 if loose else 1e-8
    if loose:  # comparing starts: the best one goes on to the tight tolerance
        max_iter = min(max_iter, LOOSE_EVALUATIONS)
    # parameters the data cannot move (their Jacobian column is 0 at the start and nearby: the
    # loss-drop terms of a log whose LR never changes) stay where they are: the optimiser would
    # wander on the flat directions until its evaluation limit
    free = movable(jac, theta0, bounds)
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
        return lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    theta = theta0.copy()
    theta[free] = ls.x
    return optimize.OptimizeResult(x=theta, fun=objective(theta, law, X, y, loss, delta), success=ls.status > 0,
                                   message=ls.message, nit=ls.nfev, status=ls.status)


def movable(jac, theta0, bounds) -> np.ndarray:
    """Which parameters the residuals depend on: a Jacobian column that is 0 at ``theta0`` and
    at a point nearby (inside the bounds) is the data's, not the start's."""
    J0 = jac(theta0)
    nearby = np.clip(theta0 + 1e-3 * np.maximum(1.0, np.abs(theta0)), bounds[:, 0], bounds[:, 1])
    nearby = np.where(nearby == theta0, np.clip(theta0 - 1e-3 * np.maximum(1.0, np.abs(theta0)),
                                                bounds[:, 0], bounds[:, 1]), nearby)
    free = np.any(J0 != 0, axis=0) | np.any(jac(nearby) != 0, axis=0)
    return free if free.any() else np.ones(len(theta0), dtype=bool)


def minimise(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """The optimiser for ``law``: trust-region least squares with its exact Jacobian (``trf``),
    L-BFGS-B with finite differences without one (``lbfgsb``). ``fun``: the objective."""
    if law.jacobian is not None:
        return trf(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    res = lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    res.fun = objective(res.x, law, X, y, loss, delta)
    return res


def from_starts(law, X, y, bounds, loss, delta, max_iter, warm=None, coarse=None,
                progress=lambda starts: starts, keep=None) -> tuple[optimize.OptimizeResult, int, int]:
    """The best minimum from the law's starts (``ranked_starts``; ``warm``: that one alone;
    ``keep``: only that many of the best by the objective): with several starts, or on ``coarse``
    ((X, y) averaged over bins of steps), each is run to a loose tolerance and the best on to the
    tight one on ``X``, ``y``. ``progress`` wraps the starts' loop (a bar). Returns (the minimum,
    the starts run, the starts the grid had)."""
    Xs, ys = coarse if coarse is not None else (X, y)
    starts, n_starts = ranked_starts(law, Xs, ys, bounds, loss, delta, warm, keep)
    loose = len(starts) > 1 or coarse is not None
    best = min((minimise(law, Xs, ys, theta, bounds, loss, delta, max_iter, loose) for theta in progress(starts)),
               key=lambda res: res.fun)
    if loose:
        best = minimise(law, X, y, best.x, bounds, loss, delta, max_iter)
    return best, len(starts), n_starts


def ranked_starts(law, X, y, bounds, loss, delta, warm=None, keep=None) -> tuple[list[np.ndarray], int]:
    """The law's starting points in the optimiser's coordinates (clipped to the bounds); with
    ``law.refine`` (or ``keep``, the fewer), only that many of the best by the objective. Returns
    (kept, total). With ``warm`` (parameter values, natural units) that alone, completed from the
    grid's first start."""
    if warm is not None:
        grid = next(iter(law.starts(X, y)))
        values = {name: float(warm.get(name, grid[name])) for name in law.param_names}
        if not all(np.isfinite(list(values.values()))):
            raise InputError(f"start: parameter values must be finite numbers, got {values}")
        return [np.clip(law.to_theta(values), bounds[:, 0], bounds[:, 1])], 1
    starts = [np.clip(law.to_theta(s), bounds[:, 0], bounds[:, 1]) for s in law.starts(X, y)]
    limit = min((n for n in (law.refine, keep) if n is not None), default=None)
    if limit is not None and len(starts) > limit:
        order = np.argsort([objective(t, law, X, y, loss, delta) for t in starts], kind="stable")
        return [starts[i] for i in order[:limit]], len(starts)
    return starts, len(starts)


def polish(law, X, y, theta, loss, delta, max_iter):
    """lmfit least_squares from the L-BFGS-B optimum (same loss, same bounds) to refine it;
    log-scale parameters are varied as log10_NAME (and a group's, ``NAME@g`` of
    ``Law.per_group``, as ``NAME_at_g``: lmfit takes Python names only)."""
    names = [name.replace("@", "_at_") for name in law.theta_names]
    params = lmfit.Parameters()
    for name, t, (lo, hi) in zip(names, theta, law.theta_bounds()):
        params.add(name, value=float(t), min=lo, max=hi)

    def residual(pars: lmfit.Parameters) -> np.ndarray:
        return log_residuals(np.array([pars[k].value for k in names]), law, X, y)

    kws = {"loss": "huber", "f_scale": delta} if loss == "huber" else {}
    if law.jacobian is not None:
        kws["jac"] = lambda pars: residual_jacobian(law, X, np.array([pars[k].value for k in names]))
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        lm = lmfit.minimize(residual, params, method="least_squares",
                            max_nfev=max_iter * (len(names) + 1), **kws)
    polished = np.array([lm.params[k].value for k in names])
    # keep whichever of the two optima is lower (the polish never should be worse, but check)
    if objective(polished, law, X, y, loss, delta) > objective(theta, law, X, y, loss, delta):
        polished = np.asarray(theta, dtype=float)
    return polished, lm
