"""Reading logs: formats, column recognition, filters, and clear errors."""
import json

import pytest

from scalelaw import InputError, load_runs


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_recognises_common_names(tmp_path):
    path = write(tmp_path, "log.csv", "global_step,train/loss,learning_rate\n10,3.0,1e-3\n20,2.5,1e-3\n")
    runs = load_runs(path, roles=("step", "y", "lr"))
    assert runs.attrs["columns"] == {"step": "global_step", "y": "train/loss", "lr": "learning_rate"}
    assert list(runs["y"]) == [3.0, 2.5]


def test_explicit_columns_win(tmp_path):
    path = write(tmp_path, "log.csv", "step,loss,val_loss\n1,3.0,3.5\n2,2.5,2.9\n")
    runs = load_runs(path, roles=("step", "y"), columns={"y": "val_loss"})
    assert list(runs["y"]) == [3.5, 2.9]


def test_group_and_several_files(tmp_path):
    a = write(tmp_path, "a.csv", "size,loss,seed\n1e6,3,0\n1e7,2.5,0\n1e6,3.1,1\n1e7,2.6,1\n")
    b = write(tmp_path, "b.csv", "size,loss,seed\n1e6,3,0\n1e7,2.4,0\n")
    one = load_runs(a, roles=("x", "y"), columns={"x": "size"}, group="seed")
    assert sorted(one["run"].unique()) == ["0", "1"]
    two = load_runs([a, b], roles=("x", "y"), columns={"x": "size"})
    assert sorted(two["run"].unique()) == ["a", "b"]


def test_step_filters_and_where(tmp_path):
    path = write(tmp_path, "log.csv", "step,loss,split\n1,3,a\n2,2.8,b\n3,2.6,a\n4,2.5,a\n")
    runs = load_runs(path, roles=("step", "y"), step_min=2, step_max=3)
    assert list(runs["step"]) == [2, 3]
    runs = load_runs(path, roles=("step", "y"), where="split == 'a'")
    assert list(runs["step"]) == [1, 3, 4]


def test_jsonl_drops_records_without_the_metric(tmp_path):
    lines = [{"step": 1, "loss": 3.0}, {"step": 1, "eval_acc": 0.1}, {"step": 2, "loss": 2.5}]
    path = write(tmp_path, "log.jsonl", "\n".join(json.dumps(r) for r in lines))
    runs = load_runs(path, roles=("step", "y"))
    assert list(runs["y"]) == [3.0, 2.5]


def test_hf_trainer_state(tmp_path):
    state = {"log_history": [
        {"epoch": 0.1, "learning_rate": 1e-3, "loss": 3.2, "step": 10},
        {"epoch": 0.1, "eval_loss": 3.4, "step": 10},
        {"epoch": 0.2, "learning_rate": 9e-4, "loss": 2.9, "step": 20},
        {"epoch": 0.2, "eval_loss": 3.1, "step": 20},
    ]}
    path = write(tmp_path, "trainer_state.json", json.dumps(state))
    train = load_runs(path, roles=("step", "y", "lr"))
    assert list(train["y"]) == [3.2, 2.9] and list(train["lr"]) == [1e-3, 9e-4]
    evals = load_runs(path, roles=("step", "y"), columns={"y": "eval_loss"})
    assert list(evals["y"]) == [3.4, 3.1]


def test_wandb_chart_export_becomes_one_run_per_column(tmp_path):
    text = ("Step,small - train/loss,small - train/loss__MIN,small - train/loss__MAX,big - train/loss\n"
            "100,3.0,3.0,3.0,2.8\n200,2.7,2.7,2.7,\n300,2.5,2.5,2.5,2.2\n")
    runs = load_runs(write(tmp_path, "wandb.csv", text), roles=("step", "y"))
    assert sorted(runs["run"].unique()) == ["big", "small"]
    assert list(runs[runs.run == "big"]["step"]) == [100, 300]


@pytest.mark.parametrize("text, needle", [
    ("step,loss\n1,3\n2,abc\n", "line 3: 'abc' is not a number"),
    ("step,loss\n1,3\n2,\n", "line 3: value is missing"),
    ("step,loss\n1,3\n2,inf\n", "not a positive number"),
    ("step,loss\n1,3\n2,-1\n", "not a positive number"),
    ("step,loss\n1,3\n1,2\n", "the steps start over (1 -> 1): several runs in one file? name the column that tells them apart with --group COL"),
    ("step,loss\n", "no data rows"),
    ("", "cannot be read"),
    ("step,acc\n1,3\n", "found no y column"),
])
def test_bad_csv_names_file_column_and_row(tmp_path, text, needle):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(InputError) as err:
        load_runs(path, roles=("step", "y"))
    message = str(err.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_missing_column_lists_those_present(tmp_path):
    path = write(tmp_path, "log.csv", "step,loss\n1,3\n")
    with pytest.raises(InputError, match=r"no column 'val' \(columns present: step, loss\)"):
        load_runs(path, roles=("step", "y"), columns={"y": "val"})


def test_a_fit_on_a_sweep_summary_says_which_flops_count_it_used(tmp_path, capsys):
    from scalelaw.cli import main

    rows = "\n".join(f"{n},{n * 20},{3 + 1e3 / n},{(6 * n + 3000) * n * 20},{6 * n * n * 20}"
                     for n in (1e3, 2e3, 4e3, 8e3, 1.6e4, 3.2e4))
    both = write(tmp_path, "summary.csv", "n,tokens,loss,flops,flops_6nd\n" + rows + "\n")
    for col, words in (("flops", "counts attention"), ("flops_6nd", "is 6 N D")):
        notes = load_runs(both, roles=("x", "y"), columns={"x": col}).attrs["notes"]
        assert len(notes) == 1 and f"x='{col}' {words}" in notes[0]
    assert main(["fit", str(both), "--law", "chinchilla", "--n", "n", "--c", "flops", "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert any("C='flops' counts attention" in w and "overstates the tokens" in w for w in warnings)
    one = write(tmp_path, "other.csv", "n,loss,flops\n" + "\n".join(f"{n},{3 + 1e3 / n},{6 * n * n * 20}"
                                                                   for n in (1e3, 4e3, 1.6e4)) + "\n")
    assert load_runs(one, roles=("x", "y"), columns={"x": "flops"}).attrs["notes"] == []  # someone else's 'flops'
