"""The ``scalelaw`` command line: a thin layer over the Python API.

Exit status: 0 success, 2 bad input (one line on stderr, nothing written), 3 the fit did not
converge or is not a result (report printed, nothing saved), 130 interrupted (Ctrl-C), 143
terminated (SIGTERM); an interrupted command leaves each output whole or absent.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np

from . import __version__
from .errors import InputError, NotAResult
from .engine import mape
from .result import FitResult, json_safe
from .auto import fit
from .analysis import compare, isoflop, versus_total
from .report import (format_allocation, format_comparison, format_inspection, format_isoflop, format_log_prediction,
                     format_schedule_predictions, format_size_predictions, format_sweep_status, format_versus_total)
from . import io
from .io import load_runs, run_names
from .laws import available_laws, declared_columns, get_law
from .schedules import describe, from_log, parse
from .train.config import DEVICES, EXECUTORS, HELP as TRAIN_HELP, MODELS, SWEEP_KINDS, TrainConfig

EXIT_INPUT, EXIT_NOT_CONVERGED, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 3, 130, 143


def _json(obj) -> str:
    """One line of valid JSON: numpy values as Python's, non-finite numbers as null (never NaN)."""
    return json.dumps(json_safe(obj), allow_nan=False)


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _step(text: str) -> float:
    """A step bound (--step-min, --step-max): a finite number, at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a step (a number), got '{text}'") from None
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"a step is a finite number >= 0, got '{text}'")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors in one line, like every other error (exit 2)."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"scalelaw: error: {message} (see: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="scalelaw", description="Fit scaling laws to training logs.")
    ap.add_argument("--version", action="version", version=f"scalelaw {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit a law to one or more logs (CSV, JSON lines, trainer_state.json)")
    f.add_argument("files", nargs="+", help="log files; several files are several runs")
    f.add_argument("--law", default="power", help=f"law to fit ({', '.join(available_laws())}), or auto for step "
                   "logs (chooses the step law and its warmup convention by held-out error); default power")
    f.add_argument("--reference", nargs="+", type=Path, metavar="FINISHED", help="step laws: finished runs "
                   "(other sizes, earlier runs, with their own lr) that lend a short curve the loss drop of LR "
                   "decay it cannot identify; read with the same column options")
    cols = f.add_argument_group("columns (recognised by name when not given)")
    cols.add_argument("--y", "--loss", dest="y", help="loss column")
    cols.add_argument("--step", help="step column")
    cols.add_argument("--lr", help="learning-rate column (step laws; interpolated between logged rows)")
    for role, (column, laws) in declared_columns().items():  # the laws' own inputs
        cols.add_argument(*column.flags, dest=f"column_{role}", metavar="COL",
                          help=f"{column.help} [{', '.join(laws)}]")
    cols.add_argument("--group", help="column that tells runs apart inside one file")
    rows = f.add_argument_group("rows")
    rows.add_argument("--where", help="condition on the raw table's columns, e.g. \"dataset == 'c4' and Training == 1\" "
                      "(comparisons, in, and/or/not, arithmetic; parsed, never run as code)")
    rows.add_argument("--step-min", type=_step, help="laws over steps: fit from this step on (default: where the "
                      "initial transient ends, found from the data; earlier rows are read and plotted, not "
                      "fitted); other laws: keep rows with x >= this")
    rows.add_argument("--step-max", type=_step, help="keep rows with step (or x) <= this")
    rows.add_argument("--drop-top-loss", type=int, default=0, metavar="K",
                      help="leave out the K points of highest loss (as Besiroglu et al. did for Chinchilla)")
    opt = f.add_argument_group("fitting")
    opt.add_argument("--objective", choices=("huber", "lsq"), default="huber",
                     help="Huber on log residuals (default) or plain least squares on them")
    opt.add_argument("--delta", type=float, default=1e-3, help="Huber threshold (default 1e-3)")
    opt.add_argument("--bootstrap", type=int, default=0, metavar="B", help="bootstrap refits (default 0)")
    opt.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    opt.add_argument("--bootstrap-seconds", type=float, metavar="S", help="stop the bootstrap after S seconds, "
                     "with the refits done by then (a progress bar shows on a terminal)")
    opt.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    opt.add_argument("--max-iter", type=int, default=2000, help="iteration cap per optimisation")
    _add_step_options(f)
    out = f.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    out.add_argument("--save", type=Path, metavar="FIT.json", help="save the fit for `scalelaw predict`")
    out.add_argument("--plot", type=Path, metavar="OUT.png", help="write a plot of data and fit")

    p = sub.add_parser("predict", help="predict the loss from a saved fit")
    p.add_argument("fit_file", type=Path, metavar="FIT.json")
    for role, (column, laws) in declared_columns().items():  # the laws' own inputs, as values
        p.add_argument(*column.flags, dest=f"value_{role}", type=_floats, metavar="V[,V...]",
                       help=f"{role} to predict at, comma-separated ({column.help}) [{', '.join(laws)}]")
    p.add_argument("--log", type=Path, metavar="LOG", help="step laws: predict at this log's steps "
                   "under its lr column (and report the error where it logs the loss)")
    p.add_argument("--schedule", action="append", metavar="SPEC",
                   help="step laws: an LR schedule, e.g. cosine:peak=3e-4,total=24000,warmup=500 "
                        "(repeat to rank several by final loss)")
    p.add_argument("--at", type=_floats, help="steps to predict at: with --schedule (default: the last), "
                   "or for a law over steps that needs no schedule (batch)")
    p.add_argument("--step", help="step column of --log")
    p.add_argument("--lr", help="learning-rate column of --log")
    p.add_argument("--y", "--loss", dest="y", help="loss column of --log")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    a = sub.add_parser("allocate", help="laws with a budget: the best sizes for a FLOP or parameter budget "
                       "(chinchilla, encdec), or what a target loss costs (batch)")
    a.add_argument("fit_file", type=Path, metavar="FIT.json")
    a.add_argument("--budget", type=_floats, metavar="VALUE",
                   help="budget(s), comma-separated: FLOPs for chinchilla, total parameters Ne + Nd for encdec")
    a.add_argument("--target-loss", type=_floats, metavar="L", help="loss(es) to reach, comma-separated "
                   "(batch: the fewest steps and tokens, the critical batch size, and the trade-off)")
    for role, (column, laws) in declared_columns().items():  # what else an optimum may need, e.g. --n
        a.add_argument(*column.flags, dest=f"value_{role}", type=_floats, metavar="V",
                       help=f"{role} to allocate at, where the law needs it ({column.help}) [{', '.join(laws)}]")
    a.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    a.add_argument("--json", action="store_true", help="print one JSON object")

    q = sub.add_parser("isoflop", help="Chinchilla's approach 2: the best size per compute budget, and "
                       "N_opt, D_opt as power laws in compute")
    q.add_argument("files", nargs="+", help="files of final losses, one row per run")
    for role in ("N", "D", "C"):
        column, _ = declared_columns()[role]
        q.add_argument(*column.flags, dest=f"column_{role}", metavar="COL", help=column.help)
    q.add_argument("--y", "--loss", dest="y", help="final-loss column")
    q.add_argument("--where", help="condition on the raw table's columns (as for fit)")
    q.add_argument("--budget-tolerance", type=float, default=0.05, metavar="R", help="runs whose compute agrees "
                   "to within this relative difference are one budget (default 0.05)")
    q.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--plot", type=Path, metavar="OUT.png", help="the isoFLOP profiles and N_opt(C)")

    i = sub.add_parser("inspect", help="what scalelaw reads from logs: format, rows, runs, each column's role")
    i.add_argument("files", nargs="+", type=Path, help="log files or TensorBoard folders")
    for flag, role in (("--step", "step"), ("--y", "y"), ("--lr", "lr")):
        i.add_argument(flag, *(["--loss"] if role == "y" else []), dest=role, help=f"{role} column, when not recognised")
    i.add_argument("--group", help="column that tells runs apart inside one file")
    i.add_argument("--json", action="store_true", help="print one JSON object per file, one per line")

    c = sub.add_parser("compare", help="fit several step laws on some logs, report their error on others")
    c.add_argument("files", nargs="+", help="logs to fit on")
    c.add_argument("--held-out", nargs="+", type=Path, required=True, metavar="LOG",
                   help="logs to predict from their lr column and score")
    c.add_argument("--laws", default="annealing,multipower", help="comma-separated step laws, and auto (the "
                   "choice of scalelaw fit --law auto) (default annealing,multipower)")
    c.add_argument("--step", help="step column")
    c.add_argument("--lr", help="learning-rate column")
    c.add_argument("--y", "--loss", dest="y", help="loss column (a column logged every k steps, such as "
                   "val_loss, uses the rows that have it)")
    c.add_argument("--step-min", type=_step, help="fit and score from this step on (default: where the initial "
                   "transient of the fitted logs ends, found from the data)")
    c.add_argument("--objective", choices=("huber", "lsq"), default="huber")
    c.add_argument("--delta", type=float, default=1e-3)
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--plot", type=Path, metavar="OUT.png", help="plot the best law's predictions")

    t = sub.add_parser("train", help="train a tiny model and log its loss curve (needs the train extra)")
    for field in fields(TrainConfig):
        flag, text = f"--{field.name.replace('_', '-')}", f"{TRAIN_HELP[field.name]} (default {field.default})"
        if isinstance(field.default, bool):  # --noise-scale / --no-noise-scale
            t.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=field.default,
                           help=text)
            continue
        t.add_argument(flag, dest=field.name, type=type(field.default), default=field.default,
                       choices={"model": MODELS, "device": DEVICES}.get(field.name), help=text)
    t.add_argument("--out", type=Path, required=True, help="run folder: log.csv, run.json, checkpoint.pt")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress lines")

    w = sub.add_parser("sweep", help="train a sweep of tiny runs from a spec file, or a predefined one; "
                       "or show a sweep's status (needs the train extra)")
    w.add_argument("kind", choices=(*SWEEP_KINDS, "run", "status"),
                   help="a predefined sweep (all: each into --out/KIND), run SPEC.toml, or status DIR")
    w.add_argument("path", nargs="?", type=Path, help="run: the spec file; status: the sweep folder")
    w.add_argument("--out", type=Path, help="folder: one subfolder per run, sweep.json and summary.csv")
    w.add_argument("--executor", choices=EXECUTORS, default="serial",
                   help="serial (this process), local (this machine's cores) or slurm, both through submitit "
                        "(default serial)")
    w.add_argument("--max-parallel", type=int, metavar="K", help="runs at a time (local: default the CPU count; "
                   "slurm: the job array's limit)")
    w.add_argument("--slurm-partition", help="slurm: partition")
    w.add_argument("--slurm-time", type=int, default=60, metavar="MIN", help="time limit per run, minutes; a run "
                   "past it is requeued and resumes from its checkpoint (default 60)")
    w.add_argument("--slurm-gpus-per-run", type=int, default=0, metavar="G", help="slurm: GPUs per run (default 0)")
    w.add_argument("--slurm-cpus-per-run", type=int, default=1, metavar="C", help="CPUs per run (default 1)")
    w.add_argument("--steps", type=int, help="shorten every run to this many steps (a quick look)")
    w.add_argument("--json", action="store_true", help="status: print one JSON object")
    return ap


def _law_flags() -> dict[str, tuple]:
    """option name -> (its Flag, its default, the laws that have it), over the registered laws."""
    flags: dict[str, tuple] = {}
    for name in available_laws():
        law = get_law(name)
        for option, flag in law.flags.items():
            _, default, laws = flags.get(option, (flag, law.options[option], []))
            flags[option] = (flag, default, [*laws, name])
    return flags


def _add_step_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("step laws (annealing, annealing_size, multipower)")
    g.add_argument("--schedule", metavar="SPEC", help="the LR schedule of every log, when they have "
                   "no lr column, e.g. cosine:peak=3e-4,total=24000,warmup=500")
    g = parser.add_argument_group("law options (declared by each law)")
    for option, (flag, default, laws) in _law_flags().items():
        kind = float if default is None else type(default)
        g.add_argument(f"--{option.replace('_', '-')}", dest=option, type=None if flag.choices else kind,
                       choices=flag.choices, help=f"{flag.help} [{', '.join(laws)}]")


def _law_options(args: argparse.Namespace, law) -> dict:
    given = {option: getattr(args, option) for option in _law_flags()}
    wrong = [k for k, v in given.items() if v is not None and k not in law.options]
    if wrong:
        raise InputError(f"--{wrong[0].replace('_', '-')} does not apply to law '{law.name}'")
    return {k: v for k, v in given.items() if v is not None}


def _check_output(path: Path | None, figure: bool = False, inputs=()) -> None:
    """Before any work: ``path`` (a file to write) is not one of the ``inputs``, its folder exists
    and is writable, it is not a folder itself; a figure's format is one matplotlib writes."""
    if path is None:
        return
    target = path.resolve()
    if any(target == Path(p).resolve() for p in inputs):
        raise InputError(f"{path}: is an input of this command; write the output to another file")
    if target.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    if not target.parent.is_dir():
        raise InputError(f"{path}: its folder does not exist")
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"{path}: cannot be written (permission denied)")
    if figure:
        from .plot import figure_format

        figure_format(path)


def cmd_fit(args: argparse.Namespace) -> int:
    auto = args.law == "auto"
    law = get_law("annealing" if auto else args.law)  # auto: the roles and options of the step laws
    given = [f"--{o.replace('_', '-')}" for o in _law_flags() if getattr(args, o) is not None]
    if auto and (args.schedule or given):
        raise InputError("--law auto chooses the law options (warmup convention, ...) itself and reads each "
                         f"log's lr column: drop {'/'.join((['--schedule'] if args.schedule else []) + given)}, "
                         "or name a law")
    if args.reference and not law.step_law:
        raise InputError(f"--reference applies to step laws (or --law auto), not to '{law.name}'")
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if args.bootstrap_seconds is not None and not args.bootstrap_seconds > 0:
        raise InputError(f"--bootstrap-seconds must be positive, got {args.bootstrap_seconds}")
    if not 0 < args.level < 1:
        raise InputError(f"--level must lie between 0 and 1, got {args.level}")
    inputs = [*args.files, *(args.reference or [])]
    _check_output(args.save, inputs=inputs)
    _check_output(args.plot, figure=True, inputs=inputs)
    if args.save is not None and args.plot is not None and args.save.resolve() == args.plot.resolve():
        raise InputError(f"{args.save}: given to both --save and --plot")
    columns = {"y": args.y, "step": args.step, "lr": args.lr,
               **{role: getattr(args, f"column_{role}") for role in declared_columns()}}
    if law.step_law:
        roles = ("step", "y") + (() if args.schedule else ("lr",)) + tuple(r for r in ("N",) if r in law.inputs)
    else:  # --step adds the step column (checked for duplicates, used by --step-min/--step-max)
        named = {k for k, v in columns.items() if v}
        roles = (*law.read_roles(named), "y")
        roles += tuple(r for r in ("step", *law.optional) if r in named and r not in roles)
        if args.schedule:
            raise InputError(f"--schedule applies to step laws, not to '{law.name}'")
    options = _law_options(args, law)
    over_steps = law.step_law or law.inputs == ("x",)  # the fit itself starts at --step-min
    data = load_runs(args.files, roles=roles, columns=columns, group=args.group, where=args.where,
                     step_min=None if over_steps else args.step_min, step_max=args.step_max,
                     drop_top_loss=args.drop_top_loss, optional=() if law.step_law else law.optional)
    references = None
    if args.reference:
        references = load_runs(args.reference, roles=("step", "y", "lr"), columns=columns)
    try:
        step_min = ("auto" if args.step_min is None else args.step_min) if over_steps else None
        result = fit("auto" if auto else law, data, references=references, step_min=step_min, loss=args.objective,
                     delta=args.delta, bootstrap=args.bootstrap, seed=args.seed, level=args.level,
                     bootstrap_seconds=args.bootstrap_seconds, progress=sys.stderr.isatty(),
                     max_iter=args.max_iter,
                     **({} if auto else {"schedules": args.schedule, "options": options or None}))
    except InputError as exc:
        raise InputError(f"{', '.join(map(str, args.files))}: {exc}") from None
    explicit = {k for k, v in columns.items() if v}
    guessed = [f"{role}='{col}'" for role, col in data.attrs["columns"].items() if role not in explicit]
    if guessed:
        print(f"scalelaw: using columns {', '.join(guessed)} (name others with the column flags: see scalelaw fit --help)",
              file=sys.stderr)
    budget = result.law.budget
    versus = versus_total(result) if budget is not None and budget.versus_total and result.converged else None
    if result.converged:  # outputs first: a reader that stops early (| head) loses nothing
        image = None
        if args.plot:  # rendered before anything is written: a figure that fails leaves no fit behind
            from .plot import render

            image = render(result.plot(), args.plot)
        if args.save:
            result.to_json(args.save)
        if image is not None:
            io.write_atomic(args.plot, image)
    if args.json:
        print(_json({**result.to_dict(), **({"versus_total": versus} if versus else {})}))
    else:
        print(result.report() + (f"\n{format_versus_total(versus)}" if versus else ""))
    if not result.converged:
        why = f"not a result: {result.message}" if result.status == "not_a_result" else "the fit did not converge"
        print(f"scalelaw: {why}" + ("; nothing saved" if args.save or args.plot else ""), file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    result = FitResult.from_json(args.fit_file)
    if not result.converged:
        print(f"scalelaw: warning: {args.fit_file} holds a fit that did not converge", file=sys.stderr)
    if not 0 < args.level < 1:
        raise InputError(f"--level must lie between 0 and 1, got {args.level}")
    if not result.law.step_law:
        if args.log or args.schedule:
            raise InputError(f"law '{result.law.name}' predicts over sizes, not steps: drop --log/--schedule")
        return _predict_sizes(result, args)
    values = _values(args)
    if any(r not in result.law.inputs for r in values) or bool(args.log) == bool(args.schedule):
        raise InputError(f"law '{result.law.name}' predicts over steps: give either --log LOG or "
                         "--schedule SPEC [--at STEPS]")
    for role, v in values.items():  # a property of the run, e.g. annealing_size's model size
        if len(v) != 1:
            raise InputError(f"{_flag(role)}: give one value for law '{result.law.name}', got {len(v)}")
    extra = {role: v[0] for role, v in values.items()}
    if args.log:
        return _predict_log(result, args, extra)
    return _predict_schedules(result, args, extra)


def _values(args: argparse.Namespace) -> dict[str, list[float]]:
    """role -> the values given for it (--x, --n, ... as the laws declare them)."""
    return {role: v for role in declared_columns() if (v := getattr(args, f"value_{role}")) is not None}


def _flag(role: str) -> str:
    return "--at" if role == "step" else declared_columns()[role][0].flags[0]


def _size_inputs(result: FitResult, args: argparse.Namespace) -> dict[str, np.ndarray]:
    """The sizes to predict at, one array per input role of the law, from the flags the laws
    declare (--x, --n, --d, --c, --ne, --nd)."""
    given = _values(args)
    if args.at is not None:  # the steps of a law over steps that needs no schedule (batch)
        given["step"] = args.at
    roles = result.law.read_roles(given)  # e.g. --n and --c for chinchilla: D = C / (6 N)
    flags = {role: _flag(role) for role in (*given, *roles, *result.law.inputs)}
    missing = [flags[r] for r in roles if r not in given]
    extra = [flags[r] for r in given if r not in roles]
    if missing or extra:
        need = " ".join(f"{flags[r]} VALUES" for r in result.law.inputs)
        raise InputError(f"law '{result.law.name}' predicts from {need}" +
                         (f"; {', '.join(extra)} does not apply" if extra else ""))
    try:
        arrays = np.broadcast_arrays(*(np.asarray(given[r], dtype=float) for r in roles))
    except ValueError:
        raise InputError(f"{', '.join(flags[r] for r in roles)}: give lists of one length "
                         "(or one value to pair with every other)") from None
    for role, values in zip(roles, arrays):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise InputError(f"{flags[role]}: sizes must be positive finite numbers, got {values.tolist()}")
    return result.law.complete(dict(zip(roles, arrays)))


def _predict_sizes(result: FitResult, args: argparse.Namespace) -> int:
    inputs = _size_inputs(result, args)
    loss = result.predict(inputs)
    band = result.predict_interval(inputs, level=args.level)
    outside = result.extrapolated(inputs)
    why = result.unphysical(loss, *(band if band is not None else (None, None)))
    if why:
        raise NotAResult(f"{args.fit_file}: {why}; nothing printed")
    out = {"law": result.law.name, **{role: v.tolist() for role, v in inputs.items()}, "loss": loss.tolist(),
           "lower": None if band is None else band[0].tolist(),
           "upper": None if band is None else band[1].tolist(),
           "lo": None if band is None else band[0].tolist(),  # the step laws' names for the same
           "hi": None if band is None else band[1].tolist(),
           "level": args.level, "extrapolated": outside.tolist()}
    print(_json(out) if args.json else format_size_predictions(out))
    return 0


def cmd_allocate(args: argparse.Namespace) -> int:
    result = FitResult.from_json(args.fit_file)
    if result.law.budget is None:
        with_budget = [n for n in available_laws() if get_law(n).budget is not None]
        raise InputError(f"{args.fit_file}: law '{result.law.name}' has no budget to allocate "
                         f"(allocate takes {', '.join(with_budget)} fits)")
    if not 0 < args.level < 1:
        raise InputError(f"--level must lie between 0 and 1, got {args.level}")
    if not result.converged:
        print(f"scalelaw: warning: {args.fit_file} holds a fit that did not converge", file=sys.stderr)
    flag = result.law.budget.flag
    budget = getattr(args, flag.lstrip("-").replace("-", "_"))
    other = "--target-loss" if flag == "--budget" else "--budget"
    if budget is None or getattr(args, other.lstrip("-").replace("-", "_")) is not None:
        raise InputError(f"law '{result.law.name}' allocates for {result.law.budget.name}: give {flag} VALUE[,VALUE...]")
    extra = {}
    for role, v in _values(args).items():
        if role not in result.law.budget.needs:
            raise InputError(f"{_flag(role)} does not apply to allocate with law '{result.law.name}'")
        if len(v) != 1:
            raise InputError(f"{_flag(role)}: give one value, got {len(v)}")
        extra[role] = v[0]
    missing = [_flag(r) for r in result.law.budget.needs if r not in extra]
    if missing:
        raise InputError(f"law '{result.law.name}' allocates at one value of {', '.join(missing)}: give it")
    table = result.allocate(budget, level=args.level, **extra)
    out = {"law": result.law.name, "budget": result.law.budget.name, "level": args.level,
           "allocations": table.to_dict(orient="records")}
    print(_json(out) if args.json else format_allocation(out, result))
    return 0


def _predict_log(result: FitResult, args: argparse.Namespace, extra: dict) -> int:
    columns = {"step": args.step, "lr": args.lr, "y": args.y}
    try:  # the loss column is optional: a planned run's log has only step and lr
        data = load_runs(args.log, roles=("step", "lr", "y"), columns=columns)
    except InputError:
        if args.y:
            raise
        data = load_runs(args.log, roles=("step", "lr"), columns=columns)
    if data["run"].nunique() > 1:
        raise InputError(f"{args.log}: holds several runs; give one run per file")
    steps = data["step"].to_numpy()
    if np.any(steps != np.round(steps)) or not np.any(steps >= 1):
        raise InputError(f"{args.log}: column '{data.attrs['columns']['step']}': steps must be whole numbers, "
                         "some of them >= 1")
    log = (steps, data["lr"].to_numpy())
    lr = from_log(*log, warmup=result.law_options.get("warmup", "peak"))
    data = data[steps >= 1]  # step 0 lends its LR to the schedule; the loss is predicted after it
    steps = data["step"].to_numpy()
    loss = result.predict(steps.astype(int), log, **extra)
    lo, hi = result.predict_interval(steps.astype(int), log, level=args.level, **extra)
    start = result.options.get("fitted_from_step") or 0
    domain = steps >= start  # before the fit's first step (an initial transient) the law says nothing
    _refuse_unphysical(result, str(args.log), loss[domain], lo[domain], hi[domain],
                       floor=result.floor(steps[domain].astype(int), log, **extra) if domain.any() else None)
    out = {"law": result.law.name, "log": str(args.log), "level": args.level, "step": steps.astype(int).tolist(),
           "loss": loss.tolist(), "lo": lo.tolist(), "hi": hi.tolist(), "identified": result.identified,
           "extrapolated": _lr_extrapolated(result, lr, str(args.log))}
    if "y" in data:
        y = data["y"].to_numpy()
        out["observed"] = y.tolist()
        # scored where the law applies: from the step the fit started at (after the initial transient)
        scored = domain
        if not scored.any():
            raise InputError(f"{args.log}: no step at or after {start}, where the fit in {args.fit_file} starts")
        out["mape"] = mape(loss[scored], y[scored])
        out["final_error"] = mape(loss[-1:], y[-1:])
        if start:
            out["scored_from_step"] = int(start)
    out["schedule"] = describe(lr)
    print(_json(out) if args.json else format_log_prediction(out, result))
    return 0


def _lr_extrapolated(result: FitResult, lr, name: str) -> bool:
    """True (and a warning on stderr) where the schedule's peak LR lies above every fitted LR."""
    beyond = result.lr_beyond(lr)
    if beyond > 1 + 1e-6:
        print(f"scalelaw: warning: {name}: its peak LR is {beyond:.3g}x the largest LR of the fitted runs: the "
              "law extrapolates (the interval is widened by 1 + ln of that)", file=sys.stderr)
    return bool(beyond > 1 + 1e-6)


def _refuse_unphysical(result: FitResult, name: str, loss, lo, hi, floor=None) -> None:
    why = result.unphysical(loss, lo, hi, floor)
    if why:
        raise NotAResult(f"{name}: {why}; nothing printed")


def _predict_schedules(result: FitResult, args: argparse.Namespace, extra: dict) -> int:
    preds = []
    for spec in args.schedule:
        lr = parse(spec)
        at = np.asarray(args.at if args.at else [len(lr) - 1], dtype=float)
        if np.any(at < 1) or np.any(at != np.round(at)) or np.any(at > len(lr) - 1):
            raise InputError(f"--at: steps must be whole numbers from 1 to {len(lr) - 1} (the schedule's "
                             f"total), got {args.at}")
        steps = at.astype(int)
        band = result.predict_interval(steps, lr, level=args.level, **extra)
        loss = result.predict(steps, lr, **extra)
        final = result.final_loss(lr, **extra)
        _refuse_unphysical(result, spec, [*loss, final], *band, floor=result.floor(steps, lr, **extra))
        preds.append({"schedule": spec, "step": steps.tolist(), "loss": loss.tolist(),
                      "lo": band[0].tolist(), "hi": band[1].tolist(),
                      "lower": band[0].tolist(), "upper": band[1].tolist(),
                      "final_loss": final, "extrapolated": _lr_extrapolated(result, lr, spec)})
    best = result.best_schedule({spec: parse(spec) for spec in args.schedule}, **extra)["name"].iloc[0]
    head = {"law": result.law.name, "level": args.level, "identified": result.identified}
    out = {**head, **preds[0]} if len(preds) == 1 else {**head, "schedules": preds, "best": best}
    print(_json(out) if args.json else format_schedule_predictions(out, result))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.laws.split(",") if name.strip()]
    laws = [get_law(name) for name in names if name != "auto"]
    if not names or any(not law.step_law for law in laws):
        raise InputError(f"--laws: compare takes step laws ({', '.join(_step_laws())}) and auto, got '{args.laws}'")
    _check_output(args.plot, figure=True, inputs=[*args.files, *args.held_out])
    same = {Path(p).resolve() for p in args.files} & {Path(p).resolve() for p in args.held_out}
    if same:
        raise InputError(f"--held-out {sorted(map(str, same))[0]}: is also a log to fit on; a held-out curve "
                         "must be one the laws did not see")
    columns = {"step": args.step, "lr": args.lr, "y": args.y}
    roles = ("step", "y", "lr", *sorted({r for law in laws for r in law.inputs if r in law.columns}))
    train = load_runs(args.files, roles=roles, columns=columns)  # every row's LR counts; the fit starts later
    held = {}
    for name, path in zip(run_names(args.held_out), args.held_out):  # a file of several runs: each a curve
        frame = load_runs(path, roles=roles, columns=columns)
        runs = list(frame.groupby("run", sort=False))
        held.update({name if len(runs) == 1 else f"{name}/{run}": g.reset_index(drop=True) for run, g in runs})
    table = compare(names, train, held, loss=args.objective, delta=args.delta,
                    step_min="auto" if args.step_min is None else args.step_min)
    if args.json:
        print(_json({"train": [str(f) for f in args.files],
                          **{k: v for k, v in table.items() if k != "fits"}}))
    else:
        print(format_comparison(table))
    if args.plot:
        from .plot import plot_steps, save_figure

        best = table["best"]
        result = table["fits"][best]
        others = {name: ((g["step"].to_numpy(), g["lr"].to_numpy()), g) for name, g in held.items()}
        save_figure(plot_steps(result, others), args.plot)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    meta = train(config, args.out, resume=args.resume, progress=not args.quiet)
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
        print(_json({"sweep": str(args.path), "runs": rows}) if args.json else format_sweep_status(rows))
        return 0
    if (args.kind == "run") != (args.path is not None):
        raise InputError("sweep run takes a spec file (scalelaw sweep run SPEC.toml --out DIR); a predefined sweep "
                         "takes none")
    if args.out is None:
        raise InputError(f"sweep {args.kind}: give --out DIR")
    spec = args.path if args.kind == "run" else args.kind
    slurm = {"partition": args.slurm_partition, "time": args.slurm_time, "gpus_per_run": args.slurm_gpus_per_run,
             "cpus_per_run": args.slurm_cpus_per_run}
    summary = run_sweep(spec, args.out, args.executor, steps=args.steps, max_parallel=args.max_parallel, slurm=slurm)
    print(summary.to_string(index=False))
    print(f"wrote {args.out / ('*' if args.kind == 'all' else '') / 'summary.csv'}")
    rows = [] if args.kind == "all" else sweep_status(args.out)
    failed = [r for r in rows if r["state"] != "done"]
    if failed:
        print(f"scalelaw: {len(failed)} run(s) did not complete: " + "; ".join(
            f"{r['run']}: {r.get('error', r['state'])}" for r in failed), file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return 0


def _step_laws() -> list[str]:
    return [name for name in available_laws() if get_law(name).step_law]


def cmd_inspect(args) -> int:
    columns = {"step": args.step, "y": args.y, "lr": args.lr}
    reports = [io.inspect(path, columns, args.group) for path in args.files]  # all read before printing
    for r in reports:
        print(_json(r) if args.json else format_inspection(r))
    return 0


def cmd_isoflop(args: argparse.Namespace) -> int:
    if not 0 < args.level < 1:
        raise InputError(f"--level must lie between 0 and 1, got {args.level}")
    _check_output(args.plot, figure=True, inputs=args.files)
    columns = {"y": args.y, **{role: getattr(args, f"column_{role}") for role in ("N", "D", "C")}}
    if columns["D"] and columns["C"]:
        raise InputError("--d and --c: give one (C = 6 N D)")
    data = load_runs(args.files, roles=("N", "y"), columns=columns, where=args.where, optional=("C", "D"))
    if "C" in data and "D" in data:  # both read: the one named (--d), else the compute column, is the budget
        data = data.drop(columns="C" if columns["D"] else "D")
    if "C" not in data and "D" not in data:
        raise InputError(f"{args.files[0]}: found no compute or tokens column; name one with --c or --d")
    table = isoflop(data, level=args.level, tolerance=args.budget_tolerance)
    if "C" in data:  # which count of FLOPs the budgets are: the column's
        column = data.attrs["columns"]["C"]
        table["flops"] = f"column '{column}'" + (f", which {io.FLOP_COUNTS[column]}" if column in io.FLOP_COUNTS else "")
    if args.plot:
        from .plot import plot_isoflop, render

        io.write_atomic(args.plot, render(plot_isoflop(data, table), args.plot))
    print(_json(table) if args.json else format_isoflop(table))
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or ``kill`` ending the command), handled as Ctrl-C is."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:  # SIGTERM ends the command as Ctrl-C does: one line, outputs whole or absent
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave the signal alone
        previous = None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        commands = {"fit": cmd_fit, "predict": cmd_predict, "allocate": cmd_allocate, "compare": cmd_compare,
                    "inspect": cmd_inspect, "isoflop": cmd_isoflop,
                    "train": cmd_train, "sweep": cmd_sweep}
        with warnings.catch_warnings():  # numeric noise (overflow in a trial step): the report says what matters
            warnings.simplefilter("ignore", RuntimeWarning)
            code = commands[args.command](args)
        sys.stdout.flush()  # here, where a reader that stopped early is caught, not at exit
        return code
    except InputError as exc:
        print(f"scalelaw: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except ImportError as exc:  # scalelaw train / sweep without torch
        print(f"scalelaw: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # the reader stopped early (| head): not an error; say nothing more
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        except (OSError, ValueError):
            pass
        return 0
    except OSError as exc:  # e.g. an output file that cannot be written
        print(f"scalelaw: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except NotAResult as exc:
        print(f"scalelaw: error: {exc}", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: outputs are written atomically, nothing half-way
        if isinstance(exc, Terminated):
            print("scalelaw: terminated (SIGTERM)", file=sys.stderr)
            return EXIT_TERMINATED
        print("scalelaw: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
