"""Plots of fitted laws (matplotlib). Nothing here fits anything."""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from .laws.batch import reach, size_floor, steps_and_tokens


MAX_LEGEND_RUNS = 8  # more runs than this share one legend entry


def plot_fit(result, ax=None, extrapolate_to: float | None = None, level: float = 0.95):
    """Log-log plot of a one-input law (linear axes for an accuracy over a loss): data per run,
    the fit solid over the fitted range and dashed beyond it (up to ``extrapolate_to``, default
    10x the largest x; an accuracy over a loss, down to 0.8x the lowest loss), a new run's
    ``level`` interval and the mean curve's band, and ``L_inf`` dotted. Returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    law = result.law
    if len(law.inputs) != 1:
        raise NotImplementedError(f"no plot for the {len(law.inputs)}-input law '{law.name}' yet")
    role = law.inputs[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    lo, hi = result.domain[role]
    if law.predicts == "accuracy":  # over a loss: bigger models lie at lower losses
        far = min(lo / 1.25, extrapolate_to or np.inf)
    else:
        far = max(hi * 10, extrapolate_to or 0)
    if result.data is not None:
        fitted, before = _fitted_rows(result.data)
        runs = fitted.groupby("run", sort=False)
        for i, (run, g) in enumerate(runs):
            label = ("data (fitted)" if run == "run" else f"{run} (fitted)") if runs.ngroups <= MAX_LEGEND_RUNS else \
                f"data (fitted): {runs.ngroups} runs" if i == 0 else None
            ax.scatter(g[role], g["y"], s=12, alpha=0.7, label=label)
        if len(before):
            ax.scatter(before[role], before["y"], s=10, marker="x", color="grey", alpha=0.6,
                       label=f"not fitted (before {role} {result.options.get('fitted_from_step')})")
    x_in, x_out = np.geomspace(lo, hi, 200), np.geomspace(lo if far < lo else hi, far, 100)
    line, = ax.plot(x_in, result.predict(x_in), color="k", lw=1.6, label=f"fit: {law.formula}")
    ax.plot(x_out, result.predict(x_out), color="k", lw=1.6, ls="--", label="extrapolation")
    x_all = np.sort(np.concatenate([x_in, x_out]))
    percent = int(round(level * 100))
    for of, alpha, label in (("run", 0.1, f"{percent} % interval of a new run"),
                             ("mean", 0.25, f"{percent} % band of the mean curve")):
        band = result.predict_interval(x_all, level=level, of=of)
        if band is not None:
            ax.fill_between(x_all, band[0], band[1], color="k", alpha=alpha, lw=0, label=label)
    if "L_inf" in result.params:
        ax.axhline(result.params["L_inf"], color="grey", ls=":", lw=1.2,
                   label=f"L_inf = {result.params['L_inf']:.4g}")
    if law.predicts == "loss":  # sizes over decades; an accuracy over a loss is read on linear axes
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel(axis_label(result.columns.get(role, role)))
    ax.set_ylabel(axis_label(result.columns.get("y", law.predicts), law.predicts))
    ax.legend(fontsize=8)
    return ax


UNITS = {"parameters": ("N", "Ne", "Nd"), "tokens": ("D",), "FLOPs": ("C",)}  # role -> what its column counts


def axis_label(column: str, default: str = "") -> str:
    """An axis label: the column's name and what it counts, from the names the readers recognise
    for each role (the laws' ``Column`` declarations, the curves' step names; ``UNITS``; the
    trainer's ``flops_6nd`` and a sweep's ``budget`` are FLOPs too), or ``default``."""
    from .io import role_names

    known = {unit: {n for role in roles for n in role_names(role)} for unit, roles in UNITS.items()}
    known["FLOPs"] |= {"flops_6nd", "budget"}
    known["optimizer steps"] = set(role_names("step"))
    unit = next((u for u, names in known.items() if str(column).lower() in names), default)
    return f"{column} ({unit})" if unit and unit != str(column) else str(column)


def figure_format(path) -> str:
    """The image format of ``path`` from its extension (png without one), checked against what
    matplotlib can write: an InputError before any work is done, not after."""
    from matplotlib.backend_bases import FigureCanvasBase

    from .errors import InputError

    fmt = str(path).rsplit(".", 1)[-1].lower() if "." in Path(path).name else "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise InputError(f"{path}: cannot write a '{fmt}' image (use one of {', '.join(sorted(supported))})")
    return fmt


def render(ax, path) -> bytes:
    """The figure of ``ax`` as the bytes of an image file in the format of ``path``."""
    import io

    if isinstance(ax, np.ndarray):  # several panels of one figure
        ax = ax.flat[0]
    buf = io.BytesIO()
    ax.figure.savefig(buf, format=figure_format(path), dpi=130)
    return buf.getvalue()


def save_figure(ax, path) -> None:
    """Save the figure of ``ax`` atomically (rendered in memory, then written in one go)."""
    from .io import write_atomic

    write_atomic(path, render(ax, path))


def plot_steps(result, others=None, level: float = 0.95, **inputs):
    """Loss over training steps for a step law, in three panels sharing the step axis: the
    loss (data as dots, the fit as solid lines, predictions for ``others`` dashed, with their
    ``level`` band), the LR of every step, and the residuals in percent of the loss.

    Args:
        result: a fitted step law (``FitResult``); its fitted runs are drawn when it still holds
            their data and schedules (a fit loaded from JSON does not).
        others: name -> ``(schedule, data)``: other schedules to predict (spec, per-step LR
            array or a ``(steps, lr)`` log) and their logged losses (a frame with ``step`` and ``y``), or None.
        inputs: a property of the run for laws that take one (``N`` of ``annealing_size``).
    Returns:
        array of the three axes.
    """
    import matplotlib.pyplot as plt

    from .schedules import resolve, warmup_steps

    _, axes = plt.subplots(3, 1, figsize=(7.5, 7.5), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [3, 1.2, 1.2]})
    curves, before = [], None
    if result.data is not None and result.schedules:
        fitted, before = _fitted_rows(result.data)
        for run, g in fitted.groupby("run", sort=False):
            curves.append((str(run), result.schedules[str(run)], g, "-"))
        if len(before):  # e.g. the initial transient: read, drawn, not fitted
            axes[0].scatter(before["step"], before["y"], s=5, marker="x", color="grey", alpha=0.5,
                            label=f"not fitted (before step {result.options.get('fitted_from_step')})")
            axes[0].set_yscale("log")
    for name, (schedule, data) in (others or {}).items():
        curves.append((str(name), resolve(schedule, warmup=result.law_options.get("warmup", "peak")), data, "--"))
    for i, (name, lr, data, style) in enumerate(curves):
        color = f"C{i % 10}"
        # the law describes the loss after warmup: draw from the first logged step (or the peak)
        first = int(data["step"].min()) if data is not None and len(data) else max(1, warmup_steps(lr))
        steps = np.unique(np.linspace(first, len(lr) - 1, 400).astype(int))
        label = name if style == "-" else f"{name} (predicted)"
        extra = {**inputs, **(result.law.run_inputs(data) if data is not None and len(data) else {})}
        axes[0].plot(steps, result.predict(steps, lr, **extra), style, color="k" if len(curves) == 1 else color,
                     lw=1.4, label=label, zorder=3)  # over the data: a per-step log would hide it
        if style == "--":
            band = result.predict_interval(steps, lr, level=level, **extra)
            if band is not None:
                axes[0].fill_between(steps, band[0], band[1], color=color, alpha=0.15, lw=0,
                                     label=f"{name}: {100 * level:.0f} % forecast interval")
        axes[1].plot(np.arange(len(lr)), lr, style, color=color, lw=1.2)
        if data is not None and len(data):
            dense = len(data) > 2000  # a per-step log: small, faint dots
            axes[0].scatter(data["step"], data["y"], s=2 if dense else 5, color=color, alpha=0.2 if dense else 0.5,
                            label=f"{name}: {'summary of the log (bins)' if 'binned' in result.options else 'logged'}")
            pred = result.predict(data["step"].to_numpy(int), lr, **extra)
            axes[2].plot(data["step"], 100 * (pred - data["y"]) / data["y"], ".", ms=3, color=color)
    axes[0].set_ylabel(result.columns.get("y", "loss"))
    axes[0].set_title(f"{result.law.name}: {result.law.formula}", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("LR")
    axes[2].axhline(0, color="grey", lw=0.8)
    axes[2].set_ylabel("pred - data (%)")
    axes[2].set_xlabel(result.columns.get("step", "step"))
    return axes


def _fitted_rows(data):
    """(the fitted rows, the rows read but not fitted) of a result's data (``fitted`` column)."""
    if "fitted" not in data.columns:
        return data, data.iloc[:0]
    return data[data["fitted"]], data[~data["fitted"]]


def plot_bivariate(result, extend: float = 4.0, slices: int = 5):
    """Two panels for a two-input law (``chinchilla``, ``encdec``).

    Left: iso-loss contours over the two sizes (log axes, up to ``extend`` times beyond the
    data), the fitted points coloured by loss, dashed lines of equal budget (``law.budget``)
    and the optimal allocation for each budget in red. Right: loss against the first size for
    several values of the second (its distinct values in the data, or ``slices`` values
    spanning it), the fit as lines and the data as dots, each moved to its nearest line's value
    of the second size by the fit (its residual kept: a dot off its line is the fit's misfit).

    Returns:
        array of the two axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import ScalarFormatter

    law = result.law
    first, second = law.inputs
    names = {role: result.columns.get(role, role) for role in law.inputs}
    (lo1, hi1), (lo2, hi2) = result.domain[first], result.domain[second]
    g1 = np.geomspace(lo1 / 2, hi1 * extend, 160)
    g2 = np.geomspace(lo2 / 2, hi2 * extend, 160)
    grid = dict(zip(law.inputs, np.meshgrid(g1, g2)))
    loss = result.predict(grid)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    fig.get_layout_engine().set(wspace=0.08)  # the colour bar's label clear of the right panel's

    ax = axes[0]
    levels = np.unique(np.quantile(loss, np.linspace(0.02, 0.98, 12)).round(3))
    norm = LogNorm(loss.min(), loss.max())
    cs = ax.contour(g1, g2, loss, levels=levels, cmap="viridis", norm=norm, linewidths=1)
    ax.clabel(cs, fontsize=7, fmt="%.3g")
    if result.data is not None:
        points = ax.scatter(result.data[first], result.data[second], c=result.data["y"], cmap="viridis",
                            norm=norm, s=14, edgecolors="k", linewidths=0.3)
        bar = ax.figure.colorbar(points, ax=ax, label=result.columns.get("y", "loss"))
        bar.ax.yaxis.set_major_formatter(ScalarFormatter())
        bar.ax.yaxis.set_minor_formatter(ScalarFormatter())
    if law.budget is not None:
        cost = law.budget.cost(grid)
        budgets = np.geomspace(cost.min(), cost.max(), 9)[1:-1]
        ax.contour(g1, g2, cost, levels=budgets, colors="grey", linestyles="--", linewidths=0.7)
        line = np.geomspace(cost.min(), cost.max(), 200)
        best = law.budget.optimum(result.params, line)
        ax.plot(best[first], best[second], color="C3", lw=2, label=f"optimal allocation ({law.budget.name})")
        ax.plot([], [], color="grey", ls="--", lw=0.7, label="equal budget")
        ax.legend(fontsize=8, loc="lower left")
    ax.set(xscale="log", yscale="log", xlim=(g1[0], g1[-1]), ylim=(g2[0], g2[-1]),
           xlabel=names[first], ylabel=names[second], title=f"{law.name}: {law.formula}")
    ax.title.set_fontsize(9)

    ax = axes[1]
    values = np.unique(result.data[second]) if result.data is not None else np.geomspace(lo2, hi2, slices)
    if len(values) > slices + 1:
        values = np.geomspace(lo2, hi2, slices)
    x = np.geomspace(lo1, hi1 * extend, 200)
    for i, v in enumerate(values):
        ax.plot(x, result.predict({first: x, second: np.full_like(x, v)}), color=f"C{i % 10}", lw=1.4,
                label=f"{names[second]} = {v:.3g}")
    moved = ""
    if result.data is not None:
        d = result.data
        nearest = np.abs(np.log(d[second].to_numpy()[:, None]) - np.log(values)[None, :]).argmin(1)
        at_line = {first: d[first].to_numpy(float), second: values[nearest]}
        y = d["y"].to_numpy(float) * result.predict(at_line) / result.predict({r: d[r].to_numpy(float) for r in law.inputs})
        ax.scatter(d[first], y, c=[f"C{k % 10}" for k in nearest], s=12, alpha=0.7)
        ax.scatter([], [], color="grey", s=12, label=f"data, moved to its line's {names[second]} by the fit")
        moved = " (data moved to each line's " + names[second] + ")"
    ax.set(xscale="log", yscale="log", xlabel=names[first], ylabel=result.columns.get("y", "loss") + moved)
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.legend(fontsize=8)
    return axes


def plot_isoflop(runs, table):
    """Two panels: the loss over N at each budget with its parabola in log N and minimum (open
    markers: budgets left out), and ``N_opt`` over compute with the fitted power law. ``runs``
    has ``N``, ``C`` (or ``D``) and ``y``; ``table`` is ``scalelaw.analysis.isoflop``'s."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    c = (runs["C"] if "C" in runs else 6.0 * runs["N"] * runs["D"]).to_numpy(float)
    for i, b in enumerate(table["budgets"]):
        g = runs[np.abs(np.log(c / b["c"])) <= np.log1p(table["tolerance"])]
        colour = f"C{i % 10}"
        left.scatter(g["N"], g["y"], color=colour, s=18, label=f"C = {b['c']:.3g}")
        if len(g) >= 3:
            x = np.log(g["N"].to_numpy(float))
            coef = np.polyfit(x, np.log(g["y"].to_numpy(float)), 2)
            grid = np.linspace(x.min(), x.max(), 100)
            left.plot(np.exp(grid), np.exp(np.polyval(coef, grid)), color=colour, lw=1.2,
                      ls="-" if b["interior"] else ":")
        if b["interior"]:
            left.scatter([b["n_opt"]], [b["loss_min"]], color=colour, marker="*", s=120, edgecolor="k", zorder=3)
    left.set(xscale="log", xlabel="parameters N", ylabel="loss", title="isoFLOP profiles (star: minimum)")
    left.legend(fontsize=7)
    used = [b for b in table["budgets"] if b["interior"]]
    cs = np.array([b["c"] for b in used])
    right.scatter(cs, [b["n_opt"] for b in used], color="k", zorder=3, label="N_opt per budget")
    grid = np.geomspace(cs.min() / 3, cs.max() * 3, 50)
    right.plot(grid, table["k_n"] * grid ** table["n_opt_exponent"], color="C3",
               label=f"N_opt = {table['k_n']:.3g} C^{table['n_opt_exponent']:.3f}")
    right.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="N_opt", title="approach 2")
    right.legend(fontsize=8)
    return np.array([left, right])


def plot_batch(result, ax=None, level: float = 0.95, losses=None):
    """Two panels: the loss over steps of every run (points) with the fitted curve at its batch
    size, log-log; and the steps-versus-tokens hyperbolas at a few losses, each through
    ``(E_min, S_min)``'s corner, with the critical batch size marked. Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    else:
        axes = np.array([ax, ax.figure.add_subplot(1, 2, 2)])
    left, right = axes
    data = result.data
    sizes = ["N"] if "N" in result.law.inputs else []
    groups = data.groupby(["B", *sizes], sort=True) if data is not None else []
    for i, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        colour = f"C{i % 10}"
        left.scatter(g["step"], g["y"], s=5, alpha=0.35, color=colour)
        steps = np.geomspace(g["step"].min(), g["step"].max(), 120)
        extra = {"N": np.full_like(steps, key[1])} if sizes else {}
        label = f"B = {key[0]:.4g}" + (f", N = {key[1]:.3g}" if sizes else "")
        left.plot(steps, result.predict({"step": steps, "B": np.full_like(steps, key[0]), **extra}), color=colour,
                  lw=1.5, label=label)
    left.set(xscale="log", yscale="log", xlabel=result.columns.get("step", "step"),
             ylabel=result.columns.get("y", "loss"), title=f"{result.law.name}: loss over steps at each batch size")
    left.title.set_fontsize(9)
    left.legend(fontsize=7)
    N = float(np.max(data["N"])) if sizes and data is not None else None
    floor = size_floor(result.params, N)
    y = data["y"].to_numpy() if data is not None else np.array([floor * 1.5])
    if losses is None:
        top = np.quantile(y, 0.5)
        losses = np.linspace(floor + 0.15 * (top - floor), top, 4) if top > floor else []
    for i, target in enumerate(losses):
        r = reach(result.params, target, N)
        B = r["B_crit"][0] * np.geomspace(1e-2, 1e2, 200)
        curve = steps_and_tokens(result.params, target, B, N)
        right.plot(curve["tokens"], curve["steps"], color=f"C{i}", lw=1.5, label=f"L = {target:.4g}")
        right.scatter([r["tokens"][0]], [r["step"][0]], color=f"C{i}", marker="o", s=25, zorder=3)
    right.set(xscale="log", yscale="log", xlabel="tokens E to reach L", ylabel="steps S to reach L",
              title="S-E trade-off (dot: B = B_crit, 2 S_min and 2 E_min)")
    right.title.set_fontsize(9)
    right.legend(fontsize=7)
    return axes


# What ``Law.plot`` names: the picture ``FitResult.plot`` draws for a law.
PLOTS = {"sizes": plot_fit, "steps": plot_steps, "bivariate": plot_bivariate, "batch": plot_batch}


def draw(result, ax=None, **kwargs):
    """The picture ``result.law.plot`` names (``PLOTS``), on ``ax`` where the picture is one panel
    (``sizes``) or starts with one (``batch``); the others make their own figure."""
    picture = PLOTS[result.law.plot]
    return picture(result, ax=ax, **kwargs) if "ax" in inspect.signature(picture).parameters else \
        picture(result, **kwargs)
