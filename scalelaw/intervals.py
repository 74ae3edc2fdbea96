"""What every interval shares: its level checked once (the API and the CLI's ``--level``), the
normal quantile of a level, percentile intervals over bootstrap draws, the one way independent
pieces of an interval are put together (``combine``), and a loss interval that does not reach
below 0."""
from __future__ import annotations

import numpy as np

from .errors import InputError


def check_level(level, name: str = "level") -> float:
    """``level`` as a float strictly between 0 and 1, or an ``InputError`` naming ``name``."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0 < level < 1:
        raise InputError(f"{name} must lie strictly between 0 and 1 (e.g. 0.95), got {level}")
    return float(level)


def z_of(level: float) -> float:
    """The normal quantile of a central ``level`` interval (1.96 at 0.95)."""
    from scipy.stats import norm  # here: scipy.stats is slow to import, and --help needs none

    return float(norm.ppf(0.5 + check_level(level) / 2))


def t_of(level: float, dof: float) -> float:
    """Student's t quantile of a central ``level`` interval with ``dof`` degrees of freedom: the
    normal one's, widened for a scale measured on few values."""
    from scipy.stats import t

    return float(t.ppf(0.5 + check_level(level) / 2, dof))


def percentile_interval(draws, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` percentile interval over the first axis of ``draws`` (bootstrap refits)."""
    tail = 50 * (1 - level)
    return np.percentile(draws, tail, axis=0), np.percentile(draws, 100 - tail, axis=0)


def at_least_zero(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """A loss is not negative: an interval wide enough to reach below 0 (the first steps of a
    forecast, a size far outside the data) starts at 0."""
    return np.maximum(lo, 0.0), hi


def combine(centre, pieces, floor: float | None = 0.0, ceiling: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The interval about ``centre`` of independent errors: each piece a half-width at the same
    level (an array, or a ``(down, up)`` pair for a lopsided one), the halves added in
    quadrature on each side; clipped to ``[floor, ceiling]`` (a loss at 0, an accuracy to
    [0, 1]; None: no bound). The new-run interval of a size law, a step law's forecast and the
    chain from sizes to accuracy are all made here."""
    centre = np.asarray(centre, dtype=float)
    down = up = np.zeros_like(centre)
    for piece in pieces:
        d, u = piece if isinstance(piece, tuple) else (piece, piece)
        down, up = down + np.asarray(d, dtype=float) ** 2, up + np.asarray(u, dtype=float) ** 2
    lo, hi = centre - np.sqrt(down), centre + np.sqrt(up)
    return (lo if floor is None else np.maximum(lo, floor)), (hi if ceiling is None else np.minimum(hi, ceiling))
