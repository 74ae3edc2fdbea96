"""Plain-text tables: the report of a FitResult, a law comparison, encdec against one power law."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def _g(v, digits: int = 5) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}"


_STATUS = {"converged": "converged", "not_converged": "NOT CONVERGED", "not_a_result": "NOT A RESULT",
           "at_bound": "converged ON A BOUND (see warnings)",
           "singular": "converged, SINGULAR (no covariance: some parameters not identified)"}


def format_report(result) -> str:
    """Multi-line summary: law, data, convergence, parameter table, derived values, metrics."""
    law, m, o = result.law, result.metrics, result.options
    level = int(round(100 * o.get("level", 0.95)))
    cols = ", ".join(f"{role}={col}" for role, col in result.columns.items())
    domain = "; ".join(f"{role} from {lo:.4g} to {hi:.4g}" for role, (lo, hi) in result.domain.items())
    loss = (f"Huber(delta={o.get('delta'):g})" if o.get("loss") == "huber" else "least squares")
    lines = [
        f"law      {law.name}: {law.formula}",
        f"data     {m['n']} points in {o.get('runs', 1)} run(s); {domain}" + (f" ({cols})" if cols else ""),
        f"fit      {loss} on log residuals, best of {m.get('starts', '?')} L-BFGS-B starts",
        f"status   {_STATUS[result.status]}: {result.message}",
        "",
    ]
    header = f"{'parameter':<12}{'value':>14}{'stderr':>12}   {level}% CI"
    if result.ci_bootstrap:
        header += f"{'':>24}bootstrap {level}% CI ({len(result.bootstrap_samples)} by {o.get('bootstrap_by')})"
    lines.append(header)
    for name in law.param_names:
        ci = result.ci[name] if result.ci else None
        row = f"{name:<12}{_g(result.params[name]):>14}{_g(result.stderr.get(name), 3):>12}   "
        row += f"{'[' + _g(ci[0], 4) + ', ' + _g(ci[1], 4) + ']' if ci else 'n/a':<34}"
        if result.ci_bootstrap:
            b = result.ci_bootstrap[name]
            row += f"[{_g(b[0], 4)}, {_g(b[1], 4)}]"
        lines.append(row.rstrip())
    derived = result.derived
    if derived:
        lines += ["", "derived  " + "; ".join(f"{k} = {_g(v)}" for k, v in derived.items())]
    lines += ["", f"metrics  R2 {m['r2']:.5f}  MAPE {m['mape']:.3f} %  RMSE {m['rmse']:.4g}  "
                  f"AIC {m['aic']:.2f}  BIC {m['bic']:.2f}"]
    corr = result.correlation
    if corr is not None:
        names = result.theta_names
        pairs = [f"{names[i]}~{names[j]} {corr[i, j]:+.2f}" for i in range(len(names))
                 for j in range(i + 1, len(names)) if np.isfinite(corr[i, j]) and abs(corr[i, j]) > 0.5]
        if pairs:
            lines.append("corr     " + ", ".join(pairs))
    auto = o.get("auto")
    if auto:
        lines += ["", f"auto     chose {auto['chosen']}: {auto['why']}"]
        for c in auto["candidates"]:
            lines.append(f"         {c['name']:<48} held-out MAPE {c['mape']:.3f} %, worst final-step "
                         f"error {c['final_error']:.3f} %")
    f = result.forecast
    if f:
        refs = f.get("references")
        lines += ["", f"forecast error scale {100 * f['sigma']:.3f} % of the loss ({f['sigma_source']}); "
                      f"LR decay seen {100 * f['lr_decay_seen']:.0f} %; decay term "
                      + ("identified" if f["identified"] else "NOT identified")
                      + (f" (from references: {', '.join(f'{k}={v:.4g}' for k, v in refs['fixed'].items())})"
                         if refs else "")]
    for w in result.warnings:
        lines.append(f"warning  {w}")
    return "\n".join(lines)


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
