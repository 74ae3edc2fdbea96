"""What a law is (``Law``, ``Param``, ``Budget``, ``Column``, ``Flag``) and the registry of laws by
name: declarations. How data become a law's inputs is its kind's (``scalelaw.laws.design``). The
law modules import this; nothing here imports them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:  # pandas is imported where data are read, not to list the laws
    import pandas as pd

Inputs = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Param:
    """One fitted parameter.

    ``log=True`` means the optimiser works on log10 of the value (for scales such as x0 that
    span many decades); bounds are always given in natural units.
    """

    name: str
    lower: float
    upper: float
    log: bool = False
    doc: str = ""

    @property
    def theta_name(self) -> str:
        """The optimiser's name of the parameter: ``log10_NAME`` for a log-scale one."""
        return f"log10_{self.name}" if self.log else self.name

    def to_theta(self, value: float) -> float:
        """The value (natural units) in the optimiser's coordinate."""
        return math.log10(value) if self.log else float(value)

    def from_theta(self, theta: float) -> float:
        """The optimiser's coordinate back in natural units."""
        return float(10.0 ** theta if self.log else theta)

    @property
    def theta_bounds(self) -> tuple[float, float]:
        return (math.log10(self.lower), math.log10(self.upper)) if self.log else (self.lower, self.upper)


@dataclass(frozen=True)
class Budget:
    """How a bivariate law spends a budget: the cost of given sizes, and the best sizes.

    Attributes:
        name: what the budget counts, with its unit, e.g. ``"compute C = 6*N*D (FLOPs)"``.
        cost: ``cost(inputs) -> array``: the budget that the sizes in ``inputs`` use.
        optimum: ``optimum(params, budget) -> dict``: for an array of budgets, each input role
            -> the sizes with the lowest predicted loss at that budget (plus any extra
            quantities worth reporting, e.g. tokens per parameter).
        versus_total: the budget is a total of sizes (Ne + Nd), so one power law in that total
            is the simpler rival the fit reports itself against (``scalelaw.analysis.versus_total``).
        flag: the ``scalelaw allocate`` option that gives the budget (``--budget``; the batch
            law's budget is a loss to reach, ``--target-loss``).
        needs: input roles ``optimum`` also takes, as keywords with one value each (e.g. the
            model size ``N`` of ``batch_sizes``); allocate asks for them.
    """

    name: str
    cost: Callable[[Inputs], np.ndarray] | None
    optimum: Callable[..., dict]
    versus_total: bool = False
    flag: str = "--budget"
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    """An input of a law read from a data column: the names it is recognised by (lower case, in
    order of preference), the command-line flags that name it, and what it holds.

    ``stands_for``: a column that is not an input itself but gives one, as ``(role, convert,
    text)``: ``convert(values) -> array`` from a mapping of roles (this one included), ``text``
    the formula with this role in braces, e.g. compute C standing for tokens ``"{C} / (6 N)"``."""

    names: tuple[str, ...]
    flags: tuple[str, ...]
    help: str
    stands_for: tuple[str, Callable[[Inputs], np.ndarray], str] | None = None


# The model size, read by several laws (chinchilla, annealing_size).
MODEL_SIZE = Column(("n", "n_params", "params", "parameters", "model_size", "model size"), ("--n", "--size"),
                    "model-size column, parameters")


@dataclass(frozen=True)
class Flag:
    """A law option that users set from the command line, as ``--NAME`` (underscores become
    dashes): its help text and, for a choice among words, the choices. The type is that of the
    option's default (a float when the default is None)."""

    help: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Law:
    """A loss law ``y = func(inputs, **params)``.

    Attributes:
        name: registry key, e.g. ``"power"``.
        kind: how data become its inputs (``scalelaw.laws.design``): ``"sizes"`` (one row per
            model: the inputs are columns), ``"curves"`` (loss curves over steps without a
            schedule: the batch laws) or ``"schedule"`` (loss curves under an LR schedule: the
            inputs come from ``features``).
        formula: the formula as text, for reports.
        inputs: roles the formula reads from the data, e.g. ``("x",)``.
        params: fitted parameters, in a fixed order.
        func: ``func(inputs, **params) -> predicted loss`` with inputs a mapping role -> array.
        starts: ``starts(inputs, y) -> iterable of dicts`` of starting values (natural units);
            the fit engine runs its optimiser from each one.
        derived: ``derived(params, domain) -> dict`` of quantities worth reporting (optional);
            ``domain`` maps each input role to the (min, max) of the fitted data.
        jacobian: ``jacobian(inputs, **params) -> array (n, n_params)``, the derivatives of the
            prediction with respect to each parameter (natural units), optional; with it the
            engine uses exact gradients instead of finite differences.
        features: step laws only: ``features(lr, steps, options) -> inputs``, turning a per-step
            LR array (``scalelaw.schedules``) and the steps to predict at into the formula's
            inputs (arrays with one row per step; 2-D ones are zero-padded when runs are joined).
        options: defaults of the law's options: fixed constants, not fitted. Step laws read
            them in ``features``; other laws take them as keywords of ``func`` and
            ``jacobian`` (e.g. the reference sizes of ``encdec``), fixed by ``bind``.
        setup: ``setup(inputs, options) -> options``, optional: checks that the data can
            identify the law (raising ``InputError`` with the reason) and fills the options
            left None from the data.
        budget: bivariate laws: how to spend a budget best (``Budget``), or None.
        refine: run the optimiser from only this many of the best starts (ranked by the objective at
            the start); None runs it from all of them.
        decay_params: step laws: the parameters of the loss drop bought by LR decay, its scale
            first (``C`` of the annealing law; ``B, C, beta, gamma`` of the multi-power law).
            The scale set to 0 gives the loss without that benefit: forecasts widen their
            intervals by it when the fitted logs saw too little decay to identify it, and take
            these parameters from finished reference runs when given.
        area_param: step laws: the scale of the loss that LR area removes (``A``); with it and
            the decay scale at 0 the law gives the floor the loss tends to. Forecasts whose decay
            term is not identified bound the drop a decay may buy by what lies above that floor.
        max_points: step laws: the most points per run the engine fits; longer logs (a loss at
            every step) are averaged in log space over equal runs of consecutive steps. None
            fits every point.
        columns: the inputs read from data columns (role -> ``Column``: the names they are
            recognised by, their flags); the readers and the CLI build on these. Step laws'
            step, loss and lr are common to all and not declared.
        flags: the options users set from the command line (option name -> ``Flag``); the CLI
            builds its flags from these.
        plot: which picture ``FitResult.plot`` draws (``scalelaw.plot.PLOTS``): ``"sizes"``
            (loss over one size, log-log), ``"steps"`` (loss, LR and residuals over steps),
            ``"bivariate"`` (iso-loss contours over two sizes) or ``"batch"`` (curves at each
            batch size, and the steps-tokens trade-off). A new picture is a function in
            ``scalelaw/plot.py``, registered in ``PLOTS``.
        optional: roles read from a log when it has them (or a flag names them), not required:
            e.g. the ``lr`` that tells the batch law where warmup ends, or the model size ``N``.
        rows: ``rows(frame, options) -> (mask, note)``, optional: the rows of the checked data
            the law fits (a boolean mask) and a note saying what it leaves out (None: nothing).
        variant: ``variant(frame) -> name``, optional: the registered law that fits these data
            in this one's place (``batch`` hands runs of several model sizes to
            ``batch_sizes``, whose parameters differ).
        held_out_by: an input whose values set runs apart (``batch``: the batch size ``B``;
            ``chinchilla``: the model size ``N``), optional. The fit is redone leaving each
            group of runs out in turn (``design``'s ``held_out_groups``: size laws leave out
            each run or row when this is not given), and the error on the left-out runs is the
            scatter of a new run about the law (``FitResult.held_out``, ``run_scatter``).
        predicts: what the law's value is, ``"loss"`` or ``"accuracy"`` (``downstream``): the
            key of ``predict --json`` and the report's word for it.
    """

    name: str
    formula: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    func: Callable[..., np.ndarray]
    starts: Callable[[Inputs, np.ndarray], Iterable[dict]]
    kind: str = "sizes"
    derived: Callable[[Mapping[str, float], Mapping[str, tuple[float, float]]], dict] = field(
        default=lambda params, domain: {})
    jacobian: Callable[..., np.ndarray] | None = None
    features: Callable[[np.ndarray, np.ndarray, Mapping], dict] | None = None
    options: Mapping[str, object] = field(default_factory=dict)
    refine: int | None = None
    setup: Callable[[Inputs, Mapping], dict] | None = None
    budget: Budget | None = None
    decay_params: tuple[str, ...] = ()
    max_points: int | None = None
    area_param: str | None = None
    columns: Mapping[str, Column] = field(default_factory=dict)
    flags: Mapping[str, Flag] = field(default_factory=dict)
    plot: str = "sizes"
    optional: tuple[str, ...] = ()
    rows: Callable[[pd.DataFrame, Mapping], tuple[np.ndarray, str | None]] | None = None
    variant: Callable[[pd.DataFrame], str] | None = None
    held_out_by: str | None = None
    predicts: str = "loss"

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def theta_names(self) -> list[str]:
        """The optimiser's names of the parameters: ``log10_NAME`` for log-scale ones."""
        return [p.theta_name for p in self.params]

    # -- the optimiser's coordinates (theta: log10 of log-scale parameters) ------------------
    def to_theta(self, values: Mapping[str, float]) -> np.ndarray:
        """Parameter values (natural units, by name) as the optimiser's vector."""
        return np.array([p.to_theta(values[p.name]) for p in self.params])

    def from_theta(self, theta) -> dict[str, float]:
        """The optimiser's vector as parameter values by name, natural units."""
        return {p.name: p.from_theta(t) for p, t in zip(self.params, theta)}

    def theta_bounds(self) -> np.ndarray:
        """Bounds of the optimiser's vector, shape (n_params, 2)."""
        return np.array([p.theta_bounds for p in self.params], dtype=float)

    def gradient(self, inputs: Inputs, theta) -> np.ndarray:
        """d(prediction)/d(theta), shape (n, n_params): from ``jacobian`` (chain rule through
        log10 for log-scale parameters), else central differences."""
        theta = np.asarray(theta, dtype=float)
        if self.jacobian is None:
            return numeric_jacobian(lambda t: np.asarray(self(inputs, **self.from_theta(t)), dtype=float), theta)
        params = self.from_theta(theta)
        if not any(p.log for p in self.params):
            return self.jacobian(inputs, **params)
        scale = np.array([v * math.log(10) if p.log else 1.0 for p, v in zip(self.params, params.values())])
        with np.errstate(all="ignore"):
            return self.jacobian(inputs, **params) * scale

    @property
    def step_law(self) -> bool:
        """True for laws of the loss over training steps under an LR schedule (kind ``schedule``)."""
        return self.kind == "schedule"

    def run_inputs(self, frame) -> dict[str, float]:
        """A step law's inputs that are a property of the run rather than of the schedule (e.g.
        ``N`` for ``annealing_size``), from one run's rows of ``frame`` (a DataFrame)."""
        return {r: float(frame[r].iloc[0]) for r in self.inputs if r in frame.columns} if self.step_law else {}

    def for_data(self, data) -> "Law":
        """The law that fits ``data`` in this one's place (``variant``); itself by default."""
        if self.variant is None:
            return self
        import pandas as pd

        name = self.variant(data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data)))
        return self if name == self.name else get_law(name)

    def read_roles(self, named: Iterable[str] = ()) -> tuple[str, ...]:
        """The input roles to read from data, given the roles a user ``named`` a column or value
        for: an input left unnamed whose stand-in column (``Column.stands_for``) was named is
        read as that stand-in (``D`` as ``C`` for chinchilla when only the compute is given)."""
        named = set(named)
        stand_ins = {c.stands_for[0]: role for role, c in self.columns.items() if c.stands_for}
        return tuple(stand_ins[r] if r not in named and stand_ins.get(r) in named else r for r in self.inputs)

    def complete(self, values):
        """``values`` (a DataFrame, or a mapping role -> array) with each input missing from it
        computed from its stand-in (``Column.stands_for``) where that is present; the stand-in
        is removed. A frame's ``attrs["columns"]`` (role -> column read) names the formula."""
        out = values.copy() if hasattr(values, "attrs") else dict(values)
        for role, column in self.columns.items():
            if column.stands_for and role in out and column.stands_for[0] not in out:
                target, convert, text = column.stands_for
                out[target] = convert(out)
                del out[role]
                names = getattr(out, "attrs", {}).get("columns")
                if names is not None and role in names:
                    out.attrs["columns"] = {**{k: v for k, v in names.items() if k != role},
                                            target: text.format(**{role: names[role]})}
        return out

    def resolve_options(self, options: Mapping[str, object] | None) -> dict[str, object]:
        """The law's options with ``options`` set over their defaults (unknown names refused)."""
        unknown = set(options or {}) - set(self.options)
        if unknown:
            known = ", ".join(self.options) or "none"
            raise InputError(f"law '{self.name}' has no option {', '.join(sorted(unknown))} (options: {known})")
        return {**self.options, **(options or {})}

    def __call__(self, inputs: Inputs, **params: float) -> np.ndarray:
        return self.func(inputs, **params)

    def bind(self, options: Mapping[str, object]) -> "Law":
        """This law with its options fixed: ``func`` and ``jacobian`` get them as keywords.
        Step laws (whose ``features`` read the options) and laws without options are returned
        as they are."""
        if self.step_law or not self.options:
            return self
        options = {k: options[k] for k in self.options}
        return replace(self, func=partial(self.func, **options), options=options,
                       jacobian=None if self.jacobian is None else partial(self.jacobian, **options))


    def per_group(self, groups: int, decay: bool = False) -> "Law":
        """This law over ``groups`` groups of runs (finished runs of other model sizes, given as
        references): each group has its own level (the first parameter) and scale
        (``area_param``), and with ``decay`` its own decay scale (``decay_params[0]``), named
        ``NAME@g``; the other parameters are shared. The group of each row is the input
        ``group`` (0 .. groups - 1, a data column)."""
        own = (self.params[0].name, self.area_param, *(self.decay_params[:1] if decay else ()))
        if groups < 2 or self.area_param is None:
            raise ValueError(f"law '{self.name}': per_group needs two groups or more and an area_param")
        shared = [p for p in self.params if p.name not in own]
        params = tuple(replace(p, name=f"{p.name}@{g}") for g in range(groups) for p in self.params
                       if p.name in own) + tuple(shared)
        names = [p.name for p in self.params]
        func, jacobian, starts = self.func, self.jacobian, self.starts

        def split(inputs, values):
            index = np.asarray(inputs["group"], dtype=int)
            for g in range(groups):
                rows = index == g
                part = {k: np.asarray(v)[rows] for k, v in inputs.items() if k != "group"}
                yield rows, part, {**{p.name: values[p.name] for p in shared},
                                   **{name: values[f"{name}@{g}"] for name in own}}

        def grouped_func(inputs, **values):
            out = np.empty(len(np.asarray(inputs["group"])))
            for rows, part, params_g in split(inputs, values):
                out[rows] = func(part, **params_g)
            return out

        def grouped_jacobian(inputs, **values):
            out = np.zeros((len(np.asarray(inputs["group"])), len(params)))
            column = {p.name: i for i, p in enumerate(params)}
            for g, (rows, part, params_g) in enumerate(split(inputs, values)):
                J = jacobian(part, **params_g)
                for j, name in enumerate(names):
                    out[rows, column[f"{name}@{g}" if name in own else name]] = J[:, j]
            return out

        def grouped_starts(inputs, y):
            """The law's starts on each group's own rows, taken in step (the k-th of each):
            each group's level and scale from its own, the shared parameters their mean."""
            index = np.asarray(inputs["group"], dtype=int)
            per_group = [starts({k: np.asarray(v)[index == g] for k, v in inputs.items() if k != "group"},
                                np.asarray(y)[index == g]) for g in range(groups)]
            for picks in zip(*per_group):
                yield {**{p.name: float(np.mean([pick[p.name] for pick in picks])) for p in shared},
                       **{f"{name}@{g}": pick[name] for g, pick in enumerate(picks) for name in own}}

        return replace(self, params=params, func=grouped_func, starts=grouped_starts,
                       jacobian=None if jacobian is None else grouped_jacobian,
                       inputs=(*self.inputs, "group"), area_param=None,
                       decay_params=tuple(p for p in self.decay_params if p not in own))


    def fix(self, values: Mapping[str, float]) -> "Law":
        """This law with the parameters in ``values`` held at those values (lmfit's
        ``vary=False``): they leave ``params``, ``func`` and ``jacobian`` receive them, and the
        starts drop them. The name stays, so a fit can be reported as the full law."""
        if not values:
            return self
        unknown = set(values) - set(self.param_names)
        if unknown:
            raise ValueError(f"law '{self.name}' has no parameter {', '.join(sorted(unknown))}")
        fixed = {k: float(v) for k, v in values.items()}
        keep = [i for i, p in enumerate(self.params) if p.name not in fixed]
        func, jacobian, starts = self.func, self.jacobian, self.starts

        def fixed_func(inputs, **params):
            return func(inputs, **params, **fixed)

        def fixed_jacobian(inputs, **params):
            return jacobian(inputs, **params, **fixed)[:, keep]

        def fixed_starts(inputs, y):
            for start in starts(inputs, y):
                yield {k: v for k, v in start.items() if k not in fixed}

        return replace(self, params=tuple(self.params[i] for i in keep), func=fixed_func,
                       jacobian=None if jacobian is None else fixed_jacobian, starts=fixed_starts,
                       decay_params=tuple(p for p in self.decay_params if p not in fixed))


def numeric_jacobian(fun, theta: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of ``fun`` (array-valued) at ``theta``: shape (*out, len(theta))."""
    cols = []
    for i in range(len(theta)):
        h = 1e-6 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        cols.append((fun(up) - fun(down)) / (2 * h))
    return np.stack(cols, axis=-1)


def steps_of(X) -> np.ndarray:
    """``X`` as the steps a step law predicts at: whole numbers >= 1, as an int array."""
    steps = np.atleast_1d(np.asarray(X, dtype=float))
    if steps.ndim != 1 or len(steps) == 0 or not np.all(np.isfinite(steps)) or np.any(steps < 1) \
            or np.any(steps != np.round(steps)):
        raise InputError("steps must be a non-empty list of whole numbers >= 1")
    return steps.astype(int)


_REGISTRY: dict[str, Law] = {}


KINDS = ("sizes", "curves", "schedule")


def register(law: Law) -> Law:
    """Add ``law`` to the registry (by name); its kind must be one of ``KINDS``, and a
    ``schedule`` law (only) has ``features``."""
    if law.kind not in KINDS:
        raise ValueError(f"law '{law.name}': kind must be one of {', '.join(KINDS)}, got '{law.kind}'")
    if (law.kind == "schedule") != (law.features is not None):
        raise ValueError(f"law '{law.name}': a law of kind 'schedule' (only) turns an LR schedule into its "
                         "inputs with features")
    _REGISTRY[law.name] = law
    return law


def get_law(name: str) -> Law:
    """The law registered under ``name`` (see ``available_laws()``)."""
    if name not in _REGISTRY:
        raise InputError(f"unknown law '{name}' (available: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


def declared_columns() -> dict[str, tuple[Column, list[str]]]:
    """role -> (its Column, the laws that read it), over the registered laws, in the order they
    were registered (the first declaration of a role is the one used)."""
    out: dict[str, tuple[Column, list[str]]] = {}
    for law in _REGISTRY.values():
        for role, column in law.columns.items():
            out.setdefault(role, (column, []))[1].append(law.name)
    return out


def available_laws() -> list[str]:
    return sorted(_REGISTRY)
