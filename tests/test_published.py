"""Every figure the README and the docs quote comes from a results file (issue 39): each quote
below is rendered from ``benchmarks/results/<name>.json`` and must appear in the text as
rendered, so a rerun that moves a figure fails here until the text says the new one. The blocks
made from a results file (between ``<!-- name: made from ... -->`` marks) are checked by their
benchmarks' own tests. The quick benchmarks are rerun (``python -m benchmarks --quick``) and
must reproduce the figures committed."""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

RESULTS = ROOT / "benchmarks" / "results"


def text() -> str:
    """The README and the docs' pages, whitespace collapsed."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return " ".join(" ".join(p.read_text().split()) for p in pages if p.exists())


def load(name: str) -> dict:
    path = ROOT / "scalelaw" / "prior.json" if name == "prior" else RESULTS / f"{name}.json"
    return json.loads(path.read_text())


def pct(x: float) -> float:
    return 100 * x


def downstream(r: dict) -> dict:
    chosen, sigmoid, weighted = r["chosen"], r["sigmoid"], r["chosen, stderr"]
    on_bound = [t for t, f in sigmoid["measured"]["fits"].items() if "a" in f["at_bounds"]]
    spread = r["stderr_spread"]
    hs = chosen["measured"]["fits"]["hellaswag"]["held_out_errors"]
    return {"r": r, "c": chosen, "s": sigmoid, "w": weighted, "not_result":
            [t for t, f in sigmoid["measured"]["fits"].items() if f["status"] not in ("converged", "at_bound")],
            "on_bound": len(on_bound), "se_max": pct(max(v["stderr"] for v in spread.values())),
            "rel_max": pct(max(v["relative"] for v in spread.values())),
            "rel_task": max(spread, key=lambda t: spread[t]["relative"]),
            "hs_exp": hs["downstream_exp"], "hs_sig": hs["downstream"],
            "hs_ck_exp": pct(r["checkpoints"]["hellaswag"]["downstream_exp"]),
            "hs_ck_sig": pct(r["checkpoints"]["hellaswag"]["downstream"]),
            "wt": {k: pct(v) for k, v in r["weights"].items()}}


def new_run_suite(r: dict) -> dict:
    rows = {(row["family"], row["scheme"]): row for row in r["rows"]}
    tasks = {f.split("-")[-1]: row["run_inside"] for (f, scheme), row in rows.items()
             if f.startswith("gemstones-downstream-") and scheme == "largest"}
    others = [v for t, v in tasks.items() if t not in ("hellaswag", "mmlu")]
    worst_11m = [max(row["by_model"][min(row["by_model"], key=float)]) for (f, scheme), row in rows.items()
                 if f.startswith("gadre-") and f.endswith("-chinchilla") and scheme == "each"]
    return {"t": {k: {**v, "run": pct(v["run_inside"]), "mean": pct(v["mean_inside"])} for k, v in r["totals"].items()},
            "hs": pct(tasks["hellaswag"]), "mmlu": pct(tasks["mmlu"]), "lo": pct(min(others)), "hi": pct(max(others)),
            "w_lo": pct(min(worst_11m)), "w_hi": pct(max(worst_11m)),
            "power_run": hits(r["totals"]["largest power"], "run_inside"),
            "power_mean": hits(r["totals"]["largest power"], "mean_inside")}


def hits(total: dict, key: str) -> int:
    return round(total[key] * total["points"])


def forecast_suite(r: dict) -> dict:
    real, test = r["summary"]["test, real LLM curves"], r["summary"]["test"]
    stdlib = [f for name, f in r["per_family"].items() if name.startswith("stdlib-")]
    mae = {refs: [f["bayes"][refs]["mean_abs_error"] for f in stdlib] for refs in ("alone", "with references")}
    early = [pct(test["bayes"]["alone"][seen]["coverage"]) for seen in ("0.1", "0.2", "0.4")]
    return {"rb": real["bayes"], "rt": real["today"],
            "ratio": real["today"]["alone"]["all"]["winkler"] / real["bayes"]["alone"]["all"]["winkler"],
            "cov_b": pct(real["bayes"]["alone"]["all"]["coverage"]), "cov_t": pct(real["today"]["alone"]["all"]["coverage"]),
            "s_lo": min(mae["alone"]), "s_hi": max(mae["alone"]), "r_lo": min(mae["with references"]),
            "r_hi": max(mae["with references"]),
            "s_in": sum(f["bayes"][k]["inside"] for f in stdlib for k in ("alone", "with references")),
            "s_n": sum(f["bayes"][k]["n"] for f in stdlib for k in ("alone", "with references")),
            "e_lo": min(early), "e_hi": max(early)}


def prior(r: dict) -> dict:
    """The shipped prior (scalelaw/prior.json, written by forecast_suite.py --write-prior): each
    family's geometric mean decay share."""
    import numpy as np

    q = {name: pct(float(np.exp(np.mean(np.log(f["q"]))))) for name, f in r["families"].items()}
    kind = {k: [v for name, v in q.items() if name.startswith(k)] for k in ("markov", "stdlib")}
    return {"q": q, "mean": pct(r["q"]), "spread": float(np.exp(r["q_log_sd"])), "n": len(r["families"]),
            "m_lo": min(kind["markov"]), "m_hi": max(kind["markov"]), "s_lo": min(kind["stdlib"]),
            "s_hi": max(kind["stdlib"]), "sd": r["alpha_sd"], "reach": r["reach"]}


def held_out_start(r: dict) -> dict:
    size, step = r["size"], r["step"]

    def close(a, b):
        return abs(a - b) <= 1e-3 * b

    grid = [v["grid"]["cpu_s"] / v["full fit"]["cpu_s"] for v in size.values()]
    best = [v["best start"]["cpu_s"] / v["full fit"]["cpu_s"] for v in size.values()]
    return {"n": len(size), "same": sum(close(v["full fit"]["sigma"], v["grid"]["sigma"]) for v in size.values()),
            "leak": {k: pct(v["sigma"]) for k, v in size["gadre-rw_original-chinchilla"].items()},
            "rpj": {k: pct(v["sigma"]) for k, v in size["gadre-rpj-power"].items()},
            "grid_lo": min(grid), "grid_hi": max(grid), "best_lo": min(best), "best_hi": max(best),
            "bad": sum(not close(v["best start"]["sigma"], v["grid"]["sigma"]) for v in size.values()),
            "tune": {k: v["mean_mape"] for k, v in step["tuning"].items()},
            "test": {k: v["mean_mape"] for k, v in step["test"].items()}}


def batch_intervals(r: dict) -> dict:
    import numpy as np

    runs = r["left_out"]
    mape, final = [v["mape"] for v in runs.values()], [v["final_error"] for v in runs.values()]
    alone = {w: pct(np.mean([v["inside_parameters"] for k, v in runs.items() if k.startswith(f"w{w}-")]))
             for w in (16, 32)}
    ratio = r["noise_ratio"]
    return {"m_lo": min(mape), "m_hi": max(mape), "f_lo": min(final), "f_hi": max(final), "alone": alone,
            "r_lo": min(min(v) for v in ratio.values()), "r_hi": max(max(v) for v in ratio.values()),
            "med": {w: float(np.median(v)) for w, v in ratio.items()}}


def held_out_cost(r: dict) -> dict:
    c, long = r["cpu_s"], r["long_log"]
    out = {k.split(",")[0] + (" gem" if "Gemstones" in k else ""): {**v, "ratio": v["with"] / v["without"]}
           for k, v in c.items()}
    return {"p": out["power"], "c": out["chinchilla gem"], "d": out["downstream gem"], "bin": long["binned"],
            "every": long["every point"], "lr": long["binned"] / long["every point"]}


def lr_speed(r: dict) -> dict:
    b, a, long = r["steps"]["before"], r["steps"]["after"], r["long_curves"]
    sec = {k: v["seconds"] for k, v in a.items()}
    mpl = "auto, 3 MPL 100M logs"
    return {"a": sec["auto, 3 MPL 100M logs"], "b": b[mpl]["seconds"], "r": b[mpl]["seconds"] / a[mpl]["seconds"],
            "one": sec["auto, one 34k-step log"], "ann": sec["annealing, two 34k-step logs"],
            "mp": sec["multipower, two 34k-step logs"], "L": long, "loop": long["plain_loop_s"] / long["annealing_s"],
            "mp_r": long["multipower_s"] / long["annealing_s"]}


QUOTES = {
    "isoflop": (lambda r: r, [
        "recovers the exponent {synthetic[truth]:.4f} as {synthetic[a]:.4f}",
        "the default 5 % tolerance makes {chinchilla[budgets]} budgets, {chinchilla[budgets_used]} of them with three "
        "or more sizes and an interior minimum, and gives `a = {chinchilla[a]:.3f}` (95 % interval "
        "{chinchilla[a_ci][0]:.3f} to {chinchilla[a_ci][1]:.3f})",
        "Approach 3 on all 245 points gives {chinchilla[approach3_a]:.3f} there",
    ]),
    "batch_intervals": (batch_intervals, [
        "each batch size's curve predicted from the other five: MAPE {m_lo:.1f} to {m_hi:.1f} % against the per-step "
        "training loss (the test bound is 2 %), final loss within {f_lo:.1f} to {f_hi:.1f} % of the mean of the last "
        "25 steps",
        "alone held a held-out batch size's smoothed curve only {alone[16]:.0f} % (width 16) and {alone[32]:.0f} % "
        "(width 32) of the time, on average over the six left out of each width",
        "`B_crit` at the final losses is {r_lo:.2f} to {r_hi:.2f} times the measured noise scale (median {med[w16]:.2f} "
        "at width 16, {med[w32]:.2f} at width 32",
    ]),
    "startup": (lambda r: {k.split(" (")[0].replace(" ", "_"): v for k, v in r["cpu_s"].items()}, [
        "`scalelaw --help` {scalelaw_--help:.2f} s (it parses its arguments before loading the fitting modules), "
        "`inspect` of a log {scalelaw_inspect_LOG:.2f} s, a 5-point power-law fit {scalelaw_fit_5_points:.2f} s",
        "against {import_every_module_a_command_uses:.2f} s for importing every module a command uses",
    ]),
    "held_out_cost": (held_out_cost, [
        "a power law on 80 points {p[with]:.2f} against {p[without]:.2f} s ({p[ratio]:.2f}x), chinchilla on Gemstones' "
        "665 checkpoints of 19 models {c[with]:.2f} against {c[without]:.2f} s ({c[ratio]:.2f}x), downstream on them "
        "{d[with]:.2f} against {d[without]:.2f} s ({d[ratio]:.2f}x)",
        "log-spaced bins of x, {bin:.1f} against {every:.1f} s on every point ({lr:.2f}x)",
    ]),
    "lr_speed": (lr_speed, [
        "`auto` on the three training logs of Luo et al.'s 100M model, {a:.1f} against {b:.1f} s ({r:.1f}x); `auto` on "
        "one per-step log of 33,908 steps from step 0, {one:.1f} s; annealing and multi-power on two such logs, "
        "{ann:.2f} and {mp:.2f} s",
        "the annealing fit {L[annealing_s]:.3f} s ({loop:.0f}x faster than the plain loop), the multi-power fit "
        "{L[multipower_s]:.2f} s ({mp_r:.1f}x the annealing fit, +{L[multipower_rise_mib]:.0f} MiB peak memory) and its "
        "interval at all 72,000 steps {L[interval_s]:.2f} s (+{L[interval_rise_mib]:.0f} MiB)",
    ]),
    "held_out_start": (held_out_start, [
        "size laws, {n} families: the scatter is the same either way in {same} of them; on Gadre et al.'s "
        "rw_original chinchilla the start from the full fit gives {leak[full fit]:.2f} % against the grid's "
        "{leak[grid]:.2f} % (it leaks); the grid costs {grid_lo:.0f}-{grid_hi:.0f} times the CPU",
        "costs {best_lo:.1f}-{best_hi:.1f} times as much as the full fit's",
        "but not on the {bad} power-law families, whose refits from one start miss the optimum (Gadre et al.'s rpj "
        "runs: {rpj[best start]:.2f} % against {rpj[grid]:.2f} %)",
        "MAPE of {tune[full fit]:.4f} % on the tuning families against the grid's {tune[grid]:.4f} % "
        "({test[full fit]:.4f} against {test[grid]:.4f} % on the test families)",
    ]),
    "prior": (prior, [
        "{q[mpl25]:.1f} % on Luo et al.'s 25M curves, {q[mpl100]:.1f} % at 100M, {q[mpl400]:.1f} % at 400M, "
        "{m_lo:.0f}-{m_hi:.0f} % on our Markov-source runs, {s_lo:.0f}-{s_hi:.0f} % on our byte-level text runs",
        "The prior is its geometric mean over {n} families, {mean:.1f} %, with a log-normal spread of x/ {spread:.1f}",
        "({sd[0]:.2f} at {reach[0]:.1f}x, {sd[2]:.2f} at {reach[2]:.1f}x, {sd[4]:.2f} at {reach[4]:.0f}x)",
    ]),
    "forecast_suite": (forecast_suite, [
        "the posterior's intervals hold {cov_b:.0f} % of the finals at a median width of "
        "{rb[alone][all][median_width]:.0f} % of the loss (today: {cov_t:.0f} % at {rt[alone][all][median_width]:.0f} %), "
        "and the interval score is {ratio:.1f} times better ({rb[alone][all][winkler]:.1f} % against "
        "{rt[alone][all][winkler]:.1f} %)",
        "from 10 % seen the intervals are {rb[alone][0.1][median_width]:.0f} % wide around errors of "
        "{rb[alone][0.1][mean_abs_error]:.0f} %",
        "the posterior is still a little worse than today's ({rb[with references][all][winkler]:.1f} % against "
        "{rt[with references][all][winkler]:.1f} %)",
        "the posterior's mean error is {s_lo:.0f}-{s_hi:.0f} % alone ({r_lo:.0f}-{r_hi:.0f} % with references)",
        "so {s_in} of these {s_n} finals are now inside",
        "they still bring the test families' coverage down to {e_lo:.0f}-{e_hi:.0f} %",
    ]),
    "new_run_suite": (new_run_suite, [
        "a new run's interval held {t[largest chinchilla][run]:.0f} % of the {t[largest chinchilla][points]} points of "
        "the largest models left out and {t[each chinchilla][run]:.0f} % of {t[each chinchilla][points]:,} points when "
        "each size was left out (the mean curve's: {t[largest chinchilla][mean]:.0f} % and {t[each chinchilla][mean]:.0f} %)",
        "over the power families, {power_run} of {t[largest power][points]} and {t[each power][run]:.0f} % "
        "of {t[each power][points]} (the mean curve's: {power_mean} of {t[largest power][points]} and "
        "{t[each power][mean]:.0f} %)",
        "the downstream intervals held {hs:.0f} % of HellaSwag's checkpoints and {mmlu:.0f} % of MMLU's (every other task "
        "{lo:.0f}-{hi:.0f} %)",
        "its worst run is missed by {w_lo:.0f}-{w_hi:.0f} % over the three data sets",
    ]),
    "downstream": (downstream, [
        "is off by {c[measured][mean_abs_error_points]:.2f} points on average over the 9 tasks",
        "with {c[measured][inside]} of {c[measured][points]} inside a new model's 95 % interval (median width "
        "{c[measured][median_width_points]:.1f} points; the mean curve's band held {c[measured][mean_curve_inside]} "
        "of {c[measured][points]})",
        "the error is {c[chain][mean_abs_error_points]:.2f} points (target <= 2.5), with {c[chain][inside]} of "
        "{c[chain][points]} inside (median width {c[chain][median_width_points]:.1f} points; the mean curves' band "
        "through both steps held {c[chain][mean_curve_inside]} of {c[chain][points]})",
        "The sigmoid alone: {s[measured][mean_abs_error_points]:.2f} points and {s[measured][inside]} of "
        "{s[measured][points]} from the measured loss, {s[chain][mean_abs_error_points]:.2f} points and "
        "{s[chain][inside]} of {s[chain][points]} through the chain",
        "{on_bound} of the other 8 put the ceiling at a perfect score, on its bound",
        "moved a synthetic sigmoid's parameters by up to {wt[lsq plain]:.0f} % unweighted and {wt[lsq weighted]:.1f} % "
        "weighted; the default Huber loss already makes far-off points count for little ({wt[huber plain]:.1f} % "
        "and {wt[huber weighted]:.1f} %)",
        "Within one Gemstones task the standard error varies by at most {se_max:.0f} % over the checkpoints",
        "and the relative standard error, which weights a point, by at most {rel_max:.0f} % ({rel_task},",
        "{w[measured][mean_abs_error_points]:.2f} points from the measured loss ({w[measured][inside]} of "
        "{w[measured][points]} inside) and {w[chain][mean_abs_error_points]:.2f} through the chain "
        "({w[chain][inside]} of {w[chain][points]})",
        "smaller error on models left out ({hs_exp:.1f} % against the sigmoid's {hs_sig:.1f} %)",
        "(median error {hs_ck_exp:.1f} % over those checkpoints, the sigmoid's {hs_ck_sig:.1f} %)",
    ]),
}


@pytest.mark.parametrize("name", sorted(QUOTES))
def test_the_text_quotes_each_results_file_as_it_stands(name):
    figures, quotes = QUOTES[name]
    values, page = figures(load(name)), text()
    missing = [q.format(**values) for q in quotes if q.format(**values) not in page]
    assert not missing, f"the text does not say what results/{name}.json does: {missing}"


def test_the_sigmoid_is_not_a_result_where_the_text_says_so():
    assert downstream(load("downstream"))["not_result"] == ["arc_challenge"]


def test_each_results_file_says_its_commit_and_data():
    for path in RESULTS.glob("*.json"):
        r = json.loads(path.read_text())
        assert re.fullmatch(r"[0-9a-f]{7,}(\+changes)?", r["commit"]), path.name
        assert r["data"], path.name


@pytest.mark.slow
def test_the_quick_benchmarks_reproduce_their_committed_figures(tmp_path):
    """``python -m benchmarks --quick`` (what CI reruns) writes the same figures as the results
    files committed, up to the last digits a platform may move."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.__main__ import BENCHMARKS

    env = dict(os.environ, SCALELAW_RESULTS=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    quick = [r for cmd, results, is_quick, shared, _ in BENCHMARKS.values() if is_quick for r in results]
    assert quick
    for name in quick:
        new, old = (json.loads(p.read_text()) for p in (tmp_path / f"{name}.json", RESULTS / f"{name}.json"))
        assert set(new) <= set(old), (name, set(new) - set(old))
        for key in new:  # without ../shared/data a benchmark leaves out what needs it
            if key not in ("commit", "data"):
                assert same(new[key], old[key]), (name, key, new[key], old[key])


def same(a, b) -> bool:
    """Equal, numbers to within a relative 1e-6 (nested dicts and lists compared item by item)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a == pytest.approx(b, rel=1e-6, abs=1e-9)
    return a == b


def test_the_size_law_table_is_made_from_its_results_file():
    """docs/size-laws.md's table of new-run intervals is ``new_run_suite.readme_table`` of
    results/new_run_suite.json, as written by a whole run."""
    from conftest import published_block

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import new_run_suite

    assert published_block(new_run_suite.README_MARK) == new_run_suite.readme_table(load("new_run_suite"))


def test_auto_uses_the_constants_its_sweep_chose_and_the_docs_show_the_sweep():
    """auto's FORWARD and MIN_WEIGHT are the ones bench_auto_constants.py chose on the tuning
    families; the forecast page's table of it is made from its results file."""
    from conftest import published_block
    from scalelaw import auto

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_auto_constants

    results = load("auto_constants")
    assert (auto.FORWARD, auto.MIN_WEIGHT) == (results["chosen"]["forward"], results["chosen"]["min_weight"])
    best = min(results["table"], key=lambda r: r["tuning"]["mean_mape"])
    assert (best["forward"], best["min_weight"]) == (auto.FORWARD, auto.MIN_WEIGHT)
    assert published_block(bench_auto_constants.README_MARK) == bench_auto_constants.readme_table(results)
