"""The log formats trainers write, each read into a raw frame (``read_table``).

Formats, recognised from the file:

- delimited text: CSV, TSV, semicolon- or whitespace-separated, spaces after the commas;
- Weights & Biases exports: run history (``_step`` column; metrics logged at different steps
  leave empty cells) and chart/panel exports (one ``RUN - metric`` column per run);
- JSON lines, and Hugging Face ``trainer_state.json`` (its ``log_history``);
- TensorBoard event files, or folders of them (one run per folder; needs ``tbparse``:
  ``pip install 'scalelaw[tensorboard]'``);
- nanoGPT-style text logs (``iter 100: loss 3.2145, time 45.12ms`` and
  ``step 250: train loss 3.1, val loss 3.2``).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd

from .errors import InputError

# The columns of every loss curve, recognised by these names in order of preference (matched
# case-insensitively). The inputs of each law (sizes, ...) are declared by the law
# (``Law.columns``): ``role_names`` reads them.
CURVE_NAMES: dict[str, tuple[str, ...]] = {
    "step": ("step", "_step", "global_step", "iter", "iteration", "trainer/global_step", "steps"),
    "y": ("loss", "train/loss", "train_loss", "loss/train", "eval_loss", "eval/loss", "val_loss",
          "val/loss", "loss/val", "validation_loss"),
    "lr": ("lr", "learning_rate", "train/learning_rate", "train/lr", "lr-adamw", "lr-adam", "lr-sgd",
           "learning-rate", "learning rate"),
}
# nanoGPT-style lines: "iter 100: loss 3.2145, time 45.12ms, mfu 12.3%", "step 250: train loss 3.1, val loss 3.2"
_TEXT_LINE = re.compile(r"^\s*(?P<kind>iter|step)\s+(?P<step>\d+)\s*:\s*(?P<rest>.*)$", re.IGNORECASE)
_TEXT_PAIR = re.compile(r"(?P<key>[A-Za-z][A-Za-z _/-]*?)\s*[:=]?\s+(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)\s*(?:ms|s|%)?\s*(?:,|$)")
_WANDB_COLUMN = re.compile(r"^(?P<run>.+) - (?P<metric>.+?)(?P<agg>__MIN|__MAX)?$")


def read_table(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """Read one log (a file, or a folder of TensorBoard event files) into a raw frame.

    Returns ``(frame, sparse)``; ``sparse`` is True for formats where each record logs only some
    metrics (JSON lines, trainer_state.json, W&B exports, TensorBoard, text logs), whose rows
    missing a needed value are dropped rather than rejected. ``frame.attrs["format"]`` names
    the format that was recognised.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir() and (path / "log.csv").is_file():  # a run folder of scalelaw train: its log
        path = path / "log.csv"
    if path.is_dir() or path.name.startswith("events.out.tfevents"):
        frame, sparse, fmt = _read_tensorboard(path), True, "TensorBoard"
    elif not path.is_file():
        raise InputError(f"{path}: not a file")
    else:
        frame, sparse, fmt = _read_file(path)
    if frame.empty:
        raise InputError(f"{path}: has a header but no data rows")
    wandb = _from_wandb_export(frame)
    if wandb is not None:
        frame, sparse, fmt = wandb, True, "W&B chart export"
    elif any(str(c) in ("_step", "_runtime", "_timestamp") for c in frame.columns):
        sparse, fmt = True, "W&B run history"  # each metric logged at its own steps: empty cells
    known = run_json_columns(path)
    if known:  # what the run's run.json knows: its model size
        frame = frame.assign(**{k: v for k, v in known.items() if k not in frame.columns})
        fmt += f" with its run.json ({', '.join(known)})"
    frame.attrs["format"] = fmt
    return frame, sparse


def run_json_columns(path: Path) -> dict[str, int]:
    """For a ``log.csv`` that ``scalelaw train`` wrote (a ``run.json`` beside it): the run's
    parameter counts as constant columns, ``n`` (non-embedding, the N of the size laws),
    ``params`` (total) and for an encoder-decoder ``ne`` and ``nd``; else nothing (nor for a
    run.json that cannot be read: the log alone is still a log)."""
    meta = path.with_name("run.json")
    if path.name != "log.csv" or not meta.is_file():
        return {}
    try:
        counts = json.loads(meta.read_text(encoding="utf-8"))["parameters"]
        names = {"non_embedding": "n", "total": "params", "encoder": "ne", "decoder": "nd"}
        return {column: int(counts[key]) for key, column in names.items() if isinstance(counts.get(key), int)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _read_file(path: Path) -> tuple[pd.DataFrame, bool, str]:
    suffix = path.suffix.lower()
    if suffix == ".toml":  # the one TOML file scalelaw knows is a sweep's spec
        raise InputError(f"{path}: a TOML file is a sweep spec, not a log or a table of losses (run it with "
                         "scalelaw sweep; give fit or inspect the sweep's logs or its summary)")
    try:
        if suffix == ".json":
            return _read_trainer_state(path), True, "trainer_state.json"
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True), True, "JSON lines"
        with open(path, encoding="utf-8") as fh:
            head = fh.read(1 << 16)
        with warnings.catch_warnings():  # a row longer than the header is an error, not a truncation
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return _read_delimited(path, head)
    except InputError:
        raise
    except pd.errors.ParserWarning:
        raise InputError(f"{path}: a row has more fields than the header") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot be read as a {suffix.lstrip('.') or 'CSV'} table ({first})") from None


def _read_delimited(path: Path, head: str) -> tuple[pd.DataFrame, bool, str]:
    """A text log of training-loop prints, or a table with a header, its separator guessed from
    the header line."""
    if any(_text_record(line) for line in head.splitlines()[:2000]):
        return _read_text_log(path), True, "text log (nanoGPT style)"
    header = next((line for line in head.splitlines() if line.strip()), "")
    for sep, name in (("\t", "TSV"), (";", "semicolon-separated"), (",", "CSV")):
        if sep in header:
            _unique_header(path, [c.strip().strip('"') for c in header.split(sep)])
            return pd.read_csv(path, sep=sep, skipinitialspace=True, index_col=False), False, name
    if len(header.split()) > 1:
        _unique_header(path, header.split())
        return pd.read_csv(path, sep=r"\s+", index_col=False), False, "whitespace-separated"
    return pd.read_csv(path, index_col=False), False, "CSV"


def _unique_header(path: Path, names: list[str]) -> None:
    """A column named twice would be read as NAME and NAME.1 (pandas), the first used silently."""
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"{path}: column '{name}' appears twice in the header; rename one")
        seen.add(name)


def _text_record(line: str) -> dict | None:
    """``{"step": .., name: value, ...}`` from a nanoGPT-style line, or None."""
    m = _TEXT_LINE.match(line)
    if not m:
        return None
    pairs = {re.sub(r"[\s/-]+", "_", p["key"].strip().lower()): float(p["value"])
             for p in _TEXT_PAIR.finditer(m["rest"])}
    return {"step": int(m["step"]), **pairs} if pairs else None


def _read_text_log(path: Path) -> pd.DataFrame:
    """Training-loop prints, one record per ``iter N: ...`` or ``step N: ...`` line; other lines
    (configuration, warnings) are skipped."""
    with open(path, encoding="utf-8") as fh:
        records = [r for r in map(_text_record, fh) if r]
    return pd.DataFrame.from_records(records)


def _read_tensorboard(path: Path) -> pd.DataFrame:
    """Scalars of an event file or of a folder of runs (one run per folder holding events)."""
    try:
        from tbparse import SummaryReader
    except ImportError:
        raise InputError(f"{path}: reading TensorBoard logs needs tbparse: pip install 'scalelaw[tensorboard]'") from None
    try:
        with warnings.catch_warnings():  # tbparse's own pandas deprecation warnings are not the user's
            warnings.simplefilter("ignore")
            frame = SummaryReader(str(path), pivot=True, extra_columns={"dir_name"}).scalars
    except Exception as exc:  # a corrupt event file: tbparse and tensorboard raise many types
        raise InputError(f"{path}: cannot be read as TensorBoard events ({type(exc).__name__}: {exc})") from None
    if frame is None or frame.empty:
        raise InputError(f"{path}: no TensorBoard scalars found (expected events.out.tfevents.* files)")
    # a tag written twice at one step (a resumed run) comes back as a list: its last value
    for col in frame.columns:
        if frame[col].dtype == object and col != "dir_name":
            frame[col] = frame[col].map(lambda v: v[-1] if isinstance(v, list) else v)
    if "dir_name" in frame.columns:
        frame = frame.rename(columns={"dir_name": "run"})
        frame["run"] = frame["run"].replace("", path.stem if path.is_file() else path.name)
    return frame


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
    if not series or not any(str(c).lower() in CURVE_NAMES["step"] for c in frame.columns):
        return None
    step = next(c for c in frame.columns if str(c).lower() in CURVE_NAMES["step"])
    parts = []
    for col in series:
        part = frame[[step, col]].rename(columns={col: matches[col]["metric"], step: "step"})
        part.insert(0, "run", matches[col]["run"])
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    # One row per (run, step): several metrics of one run land in the same row.
    return long.groupby(["run", "step"], sort=False, as_index=False).first()
