"""``scalelaw forecast``: a run's final loss from its log so far (``scalelaw.posterior``)."""
from __future__ import annotations

import argparse
import json

import numpy as np

from .errors import InputError
from .io import load_runs
from .schedules import from_log, parse


def cmd_forecast(args: argparse.Namespace) -> int:
    """Read the run (and references), check the schedule and steps, fit the posterior, print."""
    from . import posterior

    columns = {"step": args.step, "y": args.y, "lr": args.lr}
    run = load_runs(args.files, roles=("step", "y", "lr"), columns=columns, step_max=args.step_max)
    refs = load_runs(args.reference, roles=("step", "y", "lr"), columns=columns) if args.reference else None
    if args.schedule is not None:
        lr = parse(args.schedule)
    else:
        last = int(run["step"].max())
        if args.total <= last:
            raise InputError(f"--total {args.total}: the log already reaches step {last}; give a later last step")
        longest = run[run["run"] == run.groupby("run")["step"].max().idxmax()]
        lr = from_log(longest["step"].to_numpy(), longest["lr"].to_numpy(float), total=args.total)
    at = [len(lr) - 1] if args.at is None else [int(a) for a in args.at]
    if any(a != int(a) for a in (args.at or [])) or not all(0 <= a < len(lr) for a in at):
        raise InputError(f"--at: steps must be whole numbers within the schedule's 0..{len(lr) - 1}")
    post = posterior.fit(run, population=args.population or "default", references=refs, horizon=lr)
    mid, lo, hi = post.interval(at, lr, level=args.level)
    out = record(post, at, lr, mid, lo, hi, args.level)
    out["notes"] = [*run.attrs.get("notes", []), *(refs.attrs.get("notes", []) if refs is not None else [])]
    print(json.dumps(out) if args.json else text(out))
    return 0


def record(post, at, lr, mid, lo, hi, level: float) -> dict:
    """The ``--json`` object: the forecast at each step, where its width comes from, the posterior."""
    g = post.groups[0]
    end = post.parts([len(lr) - 1], lr)
    anneal = float(end["anneal"][0])
    source = "references" if len(post.groups) > 1 else "prior" if g.W_fit.max() == 0 and anneal > 0 else "run"
    return {"steps": at, "final": float(mid[-1]), "lo": float(lo[-1]), "hi": float(hi[-1]),
            "forecast": [float(v) for v in mid], "lower": [float(v) for v in lo], "upper": [float(v) for v in hi],
            "level": level, "from": source, "method": post.method, "laplace_ess": post.ess,
            "tails": {"scales": [c.scale for c in post.components], "weights": post.weights.tolist()},
            "seen": {"rows": int(len(g.y)), "reach": float(np.exp(end["reach"][0])),
                     "anneal_seen": float(g.W.max()), "noise": g.noise, "autocorrelation": g.rho},
            "params": post.params(), "z_sd": post.z_sd(), "references": [x.name for x in post.groups[1:]],
            "population": {"families": list(post.population.families), "provenance": post.population.provenance}}


SOURCES = {"run": "the run's own log and the population",
           "references": "the run, its references and the population",
           "prior": "the population: the run has not decayed its LR, so what decay buys is the population's"}


def text(out: dict) -> str:
    """The forecast in words."""
    pct = 100 * (out["hi"] - out["lo"]) / out["final"]
    lines = [f"forecast at step {out['steps'][-1]:,}: {out['final']:.4f}  "
             f"[{out['lo']:.4f}, {out['hi']:.4f}] ({100 * out['level']:g} %, {pct:.1f} % of the loss wide)"]
    for step, f, lo, hi in zip(out["steps"][:-1], out["forecast"], out["lower"], out["upper"]):
        lines.append(f"forecast at step {step:,}: {f:.4f}  [{lo:.4f}, {hi:.4f}]")
    seen = out["seen"]
    lines.append(f"from       {SOURCES[out['from']]}")
    lines.append(f"seen       {seen['rows']} rows; the forecast reaches {seen['reach']:.1f}x their LR area; "
                 f"{100 * seen['anneal_seen']:.0f} % of an anneal made")
    lines.append(f"posterior  {out['method']} (the Laplace draws keep {100 * out['laplace_ess']:.0f} % of their "
                 f"weight under the exact posterior; below 50 % it is sampled)")
    tails = out["tails"]
    if len(tails["scales"]) > 1:
        wide = sum(w for s, w in zip(tails["scales"], tails["weights"]) if s > 1)
        lines.append(f"tails      {100 * wide:.0f} % of the posterior on the population widened "
                     f"({', '.join(f'x{s:g}: {100 * w:.0f} %' for s, w in zip(tails['scales'], tails['weights']))})"
                     + ("; the run is unlike the population's runs, so its interval is wide" if wide > 0.5 else ""))
    n = len(out["population"]["families"])
    lines.append(f"population {n} curve families ({', '.join(out['population']['families'])})")
    lines += [f"note       {note}" for note in out.get("notes", [])]
    return "\n".join(lines)
