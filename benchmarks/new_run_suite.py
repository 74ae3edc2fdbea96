"""How often the size laws' intervals hold runs left out of the fit, on real data.

For each family (a dataset and a law), the fit leaves out runs and predicts them, two ways:
- ``largest``: the largest model sizes left out (the use a size law is for: a bigger model);
- ``each``: every model size left out in turn, predicted from the others.
Each left-out point is scored against two 95 % intervals of ``FitResult.predict_interval``: a new
run's (``of="run"``, what ``predict`` reports as lo/hi) and the mean curve's (``of="mean"``).

    python benchmarks/new_run_suite.py [--families gemstones-chinchilla,...] [--level 0.95]

Reads ``../shared/data`` (the Chinchilla points) and ``data/`` (Gemstones, Gadre's, datablations'
runs up to 4 epochs, Alabdulmohsin et al.'s learning curves: a power law fitted on each curve's
training split and scored on its later points, scheme ``split``); a family whose file is absent
is skipped. Prints a table, then the totals.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scalelaw  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from measure import readme_marks, save, write_readme_block  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
GEMSTONES = ROOT / "data" / "gemstones" / "checkpoints.csv"
GADRE = ROOT / "data" / "gadre_overtraining" / "models_final_loss.csv"
DATABLATIONS = ROOT / "data" / "datablations" / "data_constrained_final_losses.csv"
GOOGLE = ROOT / "data" / "google_revisiting_scaling" / "benchmark.lang.csv"
CHINCHILLA = SHARED / "chinchilla_epoch" / "svg_extracted_data.csv"
SPLIT = Path(__file__).resolve().with_name("new_run_split.json")
TASKS = {"arc_challenge": 0.25, "arc_easy": 0.25, "commonsense_qa": 0.2, "hellaswag": 0.25, "mmlu": 0.25,
         "openbookqa": 0.25, "piqa": 0.5, "siqa": 1 / 3, "winogrande": 0.5}


def _gemstones():
    g = pd.read_csv(GEMSTONES)
    return g.rename(columns={"params": "N", "tokens": "D", "loss_fineweb_edu": "y"})


def families():
    """name -> (law, frame with the law's inputs, y and a ``model`` label, options): one model
    size per ``model``; the largest ones are left out in the ``largest`` scheme."""
    out = {}
    if GEMSTONES.exists():
        g = _gemstones()
        out["gemstones-chinchilla"] = ("chinchilla", g[["run", "N", "D", "y"]].assign(model=g["N"]), {}, 3)
        last = g[g["step"] == g["step"].max()]
        out["gemstones-power"] = ("power", pd.DataFrame({"x": last["N"], "y": last["y"], "model": last["N"]}), {}, 3)
        for task, chance in TASKS.items():
            out[f"gemstones-downstream-{task}"] = (  # the form chosen by the error on models left out
                ["downstream", "downstream_exp"], pd.DataFrame({"run": g["run"], "x": g["y"], "y": g[f"acc_{task}"], "model": g["N"]}),
                {"chance": chance}, 3)
    if GADRE.exists():
        d = pd.read_csv(GADRE)
        for name, part in d.groupby("dataset"):
            frame = pd.DataFrame({"N": part["N_params"], "D": part["D_tokens"], "y": part["loss_c4_val"],
                                  "model": part["N_params"]})
            out[f"gadre-{name}-chinchilla"] = ("chinchilla", frame, {}, 2)
            at20 = part[part["tokens_per_param"] == 20]
            out[f"gadre-{name}-power"] = ("power", pd.DataFrame({"x": at20["N_params"], "y": at20["loss_c4_val"],
                                                                   "model": at20["N_params"]}), {}, 1)
    if DATABLATIONS.exists():  # up to 4 epochs, where repeated tokens are worth about as much as new ones
        d = pd.read_csv(DATABLATIONS)
        d = d[d["epochs"] <= 4]
        out["datablations-chinchilla"] = ("chinchilla", pd.DataFrame({"N": d["N_params"], "D": d["D_tokens"],
                                                                      "y": d["val_loss"], "model": d["N_params"]}), {}, 3)
    if CHINCHILLA.exists():
        c = pd.read_csv(CHINCHILLA)
        c = c.assign(N=c["Model Size"], D=c["Training FLOP"] / (6 * c["Model Size"]), y=c["loss"])
        sizes = np.round(np.log10(c["N"]), 1)  # the read-off sizes, to a tenth of a decade: a model size
        out["chinchilla-points"] = ("chinchilla", c[["N", "D", "y"]].assign(model=sizes), {}, 2)
    return out


def google_curves():
    """name -> frame (x = seen examples, y, train): Alabdulmohsin et al.'s 20 learning curves,
    whose ``Training`` column splits each into points to fit and later points to predict."""
    if not GOOGLE.exists():
        return {}
    g = pd.read_csv(GOOGLE)
    return {f"google-{domain}-{task}-{model}".replace(" ", ""): pd.DataFrame(
                {"x": part["Seen Examples"], "y": part["Loss"], "train": part["Training"] == 1})
            for (domain, task, model), part in g.groupby(["Domain", "Task", "Model"])}


def score_split(frame, level):
    """A power law fitted on a curve's training points, scored on its later held-out points."""
    result = scalelaw.fit("power", frame[frame["train"]][["x", "y"]])
    test = frame[~frame["train"]]
    x, y = test["x"].to_numpy(float), test["y"].to_numpy(float)
    centre = result.predict(x)
    row = {"status": result.status, "error": np.abs(centre - y) / y}
    for of in ("run", "mean"):
        band = result.predict_interval(x, level=level, of=of)
        row[of] = np.zeros(len(y), bool) if band is None else (band[0] <= y) & (y <= band[1])
        row[f"{of}_width"] = np.full(len(y), np.nan) if band is None else (band[1] - band[0]) / centre
    return row


def score(law, frame, options, left_out, level):
    """Fit on the rows whose model is not in ``left_out``; score the others. Returns a dict of
    arrays over the left-out points: inside the new run's and the mean curve's intervals, and
    their widths relative to the prediction."""
    out = frame["model"].isin(left_out).to_numpy()
    train = frame[~out].drop(columns="model")
    test = frame[out]
    result = scalelaw.fit(law, train, options=options or None)
    inputs = {r: test[r].to_numpy(float) for r in result.law.inputs}
    centre = result.predict(inputs)
    y = test["y"].to_numpy(float)
    row = {"status": result.status, "scatter": result.run_scatter.sigma}
    for of in ("run", "mean"):
        band = result.predict_interval(inputs, level=level, of=of)
        if band is None:
            row[of] = np.zeros(len(y), bool)
            row[f"{of}_width"] = np.full(len(y), np.nan)
        else:
            row[of] = (band[0] <= y) & (y <= band[1])
            row[f"{of}_width"] = (band[1] - band[0]) / centre
    row["error"] = np.abs(centre - y) / y
    return row


# A new run's interval beyond the fitted sizes, four ways (FitResult.run_band is the first): its
# quantile Student's t on the scatter's degrees of freedom or the normal one, and its scatter
# grown by 1 + ln(beyond) (measured with left-out runs' errors brought back to the edge) or flat
# (measured as they are).
VARIANTS = (("t", "grown"), ("z", "grown"), ("t", "flat"), ("z", "flat"))


def variants(law, frame, options, left_out, level):
    """The ``largest`` split's left-out points scored under each of ``VARIANTS``: the fit as
    shipped gives the grown scatter, a second fit with the size kind's growth switched off the
    flat one; the mean curve's band is the same in both. Returns (variant -> rows of inside,
    width and interval score, each relative to the truth)."""
    from measure import winkler
    from scalelaw.intervals import t_of, z_of
    from scalelaw.laws import design

    out = frame["model"].isin(left_out).to_numpy()
    train, test = frame[~out].drop(columns="model"), frame[out]
    fits = {"grown": scalelaw.fit(law, train, options=options or None)}
    design.Sizes.widens_beyond = False
    try:
        fits["flat"] = scalelaw.fit(law, train, options=options or None)
    finally:
        design.Sizes.widens_beyond = True
    result = fits["grown"]
    inputs = {r: test[r].to_numpy(float) for r in result.law.inputs}
    centre = result.predict(inputs)
    y = test["y"].to_numpy(float)
    band = result.parameter_band(inputs, centre, level)
    if band is None:
        return {}
    half_band = (band[1] - band[0]) / 2
    grow = 1 + np.log(result.beyond(inputs))
    rows = {}
    for q_name, scatter_name in VARIANTS:
        scatter = fits[scatter_name].run_scatter
        q = t_of(level, scatter.dof) if q_name == "t" else z_of(level)
        spread = scatter.sigma * centre * (grow if scatter_name == "grown" else 1.0)
        half = np.hypot(half_band, q * spread)
        lo, hi = np.maximum(centre - half, 0.0), centre + half
        rows[f"{q_name}, {scatter_name}"] = {
            "inside": ((lo <= y) & (y <= hi)).tolist(), "width": ((hi - lo) / y).tolist(),
            "winkler": (100 * winkler(lo, hi, y, 1 - level) / y).tolist()}
    return rows


def judge(chosen: dict, level: float) -> dict:
    """``VARIANTS`` scored on the ``largest`` split of every family, each family's mean over its
    points, then the mean over the families of each side of ``new_run_split.json``; the variant
    with the lowest tuning interval score is the one chosen."""
    split = json.loads(SPLIT.read_text())
    per_family = {}
    for name, (law, frame, options, n_largest) in chosen.items():
        side = next((k for k in ("tuning", "test") if any(name.startswith(p) for p in split[k])), None)
        if side is None:
            continue
        sizes = sorted(frame["model"].unique())
        rows = variants(law, frame, options, sizes[-n_largest:], level)
        if rows:
            per_family[name] = {"side": side, **{v: {k: float(np.mean(r[k])) for k in r} for v, r in rows.items()}}
            print(f"  {name:<38}{side:<7}" + "  ".join(f"{v}: {100 * r['inside']:3.0f}% in, IS {r['winkler']:6.2f}"
                                                       for v, r in per_family[name].items() if v != "side"), flush=True)
    summary = {}
    for side in ("tuning", "test"):
        fams = [f for f in per_family.values() if f["side"] == side]
        summary[side] = {f"{q}, {g}": {k: float(np.mean([f[f"{q}, {g}"][k] for f in fams])) for k in
                                       ("inside", "width", "winkler")} | {"families": len(fams)} for q, g in VARIANTS}
    best = min(summary["tuning"], key=lambda v: summary["tuning"][v]["winkler"])
    return {"split": split, "level": level, "chosen": best, "summary": summary, "per_family": per_family}


def run_family(name, law, frame, options, n_largest, level):
    sizes = sorted(frame["model"].unique())
    rows = []
    schemes = {"largest": [sizes[-n_largest:]], "each": [[s] for s in sizes]}
    for scheme, splits in schemes.items():
        parts = [score(law, frame, options, left, level) for left in splits]
        cat = {k: np.concatenate([p[k] for p in parts]) for k in ("run", "mean", "run_width", "mean_width", "error")}
        by_model = {f"{left[0]:.4g}": [float(p["error"].min()), float(p["error"].max())]
                    for left, p in zip(splits, parts) if len(left) == 1}
        rows.append({"family": name, "scheme": scheme, "fits": len(parts), "points": len(cat["run"]),
                     "left_out": len(splits[0]), "by_model": by_model,
                     "run_inside": cat["run"].mean(), "mean_inside": cat["mean"].mean(),
                     "run_width": np.nanmedian(cat["run_width"]), "mean_width": np.nanmedian(cat["mean_width"]),
                     "error": np.median(cat["error"]), "not_converged": sum(p["status"] != "converged" for p in parts),
                     "_run": cat["run"], "_mean": cat["mean"]})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=None, help="comma-separated family names (default: all)")
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--judge", action="store_true", help="score the four variants of a new run's interval "
                        "(t or z, scatter grown beyond the fitted sizes or flat) on the largest sizes left out, "
                        "choose on the tuning families of new_run_split.json, report the test ones, and write "
                        "results/new_run_variants.json")
    args = parser.parse_args(argv)
    chosen = families()
    if args.families:
        chosen = {k: v for k, v in chosen.items() if any(k.startswith(f) for f in args.families.split(","))}
    rows = []
    warnings.simplefilter("ignore")
    if args.judge:
        result = judge(chosen, args.level)
        for side, by in result["summary"].items():
            for v, r in by.items():
                print(f"{side:<7} {v:<10} {r['families']:>3} families: {100 * r['inside']:5.1f} % inside, mean "
                      f"width {100 * r['width']:6.2f} %, interval score {r['winkler']:6.2f} %")
        print(f"chosen on the tuning families: {result['chosen']}")
        save("new_run_variants", result, DATA)
        return 0
    print(f"{'family':<38}{'scheme':<9}{'fits':>5}{'points':>7}{'new run in':>12}{'mean in':>9}"
          f"{'run width':>11}{'mean width':>11}{'med err':>9}{'at bound':>9}")
    for name, (law, frame, options, n_largest) in chosen.items():
        for r in run_family(name, law, frame, options, n_largest, args.level):
            rows.append(r)
            print(f"{r['family']:<38}{r['scheme']:<9}{r['fits']:>5}{r['points']:>7}{100 * r['run_inside']:>11.0f}%"
                  f"{100 * r['mean_inside']:>8.0f}%{100 * r['run_width']:>10.2f}%{100 * r['mean_width']:>10.2f}%"
                  f"{100 * r['error']:>8.2f}%{r['not_converged']:>9}", flush=True)
    curves = {k: v for k, v in google_curves().items() if not args.families or
              any(k.startswith(f) for f in args.families.split(","))}
    for name, frame in curves.items():  # later points of a curve: not a new run, a forecast of this one
        p = score_split(frame, args.level)
        r = {"family": name, "scheme": "split", "fits": 1, "points": len(p["run"]), "left_out": 0, "by_model": {},
             "run_inside": p["run"].mean(),
             "mean_inside": p["mean"].mean(), "run_width": np.nanmedian(p["run_width"]),
             "mean_width": np.nanmedian(p["mean_width"]), "error": np.median(p["error"]),
             "not_converged": int(p["status"] != "converged"), "_run": p["run"], "_mean": p["mean"]}
        rows.append(r)
        print(f"{name[:37]:<38}{'split':<9}{1:>5}{r['points']:>7}{100 * r['run_inside']:>11.0f}%"
              f"{100 * r['mean_inside']:>8.0f}%{100 * r['run_width']:>10.2f}%{100 * r['mean_width']:>10.2f}%"
              f"{100 * r['error']:>8.2f}%{r['not_converged']:>9}", flush=True)
    totals = {}
    for scheme in ("largest", "each", "split"):
        for group in ("chinchilla", "power", "downstream", "google"):
            sel = [r for r in rows if r["scheme"] == scheme and (f"-{group}" in r["family"] or r["family"].startswith(
                   f"{group}-") or (group == "chinchilla" and r["family"] == "chinchilla-points"))]
            if not sel:
                continue
            run = np.concatenate([r["_run"] for r in sel])
            mean = np.concatenate([r["_mean"] for r in sel])
            fams = np.mean([r["run_inside"] for r in sel])
            totals[f"{scheme} {group}"] = {"points": len(run), "run_inside": float(run.mean()),
                                           "mean_inside": float(mean.mean()), "families": len(sel)}
            print(f"{scheme:<8} {group:<11}: new run {100 * run.mean():.0f}% of {len(run)} points inside "
                  f"(mean over {len(sel)} families {100 * fams:.0f}%), mean curve {100 * mean.mean():.0f}%")
    if not args.families:  # a whole run is what the README reports
        for r in rows:
            r["run_hits"], r["mean_hits"] = int(r.pop("_run").sum()), int(r.pop("_mean").sum())
        results = {"level": args.level, "rows": rows, "totals": totals}
        save("new_run_suite", results, DATA)
        write_readme_block(README_MARK, readme_table(results))
    return 0


DATA = ["data/gemstones", "data/gadre_overtraining", "data/datablations", "data/google_revisiting_scaling",
        "../shared/data/chinchilla_epoch"]
README_MARK = readme_marks("new_run_suite")
# The README table's rows: a label and the families (by a pattern of their names) pooled in it.
GROUPS = (("Gemstones, chinchilla (every checkpoint)", r"gemstones-chinchilla$", "of the loss"),
          ("Gemstones, power (final checkpoints)", r"gemstones-power$", ""),
          ("Gadre et al., chinchilla (3 datasets)", r"gadre-.*-chinchilla$", ""),
          ("Gadre et al., power (20 tokens/param, 3 datasets)", r"gadre-.*-power$", ""),
          ("Chinchilla's points (Epoch), chinchilla", r"chinchilla-points$", ""),
          ("Gemstones, downstream (9 tasks, form chosen per task; every checkpoint)", r"gemstones-downstream-",
           "of the accuracy"),
          ("datablations (up to 4 epochs), chinchilla", r"datablations-chinchilla$", ""),
          ("Alabdulmohsin et al., power per curve (20 curves)", r"google-", ""))


def readme_table(results: dict) -> str:
    """The README's table of a whole run, made from its results file: each of ``GROUPS`` and
    scheme, its families' points pooled (a count where they are few), the median widths of its
    families (a range where there are several)."""
    import re

    def share(hits, n):
        return f"{hits} of {n}" if n <= 20 else f"{100 * hits / n:.0f} %"

    lines = ["| family | left out | points | new run: inside | mean curve: inside | new run: median width |",
             "|---|---|---|---|---|---|"]
    for label, pattern, unit in GROUPS:
        for scheme in ("largest", "each", "split"):
            sel = [r for r in results["rows"] if r["scheme"] == scheme and re.match(pattern, r["family"])]
            if not sel:
                continue
            n = sum(r["points"] for r in sel)
            widths = sorted(100 * r["run_width"] for r in sel)
            width = f"{widths[0]:.1f} %" if len(sel) == 1 else f"{widths[0]:.1f}-{widths[-1]:.1f} %"
            left = {"largest": "the largest size" if sel[0]["left_out"] == 1 else f"the {sel[0]['left_out']} largest sizes",
                    "each": f"each of {sel[0]['fits']} sizes", "split": "the later points of each curve"}[scheme]
            lines.append(f"| {label} | {left} | {n:,} | {share(sum(r['run_hits'] for r in sel), n)} | "
                         f"{share(sum(r['mean_hits'] for r in sel), n)} | {width}{' ' + unit if unit else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
