"""How often the batch law's 95 % interval holds a batch size left out of the fit, on the shipped
sweep of our trainer (``data/generated/batch``: widths 16 and 32, six batch sizes each): each
batch size in turn is left out, the law fitted on the other five predicts its curve, and its
training loss averaged over 25 steps (the smoothed curve) is scored against the interval, from
step 40 on. Prints, per width and batch size left out, the MAPE of the prediction against the
per-step loss, the error of the final prediction against the mean loss of the last 25 steps
(``final_error``, %), the share of the smoothed curve inside the interval and inside the
parameters' band alone (``inside_parameters``: the mean curve's, without the held-out error),
and the median half-width (% of the prediction); then, the law fitted on each width's six batch
sizes, the critical batch size over the measured noise scale (``noise_ratio``); writes
``benchmarks/results/batch_intervals.json``.

    python benchmarks/bench_batch_intervals.py   (about 5 CPU minutes)
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scalelaw  # noqa: E402
from measure import save  # noqa: E402

SWEEP = ROOT / "data" / "generated" / "batch"
SMOOTH = 25  # steps the held-out training loss is averaged over
FIRST = 40  # the first step scored


def sweep_runs(width: int) -> pd.DataFrame:
    frames = [scalelaw.load_runs(p, roles=("step", "y", "B"), optional=("lr",)).assign(run=p.parent.name)
              for p in sorted(SWEEP.glob(f"w{width}-b*/log.csv"))]
    return pd.concat(frames, ignore_index=True)


def noise_ratio(width: int) -> list[float]:
    """B_crit (the law fitted on all six batch sizes) at each run's final loss over the gradient
    noise scale the trainer measured there (``grad_noise_scale``; both the mean of the last 20
    logged rows): McCandlish et al. found the two close."""
    from scalelaw.laws.batch import b_crit

    frames = []
    for path in sorted(SWEEP.glob(f"w{width}-b*/log.csv")):
        frame = scalelaw.load_runs(path, roles=("step", "y", "B"), optional=("lr",))
        noise = pd.read_csv(path)["grad_noise_scale"].reindex(frame.index).to_numpy()
        frames.append(frame.assign(run=path.parent.name, noise=noise))
    runs = pd.concat(frames, ignore_index=True)
    result = scalelaw.fit("batch", runs.drop(columns="noise"))
    last = runs.groupby("run").tail(20).groupby("run")[["y", "noise"]].mean()
    return (b_crit(last["y"], result.params["B_star"], result.params["alpha_B"]) / last["noise"]).tolist()


def left_out(runs: pd.DataFrame, run: str) -> dict:
    held = runs["run"] == run
    result = scalelaw.fit("batch", runs[~held])
    g = runs[held & (runs["step"] > FIRST)]
    pred = result.predict({"step": g["step"], "B": g["B"]})
    smooth = g["y"].rolling(SMOOTH, center=True).mean().to_numpy()
    ok = np.isfinite(smooth)
    at = {"step": g["step"].to_numpy()[ok], "B": g["B"].to_numpy()[ok]}
    lo, hi = result.predict_interval(at)
    mean_lo, mean_hi = result.predict_interval(at, of="mean")
    final = float(g["y"].tail(SMOOTH).mean())  # the last SMOOTH steps' mean loss
    return {"converged": bool(result.converged), "mape": float(scalelaw.quality.mape(pred, g["y"].to_numpy())),
            "final_error": float(100 * abs(pred[-1] - final) / final),
            "inside": float(np.mean((smooth[ok] >= lo) & (smooth[ok] <= hi))),
            "inside_parameters": float(np.mean((smooth[ok] >= mean_lo) & (smooth[ok] <= mean_hi))),
            "half_width": float(np.median((hi - lo) / 2 / pred[ok]))}


def main() -> int:
    warnings.simplefilter("ignore")
    out = {}
    for width in (16, 32):
        runs = sweep_runs(width)
        for run in sorted(runs["run"].unique(), key=lambda r: int(r.split("-b")[1])):
            r = out[run] = left_out(runs, run)
            print(f"{run:<10} MAPE {r['mape']:5.2f} %  inside {100 * r['inside']:5.1f} %  median half-width "
                  f"{100 * r['half_width']:5.2f} %  {'' if r['converged'] else 'not converged'}", flush=True)
    inside = [r["inside"] for r in out.values()]
    print(f"inside over the 12 left out: mean {100 * np.mean(inside):.1f} %, lowest {100 * min(inside):.1f} %")
    ratios = {f"w{width}": noise_ratio(width) for width in (16, 32)}
    print("B_crit over the measured noise scale: " + "; ".join(
        f"{w}: {min(r):.2f}-{max(r):.2f}, median {np.median(r):.2f}" for w, r in ratios.items()))
    save("batch_intervals", {"left_out": out, "mean_inside": float(np.mean(inside)), "noise_ratio": ratios},
         ["data/generated/batch"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
