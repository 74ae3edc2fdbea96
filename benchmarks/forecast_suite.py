"""The forecast suite: today's forecasts (``law="auto"`` and its intervals) and the posterior's
(``scalelaw.posterior``) scored on many curve families (``families.py``), split once into tuning
and test families (``forecast_split.json``).

Tasks, each scored per family and over all:

1. protocol: fit the constant, cosine and step-decay runs, predict the family's other schedules
   from their LR (the multi-power-law paper's protocol; the 400M family fits two and predicts
   the third): mean MAPE and worst final-step error. Synthetic families are scored against
   their noise-free curves.
2. early (today's) and bayes (the posterior's): fit the first 10, 20, 40 and 60 % of each
   target run, forecast its final loss, without references and with finished runs of the other
   model sizes of the same data; scored by its error, whether the 95 % interval holds the
   truth, the interval's width, the interval (Winkler) score and the CRPS.

What is learned from families is learned without the family scored: today's prior leaves it
out (``--prior loo``); the population is learned on the tuning families only, and a tuning
family is scored with one learned without it. ``--sweep`` chooses the posterior's discrepancy
and ``MIN_ANNEAL`` on the tuning families (``results/forecast_sweep.json``);
``--write-population`` writes the population; a whole run writes ``results/forecast_suite.json``
and ``--readme`` puts its table into the page that holds its marks (docs/forecasts.md).

Run: python benchmarks/forecast_suite.py [--families mpl25,markov-w32] [--tasks protocol,early,bayes]
     [--save rows.csv] [--sweep] [--write-population scalelaw/population.json] [--readme]
     (a whole run: about 10 CPU minutes)
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from scipy.stats import norm

import scalelaw
from scalelaw import population as population_module
from scalelaw import posterior
from scalelaw import prior as prior_module

from families import Family, families
from families import split as split_of
from measure import load, readme_marks, save, winkler, write_readme_block

FRACTIONS = (0.1, 0.2, 0.4, 0.6)
PROVENANCE = ("benchmarks/forecast_suite.py --write-prior, {date}: the annealing law (warmup=peak) fitted on every "
              "run of each family together; q of each run whose LR fell by 30 % or more, at its last step. "
              "Families: {families}")
SCORED_FROM = 0.1  # MAPE from 10 % of a run's steps on (Luo et al.'s curves start there, after warmup)


def _joined(family: Family, names) -> pd.DataFrame:
    return pd.concat([family.runs[n].assign(run=n) for n in names], ignore_index=True)


def _log(frame: pd.DataFrame):
    return frame["step"].to_numpy(), frame["lr"].to_numpy(float)


def _final_row(result, frame: pd.DataFrame, truth: float) -> dict:
    """The final-loss forecast scored against ``truth``; an answer the CLI refuses as outside the
    law's domain (``FitResult.unphysical``) counts as refused."""
    last = int(frame["step"].iloc[-1])
    pred = float(result.predict([last], _log(frame))[0])
    lo, hi = (float(v[0]) for v in result.predict_interval([last], _log(frame)))
    why = result.unphysical([pred], [lo], [hi], result.floor_beyond([last], _log(frame)))
    if why:
        return {"refused": why}
    return {**scores(pred, lo, hi, truth, crps_normal(pred, (hi - lo) / (2 * Z95), truth)),
            "identified": result.identified}


Z95 = 1.959963984540054


def scores(pred: float, lo: float, hi: float, truth: float, crps: float) -> dict:
    """A final-loss forecast scored against ``truth``: error, whether the 95 % interval holds
    it, its width and miss, the interval (Winkler) score and the CRPS, each % of the truth (of
    the forecast for the width)."""
    miss = 0.0 if lo <= truth <= hi else 100 * min(abs(truth - lo), abs(truth - hi)) / truth
    return {"final": 100 * (pred - truth) / truth, "holds": lo <= truth <= hi, "width": 100 * (hi - lo) / pred,
            "miss": miss, "winkler": 100 * winkler(lo, hi, truth) / truth, "crps": 100 * crps / truth}


def crps_normal(mu: float, sd: float, y: float) -> float:
    """The CRPS of a normal forecast (closed form); a point forecast's absolute error at sd 0."""
    if sd <= 0:
        return abs(y - mu)
    u = (y - mu) / sd
    return float(sd * (u * (2 * norm.cdf(u) - 1) + 2 * norm.pdf(u) - 1 / np.sqrt(np.pi)))


def crps_draws(draws: np.ndarray, y: float) -> float:
    """The CRPS of a forecast given by draws: E|X - y| - E|X - X'| / 2 (the second term from
    the sorted draws, exactly)."""
    x = np.sort(draws)
    n = len(x)
    spread = np.sum(x * (2 * np.arange(1, n + 1) - n - 1)) / n**2
    return float(np.mean(np.abs(x - y)) - spread)


def protocol(family: Family, prior=None) -> list[dict]:
    """Fit the constant, cosine and step-decay runs, predict the others (or, with three runs,
    fit two and predict the step-decay run)."""
    roles = family.roles
    train = [roles["constant"], roles["cosine"], roles["step"]]
    held = [r for r in family.runs if r not in train]
    if not held:
        train, held = train[:2], [roles["step"]]
    t = time.process_time()
    result = scalelaw.fit("auto", _joined(family, train), prior=prior)
    seconds = time.process_time() - t
    rows = []
    for run in held:
        g = family.runs[run]
        scored = (g["step"] >= SCORED_FROM * g["step"].iloc[-1]).to_numpy()
        g_all, g = g, g[scored]
        steps, y = g["step"].to_numpy(int), family.true(run)[scored]
        pred = result.predict(steps, _log(g_all))
        rows.append({"family": family.name, "task": "protocol", "run": run, "chosen": result.options["auto"]["chosen"],
                     "mape": 100 * float(np.mean(np.abs(pred - y) / y)), "cpu_s": seconds,
                     **_final_row(result, g_all, family.final(run))})
    return rows


def early(family: Family, references: pd.DataFrame | None, prior=None) -> list[dict]:
    """Fit the first part of each target run, forecast its final loss."""
    rows = []
    for run in family.targets:
        full = family.runs[run]
        first, last = int(full["step"].iloc[0]), int(full["step"].iloc[-1])
        for frac in FRACTIONS:
            part = full[full["step"] <= first + frac * (last - first)].assign(run=run)
            t = time.process_time()
            try:
                result = scalelaw.fit("auto", part, references=references, prior=prior)
            except scalelaw.InputError as exc:
                rows.append({"family": family.name, "task": "early", "run": run, "seen": frac,
                             "refs": references is not None, "refused": str(exc)})
                continue
            rows.append({"family": family.name, "task": "early", "run": run, "seen": frac,
                         "refs": references is not None, "cpu_s": time.process_time() - t,
                         "prior_used": bool(result.forecast.uses_prior),
                         **_final_row(result, full, family.final(run))})
    return rows


def measure(family: Family) -> dict:
    """What the prior learns from a family (``scalelaw.prior``): ``q`` of its decayed runs, and
    the late exponent's error, [reach, alpha of a part - alpha of the family], for the first 10,
    20, 40 and 60 % of each target run fitted with the family's decay term held."""
    runs = _joined(family, list(family.runs))
    full = scalelaw.fit(prior_module.LAW, runs, options=prior_module.OPTIONS, prior=None)
    if not full.identified:
        return {"q": [], "alpha": []}
    errors = []
    for run in family.targets:
        g = family.runs[run]
        first, last = int(g["step"].iloc[0]), int(g["step"].iloc[-1])
        s1_end = float(full.inputs([last], _log(g))["S1"][0])
        for frac in FRACTIONS:
            part = g[g["step"] <= first + frac * (last - first)].assign(run=run)
            try:
                r = scalelaw.fit(prior_module.LAW, part, options=prior_module.OPTIONS, prior=None,
                                 fixed={"C": full.params["C"]})
            except scalelaw.InputError:
                continue
            errors.append([s1_end / r.forecast.S1_max, r.params["alpha"] - full.params["alpha"]])
    return {"q": prior_module.family_q(full, runs), "alpha": errors}


def references_for(family: Family, every: dict[str, Family]) -> pd.DataFrame | None:
    """Finished constant and cosine runs of the other sizes of the same data."""
    others = [f for f in every.values() if f.group == family.group and f.name != family.name]
    if not others:
        return None
    return pd.concat([f.runs[f.roles[role]].assign(run=f"{f.name} {f.roles[role]}", N=f.size)
                      for f in others for role in ("constant", "cosine")], ignore_index=True)


def _coverage(rows: pd.DataFrame) -> str:
    if rows.empty or "holds" not in rows or rows["holds"].isna().all():
        return "-"
    ok = rows.dropna(subset=["holds"]).astype({"holds": bool})
    return (f"{ok['holds'].mean():.2f} ({int(ok['holds'].sum())}/{len(ok)}) at median width "
            f"{ok['width'].median():.2f} %, worst miss {ok['miss'].max():.2f} %, "
            f"mean |error| {ok['final'].abs().mean():.2f} %")


def report(table: pd.DataFrame) -> None:
    print("== per family")
    print(f"{'family':<22}{'protocol MAPE %':>16}{'worst final %':>14}   early (no refs) / (with refs): coverage")
    for name, g in table.groupby("family", sort=False):
        p = g[g["task"] == "protocol"]
        mape = f"{p['mape'].mean():.3f}" if len(p) else "-"
        worst = f"{p['final'].abs().max():.3f}" if len(p) else "-"
        e = g[g["task"] == "early"].astype({"refs": bool})
        print(f"{name:<22}{mape:>16}{worst:>14}   {_coverage(e[~e['refs']])}")
        print(f"{'':<52}{_coverage(e[e['refs']])}")
    print("\n== overall")
    p = table[table["task"] == "protocol"]
    if len(p):
        per_family = p.groupby("family", sort=False)["mape"].mean()
        print(f"protocol: mean MAPE over families {per_family.mean():.3f} % (target <= 0.15), "
              f"worst final {p['final'].abs().max():.3f} %; final 95 % intervals {_coverage(p)}")
    e = table[table["task"] == "early"]
    if e.empty:
        return
    e = e.astype({"refs": bool})
    refused = e["refused"].notna().sum() if "refused" in e else 0
    print(f"early runs, refused: {refused} of {len(e)}")
    for refs in (False, True):
        for frac in FRACTIONS:
            g = e[(e["refs"] == refs) & (e["seen"] == frac)]
            print(f"early {'with' if refs else 'without':>7} references, {int(100 * frac):>2} % seen: {_coverage(g)}")
        print(f"early {'with' if refs else 'without':>7} references, all: {_coverage(e[e['refs'] == refs])}")


def population_measure(family: Family, weight: float) -> dict | None:
    """What ``family`` tells the population (``scalelaw.population.measure``): the annealing
    law fitted on all its runs, read at the cuts of its target runs; None when the fit cannot
    serve (its decay term unidentified or on a bound)."""
    result = scalelaw.fit("annealing", _joined(family, list(family.runs)), prior=None)
    runs = {name: _log(g) for name, g in family.runs.items()}
    try:
        return population_module.measure(result, runs, family.group, weight)
    except scalelaw.InputError as exc:
        print(f"  {family.name}: not in the population ({exc})")
        return None


def learn_population(every: dict[str, Family], split: dict) -> population_module.Population:
    """The population learned on the tuning families of ``split`` whose kind has a weight."""
    measured = {}
    for name in split["tuning"]:
        family = every.get(name)
        weight = split["weight"][family.kind] if family is not None else 0.0
        if weight > 0 and (m := population_measure(family, weight)) is not None:
            measured[name] = m
    provenance = (f"benchmarks/forecast_suite.py --write-population, {time.strftime('%Y-%m-%d')}: the annealing "
                  "law fitted on every run of each tuning family of benchmarks/forecast_split.json together, z "
                  "read at the last step of each run; family weights by kind "
                  f"{split['weight']}. Families: {', '.join(measured)}")
    return population_module.learn(measured, provenance)


def bayes(family: Family, references: pd.DataFrame | None, pop, min_anneal: float | None = None,
          tails: dict | None = None) -> list[dict]:
    """The posterior forecast (``scalelaw.posterior``) of each target run's final loss from its
    first 10, 20, 40 and 60 %, with the components of ``tails`` fitted (default
    ``posterior.TAILS``) and weighed by ``posterior.TAILS``; each row keeps the predictive's
    parts (``_parts``) for the sweep of the discrepancy and tails."""
    rows = []
    for run in family.targets:
        full = family.runs[run]
        first, last = int(full["step"].iloc[0]), int(full["step"].iloc[-1])
        truth = family.final(run)
        for frac in FRACTIONS:
            part = full[full["step"] <= first + frac * (last - first)].assign(run=run)
            row = {"family": family.name, "task": "bayes", "run": run, "seen": frac, "refs": references is not None}
            t = time.process_time()
            try:
                post = posterior.fit(part, pop, references=references, horizon=_log(full),  # references by size (N)
                                     min_anneal=min_anneal, tails=tails).reweighted(posterior.TAILS)
                parts = post.parts([last], _log(full))
                draws = posterior.compose(parts, posterior.DISCREPANCY)[:, 0]
            except scalelaw.InputError as exc:
                rows.append({**row, "refused": str(exc)})
                continue
            lo, pred, hi = np.quantile(draws, [0.025, 0.5, 0.975])
            rows.append({**row, "cpu_s": time.process_time() - t, "method": post.method, "ess": post.ess,
                         "tail_weight": float(post.weights @ [c.scale > 1 for c in post.components]),
                         **scores(pred, lo, hi, truth, crps_draws(draws, truth)), "_parts": parts, "_truth": truth})
    return rows


SWEEP = {"min_anneal": (0.0, 0.05, 0.1, 0.2, 0.3), "reach": (0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.08),
         "anneal": (0.0, 0.025, 0.05, 0.1, 0.2), "drop": (0.05, 0.1, 0.2, 0.3, 0.5, 0.8),
         # the prior weights of the population's sd times 1, 2 and 4, and the discrepancy's power of the scale
         "tails": ((1.0, 0.0, 0.0), (0.9, 0.1, 0.0), (0.9, 0.0, 0.1), (0.8, 0.1, 0.1), (0.5, 0.25, 0.25),
                   (1 / 3, 1 / 3, 1 / 3)),
         "tail": (0.0, 1.0)}
ALL_TAILS = {1.0: 1.0, 2.0: 1.0, 4.0: 1.0}


def sweep(every: dict[str, Family], split: dict, pop) -> dict:
    """The ``posterior.MIN_ANNEAL``, ``DISCREPANCY`` and ``TAILS`` that give the lowest mean
    interval score over the Bayesian forecasts of the tuning families (each with the population
    learned without it), with and without references, each combination of ``SWEEP``; each
    forecast weighs as its family's kind does in the population (``split["weight"]``)."""
    table = []
    for min_anneal in SWEEP["min_anneal"]:
        rows = []
        for name in split["tuning"]:
            if name in every:
                own = pop.without(name) if name in pop.families else pop
                weight = split["weight"][every[name].kind]
                if weight == 0:
                    continue
                refs = references_for(every[name], every)
                for r in bayes(every[name], None, own, min_anneal, ALL_TAILS) + (
                        bayes(every[name], refs, own, min_anneal, ALL_TAILS) if refs is not None else []):
                    rows.append({**r, "_weight": weight})
        table += [{"min_anneal": min_anneal, **t} for t in _scored(rows)]
    best = min(table, key=lambda t: t["winkler"])
    return {"chosen": {k: best[k] for k in SWEEP}, "table": table}


def _scored(rows: list[dict]) -> list[dict]:
    """Mean interval score and coverage of ``rows`` for each discrepancy and tails of ``SWEEP``."""
    table = []
    for tails in SWEEP["tails"]:
        prior = dict(zip(ALL_TAILS, tails))
        for tail in SWEEP["tail"] if any(tails[1:]) else (0.0,):
            for reach, drop in [(x, 0.0) for x in SWEEP["reach"]] + [(0.0, x) for x in SWEEP["drop"]]:
                for anneal in SWEEP["anneal"]:
                    found = {"reach": reach, "anneal": anneal, "drop": drop, "tail": tail}
                    win, holds, weights = [], [], []
                    for r in rows:
                        if "_parts" not in r:
                            continue
                        weights.append(r["_weight"])
                        d = posterior.compose(r["_parts"], found, tails=prior)[:, 0]
                        lo, hi = np.quantile(d, [0.025, 0.975])
                        win.append(100 * winkler(lo, hi, r["_truth"]) / r["_truth"])
                        holds.append(lo <= r["_truth"] <= hi)
                    table.append({**found, "tails": list(tails), "winkler": float(np.average(win, weights=weights)),
                                  "coverage": float(np.average(holds, weights=weights)), "n": len(win)})
    return table


def parts_of(every: dict[str, Family], split: dict) -> dict[str, list[str]]:
    """The sets of families the results report: the test families, the real LLM curves among
    them, and the tuning families."""
    return {"test": split["test"], "test, real LLM curves": [n for n in split["test"] if n in every
                                                               and every[n].kind == "real"],
            "tuning": split["tuning"]}


def summarise(table: pd.DataFrame, parts: dict[str, list[str]]) -> dict:
    """The figures of the results file: for each set of families (``parts_of``), method and
    with or without references, by share seen and over all: coverage, median width, mean
    |error|, mean interval score and CRPS (% of the truth), forecasts and refused."""
    out = {}
    for part, names in parts.items():
        rows = table[table["family"].isin(names)]
        for method in ("today", "bayes"):
            m = rows[rows["task"] == ("early" if method == "today" else "bayes")]
            for refs in (False, True):
                g = m[m["refs"].astype(bool) == refs]
                if g.empty:
                    continue
                cell = {}
                for frac in (*FRACTIONS, "all"):
                    h = g if frac == "all" else g[g["seen"] == frac]
                    ok = h.dropna(subset=["holds"])
                    cell[str(frac)] = {"n": int(len(ok)), "refused": int(len(h) - len(ok)),
                                       "coverage": float(ok["holds"].astype(bool).mean()) if len(ok) else None,
                                       "median_width": float(ok["width"].median()) if len(ok) else None,
                                       "mean_abs_error": float(ok["final"].abs().mean()) if len(ok) else None,
                                       "winkler": float(ok["winkler"].mean()) if len(ok) else None,
                                       "crps": float(ok["crps"].mean()) if len(ok) else None}
                out.setdefault(part, {}).setdefault(method, {})["with references" if refs else "alone"] = cell
    return out


def per_family(table: pd.DataFrame) -> dict:
    """Each family's early forecasts, by method and references: forecasts, coverage, mean
    |error| (%)."""
    out = {}
    early_rows = table[table["task"].isin(["early", "bayes"])].dropna(subset=["holds"])
    for (name, task, refs), g in early_rows.groupby(["family", "task", "refs"], sort=False):
        method = "today" if task == "early" else "bayes"
        out.setdefault(name, {}).setdefault(method, {})["with references" if refs else "alone"] = {
            "n": int(len(g)), "inside": int(g["holds"].astype(bool).sum()),
            "coverage": float(g["holds"].astype(bool).mean()), "mean_abs_error": float(g["final"].abs().mean())}
    return out


def report_scores(summary: dict) -> None:
    """Today's forecasts and the Bayesian ones side by side, per split part."""
    for part, methods in summary.items():
        print(f"\n== {part} families: early forecasts of the final loss, 95 % intervals")
        print(f"{'':<30}{'seen':>6}{'n':>5}{'coverage':>10}{'width %':>9}{'|err| %':>9}{'Winkler %':>11}{'CRPS %':>8}")
        for method, by_refs in methods.items():
            for refs, cells in by_refs.items():
                for frac, c in cells.items():
                    if not c["n"]:
                        continue
                    print(f"{method + ', ' + refs:<30}{frac:>6}{c['n']:>5}{c['coverage']:>10.2f}{c['median_width']:>9.2f}"
                          f"{c['mean_abs_error']:>9.2f}{c['winkler']:>11.2f}{c['crps']:>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", help="comma-separated family names (default: every family found)")
    parser.add_argument("--tasks", default="protocol,early,bayes", help="protocol, early (today's), bayes")
    parser.add_argument("--save", help="write every scored row to this CSV")
    parser.add_argument("--prior", choices=("loo", "none"), default="loo",
                        help="loo: each family's forecasts use a prior learned on the others (default); none: no prior")
    parser.add_argument("--write-prior", help="learn today's prior on every family and write it here "
                        "(the shipped one: scalelaw/prior.json)")
    parser.add_argument("--write-population", help="learn the population on the tuning families and write it here "
                        "(the shipped one: scalelaw/population.json)")
    parser.add_argument("--rows", help="report and write the results from rows saved by an earlier --save "
                        "(of every family), without fitting")
    parser.add_argument("--readme", action="store_true", help="write the README's table from "
                        "benchmarks/results/forecast_suite.json and stop")
    parser.add_argument("--sweep", action="store_true", help="choose the posterior's discrepancy on the tuning "
                        "families (writes benchmarks/results/forecast_sweep.json) and stop")
    args = parser.parse_args()
    if args.readme:
        write_readme()
        return
    every, split = families(), split_of()
    chosen = args.families.split(",") if args.families else [n for n in (*split["tuning"], *split["test"]) if n in every]
    tasks = [t for t in args.tasks.split(",") if t]
    print(f"families: {', '.join(every)}")
    t = time.process_time()
    pop = learn_population(every, split)
    print(f"population ({time.process_time() - t:.0f} CPU s, {len(pop.families)} tuning families): mean "
          + ", ".join(f"{k} {m:.3f} (sd {sd:.3f})" for k, m, sd in zip(population_module.NAMES, pop.mean, pop.sd().values())))
    if args.write_population:
        population_module.save(pop, args.write_population)
        print(f"wrote {args.write_population}")
        if not tasks:  # --tasks "": only the population
            return
    if args.sweep:
        result = sweep(every, split, pop)
        for r in sorted(result["table"], key=lambda t: t["winkler"])[:15]:
            print(f"min_anneal {r['min_anneal']:<5} reach {r['reach']:<6} drop {r['drop']:<5} anneal {r['anneal']:<6} "
                  f"tails {np.round(r['tails'], 2)} tail {r['tail']} "
                  f"Winkler {r['winkler']:7.3f} %  coverage {r['coverage']:.2f}")
        print(f"chosen: {result['chosen']} (set posterior.MIN_ANNEAL, DISCREPANCY and TAILS to it)")
        write_results("forecast_sweep", {"sweep": result, "families": split["tuning"]})
        return
    learned = None
    if ("early" in tasks or "protocol" in tasks) and args.rows is None:
        t = time.process_time()
        measured = {name: measure(f) for name, f in every.items()}
        learned = prior_module.combine(measured, PROVENANCE.format(date=time.strftime("%Y-%m-%d"),
                                                                   families=", ".join(measured)))
        print(f"today's prior ({time.process_time() - t:.0f} CPU s): q {learned.q:.4f} (x/ {np.exp(learned.q_log_sd):.2f} "
              "for 1 sd)")
        if args.write_prior:
            prior_module.save(learned, args.write_prior)
            print(f"wrote {args.write_prior}")
    rows = [] if args.rows is None else pd.read_csv(args.rows).to_dict("records")
    for name in chosen if args.rows is None else []:
        family = every[name]
        prior = learned.without(name) if args.prior == "loo" and learned is not None else None
        own = pop.without(name) if name in pop.families else pop  # a family never informs its own forecasts
        refs = references_for(family, every)
        t = time.process_time()
        if "protocol" in tasks and family.roles:
            rows += protocol(family, prior)
        if "early" in tasks:
            rows += early(family, None, prior)
            if refs is not None:
                rows += early(family, refs.drop(columns="N"), prior)  # as before: no size column
        if "bayes" in tasks:
            rows += bayes(family, None, own)
            if refs is not None:
                rows += bayes(family, refs, own)
        print(f"  {name}: {time.process_time() - t:.0f} CPU s", flush=True)
    if not rows:
        return
    table = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    if "refused" not in table:
        table["refused"] = np.nan
    if args.save:
        table.to_csv(args.save, index=False)
    report(table[table["task"] != "bayes"])
    summary = summarise(table, parts_of(every, split))
    report_scores(summary)
    if not args.families or args.rows:
        write_results("forecast_suite", {"split": {k: split[k] for k in ("tuning", "test", "weight")},
                                         "population": {"mean": pop.mean, "sd": pop.sd(),
                                                        "families": list(pop.families)},
                                         "discrepancy": posterior.DISCREPANCY, "summary": summary,
                                         "per_family": per_family(table),
                                         "methods": table[table["task"] == "bayes"]["method"].value_counts().to_dict()})


README_MARK = readme_marks("forecast_suite")


def readme_table(results: dict) -> str:
    """The README's table of the early forecasts, made from the results file (a test checks
    that the README holds it as made): today's and the posterior's side by side."""
    lines = ["| families | references | seen | forecasts today -> posterior | coverage | median width % | "
             "mean abs error % | interval score % | CRPS % |", "|---|---|---|---|---|---|---|---|---|"]
    for part, methods in results["summary"].items():
        if "bayes" not in methods or "today" not in methods:
            continue
        for refs, cells in methods["bayes"].items():
            for frac, new in cells.items():
                old = methods["today"].get(refs, {}).get(frac)
                if not new["n"] or not old or not old["n"]:
                    continue
                seen = "all" if frac == "all" else f"{100 * float(frac):.0f} %"
                lines.append(f"| {part} | {refs} | {seen} | {old['n']} -> {new['n']} | {old['coverage']:.2f} -> {new['coverage']:.2f} | "
                             f"{old['median_width']:.1f} -> {new['median_width']:.1f} | "
                             f"{old['mean_abs_error']:.2f} -> {new['mean_abs_error']:.2f} | "
                             f"{old['winkler']:.1f} -> {new['winkler']:.1f} | {old['crps']:.2f} -> {new['crps']:.2f} |")
    return "\n".join(lines)


def write_readme() -> None:
    """Put ``readme_table`` of the results file between the README's marks."""
    write_readme_block(README_MARK, readme_table(load("forecast_suite")))


def write_results(name: str, figures: dict) -> None:
    """Write ``benchmarks/results/<name>.json``: the figures, the commit and the data read."""
    save(name, figures, ["data/multipower_law", "data/generated/forecast", "../shared/data/schaipp_124m",
                         "scalelaw.synthetic"])


if __name__ == "__main__":
    main()
