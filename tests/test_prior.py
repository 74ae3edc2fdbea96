"""The prior on the loss drop of LR decay (scalelaw.prior) and forecasts that use it."""
import json

import numpy as np
import pytest

import scalelaw
from scalelaw import InputError, forecast, prior, schedules
from scalelaw.result import FitResult

from test_forecast import ANNEALING, PEAK, SPECS, curves


def test_the_shipped_prior_is_read_with_its_provenance():
    shipped = prior.load()
    assert 0 < shipped.q < 1 and 0 < shipped.q_log_sd < 3
    assert len(shipped.families) >= 2 and all(len(v) for v in shipped.families.values())
    assert "forecast_suite.py" in shipped.provenance
    # q and its spread are what the families' measurements give (the file is not edited by hand)
    again = prior.combine(shipped.families)
    assert again.q == pytest.approx(shipped.q) and again.q_log_sd == pytest.approx(shipped.q_log_sd)
    assert again.alpha_sd == pytest.approx(shipped.alpha_sd) and again.reach == pytest.approx(shipped.reach)


def test_a_short_run_takes_the_decay_term_from_the_shipped_prior_and_round_trips(tmp_path):
    full = curves("annealing", ANNEALING, ["cosine"], {"warmup": "actual"}, noise=1e-3, every=20)
    part = full[full["step"] <= 1600]
    result = scalelaw.fit("auto", part)
    shipped = prior.load()
    assert result.identified is False and result.forecast.uses_prior
    assert result.forecast.prior["q"] == shipped.q and result.forecast.prior["q_log_sd"] == shipped.q_log_sd
    scale = result.law.decay_params[0]  # the law's own decay scale is held at its floor; the prior gives the drop
    assert result.options["fixed"][scale] == max(0.0, {p.name: p.lower for p in result.law.params}[scale])
    schedule, last = (full["step"], full["lr"]), [int(full["step"].iloc[-1])]
    unit = forecast.decay_unit(result, last, schedule, {})
    # one law: its prediction with the decay scale held, less q times the unit
    single = scalelaw.fit("annealing", part)
    assert single.forecast.uses_prior and single.params["C"] == 0.0
    plain = single.law(single.inputs(last, schedule), **single.params)
    assert single.predict(last, schedule) == pytest.approx(plain - shipped.q * forecast.decay_unit(single, last,
                                                                                                   schedule, {}))
    # the interval is at least as wide as the prior implies on each side, and it holds the truth
    lo, hi = result.predict_interval(last, schedule)
    centre = result.predict(last, schedule)[0]
    z, s = 1.959964, shipped.q_log_sd
    assert centre - lo[0] >= shipped.q * np.expm1(z * s) * unit[0] * (1 - 1e-9)
    assert hi[0] - centre >= -shipped.q * np.expm1(-z * s) * unit[0] * (1 - 1e-9)
    assert lo[0] <= float(full["y"].iloc[-1]) <= hi[0]
    assert "prior" in result.report() and any("prior" in w for w in result.warnings)
    # a fit file keeps the prior: the same forecast after a round trip
    path = tmp_path / "fit.json"
    result.to_json(path)
    back = FitResult.from_json(path)
    assert back.forecast.prior == result.forecast.prior
    assert back.predict(last, schedule) == pytest.approx(result.predict(last, schedule))
    assert np.allclose(back.predict_interval(last, schedule), result.predict_interval(last, schedule))
    assert json.loads(path.read_text())["forecast"]["prior"]["q"] == shipped.q


def test_without_a_prior_the_whole_possible_drop_widens_the_interval():
    full = curves("annealing", ANNEALING, ["cosine"], {"warmup": "actual"}, noise=1e-3, every=20)
    part = full[full["step"] <= 1600]
    free = scalelaw.fit("auto", part, prior=None)
    assert free.forecast.prior is None and not free.forecast.uses_prior
    narrow = scalelaw.fit("auto", part, prior=prior.Prior(q=0.05, q_log_sd=0.01, families={}))
    last, schedule = [int(full["step"].iloc[-1])], (full["step"], full["lr"])
    lo, hi = free.predict_interval(last, schedule)
    lo_p, hi_p = narrow.predict_interval(last, schedule)
    assert hi_p[0] - lo_p[0] < hi[0] - lo[0]


def test_q_of_a_family_with_known_parameters():
    # under the annealing law q = C * peak / (1 - lambda) over the loss without the drop
    data = curves("annealing", ANNEALING, ["constant", "cosine", "wsd", "step"], {"warmup": "peak"}, noise=2e-4)
    fit = scalelaw.fit(prior.LAW, data, options=prior.OPTIONS, prior=None)
    q = prior.family_q(fit, data)
    assert len(q) == 3  # the constant run decays nothing
    lr = schedules.parse(SPECS["cosine"])
    law = fit.law
    inputs = law.features(lr, np.array([len(lr) - 1]), {**law.options, **prior.OPTIONS})
    off = law(inputs, **{**ANNEALING, "C": 0.0})[0]
    truth = ANNEALING["C"] * PEAK * 1000 / off
    assert np.median(q) == pytest.approx(truth, rel=0.05)
    assert np.ptp(q) < 0.1 * truth  # one number per family, whatever the schedule


def test_a_prior_needs_two_families_and_a_readable_file(tmp_path):
    with pytest.raises(InputError, match="two curve families"):
        prior.combine({"one": {"q": [0.05]}, "two": {"q": []}})
    bad = tmp_path / "prior.json"
    bad.write_text('{"q": "a lot"}')
    with pytest.raises(InputError, match="not a scalelaw prior"):
        prior.load(bad)
    with pytest.raises(InputError, match="cannot read"):
        prior.load(tmp_path / "missing.json")
    with pytest.raises(InputError, match="prior"):
        scalelaw.fit("annealing", curves("annealing", ANNEALING, ["constant"], {"warmup": "peak"}), prior=3)
