"""What a run's log says about its future: the posterior of the annealing law given the run,
its references and the population of runs (``scalelaw.population``), and the forecast that
follows from it (the posterior predictive).

The model, in the law's scale-free form (``laws.annealing.scale_free``), for each group of runs
(the forecast run, and each model size of the references):

    y_i = P [(1 - r) + r (S1_i / S1_T)^-alpha - q W_i] + e_i
    z = (logit r, log alpha, log q) ~ population (jointly over the groups: ``Population.joint``)

- S1_T is the group's largest fitted LR area; P the loss without decay there and r, q relative
  to it, as the population holds them. The population's mean r depends on how far the forecast
  reaches: to the last step of ``horizon`` for the forecast run, nowhere for a reference.
- P, the loss scale of each group, is free (a flat prior on log P).
- The noise e is measured on the group's own log: its sd from the residuals of a first fit,
  widened by their lag-1 autocorrelation rho to ``sd sqrt((1 + rho) / (1 - rho))``, the sd that
  gives an AR(1) series' mean its right variance. Each group's rows are weighted by that.
- A group whose rows have made less than ``MIN_ANNEAL`` of a whole anneal does not inform its
  decay share: the law's decay term is fitted to a few percent of an anneal by whatever
  curvature the area term leaves (at 10 % of a cosine it read decay shares 7 times the
  population's), so its rows are fitted with W = 0 and q stays the population's.
- The maximum a posteriori point is a least-squares problem (data residuals over their noise,
  and the prior's whitened deviations); its Jacobian gives the Laplace approximation.
- The Laplace approximation is checked by importance sampling from it: when the draws'
  effective share (``ESS_SHARE``) is below one half, the posterior is far from Gaussian (a
  short run, an unidentified decay) and is sampled instead (emcee, an affine-invariant
  ensemble sampler: robust in a few to a dozen dimensions with no tuning, and pure Python).
  ``method`` says which.
- The population's tails (``TAILS``): a run of a data set the population has not seen may lie
  far out in it. The population is taken as a scale mixture of normals: its sd times 1 (the
  population as learned), 2 or 4, with prior weights ``TAILS``. Each scale gives a posterior
  (a component); their weights are the prior's times each one's evidence (Laplace's marginal
  likelihood at its mode), so a run that the population fits keeps its sharp posterior and a
  run that contradicts it moves to a wider one. The law's discrepancy grows with the scale
  too (``DISCREPANCY["tail"]``: its exponent): a run unlike the population is one the law was
  not checked on.
- The forecast at a step is the distribution of the law over the posterior's draws, plus one
  logged loss's noise: its median is the point forecast and its quantiles the interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit

from . import population as population_
from .errors import InputError
from .laws import annealing, get_law
from .schedules import from_log, resolve

DECAY, WARMUP = annealing.OPTIONS["decay"], annealing.OPTIONS["warmup"]
# The law's own error beyond what the run has shown (1 sd, a share of the loss; ``compose``): per
# unit of log LR-area reach, and per unit of anneal not yet seen (a term proportional to the
# drop the area term forecasts was swept too, and lost to the reach's), all times the draw's
# tail scale to the power "tail" (the sweep chose 1 over 0). Chosen by
# benchmarks/forecast_suite.py --sweep on the tuning families (results/forecast_sweep.json).
DISCREPANCY = {"reach": 0.01, "anneal": 0.025, "drop": 0.0, "tail": 1.0}
# The least anneal (W) a group's rows must have made to inform its decay share. Chosen with
# DISCREPANCY by the same sweep.
MIN_ANNEAL = 0.1
# Prior weights of the population's sd scaled by 1, 2 and 4 (module docstring; a scale with no
# weight is not fitted). Chosen with DISCREPANCY by the same sweep, from 6 weightings.
TAILS = {1.0: 0.9, 2.0: 0.0, 4.0: 0.1}
ESS_SHARE = 0.5  # below this effective share of the Laplace draws, the posterior is sampled
DRAWS = 2000
MIN_ROWS = 4


@dataclass
class Group:
    """One group of runs fitted with one set of law parameters: its rows' loss ``y``, forward
    area ``S1`` and anneal fraction ``W`` (``(1 - lambda) S2 / peak``), the run of each row,
    the largest fitted area ``S1_T``, the area at the horizon ``S1_H`` and the peak LR;
    ``noise`` (sd of one logged loss) and ``rho`` (lag-1 autocorrelation of the residuals),
    measured by ``fit``."""

    name: str
    y: np.ndarray
    S1: np.ndarray
    W: np.ndarray
    run: np.ndarray
    S1_T: float
    S1_H: float
    peak: float
    noise: float = 0.0
    rho: float = 0.0
    min_anneal: float = 0.0

    @property
    def W_fit(self) -> np.ndarray:
        """The anneal fractions the fit sees: W, or 0 where the rows made less than ``min_anneal``."""
        return self.W if self.W.max() >= self.min_anneal else np.zeros_like(self.W)

    @property
    def scale(self) -> float:
        """The sd each residual is divided by: the noise widened by its autocorrelation."""
        return self.noise * np.sqrt((1 + self.rho) / (1 - self.rho))


def areas(lr: np.ndarray, steps, peak: float) -> tuple[np.ndarray, np.ndarray]:
    """(S1, W) at ``steps`` of the per-step LR ``lr``, W relative to ``peak``."""
    a = annealing.areas(lr, np.asarray(steps, dtype=int), annealing.OPTIONS)
    return a["S1"], (1 - DECAY) * a["S2"] / peak


def group_of(name: str, frame: pd.DataFrame, start: float | None, horizon: Any = None) -> Group:
    """A ``Group`` from a frame with ``run``, ``step``, ``y`` and ``lr``, fitted from ``start``;
    ``horizon``: the schedule (spec, per-step LR or log) whose last step a forecast is for
    (default: the last logged step)."""
    parts, peak = [], float(frame["lr"].max())
    frame = frame if "run" in frame else frame.assign(run="run")
    for run, g in frame.groupby("run", sort=False):
        g = g.sort_values("step")
        lr = from_log(g["step"].to_numpy(), g["lr"].to_numpy(float), warmup=WARMUP)
        g = g[g["step"] >= (start or 0)]
        if len(g):
            s1, w = areas(lr, g["step"].to_numpy(), peak)
            parts.append((g["y"].to_numpy(float), s1, w, np.full(len(g), str(run))))
    if not parts or sum(len(p[0]) for p in parts) < MIN_ROWS:
        raise InputError(f"{name}: a forecast needs {MIN_ROWS} logged losses or more after the initial transient")
    y, s1, w, run = (np.concatenate(p) for p in zip(*parts))
    if not (np.all(np.isfinite(y)) and np.all(y > 0)):
        raise InputError(f"{name}: the loss must be a positive number at every row")
    S1_H = float(s1.max())
    if horizon is not None:
        lr = resolve(horizon, warmup=WARMUP)
        S1_H = max(S1_H, float(areas(lr, [len(lr) - 1], peak)[0][0]))
    return Group(name, y, s1, w, run, float(s1.max()), S1_H, peak)


def unpack(theta: np.ndarray) -> tuple[np.ndarray, ...]:
    """P, r, alpha, q (each (m, 1)) of parameter rows ``theta`` (m, 4): log P, logit r, log
    alpha, log q (alpha and q held below e^3 and e^5, where a trial step overflows)."""
    return (np.exp(theta[:, 0:1]), expit(theta[:, 1:2]), np.exp(np.minimum(theta[:, 2:3], 3.0)),
            np.exp(np.minimum(theta[:, 3:4], 5.0)))


def law(theta: np.ndarray, S1: np.ndarray, W: np.ndarray, S1_T: float) -> np.ndarray:
    """The scale-free law for parameter rows ``theta`` (m, 4) (``unpack``); returns (m, points)."""
    P, r, alpha, q = unpack(theta)
    return P * ((1 - r) + r * (S1 / S1_T)[None, :] ** -alpha - q * W[None, :])


@dataclass
class Component:
    """The posterior with the population's sd times ``scale``: ``mode`` (the maximum a
    posteriori point of every group's (log P, logit r, log alpha, log q)), ``cov`` (its Laplace
    covariance), ``draws`` (rows of the posterior), ``method`` (``laplace`` or ``sampled``),
    ``ess`` (the Laplace draws' effective share under the exact posterior) and ``evidence``
    (the log marginal likelihood, Laplace's, up to a constant that all scales share)."""

    scale: float
    mode: np.ndarray
    cov: np.ndarray
    draws: np.ndarray
    method: str
    ess: float
    evidence: float


@dataclass
class Posterior:
    """The posterior over each group's (log P, logit r, log alpha, log q), the first group the
    forecast run: one ``Component`` for each scale of the population's sd that ``tails`` (its
    prior weights) gives weight. ``weights``: each component's posterior weight; ``mode``,
    ``cov``, ``method`` and ``ess`` are the heaviest one's; ``draws`` the mixture's."""

    groups: list[Group]
    population: population_.Population
    components: list[Component]
    tails: dict[float, float]

    def reweighted(self, tails: dict[float, float]) -> "Posterior":
        """This posterior under other prior weights of the scales (those not fitted weigh 0)."""
        return Posterior(self.groups, self.population, self.components,
                         {c.scale: float(tails.get(c.scale, 0.0)) for c in self.components})

    @property
    def weights(self) -> np.ndarray:
        return mixture_weights([c.evidence for c in self.components], [self.tails[c.scale] for c in self.components])

    @property
    def main(self) -> Component:
        return self.components[int(np.argmax(self.weights))]

    mode = property(lambda self: self.main.mode)
    cov = property(lambda self: self.main.cov)
    method = property(lambda self: self.main.method)
    ess = property(lambda self: self.main.ess)

    @property
    def draws(self) -> np.ndarray:
        pick = _pick(self.weights)
        return np.concatenate([c.draws[:n] for c, n in zip(self.components, pick)])

    def params(self, group: int = 0) -> dict[str, float]:
        """The annealing law's parameters (L0, A, alpha, C) of a group at the mode."""
        g, t = self.groups[group], self.mode[4 * group:4 * group + 4]
        out = annealing.from_scale_free(np.exp(t[0]), expit(t[1]), np.exp(t[2]), np.exp(t[3]), g.S1_T, g.peak, DECAY)
        return {k: float(v) for k, v in out.items()}

    def z_sd(self) -> dict[str, float]:
        """The posterior sd of the forecast run's z (``population.NAMES``)."""
        return dict(zip(population_.NAMES, np.std(self.draws[:, 1:4], axis=0).tolist()))

    def parts(self, steps, schedule: Any) -> dict[str, Any]:
        """What the forecast run's predictive at ``steps`` under ``schedule`` (a spec, a
        per-step LR or a log ``(steps, lr)``) is made of, for the draws of every component
        (``compose`` mixes them and adds them up): ``law`` (draws, points), the law over the
        draws; ``P`` (draws, 1), each draw's loss scale; ``drop`` (draws, points), the drop the
        area term forecasts there; ``component`` (draws,), the index of each draw's component;
        ``reach``, the log of the LR area there over the
        largest fitted; ``anneal``, the fraction of a whole anneal made there beyond the most
        any fitted row made; ``scales``, ``evidence`` and ``tails``, each component's scale,
        evidence and prior weight."""
        g = self.groups[0]
        lr = resolve(schedule, warmup=WARMUP)
        steps = np.atleast_1d(np.asarray(steps, dtype=int))
        if np.any(steps >= len(lr)) or np.any(steps < 0):
            raise InputError(f"steps must lie in the schedule's 0..{len(lr) - 1}")
        s1, w = areas(lr, steps, g.peak)
        theta = np.concatenate([c.draws[:, :4] for c in self.components])
        P, r, alpha, _ = unpack(theta)
        return {"law": law(theta, s1, w, g.S1_T), "P": P,
                "drop": r * (1 - np.maximum(s1 / g.S1_T, 1.0)[None, :] ** -alpha),
                "component": np.repeat(np.arange(len(self.components)), [len(c.draws) for c in self.components]),
                "reach": np.log(np.maximum(s1 / g.S1_T, 1.0)), "anneal": np.maximum(w - g.W_fit.max(), 0.0),
                "noise": np.full(len(steps), g.noise), "evidence": [c.evidence for c in self.components],
                "scales": [c.scale for c in self.components],
                "tails": [self.tails[c.scale] for c in self.components]}

    def sample(self, steps, schedule: Any, seed: int = 0, discrepancy: dict | None = None) -> np.ndarray:
        """Draws (DRAWS, len(steps)) of the forecast run's logged loss at ``steps`` under
        ``schedule``: the law over the posterior, its ``discrepancy`` (default ``DISCREPANCY``;
        zeros: the law taken as exact) and one logged loss's noise."""
        return compose(self.parts(steps, schedule), DISCREPANCY if discrepancy is None else discrepancy, seed)

    def interval(self, steps, schedule: Any, level: float = 0.95,
                 discrepancy: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(median, lower, upper) of the forecast at ``steps``: the posterior predictive's
        median and its central ``level`` interval (``discrepancy`` as for ``sample``)."""
        s = self.sample(steps, schedule, discrepancy=discrepancy)
        lo, mid, hi = np.quantile(s, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
        return mid, lo, hi


def compose(parts: dict[str, Any], discrepancy: dict[str, float], seed: int = 0,
            tails: dict[float, float] | None = None) -> np.ndarray:
    """DRAWS predictive draws from ``Posterior.parts``: the components' draws mixed by their
    posterior weights (each one's prior weight, ``tails`` by scale if given, times its
    evidence); the law, plus its discrepancy (a normal error, a share of the loss:
    ``discrepancy["drop"]`` times the drop the area term forecasts beyond the fitted rows,
    ``"reach"`` per unit of log reach, ``"anneal"`` per unit of anneal not yet seen;
    independent, each 0 where absent; all times the draw's scale to the power ``"tail"``),
    plus one logged loss's noise."""
    rng = np.random.default_rng(seed)
    prior = parts["tails"] if tails is None else [tails.get(scale, 0.0) for scale in parts["scales"]]
    pick = _pick(mixture_weights(parts["evidence"], prior))
    rows = np.concatenate([np.flatnonzero(parts["component"] == k)[:n] for k, n in enumerate(pick)])
    law_, P = parts["law"][rows], parts["P"][rows]
    scale = np.asarray(parts["scales"])[parts["component"][rows]][:, None]
    sd = np.sqrt((discrepancy.get("reach", 0.0) * parts["reach"]) ** 2
                 + (discrepancy.get("drop", 0.0) * parts["drop"][rows]) ** 2
                 + (discrepancy.get("anneal", 0.0) * parts["anneal"]) ** 2) * scale ** discrepancy.get("tail", 0.0)
    return law_ + P * sd * rng.standard_normal(law_.shape) + parts["noise"] * rng.standard_normal(law_.shape)


def mixture_weights(evidence, prior) -> np.ndarray:
    """The posterior weights of components with log ``evidence`` and ``prior`` weights."""
    prior = np.asarray(prior, dtype=float)
    log_w = np.where(prior > 0, np.log(np.maximum(prior, 1e-300)) + np.asarray(evidence, dtype=float), -np.inf)
    w = np.exp(log_w - np.max(log_w))
    return w / w.sum()


def _pick(weights: np.ndarray) -> np.ndarray:
    """How many of DRAWS come from each component: the weights' shares, rounded to a total of
    DRAWS (the largest remainders first)."""
    share = DRAWS * np.asarray(weights)
    n = np.floor(share).astype(int)
    n[np.argsort(n - share)[:DRAWS - n.sum()]] += 1
    return n


def _stack(groups: list[Group], pop: population_.Population, scale: float = 1.0):
    """The whitened residuals of parameter rows (m, 4 groups) -> (m, rows + 3 groups), the
    population's sd times ``scale``."""
    mean, cov = pop.joint([g.S1_H / g.S1_T for g in groups])
    cov = cov * scale**2
    whiten = np.linalg.inv(np.linalg.cholesky(cov))
    z_at = np.array([4 * k + j for k in range(len(groups)) for j in (1, 2, 3)])

    def residuals(theta: np.ndarray) -> np.ndarray:
        parts = [(g.y[None, :] - law(theta[:, 4 * k:4 * k + 4], g.S1, g.W_fit, g.S1_T)) / g.scale
                 for k, g in enumerate(groups)]
        parts.append((theta[:, z_at] - mean[None, :]) @ whiten.T)
        return np.concatenate(parts, axis=1)

    return residuals


def _jacobian(residuals, theta: np.ndarray) -> np.ndarray:
    """Central differences of ``residuals`` at ``theta``, every column in one call."""
    h = 1e-5 * np.maximum(1.0, np.abs(theta))
    rows = np.concatenate([theta + np.diag(h), theta - np.diag(h)])
    r = residuals(rows)
    return ((r[:len(theta)] - r[len(theta):]) / (2 * h[:, None])).T


def _mode(residuals, x0: np.ndarray) -> np.ndarray:
    res = least_squares(lambda t: residuals(t[None, :])[0], x0, jac=lambda t: _jacobian(residuals, t),
                        method="trf", x_scale="jac", max_nfev=2000)
    return res.x


def _noise(y: np.ndarray, run: np.ndarray) -> float:
    """A first estimate of one logged loss's noise: the spread of second differences within runs
    (a smooth curve has almost none), robust to outliers."""
    d = np.concatenate([np.diff(y[run == r], 2) for r in np.unique(run)])
    if len(d) < 2:
        return 1e-3 * float(np.median(y))
    return max(1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(6), 1e-5 * float(np.median(y)))


def _measure_noise(g: Group, fitted: np.ndarray) -> None:
    """Set a group's noise and autocorrelation from its residuals about ``fitted``."""
    e = g.y - fitted
    g.noise = max(float(np.sqrt(np.mean(e**2))), 1e-5 * float(np.median(g.y)))
    pairs = [(e[g.run == r][:-1], e[g.run == r][1:]) for r in np.unique(g.run)]
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    g.rho = float(np.clip(np.sum(a * b) / max(np.sum(e**2), 1e-300), 0.0, 0.95)) if len(a) > 2 else 0.0


def fit(frame: pd.DataFrame, population: Any = "default", references: pd.DataFrame | None = None,
        horizon: Any = None, start: float | str | None = "auto", seed: int = 0,
        min_anneal: float | None = None, tails: dict[float, float] | None = None) -> Posterior:
    """The posterior of a run (``frame``: ``run``, ``step``, ``y``, ``lr``; several runs are
    one group) given ``population`` (``scalelaw.population.resolve``) and ``references``
    (finished runs of other model sizes: grouped by their ``N`` column, else each run a group).
    ``horizon``: the schedule of the run to its end (spec, per-step LR or log ``(steps, lr)``),
    how far its forecast reaches (the population's r depends on it; default: the last logged
    step). ``min_anneal``: ``MIN_ANNEAL`` by default. ``start``: the first step fitted
    (``"auto"``: where the initial transient ends, found by ``transient.find_start``;
    references find their own). ``tails``: the prior weight of each scale of the population's
    sd (``TAILS`` by default); a component is fitted for each with a weight."""
    pop = population_.resolve(population)
    groups = [group_of("the run", frame, _start(frame, start), horizon)]
    if references is not None:
        by = "N" if "N" in references else "run"
        for key, ref in references.groupby(by, sort=False):
            groups.append(group_of(f"reference {key}", ref, _start(ref, start)))
    for g in groups:
        g.min_anneal = MIN_ANNEAL if min_anneal is None else min_anneal
        g.noise = _noise(g.y, g.run)
    x0 = np.concatenate([[np.log(np.median(g.y[-3:])), *pop.mean] for g in groups])
    mode = _mode(_stack(groups, pop), x0)
    for k, g in enumerate(groups):  # the noise measured about the first fit, then the fit again
        _measure_noise(g, law(mode[None, 4 * k:4 * k + 4], g.S1, g.W_fit, g.S1_T)[0])
    tails = dict(TAILS if tails is None else tails)
    rng = np.random.default_rng(seed)
    components = [_component(groups, pop, scale, mode, rng) for scale, w in tails.items() if w > 0]
    return Posterior(groups, pop, components, tails)


def _component(groups: list[Group], pop: population_.Population, scale: float, x0: np.ndarray, rng) -> Component:
    """The posterior with the population's sd times ``scale`` (``Component``), its mode found
    from ``x0``."""
    residuals = _stack(groups, pop, scale)
    mode = _mode(residuals, x0)
    J = _jacobian(residuals, mode)
    H = J.T @ J
    cov = np.linalg.pinv(H)
    draws = rng.multivariate_normal(mode, cov, size=DRAWS, method="eigh")
    log_p = -0.5 * np.sum(residuals(draws) ** 2, axis=1)
    d = draws - mode
    log_q = -0.5 * np.einsum("ij,jk,ik->i", d, H, d)
    w = np.exp(np.clip(log_p - log_q - np.max(log_p - log_q), -700, 0))
    ess = float(w.sum() ** 2 / np.sum(w**2) / len(w))
    method = "laplace"
    if ess < ESS_SHARE:
        draws, method = _sampled(residuals, mode, draws, rng), "sampled"
    # Laplace's log evidence: the log posterior at the mode, less half the log determinant of
    # its precision, and the prior's normalisation (its sd is ``scale`` times the population's
    # in each of the 3 z of each group)
    evidence = -0.5 * np.sum(residuals(mode[None, :]) ** 2) - 0.5 * np.linalg.slogdet(H)[1] \
        - 3 * len(groups) * np.log(scale)
    return Component(scale, mode, cov, draws, method, ess, float(evidence))


def _sampled(residuals, mode: np.ndarray, laplace: np.ndarray, rng, steps: int = 1500) -> np.ndarray:
    """Draws of the exact posterior by emcee's ensemble sampler, its walkers started on Laplace
    draws; the first half of each chain is discarded."""
    import emcee

    walkers = max(32, 2 * len(mode) + 2)
    sampler = emcee.EnsembleSampler(walkers, len(mode), lambda t: -0.5 * np.sum(residuals(t) ** 2, axis=1),
                                    vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    sampler.run_mcmc(laplace[:walkers], steps)
    chain = sampler.get_chain(discard=steps // 2, flat=True)
    return chain[rng.choice(len(chain), size=DRAWS, replace=len(chain) < DRAWS)]


def _start(frame: pd.DataFrame, start: float | str | None) -> float | None:
    if not isinstance(start, str):
        return start
    from .auto import first_step  # the rule every step law is fitted from

    return first_step(get_law("annealing"), frame, start)[0]
