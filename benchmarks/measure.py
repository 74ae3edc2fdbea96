"""Helpers shared by the benchmarks: CPU peak memory of one call, a median time, the commit, the
interval score, and the two ways a benchmark publishes: its results file
(``benchmarks/results/<name>.json``) and a README block made from it."""
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("SCALELAW_RESULTS") or ROOT / "benchmarks" / "results")  # where results are written


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


def save(name: str, figures: dict, data: list[str]) -> Path:
    """Write ``benchmarks/results/<name>.json``: the benchmark's figures, the commit they were
    measured on (``commit``) and the data it read (paths relative to the repository; ``../shared``
    where it needs the shared data)."""
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, "commit": commit(), "data": data, **figures},
                               indent=1, default=float) + "\n")
    print(f"wrote {path}")
    return path


def load(name: str) -> dict:
    """The figures of ``benchmarks/results/<name>.json``."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def readme_marks(name: str) -> tuple[str, str]:
    """The two comments between which a page (README or docs) holds a block made from results/<name>.json."""
    return f"<!-- {name}: made from benchmarks/results/{name}.json -->", f"<!-- /{name} -->"


def readme_block(text: str, marks: tuple[str, str]) -> str:
    """What a text holds between ``marks`` (without them or the newlines beside them)."""
    start, end = text.index(marks[0]) + len(marks[0]), text.index(marks[1])
    return text[start:end].strip("\n")


def pages() -> list[Path]:
    """The published text: the README and the documentation's pages."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def page_with(marks: tuple[str, str]) -> Path:
    """The page (README or docs) that holds the block between ``marks``."""
    found = [p for p in pages() if marks[0] in p.read_text()]
    if len(found) != 1:
        raise LookupError(f"{marks[0]} is in {len(found)} pages, not one")
    return found[0]


def write_readme_block(marks: tuple[str, str], body: str) -> None:
    """Put ``body`` between ``marks`` in the page that holds them."""
    path = page_with(marks)
    text = path.read_text()
    start, end = text.index(marks[0]) + len(marks[0]), text.index(marks[1])
    path.write_text(text[:start] + "\n" + body + "\n" + text[end:])
    print(f"wrote the block {marks[0]} of {path.relative_to(ROOT)}")
