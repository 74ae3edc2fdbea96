"""A sweep's spec: a predefined sweep's name (``SWEEPS``, the TOML files in ``sweeps/``) or a TOML
file of ``[sweep]``, ``[base]``, ``[grid]`` and ``[[runs]]`` tables, read into its runs'
``TrainConfig`` by name, every option checked before any run starts (``load_spec``)."""
from __future__ import annotations

import itertools
import re
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

from ..errors import InputError
from ..schedules import join_spec, split_spec
from .config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SPECS = Path(__file__).resolve().parent / "sweeps"
SWEEPS: dict[str, Path] = {p.stem: p for p in sorted(SPECS.glob("*.toml"))}
_TABLES = ("sweep", "base", "grid", "runs")


LABELS = ("budget",)  # keys of a run that are not training options: recorded in sweep.json and summary.csv


def load_spec(spec: str | Path, labels: dict | None = None) -> dict[str, TrainConfig]:
    """The runs of a sweep, by name: ``spec`` is a predefined sweep's name or a TOML file.
    Everything is checked before any run starts: an unknown option, a value of the wrong type
    or one ``scalelaw train`` refuses, an empty grid, or two runs with one name raise an
    ``InputError`` naming the file and key. A run may carry ``LABELS``, which are not training
    options: ``budget``, the compute it was planned for (FLOPs; an isoFLOP ladder's budget,
    which ``scalelaw isoflop`` groups runs by); given a dict ``labels``, it is filled with run
    -> {label: value}."""
    path = SWEEPS.get(str(spec), Path(spec))
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        known = ", ".join(SWEEPS)
        raise InputError(f"{spec}: cannot read the sweep spec ({exc.strerror}); predefined sweeps: {known}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not a TOML file ({exc})") from None
    unknown = [k for k in table if k not in _TABLES]
    if unknown:
        raise InputError(f"{path}: [{unknown[0]}] is not a table of a sweep spec ({', '.join(_TABLES)})")
    base, grid, extra = table.get("base", {}), table.get("grid", {}), table.get("runs", [])
    for key, value in (("base", base), ("grid", grid)):
        if not isinstance(value, dict):
            raise InputError(f"{path}: {key} must be a table ([{key}] with one option per line), got {value!r}")
    if not isinstance(extra, list) or not all(isinstance(run, dict) for run in extra):
        raise InputError(f"{path}: runs must be tables ([[runs]] with one option per line), got {extra!r}")
    sweep = table.get("sweep", {})
    wrong = [k for k in sweep if k != "name"] if isinstance(sweep, dict) else ["(not a table)"]
    if wrong:
        raise InputError(f"{path}: [sweep] {wrong[0]} is not a key of [sweep] (its one key: name)")
    template = sweep.get("name")
    if template is not None and not isinstance(template, str):
        raise InputError(f"{path}: [sweep] name: expected a string such as \"w{{width}}\", got {template!r}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"{path}: [grid] {key}: expected a non-empty list of values, got {values!r}")
    if not grid and not extra:
        raise InputError(f"{path}: the sweep has no runs: give a [grid] of option lists or [[runs]]")
    points = [("[grid]", dict(zip(grid, combo))) for combo in itertools.product(*grid.values())] if grid else []
    points += [(f"[[runs]] {i + 1}", dict(run)) for i, run in enumerate(extra)]
    varying = [*grid, *dict.fromkeys(k for run in extra for k in run if k != "name")]
    for where, point in points:  # every option of every run first: a run's name may use any of them
        for key, value in {**base, **point}.items():
            if key in LABELS:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                    raise InputError(f"{path}: {where} {key}: expected a positive number of FLOPs, got {value!r}")
            elif key != "name":
                _check_option(path, "[base]" if key in base and key not in point else where, key, value)
    configs: dict[str, TrainConfig] = {}
    for where, point in points:
        point = {**base, **point}
        marks = {key: float(point.pop(key)) for key in LABELS if key in point}
        given = point.pop("name", None)
        if given is not None:
            check_name(path, where, given)
        config = TrainConfig(**point)
        name = given or _run_name(config, template, varying)
        check_name(path, where, name)  # a name made from options too (a corpus of '..')
        try:
            config.check()
        except InputError as exc:
            raise InputError(f"{path}: run '{name}': {exc}") from None
        if name in configs:
            raise InputError(f"{path}: two runs are named '{name}' (give [sweep] name a key that tells them apart)")
        configs[name] = config
        if labels is not None and marks:
            labels[name] = marks
    return configs


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.=_-]*")


def check_name(path: Path, where: str, name) -> None:
    """A run's name is a folder inside the sweep's --out: a string of letters, digits and
    ``. = _ -`` that starts with a letter or digit (so no separator, no ``..``, no absolute path)."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise InputError(f"{path}: {where} name {name!r}: a run's name is one folder inside --out: letters, digits "
                         "and . = _ - (no path separators, no '..')")


_TYPES = {f.name: type(f.default) for f in fields(TrainConfig)}


def _check_option(path: Path, where: str, key: str, value) -> None:
    if key not in _TYPES:
        raise InputError(f"{path}: {where} {key}: not a scalelaw train option (options: {', '.join(_TYPES)})")
    kind = _TYPES[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool)) or \
        kind is float and isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise InputError(f"{path}: {where} {key}: expected {kind.__name__}, got {value!r}")


def _run_name(config: TrainConfig, template: str | None, varying: list[str]) -> str:
    """A run's folder name from its options: the template, or ``key=value`` of the options
    that vary across the sweep (characters other than letters, digits and ``.=_-`` become ``-``)."""
    if template:
        try:
            name = template.format(**asdict(config))
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"[sweep] name {template!r}: {exc!r} is not a train option") from None
    else:
        name = "_".join(f"{k}={getattr(config, k)}" for k in varying) or "run"
    return re.sub(r"[^A-Za-z0-9.=_-]+", "-", name)


def sweep_configs(kind: str | Path, steps: int | None = None, labels: dict | None = None) -> dict[str, TrainConfig]:
    """The runs of a sweep by name; ``steps`` shortens every run (the schedules follow);
    ``labels`` as for ``load_spec``."""
    configs = load_spec(kind, labels)
    if steps is None:
        return configs
    if steps < 10:
        raise InputError(f"--steps must be at least 10 for a sweep, got {steps}")
    return {name: _shortened(c, steps) for name, c in configs.items()}


def _shortened(config: TrainConfig, steps: int) -> TrainConfig:
    """``config`` at ``steps`` steps, warmup, milestones and evaluation scaled alike; the
    held-out set cut to at most 8 batches (a quick look)."""
    factor = steps / config.steps
    name, items = split_spec(config.schedule)
    if "warmup" in items:
        items["warmup"] = str(max(1, round(int(items["warmup"]) * factor)))
    if "milestones" in items:
        items["milestones"] = "/".join(str(round(float(m) * factor)) for m in items["milestones"].split("/"))
    return replace(config, steps=steps, schedule=join_spec(name, items),
                   eval_every=max(1, round(config.eval_every * factor)), eval_batches=min(config.eval_batches, 8),
                   checkpoint_every=max(1, round(config.checkpoint_every * factor)))
