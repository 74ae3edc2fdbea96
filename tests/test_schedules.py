"""LR schedules, the text spec, LR rebuilt from logs, and the S1/S2 areas."""
import re

import numpy as np
import pytest

from scalelaw import InputError, schedules


def test_areas_hand_computed():
    lr = np.array([1.0, 1.0, 0.5, 0.5, 0.25])
    # S1(s) = lr[1] + ... + lr[s]
    assert np.allclose(schedules.forward_area(lr), [0, 1, 1.5, 2, 2.25])
    # m_i = 0.5 m_{i-1} + (lr[i-1] - lr[i]): m = 0, 0.5, 0.25, 0.375; S2 = cumulative sum
    assert np.allclose(schedules.annealing_area(lr, decay=0.5), [0, 0, 0.5, 0.75, 1.125])
    # lambda = 0: S2 is the total LR drop so far
    assert np.allclose(schedules.annealing_area(lr, decay=0.0), [0, 0, 0.5, 0.5, 0.75])


def test_annealing_area_matches_loop_on_a_long_schedule():
    lr = schedules.parse("wsd:peak=3e-4,total=5000,warmup=100,decay=0.3,shape=sqrt,final=1e-5")
    m, total, out = 0.0, 0.0, [0.0]
    for i in range(1, len(lr)):
        m = 0.999 * m + (lr[i - 1] - lr[i])
        total += m
        out.append(total)
    assert np.allclose(schedules.annealing_area(lr), out, rtol=1e-10, atol=1e-15)


def test_shapes():
    lr = schedules.cosine(total=1000, peak=1e-3, warmup=100, final=1e-4)
    assert len(lr) == 1001 and lr[100] == pytest.approx(1e-3) and lr[-1] == pytest.approx(1e-4)
    assert lr[0] == lr[1] and np.all(np.diff(lr[1:101]) > 0) and np.all(np.diff(lr[100:]) <= 0)
    assert lr[550] == pytest.approx(0.55e-3, rel=1e-6)  # halfway through the cosine
    lr = schedules.linear(total=100, peak=1.0, final=0.0)
    assert lr[50] == pytest.approx(0.5) and lr[-1] == 0
    lr = schedules.wsd(total=100, peak=1.0, decay=0.2, final=0.0)
    assert np.all(lr[:81] == 1.0) and lr[90] == pytest.approx(0.5) and lr[-1] == 0
    lr = schedules.wsd(total=100, peak=1.0, decay=20, shape="sqrt")
    assert lr[85] == pytest.approx(1 - np.sqrt(0.25))
    lr = schedules.multistep(total=10, peak=1.0, milestones=[5, 8], gamma=0.5)
    assert list(lr) == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert np.allclose(schedules.step(total=10, peak=1.0, every=4, gamma=0.1), [1] * 4 + [0.1] * 4 + [0.01] * 3)
    assert schedules.warmup_steps(schedules.constant(total=50, peak=1.0, warmup=10)) == 10


def test_spec_parses_to_the_same_arrays():
    assert np.array_equal(schedules.parse("cosine:peak=3e-4,total=2400,warmup=50,final=3e-5"),
                          schedules.cosine(2400, 3e-4, 50, 3e-5))
    assert np.array_equal(schedules.parse("multistep:peak=1,total=30,milestones=10/20,gamma=0.3"),
                          schedules.multistep(30, 1.0, [10, 20], 0.3))
    assert np.array_equal(schedules.parse("wsd:peak=1,total=30,decay=6,shape=cosine"),
                          schedules.wsd(30, 1.0, decay=6, shape="cosine"))


@pytest.mark.parametrize("spec, words", [
    ("cosin:peak=1,total=10", "unknown name 'cosin'"),
    ("cosine:peak=1", "total"),
    ("cosine:peak=x,total=10", "peak=x is not a number"),
    ("cosine:peak=1,total=10,warmup=10", "warmup"),
    ("cosine:peak=-1,total=10", "peak"),
    ("cosine:peak=1,total=10,final=2", "final"),
    ("wsd:peak=1,total=10,shape=exp", "shape"),
    ("cosine:peak=1,total=10,foo=2", "foo"),
    ("cosine:peak", "key=value"),
    ("wsd:peak=1,total=1000,decay=2", "2 steps of 1000"),  # a fraction of 2, or 2 %, read as steps
    ("wsd:peak=1,total=72000,decay=20", "20 steps of 72000"),
    ("wsd:peak=1,total=1000,decay=1.5", "whole number of steps"),
    ("wsd:peak=1,total=1000,warmup=100,decay=950", "1 to 900 steps"),
])
def test_bad_specs_say_what_is_wrong(spec, words):
    with pytest.raises(InputError, match=words):
        schedules.parse(spec)


def test_from_log_interpolates_between_rows():
    lr = schedules.from_log([100, 200, 300], [1.0, 0.5, 0.5])
    assert len(lr) == 301
    assert lr[0] == 1.0 and lr[100] == 1.0  # before the first row: held (warmup counted at peak)
    assert lr[150] == pytest.approx(0.75) and lr[300] == 0.5
    with pytest.raises(InputError, match="increasing"):
        schedules.from_log([100, 100, 300], [1, 1, 1])
    with pytest.raises(InputError, match="non-negative"):
        schedules.from_log([1, 2], [1, -1])


def test_warmup_conventions():
    lr = schedules.constant(total=100, peak=1.0, warmup=20)
    held = schedules.hold_warmup(lr, "peak")
    assert np.all(held == 1.0)
    assert schedules.forward_area(held)[100] == 100
    assert schedules.forward_area(schedules.hold_warmup(lr, "actual"))[100] == pytest.approx(80 + 10.5)
    with pytest.raises(InputError, match="warmup convention"):
        schedules.hold_warmup(lr, "half")


@pytest.mark.parametrize("spec, words", [
    ("cosine:peak=1e-3,total=1e12", "total must lie between 1 and 20,000,000 steps"),
    ("cosine:peak=1e-3,total=1e400", "total=1e400 is not a number"),
    ("cosine:peak=1e-3,total=100,warmup=1e300", "warmup must lie in [0, total), got 1e+300"),
])
def test_absurd_schedules_are_refused_before_allocating(spec, words):
    with pytest.raises(InputError, match=re.escape(words)):
        schedules.parse(spec)
    with pytest.raises(InputError, match="beyond the 20,000,000 steps"):
        schedules.from_log([1, 10], [1e-3, 1e-3], total=10**12)
