"""Run some 700 bad or odd inputs through every command of the CLI, in-process, and report
each that ends in a traceback, prints invalid JSON or a non-finite number with exit 0, answers
a usage error in more than one line, or writes a file outside the sandbox folder.

    python scripts/odd_inputs.py [SANDBOX]      # exit 1 when any case has a problem

Takes about a minute (some cases fit or train). Found issue 24's last tracebacks; add a case here
when a user finds a new kind of input, and a regression test for what it found."""
import contextlib
import io
import json
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

from scalelaw.cli import main

warnings.simplefilter("ignore")
R = Path(__file__).resolve().parents[1]
D = R / "data"
box = Path(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-v" else tempfile.mkdtemp(prefix="odd_inputs_"))
box.mkdir(parents=True, exist_ok=True)
os.chdir(box)
def w(name, text, mode="w"):
    p = box / name; p.parent.mkdir(parents=True, exist_ok=True)
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text); return str(p)
files = {
 "empty": w("empty.csv", ""),
 "header": w("header.csv", "N,loss\n"),
 "text": w("text.csv", "N,loss\na,b\nc,d\n"),
 "nan": w("nan.csv", "N,loss\n1e6,nan\n2e6,3\n4e6,2.8\n8e6,2.7\n1.6e7,2.6\n"),
 "inf": w("inf.csv", "N,loss\n1e6,inf\n2e6,3\n4e6,2.8\n8e6,2.7\n1.6e7,2.6\n"),
 "neg": w("neg.csv", "N,loss\n-1e6,3.2\n2e6,3\n4e6,2.8\n8e6,2.7\n1.6e7,2.6\n"),
 "negloss": w("negloss.csv", "N,loss\n1e6,-3.2\n2e6,-3\n4e6,-2.8\n8e6,-2.7\n1.6e7,-2.6\n"),
 "zero": w("zero.csv", "N,loss\n0,3.2\n2e6,3\n4e6,2.8\n8e6,2.7\n1.6e7,2.6\n"),
 "huge": w("huge.csv", "N,loss\n1e300,3.2\n2e300,3\n4e300,2.8\n8e300,2.7\n1.6e301,2.6\n"),
 "tiny": w("tiny.csv", "N,loss\n1e-300,3.2\n2e-300,3\n4e-300,2.8\n8e-300,2.7\n1.6e-299,2.6\n"),
 "two": w("two.csv", "N,loss\n1e6,3\n2e6,2.9\n"),
 "good": w("good.csv", "N,loss\n" + "".join(f"{1e6*2**i},{2+5*(1e6*2**i)**-0.1:.6f}\n" for i in range(8))),
 "binary": w("bin.csv", bytes(range(256)) * 4),
 "utf16": w("u16.csv", "N,loss\n1e6,3\n2e6,2.9\n4e6,2.8\n8e6,2.7\n1.6e7,2.6\n".encode("utf-16")),
 "bom": w("bom.csv", "\ufeffN,loss\n1e6,3\n2e6,2.9\n4e6,2.8\n8e6,2.7\n1.6e7,2.6\n"),
 "semicolon": w("semi.csv", "N;loss\n1e6;3\n2e6;2.9\n4e6;2.8\n8e6;2.7\n1.6e7;2.6\n"),
 "ragged": w("ragged.csv", "N,loss\n1e6,3,4\n2e6\n4e6,2.8\n8e6,2.7\n1.6e7,2.6\n"),
 "jsonl_bad": w("bad.jsonl", '{"step": 1, "loss": 3}\n{"step": 2, "loss":\n{"step": 3}\n'),
 "jsonl_list": w("list.jsonl", '[1,2,3]\n[4,5,6]\n'),
 "trainer_state": w("ts/trainer_state.json", '{"log_history": [{"step": 1}, {"loss": "x", "step": 2}]}'),
 "trainer_state2": w("ts2/trainer_state.json", '{"log_history": 5}'),
 "json_num": w("num.json", '5'),
 "steps_noLR": w("steps.csv", "step,loss\n" + "".join(f"{s},{2+3*s**-0.3:.5f}\n" for s in range(1, 400))),
 "steps_lr_zero": w("lr0.csv", "step,loss,lr\n" + "".join(f"{s},{2+3*s**-0.3:.5f},0\n" for s in range(1, 400))),
 "steps_lr_neg": w("lrneg.csv", "step,loss,lr\n" + "".join(f"{s},{2+3*s**-0.3:.5f},-1e-3\n" for s in range(1, 400))),
 "steps_dup": w("dup.csv", "step,loss,lr\n" + "".join(f"{s//2},{2+3*(s+1)**-0.3:.5f},1e-3\n" for s in range(1, 400))),
 "steps_float": w("sf.csv", "step,loss,lr\n" + "".join(f"{s/3},{2+3*s**-0.3:.5f},1e-3\n" for s in range(1, 400))),
 "runs_col": w("runs.csv", "run,step,loss,lr\n" + "".join(f"{r},{s},{2+3*s**-0.3 + 0.01*len(r):.5f},1e-3\n" for r in ("a","b") for s in range(1, 300))),
 "dir_empty": str((box / "emptydir").mkdir(exist_ok=True) or box / "emptydir"),
 "fitjson_junk": w("junk.json", "{not json"),
 "fitjson_arr": w("arr.json", "[1,2]"),
 "fitjson_empty": w("e.json", "{}"),
 "toml_bad": w("bad.toml", "[sweep\nname="),
 "toml_empty": w("empty.toml", ""),
 "toml_runs_str": w("rs.toml", 'runs = "x"\n'),
 "toml_grid_bad": w("gb.toml", '[grid]\nwidth = []\n'),
 "toml_grid_obj": w("go.toml", '[grid]\nwidth = [{a=1}]\n'),
 "toml_steps_neg": w("sn.toml", '[base]\nsteps = -5\n[[runs]]\nwidth=16\n'),
 "toml_width_str": w("ws.toml", '[base]\nsteps = 5\n[[runs]]\nwidth="big"\n'),
 "toml_vocab0": w("v0.toml", '[base]\nsteps = 5\nvocab=0\n[[runs]]\nwidth=16\n'),
 "toml_bool": w("bo.toml", '[base]\nsteps = true\n[[runs]]\nwidth=16\n'),
 "toml_float_width": w("fw.toml", '[base]\nsteps = 5\n[[runs]]\nwidth=16.5\n'),
 "toml_huge": w("hu.toml", '[base]\nsteps = 5\n[[runs]]\nwidth=100000000\n'),
}
mpl = D / "multipower_law" / "csv_25"
good = files["good"]
ann = str(box / "ann.json"); pw = str(box / "pw.json")
setup = [["fit", good, "--save", pw, "--quiet"], ["fit", str(mpl/"cosine_24000.csv"), str(mpl/"constant_24000.csv"), "--law", "annealing", "--save", ann, "--quiet"]]
cases = list(setup)
for name, f in files.items():
    cases.append(["fit", f]); cases.append(["fit", f, "--json"]); cases.append(["inspect", f])
    cases.append(["predict", f, "--x", "1e6"]); cases.append(["fit", f, "--law", "auto"])
    cases.append(["isoflop", f]); cases.append(["compare", f])
    if name.startswith("toml"):
        cases.append(["sweep", "run", f, "--out", str(box / "sw" / name)])
odd = ["nan", "inf", "-inf", "-1", "0", "1e400", "1e-400", "abc", "", " ", "1,2,,3", "0x10", "1_000", "--json", "½", "١٢"]
for v in odd:
    cases += [["predict", pw, "--x", v], ["predict", pw, "--x", v, "--json"], ["predict", pw, "--level", v, "--x", "1e9"],
              ["predict", ann, "--steps", v, "--schedule", "cosine:peak=3e-4,total=24000"],
              ["predict", ann, "--schedule", f"cosine:peak={v},total=24000", "--json"],
              ["predict", ann, "--schedule", f"cosine:peak=3e-4,total={v}"],
              ["predict", ann, "--schedule", f"wsd:peak=3e-4,total=24000,decay={v}"],
              ["fit", good, "--level", v], ["fit", good, "--bootstrap", v], ["fit", str(mpl/"cosine_24000.csv"), "--law", "annealing", "--step-min", v],
              ["allocate", pw, "--budget", v], ["fit", good, "--where", v], ["fit", good, "--x", v],
              ["train", "--steps", v, "--out", str(box/"tr"/("s"+str(abs(hash(v)))))], ["train", "--width", v, "--steps", "3", "--out", str(box/"tr"/("w"+str(abs(hash(v)))))],
              ["train", "--schedule", v, "--steps", "3", "--out", str(box/"tr"/("c"+str(abs(hash(v)))))],
              ["sweep", "status", v], ["predict", ann, "--log", v], ["compare", str(mpl/"cosine_24000.csv"), "--held-out", v],
              ["fit", good, "--law", v], ["predict", v, "--x", "1"]]
scheds = ["cosine", "cosine:", "cosine:peak", "cosine:peak=", "cosine:=1", ":", "wsd:peak=1e-3,total=100,decay=2", "wsd:peak=1e-3,total=100,decay=-1",
          "cosine:peak=1e-3,total=100,warmup=200", "cosine:peak=1e-3,total=100,final=1", "step:peak=1e-3,total=100,every=0",
          "cosine:peak=1e-3,total=1e12", "cosine:peak=1e-3,total=0", "cosine:peak=1e-3,total=1", "constant:peak=1e-3,total=100,peak=2",
          "file:/etc/passwd", "../../x", "cosine:peak=1e-3;total=100", "COSINE:PEAK=1e-3,TOTAL=100", "multi:a", "lambda x: x"]
for sc in scheds:
    cases += [["predict", ann, "--schedule", sc, "--json"], ["train", "--schedule", sc, "--steps", "3", "--out", str(box/"tr"/("x"+str(abs(hash(sc)))))],
              ["fit", str(mpl/"cosine_24000.csv"), "--law", "annealing", "--schedule", sc]]
for wh in ["N > 1e6 and loss < 3", "N.__class__", "__import__('os')", "N if True else loss", "[N for N in loss]", "N > 'a'", "N == N == N",
           "not", "N >", "(((", "N" * 5000, "lambda: 1", "N @ N", "N ** 1e9 > 0", "N / 0 > 1", "`N`>0", "x > 0", "N in [1e6, 2e6]", "N in N"]:
    cases.append(["fit", good, "--where", wh])
out = []
for argv in cases:
    o, e = io.StringIO(), io.StringIO()
    before = set(os.listdir("/tmp")) | set(os.listdir(R))
    try:
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            code = main(argv)
    except SystemExit as x:
        code = x.code if isinstance(x.code, int) else 2
    except BaseException as x:
        code = "TRACEBACK"; e.write("".join(traceback.format_exception(x))[-1500:])
    after = set(os.listdir("/tmp")) | set(os.listdir(R))
    problems = []
    if code == "TRACEBACK" or code == 1: problems.append("traceback")
    if "--json" in argv and code == 0:
        try: json.loads(o.getvalue(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except Exception as x: problems.append(f"invalid json {x}")
    if code == 0 and argv[0] == "predict":
        txt = o.getvalue().lower()
        if "nan" in txt or "inf" in txt.replace("info", ""): problems.append("nan in output")
    if after - before: problems.append(f"new files outside: {after-before}")
    err1 = e.getvalue().strip().splitlines()
    if code == 2 and len(err1) != 1 and argv[0] not in ("train",): problems.append(f"{len(err1)} lines of error")
    out.append((argv, code, problems, e.getvalue().strip()[-300:]))
bad = [x for x in out if x[2]]
print(len(cases), "cases;", len(bad), "with problems")
codes = {}
for a, c, p, err in out: codes[c] = codes.get(c, 0) + 1
print(codes)
for a, c, p, err in bad:
    print("----", a, c, p); print(err)
if "-v" in sys.argv:
    for a, c, p, err in out:
        if c in (0, 3):
            print(c, a[:8], "|", err[-160:].replace("\n", " / "))
sys.exit(1 if bad else 0)
