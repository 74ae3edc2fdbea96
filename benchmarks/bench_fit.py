"""Time of a power-law fit on 1,000 points and of 200 bootstrap refits, with baselines in the same run.

Baselines:
- fit: one lmfit ``Model.fit`` (least squares, one start, no grid) on the same data: the cheapest
  sensible fit, to show what the grid of starts and the robust loss cost.
- bootstrap: a refit from the full grid of starts for each resample (what a naive bootstrap does),
  timed on 20 resamples and compared per refit with our warm-started refits.

Run: python benchmarks/bench_fit.py
"""
import time

import lmfit
import numpy as np

import scalelaw
from scalelaw.laws.power import power_law


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e10, 1000)
    y = power_law({"x": x}, L_inf=1.7, x0=3e5, alpha=0.3) * np.exp(rng.normal(0, 0.01, x.size))
    data = {"x": x, "y": y}

    t_ours = best_of(lambda: scalelaw.fit("power", data))
    model = lmfit.Model(lambda x, L_inf, log10_x0, alpha: L_inf + (10**log10_x0 / x) ** alpha)
    params = model.make_params(L_inf=dict(value=1.0, min=0), log10_x0=dict(value=5.0), alpha=dict(value=0.5, min=1e-4))
    t_base = best_of(lambda: model.fit(y, params, x=x))
    print(f"fit, 1000 points:   scalelaw {t_ours * 1e3:8.1f} ms  "
          f"(30 L-BFGS-B starts + lmfit polish + covariance)")
    print(f"                    lmfit one-start least squares {t_base * 1e3:8.1f} ms  "
          f"ratio scalelaw/baseline {t_ours / t_base:.1f}x")

    t = time.perf_counter()
    result = scalelaw.fit("power", data, bootstrap=200, seed=0)
    t_boot = time.perf_counter() - t - t_ours
    per_ours = t_boot / 200
    resamples = [rng.integers(0, x.size, x.size) for _ in range(20)]
    t = time.perf_counter()
    for idx in resamples:
        scalelaw.fit("power", {"x": x[idx], "y": y[idx]})
    per_base = (time.perf_counter() - t) / len(resamples)
    print(f"bootstrap, 200 refits: scalelaw {t_boot:6.2f} s total, {per_ours * 1e3:6.1f} ms per refit "
          f"(warm start), {len(result.bootstrap_samples)} kept")
    print(f"                       full-grid refit {per_base * 1e3:6.1f} ms per refit (20 timed)  "
          f"speed-up {per_base / per_ours:.1f}x")


if __name__ == "__main__":
    main()
