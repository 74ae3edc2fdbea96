"""The shipped population and the README's forecast table follow from the data and the suite's
results: the population rebuilt from the families in the repo, and the table made from
benchmarks/results/forecast_suite.json."""
import json
import sys

import numpy as np
import pytest

from scalelaw import population

from conftest import ROOT, published_block
sys.path.insert(0, str(ROOT / "benchmarks"))

import families  # noqa: E402
import forecast_suite  # noqa: E402

IN_REPO = ("mpl25", "mpl100", "markov-w16", "markov-w32", "markov-w64")  # tuning families the repo ships


@pytest.fixture(scope="module")
def shipped():
    return population.load()


def test_the_shipped_population_follows_from_its_measurements(shipped):
    learned = population.learn(shipped.families)
    np.testing.assert_allclose(learned.mean, shipped.mean, rtol=1e-9)
    np.testing.assert_allclose(learned.cov, shipped.cov, rtol=1e-9)
    np.testing.assert_allclose(learned.size_cov, shipped.size_cov, rtol=1e-9)
    assert learned.r_slope == pytest.approx(shipped.r_slope, rel=1e-9)


def test_the_population_rebuilt_from_the_data(shipped):
    """The families the repo ships, measured again from their curves, give the shipped
    measurements; the population learned on them alone agrees with the shipped one within
    three of its standard errors."""
    every, split = families.families(), families.split()
    assert set(shipped.families) <= set(split["tuning"])  # learned on tuning families only
    assert all(shipped.families[n]["weight"] == split["weight"][every[n].kind] for n in IN_REPO)
    measured = {}
    for name in IN_REPO:
        assert name in split["tuning"]
        measured[name] = forecast_suite.population_measure(every[name], split["weight"][every[name].kind])
        np.testing.assert_allclose(measured[name]["cuts"], shipped.families[name]["cuts"], rtol=1e-3, atol=1e-3)
        assert measured[name]["alpha"] == pytest.approx(shipped.families[name]["alpha"], rel=1e-3)
    subset = population.learn(measured)
    assert np.all(np.abs(np.array(subset.mean) - shipped.mean) < 3 * shipped.standard_error())


def test_the_split_is_the_frozen_one():
    """The results were made on the split the file names, and no family is on both sides."""
    split = families.split()
    results = json.loads((ROOT / "benchmarks" / "results" / "forecast_suite.json").read_text())
    assert results["split"]["tuning"] == split["tuning"] and results["split"]["test"] == split["test"]
    assert not set(split["tuning"]) & set(split["test"])
    assert set(results["population"]["families"]) <= set(split["tuning"])


def test_the_readme_table_is_made_from_the_results_file():
    results = json.loads((ROOT / "benchmarks" / "results" / "forecast_suite.json").read_text())
    assert published_block(forecast_suite.README_MARK) == forecast_suite.readme_table(results)


def test_interval_scores():
    """The Winkler score and the CRPS on cases worked by hand."""
    assert forecast_suite.winkler(1.0, 2.0, 1.5) == pytest.approx(1.0)
    assert forecast_suite.winkler(1.0, 2.0, 2.5) == pytest.approx(1.0 + 40 * 0.5)
    # CRPS of draws equals the normal's closed form for many draws, and |error| for a point
    draws = np.random.default_rng(0).normal(3.0, 0.1, 200_000)
    assert forecast_suite.crps_draws(draws, 3.05) == pytest.approx(forecast_suite.crps_normal(3.0, 0.1, 3.05), rel=1e-2)
    assert forecast_suite.crps_draws(np.full(10, 2.0), 2.5) == pytest.approx(0.5)
    assert forecast_suite.crps_normal(0.0, 1.0, 0.0) == pytest.approx(2 * 0.3989422804 - 1 / np.sqrt(np.pi))
