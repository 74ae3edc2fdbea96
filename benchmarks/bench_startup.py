"""What a command pays to start (issue 28): CPU seconds of ``scalelaw --help``, of a small
``inspect`` and ``fit``, against importing every module the commands use (what each command
paid before the entry point parsed its arguments first). Side by side in one run; CPU time of
the child processes (user + system), median of ``--repeats``.

Run: python benchmarks/bench_startup.py [--repeats 5]   (writes results/startup.json)
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from measure import save  # noqa: E402

LOG = ROOT / "data" / "multipower_law" / "csv_400" / "cosine_24000.csv"


def cpu_seconds(argv: list[str], repeats: int, status: int = 0) -> float:
    """Median CPU seconds (user + system) of running ``argv``, which must exit with ``status``."""
    times = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(argv, capture_output=True, cwd=ROOT)
        if done.returncode != status:
            raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "p.csv"
        small.write_text("params,loss\n1e6,3.0\n1e7,2.6\n1e8,2.3\n1e9,2.1\n1e10,2.0\n")
        cases = {
            "import every module a command uses (the old start)": [py, "-c", "import scalelaw.cli, scalelaw.analysis"],
            "scalelaw --help": [py, "-m", "scalelaw", "--help"],
            "scalelaw fit --bad-flag (a usage error)": [py, "-m", "scalelaw", "fit", "--bad-flag"],
            "scalelaw inspect LOG": [py, "-m", "scalelaw", "inspect", str(LOG)],
            "scalelaw fit 5 points (power law)": [py, "-m", "scalelaw", "fit", str(small)],
        }
        base, out = None, {}
        print(f"CPU seconds, median of {args.repeats} (python {sys.version.split()[0]}, {os.cpu_count()} cores)")
        for name, argv in cases.items():
            seconds = cpu_seconds(argv, args.repeats, status=2 if "--bad-flag" in name else 0)
            base = seconds if base is None else base
            print(f"  {name:<55} {seconds:6.2f} s   {seconds / base:5.2f}x the old start")
            out[name] = seconds
    save("startup", {"repeats": args.repeats, "cores": os.cpu_count(), "cpu_s": out}, ["data/multipower_law/csv_400"])


if __name__ == "__main__":
    main()
