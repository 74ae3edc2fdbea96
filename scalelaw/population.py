"""The population of training runs that a step-law forecast draws on: what a run that has not
yet shown its future is likely to do, learned from finished runs of many curve families.

A forecast from the first 10 % of a run has to say how fast the loss will keep falling and how
much decaying the LR will buy, which the run's own log barely constrains. The annealing law
(Tissue et al. 2024) written free of the loss's scale (``laws.annealing.scale_free``) has three
numbers that are alike across runs, whatever their loss:

- ``logit_r``: r, the share of the loss at the run's last logged step that LR area has yet to
  remove (the level's distance from that loss). It falls as a run goes on, so its mean is a
  line in how far the forecast reaches: ``mean + r_slope * ln(S1 at the horizon / S1 at the
  last logged step)`` (``prior_mean``);
- ``log_alpha``: the exponent of the loss over LR area;
- ``log_q``: q, the share of the loss a whole anneal removes (the decay share).

Each run's three numbers ``z`` are a draw from the population, ``z ~ N(mean, cov)``; the loss
scale P of each run is its own and free. Runs of one data set at other model sizes (references)
share more than the population: their exponent and decay share differ by ``size_cov`` only,
so a reference narrows a run's posterior (``joint``).

How it is learned (``learn``), empirical Bayes with a normal hierarchy, by moments:

1. Each family of the tuning split (runs of one model on one data set; ``measure``) is fitted
   whole by the annealing law; its ``z`` is read at the steps a forecast is made from: the last
   step of the first 10, 20, 40, 60 and 100 % of each run, with the reach from there to the
   run's end.
2. ``r_slope``: the weighted least-squares slope of logit r on the log reach (each family
   weighs ``weight`` in all: real LLM curves count more than toy runs).
3. ``mean``: the weighted mean of the families' mean z (logit r taken back to reach 1 by the
   slope). ``cov``: the weighted covariance between the families' means plus their mean
   covariance within (between runs and the steps a forecast is made from).
3. ``size_cov``: the covariance of (log_alpha, log_q) between sizes of one data set, pooled over
   the data sets with two sizes or more.

The shipped file (``population.json``) holds the measurements it was learned from and how
(``provenance``); ``benchmarks/forecast_suite.py --write-population`` rebuilds it from the
tuning families of ``benchmarks/forecast_split.json``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import InputError
from .laws import annealing

NAMES = ("logit_r", "log_alpha", "log_q")
CUTS = (0.1, 0.2, 0.4, 0.6, 1.0)  # the shares of a run whose last step z is read at
POPULATION_FILE = Path(__file__).resolve().with_name("population.json")


@dataclass
class Population:
    """``mean`` (3,) and ``cov`` (3, 3) of z = (logit_r, log_alpha, log_q) over runs, logit_r
    at reach 1, and ``r_slope``, its change per unit of log reach; ``size_cov`` (2, 2): the
    spread of (log_alpha, log_q) between model sizes of one data set; ``families``: the
    measurements learned from (``measure``); ``provenance``: how."""

    mean: list[float]
    cov: list[list[float]]
    size_cov: list[list[float]]
    r_slope: float = 0.0
    families: dict[str, dict] = field(default_factory=dict)
    provenance: str = ""

    def prior_mean(self, reach: float) -> np.ndarray:
        """The mean z of a run whose forecast reaches ``reach`` times its largest logged LR area."""
        return np.asarray(self.mean, dtype=float) + np.array([self.r_slope * np.log(max(reach, 1.0)), 0.0, 0.0])

    def joint(self, reaches) -> tuple[np.ndarray, np.ndarray]:
        """Mean (3 runs,) and covariance of the z of runs of one data set with forecasts that
        reach ``reaches`` (the first the forecast run, the rest references of other sizes, at
        reach 1): each run's z is a draw of the population; two runs' exponents and decay
        shares share all but ``size_cov``."""
        runs = len(reaches)
        cov, size = np.asarray(self.cov, dtype=float), np.asarray(self.size_cov, dtype=float)
        if runs == 1:
            return self.prior_mean(reaches[0]), cov
        shared = np.zeros((3, 3))
        shared[1:, 1:] = _psd(cov[1:, 1:] - size)
        # each run's own part: what the shared part leaves, its correlations shrunk towards none
        # where they would pin one parameter to another (an eigenvalue under a tenth of its least
        # variance): a run's r, fitted on its own log, must not drag its decay share along
        own = cov - shared
        for t in np.linspace(0.0, 1.0, 11):
            blend = (1 - t) * own + t * np.diag(np.diag(own))
            if np.linalg.eigvalsh(blend).min() >= 0.1 * np.diag(own).min():
                break
        out = np.kron(np.ones((runs, runs)), shared) + np.kron(np.eye(runs), blend)
        return np.concatenate([self.prior_mean(r) for r in reaches]), out

    def sd(self) -> dict[str, float]:
        """The population's spread of each of ``NAMES`` (1 sd)."""
        return dict(zip(NAMES, np.sqrt(np.diag(np.asarray(self.cov, dtype=float))).tolist()))

    def standard_error(self) -> np.ndarray:
        """The standard error of ``mean``: the spread between families over the square root of
        their effective number (by weight)."""
        w = np.array([f["weight"] for f in self.families.values()], dtype=float)
        means = np.array([family_mean(f, self.r_slope) for f in self.families.values()])
        n_eff = w.sum() ** 2 / np.sum(w**2)
        return np.sqrt(np.diag(_weighted_cov(means, w)) / n_eff)

    def without(self, family: str) -> "Population":
        """The population learned again without ``family`` (to score forecasts on it)."""
        return learn({k: v for k, v in self.families.items() if k != family}, self.provenance)


def measure(result, runs: Mapping[str, tuple[np.ndarray, np.ndarray]], group: str, weight: float = 1.0) -> dict:
    """What a family tells the population: ``result``, the annealing law fitted on all its runs
    (``FitResult``), read at ``CUTS`` of each of ``runs`` (run -> ``(steps, lr)``). Returns
    ``{"group", "weight", "alpha", "cuts": [[log reach, logit_r, log_q], ...]}``; raises
    InputError when the fit cannot serve (its decay term unidentified, or on a bound)."""
    if not result.identified or result.status != "converged":
        raise InputError(f"the family's fit does not identify its decay term ({result.status})")
    cuts = []
    for steps, lr in runs.values():
        peak = float(np.max(lr))
        at = [int(steps[np.searchsorted(steps, steps[0] + c * (steps[-1] - steps[0]), side="right") - 1]) for c in CUTS]
        s1 = result.inputs(at, (steps, lr))["S1"]
        for step, area in zip(at, s1):
            z = annealing.scale_free(result.params, float(area), peak, result.law_options["decay"])
            if not (0 < z["r"] < 1 and z["q"] > 0):
                raise InputError(f"the family's fit gives r {z['r']:.3g} and q {z['q']:.3g} at step {step}")
            cuts.append([float(np.log(s1[-1] / area)), float(np.log(z["r"] / (1 - z["r"]))), float(np.log(z["q"]))])
    return {"group": group, "weight": float(weight), "alpha": float(result.params["alpha"]), "cuts": cuts}


def family_mean(f: Mapping, r_slope: float = 0.0) -> np.ndarray:
    """A family's mean z over its cuts, logit r taken back to reach 1 by ``r_slope``."""
    cuts = np.asarray(f["cuts"], dtype=float)
    return np.array([np.mean(cuts[:, 1] - r_slope * cuts[:, 0]), np.log(f["alpha"]), cuts[:, 2].mean()])


def learn(families: Mapping[str, Mapping], provenance: str = "") -> Population:
    """The population from each family's measurements (``measure``), by the rules of the module
    docstring. Needs three families or more."""
    if len(families) < 3:
        raise InputError(f"a population needs three curve families or more, got {len(families)}")
    names = list(families)
    w = np.array([families[k]["weight"] for k in names], dtype=float)
    cuts = [np.asarray(families[k]["cuts"], dtype=float) for k in names]
    x = np.concatenate([c[:, 0] for c in cuts])
    y = np.concatenate([c[:, 1] for c in cuts])
    cw = np.concatenate([np.full(len(c), weight / len(c)) for c, weight in zip(cuts, w)])
    slope = float(np.polyfit(x, y, 1, w=np.sqrt(cw))[0])
    means = np.array([family_mean(families[k], slope) for k in names])
    within = np.zeros((3, 3))
    for c, weight in zip(cuts, w):
        inside = np.cov(np.stack([c[:, 1] - slope * c[:, 0], c[:, 2]]), bias=True)
        within[np.ix_([0, 2], [0, 2])] += weight * inside / w.sum()
    mean = np.average(means, axis=0, weights=w)
    cov = _weighted_cov(means, w) + within
    # between sizes of one data set: deviations of (log_alpha, log_q) from their data set's mean
    deviations, dof = [], 0
    for group in {families[k]["group"] for k in names}:
        members = means[[families[k]["group"] == group for k in names]][:, 1:]
        if len(members) >= 2:
            deviations.append(members - members.mean(axis=0))
            dof += len(members) - 1
    # with no data set of two sizes, references share nothing beyond the population
    size_cov = np.concatenate(deviations).T @ np.concatenate(deviations) / dof if dof else cov[1:, 1:]
    return Population(mean=mean.tolist(), cov=cov.tolist(), size_cov=size_cov.tolist(), r_slope=slope,
                      families={k: dict(families[k]) for k in names}, provenance=provenance)


def _weighted_cov(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted covariance of the rows of ``x``, unbiased for weights that count families."""
    mean = np.average(x, axis=0, weights=w)
    d = x - mean
    return (w[:, None] * d).T @ d / (w.sum() - np.sum(w**2) / w.sum())


def _psd(a: np.ndarray) -> np.ndarray:
    """``a`` with negative eigenvalues set to 0."""
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.maximum(vals, 0.0)) @ vecs.T


def load(path: str | Path | None = None) -> Population:
    """The population in ``path`` (default: the one shipped, ``POPULATION_FILE``), checked."""
    path = POPULATION_FILE if path is None else Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        pop = Population(mean=[float(x) for x in d["mean"]], cov=[[float(x) for x in row] for row in d["cov"]],
                         size_cov=[[float(x) for x in row] for row in d["size_cov"]],
                         r_slope=float(d.get("r_slope", 0.0)),
                         families={str(k): dict(v) for k, v in d.get("families", {}).items()},
                         provenance=str(d.get("provenance", "")))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the population ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a scalelaw population (expected mean, cov and size_cov: {exc})") from None
    cov, size = np.asarray(pop.cov), np.asarray(pop.size_cov)
    if (len(pop.mean) != 3 or cov.shape != (3, 3) or size.shape != (2, 2)
            or not np.all(np.isfinite([*pop.mean, *cov.ravel(), *size.ravel(), pop.r_slope]))
            or np.any(np.linalg.eigvalsh((cov + cov.T) / 2) <= 0)):
        raise InputError(f"{path}: the population's mean must be 3 finite numbers, its cov a 3x3 positive "
                         "definite matrix and its size_cov 2x2")
    return pop


def save(pop: Population, path: str | Path) -> None:
    """Write ``pop`` as JSON to ``path``."""
    Path(path).write_text(json.dumps(asdict(pop), indent=1) + "\n", encoding="utf-8")


_LOADED: dict[str, Population] = {}


def resolve(pop) -> Population:
    """A ``Population`` from ``"default"`` (the shipped one, read once), a ``Population`` or a
    path to a population file."""
    if isinstance(pop, Population):
        return pop
    if isinstance(pop, str) and pop == "default":
        if "default" not in _LOADED:
            _LOADED["default"] = load()
        return _LOADED["default"]
    if isinstance(pop, (str, Path)):
        return load(pop)
    raise InputError(f"population: give 'default', a Population or a population file, got {pop!r}")
