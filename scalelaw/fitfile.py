"""The checks of a fit file (``--save``, ``FitResult.to_json``) when it is read back: every key that
loading and predicting use has its type and shape, every parameter is a finite number inside its
law's range, and the law and its options exist. A truncated or hand-broken file exits 2 naming
the file and the key, never a traceback or a silent NaN."""
from __future__ import annotations

import math

from .errors import InputError
from .laws import Law, get_law


def check(d, name: str) -> Law:
    """The law of a fit file's object ``d`` (bound to its options), after checking every key that
    ``FitResult.from_json`` and the predictions read; an ``InputError`` names the file ``name``
    and the first key that is wrong."""
    def wrong(key, expected, value):
        shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
        raise InputError(f"{name}: not a usable scalelaw fit file: '{key}' should be {expected}, got {shown}")

    def number(key, value, finite=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (finite and not math.isfinite(value)):
            wrong(key, "a finite number" if finite else "a number or null", value)

    if not isinstance(d, dict):
        wrong("(top level)", "an object", d)
    for key, kind in (("options", dict), ("params", dict), ("stderr", dict), ("metrics", dict),
                      ("domain", dict), ("columns", dict), ("forecast", dict)):
        if d.get(key) is not None and not isinstance(d[key], kind):
            wrong(key, "an object", d[key])
    for key in ("warnings", "at_bounds"):
        if d.get(key) is not None and not isinstance(d[key], list):
            wrong(key, "a list", d[key])
    for key in ("law", "params", "stderr", "metrics", "converged"):
        if key not in d:
            raise InputError(f"{name}: not a usable scalelaw fit file: no '{key}'")
    for key in ("params", "stderr", "metrics"):
        if not isinstance(d[key], dict):
            wrong(key, "an object", d[key])
    if not isinstance(d["law"], str):
        wrong("law", "a law's name", d["law"])
    options = d.get("options") or {}
    law_options = options.get("law_options", {})
    if not isinstance(law_options, dict):
        wrong("options.law_options", "an object", law_options)
    law = _check_law(d["law"], law_options, d["params"], name, "")
    for k, v in d["stderr"].items():
        if v is not None:
            number(f"stderr.{k}", v)
    for k, v in d["metrics"].items():
        if v is not None and not isinstance(v, (int, float)):
            wrong(f"metrics.{k}", "a number", v)
    if "rms_error" in d["metrics"]:  # the intervals beyond the fitted sizes compute with it
        number("metrics.rms_error", d["metrics"]["rms_error"])
    for k, v in (d.get("domain") or {}).items():
        if not (isinstance(v, (list, tuple)) and len(v) == 2):
            wrong(f"domain.{k}", "[low, high]", v)
        for x in v:
            number(f"domain.{k}", x)
    p = len(law.params)
    cov = d.get("covariance")
    if cov is not None:
        if not isinstance(cov, dict) or cov.get("names") != law.theta_names:
            wrong("covariance.names", f"{law.theta_names}", cov.get("names") if isinstance(cov, dict) else cov)
        matrix = cov.get("matrix")
        if not (isinstance(matrix, list) and len(matrix) == p and all(isinstance(r, list) and len(r) == p for r in matrix)):
            wrong("covariance.matrix", f"a {p} x {p} list of numbers", matrix)
        for row in matrix:
            for x in row:
                number("covariance.matrix", x)
    samples = d.get("bootstrap_samples")
    if samples is not None:
        if not (isinstance(samples, list) and all(isinstance(r, list) and len(r) == p for r in samples)):
            wrong("bootstrap_samples", f"a list of rows of {p} numbers", samples)
        for row in samples:
            for x in row:
                number("bootstrap_samples", x)
    for key in ("ci", "ci_bootstrap"):
        pairs = d.get(key)
        if pairs is not None and not (isinstance(pairs, dict) and all(
                isinstance(v, (list, tuple)) and len(v) == 2 for v in pairs.values())):
            wrong(key, "an object of [low, high] pairs", pairs)
        for k, v in (pairs or {}).items():
            for x in v:
                if x is not None:
                    number(f"{key}.{k}", x, finite=False)
    start = options.get("fitted_from_step")
    if start is not None:
        number("options.fitted_from_step", start)
    held = options.get("held_out")
    if held is not None and not (isinstance(held, dict) and (not held or (
            isinstance(held.get("by"), str) and "sigma" in held and isinstance(held.get("mape"), dict)))):
        wrong("options.held_out", "an object with by, sigma, mape and groups", held)
    if held:
        number("options.held_out.sigma", held["sigma"])
        if held["sigma"] < 0:
            wrong("options.held_out.sigma", "a number >= 0", held["sigma"])
        groups = held.get("groups", len(held["mape"]))
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            wrong("options.held_out.groups", "a whole number >= 1", groups)
    binned = options.get("binned")
    if binned is not None and not (isinstance(binned, dict) and all(
            isinstance(binned.get(k), int) and not isinstance(binned.get(k), bool) and binned[k] >= 1
            for k in ("bins", "rows"))):
        wrong("options.binned", "an object with bins and rows (whole numbers >= 1)", binned)
    forecast = d.get("forecast") or {}
    for key in ("sigma", "S1_max", "transfer", "lr_decay_seen"):  # numbers the intervals compute with
        if key in forecast:
            number(f"forecast.{key}", forecast[key])
    if forecast.get("lr_max") is not None:
        number("forecast.lr_max", forecast["lr_max"])
    for key, kind, text in (("identified", bool, "true or false"), ("reason", str, "a text"),
                            ("sigma_source", str, "a text"), ("alternatives", list, "a list"),
                            ("references", dict, "an object"), ("prior", dict, "an object with q and q_log_sd")):
        if key in forecast and forecast[key] is not None and not isinstance(forecast[key], kind):
            wrong(f"forecast.{key}", text, forecast[key])
    prior = forecast.get("prior") or {}
    for key in ("q", "q_log_sd"):  # numbers a forecast computes with, when its decay term comes from a prior
        if prior:
            number(f"forecast.prior.{key}", prior.get(key))
    for key in ("reach", "alpha_sd"):
        values = prior.get(key, [])
        if not isinstance(values, list) or len(values) != len(prior.get("reach", [])):
            wrong(f"forecast.prior.{key}", "a list of numbers, one per reach", values)
        for i, v in enumerate(values):
            number(f"forecast.prior.{key}[{i}]", v)
    alternatives = forecast.get("alternatives") or []
    for i, alt in enumerate(alternatives):
        if not isinstance(alt, dict) or not isinstance(alt.get("law"), str) or not isinstance(alt.get("law_options"), dict):
            wrong(f"forecast.alternatives[{i}]", "an object with law, law_options and params", alt)
        _check_law(alt["law"], alt["law_options"], alt.get("params"), name, f"forecast.alternatives[{i}].")
        if alt.get("weight") is not None and not (isinstance(alt["weight"], (int, float))
                                                  and not isinstance(alt["weight"], bool) and 0 <= alt["weight"] <= 1):
            wrong(f"forecast.alternatives[{i}].weight", "a number from 0 to 1", alt["weight"])
    return law


def _check_law(law_name: str, law_options: dict, params, name: str, where: str) -> Law:
    """The registered law ``law_name`` bound to ``law_options``, with ``params`` checked: each of its
    parameters a finite number inside the law's range."""
    try:
        law = get_law(law_name)
        unknown = set(law_options) - set(law.options)
        if unknown:
            raise InputError(f"option {sorted(unknown)[0]!r} is not one of law '{law_name}' ({', '.join(law.options)})")
        for key, default in law.options.items():
            value = law_options.get(key, default)
            if default is not None and type(value) is not type(default) and not (
                    isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)):
                raise InputError(f"option {key!r} should be a {type(default).__name__}, got {value!r}")
            if default is None and value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not math.isfinite(value)):  # a size or step filled from the data
                raise InputError(f"option {key!r} should be a finite number, got {value!r}")
        law = law.bind({**law.options, **law_options})
    except InputError as exc:
        raise InputError(f"{name}: not a usable scalelaw fit file: {where}law: {exc}") from None
    if not isinstance(params, dict):
        raise InputError(f"{name}: not a usable scalelaw fit file: '{where}params' should be an object, got {params!r}")
    for par in law.params:
        value = params.get(par.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{name}: not a usable scalelaw fit file: '{where}params.{par.name}' should be a finite "
                             f"number, got {value!r}")
        if not par.lower <= value <= par.upper:
            raise InputError(f"{name}: not a usable scalelaw fit file: '{where}params.{par.name}' = {value:g} lies "
                             f"outside the law's range [{par.lower:g}, {par.upper:g}]")
    return law
