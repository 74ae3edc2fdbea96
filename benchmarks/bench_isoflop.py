"""isoFLOP analysis (Chinchilla's approach 2) on a known surface and on Chinchilla's own runs: the
figures the "isoFLOP analysis" section of docs/size-laws.md quotes.

- ``synthetic``: Chinchilla's surface (E 1.8, A 450, B 2000, alpha 0.34, beta 0.37) sampled at 5
  budgets from 1e18 to 1e22 FLOPs, 7 sizes each over 0.1-10 times the optimum, 0.2 % noise: the
  true exponent ``a = beta / (alpha + beta)`` and the one found.
- ``chinchilla``: the 245 points Besiroglu et al. read off Hoffmann et al.'s Figure 4
  (``../shared/data/chinchilla_epoch``, not shipped; skipped without it), at the default
  budget tolerance: the budgets made and used, ``a`` with its 95 % interval, and approach 3's.

    python benchmarks/bench_isoflop.py     # a few seconds; writes results/isoflop.json
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from scalelaw.analysis import isoflop  # noqa: E402
from scalelaw.synthetic import isoflop_runs  # noqa: E402

from measure import save  # noqa: E402

TRUTH = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
POINTS = ROOT.parent / "shared" / "data" / "chinchilla_epoch" / "svg_extracted_data.csv"


def summary(out: dict) -> dict:
    return {"a": out["n_opt_exponent"], "a_ci": list(out["n_opt_exponent_ci"]), "budgets": len(out["budgets"]),
            "budgets_used": sum(b["interior"] for b in out["budgets"]),
            "approach3_a": out["approach3"]["n_opt_exponent"]}


def main() -> int:
    figures = {"synthetic": {"truth": TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"]), **summary(isoflop(isoflop_runs(TRUTH)))}}
    data = ["scalelaw.synthetic.isoflop_runs (a known surface)"]
    if POINTS.exists():
        c = pd.read_csv(POINTS)
        figures["chinchilla"] = summary(isoflop(pd.DataFrame({"N": c["Model Size"], "C": c["Training FLOP"],
                                                               "y": c["loss"]})))
        data.append("../shared/data/chinchilla_epoch")
    for name, f in figures.items():
        print(f"{name}: a = {f['a']:.4f} ({f['a_ci'][0]:.3f} to {f['a_ci'][1]:.3f}) from {f['budgets_used']} of "
              f"{f['budgets']} budgets; approach 3: {f['approach3_a']:.3f}")
    save("isoflop", figures, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
