"""The summary of a long per-step log, on which the schedule laws are fitted in its place.

A log of 2,000,000 steps says no more about a smooth law than its log-spaced bins do: what a
curve can tell grows with its length in octaves, while the cost of a fit grows with its rows.
``summarise_log`` turns a long log into a few hundred bins per run that keep, for each bin, the
location of its log loss (the mean, or the Huber location under the default Huber loss), its
rows and the spread the location averaged away; a fit weighs each bin by its rows, so that it
minimises (to second order about its optimum) the same objective as on every row, and the
rows' metrics and noise follow from the bins (``row_mse``). The LR of every row is kept
beside the summary, so that the laws' LR areas still count every step.
(``scalelaw.laws.design.Schedule.summary`` says when a log is summarised.)

The constants below were not tuned on any curve: 16 bins an octave keep a law's curvature
within a bin far below the noise (a bin spans 4 % of its steps), and a bin each 0.05 of log LR
(at most 5 % of LR) keeps a cooldown's shape. ``benchmarks/bench_scale.py`` measures the fit on
the summary against the fit on every row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..schedules import LRLogs

WEIGHT = "weight"  # the inputs' key of each point's weight on its log residual (scalelaw.optimise)
# The summary of a long log (``summarise_log``): each bin's rows and the spread of its log loss.
BIN_ROWS, BIN_SS = "bin_rows", "bin_ss"
SUMMARY_PER_OCTAVE = 16  # log-spaced bins of steps: about 300 for a run of 500,000 steps
SUMMARY_LR_STEP = 0.05  # and a new bin each time log LR has moved by this much (a decay, a warmup)
SUMMARY_LR_FLOOR = 1e-3  # LRs below this fraction of the peak count as this fraction (an LR decayed to 0)


def summarise_log(frame: pd.DataFrame, step_min: float | None = None, delta: float | None = None) -> pd.DataFrame:
    """A long per-step log (rows of ``run``, ``step`` > 0, ``y``, maybe ``lr`` and other numeric
    columns, sorted by run and step) summarised over bins of consecutive steps, on which the
    schedule laws are fitted in its place.

    Each run is cut into bins ``SUMMARY_PER_OCTAVE`` to an octave of steps, and again each time
    its log LR has moved by ``SUMMARY_LR_STEP`` (so that a cooldown keeps its shape), at
    ``step_min`` (a bin never straddles the first fitted step), and around the run's first and
    last rows (each a bin of its own, so that the steps a run covers stay exact). A bin holds:
    ``step`` (the mean step, rounded), ``y`` (the bin's location of the log loss at that step,
    exponentiated: the mean, or with ``delta`` the Huber(delta) location, both about the bin's
    straight line in step), the mean of the other numeric columns (``lr``), ``bin_rows`` (its
    rows) and ``bin_ss`` (the noise its location averaged away: the sum of squares of the log
    loss about the bin's line, brought to rows - 1 degrees of freedom, as about a mean that the
    law's own trend within the bin follows).

    A law fitted by least squares to the bins, each residual weighted by ``sqrt(bin_rows)``,
    minimises to second order about its optimum (and to first order in the law's curvature
    within a bin) the objective on every row: least squares on the rows, with the means; a
    Huber(delta) loss on the rows, with the Huber locations (near the optimum each bin's Huber
    sum is a parabola about its location, of curvature the rows within delta of it, a share of
    its rows that the noise sets alike in every bin). The rows' residual sum of squares is the
    bins' weighted one plus ``sum(bin_ss)`` (``row_mse``). Every row's LR is kept in
    ``attrs["lr_log"]`` (run -> (steps, lr)), so that the LR areas are still computed from every
    step; ``attrs["summary"]`` says which location (``{"location": "mean" | "huber", "delta":
    delta}``)."""
    parts, lr_log = [], LRLogs(frame.attrs.get("lr_log", {}))
    others = [c for c in frame.columns if c not in ("run", "step", "y") and pd.api.types.is_numeric_dtype(frame[c])]
    for run, idx in frame.groupby("run", sort=False).indices.items():
        steps = frame["step"].to_numpy(float)[idx]
        logy = np.log(frame["y"].to_numpy(float)[idx])
        cuts = np.diff(np.floor(SUMMARY_PER_OCTAVE * np.log2(np.maximum(steps, 1.0)))) != 0
        if "lr" in frame.columns:
            lr = frame["lr"].to_numpy(float)[idx]
            lr_log.setdefault(str(run), (steps, lr))
            log_lr = np.log(np.maximum(lr, SUMMARY_LR_FLOOR * max(float(lr.max()), 1e-300)))
            moves = np.abs(np.diff(log_lr))
            travel = np.floor(np.cumsum(moves) / SUMMARY_LR_STEP)
            cuts |= np.diff(np.concatenate([[0.0], travel])) != 0
            # after a jump of the LR (a step schedule), the loss falls within tens of steps: bins
            # log-spaced in the steps since the jump, as after the start of the run
            jumps = np.flatnonzero(moves >= SUMMARY_LR_STEP) + 1
            if len(jumps):
                last = np.zeros(len(steps))
                last[jumps] = steps[jumps] - steps[jumps - 1]  # the jump's step, less one logged step
                since = steps - np.maximum.accumulate(np.where(last > 0, steps - last, 0.0))
                cuts |= np.diff(np.floor(SUMMARY_PER_OCTAVE * np.log2(np.maximum(since, 1.0)))) != 0
        if step_min is not None:
            cuts |= (steps[1:] >= step_min) & (steps[:-1] < step_min)
        if len(cuts):
            cuts[0] = cuts[-1] = True  # the first and the last row: bins of their own
        label = np.concatenate([[0], np.cumsum(cuts)])
        rows = np.bincount(label).astype(float)

        def mean(v):
            return np.bincount(label, v) / rows

        centred = steps - mean(steps)[label]  # the straight line in step, within each bin
        sxx, sxy = np.bincount(label, centred**2), np.bincount(label, centred * logy)
        syy = np.bincount(label, (logy - mean(logy)[label]) ** 2)
        slope = np.divide(sxy, sxx, out=np.zeros_like(sxx), where=sxx > 0)
        location = mean(logy)
        if delta is not None:  # about the line: the rows' log loss less the line's trend
            location = location + huber_location(logy - location[label] - slope[label] * centred, label, delta)
        line = np.maximum(syy - slope * sxy, 0.0)
        # the rows' noise about their bin's mean (rows - 1 degrees of freedom) from the spread
        # about its line (rows - 2); bins of one or two rows take the run's pooled noise
        dof = np.maximum(rows - 2, 0)
        pooled = line.sum() / dof.sum() if dof.sum() > 0 else 0.0
        ss = np.where(dof > 0, line * (rows - 1) / np.maximum(dof, 1), (rows - 1) * pooled)
        part = {"run": np.full(len(rows), run, dtype=object), "step": np.rint(mean(steps)).astype(np.int64),
                "y": np.exp(location), **{c: mean(frame[c].to_numpy(float)[idx]) for c in others},
                BIN_ROWS: rows.astype(np.int64), BIN_SS: ss}
        parts.append(pd.DataFrame(part))
    out = pd.concat(parts, ignore_index=True)
    out.attrs = {**frame.attrs, **({"lr_log": lr_log} if lr_log else {}),
                 "summary": {"location": "mean"} if delta is None else {"location": "huber", "delta": float(delta)}}
    return out


def location_delta(loss: str, delta: float) -> float | None:
    """The Huber threshold of the bins' locations (``summarise_log``'s ``delta``) that a fit with
    ``loss`` (``"huber"`` or ``"lsq"``) and ``delta`` minimises the rows' objective with; None
    (the mean) for least squares."""
    return delta if loss == "huber" else None


def huber_location(e: np.ndarray, label: np.ndarray, delta: float, iterations: int = 50) -> np.ndarray:
    """Each bin's Huber(delta) location of ``e`` (``label``: each value's bin, 0, 1, ...,
    consecutive): the root of ``sum clip(e - mu, -delta, delta)``, by bisection between the
    bin's least and largest value (all bins at once); 0 for a bin whose values are all 0."""
    starts = np.flatnonzero(np.concatenate([[True], np.diff(label) != 0]))
    lo, hi = np.minimum.reduceat(e, starts), np.maximum.reduceat(e, starts)
    for _ in range(iterations):  # (max - min) / 2^50: far below any loss's precision
        mid = 0.5 * (lo + hi)
        above = np.bincount(label, np.clip(e - mid[label], -delta, delta), minlength=len(lo)) > 0
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def row_mse(r: np.ndarray, X) -> float:
    """The mean squared log residual of the logged rows, from ``r``, the log residuals of the
    fitted points: their mean, or, where the points are a summary's bins (``X`` holds
    ``BIN_ROWS``), each bin's squared residual times its rows plus the spread its mean
    averaged away (``BIN_SS``), over all rows."""
    if X is None or BIN_ROWS not in X:
        return float(np.mean(r**2))
    return float((X[BIN_ROWS] @ r**2 + X[BIN_SS].sum()) / X[BIN_ROWS].sum())


def row_noise(X) -> float:
    """The noise of one logged row (log units) from a summary's bins (``X`` holds ``BIN_ROWS``
    and ``BIN_SS``): the spread within each bin, pooled over the bins; 0 where no bin has two
    rows."""
    dof = (X[BIN_ROWS] - 1).sum()
    return float(np.sqrt(X[BIN_SS].sum() / dof)) if dof > 0 else 0.0


def schedule_log(frame: pd.DataFrame, run) -> tuple[np.ndarray, np.ndarray]:
    """The logged LR of ``run`` in ``frame``, ``(steps, lr)``: every row that logged one
    (``attrs["lr_log"]``: rows without a loss, a summarised log's rows), else the frame's own
    rows."""
    logged = frame.attrs.get("lr_log", {}).get(str(run))
    if logged is not None:
        return np.asarray(logged[0]), np.asarray(logged[1], dtype=float)
    g = frame[frame["run"] == run]
    return g["step"].to_numpy(), g["lr"].to_numpy(float)


def summarised(frame: pd.DataFrame) -> dict[str, int] | None:
    """``{"bins": k, "rows": n}`` for a summary (``summarise_log``) of ``frame``'s rows, else None."""
    if BIN_ROWS not in frame.columns:
        return None
    return {"bins": len(frame), "rows": int(frame[BIN_ROWS].sum())}
