"""How data become a law's inputs, per kind (scalelaw.laws.design): the checks of the table, the
split at step_min, the inputs to fit and to predict, and the binned curve of a long log."""
import numpy as np
import pandas as pd
import pytest

from scalelaw import InputError, schedules
from scalelaw.laws import design, get_law


def test_each_law_gets_the_class_of_its_kind():
    assert isinstance(design.of(get_law("power")), design.Sizes)
    assert type(design.of(get_law("batch"))) is design.Curves and design.of(get_law("batch")).along_steps
    kind = design.of(get_law("annealing"))
    assert isinstance(kind, design.Schedule) and kind.resample == "blocks" and kind.chunked


def test_a_sizes_table_is_checked_and_gets_a_run_column():
    kind = design.of(get_law("power"))
    frame = kind.table({"x": [1e6, 1e7, 1e8], "y": [3.0, 2.6, 2.3]})
    assert list(frame["run"].unique()) == ["run"]
    with pytest.raises(InputError, match="column 'x': sizes must be positive, got -1"):
        kind.table({"x": [-1.0, 1e7, 1e8], "y": [3.0, 2.6, 2.3]})
    with pytest.raises(InputError, match="column 'y': the loss must be positive"):
        kind.table({"x": [1e6, 1e7, 1e8], "y": [3.0, 0.0, 2.3]})
    with pytest.raises(InputError, match="missing: y"):
        kind.table({"x": [1e6, 1e7, 1e8]})


def test_a_schedule_table_sets_step_0_aside_sorts_and_refuses_a_step_twice():
    kind = design.of(get_law("annealing"))
    frame = kind.table(pd.DataFrame({"step": [3, 0, 1, 2], "y": [2.5, 4.0, 3.0, 2.7], "lr": 1e-3}))
    assert frame["step"].tolist() == [1, 2, 3] and "step 0" in frame.attrs["notes"][0]
    with pytest.raises(InputError, match="step 2 appears twice"):
        kind.table(pd.DataFrame({"step": [1, 2, 2], "y": [3.0, 2.7, 2.6], "lr": 1e-3}))
    with pytest.raises(InputError, match="whole numbers"):
        kind.table(pd.DataFrame({"step": [1, 2.5, 3], "y": [3.0, 2.7, 2.6], "lr": 1e-3}))


def test_split_at_step_min_keeps_enough_points_or_says_how_many_are_left():
    kind = design.of(get_law("annealing"))
    frame = kind.table(pd.DataFrame({"step": np.arange(1, 21), "y": np.linspace(3, 2, 20), "lr": 1e-3}))
    kept, before = kind.split(frame, 11)
    assert kept["step"].min() == 11 and before["step"].max() == 10 and len(kept) + len(before) == 20
    with pytest.raises(InputError, match="1 point\\(s\\) left"):
        kind.split(frame, 20)


def test_schedule_inputs_count_the_lr_of_rows_before_step_min():
    kind = design.of(get_law("annealing"))
    lr = schedules.parse("constant:peak=1e-3,total=100,warmup=10")
    frame = kind.table(pd.DataFrame({"step": np.arange(1, 101), "y": np.linspace(3, 2, 100), "lr": lr[1:]}))
    X_all, _, _, _ = kind.fit_inputs(frame)
    X_late, y, _, _ = kind.fit_inputs(frame, step_min=51, whole=frame)
    assert len(y) == 50
    np.testing.assert_allclose(X_late["S1"], X_all["S1"][50:])  # the area still starts at step 1


def test_predict_inputs_of_sizes_and_of_a_schedule():
    sizes = design.of(get_law("chinchilla"))
    out = sizes.predict_inputs({"N": [1e8], "C": [6e18]})  # D from the compute, C = 6 N D
    assert out["D"][0] == pytest.approx(1e10)
    with pytest.raises(InputError, match="pass a mapping"):
        sizes.predict_inputs([1e8])
    steps = design.of(get_law("annealing"))
    with pytest.raises(InputError, match="under a schedule"):
        steps.predict_inputs([10])
    assert steps.predict_inputs([10, 20], "constant:peak=1e-3,total=20")["S1"].shape == (2,)


def test_only_a_long_log_is_binned_to_compare_starts():
    kind = design.of(get_law("annealing"))
    n = 6000
    lr = schedules.parse(f"cosine:peak=1e-3,total={n},warmup=100")
    frame = kind.table(pd.DataFrame({"step": np.arange(1, n + 1), "y": 2 + 3 * np.arange(1, n + 1) ** -0.3,
                                     "lr": lr[1:]}))
    X, y, _, lrs = kind.fit_inputs(frame)
    assert kind.binned(frame, lrs, get_law("annealing").options, 4000) is None
    Xb, yb = kind.binned(frame, lrs, get_law("annealing").options, len(y))
    assert 50 < len(yb) < 200 and set(Xb) == set(X)
    # a power law over a long per-step log too (x need not be whole); a law of two inputs is not
    power = design.of(get_law("power"))
    long = power.table(pd.DataFrame({"x": np.arange(1, n + 1) / 7, "y": 2 + np.arange(1, n + 1) ** -0.3}))
    assert power.binned(long, None, {}, 4000) is None
    Xp, yp = power.binned(long, None, {}, n)
    assert 50 < len(yp) < 200 and np.all(np.diff(Xp["x"]) > 0) and Xp["x"][0] < 1
    assert design.of(get_law("chinchilla")).binned(frame, lrs, {}, len(y)) is None
