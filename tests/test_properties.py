"""Property tests (hypothesis): malformed tables and argument combinations fed to the readers and
the CLI end in exit 0, 2 or 3, never a traceback, and nothing is written when a command fails."""
import copy
import json
import warnings

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from scalelaw import InputError, load_runs  # noqa: E402
from scalelaw.cli import main  # noqa: E402

COLUMNS = ["step", "loss", "lr", "params", "tokens", "run", "eval_loss", "x y", "", "step"]
CELLS = st.one_of(
    st.integers(-5, 10_000).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.sampled_from(["", "nan", "inf", "-inf", "1e308", "1e-320", "abc", "3,5", "\"", "0", "-0"]),
)
SUFFIXES = [".csv", ".tsv", ".txt", ".jsonl", ".json", ".log"]


def valid(kind: str) -> tuple[list[str], list[list[str]]]:
    """A table that fits: a power law over sizes, or a loss curve with its lr."""
    if kind == "power":
        return ["params", "loss"], [[f"{n:g}", f"{2 + 8 * n ** -0.3:.6f}"] for n in (1e6, 1e7, 1e8, 1e9, 1e10, 1e11)]
    steps = range(10, 1001, 30)
    return ["step", "lr", "loss"], [[str(t), f"{1e-3 * (1 - t / 2000):.6g}", f"{3 + 2 * (t * 1e-3) ** -0.4:.6f}"]
                                    for t in steps]


@st.composite
def tables(draw):
    base = draw(st.sampled_from(["random", "power", "steps"]))
    if base == "random":
        header = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5))
        rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=10))
    else:  # a good table, with some cells spoilt
        header, rows = valid(base)
        for _ in range(draw(st.integers(0, 2))):
            i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))
            rows[i][j] = draw(CELLS)
    sep = draw(st.sampled_from([",", "\t", ";", " ", ", "]))
    suffix = draw(st.sampled_from(SUFFIXES))
    if suffix in (".jsonl", ".json") and draw(st.booleans()):
        records = [dict(zip(header, r)) for r in rows]
        text = (json.dumps({"log_history": records}) if suffix == ".json"
                else "".join(json.dumps(r) + "\n" for r in records))
    else:
        text = "\n".join(sep.join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "\n"]))
    return suffix, text


ARGS = st.lists(st.sampled_from([
    ["--law", "power"], ["--law", "annealing"], ["--law", "annealing"], ["--law", "chinchilla"], ["--law", "nope"],
    ["--y", "loss"], ["--y", "eval_loss"], ["--x", "params"], ["--group", "run"], ["--step-min", "5"],
    ["--bootstrap", "-1"], ["--level", "2"], ["--schedule", "cosine:peak=1e-3,total=100"],
    ["--schedule", "bogus"], ["--warmup", "actual"], ["--plot", "OUT.xyz"], ["--json"],
]), max_size=4)


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables(), args=ARGS)
def test_cli_fit_never_crashes_and_writes_nothing_on_failure(tmp_path_factory, table, args):
    tmp = tmp_path_factory.mktemp("prop")
    suffix, text = table
    path = tmp / f"log{suffix}"
    path.write_text(text)
    saved = tmp / "fit.json"
    argv = ["fit", str(path), "--save", str(saved)] + [a.replace("OUT", str(tmp / "out")) for a in sum(args, [])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse: a flag's value it refuses (--level 2) is its usage error, exit 2
            rc = exc.code
    assert rc in (0, 2, 3)
    if rc != 0:
        assert not saved.exists() and not list(tmp.glob("out*"))
    assert {p.name for p in tmp.iterdir()} <= {path.name, "fit.json", "out.xyz", "out.png"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables())
def test_readers_raise_only_input_errors(tmp_path_factory, table):
    tmp = tmp_path_factory.mktemp("read")
    suffix, text = table
    path = tmp / f"log{suffix}"
    path.write_text(text)
    for roles in (("step", "y", "lr"), ("x", "y"), ("step", "y")):
        try:
            frame = load_runs(path, roles=roles)
        except InputError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
        else:
            assert len(frame) > 0 and frame[list(roles)].notna().all().all()
    assert main(["inspect", str(path), "--json"]) in (0, 2)


@pytest.fixture(scope="module")
def saved_fits(tmp_path_factory):
    """A saved power-law fit and a saved step-law fit to point predict/allocate at."""
    tmp = tmp_path_factory.mktemp("fits")
    for name, law, (header, rows) in (("power", "power", valid("power")), ("steps", "annealing", valid("steps"))):
        (tmp / f"{name}.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
        assert main(["fit", str(tmp / f"{name}.csv"), "--law", law, "--save", str(tmp / f"{name}.json")]) == 0
    return tmp


VALUES = st.sampled_from(["0", "-1", "1", "2", "1e9", "1e30", "nan", "inf", "abc", "", "1,2", "3e-4"])
COMMANDS = st.one_of(
    st.tuples(st.just("predict-size"), st.lists(st.tuples(st.sampled_from(["--x", "--level", "--n", "--d"]), VALUES),
                                                max_size=3)),
    st.tuples(st.just("predict-step"), st.lists(st.tuples(st.sampled_from(["--at", "--level", "--schedule"]), st.one_of(
        VALUES, st.sampled_from(["cosine:peak=1e-3,total=1000", "wsd:peak=1e-3,total=1e13", "cosine:total=5"]))),
        max_size=3)),
    st.tuples(st.just("allocate"), st.lists(st.tuples(st.sampled_from(["--budget", "--level"]), VALUES), max_size=2)),
    st.tuples(st.just("train"), st.lists(st.tuples(st.sampled_from(
        ["--steps", "--heads", "--width", "--context", "--batch-size", "--layers", "--vocab", "--noise"]),
        st.sampled_from(["0", "-1", "1", "2", "3", "8", "abc", "0.5"])), max_size=4)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=COMMANDS)
def test_other_commands_never_crash(tmp_path_factory, saved_fits, command):
    kind, flags = command
    tmp = tmp_path_factory.mktemp("cmd")
    args = [a for pair in flags for a in pair]
    if kind == "predict-size":
        argv = ["predict", str(saved_fits / "power.json"), *args]
    elif kind == "predict-step":
        argv = ["predict", str(saved_fits / "steps.json"), *args]
    elif kind == "allocate":
        argv = ["allocate", str(saved_fits / "power.json"), *args]
    else:
        pytest.importorskip("torch")
        argv = ["train", "--out", str(tmp / "run"), "--steps", "2", "--eval-every", "1", "--eval-batches", "1",
                "--batch-size", "2", "--context", "8", "--width", "8", "--quiet", *args]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse: a value of the wrong type is its usage error, exit 2
        rc = exc.code
    assert rc in (0, 2, 3)
    if rc != 0:
        assert not (tmp / "run").exists() or kind != "train" or (tmp / "run" / "log.csv").exists()


def _paths(d, prefix=()):
    """Every (path, value) in a JSON object, depth first."""
    if isinstance(d, dict):
        for k, v in d.items():
            yield (*prefix, k), v
            yield from _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield (*prefix, i), v
            yield from _paths(v, (*prefix, i))


JUNK = st.one_of(st.sampled_from([None, "default", "0.999", "", [], {}, [1, 2], True, -50.0, 1e308]),
                 st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["power", "steps"]), edits=st.lists(st.tuples(st.integers(0, 10_000), JUNK,
                                                                          st.booleans()), min_size=1, max_size=3))
def test_a_hand_broken_fit_file_never_crashes_predict(tmp_path_factory, saved_fits, which, edits):
    """Issue 24: fit files as generated inputs. Any key of a saved fit replaced by junk or removed:
    predict exits 0, 2 or 3, and prints valid JSON when it succeeds."""
    d = json.loads((saved_fits / f"{which}.json").read_text())
    for pick, junk, remove in edits:
        paths = list(_paths(d))
        path, _ = paths[pick % len(paths)]
        parent = d
        for key in path[:-1]:
            parent = parent[key]
        if remove and isinstance(parent, dict):
            parent.pop(path[-1])
        else:  # a copy: JUNK's lists are shared, and one put inside itself would make a cycle
            parent[path[-1]] = copy.deepcopy(junk)
    broken = tmp_path_factory.mktemp("broken") / "fit.json"
    broken.write_text(json.dumps(d))
    args = ["--x", "1e9,1e12"] if which == "power" else ["--schedule", "cosine:peak=1e-3,total=1000", "--at", "500"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import io
        from contextlib import redirect_stdout
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            rc = main(["predict", str(broken), *args, "--json"])
    assert rc in (0, 2, 3)
    if rc == 0:
        json.loads(buffer.getvalue(), parse_constant=lambda c: pytest.fail(f"{c} in --json"))


SPEC_KEYS = st.sampled_from(["name", "width", "steps", "schedule", "corpus", "seed", "nmae", "heads", "../x"])
SPEC_VALUES = st.one_of(st.sampled_from(['"../../escaped"', '"/abs"', "7", '"w{width}"', '"cosin:peak=1"',
                                         '"cosine:peak=1e-3"', '"missing.txt"', "[]", "[8, 16]", "0", "-1", '"a b"',
                                         '"{nope}"', "1.5", "true"]), st.integers(-2, 64).map(str))


@settings(max_examples=120, deadline=None)
@given(tables_=st.lists(st.tuples(st.sampled_from(["sweep", "base", "grid", "[runs]", "other"]),
                                  st.lists(st.tuples(SPEC_KEYS, SPEC_VALUES), max_size=4)), max_size=4))
def test_a_generated_sweep_spec_is_read_or_refused_and_names_stay_inside(tables_, tmp_path_factory):
    """Issue 24: specs as generated inputs. Reading any spec raises InputError (one line) or gives
    runs whose names are single safe folder names."""
    pytest.importorskip("torch")
    from scalelaw.train.spec import load_spec

    text = ""
    for table, items in tables_:
        text += f"[{table}]\n" + "".join(f"{k} = {v}\n" if k != "../x" else f'"{k}" = {v}\n' for k, v in items)
    path = tmp_path_factory.mktemp("spec") / "spec.toml"
    path.write_text(text)
    try:
        runs = load_spec(path)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    for name in runs:
        assert "/" not in name and ".." not in name and name.strip() == name and name
