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
from scipy import stats

from . import fitfile
from .errors import InputError
from .io import write_atomic
from .laws import Law, get_law
from .laws.base import numeric_jacobian, steps_of
from .schedules import resolve

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


def _num(v) -> float | None:
    """A finite number as a float, anything else (None, NaN, text) as None."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    return float(v) if np.isfinite(v) else None


def _pairs(d) -> dict[str, tuple[float, float]] | None:
    return None if d is None else {k: (_num(a), _num(b)) for k, (a, b) in d.items()}


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
