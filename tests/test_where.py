"""--where (issue 24): a filter over columns, parsed, never run as code."""
import os
import time

import numpy as np
import pandas as pd
import pytest

from scalelaw import InputError
from scalelaw.cli import main
from scalelaw.where import rows

FRAME = pd.DataFrame({"dataset": ["c4", "rpj", "c4"], "tokens_per_param": [20, 20, 40],
                      "Seen Examples": [1e9, 2e9, 3e9]})


@pytest.mark.parametrize("expression, kept", [
    ("dataset == 'c4' and tokens_per_param == 20", [True, False, False]),
    ("`Seen Examples` > 1.5e9", [False, True, True]),
    ("dataset in ['c4', 'x']", [True, False, True]),
    ("dataset not in ('c4',)", [False, True, False]),
    ("not dataset == 'c4' or tokens_per_param >= 40", [False, True, True]),
    ("(dataset == 'c4') & (tokens_per_param > 30)", [False, False, True]),
    ("~(tokens_per_param == 20) | (dataset != 'c4')", [False, True, True]),
    ("1 < tokens_per_param / 10 <= 2", [True, True, False]),
    ("-tokens_per_param ** 2 < -500", [False, False, True]),
    ("True", [True, True, True]),
])
def test_conditions_over_columns(expression, kept):
    assert rows(FRAME, expression).tolist() == kept


@pytest.mark.parametrize("expression, words", [
    ("@os.system('touch PWNED') == 0", "'@os' is not allowed"),
    ("@pd.io.common.os.system('touch PWNED') == 0", "'@pd' is not allowed"),
    ("@raw.to_csv('PWNED') == 0", "'@raw' is not allowed"),
    ("dataset.str.len() > 1", "a call"),
    ("__import__('os').system('touch PWNED') == 0", "a call"),
    ("dataset.__class__ == 1", "an attribute"),
    ("dataset[0] == 'c4'", "an index"),
    ("(lambda: 1)() == 1", "a call"),
    ("[x for x in dataset] == 1", "ListComp"),
    ("nope == 1", "no column 'nope'"),
    ("dataset", "true or false for each row"),
    ("dataset == 'c4' and 3", "join conditions"),
    ("tokens_per_param +", "not a condition on the columns"),
    ("dataset in 'c4'", "'in' takes a list"),
])
def test_anything_else_is_refused_naming_it(expression, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=None) as info:
        rows(FRAME, expression)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not os.path.exists("PWNED")


@pytest.mark.parametrize("command", ["fit", "isoflop"])
@pytest.mark.parametrize("expression", ["@os.system('touch PWNED') == 0", "@raw.to_csv('PWNED') == 0",
                                        "@pd.io.common.os.system('touch PWNED') == 0"])
def test_the_cli_runs_nothing_and_writes_nothing(command, expression, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "runs.csv"
    pd.DataFrame({"N": [1e6, 1e7, 1e8, 1e9, 1e10], "tokens": [2e7, 2e8, 2e9, 2e10, 2e11],
                  "loss": [3.0, 2.6, 2.3, 2.1, 2.0]}).to_csv(path, index=False)
    before = set(os.listdir(tmp_path))
    assert main([command, str(path), "--where", expression]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not allowed" in err and str(path) in err
    assert set(os.listdir(tmp_path)) == before


def test_the_readme_filter_still_selects_gadre_runs():
    from scalelaw import load_runs
    from conftest import DATA

    runs = load_runs(DATA / "gadre_overtraining" / "models_final_loss.csv", roles=("x", "y"),
                     columns={"x": "N_params", "y": "loss_c4_val"},
                     where="dataset == 'c4_original' and tokens_per_param == 20")
    assert len(runs) == 6 and np.all(np.diff(np.sort(runs["x"].to_numpy())) > 0)


@pytest.mark.parametrize("expression, words", [
    ("tokens_per_param > 9**9**9", "too large"),  # as Python integers: minutes and gigabytes
    ("tokens_per_param > 10**400", "too large"),
    ("dataset * 1000000000 == 'c4'", "column 'dataset' holds text"),
    ("'%0999999999d' % 1 == dataset", "arithmetic takes numbers"),
    ("-dataset == 'c4'", "arithmetic takes numbers"),
    ("[0] * 10**9 == tokens_per_param", "arithmetic takes numbers"),
    ("tokens_per_param > " + "-" * 9000 + "1", "nested too deeply"),
    ("tokens_per_param > " + "1" * 20000, "at most 10,000"),
])
def test_arithmetic_is_bounded(expression, words):
    """Arithmetic that would grow without bound (a power of whole numbers, text repeated) or a
    parse that would recurse without end is refused with one line, at once."""
    start = time.process_time()
    with pytest.raises(InputError, match=words) as info:
        rows(FRAME, expression)
    assert "\n" not in str(info.value)
    assert time.process_time() - start < 1.0


def test_arithmetic_on_numbers_still_works():
    assert rows(FRAME, "tokens_per_param ** 2 > 2**10").tolist() == [False, False, True]
    assert rows(FRAME, "`Seen Examples` * 1e300 * 1e300 > 1").tolist() == [True, True, True]  # inf, as pandas


def test_the_cli_refuses_an_unbounded_power_at_once(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    pd.DataFrame({"N": [1e6, 1e7, 1e8, 1e9, 1e10], "loss": [3.0, 2.6, 2.3, 2.1, 2.0]}).to_csv(path, index=False)
    start = time.process_time()
    assert main(["fit", str(path), "--where", "N > 9**9**9"]) == 2
    assert time.process_time() - start < 1.0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too large" in err and str(path) in err
