"""Synthetic runs with known parameters, for tests and benchmarks: per-step training logs
(``per_step_log``) and an isoFLOP ladder's final losses (``isoflop_runs``).

A real per-step log starts at step 0 with the loss of an untrained model (ln of the vocabulary,
about 10.4 nats for 32k tokens), falls by several nats in the first few hundred steps, a phase
that no step law describes (the *initial transient*), and then follows the slow law that the
fitters model, with per-step noise of a percent or two from the minibatch. ``per_step_log``
makes such a log from a step law's parameters, so that a fit can be checked against the truth.

    loss(s) = Lc(s) + (start - Lc(s)) * exp(-s / tau),  Lc = min(law(s), start)
    logged  = loss(s) * exp(noise),  noise ~ AR(1) with lag-one correlation ``rho``, sd ``noise``
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .laws import design, get_law
from .schedules import resolve

# The annealing law's parameters of a realistic 100M-parameter run: loss about 2.5 after 34k
# steps of a cosine from 6e-4 (LR area about 11), as the logs had.
ANNEALING_100M = {"L0": 2.35, "A": 0.6, "alpha": 0.4, "C": 0.01}


def per_step_log(schedule: Any, params: Mapping[str, float] | None = None, *, law: str = "annealing",
                 start: float = 10.4, tau: float = 150.0, noise: float = 0.015, rho: float = 0.0,
                 lr_every: int = 1, seed: int = 0, run: str = "run") -> pd.DataFrame:
    """A per-step log from step 0 under ``schedule``.

    Args:
        schedule: the LR of every step (a spec such as ``"cosine:peak=6e-4,total=33908,final=6e-5"``
            or a per-step array, ``scalelaw.schedules``).
        params: the step law's parameters (default ``ANNEALING_100M``); ``law`` names it.
        start: the loss at step 0, loss units.
        tau: steps over which the initial transient decays (e-folding).
        noise: standard deviation of the relative per-step noise (0.015: 1.5 %).
        rho: lag-one autocorrelation of the noise (0: independent steps).
        lr_every: log the lr every this many steps (rows between get an empty lr).
        seed: seed of the noise.
        run: the run's name (``run`` column).

    Returns:
        frame with ``run``, ``step`` (0 to the schedule's last step), ``lr``, ``loss`` and
        ``true_loss`` (the noise-free curve).
    """
    fitted = get_law(law)
    params = dict(ANNEALING_100M if params is None else params)
    lr = resolve(schedule)
    steps = np.arange(len(lr))
    inputs = design.of(fitted).predict_inputs(np.arange(1, len(lr)), lr, fitted.options)
    with np.errstate(over="ignore", invalid="ignore"):
        law_loss = np.concatenate([[start], np.asarray(fitted(inputs, **params), dtype=float)])
    capped = np.minimum(np.nan_to_num(law_loss, nan=start, posinf=start), start)
    true = capped + (start - capped) * np.exp(-steps / tau)
    rng = np.random.default_rng(seed)
    eps = lfilter([1.0], [1.0, -rho], rng.normal(0.0, noise * np.sqrt(1 - rho**2), len(steps)))
    logged_lr = np.where(steps % lr_every == 0, lr, np.nan)
    return pd.DataFrame({"run": run, "step": steps, "lr": logged_lr, "loss": true * np.exp(eps),
                         "true_loss": true})


def isoflop_runs(params: Mapping[str, float], budgets=np.geomspace(1e18, 1e22, 5), span=(0.1, 10), sizes: int = 7,
                 noise: float = 0.002, seed: int = 0) -> pd.DataFrame:
    """Final losses on the chinchilla surface ``params`` (E, A, B, alpha, beta): at each compute
    budget (FLOPs, ``C = 6 N D``), ``sizes`` model sizes spread geometrically over ``span`` times
    that budget's optimum, each loss times ``exp`` of a normal error of sd ``noise``. Columns
    ``N``, ``C``, ``y``."""
    from .laws.bivariate import CHINCHILLA, chinchilla_optimum

    rng, rows = np.random.default_rng(seed), []
    for c in budgets:
        best = chinchilla_optimum(params, np.array([c]))["N"][0]
        n = best * np.geomspace(*span, sizes)
        y = CHINCHILLA({"N": n, "D": c / (6 * n)}, **params) * np.exp(rng.normal(0, noise, sizes))
        rows.append(pd.DataFrame({"N": n, "C": c, "y": y}))
    return pd.concat(rows, ignore_index=True)
