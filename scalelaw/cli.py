"""The ``scalelaw`` command line: a thin layer over the Python API.

Exit status: 0 success, 2 bad input (one line on stderr, nothing written), 3 the fit did not
converge (report printed, nothing saved).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .errors import InputError
from .engine import FitResult, fit
from .io import load_runs
from .laws import available_laws, get_law

EXIT_INPUT, EXIT_NOT_CONVERGED = 2, 3


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scalelaw", description="Fit scaling laws to training logs.")
    ap.add_argument("--version", action="version", version=f"scalelaw {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit a law to one or more logs (CSV, JSON lines, trainer_state.json)")
    f.add_argument("files", nargs="+", help="log files; several files are several runs")
    f.add_argument("--law", default="power", help=f"law to fit ({', '.join(available_laws())}); default power")
    cols = f.add_argument_group("columns (recognised by name when not given)")
    cols.add_argument("--x", help="size column: parameters, tokens or compute")
    cols.add_argument("--y", "--loss", dest="y", help="loss column")
    cols.add_argument("--step", help="step column")
    cols.add_argument("--lr", help="learning-rate column")
    cols.add_argument("--group", help="column that tells runs apart inside one file")
    rows = f.add_argument_group("rows")
    rows.add_argument("--where", help="pandas query on the raw table, e.g. \"dataset == 'c4' and Training == 1\"")
    rows.add_argument("--step-min", type=float, help="keep rows with step (or x) >= this")
    rows.add_argument("--step-max", type=float, help="keep rows with step (or x) <= this")
    opt = f.add_argument_group("fitting")
    opt.add_argument("--objective", choices=("huber", "lsq"), default="huber",
                     help="Huber on log residuals (default) or plain least squares on them")
    opt.add_argument("--delta", type=float, default=1e-3, help="Huber threshold (default 1e-3)")
    opt.add_argument("--bootstrap", type=int, default=0, metavar="B", help="bootstrap refits (default 0)")
    opt.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    opt.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    opt.add_argument("--max-iter", type=int, default=2000, help="iteration cap per optimisation")
    out = f.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    out.add_argument("--save", type=Path, metavar="FIT.json", help="save the fit for `scalelaw predict`")
    out.add_argument("--plot", type=Path, metavar="OUT.png", help="write a plot of data and fit")

    p = sub.add_parser("predict", help="predict the loss from a saved fit")
    p.add_argument("fit_file", type=Path, metavar="FIT.json")
    p.add_argument("--x", type=_floats, required=True, help="comma-separated sizes, e.g. 1e9,1e10")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return ap


def _check_output(path: Path | None) -> None:
    if path is not None and not path.resolve().parent.is_dir():
        raise InputError(f"{path}: its folder does not exist")


def cmd_fit(args: argparse.Namespace) -> int:
    law = get_law(args.law)
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if not 0 < args.level < 1:
        raise InputError(f"--level must lie between 0 and 1, got {args.level}")
    for path in (args.save, args.plot):
        _check_output(path)
    columns = {"x": args.x, "y": args.y, "step": args.step, "lr": args.lr}
    # --step adds the step column (checked for duplicates, used by --step-min/--step-max)
    roles = (*law.inputs, "y") + (("step",) if args.step and "step" not in law.inputs else ())
    data = load_runs(args.files, roles=roles, columns=columns, group=args.group,
                     where=args.where, step_min=args.step_min, step_max=args.step_max)
    try:
        result = fit(law, data, loss=args.objective, delta=args.delta, bootstrap=args.bootstrap,
                     seed=args.seed, level=args.level, max_iter=args.max_iter)
    except InputError as exc:
        raise InputError(f"{', '.join(args.files)}: {exc}") from None
    explicit = {k for k, v in columns.items() if v}
    guessed = [f"{role}='{col}'" for role, col in data.attrs["columns"].items() if role not in explicit]
    if guessed:
        print(f"scalelaw: using columns {', '.join(guessed)} (set them with --x/--y)", file=sys.stderr)
    print(json.dumps(result.to_dict()) if args.json else result.report())
    if not result.converged:
        if args.save or args.plot:
            print("scalelaw: the fit did not converge; nothing saved", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    if args.save:
        result.to_json(args.save)
    if args.plot:
        from .plot import save_figure

        save_figure(result.plot(), args.plot)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    result = FitResult.from_json(args.fit_file)
    if not result.converged:
        print(f"scalelaw: warning: {args.fit_file} holds a fit that did not converge", file=sys.stderr)
    x = np.asarray(args.x, dtype=float)
    if not np.all(np.isfinite(x) & (x > 0)):
        raise InputError(f"--x: sizes must be positive finite numbers, got {args.x}")
    loss = result.predict(x)
    band = result.predict_interval(x, level=args.level)
    lo, hi = result.domain[result.law.inputs[0]]
    out = {"law": result.law.name, "x": x.tolist(), "loss": loss.tolist(),
           "lower": None if band is None else band[0].tolist(),
           "upper": None if band is None else band[1].tolist(),
           "level": args.level, "extrapolated": ((x < lo) | (x > hi)).tolist()}
    if args.json:
        print(json.dumps(out))
        return 0
    level = int(round(100 * args.level))
    print(f"{'x':>12}  {'loss':>10}  {level}% interval")
    for i, xi in enumerate(x):
        interval = "n/a" if band is None else f"[{band[0][i]:.5g}, {band[1][i]:.5g}]"
        note = "  (extrapolated)" if out["extrapolated"][i] else ""
        print(f"{xi:>12.4g}  {loss[i]:>10.5g}  {interval}{note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"fit": cmd_fit, "predict": cmd_predict}[args.command](args)
    except InputError as exc:
        print(f"scalelaw: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:  # e.g. an output file that cannot be written
        print(f"scalelaw: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
