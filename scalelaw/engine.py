"""The one fitting engine. Every law is fitted here; a new law needs no new fitting code.

Recipe (Hoffmann et al. 2022, Besiroglu et al. 2024, Tissue et al. 2024): minimise the sum of
Huber(delta) over log residuals ``log(pred) - log(y)`` (delta = 1e-3 by default; plain least
squares selectable) from every starting point of the law's grid, keep the best, and take it to
a tight tolerance. Laws with an exact Jacobian are minimised by trust-region least squares
(scipy's ``least_squares``, whose ``huber`` loss is the same objective): tens of evaluations
where L-BFGS-B needs hundreds. Laws without one use L-BFGS-B on finite differences, polished
with lmfit (``least_squares``, same loss, same bounds). Starts are compared at a loose
tolerance; on long per-step logs they are compared on the curve averaged over log-spaced bins,
and only the best goes on to every point. Standard errors and
correlations come from the Gauss-Newton covariance of the log residuals at the optimum, where
it exists (a clear warning where it does not). Optional bootstrap: refits on data resampled by
whole runs (several runs) or by points (one run), with a seed.
"""
from __future__ import annotations

import json
import math
import sys
import time
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import lmfit
import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from . import fitfile
from .errors import InputError
from .io import write_atomic
from .laws import Law, get_law
from .laws.base import log_bins, numeric_jacobian, steps_of
from .schedules import from_log, resolve, warmup_steps as schedules_warmup

LOSSES = ("huber", "lsq")
_CHUNK = 2048  # steps per batch when a step law predicts at many steps (multipower's inputs
# grow as steps x LR blocks)


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
        forecast: step laws: what the forecast intervals need (``sigma``, the relative error
            scale and where it came from; ``S1_max``; ``identified`` and its ``reason``; and,
            from ``law="auto"`` or references, ``alternatives``: other plausible fits, whose
            spread widens the intervals; with references, ``transfer``: the relative error of
            a decay term taken from other runs). Empty for other laws.
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
    forecast: dict[str, Any] = field(default_factory=dict)

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
        return self.options.get("held_out", {})

    @property
    def identified(self) -> bool:
        """False when the fitted data cannot identify a term the law predicts with (step laws:
        the loss drop bought by LR decay); ``forecast["reason"]`` says why."""
        return bool(self.forecast.get("identified", True))

    # -- derived views -------------------------------------------------------------------
    @property
    def derived(self) -> dict[str, float]:
        """Law-specific quantities (e.g. the irreducible loss), from ``law.derived``."""
        return self.law.derived(self.params, self.domain)

    @property
    def correlation(self) -> np.ndarray | None:
        """Correlation matrix over ``theta_names``, or None without a covariance."""
        if self.covariance is None:
            return None
        sd = np.sqrt(np.diag(self.covariance))
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
        if self.law.step_law and np.size(X) > _CHUNK:
            return np.concatenate([self.predict(s, schedule, **e) for s, e in _chunks(X, inputs)])
        return np.asarray(self.law(self.inputs(X, schedule, **inputs), **self.params), dtype=float)

    def predict_interval(self, X: Any, schedule: Any = None, level: float = 0.95,
                         **inputs: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """Pointwise ``level`` interval of the prediction; arguments as for ``predict``.

        Parameter uncertainty: bootstrap percentiles when the fit has bootstrap samples, else
        the delta method on the covariance (None for a size law without either). Laws with
        ``held_out_by`` (batch) add the relative error on settings left out of the fit
        (``held_out["sigma"]``). Step laws add
        what goes wrong when a curve is forecast: the fit's relative error scale (``sigma``:
        from held-out runs or a forward split with ``law="auto"``, else the in-sample scatter),
        grown with the extrapolation in LR area (``1 + ln(S1 / S1_max)`` beyond the fitted
        ``S1_max``); the spread of the other plausible fits (``forecast["alternatives"]``);
        and, when the loss drop of LR decay is not identified, that whole drop, or, when it was
        taken from reference runs, ``forecast["transfer"]`` (a relative error) times that drop.
        """
        _check_level(level)
        if self.law.step_law and np.size(X) > _CHUNK:
            parts = [self.predict_interval(s, schedule, level, **e) for s, e in _chunks(X, inputs)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        extra, inputs = inputs, self.inputs(X, schedule, **inputs)
        centre = np.asarray(self.law(inputs, **self.params), dtype=float)
        z = stats.norm.ppf(0.5 + level / 2)
        band = None
        if self.bootstrap_samples is not None and len(self.bootstrap_samples):
            preds = np.array([self.law(inputs, **dict(zip(self.law.param_names, s)))
                              for s in self.bootstrap_samples])
            band = _percentiles(preds, level)
        elif self.covariance is not None:
            theta = self.law.to_theta(self.params)
            grads = self.law.gradient(inputs, theta)
            var = np.einsum("...i,ij,...j->...", grads, self.covariance, grads)
            half = z * np.sqrt(np.maximum(var, 0.0))
            band = centre - half, centre + half
        var = np.zeros_like(centre) if band is None else ((band[1] - band[0]) / (2 * z)) ** 2
        if not self.law.step_law and "sigma" not in self.held_out:
            if band is None:
                return None
            # beyond the fitted sizes the law's own misfit (the runs' scatter about it) grows as the
            # step laws' does in LR area: 1 + ln(how far beyond); inside, the band is the mean curve's
            beyond = self.beyond(inputs)
            scatter = self.metrics.get("rms_error", 0.0) / 100 * (1 + np.log(beyond)) * centre
            half = z * np.sqrt(var + np.where(beyond > 1, scatter, 0.0) ** 2)
            return _at_least_zero(centre - half, centre + half)
        if not self.law.step_law:  # the error on settings left out of the fit (batch sizes)
            half = z * np.sqrt(var + (self.held_out["sigma"] * centre) ** 2)
            return _at_least_zero(centre - half, centre + half)
        f = self.forecast
        drop = 0.0
        if band is None or not f.get("identified", True) or f.get("transfer"):
            drop = self._decay_drop(X, schedule, extra, inputs, centre)
        if band is None or not f.get("identified", True):
            # no parameter uncertainty to be had, or a decay term the data do not identify
            var = var + drop ** 2
        elif f.get("transfer"):  # a decay term taken over from other runs: a relative error on it
            var = var + (f["transfer"] * drop) ** 2
        stretch = 1 + np.log(np.maximum(1.0, inputs["S1"] / f.get("S1_max", np.inf)))
        stretch = stretch * (1 + np.log(max(1.0, self.lr_beyond(schedule))))  # an LR above every fitted one
        var = var + (f.get("sigma", 0.0) * stretch * centre) ** 2
        for alt in f.get("alternatives", []):
            other = get_law(alt["law"])
            other_in = self.inputs(X, schedule, _law=other, _options=alt["law_options"], **extra)
            var = var + (np.asarray(other(other_in, **alt["params"]), dtype=float) - centre) ** 2 / \
                max(1, len(f["alternatives"]))
        half = z * np.sqrt(var)
        return _at_least_zero(centre - half, centre + half)

    def lr_beyond(self, schedule: Any) -> float:
        """Step laws: the peak LR of ``schedule`` over the largest LR of the fitted runs (above 1:
        the law is asked about LRs it never saw, an extrapolation; its intervals widen by ``1 +
        ln`` of it); 1.0 where the fit does not record its LRs."""
        lr_max = self.forecast.get("lr_max")
        if not lr_max:
            return 1.0
        lr = resolve(schedule, warmup=self.law_options.get("warmup", "peak"))
        return float(np.max(lr) / lr_max)

    def floor(self, X: Any, schedule: Any = None, **inputs: Any) -> np.ndarray | None:
        """Step laws with an ``area_param``: the loss the law tends to at unbounded LR area
        without decay (its area and decay scales at 0: ``L0`` of the annealing law), at ``X``;
        None for other laws."""
        if not self.law.step_law or self.law.area_param is None:
            return None
        params = {**self.params, self.law.area_param: 0.0,
                  **({self.law.decay_params[0]: 0.0} if self.law.decay_params else {})}
        return np.asarray(self.law(self.inputs(X, schedule, **inputs), **params), dtype=float)

    def unphysical(self, loss, lo=None, hi=None, floor=None) -> str | None:
        """Why predicted losses (and their interval) lie outside what a loss can be, or None: a
        value that is not finite, a loss at or below 0, an interval whose low end lies above its
        high end, or one wholly below the law's ``floor`` (see ``floor``): a drop that no decay
        buys. Such an answer is refused, never printed as a number."""
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

    def _decay_drop(self, X, schedule, extra, inputs, centre) -> np.ndarray:
        """The loss drop the fit credits to the LR decays of ``schedule`` at each point: the
        prediction with the decay scale (``law.decay_params[0]``) at 0, less the prediction, less
        the same for the schedule held at its running maximum (which has no decay, so what
        remains there, e.g. warmup rises, is not a decay's). 0 for laws without a decay term.

        When the fitted data do not identify the decay term, its fitted scale is arbitrary (it
        may sit on its bound at 0): the drop is then at least the loss that LR area has yet to
        remove (``law.area_param`` at 0 gives the floor) times the fraction by which the LR has
        fallen from its running maximum, the most a decay can plausibly buy."""
        if not self.law.decay_params:
            return np.zeros_like(centre)
        off = {**self.params, self.law.decay_params[0]: 0.0}
        lr = resolve(schedule, warmup=self.law_options.get("warmup", "peak"))
        peak = np.maximum.accumulate(lr)
        flat = self.inputs(X, peak, **extra)
        flat_off = np.asarray(self.law(flat, **off), dtype=float)
        drop = (np.asarray(self.law(inputs, **off), dtype=float) - centre
                - (flat_off - np.asarray(self.law(flat, **self.params), dtype=float)))
        if self.identified or self.law.area_param is None:
            return drop
        steps = steps_of(X)
        fall = 1 - lr[np.minimum(steps, len(lr) - 1)] / np.maximum(peak[np.minimum(steps, len(lr) - 1)], 1e-300)
        reducible = flat_off - np.asarray(self.law(flat, **{**off, self.law.area_param: 0.0}), dtype=float)
        return np.maximum(drop, np.maximum(reducible, 0.0) * np.clip(fall, 0.0, 1.0))

    def inputs(self, X: Any, schedule: Any = None, _law: Law | None = None, _options: Mapping | None = None,
               **extra: Any) -> dict[str, np.ndarray]:
        """The law's inputs for ``X`` (see ``predict``)."""
        law = self.law if _law is None else _law
        options = self.law_options if _options is None else {**law.options, **_options}
        return law.inputs_at(X, schedule, options, **extra)

    def final_loss(self, schedule: Any, **inputs: Any) -> float:
        """Predicted loss at the last step of ``schedule`` (spec or per-step array): the final
        loss of a planned run. Step laws only."""
        lr = resolve(schedule, warmup=self.law_options.get("warmup", "peak"))
        return float(self.predict([len(lr) - 1], lr, **inputs)[0])

    def best_schedule(self, candidates: Mapping[str, Any], **inputs: Any) -> pd.DataFrame:
        """Candidate schedules (name -> spec or per-step array) ranked by predicted final loss,
        best first: a frame with ``name``, ``steps`` and ``final_loss``. Give candidates with
        the same step budget to compare like with like."""
        rows = []
        for name, schedule in candidates.items():
            lr = resolve(schedule, warmup=self.law_options.get("warmup", "peak"))
            rows.append((str(name), len(lr) - 1, self.final_loss(lr, **inputs)))
        frame = pd.DataFrame(rows, columns=["name", "steps", "final_loss"])
        return frame.sort_values("final_loss", kind="stable").reset_index(drop=True)

    def allocate(self, budget: Any, level: float = 0.95, **inputs: Any) -> pd.DataFrame:
        """The best sizes for each budget, and the predicted loss there. Laws with a budget only.

        Args:
            budget: one budget or an array, in the units of ``law.budget.name`` (FLOPs for
                ``chinchilla``, total parameters Ne + Nd for ``encdec``, a loss to reach for
                ``batch``).
            level: level of the intervals: bootstrap percentiles when the fit has bootstrap
                samples, else the delta method (in log space) on the covariance.
            **inputs: what else the law's optimum needs, e.g. ``N`` for ``batch_sizes``.

        Returns:
            frame with one row per budget: ``budget``, the optimal value of each input role
            (e.g. ``N``, ``D``), the law's extra quantities (e.g. ``tokens_per_parameter``),
            ``loss``, and ``<column>_lower`` / ``<column>_upper`` for each of them where an
            interval can be had; ``extrapolated``: an optimal size outside the fitted range.
        """
        if self.law.budget is None:
            raise InputError(f"law '{self.law.name}' has no budget to allocate (chinchilla, encdec, batch)")
        needs = self.law.budget.needs
        if set(inputs) != set(needs):
            raise InputError(f"law '{self.law.name}' allocates " + (f"at one value of {', '.join(needs)}: pass "
                             f"{', '.join(r + '=...' for r in needs)}" if needs else "from the budget alone")
                             + (f"; {', '.join(sorted(set(inputs) - set(needs)))} does not apply"
                                if set(inputs) - set(needs) else ""))
        budget = np.atleast_1d(np.asarray(budget, dtype=float))
        if budget.ndim != 1 or not np.all(np.isfinite(budget) & (budget > 0)):
            raise InputError(f"budget must be positive numbers, got {budget.tolist()}")

        def table(params: Mapping[str, float]) -> dict[str, np.ndarray]:
            best = {k: np.asarray(v, dtype=float) for k, v in self.law.budget.optimum(params, budget, **inputs).items()}
            return {**best, "loss": np.asarray(self.law(best, **params), dtype=float)}

        out = {"budget": budget, **table(self.params)}
        out["extrapolated"] = self.extrapolated({k: out[k] for k in self.law.inputs})
        if self.bootstrap_samples is not None and len(self.bootstrap_samples):
            draws = [table(dict(zip(self.law.param_names, s))) for s in self.bootstrap_samples]
            for key in draws[0]:
                out[f"{key}_lower"], out[f"{key}_upper"] = _percentiles([d[key] for d in draws], level)
        elif self.covariance is not None:
            keys = [k for k in out if k not in ("budget", "extrapolated")]
            theta = self.law.to_theta(self.params)
            with np.errstate(all="ignore"):
                def logs(t):
                    t = np.clip(t, *self.law.theta_bounds().T)
                    values = table(self.law.from_theta(t))
                    return np.log(np.stack([values[k] for k in keys]))
                J = numeric_jacobian(logs, theta)  # (keys, budgets, p)
            se = np.sqrt(np.maximum(np.einsum("kbi,ij,kbj->kb", J, self.covariance, J), 0.0))
            z = stats.norm.ppf(0.5 + level / 2)
            for i, key in enumerate(keys):
                if np.all(np.isfinite(se[i])):
                    out[f"{key}_lower"] = out[key] * np.exp(-z * se[i])
                    out[f"{key}_upper"] = out[key] * np.exp(z * se[i])
        return pd.DataFrame(out)

    def extrapolated(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """True where any of ``inputs`` (role -> values, as for ``predict``) lies outside the
        range of the fitted data (``domain``)."""
        return self.beyond(inputs) > 1

    def beyond(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """How far ``inputs`` (role -> values) lie outside the fitted data (``domain``), as a
        factor: the product over roles of x / max (above it) or min / x (below it); 1 inside.
        Size laws widen their interval there by the fit's scatter times ``1 + ln`` of it."""
        out = np.ones(0)
        for role, values in inputs.items():
            lo, hi = self.domain.get(role, (0.0, np.inf))
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.atleast_1d(np.abs(np.asarray(values, dtype=float)))
                factor = np.where(values > hi, values / hi, np.where(values < lo, lo / values, 1.0))
            out = factor if out.size == 0 else out * factor
        return out

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
        from .plot import PLOTS

        if callable(self.law.plot):  # the law draws its own picture
            return self.law.plot(self, ax=ax, **kwargs)
        draw = PLOTS[self.law.plot]
        return draw(self, ax=ax, **kwargs) if self.law.plot == "sizes" else draw(self, **kwargs)

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: the stable keys of ``--json`` and ``--save``."""
        return _clean({
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
            "forecast": self.forecast or None,
            "auto": self.options.get("auto"),
            "fitted_from_step": self.options.get("fitted_from_step"),
            "fitted_from_why": self.options.get("fitted_from_why"),
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
            forecast=dict(d.get("forecast") or {}),
        )


# -- the engine ------------------------------------------------------------------------------

def fit(
    law: Law | str,
    data: pd.DataFrame | Mapping[str, Any],
    *,
    schedules: Any = None,
    options: Mapping[str, Any] | None = None,
    loss: str = "huber",
    delta: float = 1e-3,
    bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
    max_iter: int = 2000,
    bootstrap_seconds: float | None = None,
    progress: bool = False,
    start: Mapping[str, float] | None = None,
    step_min: float | None = None,
    step_min_why: str | None = None,
) -> FitResult:
    """Fit ``law`` to ``data``.

    Args:
        law: a ``Law`` or its registered name (``"power"``, ``"annealing"``, ...).
        data: frame (or mapping of arrays) with the law's input roles, ``y`` (loss, > 0) and
            optionally ``run`` (several runs make the bootstrap resample whole runs). Step laws
            read ``run``, ``step``, ``y`` and, unless ``schedules`` is given, ``lr`` (the logged
            LR, interpolated between rows by ``scalelaw.schedules.from_log``).
        schedules: step laws: the LR of every step of each run, as a spec string or per-step
            array, or a mapping run -> spec/array; overrides the ``lr`` column.
        options: step laws: options of the law (``law.options``: e.g. ``decay``, ``warmup``).
        loss: ``"huber"`` (Huber(delta) on log residuals) or ``"lsq"`` (least squares on them).
        delta: Huber threshold, in log-loss units.
        bootstrap: number of bootstrap refits (0 = none).
        seed: seed of the bootstrap resampling.
        level: confidence level of the intervals.
        max_iter: iteration cap of each optimisation; a fit that hits it is flagged unconverged.
        bootstrap_seconds: a time budget for the bootstrap: it stops when it is spent, with the
            refits done so far (the result's warnings say how many).
        progress: show a progress bar of the bootstrap on stderr (tqdm, when installed).
        start: parameter values (natural units) to start the optimiser from, instead of the
            law's grid of starts: a warm start from an earlier fit of the same law (a running job
            refitted as it goes on). Parameters it lacks start from the grid's first start.
        step_min: laws over steps: fit only the rows from this step on; the rows before it (an
            initial transient) stay in ``result.data`` with ``fitted`` False, and a step law's
            LR areas still count their LR. ``step_min_why`` says why, in the report and JSON
            (``fitted_from_step``, ``fitted_from_why``). ``scalelaw.fit`` finds it from the data
            (``scalelaw.transient``) unless it is given.
    """
    law = get_law(law) if isinstance(law, str) else law
    _check_level(level)
    if bootstrap < 0:
        raise InputError(f"bootstrap must be >= 0, got {bootstrap}")
    if bootstrap_seconds is not None and not bootstrap_seconds > 0:
        raise InputError(f"bootstrap_seconds must be positive, got {bootstrap_seconds}")
    if loss not in LOSSES:
        raise InputError(f"loss must be one of {', '.join(LOSSES)}, got '{loss}'")
    if not delta > 0:
        raise InputError(f"delta must be positive, got {delta}")
    if max_iter < 1:
        raise InputError(f"max_iter must be at least 1, got {max_iter}")
    law = law.for_data(data)  # e.g. batch hands runs of several model sizes to batch_sizes
    law_options = law.resolve_options(options)
    whole = law.table(data, law_options)
    frame, before = _from_step(law, whole, step_min)
    # step laws: the LR of every logged row, those before step_min too, makes the areas
    X, y, runs, lrs = law.design(whole, schedules, law_options, step_min) if law.step_law else \
        law.design(frame, schedules, law_options)
    n, p = len(y), len(law.params)
    if n < p + 1:
        raise InputError(f"law '{law.name}' has {p} parameters: it needs at least {p + 1} points, got {n}")
    if law.setup is not None:
        law_options = law.setup(X, law_options)
    law = law.bind(law_options)

    bounds = law.theta_bounds()
    # long per-step logs: the starts are compared on the curve averaged over log-spaced bins
    binned = law.step_law and law.jacobian is not None and len(y) > BINNED_ABOVE
    Xs, ys = _binned(law, frame, lrs, law_options) if binned else (X, y)
    starts, n_starts = _ranked_starts(law, Xs, ys, bounds, loss, delta, start)
    # several starts (or a binned curve): each run to a loose tolerance, the best on to the tight one
    loose = len(starts) > 1 or binned
    best = min((_minimise(law, Xs, ys, theta, bounds, loss, delta, max_iter, loose) for theta in starts),
               key=lambda res: res.fun)
    if loose:
        best = _minimise(law, X, y, best.x, bounds, loss, delta, max_iter)
    method = "trust-region least squares" if law.jacobian is not None else "L-BFGS-B"
    message = f"{method} from {len(starts)} of {n_starts} starts: {_text(best.message)}"
    if law.jacobian is not None and best.success and np.isfinite(best.fun):
        # exact gradients and a converged trust-region fit: a polish would not move the optimum
        polished, converged = best.x, True
    else:
        polished, lm = _polish(law, X, y, best.x, loss, delta, max_iter)
        converged = bool(lm.success) and np.isfinite(lm.chisqr)
        message += f"; lmfit least_squares polish: {lm.message}"

    blocks = _step_blocks(runs) if law.along_steps else None
    covariance, stderr, ci, notes = _uncertainty(law, X, y, polished, bounds, level, blocks)
    params = law.from_theta(polished)
    at_bounds = _at_bounds(law, polished, bounds)
    notes += [f"{name} is at its {side} bound ({value:g}): the data do not pin it down"
              for name, side, value in at_bounds]

    with np.errstate(all="ignore"):  # (a constant loss has no variance: R2 is NaN)
        metrics = {**_metrics(law, X, y, polished), "objective": _objective(polished, law, X, y, loss, delta),
                   "starts": n_starts, "noise": 100 * _noise(y, runs, None if law.step_law else X[law.inputs[0]])}
    problem = _not_a_result(law, frame, y, metrics)
    if problem:
        converged, message = False, problem
    result = FitResult(
        law=law, params=params, stderr=stderr, ci=ci, covariance=covariance,
        theta_names=law.theta_names, metrics=metrics, converged=converged, message=message,
        warnings=frame.attrs.get("notes", []) + notes, options={"loss": loss, "delta": delta, "level": level, "bootstrap": bootstrap,
                                 "seed": seed, "runs": int(frame["run"].nunique()),
                                 **({"not_a_result": problem} if problem else {}),
                                 **({"law_options": law_options} if law.options else {})},
        domain={role: (float(np.min(v)), float(np.max(v))) for role, v in
                {**({"step": frame["step"]} if law.step_law else {}), **X}.items() if np.ndim(v) == 1},
        columns=dict(frame.attrs.get("columns", {})), schedules=lrs,
        data=frame.assign(fitted=True) if before.empty else join_rows(
            [before.assign(fitted=False), frame.assign(fitted=True)], frame.attrs).sort_values(
            ["run", _step_key(law, frame)], kind="stable").reset_index(drop=True),
        at_bounds=[name for name, _, _ in at_bounds],
    )
    if step_min is not None or step_min_why:
        result.options["fitted_from_step"] = None if step_min is None else int(np.ceil(step_min))
        result.options["fitted_from_why"] = step_min_why or "given (step_min)"
        if len(before):
            result.warnings.append(f"fitted from step {int(np.ceil(step_min))} on ({step_min_why}); "
                                   f"{len(before)} earlier row(s) read but not fitted")
    if len(y) < len(frame):
        result.warnings.append(f"{len(frame)} logged points were averaged (in log space) into {len(y)} "
                               f"of consecutive steps, at most {law.max_points} per run, for the fit")
    if law.step_law:
        result.forecast = _forecast_info(result, X, y, frame, lrs)
        if not result.forecast["identified"]:
            result.warnings.append(result.forecast["reason"])
    if law.held_out_by and converged:
        result.options["held_out"] = _held_out(law, X, y, runs, polished, bounds, loss, delta, max_iter)
    if bootstrap:
        _bootstrap(result, X, y, runs, polished, bounds, bootstrap, seed, level, max_iter,
                   bootstrap_seconds, progress)
    return result


BINNED_ABOVE = 4096  # points: above this, a step law's starts are compared on a binned curve


def _binned(law: Law, frame: pd.DataFrame, lrs, options) -> tuple[dict, np.ndarray]:
    """A step law's inputs and losses on ``frame`` averaged over log-spaced bins of steps
    (``laws.base.log_bins``), under each run's LR ``lrs``: where the optimiser compares its
    starts on a per-step log of tens of thousands of points."""
    roles = [r for r in law.inputs if r in frame.columns]
    bins = log_bins(frame[["run", "step", "y", *roles]])
    X, y, _, _ = law.design(bins, lrs, options)
    return X, y


def _step_key(law: Law, frame: pd.DataFrame) -> str:
    """The column of ``frame`` that orders its rows: ``step`` for laws over steps, else the first input."""
    return "step" if law.step_law or "step" in frame.columns else law.inputs[0]


def join_rows(parts: list[pd.DataFrame], attrs: Mapping) -> pd.DataFrame:
    """``parts`` concatenated row-wise, with ``attrs`` (pandas compares the parts' own attrs to
    keep them, which fails for attrs holding arrays, such as ``lr_log``)."""
    parts = [p.copy() for p in parts]
    for p in parts:
        p.attrs = {}
    out = pd.concat(parts)
    out.attrs = dict(attrs)
    return out


def _from_step(law: Law, frame: pd.DataFrame, step_min: float | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` split at ``step_min``: (the rows from it on, the rows before it)."""
    if step_min is None:
        return frame, frame.iloc[:0]
    key = _step_key(law, frame)
    if not (isinstance(step_min, (int, float, np.integer, np.floating)) and np.isfinite(step_min)):
        raise InputError(f"step_min must be a number, got {step_min!r}")
    keep = frame[key].to_numpy(float) >= step_min
    if keep.sum() <= len(law.params):
        raise InputError(f"step_min {step_min:g}: {int(keep.sum())} point(s) left from there on; law "
                         f"'{law.name}' needs at least {len(law.params) + 1}")
    return frame[keep], frame[~keep]


MIN_DECAY = 0.3  # the fraction of its peak the LR must have fallen by, in some fitted run


def decay_seen(frame: pd.DataFrame, lrs: Mapping[str, np.ndarray] | None = None) -> float:
    """The largest fraction by which the LR fell after its peak, within the steps of any run of
    ``frame`` (rows with ``run``, ``step`` and, without ``lrs``, ``lr``). ``lrs``: run -> per-step
    LR; by default rebuilt from the logged lr (``schedules.from_log``)."""
    decay = 0.0
    for run, g in frame.groupby("run", sort=False):
        if lrs is not None:
            lr = lrs[str(run)]
        elif "lr" in g:
            lr = from_log(g["step"].to_numpy(), g["lr"].to_numpy(float))
        else:
            continue
        seen = lr[max(schedules_warmup(lr), int(g["step"].min())): int(g["step"].max()) + 1]
        if len(seen) and seen.max() > 0:
            decay = max(decay, float(1 - seen.min() / seen.max()))
    return decay


def _forecast_info(result: "FitResult", X, y, frame, lrs) -> dict[str, Any]:
    """What a step law's forecast intervals need: the relative scatter of the fit (``sigma``),
    the largest fitted LR area (``S1_max``), and whether the fitted logs identify the loss drop
    bought by LR decay (``identified``, with the ``reason`` when not)."""
    law = result.law
    pred = law(X, **result.params)
    sigma = float(np.sqrt(np.mean(((pred - y) / y) ** 2)))
    decay = decay_seen(frame, lrs)
    identified, reason = True, ""
    name = law.decay_params[0] if law.decay_params else None
    se = result.stderr.get(name) if name else None
    if name is None:
        pass  # no decay term left to identify (its parameters are fixed)
    elif decay < MIN_DECAY:
        identified = False
        reason = (f"the fitted logs show at most {100 * decay:.0f} % LR decay (below {100 * MIN_DECAY:.0f} %): "
                  f"the loss drop bought by decaying the LR ({name}) is not identified; forecasts of "
                  "schedules that decay carry it with a wide interval (give --reference runs that decayed)")
    elif name and (se is None or not np.isfinite(se) or se > result.params[name]):
        identified = False
        reason = (f"{name}, which scales the loss drop bought by LR decay, is not determined by the data "
                  f"(standard error {'n/a' if se is None else f'{se:.3g}'} against {result.params[name]:.3g})")
    return {"sigma": sigma, "sigma_source": "in-sample residuals", "S1_max": float(np.max(X["S1"])),
            "lr_max": float(max(np.max(lr) for lr in lrs.values())) if lrs else None,
            "lr_decay_seen": decay, "identified": identified, "reason": reason}


MIN_HELD_OUT = 4  # settings (e.g. batch sizes) needed to leave one out and still fit the law


def _held_out(law, X, y, runs, theta, bounds, loss, delta, max_iter) -> dict[str, Any]:
    """The law's error on settings it was not fitted on: for each value of ``law.held_out_by``
    (with at least ``MIN_HELD_OUT`` of them), a refit without its points (from the full fit's
    optimum) predicts them; ``sigma`` is the RMS of the log errors averaged over blocks of
    consecutive points of each left-out run (the curve's misfit, not its step-to-step noise),
    ``mape`` each setting's MAPE (percent). Empty below ``MIN_HELD_OUT`` settings."""
    groups = np.asarray(X[law.held_out_by], dtype=float)
    values = np.unique(groups)
    if len(values) < MIN_HELD_OUT:
        return {}
    errors, mapes = [], {}
    for value in values:
        out = groups == value
        res = _minimise(law, {k: v[~out] for k, v in X.items()}, y[~out], theta, bounds, loss, delta, max_iter)
        pred = np.asarray(law({k: v[out] for k, v in X.items()}, **law.from_theta(res.x)), dtype=float)
        r = np.log(pred) - np.log(y[out])
        blocks = np.unique(_step_blocks(runs[out]), return_inverse=True)[1]
        errors.append(np.bincount(blocks, r) / np.bincount(blocks))
        mapes[f"{value:g}"] = mape(pred, y[out])
    sigma = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    return {"by": law.held_out_by, "sigma": sigma, "mape": mapes}


def _uncertainty(law, X, y, theta, bounds, level, blocks=None):
    """Covariance, stderr (natural units), ``level`` intervals and notes at the optimum ``theta``.
    With ``blocks`` (a label per point: consecutive steps of one run), the covariance is robust to
    residuals that are correlated within each block (step laws: misfit runs along the curve)."""
    covariance = _covariance(law, X, y, theta, blocks)
    if covariance is None:
        note = ("no covariance: the Jacobian at the optimum is singular or no degrees of freedom "
                "are left; standard errors are not available (use --bootstrap)")
        return None, {name: None for name in law.param_names}, None, [note]
    se_theta = np.sqrt(np.diag(covariance))
    stderr = {par.name: float(se * math.log(10) * 10.0**t if par.log else se)
              for par, t, se in zip(law.params, theta, se_theta)}
    z = stats.norm.ppf(0.5 + level / 2)
    lo = law.from_theta(np.clip(theta - z * se_theta, bounds[:, 0], bounds[:, 1]))
    hi = law.from_theta(np.clip(theta + z * se_theta, bounds[:, 0], bounds[:, 1]))
    return covariance, stderr, {k: (lo[k], hi[k]) for k in law.param_names}, []


def _not_a_result(law: Law, frame: pd.DataFrame, y: np.ndarray, metrics: Mapping[str, float]) -> str | None:
    """Why a fit that the optimiser finished is still not a fit of the law, or None."""
    if np.ptp(y) == 0:
        return f"the loss is {y[0]:g} at every fitted point: there is no trend to fit a law to"
    if not all(np.isfinite(metrics[k]) for k in ("r2", "mape", "rmse")):
        return f"the loss values (up to {np.max(y):g}) overflow the fit's metrics; give the loss in nats or bits"
    for role in law.inputs:
        if role in frame.columns and frame[role].nunique() == 1:
            return (f"column '{role}' has one distinct value ({frame[role].iloc[0]:g}): nothing to fit a law "
                    f"over it by (its parameters stay where they started)")
    trend = "step" if law.step_law else law.inputs[0] if law.inputs == ("x",) else None
    if trend is not None and len(frame) > 3:
        rho, p = stats.spearmanr(frame[trend], frame["y"])
        if rho > 0 and p < 0.01:
            return (f"the loss rises with {trend} (Spearman {rho:+.2f}), while law '{law.name}' has it fall "
                    "(the wrong loss column, or a run that diverged?)")
    rms = metrics["rms_error"]
    if metrics["r2_log"] < 0 and rms > NOISE_FACTOR * metrics["noise"]:
        return (f"R2 is {metrics['r2_log']:.2f} (log loss, fitted rows): the law fits the loss worse than its mean "
                f"does, with an error ({rms:.2g} %) above {NOISE_FACTOR:g}x the point-to-point noise "
                f"({metrics['noise']:.2g} %)")
    return None


NOISE_FACTOR = 2.0  # a fit whose error is within this factor of the noise is never "not a result"


def _noise(y, runs, order=None) -> float:
    """The relative noise of one point (a fraction): the robust scale of successive differences of
    log y within each run (in the order of ``order``, else as given), over sqrt 2. A trend between
    neighbours adds to it, so it errs high on sparse points (few sizes)."""
    logy, diffs = np.log(np.asarray(y, dtype=float)), []
    runs = np.asarray(runs)
    for r in np.unique(runs):
        idx = np.flatnonzero(runs == r)
        if order is not None:
            idx = idx[np.argsort(np.asarray(order)[idx], kind="stable")]
        diffs.append(np.diff(logy[idx]))
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    if len(d) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def mape(pred, y) -> float:
    """Mean absolute percentage error of ``pred`` against ``y`` (same shapes), in percent."""
    pred, y = np.asarray(pred, dtype=float), np.asarray(y, dtype=float)
    return float(100 * np.mean(np.abs(pred - y) / y))


def _metrics(law, X, y, theta) -> dict[str, float]:
    """R2, MAPE (percent) and RMSE on the loss; R2 of the log loss (the space of the fit); AIC/BIC
    of the log residuals (lmfit's definition). All on the fitted points."""
    n, p = len(y), len(theta)
    resid = law(X, **law.from_theta(theta)) - y
    rss_log = float(np.sum(_log_residuals(theta, law, X, y) ** 2))
    logy = np.log(y)
    return {
        "r2": float(1 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2)),
        "r2_log": float(1 - rss_log / np.sum((logy - logy.mean()) ** 2)),
        "rms_error": float(100 * np.sqrt(rss_log / n)),
        "mape": mape(resid + y, y),
        "rmse": float(np.sqrt(np.mean(resid**2))),
        "n": n,
        "aic": n * math.log(rss_log / n) + 2 * p if rss_log > 0 else -math.inf,
        "bic": n * math.log(rss_log / n) + math.log(n) * p if rss_log > 0 else -math.inf,
    }


def _objective(theta, law, X, y, loss, delta) -> float:
    r = _log_residuals(theta, law, X, y)
    value = special.huber(delta, r).sum() if loss == "huber" else 0.5 * np.dot(r, r)
    return float(value) if np.isfinite(value) else 1e300


def _objective_grad(theta, law, X, y, loss, delta) -> tuple[float, np.ndarray]:
    """The objective and its exact gradient (laws with a ``jacobian``)."""
    with np.errstate(all="ignore"):
        pred = np.asarray(law(X, **law.from_theta(theta)), dtype=float)
        r = np.log(np.clip(pred, 1e-300, None) / y)
    psi = np.clip(r, -delta, delta) if loss == "huber" else r
    value = psi @ (r - 0.5 * psi)  # Huber: r^2/2 inside delta, delta*|r| - delta^2/2 outside
    if not np.isfinite(value):
        return 1e300, np.zeros_like(theta)
    with np.errstate(all="ignore"):
        grad = (psi / pred) @ law.gradient(X, theta)  # d r / d theta = (d pred / d theta) / pred
    return float(value), np.where(np.isfinite(grad), grad, 0.0)


def _residual_jacobian(law, X, theta, pred=None) -> np.ndarray:
    """d(log residual)/d(theta), shape (n, p): exact when the law has a jacobian. ``pred``: the
    prediction at ``theta`` when already computed."""
    if law.jacobian is None:  # y does not change the derivative: take log(pred) - log(1)
        return numeric_jacobian(lambda t: _log_residuals(t, law, X, np.ones(1)), np.asarray(theta, float))
    if pred is None:
        pred = law(X, **law.from_theta(theta))
    with np.errstate(all="ignore"):
        return law.gradient(X, theta) / pred[:, None]


def _log_residuals(theta, law, X, y) -> np.ndarray:
    with np.errstate(all="ignore"):
        pred = law(X, **law.from_theta(theta))
        return np.log(np.clip(pred, 1e-300, None)) - np.log(y)


def _covariance(law, X, y, theta, blocks=None) -> np.ndarray | None:
    """Gauss-Newton covariance ``s^2 (J^T J)^-1`` of the optimiser's coordinates, with J the
    Jacobian of the log residuals and ``s^2 = sum r^2 / (n - p)``; None where it does not exist.
    With ``blocks``, the block-robust (sandwich) covariance ``H^-1 (sum_b g_b g_b^T) H^-1`` with
    ``g_b = J_b^T r_b`` instead, when it is the larger (residuals correlated along a curve)."""
    n, p = len(y), len(theta)
    if n <= p:
        return None
    J = _residual_jacobian(law, X, theta)
    r = _log_residuals(theta, law, X, y)
    JTJ = J.T @ J
    if not np.all(np.isfinite(JTJ)) or np.linalg.cond(JTJ) > 1e14:
        return None
    inv = np.linalg.inv(JTJ)
    cov = inv * (r @ r) / (n - p)
    labels = None if blocks is None else np.unique(blocks, return_inverse=True)[1]
    if labels is not None and labels.max() + 1 >= 2 * p:
        nb = labels.max() + 1
        g = np.zeros((nb, p))
        np.add.at(g, labels, J * r[:, None])
        robust = inv @ (g.T @ g) @ inv * nb / (nb - 1)
        if np.all(np.isfinite(robust)) and np.all(np.diag(robust) > np.diag(cov)):
            cov = robust
    return cov if np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0) else None


def _lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """L-BFGS-B from ``theta0``. The objective is divided by its size at a perfect fit scale
    (n * delta^2), so that the stopping tolerances are relative to the fit's own scale;
    ``loose``: to a relative tolerance of 1e-9 instead of 1e-13 (to compare starts)."""
    theta0 = np.clip(theta0, bounds[:, 0], bounds[:, 1])
    scale = 1.0 / (len(y) * (delta**2 if loss == "huber" else 1e-6))
    if law.jacobian is not None:
        def fun(t):
            value, grad = _objective_grad(t, law, X, y, loss, delta)
            return value * scale, grad * scale
    else:
        def fun(t):
            return _objective(t, law, X, y, loss, delta) * scale
    return optimize.minimize(fun, theta0, jac=law.jacobian is not None, method="L-BFGS-B",
                             bounds=bounds, options={"maxiter": max_iter, "ftol": 1e-9 if loose else 1e-13, "gtol": 1e-9})


LOOSE_EVALUATIONS = 100  # a start compared with others runs at most this many evaluations


def _trf(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """Trust-region least squares (scipy's ``least_squares``, method "trf") from ``theta0`` on the
    same objective as ``_lbfgsb`` (its ``huber`` loss with ``f_scale = delta`` is Huber(delta) on
    the log residuals), with the law's exact Jacobian. A Gauss-Newton method needs tens of
    evaluations where L-BFGS-B needs hundreds. ``fun`` is the objective, as for ``_lbfgsb``;
    ``loose``: tolerances of 1e-6 instead of 1e-8 and at most ``LOOSE_EVALUATIONS`` evaluations
    (to compare starts)."""
    theta0 = np.clip(np.asarray(theta0, dtype=float), bounds[:, 0], bounds[:, 1])

    def residual(t):
        return _log_residuals(t, law, X, y)

    def jac(t):
        return np.nan_to_num(_residual_jacobian(law, X, t), nan=0.0, posinf=1e300, neginf=-1e300)

    tol = 1e-6 if loose else 1e-8
    if loose:  # comparing starts: the best one goes on to the tight tolerance
        max_iter = min(max_iter, LOOSE_EVALUATIONS)
    # parameters the data cannot move (their Jacobian column is 0 at the start and nearby: the
    # loss-drop terms of a log whose LR never changes) stay where they are: the optimiser would
    # wander on the flat directions until its evaluation limit
    free = _movable(jac, theta0, bounds)
    x = theta0.copy()

    def part(f):
        def g(t):
            x[free] = t
            return f(x)
        return g

    try:
        with np.errstate(all="ignore"):
            ls = optimize.least_squares(part(residual), theta0[free], jac=lambda t: part(jac)(t)[:, free],
                                        bounds=(bounds[free, 0], bounds[free, 1]),
                                        method="trf", loss="huber" if loss == "huber" else "linear",
                                        f_scale=delta, x_scale="jac", ftol=tol, xtol=tol, gtol=tol,
                                        max_nfev=max_iter)
    except (ValueError, np.linalg.LinAlgError):  # e.g. residuals not finite at the start
        return _lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    theta = theta0.copy()
    theta[free] = ls.x
    return optimize.OptimizeResult(x=theta, fun=_objective(theta, law, X, y, loss, delta), success=ls.status > 0,
                                   message=ls.message, nit=ls.nfev, status=ls.status)


def _movable(jac, theta0, bounds) -> np.ndarray:
    """Which parameters the residuals depend on: a Jacobian column that is 0 at ``theta0`` and
    at a point nearby (inside the bounds) is the data's, not the start's."""
    J0 = jac(theta0)
    nearby = np.clip(theta0 + 1e-3 * np.maximum(1.0, np.abs(theta0)), bounds[:, 0], bounds[:, 1])
    nearby = np.where(nearby == theta0, np.clip(theta0 - 1e-3 * np.maximum(1.0, np.abs(theta0)),
                                                bounds[:, 0], bounds[:, 1]), nearby)
    free = np.any(J0 != 0, axis=0) | np.any(jac(nearby) != 0, axis=0)
    return free if free.any() else np.ones(len(theta0), dtype=bool)


def _minimise(law, X, y, theta0, bounds, loss, delta, max_iter, loose=False) -> optimize.OptimizeResult:
    """The optimiser for ``law``: trust-region least squares with its exact Jacobian (``_trf``),
    L-BFGS-B with finite differences without one (``_lbfgsb``). ``fun``: the objective."""
    if law.jacobian is not None:
        return _trf(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    res = _lbfgsb(law, X, y, theta0, bounds, loss, delta, max_iter, loose)
    res.fun = _objective(res.x, law, X, y, loss, delta)
    return res


def _ranked_starts(law, X, y, bounds, loss, delta, warm=None) -> tuple[list[np.ndarray], int]:
    """The law's starting points in the optimiser's coordinates (clipped to the bounds); with
    ``law.refine``, only that many of the best by the objective. Returns (kept, total). With
    ``warm`` (parameter values, natural units) that alone, completed from the grid's first start."""
    if warm is not None:
        grid = next(iter(law.starts(X, y)))
        values = {name: float(warm.get(name, grid[name])) for name in law.param_names}
        if not all(np.isfinite(list(values.values()))):
            raise InputError(f"start: parameter values must be finite numbers, got {values}")
        return [np.clip(law.to_theta(values), bounds[:, 0], bounds[:, 1])], 1
    starts = [np.clip(law.to_theta(s), bounds[:, 0], bounds[:, 1]) for s in law.starts(X, y)]
    if law.refine is not None and len(starts) > law.refine:
        order = np.argsort([_objective(t, law, X, y, loss, delta) for t in starts], kind="stable")
        return [starts[i] for i in order[: law.refine]], len(starts)
    return starts, len(starts)


def _polish(law, X, y, theta, loss, delta, max_iter):
    """lmfit least_squares from the L-BFGS-B optimum (same loss, same bounds) to refine it;
    log-scale parameters are varied as log10_NAME."""
    names = law.theta_names
    params = lmfit.Parameters()
    for name, t, (lo, hi) in zip(names, theta, law.theta_bounds()):
        params.add(name, value=float(t), min=lo, max=hi)

    def residual(pars: lmfit.Parameters) -> np.ndarray:
        return _log_residuals(np.array([pars[k].value for k in names]), law, X, y)

    kws = {"loss": "huber", "f_scale": delta} if loss == "huber" else {}
    if law.jacobian is not None:
        kws["jac"] = lambda pars: _residual_jacobian(law, X, np.array([pars[k].value for k in names]))
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        lm = lmfit.minimize(residual, params, method="least_squares",
                            max_nfev=max_iter * (len(names) + 1), **kws)
    polished = np.array([lm.params[k].value for k in names])
    # keep whichever of the two optima is lower (the polish never should be worse, but check)
    if _objective(polished, law, X, y, loss, delta) > _objective(theta, law, X, y, loss, delta):
        polished = np.asarray(theta, dtype=float)
    return polished, lm


LONG_BOOTSTRAP = 60.0  # seconds: a bootstrap expected to take longer says so in the warnings


def _bootstrap(result: FitResult, X, y, runs, theta, bounds, B, seed, level, max_iter,
               seconds=None, progress=False) -> None:
    """Refit on ``B`` resamples: step laws resample blocks of consecutive steps within each run
    (a moving-block bootstrap: correlated misfit along a curve stays together); other laws
    resample whole runs when there are several, points otherwise. Stops when ``seconds`` are
    spent; ``progress``: a tqdm bar on stderr."""
    law, loss, delta = result.law, result.options["loss"], result.options["delta"]
    rng = np.random.default_rng(seed)
    labels = np.unique(runs)
    by_run = [np.flatnonzero(runs == r) for r in labels] if len(labels) > 1 else None
    samples, failed, done = [], 0, 0
    refits = range(B)
    if progress:
        try:
            from tqdm import tqdm
        except ImportError:  # optional: pip install 'scalelaw[progress]'
            pass
        else:
            refits = tqdm(refits, desc="bootstrap", unit="refit", file=sys.stderr, leave=False)
    start = time.perf_counter()
    for i in refits:
        elapsed = time.perf_counter() - start
        if seconds is not None and elapsed > seconds:
            result.warnings.append(f"bootstrap stopped at its time budget ({seconds:g} s): {done} of {B} refits")
            break
        if i == 1 and seconds is None and elapsed * B > LONG_BOOTSTRAP:
            result.warnings.append(f"the bootstrap took about {elapsed * B:.0f} s ({B} refits); "
                                   "bootstrap_seconds (--bootstrap-seconds) caps it")
        done += 1
        if law.step_law:
            idx = np.concatenate([_block_resample(np.flatnonzero(runs == r), rng) for r in labels])
        elif by_run is not None:
            idx = np.concatenate([by_run[i] for i in rng.integers(0, len(by_run), len(by_run))])
        else:
            idx = rng.integers(0, len(y), len(y))
        Xb = {k: v[idx] for k, v in X.items()}
        res = _minimise(law, Xb, y[idx], theta, bounds, loss, delta, max_iter)
        if np.isfinite(res.fun) and res.nit < max_iter:
            samples.append(res.x)
        else:
            failed += 1
    samples = np.array([list(law.from_theta(s).values()) for s in samples]).reshape(-1, len(law.params))
    result.bootstrap_samples = samples
    lower, upper = _percentiles(samples, level) if len(samples) else (None, None)
    result.ci_bootstrap = {name: (float(lower[i]), float(upper[i]))
                           for i, name in enumerate(law.param_names)} if len(samples) else None
    result.options["bootstrap_by"] = ("blocks of steps" if law.step_law else
                                      "run" if by_run is not None else "point")
    if failed:
        result.warnings.append(f"{failed} of {B} bootstrap refits did not converge and were left out")


BLOCKS_PER_RUN = 10


def _step_blocks(runs) -> np.ndarray:
    """A label per point: each run cut into ``BLOCKS_PER_RUN`` blocks of consecutive points."""
    labels = np.empty(len(runs), dtype=np.int64)
    for i, r in enumerate(np.unique(runs)):
        idx = np.flatnonzero(runs == r)
        labels[idx] = i * BLOCKS_PER_RUN + np.arange(len(idx)) * BLOCKS_PER_RUN // len(idx)
    return labels


def _block_resample(idx: np.ndarray, rng) -> np.ndarray:
    """A moving-block resample of one run's points ``idx`` (kept in step order): blocks of
    ``len / BLOCKS_PER_RUN`` consecutive points drawn with replacement, wrapping around."""
    n = len(idx)
    width = max(1, n // BLOCKS_PER_RUN)
    starts = rng.integers(0, n, -(-n // width))
    picks = (starts[:, None] + np.arange(width)[None, :]).ravel()[:n] % n
    return idx[np.sort(picks)]


# -- helpers ---------------------------------------------------------------------------------

def _check_level(level: float) -> None:
    if not (isinstance(level, (int, float, np.floating)) and 0 < level < 1):
        raise InputError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")


def _at_least_zero(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """A loss is not negative: an interval wide enough to reach below 0 (the first steps of a
    forecast, a size far outside the data) starts at 0."""
    return np.maximum(lo, 0.0), hi


def _percentiles(draws, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` percentile interval over the first axis of ``draws`` (bootstrap refits)."""
    tail = 50 * (1 - level)
    return np.percentile(draws, tail, axis=0), np.percentile(draws, 100 - tail, axis=0)


def _chunks(X: Any, extra: Mapping[str, Any]):
    """(steps, extra inputs) of a step law's prediction in batches of at most ``_CHUNK`` steps;
    per-step extra inputs are cut alongside, scalars passed whole."""
    steps = steps_of(X)
    for idx in np.array_split(np.arange(len(steps)), -(-len(steps) // _CHUNK)):
        yield steps[idx], {k: np.asarray(v)[idx] if np.ndim(v) == 1 and len(v) == len(steps) else v
                           for k, v in extra.items()}


def _at_bounds(law: Law, theta, bounds) -> list[tuple[str, str, float]]:
    """(name, "lower" | "upper", bound in natural units) for each parameter at a bound."""
    out = []
    for p, t, (lo, hi) in zip(law.params, theta, bounds):
        for edge, side in ((lo, "lower"), (hi, "upper")):
            if np.isfinite(edge) and abs(t - edge) <= 1e-6 * max(1.0, abs(edge)):
                out.append((p.name, side, 10.0**edge if p.log else edge))
    return out


def _text(message) -> str:
    return message.decode() if isinstance(message, bytes) else str(message)


def _num(v) -> float | None:
    """A finite number as a float, anything else (None, NaN, text) as None."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    return float(v) if np.isfinite(v) else None


def _pairs(d) -> dict[str, tuple[float, float]] | None:
    return None if d is None else {k: (_num(a), _num(b)) for k, (a, b) in d.items()}


def _clean(obj):
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj
