"""Fits at any log length (issue 35): CPU seconds and peak memory of ``scalelaw fit --law L`` on
per-step logs of 34k to 10M rows, and how a fit on a log's summary compares with one on every row.

1. Cost. Per-step logs as users write them (``scalelaw.synthetic.per_step_log``: a cosine from
   6e-4 to 6e-5 with an initial transient from step 0, 1 % noise; columns run, step, lr, loss,
   grad_norm, tokens), written to CSV: 34k and 200k steps in one run, 2M and 10M rows in 4 runs.
   Each fit is the whole command (reading the CSV included), in a process of its own; its CPU
   seconds (user + system) come from ``os.wait4``, its peak resident memory from its own VmHWM. The package
   before this issue (``BASELINE``, from git) runs the same commands beside it on the logs it can
   fit within ``BASELINE_UP_TO`` rows (on 2M rows its ``auto`` ran for over 5 minutes). Reading
   alone (``scalelaw.io.load_runs``) and one evaluation of the multi-power law over a 2M-step
   schedule at its summary's points are measured too.
2. Agreement. The same law fitted on a log's summary (``summarise=True``) and on every row
   (``summarise=False``): each parameter's difference in units of the full fit's standard
   error, and the forecast's centre and interval width at twice the run's length, under a cosine
   and a WSD schedule. On synthetic logs with known parameters (annealing and multi-power law,
   a cosine and a WSD run of 40k steps each, 1 % noise, warmup 500), on the 34k-step log, and on
   the trainer's own per-step logs shipped in ``data/generated/schedules`` (real minibatch noise).
   The real curves of published runs we hold log a validation loss every 200 steps or more
   sparsely: too few rows a bin to be summarised (``design.Schedule.SUMMARY_MIN_ROWS``).

Targets (issue 35): auto on 200k rows <= 10 CPU s; auto on 2M rows in 4 runs <= 45 CPU s and
<= 2 GB; annealing on 2M rows <= 10 CPU s; 10M rows: auto finishes within 4 GB; reading 2M rows
<= 2 s and 500 MB; summary against full fit: parameters within one standard error, forecasts
and interval widths within 2 %.

Writes ``benchmarks/results/bench_scale.json``. Run: python benchmarks/bench_scale.py [--quick]
(--quick: 34k and 200k rows only, no baseline; about a minute). The whole run takes about 10
minutes on 2 cores, and needs about 1.5 GB of disk for the logs (a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import scalelaw  # noqa: E402
from scalelaw.laws import design, get_law, summary  # noqa: E402
from scalelaw.synthetic import per_step_log  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from measure import RESULTS as RESULTS_DIR, commit as head, readme_marks  # noqa: E402

RESULTS = RESULTS_DIR / "bench_scale.json"

BASELINE = "696c05f"  # main before issue 35
BASELINE_UP_TO = 200_000  # rows: the baseline runs on logs up to this long
SIZES = {"34k": (34_000, 1), "200k": (200_000, 1), "2M": (2_000_000, 4), "10M": (10_000_000, 4)}
LAWS = ("annealing", "multipower", "auto")
TARGETS = {("auto", "200k"): (10.0, None), ("auto", "2M"): (45.0, 2048.0), ("annealing", "2M"): (10.0, None),
           ("auto", "10M"): (None, 4096.0)}
READ_TARGET = (2.0, 500.0)  # CPU s, MB for reading 2M rows
AGREE = {"se": 1.0, "forecast %": 2.0, "width %": 2.0}

WORKER = textwrap.dedent("""
    import atexit, os, sys

    def peak():  # this process's own peak resident memory (VmHWM: of its image since exec)
        with open("/proc/self/status") as fh, open(os.environ["BENCH_PEAK"], "w") as out:
            out.write(next(line.split()[1] for line in fh if line.startswith("VmHWM:")))

    atexit.register(peak)
    # the package under test is the one on PYTHONPATH: drop an editable install's import hook
    sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
    import scalelaw
    assert scalelaw.__file__.startswith(sys.argv[1]), scalelaw.__file__
    if sys.argv[2] == "read":
        from scalelaw.io import load_runs
        load_runs(sys.argv[3], roles=("step", "y", "lr"))
    else:
        from scalelaw.__main__ import main
        sys.exit(main(sys.argv[2:]))
""")


def run_measured(package: Path, args: list[str]) -> dict:
    """``args`` run by the package at ``package`` in a process of its own: its CPU seconds, peak
    memory (MB), exit status and, for a fit, its JSON's status and summary."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile() as peak:
        env = {"PYTHONPATH": str(package), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg",
               "BENCH_PEAK": peak.name}
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(package), *args], stdout=out,
                                stderr=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(proc.pid, 0)  # (its ru_maxrss would count the pages it forked with)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
        peak_kb = float(Path(peak.name).read_text() or "nan")
    row = {"cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": peak_kb / 1024, "rc": proc.returncode}
    if args[0] == "fit":
        try:
            fit = json.loads(text)
            row.update(status=fit["status"], binned=fit.get("binned"))
        except (ValueError, KeyError):
            row.update(status="no JSON")
    return row


def write_logs(folder: Path, sizes) -> dict[str, Path]:
    paths = {}
    for name, (rows, runs) in sizes.items():
        path = folder / f"log_{name}.csv"
        per_run = rows // runs
        parts = [per_step_log(f"cosine:peak=6e-4,total={per_run},final=6e-5", noise=0.01, seed=i, run=f"run{i}")
                 .drop(columns="true_loss") for i in range(runs)]
        frame = pd.concat(parts, ignore_index=True).assign(grad_norm=1.0)
        frame["tokens"] = frame["step"] * 524_288
        (frame if runs > 1 else frame.drop(columns="run")).to_csv(path, index=False)
        paths[name] = path
    return paths


def cost(paths: dict[str, Path], baseline: Path | None) -> list[dict]:
    rows = []
    for name, path in paths.items():
        for law in LAWS:
            ours = run_measured(ROOT, ["fit", str(path), "--law", law, "--json"])
            before = (run_measured(baseline, ["fit", str(path), "--law", law, "--json"])
                      if baseline is not None and SIZES[name][0] <= BASELINE_UP_TO else None)
            rows.append({"log": name, "rows": SIZES[name][0], "runs": SIZES[name][1], "law": law, "ours": ours,
                         "before": before})
            print(f"  {name:>5} {law:<11} {ours['cpu_s']:7.1f} CPU s {ours['peak_mb']:7.0f} MB  {ours.get('status')}"
                  + (f"   before: {before['cpu_s']:6.1f} CPU s {before['peak_mb']:6.0f} MB ({before['cpu_s'] / ours['cpu_s']:.1f}x)"
                     if before else ""), flush=True)
    return rows


def multipower_evaluation(steps: int = 2_000_000) -> dict:
    """CPU seconds of the multi-power law's inputs over a ``steps``-step cosine at its summary's
    points (each bin's mean step: about 330 points), and of one evaluation of the law there."""
    law = get_law("multipower")
    lr = scalelaw.schedules.parse(f"cosine:peak=6e-4,total={steps},final=6e-5")
    frame = pd.DataFrame({"run": "run", "step": np.arange(1, steps + 1), "y": 3.0, "lr": lr[1:]})
    points = summary.summarise_log(frame)["step"].to_numpy()
    t = time.process_time()
    inputs = law.features(lr, points, law.options)
    features = time.process_time() - t
    params = {"L0": 2.3, "A": 0.6, "alpha": 0.4, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.5}
    law(inputs, **params)  # the first call builds the law's entries
    repeats, t = 20, time.process_time()
    for i in range(repeats):
        law(inputs, **{**params, "C": 2.0 + 1e-3 * i})
    return {"steps": steps, "points": int(len(points)), "blocks": int(inputs["drop"].shape[1] - 4),
            "features_s": features, "evaluation_ms": 1e3 * (time.process_time() - t) / repeats}


# -- agreement -----------------------------------------------------------------------------------

MULTIPOWER_TRUE = {"L0": 2.3, "A": 0.6, "alpha": 0.4, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.5}
ANNEALING_TRUE = {"L0": 2.3, "A": 0.6, "alpha": 0.4, "C": 0.4}


def synthetic_pair(law: str, params: dict, steps: int = 40_000) -> pd.DataFrame:
    runs = [per_step_log(f"cosine:peak=6e-4,total={steps},final=6e-5,warmup=500", params, law=law, noise=0.01,
                         seed=1, run="cosine"),
            per_step_log(f"wsd:peak=6e-4,total={steps},final=0,decay=0.2,warmup=500", params, law=law, noise=0.01,
                         seed=2, run="wsd")]
    return pd.concat(runs, ignore_index=True).drop(columns="true_loss").rename(columns={"loss": "y"})


def trainer_logs() -> pd.DataFrame:
    """The trainer's own per-step logs shipped in ``data/generated/schedules`` (a Markov-source
    corpus, 1,200 steps under a constant, cosine, multistep and WSD schedule): real minibatch
    noise, short enough to fit in full."""
    parts = []
    for path in sorted((ROOT / "data" / "generated" / "schedules").glob("*/log.csv")):
        g = pd.read_csv(path)
        parts.append(pd.DataFrame({"run": path.parent.name, "step": g["step"], "lr": g["lr"], "y": g["loss"]}))
    frame = pd.concat(parts, ignore_index=True)
    return frame[frame["step"] > 0]


def agreement(name: str, law: str, data: pd.DataFrame) -> dict:
    """``law`` fitted on ``data``'s summary and on every row: parameters, forecasts, widths."""
    fits = {}
    for summarise in (False, True):
        t = time.process_time()
        fits[summarise] = scalelaw.fit(law, data, summarise=summarise)
        fits[summarise].options["cpu_s"] = time.process_time() - t
    full, binned = fits[False], fits[True]
    params = {}
    for k in full.params:
        se = full.stderr.get(k)
        params[k] = {"full": full.params[k], "summary": binned.params[k], "se": se,
                     "in_se": None if not se else (binned.params[k] - full.params[k]) / se}
    last = int(data["step"].max())
    peak = float(data["lr"].max())
    forecasts = {}
    for kind, spec in (("cosine", f"cosine:peak={peak:g},total={2 * last},final={peak / 10:g}"),
                       ("wsd", f"wsd:peak={peak:g},total={2 * last},final=0,decay=0.2")):
        (lo_f, hi_f), (lo_b, hi_b) = full.predict_interval([2 * last], spec), binned.predict_interval([2 * last], spec)
        c_f, c_b = float(full.predict([2 * last], spec)[0]), float(binned.predict([2 * last], spec)[0])
        w_f, w_b = float(hi_f[0] - lo_f[0]), float(hi_b[0] - lo_b[0])
        forecasts[kind] = {"full": c_f, "summary": c_b, "centre_%": 100 * (c_b - c_f) / c_f,
                           "width_full": w_f, "width_summary": w_b, "width_%": 100 * (w_b / w_f - 1)}
    scored = [abs(p["in_se"]) for p in params.values() if p["in_se"] is not None]
    return {"data": name, "law": law, "rows": int(binned.options.get("binned", {}).get("rows", len(data))),
            "bins": (binned.options.get("binned") or {}).get("bins"), "status": [full.status, binned.status],
            "cpu_s": [full.options["cpu_s"], binned.options["cpu_s"]], "params": params, "forecasts": forecasts,
            "worst_in_se": max(scored) if scored else None,
            "worst_centre_%": max(abs(f["centre_%"]) for f in forecasts.values()),
            "worst_width_%": max(abs(f["width_%"]) for f in forecasts.values())}


def agreements(quick: bool) -> list[dict]:
    cases = [("synthetic annealing, cosine + WSD 40k", "annealing", synthetic_pair("annealing", ANNEALING_TRUE)),
             ("synthetic multipower, cosine + WSD 40k", "multipower", synthetic_pair("multipower", MULTIPOWER_TRUE))]
    log = per_step_log("cosine:peak=6e-4,total=34000,final=6e-5", noise=0.01, seed=0).drop(columns="true_loss")
    cases.append(("per-step log 34k, transient", "annealing", log.rename(columns={"loss": "y"})))
    for law in ("annealing", "multipower"):
        cases.append(("trainer's logs, 4 schedules x 1,200 steps", law, trainer_logs()))
    rows = []
    for name, law, data in cases:
        row = agreement(name, law, data)
        rows.append(row)
        print(f"  {name:<42} {law:<11} {row['rows']:>7} rows -> {row['bins']} bins; worst |param diff| "
              f"{row['worst_in_se'] if row['worst_in_se'] is None else round(row['worst_in_se'], 2)} se; forecast "
              f"{row['worst_centre_%']:.3f} %; width {row['worst_width_%']:.2f} %  ({row['status'][0]}, {row['status'][1]})",
              flush=True)
    return rows


README_MARK = readme_marks("bench_scale")


def readme_table(results: dict) -> str:
    """The README's tables of this benchmark, made from its results file (the README test
    checks that the README holds them as made)."""
    lines = ["| log | law | CPU s | peak memory | before this issue |", "|---|---|---|---|---|"]
    for row in results["cost"]:
        ours, before = row["ours"], row["before"]
        log = f"{row['log']} rows" + (f" in {row['runs']} runs" if row["runs"] > 1 else "")
        lines.append(f"| {log} | `{row['law']}` | {ours['cpu_s']:.1f} | {ours['peak_mb']:.0f} MB | "
                     + (f"{before['cpu_s']:.1f} CPU s, {before['peak_mb']:.0f} MB |" if before else "not run |"))
    lines += ["", "| fitted on its summary against on every row | law | rows -> bins | largest parameter difference "
                  "| forecast | interval width |", "|---|---|---|---|---|---|"]
    for row in results["agreement"]:
        worst = "n/a" if row["worst_in_se"] is None else f"{row['worst_in_se']:.2f} se"
        lines.append(f"| {row['data']} | `{row['law']}` | {row['rows']:,} -> {row['bins']} | {worst} | "
                     f"{row['worst_centre_%']:.2f} % | {row['worst_width_%']:.1f} % |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="34k and 200k rows only, no baseline")
    args = parser.parse_args()
    sizes = {k: v for k, v in SIZES.items() if not args.quick or v[0] <= 200_000}
    commit = head()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("writing the logs ...", flush=True)
        paths = write_logs(tmp, sizes)
        baseline = None
        if not args.quick:
            baseline = tmp / "baseline"
            baseline.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "scalelaw"], capture_output=True,
                                     check=True)
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        print(f"cost of scalelaw fit LOG --law L --json (whole command), this tree ({commit}) "
              + ("" if baseline is None else f"and {BASELINE} (before issue 35) on logs up to {BASELINE_UP_TO} rows"))
        costs = cost(paths, baseline)
        reads = {name: run_measured(ROOT, ["read", str(path)]) for name, path in paths.items()}
    for name, r in reads.items():
        print(f"  reading {name:>5}: {r['cpu_s']:.2f} CPU s, {r['peak_mb']:.0f} MB (the process, imports included)")
    evaluation = multipower_evaluation()
    print(f"multi-power law over a {evaluation['steps']}-step cosine: inputs at its {evaluation['points']} summary "
          f"points ({evaluation['blocks']} blocks) in {evaluation['features_s']:.2f} CPU s; one evaluation "
          f"{evaluation['evaluation_ms']:.1f} ms")
    print("summary against every row (summarise=True / False):")
    agree = agreements(args.quick)

    verdicts = []
    for (law, log), (seconds, mb) in TARGETS.items():
        row = next((r for r in costs if r["law"] == law and r["log"] == log), None)
        if row is None:
            continue
        ok = (seconds is None or row["ours"]["cpu_s"] <= seconds) and (mb is None or row["ours"]["peak_mb"] <= mb) \
            and row["ours"]["rc"] in (0, 3)
        verdicts.append({"target": f"{law} on {log} rows" + (f" <= {seconds:g} CPU s" if seconds else "")
                         + (f" <= {mb:g} MB" if mb else ""), "measured": f"{row['ours']['cpu_s']:.1f} CPU s, "
                         f"{row['ours']['peak_mb']:.0f} MB", "met": bool(ok)})
    if "2M" in reads:
        r = reads["2M"]
        verdicts.append({"target": f"reading 2M rows <= {READ_TARGET[0]:g} CPU s, <= {READ_TARGET[1]:g} MB",
                         "measured": f"{r['cpu_s']:.2f} CPU s, {r['peak_mb']:.0f} MB",
                         "met": bool(r["cpu_s"] <= READ_TARGET[0] and r["peak_mb"] <= READ_TARGET[1])})
    for row in agree:
        ok = (row["worst_in_se"] is not None and row["worst_in_se"] <= AGREE["se"]
              and row["worst_centre_%"] <= AGREE["forecast %"] and row["worst_width_%"] <= AGREE["width %"])
        verdicts.append({"target": f"{row['data']} ({row['law']}): summary within 1 se, forecasts and widths "
                         "within 2 %", "measured": f"{row['worst_in_se'] if row['worst_in_se'] is None else round(row['worst_in_se'], 2)} se, "
                         f"{row['worst_centre_%']:.3f} %, {row['worst_width_%']:.2f} %", "met": bool(ok)})
    print("targets:")
    for v in verdicts:
        print(f"  {'met    ' if v['met'] else 'NOT met'}  {v['target']}: {v['measured']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "bench_scale", "commit": commit, "quick": args.quick, "baseline": BASELINE,
        "data": "synthetic per-step logs (scalelaw.synthetic.per_step_log, cosine, 1 % noise); "
                "data/generated/schedules/*/log.csv",
        "cost": costs, "read": reads, "multipower_evaluation": evaluation, "agreement": agree,
        "targets": verdicts,
        "summary_settings": {"run_above_rows": design.Schedule.SUMMARY_ABOVE,
                             "total_above_rows": design.Schedule.SUMMARY_TOTAL, "per_octave": summary.SUMMARY_PER_OCTAVE,
                             "lr_step": summary.SUMMARY_LR_STEP},
    }, indent=1, default=float) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
