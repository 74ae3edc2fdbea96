"""Learning-rate schedules: per-step LR arrays, a compact text spec, and the LR areas that the
step laws read. The one place that knows schedules; the fitters and ``scalelaw.train`` use it.

Convention: a schedule is a float array ``lr`` of length ``total + 1``; ``lr[s]`` is the LR of
the update that produces step ``s`` (``lr[0]`` is the LR at the start, before any update).
Every schedule has a linear warmup from ``peak / warmup`` to ``peak`` over steps 1..warmup
(none when ``warmup = 0``), then its own shape over the remaining steps.

Text spec, for the command line: ``NAME:key=value,...``, e.g.
``cosine:peak=3e-4,total=24000,warmup=500,final=3e-5``; lists inside a value are separated by
``/`` (``multistep:peak=3e-4,total=30000,milestones=20000/25000,gamma=0.1``). Names and keys:

==========  ===========================================================================
constant    peak, total, warmup
cosine      peak, total, warmup, final (LR at the last step, default 0)
linear      peak, total, warmup, final
wsd         peak, total, warmup, final, decay (a fraction of total when < 1, default 0.2;
            else whole steps, at least 1 % of total), shape (linear | cosine | sqrt; default linear)
step        peak, total, warmup, every (steps between drops), gamma (factor per drop)
multistep   peak, total, warmup, milestones (steps at which the LR is multiplied by gamma), gamma
==========  ===========================================================================
"""
from __future__ import annotations

import inspect

from typing import Callable

import numpy as np

from .errors import InputError

WARMUP_CONVENTIONS = ("peak", "actual")


# -- shapes after warmup ---------------------------------------------------------------------
# Each maps u in [0, 1] (fraction of the post-warmup steps done) to the LR.

def _cosine(u, peak, final):
    return final + 0.5 * (peak - final) * (1 + np.cos(np.pi * u))


def _linear(u, peak, final):
    return peak + (final - peak) * u


def _sqrt(u, peak, final):
    return peak + (final - peak) * np.sqrt(u)


_DECAY_SHAPES: dict[str, Callable] = {"cosine": _cosine, "linear": _linear, "sqrt": _sqrt}


MAX_STEPS = 20_000_000  # a per-step LR array of 160 MB; longer is a typo (or a units mix-up)


def _frame(total: int, peak: float, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """The array with its warmup filled in, and the steps after warmup."""
    total, warmup = int(total), int(warmup)
    if not 1 <= total <= MAX_STEPS:
        raise InputError(f"schedule: total must lie between 1 and {MAX_STEPS:,} steps, got {total:,}")
    if not 0 <= warmup < total:
        raise InputError(f"schedule: warmup must lie in [0, total), got {float(warmup):g} with total {total:,}")
    if not (np.isfinite(peak) and peak > 0):
        raise InputError(f"schedule: peak must be a positive LR, got {peak}")
    lr = np.full(total + 1, float(peak))
    if warmup:
        lr[: warmup + 1] = peak * np.arange(warmup + 1) / warmup
        lr[0] = peak / warmup  # no update happens at step 0; start the ramp at its first value
    return lr, np.arange(warmup + 1, total + 1)


def constant(total: int, peak: float, warmup: int = 0) -> np.ndarray:
    """Constant LR ``peak`` after warmup. Returns shape (total + 1,)."""
    return _frame(total, peak, warmup)[0]


def cosine(total: int, peak: float, warmup: int = 0, final: float = 0.0) -> np.ndarray:
    """Cosine from ``peak`` (at the end of warmup) to ``final`` (at step ``total``)."""
    return _decay(total, peak, warmup, final, warmup, _cosine)


def linear(total: int, peak: float, warmup: int = 0, final: float = 0.0) -> np.ndarray:
    """Linear from ``peak`` (end of warmup) to ``final`` (step ``total``)."""
    return _decay(total, peak, warmup, final, warmup, _linear)


# The shortest final decay given in steps, as a share of the run: a cooldown is a few percent of a
# run or more (Schaipp et al.'s 124M runs: 10-99 %), while decay=2 or decay=20 is a fraction or a
# percentage written where steps are read.
MIN_DECAY_SHARE = 0.01


def wsd(total: int, peak: float, warmup: int = 0, final: float = 0.0, decay: float = 0.2,
        shape: str = "linear") -> np.ndarray:
    """Warmup-stable-decay: ``peak`` until the last ``decay`` steps (a fraction of ``total`` when
    ``decay < 1``), then ``shape`` (linear, cosine or sqrt) down to ``final`` at ``total``."""
    if shape not in _DECAY_SHAPES:
        raise InputError(f"schedule: wsd shape must be one of {', '.join(_DECAY_SHAPES)}, got '{shape}'")
    if decay >= 1 and decay != int(decay):
        raise InputError(f"schedule: wsd decay={decay:g}: give a fraction of the run below 1 (0.2: the last 20 %) "
                         "or a whole number of steps")
    steps = int(round(decay * total)) if decay < 1 else int(decay)
    if decay >= 1 and steps < MIN_DECAY_SHARE * total:  # a fraction or a percentage written as steps
        raise InputError(f"schedule: wsd decay={decay:g} is {steps} steps of {total}; give a fraction of the run "
                         f"below 1 (0.2: the last 20 %) or at least {MIN_DECAY_SHARE:.0%} of it in steps")
    if not 0 < steps <= total - warmup:
        raise InputError(f"schedule: wsd decay must cover 1 to {total - warmup} steps (after the warmup), got {decay:g}")
    return _decay(total, peak, warmup, final, total - steps, _DECAY_SHAPES[shape])


def _decay(total, peak, warmup, final, start, shape) -> np.ndarray:
    if not (np.isfinite(final) and 0 <= final <= peak):
        raise InputError(f"schedule: final must lie in [0, peak], got {final}")
    lr, _ = _frame(total, peak, warmup)
    s = np.arange(start + 1, int(total) + 1)
    lr[start + 1:] = shape((s - start) / (int(total) - start), peak, final)
    return lr


def multistep(total: int, peak: float, milestones, gamma: float = 0.1, warmup: int = 0) -> np.ndarray:
    """``peak`` multiplied by ``gamma`` at each milestone step (the LR of that step is the new one)."""
    if not (np.isfinite(gamma) and gamma > 0):
        raise InputError(f"schedule: gamma must be positive, got {gamma}")
    milestones = np.atleast_1d(np.asarray(milestones, dtype=float)).astype(int)
    if np.any(milestones <= warmup) or np.any(milestones > total):
        raise InputError(f"schedule: milestones must lie after warmup ({warmup}) and up to total ({total})")
    lr, after = _frame(total, peak, warmup)
    drops = np.searchsorted(np.sort(milestones), after, side="right")
    lr[after] = peak * gamma**drops
    return lr


def step(total: int, peak: float, every: int, gamma: float = 0.1, warmup: int = 0) -> np.ndarray:
    """``peak`` multiplied by ``gamma`` every ``every`` steps after warmup."""
    if int(every) < 1:
        raise InputError(f"schedule: every must be at least 1 step, got {every}")
    return multistep(total, peak, np.arange(warmup + int(every), total + 1, int(every)), gamma, warmup)


SCHEDULES: dict[str, Callable[..., np.ndarray]] = {
    "constant": constant, "cosine": cosine, "linear": linear, "wsd": wsd, "step": step,
    "multistep": multistep,
}
_INT_KEYS = {"total", "warmup", "every"}


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
    """A text spec's name and its ``key=value`` items, values as written (in order)."""
    name, _, rest = spec.strip().partition(":")
    items: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"schedule '{spec}': expected key=value, got '{item}'")
        if key.strip() in items:
            raise InputError(f"schedule '{spec}': '{key.strip()}' is given twice")
        items[key.strip()] = value
    return name, items


def join_spec(name: str, items: dict[str, str]) -> str:
    """The text spec of a name and its items (the inverse of ``split_spec``)."""
    return f"{name}:{','.join(f'{k}={v}' for k, v in items.items())}"


def parse(spec: str) -> np.ndarray:
    """The per-step LR of a text spec such as ``cosine:peak=3e-4,total=24000,warmup=500``."""
    name, items = split_spec(spec)
    if name not in SCHEDULES:
        raise InputError(f"schedule '{spec}': unknown name '{name}' (known: {', '.join(SCHEDULES)})")
    known = [p for p in inspect.signature(SCHEDULES[name]).parameters]
    kwargs: dict = {}
    for key, value in items.items():
        key, value = key.strip(), value.strip()
        if key not in known:
            raise InputError(f"schedule '{spec}': unknown key '{key}' (keys of {name}: {', '.join(known)})")
        try:
            if key == "shape":
                kwargs[key] = value
            elif key == "milestones":
                kwargs[key] = [float(v) for v in value.split("/")]
            else:
                number = float(value)
                if not np.isfinite(number):
                    raise ValueError(value)
                kwargs[key] = number
        except ValueError:
            raise InputError(f"schedule '{spec}': {key}={value} is not a number") from None
        if key in _INT_KEYS:
            if kwargs[key] != int(kwargs[key]) or kwargs[key] < 0:
                raise InputError(f"schedule '{spec}': {key}={value} must be a whole number of steps")
            kwargs[key] = int(kwargs[key])
    try:
        return SCHEDULES[name](**kwargs)
    except TypeError as exc:
        raise InputError(f"schedule '{spec}': {exc}".replace(f"{SCHEDULES[name].__name__}() ", "")) from None


class LRLogs(dict):
    """Run -> ``(steps, lr)``: the LR each run logged at every row that has one, kept beside a
    frame (``attrs["lr_log"]``) as the schedule of the step laws. The arrays are never changed
    in place, so a frame's copy shares them: pandas copies a frame's ``attrs`` deeply at each
    selection, which for a log of 2,000,000 rows cost seconds a fit."""

    def __deepcopy__(self, memo) -> "LRLogs":
        return self


def from_log(steps, lr, total: int | None = None, warmup: str = "peak") -> np.ndarray:
    """Per-step LR rebuilt from a log whose LR is logged every few steps: linear interpolation
    between logged rows, held at the last value after it. Before the first logged row (an
    unlogged warmup, as in most logs) the LR is held at the first logged value when ``warmup``
    is ``"peak"`` (the warmup counts at the peak LR), and ramps linearly from 0 at step 0 when
    it is ``"actual"`` (a linear warmup from 0, the usual one, counted at its actual LR).
    Returns shape (total + 1,), with ``total`` the last logged step by default."""
    steps, lr = np.asarray(steps, dtype=float), np.asarray(lr, dtype=float)
    if warmup not in WARMUP_CONVENTIONS:
        raise InputError(f"warmup convention must be one of {', '.join(WARMUP_CONVENTIONS)}, got '{warmup}'")
    if len(steps) == 0 or steps.shape != lr.shape:
        raise InputError("LR log: need matching, non-empty step and lr columns")
    if np.any(np.diff(steps) <= 0):
        raise InputError("LR log: steps must be strictly increasing")
    if not (np.all(np.isfinite(lr)) and np.all(lr >= 0)):
        raise InputError("LR log: the learning rate must be a non-negative number at every row")
    if not np.any(lr > 0):
        raise InputError("LR log: the learning rate is zero at every row")
    total = int(steps[-1]) if total is None else int(total)
    if total > MAX_STEPS:
        raise InputError(f"LR log: step {total:,} is beyond the {MAX_STEPS:,} steps a schedule may hold")
    if warmup == "actual" and steps[0] > 1:
        steps, lr = np.concatenate([[0.0], steps]), np.concatenate([[0.0], lr])
    return np.interp(np.arange(total + 1), steps, lr)


def resolve(schedule, total: int | None = None, warmup: str = "peak") -> np.ndarray:
    """A per-step LR array (checked; ``total`` steps at least) from a spec string, a per-step
    array, or a log: a frame (or mapping) with ``step`` and ``lr`` columns, or a pair
    ``(steps, lr)``, rebuilt by ``from_log`` under the ``warmup`` convention."""
    if isinstance(schedule, str):
        lr = parse(schedule)
    elif isinstance(schedule, tuple) and len(schedule) == 2:
        lr = from_log(*schedule, warmup=warmup)
    elif hasattr(schedule, "keys") and "step" in schedule and "lr" in schedule:
        lr = from_log(np.asarray(schedule["step"]), np.asarray(schedule["lr"]), warmup=warmup)
    else:
        lr = np.asarray(schedule, dtype=float)
    if lr.ndim != 1 or len(lr) < 2:
        raise InputError("schedule: expected a spec string, a per-step LR array or a log with step and lr")
    if not (np.all(np.isfinite(lr)) and np.all(lr >= 0)):
        raise InputError("schedule: the learning rate must be non-negative and finite at every step")
    if total is not None and len(lr) <= total:
        raise InputError(f"schedule covers steps 0..{len(lr) - 1}; step {int(total)} was asked for")
    return lr


def warmup_steps(lr: np.ndarray) -> int:
    """Steps of warmup: the steps before the LR first reaches its maximum."""
    return int(np.argmax(lr))


def hold_warmup(lr: np.ndarray, warmup: str = "peak") -> np.ndarray:
    """``lr`` with its warmup held at the peak (``"peak"``, the convention of Tissue et al.
    2024), or unchanged (``"actual"``)."""
    if warmup not in WARMUP_CONVENTIONS:
        raise InputError(f"warmup convention must be one of {', '.join(WARMUP_CONVENTIONS)}, got '{warmup}'")
    if warmup == "actual":
        return lr
    out = lr.copy()
    w = warmup_steps(lr)
    out[:w] = lr[w]
    return out


def forward_area(lr: np.ndarray) -> np.ndarray:
    """S1(s) = sum of ``lr[1..s]``, for every step s. Shape (len(lr),)."""
    return np.concatenate([[0.0], np.cumsum(lr[1:])])


def annealing_area(lr: np.ndarray, decay: float = 0.999) -> np.ndarray:
    """S2(s) = sum of m_1..m_s with m_i = decay * m_{i-1} + (lr[i-1] - lr[i]) (Tissue et al.
    2024), for every step s, by one linear filter. LR increases enter with a negative sign.
    Shape (len(lr),)."""
    if not 0 <= decay < 1:
        raise InputError(f"annealing decay (lambda) must lie in [0, 1), got {decay}")
    from scipy.signal import lfilter  # here: scipy.signal takes a second to import, and most commands need none

    m = lfilter([1.0], [1.0, -decay], -np.diff(lr))
    return np.concatenate([[0.0], np.cumsum(m)])


def describe(lr: np.ndarray) -> str:
    """One line: steps, peak, final LR and warmup, for reports."""
    return (f"{len(lr) - 1} steps, peak {lr.max():.3g}, final {lr[-1]:.3g}, "
            f"warmup {warmup_steps(lr)} steps")


__all__ = ["constant", "cosine", "linear", "wsd", "step", "multistep", "parse", "from_log", "resolve",
           "warmup_steps", "hold_warmup", "forward_area", "annealing_area", "describe", "SCHEDULES",
           "WARMUP_CONVENTIONS", "split_spec", "join_spec"]
