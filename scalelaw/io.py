"""Read training logs into one tidy pandas frame and validate them; write output files atomically.

Formats are recognised from the file by ``scalelaw.readers.read_table``.

Logs as trainers write them: an lr logged less often than the loss is interpolated by step;
step 0 is a step; a resumed run that logged some steps again keeps the last occurrence of each
(``frame.attrs["notes"]`` says so); a run column (``run``, ``run_id``, ``name``, ``seed``, ...)
splits curves into runs.

The tidy frame has a ``run`` column plus one column per *role* that a law needs:
``x`` (size: parameters, tokens or compute), ``y`` (loss), ``step`` and ``lr``; for the
bivariate laws ``N`` (parameters), ``D`` (tokens), ``C`` (compute, FLOPs), ``Ne`` and ``Nd``
(encoder and decoder parameters).
Explicit column names always win; without them common names are recognised.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .errors import InputError
from .readers import CURVE_NAMES, read_table
from .schedules import LRLogs
from .where import rows as where_rows
from .laws import declared_columns

# What a role must satisfy: (description, predicate on a float array); every other role is a
# size or a loss, and positive.
ROLE_CHECKS = {
    "step": ("a non-negative number", lambda v: v >= 0),
    "lr": ("a non-negative number", lambda v: v >= 0),
}
POSITIVE = ("a positive number", lambda v: v > 0)


def role_names(role: str) -> tuple[str, ...]:
    """The column names ``role`` is recognised by: a loss curve's own, or a law's declaration."""
    if role in CURVE_NAMES:
        return CURVE_NAMES[role]
    declared = declared_columns()
    if role not in declared:
        raise InputError(f"no law reads a column for the role '{role}'")
    return declared[role][0].names


def known_roles() -> tuple[str, ...]:
    """Every role a column can play: the curve's (step, y, lr), then those the laws declare."""
    return (*CURVE_NAMES, *(r for r in declared_columns() if r not in CURVE_NAMES))


# Columns that tell runs apart in one file of curves (``--group`` names another).
RUN_NAMES = ("run", "run_id", "run_name", "runid", "name", "experiment", "seed", "dir_name")


def recognised_column(frame: pd.DataFrame, role: str) -> str | None:
    """The first column of ``frame`` recognised by name as ``role`` (``role_names``), or None."""
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[name] for name in role_names(role) if name in lower), None)


def pick_column(frame: pd.DataFrame, role: str, explicit: str | None, path: Path) -> str:
    """The column that plays ``role``: the explicit name if given, else the first recognised one."""
    present = ", ".join(map(str, frame.columns))
    if explicit is not None:
        if explicit not in frame.columns:
            raise InputError(f"{path}: no column '{explicit}' (columns present: {present})")
        return explicit
    found = recognised_column(frame, role)
    if found is not None:
        return found
    declared = declared_columns()
    flag = {"y": "--y/--loss", "D": "--d (or compute with --c)",
            "lr": "--lr, or give the schedule with --schedule SPEC"}.get(role) or (
        "/".join(declared[role][0].flags) if role in declared else f"--{role.lower()}")
    raise InputError(f"{path}: found no {role} column; name it with {flag} (columns present: {present}; "
                     f"see: scalelaw inspect {path})")


def _show(value) -> str:
    """A cell value for a one-line message: quoted, escaped, cut to 40 characters."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _row_label(path: Path, index: int, sparse: bool) -> str:
    # Delimited tables: the line in the file (header is line 1). Other formats: the record number.
    return f"record {index + 1}" if sparse else f"line {index + 2}"


def _numeric(frame: pd.DataFrame, mapping: Mapping[str, str], path: Path, sparse: bool) -> pd.DataFrame:
    """The role columns as floats, named by role (NaN where a cell is empty)."""
    out = pd.DataFrame(index=frame.index)
    for role, col in mapping.items():
        raw = frame[col]
        if isinstance(raw, pd.DataFrame):
            raise InputError(f"{path}: column '{col}' appears {raw.shape[1]} times; rename one of them")
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():  # (a blank cell is missing, not bad)
            bad &= raw.astype(str).str.strip() != ""
        if bad.any():
            i = bad.idxmax()
            raise InputError(f"{path}: column '{col}', {_row_label(path, i, sparse)}: "
                             f"{_show(raw[i])} is not a number")
        out[role] = values.astype(float)
    return out


def _fill_lr(out: pd.DataFrame, col: str, path: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Interpolate, by step within each run, an lr logged less often than the other columns
    (held at the first and last logged values beyond them). Returns each run's lr log (run ->
    (steps, lr) of the rows that logged one, the last of a repeated step) and notes."""
    logs, notes, gaps = {}, [], bool(out["lr"].isna().any())
    for run, g in out.groupby("run", sort=False):
        known = g[g["lr"].notna() & g["step"].notna()].drop_duplicates("step", keep="last").sort_values("step")
        if known.empty and not gaps:
            continue
        if known.empty:
            raise InputError(f"{path}: column '{col}' has no value in run '{run}' (an lr logged at least "
                             "once per run is needed; or give --schedule)")
        logs[str(run)] = (known["step"].to_numpy(float), known["lr"].to_numpy(float))
        fill = g.index[g["lr"].isna() & g["step"].notna()]
        if len(fill):
            out.loc[fill, "lr"] = np.interp(out.loc[fill, "step"], known["step"], known["lr"])
            notes.append(f"{path}: run '{run}': column '{col}' logged at {len(known)} steps; "
                         f"interpolated by step at {len(fill)} more")
    return logs, notes


def _validate(out: pd.DataFrame, mapping: Mapping[str, str], path: Path, sparse: bool,
              sparse_y: bool = False, notes: list | None = None) -> pd.DataFrame:
    """Check the role columns of ``out`` (made numeric and named by role by ``_numeric``) and drop
    the rows a sparse format leaves without a needed value. ``sparse_y``: rows without a loss are
    dropped (a loss logged every k steps, such as val_loss). ``notes``: what was skipped is said
    there."""
    roles = [r for r in mapping if r in out.columns]
    missing = out[roles].isna()
    if sparse_y and "y" in out and out["y"].notna().any():
        skip = missing["y"] if not sparse else missing.any(axis=1)
    elif sparse:
        skip = missing.any(axis=1)
    else:
        skip = pd.Series(False, index=out.index)
        if missing.any(axis=None):
            i = missing.any(axis=1).idxmax()
            col = mapping[missing.columns[missing.loc[i]][0]]
            raise InputError(f"{path}: column '{col}', {_row_label(path, i, sparse)}: value is missing (NaN)")
    if skip.any() and notes is not None:
        lacking = [mapping[r] for r in roles if missing.loc[skip, r].any()]
        notes.append(f"{path}: {int(skip.sum())} of {len(skip)} records lack {' or '.join(map(repr, lacking))} "
                     "and were skipped")
    out = out[~skip]
    if out[roles].isna().any(axis=None):  # explicit loss column logged every k steps, other roles complete
        i = out[roles].isna().any(axis=1).idxmax()
        col = mapping[out[roles].columns[out.loc[i, roles].isna()][0]]
        raise InputError(f"{path}: column '{col}', {_row_label(path, i, sparse)}: value is missing (NaN)")
    if out.empty:
        raise InputError(f"{path}: no row has all of {', '.join(repr(mapping[r]) for r in roles)} "
                         f"(see: scalelaw inspect {path})")
    for role, col in mapping.items():
        values = out[role].to_numpy()
        what, ok = ROLE_CHECKS.get(role, POSITIVE)
        finite = np.isfinite(values)
        bad = ~finite | ~ok(np.where(finite, values, 0.0))
        if bad.any():
            i = out.index[np.argmax(bad)]
            raise InputError(f"{path}: column '{col}', {_row_label(path, i, sparse)}: "
                             f"{float(values[np.argmax(bad)])!r} is not {what}")
    return out


# The two FLOPs counts of ``scalelaw train``'s summary.csv. For tiny models they differ by tens of
# percent, so a fit on either says which it used.
FLOP_COUNTS = {"flops": "counts attention (per token 3 (2 N + 2 n_layer n_ctx d_model))", "flops_6nd": "is 6 N D"}


def flops_notes(columns, mapping: dict, path: Path) -> list[str]:
    """A note for each role read from one of the ``FLOP_COUNTS`` columns of a file that has both."""
    if not set(FLOP_COUNTS) <= set(map(str, columns)):
        return []
    notes = []
    for role, col in mapping.items():
        if col in FLOP_COUNTS:
            other = next(c for c in FLOP_COUNTS if c != col)
            notes.append(f"{path}: {role}='{col}' {FLOP_COUNTS[col]}; the file's '{other}' {FLOP_COUNTS[other]}"
                         + ("; D = C / (6 N) then overstates the tokens (--c flops_6nd or --d tokens does not)"
                            if role == "C" and col == "flops" else ""))
    return notes


def run_column(frame: pd.DataFrame) -> str | None:
    """The column that tells runs apart in a file of curves, by its name (``RUN_NAMES``)."""
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[n] for n in RUN_NAMES if n in lower and frame[lower[n]].notna().any()), None)


def checkpoints_column(frame: pd.DataFrame) -> str | None:
    """In a table of sizes, a run column (``RUN_NAMES``, not a seed or an experiment) whose runs
    have several rows (checkpoints along each model's training, as Gemstones'): each run is one
    model, left out whole when a new run's scatter is measured; None where each row is a run."""
    lower = {str(c).lower(): c for c in frame.columns}
    for name in RUN_NAMES:
        if name in lower and name not in ("seed", "experiment"):
            values = frame[lower[name]].dropna()
            if len(values) == len(frame) and 1 < values.nunique() < len(values):
                return lower[name]
    return None


def run_names(paths: Iterable[str | Path]) -> list[str]:
    """Run names of several files: their stems, or their full paths where stems repeat
    (``a/log.csv`` and ``b/log.csv``)."""
    paths = [Path(p) for p in paths]
    stems = [p.stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [str(p) for p in paths]


def load_runs(
    paths: str | Path | Iterable[str | Path],
    roles: Iterable[str],
    columns: Mapping[str, str | None] | None = None,
    group: str | None = None,
    where: str | None = None,
    step_min: float | None = None,
    step_max: float | None = None,
    drop_top_loss: int = 0,
    optional: Iterable[str] = (),
) -> pd.DataFrame:
    """Read one or more logs into a tidy frame with columns ``run`` and ``roles``.

    Args:
        paths: one file or several; several files are several runs (named after the file).
        roles: roles the law needs, e.g. ``("x", "y")`` or ``("step", "y", "lr")``.
        columns: explicit column name per role; missing or None means "recognise it". A loss
            column named explicitly may be logged every k steps (``val_loss``): rows without it
            are dropped; a recognised one must be present at every row.
        group: column that tells runs apart inside one file.
        where: a condition on the raw table's columns, e.g. ``"Training == 1"`` (``scalelaw.where``:
            column names, literals, comparisons, and/or/not, in and arithmetic; parsed, never run).
        step_min: keep rows whose step (or x, when there is no step role) is at least this.
        step_max: keep rows whose step (or x) is at most this.
        drop_top_loss: leave out the rows of the ``drop_top_loss`` highest losses (as Besiroglu
            et al. did for Chinchilla's points), after the other filters.
        optional: roles read where a column is recognised (or named in ``columns``), left out
            otherwise, e.g. the ``lr`` of a law that needs no schedule but uses one if logged.

    Returns:
        Frame sorted by run then step/x. ``frame.attrs["columns"]`` maps role -> chosen column,
        ``attrs["notes"]`` says what was dropped or filled, and ``attrs["lr_log"]`` (run ->
        (steps, lr)) keeps the LR of rows that logged no loss (the schedule of step laws).

    Raises:
        InputError: one line naming the file, column and row, for any unusable input.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        raise InputError("no input file given")
    if len({p.resolve() for p in paths}) != len(paths):
        raise InputError("the same file is given twice")
    names = run_names(paths)
    roles = tuple(roles)
    columns = dict(columns or {})
    frames, chosen = [], {}
    notes: list[str] = []
    lr_logs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path, name in zip(paths, names):
        raw, sparse = read_table(path)
        if where:  # a filter over the columns, parsed: never run as code (scalelaw.where)
            try:
                raw = raw[where_rows(raw, where)].copy()
            except InputError as exc:
                raise InputError(f"{path}: {exc}") from None
            if raw.empty:
                raise InputError(f"{path}: no rows left after --where {where!r}")
        mapping = {role: pick_column(raw, role, columns.get(role), path) for role in roles}
        for role in optional:  # read where present: named (checked), or recognised by name
            if role not in mapping and (columns.get(role) or recognised_column(raw, role)) is not None:
                mapping[role] = pick_column(raw, role, columns.get(role), path)
        if group is not None and group not in raw.columns:
            present = ", ".join(map(str, raw.columns))
            raise InputError(f"{path}: no group column '{group}' (columns present: {present})")
        over_steps = "step" in roles or str(mapping.get("x", "")).lower() in CURVE_NAMES["step"]  # a curve
        by = group if group is not None else run_column(raw) if over_steps else \
            "run" if sparse and "run" in raw.columns else checkpoints_column(raw)
        values = _numeric(raw, mapping, path, sparse)
        notes += flops_notes(raw.columns, mapping, path)
        if "x" in mapping and str(mapping["x"]).lower() in CURVE_NAMES["step"] and (values["x"] == 0).any():
            notes.append(f"{path}: step 0 (the loss before any update) is not fitted by a law over steps: "
                         f"{int((values['x'] == 0).sum())} row(s)")
            values, raw = values[values["x"] != 0], raw[values["x"] != 0]
        if by is not None:
            labels = raw[by].astype(str)
            values.insert(0, "run", labels if len(paths) == 1 else name + "/" + labels)
        else:
            values.insert(0, "run", name if len(paths) > 1 else "run")
        logs = {}
        if "lr" in mapping and "step" in mapping:
            logs, filled = _fill_lr(values, mapping["lr"], path)
            notes += filled
        tidy = _validate(values, mapping, path, sparse, sparse_y=columns.get("y") is not None, notes=notes)
        if "step" in tidy.columns:
            tidy, dropped = _resumed(tidy, mapping, path, sparse, split=by is None)
            notes += dropped
        # rows with an lr but no loss still tell the schedule
        lr_logs.update({run: log for run, log in logs.items() if len(log[0]) > (tidy["run"] == run).sum()})
        frames.append(tidy)
        for role, col in mapping.items():
            chosen.setdefault(role, col)
    tidy = pd.concat(frames, ignore_index=True)
    for role in optional:  # an optional column some files lack is used from none of them
        if role in tidy.columns and tidy[role].isna().any():
            tidy = tidy.drop(columns=role)
            chosen.pop(role, None)
            notes.append(f"column {role!r} is not in every file: not used")
    key = "step" if "step" in roles else roles[0]
    if step_min is not None:
        tidy = tidy[tidy[key] >= step_min]
    if step_max is not None:
        tidy = tidy[tidy[key] <= step_max]
    if tidy.empty:
        raise InputError(f"{paths[0]}: no rows left after --step-min/--step-max")
    if drop_top_loss < 0:
        raise InputError(f"--drop-top-loss must be >= 0, got {drop_top_loss}")
    if drop_top_loss:
        if drop_top_loss >= len(tidy):
            raise InputError(f"--drop-top-loss {drop_top_loss}: only {len(tidy)} points to fit")
        tidy = tidy.drop(tidy["y"].nlargest(drop_top_loss).index)
        notes.append(f"the {drop_top_loss} rows of highest loss were left out (--drop-top-loss)")
    tidy = tidy.sort_values(["run", key], kind="stable").reset_index(drop=True)
    tidy.attrs["columns"] = chosen
    tidy.attrs["files"] = [str(p) for p in paths]
    tidy.attrs["notes"] = notes
    if lr_logs:  # run -> (steps, lr) of every row that logged an lr, for the schedule of step laws
        tidy.attrs["lr_log"] = LRLogs(lr_logs)
    return tidy


def _resumed(tidy: pd.DataFrame, mapping: Mapping[str, str], path: Path, sparse: bool,
             split: bool) -> tuple[pd.DataFrame, list[str]]:
    """Steps logged again by a resumed run: the last occurrence of each step is kept, and rows
    that a restart from an earlier checkpoint superseded are dropped (with a note). Steps that
    start over at or below a run's first step are another run: an error pointing at --group,
    when ``split`` (no run column)."""
    keep = np.ones(len(tidy), bool)
    notes = []
    for run, idx in tidy.groupby("run", sort=False).indices.items():
        steps = tidy["step"].to_numpy()[idx]
        back = np.flatnonzero(np.diff(steps) <= 0) + 1
        if not len(back):
            continue
        if len(steps) > 2 and np.all(np.diff(steps) < 0):
            raise InputError(f"{path}: column '{mapping['step']}': the steps fall from {steps[0]:g} to {steps[-1]:g} "
                             "at every row: is the log in reverse order? sort it by step")
        over = back[steps[back] <= steps[0]]
        if split and len(over):
            i = tidy.index[idx[over[0]]]
            raise InputError(f"{path}: column '{mapping['step']}', {_row_label(path, i, sparse)}: the steps start "
                             f"over ({steps[over[0] - 1]:g} -> {steps[over[0]]:g}): several runs in one file? name the "
                             "column that tells them apart with --group COL")
        later = np.append(np.minimum.accumulate(steps[::-1])[::-1][1:], np.inf)  # least step after each row
        gone = steps >= later
        keep[idx[gone]] = False
        notes.append(f"{path}: run '{run}': {int(gone.sum())} rows logged again by a resumed run (steps "
                     f"{steps[gone].min():g}-{steps[gone].max():g}); the last occurrence of each step is kept")
    return tidy[keep], notes


def inspect(path: str | Path, columns: Mapping[str, str | None] | None = None,
            group: str | None = None) -> dict:
    """What scalelaw reads from one log: its format, rows, each column's role and how many
    values it holds, the runs, and the rows a loss curve (step, loss, lr) keeps, with what was
    dropped or filled and why (``notes``), or the ``problem`` that stops it."""
    raw, _ = read_table(path)
    columns = dict(columns or {})
    roles = {}
    for role in known_roles():
        try:
            col = pick_column(raw, role, columns.get(role), Path(path))
        except InputError:
            continue
        roles.setdefault(col, role)
    by = group if group is not None else run_column(raw)
    out = {"file": str(path), "format": raw.attrs.get("format"), "rows": len(raw),
           "columns": [{"name": str(c), "role": roles.get(c), "values": int(raw[c].notna().sum())}
                       for c in raw.columns],
           "run_column": None if by is None else str(by),
           "runs": sorted(map(str, raw[by].dropna().unique())) if by in raw.columns else ["run"]}
    curve = [r for r in ("step", "y", "lr") if r in roles.values() or columns.get(r)]
    try:
        tidy = load_runs(path, roles=curve, columns=columns, group=group) if "y" in curve else None
    except InputError as exc:
        out["problem"] = str(exc)
    else:
        if tidy is not None:
            out["curve"] = {"roles": curve, "rows": len(tidy), "runs": int(tidy["run"].nunique()),
                            **({"steps": [float(tidy["step"].min()), float(tidy["step"].max())]}
                               if "step" in tidy else {}),
                            "notes": tidy.attrs.get("notes", [])}
    return out


def read_json(path: str | Path, what: str, keys: Iterable[str] = ()) -> dict:
    """The JSON object in ``path`` (a file scalelaw wrote: run.json, sweep.json, status.json),
    with ``keys`` present; an ``InputError`` naming the file and what is wrong when it is
    truncated, hand-broken or not an object."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a readable {what} ({getattr(exc, 'strerror', None) or exc}); "
                         "repair or remove it") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: not a {what} (expected a JSON object)")
    missing = [k for k in keys if k not in value]
    if missing:
        raise InputError(f"{path}: not a {what}: no '{missing[0]}'")
    return value


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: never a half-written file.
    An error names ``path``, never the temporary file."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
