"""``imgrestore run EXPERIMENT.toml``: steps feed each other, finished steps are skipped, changes redo."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imgrestore.cli.main import cli as ROOT_CLI
from imgrestore.experiment import load_experiment, plan, read_state

ROOT = Path(__file__).resolve().parents[1]

EXP = """
[experiment]
out = "out"

[vars]
sigma = 25

[defaults]
device = "cpu"
seed = 0

[[step]]
name = "pairs"
command = "synth"
args = ["awgn:sigma={{vars.sigma}}"]
patch = 32
count = COUNT
channels = 1
workers = 1

[[step]]
name = "score"
command = "eval"
weights = "WEIGHTS"
clean = "clean"
degrade = "awgn:sigma={{vars.sigma}}"
json = true

[[step]]
name = "score_pairs"
command = "eval"
weights = "tiny.safetensors"
clean = "{steps.pairs.out}/target"
input = "{steps.pairs.out}/input"
json = true
"""


@pytest.fixture
def workdir(tmp_path):
    """An experiment folder with a tiny DnCNN checkpoint and two clean 32x32 gray images."""
    import torch

    from imgrestore.io import write_image
    from imgrestore.nets.dncnn import DnCNN
    from imgrestore.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = {"depth": 3, "channels": 1, "features": 4}
    save_checkpoint(tmp_path / "tiny.safetensors", "dncnn-s", cfg, DnCNN(**cfg).state_dict())
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(tmp_path / "clean" / f"im{i}.png", rng.random((32, 32)).astype(np.float32))
    return tmp_path


def _write(folder: Path, count: int = 4, weights: str = "tiny.safetensors") -> Path:
    f = folder / "exp.toml"
    f.write_text(EXP.replace("COUNT", str(count)).replace("WEIGHTS", weights).replace("{{", "{").replace("}}", "}"))
    return f


def _actions(err: str) -> dict[str, str]:
    """'[i/n] NAME: run (why)' lines of the runner -> {NAME: 'run (why)'}."""
    out = {}
    for line in err.splitlines():
        if line.startswith("[") and "] " in line and ": " in line:
            name, _, what = line.split("] ", 1)[1].partition(": ")
            out[name] = what
    return out


def test_steps_feed_each_other_skip_when_done_and_redo_when_changed(cli, workdir):
    exp = _write(workdir)
    code, out, err = cli("run", str(exp))
    assert code == 0, err
    assert {k: v.split(" ")[0] for k, v in _actions(err).items()} == {"pairs": "run", "score": "run",
                                                                       "score_pairs": "run"}
    res = json.loads((workdir / "out" / "results.json").read_text())
    assert [r["status"] for r in res.values()] == ["done"] * 3
    # eval's JSON is the step's result; score_pairs read the 4 pairs that synth wrote
    assert res["score"]["result"]["mean"]["images"] == 2
    assert len(res["score_pairs"]["result"]["images"]) == 4
    assert len((workdir / "out" / "pairs" / "manifest.jsonl").read_text().splitlines()) == 4
    assert json.loads((workdir / "out" / "score" / "stdout.txt").read_text())["network"] == "dncnn-s"
    assert res["score"]["result"]["degrade"].startswith("awgn:sigma=25")
    stamp = (workdir / "out" / "score" / "stdout.txt").stat().st_mtime_ns

    # again: everything is skipped and nothing is rewritten
    code, out, err = cli("run", str(exp))
    assert code == 0, err
    assert all(v.startswith("skip (done") for v in _actions(err).values()), err
    assert (workdir / "out" / "score" / "stdout.txt").stat().st_mtime_ns == stamp

    # a changed step and the step that uses it run again; the independent one does not
    _write(workdir, count=5)
    code, out, err = cli("run", "--dry-run", str(exp))
    assert code == 0 and "run   pairs" in out and "--count 5" in out and "skip  score " in out
    acts = _actions(cli("run", str(exp))[2])
    assert acts["pairs"] == "run (settings changed (was 4, now 5))", acts
    assert acts["score"].startswith("skip")
    assert acts["score_pairs"] == "run (uses pairs, which runs)"
    res = json.loads((workdir / "out" / "results.json").read_text())
    assert len(res["score_pairs"]["result"]["images"]) == 5

    # a deleted output is made again; --from redoes a step and everything after it
    shutil.rmtree(workdir / "out" / "score")
    acts = _actions(cli("run", str(exp))[2])
    assert acts == {"pairs": acts["pairs"], "score": "run (output missing)", "score_pairs": acts["score_pairs"]}
    assert acts["pairs"].startswith("skip") and acts["score_pairs"].startswith("skip")
    acts = _actions(cli("run", str(exp), "--from", "score")[2])
    assert acts["pairs"].startswith("skip") and acts["score"] == acts["score_pairs"] == "run (--from score)"

    # an input file outside the experiment changed: the step that reads it runs again
    os.utime(workdir / "tiny.safetensors", ns=(1, 1))
    acts = _actions(cli("run", str(exp))[2])
    assert acts["score"] == "run (input files changed)" and acts["score_pairs"] == "run (input files changed)"

    # the whole folder moved elsewhere: nothing to redo (paths are kept relative to the experiment)
    moved = workdir.parent / (workdir.name + "-moved")
    shutil.move(workdir, moved)
    code, out, err = cli("run", str(moved / "exp.toml"), "--dry-run")
    assert code == 0 and out.count("skip ") == 3, out


def test_failing_step_stops_the_run_and_keeps_earlier_state(cli, workdir):
    # a file inside an earlier step's folder that the step does not write: only the run can tell
    # (a missing file that no step writes is refused before any step: tests/test_run_validation.py)
    exp = _write(workdir, weights="{steps.pairs.out}/missing.safetensors")
    code, out, err = cli("run", str(exp))
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("imgrestore: error: ") and "exp.toml: step 'score' (eval) failed:" in last
    assert "missing.safetensors: no such file" in last
    steps = read_state(workdir / "out")["steps"]
    assert steps["pairs"]["status"] == "done" and steps["score"]["status"] == "failed"
    assert "score_pairs" not in steps
    res = json.loads((workdir / "out" / "results.json").read_text())
    assert res["score"]["status"] == "failed" and res["score_pairs"]["status"] is None
    _write(workdir)
    code, out, err = cli("run", str(exp))
    assert code == 0, err
    acts = _actions(err)
    assert acts["pairs"].startswith("skip") and acts["score"].startswith("run (settings changed")
    assert acts["score_pairs"] == "run (never run)"


def test_interrupted_step_resumes_in_its_folder(cli, workdir):
    exp = _write(workdir)
    assert cli("run", str(exp))[0] == 0
    state_file = workdir / "out" / ".experiment" / "state.json"
    state = json.loads(state_file.read_text())
    state["steps"]["pairs"]["status"] = "running"  # as a killed run leaves it
    state_file.write_text(json.dumps(state))
    code, out, err = cli("run", str(exp))
    acts = _actions(err)
    assert acts["pairs"] == "run (running last time (resumes in its folder))"
    assert "4 already there from an earlier run" in err  # synth resumed instead of starting over
    assert acts["score_pairs"] == "run (uses pairs, which runs)" and acts["score"].startswith("skip")


def test_bench_step_and_plan_with_command_lines(cli, tmp_path):
    exp = tmp_path / "b.toml"
    exp.write_text('[[step]]\nname = "speed"\ncommand = "bench degrade"\nargs = "awgn"\nsize = 16\nrepeats = 1\n'
                   'json = true\ndevice = "cpu"\n')
    code, out, err = cli("run", str(exp), "--out", str(tmp_path / "o"), "--dry-run")
    assert code == 0, err
    assert "run   speed  bench degrade  never run" in out
    assert "$ imgrestore bench degrade --size 16 --repeats 1 --json --device cpu -- awgn" in out
    assert not (tmp_path / "o").exists()  # a dry run writes nothing
    code, out, err = cli("run", str(exp), "--out", str(tmp_path / "o"))
    assert code == 0, err
    res = json.loads((tmp_path / "o" / "results.json").read_text())["speed"]
    assert res["result"]["rows"][0]["impl"] and res["out"] == str(tmp_path / "o" / "speed")


BAD = [
    ("a = 1\nb = \nc = 2\n", None, "TOML syntax error: Invalid value (at line 2, column 5)"),
    ('[[step]]\nname = "a"\ncommand = "sinth"\n', "a", "command 'sinth': no such imgrestore command (commands: "),
    ('[[step]]\nname = "a"\ncommand = "bench"\n', "a", "expected one of 'bench degrade', 'bench net'"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\ncont = 3\n', "a", "synth has no option 'cont'"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\ncount = "many"\n', "a", "'many' is not a valid integer"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\nsave-side = "yes"\n', "a", "is a switch"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\nout = "x"\n', "a", "out: set by the runner"),
    ('[[step]]\nname = "a"\ncommand = "synth"\n', "a", "Missing argument 'NAME-or-SPEC'"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn:sigma={vars.s}"]\n', "a", "{vars.s}: no such variable"),
    ('[[step]]\nname = "a"\ncommand = "eval"\nweights = "{steps.nope.out}/w"\nclean = "c"\n', "a", "no step named 'nope'"),
    ('[[step]]\nname = "a"\ncommand = "eval"\nweights = "{steps.a.out}/w"\nclean = "c"\n', "a", "cycle"),
    ('[[step]]\nname = "a"\ncommand = "eval"\nweights = "{steps.b.out}/w"\nclean = "c"\n'
     '[[step]]\nname = "b"\ncommand = "synth"\nargs = ["awgn"]\n', "a", "step 'b' comes later"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\n[[step]]\nname = "a"\ncommand = "synth"\n'
     'args = ["awgn"]\n', "a", "must be unique"),
    ('[[step]]\nname = "a/b"\ncommand = "synth"\n', "a/b", "name: expected letters"),
    ('[[step]]\nname = "a"\ncommand = "run"\n', "a", "cannot run another experiment"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\nafter = ["z"]\n', "a", "after: no step named 'z'"),
    ('[experiment]\nfoo = 1\n', None, "[experiment] has no key 'foo'"),
    ('[defaults]\ndevcie = "cpu"\n[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\n', None,
     "[defaults] devcie: no step's command has this option"),
    ('[experiment]\n', None, "no steps"),
]


@pytest.mark.parametrize("text,step,msg", BAD)
def test_bad_experiment_files_are_one_line_errors(cli, tmp_path, text, step, msg):
    exp = tmp_path / "bad.toml"
    exp.write_text(text)
    code, out, err = cli("run", str(exp), "--out", str(tmp_path / "o"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"imgrestore: error: {exp}: "), err
    if step:
        assert f"step '{step}'" in err, err
    assert msg in err, err
    assert not (tmp_path / "o").exists()


def test_bad_run_options(cli, tmp_path):
    exp = tmp_path / "e.toml"
    exp.write_text('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\n')
    code, _, err = cli("run", str(exp), "--out", str(tmp_path / "o"), "--from", "zz")
    assert code == 2 and "--from zz: no such step" in err and "(steps: a)" in err
    code, _, err = cli("run", str(tmp_path / "none.toml"))
    assert code == 2 and "none.toml: no such experiment file" in err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep me")
    code, _, err = cli("run", str(exp), "--out", str(tmp_path / "busy"))
    assert code == 2 and "is not an experiment's output" in err
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep me"
    # a live runner holds the folder; a dead one's lock is taken over
    lock = tmp_path / "o" / ".experiment" / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(str(os.getpid()))
    code, _, err = cli("run", str(exp), "--out", str(tmp_path / "o"))
    assert code == 2 and "another imgrestore run" in err
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(str(dead.pid))
    exp.write_text('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\ncount = 1\npatch = 16\n'
                   'device = "cpu"\nworkers = 1\n')
    code, _, err = cli("run", str(exp), "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert not lock.exists()


def test_plan_api_reasons(workdir):
    exp = load_experiment(_write(workdir), ROOT_CLI)
    d = plan(exp, {"steps": {}})
    assert [x.reason for x in d] == ["never run"] * 3 and all(x.run and x.clear for x in d)
    assert exp.step("score_pairs").deps == ["pairs"] and exp.step("score").deps == []
    assert exp.step("pairs").argv[-2:] == ["--", "awgn:sigma=25"]


def _has_fit() -> bool:
    from imgrestore.experiment import find_command

    try:
        return find_command(ROOT_CLI, ("fit",)) is not None
    except ImportError:
        return False


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples" / "experiments").glob("*.toml")))
def test_example_experiments_plan(cli, tmp_path, name):
    f = ROOT / "examples" / "experiments" / name
    if "command = \"fit\"" in f.read_text() and not _has_fit():
        pytest.skip("imgrestore fit is not available yet")
    code, out, err = cli("run", str(f), "--out", str(tmp_path / "o"), "--dry-run")
    assert code == 0, err
    assert "never run" in out and "skip" not in out


def test_synth_fit_eval_chain(cli, workdir):
    """A training step between synth and eval: its model feeds eval; a rerun skips all three."""
    if not _has_fit():
        pytest.skip("imgrestore fit is not available yet")
    exp = workdir / "fit.toml"
    exp.write_text("""
[defaults]
device = "cpu"

[[step]]
name = "pairs"
command = "synth"
args = ["awgn:sigma=25"]
patch = 32
count = 4
channels = 1
workers = 1

[[step]]
name = "train"
command = "fit"
plugin = "dncnn-s"
pairs = "{steps.pairs.out}"
net-config = "depth=3,features=4"
iters = 3
batch = 2
patch = 32
val-count = 0
workers = 0
quiet = true

[[step]]
name = "score"
command = "eval"
weights = "{steps.train.out}/model.safetensors"
input = "{steps.pairs.out}/input"
clean = "{steps.pairs.out}/target"
json = true
""")
    out = workdir / "o"
    code, _, err = cli("run", str(exp), "--out", str(out))
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["score"]["result"]["mean"]["images"] == 4
    assert (out / "train" / "model.safetensors").is_file()
    assert load_experiment(exp, ROOT_CLI, out).step("score").deps == ["pairs", "train"]
    code, _, err = cli("run", str(exp), "--out", str(out))
    assert code == 0 and all(v.startswith("skip") for v in _actions(err).values()), err
    # an interrupted training step continues with --resume in its folder
    state_file = out / ".experiment" / "state.json"
    state = json.loads(state_file.read_text())
    state["steps"]["train"]["status"] = "interrupted"
    state_file.write_text(json.dumps(state))
    code, _, err = cli("run", str(exp), "--out", str(out))
    assert code == 0, err
    assert "(resuming: --resume)" in err
    acts = _actions(err)
    assert acts["train"].startswith("run (interrupted last time") and acts["score"] == "run (uses train, which runs)"


def test_option_spelling_switch_pairs_after_and_options_table(tmp_path):
    exp = tmp_path / "o.toml"
    exp.write_text("""
[vars]
n = 3

[[step]]
name = "a"
command = "synth"
args = ["awgn"]
save_side = true
count = "{vars.n}"
options = { bits = 16 }

[[step]]
name = "b"
command = "eval"
weights = "w.safetensors"
clean = "c"
y = false
no-round = false
after = ["a"]
""")
    e = load_experiment(exp, ROOT_CLI, tmp_path / "out")
    a, b = e.steps
    assert a.argv == ["--save-side", "--count", "3", "--bits", "16", "--out", str(tmp_path / "out" / "a"), "--", "awgn"]
    assert b.argv[:5] == ["--weights", "w.safetensors", "--clean", "c", "--rgb"] and "--no-round" not in b.argv
    assert b.deps == ["a"] and b.out == tmp_path / "out" / "b"


def test_runner_runs_any_click_group_it_is_handed(tmp_path):
    """The runner knows no command of its own: handed another click group (as cli/run.py hands
    imgrestore's root), it resolves, fingerprints and runs that group's commands, and skips them
    when nothing changed."""
    import click

    from imgrestore.errors import UserError
    from imgrestore.experiment import run_experiment

    calls = []

    @click.group()
    def root():
        pass

    @root.command("write")
    @click.option("--out", type=click.Path(), required=True)
    @click.option("--text", default="hi")
    @click.option("--loud/--quiet", default=False)
    def write(out, text, loud):
        calls.append((text, loud))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "t.txt").write_text(text.upper() if loud else text)
        print(json.dumps({"n": len(text)}))

    f = tmp_path / "e.toml"
    f.write_text('[[step]]\nname = "a"\ncommand = "write"\ntext = "abc"\nloud = true\n\n'
                 '[[step]]\nname = "b"\ncommand = "write"\ntext = "{steps.a.dir}"\n')
    exp = load_experiment(f, root, tmp_path / "out")
    assert exp.step("a").argv == ["--text", "abc", "--loud", "--out", str(tmp_path / "out" / "a")]
    assert exp.step("b").deps == ["a"]
    run_experiment(exp, echo=lambda s: None)
    assert calls == [("abc", True), (str(tmp_path / "out" / "a"), False)]
    assert (tmp_path / "out" / "a" / "t.txt").read_text() == "ABC"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["a"]["result"] == {"n": 3} and results["b"]["status"] == "done"
    run_experiment(load_experiment(f, root, tmp_path / "out"), echo=lambda s: None)
    assert len(calls) == 2  # unchanged: both skipped
    with pytest.raises(UserError, match="no such imgrestore command"):
        bad = tmp_path / "bad.toml"
        bad.write_text('[[step]]\nname = "x"\ncommand = "synth"\n')
        load_experiment(bad, root)
