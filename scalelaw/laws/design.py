"""From data to a law's inputs, one class per kind of law (``Law.kind``):

- ``Sizes``: one row per model or setting (``power``, ``chinchilla``, ``encdec``): the inputs
  are columns.
- ``Curves``: loss curves over steps without a schedule (the ``batch`` laws): the inputs are
  columns, and the residuals of one curve are correlated along it.
- ``Schedule``: loss curves under an LR schedule (``annealing``, ``annealing_size``,
  ``multipower``): the inputs are made from each run's per-step LR (``Law.features``), and a
  run may start after an initial transient (``step_min``).

``of(law)`` gives the law's kind; the engine, ``FitResult`` and ``scalelaw.fit`` prepare data
through it and nothing else. A new kind is one more class here, registered in ``KINDS``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..schedules import from_log, resolve
from .base import Law, steps_of
from .summary import BIN_ROWS, BIN_SS, WEIGHT, summarise_log



def beyond(domain: Mapping[str, tuple[float, float]], inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """How far ``inputs`` (role -> values) lie outside ``domain`` (role -> (min, max) of fitted
    data), as a factor: the product over roles of x / max (above it) or min / x (below it); 1
    inside. Roles without a range count as inside."""
    out = np.ones(0)
    for role, values in inputs.items():
        lo, hi = domain.get(role, (0.0, np.inf))
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.atleast_1d(np.abs(np.asarray(values, dtype=float)))
            factor = np.where(values > hi, values / hi, np.where(values < lo, lo / values, 1.0))
        out = factor if out.size == 0 else out * factor
    return out


class Sizes:
    """Laws of one row per model or setting: their inputs are the data's columns."""

    name = "sizes"
    along_steps = False  # residuals of neighbouring rows are independent
    resample = "runs"  # the bootstrap resamples whole runs (several), else points
    widens_beyond = True  # beyond the fitted sizes, a new run's scatter grows (FitResult.predict_interval)
    chunked = False  # predictions at many points are made in batches (inputs that grow with the steps)

    def __init__(self, law: Law):
        self.law = law

    # -- fitting -------------------------------------------------------------------------
    def needed(self) -> tuple[str, ...]:
        return (*self.law.inputs, "y")

    def order_key(self, frame: pd.DataFrame) -> str:
        """The column that orders a run's rows: ``step`` where there is one, else the first input."""
        return "step" if "step" in frame.columns else self.law.inputs[0]

    def table(self, data, options: Mapping | None = None) -> pd.DataFrame:
        """``data`` (a DataFrame or mapping of arrays with the law's columns and ``y``) checked
        and made ready to fit: numeric columns, stand-ins completed (``Law.complete``), a
        ``run`` column, the law's ``rows``. Raises ``InputError`` naming the column at fault."""
        law = self.law
        frame = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
        needed = self.needed()
        for col in [c for c in frame.columns if c in (*needed, *law.inputs, *law.columns, *law.optional, "lr")]:
            values = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
            if not np.all(np.isfinite(values)):
                raise InputError(f"column '{col}': all values must be finite numbers")
            frame[col] = values
        frame = law.complete(frame)  # e.g. chinchilla's tokens D from the compute C
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"law '{law.name}' needs columns {', '.join(needed)}; missing: {', '.join(missing)}")
        if "run" not in frame.columns:
            frame["run"] = "run"
        notes = list(frame.attrs.get("notes", []))
        if law.rows is not None:  # e.g. the batch law leaves out warmup
            keep, note = law.rows(frame, law.options if options is None else options)
            frame = frame[np.asarray(keep, dtype=bool)]
            notes += [note] if note else []
            if frame.empty:
                raise InputError(f"law '{law.name}': no rows left to fit ({note})")
        frame = self._checked(frame, notes)
        frame.attrs["notes"] = notes
        return frame

    def _checked(self, frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
        """Sizes, losses and standard errors (where given) are positive."""
        for role in self.law.inputs:
            if not np.all(frame[role] > 0):
                bad = frame[role][frame[role] <= 0].iloc[0]
                raise InputError(f"column '{role}': sizes must be positive, got {bad:g}")
        if "stderr" in self.law.optional and "stderr" in frame.columns and not np.all(frame["stderr"] > 0):
            column = frame.attrs.get("columns", {}).get("stderr", "stderr")
            raise InputError(f"column '{column}': standard errors must be positive, got "
                             f"{frame['stderr'][frame['stderr'] <= 0].iloc[0]:g}")
        _positive_loss(frame)
        return frame

    def summary(self, frame: pd.DataFrame, step_min: float | None = None,
                summarise: bool | None = None, delta: float | None = None) -> pd.DataFrame:
        """``frame`` as the engine fits it: here the rows themselves (``Schedule`` summarises long
        logs)."""
        return frame

    def split(self, frame: pd.DataFrame, step_min: float | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``frame`` split at ``step_min`` (of ``order_key``): (the rows from it on, the rows before)."""
        if step_min is None:
            return frame, frame.iloc[:0]
        if not (isinstance(step_min, (int, float, np.integer, np.floating)) and np.isfinite(step_min)):
            raise InputError(f"step_min must be a number, got {step_min!r}")
        keep = frame[self.order_key(frame)].to_numpy(float) >= step_min
        if keep.sum() <= len(self.law.params):
            raise InputError(f"step_min {step_min:g}: {int(keep.sum())} point(s) left from there on; law "
                             f"'{self.law.name}' needs at least {len(self.law.params) + 1}")
        return frame[keep], frame[~keep]

    def fit_inputs(self, frame: pd.DataFrame, schedules=None, options: Mapping | None = None,
                   step_min: float | None = None, whole: pd.DataFrame | None = None):
        """The formula's inputs for the rows of ``frame`` (from ``table``), their losses and run
        labels, and each run's per-step LR (None for this kind): ``(X, y, runs, lrs)``."""
        X = {role: frame[role].to_numpy(float) for role in self.law.inputs}
        y = frame["y"].to_numpy(float)
        if "stderr" in self.law.optional and "stderr" in frame.columns:  # weights: inverse relative errors
            weight = y / frame["stderr"].to_numpy(float)
            X[WEIGHT] = weight / weight.mean()
        return X, y, frame["run"].to_numpy(), None

    def domain(self, frame: pd.DataFrame, X: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
        """Role -> (min, max) over the fitted points: outside it a prediction extrapolates."""
        return {role: (float(np.min(v)), float(np.max(v))) for role, v in X.items()
                if np.ndim(v) == 1 and role in self.law.inputs}

    # Groups left out in turn at most; more (a long log) are merged with neighbours. Derived: the
    # scatter's Student's t on 19 degrees of freedom is within 7 % of the normal quantile (2.09
    # against 1.96 at 95 %), so more groups would barely narrow the interval, each at a refit's cost.
    MAX_HELD_OUT = 20

    def held_out_groups(self, frame: pd.DataFrame, X: Mapping[str, np.ndarray]) -> tuple[str, np.ndarray] | None:
        """What one new run is, for the error on runs left out of the fit (``FitResult.held_out``):
        ``(by, labels)``, a label per fitted point. A model with several rows (checkpoints along
        its training) is its ``run``; else rows of one value of ``law.held_out_by`` (chinchilla's
        model size ``N``: runs of several lengths); else each row. More than ``MAX_HELD_OUT``
        groups are merged, in order of size, into that many blocks of neighbours."""
        runs = frame["run"].to_numpy()
        n_runs = len(pd.unique(runs))
        if 1 < n_runs < len(runs):
            by, labels = "run", runs.astype(str)
        elif self.law.held_out_by:
            by, labels = self.law.held_out_by, np.array([f"{v:g}" for v in X[self.law.held_out_by]])
        else:
            by, labels = "point", np.arange(len(runs)).astype(str)
        groups, index = np.unique(labels, return_inverse=True)
        if len(groups) <= self.MAX_HELD_OUT:
            return by, labels
        size = pd.Series(np.log(X[self.law.inputs[0]])).groupby(index).median().to_numpy()
        order = np.argsort(size, kind="stable")  # groups from the smallest size up
        block = np.empty(len(groups), dtype=int)
        block[order] = np.arange(len(groups)) * self.MAX_HELD_OUT // len(groups)
        ends = pd.Series(groups[order]).groupby(block[order])
        names = (ends.first() + ".." + ends.last()).to_numpy()
        return f"block of neighbouring {by}s", names[block[index]]

    def noise_order(self, X: Mapping[str, np.ndarray]):
        """The values that order neighbouring points when the point-to-point noise is measured."""
        return X[self.law.inputs[0]]

    def trend(self) -> str | None:
        """The column the law has the loss fall along, for the "loss rises" refusal, or None."""
        return self.law.inputs[0] if self.law.inputs == ("x",) else None

    BINNED_ABOVE = 4096  # points: above this, the starts are compared on a binned curve

    def binned(self, frame: pd.DataFrame, lrs, options, points: int) -> tuple[dict, np.ndarray] | None:
        """The inputs and losses of a long log (``points`` fitted) averaged over log-spaced bins,
        on which the optimiser compares its starts; None where it compares them on every point.
        Here: a one-input law with a Jacobian on more than ``BINNED_ABOVE`` points (a power law
        over a per-step log), binned along its input (``log_bins``)."""
        if self.law.jacobian is None or points <= self.BINNED_ABOVE or len(self.law.inputs) != 1:
            return None
        role = self.law.inputs[0]
        bins = log_bins(frame[["run", role, "y"]], key=role, whole=False)
        return {role: bins[role].to_numpy(float)}, bins["y"].to_numpy(float)

    # -- predicting ------------------------------------------------------------------------
    def predict_inputs(self, X, schedule=None, options: Mapping | None = None, **extra) -> dict[str, np.ndarray]:
        """The formula's inputs to predict at: ``X`` the sizes (an array for one-input laws, else a
        mapping role -> array or a DataFrame)."""
        law = self.law
        if isinstance(X, (pd.DataFrame, Mapping)):
            X = law.complete(X)  # e.g. chinchilla's tokens D from N and the compute C
            missing = [r for r in law.inputs if r not in X]
            if missing:
                raise InputError(f"law '{law.name}' predicts from {', '.join(law.inputs)}; "
                                 f"missing {', '.join(missing)}")
            return {r: np.asarray(X[r], dtype=float) for r in law.inputs}
        if len(law.inputs) != 1:
            raise InputError(f"law '{law.name}' takes {', '.join(law.inputs)}: pass a mapping or DataFrame")
        return {law.inputs[0]: np.asarray(X, dtype=float)}


class Curves(Sizes):
    """Loss curves over steps without a schedule (the batch laws): inputs are columns, and the
    residuals of a curve are correlated along it (block-robust covariance)."""

    name = "curves"
    along_steps = True
    widens_beyond = False  # the error on batch sizes left out is measured along whole curves

    def held_out_groups(self, frame: pd.DataFrame, X: Mapping[str, np.ndarray]) -> tuple[str, np.ndarray] | None:
        """Curves left out by the value of ``law.held_out_by`` (the batch size), or None."""
        by = self.law.held_out_by
        return None if by is None else (by, np.array([f"{v:g}" for v in X[by]]))


class Schedule(Sizes):
    """Loss curves under an LR schedule: the inputs come from each run's per-step LR."""

    name = "schedule"
    along_steps = True
    resample = "blocks"  # the bootstrap resamples blocks of consecutive steps within each run
    widens_beyond = False  # its intervals are the forecast's (scalelaw.forecast)
    chunked = True

    def needed(self) -> tuple[str, ...]:
        return ("step", "y")

    def held_out_groups(self, frame: pd.DataFrame, X: Mapping[str, np.ndarray]) -> None:
        """None: a forecast measures its own error (``scalelaw.forecast``)."""
        return None

    # a log with a run of more than SUMMARY_ABOVE rows, or more than SUMMARY_TOTAL in all, is fitted
    # on its summary (``summarise_log``); below, as before summaries: the per-step logs of 33,908 steps
    # (one or two) that the earlier benchmarks fit row by row stay so
    SUMMARY_ABOVE, SUMMARY_TOTAL = 50_000, 100_000
    SUMMARY_MIN_ROWS = 4  # rows a bin holds on average, at least, for a log to be summarised

    def summary(self, frame: pd.DataFrame, step_min: float | None = None,
                summarise: bool | None = None, delta: float | None = None) -> pd.DataFrame:
        """``frame`` (from ``table``) as the engine fits it: a log with a run of more than
        ``SUMMARY_ABOVE`` rows or of more than ``SUMMARY_TOTAL`` rows in all (or any log, with
        ``summarise=True``) becomes its summary over bins of steps
        (``summarise_log``, cut at ``step_min``, each bin's Huber(``delta``) location of the loss,
        or its mean with ``delta`` None); a shorter one (or any, with
        ``summarise=False``), one whose bins would hold fewer than ``SUMMARY_MIN_ROWS`` rows on
        average, and a summary already made, stay as they are."""
        if BIN_ROWS in frame.columns or summarise is False:
            return frame
        if summarise is None and len(frame) <= self.SUMMARY_TOTAL and frame["run"].value_counts().max() <= self.SUMMARY_ABOVE:
            return frame
        bins = summarise_log(frame, step_min, delta)
        # bins of a few rows (a validation loss logged every few hundred steps) save little, and their
        # spread, which stands for the rows' noise, has few degrees of freedom: no summary
        return frame if len(bins) > len(frame) / self.SUMMARY_MIN_ROWS else bins

    def order_key(self, frame: pd.DataFrame) -> str:
        return "step"

    def _checked(self, frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
        """Losses are positive; steps are whole numbers >= 0, once per run; step 0 (the loss before
        any update: no LR area yet to fit it by) is set aside with a note; rows sorted by run and
        step."""
        _positive_loss(frame)
        steps = frame["step"].to_numpy()
        if np.any(steps < 0) or np.any(steps != np.round(steps)):
            raise InputError("column 'step': steps must be whole numbers >= 0")
        if np.any(steps == 0):
            if "lr" in frame.columns and np.all(steps == 0):
                raise InputError("column 'step': every row is at step 0")
            notes.append(f"step 0 (the loss before any update) is not fitted: {int(np.sum(steps == 0))} row(s)")
            frame = frame[steps > 0]
        frame = frame.sort_values(["run", "step"], kind="stable").reset_index(drop=True)
        dup = frame.duplicated(["run", "step"])
        if dup.any():
            raise InputError(f"column 'step': step {frame['step'][dup].iloc[0]:g} appears twice in run "
                             f"'{frame['run'][dup].iloc[0]}'")
        return frame

    def fit_inputs(self, frame: pd.DataFrame, schedules=None, options: Mapping | None = None,
                   step_min: float | None = None, whole: pd.DataFrame | None = None):
        """As for ``Sizes``, with each run's LR from ``schedules`` (one for all runs, or run ->
        schedule), else rebuilt from the logged ``lr`` column (every logged row:
        ``attrs["lr_log"]``). ``whole``: every row of the runs, those before ``step_min`` too,
        whose LR makes the schedule; only the rows from ``step_min`` on are returned. A run with
        more than ``law.max_points`` points is averaged (log loss, step) over equal runs of
        consecutive points first."""
        law = self.law
        frame = frame if whole is None else whole
        options = law.options if options is None else options
        parts, ys, runs, lrs = [], [], [], {}
        warmup = options.get("warmup", "peak")
        for run, g in frame.groupby("run", sort=False):
            steps = g["step"].to_numpy(int)
            if schedules is not None:
                chosen = schedules.get(run) if isinstance(schedules, Mapping) else schedules
                if chosen is None:
                    raise InputError(f"run '{run}': no schedule given for it (schedules has "
                                     f"{', '.join(map(str, schedules))})")
                lr = resolve(chosen, total=int(steps.max()), warmup=warmup)
            elif "lr" in g.columns:  # from every row of the log that had an lr (load_runs), else these
                kept = frame.attrs.get("lr_log", {}).get(str(run))
                logged = kept or (steps, g["lr"].to_numpy(float))
                total = int(max(steps.max(), logged[0][-1]))
                # a kept log (a summary's, a log with more lr rows than losses) is rebuilt once,
                # for every candidate law and fold of its data set
                lr = (_BUILT.get((kept, total, warmup), lambda: _frozen(from_log(*kept, total=total, warmup=warmup)))
                      if kept is not None else from_log(*logged, total=total, warmup=warmup))
            else:
                raise InputError(f"run '{run}': law '{law.name}' needs the LR of every step: the log has no "
                                 "lr column and no schedule was given (--lr COL or --schedule SPEC)")
            if step_min is not None:
                g = g[g["step"].to_numpy(float) >= step_min]
                steps = g["step"].to_numpy(int)
                if len(steps) == 0:
                    continue
            y = g["y"].to_numpy(float)
            extra = {role: g[role].to_numpy(float) for role in law.inputs if role in g.columns}
            binned = BIN_ROWS in g.columns  # a summary (summarise_log): its bins are the points
            if law.max_points and len(steps) > law.max_points and not binned:
                group = np.arange(len(steps)) * law.max_points // len(steps)
                count = np.bincount(group)
                steps = np.rint(np.bincount(group, steps) / count).astype(int)
                y = np.exp(np.bincount(group, np.log(y)) / count)
                extra = {k: np.bincount(group, v) / count for k, v in extra.items()}
            with np.errstate(over="ignore", invalid="ignore"):
                inputs = dict(_BUILT.get((law.name, tuple(sorted(options.items())), lr, steps),
                                         lambda: law.features(lr, steps, options)))
            bad = [k for k, v in inputs.items() if not np.all(np.isfinite(v))]
            if bad:  # e.g. an LR of 1e308: its area overflows
                raise InputError(f"run '{run}': the LR (largest {float(np.max(lr)):.4g}) makes the law's input "
                                 f"{bad[0]} overflow; is the lr column a learning rate?")
            for role in law.inputs:
                if role not in inputs:
                    if role not in extra:
                        raise InputError(f"law '{law.name}' needs a column '{role}' (e.g. model size)")
                    inputs[role] = extra[role]
            if binned:  # each bin's residual weighs as its rows do (summarise_log)
                rows = g[BIN_ROWS].to_numpy(float)
                inputs.update({WEIGHT: np.sqrt(rows), BIN_ROWS: rows, BIN_SS: g[BIN_SS].to_numpy(float)})
            parts.append(inputs)
            ys.append(y)
            runs.append(np.full(len(y), run, dtype=object))
            lrs[str(run)] = lr
        return _stack(parts), np.concatenate(ys), np.concatenate(runs), lrs

    def domain(self, frame: pd.DataFrame, X: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
        return {"step": (float(frame["step"].min()), float(frame["step"].max())), **super().domain(frame, X)}

    def noise_order(self, X: Mapping[str, np.ndarray]):
        return None  # the rows are in step order already

    def trend(self) -> str | None:
        return "step"

    def binned(self, frame: pd.DataFrame, lrs, options, points: int) -> tuple[dict, np.ndarray] | None:
        """On a log of more than ``BINNED_ABOVE`` fitted points (laws with a Jacobian), the inputs
        and losses averaged over log-spaced bins of steps (``log_bins``), under each run's LR."""
        if self.law.jacobian is None or points <= self.BINNED_ABOVE:
            return None
        roles = [r for r in self.law.inputs if r in frame.columns]
        X, y, _, _ = self.fit_inputs(log_bins(frame[["run", "step", "y", *roles]]), lrs, options)
        return X, y

    def predict_inputs(self, X, schedule=None, options: Mapping | None = None, **extra) -> dict[str, np.ndarray]:
        """The formula's inputs at the steps ``X`` under ``schedule`` (spec, per-step array or
        ``(steps, lr)`` log), with ``extra`` the run's other inputs (e.g. ``N=1e8``)."""
        law = self.law
        options = law.options if options is None else options
        steps = steps_of(X)
        if schedule is None:
            raise InputError(f"law '{law.name}' predicts the loss under a schedule: pass one "
                             "(a spec such as 'cosine:peak=3e-4,total=24000', a per-step LR array "
                             "or a log with step and lr)")
        lr = resolve(schedule, total=int(steps.max()), warmup=options.get("warmup", "peak"))
        out = law.features(lr, steps, options)
        for role in law.inputs:
            if role not in out:
                if role not in extra:
                    raise InputError(f"law '{law.name}' also needs {role}: pass {role}=...")
                out[role] = np.broadcast_to(np.asarray(extra[role], dtype=float), steps.shape).copy()
        return out


class _Built:
    """The last ``size`` results of building a schedule law's inputs, by key: the per-step LR of
    a kept LR log, and a law's inputs at some steps under that LR. Arrays in a key are matched
    by identity and held, so that an id is never reused while its entry lives; the results are
    never changed in place. ``auto`` builds the same inputs for each candidate and fold."""

    def __init__(self, size: int = 16, points: int = 20_000):
        self.size, self.points, self.entries = size, points, {}

    def get(self, key: tuple, build):
        """``build()``, or what it gave for ``key`` before (the last key's array, the steps, is
        matched by value; more than ``points`` of them are not kept: a log fitted row by row)."""
        *held, steps = key
        if isinstance(steps, np.ndarray):
            if len(steps) > self.points:
                return build()
            steps = (steps.dtype.str, steps.tobytes())
        try:
            token = (*(id(k) if isinstance(k, (np.ndarray, tuple)) else k for k in held), steps)
            hit = self.entries.get(token)
        except TypeError:  # an option that is not hashable
            return build()
        if hit is None:
            hit = self.entries[token] = (held, build())  # (the key's arrays held with it)
            while len(self.entries) > self.size:
                self.entries.pop(next(iter(self.entries)))
        return hit[1]


_BUILT = _Built()


def _frozen(array: np.ndarray) -> np.ndarray:
    """``array``, read-only: it is shared by every fit that builds it (``_Built``)."""
    array.flags.writeable = False
    return array

KINDS = {kind.name: kind for kind in (Sizes, Curves, Schedule)}


def of(law: Law) -> Sizes:
    """The kind of ``law`` (``Law.kind``), bound to it."""
    return KINDS[law.kind](law)


def log_bins(frame: pd.DataFrame, key: str = "step", per_octave: int = 8, whole: bool = True) -> pd.DataFrame:
    """Each run of ``frame`` (``run``, ``key`` > 0, ``y`` and any other numeric columns) averaged
    over log-spaced bins of ``key``, ``per_octave`` to an octave: ``key`` (the mean, rounded to a
    whole number with ``whole``: steps), ``y`` (the mean in log space), the other numeric columns
    (their mean) and ``count``. A per-step log of 34,000 steps becomes about 120 rows, and each
    octave of steps counts alike."""
    parts = []
    for run, g in frame.groupby("run", sort=False):
        label = np.floor(per_octave * np.log2(g[key].to_numpy(float))).astype(int)
        values = g.drop(columns=["run"]).select_dtypes("number").assign(y=np.log(g["y"].to_numpy(float)))
        b = values.groupby(label, sort=True)
        out = b.mean().assign(count=b.size())
        if whole:
            out[key] = np.rint(out[key]).astype(int)
        out["y"] = np.exp(out["y"])
        parts.append(out.reset_index(drop=True).assign(run=run))
    return join_rows(parts, {}).reset_index(drop=True)


def join_rows(parts: list[pd.DataFrame], attrs: Mapping) -> pd.DataFrame:
    """``parts`` concatenated row-wise, with ``attrs`` (pandas compares the parts' own attrs to
    keep them, which fails for attrs holding arrays, such as ``lr_log``)."""
    parts = [p.copy() for p in parts]
    for p in parts:
        p.attrs = {}
    out = pd.concat(parts)
    out.attrs = dict(attrs)
    return out


def _positive_loss(frame: pd.DataFrame) -> None:
    if not np.all(frame["y"] > 0):
        raise InputError("column 'y': the loss must be positive (it is fitted in log space)")


def _stack(parts: list[dict]) -> dict[str, np.ndarray]:
    """Join per-run inputs row-wise; 2-D inputs are zero-padded to a common width."""
    out = {}
    for role in parts[0]:
        arrays = [np.asarray(p[role], dtype=float) for p in parts]
        if arrays[0].ndim == 2:
            width = max(a.shape[1] for a in arrays)
            arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in arrays]
        out[role] = np.concatenate(arrays)
    return out
