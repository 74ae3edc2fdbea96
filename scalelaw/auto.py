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
their own schedules), each candidate takes the decay parameters they lend (``scalelaw.references``:
fitted on them, at the level of the user's runs where they hold several sizes, with a relative
error) and fits the rest on the user's runs; the variant that also takes the exponent from the
references enters the interval as an alternative. The JSON's ``decay_from`` says whether a
candidate's decay term came from the references, the logs or the prior.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from . import quality, references as references_, schedules, transient
from .engine import DELTA
from .forecast import MIN_DECAY, Alternative, decay_seen
from .prior import fit_law, resolve as resolve_prior
from .progress import bar
from .result import FitResult
from .errors import InputError
from .laws import Law, design, get_law, summary

CANDIDATES: tuple[tuple[str, dict], ...] = (
    ("annealing", {"warmup": "peak"}),
    ("annealing", {"warmup": "actual"}),
    ("multipower", {"warmup": "actual"}),
    ("multipower", {"warmup": "actual", "warmup_drops": True}),
)
READS = "annealing"  # the law whose columns law="auto" reads: every candidate reads step, loss and lr
# Candidates of smaller weight (inverse held-out MSE, normalised) are left out, and a forward
# split fits this share of each run's steps. Chosen by benchmarks/bench_auto_constants.py on the
# tuning families' protocol (results/auto_constants.json): 0 and 0.5 (before: 0.02 and 0.6;
# weighted mean MAPE 0.1610 % against 0.1616 %): no candidate is dropped.
MIN_WEIGHT = 0.0
FORWARD = 0.5
# Where a held-out fold's refit starts: "grid" (the law's own starts on the fold's runs) or
# "full fit" (the candidate's fit on every run, as the size laws' held-out refits start: see
# engine._held_out). Compared by benchmarks/bench_held_out_start.py.
FOLD_START = "grid"


def fit(law: Law | str, data: Any, *, references: Any = None, step_min: float | str | None = "auto",
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
    if isinstance(law, str) and "," in law:
        law = [name.strip() for name in law.split(",") if name.strip()]
    if isinstance(law, (list, tuple)):
        return fit_choosing(law, data, step_min=step_min, **kwargs)
    law = get_law(law) if isinstance(law, str) else law
    if references is None:
        start, why = first_step(law, data, step_min, kwargs.get("options"), kwargs.get("schedules"))
        return fit_law(law, data, step_min=start, step_min_why=why, prior=resolve_prior(prior), **kwargs)
    if not law.step_law:
        raise InputError(f"references apply to step laws, not to '{law.name}'")
    options = dict(kwargs.pop("options", None) or {})
    return fit_auto(data, references=references, candidates=[(law.name, options)], step_min=step_min, prior=prior,
                    **kwargs)


def check_choice(laws: Iterable[Law | str]) -> list[Law]:
    """The laws of a choice by held-out error (``fit_choosing``), or an ``InputError``: two or
    more, each once, none a step law (``auto`` chooses those), all of the same inputs."""
    laws = list(laws)
    if any(law == "auto" for law in laws if isinstance(law, str)):
        raise InputError("auto chooses among step laws itself; a list chooses among size laws "
                         "(e.g. downstream,downstream_exp)")
    laws = [get_law(law) if isinstance(law, str) else law for law in laws]
    twice = [law.name for i, law in enumerate(laws) if law.name in [other.name for other in laws[:i]]]
    if twice:
        raise InputError(f"law '{twice[0]}' is listed twice")
    if len(laws) < 2 or any(law.step_law for law in laws) or len({law.inputs for law in laws}) > 1:
        raise InputError(f"laws {', '.join(law.name for law in laws)}: a choice by held-out error takes two or more "
                         "size laws of the same inputs (e.g. downstream,downstream_exp)")
    return laws


def fit_choosing(laws: Iterable[Law | str], data, **kwargs: Any) -> FitResult:
    """Several size laws of the same inputs (``downstream`` and ``downstream_exp``; ``power``
    and another one-input law) fitted to ``data``; the one with the smallest error on runs left
    out of the fit in turn (``FitResult.held_out``) is returned, with every candidate's error in
    ``options["compared"]`` (name -> ``held_out_error`` in percent, or None, and ``status``).
    ``options`` (e.g. ``{"chance": 0.25}``) go to the laws that take them; one that no law takes
    is refused. Without four runs to leave out, nothing can be compared: refused."""
    laws = check_choice(laws)
    options = dict(kwargs.pop("options", None) or {})
    unused = [k for k in options if not any(k in law.options for law in laws)]
    if unused:
        raise InputError(f"option {unused[0]} applies to none of {', '.join(law.name for law in laws)}")
    results, compared = {}, {}
    for law in laws:
        own = {k: v for k, v in options.items() if k in law.options}
        result = fit(law, data, options=own or None, **kwargs)
        error = result.held_out.get("sigma") if result.converged else None
        results[law.name] = result
        compared[law.name] = {"held_out_error": None if error is None else 100 * error, "status": result.status}
    scored = {name: c["held_out_error"] for name, c in compared.items() if c["held_out_error"] is not None}
    if not scored:
        raise InputError(f"laws {', '.join(compared)}: no fit has runs left out to compare by (four or more runs "
                         "or sizes are needed, and a fit that converged); fit one law")
    best = results[min(scored, key=scored.get)]
    best.options["compared"] = compared
    return best


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
    if kwargs.get("options") is not None:
        raise InputError("law 'auto' chooses the law options itself; 'options' does not apply (name a law to set them)")
    kwargs.pop("options", None)
    held = dict(kwargs.pop("fixed", None) or {})  # the user's own: held in every fit of their runs
    candidates = [(name, dict(options)) for name, options in candidates]
    if held and len(candidates) > 1:
        raise InputError("law 'auto' chooses among laws with different parameters; 'fixed' does not apply "
                         "(name a law to hold its parameters)")
    given = kwargs.pop("schedules", None)
    if given is not None:
        data = with_schedule(data, given)
    kind = design.of(get_law(READS))
    frame = kind.table(data)
    start, why = first_step(get_law(READS), frame, step_min)
    # a long log: every candidate, fold and refit works on its summary over bins of steps
    frame = kind.summary(frame, start, kwargs.get("summarise"),
                         summary.location_delta(kwargs.get("loss", "huber"), kwargs.get("delta", DELTA)))
    refs = None if references is None else references_.frame_of(references)
    kwargs = {**kwargs, "step_min": start, "step_min_why": why}
    quick = {k: v for k, v in kwargs.items() if k not in ("bootstrap", "progress")}  # the many fits of scoring
    # the references are other runs: the user's start values (and fixed ones, held apart above) are their own run's
    ref_kwargs = {k: v for k, v in quick.items() if k not in ("step_min", "step_min_why", "start")}
    if refs is not None:  # the references start where their own initial transient ends, as the logs do
        ref_start, ref_why = first_step(get_law(READS), refs, step_min)
        ref_kwargs.update(step_min=ref_start, step_min_why=ref_why)
    folds, split = _folds(frame, refs is not None, start)
    quick["prior"] = kwargs["prior"] = resolve_prior(prior)  # for fits that do not identify the decay term

    scores, skipped = [], []
    for name, options in bar(candidates, "auto: scoring candidate laws", "law", kwargs.get("progress", False)):
        law = get_law(name)
        fixed, ref_fit, source, trend = references_.for_candidate(law, options, refs, ref_kwargs, frame, start, quick)
        if fixed is None:
            skipped.append(f"{_label(name, options)}: the law could not be fitted on the references "
                           f"({ref_fit.message or ref_fit.status})")
            continue
        errors, finals, failed, warm = {}, [], 0, None
        fold_kwargs = quick
        if FOLD_START == "full fit":
            try:
                fold_kwargs = {**quick, "start": _fit_fixed(law, frame, options, {**fixed, **held}, quick).params}
            except InputError:
                pass
        for split_kind, train, test in folds:
            try:
                r = _fit_fixed(law, train, options, {**fixed, **held}, fold_kwargs)
            except InputError:
                failed += 1
                continue
            if split_kind == "forward split":  # fitted on part of every run: where its refit on all starts
                warm = r.params
            for run, g in test.groupby("run", sort=False):
                # the LR of the whole run (every logged row), up to the predicted steps
                pred = r.predict(g["step"].to_numpy(int), summary.schedule_log(frame, run))
                y = g["y"].to_numpy(float)
                errors.setdefault(split_kind, []).append(((pred - y) / y, _rows_of(g)))
                finals.append(quality.mape(pred[-1:], y[-1:]))
        if not errors:
            continue
        by_kind = [_joined(parts) for parts in errors.values()]  # (errors, the rows of a summary's bins)
        scores.append({"name": _label(name, options), "law": name, "law_options": options, "fixed": fixed,
                       "mape": float(np.mean([100 * quality.row_abs_mean(rel, rows) for rel, rows in by_kind])),
                       "final_error": float(np.max(finals)),
                       "rms": float(np.sqrt(np.mean([summary.row_mse(rel, rows) for rel, rows in by_kind]))),
                       "failed_folds": failed,
                       "reference_params": None if ref_fit is None or source == "logs" else ref_fit.params,
                       "warm": warm, "decay_trend": trend, "source": source,
                       **({"decay_from": references_.DECAY_FROM[source]} if refs is not None else {})})
    if any(c["source"] == "references" for c in scores):  # better than the prior's
        dropped = [c for c in scores if c["source"] == "prior"]
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
    result = _fit_fixed(get_law(best["law"]), frame, best["law_options"], {**best["fixed"], **held}, kwargs)
    alternatives = []
    for c in kept:  # the others from where their forward-split fit ended (one start, not the grid)
        if c is not best:
            alt = _fit_fixed(get_law(c["law"]), frame, c["law_options"], {**c["fixed"], **held},
                             {**quick, "start": c["warm"]} if c["warm"] else quick)
            alternatives.append(Alternative(c["name"], c["law"], c["law_options"], alt.params, weight=c["weight"]))
    if best["reference_params"] is not None:  # the exponent from the references too
        law = get_law(best["law"])
        more = {**best["fixed"], "alpha": best["reference_params"]["alpha"], **held}
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
        transfer = best["decay_trend"]["transfer"] if best["decay_trend"] else references_.TRANSFER
        result.forecast = replace(result.forecast, identified=True, reason="", transfer=transfer,
                                  references={"runs": sorted(map(str, refs["run"].unique())),
                                              "fixed": best["fixed"],
                                              **({"decay_trend": best["decay_trend"]} if best["decay_trend"] else {})})
    why = (f"lowest held-out error (MAPE {best['mape']:.3f} %) of {len(scores)} candidates, {split}; the forecast "
           f"combines {len(kept)} by inverse held-out mean squared error (this one {100 * best['weight']:.0f} %)"
           + (f"; its decay term from {best['decay_from']}" if refs is not None else ""))
    if given is not None:
        result.options["schedule"] = data.attrs["schedule"]
    result.options["auto"] = {"chosen": best["name"], "law": best["law"], "law_options": best["law_options"],
                              "split": split, "why": why, "skipped": skipped,
                              "combined": "weights by inverse held-out mean squared error, candidates of weight "
                                          f">= {MIN_WEIGHT}",
                              "weights": {c["name"]: c["weight"] for c in kept},
                              "candidates": [{k: v for k, v in c.items() if k not in ("reference_params", "warm", "decay_trend", "source")}
                                             for c in scores]}
    return result


def with_schedule(data, schedule) -> pd.DataFrame:
    """``data`` (a tidy frame with ``run``, ``step``, ``y``) with an ``lr`` column for each run
    that logs none (a nanoGPT text log, a W&B panel export: the loss only), from ``schedule``: a
    spec string or per-step LR array for every such run, or a mapping run -> one. The whole
    per-step schedule is kept (``attrs["lr_log"]``) and ``attrs["schedule"]`` says which runs
    took it (run -> the schedule, described)."""
    if not isinstance(data, pd.DataFrame) or not {"step", "y"} <= set(data.columns):
        raise InputError("law 'auto' with a schedule: give the logs as a frame with step and y (loss) columns")
    frame = data if "run" in data else data.assign(run="run")
    lr_log, taken, parts = schedules.LRLogs(frame.attrs.get("lr_log", {})), {}, []
    for run, g in frame.groupby("run", sort=False):
        if "lr" in g and g["lr"].notna().all():
            parts.append(g.copy())
            continue
        chosen = schedule.get(run) if isinstance(schedule, Mapping) else schedule
        if chosen is None:
            raise InputError(f"run '{run}' has no lr column and no schedule was given for it")
        steps = g["step"].to_numpy(float)
        if np.any(steps != np.round(steps)) or steps.min() < 0:
            raise InputError(f"run '{run}': steps must be whole numbers >= 0 to take the LR of a schedule")
        lr = schedules.resolve(chosen, total=int(steps.max()))
        lr_log[str(run)] = (np.arange(len(lr)), lr)
        taken[str(run)] = chosen if isinstance(chosen, str) else schedules.describe(lr)
        parts.append(g.assign(lr=lr[steps.astype(int)]))
    for part in parts:  # concat compares attrs, which may hold arrays
        part.attrs = {}
    out = pd.concat(parts, ignore_index=True)
    out.attrs = {**frame.attrs, "lr_log": lr_log, "schedule": taken}
    return out


def _rows_of(points: pd.DataFrame) -> dict | None:
    """The rows and spread of a summary's bins (``summary.summarise_log``) among ``points``, as
    ``summary.row_mse`` reads them; None for rows."""
    if summary.BIN_ROWS not in points.columns:
        return None
    return {k: points[k].to_numpy(float) for k in (summary.BIN_ROWS, summary.BIN_SS)}


def _joined(parts: list) -> tuple[np.ndarray, dict | None]:
    """Errors of several runs' points (``(errors, _rows_of)`` each) as one."""
    errors = np.concatenate([e for e, _ in parts])
    if parts[0][1] is None:
        return errors, None
    return errors, {k: np.concatenate([rows[k] for _, rows in parts]) for k in parts[0][1]}


def _label(name: str, options: Mapping) -> str:
    return name + "(" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"


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
    return fit_law(law, data, options=options, fixed=fixed, **kwargs)
