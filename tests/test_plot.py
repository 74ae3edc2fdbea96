"""The pictures: each law's (PLOTS, drawn by FitResult.plot) and the figure files."""
import matplotlib
import pytest

from scalelaw import fit
from scalelaw.plot import PLOTS, draw, figure_format
from scalelaw.laws import available_laws, get_law
from scalelaw.errors import InputError

from test_engine import synthetic

matplotlib.use("Agg")



def test_plot_draws_fit_band_and_asymptote():
    import matplotlib

    matplotlib.use("Agg")
    result = fit("power", synthetic(n=50, noise=0.01))
    ax = result.plot()
    styles = [line.get_linestyle() for line in ax.get_lines()]
    assert "-" in styles and "--" in styles and ":" in styles
    assert ax.get_xscale() == "log" and ax.collections  # data points and band


def test_every_law_names_a_picture_that_exists():
    for name in available_laws():
        assert get_law(name).plot in PLOTS, name


def test_a_figure_format_matplotlib_cannot_write_is_refused(tmp_path):
    assert figure_format(tmp_path / "a.png") == "png"
    with pytest.raises(InputError, match="cannot write a 'xyz' image"):
        figure_format(tmp_path / "a.xyz")


def test_draw_puts_a_one_panel_picture_on_the_axes_given():
    import matplotlib.pyplot as plt

    result = fit("power", synthetic(n=40, noise=0.01))
    _, ax = plt.subplots()
    assert draw(result, ax=ax) is ax and len(ax.get_lines()) >= 2
