"""``scalelaw train`` and ``scalelaw sweep``: the command line over ``scalelaw.train`` (imported
only when one of them runs: the other commands need no torch)."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from .errors import EXIT_NOT_CONVERGED, InputError
from .report import format_sweep_status
from .result import dumps
from .train.config import TrainConfig


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    meta = train(config, args.out, resume=args.resume, progress=not args.quiet, threads=args.threads)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, process 0 reports
        return 0
    final = meta["final"]
    entropy = meta["corpus"]["entropy"]
    print(f"{args.out}: {final['step']} steps, {final['tokens']} tokens, final val loss {final['val_loss']:.4f}"
          + (f" (corpus entropy {entropy:.4f} nats/token)" if entropy is not None else "")
          + f"; {meta['parameters']['non_embedding']} non-embedding parameters")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .train.sweep import run_sweep, sweep_status

    if args.kind == "status":
        if args.path is None:
            raise InputError("sweep status: give the sweep folder: scalelaw sweep status DIR")
        rows = sweep_status(args.path)
        print(dumps({"sweep": str(args.path), "runs": rows}) if args.json else format_sweep_status(rows))
        return 0
    if (args.kind == "run") != (args.path is not None):
        raise InputError("sweep run takes a spec file (scalelaw sweep run SPEC.toml --out DIR); a predefined sweep "
                         "takes none")
    if args.out is None:
        raise InputError(f"sweep {args.kind}: give --out DIR")
    spec = args.path if args.kind == "run" else args.kind
    slurm = {"partition": args.slurm_partition, "time": args.slurm_time, "gpus_per_run": args.slurm_gpus_per_run,
             "cpus_per_run": args.slurm_cpus_per_run}
    summary = run_sweep(spec, args.out, args.executor, steps=args.steps, max_parallel=args.max_parallel, slurm=slurm,
                        threads=args.threads)
    print(summary.to_string(index=False))
    print(f"wrote {args.out / ('*' if args.kind == 'all' else '') / 'summary.csv'}")
    rows = [] if args.kind == "all" else sweep_status(args.out)
    failed = [r for r in rows if r["state"] != "done"]
    if failed:
        print(f"scalelaw: {len(failed)} run(s) did not complete: " + "; ".join(
            f"{r['run']}: {r.get('error', r['state'])}" for r in failed), file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return 0
