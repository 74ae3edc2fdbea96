"""The posterior forecast (scalelaw.posterior) and the population it draws on (scalelaw.population),
checked on curves drawn from a known population: simulation-based calibration, the population
learned back, references narrowing the posterior, and an unidentified decay term as wide as the
population says."""
import numpy as np
import pandas as pd
import pytest

import scalelaw
from scalelaw import population as population_
from scalelaw import posterior, schedules
from scalelaw.laws import annealing

TOTAL = 4000
EXACT = {"reach": 0.0, "anneal": 0.0, "drop": 0.0}  # the law taken as exact: the model's own calibration
TRUE = population_.Population(mean=[-2.8, np.log(0.5), np.log(0.06)],
                              cov=[[0.09, 0.0, 0.0], [0.0, 0.04, 0.0], [0.0, 0.0, 0.04]],
                              size_cov=[[0.004, 0.0], [0.0, 0.004]], r_slope=0.9)
SPECS = {"cosine": f"cosine:total={TOTAL},peak=1e-3,warmup=100",
         "constant": f"constant:total={TOTAL},peak=1e-3,warmup=100",
         "wsd": f"wsd:total={TOTAL},peak=1e-3,warmup=100,decay=0.2"}


def params_of(z: np.ndarray, spec: str, P: float, at: int) -> dict:
    """The annealing law's parameters whose scale-free form is ``z`` at step ``at`` of ``spec``."""
    lr = schedules.parse(spec)
    s1_at = annealing.areas(lr, np.array([at]), annealing.OPTIONS)["S1"][0]
    return annealing.from_scale_free(P, 1 / (1 + np.exp(-z[0])), np.exp(z[1]), np.exp(z[2]), s1_at, float(lr.max()))


def run_of(z: np.ndarray, spec: str, P: float, at: int, noise: float, rng, every: int = 20,
           params: dict | None = None) -> pd.DataFrame:
    """A run of ``spec`` logged every ``every`` steps whose scale-free parameters ``z`` hold at
    step ``at`` (or with the law's ``params``)."""
    lr = schedules.parse(spec)
    steps = np.arange(every, len(lr), every)
    params = params_of(z, spec, P, at) if params is None else params
    y = annealing.annealing_law(annealing.areas(lr, steps, annealing.OPTIONS), **params)
    return pd.DataFrame({"run": spec.split(":")[0], "step": steps, "lr": lr[steps],
                         "y": y + rng.normal(0, noise, len(steps))})


def test_simulation_based_calibration():
    """Runs drawn from a known population, forecast from their first 20 % with that population:
    the 95 % intervals hold about 95 % of the finals, not all of them."""
    rng = np.random.default_rng(1)
    holds = []
    for i in range(100):
        spec = SPECS[("cosine", "constant", "wsd")[i % 3]]
        lr = schedules.parse(spec)
        seen = int(0.2 * TOTAL)
        reach = float(annealing.areas(lr, np.array([TOTAL]), annealing.OPTIONS)["S1"][0]
                      / annealing.areas(lr, np.array([seen]), annealing.OPTIONS)["S1"][0])
        z = rng.multivariate_normal(TRUE.prior_mean(reach), TRUE.cov)
        run = run_of(z, spec, 3.0, seen, 0.004, rng)
        truth = float(run["y"].iloc[-1])
        post = posterior.fit(run[run["step"] <= seen], TRUE, horizon=spec, start=None, seed=i)
        _, lo, hi = post.interval([int(run["step"].iloc[-1])], spec, discrepancy=EXACT)
        holds.append(lo[0] <= truth <= hi[0])
    coverage = np.mean(holds)
    assert 0.88 <= coverage < 1.0, coverage


def _family(rng, z):
    """A family of three schedules of one law, whose scale-free form is ``z`` at the end of the
    constant-LR run."""
    params = params_of(z, SPECS["constant"], 3.0, TOTAL)
    return {name: run_of(z, spec, 3.0, TOTAL, 0.003, rng, params=params) for name, spec in SPECS.items()}


def test_population_learned_back():
    """Families drawn from a known population: the population learned from their fits (the way
    the shipped one is learned) has the true mean of the exponent and the decay share within
    a few standard errors, and spreads of the right size."""
    rng = np.random.default_rng(2)
    measured = {}
    for k in range(14):
        z = rng.multivariate_normal(TRUE.mean, TRUE.cov)
        runs = _family(rng, z)
        fit = scalelaw.fit("annealing", pd.concat(runs.values(), ignore_index=True), prior=None, step_min=None)
        logs = {name: (g["step"].to_numpy(), g["lr"].to_numpy(float)) for name, g in runs.items()}
        measured[f"f{k}"] = population_.measure(fit, logs, group=f"g{k}")
    learned = population_.learn(measured)
    se = learned.standard_error()
    for j in (1, 2):  # log alpha, log q: read the same way the truth was drawn
        # (q is read relative to the loss at each run's end, a few percent apart between schedules)
        assert abs(learned.mean[j] - TRUE.mean[j]) < 3 * se[j] + 0.05, (j, learned.mean, TRUE.mean, se)
        ratio = np.sqrt(learned.cov[j][j] / TRUE.cov[j][j])
        assert 0.5 < ratio < 1.6, (j, ratio)
    assert learned.r_slope > 0  # r falls as a run goes on: the further a forecast reaches, the larger


def test_references_of_another_size_narrow_the_posterior():
    """A cosine seen to 20 % (too little anneal to say what decay buys): a finished run of
    another size, which shares the exponent and decay share up to size_cov, narrows the decay
    share's posterior and the final loss's interval, with no transfer constant."""
    rng = np.random.default_rng(3)
    z = np.array(TRUE.mean)
    target = run_of(z, SPECS["cosine"], 3.0, TOTAL, 0.003, rng)
    other = params_of(z, SPECS["constant"], 2.7, TOTAL)  # another size: another scale, the same z
    ref = pd.concat([run_of(z, SPECS[name], 2.7, TOTAL, 0.003, rng, params=other).assign(run=f"ref {name}", N=1e8)
                     for name in ("cosine", "wsd")], ignore_index=True)
    part = target[target["step"] <= 0.2 * TOTAL]
    alone = posterior.fit(part, TRUE, horizon=SPECS["cosine"], start=None)
    helped = posterior.fit(part, TRUE, references=ref, horizon=SPECS["cosine"], start=None)
    assert len(helped.groups) == 2  # the two reference runs are one size (N)
    assert helped.z_sd()["log_q"] < 0.5 * alone.z_sd()["log_q"]
    last = [int(target["step"].iloc[-1])]
    width = {k: float(np.diff(p.interval(last, SPECS["cosine"], discrepancy=EXACT)[1:], axis=0)[0][0])
             for k, p in (("alone", alone), ("helped", helped))}
    assert width["helped"] < 0.7 * width["alone"], width


def test_unidentified_decay_is_as_wide_as_the_population():
    """A constant-LR run says nothing of what decay buys: the posterior of its decay share is
    the population's, no narrower and no wider: as a normal population, and with its tails
    (a mixture of its sd times 1, 2 and 4, by the posterior's weights)."""
    rng = np.random.default_rng(4)
    run = run_of(np.array(TRUE.mean), SPECS["constant"], 3.0, TOTAL, 0.003, rng)
    for tails in ({1.0: 1.0}, {1.0: 1.0, 2.0: 1.0, 4.0: 1.0}):  # normal, and with tails: their mixture's sd
        post = posterior.fit(run, TRUE, start=None, tails=tails)
        assert post.groups[0].W.max() == 0.0
        says = TRUE.sd()["log_q"] * np.sqrt(post.weights @ np.array([c.scale for c in post.components]) ** 2)
        ratio = post.z_sd()["log_q"] / says
        assert 0.9 < ratio < 1.1, (tails, ratio)


def test_a_short_log_is_refused():
    frame = pd.DataFrame({"run": "a", "step": [100, 200, 300], "lr": 1e-3, "y": [3.0, 2.9, 2.85]})
    with pytest.raises(scalelaw.InputError, match="4 logged losses"):
        posterior.fit(frame, TRUE, start=None)


def test_the_shipped_population_loads(tmp_path):
    pop = population_.load()
    assert len(pop.families) >= 3 and "forecast_suite.py --write-population" in pop.provenance
    bad = tmp_path / "bad.json"
    bad.write_text('{"mean": [0, 0], "cov": [[1]], "size_cov": [[1]]}')
    with pytest.raises(scalelaw.InputError, match="bad.json"):
        population_.load(bad)


def test_a_run_unlike_the_population_moves_to_its_wider_tails():
    """A run whose exponent and decay share lie 5 population sds out: with the population's
    tails (its sd times 1, 2 and 4), the evidence moves the weight to a widened component and
    the interval holds the final loss; with the population taken as normal it does not. A run
    at the population's mean keeps most weight on the population as learned."""
    rng = np.random.default_rng(5)
    sd = np.sqrt(np.diag(TRUE.cov))
    spec = SPECS["wsd"]
    seen = int(0.4 * TOTAL)
    tails = {1.0: 1.0, 2.0: 1.0, 4.0: 1.0}
    lr = schedules.parse(spec)
    area = annealing.areas(lr, np.array([seen, TOTAL]), annealing.OPTIONS)["S1"]
    mean = TRUE.prior_mean(area[1] / area[0])
    odd = run_of(mean + np.array([0.0, -5.0, 5.0]) * sd, spec, 3.0, seen, 0.003, rng)
    truth, last = float(odd["y"].iloc[-1]), [int(odd["step"].iloc[-1])]
    part = odd[odd["step"] <= seen]
    heavy = posterior.fit(part, TRUE, horizon=spec, start=None, tails=tails)
    normal = posterior.fit(part, TRUE, horizon=spec, start=None, tails={1.0: 1.0})
    assert heavy.weights[0] < 0.05, heavy.weights
    _, lo, hi = heavy.interval(last, spec, discrepancy=EXACT)
    assert lo[0] <= truth <= hi[0], (lo, truth, hi)
    _, lo, hi = normal.interval(last, spec, discrepancy=EXACT)
    assert not lo[0] <= truth <= hi[0], (lo, truth, hi)
    typical = run_of(mean, spec, 3.0, seen, 0.003, rng)
    post = posterior.fit(typical[typical["step"] <= seen], TRUE, horizon=spec, start=None, tails=tails)
    assert post.weights[0] > 0.5, post.weights
