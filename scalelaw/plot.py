"""Plots of fitted laws (matplotlib). Nothing here fits anything."""
from __future__ import annotations

import numpy as np


def plot_fit(result, ax=None, extrapolate_to: float | None = None, level: float = 0.95):
    """Log-log plot of a one-input law: data per run, the fit solid over the fitted range and
    dashed beyond it (up to ``extrapolate_to``, default 10x the largest x), the ``level``
    interval band, and ``L_inf`` dotted. Returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    law = result.law
    if len(law.inputs) != 1:
        raise NotImplementedError(f"no plot for the {len(law.inputs)}-input law '{law.name}' yet")
    role = law.inputs[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    lo, hi = result.domain[role]
    far = max(hi * 10, extrapolate_to or 0)
    if result.data is not None:
        for run, g in result.data.groupby("run", sort=False):
            label = None if run == "run" else str(run)
            ax.scatter(g[role], g["y"], s=12, alpha=0.7, label=label)
    x_in, x_out = np.geomspace(lo, hi, 200), np.geomspace(hi, far, 100)
    line, = ax.plot(x_in, result.predict(x_in), color="k", lw=1.6, label=f"fit: {law.formula}")
    ax.plot(x_out, result.predict(x_out), color="k", lw=1.6, ls="--", label="extrapolation")
    x_all = np.concatenate([x_in, x_out])
    band = result.predict_interval(x_all, level=level)
    if band is not None:
        ax.fill_between(x_all, band[0], band[1], color="k", alpha=0.15,
                        label=f"{int(round(level * 100))}% interval")
    if "L_inf" in result.params:
        ax.axhline(result.params["L_inf"], color="grey", ls=":", lw=1.2,
                   label=f"L_inf = {result.params['L_inf']:.4g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel(result.columns.get(role, role))
    ax.set_ylabel(result.columns.get("y", "loss"))
    ax.legend(fontsize=8)
    return ax


def save_figure(ax, path) -> None:
    """Save the figure of ``ax`` atomically (rendered in memory, then written in one go)."""
    import io

    from .io import write_atomic

    buf = io.BytesIO()
    fmt = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else "png"
    ax.figure.savefig(buf, format=fmt, dpi=130)
    write_atomic(path, buf.getvalue())
