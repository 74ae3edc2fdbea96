"""Forecasts of a step law's loss curve: what a fit knows about its own forecasting error (the
``Forecast`` record a ``FitResult`` holds), the intervals that follow from it, and the questions
a forecast answers (the final loss of a planned run, the best of several schedules).

A forecast goes wrong in more ways than its parameters' uncertainty, and the interval of a
step law adds each (``interval``):

- the fit's relative error scale (``Forecast.sigma``: from runs or steps held out when ``auto``
  chose the law, else the in-sample scatter), grown by ``1 + ln`` of how far the schedule's LR
  area lies beyond the largest fitted (``S1_max``) and of how far its peak LR lies above every
  fitted LR (``lr_max``);
- the spread of the other plausible fits (``alternatives``);
- the loss drop of LR decay: when the fitted logs show too little decay to identify it, taken
  from a prior learned on many curve families (``scalelaw.prior``: the forecast credits decay
  with the prior's median and spans its log-normal spread, and adds the late exponent's error
  by how far the forecast reaches), or without a prior the whole drop; a relative error
  ``transfer`` on it when it was taken from reference runs (``scalelaw.auto``).

This module knows nothing of how fits are made: ``scalelaw.auto`` fits and fills the record.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .intervals import combine, z_of
from .laws import get_law, summary
from .laws.base import steps_of
from . import schedules
from .schedules import from_log, resolve, warmup_steps

MIN_DECAY = 0.3  # the fraction of its peak the LR must have fallen by, in some fitted run
ANNEAL_MOMENTUM = 0.999  # lambda of the annealing area in a prior's unit (decay_unit): the annealing law's default


@dataclass
class Alternative:
    """Another plausible fit of the same runs. With a ``weight`` (``auto``'s stacking) it enters
    the forecast, a weighted mean with the result's own law (which weighs the rest); without
    one it only widens the interval by its spread."""

    name: str
    law: str
    law_options: dict[str, Any]
    params: dict[str, float]
    weight: float | None = None


@dataclass
class Forecast:
    """What a step law's forecast intervals need.

    Attributes:
        sigma: the fit's relative error scale (a fraction of the loss), and ``sigma_source``,
            where it came from (in-sample residuals, or a held-out error).
        S1_max: the largest LR area (sum of the LR) among the fitted points.
        lr_max: the largest LR of the fitted runs (None where unknown).
        lr_decay_seen: the largest fraction by which the LR fell after its peak in a fitted run.
        identified: whether the fitted logs identify the loss drop of LR decay; ``reason`` when not.
        alternatives: other plausible fits (``Alternative``), from ``auto`` or references (None:
            no choice among laws was made).
        references: with reference runs: ``{"runs": [...], "fixed": {name: value}}``, the
            decay parameters taken from them; ``transfer``, the relative error put on that drop.
        prior: for a decay term the logs do not identify (and no references): the prior on it
            (``scalelaw.prior``: ``q``, ``q_log_sd``, ``reach``, ``alpha_sd``, ``source``): the
            forecast credits LR decay with ``q`` times ``decay_unit`` (the law's decay scale is
            held at 0), its interval spans q's log-normal spread ``q_log_sd`` and the late
            exponent's error (``alpha_sd`` by reach).
    """

    sigma: float
    sigma_source: str
    S1_max: float
    lr_max: float | None
    lr_decay_seen: float
    identified: bool
    reason: str = ""
    alternatives: list[Alternative] | None = None
    references: dict[str, Any] | None = None
    transfer: float | None = None
    prior: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``forecast`` object of a fit file (``alternatives``, ``references``, ``transfer``
        and ``prior`` only when set)."""
        out = asdict(self)
        return {k: v for k, v in out.items()
                if v is not None or k not in ("alternatives", "references", "transfer", "prior")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Forecast":
        """From a fit file's ``forecast`` object (checked by ``scalelaw.fitfile``)."""
        return cls(sigma=float(d.get("sigma", 0.0)), sigma_source=str(d.get("sigma_source", "")),
                   S1_max=float(d.get("S1_max", np.inf)), lr_max=d.get("lr_max"),
                   lr_decay_seen=float(d.get("lr_decay_seen", 0.0)), identified=bool(d.get("identified", True)),
                   reason=str(d.get("reason", "")),
                   alternatives=None if d.get("alternatives") is None else
                   [Alternative(a.get("name", a["law"]), a["law"], dict(a["law_options"]), dict(a["params"]),
                                a.get("weight")) for a in d["alternatives"]],
                   references=d.get("references"), transfer=d.get("transfer"), prior=d.get("prior"))

    @property
    def uses_prior(self) -> bool:
        """Whether forecasts take the loss drop of LR decay from the prior (not identified, and a
        prior given)."""
        return not self.identified and self.prior is not None


def describe(result) -> Forecast:
    """The ``Forecast`` record of a step-law fit from its own data (``result.design``): the
    in-sample relative scatter, the largest LR area and LR, the LR decay the logs saw, and
    whether they identify the loss drop of decay."""
    law, (X, y) = result.law, result.design
    pred = law(X, **result.params)
    decay = decay_seen(result.data[result.data["fitted"]], result.schedules)
    identified, reason = True, ""
    name = law.decay_params[0] if law.decay_params else None
    fixed = result.options.get("fixed", {})
    se = result.stderr.get(name) if name else None
    if name is None or name in fixed:
        pass  # no decay term left to identify (its parameters are held)
    elif decay < MIN_DECAY:
        identified = False
        reason = (f"the fitted logs show at most {100 * decay:.0f} % LR decay (below {100 * MIN_DECAY:.0f} %): "
                  f"the loss drop bought by decaying the LR ({name}) is not identified; forecasts of "
                  "schedules that decay carry it with a wide interval (give --reference runs that decayed)")
    elif se is None or not np.isfinite(se) or se > result.params[name]:
        identified = False
        reason = (f"{name}, which scales the loss drop bought by LR decay, is not determined by the data "
                  f"(standard error {'n/a' if se is None else f'{se:.3g}'} against {result.params[name]:.3g})")
    lrs = result.schedules
    return Forecast(sigma=float(np.sqrt(summary.row_mse((pred - y) / y, X))), sigma_source="in-sample residuals",
                    S1_max=float(np.max(X["S1"])),
                    lr_max=float(max(np.max(lr) for lr in lrs.values())) if lrs else None,
                    lr_decay_seen=decay, identified=identified, reason=reason)


def decay_seen(frame: pd.DataFrame, lrs: Mapping[str, np.ndarray] | None = None) -> float:
    """The largest fraction by which the LR fell after its peak, within the steps of any run of
    ``frame`` (rows with ``run``, ``step`` and, without ``lrs``, ``lr``). ``lrs``: run -> per-step
    LR; by default rebuilt from the logged lr (``schedules.from_log``)."""
    decay = 0.0
    for run, g in frame.groupby("run", sort=False):
        if lrs is not None:
            lr = lrs[str(run)]
        elif summary.BIN_ROWS in g:  # a summary's bins: the LR of every row summarised
            lr = from_log(*summary.schedule_log(frame, run))
        elif "lr" in g:
            lr = from_log(g["step"].to_numpy(), g["lr"].to_numpy(float))
        else:
            continue
        seen = lr[max(warmup_steps(lr), int(g["step"].min())): int(g["step"].max()) + 1]
        if len(seen) and seen.max() > 0:
            decay = max(decay, float(1 - seen.min() / seen.max()))
    return decay


def variances(result, X, schedule, extra: Mapping[str, Any], inputs: Mapping[str, np.ndarray],
              centre: np.ndarray, band, z: float) -> dict[str, np.ndarray]:
    """What a step law's forecast variance at ``X`` under ``schedule`` is made of (see the module
    docstring), loss units squared, by source: ``parameters`` (``band``, the parameters' own
    interval, or None; ``z`` its normal quantile), ``decay term`` (the loss drop of LR decay:
    ``q_sd`` of its bound under a prior, whole when not identified without one, ``transfer`` of
    it when taken from references), ``error scale`` (the fit's relative error, grown beyond the
    fitted LR area and LR) and ``other fits`` (the spread of the alternatives). ``inputs``: the
    law's inputs there; ``centre``: the forecast (``predicted``). Under a prior the decay term
    is q's log-normal spread (``prior_spread``), as the variance of its mean half-width."""
    f = result.forecast
    out = {"parameters": np.zeros_like(centre) if band is None else ((band[1] - band[0]) / (2 * z)) ** 2}
    if f.uses_prior:  # a decay term no log identifies, and the late exponent, from the prior over curve families
        down, up = prior_spread(result, X, schedule, extra, z)
        out["decay term"] = ((down + up) / (2 * z)) ** 2 + np.zeros_like(centre)
        reach = np.maximum(1.0, inputs["S1"] / f.S1_max)
        out["late exponent"] = (exponent_sd(f.prior, reach) * np.log(reach) * area_loss(result, inputs)) ** 2
    else:
        drop = 0.0
        if band is None or not f.identified or f.transfer:
            drop = decay_drop(result, X, schedule, extra, inputs, centre)
        if band is None or not f.identified:
            # no parameter uncertainty to be had, or a decay term the data do not identify
            out["decay term"] = np.asarray(drop, dtype=float) ** 2 + np.zeros_like(centre)
        elif f.transfer:  # a decay term taken over from other runs: a relative error on it
            out["decay term"] = (f.transfer * np.asarray(drop, dtype=float)) ** 2 + np.zeros_like(centre)
    stretch = 1 + np.log(np.maximum(1.0, inputs["S1"] / f.S1_max))
    stretch = stretch * (1 + np.log(max(1.0, lr_beyond(result, schedule))))  # an LR above every fitted one
    out["error scale"] = (f.sigma * stretch * centre) ** 2
    if f.alternatives:
        own, others = _members(result, X, schedule, extra, inputs)
        weighted = [(alt.weight, pred) for alt, pred in others if alt.weight is not None]
        plain = [pred for alt, pred in others if alt.weight is None]
        spread = np.zeros_like(centre)
        if weighted:  # the combined forecast's members, each by its weight
            spread = (1 - sum(w for w, _ in weighted)) * (own - centre) ** 2
            spread = spread + sum(w * (pred - centre) ** 2 for w, pred in weighted)
        if plain:
            spread = spread + sum((pred - centre) ** 2 for pred in plain) / len(plain)
        out["other fits"] = spread
    return out


def _members(result, X, schedule, extra, inputs) -> tuple[np.ndarray, list]:
    """The prediction of the result's own law and of each alternative at ``X`` (each with the
    prior's decay credit where the forecast uses it): (own, [(alternative, prediction), ...])."""
    f = result.forecast

    def one(law, params, options, law_in) -> np.ndarray:
        pred = np.asarray(law(law_in, **params), dtype=float)
        if f is not None and f.uses_prior:
            pred = pred - f.prior["q"] * decay_unit(result, X, schedule, extra, law, params, options)
        return pred

    own = one(result.law, result.params, result.law_options, inputs)
    others = []
    for alt in (f.alternatives or []) if f is not None else []:
        law = get_law(alt.law)
        law_in = result.inputs(X, schedule, _law=law, _options=alt.law_options, **extra)
        others.append((alt, one(law, alt.params, alt.law_options, law_in)))
    return own, others


def prior_spread(result, X, schedule, extra, z: float) -> tuple[np.ndarray, np.ndarray]:
    """How far below and above the forecast a prior's decay term reaches at ``z`` standard
    deviations of log q: ``q (exp(z s) - 1)`` and ``q (1 - exp(-z s))`` times ``decay_unit``
    (``s``: ``q_log_sd``; more decay credit, a lower loss)."""
    p = result.forecast.prior
    unit = decay_unit(result, X, schedule, extra)
    return p["q"] * np.expm1(z * p["q_log_sd"]) * unit, -p["q"] * np.expm1(-z * p["q_log_sd"]) * unit


def predicted(result, X, schedule, extra: Mapping[str, Any], inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """A step law's forecast at ``X``: the law's prediction, or with weighted alternatives
    (``auto``'s stacking) the weighted mean of theirs and its own; each less, where the decay
    term comes from the prior (``Forecast.uses_prior``, the laws fitted with their decay scale
    at 0), ``q`` times ``decay_unit``."""
    f = result.forecast
    if f is None or not (f.uses_prior or any(a.weight is not None for a in f.alternatives or [])):
        return np.asarray(result.law(inputs, **result.params), dtype=float)
    own, others = _members(result, X, schedule, extra, inputs)
    weighted = [(alt.weight, pred) for alt, pred in others if alt.weight is not None]
    return (1 - sum(w for w, _ in weighted)) * own + sum(w * pred for w, pred in weighted)


def interval(result, X, schedule, extra: Mapping[str, Any], inputs: Mapping[str, np.ndarray],
             centre: np.ndarray, band, z: float) -> tuple[np.ndarray, np.ndarray]:
    """The forecast interval of a step law: ``z`` standard deviations of the sum of ``variances``
    (arguments as for it) either side of ``centre``, from 0 up; under a prior, the decay term's
    own reach on each side (``prior_spread``) is added in quadrature instead."""
    parts = variances(result, X, schedule, extra, inputs, centre, band, z)
    if result.forecast.uses_prior:  # the decay term's own reach on each side
        parts = {k: v for k, v in parts.items() if k != "decay term"}
        return combine(centre, [z * np.sqrt(v) for v in parts.values()] + [prior_spread(result, X, schedule, extra, z)])
    return combine(centre, [z * np.sqrt(v) for v in parts.values()])


def width_from(result, X, schedule=None, level: float = 0.95, **inputs: Any) -> dict[str, np.ndarray]:
    """The share of each source (``variances``) in a step law's forecast variance at ``X``:
    source -> array of fractions that sum to 1 at each point."""
    law_in = result.inputs(X, schedule, **inputs)
    centre = predicted(result, X, schedule, inputs, law_in)
    z = z_of(level)
    parts = variances(result, X, schedule, inputs, law_in, centre, result.parameter_band(law_in, centre, level), z)
    total = np.maximum(sum(parts.values()), 1e-300)
    return {name: v / total for name, v in parts.items()}


def lr_beyond(result, schedule: Any) -> float:
    """The peak LR of ``schedule`` over the largest LR of the fitted runs (above 1: the law is
    asked about LRs it never saw, an extrapolation; its intervals widen by ``1 + ln`` of it);
    1.0 where the fit does not record its LRs."""
    lr_max = None if result.forecast is None else result.forecast.lr_max
    if not lr_max:
        return 1.0
    lr = resolve(schedule, warmup=result.law_options.get("warmup", "peak"))
    return float(np.max(lr) / lr_max)


def floor(result, X: Any, schedule: Any = None, **inputs: Any) -> np.ndarray | None:
    """Step laws with an ``area_param``: the loss the law tends to at unbounded LR area without
    decay (its area and decay scales at 0: ``L0`` of the annealing law), at ``X``; None for
    other laws."""
    law = result.law
    if not law.step_law or law.area_param is None:
        return None
    params = {**result.params, law.area_param: 0.0, **({law.decay_params[0]: 0.0} if law.decay_params else {})}
    return np.asarray(law(result.inputs(X, schedule, **inputs), **params), dtype=float)


def decay_bound(result, X, schedule, extra) -> np.ndarray:
    """The most LR decay can plausibly buy at each point of ``X`` under ``schedule``, loss
    units: the loss that LR area has yet to remove there for the schedule held at its running
    maximum (``area_loss``) times the fraction by which the LR has fallen from that maximum."""
    lr = resolve(schedule, warmup=result.law_options.get("warmup", "peak"))
    peak = np.maximum.accumulate(lr)
    at = np.minimum(steps_of(X), len(lr) - 1)
    fall = 1 - lr[at] / np.maximum(peak[at], 1e-300)
    reducible = area_loss(result, result.inputs(X, peak, **extra))
    return np.maximum(reducible, 0.0) * np.clip(fall, 0.0, 1.0)


def exponent_sd(prior: Mapping[str, Any], reach: np.ndarray) -> np.ndarray:
    """The late exponent's error (1 sd) at ``reach`` (LR area of the forecast over the largest
    fitted), from a ``prior`` record (``scalelaw.prior``): interpolated in log reach between its
    bins, their end values beyond them; 0 where the prior has none."""
    reach = np.asarray(reach, dtype=float)
    if not prior.get("reach"):
        return np.zeros_like(reach)
    return np.interp(np.log(np.maximum(reach, 1.0)), np.log(prior["reach"]), prior["alpha_sd"])


def area_loss(result, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The loss that LR area has yet to remove at the law's ``inputs`` (the law's prediction,
    less the same with its ``area_param`` at 0; ``A * S1^-alpha`` of the annealing law)."""
    law = result.law
    return (np.asarray(law(inputs, **result.params), dtype=float)
            - np.asarray(law(inputs, **{**result.params, law.area_param: 0.0}), dtype=float))


def decay_unit(result, X, schedule, extra, law=None, params=None, options=None) -> np.ndarray:
    """The unit of a prior on the loss drop of LR decay, at each point of ``X`` under
    ``schedule``: the law's prediction with its decay scale at 0, times the fraction of a whole
    anneal the schedule has made there, ``S2 / (peak LR x 1 / (1 - lambda))`` (S2: the
    annealing area, with the momentum ``lambda`` = 0.999 of the annealing law; a drop of the LR
    to 0 held for long reaches 1). Under the annealing law the loss drop is ``C * S2``, so the
    drop over this unit, ``C * peak * 1/(1-lambda) / L``, is the relative loss drop a whole
    anneal buys: one number per family of runs (``scalelaw.prior``). ``law``, ``params``,
    ``options``: another fit's (default the result's)."""
    law = result.law if law is None else law
    params = result.params if params is None else params
    options = result.law_options if options is None else {**law.options, **options}
    off = np.asarray(law(result.inputs(X, schedule, _law=law, _options=options, **extra),
                         **{**params, law.decay_params[0]: 0.0}), dtype=float)
    lr = schedules.hold_warmup(resolve(schedule, warmup=options.get("warmup", "peak")), "peak")
    at = np.minimum(steps_of(X), len(lr) - 1)
    memory = 1.0 / (1.0 - ANNEAL_MOMENTUM)
    whole = schedules.annealing_area(lr, ANNEAL_MOMENTUM)[at] / (np.maximum.accumulate(lr)[at] * memory)
    return off * np.clip(whole, 0.0, None)


def decay_drop(result, X, schedule, extra, inputs, centre) -> np.ndarray:
    """The loss drop the fit credits to the LR decays of ``schedule`` at each point: the
    prediction with the decay scale (``law.decay_params[0]``) at 0, less the prediction, less
    the same for the schedule held at its running maximum (which has no decay, so what remains
    there, e.g. warmup rises, is not a decay's). 0 for laws without a decay term.

    When the fitted data do not identify the decay term, its fitted scale is arbitrary (it may
    sit on its bound at 0): the drop is then at least ``decay_bound``."""
    law = result.law
    if not law.decay_params:
        return np.zeros_like(centre)
    off = {**result.params, law.decay_params[0]: 0.0}
    lr = resolve(schedule, warmup=result.law_options.get("warmup", "peak"))
    flat = result.inputs(X, np.maximum.accumulate(lr), **extra)
    drop = (np.asarray(law(inputs, **off), dtype=float) - centre
            - (np.asarray(law(flat, **off), dtype=float) - np.asarray(law(flat, **result.params), dtype=float)))
    if result.identified or law.area_param is None:
        return drop
    return np.maximum(drop, decay_bound(result, X, schedule, extra))


def final_loss(result, schedule: Any, **inputs: Any) -> float:
    """Predicted loss at the last step of ``schedule`` (spec or per-step array): the final loss
    of a planned run."""
    lr = resolve(schedule, warmup=result.law_options.get("warmup", "peak"))
    return float(result.predict([len(lr) - 1], lr, **inputs)[0])


def best_schedule(result, candidates: Mapping[str, Any], **inputs: Any) -> pd.DataFrame:
    """Candidate schedules (name -> spec or per-step array) ranked by predicted final loss, best
    first: a frame with ``name``, ``steps`` and ``final_loss``. Give candidates with the same
    step budget to compare like with like."""
    rows = []
    for name, schedule in candidates.items():
        lr = resolve(schedule, warmup=result.law_options.get("warmup", "peak"))
        rows.append((str(name), len(lr) - 1, final_loss(result, lr, **inputs)))
    frame = pd.DataFrame(rows, columns=["name", "steps", "final_loss"])
    return frame.sort_values("final_loss", kind="stable").reset_index(drop=True)
