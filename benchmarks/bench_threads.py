"""Training threads on an idle and on a busy machine (issue 28): a 40-step width-32 run of
``scalelaw train`` with ``--threads`` 1, the default (``trainer.default_threads``) and every
core, first alone, then beside one CPU-bound process per core (a machine busy with other work).
Wall seconds of each, side by side in one run (on a busy machine wall time is what the user
waits; CPU time would hide the thrashing).

Run: python benchmarks/bench_threads.py [--steps 40] [--width 32]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scalelaw.train.trainer import default_threads

ROOT = Path(__file__).resolve().parents[1]


def run(threads: int, steps: int, width: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "scalelaw", "train", "--out", str(Path(tmp) / "run"), "--steps",
                        str(steps), "--width", str(width), "--quiet", "--threads", str(threads)],
                       check=True, capture_output=True, cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--width", type=int, default=32)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    choices = {"1 thread": 1, f"default ({default_threads()})": default_threads(), f"every core ({cores})": cores}
    print(f"{args.steps}-step width-{args.width} run, wall seconds ({cores} cores)")
    for busy in (False, True):
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores if busy else 0)]
        try:
            times = {name: run(n, args.steps, args.width) for name, n in choices.items()}
        finally:
            for h in hogs:
                h.kill()
        best = min(times.values())
        print(f"  {'busy (one CPU-bound process per core)' if busy else 'idle':<40}"
              + "   ".join(f"{name} {t:6.1f} s ({t / best:4.1f}x)" for name, t in times.items()))


if __name__ == "__main__":
    main()
