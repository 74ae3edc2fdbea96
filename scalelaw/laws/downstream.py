"""From loss to task accuracy: the second step of a model ladder.

``downstream`` (Bhagia et al. 2024, OLMo's ladder): the accuracy on a task as a sigmoid of a
loss, above the task's chance level,

    acc(L) = chance + (1 - chance) a / (1 + exp(k (L - L0)))

``a`` is the share of the room above chance that the accuracy tends to as the loss falls (at
most 1: a perfect score), ``L0`` the loss at the midpoint of the rise, ``k`` its steepness (per
loss unit). Bhagia et al. write ``a / (1 + exp(-k (L - L0))) + b``; here the floor ``b`` is the
chance level and the ceiling cannot pass 1.
``chance`` is the task's accuracy by guessing (0.25 for four choices), an option set by the user
(``--chance``), never fitted.

``downstream_exp`` (Gadre et al. 2024): the error as an exponential of the loss,
``err(L) = eps - k exp(-gamma L)``, i.e. ``acc(L) = 1 - eps + k exp(-gamma L)``; no chance level.

The input ``x`` is the loss (a validation or task loss, e.g. ``loss_fineweb_edu``: name it with
``--x``), ``y`` the accuracy, a fraction in [0, 1]; ``stderr`` (optional, ``--stderr``) the
accuracy's standard error, which weights each point (``scalelaw.laws.design``).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import InputError
from .base import Column, Flag, Inputs, Law, Param, register

# The accuracy's standard error, where measured (lighteval's stderr_TASK): each point's log
# residual is weighted by its inverse relative error (normalised to a mean of 1).
STDERR = {"stderr": Column(("stderr",), ("--stderr",), "standard-error column of the accuracy (e.g. stderr_hellaswag; "
                                              "several comma-separated with several --y): weights each point")}


def _sigmoid(z):
    """The logistic function (scipy's ``expit``, imported on first use)."""
    from scipy.special import expit

    return expit(z)


def downstream_law(inputs: Inputs, a: float, k: float, L0: float, chance: float = 0.0) -> np.ndarray:
    """Accuracy at losses ``inputs["x"]`` (array, any shape)."""
    return chance + (1 - chance) * a * _sigmoid(-k * (np.asarray(inputs["x"], dtype=float) - L0))


def _jacobian(inputs: Inputs, a: float, k: float, L0: float, chance: float = 0.0) -> np.ndarray:
    """d acc / d (a, k, L0), shape (n, 3)."""
    d = np.asarray(inputs["x"], dtype=float) - L0
    s = _sigmoid(-k * d)
    slope = (1 - chance) * a * s * (1 - s)
    return np.stack([(1 - chance) * s, -slope * d, slope * k], axis=-1)


def _starts(inputs: Inputs, y: np.ndarray):
    """A grid: the ceiling from about the best accuracy seen up to a perfect score, the midpoint
    at quantiles of the losses (and below them), steepness from gentle to sharp."""
    x = np.asarray(inputs["x"], dtype=float)
    for a in (0.3, 0.6, 1.0):
        for L0 in (*np.quantile(x, (0.1, 0.5, 0.9)), x.min() - 0.5):
            for k in (1.0, 3.0, 10.0, 30.0):
                yield {"a": a, "k": k, "L0": float(L0)}


MAX_LOSS = 50.0  # a loss (nats or bits per token) above this is a size: the x column was recognised, not named


def _check_accuracies(frame) -> None:
    """Refuse accuracies outside [0, 1], naming the column (as read) and the first such value,
    and an ``x`` that is not a loss (a size column taken for it: name the loss with ``--x``)."""
    x = frame["x"].to_numpy(float)
    if np.any(~np.isfinite(x) | (x <= 0) | (x > MAX_LOSS)):
        column = frame.attrs.get("columns", {}).get("x", "x")
        raise InputError(f"column '{column}': values up to {np.nanmax(x):.4g} are not a loss (the laws from loss to "
                         f"accuracy read a loss, positive and at most {MAX_LOSS:g}): name the loss column with --x")
    y = frame["y"].to_numpy(float)
    bad = (y < 0) | (y > 1)
    if np.any(bad):
        column = frame.attrs.get("columns", {}).get("y", "y")
        raise InputError(f"column '{column}': accuracies must be fractions in [0, 1], got {float(y[bad][0]):g} "
                         "(a percentage? divide by 100)")


def _rows(frame, options: Mapping) -> tuple[np.ndarray, str | None]:
    """Every row; refuses accuracies outside [0, 1], and a chance level missing, outside
    [0, 1), or at or above every accuracy (nothing above chance to fit)."""
    _check_accuracies(frame)
    y = frame["y"].to_numpy(float)
    chance = options.get("chance")
    if chance is None:
        raise InputError("law 'downstream': give the task's chance level with --chance (0.25 for four choices, "
                         "0.5 for two)")
    if not 0 <= chance < 1:
        raise InputError(f"--chance must lie in [0, 1), got {chance:g}")
    if chance >= y.max():
        column = frame.attrs.get("columns", {}).get("y", "y")
        raise InputError(f"--chance {chance:g} is at or above every accuracy of column '{column}' (at most {y.max():g}): "
                         "nothing above chance to fit (is it the right task's chance level?)")
    below = int(np.sum(y < chance))
    note = (f"{below} of {len(y)} accuracies lie below the chance level {chance:g}, where the sigmoid cannot reach "
            "(a task scored below guessing, or noise about it): compare the exponential form, "
            "--law downstream,downstream_exp") if below else None
    return np.ones(len(y), dtype=bool), note


def _derived(params: Mapping[str, float], domain) -> dict:
    return {"accuracy_ceiling_share": params["a"], "midpoint_loss": params["L0"]}


DOWNSTREAM = register(Law(
    name="downstream",
    formula="acc(L) = chance + (1 - chance) a / (1 + exp(k (L - L0)))",
    inputs=("x",),
    params=(
        Param("a", 1e-4, 1.0, doc="the share of the room above chance the accuracy tends to, fraction"),
        Param("k", 1e-3, 1e3, log=True, doc="steepness, per loss unit"),
        Param("L0", 0.0, 50.0, doc="loss at the midpoint of the rise, loss units"),
    ),
    func=downstream_law,
    jacobian=_jacobian,
    starts=_starts,
    derived=_derived,
    options={"chance": None},
    flags={"chance": Flag("downstream: the task's chance level, the accuracy of guessing (0.25 for four choices)")},
    rows=_rows,
    columns=STDERR,
    optional=("stderr",),
    predicts="accuracy",
))


def downstream_exp_law(inputs: Inputs, eps: float, k: float, gamma: float) -> np.ndarray:
    """Accuracy ``1 - eps + k exp(-gamma L)`` at losses ``inputs["x"]``."""
    return 1.0 - eps + k * np.exp(-gamma * np.asarray(inputs["x"], dtype=float))


def _exp_jacobian(inputs: Inputs, eps: float, k: float, gamma: float) -> np.ndarray:
    x = np.asarray(inputs["x"], dtype=float)
    e = np.exp(-gamma * x)
    return np.stack([-np.ones_like(e), e, -k * x * e], axis=-1)


def _exp_starts(inputs: Inputs, y: np.ndarray):
    x = np.asarray(inputs["x"], dtype=float)
    for gamma in (0.3, 1.0, 3.0, 10.0):
        for eps in (0.6, 0.8, 0.95, 1.0):
            k = max(float(np.median(y)) - 1.0 + eps, 1e-6) * float(np.exp(gamma * np.median(x)))
            yield {"eps": eps, "k": min(max(k, 1e-8), 1e8), "gamma": gamma}


def _exp_rows(frame, options: Mapping) -> tuple[np.ndarray, str | None]:
    _check_accuracies(frame)
    return np.ones(len(frame), dtype=bool), None


DOWNSTREAM_EXP = register(Law(
    name="downstream_exp",
    formula="acc(L) = 1 - eps + k exp(-gamma L)",
    inputs=("x",),
    params=(
        Param("eps", 0.0, 2.0, doc="the error at a loss of infinity, fraction"),
        Param("k", 1e-8, 1e8, log=True, doc="scale, fraction"),
        Param("gamma", 1e-3, 50.0, doc="rate, per loss unit"),
    ),
    func=downstream_exp_law,
    jacobian=_exp_jacobian,
    starts=_exp_starts,
    rows=_exp_rows,
    columns=STDERR,
    optional=("stderr",),
    predicts="accuracy",
))
