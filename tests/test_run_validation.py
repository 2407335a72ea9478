"""``imgrestore run`` checks every step before the first one starts (issue 14 item 3), and a bad
experiment file is one line naming the file, line and key (issue 13 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

GOOD = """\
[defaults]
device = "cpu"

[[step]]
name = "pairs"
command = "synth"
args = ["awgn:sigma=5"]
patch = 32
count = 4

[[step]]
name = "train"
command = "fit"
plugin = "dncnn-s"
pairs = "{steps.pairs.out}"
net-config = "depth=3"
iters = 2
"""

# (edit of GOOD, line the error must name, step, words of the message): the four examples
# first, each of which passed --dry-run before and failed only when its step was reached
LATE = [
    (("dncnn-s", "dncnn-bb"), 14, "train", ["--plugin 'dncnn-bb'", "no such network", "did you mean 'dncnn-b'"]),
    (("sigma=5", "sigm=5"), 7, "pairs", ["awgn", "'sigm'"]),
    (("depth=3", "depht=3"), 16, "train", ["--net-config", "depht"]),
    (("patch = 32", "patch = 4"), 8, "pairs", ["--patch 4"]),
    (("iters = 2", 'iters = 2\nclean = "nowhere"'), 18, "train", ["--clean nowhere: no such file or folder",
                                                               "no earlier step writes it"]),
    (("iters = 2", "iters = 0"), 17, "train", ["--iters 0: expected a positive integer"]),
    (("iters = 2", 'iters = 2\nstage = "surrogate"'), 18, "train", ["--stage surrogate: needs --init"]),
]


def _exp(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "exp.toml"
    f.write_text(text)
    return f


@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "run"])
@pytest.mark.parametrize("edit,line,step,words", LATE, ids=[e[0][1].split("\n")[-1] for e in LATE])
def test_every_step_is_checked_before_the_first_starts(cli, tmp_path, edit, line, step, words, dry):
    exp = _exp(tmp_path, GOOD.replace(*edit))
    out = tmp_path / "o"
    code, _, err = cli("run", str(exp), "--out", str(out), *(["--dry-run"] if dry else []))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"imgrestore: error: {exp}: line {line}: step '{step}': "), err
    for w in words:
        assert w in err, err
    assert not out.exists()  # nothing ran, nothing was written: not even the first step


def test_good_experiment_passes_and_inputs_of_earlier_steps_are_allowed(cli, tmp_path):
    exp = _exp(tmp_path, GOOD)
    code, out, err = cli("run", str(exp), "--out", str(tmp_path / "o"), "--dry-run")
    assert code == 0, err
    assert "run   pairs" in out and "run   train" in out
    assert not (tmp_path / "o").exists()  # the checks ran the commands' code, none of their work


def test_checks_run_the_commands_own_code_only_up_to_ready(tmp_path):
    """check_command stops at the command's ready(): synth checks its chain, writes nothing."""
    from imgrestore.errors import UserError
    from imgrestore.cli.main import cli as root
    from imgrestore.experiment import find_command
    from imgrestore.preflight import check_command

    cmd = find_command(root, ("synth",))
    out = tmp_path / "never"
    check_command(cmd, ("synth",), ["--out", str(out), "--device", "cpu", "--", "awgn:sigma=5"], tmp_path)
    assert not out.exists()
    with pytest.raises(UserError, match="sigm"):
        check_command(cmd, ("synth",), ["--out", str(out), "--device", "cpu", "--", "awgn:sigm=5"], tmp_path)
    assert not out.exists()


# issue 13 item 3: the experiment file itself
BAD_FILES = [
    ('[[steps]]\nname = "a"\ncommand = "synth"\n', 1, "unknown table 'steps'"),
    ('seed = 1\n[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\n', 1, "unknown key 'seed'"),
    ('[extra]\nx = 1\n[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\n', 1, "unknown table 'extra'"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\n\ncount = true\n', 6,
     "step 'a': count = true: --count takes an integer, not true/false"),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\npatch = 32.5\n', 5, "step 'a': "),
    ('[[step]]\nname = "a"\ncommand = "synth"\nargs = ["awgn"]\n[[step]]\nname = "b"\ncommand = "synth"\n'
     'args = ["awgn"]\ncont = 3\n', 9, "step 'b': synth has no option 'cont' (did you mean 'count'?)"),
    ('[experiment]\ndescription = "x"\nfoo = 1\n', 3, "[experiment] has no key 'foo'"),
    ('[[step]]\nname = "a"\ncommand = "eval"\nweights = "w"\nclean = "c"\nplugin = true\n', 6,
     "plugin = true: --plugin takes a text value"),
]


@pytest.mark.parametrize("text,line,msg", BAD_FILES)
def test_bad_experiment_file_names_file_line_and_key(cli, tmp_path, text, line, msg):
    exp = _exp(tmp_path, text)
    code, _, err = cli("run", str(exp), "--out", str(tmp_path / "o"), "--dry-run")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"imgrestore: error: {exp}: line {line}: "), err
    assert msg in err, err


def test_not_utf8_names_the_line(cli, tmp_path):
    exp = tmp_path / "latin1.toml"
    exp.write_bytes('[[step]]\nname = "a"\n# caf\xe9\ncommand = "synth"\n'.encode("latin-1"))
    code, _, err = cli("run", str(exp), "--dry-run")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{exp}: line 3: not UTF-8 text (byte 0xe9)" in err, err
