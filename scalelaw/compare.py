"""Law comparison on held-out training curves: fit several step laws on the same logs and score
each on logs it did not see (MAPE over the curve and error at its final step)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .engine import fit
from .laws import Law, get_law


def compare(laws: Iterable[Law | str], train: pd.DataFrame, held_out: Mapping[str, pd.DataFrame],
            **fit_kwargs: Any) -> dict[str, Any]:
    """Fit each law on ``train`` and predict each held-out curve from its logged LR.

    Args:
        laws: step laws (or their names).
        train: tidy frame with ``run``, ``step``, ``y``, ``lr`` (``scalelaw.load_runs``).
        held_out: curve name -> tidy frame with ``step``, ``y``, ``lr``.
        **fit_kwargs: passed to ``scalelaw.fit`` (e.g. ``loss``, ``delta``).

    Returns:
        dict with ``laws``, ``curves``, ``mape`` and ``final_error`` (law -> curve -> percent),
        ``mean_mape`` and ``max_final_error`` (law -> percent), ``converged`` (law -> bool),
        ``params`` (law -> dict), ``best`` (the law with the lowest mean MAPE among converged
        fits) and ``fits`` (law -> FitResult; the one key that is not plain JSON).
    """
    laws = [get_law(law) if isinstance(law, str) else law for law in laws]
    out: dict[str, Any] = {"laws": [law.name for law in laws], "curves": list(held_out), "mape": {},
                           "final_error": {}, "mean_mape": {}, "max_final_error": {}, "converged": {},
                           "params": {}, "fits": {}}
    for law in laws:
        result = fit(law, train, **fit_kwargs)
        mape, final = {}, {}
        for name, g in held_out.items():
            steps, y = g["step"].to_numpy(int), g["y"].to_numpy(float)
            pred = result.predict(steps, (steps, g["lr"].to_numpy(float)))
            mape[name] = float(100 * np.mean(np.abs(pred - y) / y))
            final[name] = float(100 * abs(pred[-1] - y[-1]) / y[-1])
        out["mape"][law.name], out["final_error"][law.name] = mape, final
        out["mean_mape"][law.name] = float(np.mean(list(mape.values())))
        out["max_final_error"][law.name] = float(max(final.values()))
        out["converged"][law.name] = bool(result.converged)
        out["params"][law.name] = result.params
        out["fits"][law.name] = result
    ok = [name for name in out["laws"] if out["converged"][name]] or out["laws"]
    out["best"] = min(ok, key=lambda name: out["mean_mape"][name])
    return out


def format_comparison(table: Mapping[str, Any]) -> str:
    """The comparison as a text table: one row per held-out curve, MAPE and final-step error
    (percent) per law, then the means."""
    laws = table["laws"]
    width = max(12, *(len(c) for c in table["curves"]))
    head = f"{'curve':<{width}}" + "".join(f"{law + ' MAPE %':>22}{'final %':>10}" for law in laws)
    lines = [head]
    for curve in table["curves"]:
        lines.append(f"{curve:<{width}}" + "".join(
            f"{table['mape'][law][curve]:>22.3f}{table['final_error'][law][curve]:>10.3f}" for law in laws))
    lines.append(f"{'mean / max':<{width}}" + "".join(
        f"{table['mean_mape'][law]:>22.3f}{table['max_final_error'][law]:>10.3f}" for law in laws))
    for law in laws:
        if not table["converged"][law]:
            lines.append(f"warning  {law}: the fit did not converge")
    lines.append(f"best     {table['best']} (lowest mean held-out MAPE)")
    return "\n".join(lines)


def versus_total(result, held_out: pd.DataFrame | None = None, **fit_kwargs: Any) -> dict[str, Any]:
    """Does a bivariate fit need both sizes? Fit the power law in the total that its budget
    counts (Ne + Nd for ``encdec``) to the same points and compare.

    Args:
        result: a fitted bivariate law (``FitResult`` holding its data).
        held_out: optional frame with the law's input roles and ``y``, scored by both fits.
        **fit_kwargs: passed to ``scalelaw.fit`` for the power law (default: the options of
            ``result``: loss and delta).

    Returns:
        dict with ``total`` (what the power law's x is), ``aic``, ``bic``, ``mape`` (percent,
        on the fitted points) and, with ``held_out``, ``held_out_mape`` (law name -> value for
        both laws); ``delta_aic`` (power minus bivariate: positive favours the bivariate law)
        and ``preferred`` (the law with the lower AIC, or the lower held-out MAPE when given).
    """
    law = result.law
    if law.budget is None or result.data is None:
        raise ValueError("versus_total needs a bivariate fit that still holds its data")
    kwargs = {"loss": result.options["loss"], "delta": result.options["delta"], **fit_kwargs}
    frame = result.data
    inputs = {role: frame[role].to_numpy(float) for role in law.inputs}
    power = fit("power", {"x": law.budget.cost(inputs), "y": frame["y"].to_numpy(float),
                          "run": frame["run"].to_numpy()}, **kwargs)
    out: dict[str, Any] = {"total": law.budget.name, "laws": [law.name, "power"], "aic": {}, "bic": {},
                           "mape": {}, "params": {"power": power.params}}
    for name, r in ((law.name, result), ("power", power)):
        out["aic"][name], out["bic"][name] = r.metrics["aic"], r.metrics["bic"]
        out["mape"][name] = r.metrics["mape"]
    out["delta_aic"] = out["aic"]["power"] - out["aic"][law.name]
    out["preferred"] = law.name if out["delta_aic"] > 0 else "power"
    if held_out is not None:
        sizes = {role: held_out[role].to_numpy(float) for role in law.inputs}
        y = held_out["y"].to_numpy(float)
        preds = {law.name: result.predict(sizes), "power": power.predict(law.budget.cost(sizes))}
        out["held_out_mape"] = {k: float(100 * np.mean(np.abs(p - y) / y)) for k, p in preds.items()}
        out["preferred"] = min(out["held_out_mape"], key=out["held_out_mape"].get)
    return out


def format_versus_total(table: Mapping[str, Any]) -> str:
    """``versus_total`` as two lines of text."""
    bivariate, _ = table["laws"]
    held = table.get("held_out_mape")
    line = (f"versus   one power law in {table['total']}: AIC {table['aic']['power']:.2f} vs "
            f"{table['aic'][bivariate]:.2f} ({bivariate}), MAPE {table['mape']['power']:.3f} % vs "
            f"{table['mape'][bivariate]:.3f} %")
    if held:
        line += f"; held-out MAPE {held['power']:.3f} % vs {held[bivariate]:.3f} %"
    why = "held-out error" if held else "AIC"
    verdict = (f"{bivariate}: the split between the two sizes matters" if table["preferred"] == bivariate
               else "power: the total alone explains the data as well")
    return line + f"\npreferred {verdict} (by {why})"
