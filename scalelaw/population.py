"""The population of training runs that a step-law forecast draws on: what a run that has not
yet shown its future is likely to do, learned from finished runs of many curve families.

A forecast from the first 10 % of a run has to say how fast the loss will keep falling and how
much decaying the LR will buy, which the run's own log barely constrains. The annealing law
(Tissue et al. 2024) written free of the loss's scale (``laws.annealing.scale_free``) has three
numbers that are alike across runs, whatever their loss:

- ``logit_r``: r, the share of the loss at the run's last logged step that LR area has yet to
  remove (the level's distance from that loss);
- ``log_alpha``: the exponent of the loss over LR area;
- ``log_q``: q, the share of the loss a whole anneal removes (the decay share).

Each run's three numbers ``z`` are a draw from the population, ``z ~ N(mean, cov)``; the loss
scale P of each run is its own and free. Runs of one data set at other model sizes (references)
share more than the population: their exponent and decay share differ by ``size_cov`` only,
so a reference narrows a run's posterior (``joint``).

How it is learned (``learn``), empirical Bayes with a normal hierarchy, by moments:

1. Each family of the tuning split (runs of one model on one data set; ``measure``) is fitted
   whole by the annealing law; its ``z`` is read at the steps a forecast is made from (the last
   step of the first 10, 20, 40, 60 and 100 % of each target run: r and q are relative to the
   loss there, so they move as the run goes on).
2. ``mean``: the weighted mean of the families' mean z (``weight``: real LLM curves count more
   than toy runs). ``cov``: the weighted covariance between the families' means plus their mean
   covariance within (between the steps a forecast is made from).
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
CUTS = (0.1, 0.2, 0.4, 0.6, 1.0)  # shares of a run whose last step z is read at
POPULATION_FILE = Path(__file__).resolve().with_name("population.json")


@dataclass
class Population:
    """``mean`` (3,) and ``cov`` (3, 3) of z = (logit_r, log_alpha, log_q) over runs;
    ``size_cov`` (2, 2): the spread of (log_alpha, log_q) between model sizes of one data set;
    ``families``: the measurements learned from (``measure``); ``provenance``: how."""

    mean: list[float]
    cov: list[list[float]]
    size_cov: list[list[float]]
    families: dict[str, dict] = field(default_factory=dict)
    provenance: str = ""

    def joint(self, runs: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean (3 runs,) and covariance of the z of ``runs`` runs of one data set (the first
        the forecast run, the rest references of other sizes): each run's z is a draw of the
        population; two runs' exponents and decay shares share all but ``size_cov``."""
        cov, size = np.asarray(self.cov, dtype=float), np.asarray(self.size_cov, dtype=float)
        shared = np.zeros((3, 3))
        shared[1:, 1:] = _psd(cov[1:, 1:] - size)
        out = np.kron(np.ones((runs, runs)), shared)
        for k in range(runs):
            out[3 * k:3 * k + 3, 3 * k:3 * k + 3] = cov
        return np.tile(np.asarray(self.mean, dtype=float), runs), out

    def sd(self) -> dict[str, float]:
        """The population's spread of each of ``NAMES`` (1 sd)."""
        return dict(zip(NAMES, np.sqrt(np.diag(np.asarray(self.cov, dtype=float))).tolist()))

    def standard_error(self) -> np.ndarray:
        """The standard error of ``mean``: the spread between families over the square root of
        their effective number (by weight)."""
        w = np.array([f["weight"] for f in self.families.values()], dtype=float)
        means = np.array([family_mean(f) for f in self.families.values()])
        n_eff = w.sum() ** 2 / np.sum(w**2)
        return np.sqrt(np.diag(_weighted_cov(means, w)) / n_eff)

    def without(self, family: str) -> "Population":
        """The population learned again without ``family`` (to score forecasts on it)."""
        return learn({k: v for k, v in self.families.items() if k != family}, self.provenance)


def measure(result, runs: Mapping[str, tuple[np.ndarray, np.ndarray]], targets, group: str,
            weight: float = 1.0) -> dict:
    """What a family tells the population: ``result``, the annealing law fitted on all its runs
    (``FitResult``), read at ``CUTS`` of each of ``targets`` (names of ``runs``: run ->
    ``(steps, lr)``). Returns ``{"group", "weight", "alpha", "cuts": [[share, logit_r, log_q],
    ...]}``; raises InputError when the fit cannot serve (its decay term unidentified, or a
    parameter on its bound)."""
    if not result.identified or result.status != "converged":
        raise InputError(f"the family's fit does not identify its decay term ({result.status})")
    cuts = []
    for run in targets:
        steps, lr = runs[run]
        peak = float(np.max(lr))
        for share in CUTS:
            last = int(steps[np.searchsorted(steps, steps[0] + share * (steps[-1] - steps[0]), side="right") - 1])
            s1 = float(result.inputs([last], (steps, lr))["S1"][0])
            z = annealing.scale_free(result.params, s1, peak, result.law_options["decay"])
            if not (0 < z["r"] < 1 and z["q"] > 0):
                raise InputError(f"the family's fit gives r {z['r']:.3g} and q {z['q']:.3g} at step {last}")
            cuts.append([share, float(np.log(z["r"] / (1 - z["r"]))), float(np.log(z["q"]))])
    return {"group": group, "weight": float(weight), "alpha": float(result.params["alpha"]), "cuts": cuts}


def family_mean(f: Mapping) -> np.ndarray:
    """A family's mean z over its cuts."""
    cuts = np.asarray(f["cuts"], dtype=float)
    return np.array([cuts[:, 1].mean(), np.log(f["alpha"]), cuts[:, 2].mean()])


def learn(families: Mapping[str, Mapping], provenance: str = "") -> Population:
    """The population from each family's measurements (``measure``), by the rules of the module
    docstring. Needs three families or more."""
    if len(families) < 3:
        raise InputError(f"a population needs three curve families or more, got {len(families)}")
    names = list(families)
    w = np.array([families[k]["weight"] for k in names], dtype=float)
    means = np.array([family_mean(families[k]) for k in names])
    within = np.zeros((3, 3))
    for k, weight in zip(names, w):
        cuts = np.asarray(families[k]["cuts"], dtype=float)
        inside = np.cov(cuts[:, [1, 2]].T, bias=True)
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
    return Population(mean=mean.tolist(), cov=cov.tolist(), size_cov=size_cov.tolist(),
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
                         families={str(k): dict(v) for k, v in d.get("families", {}).items()},
                         provenance=str(d.get("provenance", "")))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the population ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a scalelaw population (expected mean, cov and size_cov: {exc})") from None
    cov, size = np.asarray(pop.cov), np.asarray(pop.size_cov)
    if (len(pop.mean) != 3 or cov.shape != (3, 3) or size.shape != (2, 2)
            or not np.all(np.isfinite([*pop.mean, *cov.ravel(), *size.ravel()]))
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
