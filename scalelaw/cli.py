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
from .quality import mape
from .cli_args import law_flags, law_options_given, step_laws, build_parser
from .cli_train import cmd_sweep, cmd_train
from .result import FitResult, dumps
from . import auto as auto_fit, forecast
from .auto import fit
from .analysis import compare, isoflop, versus_total
from .report import (format_allocation, format_comparison, format_inspection, format_isoflop, format_log_prediction,
                     format_schedule_predictions, format_size_predictions, format_versus_total)
from . import io
from .io import load_runs, run_names
from .laws import available_laws, declared_columns, get_law
from .schedules import describe, from_log, parse

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
    law = get_law(auto_fit.READS if auto else args.law)  # auto: the columns every candidate reads
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
    options = law_options_given(args, law)
    over_steps = law.step_law or law.inputs == ("x",)  # the fit itself starts at --step-min
    data = load_runs(args.files, roles=roles, columns=columns, group=args.group, where=args.where,
                     step_min=None if over_steps else args.step_min, step_max=args.step_max,
                     drop_top_loss=args.drop_top_loss,
                     optional=(("lr",) if auto and args.schedule else ()) if law.step_law else
                     (*law.optional, *(("lr",) if law.inputs == ("x",) else ())))
    if "lr" in data.columns and not law.step_law and "lr" not in law.optional:
        _warn_lr_ignored(data, args.files)
        data = data.drop(columns="lr")
        data.attrs["columns"] = {k: v for k, v in data.attrs.get("columns", {}).items() if k != "lr"}
    references = None
    if args.reference:
        references = load_runs(args.reference, roles=("step", "y", "lr"), columns=columns)
    try:
        step_min = ("auto" if args.step_min is None else args.step_min) if over_steps else None
        result = fit("auto" if auto else law, data, references=references, step_min=step_min, loss=args.objective,
                     delta=args.delta, bootstrap=args.bootstrap, seed=args.seed, level=args.level,
                     bootstrap_seconds=args.bootstrap_seconds, progress=sys.stderr.isatty(),
                     max_iter=args.max_iter,
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
        print(dumps({**result.to_dict(), **({"versus_total": versus} if versus else {})}))
    else:
        print(result.report() + (f"\n{format_versus_total(versus)}" if versus else ""))
    if not result.converged:
        why = f"not a result: {result.message}" if result.status == "not_a_result" else "the fit did not converge"
        print(f"scalelaw: {why}" + ("; nothing saved" if args.save or args.plot else ""), file=sys.stderr)
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


def cmd_predict(args: argparse.Namespace) -> int:
    result = FitResult.from_json(args.fit_file)
    if not result.converged:
        print(f"scalelaw: warning: {args.fit_file} holds a fit that did not converge", file=sys.stderr)
    if not result.law.step_law:
        if args.log or args.schedule or args.plot:
            raise InputError(f"law '{result.law.name}' predicts over sizes, not steps: drop "
                             f"{'--plot' if args.plot else '--log/--schedule'}")
        return _predict_sizes(result, args)
    _check_output(args.plot, figure=True, inputs=[args.fit_file, *([args.log] if args.log else [])])
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
    print(dumps(out) if args.json else format_size_predictions(out))
    return 0


def cmd_allocate(args: argparse.Namespace) -> int:
    result = FitResult.from_json(args.fit_file)
    if result.law.budget is None:
        with_budget = [n for n in available_laws() if get_law(n).budget is not None]
        raise InputError(f"{args.fit_file}: law '{result.law.name}' has no budget to allocate "
                         f"(allocate takes {', '.join(with_budget)} fits)")
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
    print(dumps(out) if args.json else format_allocation(out, result))
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
                       floor=result.floor_beyond(steps[domain].astype(int), log, **extra) if domain.any() else None)
    out = {"law": result.law.name, "log": str(args.log), "level": args.level, "step": steps.astype(int).tolist(),
           "loss": loss.tolist(), "lo": lo.tolist(), "hi": hi.tolist(), "identified": result.identified,
           "extrapolated": _lr_extrapolated(result, lr, str(args.log)),
           **_width_from(result, steps[-1:].astype(int), log, args.level, extra)}
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
    if args.plot:
        logged = data[["step", "y"]] if "y" in data else None
        _draw_predictions(result, {str(args.log): (log, logged)}, args, extra)
    print(dumps(out) if args.json else format_log_prediction(out, result))
    return 0


def _draw_predictions(result: FitResult, others: dict, args: argparse.Namespace, extra: dict) -> None:
    """``predict --plot``: each schedule's predicted curve with its band (``plot.plot_steps``)."""
    from .plot import plot_steps, render

    io.write_atomic(args.plot, render(plot_steps(result, others, level=args.level, **extra)[0], args.plot))


def _width_from(result: FitResult, step, schedule, level: float, extra: dict) -> dict:
    """``width_from``: each source's share of the forecast variance at the last step (a step law
    fitted with its forecast record), or nothing."""
    if result.forecast is None:
        return {}
    shares = forecast.width_from(result, step, schedule, level, **extra)
    return {"width_from": {name: round(float(v[0]), 4) for name, v in shares.items()}}


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
        _refuse_unphysical(result, spec, [*loss, final], *band, floor=result.floor_beyond(steps, lr, **extra))
        preds.append({"schedule": spec, "step": steps.tolist(), "loss": loss.tolist(),
                      "lo": band[0].tolist(), "hi": band[1].tolist(),
                      "lower": band[0].tolist(), "upper": band[1].tolist(),
                      "final_loss": final, "extrapolated": _lr_extrapolated(result, lr, spec),
                      **_width_from(result, [len(lr) - 1], lr, args.level, extra)})
    best = result.best_schedule({spec: parse(spec) for spec in args.schedule}, **extra)["name"].iloc[0]
    head = {"law": result.law.name, "level": args.level, "identified": result.identified}
    out = {**head, **preds[0]} if len(preds) == 1 else {**head, "schedules": preds, "best": best}
    if args.plot:
        _draw_predictions(result, {spec: (parse(spec), None) for spec in args.schedule}, args, extra)
    print(dumps(out) if args.json else format_schedule_predictions(out, result))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.laws.split(",") if name.strip()]
    laws = [get_law(name) for name in names if name != "auto"]
    if not names or any(not law.step_law for law in laws):
        raise InputError(f"--laws: compare takes step laws ({', '.join(step_laws())}) and auto, got '{args.laws}'")
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
    _check_output(args.plot, figure=True, inputs=args.files)
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
    table = isoflop(data, level=args.level, tolerance=args.budget_tolerance)
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
