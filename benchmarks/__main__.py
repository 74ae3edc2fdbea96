"""Rerun the benchmarks whose results files the README and the docs quote.

    python -m benchmarks                 # every benchmark below (hours: the forecast suite is long)
    python -m benchmarks --quick         # the quick ones (a few minutes), as CI runs them
    python -m benchmarks isoflop downstream
    python -m benchmarks --list

Each benchmark is a script in ``benchmarks/`` that writes ``benchmarks/results/<name>.json`` (its
figures, the commit and the data it read; ``SCALELAW_RESULTS`` puts them elsewhere) and, for some,
a README block made from it. A benchmark that needs ``../shared/data`` says so; without it, it
skips what it cannot read (or is skipped, where it can read nothing).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"

# name -> (script and its arguments, the results files it writes, quick, needs ../shared/data
# for everything it does, about how long it takes on one core)
BENCHMARKS = {
    "isoflop": (["bench_isoflop.py"], ["isoflop"], True, False, "10 s"),
    "downstream": (["bench_downstream.py"], ["downstream"], True, False, "2 min"),
    "startup": (["bench_startup.py"], ["startup"], False, False, "1 min"),
    "batch_intervals": (["bench_batch_intervals.py"], ["batch_intervals"], False, False, "10 min"),
    "new_run_suite": (["new_run_suite.py"], ["new_run_suite"], False, False, "30 min"),
    "new_run_variants": (["new_run_suite.py", "--judge"], ["new_run_variants"], False, False, "10 min"),
    "bench_scale": (["bench_scale.py"], ["bench_scale"], False, False, "40 min"),
    "lr_speed": (["bench_lr_speed.py"], ["lr_speed"], False, False, "5 min"),
    "held_out_cost": (["bench_held_out.py"], ["held_out_cost"], False, False, "2 min"),
    "held_out_start": (["bench_held_out_start.py"], ["held_out_start"], False, False, "15 min"),
    "bench_forecast": (["bench_forecast.py"], ["bench_forecast"], False, False, "10 min"),
    "auto_constants": (["bench_auto_constants.py"], ["auto_constants"], False, False, "20 min"),
    "forecast_suite": (["forecast_suite.py"], ["forecast_suite"], False, True, "30 min"),
    "forecast_sweep": (["forecast_suite.py", "--sweep"], ["forecast_sweep"], False, True, "15 min"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all, or the quick ones with --quick)")
    parser.add_argument("--quick", action="store_true", help="only the quick benchmarks")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"python -m benchmarks: no benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if args.list:
        for name, (cmd, results, quick, shared, takes) in BENCHMARKS.items():
            print(f"{name:<18} {' '.join(cmd):<32} -> {', '.join(f'results/{r}.json' for r in results):<34} "
                  f"{takes:>7}{'  quick' if quick else ''}{'  needs ../shared/data' if shared else ''}")
        return 0
    names = args.names or [n for n, b in BENCHMARKS.items() if b[2] or not args.quick]
    failed = []
    for name in names:
        cmd, results, _, shared, _ = BENCHMARKS[name]
        if shared and not SHARED.exists():
            print(f"== {name}: skipped, it needs {SHARED}", flush=True)
            continue
        print(f"== {name}: python benchmarks/{' '.join(cmd)}", flush=True)
        start = time.perf_counter()
        rc = subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], cwd=HERE.parent, env=os.environ).returncode
        print(f"== {name}: exit {rc} after {time.perf_counter() - start:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"python -m benchmarks: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
