"""The forecast suite: ``law="auto"`` and its intervals scored on many curve families.

A family is a set of runs that share a model and data and differ in their LR schedule:

- ``mpl25``, ``mpl100``, ``mpl400``: the curves of Luo et al. 2025 (``data/multipower_law``),
  one row every 128 steps; the 400M family has three runs;
- ``markov-w16`` ... ``stdlib-w64``: our trainer at widths 16, 32 and 64 on two corpora (an
  order-1 Markov source and the bytes of Python's standard library), eight schedules each
  (``data/generated/forecast``, made by ``scalelaw sweep forecast``), the held-out loss every
  25 steps;
- ``synth-annealing-*``, ``synth-multipower-*``: per-step logs drawn from each step law with
  known parameters and autocorrelated noise (``scalelaw.synthetic``), logged every 20 steps.

Tasks, each scored per family and over all:

1. protocol: fit the constant, cosine and step-decay runs, predict the family's other schedules
   from their LR (the multi-power-law paper's protocol; the 400M family fits two and predicts
   the third): mean MAPE and worst final-step error.
   Synthetic families are scored against their noise-free curves.
2. early: fit the first 10, 20, 40 and 60 % of a run, forecast its final loss: without
   references, and with finished runs of the other model sizes of the same data as
   references; the final-loss error, and whether the 95 % interval holds the truth.
3. coverage: the fraction of final losses inside their 95 % intervals, the median width and
   the worst miss (how far outside, percent of the loss).

Defaults that are learned from families (the early-run prior, ``scalelaw/priors``) are scored
leave-one-family-out: each family's forecasts use a prior learned on the other families.

Run: python benchmarks/forecast_suite.py [--families mpl25,markov-w32] [--tasks protocol,early]
     [--prior loo|none] [--save rows.csv] [--write-prior scalelaw/prior.json]   (about 5 CPU minutes)
"""
from __future__ import annotations

import argparse
import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import scalelaw
from scalelaw import prior as prior_module
from scalelaw import synthetic

ROOT = Path(__file__).resolve().parents[1]
MPL = ROOT / "data" / "multipower_law"
GENERATED = ROOT / "data" / "generated" / "forecast"
FRACTIONS = (0.1, 0.2, 0.4, 0.6)
PROVENANCE = ("benchmarks/forecast_suite.py --write-prior, {date}: the annealing law (warmup=peak) fitted on every "
              "run of each family together; q of each run whose LR fell by 30 % or more, at its last step. "
              "Families: {families}")
SCORED_FROM = 0.1  # MAPE from 10 % of a run's steps on (Luo et al.'s curves start there, after warmup)
# the trainer sweep's schedules by their short names (scalelaw/train/sweeps/forecast.toml)
TRAINER_SCHEDULES = {
    "constant-peak=5e-3-warmup=40": "constant",
    "cosine-peak=5e-3-warmup=40": "cosine",
    "cosine-peak=5e-3-warmup=40-final=5e-4": "cosine10",
    "cosine-peak=5e-3": "cosine_nowarmup",
    "wsd-peak=5e-3-warmup=40-decay=0.1": "wsd10",
    "wsd-peak=5e-3-warmup=40-decay=0.2": "wsd20",
    "wsd-peak=5e-3-warmup=40-decay=0.2-shape=sqrt": "wsd20sqrt",
    "multistep-peak=5e-3-warmup=40-milestones=600-900-gamma=0.3": "multistep",
}
# synthetic families: a law, its parameters at two "sizes", and schedules over 6000 steps
SYNTH_STEPS = 6000
SYNTH_SCHEDULES = {
    "constant": "constant:peak=1e-3,warmup=100",
    "cosine": "cosine:peak=1e-3,warmup=100",
    "cosine10": "cosine:peak=1e-3,warmup=100,final=1e-4",
    "wsd20": "wsd:peak=1e-3,warmup=100,decay=0.2",
    "wsd20sqrt": "wsd:peak=1e-3,warmup=100,decay=0.2,shape=sqrt",
    "multistep": "multistep:peak=1e-3,warmup=100,milestones=3000/4500,gamma=0.3",
}
SYNTH_PARAMS = {
    ("annealing", "a"): {"L0": 2.9, "A": 0.45, "alpha": 0.5, "C": 0.2},
    ("annealing", "b"): {"L0": 2.6, "A": 0.5, "alpha": 0.4, "C": 0.25},
    ("multipower", "a"): {"L0": 2.9, "A": 0.45, "alpha": 0.5, "B": 250.0, "C": 0.3, "beta": 0.6, "gamma": 0.5},
    ("multipower", "b"): {"L0": 2.6, "A": 0.5, "alpha": 0.4, "B": 300.0, "C": 0.3, "beta": 0.5, "gamma": 0.5},
}


@dataclass
class Family:
    """Runs (name -> frame with ``step``, ``lr``, ``y``) of one model on one dataset; ``group``:
    families of the same data at other sizes lend references; ``roles``: which run plays the
    constant, cosine and step-decay part of the protocol; ``targets``: the runs forecast early."""

    name: str
    group: str
    runs: dict[str, pd.DataFrame]
    roles: dict[str, str]
    targets: tuple[str, ...]
    kind: str = "real"
    truth: dict[str, np.ndarray] = field(default_factory=dict)

    def true(self, run: str) -> np.ndarray:
        """The loss to score against at each row of a run: logged (real), noise-free (synthetic)."""
        return self.truth[run] if run in self.truth else self.runs[run]["y"].to_numpy(float)

    def final(self, run: str) -> float:
        return float(self.true(run)[-1])


def _mpl(size: str) -> Family | None:
    folder = MPL / f"csv_{size}"
    if not folder.exists():
        return None
    runs = {p.stem: pd.read_csv(p).rename(columns={"loss": "y"}) for p in sorted(folder.glob("*.csv"))}
    targets = tuple(r for r in ("cosine_72000", "constant_72000") if r in runs) or ("cosine_24000", "constant_24000")
    return Family(f"mpl{size}", "mpl", runs, {"constant": "constant_24000", "cosine": "cosine_24000",
                                              "step": "wsdcon_9"}, targets)


def _trainer(corpus: str, width: int) -> Family | None:
    runs = {}
    for folder in sorted(GENERATED.glob(f"{corpus}-w{width}-*")):
        log = folder / "log.csv"
        if not log.exists() or not (folder / "run.json").exists():
            continue
        frame = pd.read_csv(log)
        if not json.loads((folder / "run.json").read_text()).get("complete"):
            continue  # still training
        frame = frame[frame["val_loss"].notna()]
        short = TRAINER_SCHEDULES[folder.name[len(f"{corpus}-w{width}-"):]]
        runs[short] = pd.DataFrame({"step": frame["step"], "lr": frame["lr"], "y": frame["val_loss"]})
    if len(runs) < len(TRAINER_SCHEDULES):
        return None
    return Family(f"{corpus}-w{width}", corpus, runs, {"constant": "constant", "cosine": "cosine", "step": "multistep"},
                  ("cosine", "constant", "wsd20"))


def _synthetic(law: str, size: str) -> Family:
    runs, truth = {}, {}
    for i, (name, spec) in enumerate(SYNTH_SCHEDULES.items()):
        log = synthetic.per_step_log(spec.replace("peak=", f"total={SYNTH_STEPS},peak="), SYNTH_PARAMS[law, size],
                                     law=law, start=4.85, tau=60.0, noise=0.01, rho=0.9,
                                     seed=zlib.crc32(f"{law} {size} {i}".encode()))
        log = log[log["step"] % 20 == 0]
        runs[name] = pd.DataFrame({"step": log["step"], "lr": log["lr"], "y": log["loss"]}).iloc[1:]
        truth[name] = log["true_loss"].to_numpy()[1:]
    return Family(f"synth-{law}-{size}", f"synth-{law}", runs,
                  {"constant": "constant", "cosine": "cosine", "step": "multistep"}, ("cosine", "constant", "wsd20"),
                  kind="synthetic", truth=truth)


def families() -> dict[str, Family]:
    found = [_mpl(s) for s in ("25", "100", "400")]
    found += [_trainer(c, w) for c in ("markov", "stdlib") for w in (16, 32, 64)]
    found += [_synthetic(law, s) for law in ("annealing", "multipower") for s in ("a", "b")]
    return {f.name: f for f in found if f is not None}


def _joined(family: Family, names) -> pd.DataFrame:
    return pd.concat([family.runs[n].assign(run=n) for n in names], ignore_index=True)


def _log(frame: pd.DataFrame):
    return frame["step"].to_numpy(), frame["lr"].to_numpy(float)


def _final_row(result, frame: pd.DataFrame, truth: float) -> dict:
    """The final-loss forecast scored against ``truth``; an answer the CLI refuses as outside the
    law's domain (``FitResult.unphysical``) counts as refused."""
    last = int(frame["step"].iloc[-1])
    pred = float(result.predict([last], _log(frame))[0])
    lo, hi = (float(v[0]) for v in result.predict_interval([last], _log(frame)))
    why = result.unphysical([pred], [lo], [hi], result.floor_beyond([last], _log(frame)))
    if why:
        return {"refused": why}
    miss = 0.0 if lo <= truth <= hi else 100 * min(abs(truth - lo), abs(truth - hi)) / truth
    return {"final": 100 * (pred - truth) / truth, "holds": lo <= truth <= hi, "width": 100 * (hi - lo) / pred,
            "miss": miss, "identified": result.identified}


def protocol(family: Family, prior=None) -> list[dict]:
    """Fit the constant, cosine and step-decay runs, predict the others (or, with three runs,
    fit two and predict the step-decay run)."""
    roles = family.roles
    train = [roles["constant"], roles["cosine"], roles["step"]]
    held = [r for r in family.runs if r not in train]
    if not held:
        train, held = train[:2], [roles["step"]]
    t = time.process_time()
    result = scalelaw.fit("auto", _joined(family, train), prior=prior)
    seconds = time.process_time() - t
    rows = []
    for run in held:
        g = family.runs[run]
        scored = (g["step"] >= SCORED_FROM * g["step"].iloc[-1]).to_numpy()
        g_all, g = g, g[scored]
        steps, y = g["step"].to_numpy(int), family.true(run)[scored]
        pred = result.predict(steps, _log(g_all))
        rows.append({"family": family.name, "task": "protocol", "run": run, "chosen": result.options["auto"]["chosen"],
                     "mape": 100 * float(np.mean(np.abs(pred - y) / y)), "cpu_s": seconds,
                     **_final_row(result, g_all, family.final(run))})
    return rows


def early(family: Family, references: pd.DataFrame | None, prior=None) -> list[dict]:
    """Fit the first part of each target run, forecast its final loss."""
    rows = []
    for run in family.targets:
        full = family.runs[run]
        first, last = int(full["step"].iloc[0]), int(full["step"].iloc[-1])
        for frac in FRACTIONS:
            part = full[full["step"] <= first + frac * (last - first)].assign(run=run)
            t = time.process_time()
            try:
                result = scalelaw.fit("auto", part, references=references, prior=prior)
            except scalelaw.InputError as exc:
                rows.append({"family": family.name, "task": "early", "run": run, "seen": frac,
                             "refs": references is not None, "refused": str(exc)})
                continue
            rows.append({"family": family.name, "task": "early", "run": run, "seen": frac,
                         "refs": references is not None, "cpu_s": time.process_time() - t,
                         "prior_used": bool(result.forecast.uses_prior),
                         **_final_row(result, full, family.final(run))})
    return rows


def measure(family: Family) -> dict:
    """What the prior learns from a family (``scalelaw.prior``): ``q`` of its decayed runs, and
    the late exponent's error, [reach, alpha of a part - alpha of the family], for the first 10,
    20, 40 and 60 % of each target run fitted with the family's decay term held."""
    runs = _joined(family, list(family.runs))
    full = scalelaw.fit(prior_module.LAW, runs, options=prior_module.OPTIONS, prior=None)
    if not full.identified:
        return {"q": [], "alpha": []}
    errors = []
    for run in family.targets:
        g = family.runs[run]
        first, last = int(g["step"].iloc[0]), int(g["step"].iloc[-1])
        s1_end = float(full.inputs([last], _log(g))["S1"][0])
        for frac in FRACTIONS:
            part = g[g["step"] <= first + frac * (last - first)].assign(run=run)
            try:
                r = scalelaw.fit(prior_module.LAW, part, options=prior_module.OPTIONS, prior=None,
                                 fixed={"C": full.params["C"]})
            except scalelaw.InputError:
                continue
            errors.append([s1_end / r.forecast.S1_max, r.params["alpha"] - full.params["alpha"]])
    return {"q": prior_module.family_q(full, runs), "alpha": errors}


def references_for(family: Family, every: dict[str, Family]) -> pd.DataFrame | None:
    """Finished constant and cosine runs of the other sizes of the same data."""
    others = [f for f in every.values() if f.group == family.group and f.name != family.name]
    if not others:
        return None
    return pd.concat([f.runs[f.roles[role]].assign(run=f"{f.name} {f.roles[role]}")
                      for f in others for role in ("constant", "cosine")], ignore_index=True)


def _coverage(rows: pd.DataFrame) -> str:
    if rows.empty or "holds" not in rows or rows["holds"].isna().all():
        return "-"
    ok = rows.dropna(subset=["holds"]).astype({"holds": bool})
    return (f"{ok['holds'].mean():.2f} ({int(ok['holds'].sum())}/{len(ok)}) at median width "
            f"{ok['width'].median():.2f} %, worst miss {ok['miss'].max():.2f} %, "
            f"mean |error| {ok['final'].abs().mean():.2f} %")


def report(table: pd.DataFrame) -> None:
    print("== per family")
    print(f"{'family':<22}{'protocol MAPE %':>16}{'worst final %':>14}   early (no refs) / (with refs): coverage")
    for name, g in table.groupby("family", sort=False):
        p = g[g["task"] == "protocol"]
        mape = f"{p['mape'].mean():.3f}" if len(p) else "-"
        worst = f"{p['final'].abs().max():.3f}" if len(p) else "-"
        e = g[g["task"] == "early"].astype({"refs": bool})
        print(f"{name:<22}{mape:>16}{worst:>14}   {_coverage(e[~e['refs']])}")
        print(f"{'':<52}{_coverage(e[e['refs']])}")
    print("\n== overall")
    p = table[table["task"] == "protocol"]
    if len(p):
        per_family = p.groupby("family", sort=False)["mape"].mean()
        print(f"protocol: mean MAPE over families {per_family.mean():.3f} % (target <= 0.15), "
              f"worst final {p['final'].abs().max():.3f} %; final 95 % intervals {_coverage(p)}")
    e = table[table["task"] == "early"]
    if e.empty:
        return
    e = e.astype({"refs": bool})
    refused = e["refused"].notna().sum() if "refused" in e else 0
    print(f"early runs, refused: {refused} of {len(e)}")
    for refs in (False, True):
        for frac in FRACTIONS:
            g = e[(e["refs"] == refs) & (e["seen"] == frac)]
            print(f"early {'with' if refs else 'without':>7} references, {int(100 * frac):>2} % seen: {_coverage(g)}")
        print(f"early {'with' if refs else 'without':>7} references, all: {_coverage(e[e['refs'] == refs])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", help="comma-separated family names (default: every family found)")
    parser.add_argument("--tasks", default="protocol,early", help="protocol, early")
    parser.add_argument("--save", help="write every scored row to this CSV")
    parser.add_argument("--prior", choices=("loo", "none"), default="loo",
                        help="loo: each family's forecasts use a prior learned on the others (default); none: no prior")
    parser.add_argument("--write-prior", help="learn the prior on every family and write it here "
                        "(the shipped one: scalelaw/prior.json)")
    args = parser.parse_args()
    every = families()
    chosen = args.families.split(",") if args.families else list(every)
    tasks = [t for t in args.tasks.split(",") if t]
    print(f"families: {', '.join(every)}")
    t = time.process_time()
    measured = {name: measure(f) for name, f in every.items()}
    learned = prior_module.combine(measured, PROVENANCE.format(date=time.strftime("%Y-%m-%d"),
                                                               families=", ".join(measured)))
    print(f"prior ({time.process_time() - t:.0f} CPU s): q {learned.q:.4f} (x/ {np.exp(learned.q_log_sd):.2f} "
          "for 1 sd); late exponent's error by reach: " + ", ".join(f"{r:.1f}x {sd:.3f}" for r, sd in zip(learned.reach, learned.alpha_sd)))
    print("  per family, median q: " + ", ".join(f"{k} {np.median(v['q']):.4f}" for k, v in measured.items() if v["q"]))
    if args.write_prior:
        prior_module.save(learned, args.write_prior)
        print(f"wrote {args.write_prior}")
    rows = []
    for name in chosen:
        family = every[name]
        prior = learned.without(name) if args.prior == "loo" else None  # leave this family out
        t = time.process_time()
        if "protocol" in tasks:
            rows += protocol(family, prior)
        if "early" in tasks:
            rows += early(family, None, prior)
            refs = references_for(family, every)
            if refs is not None:
                rows += early(family, refs, prior)
        print(f"  {name}: {time.process_time() - t:.0f} CPU s", flush=True)
    if not rows:
        return
    table = pd.DataFrame(rows)
    if "refused" not in table:
        table["refused"] = np.nan
    if args.save:
        table.to_csv(args.save, index=False)
    report(table)


if __name__ == "__main__":
    main()
