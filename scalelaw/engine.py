"""The one fitting engine. Every law is fitted here; a new law needs no new fitting code.

Recipe (Hoffmann et al. 2022, Besiroglu et al. 2024, Tissue et al. 2024): minimise the sum of
Huber(delta) over log residuals ``log(pred) - log(y)`` (delta = 1e-3 by default; plain least
squares selectable) from every starting point of the law's grid, keep the best, and take it to
a tight tolerance. Laws with an exact Jacobian are minimised by trust-region least squares
(scipy's ``least_squares``, whose ``huber`` loss is the same objective): tens of evaluations
where L-BFGS-B needs hundreds. Laws without one use L-BFGS-B on finite differences, polished
with lmfit (``least_squares``, same loss, same bounds); ``scalelaw.optimise`` holds these.
Starts are compared at a loose tolerance; on long per-step logs they are compared on the curve
averaged over log-spaced bins, and only the best goes on to every point. A step log with a run
of more than 50,000 rows (100,000 in all) is fitted on its summary (``scalelaw.laws.summary``:
bins of steps, each its rows' Huber location, by least squares weighted by rows), with its
covariance and bootstrap. Standard errors and correlations come from the Gauss-Newton
covariance of the log residuals at the optimum, where it exists (a clear warning where it does
not). Optional bootstrap: refits on data resampled by
whole runs (several runs) or by points (one run), with a seed. The metrics, and the refusal of
a fit that is not one, are ``scalelaw.quality``'s. Data become a law's inputs through its kind
(``scalelaw.laws.design``).
"""
from __future__ import annotations

import math
import time
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .errors import InputError
from . import optimise, quality
from .laws import Law, design, get_law, summary
from .intervals import check_level, percentile_interval, z_of
from .result import FitResult
from .progress import bar

LOSSES = ("huber", "lsq")
DELTA = 1e-3  # the Huber threshold by default, in log-loss units


# -- the engine ------------------------------------------------------------------------------

def fit(
    law: Law | str,
    data: pd.DataFrame | Mapping[str, Any],
    *,
    schedules: Any = None,
    options: Mapping[str, Any] | None = None,
    loss: str = "huber",
    delta: float = DELTA,
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
    summarise: bool | None = None,
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
        progress: show progress bars of the starts and the bootstrap on stderr (tqdm, when installed).
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
        summarise: schedule laws: fit the log's summary over bins of steps
            (``summary.summarise_log``) instead of every row: None (default) where the log has
            a run of more than ``design.Schedule.SUMMARY_ABOVE`` rows or more than ``SUMMARY_TOTAL``
            in all, True always, False never. The
            covariance and the bootstrap are computed on the same summary; the result says so
            (``options["binned"]``: bins and rows).
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
    # a long step log is fitted on its summary over bins of steps (summary.summarise_log)
    location = summary.location_delta(loss, delta)
    whole = kind.summary(kind.table(data, law_options), step_min, summarise, location)
    frame, before = kind.split(whole, step_min)
    # on a summary, the rows' loss is in each bin's location: least squares between bins
    summarised = summary.summarised(frame)
    if summarised is not None:
        summarised.update(whole.attrs.get("summary", {}))
        if summarised.get("delta") != location:
            raise InputError(f"these data are a summary of a log made for another loss (each bin's "
                             f"{summarised['location']} location): fit the log's rows instead")
    fit_loss = loss if summarised is None else "lsq"
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
    best, n_run, n_starts = optimise.from_starts(
        law, X, y, bounds, fit_loss, delta, max_iter, start, bins,
        lambda starts: bar(starts, f"{law.name}: starts", "start", progress and len(starts) > 1))
    method = "trust-region least squares" if law.jacobian is not None else "L-BFGS-B"
    message = f"{method} from {n_run} of {n_starts} starts: {_text(best.message)}"
    if law.jacobian is not None and best.success and np.isfinite(best.fun):
        # exact gradients and a converged trust-region fit: a polish would not move the optimum
        polished, converged = best.x, True
    else:
        polished, lm = optimise.polish(law, X, y, best.x, fit_loss, delta, max_iter)
        converged = bool(lm.success) and np.isfinite(lm.chisqr)
        message += f"; lmfit least_squares polish: {lm.message}"

    rows = X.get(summary.BIN_ROWS)  # a summary: the rows of each bin (binned)
    blocks = _step_blocks(runs, rows) if kind.along_steps else None
    covariance, stderr, ci, notes = _uncertainty(law, X, y, polished, bounds, level, blocks)
    params = {**law.from_theta(polished), **fixed}
    at_bounds = _at_bounds(law, polished, bounds)
    notes += [f"{name} is at its {side} bound ({value:g}): the data do not pin it down"
              for name, side, value in at_bounds]

    with np.errstate(all="ignore"):  # (a constant loss has no variance: R2 is NaN)
        metrics = {**quality.metrics_of(law, X, y, polished), "objective": optimise.objective(polished, law, X, y, fit_loss, delta),
                   "starts": n_starts, "noise": 100 * quality.noise(y, runs, kind.noise_order(X), X)}
    problem = quality.not_a_result(law, kind.trend(), frame, y, metrics)
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
                                 **({"binned": summarised} if summarised is not None else {}),
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
            read = int(before[summary.BIN_ROWS].sum()) if summary.BIN_ROWS in before.columns else len(before)
            result.warnings.append(f"fitted from step {int(np.ceil(step_min))} on ({step_min_why}); "
                                   f"{read} earlier row(s) read but not fitted")
    if len(y) < len(frame):
        result.warnings.append(f"{len(frame)} logged points were averaged (in log space) into {len(y)} "
                               f"of consecutive steps, at most {law.max_points} per run, for the fit")
    groups = kind.held_out_groups(frame, X) if converged else None
    if groups is not None:
        held = result.options["held_out"] = _held_out(law, X, y, runs, polished, bounds, loss, delta, max_iter,
                                                      *groups, kind.along_steps, kind.widens_beyond)
        if held.get("unscored"):
            result.warnings.append(f"{held['unscored']} {held['by']} group(s) could not be left out and predicted "
                                   "(too few points left, or the refit predicts no positive value): a new run's "
                                   f"scatter is measured on the other {held['groups']}")
    if bootstrap:
        _bootstrap(result, law, kind.resample, X, y, runs, polished, bounds, bootstrap, seed, level, max_iter,
                   fit_loss, bootstrap_seconds, progress)
    return result


# Groups (model sizes, runs, batch sizes) needed to measure a new run's scatter by leaving each
# out. Derived: with 3 groups the scatter has 2 degrees of freedom and Student's t is 2.2 times
# the normal quantile (4.30 against 1.96 at 95 %), an interval that says little; with 4, 1.6 times.
MIN_HELD_OUT = 4
# Where each refit without a group starts: "full fit" (the fit on every group's optimum), "grid"
# (the law's own starts) or "best start" (the grid's best start on the rest alone); compared by
# benchmarks/bench_held_out_start.py.
HELD_OUT_START = "full fit"


def _held_out(law, X, y, runs, theta, bounds, loss, delta, max_iter, by, labels, along_steps,
              grows) -> dict[str, Any]:
    """The law's error on runs it was not fitted on: for each group of points (``labels``: a
    model, a model size, a batch size; ``design.held_out_groups`` says which), with at least
    ``MIN_HELD_OUT`` of them, a refit without its points (started as ``HELD_OUT_START`` says) predicts
    them. ``sigma`` is the RMS of the log errors: of each point for sizes, of averages over
    blocks of consecutive points along curves (``along_steps``: the curve's misfit, not its
    step-to-step noise). With ``grows`` (size laws, whose new-run scatter grows with how far
    beyond the fitted sizes a prediction lies: ``FitResult.predict_interval``), the error of a
    left-out run beyond the others' sizes is divided by ``1 + ln`` of how far beyond. ``mape``:
    each group's MAPE (percent); ``groups``: how many were scored. A group whose removal leaves
    the law no more points than parameters, or whose prediction is not a positive number, is not
    scored (``unscored`` counts them). Empty below ``MIN_HELD_OUT`` scored groups."""
    every = list(dict.fromkeys(labels))  # in the data's order
    values = [v for v in every if np.sum(labels != v) > len(theta)]
    if len(values) < MIN_HELD_OUT:
        return {}
    sizes = {k: v for k, v in X.items() if k in law.inputs and np.ndim(v) == 1}
    errors, mapes, unscored = [], {}, len(every) - len(values)
    for value in values:
        out = labels == value
        Xi, yi = {k: v[~out] for k, v in X.items()}, y[~out]
        res = (optimise.minimise(law, Xi, yi, theta, bounds, loss, delta, max_iter) if HELD_OUT_START == "full fit"
               else optimise.from_starts(law, Xi, yi, bounds, loss, delta, max_iter,
                                         keep=1 if HELD_OUT_START == "best start" else None)[0])
        pred = np.asarray(law({k: v[out] for k, v in X.items()}, **law.from_theta(res.x)), dtype=float)
        if not np.all(np.isfinite(pred) & (pred > 0)):
            unscored += 1
            continue
        r = np.log(pred) - np.log(y[out])
        if grows:  # the error of a run beyond the others' sizes, brought back to one at their edge
            rest = {k: (float(v[~out].min()), float(v[~out].max())) for k, v in sizes.items()}
            r = r / (1 + np.log(design.beyond(rest, {k: v[out] for k, v in sizes.items()})))
        if along_steps:
            blocks = np.unique(_step_blocks(runs[out]), return_inverse=True)[1]
            r = np.bincount(blocks, r) / np.bincount(blocks)
        errors.append(r)
        mapes[str(value)] = quality.mape(pred, y[out])
    if len(errors) < MIN_HELD_OUT:
        return {}
    sigma = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    return {"by": by, "sigma": sigma, "mape": mapes, "groups": len(errors), **({"unscored": unscored} if unscored else {})}


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


def _covariance(law, X, y, theta, blocks=None) -> np.ndarray | None:
    """Gauss-Newton covariance ``s^2 (J^T J)^-1`` of the optimiser's coordinates, with J the
    Jacobian of the log residuals and ``s^2 = sum r^2 / (n - p)``; None where it does not exist.
    With ``blocks``, the block-robust (sandwich) covariance ``H^-1 (sum_b g_b g_b^T) H^-1`` with
    ``g_b = J_b^T r_b`` instead, when it is the larger (residuals correlated along a curve)."""
    n, p = len(y), len(theta)
    if n <= p:
        return None
    J = optimise.residual_jacobian(law, X, theta)
    r = optimise.log_residuals(theta, law, X, y)
    JTJ = J.T @ J
    if not np.all(np.isfinite(JTJ)) or np.linalg.cond(JTJ) > 1e14:
        return None
    inv = np.linalg.inv(JTJ)
    rows = X.get(summary.BIN_ROWS)
    if rows is not None:  # a summary's bins: the residual variance of the rows summarised
        n = int(rows.sum())
        if n <= p:
            return None
    # (r is weighted by sqrt(rows): r @ r is the bins' part of the rows' sum of squares)
    cov = inv * (r @ r + (0.0 if rows is None else X[summary.BIN_SS].sum())) / (n - p)
    labels = None if blocks is None else np.unique(blocks, return_inverse=True)[1]
    if labels is not None and labels.max() + 1 >= 2 * p:
        nb = labels.max() + 1
        g = np.zeros((nb, p))
        np.add.at(g, labels, J * r[:, None])
        robust = inv @ (g.T @ g) @ inv * nb / (nb - 1)
        if np.all(np.isfinite(robust)) and np.all(np.diag(robust) > np.diag(cov)):
            cov = robust
    return cov if np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0) else None


LONG_BOOTSTRAP = 60.0  # seconds: a bootstrap expected to take longer says so in the warnings


def _bootstrap(result: FitResult, law: Law, resample: str, X, y, runs, theta, bounds, B, seed, level, max_iter,
               loss, seconds=None, progress=False) -> None:
    """Refit on ``B`` resamples: with ``resample="blocks"`` (schedule laws), blocks of consecutive
    steps within each run (a moving-block bootstrap: correlated misfit along a curve stays
    together); otherwise whole runs when there are several, points when there is one. Stops when ``seconds`` are
    spent; ``progress``: a tqdm bar on stderr. ``law``: the law over the parameters that vary
    (``theta``, ``bounds``); the samples are of the whole law (``result.law``), held ones as held.
    ``loss``: the fit's own (least squares on a summary's bins)."""
    delta = result.options["delta"]
    rng = np.random.default_rng(seed)
    labels = np.unique(runs)
    by_run = [np.flatnonzero(runs == r) for r in labels] if len(labels) > 1 else None
    samples, failed, done = [], 0, 0
    refits = bar(range(B), "bootstrap", "refit", progress)
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
        times = None
        if resample == "blocks" and summary.BIN_ROWS in X:  # a summary: its rows resampled, bins reweighted
            times = np.concatenate([_block_reweight(X[summary.BIN_ROWS][runs == r], rng) for r in labels])
            idx = np.flatnonzero(times > 0)
        elif resample == "blocks":
            idx = np.concatenate([_block_resample(np.flatnonzero(runs == r), rng) for r in labels])
        elif by_run is not None:
            idx = np.concatenate([by_run[i] for i in rng.integers(0, len(by_run), len(by_run))])
        else:
            idx = rng.integers(0, len(y), len(y))
        Xb = {k: v[idx] for k, v in X.items()}
        if times is not None:
            Xb.update({summary.BIN_ROWS: times[idx], summary.WEIGHT: np.sqrt(times[idx])})
        res = optimise.minimise(law, Xb, y[idx], theta, bounds, loss, delta, max_iter)
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


def _step_blocks(runs, rows=None) -> np.ndarray:
    """A label per point: each run cut into ``BLOCKS_PER_RUN`` blocks of consecutive points; of
    consecutive logged rows where the points are a summary's bins (``rows``: each bin's), so
    that the blocks are those of the rows summarised."""
    labels = np.empty(len(runs), dtype=np.int64)
    for i, r in enumerate(np.unique(runs)):
        idx = np.flatnonzero(runs == r)
        if rows is None:
            labels[idx] = i * BLOCKS_PER_RUN + np.arange(len(idx)) * BLOCKS_PER_RUN // len(idx)
        else:  # the block of each bin's middle row
            ends = np.cumsum(rows[idx])
            labels[idx] = i * BLOCKS_PER_RUN + np.minimum(
                ((ends - rows[idx] / 2) * BLOCKS_PER_RUN // ends[-1]).astype(np.int64), BLOCKS_PER_RUN - 1)
    return labels


def _block_resample(idx: np.ndarray, rng) -> np.ndarray:
    """A moving-block resample of one run's points ``idx`` (kept in step order): blocks of
    ``len / BLOCKS_PER_RUN`` consecutive points drawn with replacement, wrapping around."""
    n = len(idx)
    width = max(1, n // BLOCKS_PER_RUN)
    starts = rng.integers(0, n, -(-n // width))
    picks = (starts[:, None] + np.arange(width)[None, :]).ravel()[:n] % n
    return idx[np.sort(picks)]


def _block_reweight(rows: np.ndarray, rng) -> np.ndarray:
    """How many times the rows of each bin of one run's summary (``rows``: each bin's, in step
    order) are drawn by a moving-block resample of those rows, as ``_block_resample`` draws
    them from a run fitted on every row: blocks of ``n / BLOCKS_PER_RUN`` consecutive rows, with
    replacement, wrapping around, the first ``n`` rows drawn kept."""
    n = int(rows.sum())
    width = max(1, n // BLOCKS_PER_RUN)
    count = -(-n // width)
    starts = rng.integers(0, n, count).astype(float)
    lengths = np.full(count, float(width))
    lengths[-1] = n - width * (count - 1)
    # each block [start, start + length) in row space, split where it wraps past the last row
    ends = starts + lengths
    a = np.concatenate([starts, np.zeros(count)])
    b = np.concatenate([np.minimum(ends, n), np.maximum(ends - n, 0.0)])
    edges = np.concatenate([[0.0], np.cumsum(rows)])
    covered = np.clip(edges[:, None] - a[None, :], 0.0, (b - a)[None, :]).sum(axis=1)  # rows drawn below each edge
    return np.rint(np.diff(covered))


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
