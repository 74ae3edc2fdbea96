"""What a law is: parameters and the optimiser's coordinates, a law's kind and the registry,
holding parameters (fix), and the exact Jacobian through log-scale parameters."""
import numpy as np
import pytest

from scalelaw.laws import Law, Param, available_laws, get_law, register
from scalelaw.laws.base import KINDS, numeric_jacobian
from scalelaw.errors import InputError


def test_a_log_scale_parameter_is_optimised_as_its_log10_and_comes_back():
    p = Param("x0", 1e-3, 1e9, log=True)
    assert p.theta_name == "log10_x0" and p.theta_bounds == (-3.0, 9.0)
    assert p.to_theta(1e5) == pytest.approx(5.0) and p.from_theta(5.0) == pytest.approx(1e5)
    plain = Param("alpha", 0.0, 2.0)
    assert plain.theta_name == "alpha" and plain.to_theta(0.3) == 0.3 and plain.theta_bounds == (0.0, 2.0)
    law = get_law("power")
    values = {"L_inf": 1.7, "x0": 3e8, "alpha": 0.3}
    assert law.from_theta(law.to_theta(values)) == pytest.approx(values)
    assert law.theta_names == ["L_inf", "log10_x0", "alpha"] and law.theta_bounds().shape == (3, 2)


@pytest.mark.parametrize("name", ["power", "chinchilla"])
def test_the_gradient_in_the_optimisers_coordinates_matches_finite_differences(name):
    law = get_law(name)
    inputs = {"x": np.geomspace(1e6, 1e10, 7)} if name == "power" else \
        {"N": np.geomspace(1e7, 1e10, 7), "D": np.geomspace(1e9, 1e12, 7)}
    values = next(iter(law.starts(inputs, np.full(7, 3.0))))
    theta = law.to_theta(values)
    exact = law.gradient(inputs, theta)
    numeric = numeric_jacobian(lambda t: law(inputs, **law.from_theta(t)), theta)
    np.testing.assert_allclose(exact, numeric, rtol=1e-4, atol=1e-9)


def test_every_registered_law_has_a_kind_and_only_schedule_laws_have_features():
    kinds = {get_law(n).kind for n in available_laws()}
    assert kinds == set(KINDS)
    for name in available_laws():
        law = get_law(name)
        assert (law.kind == "schedule") == (law.features is not None) == law.step_law, name


def test_register_refuses_an_unknown_kind_and_a_schedule_law_without_features():
    base = dict(formula="L = a", inputs=("x",), params=(Param("a", 0, 1),), func=lambda i, a: a + 0 * i["x"],
                starts=lambda i, y: iter([{"a": 0.5}]))
    with pytest.raises(ValueError, match="kind must be one of"):
        register(Law(name="bad_kind", kind="sizez", **base))
    with pytest.raises(ValueError, match="turns an LR schedule into its inputs"):
        register(Law(name="bad_schedule", kind="schedule", **base))
    assert "bad_kind" not in available_laws() and "bad_schedule" not in available_laws()


def test_fix_holds_parameters_and_refuses_unknown_ones():
    law = get_law("power")
    held = law.fix({"alpha": 0.3})
    assert held.param_names == ("L_inf", "x0") and held.name == "power"
    x = {"x": np.geomspace(1e6, 1e9, 4)}
    np.testing.assert_allclose(held(x, L_inf=1.7, x0=3e8), law(x, L_inf=1.7, x0=3e8, alpha=0.3))
    with pytest.raises(ValueError, match="no parameter beta"):
        law.fix({"beta": 1.0})


def test_resolve_options_names_an_unknown_option():
    with pytest.raises(InputError, match="has no option dekay"):
        get_law("annealing").resolve_options({"dekay": 0.9})
