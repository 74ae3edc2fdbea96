"""Analyses built on fits (the laws never import the engine; these do):

- ``compare``: fit several step laws on the same logs and score each on logs it did not see
  (MAPE over the curve and error at its final step);
- ``versus_total``: the encoder/decoder law against one power law in Ne + Nd;
- ``compute_optimal``: the loss frontier over compute and ``N_opt(C) = k * C^beta`` from the
  learning curves of several model sizes;
- ``isoflop``: Chinchilla's approach 2, a parabola in log N per compute budget, then
  ``N_opt = k_N C^a`` and ``D_opt = k_D C^b`` across budgets, beside approach 3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .quality import mape as error, row_abs_mean
from .errors import InputError
from .intervals import check_level, combine, z_of
from .auto import fit
from .engine import DELTA
from .laws import Law, design, get_law, summary
from .laws.bivariate import FLOPS_PER_PARAM_TOKEN, tokens_from_compute
from .laws.power import POWER
from .progress import bar


def compare(laws: Iterable[Law | str], train: pd.DataFrame, held_out: Mapping[str, pd.DataFrame],
            **fit_kwargs: Any) -> dict[str, Any]:
    """Fit each law on ``train`` and predict each held-out curve from its logged LR.

    Args:
        laws: step laws (or their names), and ``"auto"``: the step law and conventions that
            ``scalelaw.fit("auto")`` chooses (``chosen`` says which).
        train: tidy frame with ``run``, ``step``, ``y``, ``lr`` (``scalelaw.load_runs``).
        held_out: curve name -> tidy frame with ``step``, ``y``, ``lr`` (and the law's other
            inputs, e.g. ``N`` for ``annealing_size``).
        **fit_kwargs: passed to ``scalelaw.fit`` (e.g. ``loss``, ``delta``, ``step_min``). The
            held-out curves are scored from the step each fit starts at (``fitted_from_step``:
            the initial transient is outside every law's domain), under the LR of all their rows.

    Returns:
        dict with ``laws``, ``curves``, ``mape`` and ``final_error`` (law -> curve -> percent),
        ``mean_mape`` and ``max_final_error`` (law -> percent), ``converged`` (law -> bool),
        ``params`` (law -> dict), ``best`` (the law with the lowest mean MAPE among converged
        fits), ``chosen`` (with ``"auto"``: the law it chose) and ``fits`` (law -> FitResult;
        the one key that is not plain JSON).
    """
    laws = [law if law == "auto" else get_law(law) if isinstance(law, str) else law for law in laws]
    names = [law if law == "auto" else law.name for law in laws]
    out: dict[str, Any] = {"laws": names, "curves": list(held_out), "mape": {},
                           "final_error": {}, "mean_mape": {}, "max_final_error": {}, "converged": {},
                           "params": {}, "fits": {}}
    quiet = {k: v for k, v in fit_kwargs.items() if k != "progress"}
    for name, law in bar(list(zip(names, laws)), "compare: fitting", "law", fit_kwargs.get("progress", False)):
        result = fit(law, train, **quiet)
        law = result.law
        if name == "auto":
            out["chosen"] = result.options["auto"]["chosen"]
        mape, final = {}, {}
        start = result.options.get("fitted_from_step") or 0
        for curve, g in held_out.items():
            # a long held-out curve is scored on its summary, as the fits are (the same bins, rule and loss)
            points = _summarised(g, start, fit_kwargs)
            scored = points[points["step"] >= start]
            if scored.empty:
                raise InputError(f"held-out curve '{curve}': no step at or after {start}, where the fit starts")
            steps, y = scored["step"].to_numpy(int), scored["y"].to_numpy(float)
            lr = summary.schedule_log(points, points["run"].iloc[0]) if summary.BIN_ROWS in points else (
                g["step"].to_numpy(int), g["lr"].to_numpy(float))
            pred = result.predict(steps, lr, **law.run_inputs(g))
            mape[curve] = error(pred, y) if summary.BIN_ROWS not in scored else 100 * row_abs_mean(
                (pred - y) / y, {k: scored[k].to_numpy(float) for k in (summary.BIN_ROWS, summary.BIN_SS)})
            final[curve] = error(pred[-1:], y[-1:])
        out["mape"][name], out["final_error"][name] = mape, final
        out["mean_mape"][name] = float(np.mean(list(mape.values())))
        out["max_final_error"][name] = float(max(final.values()))
        out["converged"][name] = bool(result.converged)
        out["params"][name] = result.params
        out["fits"][name] = result
    ok = [name for name in out["laws"] if out["converged"][name]] or out["laws"]
    out["best"] = min(ok, key=lambda name: out["mean_mape"][name])
    return out


def _summarised(curve: pd.DataFrame, start: float, fit_kwargs: Mapping[str, Any]) -> pd.DataFrame:
    """A held-out curve as ``compare`` scores it: its rows, or, where a fit would summarise it
    (``design.Schedule.summary``, with the fits' ``summarise`` and loss), its summary's bins."""
    if fit_kwargs.get("summarise") is False:
        return curve
    kind = design.of(get_law("annealing"))
    points = kind.summary(kind.table(curve), start, fit_kwargs.get("summarise"),
                          summary.location_delta(fit_kwargs.get("loss", "huber"), fit_kwargs.get("delta", DELTA)))
    return points if summary.BIN_ROWS in points else curve


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


MIN_SIZES_PER_BUDGET = 3  # a parabola in log N needs three sizes


CLEAR_JUMP = 4.0  # isoflop: jumps in sorted log C this many times the next smaller are the budgets' edges


def isoflop(runs: pd.DataFrame, level: float = 0.95, chinchilla: bool = True, tolerance: float = 0.05,
            progress: bool = False) -> dict[str, Any]:
    """Chinchilla's approach 2: per compute budget, a parabola of the loss in log N and its
    minimum; then ``N_opt = k_N C^a`` and ``D_opt = C / (6 N_opt) = k_D C^b`` across budgets.

    Args:
        runs: one row per run with ``N`` (parameters), ``C`` (training FLOPs; or ``D``, tokens,
            and then ``C = 6 N D``) and ``y`` (final loss).
        tolerance: runs whose budgets agree to within this relative difference (5 % by
            default: a ladder's step counts are rounded) are one budget; where the jumps between
            sorted budgets above it fall in two clear groups (``CLEAR_JUMP``), only the larger
            ones part budgets (a FLOP count with attention spreads one planned budget by width).
            Give each run its planned budget as ``C`` (a sweep's ``budget`` column) to group by it
            exactly.
        level: level of the intervals on the exponents and on each budget's ``n_opt``.
        chinchilla: also fit the ``chinchilla`` law to the same points (approach 3) and report
            its exponents beside (``progress``: a bar over its starts on stderr).

    Returns:
        dict with ``n_opt_exponent``, ``d_opt_exponent`` (``b = 1 - a``), their ``_ci``,
        ``warnings`` (an exponent whose interval is wider than its value says little),
        ``k_n``, ``k_d``, ``level``, ``budgets`` (each with ``c``, ``n_opt`` and its ``_lower``/
        ``_upper``, ``loss_min``, ``sizes``, ``interior``, and ``reason`` when a budget is
        left out: fewer than 3 sizes, a parabola that opens downwards, or a minimum outside the
        sampled sizes) and ``approach3`` (the chinchilla fit's exponents and status).

    Raises:
        InputError: a column missing, or fewer than two budgets with an interior minimum.
    """
    frame = runs.copy()
    if "C" not in frame.columns and {"N", "D"} <= set(frame.columns):
        frame["C"] = FLOPS_PER_PARAM_TOKEN * frame["N"] * frame["D"]
    for col in ("N", "C", "y"):
        if col not in frame.columns:
            raise InputError(f"isoflop: needs columns N, C (or D) and y; missing {col}")
        if not np.all(np.isfinite(frame[col]) & (frame[col] > 0)):
            raise InputError(f"isoflop: column '{col}' must hold positive numbers")
    if "D" not in frame.columns:
        frame["D"] = tokens_from_compute(frame["N"], frame["C"])
    z = z_of(level)
    if not 0 < tolerance < 1:
        raise InputError(f"isoflop: tolerance must lie between 0 and 1, got {tolerance}")
    log_c = np.log(frame["C"].to_numpy(float))
    order = np.argsort(log_c)
    gaps = np.diff(log_c[order])
    # a new budget where the sorted budgets jump by more than the tolerance; and where the jumps
    # above it fall in two clear groups (the next larger jump CLEAR_JUMP times the one before),
    # only at the larger ones: an attention-counting FLOP column spreads one planned budget over
    # 8-31 % by width in steps of up to 8 % (our ladder, budgets 3x apart), which the tolerance
    # alone split into many
    cut = np.log1p(tolerance)
    big = np.sort(gaps[gaps > cut])
    if len(big) > 1 and np.max(big[1:] / big[:-1]) >= CLEAR_JUMP:
        cut = big[int(np.argmax(big[1:] / big[:-1]))]
    key = np.empty(len(log_c), dtype=np.int64)
    key[order] = np.cumsum(np.r_[0, gaps > cut])
    budgets = []
    for _, g in frame.groupby(key, sort=True):
        c = float(np.exp(np.mean(np.log(g["C"]))))
        x, y = np.log(g["N"].to_numpy(float)), np.log(g["y"].to_numpy(float))
        entry = {"c": c, "sizes": int(len(np.unique(x))), "interior": False, "n_opt": None,
                 "loss_min": float(np.exp(y.min()))}
        if entry["sizes"] < MIN_SIZES_PER_BUDGET:
            budgets.append({**entry, "reason": f"{entry['sizes']} size(s): a parabola needs 3"})
            continue
        (a2, a1, a0), cov = np.polyfit(x, y, 2, cov="unscaled" if len(x) == 3 else True)
        if not a2 > 0:
            budgets.append({**entry, "reason": "the loss does not curve upwards in log N: no minimum"})
            continue
        x_opt = -a1 / (2 * a2)
        grad = np.array([a1 / (2 * a2**2), -1 / (2 * a2), 0.0])  # d x_opt / d (a2, a1, a0)
        se = float(np.sqrt(max(grad @ cov @ grad, 0.0))) if len(x) > 3 else np.nan
        entry.update(n_opt=float(np.exp(x_opt)), loss_min=float(np.exp(a0 + a1 * x_opt + a2 * x_opt**2)),
                     n_opt_se_log=se)
        if not x.min() < x_opt < x.max():
            budgets.append({**entry, "reason": f"the minimum (N = {np.exp(x_opt):.3g}) lies outside the sampled "
                                               f"sizes ({np.exp(x.min()):.3g} to {np.exp(x.max()):.3g})"})
            continue
        entry["interior"] = True
        if np.isfinite(se):
            entry["n_opt_lower"], entry["n_opt_upper"] = float(np.exp(x_opt - z * se)), float(np.exp(x_opt + z * se))
        budgets.append(entry)
    used = [b for b in budgets if b["interior"]]
    if len(used) < 2:
        raise InputError(f"isoflop: {len(used)} of {len(budgets)} budget(s) have an interior minimum; two or more "
                         "are needed (sample sizes on both sides of each budget's best)")
    lc = np.log([b["c"] for b in used])
    ln = np.log([b["n_opt"] for b in used])
    if len(used) > 2:
        reg = stats.linregress(lc, ln)
        a, a_se, intercept = float(reg.slope), float(reg.stderr), float(reg.intercept)
        t = stats.t.ppf(0.5 + level / 2, len(used) - 2)
        a_ci = (float(a - t * a_se), float(a + t * a_se))
    else:
        a = float((ln[1] - ln[0]) / (lc[1] - lc[0]))
        intercept, a_ci = float(ln[0] - a * lc[0]), (None, None)
    warnings = []
    if a_ci[0] is not None and a_ci[1] - a_ci[0] > abs(a):
        warnings.append(f"the exponent's {100 * level:.0f} % interval [{a_ci[0]:.3g}, {a_ci[1]:.3g}] is wider than "
                        f"the exponent itself ({a:.3g}): these {len(used)} budgets do not determine it (add budgets, "
                        "or sizes on both sides of each budget's best)")
    elif a_ci[0] is None:
        warnings.append("two budgets with an interior minimum: the exponent has no interval (add budgets)")
    out = {"n_opt_exponent": a, "d_opt_exponent": 1.0 - a, "n_opt_exponent_ci": a_ci, "warnings": warnings,
           "d_opt_exponent_ci": tuple(None if v is None else 1.0 - v for v in a_ci[::-1]),
           "k_n": float(np.exp(intercept)), "k_d": float(np.exp(-intercept) / FLOPS_PER_PARAM_TOKEN), "level": level,
           "budgets": budgets, "tolerance": tolerance,
           "flops": "C = 6 N D" if "C" not in runs.columns else "as given"}
    if chinchilla:
        result = fit("chinchilla", frame[["N", "D", "y"]], progress=progress)
        out["approach3"] = {"status": result.status, **{k: result.derived[k] for k in
                                                         ("n_opt_exponent", "d_opt_exponent")}}
    return out


def chain(accuracy_fit, loss_fit, inputs: Mapping[str, Any], level: float = 0.95) -> dict[str, Any]:
    """The two steps of a model ladder: the loss of ``loss_fit`` (a size law: ``power``,
    ``chinchilla``, ...) at ``inputs`` (role -> values, as for its ``predict``), then the
    accuracy of ``accuracy_fit`` (``downstream``) at that loss, with an interval through both
    steps: the accuracy's own at the predicted loss and the loss interval carried through the
    accuracy curve's slope there, added in quadrature (the two fits' errors are independent; to
    first order in the loss's).

    Returns a dict of arrays: ``loss``, ``loss_lo``, ``loss_hi`` (the first step, a new run's
    interval), ``accuracy``, ``lo``, ``hi`` (a new model's accuracy, through both steps),
    ``mean_lo``, ``mean_hi`` (the mean curves' band through both steps: the parameters'
    uncertainty alone), ``accuracy_only_lo``/``_hi`` (the second step's new-run interval at the
    predicted loss, as if the loss were measured), ``interval`` (``"new_run"``) and ``level``.
    """
    if accuracy_fit.law.predicts != "accuracy":
        raise InputError(f"chain: the first fit must predict an accuracy (law downstream), not '{accuracy_fit.law.name}'")
    if loss_fit.law.predicts != "loss" or loss_fit.law.step_law:
        raise InputError(f"chain: the loss fit must be a size law (power, chinchilla, ...), not '{loss_fit.law.name}'")
    check_level(level)
    loss = np.asarray(loss_fit.predict(inputs), dtype=float)
    X = {"x": loss}
    acc = np.asarray(accuracy_fit.predict(X), dtype=float)
    step = 1e-4 * np.maximum(np.abs(loss), 1.0)
    slope = (accuracy_fit.predict({"x": loss + step}) - accuracy_fit.predict({"x": loss - step})) / (2 * step)
    out = {"loss": loss, "accuracy": acc}
    for of, keys in (("run", ("lo", "hi")), ("mean", ("mean_lo", "mean_hi"))):
        loss_band = loss_fit.predict_interval(inputs, level=level, of=of)
        band = accuracy_fit.predict_interval(X, level=level, of=of)
        if loss_band is None or band is None:
            which = "loss" if loss_band is None else "accuracy"
            raise InputError(f"chain: the {which} fit has no interval (no covariance or bootstrap)")
        own, carried = (band[1] - band[0]) / 2, np.abs(slope) * (loss_band[1] - loss_band[0]) / 2
        out.update(zip(keys, combine(acc, [own, carried], floor=0.0, ceiling=1.0)))
        if of == "run":
            out.update({"loss_lo": loss_band[0], "loss_hi": loss_band[1],
                        "accuracy_only_lo": band[0], "accuracy_only_hi": band[1]})
    return {**out, "interval": "new_run", "level": level}
