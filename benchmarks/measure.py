"""Helpers shared by the benchmarks: CPU peak memory of one call, a median time, the commit, and
the interval score."""
import statistics
import time


def peak_rise(fn):
    """Runs ``fn()`` and returns (its result, the rise in bytes of this process's peak resident
    set over its size before the call), with the peak reset through /proc/self/clear_refs."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak resident set to the current one
    before = _vm("VmRSS:")
    result = fn()
    return result, _vm("VmHWM:") - before


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn()``, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _vm(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field))


def commit() -> str:
    """The short hash of the checkout's HEAD, with ``+changes`` when the package differs from it."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    head = out.stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", "scalelaw"]).returncode
    return head + ("+changes" if dirty else "")


def winkler(lo, hi, y, alpha: float = 0.05):
    """The interval score of a central 1 - alpha interval (Winkler 1972; Gneiting and Raftery
    2007): its width, plus 2 / alpha times how far the truth lies outside it. Lower is better."""
    import numpy as np

    return (hi - lo) + (2 / alpha) * (np.maximum(lo - y, 0) + np.maximum(y - hi, 0))
