"""Bivariate laws: the loss over two sizes, and the best way to spend a budget between them.

Chinchilla (Hoffmann et al. 2022, Approach 3; refitted by Besiroglu et al. 2024)::

    L(N, D) = E + A / N^alpha + B / D^beta

N is the number of parameters, D the number of training tokens, E the irreducible loss. A
compute budget C = 6 N D (FLOPs) is spent best at (Hoffmann's eq. 4)::

    N_opt(C) = G (C/6)^a,  D_opt(C) = (C/6)^b / G,  a = beta/(alpha+beta), b = alpha/(alpha+beta),
    G = (alpha A / (beta B))^(1/(alpha+beta))

Fitted as Besiroglu et al. did: E, A, B are varied in log space (their log-sum-exp form
``log L = LSE(log A - alpha log N, log B - beta log D, log E)``), Huber(1e-3) on the log loss,
L-BFGS-B from their grid of starts (``refine`` keeps the best ones by objective).

Encoder/decoder (Ghorbani et al. 2021)::

    L(Ne, Nd) = a * (Ne0/Ne)^pe * (Nd0/Nd)^pd + L_inf

Ne, Nd are the encoder's and decoder's parameter counts; Ne0, Nd0 a fixed reference model (the
options ``ref_ne``, ``ref_nd``; by default the geometric means of the data), so that ``a`` is
the reducible loss of the reference model. A budget of N = Ne + Nd parameters is spent best at
Ne/Nd = pe/pd; scaling both by k divides the reducible loss by k^(pe+pd).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import InputError
from .base import MODEL_SIZE, Budget, Column, Flag, Inputs, Law, Param, register

FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6 N D: forward and backward pass of a dense transformer


def tokens_from_compute(n: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Training tokens D = C / (6 N) from parameters ``n`` and compute ``c`` (FLOPs)."""
    return np.asarray(c, dtype=float) / (FLOPS_PER_PARAM_TOKEN * np.asarray(n, dtype=float))


def _check_sizes(inputs: Inputs, first: str, second: str) -> None:
    """Both sizes must vary, and not in lockstep: otherwise the two exponents are not identified."""
    for role in (first, second):
        if len(np.unique(inputs[role])) < 2:
            raise InputError(f"every point has the same {role} ({inputs[role][0]:g}): the exponent of "
                             f"{role} cannot be identified; fit points of at least two {role} values")
    logs = np.log(np.stack([inputs[first], inputs[second]]))
    if np.linalg.matrix_rank(np.vstack([np.ones(logs.shape[1]), logs]), tol=1e-8 * logs.size) < 3:
        raise InputError(f"{second} is proportional to {first} in every point (for example a fixed "
                         f"{second}/{first} ratio): their exponents cannot be told apart; fit points "
                         "off that line")


# -- Chinchilla ----------------------------------------------------------------------------------

def chinchilla_law(inputs: Inputs, E: float, A: float, B: float, alpha: float, beta: float) -> np.ndarray:
    """Loss at parameters ``inputs["N"]`` and tokens ``inputs["D"]`` (arrays of one shape)."""
    return E + A * np.exp(-alpha * np.log(inputs["N"])) + B * np.exp(-beta * np.log(inputs["D"]))


def _chinchilla_jacobian(inputs: Inputs, E: float, A: float, B: float, alpha: float,
                         beta: float) -> np.ndarray:
    log_n, log_d = np.log(inputs["N"]), np.log(inputs["D"])
    n_term, d_term = np.exp(-alpha * log_n), np.exp(-beta * log_d)
    return np.stack([np.ones_like(log_n), n_term, d_term, -A * n_term * log_n, -B * d_term * log_d],
                    axis=-1)


def _chinchilla_starts(inputs: Inputs, y: np.ndarray):
    """Besiroglu et al.'s grid: log E in -1..1, log A and log B in 0..25, alpha, beta in 0..2."""
    for e in (-1.0, -0.5, 0.0, 0.5, 1.0):
        for a in (0.0, 5.0, 10.0, 15.0, 20.0, 25.0):
            for b in (0.0, 5.0, 10.0, 15.0, 20.0, 25.0):
                for alpha in (0.0, 0.5, 1.0, 1.5, 2.0):
                    for beta in (0.0, 0.5, 1.0, 1.5, 2.0):
                        yield {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta}


def _chinchilla_setup(inputs: Inputs, options: Mapping) -> dict:
    _check_sizes(inputs, "N", "D")
    return dict(options)


def chinchilla_optimum(params: Mapping[str, float], compute: np.ndarray) -> dict[str, np.ndarray]:
    """Compute-optimal N and D (and tokens per parameter) at ``compute`` FLOPs (C = 6 N D)."""
    alpha, beta = params["alpha"], params["beta"]
    g = (alpha * params["A"] / (beta * params["B"])) ** (1.0 / (alpha + beta))
    c6 = np.asarray(compute, dtype=float) / FLOPS_PER_PARAM_TOKEN
    n = g * c6 ** (beta / (alpha + beta))
    d = c6 ** (alpha / (alpha + beta)) / g
    return {"N": n, "D": d, "tokens_per_parameter": d / n}


def _chinchilla_derived(params: Mapping[str, float], domain) -> dict:
    alpha, beta = params["alpha"], params["beta"]
    return {"irreducible_loss": params["E"], "n_opt_exponent": beta / (alpha + beta),
            "d_opt_exponent": alpha / (alpha + beta)}


CHINCHILLA = register(Law(
    name="chinchilla",
    plot="bivariate",
    columns={"N": MODEL_SIZE,
             "D": Column(("d", "d_tokens", "tokens", "n_tokens", "training_tokens"), ("--d",), "training-tokens column"),
             "C": Column(("c", "compute", "flops", "training_flop", "training flop", "training_flops"), ("--c",),
                         "compute column, FLOPs (D = C / (6 N) when there is no --d)",
                         stands_for=("D", lambda v: tokens_from_compute(v["N"], v["C"]), "{C} / (6 N)"))},
    formula="L(N, D) = E + A/N^alpha + B/D^beta",
    inputs=("N", "D"),
    params=(
        Param("E", 1e-4, 1e3, log=True, doc="irreducible loss, loss units"),
        Param("A", 1e-4, 1e30, log=True, doc="scale of the parameter term, loss x params^alpha"),
        Param("B", 1e-4, 1e30, log=True, doc="scale of the data term, loss x tokens^beta"),
        Param("alpha", 1e-3, 3.0, doc="parameter exponent, dimensionless"),
        Param("beta", 1e-3, 3.0, doc="data exponent, dimensionless"),
    ),
    func=chinchilla_law,
    starts=_chinchilla_starts,
    derived=_chinchilla_derived,
    jacobian=_chinchilla_jacobian,
    refine=40,
    setup=_chinchilla_setup,
    held_out_by="N",  # a new run is a new model size: runs of several lengths share one
    budget=Budget("compute C = 6*N*D (FLOPs)",
                  cost=lambda inputs: FLOPS_PER_PARAM_TOKEN * inputs["N"] * inputs["D"],
                  optimum=chinchilla_optimum),
))


# -- encoder/decoder -----------------------------------------------------------------------------

def encdec_law(inputs: Inputs, a: float, pe: float, pd: float, L_inf: float, ref_ne: float,
               ref_nd: float) -> np.ndarray:
    """Loss at encoder sizes ``inputs["Ne"]`` and decoder sizes ``inputs["Nd"]`` (parameters)."""
    return a * np.exp(pe * np.log(ref_ne / inputs["Ne"]) + pd * np.log(ref_nd / inputs["Nd"])) + L_inf


def _encdec_jacobian(inputs: Inputs, a: float, pe: float, pd: float, L_inf: float, ref_ne: float,
                     ref_nd: float) -> np.ndarray:
    log_e, log_d = np.log(ref_ne / inputs["Ne"]), np.log(ref_nd / inputs["Nd"])
    shape = np.exp(pe * log_e + pd * log_d)
    return np.stack([shape, a * shape * log_e, a * shape * log_d, np.ones_like(shape)], axis=-1)


def _encdec_starts(inputs: Inputs, y: np.ndarray):
    """A grid over (L_inf, pe, pd); a is the data's median reducible loss at the reference."""
    for frac in (0.0, 0.5, 0.8, 0.9, 0.97):
        L_inf = frac * y.min()
        for pe in (0.05, 0.15, 0.3, 0.6, 1.0):
            for pd in (0.05, 0.15, 0.3, 0.6, 1.0):
                yield {"a": max(float(np.median(y)) - L_inf, 1e-6), "pe": pe, "pd": pd, "L_inf": L_inf}


def _encdec_setup(inputs: Inputs, options: Mapping) -> dict:
    _check_sizes(inputs, "Ne", "Nd")
    out = dict(options)
    for key, role in (("ref_ne", "Ne"), ("ref_nd", "Nd")):
        if out.get(key) is None:
            out[key] = float(np.exp(np.mean(np.log(inputs[role]))))
        elif not (np.isfinite(out[key]) and out[key] > 0):
            raise InputError(f"{key}: the reference size must be a positive number, got {out[key]}")
        out[key] = float(out[key])
    return out


def encdec_optimum(params: Mapping[str, float], total: np.ndarray) -> dict[str, np.ndarray]:
    """The best split of ``total`` parameters: Ne/Nd = pe/pd (and the encoder's share)."""
    share = params["pe"] / (params["pe"] + params["pd"])
    total = np.asarray(total, dtype=float)
    return {"Ne": share * total, "Nd": (1 - share) * total, "encoder_fraction": np.full_like(total, share)}


def _encdec_derived(params: Mapping[str, float], domain) -> dict:
    return {"irreducible_loss": params["L_inf"], "optimal_ne_over_nd": params["pe"] / params["pd"],
            "symmetric_exponent": params["pe"] + params["pd"]}


ENCDEC = register(Law(
    name="encdec",
    plot="bivariate",
    columns={"Ne": Column(("ne", "n_enc", "encoder_params", "n_encoder"), ("--ne",), "encoder-parameters column"),
             "Nd": Column(("nd", "n_dec", "decoder_params", "n_decoder"), ("--nd",), "decoder-parameters column")},
    formula="L(Ne, Nd) = a * (Ne0/Ne)^pe * (Nd0/Nd)^pd + L_inf",
    inputs=("Ne", "Nd"),
    params=(
        Param("a", 1e-8, 1e4, log=True, doc="reducible loss of the reference model, loss units"),
        Param("pe", 1e-4, 5.0, doc="encoder exponent, dimensionless"),
        Param("pd", 1e-4, 5.0, doc="decoder exponent, dimensionless"),
        Param("L_inf", 0.0, np.inf, doc="irreducible loss, loss units"),
    ),
    func=encdec_law,
    starts=_encdec_starts,
    derived=_encdec_derived,
    jacobian=_encdec_jacobian,
    refine=20,
    options={"ref_ne": None, "ref_nd": None},
    flags={"ref_ne": Flag("encdec: reference encoder size Ne0 (default: geometric mean of the data)"),
           "ref_nd": Flag("encdec: reference decoder size Nd0 (default: geometric mean of the data)")},
    setup=_encdec_setup,
    budget=Budget("parameters N = Ne + Nd", versus_total=True, cost=lambda inputs: inputs["Ne"] + inputs["Nd"],
                  optimum=encdec_optimum),
))
