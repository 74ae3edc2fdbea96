"""What measuring a new run's scatter costs a size-law fit: CPU seconds of ``scalelaw.fit`` with
the refits that leave each model out (``engine._held_out``) against the same fit without them
(``engine.MIN_HELD_OUT`` raised past the number of models), side by side in one run; and a
power law over a long per-step log, its starts compared on bins against on every point.

    python benchmarks/bench_held_out.py [--repeats 3]     (writes results/held_out_cost.json)
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import scalelaw  # noqa: E402
from scalelaw import engine  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from measure import save  # noqa: E402


def cases():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e10, 80)
    power = pd.DataFrame({"x": x, "y": (1.7 + (1e7 / x) ** 0.3) * np.exp(rng.normal(0, 0.01, len(x)))})
    out = {"power, 80 rows (20 blocks left out)": ("power", power, None)}
    gem = ROOT / "data" / "gemstones" / "checkpoints.csv"
    if gem.exists():
        g = pd.read_csv(gem)
        out["chinchilla, Gemstones (665 checkpoints, 19 models)"] = (
            "chinchilla", pd.DataFrame({"run": g["run"], "N": g["params"], "D": g["tokens"], "y": g["loss_fineweb_edu"]}),
            None)
        out["downstream, Gemstones hellaswag (19 models)"] = (
            "downstream", pd.DataFrame({"run": g["run"], "x": g["loss_fineweb_edu"], "y": g["acc_hellaswag"]}),
            {"chance": 0.25})
    return out


def cpu_seconds(law, data, options, repeats):
    start = time.process_time()
    for _ in range(repeats):
        scalelaw.fit(law, data, options=options)
    return (time.process_time() - start) / repeats


def long_log(repeats) -> dict:
    """A power law over a 100,000-step log (x = step): the starts compared on log-spaced bins of
    x (``design.Sizes.binned``, the default above ``BINNED_ABOVE`` points) against on every point."""
    from scalelaw.laws import design

    rng = np.random.default_rng(1)
    x = np.arange(1, 100_001)
    data = pd.DataFrame({"x": x, "y": (2 + (300 / x) ** 0.4) * np.exp(rng.normal(0, 0.02, len(x)))})
    default = design.Sizes.BINNED_ABOVE
    binned = cpu_seconds("power", data, None, repeats)
    design.Sizes.BINNED_ABOVE = 10**9
    every = cpu_seconds("power", data, None, repeats)
    design.Sizes.BINNED_ABOVE = default
    print(f"{'power, 100,000-step log: starts on bins / on every point':<54}{binned:>10.3f}{every:>13.3f}"
          f"{binned / every:>8.2f}")
    return {"binned": binned, "every point": every}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    default = engine.MIN_HELD_OUT
    print(f"{'fit':<54}{'with (s)':>10}{'without (s)':>13}{'ratio':>8}")
    out = {}
    for name, (law, data, options) in cases().items():
        engine.MIN_HELD_OUT = default
        with_ = cpu_seconds(law, data, options, args.repeats)
        engine.MIN_HELD_OUT = 10**9
        without = cpu_seconds(law, data, options, args.repeats)
        print(f"{name:<54}{with_:>10.3f}{without:>13.3f}{with_ / without:>8.2f}")
        out[name] = {"with": with_, "without": without}
    engine.MIN_HELD_OUT = default
    save("held_out_cost", {"repeats": args.repeats, "cpu_s": out, "long_log": long_log(1)}, ["data/gemstones"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
