"""The curve families of the forecast suite (``forecast_suite.py``), and the frozen split of them
into tuning and test families (``forecast_split.json``).

A family is a set of runs that share a model and data and differ in their LR schedule:

- ``mpl25``, ``mpl100``, ``mpl400``: the curves of Luo et al. 2025 (``data/multipower_law``),
  one row every 128 steps; the 400M family has three runs;
- ``schaipp-<data>-<peak LR>``: the 124M runs of Schaipp et al. 2025 (``../shared/data/schaipp_124m``,
  skipped where absent): one family per data set and peak LR, WSD cooldowns of 10-99 %, cosine
  to 0 and to 10 %, constant LR, 15k to 200k steps, the validation loss every 200 steps;
- ``markov-w16`` ... ``stdlib-w64``: our trainer at widths 16, 32 and 64 on two corpora (an
  order-1 Markov source and the bytes of Python's standard library), eight schedules each
  (``data/generated/forecast``, made by ``scalelaw sweep forecast``), the held-out loss every
  25 steps;
- ``synth-annealing-*``, ``synth-multipower-*``: per-step logs drawn from each step law with
  known parameters and autocorrelated noise (``scalelaw.synthetic``), logged every 20 steps.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalelaw import synthetic

ROOT = Path(__file__).resolve().parents[1]
SCHAIPP = ROOT.parent / "shared" / "data" / "schaipp_124m"
SPLIT = Path(__file__).resolve().with_name("forecast_split.json")
MPL = ROOT / "data" / "multipower_law"
GENERATED = ROOT / "data" / "generated" / "forecast"
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
    constant, cosine and step-decay part of the protocol (None: no protocol); ``targets``: the
    runs forecast early; ``kind``: real (published LLM curves), trainer or synthetic; ``size``:
    the model's size (parameters, or the trainer's width), which groups references."""

    name: str
    group: str
    runs: dict[str, pd.DataFrame]
    roles: dict[str, str] | None
    targets: tuple[str, ...]
    kind: str = "real"
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    size: float = float("nan")

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
                                              "step": "wsdcon_9"}, targets, size=float(size) * 1e6)


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
                  ("cosine", "constant", "wsd20"), kind="trainer", size=float(width))


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
                  kind="synthetic", truth=truth, size={"a": 1.0, "b": 2.0}[size])


# Schaipp et al.'s runs: the targets forecast early in each family (prefix, steps, cooldown shape)
SCHAIPP_TARGETS = (("cos-zero-124m", 50000, "sqrt"), ("cos-10-124m", 50000, "sqrt"),
                   ("ann124-0.2", 50000, "linear"), ("stable-124m", 50000, "linear"),
                   ("extend-50k", 200000, "linear"))
SCHAIPP_DATA = {"slimpajama": "sp", "slimpajama_chunk1": "sp1"}


def _schaipp() -> list[Family]:
    """One family per data set and peak LR with three runs or more. A cooldown branched from a
    constant-LR run (its curve starts late) gets the stable run's curve before its first step:
    the stable run of its data and peak LR (``stable-124m``), or for the runs extended from a
    50k-step run (``extend-50k``) that run (prefix ``slimpajama``)."""
    if not (SCHAIPP / "runs.csv").exists():
        return []
    meta = pd.read_csv(SCHAIPP / "runs.csv").sort_values("run_id")
    curves = {rid: g.sort_values("step") for rid, g in pd.read_csv(SCHAIPP / "curves.csv.gz").groupby("run_id")}
    found = []
    for (data, peak), runs in meta.groupby(["dataset", "peak_lr"], sort=True):
        bases = runs[runs["prefix"].isin(["stable-124m", "slimpajama"])]
        base = curves[int(bases["run_id"].iloc[0])] if len(bases) else None
        family, targets = {}, []
        for row in runs.itertuples():
            g = curves[row.run_id]
            if g["step"].iloc[0] > 200:  # a branch: the stable run's curve up to its first step
                if base is None:
                    continue
                g = pd.concat([base[base["step"] < g["step"].iloc[0]], g])
            shape = row.decay_type_from_name if isinstance(row.decay_type_from_name, str) else "linear"
            name = f"{row.prefix}-{row.scheduler}-{row.iterations // 1000}k-{shape}-{row.run_id}"
            family[name] = pd.DataFrame({"step": g["step"].to_numpy(), "lr": g["lr"].to_numpy(),
                                         "y": g["val_loss"].to_numpy()})
            if (row.prefix, row.iterations, shape) in SCHAIPP_TARGETS and row.scheduler != "wsd_twostage" \
                    and not any(t.startswith(f"{row.prefix}-{row.scheduler}-{row.iterations // 1000}k-{shape}-")
                                for t in targets):
                targets.append(name)
        finals = np.array([f["y"].iloc[-1] for f in family.values()])
        if len(family) < 3 or not targets or finals.max() > 1.5 * finals.min():  # too few runs, or diverged
            continue
        name = f"schaipp-{SCHAIPP_DATA.get(data, data)}-lr{peak:g}"
        found.append(Family(name, name, family, None, tuple(targets), size=124e6))
    return found


def families() -> dict[str, Family]:
    found = [_mpl(s) for s in ("25", "100", "400")]
    found += [_trainer(c, w) for c in ("markov", "stdlib") for w in (16, 32, 64)]
    found += _schaipp()
    found += [_synthetic(law, s) for law in ("annealing", "multipower") for s in ("a", "b")]
    return {f.name: f for f in found if f is not None}


def split() -> dict:
    """The frozen split (``forecast_split.json``): ``tuning`` and ``test`` family names, the
    ``weight`` of each kind of family in what is learned, and the ``rule`` that made it."""
    return json.loads(SPLIT.read_text(encoding="utf-8"))


