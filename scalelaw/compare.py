"""Law comparison on held-out training curves: fit several step laws on the same logs and score
each on logs it did not see (MAPE over the curve and error at its final step)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .engine import fit
from .laws import Law, get_law
from .schedules import from_log


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
            pred = result.predict(steps, from_log(steps, g["lr"].to_numpy(float)))
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
