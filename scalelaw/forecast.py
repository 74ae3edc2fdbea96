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
- the loss drop of LR decay, whole when the fitted logs do not identify it, or a relative error
  ``transfer`` on it when it was taken from reference runs (``scalelaw.auto``).

This module knows nothing of how fits are made: ``scalelaw.auto`` fits and fills the record.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .intervals import at_least_zero, z_of
from .laws import get_law
from .laws.base import steps_of
from .schedules import from_log, resolve, warmup_steps

MIN_DECAY = 0.3  # the fraction of its peak the LR must have fallen by, in some fitted run


@dataclass
class Alternative:
    """Another plausible fit of the same runs: its spread from the chosen fit widens intervals."""

    name: str
    law: str
    law_options: dict[str, Any]
    params: dict[str, float]


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

    def to_dict(self) -> dict[str, Any]:
        """The ``forecast`` object of a fit file (``alternatives``, ``references`` and ``transfer``
        only when set)."""
        out = asdict(self)
        return {k: v for k, v in out.items() if v is not None or k not in ("alternatives", "references", "transfer")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Forecast":
        """From a fit file's ``forecast`` object (checked by ``scalelaw.fitfile``)."""
        return cls(sigma=float(d.get("sigma", 0.0)), sigma_source=str(d.get("sigma_source", "")),
                   S1_max=float(d.get("S1_max", np.inf)), lr_max=d.get("lr_max"),
                   lr_decay_seen=float(d.get("lr_decay_seen", 0.0)), identified=bool(d.get("identified", True)),
                   reason=str(d.get("reason", "")),
                   alternatives=None if d.get("alternatives") is None else
                   [Alternative(a.get("name", a["law"]), a["law"], dict(a["law_options"]), dict(a["params"]))
                    for a in d["alternatives"]],
                   references=d.get("references"), transfer=d.get("transfer"))


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
    return Forecast(sigma=float(np.sqrt(np.mean(((pred - y) / y) ** 2))), sigma_source="in-sample residuals",
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
    interval, or None; ``z`` its normal quantile), ``decay term`` (the loss drop of LR decay,
    whole when not identified, ``transfer`` of it when taken from references), ``error scale``
    (the fit's relative error, grown beyond the fitted LR area and LR) and ``other fits`` (the
    spread of the alternatives). ``inputs``: the law's inputs there; ``centre``: the prediction."""
    f = result.forecast
    out = {"parameters": np.zeros_like(centre) if band is None else ((band[1] - band[0]) / (2 * z)) ** 2}
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
        spread = np.zeros_like(centre)
        for alt in f.alternatives:
            other = get_law(alt.law)
            other_in = result.inputs(X, schedule, _law=other, _options=alt.law_options, **extra)
            spread = spread + (np.asarray(other(other_in, **alt.params), dtype=float) - centre) ** 2
        out["other fits"] = spread / len(f.alternatives)
    return out


def interval(result, X, schedule, extra: Mapping[str, Any], inputs: Mapping[str, np.ndarray],
             centre: np.ndarray, band, z: float) -> tuple[np.ndarray, np.ndarray]:
    """The forecast interval of a step law: ``z`` standard deviations of the sum of ``variances``
    (arguments as for it) either side of ``centre``, from 0 up."""
    half = z * np.sqrt(sum(variances(result, X, schedule, extra, inputs, centre, band, z).values()))
    return at_least_zero(centre - half, centre + half)


def width_from(result, X, schedule=None, level: float = 0.95, **inputs: Any) -> dict[str, np.ndarray]:
    """The share of each source (``variances``) in a step law's forecast variance at ``X``:
    source -> array of fractions that sum to 1 at each point."""
    law_in = result.inputs(X, schedule, **inputs)
    centre = np.asarray(result.law(law_in, **result.params), dtype=float)
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


def decay_drop(result, X, schedule, extra, inputs, centre) -> np.ndarray:
    """The loss drop the fit credits to the LR decays of ``schedule`` at each point: the
    prediction with the decay scale (``law.decay_params[0]``) at 0, less the prediction, less
    the same for the schedule held at its running maximum (which has no decay, so what remains
    there, e.g. warmup rises, is not a decay's). 0 for laws without a decay term.

    When the fitted data do not identify the decay term, its fitted scale is arbitrary (it may
    sit on its bound at 0): the drop is then at least the loss that LR area has yet to remove
    (``law.area_param`` at 0 gives the floor) times the fraction by which the LR has fallen from
    its running maximum, the most a decay can plausibly buy."""
    law = result.law
    if not law.decay_params:
        return np.zeros_like(centre)
    off = {**result.params, law.decay_params[0]: 0.0}
    lr = resolve(schedule, warmup=result.law_options.get("warmup", "peak"))
    peak = np.maximum.accumulate(lr)
    flat = result.inputs(X, peak, **extra)
    flat_off = np.asarray(law(flat, **off), dtype=float)
    drop = (np.asarray(law(inputs, **off), dtype=float) - centre
            - (flat_off - np.asarray(law(flat, **result.params), dtype=float)))
    if result.identified or law.area_param is None:
        return drop
    steps = steps_of(X)
    at = np.minimum(steps, len(lr) - 1)
    fall = 1 - lr[at] / np.maximum(peak[at], 1e-300)
    reducible = flat_off - np.asarray(law(flat, **{**off, law.area_param: 0.0}), dtype=float)
    return np.maximum(drop, np.maximum(reducible, 0.0) * np.clip(fall, 0.0, 1.0))


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
