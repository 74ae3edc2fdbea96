"""The judgement of a new run's interval rule (Student's t, the scatter grown by 1 + ln beyond the
fitted sizes) on a frozen split (benchmarks/new_run_suite.py --judge): the README quotes the
results file, and the rule the package uses is the one the tuning families chose."""
import json

import numpy as np
import pandas as pd

import scalelaw
from scalelaw.intervals import t_of

from conftest import ROOT, published_text
RESULTS = json.loads((ROOT / "benchmarks" / "results" / "new_run_variants.json").read_text())


def test_the_readme_quotes_the_results_file():
    text = published_text()
    tuning, test = RESULTS["summary"]["tuning"], RESULTS["summary"]["test"]
    for variant in ("t, grown", "z, grown", "t, flat", "z, flat"):
        assert f"{tuning[variant]['winkler']:.2f} %" in text or f"{tuning[variant]['winkler']:.2f}" in text, variant
    assert f"{test['z, grown']['winkler']:.1f} % against t's {test['t, grown']['winkler']:.1f} %" in text
    assert f"On the {tuning['t, grown']['families']} tuning families" in text
    assert f"On the {test['t, grown']['families']} test families" in text


def test_the_package_uses_the_rule_the_tuning_families_chose():
    """The chosen variant is the lowest tuning interval score, and a size law's new-run interval
    is built that way: t on the scatter's degrees of freedom, grown by 1 + ln beyond."""
    tuning = RESULTS["summary"]["tuning"]
    assert RESULTS["chosen"] == min(tuning, key=lambda v: tuning[v]["winkler"])
    q, growth = RESULTS["chosen"].split(", ")
    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e9, 12)
    result = scalelaw.fit("power", pd.DataFrame({"x": x, "y": (1.7 + (1e7 / x) ** 0.3) * np.exp(rng.normal(0, 0.01, 12))}))
    at = np.array([1e11])
    centre = result.predict({"x": at})
    lo, hi = result.predict_interval({"x": at})
    mlo, mhi = result.predict_interval({"x": at}, of="mean")
    scatter = result.run_scatter
    quantile = t_of(0.95, scatter.dof) if q == "t" else 1.959964
    grow = 1 + np.log(100.0) if growth == "grown" else 1.0
    half = np.hypot((mhi - mlo) / 2, quantile * scatter.sigma * centre * grow)
    assert np.allclose(hi - centre, half, rtol=1e-6) and np.allclose(centre - lo, half, rtol=1e-6)
