"""Speed of the step-law fits (issue 23), against the code before issue 23 measured in the same run.

Workloads (CPU seconds of the fit alone, best of ``REPEATS``):

1. ``law="auto"`` on the three training logs of Luo et al.'s 100M model (constant_24000,
   cosine_24000, wsdcon_9: 451 points), as the MPL protocol fits them;
2. ``law="auto"`` on one per-step log of 33,908 steps from step 0 (no warmup, loss 10.4 -> 2.5,
   1.5 % noise: ``scalelaw.synthetic.per_step_log``), cosine to 10 %;
3. ``annealing`` and ``multipower`` on two such logs (cosine and constant).

The baseline is the package at ``BASELINE`` (the commit before issue 23), extracted from this
repository's history with ``git archive`` and run in a subprocess on the same files; ours runs
in another subprocess, so both pay the same imports. The baseline refuses the per-step logs
("not a result": its R2 counts the initial transient) but its time is still what a user waited.

Targets (quiet 2-core machine): (1) <= 5 CPU s; (2) <= 10 CPU s; annealing on two logs <= 1 s.

Then the earlier issues' figures (issues 3 and 13):

Speed of the annealing-law fit on two per-step curves of 72,000 steps each (144,000 points),
and of the multi-power law on the same curves.

Ours: ``scalelaw.fit("annealing", ...)``: S1/S2 for all steps at once (cumsum, lfilter), the
exact Jacobian, trust-region least squares from the best of 10 starts, covariance.
Baseline, measured in the same run: the same recipe written plainly, as in reference code:
S1 and S2 by a Python loop over steps, then Huber(1e-3) on log residuals minimised by
L-BFGS-B with finite-difference gradients from every one of the same 10 starts.
Target of issue 3: ours under 0.5 s and at least 10x faster than the baseline.

Multi-power law (issue 13): the same two curves, fitted in under 10x the annealing law's time
with a peak memory rise under 1 GB; and its prediction with a 95 % interval at all 72,000
steps of the cosine run, within the same memory.

Run: python benchmarks/bench_lr_speed.py   (about 3 minutes; writes results/lr_speed.json)
"""
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special

import scalelaw
from scalelaw import schedules
from scalelaw.laws.annealing import ANNEALING, areas
from scalelaw.synthetic import per_step_log

from measure import peak_rise, save

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "69e7588"  # main before issue 23
REPEATS = 2
MPL = [ROOT / "data" / "multipower_law" / "csv_100" / f"{n}.csv" for n in ("constant_24000", "cosine_24000", "wsdcon_9")]
TARGETS = {"auto, 3 MPL 100M logs": 5.0, "auto, one 34k-step log": 10.0, "annealing, two 34k-step logs": 1.0}

WORKER = textwrap.dedent("""
    import json, sys, time
    # the package under test is the one on PYTHONPATH: drop an editable install's import hook
    sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
    import scalelaw
    assert scalelaw.__file__.startswith(sys.argv[2]), scalelaw.__file__
    from scalelaw.io import load_runs
    mpl, cosine, constant, repeats = json.loads(sys.argv[1])

    def cpu(law, paths):
        data = load_runs(paths, roles=("step", "y", "lr"))
        best, status = None, None
        for _ in range(repeats):
            t = time.process_time()
            result = scalelaw.fit(law, data)
            elapsed = time.process_time() - t
            best, status = min(elapsed, best or elapsed), result.status
        return {"seconds": best, "status": status}

    scalelaw.fit("annealing", load_runs(mpl[:1], roles=("step", "y", "lr")))  # warm imports and caches
    print(json.dumps({
        "auto, 3 MPL 100M logs": cpu("auto", mpl),
        "auto, one 34k-step log": cpu("auto", [cosine]),
        "annealing, two 34k-step logs": cpu("annealing", [cosine, constant]),
        "multipower, two 34k-step logs": cpu("multipower", [cosine, constant]),
    }))
""")


def measure(package_root: Path, files: list) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER, json.dumps(files), str(package_root)], capture_output=True,
                         text=True, cwd=tempfile.gettempdir(),  # not the checkout: "" on sys.path is the cwd
                         env={"PYTHONPATH": str(package_root), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
                         check=False)
    if out.returncode:
        raise SystemExit(f"the workloads failed under {package_root}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def side_by_side() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        logs = []
        for name, spec, seed in (("cosine", "cosine:peak=6e-4,total=33908,final=6e-5", 1),
                                 ("constant", "constant:peak=6e-4,total=33908", 2)):
            logs.append(tmp / f"{name}.csv")
            per_step_log(spec, seed=seed).drop(columns=["run", "true_loss"]).to_csv(logs[-1], index=False)
        files = [[str(p) for p in MPL], str(logs[0]), str(logs[1]), REPEATS]
        base = tmp / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "scalelaw"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        before, after = measure(base, files), measure(ROOT, files)

    print(f"step-law fits, CPU seconds (best of {REPEATS}), this tree against {BASELINE} (before issue 23), "
          "measured side by side in this run")
    print(f"{'workload':<32}{'before':>9}{'after':>9}{'ratio':>8}  {'status before -> after':<34}target")
    for name in after:
        b, a = before[name], after[name]
        target = TARGETS.get(name)
        verdict = "" if target is None else f"<= {target:g} s: {'met' if a['seconds'] <= target else 'NOT met'}"
        print(f"{name:<32}{b['seconds']:>9.2f}{a['seconds']:>9.2f}{b['seconds'] / a['seconds']:>7.1f}x  "
              f"{b['status'] + ' -> ' + a['status']:<34}{verdict}")
    return {"baseline": BASELINE, "before": before, "after": after}


TRUE = {"L0": 3.0, "A": 0.5, "alpha": 0.55, "C": 0.4}
SPECS = {"constant": "constant:peak=3e-4,total=72000,warmup=1000",
         "cosine": "cosine:peak=3e-4,total=72000,warmup=1000,final=3e-5"}


def make_curves(rng) -> pd.DataFrame:
    frames = []
    for name, spec in SPECS.items():
        lr = schedules.parse(spec)
        steps = np.arange(1, len(lr))
        y = ANNEALING(areas(lr, steps, ANNEALING.options), **TRUE) * np.exp(rng.normal(0, 2e-3, len(steps)))
        frames.append(pd.DataFrame({"run": name, "step": steps, "y": y}))
    return pd.concat(frames, ignore_index=True)


def loop_areas(lr, decay=0.999):
    """S1, S2 for every step by a Python loop (warmup held at peak)."""
    peak_at = int(np.argmax(lr))
    eta = [lr[peak_at] if i < peak_at else lr[i] for i in range(len(lr))]
    s1, s2, m, a1, a2 = [0.0], [0.0], 0.0, 0.0, 0.0
    for i in range(1, len(eta)):
        a1 += eta[i]
        m = decay * m + (eta[i - 1] - eta[i])
        a2 += m
        s1.append(a1)
        s2.append(a2)
    return np.array(s1), np.array(s2)


def baseline_fit(data: pd.DataFrame) -> np.ndarray:
    S1, S2, y = [], [], []
    for name, g in data.groupby("run", sort=False):
        s1, s2 = loop_areas(schedules.parse(SPECS[name]))
        steps = g["step"].to_numpy()
        S1.append(s1[steps]), S2.append(s2[steps]), y.append(g["y"].to_numpy())
    S1, S2, y = map(np.concatenate, (S1, S2, y))

    def objective(p):
        with np.errstate(all="ignore"):
            r = np.log(np.clip(p[0] + p[1] * S1 ** -p[2] - p[3] * S2, 1e-300, None)) - np.log(y)
        value = special.huber(1e-3, r).sum()
        return value if np.isfinite(value) else 1e300

    bounds = [(0, None), (0, None), (1e-3, 5), (0, None)]
    X = {"S1": S1, "S2": S2}
    starts = [[s["L0"], s["A"], s["alpha"], s["C"]] for s in ANNEALING.starts(X, y)]
    results = [optimize.minimize(objective, s, method="L-BFGS-B", bounds=bounds) for s in starts]
    return min(results, key=lambda r: r.fun).x


def earlier_targets() -> dict:
    data = make_curves(np.random.default_rng(0))
    specs = {name: spec for name, spec in SPECS.items()}
    scalelaw.fit("annealing", data.iloc[:5000], schedules=specs)  # warm imports and caches
    ours = []
    for _ in range(3):
        t = time.perf_counter()
        result = scalelaw.fit("annealing", data, schedules=specs)
        ours.append(time.perf_counter() - t)
    t = time.perf_counter()
    base = baseline_fit(data)
    base_time = time.perf_counter() - t
    t = time.perf_counter()
    loop_areas(schedules.parse(SPECS["cosine"]))
    area_loop = time.perf_counter() - t
    t = time.perf_counter()
    areas(schedules.parse(SPECS["cosine"]), np.arange(1, 72001), ANNEALING.options)
    area_vec = time.perf_counter() - t

    print(f"annealing law, {len(data):,} points (2 curves x 72,000 steps), noise 0.2 %")
    print(f"  scalelaw.fit: {min(ours):.3f} s (best of 3; runs {', '.join(f'{x:.3f}' for x in ours)}), "
          f"converged={result.converged}; target < 0.5 s: {'met' if min(ours) < 0.5 else 'NOT met'}")
    print(f"  plain-loop baseline: {base_time:.2f} s  -> ratio {base_time / min(ours):.1f}x "
          f"(target >= 10x: {'met' if base_time / min(ours) >= 10 else 'NOT met'})")
    print(f"  areas of one 72k-step schedule: loop {1e3 * area_loop:.1f} ms, vectorised "
          f"{1e3 * area_vec:.2f} ms ({area_loop / area_vec:.0f}x)")
    print("  parameters (true / ours / baseline):")
    for i, name in enumerate(ANNEALING.param_names):
        print(f"    {name:>6}  {TRUE[name]:.4f}  {result.params[name]:.4f}  {base[i]:.4f}")

    with_lr = data.assign(lr=np.concatenate([schedules.parse(SPECS[n])[1:] for n in SPECS]))
    multi, times = None, []
    for _ in range(3):
        t = time.perf_counter()
        multi, rise = peak_rise(lambda: scalelaw.fit("multipower", with_lr))
        times.append(time.perf_counter() - t)
    ratio = min(times) / min(ours)
    points = (f"on their summary, {multi.options['binned']['bins']} bins" if "binned" in multi.options
              else f"each averaged to {multi.law.max_points} points")
    print(f"multi-power law on the same curves ({points}; the LR of "
          f"every step): {min(times):.2f} s (best of 3), {ratio:.1f}x the annealing fit "
          f"(target < 10x: {'met' if ratio < 10 else 'NOT met'}); peak memory rise {rise / 2**20:.0f} MiB "
          f"(target < 1 GB: {'met' if rise < 2**30 else 'NOT met'}); status {multi.status}")
    cosine = schedules.parse(SPECS["cosine"])
    steps = np.arange(1, len(cosine))
    t = time.perf_counter()
    (lo, hi), interval_rise = peak_rise(lambda: multi.predict_interval(steps, cosine))
    interval_s = time.perf_counter() - t
    print(f"  its 95 % interval at all {len(steps):,} steps of the cosine run: {interval_s:.2f} s, "
          f"peak memory rise {interval_rise / 2**20:.0f} MiB")
    return {"annealing_s": min(ours), "plain_loop_s": base_time, "multipower_s": min(times),
            "multipower_rise_mib": rise / 2**20, "interval_s": interval_s, "interval_rise_mib": interval_rise / 2**20}



def main() -> None:
    figures = {"steps": side_by_side()}
    print()
    figures["long_curves"] = earlier_targets()
    save("lr_speed", figures, ["data/multipower_law/csv_100", "scalelaw.synthetic.per_step_log"])


if __name__ == "__main__":
    main()
