"""Read training logs into one tidy pandas frame and validate them; write output files atomically.

Formats: CSV (also a Weights & Biases chart export, one ``RUN - metric`` column per run),
JSON lines, and Hugging Face ``trainer_state.json`` (its ``log_history``).

The tidy frame has a ``run`` column plus one column per *role* that a law needs:
``x`` (size: parameters, tokens or compute), ``y`` (loss), ``step`` and ``lr``; for the
bivariate laws ``N`` (parameters), ``D`` (tokens), ``C`` (compute, FLOPs), ``Ne`` and ``Nd``
(encoder and decoder parameters).
Explicit column names always win; without them common names are recognised.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .errors import InputError

# Recognised column names per role, in order of preference (matched case-insensitively).
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "step": ("step", "_step", "global_step", "iter", "iteration", "trainer/global_step"),
    "y": ("loss", "train/loss", "train_loss", "eval_loss", "eval/loss", "val_loss", "val/loss",
          "validation_loss"),
    "lr": ("lr", "learning_rate", "train/learning_rate", "train/lr"),
    "x": ("n", "n_params", "params", "parameters", "tokens", "d", "d_tokens", "compute", "c",
          "flops"),
    "N": ("n", "n_params", "params", "parameters", "model_size", "model size"),
    "D": ("d", "d_tokens", "tokens", "n_tokens", "training_tokens"),
    "C": ("c", "compute", "flops", "training_flop", "training flop", "training_flops"),
    "Ne": ("ne", "n_enc", "encoder_params", "n_encoder"),
    "Nd": ("nd", "n_dec", "decoder_params", "n_decoder"),
}
# What each role must satisfy: (description, predicate on a float array).
ROLE_CHECKS = {
    "x": ("a positive number", lambda v: v > 0),
    "y": ("a positive number", lambda v: v > 0),
    "step": ("a non-negative number", lambda v: v >= 0),
    "lr": ("a non-negative number", lambda v: v >= 0),
    **{role: ("a positive number", lambda v: v > 0) for role in ("N", "D", "C", "Ne", "Nd")},
}
_WANDB_COLUMN = re.compile(r"^(?P<run>.+) - (?P<metric>.+?)(?P<agg>__MIN|__MAX)?$")


def read_table(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """Read one log file into a raw frame.

    Returns ``(frame, sparse)``; ``sparse`` is True for formats where each record logs only some
    metrics (JSON lines, trainer_state.json, W&B exports), whose rows missing a needed value are
    dropped rather than rejected.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return _read_trainer_state(path), True
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True), True
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot be read as a {suffix.lstrip('.') or 'CSV'} table ({first})") from None
    if frame.empty:
        raise InputError(f"{path}: has a header but no data rows")
    wandb = _from_wandb_export(frame)
    return (wandb, True) if wandb is not None else (frame, False)


def _read_trainer_state(path: Path) -> pd.DataFrame:
    with open(path, encoding="utf-8") as fh:
        state = json.load(fh)
    records = state.get("log_history") if isinstance(state, dict) else state
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records) or not records:
        raise InputError(f"{path}: expected a trainer_state.json with a non-empty 'log_history' list")
    return pd.DataFrame.from_records(records)


def _from_wandb_export(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Turn a W&B chart export (``Step, RUN - metric, RUN - metric__MIN, ...``) into long form."""
    matches = {c: _WANDB_COLUMN.match(str(c)) for c in frame.columns}
    series = [c for c, m in matches.items() if m and not m["agg"]]
    if not series or not any(str(c).lower() in ROLE_NAMES["step"] for c in frame.columns):
        return None
    step = next(c for c in frame.columns if str(c).lower() in ROLE_NAMES["step"])
    parts = []
    for col in series:
        part = frame[[step, col]].rename(columns={col: matches[col]["metric"], step: "step"})
        part.insert(0, "run", matches[col]["run"])
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    # One row per (run, step): several metrics of one run land in the same row.
    return long.groupby(["run", "step"], sort=False, as_index=False).first()


def pick_column(frame: pd.DataFrame, role: str, explicit: str | None, path: Path) -> str:
    """The column that plays ``role``: the explicit name if given, else the first recognised one."""
    present = ", ".join(map(str, frame.columns))
    if explicit is not None:
        if explicit not in frame.columns:
            raise InputError(f"{path}: no column '{explicit}' (columns present: {present})")
        return explicit
    lower = {str(c).lower(): c for c in frame.columns}
    for name in ROLE_NAMES[role]:
        if name in lower:
            return lower[name]
    flag = {"y": "--y/--loss", "N": "--n/--size", "D": "--d (or compute with --c)"}.get(role, f"--{role.lower()}")
    raise InputError(f"{path}: found no {role} column; name it with {flag} (columns present: {present})")


def _show(value) -> str:
    """A cell value for a one-line message: quoted, escaped, cut to 40 characters."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _row_label(path: Path, index: int, sparse: bool) -> str:
    # CSV rows: the line in the file (header is line 1). Other formats: the record number.
    return f"record {index + 1}" if sparse or path.suffix.lower() != ".csv" else f"line {index + 2}"


def _validate(frame: pd.DataFrame, mapping: Mapping[str, str], path: Path, sparse: bool,
              sparse_y: bool = False) -> pd.DataFrame:
    """Coerce the role columns to float and check them; returns a frame with role names.
    ``sparse_y``: rows without a loss are dropped (a loss logged every k steps, such as val_loss)."""
    out = pd.DataFrame(index=frame.index)
    for role, col in mapping.items():
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():
            i = bad.idxmax()
            raise InputError(f"{path}: column '{col}', {_row_label(path, i, sparse)}: "
                             f"{_show(raw[i])} is not a number")
        out[role] = values.astype(float)
    if sparse_y and "y" in out and out["y"].notna().any():
        out = out[out["y"].notna()]
    missing = out.isna().any(axis=1)
    if sparse:
        out = out[~missing]
    elif missing.any():
        i = missing.idxmax()
        col = mapping[out.columns[out.loc[i].isna()][0]]
        raise InputError(f"{path}: column '{col}', {_row_label(path, i, sparse)}: value is missing (NaN)")
    for role, col in mapping.items():
        values = out[role].to_numpy()
        what, ok = ROLE_CHECKS[role]
        finite = np.isfinite(values)
        bad = ~finite | ~ok(np.where(finite, values, 0.0))
        if bad.any():
            i = out.index[np.argmax(bad)]
            raise InputError(f"{path}: column '{col}', {_row_label(path, i, sparse)}: "
                             f"{float(values[np.argmax(bad)])!r} is not {what}")
    return out


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
) -> pd.DataFrame:
    """Read one or more logs into a tidy frame with columns ``run`` and ``roles``.

    Args:
        paths: one file or several; several files are several runs (named after the file).
        roles: roles the law needs, e.g. ``("x", "y")`` or ``("step", "y", "lr")``.
        columns: explicit column name per role; missing or None means "recognise it". A loss
            column named explicitly may be logged every k steps (``val_loss``): rows without it
            are dropped; a recognised one must be present at every row.
        group: column that tells runs apart inside one file.
        where: a pandas ``DataFrame.query`` filter applied to the raw table, e.g. ``"Training == 1"``.
        step_min, step_max: keep rows whose step (or x, when there is no step role) lies in range.

    Returns:
        Frame sorted by run then step/x. ``frame.attrs["columns"]`` maps role -> chosen column.

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
    for path, name in zip(paths, names):
        raw, sparse = read_table(path)
        if where:
            try:
                raw = raw.query(where).copy()
            except Exception as exc:  # pandas raises many types for a bad expression
                raise InputError(f"{path}: --where {where!r} failed: {exc}") from None
            if raw.empty:
                raise InputError(f"{path}: no rows left after --where {where!r}")
        mapping = {role: pick_column(raw, role, columns.get(role), path) for role in roles}
        tidy = _validate(raw, mapping, path, sparse, sparse_y=columns.get("y") is not None)
        if group is not None:
            if group not in raw.columns:
                present = ", ".join(map(str, raw.columns))
                raise InputError(f"{path}: no group column '{group}' (columns present: {present})")
            labels = raw.loc[tidy.index, group].astype(str)
            tidy.insert(0, "run", labels if len(paths) == 1 else name + "/" + labels)
        elif "run" in raw.columns and sparse:
            tidy.insert(0, "run", raw.loc[tidy.index, "run"].astype(str))
        else:
            tidy.insert(0, "run", name if len(paths) > 1 else "run")
        _check_duplicate_steps(tidy, mapping, path, sparse)
        frames.append(tidy)
        for role, col in mapping.items():
            chosen.setdefault(role, col)
    tidy = pd.concat(frames, ignore_index=True)
    key = "step" if "step" in roles else roles[0]
    if step_min is not None:
        tidy = tidy[tidy[key] >= step_min]
    if step_max is not None:
        tidy = tidy[tidy[key] <= step_max]
    if tidy.empty:
        raise InputError(f"{paths[0]}: no rows left after --step-min/--step-max")
    tidy = tidy.sort_values(["run", key], kind="stable").reset_index(drop=True)
    tidy.attrs["columns"] = chosen
    tidy.attrs["files"] = [str(p) for p in paths]
    return tidy


def _check_duplicate_steps(tidy: pd.DataFrame, mapping: Mapping[str, str], path: Path, sparse: bool) -> None:
    if "step" not in tidy.columns:
        return
    dup = tidy.duplicated(["run", "step"])
    if dup.any():
        i = dup.idxmax()
        raise InputError(f"{path}: column '{mapping['step']}', {_row_label(path, i, sparse)}: "
                         f"step {tidy.at[i, 'step']:g} appears twice in run '{tidy.at[i, 'run']}'")
    back = tidy.groupby("run", sort=False)["step"].diff() < 0  # in file order
    if back.any():
        i = back.idxmax()
        raise InputError(f"{path}: column '{mapping['step']}', {_row_label(path, i, sparse)}: "
                         f"step {tidy.at[i, 'step']:g} comes after a larger step; steps must increase "
                         "down the file (a resumed run logged twice?)")


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: never a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
