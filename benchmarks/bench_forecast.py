"""Forecasts on the curves of Luo et al. 2025 (shipped in data/multipower_law): issue 13's figures.

1. The multi-power-law paper's protocol: fit constant_24000 + cosine_24000 + wsdcon_9, predict
   the other six schedules from their logged LR. Mean MAPE and worst final-step error for the
   annealing and multi-power laws (default conventions) and ``law="auto"``, beside the
   reference figures: the authors' code re-run (issue 13) and scalelaw before issue 13.
2. Early-run forecasts: fit the first 10/20/40/60 % of constant_72000 and cosine_72000 with
   ``law="auto"``, without references and with the other size's finished 72k runs as
   references; the final-loss error, the 95 % interval and whether it holds the truth.
3. Interval coverage: the fraction of held-out final losses inside their 95 % interval and the
   median interval width (percent of the predicted loss), over the protocol's held-out curves
   and over the early-run forecasts.

Run: python benchmarks/bench_forecast.py   (about 5-10 minutes on 2 cores; writes results/bench_forecast.json)
"""
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import scalelaw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import save  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "multipower_law"
TRAIN = ("constant_24000", "cosine_24000", "wsdcon_9")
# mean MAPE %, worst final-step error % on the protocol (issue 13's measurements)
REFERENCE = {"25": {"MPL code": (0.110, None), "scalelaw before (best law)": (0.171, 1.1)},
             "100": {"MPL code": (0.142, None), "scalelaw before (best law)": (0.162, 0.8)}}
TARGET = {"25": 0.10, "100": 0.13}
FRACTIONS = (0.1, 0.2, 0.4, 0.6)
OTHER = {"25": "100", "100": "25"}


def curves(size: str) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p).rename(columns={"loss": "y"}) for p in sorted((DATA / f"csv_{size}").glob("*.csv"))}


def log(g: pd.DataFrame):
    return g["step"].to_numpy(), g["lr"].to_numpy(float)


def score(result, held: dict[str, pd.DataFrame]):
    """MAPE per curve, final-step errors, and (holds, width %) of the final-step interval."""
    rows = []
    for name, g in held.items():
        steps, y = g["step"].to_numpy(int), g["y"].to_numpy(float)
        pred = result.predict(steps, log(g))
        lo, hi = result.predict_interval(steps[-1:], log(g))
        rows.append({"curve": name, "mape": 100 * np.mean(np.abs(pred - y) / y),
                     "final": 100 * (pred[-1] - y[-1]) / y[-1], "holds": bool(lo[0] <= y[-1] <= hi[0]),
                     "width": 100 * (hi[0] - lo[0]) / pred[-1]})
    return pd.DataFrame(rows)


def protocol(size: str, coverage: list) -> dict:
    c = curves(size)
    train = pd.concat([c[n].assign(run=n) for n in TRAIN], ignore_index=True)
    held = {n: g for n, g in c.items() if n not in TRAIN}
    print(f"== {size}M: MPL protocol, fitted on {' + '.join(TRAIN)}, {len(held)} held-out schedules")
    print(f"{'method':<34}{'mean MAPE %':>12}{'worst final %':>15}{'fit s':>8}")
    for name, (mape, final) in REFERENCE[size].items():
        print(f"{name + ' (reference)':<34}{mape:>12.3f}{'' if final is None else f'{final:>15.2f}':>15}")
    out = {}
    for law in ("annealing", "multipower", "auto"):
        t = time.perf_counter()
        result = scalelaw.fit(law, train)
        elapsed = time.perf_counter() - t
        table = score(result, held)
        label = law if law != "auto" else f"auto -> {result.options['auto']['chosen']}"
        print(f"{label:<34}{table['mape'].mean():>12.3f}{table['final'].abs().max():>15.3f}{elapsed:>8.1f}")
        out[law] = {"mean_mape": float(table["mape"].mean()), "worst_final": float(table["final"].abs().max()),
                    "curves": table.to_dict(orient="records")}
        if law == "auto":
            out[law]["chosen"] = result.options["auto"]["chosen"]
        if law == "auto":
            auto_table = table
            coverage.extend(table[["holds", "width"]].itertuples(index=False))
    mape, worst = auto_table["mape"].mean(), auto_table["final"].abs().max()
    print(f"auto: mean MAPE {mape:.3f} % (target <= {TARGET[size]}: {'met' if mape <= TARGET[size] else 'NOT met'}), "
          f"worst final-step error {worst:.3f} % (target <= 0.5: {'met' if worst <= 0.5 else 'NOT met'})")
    print(auto_table.round(3).to_string(index=False))
    print()
    return out


def early(coverage_refs: list, coverage_free: list) -> list:
    print("== early-run forecasts: law='auto' on the first part of a 72k-step run; final-loss error %, "
          "95 % interval, holds the truth")
    print(f"{'size':>5} {'run':<15}{'seen':>6}  {'no references':<40}{'with references (other size)':<40}")
    every = []
    for size in ("25", "100"):
        c, refs = curves(size), curves(OTHER[size])
        reference = pd.concat([refs[n].assign(run=f"{OTHER[size]}M {n}") for n in ("constant_72000", "cosine_72000")],
                              ignore_index=True)
        for run in ("constant_72000", "cosine_72000"):
            full = c[run]
            y, last = float(full["y"].iloc[-1]), int(full["step"].iloc[-1])
            cells = []
            for refs_given in (None, reference):
                for frac in FRACTIONS:
                    part = full[full["step"] <= frac * 72000]
                    result = scalelaw.fit("auto", part, references=refs_given)
                    pred = float(result.predict([last], log(full))[0])
                    lo, hi = (float(v[0]) for v in result.predict_interval([last], log(full)))
                    holds = lo <= y <= hi
                    miss = 0.0 if holds else 100 * min(abs(y - lo), abs(y - hi)) / y
                    cells.append((frac, refs_given is not None, 100 * (pred - y) / y, lo, hi, holds, miss,
                                  result.identified))
                    (coverage_refs if refs_given is not None else coverage_free).append((holds, 100 * (hi - lo) / pred))
                    every.append({"size": size, "run": run, "seen": frac, "references": refs_given is not None,
                                  "error": 100 * (pred - y) / y, "lo": lo, "hi": hi, "holds": bool(holds),
                                  "identified": bool(result.identified)})
            for frac in FRACTIONS:
                line = f"{size:>5} {run:<15}{int(100 * frac):>5}%  "
                for with_refs in (False, True):
                    frac_, _, err, lo, hi, holds, miss, ident = next(x for x in cells if x[0] == frac and x[1] == with_refs)
                    text = (f"{err:+6.2f} [{lo:.3f}, {hi:.3f}] {'yes' if holds else f'NO ({miss:.2f} % out)'}"
                            + ("" if ident else " unidentified"))
                    line += f"{text:<40}"
                print(line)
    print()
    return every


def summary(name: str, cells: list) -> dict:
    holds = np.array([h for h, _ in cells])
    widths = np.array([w for _, w in cells])
    print(f"{name:<46} coverage {holds.mean():.2f} ({holds.sum()}/{len(holds)}), median width "
          f"{np.median(widths):.2f} % of the loss")
    return {"coverage": float(holds.mean()), "inside": int(holds.sum()), "n": len(holds),
            "median_width": float(np.median(widths))}


def main() -> None:
    coverage, refs, free = [], [], []
    protocols = {size: protocol(size, coverage) for size in ("25", "100")}
    cells = early(refs, free)
    print("== 95 % interval coverage of held-out final losses (targets: >= 0.90, median width < 2 %)")
    cover = {"protocol": summary("MPL protocol, held-out schedules (auto)", coverage),
             "early with references": summary("early runs with references", refs),
             "early without references": summary("early runs without references", free)}
    save("bench_forecast", {"protocol": protocols, "early": cells, "coverage": cover}, ["data/multipower_law"])


if __name__ == "__main__":
    main()
