"""The ``scalelaw`` command line: a thin layer over the Python API.

Exit status: 0 success, 2 bad input (one line on stderr, nothing written), 3 the fit did not
converge or is not a result (report printed, nothing saved), 130 interrupted (Ctrl-C), 143
terminated (SIGTERM); an interrupted command leaves each output whole or absent.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from pathlib import Path

import numpy as np

from .errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_NOT_CONVERGED, EXIT_TERMINATED, InputError, NotAResult
from .readers import CURVE_NAMES
from .cli_args import build_parser, check_output, law_flags, law_options_given, step_laws
from .cli_forecast import cmd_forecast
from .cli_predict import cmd_allocate, cmd_predict
from .cli_train import cmd_sweep, cmd_train
from .result import dumps
from . import forecast
from .report import format_comparison, format_inspection, format_isoflop, format_versus_total
from . import io
from .io import load_runs, run_names
from .laws import declared_columns, get_law

# The fitting modules (scalelaw.auto, .analysis: lmfit, scipy.optimize, scipy.stats) load where a
# command fits, not for inspect, sweep status or predict.
def fit(*args, **kwargs):
    """``scalelaw.fit``."""
    from .auto import fit as fit_law

    return fit_law(*args, **kwargs)


def cmd_fit(args: argparse.Namespace) -> int:
    """``scalelaw fit``: one fit, or one per column of ``--y a,b,...`` (several tasks' accuracies):
    every fit is made before anything is written or printed."""
    ys = [c.strip() for c in args.y.split(",")] if args.y and "," in args.y else None
    lists = [o for o in law_flags() if isinstance(getattr(args, o), list)]
    if ys is None:
        if lists:
            raise InputError(f"--{lists[0].replace('_', '-')}: several values go with several --y columns, one each")
        return _output(args, *_fit(args))
    _check_columns(args, ys, lists)
    # a column flag of several names (--stderr stderr_a,stderr_b) names one for each --y column
    each = {k: v.split(",") for k, v in vars(args).items() if k.startswith("column_") and v and "," in v}
    for key, names in each.items():
        if len(names) != len(ys):
            raise InputError(f"--{key[len('column_'):].lower()}: give one column for each of the {len(ys)} --y "
                             f"columns, got {len(names)}")
    fits = []
    for i, y in enumerate(ys):
        one = argparse.Namespace(**{**vars(args), "y": y, **{o: getattr(args, o)[i] for o in lists},
                                    **{k: names[i].strip() for k, names in each.items()},
                                    **{k: _per_column(getattr(args, k), y) for k in ("save", "plot")}})
        fits.append((one, *_fit(one)))
    return max([_output(*fit, several=True) for fit in fits])


def _check_columns(args: argparse.Namespace, ys: list[str], lists: list[str]) -> None:
    """Several --y columns: named once each, with a safe name (it names the output files), one
    value of each list-valued law option per column, and --save/--plot paths that hold {y}."""
    if len(set(ys)) != len(ys) or "" in ys:
        raise InputError(f"--y {args.y}: name each column once, none empty")
    for y in ys:
        if not all(ch.isalnum() or ch in "_-." for ch in y) or ".." in y:
            raise InputError(f"--y: column '{y}': several columns name the output files; use columns named with "
                             "letters, digits, _ - and single dots")
    for option in lists:
        if len(getattr(args, option)) != len(ys):
            raise InputError(f"--{option.replace('_', '-')}: give one value for all {len(ys)} --y columns or one "
                             f"each, got {len(getattr(args, option))}")
    for flag in ("save", "plot"):
        path = getattr(args, flag)
        if path is not None and "{y}" not in str(path):
            raise InputError(f"--{flag} {path}: with several --y columns, give a path with {{y}} (e.g. acc_{{y}}."
                             f"{'json' if flag == 'save' else 'png'}): one file per column")
    for flag in ("save", "plot"):
        paths = [_per_column(getattr(args, flag), y) for y in ys]
        for path in paths:
            check_output(path, figure=flag == "plot", inputs=[*args.files, *(args.reference or [])])


def _per_column(path: Path | None, y: str) -> Path | None:
    return None if path is None else Path(str(path).replace("{y}", y))


def _fit(args: argparse.Namespace):
    """The fit ``args`` ask for, checked and made; nothing written: (result, versus_total or None)."""
    auto = args.law == "auto"
    from .auto import READS, check_choice

    # several size laws (downstream,downstream_exp): each fitted, the one with the least held-out error kept
    names = [law.name for law in check_choice([n.strip() for n in args.law.split(",") if n.strip()])] \
        if "," in args.law else None
    law = get_law(READS if auto else names[0] if names else args.law)  # auto: the columns every candidate reads
    given = [f"--{o.replace('_', '-')}" for o in law_flags() if getattr(args, o) is not None]
    if auto and given:
        raise InputError(f"--law auto chooses the law options (warmup convention, ...) itself: drop "
                         f"{'/'.join(given)}, or name a law")
    if args.reference and not law.step_law:
        raise InputError(f"--reference applies to step laws (or --law auto), not to '{law.name}'")
    if args.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    if args.bootstrap_seconds is not None and not args.bootstrap_seconds > 0:
        raise InputError(f"--bootstrap-seconds must be positive, got {args.bootstrap_seconds}")
    inputs = [*args.files, *(args.reference or [])]
    check_output(args.save, inputs=inputs)
    check_output(args.plot, figure=True, inputs=inputs)
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
        unread = sorted(named - {*roles, "lr"})  # (an lr column is read, to warn that the law ignores it)
        if unread:
            flag = declared_columns()[unread[0]][0].flags[0]
            raise InputError(f"{flag}: law '{law.name}' does not read it (it reads "
                             f"{', '.join(declared_columns()[r][0].flags[0] for r in law.read_roles(named))} here)")
        if args.schedule:
            raise InputError(f"--schedule applies to step laws, not to '{law.name}'")
    options = law_options_given(args, *([get_law(n) for n in names] if names else [law]))
    over_steps = law.step_law or law.inputs == ("x",)  # the fit itself starts at --step-min
    data = load_runs(args.files, roles=roles, columns=columns, group=args.group, where=args.where,
                     step_min=None if over_steps else args.step_min, step_max=args.step_max,
                     drop_top_loss=args.drop_top_loss,
                     optional=(("lr",) if auto and args.schedule else ()) if law.step_law else
                     (*law.optional, *(("lr",) if law.inputs == ("x",) else ())))
    x_column = str(data.attrs.get("columns", {}).get("x", "")).lower()
    if "lr" in data.columns and not law.step_law and "lr" not in law.optional and (
            x_column in CURVE_NAMES["step"] or (args.step and x_column == args.step.lower())):  # a curve over steps
        _warn_lr_ignored(data, args.files)
        data = data.drop(columns="lr")
        data.attrs["columns"] = {k: v for k, v in data.attrs.get("columns", {}).items() if k != "lr"}
    references = None
    if args.reference:
        references = load_runs(args.reference, roles=("step", "y", "lr"), columns=columns)
    try:
        step_min = ("auto" if args.step_min is None else args.step_min) if over_steps else None
        result = fit("auto" if auto else names or law, data, references=references, step_min=step_min, loss=args.objective,
                     delta=args.delta, bootstrap=args.bootstrap, seed=args.seed, level=args.level,
                     bootstrap_seconds=args.bootstrap_seconds, progress=sys.stderr.isatty(),
                     max_iter=args.max_iter, summarise={"auto": None, "on": True, "off": False}[args.summary],
                     **({"schedules": args.schedule} if auto else {"schedules": args.schedule,
                                                                   "options": options or None}))
    except InputError as exc:
        raise InputError(f"{', '.join(map(str, args.files))}: {exc}") from None
    explicit = {k for k, v in columns.items() if v}
    guessed = [f"{role}='{col}'" for role, col in data.attrs["columns"].items() if role not in explicit]
    if guessed:
        print(f"scalelaw: using columns {', '.join(guessed)} (name others with the column flags: see scalelaw fit --help)",
              file=sys.stderr)
    budget = result.law.budget
    from .analysis import versus_total

    versus = versus_total(result) if budget is not None and budget.versus_total and result.converged else None
    return result, versus


def _output(args: argparse.Namespace, result, versus, several: bool = False) -> int:
    """Writes the fit's --save and --plot (when it converged) and prints its report or JSON (one
    object per line with ``several`` fits, each report under its column's name); the exit code."""
    if several and not args.json:
        print(f"== {args.y} ==")
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
        print(dumps({**result.to_dict(), **({"versus_total": versus} if versus else {})}))
    else:
        print(result.report() + (f"\n{format_versus_total(versus)}" if versus else ""))
    if not result.converged:
        why = f"not a result: {result.message}" if result.status == "not_a_result" else "the fit did not converge"
        print(f"scalelaw: {f'{args.y}: ' if several else ''}{why}" + ("; nothing saved" if args.save or args.plot else ""),
              file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return 0


def _warn_lr_ignored(data, files) -> None:
    """A law over steps without a schedule (power) fitted to logs whose lr decays: say that it
    ignores the lr, and name the laws that read it."""
    fall = 0.0
    for _, g in data.groupby("run", sort=False):
        lr = g["lr"].to_numpy(float)
        if len(lr) and np.nanmax(lr) > 0:
            fall = max(fall, float(1 - np.nanmin(lr[int(np.nanargmax(lr)):]) / np.nanmax(lr)))
    if fall >= forecast.MIN_DECAY:
        print(f"scalelaw: warning: {', '.join(map(str, files))}: the logged lr falls by {100 * fall:.0f} % after its "
              "peak, which this law ignores (the loss drop of LR decay reads as faster progress): fit it with "
              "--law auto, which chooses a step law that reads the lr (annealing, multipower)", file=sys.stderr)


def cmd_compare(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.laws.split(",") if name.strip()]
    laws = [get_law(name) for name in names if name != "auto"]
    if not names or any(not law.step_law for law in laws):
        raise InputError(f"--laws: compare takes step laws ({', '.join(step_laws())}) and auto, got '{args.laws}'")
    check_output(args.plot, figure=True, inputs=[*args.files, *args.held_out])
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
    from .analysis import compare

    table = compare(names, train, held, loss=args.objective, delta=args.delta,
                    step_min="auto" if args.step_min is None else args.step_min, progress=sys.stderr.isatty())
    if args.json:
        print(dumps({"train": [str(f) for f in args.files],
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


def cmd_inspect(args) -> int:
    columns = {"step": args.step, "y": args.y, "lr": args.lr}
    reports = [io.inspect(path, columns, args.group) for path in args.files]  # all read before printing
    for r in reports:
        print(dumps(r) if args.json else format_inspection(r))
    return 0


def cmd_isoflop(args: argparse.Namespace) -> int:
    check_output(args.plot, figure=True, inputs=args.files)
    columns = {"y": args.y, **{role: getattr(args, f"column_{role}") for role in ("N", "D", "C")}}
    if columns["D"] and columns["C"]:
        raise InputError("--d and --c: give one (C = 6 N D)")
    planned = not (columns["D"] or columns["C"]) and all(
        "budget" in map(str, io.read_table(p)[0].columns) for p in args.files)
    if planned:  # a sweep's summary: each run's planned budget groups the runs
        columns["C"] = "budget"
    data = load_runs(args.files, roles=("N", "y"), columns=columns, where=args.where, optional=("C", "D"))
    if "C" in data and "D" in data:  # both read: the one named (--d), else the compute column, is the budget
        data = data.drop(columns="C" if columns["D"] else "D")
    if "C" not in data and "D" not in data:
        raise InputError(f"{args.files[0]}: found no compute or tokens column; name one with --c or --d")
    from .analysis import isoflop

    table = isoflop(data, level=args.level, tolerance=args.budget_tolerance, progress=sys.stderr.isatty())
    if "C" in data:  # which count of FLOPs the budgets are: the column's
        column = data.attrs["columns"]["C"]
        table["flops"] = f"column '{column}'" + (f", which {io.FLOP_COUNTS[column]}" if column in io.FLOP_COUNTS else
                                                  ", each run's planned budget (name another with --c)" if planned else "")
    if args.plot:
        from .plot import plot_isoflop, render

        io.write_atomic(args.plot, render(plot_isoflop(data, table), args.plot))
    print(dumps(table) if args.json else format_isoflop(table))
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or ``kill`` ending the command), handled as Ctrl-C is."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """The ``scalelaw`` command on ``argv`` (default the process's): its exit status."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed command (``scalelaw.__main__`` parses first, so that ``--help`` and a
    mistyped flag need none of the modules imported here)."""
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
                    "inspect": cmd_inspect, "isoflop": cmd_isoflop, "forecast": cmd_forecast,
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
