"""Held-out accuracy of the step laws on the curves of Luo et al. 2025 (shipped in data/).

For the 25M and 100M models: fit each law on constant_24000 + cosine_24000, predict the other
seven schedules from their logged LR, and print MAPE and final-step error per curve and law.
References (shared/data/README): the Tissue et al. recipe re-run gives 0.21 % (25M) and 0.18 %
(100M) mean held-out MAPE; the multi-power-law paper reports 0.11 % / 0.14 % (PredE).
Targets of issue 3: best law <= 0.15 % mean MAPE on both sizes, final-step errors <= 0.3 %.

Run: python benchmarks/bench_lr_laws.py
"""
import time
from pathlib import Path

import pandas as pd

import scalelaw
from scalelaw.report import format_comparison

DATA = Path(__file__).resolve().parents[1] / "data" / "multipower_law"
TRAIN = ("constant_24000", "cosine_24000")
REFERENCE = {"25": 0.21, "100": 0.18}


def main() -> None:
    for size in ("25", "100"):
        curves = {p.stem: scalelaw.load_runs(p, roles=("step", "y", "lr"))
                  for p in sorted((DATA / f"csv_{size}").glob("*.csv"))}
        train = pd.concat([curves[n].assign(run=n) for n in TRAIN], ignore_index=True)
        held = {name: g for name, g in curves.items() if name not in TRAIN}
        t = time.perf_counter()
        table = scalelaw.compare(["annealing", "multipower"], train, held)
        elapsed = time.perf_counter() - t
        best = table["best"]
        print(f"== {size}M: fitted on {' + '.join(TRAIN)}, {len(held)} held-out curves "
              f"(both fits and predictions: {elapsed:.1f} s)")
        print(format_comparison(table))
        print(f"reference (Tissue recipe re-run) {REFERENCE[size]:.2f} %; best law {best}: mean MAPE "
              f"{table['mean_mape'][best]:.3f} % (target <= 0.15: {'met' if table['mean_mape'][best] <= 0.15 else 'NOT met'}), "
              f"max final-step error {table['max_final_error'][best]:.3f} % (target <= 0.3: "
              f"{'met' if table['max_final_error'][best] <= 0.3 else 'NOT met'})\n")


if __name__ == "__main__":
    main()
