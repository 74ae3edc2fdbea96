"""Plain-text tables: the report of a FitResult, a law comparison, encdec against one power law,
and what the predict, allocate and inspect commands print (each from its JSON object)."""
from __future__ import annotations

from collections import Counter
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
        f"fit      {loss} on log residuals"
        + (f" weighted by the inverse relative error ({result.columns['stderr']})" if "stderr" in result.columns else "")
        + f", best of {m.get('starts', '?')} starts",
        f"status   {_STATUS[result.status]}: {result.message}",
    ]
    if o.get("binned"):  # a long log fitted on its summary (summary.summarise_log)
        b = o["binned"]
        where = f"Huber(delta={b['delta']:g}) location" if b.get("location") == "huber" else "mean"
        lines.append(f"binned   {b['bins']} bins from {b['rows']} rows: the law is fitted by least squares to each bin's "
                     f"{where} of the log loss, weighted by its rows; the LR areas count every step")
    if o.get("fitted_from_step") is not None:
        lines.append(f"from     step {o['fitted_from_step']} on: {o.get('fitted_from_why', '')}")
    if o.get("schedule"):  # runs that logged no lr took the schedule given
        lines.append("lr       from the schedule given (the logs have no lr): "
                     + "; ".join(f"{run}: {spec}" for run, spec in o["schedule"].items()))
    lines.append("")
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
    if "noise" in m and "rms_error" in m:
        lines.append(f"         on the fitted points: R2 of the log loss {m['r2_log']:.4f}; RMS error {m['rms_error']:.3g} % "
                     f"against a point-to-point noise of {m['noise']:.3g} %")
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
            weight = auto.get("weights", {}).get(c["name"])
            lines.append(f"         {c['name']:<48} held-out MAPE {c['mape']:.3f} %, worst final-step "
                         f"error {c['final_error']:.3f} %"
                         + ("" if weight is None else f", weight {100 * weight:.0f} %"))
    f = result.forecast
    if f is not None:
        refs = f.references
        lines += ["", f"forecast error scale {100 * f.sigma:.3f} % of the loss ({f.sigma_source}); "
                      f"LR decay seen {100 * f.lr_decay_seen:.0f} %; decay term "
                      + ("identified" if f.identified else "NOT identified")
                      + (f" (from references: {', '.join(f'{k}={v:.4g}' for k, v in refs['fixed'].items())})"
                         if refs else "")
                      + (f"; taken from the prior: a whole anneal buys {100 * f.prior['q']:.1f} % of the loss "
                         f"(x/ {np.exp(f.prior['q_log_sd']):.2f} for 1 sd)" if f.uses_prior else "")]
    held = result.held_out
    if held:
        worst = max(held["mape"], key=held["mape"].get)
        scatter = result.run_scatter
        lines += ["", f"held out each {held['by']} in turn ({scatter.dof + 1}): error scale {100 * held['sigma']:.3f} % "
                      f"of the {law.predicts} (a new run's interval); MAPE up to {held['mape'][worst]:.3f} % "
                      f"({held['by']} = {worst})"]
    elif "held_out" in o:  # a size law with fewer than four runs or sizes to leave out
        scatter = result.run_scatter
        lines += ["", f"a new run: scatter {100 * scatter.sigma:.3f} % of the {law.predicts} from the fit's own "
                      "residuals: fewer than 4 runs or sizes could be left out, so the scatter about the law is "
                      "not measured on runs it did not see"]
    compared = o.get("compared")
    if compared:
        lines.append("chosen by the error on runs held out: " + ", ".join(
            f"{name} {c['held_out_error']:.3f} %" if c.get("held_out_error") is not None else f"{name} ({c['status']})"
            for name, c in compared.items()))
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
    if "chosen" in table:
        lines.append(f"auto     chose {table['chosen']}")
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


def _interval_head(level: float) -> str:
    return f"{int(round(100 * level))}% interval"


def format_size_predictions(out: Mapping[str, Any], roles: list[str]) -> str:
    """``scalelaw predict`` over sizes (its JSON object) as a table: the sizes (``roles``), the
    loss or accuracy, a new run's interval and the mean curve's, then where the runs' scatter
    comes from."""
    value = "accuracy" if "accuracy" in out else "loss"  # what the law predicts (Law.predicts)
    head = _interval_head(out["level"])
    lines = ["".join(f"{role:>12}  " for role in roles) + f"{value:>10}  {'new run: ' + head:<28}mean curve"]
    for i, loss in enumerate(out[value]):
        run = "n/a" if out["lo"] is None else f"[{out['lo'][i]:.5g}, {out['hi'][i]:.5g}]"
        mean = "n/a" if out.get("mean_lo") is None else f"[{out['mean_lo'][i]:.5g}, {out['mean_hi'][i]:.5g}]"
        note = "  (extrapolated)" if out["extrapolated"][i] else ""
        lines.append("".join(f"{out[r][i]:>12.4g}  " for r in roles) + f"{loss:>10.5g}  {run:<28}{mean}{note}")
    if out.get("scatter") is not None:
        lines.append(f"a new run: the mean curve's band and the runs' scatter about the law, "
                     f"{100 * out['scatter']:.2g} % ({out['scatter_from']}), grown beyond the fitted sizes")
    return "\n".join(lines)


def format_allocation(out: Mapping[str, Any], result) -> str:
    """``scalelaw allocate`` (its JSON object) as text: per budget, the best sizes and the loss
    there with their intervals; budgets beyond the fitted sizes are marked."""
    rows = out["allocations"]
    keys = [k for k in rows[0] if k not in ("budget", "extrapolated") and not k.endswith(("_lower", "_upper"))]
    ranges = ", ".join(f"{r} {result.domain[r][0]:.3g}-{result.domain[r][1]:.3g}" for r in result.law.inputs)
    lines = [f"{out['law']}: the best allocation for each budget: {out['budget']}"]
    for row in rows:
        lines.append(f"budget {row['budget']:.4g}" + (f"  (EXTRAPOLATED: beyond the fitted {ranges})"
                                                      if row["extrapolated"] else ""))
        for key in keys:
            interval = f"  [{row[key + '_lower']:.4g}, {row[key + '_upper']:.4g}]" if key + "_lower" in row else ""
            lines.append(f"  {key:<22}{row[key]:>12.5g}{interval}")
    if any(k.endswith("_lower") for k in rows[0]):
        how = "bootstrap" if result.bootstrap_samples is not None else "delta method"
        run = "; the loss's is a new run's, with the runs' scatter about the law" if "loss_mean_lower" in rows[0] else ""
        lines.append(f"({_interval_head(out['level'])}s, {how}{run})")
    return "\n".join(lines)


def format_log_prediction(out: Mapping[str, Any], result) -> str:
    """``scalelaw predict --log`` (its JSON object) as text: the schedule, the error where the
    log has the loss, and about 12 rows of the curve."""
    lines = [f"{out['log']}: {out['schedule']}"]
    steps, observed = out["step"], out.get("observed")
    if "mape" in out:
        start = out.get("scored_from_step")
        scored = sum(1 for s in steps if s >= start) if start else len(steps)
        lines.append(f"MAPE {out['mape']:.3f} % over {scored} steps" + (f" (from step {start}, where the fit starts: "
                     "before it, the initial transient is no law's)" if start else "")
                     + f"; final-step error {out['final_error']:.3f} %")
    if not out["identified"]:
        lines.append(f"warning: {result.forecast.reason}")
    if out.get("width_from"):
        lines.append("interval at the last step from: " + _shares(out["width_from"]))
    lines.append(f"{'step':>10}  {'loss':>10}  {_interval_head(out['level']):>22}"
                 + (f"  {'observed':>10}" if observed else ""))
    for i in np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 12)).astype(int)):
        band = "n/a" if out["lo"] is None else f"[{out['lo'][i]:.5g}, {out['hi'][i]:.5g}]"
        row = f"{steps[i]:>10.0f}  {out['loss'][i]:>10.5g}  {band:>22}"
        lines.append(row + (f"  {observed[i]:>10.5g}" if observed else ""))
    return "\n".join(lines)


def _shares(parts: Mapping[str, float]) -> str:
    """Sources of an interval's variance, largest first: ``error scale 62 %, parameters 20 %``."""
    return ", ".join(f"{name} {100 * v:.0f} %" for name, v in sorted(parts.items(), key=lambda kv: -kv[1]))


def format_schedule_predictions(out: Mapping[str, Any], result) -> str:
    """``scalelaw predict --schedule`` (its JSON object) as text: each schedule's final loss and
    the loss at the steps asked for; with several, the best is marked."""
    preds = out.get("schedules", [out])
    lines = [] if out["identified"] else [f"warning: {result.forecast.reason}"]
    for p in preds:
        mark = "  <- lowest final loss" if len(preds) > 1 and p["schedule"] == out["best"] else ""
        lines.append(f"{p['schedule']}: final loss {p['final_loss']:.5g}{mark}")
        if p.get("width_from"):
            lines.append("  interval from: " + _shares(p["width_from"]))
        for i, st in enumerate(p["step"]):
            band = "no interval" if p["lo"] is None else f"[{p['lo'][i]:.5g}, {p['hi'][i]:.5g}]"
            lines.append(f"  step {st:>9}  loss {p['loss'][i]:.5g}  {band}")
    return "\n".join(lines)


def format_inspection(r: Mapping[str, Any]) -> str:
    """``scalelaw inspect`` of one file (``scalelaw.io.inspect``) as text: format, runs, each
    column's role, and what a loss curve read from it holds."""
    runs = r["runs"]
    lines = [f"{r['file']}: {r['format']}, {r['rows']} rows, {len(runs)} run(s)"
             + (f" by column '{r['run_column']}'" if r["run_column"] else "")
             + (f": {', '.join(runs[:8])}{' ...' if len(runs) > 8 else ''}" if len(runs) > 1 else ""),
             f"  {'column':<28} {'role':<6} {'values':>8}"]
    lines += [f"  {c['name'][:28]:<28} {c['role'] or '':<6} {c['values']:>8}" for c in r["columns"]]
    if "curve" in r:
        k = r["curve"]
        steps = f", steps {k['steps'][0]:g}-{k['steps'][1]:g}" if "steps" in k else ""
        lines.append(f"  as a loss curve ({', '.join(k['roles'])}): {k['rows']} rows in {k['runs']} run(s){steps}")
        lines += [f"  note: {note}" for note in k["notes"]]
    if "problem" in r:
        lines.append(f"  problem: {r['problem']}")
    return "\n".join(lines)


def format_isoflop(table: Mapping[str, Any]) -> str:
    """``scalelaw.analysis.isoflop`` as text: one row per budget, then the two exponents with
    their intervals, beside approach 3 (the chinchilla fit)."""
    level = int(round(100 * table["level"]))
    lines = [f"{'budget C':>12}  {'sizes':>5}  {'N_opt':>11}  {str(level) + '% interval':>24}  {'loss min':>9}  used"]
    for b in table["budgets"]:
        band = f"[{b['n_opt_lower']:.4g}, {b['n_opt_upper']:.4g}]" if "n_opt_lower" in b else "n/a"
        lines.append(f"{b['c']:>12.4g}  {b['sizes']:>5}  {_g(b['n_opt'], 4):>11}  {band:>24}  {b['loss_min']:>9.5g}  "
                     + ("yes" if b["interior"] else f"NO: {b['reason']}"))
    ci = table["n_opt_exponent_ci"]
    interval = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci[0] is not None else " (two budgets: no interval)"
    lines += ["", f"approach 2  N_opt = {table['k_n']:.4g} C^{table['n_opt_exponent']:.4f}{interval}; "
                  f"D_opt = {table['k_d']:.4g} C^{table['d_opt_exponent']:.4f}  ({table['flops']})"]
    a3 = table.get("approach3")
    if a3:
        lines.append(f"approach 3  chinchilla fit on the same runs: N_opt ~ C^{a3['n_opt_exponent']:.4f}, "
                     f"D_opt ~ C^{a3['d_opt_exponent']:.4f} ({a3['status']})")
    lines += [f"warning: {w}" for w in table.get("warnings", [])]
    return "\n".join(lines)


def format_sweep_status(rows) -> str:
    """``scalelaw sweep status``: one line per run, its state, its last step, and a failed run's
    last line of error; then the counts."""
    width = max([12, *(len(r["run"]) for r in rows)])
    lines = [f"{'run':<{width}}  {'state':<8}  {'step':>13}"]
    for r in rows:
        step = f"{r['step'] if r['step'] is not None else '-'}/{r['steps']}"
        lines.append(f"{r['run']:<{width}}  {r['state']:<8}  {step:>13}" + (f"  {r['error']}" if "error" in r else ""))
    counts = Counter(r["state"] for r in rows)
    lines.append(", ".join(f"{n} {state}" for state, n in counts.items()))
    return "\n".join(lines)
