"""``scalelaw predict`` and ``scalelaw allocate``: the command line over a saved fit (a thin layer
over ``FitResult.predict``, ``predict_interval`` and ``allocate``)."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import forecast, io
from .cli_args import check_output
from .errors import InputError, NotAResult
from .io import load_runs
from .laws import available_laws, declared_columns, get_law
from .report import format_allocation, format_log_prediction, format_schedule_predictions, format_size_predictions
from .result import FitResult, dumps
from .schedules import describe, from_log, parse


def cmd_predict(args: argparse.Namespace) -> int:
    result = FitResult.from_json(args.fit_file)
    if not result.converged:
        print(f"scalelaw: warning: {args.fit_file} holds a fit that did not converge", file=sys.stderr)
    if not result.law.step_law:
        if args.log or args.schedule or args.plot:
            raise InputError(f"law '{result.law.name}' predicts over sizes, not steps: drop "
                             f"{'--plot' if args.plot else '--log/--schedule'}")
        return _predict_sizes(result, args)
    if args.via is not None:
        raise InputError(f"--via chains a loss fit into an accuracy fit (law downstream); {args.fit_file} holds a "
                         f"step law's ('{result.law.name}')")
    check_output(args.plot, figure=True, inputs=[args.fit_file, *([args.log] if args.log else [])])
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
            what = "losses" if result.law.predicts == "accuracy" else "sizes"  # an accuracy law reads a loss
            raise InputError(f"{flags[role]}: {what} must be positive finite numbers, got {values.tolist()}")
    return result.law.complete(dict(zip(roles, arrays)))


def _predict_sizes(result: FitResult, args: argparse.Namespace) -> int:
    if args.via is not None:
        return _predict_chain(result, args)
    inputs = _size_inputs(result, args)
    loss = result.predict(inputs)
    lo, hi = result.predict_interval(inputs, level=args.level) or (None, None)
    mean_lo, mean_hi = result.predict_interval(inputs, level=args.level, of="mean") or (None, None)
    outside = result.extrapolated(inputs)
    why = result.unphysical(loss, lo, hi)
    if why:
        raise NotAResult(f"{args.fit_file}: {why}; nothing printed")
    scatter = result.run_scatter
    out = {"law": result.law.name, **{role: v.tolist() for role, v in inputs.items()}, result.law.predicts: loss.tolist(),
           "lo": _listed(lo), "hi": _listed(hi), "interval": "new_run",
           "lower": _listed(lo), "upper": _listed(hi),  # the same: the names of earlier versions
           "mean_lo": _listed(mean_lo), "mean_hi": _listed(mean_hi),
           "scatter": scatter.sigma if lo is not None else None, "scatter_dof": scatter.dof,
           "scatter_from": scatter.source,
           "level": args.level, "extrapolated": outside.tolist()}
    print(dumps(out) if args.json else format_size_predictions(out, list(inputs)))
    return 0


def _predict_chain(result: FitResult, args: argparse.Namespace) -> int:
    """``predict ACC.json --via LOSS.json --n N --d D``: the loss from the loss fit at the sizes
    given, then the accuracy at that loss, the interval through both (``analysis.chain``)."""
    from .analysis import chain

    if result.law.predicts != "accuracy":
        raise InputError(f"--via: {args.fit_file} holds a '{result.law.name}' fit; --via chains a loss fit into an "
                         "accuracy fit (law downstream)")
    loss_fit = FitResult.from_json(args.via)
    inputs = _size_inputs(loss_fit, args)
    out = chain(result, loss_fit, inputs, level=args.level)
    why = result.unphysical(out["accuracy"], out["lo"], out["hi"]) or loss_fit.unphysical(out["loss"])
    if why:
        raise NotAResult(f"{args.fit_file}, {args.via}: {why}; nothing printed")
    out = {"law": result.law.name, "via": loss_fit.law.name, **{role: v.tolist() for role, v in inputs.items()},
           **{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()},
           "extrapolated": loss_fit.extrapolated(inputs).tolist()}
    print(dumps(out) if args.json else format_size_predictions(out, list(inputs)))
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
    lo, hi = _band(result, args, steps.astype(int), log, extra)
    start = result.options.get("fitted_from_step") or 0
    domain = steps >= start  # before the fit's first step (an initial transient) the law says nothing
    _refuse_unphysical(result, str(args.log), loss[domain], *((None, None) if lo is None else (lo[domain], hi[domain])),
                       floor=result.floor_beyond(steps[domain].astype(int), log, **extra) if domain.any() else None)
    out = {"law": result.law.name, "log": str(args.log), "level": args.level, "step": steps.astype(int).tolist(),
           "loss": loss.tolist(), "lo": _listed(lo), "hi": _listed(hi), "identified": result.identified,
           "extrapolated": _lr_extrapolated(result, lr, str(args.log)),
           **_width_from(result, steps[-1:].astype(int), log, args.level, extra)}
    if "y" in data:
        y = data["y"].to_numpy()
        out["observed"] = y.tolist()
        # scored where the law applies: from the step the fit started at (after the initial transient)
        scored = domain
        if not scored.any():
            raise InputError(f"{args.log}: no step at or after {start}, where the fit in {args.fit_file} starts")
        from .quality import mape

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


def _band(result: FitResult, args: argparse.Namespace, steps, schedule, extra: dict):
    """The forecast interval at ``steps`` (lo, hi), or (None, None) with a warning for a fit file
    that holds neither a covariance nor a forecast record (edited by hand): no interval to give."""
    band = result.predict_interval(steps, schedule, level=args.level, **extra)
    if band is None:
        print(f"scalelaw: warning: {args.fit_file} holds neither a covariance nor a forecast record: no interval",
              file=sys.stderr)
        return None, None
    return band


def _listed(values) -> list | None:
    return None if values is None else np.asarray(values).tolist()


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
        lo, hi = _band(result, args, steps, lr, extra)
        loss = result.predict(steps, lr, **extra)
        final = result.final_loss(lr, **extra)
        _refuse_unphysical(result, spec, [*loss, final], lo, hi, floor=result.floor_beyond(steps, lr, **extra))
        preds.append({"schedule": spec, "step": steps.tolist(), "loss": loss.tolist(),
                      "lo": _listed(lo), "hi": _listed(hi), "lower": _listed(lo), "upper": _listed(hi),
                      "final_loss": final, "extrapolated": _lr_extrapolated(result, lr, spec),
                      **_width_from(result, [len(lr) - 1], lr, args.level, extra)})
    best = result.best_schedule({spec: parse(spec) for spec in args.schedule}, **extra)["name"].iloc[0]
    head = {"law": result.law.name, "level": args.level, "identified": result.identified}
    out = {**head, **preds[0]} if len(preds) == 1 else {**head, "schedules": preds, "best": best}
    if args.plot:
        _draw_predictions(result, {spec: (parse(spec), None) for spec in args.schedule}, args, extra)
    print(dumps(out) if args.json else format_schedule_predictions(out, result))
    return 0
