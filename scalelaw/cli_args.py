"""The ``scalelaw`` command line's arguments: every command's flags, with the checks of a flag's
value that need no data (numbers, steps, levels); the law options' flags come from the laws'
declarations (``Law.flags``)."""
from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path

import numpy as np

from . import __version__
from .errors import EXIT_INPUT, InputError
from .intervals import check_level
from .laws import available_laws, declared_columns, get_law
from .train.config import DEVICES, EXECUTORS, HELP as TRAIN_HELP, MODELS, SWEEP_KINDS, TrainConfig


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


def _level(text: str) -> float:
    """An interval level: a number strictly between 0 and 1 (``intervals.check_level``)."""
    try:
        return check_level(float(text), "--level")
    except (ValueError, InputError) as exc:
        raise argparse.ArgumentTypeError(str(exc) if isinstance(exc, InputError) else
                                         f"expected a number between 0 and 1, got '{text}'") from None


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors in one line, like every other error (exit 2)."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"scalelaw: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="scalelaw", description="Fit scaling laws to training logs.")
    ap.add_argument("--version", action="version", version=f"scalelaw {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit a law to one or more logs (CSV, JSON lines, trainer_state.json)")
    f.add_argument("files", nargs="+", help="log files; several files are several runs")
    f.add_argument("--law", default="power", help=f"law to fit ({', '.join(available_laws())}), or auto for step "
                   "logs (chooses the step law and its warmup convention by held-out error), or several size laws "
                   "of the same inputs, comma-separated (downstream,downstream_exp: the one with the least error on "
                   "runs left out is kept); default power")
    f.add_argument("--reference", nargs="+", type=Path, metavar="FINISHED", help="step laws: finished runs "
                   "(other sizes, earlier runs, with their own lr) that lend a short curve the loss drop of LR "
                   "decay it cannot identify; read with the same column options")
    cols = f.add_argument_group("columns (recognised by name when not given)")
    cols.add_argument("--y", "--loss", dest="y", help="loss column (size laws: several, comma-separated, fit one "
                      "law each, e.g. the accuracies of several tasks)")
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
    opt.add_argument("--level", type=_level, default=0.95, help="confidence level (default 0.95)")
    opt.add_argument("--max-iter", type=int, default=2000, help="iteration cap per optimisation")
    opt.add_argument("--summary", choices=("auto", "on", "off"), default="auto",
                     help="step laws: fit a long log on its summary over bins of steps (auto: "
                          "a run above 50,000 rows, or above 100,000 rows in all; the report says "
                          "'binned'), always (on), or fit every row (off)")
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
                   f"or for a law over steps that needs no schedule ({', '.join(laws_of_kind('curves'))})")
    p.add_argument("--step", help="step column of --log")
    p.add_argument("--lr", help="learning-rate column of --log")
    p.add_argument("--y", "--loss", dest="y", help="loss column of --log")
    p.add_argument("--level", type=_level, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--via", type=Path, metavar="LOSS.json", help="downstream: a size law's fit (power, chinchilla, "
                   "...): the sizes given go to it, and its loss to the accuracy fit, the interval through both")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="step laws: draw the predicted curve of each "
                   "--schedule or --log with its band (over the log's own points where it logs the loss)")

    o = sub.add_parser("forecast", help="a run's final loss from its log so far: the posterior of the annealing "
                       "law given the run, finished references and a population of runs (scalelaw.posterior)")
    o.add_argument("files", nargs="+", type=Path, help="the run's log (several files: several runs of one model)")
    ahead = o.add_mutually_exclusive_group(required=True)
    ahead.add_argument("--schedule", metavar="SPEC", help="the run's LR schedule to its end, e.g. "
                       "cosine:peak=3e-4,total=24000,warmup=500")
    ahead.add_argument("--total", type=int, metavar="STEPS", help="the run's last step, its LR held at the last "
                       "logged value after the log")
    o.add_argument("--reference", nargs="+", type=Path, metavar="FINISHED", help="finished runs of other model "
                   "sizes on the same data (each run a size, or grouped by an N column)")
    o.add_argument("--at", type=_floats, help="steps to forecast at (default: the last)")
    o.add_argument("--step-max", type=_step, help="read the run's log up to this step only (the run as it stood "
                   "then; references are read whole)")
    o.add_argument("--level", type=_level, default=0.95, help="interval level (default 0.95)")
    o.add_argument("--population", type=Path, metavar="FILE", help="a population file (default: the shipped one, "
                   "learned on the tuning families of benchmarks/forecast_split.json)")
    o.add_argument("--step", help="step column")
    o.add_argument("--lr", help="learning-rate column")
    o.add_argument("--y", "--loss", dest="y", help="loss column (a column logged every k steps, such as "
                   "val_loss, uses the rows that have it)")
    o.add_argument("--json", action="store_true", help="print one JSON object")

    a = sub.add_parser("allocate", help="laws with a budget: the best sizes for a budget, or what a target "
                       f"loss costs ({', '.join(n for n in available_laws() if get_law(n).budget)})")
    a.add_argument("fit_file", type=Path, metavar="FIT.json")
    budgets = {n: get_law(n).budget for n in available_laws() if get_law(n).budget}
    a.add_argument("--budget", type=_floats, metavar="VALUE", help="budget(s), comma-separated: " + "; ".join(
        f"{n}: {b.name}" for n, b in budgets.items() if b.flag == "--budget"))
    a.add_argument("--target-loss", type=_floats, metavar="L", help="loss(es) to reach, comma-separated ("
                   + ", ".join(n for n, b in budgets.items() if b.flag == "--target-loss")
                   + ": the fewest steps and tokens, the critical batch size, and the trade-off)")
    for role, (column, laws) in declared_columns().items():  # what else an optimum may need, e.g. --n
        a.add_argument(*column.flags, dest=f"value_{role}", type=_floats, metavar="V",
                       help=f"{role} to allocate at, where the law needs it ({column.help}) [{', '.join(laws)}]")
    a.add_argument("--level", type=_level, default=0.95, help="interval level (default 0.95)")
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
    q.add_argument("--level", type=_level, default=0.95, help="interval level (default 0.95)")
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
    t.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: OMP_NUM_THREADS, else half "
                   "this machine's cores, at most 4: more thrash on a busy machine)")

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
    w.add_argument("--threads", type=int, metavar="N", help="torch CPU threads per run (default: serial as for "
                   "train; local the cores shared between the runs at a time; slurm --slurm-cpus-per-run)")
    w.add_argument("--json", action="store_true", help="status: print one JSON object")
    return ap


def law_flags() -> dict[str, tuple]:
    """option name -> (its Flag, its default, the laws that have it), over the registered laws."""
    flags: dict[str, tuple] = {}
    for name in available_laws():
        law = get_law(name)
        for option, flag in law.flags.items():
            _, default, laws = flags.get(option, (flag, law.options[option], []))
            flags[option] = (flag, default, [*laws, name])
    return flags


def _add_step_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(f"step laws ({', '.join(step_laws())})")
    g.add_argument("--schedule", metavar="SPEC", help="the LR schedule of every log, when they have "
                   "no lr column, e.g. cosine:peak=3e-4,total=24000,warmup=500")
    g = parser.add_argument_group("law options (declared by each law)")
    for option, (flag, default, laws) in law_flags().items():
        kind = numbers if default is None or isinstance(default, float) else type(default)
        g.add_argument(f"--{option.replace('_', '-')}", dest=option, type=None if flag.choices else kind,
                       choices=flag.choices, help=f"{flag.help} [{', '.join(laws)}]")


def numbers(text: str) -> float | list[float]:
    """A law option's number, or several comma-separated ones (one per column of --y a,b,...)."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: '{text}'") from None
    return values[0] if len(values) == 1 else values


def law_options_given(args: argparse.Namespace, *laws) -> dict:
    """The law options given as flags (``--chance``, ``--decay``, ...); one that none of ``laws``
    takes is refused."""
    given = {option: getattr(args, option) for option in law_flags()}
    wrong = [k for k, v in given.items() if v is not None and not any(k in law.options for law in laws)]
    if wrong:
        raise InputError(f"--{wrong[0].replace('_', '-')} does not apply to law "
                         f"'{','.join(law.name for law in laws)}'")
    return {k: v for k, v in given.items() if v is not None}


def laws_of_kind(kind: str) -> list[str]:
    """The registered laws of ``kind`` (``Law.kind``), by name."""
    return [name for name in available_laws() if get_law(name).kind == kind]


def step_laws() -> list[str]:
    return laws_of_kind("schedule")


def check_output(path: Path | None, figure: bool = False, inputs=()) -> None:
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
