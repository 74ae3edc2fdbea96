"""Where a held-out refit starts (issue 39: one leave-one-out rule): from the fit on everything
(its optimum, one start) or from the law's own grid of starts (what a fit of the held-out data
alone would do, with nothing learned from the part it predicts).

- Size laws (``engine.HELD_OUT_START``): the scatter of a new run (``held_out["sigma"]``: each
  model size left out in turn) on the real families of ``new_run_suite.py``, and the fit's CPU
  seconds, each way, and a third: from the grid's one best start on the rest alone (no
  minimisation from the others: nothing leaks, at about a refit's cost).
- Step laws (``auto.FOLD_START``): ``auto``'s choice and weights come from its folds (each run
  left out, a forward split); scored by the forecast suite's protocol (``forecast_suite.protocol``:
  mean MAPE on the held-out schedules) on the families of ``forecast_split.json`` that have a
  protocol and a weight, tuning and test apart, and the fit's CPU seconds, each way.

    python benchmarks/bench_held_out_start.py    # about 15 CPU minutes; writes results/held_out_start.json
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import scalelaw  # noqa: E402
from scalelaw import auto, engine  # noqa: E402

import new_run_suite  # noqa: E402
from families import families, split as split_of  # noqa: E402
from forecast_suite import protocol  # noqa: E402
from measure import save  # noqa: E402

SIZE_FAMILIES = ("gemstones-chinchilla", "gemstones-power", "gemstones-downstream-hellaswag",
                 "gemstones-downstream-mmlu", "gadre-", "datablations-chinchilla", "chinchilla-points")
STARTS = {"size": ("full fit", "grid", "best start"), "step": ("grid", "full fit")}


def size_laws() -> dict:
    out = {}
    for name, (law, frame, options, _) in new_run_suite.families().items():
        if not any(name.startswith(p) for p in SIZE_FAMILIES):
            continue
        row = {}
        for start in STARTS["size"]:
            engine.HELD_OUT_START = start
            t = time.process_time()
            result = scalelaw.fit(law, frame.drop(columns="model"), options=options or None)
            row[start] = {"sigma": result.held_out.get("sigma"), "cpu_s": time.process_time() - t}
        engine.HELD_OUT_START = STARTS["size"][0]
        out[name] = row
        print(f"{name:<38}" + "  ".join(f"{s}: sigma {100 * r['sigma']:.3f} %, {r['cpu_s']:.2f} CPU s"
                                        for s, r in row.items()), flush=True)
    return out


def step_laws() -> dict:
    every, split = families(), split_of()
    out = {}
    for side in ("tuning", "test"):
        names = [n for n in split[side] if n in every and every[n].roles and split["weight"][every[n].kind] > 0]
        for start in STARTS["step"]:
            auto.FOLD_START = start
            per = {}
            for n in names:
                rows = protocol(every[n], prior=None)
                per[n] = {"mape": float(np.mean([r["mape"] for r in rows])), "cpu_s": rows[0]["cpu_s"]}
            auto.FOLD_START = STARTS["step"][0]
            w = np.array([split["weight"][every[n].kind] for n in names])
            out.setdefault(side, {})[start] = {
                "mean_mape": float(np.sum(w * [per[n]["mape"] for n in names]) / w.sum()),
                "cpu_s": float(sum(p["cpu_s"] for p in per.values())), "per_family": per}
            r = out[side][start]
            print(f"auto, {side} families, folds from the {start}: mean MAPE {r['mean_mape']:.4f} %, "
                  f"{r['cpu_s']:.0f} CPU s", flush=True)
    return out


def main() -> int:
    warnings.simplefilter("ignore")
    figures = {"size": size_laws(), "step": step_laws()}
    save("held_out_start", figures, [*new_run_suite.DATA, "data/multipower_law", "data/generated/forecast"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
