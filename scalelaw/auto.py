"""``scalelaw.fit``: a law by name is fitted by the engine from where the curve's initial
transient ends, and a step law's fit gets its forecast record (``scalelaw.forecast``);
``law="auto"`` chooses the step law and its conventions by how well each predicts runs it did
not see, and finished reference runs lend a short curve what it cannot identify.

How ``auto`` chooses. Each candidate (a step law with a warmup convention, ``CANDIDATES``) is
scored by its error on points it was not fitted on:

- several runs: leave one run out (fit on the others, predict the one left out from its LR);
  a fold whose fitting runs show too little LR decay to identify the loss drop of decay
  (``forecast.MIN_DECAY``) is skipped unless references supply it;
- always: a forward split of each run (fit on the first 60 % of the steps of every run, predict
  the rest), which is what forecasting a running job asks of a law, and which leaves a law of
  many parameters (the multi-power law has seven) every run to fit, where leaving a run out
  leaves it two.

A candidate's score is its mean squared relative error, averaged over the two kinds of split.
The forecast combines the candidates (stacking): each gets a weight proportional to the inverse
of its score (those under ``MIN_WEIGHT`` are dropped), each is refitted on everything, and the
forecast is their weighted mean; the heaviest is the law the result reports, the others are
its ``forecast.alternatives`` with their weights, and their weighted spread widens the
interval. On the forecast suite (benchmarks/forecast_suite.py), over 13 families, this lowered
the protocol's mean MAPE where choosing one candidate starved the larger law (Luo et al.'s
100M and 400M curves, our Markov-source runs, the synthetic ones) and raised it on two of the
three byte-level text families. The error scale of the intervals is the weighted RMS of the
held-out errors (at least the in-sample scatter).

References. With finished runs given as ``references`` (other model sizes, earlier runs, with
their own schedules), each candidate is first fitted on them, and its decay parameters
(``law.decay_params``: how much the loss drop of LR decay is worth, and how it unfolds) are held
at those values while the rest (level, scale and exponent of the LR-area power law) is fitted
on the user's runs. Measured on the curves of Luo et al. (benchmarks/bench_forecast.py), that
holds the final loss of a 72k-step run within 1 % from its first 20 %, where a free fit can be
off by several percent. The variant that also takes the exponent from the references enters
the interval as an alternative, and the loss drop of decay carries a relative error
``TRANSFER`` (what it is worth differs between model sizes). Once the user's runs have decayed
their LR by ``OWN_DECAY`` (85 %) and identify the decay term themselves (``_identifies_itself``),
a candidate uses their own and the references are left unused (the JSON's ``decay_from`` says
which).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from . import engine, quality, transient
from .forecast import MIN_DECAY, Alternative, decay_seen, describe
from .prior import Prior, load as load_prior
from .result import FitResult
from .errors import InputError
from .laws import Law, design, get_law

CANDIDATES: tuple[tuple[str, dict], ...] = (
    ("annealing", {"warmup": "peak"}),
    ("annealing", {"warmup": "actual"}),
    ("multipower", {"warmup": "actual"}),
    ("multipower", {"warmup": "actual", "warmup_drops": True}),
)
READS = "annealing"  # the law whose columns law="auto" reads: every candidate reads step, loss and lr
MIN_WEIGHT = 0.02  # candidates of smaller weight (inverse held-out MSE, normalised) are left out
# Relative error of a decay term taken from reference runs (1 sd): the loss drop of LR decay is
# not the same for every model size. On the curves of Luo et al., the annealing law's C fitted
# on the 72k-step runs is 0.333 at 25M and 0.426 at 100M (28 % higher), while A and alpha are 7 %
# and 3 % apart; benchmarks/bench_forecast.py measures the effect on the intervals.
TRANSFER = 0.25
FORWARD = 0.6  # a forward split fits the first 60 % of each run's steps
# A run with references takes its own decay term once its LR has fallen by this much. With
# MIN_DECAY (30 %) instead, on the forecast suite, cosine runs seen to 40-60 % (LR down 35-65 %)
# that took their own were off by 2-95 % (Markov, text and synthetic families) where the
# references' term kept them within 1.6 %; at the end of a cosine (LR down 90 %) the run's own is
# exact where the references' left Luo et al.'s 100M run 0.4 % off (notebook 02). Not tuned
# between: the suite forecasts from at most 60 % seen.
OWN_DECAY = 0.85


def fit(law: Law | str, data, *, references=None, step_min: float | str | None = "auto",
        prior: Any = "default", **kwargs: Any) -> FitResult:
    """Fit ``law`` (a name, a ``Law``, or ``"auto"`` for step logs) to ``data``.

    Args:
        law: as for ``scalelaw.engine.fit``, or ``"auto"``: choose the step law and its warmup
            convention by held-out error (see the module docstring).
        data: as for ``scalelaw.engine.fit``.
        references: step laws: finished runs (a tidy frame with ``run``, ``step``, ``y``,
            ``lr``, or a list of them) whose decay parameters the fit takes over.
        step_min: laws over steps: the first step to fit; ``"auto"`` (default) finds where the
            initial transient of the curve ends (``scalelaw.transient``), None fits every row.
            The result says from where it fitted and why (``options["fitted_from_step"]``).
        prior: step laws: where the logs do not identify the loss drop of LR decay (and no
            references give it), forecasts take it from this prior (``scalelaw.prior``):
            ``"default"`` (the one shipped), a ``Prior``, a path to a prior file, or None (no
            prior: such forecasts carry the whole possible drop in their interval).
        **kwargs: passed to ``scalelaw.engine.fit`` (``options``, ``loss``, ``bootstrap``, ...).
    """
    if isinstance(law, str) and law == "auto":
        return fit_auto(data, references=references, step_min=step_min, prior=prior, **kwargs)
    law = get_law(law) if isinstance(law, str) else law
    if references is None:
        start, why = first_step(law, data, step_min, kwargs.get("options"), kwargs.get("schedules"))
        return _fit(law, data, step_min=start, step_min_why=why, prior=_prior(prior), **kwargs)
    if not law.step_law:
        raise InputError(f"references apply to step laws, not to '{law.name}'")
    options = dict(kwargs.pop("options", None) or {})
    return fit_auto(data, references=references, candidates=[(law.name, options)], step_min=step_min, prior=prior,
                    **kwargs)


def first_step(law: Law, data, step_min: float | str | None, options=None, schedules=None) -> tuple[float | None, str]:
    """The first step ``law`` is fitted from, and why: ``step_min`` when it is a number, found from
    ``data`` when it is ``"auto"`` (``transient.find_start``), None (every row) when None."""
    if step_min is None:
        return None, ""
    if isinstance(step_min, str):
        if step_min != "auto":
            raise InputError(f"step_min must be a number, 'auto' or None, got '{step_min}'")
        if transient.step_column(law, data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))) is None:
            return None, ""
        law = law.for_data(data)
        frame = design.of(law).table(data, law.resolve_options(options))
        start, why = transient.find_start(law, frame, law.resolve_options(options), schedules)
        return start, why
    return step_min, "given (--step-min)"


def fit_auto(data, *, references=None, candidates: Iterable[tuple[str, Mapping]] = CANDIDATES,
             step_min: float | str | None = "auto", prior: Any = "default", **kwargs: Any) -> FitResult:
    """Choose among ``candidates`` (law name, law options) by held-out error and refit the best
    on all of ``data``; the result says what was chosen and why (``options["auto"]``).
    ``step_min`` as for ``fit``: found once, with the annealing law, for every candidate."""
    for key in ("options", "schedules"):
        if kwargs.get(key) is not None:
            raise InputError(f"law 'auto' chooses the law options itself and reads each run's lr column; "
                             f"'{key}' does not apply (name a law to set them)")
        kwargs.pop(key, None)
    frame = design.of(get_law("annealing")).table(data)
    start, why = first_step(get_law("annealing"), frame, step_min)
    refs = None if references is None else _reference_frame(references)
    candidates = [(name, dict(options)) for name, options in candidates]
    kwargs = {**kwargs, "step_min": start, "step_min_why": why}
    quick = {k: v for k, v in kwargs.items() if k != "bootstrap"}
    ref_kwargs = {k: v for k, v in quick.items() if k not in ("step_min", "step_min_why")}
    if refs is not None:  # the references start where their own initial transient ends, as the logs do
        ref_start, ref_why = first_step(get_law(READS), refs, step_min)
        ref_kwargs.update(step_min=ref_start, step_min_why=ref_why)
    folds, split = _folds(frame, refs is not None, start)
    quick["prior"] = kwargs["prior"] = _prior(prior)  # for fits that do not identify the decay term

    scores, skipped = [], []
    for name, options in candidates:
        law = get_law(name)
        fixed, ref_fit = _from_references(law, options, refs, ref_kwargs)
        if fixed is None:
            skipped.append(f"{_label(name, options)}: the law could not be fitted on the references "
                           f"({ref_fit.message or ref_fit.status})")
            continue
        own_decay = bool(fixed) and _identifies_itself(law, frame, start, options, quick)
        if own_decay:  # the logs have decayed enough to tell what decay buys them: their own term
            fixed = {}
        if fixed:
            decay_from = "the references"
        elif own_decay:
            decay_from = "the logs (they identify it; the references are not used)"
        else:
            decay_from = ("the logs or the prior (the references show too little LR decay to lend it; "
                          "they lend their exponent)")
        errors, finals, failed, warm = {}, [], 0, None
        for kind, train, test in folds:
            try:
                r = _fit_fixed(law, train, options, fixed, quick)
            except InputError:
                failed += 1
                continue
            if kind == "forward split":  # fitted on part of every run: where its refit on all starts
                warm = r.params
            for run, g in test.groupby("run", sort=False):
                whole = frame[frame["run"] == run]  # the LR of the whole run, up to the predicted steps
                pred = r.predict(g["step"].to_numpy(int), (whole["step"].to_numpy(), whole["lr"].to_numpy(float)))
                y = g["y"].to_numpy(float)
                errors.setdefault(kind, []).append((pred - y) / y)
                finals.append(quality.mape(pred[-1:], y[-1:]))
        if not errors:
            continue
        by_kind = [np.concatenate(rel) for rel in errors.values()]
        scores.append({"name": _label(name, options), "law": name, "law_options": options, "fixed": fixed,
                       "mape": float(np.mean([100 * np.mean(np.abs(rel)) for rel in by_kind])),
                       "final_error": float(np.max(finals)),
                       "rms": float(np.sqrt(np.mean([np.mean(rel ** 2) for rel in by_kind]))), "failed_folds": failed,
                       "reference_params": None if ref_fit is None or own_decay else ref_fit.params,
                       "warm": warm,
                       **({"decay_from": decay_from} if refs is not None else {})})
    if any(c.get("decay_from") == "the references" for c in scores):  # better than the prior's
        dropped = [c for c in scores if c.get("decay_from", "").startswith("the logs or the prior")]
        skipped += [f"{c['name']}: the references do not identify its decay term, as they do others'"
                    for c in dropped]
        scores = [c for c in scores if c not in dropped]
    if not scores:
        raise InputError("law 'auto': no candidate law could be fitted on the held-out splits "
                         f"({split}); the logs are too short" + (f"; {'; '.join(skipped)}" if skipped else ""))
    # weights by inverse held-out mean squared error; the heaviest is the law the result reports
    inverse = np.array([1 / max(c["rms"], 1e-12) ** 2 for c in scores])
    for c, w in zip(scores, inverse / inverse.sum()):
        c["weight"] = float(w)
    kept = [c for c in scores if c["weight"] >= MIN_WEIGHT]
    total = sum(c["weight"] for c in kept)
    for c in kept:
        c["weight"] /= total
    best = max(kept, key=lambda c: c["weight"])
    result = _fit_fixed(get_law(best["law"]), frame, best["law_options"], best["fixed"], kwargs)
    alternatives = []
    for c in kept:  # the others from where their forward-split fit ended (one start, not the grid)
        if c is not best:
            alt = _fit_fixed(get_law(c["law"]), frame, c["law_options"], c["fixed"],
                             {**quick, "start": c["warm"]} if c["warm"] else quick)
            alternatives.append(Alternative(c["name"], c["law"], c["law_options"], alt.params, weight=c["weight"]))
    if best["reference_params"] is not None:  # the exponent from the references too
        law = get_law(best["law"])
        more = {**best["fixed"], "alpha": best["reference_params"]["alpha"]}
        try:
            alt = _fit_fixed(law, frame, best["law_options"], more, quick)
            alternatives.append(Alternative(best["name"] + " (alpha from references)", best["law"],
                                            best["law_options"], alt.params))
        except InputError:
            pass
    combined_rms = float(np.sqrt(sum(c["weight"] * c["rms"] ** 2 for c in kept)))  # at least the mixture's
    result.forecast = replace(result.forecast, sigma=max(combined_rms, result.forecast.sigma),
                              sigma_source=f"held-out error ({split})", alternatives=alternatives)
    if best["fixed"]:  # the decay term comes from the references: identified, with a transfer error
        result.forecast = replace(result.forecast, identified=True, reason="", transfer=TRANSFER,
                                  references={"runs": sorted(map(str, refs["run"].unique())),
                                              "fixed": best["fixed"]})
    why = (f"lowest held-out error (MAPE {best['mape']:.3f} %) of {len(scores)} candidates, {split}; the forecast "
           f"combines {len(kept)} by inverse held-out mean squared error (this one {100 * best['weight']:.0f} %)"
           + (f"; its decay term from {best['decay_from']}" if refs is not None else ""))
    result.options["auto"] = {"chosen": best["name"], "law": best["law"], "law_options": best["law_options"],
                              "split": split, "why": why, "skipped": skipped,
                              "combined": "weights by inverse held-out mean squared error, candidates of weight "
                                          f">= {MIN_WEIGHT}",
                              "weights": {c["name"]: c["weight"] for c in kept},
                              "candidates": [{k: v for k, v in c.items() if k not in ("reference_params", "warm")}
                                             for c in scores]}
    return result


def _label(name: str, options: Mapping) -> str:
    return name + "(" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"


def _reference_frame(references) -> pd.DataFrame:
    if isinstance(references, (list, tuple)):
        parts = [r.assign(run=r["run"] if "run" in r else f"reference {i}") for i, r in enumerate(references)]
        references = pd.concat(parts, ignore_index=True)
    if not isinstance(references, pd.DataFrame) or not {"step", "y", "lr"} <= set(references.columns):
        raise InputError("references: give finished runs as a frame with step, y (loss) and lr columns")
    return references if "run" in references else references.assign(run="reference")


_REFERENCE_FITS: dict = {}  # (law, options, fit settings, data hash) -> fit: a watched run refits often


def _identifies_itself(law: Law, frame: pd.DataFrame, start, options, kwargs) -> bool:
    """Whether the logs alone identify the law's decay term well enough to prefer it to the
    references': their LR fell by ``OWN_DECAY`` or more after ``start`` and the law fitted on
    them alone determines its decay scale. Then a forecast uses the run's own decay term (what
    decay buys differs between model sizes; a run that has finished its decay says what it buys
    it)."""
    fitted = frame if start is None else frame[frame["step"] >= start]
    if decay_seen(fitted) < OWN_DECAY:
        return False
    try:
        return _fit(law, frame, options=options, **{k: v for k, v in kwargs.items() if k != "prior"}).identified
    except InputError:
        return False


def _from_references(law: Law, options, refs, kwargs) -> tuple[dict | None, FitResult | None]:
    """The law's decay parameters fitted on the reference runs, and that fit: ``({}, None)``
    without references; ``({}, fit)`` when the references do not identify the decay term (they
    decayed too little: the candidate takes its decay term from the logs or the prior, and the
    references' exponent enters as an alternative); ``(None, fit)`` when the law could not be
    fitted on them at all (the candidate is skipped)."""
    if refs is None or not law.decay_params:
        return {}, None
    key = (law.name, tuple(sorted(options.items())), tuple(sorted(kwargs.items())),
           int(pd.util.hash_pandas_object(refs, index=False).sum()))
    if key not in _REFERENCE_FITS:
        _REFERENCE_FITS[key] = _reference_fit(law, refs, options, kwargs)
    ref_fit = _REFERENCE_FITS[key]
    if not ref_fit.converged:
        return None, ref_fit
    if not ref_fit.identified or ref_fit.status != "converged":
        return {}, ref_fit  # no decay term to lend (constant-LR references): their exponent only
    return {k: ref_fit.params[k] for k in law.decay_params}, ref_fit


SEPARATE_LEVELS_AIC = 10.0  # how much lower the AIC must be for reference runs to keep their own levels


def _reference_fit(law: Law, refs: pd.DataFrame, options, kwargs) -> FitResult:
    """The law fitted on the reference runs, with one level and scale for all of them, or with
    each run's own (``Law.per_group``: runs of other model sizes differ in both) and the rest,
    the decay term with it, shared. The runs keep their own when the shared fit does not identify
    the decay term or does not converge, or when their own lower its AIC by more than
    ``SEPARATE_LEVELS_AIC`` (runs of one size share a level, and sharing it narrows the
    forecast). Measured on the curves of Luo et al. (benchmarks/bench_forecast.py, and 48 early
    forecasts with references of the same size, the other, or both): references of two sizes,
    refused with one shared level, now identify the decay term."""
    shared = _fit(law, refs, options=options, **kwargs)
    runs = list(refs["run"].unique())
    if len(runs) < 2 or law.area_param is None:
        return shared
    grouped = refs.assign(group=refs["run"].map({r: i for i, r in enumerate(runs)}).astype(float))
    own = _fit(law.per_group(len(runs)), grouped, options=options, **kwargs)
    usable = shared.identified and shared.status == "converged"
    if usable and not own.metrics["aic"] < shared.metrics["aic"] - SEPARATE_LEVELS_AIC:
        return shared
    own.options["reference_levels"] = f"each of the {len(runs)} reference runs its own level and scale"
    return own


def _folds(frame: pd.DataFrame, decay_known: bool, start: float | None = None) -> tuple[list, str]:
    """(kind, train, test) frames: leave one run out where the remaining runs can identify the
    law, and a forward split of every run (its first ``FORWARD`` of steps fitted, the rest
    predicted), which lets a law with many parameters see every run. ``start``: the first step
    fitted (the initial transient before it stays in the training frames, for the LR it logs,
    and out of the test frames)."""
    fitted = frame if start is None else frame[frame["step"] >= start]
    runs = list(frame["run"].unique())
    folds = []
    if len(runs) > 1:
        for run in runs:
            train = frame[frame["run"] != run]
            if decay_known or decay_seen(fitted[fitted["run"] != run]) >= MIN_DECAY:
                folds.append(("leave one run out", train, fitted[fitted["run"] == run]))
    loro = len(folds)
    train, test = [], []
    for run, g in fitted.groupby("run", sort=False):
        cut = g["step"].min() + FORWARD * (g["step"].max() - g["step"].min())
        whole = frame[frame["run"] == run]
        train.append(whole[whole["step"] <= cut])
        test.append(g[g["step"] > cut])
    folds.append(("forward split", design.join_rows(train, frame.attrs), design.join_rows(test, frame.attrs)))
    forward = f"forward split: first {100 * FORWARD:.0f} % of each run's steps fitted, the rest predicted"
    return folds, (f"leave one run out, {loro} of {len(runs)} runs, and a {forward}" if loro else forward)


def _fit_fixed(law: Law, data, options, fixed, kwargs) -> FitResult:
    """Fit ``law`` with the ``fixed`` parameters held (the engine's ``fixed``)."""
    return _fit(law, data, options=options, fixed=fixed, **kwargs)


def _prior(prior) -> Prior | None:
    """``fit``'s ``prior`` argument as a ``Prior`` (or None)."""
    if prior is None or isinstance(prior, Prior):
        return prior
    if isinstance(prior, str) and prior == "default":
        if "default" not in _PRIORS:
            _PRIORS["default"] = load_prior()
        return _PRIORS["default"]
    if isinstance(prior, (str, Path)):
        return load_prior(prior)
    raise InputError(f"prior: give 'default', a Prior, a prior file or None, got {prior!r}")


_PRIORS: dict[str, Prior] = {}


def _fit(law: Law, data, prior: Prior | None = None, **kwargs) -> FitResult:
    """``engine.fit``, and for a step law its forecast record (``forecast.describe``), whose
    reason goes to the warnings when the loss drop of LR decay is not identified. Then, where the
    logs show too little LR decay (``forecast.MIN_DECAY``), given a ``prior`` (and nothing held),
    the law is fitted again with its decay scale at its lower
    bound (0) and the rest of its decay parameters held, and forecasts take the drop from the
    prior (``scalelaw.prior``)."""
    result = engine.fit(law, data, **kwargs)
    if not result.law.step_law:
        return result
    result.forecast = describe(result)
    if result.forecast.identified:
        return result
    result.warnings.append(result.forecast.reason)
    if (prior is None or not law.decay_params or law.area_param is None
            or set(kwargs.get("fixed") or {}) & set(law.decay_params)  # decay term held (references)
            or result.forecast.lr_decay_seen >= MIN_DECAY):  # decay seen, its scale loose: the fit's own
        return result
    scale = law.decay_params[0]
    lower = {p.name: p.lower for p in law.params}[scale]
    held = {name: max(0.0, lower) if name == scale else result.params[name] for name in law.decay_params}
    refit = engine.fit(law, data, **{**kwargs, "fixed": {**(kwargs.get("fixed") or {}), **held}})
    refit.forecast = replace(describe(refit), identified=False, reason=result.forecast.reason,
                             prior=prior.for_forecast())
    refit.warnings = result.warnings + [
        f"the loss drop of LR decay is taken from the prior: a whole anneal buys {100 * prior.q:.1f} % of the loss "
        f"(x/ {np.exp(prior.q_log_sd):.2f} for 1 sd; {refit.forecast.prior['source']})"]
    return refit
