"""Forecasts (issue 13): warmup conventions, law='auto', references, identification, intervals on
predicted curves, fit status, and multipower on a per-step log."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import InputError, forecast, references, schedules
from scalelaw.cli import main
from scalelaw.laws import get_law

from conftest import DATA, assert_jacobian

PEAK = 3e-4
SPECS = {
    "constant": f"constant:peak={PEAK},total=8000,warmup=400",
    "cosine": f"cosine:peak={PEAK},total=8000,warmup=400,final=3e-5",
    "wsd": f"wsd:peak={PEAK},total=8000,warmup=400,decay=0.25,final=1e-5",
    "step": f"multistep:peak={PEAK},total=8000,warmup=400,milestones=5000,gamma=0.3",
}
ANNEALING = {"L0": 3.0, "A": 0.5, "alpha": 0.55, "C": 0.4}
MULTIPOWER = {"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.5}


def curves(law, params, names, options, noise=5e-4, seed=0, start=450, every=50):
    """Synthetic logs of ``law`` under ``options`` (warmup convention), logged every ``every``
    steps from ``start`` with the lr of that step (the warmup before it is not logged)."""
    law, rng, frames = get_law(law), np.random.default_rng(seed), []
    for name in names:
        lr = schedules.parse(SPECS[name])
        steps = np.arange(start, len(lr), every)
        y = law(law.features(lr, steps, {**law.options, **options}), **params)
        frames.append(pd.DataFrame({"run": name, "step": steps, "lr": lr[steps],
                                    "y": y * np.exp(rng.normal(0, noise, len(steps)))}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("law, true", [("annealing", ANNEALING), ("multipower", MULTIPOWER)])
@pytest.mark.parametrize("warmup", ["peak", "actual"])
def test_recovers_known_parameters_under_both_warmup_conventions(law, true, warmup):
    data = curves(law, true, ["constant", "cosine", "step"], {"warmup": warmup})
    result = scalelaw.fit(law, data, schedules={n: SPECS[n] for n in SPECS}, options={"warmup": warmup})
    assert result.converged
    for name in ("L0", "A", "alpha"):
        assert result.params[name] == pytest.approx(true[name], rel=0.05), name
    held = curves(law, true, ["wsd"], {"warmup": warmup}, noise=0)
    pred = result.predict(held["step"], SPECS["wsd"])
    assert np.max(np.abs(pred - held["y"]) / held["y"]) < 3e-3


def test_actual_warmup_ramps_an_unlogged_warmup_from_zero():
    peak = schedules.from_log([100, 200], [1.0, 1.0], warmup="peak")
    actual = schedules.from_log([100, 200], [1.0, 1.0], warmup="actual")
    assert np.all(peak[:100] == 1.0)
    assert actual[0] == 0.0 and actual[50] == pytest.approx(0.5) and actual[100] == 1.0
    assert np.array_equal(actual[100:], peak[100:])
    with pytest.raises(InputError, match="zero at every row"):
        schedules.from_log([1, 2], [0.0, 0.0])


@pytest.mark.slow
def test_auto_chooses_the_generating_convention_and_round_trips(tmp_path):
    data = curves("annealing", ANNEALING, ["constant", "cosine", "step"], {"warmup": "actual"}, seed=3)
    result = scalelaw.fit("auto", data)
    auto = result.options["auto"]
    assert auto["law_options"]["warmup"] == "actual" and "leave one run out" in auto["split"]
    assert {c["name"] for c in auto["candidates"]} >= {"annealing(warmup=peak)", "annealing(warmup=actual)"}
    assert result.identified and result.status == "converged"
    path = tmp_path / "auto.json"
    result.to_json(path)
    back = scalelaw.FitResult.from_json(path)
    d = json.loads(path.read_text())
    assert d["auto"]["chosen"] == auto["chosen"] and d["identified"] is True
    held = curves("annealing", ANNEALING, ["wsd"], {"warmup": "actual"}, noise=0)
    log = (held["step"].to_numpy(), held["lr"].to_numpy())
    assert np.allclose(back.predict(held["step"], log), result.predict(held["step"], log))
    assert np.allclose(back.predict_interval(held["step"], log)[0], result.predict_interval(held["step"], log)[0])
    # the forecast combines the candidates by their held-out errors, and the fit file says how
    assert "forward split" in auto["split"] and "inverse held-out" in auto["combined"]
    weights = auto["weights"]
    assert sum(weights.values()) == pytest.approx(1.0) and max(weights, key=weights.get) == auto["chosen"]
    assert d["auto"]["weights"] == pytest.approx(weights)
    alts = [a for a in back.forecast.alternatives if a.weight is not None]
    assert {a.name for a in alts} == set(weights) - {auto["chosen"]}
    own = back.law(back.inputs(held["step"], log), **back.params)
    members = [get_law(a.law)(back.inputs(held["step"], log, _law=get_law(a.law), _options=a.law_options), **a.params)
               for a in alts]
    mixture = weights[auto["chosen"]] * own + sum(a.weight * m for a, m in zip(alts, members))
    assert np.allclose(back.predict(held["step"], log), mixture)


def test_one_short_run_without_decay_is_not_identified_and_its_interval_is_wide():
    full = curves("annealing", ANNEALING, ["cosine"], {"warmup": "actual"}, noise=1e-3, every=20)
    part = full[full["step"] <= 1600]  # a cosine to 8000 has decayed by a few % at step 1600
    result = scalelaw.fit("auto", part, prior=None)  # without the prior (tests/test_prior.py: with it)
    assert result.identified is False and "not identified" in result.forecast.reason
    assert "forward split" in result.options["auto"]["split"]
    assert json.loads(result.to_json())["identified"] is False
    last, y = [int(full["step"].iloc[-1])], float(full["y"].iloc[-1])
    lo, hi = result.predict_interval(last, (full["step"], full["lr"]))
    assert lo[0] <= y <= hi[0]  # wide, so it holds the truth rather than being confidently wrong
    drop = ANNEALING["C"] * get_law("annealing").features(schedules.parse(SPECS["cosine"]), np.array(last),
                                                         {"decay": 0.999, "warmup": "actual"})["S2"][0]
    assert hi[0] - lo[0] > drop  # at least as wide as the whole loss drop of the decay
    # and it says where that width came from: mostly the decay term it could not identify
    shares = forecast.width_from(result, last, (full["step"], full["lr"]))
    assert set(shares) >= {"parameters", "decay term", "error scale"}
    assert sum(v[0] for v in shares.values()) == pytest.approx(1.0)
    assert max(shares, key=lambda k: shares[k][0]) == "decay term"
    # the interval is z standard deviations of the sum of those sources
    law_in = result.inputs(last, (full["step"], full["lr"]))
    centre = result.predict(last, (full["step"], full["lr"]))
    parts = forecast.variances(result, last, (full["step"], full["lr"]), {}, law_in, centre,
                               result.parameter_band(law_in, centre), 1.959964)
    assert hi[0] - centre[0] == pytest.approx(1.959964 * np.sqrt(sum(v[0] for v in parts.values())), rel=1e-4)


def test_references_lend_the_decay_term_to_a_short_curve():
    # a family: two "sizes" share alpha and C; the reference finished its runs, the target has
    # only its first 20 %
    small = {**ANNEALING, "L0": 3.3, "A": 0.6}
    reference = curves("annealing", small, ["constant", "cosine"], {"warmup": "actual"}, seed=1)
    full = curves("annealing", ANNEALING, ["cosine"], {"warmup": "actual"}, seed=2, every=20)
    part = full[full["step"] <= 1600]
    alone = scalelaw.fit("auto", part)
    helped = scalelaw.fit("auto", part, references=reference)
    assert not alone.identified and helped.identified
    assert set(helped.forecast.references["fixed"]) == set(helped.law.decay_params)
    last, y = [int(full["step"].iloc[-1])], float(full["y"].iloc[-1])
    log = (full["step"], full["lr"])
    pred = helped.predict(last, log)[0]
    lo, hi = helped.predict_interval(last, log)
    assert abs(pred - y) / y < 0.01 and lo[0] <= y <= hi[0]
    # the decay term taken over carries references.TRANSFER as a relative error: the band is as wide
    # as that error on the decay drop, not wider
    assert helped.forecast.transfer == references.TRANSFER
    drop = forecast.decay_drop(helped, last, log, {}, helped.inputs(last, log), np.array([pred]))[0]
    assert 0.9 * 2 * 1.96 * references.TRANSFER * drop < hi[0] - lo[0] < 2 * 1.96 * 1.5 * references.TRANSFER * drop


    # once the run has decayed enough to identify its own decay term, it uses its own: a
    # reference whose decay is worth half as much does not pull the forecast
    other = curves("annealing", {**small, "C": ANNEALING["C"] / 2}, ["constant", "cosine"], {"warmup": "actual"},
                   seed=1)
    seen = full[full["step"] <= 7600]  # the cosine to 8000 (and 10 % of its peak) has decayed by 88 %
    own = scalelaw.fit("auto", seen, references=other)
    assert own.forecast.transfer is None and own.forecast.references is None
    chosen = next(c for c in own.options["auto"]["candidates"] if c["name"] == own.options["auto"]["chosen"])
    assert chosen["decay_from"].startswith("the logs (they identify") and "not used" in own.options["auto"]["why"]
    pred = own.predict(last, log)[0]
    lo, hi = own.predict_interval(last, log)
    assert abs(pred - y) / y < 0.005 and lo[0] <= y <= hi[0]



def test_a_constant_lr_reference_lends_its_exponent_and_the_prior_the_decay_term():
    small = {**ANNEALING, "L0": 3.3, "A": 0.6}
    reference = curves("annealing", small, ["constant"], {"warmup": "actual"}, seed=1)
    full = curves("annealing", ANNEALING, ["cosine"], {"warmup": "actual"}, seed=2, every=20)
    part = full[full["step"] <= 1600]
    result = scalelaw.fit("auto", part, references=reference)  # was refused: "the logs are too short"
    assert not result.identified and result.forecast.uses_prior and result.forecast.transfer is None
    chosen = next(c for c in result.options["auto"]["candidates"] if c["name"] == result.options["auto"]["chosen"])
    assert "lend their exponent" in chosen["decay_from"]
    alpha_alt = [a for a in result.forecast.alternatives if a.name.endswith("(alpha from references)")]
    assert alpha_alt and alpha_alt[0].weight is None
    fitted_alpha = scalelaw.fit(chosen["law"], reference, options=chosen["law_options"], prior=None).params["alpha"]
    assert alpha_alt[0].params["alpha"] == pytest.approx(fitted_alpha, rel=1e-6)
    last, y = [int(full["step"].iloc[-1])], float(full["y"].iloc[-1])
    lo, hi = result.predict_interval(last, (full["step"], full["lr"]))
    assert lo[0] <= y <= hi[0]


def test_references_of_two_other_sizes_each_keep_their_level_and_share_the_decay():
    """References of two model sizes (their own L0 and A, the same alpha and C) lend a third
    size's short curve the decay term; fitted with one level they were refused."""
    sizes = {"small": {**ANNEALING, "L0": 3.3, "A": 0.6}, "large": {**ANNEALING, "L0": 2.6, "A": 0.35}}
    reference = pd.concat([curves("annealing", p, ["cosine"], {"warmup": "actual"}, seed=i).assign(run=name)
                           for i, (name, p) in enumerate(sizes.items())], ignore_index=True)
    full = curves("annealing", {**ANNEALING, "L0": 2.9, "A": 0.45}, ["cosine"], {"warmup": "actual"}, seed=5, every=20)
    part = full[full["step"] <= 1600]
    helped = scalelaw.fit("auto", part, references=reference)
    assert helped.identified and helped.forecast.references["runs"] == ["large", "small"]
    fixed = helped.forecast.references["fixed"]
    assert set(fixed) == set(helped.law.decay_params)
    if helped.law.name == "annealing":  # the truth is an annealing law: its C comes back
        assert fixed["C"] == pytest.approx(ANNEALING["C"], rel=0.1)
    last, y = [int(full["step"].iloc[-1])], float(full["y"].iloc[-1])
    log = (full["step"], full["lr"])
    lo, hi = helped.predict_interval(last, log)
    assert abs(helped.predict(last, log)[0] - y) / y < 0.01 and lo[0] <= y <= hi[0]


def test_references_of_two_sizes_lend_the_decay_scale_at_the_runs_own_level():
    """What LR decay buys grows with model size (on every family of the forecast suite): with a
    constant and a cosine run of each of two sizes whose C differs, the runs are grouped by
    size, each size's C is fitted, and a third size gets C from the trend of log C with log
    level, not their mean."""
    sizes = {"small": {**ANNEALING, "L0": 3.3, "A": 0.6, "C": 0.3}, "mid": {**ANNEALING, "L0": 3.1, "A": 0.5, "C": 0.4}}
    reference = pd.concat([curves("annealing", p, ["constant", "cosine"], {"warmup": "peak"}, seed=i)
                           .assign(run=lambda d, name=name: name + " " + d["run"])
                           for i, (name, p) in enumerate(sizes.items())], ignore_index=True)
    truth = {**ANNEALING, "L0": 2.9, "A": 0.4, "C": 0.52}
    full = curves("annealing", truth, ["cosine"], {"warmup": "peak"}, seed=5, every=20)
    part = full[full["step"] <= 1600]
    helped = scalelaw.fit("annealing", part, references=reference, options={"warmup": "peak"})
    trend = helped.forecast.references["decay_trend"]
    assert sorted(map(sorted, trend["runs"])) == [["mid constant", "mid cosine"], ["small constant", "small cosine"]]
    assert sorted(trend["scales"]) == pytest.approx([0.3, 0.4], rel=0.1) and trend["slope"] < 0
    C = helped.forecast.references["fixed"]["C"]
    assert abs(np.log(C / truth["C"])) < 0.5 * abs(np.log(np.sqrt(0.3 * 0.4) / truth["C"]))
    last, y = [int(full["step"].iloc[-1])], float(full["y"].iloc[-1])
    log = (full["step"], full["lr"])
    lo, hi = helped.predict_interval(last, log)
    assert abs(helped.predict(last, log)[0] - y) / y < 0.01 and lo[0] <= y <= hi[0]


def test_a_law_per_group_has_each_groups_level_and_scale_and_an_exact_jacobian():
    law = get_law("annealing").per_group(2)
    assert law.param_names == ("L0@0", "A@0", "L0@1", "A@1", "alpha", "C") and law.inputs[-1] == "group"
    lr = schedules.parse(SPECS["cosine"])
    steps = np.arange(100, len(lr), 100)
    X = get_law("annealing").features(lr, steps, dict(get_law("annealing").options))
    X = {k: np.concatenate([v, v]) for k, v in X.items()}
    X["group"] = np.repeat([0.0, 1.0], len(steps))
    values = {"L0@0": 3.0, "A@0": 0.5, "L0@1": 2.5, "A@1": 0.3, "alpha": 0.5, "C": 0.4}
    y = law(X, **values)
    one = get_law("annealing")
    single = {k: np.asarray(v)[: len(steps)] for k, v in X.items() if k != "group"}
    np.testing.assert_allclose(y[: len(steps)], one(single, L0=3.0, A=0.5, alpha=0.5, C=0.4))
    assert_jacobian(law, X, values)

def test_interval_coverage_on_synthetic_curves_is_near_nominal():
    inside, total = 0, 0
    for seed in range(12):
        data = curves("annealing", ANNEALING, ["constant", "cosine"], {"warmup": "peak"}, noise=2e-3, seed=seed)
        result = scalelaw.fit("annealing", data, schedules=SPECS)
        held = curves("annealing", ANNEALING, ["wsd"], {"warmup": "peak"}, noise=2e-3, seed=100 + seed)
        lo, hi = result.predict_interval(held["step"], SPECS["wsd"])
        inside += int(np.sum((held["y"] >= lo) & (held["y"] <= hi)))
        total += len(held)
    assert 0.88 <= inside / total <= 0.995


def test_status_flags_a_parameter_on_its_bound():
    # a constant-LR curve cannot tell how much decay is worth: C ends on its bound of 0 or is singular
    data = curves("annealing", {**ANNEALING, "C": 0.0}, ["constant"], {"warmup": "peak"}, noise=1e-3)
    result = scalelaw.fit("annealing", data, prior=None)
    assert result.status in ("at_bound", "singular")
    assert result.identified is False
    d = json.loads(result.to_json())
    assert d["status"] == result.status and d["converged"] is True
    assert "converged" != d["status"]
    # with the prior, C is held at 0 (the drop comes from the prior) and the fit says so
    held = scalelaw.fit("annealing", data)
    assert held.identified is False and held.forecast.uses_prior
    assert held.options["fixed"]["C"] == 0.0 and held.stderr["C"] == 0.0
    assert any("prior" in w for w in held.warnings)


def test_level_is_validated():
    data = curves("annealing", ANNEALING, ["constant", "cosine"], {"warmup": "peak"})
    with pytest.raises(InputError, match="level"):
        scalelaw.fit("annealing", data, level=1.5)


@pytest.mark.slow
def test_multipower_on_a_per_step_72k_log_stays_within_memory(tmp_path):
    script = textwrap.dedent("""
        import resource, numpy as np, pandas as pd, scalelaw
        from scalelaw import schedules
        from scalelaw.laws.annealing import ANNEALING, areas
        lr = schedules.parse("cosine:peak=3e-4,total=72000,warmup=1000,final=3e-5")
        steps = np.arange(1, 72001)
        y = ANNEALING(areas(lr, steps, ANNEALING.options), L0=3.0, A=0.5, alpha=0.55, C=0.4)
        y = y * np.exp(np.random.default_rng(0).normal(0, 0.005, len(steps)))
        r = scalelaw.fit("multipower", pd.DataFrame({"step": steps, "lr": lr[1:], "y": y}))
        lo, hi = r.predict_interval(steps, (steps, lr[1:]))  # every step: inputs in batches
        assert lo.shape == (72000,) and np.all(lo < hi)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, r.metrics["mape"])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    peak_mb, mape = map(float, out.stdout.split())
    assert peak_mb < 1024 and mape < 1.0


@pytest.mark.slow
def test_cli_auto_fit_then_predict_with_intervals(tmp_path, capsys):
    curves_dir = DATA / "multipower_law" / "csv_100"
    fit_path = tmp_path / "auto.json"
    files = [str(curves_dir / f"{n}.csv") for n in ("constant_24000", "cosine_24000")]
    assert main(["fit", *files, "--law", "auto", "--save", str(fit_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["auto"]["chosen"] and out["status"] in ("converged", "at_bound", "singular")
    assert main(["predict", str(fit_path), "--log", str(curves_dir / "wsd_20000_24000.csv"), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert len(pred["lo"]) == len(pred["hi"]) == len(pred["loss"])
    assert all(lo < p < hi for lo, p, hi in zip(pred["lo"], pred["loss"], pred["hi"]))
    assert main(["predict", str(fit_path), "--schedule", "cosine:peak=3e-4,total=72000,warmup=2160,final=3e-5",
                 "--at", "24000,72000", "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["lo"][1] < pred["loss"][1] < pred["hi"][1]
    # early run with a reference from the other size
    part = tmp_path / "part.csv"
    pd.read_csv(curves_dir / "cosine_72000.csv").query("step <= 14400").to_csv(part, index=False)
    ref = DATA / "multipower_law" / "csv_25" / "cosine_72000.csv"
    assert main(["fit", str(part), "--law", "auto", "--reference", str(ref), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["identified"] is True and out["forecast"]["references"]["fixed"]
    assert main(["fit", str(part), "--law", "auto", "--warmup", "actual"]) == 2


def test_a_decayed_schedule_below_the_no_decay_floor_is_answered(tmp_path, capsys):
    # LR decay lowers the loss below the law's floor (its loss at unbounded LR area without
    # decay): such a forecast is an answer, not a refusal (only an LR beyond the fitted ones is)
    data = curves("annealing", {**ANNEALING, "C": 3.0}, ["constant", "cosine"], {"warmup": "peak"}, noise=2e-4)
    result = scalelaw.fit("annealing", data, options={"warmup": "peak"})
    path = tmp_path / "fit.json"
    result.to_json(path)
    lr = schedules.parse(SPECS["cosine"])
    floor = result.floor([len(lr) - 1], lr)[0]
    assert main(["predict", str(path), "--schedule", SPECS["cosine"], "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["hi"][0] < floor  # wholly below the floor, and right
    truth = get_law("annealing")(get_law("annealing").features(lr, np.array([len(lr) - 1]),
                                                                 {"decay": 0.999, "warmup": "peak"}),
                                 **{**ANNEALING, "C": 3.0})[0]
    assert d["lo"][0] <= truth <= d["hi"][0]


def test_a_named_law_holds_the_users_fixed_values_and_the_references_keep_theirs():
    """``fixed`` holds the user's run's parameters; the references (other runs) are fitted
    without it, and their fit is cached under a key that any settings make (a dict of fixed
    values was an unhashable TypeError). ``auto`` refuses ``fixed``: its candidates' parameters
    differ."""
    small = {**ANNEALING, "L0": 3.3, "A": 0.6}
    reference = curves("annealing", small, ["constant", "cosine"], {"warmup": "actual"}, seed=1)
    part = curves("annealing", ANNEALING, ["cosine"], {"warmup": "actual"}, seed=2, every=20)
    part = part[part["step"] <= 1600]
    free = scalelaw.fit("annealing", part, references=reference)
    held = scalelaw.fit("annealing", part, references=reference, fixed={"alpha": 0.4})
    assert held.params["alpha"] == 0.4 and free.params["alpha"] != 0.4
    # the decay term lent is the references' own fit, untouched by the user's alpha
    assert held.params["C"] == pytest.approx(free.params["C"], rel=1e-9)
    with pytest.raises(InputError, match="'fixed' does not apply"):
        scalelaw.fit("auto", part, references=reference, fixed={"alpha": 0.4})


def test_the_reference_fits_kept_are_bounded(monkeypatch):
    """A watched run refits often, each time with references: their fits are cached, the most
    recently used kept, at most ``REFERENCE_FITS_KEPT``."""
    made = []
    monkeypatch.setattr(references, "_REFERENCE_FITS", type(references._REFERENCE_FITS)())
    monkeypatch.setattr(references, "reference_fit", lambda law, refs, options, kwargs: made.append(1) or
                        type("Fit", (), {"converged": False})())
    law = get_law("annealing")
    frames = [pd.DataFrame({"run": "r", "step": [1, 2, 3], "y": [3.0, 2.9, 2.8 + k], "lr": 1e-3}) for k in range(20)]
    for frame in frames:
        references.lend(law, {}, frame, {"fixed": {"alpha": 0.5}})
    assert len(made) == 20 and len(references._REFERENCE_FITS) == references.REFERENCE_FITS_KEPT
    references.lend(law, {}, frames[-1], {"fixed": {"alpha": 0.5}})  # the last one is still kept
    assert len(made) == 20
    references.lend(law, {}, frames[0], {"fixed": {"alpha": 0.5}})  # the first was let go
    assert len(made) == 21
