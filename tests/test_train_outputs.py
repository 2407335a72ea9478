"""What a training run leaves to look at: samples.png, input baseline, model_best, snapshots,
TensorBoard images/hparams, and the warning about the built-in sample images."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imgrestore.metrics import psnr  # noqa: E402
from imgrestore.train import outputs as O  # noqa: E402
from imgrestore.train.log import MetricsLog  # noqa: E402
from imgrestore.train.stages import FitOptions, fit  # noqa: E402
from imgrestore.weights.checkpoint import read_checkpoint  # noqa: E402

from test_train_fit import smooth_images  # noqa: E402

TINY = {"depth": 3, "features": 4}


class FakeWriter:
    """Records what MetricsLog sends to TensorBoard (the package is an optional extra)."""

    def __init__(self):
        self.scalars, self.images, self.texts, self.summaries = [], [], [], []

    def add_scalar(self, tag, v, step):
        self.scalars.append((tag, v, step))

    def add_image(self, tag, img, step, dataformats="CHW"):
        self.images.append((tag, np.asarray(img).shape, step, dataformats))

    def add_text(self, tag, text, step):
        self.texts.append((tag, text))

    def _get_file_writer(self):
        return self

    def add_summary(self, s):
        self.summaries.append(s)

    def close(self):
        pass


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return smooth_images(tmp_path_factory.mktemp("photos"), 8, size=200)


def _opts(out, clean, **kw):
    base = dict(plugin="dncnn-s", out=Path(out), clean=clean, degrade="awgn:sigma=25", iters=4, batch=2, patch=16,
                lr=1e-3, optimizer="adam", device="cpu", workers=0, val_every=2, val_count=4, ckpt_every=2,
                log_every=1, net_config=dict(TINY), progress=False, figures=True, val_images=5)
    base.update(kw)
    return FitOptions(**base)


def test_input_baseline_matches_the_metric_and_upsamples_sr_inputs():
    rng = np.random.default_rng(0)
    t = rng.random((2, 32, 32, 1)).astype(np.float32)
    x = np.clip(t + rng.normal(0, 0.1, t.shape), 0, 1).astype(np.float32)
    assert O.input_psnr(x, t) == pytest.approx([psnr(a, b) for a, b in zip(x, t)])
    # an x2 input of a constant image up-samples to the same constant: infinite PSNR, capped
    assert O.input_psnr(np.full((1, 8, 8, 3), 0.5, np.float32), np.full((1, 16, 16, 3), 0.5, np.float32)) == [100.0]
    assert O.sample_side(300, 4) == 160 and O.sample_side(150, 16) == 144 and O.sample_side(3, 4) == 0


def test_sample_figure_rows_and_psnr(tmp_path):
    rng = np.random.default_rng(1)
    tg = [rng.random((40, 40, 3)).astype(np.float32) for _ in range(4)]
    ip = [np.clip(t + 0.1, 0, 1) for t in tg]
    s = O.SampleSet(ip, tg, ["a", "b", "c", "d"])
    s.outputs = [t.copy() for t in tg]
    fig = O.sample_figure(s, "iteration 3")
    assert fig.dtype == np.uint8 and fig.shape[1] == 3 * 40 + 4 * 6 and fig.shape[0] >= 4 * 40
    assert [o for _, o in s.scores()] == [100.0] * 4
    assert all(b == pytest.approx(psnr(i, t)) for (b, _), i, t in zip(s.scores(), ip, tg))
    # the target column holds the target's pixels
    assert np.array_equal(fig[20:60, 6 + 2 * 46:6 + 2 * 46 + 40], np.round(tg[0] * 255).astype(np.uint8))


def test_fit_writes_samples_best_snapshots_and_baseline(photos, tmp_path):
    out = tmp_path / "run"
    fit(_opts(out, photos, snapshot_every=3))
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["kind"] == "val"]
    assert [r["iter"] for r in val] == [2, 4]
    assert all(math.isfinite(r["input_psnr"]) and 15 < r["input_psnr"] < 25 for r in val)  # sigma 25: ~20.2 dB
    assert val[0]["input_psnr"] == val[1]["input_psnr"]  # the same held-out batches each time
    # samples.png: 4-6 rows of crops, 3 columns, read back as an image
    from PIL import Image

    img = Image.open(out / "samples.png")
    assert img.size[0] == 3 * 160 + 4 * 6 and img.size[1] >= 4 * 160
    # model_best is the best validation so far, with its score in the metadata
    best = read_checkpoint(out / O.BEST)
    top = max(val, key=lambda r: r["psnr"])
    assert best.meta["iteration"] == top["iter"] and best.meta["val_psnr"] == pytest.approx(top["psnr"])
    assert best.config == TINY
    # --snapshot-every 3: model_3 only (4 is not a multiple), and it loads
    assert sorted(p.name for p in out.glob("model_*.safetensors")) == ["model_3.safetensors", "model_best.safetensors"]
    assert read_checkpoint(out / "model_3.safetensors").meta["iteration"] == 3


def test_best_survives_resume_and_needs_finite_weights(tmp_path):
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    ro = O.RunOutputs(tmp_path, net, "dncnn-s", {}, "cpu", None)
    ro.resume([{"kind": "val", "iter": 2, "psnr": 30.0}, {"kind": "train", "iter": 3, "loss": 1.0},
               {"kind": "val", "iter": 4, "psnr": float("nan")}])
    assert ro.best == 30.0
    ro({"kind": "val", "iter": 6, "psnr": 29.0})
    assert not (tmp_path / O.BEST).exists()
    with torch.no_grad():
        net.weight[0, 0, 0, 0] = float("nan")
    ro({"kind": "val", "iter": 8, "psnr": 31.0})  # a better score from non-finite weights: not kept
    assert not (tmp_path / O.BEST).exists()
    with torch.no_grad():
        net.weight.zero_()
    ro({"kind": "val", "iter": 10, "psnr": 31.0})
    assert read_checkpoint(tmp_path / O.BEST).meta["iteration"] == 10 and ro.best == 31.0


def test_tensorboard_gets_images_settings_and_hparams(tmp_path):
    w = FakeWriter()
    log = MetricsLog(tmp_path, writer=w)
    rng = np.random.default_rng(2)
    t = [rng.random((32, 32, 1)).astype(np.float32) for _ in range(4)]
    samples = O.SampleSet([np.clip(x + 0.05, 0, 1) for x in t], t)
    log.on_val = O.RunOutputs(tmp_path, torch.nn.Identity(), "dncnn-s", {}, "cpu", samples)
    log.describe({"plugin": "dncnn-s", "lr": 1e-3, "net_config": {"depth": 3}, "init": None})
    log.add({"kind": "val", "iter": 5, "psnr": 25.0, "input_psnr": 20.0})
    assert ("val/psnr", 25.0, 5) in w.scalars and ("val/input_psnr", 20.0, 5) in w.scalars
    assert w.images and w.images[0][0] == "samples" and w.images[0][2] == 5 and w.images[0][3] == "HWC"
    assert w.texts and '"net_config"' in w.texts[0][1]
    import importlib.util

    # the hparams summaries are built by the real package (the `tb` extra)
    assert len(w.summaries) == (3 if importlib.util.find_spec("tensorboard") else 0)


def test_tensorboard_missing_is_skipped(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    log = MetricsLog(tmp_path)
    assert log.tb is None
    log.describe({"a": 1})
    log.add({"kind": "val", "iter": 1, "psnr": 20.0})
    log.close()


def test_builtin_samples_warn_in_one_line(capfd, tmp_path):
    fit(_opts(tmp_path / "r", None, iters=1, val_count=0, figures=False))
    err = capfd.readouterr().err
    line = [l for l in err.splitlines() if "warning" in l]
    assert len(line) == 1 and "no --clean or --pairs: training on the" in line[0]
    assert "scikit-image sample images" in line[0]


def test_pair_samples_are_aligned_centre_crops_of_held_out_pairs(tmp_path):
    """x2 pairs (input/ + target/): the crops are the centre of each target and exactly the
    matching region of its input."""
    from imgrestore.io import write_image
    from imgrestore.train.pairs import PairsStream, read_pairs

    rng = np.random.default_rng(3)
    for k in range(5):
        t = rng.random((200, 180, 3)).astype(np.float32)
        (tmp_path / "target").mkdir(exist_ok=True)
        (tmp_path / "input").mkdir(exist_ok=True)
        write_image(tmp_path / "target" / f"p{k}.png", t)
        write_image(tmp_path / "input" / f"p{k}.png", t.reshape(100, 2, 90, 2, 3).mean((1, 3)))
    entries = read_pairs(tmp_path, "--pairs")
    s = O.pair_samples(tmp_path, entries[1:], 3, multiple=4)
    assert len(s) == 4 and s.targets[0].shape == (160, 160, 3) and s.inputs[0].shape == (80, 80, 3)
    inp, tgt, _ = PairsStream(tmp_path, None, 3, 0, entries=entries[1:2]).pair(0, None)
    assert np.array_equal(s.targets[0], tgt[20:180, 10:170]) and np.array_equal(s.inputs[0], inp[10:90, 5:85])


def test_running_the_samples_restores_every_modules_mode():
    """Frozen BatchNorm (transfer stage) stays in eval mode; the rest goes back to training."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), torch.nn.Conv2d(2, 1, 1))
    net.train()
    net[1].eval()
    stats = net[1].running_mean.clone()
    s = O.SampleSet([np.random.default_rng(0).random((16, 16, 1), np.float32)] * 4,
                    [np.zeros((16, 16, 1), np.float32)] * 4)
    s.run(net, "cpu")
    assert net.training and net[0].training and not net[1].training and net[2].training
    assert torch.equal(net[1].running_mean, stats) and len(s.outputs) == 4 and s.outputs[0].shape == (16, 16, 1)
