"""From loss to task accuracy on Gemstones, and what ``--stderr`` weighting buys: the figures the
docs' "From loss to task accuracy" section (docs/size-laws.md) quotes.

- ``measured``: fitted on every checkpoint of the 16 smaller Gemstones models, the final accuracy
  of the three largest (near 1B) predicted from their measured FineWeb-Edu loss, over the 9
  tasks: the form chosen per task by the error on models left out, the sigmoid alone, and the
  chosen form with each task's standard errors as weights.
- ``chain``: the same accuracies from (N, D), through a chinchilla fit on the same checkpoints.
- ``checkpoints``: every checkpoint of the three largest from its measured loss, per form: the
  median relative error (where the exponential and the sigmoid part ways on HellaSwag).
- ``stderr_spread``: how much each task's standard error, and its relative standard error (what
  weights a point), vary over its checkpoints (largest over smallest, minus 1).
- ``weights``: a synthetic sigmoid with every fourth point measured 30 times less precisely:
  the largest relative parameter error with and without weights, least squares and Huber.

    python benchmarks/bench_downstream.py     # about a minute; writes results/downstream.json
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import scalelaw  # noqa: E402
from scalelaw.analysis import chain  # noqa: E402

from measure import save  # noqa: E402

GEMSTONES = ROOT / "data" / "gemstones" / "checkpoints.csv"
TASKS = {"arc_challenge": 0.25, "arc_easy": 0.25, "commonsense_qa": 0.2, "hellaswag": 0.25, "mmlu": 0.25,
         "openbookqa": 0.25, "piqa": 0.5, "siqa": 1 / 3, "winogrande": 0.5}
FORMS = {"chosen": ["downstream", "downstream_exp"], "sigmoid": "downstream"}


def split():
    """(every checkpoint of the 16 smaller models, every checkpoint of the 3 largest, the 3
    largest's final checkpoints)."""
    data = pd.read_csv(GEMSTONES)
    final = data[data["step"] == data["step"].max()]
    largest = final.sort_values("params")["run"].iloc[-3:]
    held = data[data["run"].isin(largest)]
    return data[~data["run"].isin(largest)], held, final[final["run"].isin(largest)]


def accuracy_fit(train, task, form, weighted=False):
    frame = pd.DataFrame({"run": train["run"], "x": train["loss_fineweb_edu"], "y": train[f"acc_{task}"]})
    if weighted:
        frame["stderr"] = train[f"stderr_{task}"]
    return scalelaw.fit(form, frame, options=None if form == "downstream_exp" else {"chance": TASKS[task]})


def score(pred, lo, hi, mean_lo, mean_hi, y):
    """Per point: the absolute error in accuracy points, inside a new model's and the mean
    curve's band, the new model's width in points."""
    return {"error": list(100 * np.abs(pred - y)), "inside": list((lo <= y) & (y <= hi)),
            "inside_mean": list((mean_lo <= y) & (y <= mean_hi)), "width": list(100 * (hi - lo))}


def summarise(points: dict, fits: dict) -> dict:
    return {"mean_abs_error_points": float(np.mean(points["error"])), "inside": int(np.sum(points["inside"])),
            "mean_curve_inside": int(np.sum(points["inside_mean"])), "points": len(points["error"]),
            "median_width_points": float(np.median(points["width"])), "fits": fits}


def ladder(train, final, form, weighted):
    """The final accuracies of the three largest, from their measured loss and through the chain
    from (N, D): the figures of each, and of each task's fit."""
    loss_fit = scalelaw.fit("chinchilla", pd.DataFrame({"run": train["run"], "N": train["params"],
                                                        "D": train["tokens"], "y": train["loss_fineweb_edu"]}))
    inputs = {"N": final["params"].to_numpy(float), "D": final["tokens"].to_numpy(float)}
    measured = {k: [] for k in ("error", "inside", "inside_mean", "width")}
    chained = {k: [] for k in measured}
    fits = {}
    for task in TASKS:
        fit = accuracy_fit(train, task, form, weighted)
        y = final[f"acc_{task}"].to_numpy()
        X = {"x": final["loss_fineweb_edu"].to_numpy()}
        band, mean = fit.predict_interval(X), fit.predict_interval(X, of="mean")
        for k, v in score(fit.predict(X), *band, *mean, y).items():
            measured[k] += v
        out = chain(fit, loss_fit, inputs)
        for k, v in score(out["accuracy"], out["lo"], out["hi"], out["mean_lo"], out["mean_hi"], y).items():
            chained[k] += v
        fits[task] = {"law": fit.law.name, "status": fit.status, "at_bounds": fit.at_bounds,
                      "held_out_errors": {k: v["held_out_error"] for k, v in fit.options.get("compared", {}).items()}}
    return summarise(measured, fits), summarise(chained, {})


def checkpoints(train, held) -> dict:
    """Every checkpoint of the three largest from its measured loss: each form's median
    relative error, per task."""
    out = {}
    for task in TASKS:
        y = held[f"acc_{task}"].to_numpy()
        X = {"x": held["loss_fineweb_edu"].to_numpy()}
        out[task] = {law: float(np.median(np.abs(accuracy_fit(train, task, law).predict(X) - y) / y))
                     for law in ("downstream", "downstream_exp")}
    return out


def stderr_spread() -> dict:
    data = pd.read_csv(GEMSTONES)
    out = {}
    for task in TASKS:
        se, relative = data[f"stderr_{task}"], data[f"stderr_{task}"] / data[f"acc_{task}"]
        out[task] = {"stderr": float(se.max() / se.min() - 1), "relative": float(relative.max() / relative.min() - 1)}
    return out


def weights() -> dict:
    """A sigmoid with known parameters, every fourth point 30 times less precise (and far off):
    the largest relative parameter error of each fit."""
    rng = np.random.default_rng(1)
    loss = np.linspace(2.3, 3.6, 60)
    truth = {"a": 0.7, "k": 4.0, "L0": 2.9}
    acc = 0.25 + 0.75 * truth["a"] / (1 + np.exp(truth["k"] * (loss - truth["L0"])))
    se = np.where(np.arange(len(loss)) % 4 == 0, 0.12, 0.004)
    frame = pd.DataFrame({"x": loss, "y": np.clip(acc + rng.normal(0, se), 0.01, 0.99)})
    out = {}
    for loss_name in ("lsq", "huber"):
        for name, f in (("plain", frame), ("weighted", frame.assign(stderr=se))):
            fit = scalelaw.fit("downstream", f, options={"chance": 0.25}, loss=loss_name)
            out[f"{loss_name} {name}"] = max(abs(fit.params[k] - v) / v for k, v in truth.items())
    return out


def main() -> int:
    warnings.simplefilter("ignore")
    train, held, final = split()
    figures = {}
    for name, form, weighted in (("chosen", FORMS["chosen"], False), ("sigmoid", FORMS["sigmoid"], False),
                                 ("chosen, stderr", FORMS["chosen"], True)):
        measured, chained = ladder(train, final, form, weighted)
        figures[name] = {"measured": measured, "chain": chained}
        print(f"{name:<15} from the measured loss: {measured['mean_abs_error_points']:.2f} points, "
              f"{measured['inside']} of {measured['points']} inside (median width "
              f"{measured['median_width_points']:.1f}, mean curve {measured['mean_curve_inside']}); through the "
              f"chain: {chained['mean_abs_error_points']:.2f} points, {chained['inside']} of {chained['points']} "
              f"(median width {chained['median_width_points']:.1f}, mean curves {chained['mean_curve_inside']})",
              flush=True)
    figures["checkpoints"] = checkpoints(train, held)
    figures["stderr_spread"] = stderr_spread()
    figures["weights"] = weights()
    for k, v in figures["weights"].items():
        print(f"synthetic sigmoid, {k}: largest parameter error {100 * v:.1f} %")
    save("downstream", figures, ["data/gemstones"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
