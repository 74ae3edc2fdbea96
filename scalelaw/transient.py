"""Where the initial transient of a loss curve ends: the first step a law over steps describes.

A training log from step 0 starts with the loss of an untrained model and falls by several nats
in the first hundreds of steps. No law over steps describes that phase: the LR-area laws
(annealing, multi-power) and the power law over steps describe the slow decline after it. A fit
that includes it is bent by it, and judged by it. ``find_start`` finds, from the data, the first
step from which the law fits the start of the curve about as well as the rest:

1. Each run is averaged (in log space) over log-spaced bins of steps (``BINS_PER_OCTAVE``), so a
   log of 34,000 steps becomes about 120 points and every octave of steps counts alike.
2. Candidate starts double from the first logged step (1, 2, 4, ... for a log from step 0) up to
   ``MAX_SHARE`` of the longest run.
3. The law (a step law through the annealing law: the transient is a property of the curve, and
   its four parameters fit in milliseconds) is fitted to the bins from the latest candidate on,
   where it surely applies: its misfit there is the reference.
4. The start moves back an octave at a time while the law still holds: fitted from the earlier
   start, the bias of the new octave (its mean squared residual less the bins' noise) stays
   within ``TOLERANCE`` times the reference misfit (at least ``MIN_MISFIT``), and the bias it
   causes on the later steps within ``TOLERANCE`` times the reference (at least
   ``MIN_MISFIT_TAIL``). The first octave that fails is the transient; the fit starts after it.

The floors are what a law misfits the first octave of a curve that has no transient: on the
curves of Luo et al. (logged from the end of warmup) the annealing law misses its first octave
by 0.3-0.5 % RMS and moves the rest by 0.1-0.2 %, and leaving that octave out costs held-out
accuracy (their protocol's mean MAPE at 25M went from 0.139 % to 0.235 %); a transient misses
by more. Checked on synthetic per-step logs (transients decaying over 50 and 150 steps, noise
0.5 to 3 %, with and without warmup: the start falls where less than 1.2 % of the loss is left
of the transient), on the trainer's own logs with and without warmup and on all 18 curves of
Luo et al. (none cut); the tests check each. A transient that the law can absorb with other
parameters (one decaying over 500 steps of a 20,000-step run) is not found: the law fits it,
and so the data cannot tell it apart. ``--step-min`` overrides the rule.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import optimise, quality
from .io import CURVE_NAMES
from .laws import Law, get_law
from .laws.design import log_bins
from .schedules import from_log, resolve

BINS_PER_OCTAVE = 8
MAX_SHARE = 0.25  # the transient is sought in the first quarter of the longest run
TOLERANCE = 3.0  # the first octave's misfit, in units of what the rest of the fit allows
MAX_STARTS = 3  # the law's best starts tried for each fit of the binned curve
MIN_BINS = 6  # bins needed from the latest candidate start on
MIN_MISFIT = 2e-3  # the smallest misfit allowed for at the start: 0.2 % of the loss (module docstring)
MIN_MISFIT_TAIL = 1e-3  # and on the later steps, where it moves the fit: 0.1 %


def step_column(law: Law, frame: pd.DataFrame) -> str | None:
    """The column of ``frame`` that counts training steps for ``law``: ``step`` for step laws,
    the size ``x`` of a one-input law when it was read from a step column; else None."""
    if law.step_law:
        return "step"
    if law.inputs == ("x",) and "x" in frame.columns:
        column = str(frame.attrs.get("columns", {}).get("x", "")).lower()
        return "x" if column in CURVE_NAMES["step"] else None
    return None


def find_start(law: Law, frame: pd.DataFrame, options: Mapping[str, Any] | None = None,
               schedules: Any = None) -> tuple[int | None, str]:
    """The first step of ``frame`` (checked rows of one or more runs: ``run``, the step column,
    ``y`` and, for step laws, ``lr``) that ``law`` describes, and why; ``(None, why)`` when the
    curve has no transient to leave out (or is too short to tell).

    Args:
        law: a step law, or a one-input law over steps (the power law over ``x`` = steps).
        frame: as for ``scalelaw.fit``.
        options: the law's options (its ``warmup`` convention is used).
        schedules: step laws: the schedules given in place of an ``lr`` column, as for ``fit``.
    """
    key = step_column(law, frame)
    if key is None:
        return None, "not a curve over steps"
    if law.step_law and schedules is None and "lr" not in frame.columns:
        return None, "no LR to fit a step law by"  # the fit itself says what is missing
    proxy = get_law("annealing") if law.step_law else law
    proxy_options = {**proxy.options, **{k: v for k, v in (options or {}).items() if k in proxy.options}}
    frame = frame[frame[key] > 0]
    bins, noise = _bins(frame, key)
    first, last = float(frame[key].min()), float(frame[key].max())
    if len(bins) < MIN_BINS * 2:
        return None, "too few points to look for an initial transient"
    X, y = _inputs(proxy, bins, key, frame, proxy_options, schedules)
    step = bins["step"].to_numpy(float)
    se2 = (noise[bins["run"].to_numpy()].to_numpy() ** 2) / bins["count"].to_numpy(float)
    candidates = [first]
    while candidates[-1] * 2 <= MAX_SHARE * last and (step >= candidates[-1] * 2).sum() >= MIN_BINS:
        candidates.append(candidates[-1] * 2)
    if len(candidates) == 1:
        return None, "too few points to look for an initial transient"

    def fit_from(s):
        keep = step >= s
        r = _residuals(proxy, {k: v[keep] for k, v in X.items()}, y[keep])
        out = np.full(len(step), np.nan)
        if r is not None:
            out[keep] = r
        return out

    # the law's misfit where it surely applies: fitted from the latest candidate
    r = fit_from(candidates[-1])
    if np.isnan(r[step >= candidates[-1]]).any():
        return None, "the law could not be fitted to the binned curve to look for a transient"
    late = step >= candidates[-1]
    misfit2 = max(1e-8, float(np.mean(r[late] ** 2 - se2[late])))
    accepted = candidates[-1]
    for s in reversed(candidates[:-1]):  # extend the fit back an octave at a time, while it holds
        r = fit_from(s)
        head, tail = (step >= s) & (step < 2 * s), step >= 2 * s
        if np.isnan(r[step >= s]).any():
            break
        head_ok = not head.any() or \
            float(np.mean(r[head] ** 2 - se2[head])) <= TOLERANCE**2 * max(misfit2, MIN_MISFIT**2)
        tail_ok = float(np.mean(r[tail] ** 2 - se2[tail])) <= TOLERANCE**2 * max(misfit2, MIN_MISFIT_TAIL**2)
        if not (head_ok and tail_ok):
            break
        accepted = s
    if accepted <= first:
        return None, "the law fits from the first logged step (no initial transient found)"
    return int(np.ceil(accepted)), (
        f"initial transient: the law fits the curve from step {int(np.ceil(accepted))} on within "
        f"{TOLERANCE:g}x its misfit on the latest steps, and not from {int(np.ceil(accepted / 2))}")


def _bins(frame: pd.DataFrame, key: str) -> tuple[pd.DataFrame, pd.Series]:
    """Each run averaged over log-spaced bins of steps (``log_bins``), with ``step`` its key; and
    each run's per-point noise in log space (``quality.noise``)."""
    noise = {run: quality.noise(g["y"].to_numpy(float), np.zeros(len(g)))
             for run, g in frame.groupby("run", sort=False)}
    bins = log_bins(frame[["run", key, "y"]], key, BINS_PER_OCTAVE).rename(columns={key: "step"})
    return bins, pd.Series(noise).clip(lower=1e-6)


def _inputs(proxy: Law, bins: pd.DataFrame, key: str, frame: pd.DataFrame, options, schedules):
    """The proxy law's inputs at the bins' steps (step laws: under each run's LR of every step,
    from the whole log or the given schedules)."""
    if not proxy.step_law:
        return {"x": bins["step"].to_numpy(float)}, bins["y"].to_numpy(float)
    parts = []
    for run, g in frame.groupby("run", sort=False):
        steps = bins.loc[bins["run"] == run, "step"].to_numpy(int)
        total = int(g[key].max())
        if schedules is not None:
            chosen = schedules.get(run) if isinstance(schedules, Mapping) else schedules
            lr = resolve(chosen, total=total, warmup=options.get("warmup", "peak"))
        else:
            lr = from_log(g[key].to_numpy(float), g["lr"].to_numpy(float), total=total,
                          warmup=options.get("warmup", "peak"))
        with np.errstate(all="ignore"):
            parts.append(proxy.features(lr, steps, options))
    X = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return X, bins["y"].to_numpy(float)


def _residuals(law: Law, X, y) -> np.ndarray | None:
    """Log residuals of a least-squares fit of ``law`` to the bins (from the best of its starts)."""
    bounds = law.theta_bounds()
    best = None
    starts = optimise.ranked_starts(law, X, y, bounds, "lsq", 1.0)[0]
    if len(starts) > MAX_STARTS:  # the best few by the objective at the start
        order = np.argsort([optimise.objective(t, law, X, y, "lsq", 1.0) for t in starts], kind="stable")
        starts = [starts[i] for i in order[:MAX_STARTS]]
    for theta in starts:
        res = optimise.minimise(law, X, y, theta, bounds, "lsq", 1.0, 200, loose=True)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        return None
    return optimise.log_residuals(best.x, law, X, y)
