"""References: finished runs (other model sizes, earlier runs, with their own schedules) that
lend a short curve what it cannot identify, the loss drop bought by LR decay.

Each candidate law of ``scalelaw.auto`` is first fitted on the references (``reference_fit``),
and its decay parameters (``law.decay_params``: how much the loss drop of LR decay is worth,
and how it unfolds) are held at those values while the rest (level, scale and exponent of the
LR-area power law) is fitted on the user's runs. Measured on the curves of Luo et al.
(benchmarks/bench_forecast.py), that holds the final loss of a 72k-step run within 1 % from its
first 20 %, where a free fit can be off by several percent. The loss drop of decay carries a
relative error ``TRANSFER`` (what it is worth differs between model sizes). References of two
model sizes or more (runs of one size are told apart by their level) lend the decay scale at
the level of the user's runs, from its trend across the sizes (``decay_at_level``: what decay
buys grows with model size), with the spread between the sizes added to its error. Once the
user's runs have decayed their LR by ``OWN_DECAY`` (85 %) and identify the decay term
themselves (``identifies_itself``), a candidate uses their own and the references are left
unused.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Mapping

import numpy as np
import pandas as pd

from . import schedules
from .errors import InputError
from .forecast import MIN_DECAY, decay_seen
from .laws import Law
from .prior import fit_law
from .result import FitResult

# Relative error of a decay term taken from reference runs (1 sd): the loss drop of LR decay is
# not the same for every model size. On the curves of Luo et al., the annealing law's C fitted
# on the 72k-step runs is 0.333 at 25M and 0.426 at 100M (28 % higher), while A and alpha are 7 %
# and 3 % apart; benchmarks/bench_forecast.py measures the effect on the intervals.
TRANSFER = 0.25
# A run with references takes its own decay term once its LR has fallen by this much. With
# MIN_DECAY (30 %) instead, on the forecast suite, cosine runs seen to 40-60 % (LR down 35-65 %)
# that took their own were off by 2-95 % (Markov, text and synthetic families) where the
# references' term kept them within 1.6 %; at the end of a cosine (LR down 90 %) the run's own is
# exact where the references' left Luo et al.'s 100M run 0.4 % off (notebook 02). Not tuned
# between: the suite forecasts from at most 60 % seen.
OWN_DECAY = 0.85


def frame_of(references) -> pd.DataFrame:
    """``references`` (a tidy frame with ``run``, ``step``, ``y``, ``lr``, or a list of them) as
    one frame."""
    if isinstance(references, (list, tuple)):
        parts = [r.assign(run=r["run"] if "run" in r else f"reference {i}") for i, r in enumerate(references)]
        references = pd.concat(parts, ignore_index=True)
    if not isinstance(references, pd.DataFrame) or not {"step", "y", "lr"} <= set(references.columns):
        raise InputError("references: give finished runs as a frame with step, y (loss) and lr columns")
    return references if "run" in references else references.assign(run="reference")


# (law, options, fit settings, data hash) -> fit, the most recently used last: a watched run
# refits often with the same references; at most REFERENCE_FITS_KEPT are kept
_REFERENCE_FITS: OrderedDict = OrderedDict()
REFERENCE_FITS_KEPT = 8


def identifies_itself(law: Law, frame: pd.DataFrame, start, options, kwargs) -> bool:
    """Whether the logs alone identify the law's decay term well enough to prefer it to the
    references': their LR fell by ``OWN_DECAY`` or more after ``start`` and the law fitted on
    them alone determines its decay scale. Then a forecast uses the run's own decay term (what
    decay buys differs between model sizes; a run that has finished its decay says what it buys
    it)."""
    fitted = frame if start is None else frame[frame["step"] >= start]
    if decay_seen(fitted) < OWN_DECAY:
        return False
    try:
        return fit_law(law, frame, options=options, **{k: v for k, v in kwargs.items() if k != "prior"}).identified
    except InputError:
        return False


def lend(law: Law, options, refs, kwargs) -> tuple[dict | None, FitResult | None]:
    """The law's decay parameters fitted on the reference runs, and that fit: ``({}, None)``
    without references; ``({}, fit)`` when the references do not identify the decay term (they
    decayed too little: the candidate takes its decay term from the logs or the prior, and the
    references' exponent enters as an alternative); ``(None, fit)`` when the law could not be
    fitted on them at all (the candidate is skipped)."""
    if refs is None or not law.decay_params:
        return {}, None
    key = (law.name, json.dumps([options, kwargs], sort_keys=True, default=repr),
           int(pd.util.hash_pandas_object(refs, index=False).sum()))
    if key not in _REFERENCE_FITS:
        _REFERENCE_FITS[key] = reference_fit(law, refs, options, kwargs)
        while len(_REFERENCE_FITS) > REFERENCE_FITS_KEPT:
            _REFERENCE_FITS.popitem(last=False)
    _REFERENCE_FITS.move_to_end(key)
    ref_fit = _REFERENCE_FITS[key]
    if not ref_fit.converged:
        return None, ref_fit
    if not ref_fit.identified or ref_fit.status != "converged":
        return {}, ref_fit  # no decay term to lend (constant-LR references): their exponent only
    return {k: ref_fit.params[k] for k in law.decay_params}, ref_fit


DECAY_FROM = {  # where a candidate's decay term comes from (for_candidate), in the words of the report
    "references": "the references",
    "logs": "the logs (they identify it; the references are not used)",
    "prior": "the logs or the prior (the references show too little LR decay to lend it; they lend their exponent)",
}


def for_candidate(law: Law, options, refs, ref_kwargs, frame: pd.DataFrame, start, kwargs):
    """What the references lend candidate ``law`` (with ``options``) for the user's runs
    (``frame``, fitted from ``start`` with ``kwargs``): ``(fixed, ref_fit, source, trend)``,
    the decay parameters to hold (empty: none; None: the law could not be fitted on the
    references, ``ref_fit`` says why), the fit on the references, where the decay term comes
    from (a key of ``DECAY_FROM``), and the record of its trend across sizes
    (``decay_at_level``) or None."""
    fixed, ref_fit = lend(law, options, refs, ref_kwargs)
    if fixed is None:
        return None, ref_fit, None, None
    own_decay = bool(fixed) and identifies_itself(law, frame, start, options, kwargs)
    if own_decay:  # the logs have decayed enough to tell what decay buys them: their own term
        fixed = {}
    trend = None
    if fixed and "decay_trend" in ref_fit.options:  # the decay scale at the logs' level
        scale = law.decay_params[0]
        provisional = {**fixed, scale: float(np.exp(np.mean(np.log(
            [p[scale] for p in ref_fit.options["decay_trend"]["params"]]))))}
        try:
            user = fit_law(law, frame, options=options, fixed=provisional, **kwargs)
            value, trend = decay_at_level(law, ref_fit.options["decay_trend"], user, frame)
            fixed = {**fixed, scale: value}
        except InputError:
            trend = None
    return fixed, ref_fit, "references" if fixed else "logs" if own_decay else "prior", trend


# How much lower the AIC must be for reference runs to keep their own levels. Derived from the
# usual reading of AIC differences (Burnham and Anderson 2002, section 2.6): above 10, the model
# with the higher AIC has essentially no support; below it, the shared level is kept, as simpler.
SEPARATE_LEVELS_AIC = 10.0


def reference_fit(law: Law, refs: pd.DataFrame, options, kwargs) -> FitResult:
    """The law fitted on the reference runs, with one level and scale for all of them, or with
    each run's own (``Law.per_group``: runs of other model sizes differ in both) and the rest,
    the decay term with it, shared. The runs keep their own when the shared fit does not identify
    the decay term or does not converge, or when their own lower its AIC by more than
    ``SEPARATE_LEVELS_AIC`` (runs of one size share a level, and sharing it narrows the
    forecast). Measured on the curves of Luo et al. (benchmarks/bench_forecast.py, and 48 early
    forecasts with references of the same size, the other, or both): references of two sizes,
    refused with one shared level, now identify the decay term."""
    shared = fit_law(law, refs, options=options, **kwargs)
    runs = list(refs["run"].unique())
    if len(runs) < 2 or law.area_param is None:
        return shared
    grouped = refs.assign(group=refs["run"].map({r: i for i, r in enumerate(runs)}).astype(float))
    own = fit_law(law.per_group(len(runs)), grouped, options=options, **kwargs)
    usable = shared.identified and shared.status == "converged"
    if usable and not own.metrics["aic"] < shared.metrics["aic"] - SEPARATE_LEVELS_AIC:
        return shared
    own.options["reference_levels"] = f"each of the {len(runs)} reference runs its own level and scale"
    trend = _decay_per_run(law, own, refs, runs, options, kwargs)
    if trend is not None:
        own.options["decay_trend"] = trend
    return own


MIN_SPAN = 0.02  # the spread of log levels across reference runs below which no trend is fitted


def _decay_per_run(law: Law, own: FitResult, refs: pd.DataFrame, runs: list, options, kwargs) -> dict | None:
    """The decay scale (``law.decay_params[0]``) of each model size among the reference runs,
    for its trend with the loss level (``decay_at_level``). Runs are one size when their losses
    without decay at a common step of a constant LR (from ``own``, the fit with each run's own
    level and scale) lie within ``MIN_SPAN`` of each other in log (a constant and a cosine run
    of one model); the law is fitted again with each size's own level, scale and decay scale
    (held at 0 for a size whose runs' LR fell by less than ``MIN_DECAY``), the rest shared.
    Returns ``{"runs": [[run, ...] per decayed size], "params": [{name: value} per decayed
    size], "shared": {...}}``; None with fewer than two decayed sizes, when the decay scale
    of one is not determined (standard error above its value), or for a law whose decay term
    has parameters of its own shape (the multipower law: its B so taken put the final loss of
    Luo et al.'s 400M cosine run, forecast from 20 %, 3.0 % off, against 0.2 % with B shared)."""
    scale, level0 = law.decay_params[0], law.params[0].name
    if len(law.decay_params) > 1:  # a decay term with a shape of its own (multipower): not measured, left shared
        return None
    inputs = own.inputs([int(refs.groupby("run")["step"].max().min())], _held_at_peak(refs), _law=law, _options=options)
    shared = {k: v for k, v in own.params.items() if "@" not in k}
    levels = np.log([float(law(inputs, **{**shared, scale: 0.0, level0: own.params[f"{level0}@{i}"],
                                          law.area_param: own.params[f"{law.area_param}@{i}"]})[0])
                     for i in range(len(runs))])
    if not np.all(np.isfinite(levels)):
        return None
    order, size = np.argsort(levels), np.zeros(len(runs), dtype=int)
    for previous, i in zip(order[:-1], order[1:]):  # runs within MIN_SPAN of the last are that size
        size[i] = size[previous] + int(levels[i] - levels[previous] >= MIN_SPAN)
    members = [[runs[i] for i in range(len(runs)) if size[i] == k] for k in range(size.max() + 1)]
    decayed = [k for k, names in enumerate(members)
               if decay_seen(refs[refs["run"].isin(names)]) >= MIN_DECAY]
    if len(decayed) < 2:
        return None
    grouped = refs.assign(group=refs["run"].map(dict(zip(runs, size))).astype(float))
    held = {f"{scale}@{k}": 0.0 for k in range(len(members)) if k not in decayed}
    try:
        fit = fit_law(law.per_group(len(members), decay=True), grouped, options=options, fixed=held, **kwargs)
    except InputError:
        return None
    out = {"runs": [], "params": [], "shared": {k: v for k, v in fit.params.items() if "@" not in k}}
    for k in decayed:
        value, se = fit.params[f"{scale}@{k}"], fit.stderr.get(f"{scale}@{k}")
        if not (fit.converged and value > 0 and se is not None and np.isfinite(se) and se < value):
            return None
        out["runs"].append([str(r) for r in members[k]])
        out["params"].append({name: fit.params[f"{name}@{k}"] for name in (level0, law.area_param, scale)})
    return out


def _held_at_peak(frame: pd.DataFrame) -> np.ndarray:
    """The per-step LR of the longest run of ``frame`` (``run``, ``step``, ``lr``), held at its
    running maximum: a schedule without decay, on which levels of runs are compared."""
    g = frame[frame["run"] == frame.groupby("run", sort=False)["step"].max().idxmax()]
    return np.maximum.accumulate(schedules.from_log(g["step"].to_numpy(), g["lr"].to_numpy(float)))


def decay_at_level(law: Law, trend: Mapping, user: FitResult, frame: pd.DataFrame) -> tuple[float, dict]:
    """The decay scale for the user's runs from its trend with the loss level across the
    reference runs (what LR decay buys grows with model size on every family of the forecast
    suite, as the loss falls): each run's loss without decay at the user's longest run's last
    fitted step, its schedule held at its peak (``level``), for the references from their own
    level and scale, for the user's runs from ``user`` (a fit with a provisional decay scale);
    log decay scale linear in log level, evaluated at the user's level (no further than one
    span of the references' levels beyond them). Its relative error (``transfer``) adds to
    ``TRANSFER`` the spread of log decay scale between the sizes and how far the trend moves it
    from their mean. On the forecast suite the decay scale so taken for a run of the third
    size, against that size's own (the annealing law, its RMS log ratio over the early
    forecasts of each family), was off by 0.05-0.09 on Luo et al.'s curves (0.06-0.36 with
    the sizes' geometric mean) and by 0.14-1.13 on our trainer's (Markov source, text; 0.19-0.80
    with the mean), where the sizes' own scales do not follow one trend; within 1.96 times
    ``transfer`` in all 60 cases. Returns the scale and a record of how."""
    scale = law.decay_params[0]
    X = [int(user.data.loc[user.data["fitted"], "step"].max())]
    inputs = user.inputs(X, _held_at_peak(frame))

    def level(params) -> float:
        return float(law(inputs, **{**params, scale: 0.0})[0])

    at = level(user.params)
    levels = np.log([level({**user.params, **trend["shared"], **p}) for p in trend["params"]])
    scales = np.log([p[scale] for p in trend["params"]])
    span = float(np.ptp(levels))
    record = {"runs": trend["runs"], "levels": [float(v) for v in np.exp(levels)],
              "scales": [float(v) for v in np.exp(scales)], "level": at}
    if span < MIN_SPAN or not np.isfinite(at) or at <= 0:
        value, slope, how = float(np.mean(scales)), 0.0, "their geometric mean (the sizes' levels are too close for a trend)"
    else:
        slope, intercept = np.polyfit(levels, scales, 1)
        value = float(intercept + slope * np.clip(np.log(at), levels.min() - span, levels.max() + span))
        how = "log decay scale linear in log level across the sizes"
    # its relative error: TRANSFER, the spread between the sizes, and how far the trend takes it from their mean
    transfer = float(np.sqrt(TRANSFER**2 + np.var(scales) + (value - np.mean(scales)) ** 2))
    return float(np.exp(value)), {**record, "slope": float(slope), "how": how, "transfer": transfer}
