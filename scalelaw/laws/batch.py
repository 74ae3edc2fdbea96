"""The loss over training steps at any batch size, and the critical batch size (Kaplan et al.
2020, section 5; McCandlish et al. 2018; refitted per setup by Su et al. 2024).

A run at batch size ``B`` (tokens per step) needs ``S = S_min * (1 + B_crit(L) / B)`` steps and
``E = E_min * (1 + B / B_crit(L))`` tokens to reach the loss ``L``, where ``S_min`` and
``E_min = B_crit * S_min`` are the fewest steps (at a very large batch) and the fewest tokens
(at a very small one), so that ``(S / S_min - 1)(E / E_min - 1) = 1``. The critical batch size
depends on the loss alone, ``B_crit(L) = B_star / L^(1 / alpha_B)``, and the loss on the
fewest steps as a power law, ``L = L_N + (S_c / S_min)^alpha_S``. With the model size ``N``,
``L_N = L_inf + (N_c / N)^alpha_N`` (Kaplan's form; ``L_inf`` is Henighan et al.'s constant).

Given ``S`` and ``B`` the loss solves ``L = L_N + (S_c (1 + B_crit(L) / B) / S)^alpha_S``, an
equation with one root above ``L_N``; it is solved by a bracketed Newton iteration, and the
exact Jacobian follows from the implicit function theorem.

Three laws, chosen from the data by ``variant`` (``--law batch`` takes any of them):

- ``batch``: runs of one model size: ``L_N`` is one fitted constant;
- ``batch_sizes``: three or more model sizes (``--n COL``): ``L_inf``, ``N_c``, ``alpha_N``;
- ``batch_kaplan``: exactly two sizes: Kaplan's form without the constant (``L_inf = 0``),
  since two sizes cannot identify three parameters of ``L_N``.

Inputs: ``step`` (the logged step), ``B`` (tokens per step: ``batch_tokens``; a ``batch_size``
column in sequences gives ``B_crit`` in sequences) and ``N``. Warmup is left out (Kaplan's fits
start after it): the steps up to each run's LR peak when the log has an lr column, else the
first ``warmup_steps``.

Kaplan et al.'s published constants (WebText2, tokens): ``alpha_N = 0.076``, ``N_c = 8.8e13``,
``alpha_S = 0.76``, ``S_c = 2.1e3``, ``alpha_B = 0.21``, ``B_star = 2.1e8`` (``KAPLAN``).
"""
from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Mapping

import numpy as np

from ..errors import InputError
from .base import MODEL_SIZE, Budget, Column, Flag, Inputs, Law, Param, register

KAPLAN = {"alpha_N": 0.076, "N_c": 8.8e13, "alpha_S": 0.76, "S_c": 2.1e3, "alpha_B": 0.21, "B_star": 2.1e8}
MIN_BATCHES = 3  # distinct batch sizes that identify B_crit(L)
_ITERATIONS = 60


def b_crit(loss, B_star: float, alpha_B: float) -> np.ndarray:
    """The critical batch size at ``loss``: ``B_star / loss^(1 / alpha_B)`` (tokens per step)."""
    return B_star / np.asarray(loss, dtype=float) ** (1.0 / alpha_B)


def _solve(S, B, L_N, S_c, alpha_S, B_star, alpha_B):
    """The loss at steps ``S`` and batch ``B``: the root of ``h(t) = t - alpha_S log(S_c / S)
    - alpha_S log(1 + q(L))`` in ``t = log(L - L_N)``, with ``q = B_crit(L) / B``. ``h`` rises
    with slope >= 1 from below 0 at ``t = alpha_S log(S_c / S)`` to above 0 once ``q`` is
    taken at ``L_N``; Newton steps that leave the bracket bisect it. Returns ``(L, u, log q)``:
    the loss, ``u = L - L_N`` and ``log(B_crit(L) / B)``."""
    S, B, L_N = np.broadcast_arrays(np.asarray(S, float), np.asarray(B, float), np.asarray(L_N, float))
    base = alpha_S * np.log(S_c / S)
    log_b = np.log(B_star) - np.log(B)

    def log_q(L):
        return log_b - np.log(L) / alpha_B

    lo = base
    hi = base + alpha_S * np.logaddexp(0.0, log_q(np.maximum(L_N, 1e-300)))
    t = 0.5 * (lo + hi)
    for _ in range(_ITERATIONS):
        u = np.exp(t)
        L = L_N + u
        lq = log_q(L)
        h = t - base - alpha_S * np.logaddexp(0.0, lq)
        lo, hi = np.where(h < 0, t, lo), np.where(h > 0, t, hi)
        slope = 1.0 + alpha_S * expit(lq) * u / (alpha_B * L)
        step = t - h / slope
        inside = (step > lo) & (step < hi)
        new = np.where(inside, step, 0.5 * (lo + hi))
        done = np.max(np.abs(new - t), initial=0.0) < 1e-13
        t = new
        if done:
            break
    u = np.exp(t)
    L = L_N + u
    return L, u, log_q(L)


def expit(x):
    """The logistic function (scipy's ``expit``, imported on first use: the CLI's start skips scipy)."""
    from scipy.special import expit as logistic

    return logistic(x)


def _loss_and_grads(S, B, L_N, S_c, alpha_S, B_star, alpha_B):
    """The loss and its derivatives with respect to ``L_N, S_c, alpha_S, B_star, alpha_B`` (the
    implicit function theorem on ``h``: ``dt/dp = -(dh/dp) / (dh/dt)``)."""
    L, u, lq = _solve(S, B, L_N, S_c, alpha_S, B_star, alpha_B)
    s = expit(lq)  # q / (1 + q)
    k = alpha_S * s / (alpha_B * L)  # dh/dL, at fixed t
    dh_dt = 1.0 + k * u
    dh = {"S_c": np.full_like(L, -alpha_S / S_c),
          "alpha_S": -np.log(S_c / np.asarray(S, float)) - np.logaddexp(0.0, lq),
          "B_star": -alpha_S * s / B_star,
          "alpha_B": -alpha_S * s * np.log(L) / alpha_B**2}
    grads = {name: -u * d / dh_dt for name, d in dh.items()}
    grads["L_N"] = 1.0 / dh_dt
    return L, grads


# -- one model size ---------------------------------------------------------------------------

def batch_loss(inputs: Inputs, L_N, S_c, alpha_S, B_star, alpha_B, **options) -> np.ndarray:
    """Loss after ``inputs["step"]`` steps at batch ``inputs["B"]`` (tokens per step). The law's
    ``options`` (which rows to fit) do not enter the formula."""
    return _solve(inputs["step"], inputs["B"], L_N, S_c, alpha_S, B_star, alpha_B)[0]


def _batch_jacobian(inputs: Inputs, L_N, S_c, alpha_S, B_star, alpha_B, **options) -> np.ndarray:
    _, g = _loss_and_grads(inputs["step"], inputs["B"], L_N, S_c, alpha_S, B_star, alpha_B)
    return np.column_stack([g[k] for k in ("L_N", "S_c", "alpha_S", "B_star", "alpha_B")])


# -- several model sizes ----------------------------------------------------------------------

def _size_term(N, L_inf, N_c, alpha_N):
    return L_inf + (N_c / np.asarray(N, float)) ** alpha_N


def batch_sizes_loss(inputs: Inputs, L_inf, N_c, alpha_N, S_c, alpha_S, B_star, alpha_B, **options) -> np.ndarray:
    """As ``batch_loss``, with ``L_N = L_inf + (N_c / N)^alpha_N`` from ``inputs["N"]``."""
    L_N = _size_term(inputs["N"], L_inf, N_c, alpha_N)
    return _solve(inputs["step"], inputs["B"], L_N, S_c, alpha_S, B_star, alpha_B)[0]


def _batch_sizes_jacobian(inputs: Inputs, L_inf, N_c, alpha_N, S_c, alpha_S, B_star, alpha_B, **options) -> np.ndarray:
    N = np.asarray(inputs["N"], float)
    power = (N_c / N) ** alpha_N
    _, g = _loss_and_grads(inputs["step"], inputs["B"], L_inf + power, S_c, alpha_S, B_star, alpha_B)
    d_size = g["L_N"]
    return np.column_stack([d_size, d_size * alpha_N * power / N_c, d_size * power * np.log(N_c / N),
                            *(g[k] for k in ("S_c", "alpha_S", "B_star", "alpha_B"))])


# -- starts, checks, rows ---------------------------------------------------------------------

def _common_starts(inputs: Inputs, y: np.ndarray, floor: float):
    """Starts of the step and batch terms, given a start of ``L_N`` (``floor``): exponents on a
    grid, ``B_crit`` at the median loss near the median batch, and ``S_c`` that puts the median
    point on the curve."""
    S, B = np.asarray(inputs["step"], float), np.asarray(inputs["B"], float)
    L_med, B_med, S_med = np.median(y), np.median(B), np.median(S)
    gap = max(L_med - floor, 1e-3 * L_med)
    for alpha_S, alpha_B, ratio in product((0.5, 1.0), (0.15, 0.35), (0.3, 3.0)):
        crit = ratio * B_med
        s_min = S_med / (1 + crit / B_med)
        yield {"S_c": s_min * gap ** (1 / alpha_S), "alpha_S": alpha_S,
               "B_star": crit * L_med ** (1 / alpha_B), "alpha_B": alpha_B}


def _batch_starts(inputs: Inputs, y: np.ndarray):
    for frac in (0.6, 0.9):
        floor = frac * np.min(y)
        for start in _common_starts(inputs, y, floor):
            yield {"L_N": floor, **start}


def _batch_sizes_starts(inputs: Inputs, y: np.ndarray):
    N = np.asarray(inputs["N"], float)
    n_mid = np.exp(np.mean(np.log(np.unique(N))))
    for frac, alpha_N in product((0.6, 0.9), (0.1, 0.4)):
        floor = frac * np.min(y)
        l_inf = 0.5 * floor
        n_c = n_mid * (floor - l_inf) ** (1 / alpha_N)  # L_N(n_mid) = floor
        for start in _common_starts(inputs, y, floor):
            yield {"L_inf": l_inf, "N_c": n_c, "alpha_N": alpha_N, **start}


def _setup(inputs: Inputs, options: Mapping) -> dict:
    batches = np.unique(np.asarray(inputs["B"], float))
    if len(batches) < MIN_BATCHES:
        raise InputError(f"the batch law needs runs at {MIN_BATCHES} or more batch sizes to identify the "
                         f"critical batch size; got {len(batches)} ({', '.join(f'{b:g}' for b in batches)})")
    return dict(options)


def _after_warmup(frame, options: Mapping) -> tuple[np.ndarray, str | None]:
    """Rows after warmup: past ``warmup_steps`` when given, else from each run's LR peak on
    (the first step at the largest lr) when the data have an lr column; step 0 never."""
    step = frame["step"].to_numpy(float)
    keep = step > 0
    given = options.get("warmup_steps")
    if given is not None:
        keep &= step > float(given)
        how = f"the first {float(given):g} steps (--warmup-steps)"
    elif "lr" in frame.columns:
        peak = frame.groupby("run", sort=False)["lr"].transform("max")
        first = frame["step"].where(frame["lr"] >= peak).groupby(frame["run"], sort=False).transform("min")
        keep &= step >= first.to_numpy()
        how = "each run's steps before its LR peak (warmup)"
    else:
        left = int((~keep).sum())
        return keep, ("no lr column and no --warmup-steps: any warmup is fitted as if it were not one"
                      + (f"; step 0 is not fitted ({left} row(s))" if left else ""))
    left = int((~keep).sum())
    return keep, (f"{how}: {left} row(s) not fitted" if left else None)


def _variant(frame) -> str:
    sizes = frame["N"].nunique() if "N" in frame.columns else 1
    return "batch" if sizes < 2 else "batch_kaplan" if sizes == 2 else "batch_sizes"


# -- what a loss costs ------------------------------------------------------------------------

def size_floor(params: Mapping[str, float], N) -> float:
    if "L_N" in params:
        return params["L_N"]
    if N is None:
        raise InputError("a fit over several model sizes allocates at one size: give N (--n)")
    return float(_size_term(N, params.get("L_inf", 0.0), params["N_c"], params["alpha_N"]))


def reach(params: Mapping[str, float], target, N: float | None = None) -> dict[str, np.ndarray]:
    """What reaching the loss ``target`` takes (one model size, or ``N`` for a fit over sizes):

    - ``S_min``: the fewest steps (at a very large batch), ``E_min``: the fewest tokens (at a
      very small one), ``B_crit = E_min / S_min``, the critical batch size (tokens per step);
    - ``step``, ``B``, ``tokens``: the fastest run that spends at most twice ``E_min``: at
      ``B = B_crit``, ``2 S_min`` steps and ``2 E_min`` tokens (a smaller batch saves tokens
      and costs steps along ``(S / S_min - 1)(E / E_min - 1) = 1``);
    - with ``N``, the model size, as given.

    A target at or below ``L_N`` cannot be reached by training longer: an ``InputError``."""
    target = np.atleast_1d(np.asarray(target, dtype=float))
    floor = size_floor(params, N)
    if np.any(target <= floor):
        raise InputError(f"target loss {np.min(target):g} is not above {floor:.5g}, the loss this model "
                         "size reaches with unlimited steps (L_N): no batch size reaches it")
    s_min = params["S_c"] / (target - floor) ** (1 / params["alpha_S"])
    crit = b_crit(target, params["B_star"], params["alpha_B"])
    out = {"S_min": s_min, "E_min": s_min * crit, "B_crit": crit,
           "step": 2 * s_min, "B": crit, "tokens": 2 * s_min * crit}
    return out if N is None else {**out, "N": np.full_like(target, float(N))}


def steps_and_tokens(params: Mapping[str, float], target: float, B, N: float | None = None) -> dict:
    """Steps and tokens to reach ``target`` at batch sizes ``B``: ``S_min (1 + B_crit / B)`` and
    ``E_min (1 + B / B_crit)`` (the points of one S-E hyperbola)."""
    r = reach(params, target, N)
    B = np.asarray(B, dtype=float)
    return {"B": B, "steps": r["S_min"][0] * (1 + r["B_crit"][0] / B),
            "tokens": r["E_min"][0] * (1 + B / r["B_crit"][0])}


_TARGET = "loss to reach (the units of the fitted loss)"
_SHARED = dict(
    plot="batch",
    optional=("N", "lr"),
    rows=_after_warmup,
    variant=_variant,
    held_out_by="B",
    setup=_setup,
    refine=4,
    options={"warmup_steps": None},
    flags={"warmup_steps": Flag("batch: steps of warmup to leave out (default: up to each run's LR peak when the "
                                "log has an lr column, else none)")},
)
_BATCH_COLUMN = Column(("batch_tokens", "tokens_per_step", "batch_size_tokens", "batch_size", "batch", "bs"),
                       ("--batch", "--b"), "batch-size column, tokens per step (in sequences, B_crit comes out "
                       "in sequences)")
_STEP_PARAMS = (
    Param("S_c", 1e-6, 1e15, log=True, doc="step scale of the loss, steps"),
    Param("alpha_S", 0.02, 5.0, doc="exponent of the fewest steps, dimensionless"),
    Param("B_star", 1e-6, 1e30, log=True, doc="critical batch scale, tokens per step x loss^(1/alpha_B)"),
    Param("alpha_B", 0.02, 5.0, doc="exponent of the critical batch size in the loss, dimensionless"),
)


BATCH = register(Law(
    name="batch",
    kind="curves",
    formula="L = L_N + (S_c / S_min)^alpha_S, S_min = S / (1 + B_crit(L) / B), B_crit(L) = B_star / L^(1/alpha_B)",
    inputs=("step", "B"),
    params=(Param("L_N", 1e-4, 1e3, log=True, doc="loss with unlimited steps at this model size, loss units"),
            *_STEP_PARAMS),
    func=batch_loss,
    jacobian=_batch_jacobian,
    starts=_batch_starts,
    budget=Budget(_TARGET, cost=None, optimum=reach, flag="--target-loss"),
    columns={"B": _BATCH_COLUMN, "N": MODEL_SIZE},
    **_SHARED,
))

BATCH_SIZES = register(Law(
    name="batch_sizes",
    kind="curves",
    formula="L = L_inf + (N_c / N)^alpha_N + (S_c / S_min)^alpha_S, S_min = S / (1 + B_crit(L) / B), "
            "B_crit(L) = B_star / L^(1/alpha_B)",
    inputs=("step", "B", "N"),
    params=(Param("L_inf", 0.0, 1e3, doc="irreducible loss, loss units"),
            Param("N_c", 1e-3, 1e30, log=True, doc="model-size scale, parameters"),
            Param("alpha_N", 0.005, 3.0, doc="model-size exponent, dimensionless"),
            *_STEP_PARAMS),
    func=batch_sizes_loss,
    jacobian=_batch_sizes_jacobian,
    starts=_batch_sizes_starts,
    budget=Budget(_TARGET, cost=None, optimum=reach, flag="--target-loss", needs=("N",)),
    columns={"B": _BATCH_COLUMN, "N": MODEL_SIZE},
    **_SHARED,
))

BATCH_KAPLAN = register(replace(
    BATCH_SIZES.fix({"L_inf": 0.0}), name="batch_kaplan",
    formula="L = (N_c / N)^alpha_N + (S_c / S_min)^alpha_S, S_min = S / (1 + B_crit(L) / B), "
            "B_crit(L) = B_star / L^(1/alpha_B)"))
