"""A fitted law: ``FitResult`` holds the parameters with their uncertainty and the metrics of a
fit, predicts with intervals, reports and plots itself, and goes to and from a plain dict (the
stable keys of ``--json`` and ``--save``). ``scalelaw.engine.fit`` makes one; a saved fit file
is read back by ``FitResult.from_json``."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import fitfile, forecast, plan
from .errors import InputError
from .io import write_atomic
from .laws import Law, design
from .laws.base import steps_of
from .forecast import Forecast
from .intervals import at_least_zero, check_level, combine, percentile_interval, t_of, z_of

_CHUNK = 2048  # steps per batch when a step law predicts at many steps (multipower's inputs
# grow as steps x LR blocks)


@dataclass(frozen=True)
class Scatter:
    """The scatter of one new run about a law: ``sigma`` (relative, a fraction of the loss; RMS of
    log errors), the degrees of freedom it was measured with, and where it comes from."""

    sigma: float
    dof: int
    source: str


@dataclass
class FitResult:
    """A fitted law: parameters with uncertainty, metrics, and what is needed to predict.

    Attributes:
        law: the fitted ``Law``.
        params: best-fit value per parameter, natural units.
        stderr: standard error per parameter (None where no covariance could be estimated).
        ci: ``level`` confidence interval per parameter from the covariance (normal in the
            optimiser's coordinates, so log-scale parameters get asymmetric intervals), or None.
        ci_bootstrap: percentile interval per parameter from the bootstrap, or None.
        covariance: covariance over ``theta_names`` (the optimiser's coordinates: ``log10_NAME``
            for log-scale parameters), or None.
        metrics: on the fitted points: ``r2``, ``mape`` (percent), ``rmse`` (loss units), ``r2_log``
            (R2 of the log loss, the fit's own space), ``rms_error`` (RMS of the log residuals,
            percent), ``noise`` (point-to-point noise of the loss, percent), ``n``, ``aic``, ``bic``,
            ``objective`` (the minimised sum), ``starts``.
        converged: False when the optimiser did not reach a minimum; ``message`` says why.
        warnings: things worth a look (a parameter at its bound, no covariance, failed refits).
        domain: role -> (min, max) of the fitted data; predictions outside it are extrapolations.
        bootstrap_samples: array (B, n_params) of refitted parameters, natural units, or None.
        data: the fitted frame (not saved to JSON).
        schedules: step laws: run -> per-step LR array used in the fit (not saved to JSON).
        at_bounds: names of the parameters that ended on a bound of their range.
        forecast: step laws fitted by ``scalelaw.fit``: what their forecast intervals need
            (``scalelaw.forecast.Forecast``: the error scale, the largest fitted LR area and LR,
            whether the loss drop of LR decay is identified, other plausible fits, references);
            None for other laws.
        design: the law's inputs and losses at the fitted points ``(X, y)`` (not saved to JSON).
    """

    law: Law
    params: dict[str, float]
    stderr: dict[str, float | None]
    ci: dict[str, tuple[float, float]] | None
    covariance: np.ndarray | None
    theta_names: list[str]
    metrics: dict[str, float]
    converged: bool
    message: str
    warnings: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    domain: dict[str, tuple[float, float]] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    bootstrap_samples: np.ndarray | None = None
    ci_bootstrap: dict[str, tuple[float, float]] | None = None
    data: pd.DataFrame | None = None
    schedules: dict[str, np.ndarray] | None = None
    at_bounds: list[str] = field(default_factory=list)
    forecast: Forecast | None = None
    design: tuple[dict[str, np.ndarray], np.ndarray] | None = None

    @property
    def status(self) -> str:
        """``"converged"``; ``"at_bound"`` (the optimiser stopped, but a parameter sits on a
        bound: the data do not pin it down); ``"singular"`` (no covariance: the parameters are
        not all identified); ``"not_converged"``; or ``"not_a_result"`` (the optimiser stopped
        on something that is not a fit of the law: ``options["not_a_result"]`` says why)."""
        if not self.converged:
            return "not_a_result" if self.options.get("not_a_result") else "not_converged"
        if self.at_bounds:
            return "at_bound"
        return "singular" if self.covariance is None else "converged"

    @property
    def held_out(self) -> dict[str, Any]:
        """For laws with ``held_out_by``: the error on each setting left out of a refit in turn
        (``by``, ``sigma``: relative, widening the intervals; ``mape`` per setting); else {}."""
        return self.options.get("held_out") or {}

    @property
    def identified(self) -> bool:
        """False when the fitted data cannot identify a term the law predicts with (step laws:
        the loss drop bought by LR decay); ``forecast.reason`` says why."""
        return self.forecast is None or self.forecast.identified

    # -- derived views -------------------------------------------------------------------
    @property
    def derived(self) -> dict[str, float]:
        """Law-specific quantities (e.g. the irreducible loss), from ``law.derived``."""
        return self.law.derived(self.params, self.domain)

    @property
    def correlation(self) -> np.ndarray | None:
        """Correlation matrix over ``theta_names``, or None without a covariance (NaN in the rows
        of parameters held fixed)."""
        if self.covariance is None:
            return None
        sd = np.sqrt(np.diag(self.covariance))
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.covariance / np.outer(sd, sd)

    # -- prediction ----------------------------------------------------------------------
    def predict(self, X: Any, schedule: Any = None, **inputs: Any) -> np.ndarray:
        """Predicted loss.

        Args:
            X: sizes (an array) for one-input laws, else a mapping/DataFrame with one array per
                input role (``law.inputs``); for step laws, the steps (integers) to predict at.
            schedule: step laws: the LR of every step, as a spec string (``"cosine:peak=3e-4,
                total=24000,warmup=500"``, see ``scalelaw.schedules``) or a per-step array.
            **inputs: step laws with other inputs: their values, e.g. ``N=1e8`` (scalar or
                one per step).

        Returns:
            array of X's shape (number of steps for step laws), loss units.
        """
        if design.of(self.law).chunked and np.size(X) > _CHUNK:
            return np.concatenate([self.predict(s, schedule, **e) for s, e in _chunks(X, inputs)])
        law_in = self.inputs(X, schedule, **inputs)
        if self.forecast is not None:  # a step law's forecast (a prior may supply its decay term)
            return forecast.predicted(self, X, schedule, inputs, law_in)
        return np.asarray(self.law(law_in, **self.params), dtype=float)

    def predict_interval(self, X: Any, schedule: Any = None, level: float = 0.95, of: str = "run",
                         **inputs: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """Pointwise ``level`` interval of the prediction; arguments as for ``predict``.

        ``of="run"`` (the default): where one new run will land. ``of="mean"``: the band of the
        mean curve alone, from the parameters' uncertainty (bootstrap percentiles when the fit
        has bootstrap samples, else the delta method on the covariance); it misses runs by
        their scatter about the law.

        A new run's interval adds to the mean curve's band: size laws, the scatter of runs about
        the law (``run_scatter``: measured on runs left out of the fit), grown beyond the fitted
        sizes by ``1 + ln`` of how far beyond (``beyond``); the batch laws, the error on batch
        sizes left out; step laws with a forecast record, what goes wrong when a curve is
        forecast (``scalelaw.forecast.interval``). None without a covariance or bootstrap.
        """
        check_level(level)
        if of not in ("run", "mean"):
            raise InputError(f"of must be 'run' (a new run) or 'mean' (the mean curve), got {of!r}")
        if design.of(self.law).chunked and np.size(X) > _CHUNK:
            parts = [self.predict_interval(s, schedule, level, of, **e) for s, e in _chunks(X, inputs)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        extra, inputs = inputs, self.inputs(X, schedule, **inputs)
        centre = np.asarray(self.law(inputs, **self.params), dtype=float)
        z = z_of(level)
        band = self.parameter_band(inputs, centre, level)
        if self.forecast is not None:  # a step law's forecast (scalelaw.forecast)
            shift = forecast.predicted(self, X, schedule, extra, inputs) - centre  # a prior's decay term
            band = None if band is None else (band[0] + shift, band[1] + shift)
            if of == "run":
                return forecast.interval(self, X, schedule, extra, inputs, centre + shift, band, z)
        if band is None:
            return None
        return at_least_zero(*(band if of == "mean" else self.run_band(inputs, centre, band, level)))

    def run_band(self, inputs: Mapping[str, np.ndarray], centre: np.ndarray, band: tuple[np.ndarray, np.ndarray],
                 level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """A new run's ``level`` interval about ``centre`` at the law's ``inputs``: the mean
        curve's ``band`` and the runs' scatter about the law (``run_scatter``) added in
        quadrature. Size laws take Student's t on the scatter's degrees of freedom and grow the
        scatter by ``1 + ln`` of how far beyond the fitted sizes ``inputs`` lie (the rule
        scored by benchmarks/new_run_suite.py); the batch laws, the normal quantile, as
        validated on their held-out batch sizes."""
        scatter = self.run_scatter
        spread = scatter.sigma * np.asarray(centre, dtype=float)
        q = z_of(level)
        if design.of(self.law).widens_beyond:
            spread = spread * (1 + np.log(self.beyond(inputs)))
            q = t_of(level, scatter.dof)
        return combine(centre, [(np.asarray(band[1]) - np.asarray(band[0])) / 2, q * spread], floor=None)

    @property
    def run_scatter(self) -> Scatter:
        """The relative scatter of one new run about the law (``Scatter``): the RMS log error on
        runs left out of the fit in turn (``held_out``; one degree of freedom per group left out,
        less one), or, with fewer than four runs to leave out, the RMS of the fit's own log
        residuals scaled by ``sqrt(n / (n - p))`` for the ``p`` parameters fitted (``n - p``
        degrees of freedom)."""
        held = self.held_out
        if "sigma" in held:
            groups = int(held.get("groups", len(held["mape"])))  # batch fits saved before the count: one per MAPE
            return Scatter(float(held["sigma"]), max(groups - 1, 1), f"held out each {held['by']} in turn, {groups}")
        n, p = int(self.metrics.get("n", 0)), len(self.law.params)
        rms = self.metrics.get("rms_error", 0.0) / 100 * np.sqrt(n / max(n - p, 1))
        why = ("too few runs to leave out" if "held_out" in self.options else
               "the fit did not converge" if not self.converged else "a fit file that records no runs left out")
        return Scatter(float(rms), max(n - p, 1), f"the fit's own residuals: {why}")

    def parameter_band(self, inputs: Mapping[str, np.ndarray], centre: np.ndarray,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray] | None:
        """The ``level`` band of the prediction ``centre`` at the law's ``inputs`` from the
        parameters' uncertainty alone: bootstrap percentiles when the fit has bootstrap samples,
        else the delta method on the covariance; None without either."""
        if self.bootstrap_samples is not None and len(self.bootstrap_samples):
            preds = np.array([self.law(inputs, **dict(zip(self.law.param_names, s)))
                              for s in self.bootstrap_samples])
            return percentile_interval(preds, level)
        if self.covariance is None:
            return None
        grads = self.law.gradient(inputs, self.law.to_theta(self.params))
        var = np.einsum("...i,ij,...j->...", grads, self.covariance, grads)
        half = z_of(level) * np.sqrt(np.maximum(var, 0.0))
        return centre - half, centre + half

    def lr_beyond(self, schedule: Any) -> float:
        """Step laws: the peak LR of ``schedule`` over the largest fitted LR (``scalelaw.forecast.lr_beyond``)."""
        return forecast.lr_beyond(self, schedule)

    def floor(self, X: Any, schedule: Any = None, **inputs: Any) -> np.ndarray | None:
        """Step laws: the loss the law tends to without LR decay (``scalelaw.forecast.floor``); else None."""
        return forecast.floor(self, X, schedule, **inputs)

    def floor_beyond(self, X: Any, schedule: Any = None, **inputs: Any) -> np.ndarray | None:
        """Step laws: the law's ``floor`` where the peak LR of ``schedule`` lies above every fitted
        one, else None: LR decay does lower the loss below the floor, so only an LR the law never
        saw makes a forecast wholly below it a sign of nonsense (give it to ``unphysical``)."""
        return self.floor(X, schedule, **inputs) if self.lr_beyond(schedule) > 1 else None

    def unphysical(self, loss, lo=None, hi=None, floor=None) -> str | None:
        """Why predicted losses (and their interval) lie outside what a loss can be, or None: a
        value that is not finite, a loss at or below 0, an interval whose low end lies above its
        high end, or one wholly below ``floor`` (give the law's ``floor`` for a schedule whose
        peak LR lies above every fitted one: decay lowers the loss below it, but an LR the law
        never saw making it fall wholly below is a drop no decay buys). Such an answer is
        refused, never printed as a number."""
        loss = np.asarray(loss, dtype=float)
        if floor is not None and hi is not None and np.any(np.asarray(hi) < np.asarray(floor)):
            i = int(np.argmax(np.asarray(hi) < np.asarray(floor)))
            return (f"the law predicts {float(np.asarray(loss)[i]):.4g} (interval up to {float(np.asarray(hi)[i]):.4g}), "
                    f"wholly below its floor {float(np.asarray(floor)[i]):.4g} (the loss at unbounded LR area without "
                    "decay): outside its domain (an LR far beyond the fitted ones?)")
        if not np.all(np.isfinite(loss)):
            return "the law predicts a loss that is not a number here (outside its domain)"
        if np.any(loss <= 0):
            return (f"the law predicts a loss of {float(np.min(loss)):.4g}, at or below 0: outside its domain "
                    "(an LR or size far beyond the fitted ones?)")
        if lo is not None and hi is not None and np.any(np.asarray(lo) > np.asarray(hi)):
            return "the interval's low end lies above its high end: the law is outside its domain here"
        return None

    def inputs(self, X: Any, schedule: Any = None, _law: Law | None = None, _options: Mapping | None = None,
               **extra: Any) -> dict[str, np.ndarray]:
        """The law's inputs for ``X`` (see ``predict``)."""
        law = self.law if _law is None else _law
        options = self.law_options if _options is None else {**law.options, **_options}
        return design.of(law).predict_inputs(X, schedule, options, **extra)

    def final_loss(self, schedule: Any, **inputs: Any) -> float:
        """Step laws: the predicted loss at the last step of ``schedule`` (``scalelaw.forecast.final_loss``)."""
        return forecast.final_loss(self, schedule, **inputs)

    def best_schedule(self, candidates: Mapping[str, Any], **inputs: Any) -> pd.DataFrame:
        """Step laws: candidate schedules ranked by final loss (``scalelaw.forecast.best_schedule``)."""
        return forecast.best_schedule(self, candidates, **inputs)

    def allocate(self, budget: Any, level: float = 0.95, **inputs: Any) -> pd.DataFrame:
        """Laws with a budget: the best sizes for each budget (``scalelaw.plan.allocate``)."""
        return plan.allocate(self, budget, level, **inputs)

    def extrapolated(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """True where any of ``inputs`` (role -> values, as for ``predict``) lies outside the
        range of the fitted data (``domain``)."""
        return self.beyond(inputs) > 1

    def beyond(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """How far ``inputs`` (role -> values) lie outside the fitted data (``domain``), as a
        factor: the product over roles of x / max (above it) or min / x (below it); 1 inside
        (``design.beyond``). Size laws grow a new run's scatter by ``1 + ln`` of it."""
        return design.beyond(self.domain, inputs)

    @property
    def law_options(self) -> dict[str, Any]:
        """The law's options used in this fit (step laws: e.g. ``decay``, ``warmup``)."""
        return {**self.law.options, **self.options.get("law_options", {})}

    # -- reporting -----------------------------------------------------------------------
    def report(self) -> str:
        """A readable, multi-line summary."""
        from .report import format_report

        return format_report(self)

    def plot(self, ax=None, **kwargs):
        """Data, fit and interval band; returns the axes. The picture is the one the law names
        (``law.plot``, see ``scalelaw.plot.PLOTS``): loss over one size on ``ax`` (a new figure
        when None), loss/LR/residual panels over steps, or iso-loss contours over two sizes."""
        from .plot import draw

        return draw(self, ax=ax, **kwargs)

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: the stable keys of ``--json`` and ``--save``."""
        return json_safe({
            "law": self.law.name,
            "formula": self.law.formula,
            "params": self.params,
            "stderr": self.stderr,
            "ci": self.ci,
            "ci_bootstrap": self.ci_bootstrap,
            "ci_level": self.options.get("level", 0.95),
            "metrics": self.metrics,
            "derived": self.derived,
            "converged": self.converged,
            "status": self.status,
            "at_bounds": self.at_bounds,
            "identified": self.identified,
            "message": self.message,
            "warnings": self.warnings,
            "covariance": None if self.covariance is None else
            {"names": self.theta_names, "matrix": self.covariance.tolist()},
            "options": self.options,
            "domain": self.domain,
            "columns": self.columns,
            "bootstrap_samples": None if self.bootstrap_samples is None else self.bootstrap_samples.tolist(),
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
            "auto": self.options.get("auto"),
            "fitted_from_step": self.options.get("fitted_from_step"),
            "fitted_from_why": self.options.get("fitted_from_why"),
            "binned": self.options.get("binned"),
        })

    def to_json(self, path: str | Path | None = None) -> str:
        """The fit as JSON text; also written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            write_atomic(path, text)
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> "FitResult":
        """Load a fit saved with ``to_json`` (a path, or the JSON text itself)."""
        text = str(source)
        name = text if len(text) < 200 else "fit JSON"
        is_text = not isinstance(source, Path) and text.lstrip().startswith("{")
        if is_text:  # unless a file of that name exists ('{w32}.json')
            try:
                is_text = not Path(text).is_file()
            except (OSError, ValueError):  # JSON text too long to be a file name
                pass
        if not is_text:
            try:
                text = Path(source).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{source}: cannot read fit file ({getattr(exc, 'strerror', None) or exc})") from None
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{name}: not a scalelaw fit file (not JSON: {exc})") from None
        law = fitfile.check(d, name)
        cov, samples = d.get("covariance"), d.get("bootstrap_samples")
        return cls(
            law=law,
            params={k: float(d["params"][k]) for k in law.param_names},
            stderr={k: _num(v) for k, v in d["stderr"].items()},
            ci=_pairs(d.get("ci")),
            covariance=None if cov is None else np.array(cov["matrix"], dtype=float),
            theta_names=law.theta_names if cov is None else list(cov["names"]),
            metrics={k: _num(v) for k, v in d["metrics"].items()},
            converged=bool(d["converged"]),
            message=str(d.get("message", "")),
            warnings=[str(w) for w in d.get("warnings") or []],
            options=dict(d.get("options") or {}),
            domain={k: tuple(float(x) for x in v) for k, v in (d.get("domain") or {}).items()},
            columns={str(k): str(v) for k, v in (d.get("columns") or {}).items()},
            bootstrap_samples=None if samples is None else np.array(samples, dtype=float),
            ci_bootstrap=_pairs(d.get("ci_bootstrap")),
            at_bounds=[str(a) for a in d.get("at_bounds") or []],
            forecast=Forecast.from_dict(d["forecast"]) if d.get("forecast") else None,
        )


# -- helpers ---------------------------------------------------------------------------------

def _chunks(X: Any, extra: Mapping[str, Any]):
    """(steps, extra inputs) of a step law's prediction in batches of at most ``_CHUNK`` steps;
    per-step extra inputs are cut alongside, scalars passed whole."""
    steps = steps_of(X)
    for idx in np.array_split(np.arange(len(steps)), -(-len(steps) // _CHUNK)):
        yield steps[idx], {k: np.asarray(v)[idx] if np.ndim(v) == 1 and len(v) == len(steps) else v
                           for k, v in extra.items()}


def _num(v) -> float | None:
    """A finite number as a float, anything else (None, NaN, text) as None."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    return float(v) if np.isfinite(v) else None


def _pairs(d) -> dict[str, tuple[float, float]] | None:
    return None if d is None else {k: (_num(a), _num(b)) for k, (a, b) in d.items()}


def dumps(obj) -> str:
    """One line of valid JSON: numpy values as Python's, non-finite numbers as null (never NaN)."""
    return json.dumps(json_safe(obj), allow_nan=False)


def json_safe(obj):
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj
