"""Issue 13, items 3-7 (chain files, eval sizes, Ctrl-C with workers, divergence, files outside
what the user named): every bad input is one line naming it, never a traceback.

The table of docs/reliability-inputs.md names the test of each case. Tiny everything: DnCNN
depth 3 with 4 features, 16x16 patches, a handful of iterations.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imgrestore.chain import Chain
from imgrestore.errors import SpecError, UserError

# ---------------------------------------------------------------------------------------------
# item 3: chain TOML files are checked like the command line


def _toml(tmp_path, text: str | bytes, name="chain.toml") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


AWGN = '[[degradation]]\nname = "awgn"\nsigma = 5\n'


def _assert_toml_error(tmp_path, text, line, key, needles):
    """Chain.load of `text` is a one-line SpecError that starts with the file, line and key and
    contains every needle."""
    p = _toml(tmp_path, text)
    with pytest.raises(SpecError) as e:
        Chain.load(str(p))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}, line {line}, key {key!r}: "), msg
    for n in needles:
        assert n in msg, msg


@pytest.mark.parametrize("text, line, key, needles", [
    # [[degradations]] used to drop its stage without a word
    (AWGN + '\n[[degradations]]\nname = "jpeg"\n', 5, "degradations", ["did you mean [[degradation]]"]),
    ('[[degradations]]\nname = "awgn"\n', 1, "degradations", ["unknown key"]),
    (AWGN + "\n[extra]\nfoo = 1\n", 5, "extra", ["unknown key", "only [[degradation]] tables"]),
    ("seed = 3\n" + AWGN, 1, "seed", ["unknown key"]),
    ('[[degradation]]\nname = "awgn"\nsigmaa = 5\n', 3, "sigmaa", ["did you mean 'sigma'", "known parameters: sigma"]),
])
def test_chain_toml_unknown_tables_and_keys(tmp_path, text, line, key, needles):
    _assert_toml_error(tmp_path, text, line, key, needles)


@pytest.mark.parametrize("text, line, key, needles", [
    # sigma = true used to become sigma 1
    ('[[degradation]]\nname = "bicubic"\nscale = 2\n\n[[degradation]]\nname = "awgn"\n# noise\nsigma = true\n',
     8, "sigma", ["awgn:sigma = true is a boolean, not a number", "expected float"]),
    ('[[degradation]]\nname = "awgn"\nsigma = {min = true, max = 4}\n', 3, "sigma", ["a boolean, not a number"]),
    ('[[degradation]]\nname = "awgn"\nsigma = [1, false]\n', 3, "sigma", ["a boolean, not a number"]),
    ('[[degradation]]\nname = "awgn"\nclip = 1\n', 3, "clip", ["a number, not true or false"]),
    ('[[degradation]]\nname = "awgn"\nsigma = 1979-05-27\n', 3, "sigma", ["is a date, not a number"]),
    ('[[degradation]]\nname = 3\n', 2, "name", ["is a number", "known degradations"]),
    ('[[degradation]]\nname = "jpeg"\nquality = 2.5\n', 3, "quality", ["not a valid int"]),
    ('[[degradation]]\nname = "awgn"\nsigma = -5\n', 3, "sigma", ["out of range"]),
    ('[[degradation]]\nname = "awgn"\nsigma = 1' + "0" * 400 + "\n", 3, "sigma", ["not a valid float"]),
    ('degradation = [{name = "awgn", sigma = true}]\n', 1, "sigma", ["a boolean"]),
    ('degradation = "awgn"\n', 1, "degradation", ["expected one or more [[degradation]] tables"]),
])
def test_chain_toml_wrong_types(tmp_path, text, line, key, needles):
    _assert_toml_error(tmp_path, text, line, key, needles)


def test_chain_toml_good_types_still_load(tmp_path):
    """Integers for floats, strings for ranges and lists, a number for a text choice."""
    p = _toml(tmp_path, '[[degradation]]\nname = "awgn"\nsigma = "0-55"\nclip = true\n\n'
                        '[[degradation]]\nname = "jpeg"\nquality = {min = 30, max = 95}\nsubsampling = 420\n')
    assert Chain.load(str(p)).spec() == Chain.parse("awgn:sigma=0-55,clip=true|jpeg:quality=30-95,subsampling=420").spec()


def test_chain_toml_not_utf8_names_file_and_line(tmp_path):
    p = _toml(tmp_path, b'[[degradation]]\nname = "awgn"\n# caf\xe9\nsigma = 5\n')
    with pytest.raises(SpecError) as e:
        Chain.load(str(p))
    assert str(e.value).startswith(f"{p}, line 3: not UTF-8 text (byte 0xe9") and "\n" not in str(e.value)


def test_chain_toml_invalid_toml_is_one_line(tmp_path):
    p = _toml(tmp_path, '[[degradation]\nname = "awgn"\n')
    with pytest.raises(SpecError, match=r"invalid TOML \(.*line 1") as e:
        Chain.load(str(p))
    assert "\n" not in str(e.value)


def test_chain_toml_errors_through_the_cli(tmp_path, cli):
    p = _toml(tmp_path, AWGN + "\n[[degradations]]\nname = 'jpeg'\n")
    code, _, err = cli("synth", str(p), "--out", str(tmp_path / "o"), "--count", "1", "--device", "cpu")
    assert code == 2 and err.count("\n") == 1 and "line 5, key 'degradations'" in err, err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# item 4: eval sizes and seeds that cannot fit the metric


@pytest.fixture
def eval_setup(tmp_path):
    torch = pytest.importorskip("torch")
    from imgrestore.io import write_image
    from imgrestore.registry import get_registry
    from imgrestore.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = get_registry().networks["dncnn-s"].build(depth=3, features=4)
    ckpt = tmp_path / "w.safetensors"
    save_checkpoint(ckpt, "dncnn-s", {"depth": 3, "features": 4}, model.state_dict())
    clean = tmp_path / "clean"
    rng = np.random.default_rng(0)
    write_image(clean / "a.png", rng.random((24, 20, 1), dtype=np.float32))
    return ckpt, clean


def _eval(cli, ckpt, clean, *extra, out=None):
    args = ["eval", "--weights", str(ckpt), "--clean", str(clean), "--degrade", "awgn:sigma=25", "--device", "cpu",
            *extra]
    if out is not None:
        args += ["--out", str(out)]
    return cli(*args)


def test_eval_crop_larger_than_the_image(eval_setup, cli, tmp_path):
    ckpt, clean = eval_setup
    code, _, err = _eval(cli, ckpt, clean, "--crop", "40", out=tmp_path / "o")
    assert code == 2 and err.count("\n") == 1, err
    assert "--crop 40: larger than image a.png (20x24)" in err and "below 10" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing written


def test_eval_image_smaller_than_the_ssim_window(eval_setup, cli, tmp_path):
    ckpt, clean = eval_setup
    code, _, err = _eval(cli, ckpt, clean, "--crop", "6")  # 20x24 -> 8x12
    assert code == 2 and err.count("\n") == 1, err
    assert "a.png: 20x24 leaves 8x12 after --crop 6; SSIM needs at least 11x11" in err
    from imgrestore.io import write_image

    write_image(clean / "b.png", np.full((8, 30, 1), 0.5, np.float32))  # too small even without a crop
    code, _, err = _eval(cli, ckpt, clean)
    assert code == 2 and "b.png: 30x8 leaves 30x8 after --crop 0; SSIM needs at least 11x11" in err
    code, out, err = _eval(cli, ckpt, clean.parent / "nope")
    assert code == 2 and "Traceback" not in err


def test_eval_negative_seed(eval_setup, cli):
    ckpt, clean = eval_setup
    code, _, err = _eval(cli, ckpt, clean, "--seed", "-1")
    assert code == 2 and err.strip() == "imgrestore: error: --seed -1: expected 0 or a positive integer"
    code, out, err = _eval(cli, ckpt, clean, "--seed", "0", "--crop", "4")  # the largest crop that fits SSIM
    assert code == 0 and "a.png" in out, err


# ---------------------------------------------------------------------------------------------
# item 5: Ctrl-C to the whole process group with data-loader workers


def _smooth_images(folder: Path, n: int, size: int = 40) -> Path:
    from imgrestore.io import write_image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for k in range(n):
        a, b, c = rng.uniform(1, 6, 3)
        write_image(folder / f"img{k:02d}.png", (0.5 + 0.4 * np.sin(a * xx * 3 + b * yy * 2 + c))[..., None].astype(np.float32))
    return folder


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory):
    return _smooth_images(tmp_path_factory.mktemp("clean"), 4)


def _fit_cmd(clean: Path, out: Path, workers: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "imgrestore", "fit", "--plugin", "dncnn-s", "--clean", str(clean), "--degrade",
            "awgn:sigma=25", "--out", str(out), "--iters", "100000", "--batch", "2", "--patch", "16", "--lr", "1e-3",
            "--optimizer", "adam", "--net-config", "depth=3,features=4", "--workers", str(workers), "--val-count", "0",
            "--log-every", "1", "--ckpt-every", "100000", "--device", "cpu", "--quiet", *extra]


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# None: as soon as the run folder's metrics log exists (the workers may still be starting; the
# checkpoint may be of iteration 0); else seconds after the first metrics row (workers busy
# prefetching)
SIGINT_DELAYS = [None, 0.0, 0.05, 0.2, 0.5]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX process groups")
def test_group_sigint_with_workers_saves_and_exits_130_every_time(clean_dir, tmp_path):
    """What a terminal's Ctrl-C does: SIGINT to every process of the group, the data-loader
    workers included. Each of several runs, hit at a different moment, must save a checkpoint,
    say so in one line, exit 130 and leave no process behind."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for n, delay in enumerate(SIGINT_DELAYS):
        out = tmp_path / f"run{n}"
        proc = subprocess.Popen(_fit_cmd(clean_dir, out, 2), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, start_new_session=True)
        try:
            deadline = time.time() + 120
            log = out / "metrics.jsonl"
            while time.time() < deadline and proc.poll() is None:
                if log.exists() and (delay is None or log.stat().st_size > 0):
                    break
                time.sleep(0.02)
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(delay or 0.0)
            os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 130, f"delay {delay}: {err}"
        assert "Traceback" not in err and "Error" not in err, f"delay {delay}: {err}"
        assert "imgrestore: interrupted at iteration" in err and "checkpoint.safetensors" in err, err
        assert _group_gone(proc.pid, 30), "data-loader workers outlived the run"
        from imgrestore.weights.checkpoint import read_checkpoint

        ck = read_checkpoint(out / "checkpoint.safetensors")
        assert ck.meta["kind"] == "train-state" and ck.meta["iteration"] >= (0 if delay is None else 1)


class SignalProbe:
    """A dataset whose items report how the data-loader worker that made them treats SIGINT."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, k: int) -> dict:
        blocked = [line for line in open("/proc/self/status") if line.startswith("SigBlk")][0].split()[1]
        return {"blocked": int(blocked, 16) & (1 << (signal.SIGINT - 1)) != 0,
                "ignored": signal.getsignal(signal.SIGINT) == signal.SIG_IGN}


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the signal mask from /proc")
def test_loader_workers_are_deaf_to_sigint(tmp_path):
    """The mechanism of the test above, through the loop's own loader: its spawned worker
    starts with SIGINT blocked (multiprocessing's resource tracker, started on the way, used to
    unblock it) and ignores it for good; this process gets its mask back."""
    pytest.importorskip("torch")
    from imgrestore.train.loop import LoopSettings, Trainer

    t = Trainer(step=None, dataset=SignalProbe(), out=tmp_path, network="x", config={},
                settings=LoopSettings(iters=1, batch=1, lr=1, workers=1))
    item = next(t._loader())
    assert item == {"blocked": True, "ignored": True}
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


# ---------------------------------------------------------------------------------------------
# item 6: training that explodes but stays finite


def _opts(out, clean, **kw):
    from imgrestore.train.stages import FitOptions

    base = dict(plugin="dncnn-s", out=Path(out), clean=clean, degrade="awgn:sigma=25", iters=20, batch=2, patch=16,
                lr=1e-3, optimizer="adam", device="cpu", workers=0, val_every=1000, val_count=0, ckpt_every=5,
                log_every=5, net_config={"depth": 3, "features": 4}, progress=False, figures=False)
    base.update(kw)
    return FitOptions(**base)


def test_lr_1e6_adam_stops_as_diverged(clean_dir, tmp_path):
    """The issue's case: Adam at --lr 1e6 ran to the end with a loss of 5e29. Now it stops at
    the first read-back, names the first exploding iteration and writes no checkpoint."""
    pytest.importorskip("torch")
    from imgrestore.train.loop import NonFiniteLoss
    from imgrestore.train.stages import fit

    out = tmp_path / "lr"
    with pytest.raises(NonFiniteLoss) as e:
        fit(_opts(out, clean_dir, lr=1e6, iters=40))
    msg = str(e.value)
    assert "\n" not in msg and "exploding loss" in msg and "the run diverged" in msg and "try a lower --lr" in msg
    assert "no checkpoint was written yet" in msg
    assert not (out / "checkpoint.safetensors").exists() and not (out / "model.safetensors").exists()


def test_explosion_after_a_checkpoint_rolls_back_to_it(clean_dir, tmp_path):
    """Healthy for 10 iterations (checkpoints at 5 and 10), then the learning rate jumps to 1e6:
    the first read-back after it (iteration 15) stops the run; the checkpoint of 10 stays on
    disk, finite and sane, and the weights in memory are rolled back to it."""
    torch = pytest.importorskip("torch")
    from imgrestore.train import stages
    from imgrestore.train.loop import NonFiniteLoss, Trainer
    from imgrestore.registry import load_network
    from imgrestore.weights.checkpoint import read_checkpoint

    real_run = Trainer.run
    seen = {}

    def run(self, start=0, log=None):
        def bump(it):
            if it == 10:
                self.s.lr = 1e6
        self.on_iteration = bump
        seen["trainer"] = self
        return real_run(self, start, log)

    out = tmp_path / "boom"
    Trainer.run = run
    try:
        with pytest.raises(NonFiniteLoss) as e:
            stages.fit(_opts(out, clean_dir, iters=40))
    finally:
        Trainer.run = real_run
    msg = str(e.value)
    assert msg.startswith("iteration 1") and "exploding loss" in msg, msg
    assert "(iteration 10) is kept and the weights were rolled back to it" in msg
    assert read_checkpoint(out / "checkpoint.safetensors").meta["iteration"] == 10
    model, _, ck = load_network(out / "model.safetensors")
    assert ck.meta["iteration"] == 10
    assert all(float(v.abs().max()) < 1e3 for v in model.state_dict().values() if v.is_floating_point())
    net = seen["trainer"].step.modules()["net"]
    for k, v in net.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_huge_but_finite_statistics_are_caught_before_the_checkpoint(clean_dir, tmp_path):
    """A BN running variance of 4e26 (what --lr 1e6 left): finite, unused by the training
    forward, so the losses stay calm; the weight check before the checkpoint of 10 refuses it."""
    torch = pytest.importorskip("torch")
    from imgrestore.train import stages
    from imgrestore.train.loop import NonFiniteLoss, Trainer
    from imgrestore.weights.checkpoint import read_checkpoint

    real_run = Trainer.run

    def run(self, start=0, log=None):
        def poison(it):
            if it == 7:
                bn = next(m for m in self.step.modules()["net"].modules() if isinstance(m, torch.nn.BatchNorm2d))
                bn.running_var.fill_(4e26)
        self.on_iteration = poison
        return real_run(self, start, log)

    out = tmp_path / "bn"
    Trainer.run = run
    try:
        with pytest.raises(NonFiniteLoss, match=r"^iteration 10: the net weights became huge \(a value over 1e\+15, "
                                                r"still finite\) \(.*running_var, \.\.\.\).*\(iteration 5\) is kept"):
            stages.fit(_opts(out, clean_dir, iters=20))
    finally:
        Trainer.run = real_run
    assert read_checkpoint(out / "checkpoint.safetensors").meta["iteration"] == 5


def test_noisy_but_healthy_losses_are_not_divergence(tmp_path):
    """Batches whose losses differ by 100x (sigma 0-55 noise) never trip the ratio test."""
    pytest.importorskip("torch")
    from imgrestore.train.loop import DIVERGE_HISTORY, DIVERGE_RATIO, LoopSettings, Trainer

    t = Trainer(step=None, dataset=None, out=tmp_path, network="x", config={}, settings=LoopSettings(iters=1, batch=1, lr=1))
    rng = np.random.default_rng(0)
    for v in rng.uniform(1e-4, 1e-2, 200):
        assert t._exploded({"loss": float(v)}) is None
    assert len(t._recent) >= DIVERGE_HISTORY
    level = float(np.median(list(t._recent)))
    assert t._exploded({"loss": 0.9 * DIVERGE_RATIO * level}) is None
    why = t._exploded({"loss": 1.1 * DIVERGE_RATIO * level})
    assert why is not None and "times the median" in why


# ---------------------------------------------------------------------------------------------
# item 7: files outside what the user named


def _pairs_folder(tmp_path, entries) -> Path:
    from imgrestore.io import write_image

    folder = tmp_path / "pairs"
    for sub in ("input", "target"):
        write_image(folder / sub / "a.png", np.full((16, 16, 1), 0.5, np.float32))
    (folder / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    return folder


@pytest.mark.parametrize("entry, needle", [
    ({"input": "../outside.png", "target": "target/a.png"}, "leads out of the folder ('..')"),
    ({"input": "input/../../outside.png", "target": "target/a.png"}, "leads out of the folder"),
    ({"input": "input/a.png", "target": "/etc/passwd"}, "is an absolute path"),
    ({"input": "input/a.png", "target": "target/a.png", "side": {"sigma": "../s.npy"}}, "side sigma"),
    ({"input": 3, "target": "target/a.png"}, "expected a relative path"),
    ({"input": "input/a.png"}, "no 'target' path"),
    (["input/a.png", "target/a.png"], "expected a JSON object"),
])
def test_pairs_manifest_paths_outside_the_folder_are_refused(tmp_path, entry, needle):
    from imgrestore.train.pairs import read_pairs

    (tmp_path / "outside.png").write_bytes(b"not even read")
    good = {"input": "input/a.png", "target": "target/a.png"}
    folder = _pairs_folder(tmp_path, [good, entry])
    with pytest.raises(UserError) as e:
        read_pairs(folder, "--pairs")
    msg = str(e.value)
    assert msg.startswith(f"--pairs {folder / 'manifest.jsonl'}, line 2") and needle in msg and "\n" not in msg, msg


def test_pairs_manifest_symlink_leading_outside_is_refused(tmp_path):
    from imgrestore.train.pairs import read_pairs

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.png").write_bytes(b"x")
    folder = _pairs_folder(tmp_path, [{"input": "input/link.png", "target": "target/a.png"}])
    os.symlink(elsewhere / "secret.png", folder / "input" / "link.png")
    with pytest.raises(UserError, match=r"line 1, input: 'input/link.png' is a link to a file outside the folder"):
        read_pairs(folder, "--pairs")
    # a link that stays inside the folder is fine
    (folder / "manifest.jsonl").write_text(json.dumps({"input": "input/a.png", "target": "target/a.png"}) + "\n")
    os.symlink(folder / "input" / "a.png", folder / "input" / "inner.png")
    (folder / "manifest.jsonl").write_text(json.dumps({"input": "input/inner.png", "target": "target/a.png"}) + "\n")
    assert read_pairs(folder, "--pairs")[0]["input"] == "input/inner.png"


def test_fit_refuses_a_manifest_leading_outside(tmp_path, cli):
    folder = _pairs_folder(tmp_path, [{"input": "../../x.png", "target": "target/a.png"}])
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--pairs", str(folder), "--out", str(tmp_path / "o"),
                       "--iters", "1", "--device", "cpu", "--net-config", "depth=3,features=4", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "leads out of the folder" in err, err


def test_symlinked_folders_under_input_are_followed_once(tmp_path):
    """Decision (docs/reliability-inputs.md): a symlinked folder inside a folder the user names
    is part of it and is followed (datasets are often assembled from links); a link cycle is
    walked once, never forever."""
    from imgrestore.io import list_images, write_image
    from imgrestore.sources.source import scan_sources

    data = tmp_path / "data"
    write_image(data / "d.png", np.full((20, 20, 1), 0.5, np.float32))
    top = tmp_path / "photos"
    write_image(top / "a.png", np.full((20, 20, 1), 0.5, np.float32))
    os.symlink(data, top / "linked")
    os.symlink(top, top / "loop")  # a cycle back to the top
    names = [p.relative_to(top).as_posix() for p in list_images(top)]
    assert names == ["a.png", "linked/d.png"]
    assert [s.name for s in scan_sources(top, (16, 16), print)] == ["a.png", "linked/d.png"]


def test_fit_negative_seed(tmp_path, cli):
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--out", str(tmp_path / "o"), "--seed", "-1", "--iters", "1",
                       "--device", "cpu")
    assert code == 2 and err.strip() == "imgrestore: error: --seed -1: expected 0 or a positive integer"
    assert not (tmp_path / "o").exists()
