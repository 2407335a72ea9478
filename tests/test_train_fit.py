"""`imgrestore fit`: stage 1, resume bit for bit, Ctrl-C, NaN, full disk, pairs, bad input.

Tiny everything: DnCNN depth 3, 4-8 features, 16x16 patches, a handful of iterations.
"""

import errno
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imgrestore.errors import UserError  # noqa: E402
from imgrestore.io import write_image  # noqa: E402
from imgrestore.train import data as D  # noqa: E402
from imgrestore.train.loop import Interrupted, NonFiniteLoss  # noqa: E402
from imgrestore.train.stages import FitOptions, fit  # noqa: E402
from imgrestore.train.state import CheckpointWriteError  # noqa: E402

TINY = {"depth": 3, "features": 6}


def smooth_images(folder: Path, n: int, size: int = 40, channels: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for k in range(n):
        a, b, c = rng.uniform(1, 6, 3)
        img = 0.5 + 0.4 * np.sin(a * xx * 3 + b * yy * 2 + c)
        img = np.repeat(img[..., None], channels, 2) * rng.uniform(0.7, 1.0, channels)
        write_image(folder / f"img{k:02d}.png", img.astype(np.float32))
    return folder


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory):
    return smooth_images(tmp_path_factory.mktemp("clean"), 4)


def opts(out, clean, **kw):
    base = dict(plugin="dncnn-s", out=Path(out), clean=clean, degrade="awgn:sigma=25", iters=6, batch=2, patch=16,
                lr=1e-3, optimizer="adam", device="cpu", workers=0, val_every=3, val_count=2, ckpt_every=3,
                log_every=1, net_config=dict(TINY), progress=False, figures=False)
    base.update(kw)
    return FitOptions(**base)


def tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def assert_same_tensors(a, b):
    ta, tb = tensors(a), tensors(b)
    keys = sorted(k for k in ta if not k.startswith("rng/"))
    assert keys == sorted(k for k in tb if not k.startswith("rng/"))
    for k in keys:
        assert torch.equal(ta[k], tb[k]), k


def test_sample_depends_only_on_seed_and_index(clean_dir):
    from imgrestore.chain import Chain

    sources = D.load_sources(clean_dir, (16, 16), "--clean")
    s = D.SynthStream(sources, Chain.parse("awgn:sigma=0-55"), 16, 1, seed=5)
    whole = s.batch([0, 1, 2, 3])
    parts = [s.batch([i]) for i in (3, 1, 0, 2)]
    for i, p in zip((3, 1, 0, 2), parts):
        assert np.array_equal(whole.input[i], p.input[0]) and np.array_equal(whole.target[i], p.target[0])
    # ranks split an iteration's indices without overlap; together they are the single-process batch
    r0, r1 = D.batch_indices(7, 0, 2, 4), D.batch_indices(7, 1, 2, 4)
    assert not set(r0) & set(r1) and r0 + r1 == D.batch_indices(7, 0, 1, 8)


def test_on_the_fly_sample_is_the_synth_pair(clean_dir, tmp_path):
    """Sample i on the fly = pair i that `imgrestore synth` writes (up to its 8-bit PNG rounding)."""
    from imgrestore.chain import Chain
    from imgrestore.io import read_image
    from imgrestore.sources.source import scan_sources
    from imgrestore.synth import SynthConfig, synthesize

    chain = Chain.parse("awgn:sigma=10")
    sources = scan_sources(clean_dir, (16, 16), print)
    synthesize(SynthConfig(chain, tmp_path / "p", patch=16, count=3, seed=2, channels=1, workers=1), sources)
    s = D.SynthStream(sources, chain, 16, 1, seed=2).batch([0, 1, 2])
    for i in range(3):
        inp = read_image(tmp_path / "p" / "input" / f"{i:08d}.png")
        tgt = read_image(tmp_path / "p" / "target" / f"{i:08d}.png")
        assert np.abs(tgt - s.target[i]).max() <= 0.5 / 255 + 1e-6
        assert np.abs(inp - np.clip(s.input[i], 0, 1)).max() <= 0.5 / 255 + 1e-6  # PNGs are clipped


def test_on_the_fly_screens_are_the_synth_screens(tmp_path):
    """Without --clean a screens chain (moire) trains on the rendered screens synth would crop,
    drawn window by window in (picklable) worker-side renderers."""
    import pickle

    from imgrestore.chain import Chain
    from imgrestore.io import read_image
    from imgrestore.synth import SynthConfig, synthesize

    chain = Chain.parse("moire:k=2,noise=false,jpeg=false,denoise=0")
    need = chain.source_size((32, 32))
    sources = D.load_sources(None, need, "--clean", "screens", seed=3)
    assert sources[0].name.startswith("screen-") and pickle.loads(pickle.dumps(sources[0].render)) == sources[0].render
    synthesize(SynthConfig(chain, tmp_path / "p", patch=32, count=2, seed=3, workers=1), sources)
    s = D.SynthStream(sources, chain, 32, 3, seed=3).batch([0, 1])
    for i in range(2):
        tgt = read_image(tmp_path / "p" / "target" / f"{i:08d}.png")
        assert np.abs(tgt - s.target[i]).max() <= 0.5 / 255 + 1e-6


def test_stage1_cli_writes_a_loadable_model_and_metrics(cli, clean_dir, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli("fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--degrade", "awgn:sigma=25",
                            "--out", str(out), "--iters", "4", "--batch", "2", "--patch", "16", "--lr", "1e-3",
                            "--optimizer", "adam", "--net-config", "depth=3,features=4", "--workers", "0",
                            "--val-every", "2", "--val-count", "2", "--log-every", "2", "--device", "cpu")
    assert code == 0, err
    assert "fit: done" in stdout and "it/s" in err and "ETA" in err
    from imgrestore.registry import load_network

    model, spec, ck = load_network(out / "model.safetensors")
    assert ck.network == "dncnn-s" and ck.config == {"depth": 3, "features": 4} and ck.meta["iteration"] == 4
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows if r["kind"] == "train"] == [2, 4]
    assert [r["iter"] for r in rows if r["kind"] == "val"] == [2, 4]
    assert (out / "train.csv").read_text().startswith("iter,lr,it_s,data_share,loss")
    assert "psnr" in (out / "val.csv").read_text()
    # the same --out again without --resume is refused
    code, _, err = cli("fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--out", str(out), "--iters", "4",
                       "--net-config", "depth=3,features=4", "--device", "cpu")
    assert code == 2 and "--resume" in err


def test_resume_after_ctrl_c_equals_uninterrupted_run_bit_for_bit(clean_dir, tmp_path):
    fit(opts(tmp_path / "straight", clean_dir, lr_final=1e-4))

    def ctrl_c(it):
        if it == 4:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as exc:
        fit(opts(tmp_path / "cut", clean_dir, lr_final=1e-4), on_iteration=ctrl_c)
    assert exc.value.iteration == 4 and exc.value.checkpoint == tmp_path / "cut" / "checkpoint.safetensors"
    fit(opts(tmp_path / "cut", clean_dir, lr_final=1e-4, resume=True))
    assert_same_tensors(tmp_path / "straight" / "checkpoint.safetensors", tmp_path / "cut" / "checkpoint.safetensors")
    rows = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]


def test_killed_run_resumes_from_its_last_checkpoint(clean_dir, tmp_path):
    """A run that stopped at 3 (as if killed after its checkpoint), resumed to 6 = straight 6."""
    fit(opts(tmp_path / "a", clean_dir))
    fit(opts(tmp_path / "b", clean_dir, iters=3))
    fit(opts(tmp_path / "b", clean_dir, iters=6, resume=True))
    assert_same_tensors(tmp_path / "a" / "checkpoint.safetensors", tmp_path / "b" / "checkpoint.safetensors")
    # a changed setting is refused on resume
    with pytest.raises(UserError, match="batch"):
        fit(opts(tmp_path / "b", clean_dir, iters=8, batch=3, resume=True))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(clean_dir, tmp_path):
    from imgrestore.registry import load_network

    out = tmp_path / "nan"
    with pytest.raises(NonFiniteLoss, match=r"non-finite .* last good checkpoint .*iteration \d+\) is kept"):
        fit(opts(out, clean_dir, optimizer="sgd", lr=1e12, iters=50, ckpt_every=1))
    model, _, ck = load_network(out / "model.safetensors")
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())
    assert ck.meta["iteration"] >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self/fd")
def test_full_disk_is_a_clear_error_and_loses_nothing(clean_dir, tmp_path, monkeypatch):
    import imgrestore.io.write as io_mod

    out = tmp_path / "full"
    state = {"n": 0}
    real_fsync = io_mod.os.fsync

    def fsync(fd):
        if ".safetensors" in os.readlink(f"/proc/self/fd/{fd}"):
            state["n"] += 1
            if state["n"] > 2:  # the first checkpoint (state + model) goes through, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(io_mod.os, "fsync", fsync)
    with pytest.raises(CheckpointWriteError, match="disk is full.*previous checkpoint.*intact"):
        fit(opts(out, clean_dir, ckpt_every=3, iters=6))
    monkeypatch.setattr(io_mod.os, "fsync", real_fsync)
    from imgrestore.train.state import load_state

    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    from imgrestore.nets.dncnn import DnCNN

    net = DnCNN(channels=1, **TINY)
    meta = load_state(out / "checkpoint.safetensors", {"net": net}, {})
    assert meta["iteration"] == 3


def test_pairs_folder_from_synth(clean_dir, tmp_path, cli):
    code, _, err = cli("synth", "awgn:sigma=15", "--input", str(clean_dir), "--out", str(tmp_path / "pairs"),
                       "--patch", "24", "--count", "6", "--channels", "1", "--device", "cpu")
    assert code == 0, err
    r = fit(opts(tmp_path / "run", None, degrade=None, pairs=tmp_path / "pairs", val_count=2, iters=3))
    assert r["val"]["psnr"] > 0
    assert "pairs from" in json.loads((tmp_path / "run" / "run.json").read_text())["data"]


def test_bad_input_is_one_line(clean_dir, tmp_path, cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"not a png")
    base = ["fit", "--plugin", "dncnn-s", "--iters", "2", "--patch", "16", "--net-config", "depth=3,features=4",
            "--device", "cpu", "--workers", "0"]
    for args, want in (
        (["--clean", str(empty)], "no images"),
        (["--clean", str(tmp_path / "junk")], "no usable images"),
        (["--clean", str(tmp_path / "nope")], "no such folder"),
        (["--clean", str(clean_dir), "--degrade", "bicubic:scale=2"], "the network's scale is 1"),
        (["--clean", str(clean_dir), "--patch", "64"], "smaller than 64x64"),
        (["--clean", str(clean_dir), "--loss", "l2-two-scale"], "two output scales"),
        (["--plugin", "dncnn-q", "--clean", str(clean_dir)], "no such network"),
        # the example: 3-channel moiré physics into a 1-channel DnCNN
        (["--clean", str(clean_dir), "--degrade", "moire"], "'moire' simulates colour"),
    ):
        code, _, err = cli(*base, "--out", str(tmp_path / f"o{len(args)}{args[-1][-3:]}"), *args)
        assert code == 2, (args, err)
        lines = [x for x in err.strip().splitlines() if x.startswith("imgrestore: error")]
        assert len(lines) == 1 and want in lines[0], (args, err)


def test_negative_counts_are_one_line_errors(clean_dir, tmp_path, cli):
    base = ["fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--iters", "2", "--patch", "16", "--batch", "2",
            "--net-config", "depth=3,features=4", "--device", "cpu", "--out", str(tmp_path / "o")]
    for args in (["--val-count", "-1"], ["--val-images", "-2"], ["--workers", "-1"], ["--stages", "0"],
                 ["--adv-weight", "-0.001"]):
        code, _, err = cli(*base, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1, (args, err)
        assert err.startswith(f"imgrestore: error: {args[0]} {args[1]}: expected"), (args, err)
    assert not (tmp_path / "o").exists()


def test_degradation_that_does_not_fit_the_channels():
    from imgrestore.chain import Chain
    from imgrestore.degrade import Degradation
    from imgrestore.errors import SpecError

    class ColourOnly(Degradation):
        name = "colouronly"

        def apply(self, pair, drawn, ctx):
            if pair.input.shape[-1] != 3:
                raise SpecError("colouronly: expected RGB (3 channels)")
            return pair

    chain = Chain([ColourOnly()])
    with pytest.raises(UserError, match=r"does not fit network dncnn-s \(1 channel\(s\)\): colouronly: expected RGB"):
        D.probe_chain(chain, 1, 16, "dncnn-s")


def test_data_loader_workers_do_not_change_the_run(clean_dir, tmp_path):
    """Spawned data-loader workers prefetch whole iterations: same samples, same weights."""
    fit(opts(tmp_path / "w0", clean_dir, iters=2, val_count=0))
    fit(opts(tmp_path / "w1", clean_dir, iters=2, val_count=0, workers=1))
    assert_same_tensors(tmp_path / "w0" / "checkpoint.safetensors", tmp_path / "w1" / "checkpoint.safetensors")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")
def test_real_sigint_saves_a_checkpoint_and_exits_130(clean_dir, tmp_path):
    import signal
    import subprocess
    import time

    out = tmp_path / "sig"
    cmd = [sys.executable, "-m", "imgrestore", "fit", "--plugin", "dncnn-s", "--clean", str(clean_dir), "--degrade",
           "awgn:sigma=25", "--out", str(out), "--iters", "100000", "--batch", "2", "--patch", "16", "--lr", "1e-3",
           "--optimizer", "adam", "--net-config", "depth=3,features=4", "--workers", "0", "--val-count", "0",
           "--log-every", "1", "--device", "cpu", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 60
    while not (out / "train.csv").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at iteration" in err and "--resume" in err
    from imgrestore.weights.checkpoint import read_checkpoint

    ck = read_checkpoint(out / "checkpoint.safetensors")
    assert ck.meta["kind"] == "train-state" and ck.meta["iteration"] >= 1


@pytest.mark.gpu
def test_gpu_stage1_cupy_chain_dlpack_and_bf16(clean_dir, tmp_path):
    """On a GPU: the chain runs in CuPy, batches reach torch through DLPack, forward in bf16."""
    r = fit(opts(tmp_path / "gpu", clean_dir, device="cuda", amp=True, iters=4))
    from imgrestore.registry import load_network

    model, _, _ = load_network(r["model"])
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    assert r["val"]["psnr"] > 0


def test_metrics_log_appends_rows_and_rewrites_on_new_columns(tmp_path):
    import csv

    from imgrestore.train.log import MetricsLog

    def table(kind):
        return list(csv.DictReader(open(tmp_path / f"{kind}.csv")))

    log = MetricsLog(tmp_path, tensorboard=False)
    for it in (10, 20):
        log.add({"kind": "train", "iter": it, "lr": 1e-3, "loss": 1.0 / it})
    log.add({"kind": "val", "iter": 20, "psnr": 30.0})
    before = (tmp_path / "train.csv").stat().st_ino
    log.add({"kind": "train", "iter": 30, "lr": 1e-3, "loss": 0.5})  # same columns: appended in place
    assert (tmp_path / "train.csv").stat().st_ino == before
    log.add({"kind": "train", "iter": 40, "lr": 1e-3, "loss": 0.4, "adv": 0.7})  # a new column: rewritten
    rows = table("train")
    assert [r["iter"] for r in rows] == ["10", "20", "30", "40"]
    assert list(rows[0]) == ["iter", "lr", "loss", "adv"] and rows[0]["adv"] == "" and rows[3]["adv"] == "0.7"
    assert table("val") == [{"iter": "20", "psnr": "30.0"}]
    # a resumed run keeps the rows up to its checkpoint and continues the same tables
    log2 = MetricsLog(tmp_path, resume_at=20, tensorboard=False)
    log2.add({"kind": "train", "iter": 30, "lr": 1e-3, "loss": 0.45})
    assert [(r["iter"], r["loss"]) for r in table("train")] == [("10", "0.1"), ("20", "0.05"), ("30", "0.45")]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4
