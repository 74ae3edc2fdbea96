"""The prior on what a short curve cannot identify: how much LR decay is worth.

A run that has not yet decayed its LR (a constant LR, or the first part of a cosine) says
nothing about the loss drop that decaying it will buy: the law's decay scale (``C`` of the
annealing law) is not identified, and a fit gives it any value. The prior says how large the
drop is, relative to the loss itself, on the curve families we hold:

    q = (the loss drop the law credits to LR decay at a run's last step)
        / (the loss without that drop x the fraction of a whole anneal made there)

(the denominator is ``scalelaw.forecast.decay_unit``; under the annealing law, q is ``C x
peak LR / (1 - lambda)`` over the loss: the relative drop that a whole anneal buys, the same
for every schedule of a family). A forecast of a fit that does not identify its decay term
fits the law with its decay scale at 0 and credits LR decay with ``q`` times that unit; its
interval spans q's spread, log-normal (what decay buys differs between families by factors,
not by a fixed amount), ``q_log_sd`` (``scalelaw.forecast``). ``q`` is measured on finished
runs: the annealing law (the paper's warmup convention) fitted on every run of a family
together, ``q`` of each run whose LR fell by at least ``forecast.MIN_DECAY``; the prior's ``q``
is the geometric mean of the families' medians, ``q_log_sd`` the spread of log q between
families and within them (added in quadrature).

The late exponent. A short curve extrapolated far in LR area misjudges how fast the loss
keeps falling: its fitted exponent (``alpha``) is off by an error that grows the further the
forecast reaches. The prior holds that error (RMS, ``alpha_sd``) by reach (the LR area S1 of
the forecast over the largest fitted, ``reach``), measured on the suite's families: the law
fitted on the first 10, 20, 40 and 60 % of runs, with the decay term of the whole family held,
against the exponent of the whole family. A forecast that uses the prior adds ``alpha_sd x
ln(reach)`` times the loss that LR area has yet to remove to its interval (to first order,
what an exponent off by ``alpha_sd`` does between the fitted area and the forecast's).

The shipped prior (``prior.json``) was learned by ``benchmarks/forecast_suite.py
--write-prior`` on the suite's families, which it names with their ``q``; the suite scores
forecasts with a prior learned without the family forecast (leave one family out).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from . import engine, forecast
from .errors import InputError
from .forecast import MIN_DECAY, describe

PRIOR_FILE = Path(__file__).resolve().with_name("prior.json")
LAW, OPTIONS = "annealing", {"warmup": "peak"}


REACH_BINS = (1.0, 1.5, 2.2, 3.5, 7.0)  # lower edges of the bins of reach (S1 forecast / S1 fitted)


@dataclass
class Prior:
    """``q`` (dimensionless, the median) and its log-normal spread ``q_log_sd``; the late exponent's error by how far a
    forecast reaches (``reach``: S1 of the forecast over the largest fitted, and ``alpha_sd`` at
    each); the measurements it was learned from (``families``: name -> ``{"q": [...],
    "alpha": [[reach, error], ...]}``) and how (``provenance``)."""

    q: float
    q_log_sd: float
    reach: list[float] = field(default_factory=list)
    alpha_sd: list[float] = field(default_factory=list)
    families: dict[str, dict] = field(default_factory=dict)
    provenance: str = ""

    def for_forecast(self, source: str = "") -> dict:
        """The ``prior`` of a ``scalelaw.forecast.Forecast`` record."""
        return {"q": self.q, "q_log_sd": self.q_log_sd, "reach": self.reach, "alpha_sd": self.alpha_sd,
                "source": source or f"learned on {len(self.families)} curve families ({', '.join(self.families)})"}

    def without(self, family: str) -> "Prior":
        """The prior learned again without ``family`` (for scoring it on that family)."""
        return combine({k: v for k, v in self.families.items() if k != family}, self.provenance)


def combine(families: Mapping[str, Mapping], provenance: str = "") -> Prior:
    """A prior from each family's measurements, ``{"q": [...], "alpha": [[reach, error], ...]}``
    (see the module docstring): ``q`` is the geometric mean of the families' medians,
    ``q_log_sd`` the spread of log q between families and within them; ``alpha_sd`` the RMS
    error of the exponent in each bin of reach (``REACH_BINS``) that holds three errors or
    more, at the bin's geometric mean reach."""
    with_q = {k: v["q"] for k, v in families.items() if v.get("q")}
    if len(with_q) < 2:
        raise InputError(f"a prior needs the q of two curve families or more, got {len(with_q)}")
    logs = {k: np.log(np.maximum(np.asarray(v, dtype=float), 1e-12)) for k, v in with_q.items()}
    medians = np.array([np.median(v) for v in logs.values()])
    within = np.mean([np.var(v) for v in logs.values()])
    errors = np.array([pair for v in families.values() for pair in v.get("alpha", [])], dtype=float).reshape(-1, 2)
    reach, alpha_sd = [], []
    edges = [*REACH_BINS, np.inf]
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = errors[(errors[:, 0] >= lo) & (errors[:, 0] < hi)]
        if len(inside) >= 3:
            reach.append(float(np.exp(np.mean(np.log(inside[:, 0])))))
            alpha_sd.append(float(np.sqrt(np.mean(inside[:, 1] ** 2))))
    return Prior(q=float(np.exp(np.mean(medians))), q_log_sd=float(np.sqrt(np.var(medians, ddof=1) + within)),
                 reach=reach, alpha_sd=alpha_sd,
                 families={k: {"q": [float(x) for x in v.get("q", [])],
                               "alpha": [[float(a), float(b)] for a, b in v.get("alpha", [])]}
                           for k, v in families.items()}, provenance=provenance)


def family_q(result, runs: pd.DataFrame) -> list[float]:
    """``q`` of each run of a family (a frame with ``run``, ``step``, ``y``, ``lr``) whose LR fell
    by at least ``forecast.MIN_DECAY``, from ``result``, the law fitted on them all (``LAW`` with
    ``OPTIONS``, without a prior); empty when it does not identify its decay term."""
    if not result.identified:
        return []
    out = []
    for run, g in runs.groupby("run", sort=False):
        if forecast.decay_seen(g) < forecast.MIN_DECAY:
            continue
        steps, lr = g["step"].to_numpy(), g["lr"].to_numpy(float)
        X, schedule = [int(steps[-1])], (steps, lr)
        inputs = result.inputs(X, schedule)
        centre = np.asarray(result.law(inputs, **result.params), dtype=float)
        drop = forecast.decay_drop(result, X, schedule, {}, inputs, centre)[0]
        unit = forecast.decay_unit(result, X, schedule, {})[0]
        if unit > 0:
            out.append(float(drop / unit))
    return out


def load(path: str | Path | None = None) -> Prior:
    """The prior in ``path`` (default: the one shipped with the package, ``PRIOR_FILE``)."""
    path = PRIOR_FILE if path is None else Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        prior = Prior(q=float(d["q"]), q_log_sd=float(d["q_log_sd"]), reach=[float(x) for x in d.get("reach", [])],
                      alpha_sd=[float(x) for x in d.get("alpha_sd", [])],
                      families={str(k): dict(v) for k, v in d["families"].items()},
                      provenance=str(d.get("provenance", "")))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the prior ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a scalelaw prior (expected q, q_log_sd and families: {exc})") from None
    numbers = [prior.q, prior.q_log_sd, *prior.reach, *prior.alpha_sd]
    if not (np.all(np.isfinite(numbers)) and prior.q >= 0 and prior.q_log_sd >= 0
            and len(prior.reach) == len(prior.alpha_sd)):
        raise InputError(f"{path}: the prior's q, q_log_sd, reach and alpha_sd must be finite numbers "
                         "(q, q_log_sd >= 0; one alpha_sd per reach)")
    return prior


def save(prior: Prior, path: str | Path) -> None:
    """Write ``prior`` as JSON to ``path``."""
    Path(path).write_text(json.dumps(asdict(prior), indent=1) + "\n", encoding="utf-8")


def resolve(prior) -> Prior | None:
    """``scalelaw.fit``'s ``prior`` argument as a ``Prior`` (or None): ``"default"`` (the shipped
    one, read once), a ``Prior``, a path to a prior file, or None."""
    if prior is None or isinstance(prior, Prior):
        return prior
    if isinstance(prior, str) and prior == "default":
        if "default" not in _PRIORS:
            _PRIORS["default"] = load()
        return _PRIORS["default"]
    if isinstance(prior, (str, Path)):
        return load(prior)
    raise InputError(f"prior: give 'default', a Prior, a prior file or None, got {prior!r}")


_PRIORS: dict[str, "Prior"] = {}


def fit_law(law, data, prior: Prior | None = None, **kwargs):
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
