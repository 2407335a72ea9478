"""Inference: padding to the size multiple, tiles equal to untiled, x8 self-ensemble, the
restore and eval commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from imgrestore.errors import UserError
from imgrestore.registry import get_registry
from imgrestore.restore import Restorer, adapt_channels, tile_grid


def _randomized(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def _img(h, w, c, seed=0):
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


TILE_CASES = [
    ("dncnn-s", {"depth": 6}, (50, 70, 1), 16, 8),            # receptive-field radius 6
    ("red30-s2", {"n": 4}, (37, 45, 1), 16, 20),              # stride 2: padded to even sizes
    ("srresnet", {"blocks": 1}, (20, 28, 3), 8, 12),          # x4: tiles in LR pixels
]


@pytest.mark.parametrize("name, config, shape, tile, overlap", TILE_CASES)
def test_tiled_equals_untiled(name, config, shape, tile, overlap):
    spec = get_registry().networks[name]
    torch.manual_seed(0)
    model = _randomized(spec.build(**config))
    img = _img(*shape)
    whole = Restorer(model, spec, tile=None)(img)
    tiled_r = Restorer(model, spec, tile=tile, overlap=overlap)
    assert len(tiled_r.tiles(*shape[:2])) > 4
    tiled = tiled_r(img)
    assert whole.shape == (shape[0] * spec.scale, shape[1] * spec.scale, spec.out_channels)
    np.testing.assert_allclose(tiled, whole, atol=1e-4, rtol=0)


def test_tiles_cover_the_image_once():
    tiles = tile_grid(100, 64, 30, 7, multiple=4)
    cover = np.zeros((100, 64), int)
    for t in tiles:
        y0, y1, x0, x1 = t.core
        cover[y0:y1, x0:x1] += 1
        assert all(v % 4 == 0 for v in t.window[::2])  # windows start on the size multiple
    assert (cover == 1).all()


def test_self_ensemble_is_the_mean_of_eight_transforms():
    spec = get_registry().networks["dncnn-s"]
    torch.manual_seed(1)
    model = _randomized(spec.build(depth=4))
    img = _img(12, 20, 1, seed=3)
    plain = Restorer(model, spec, tile=None)
    manual = np.zeros_like(img)
    for k in range(4):
        for flip in (False, True):
            t = np.rot90(img, k)
            t = t[:, ::-1] if flip else t
            y = plain(np.ascontiguousarray(t))
            y = y[:, ::-1] if flip else y
            manual += np.rot90(y, -k)
    ens = Restorer(model, spec, tile=None, ensemble=True)(img)
    np.testing.assert_allclose(ens, manual / 8, atol=1e-5)
    tiled = Restorer(model, spec, tile=8, overlap=6, ensemble=True)(img)
    np.testing.assert_allclose(tiled, ens, atol=1e-4)


def test_channels_are_adapted_with_a_warning():
    rgb = _img(4, 4, 3)
    with pytest.warns(UserWarning, match="colour image into the gray network dncnn-s: converted to gray"):
        gray = adapt_channels(rgb, 1, "x.png", "dncnn-s")
    np.testing.assert_allclose(gray[..., 0], rgb @ np.array([0.299, 0.587, 0.114], np.float32), rtol=1e-6)
    with pytest.warns(UserWarning, match="channel repeated"):
        assert adapt_channels(gray, 3, "x.png", "cdncnn-b").shape == (4, 4, 3)


def test_half_precision_needs_a_gpu():
    spec = get_registry().networks["dncnn-s"]
    with pytest.raises(UserError, match="CUDA GPU only"):
        Restorer(spec.build(depth=3), spec, device="cpu", precision="bf16")


@pytest.mark.gpu
def test_bf16_on_gpu_is_close_to_fp32():
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    spec = get_registry().networks["dncnn-s"]
    torch.manual_seed(0)
    model = _randomized(spec.build())
    img = _img(64, 64, 1)
    ref = Restorer(model, spec, tile=None)(img)
    out = Restorer(model, spec, device="cuda", precision="bf16", tile=32, overlap=17)(img)
    assert np.abs(out - ref).mean() < 1e-2


def _checkpoint(tmp_path, name="dncnn-s", **config):
    from imgrestore.weights.checkpoint import save_checkpoint

    spec = get_registry().networks[name]
    torch.manual_seed(0)
    model = _randomized(spec.build(**config))
    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(path, name, config, model.state_dict())
    return path


def test_restore_cli_writes_images_and_pads_small_ones(tmp_path, cli):
    from imgrestore.io import read_image, write_image

    src = tmp_path / "in"
    write_image(src / "a.png", _img(6, 10, 3))
    write_image(src / "sub" / "b.png", _img(33, 21, 3, seed=1))
    ckpt = _checkpoint(tmp_path, "dmnet", blocks=1, fine_layers=3)  # size multiple 4
    code, out, err = cli("restore", str(src), "--weights", str(ckpt), "--out", str(tmp_path / "out"),
                         "--tile", "16", "--overlap", "8", "--device", "cpu")
    assert code == 0, err
    assert read_image(tmp_path / "out" / "a.png").shape == (6, 10, 3)
    assert read_image(tmp_path / "out" / "b.png").shape == (33, 21, 3)
    assert "restored 2 image(s) with dmnet" in out


def test_restore_cli_errors(tmp_path, cli):
    from imgrestore.io import write_image

    write_image(tmp_path / "a.png", _img(8, 8, 1))
    ckpt = _checkpoint(tmp_path, depth=3)
    code, _, err = cli("restore", str(tmp_path / "a.png"), "--weights", str(ckpt), "--plugin", "red30",
                       "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and "holds weights for network 'dncnn-s', not 'red30'" in err
    code, _, err = cli("restore", str(tmp_path / "a.png"), "--weights", str(ckpt), "--out", str(tmp_path / "o"),
                       "--precision", "fp16", "--device", "cpu")
    assert code == 2 and "fp16" in err
    code, _, err = cli("restore", str(tmp_path / "nope.png"), "--weights", str(ckpt), "--out", str(tmp_path / "o"))
    assert code == 2 and "nope.png: no such file" in err
    if not torch.cuda.is_available():
        code, _, err = cli("restore", str(tmp_path / "a.png"), "--weights", str(ckpt), "--out",
                           str(tmp_path / "o"), "--device", "cuda")
        assert code == 2 and "--device cuda" in err


def test_eval_cli_table_json_csv(tmp_path, cli):
    from imgrestore.io import write_image

    clean = tmp_path / "clean"
    for i in range(2):
        write_image(clean / f"{i}.png", _img(24, 24, 1, seed=i))
    ckpt = _checkpoint(tmp_path, depth=3)
    args = ["eval", "--weights", str(ckpt), "--clean", str(clean), "--degrade", "awgn:sigma=25", "--seed", "3",
            "--device", "cpu"]
    code, out, err = cli(*args)
    assert code == 0, err
    assert "0.png" in out and "mean" in out and "PSNR dB" in out
    code, out, _ = cli(*args, "--json")
    res = json.loads(out)
    assert [r["image"] for r in res["images"]] == ["0.png", "1.png"] and res["degrade"] == "awgn:sigma=25,clip=false"
    _, out2, _ = cli(*args, "--json")
    assert json.loads(out2)["mean"] == res["mean"]  # same seed, same noise, same numbers
    code, out, _ = cli(*args, "--csv")
    assert out.splitlines()[0] == "image,psnr,ssim,input_psnr" and out.splitlines()[-1].startswith("mean,")
    code, _, err = cli("eval", "--weights", str(ckpt), "--clean", str(clean), "--device", "cpu")
    assert code == 2 and "--degrade" in err


def test_bench_net_cli_compares_with_eager(cli):
    code, out, err = cli("bench", "net", "dncnn-s", "--sizes", "16,24", "--repeats", "1", "--device", "cpu")
    assert code == 0, err
    assert "eager (plain PyTorch)" in out and "imgrestore" in out and "GFLOP/s" in out and "speedup" in out
    code, out, err = cli("bench", "net", "red30-s2", "--sizes", "16", "--repeats", "1", "--device", "cpu", "--json")
    res = json.loads(out)
    assert code == 0 and len(res["rows"]) == 2 and res["rows"][1]["speedup"] > 0
    code, _, err = cli("bench", "net", "nosuchnet", "--sizes", "16", "--device", "cpu")
    assert code == 2 and "no such network" in err


def test_eval_reads_given_inputs_and_scores_sr_on_y(tmp_path, cli):
    from imgrestore.io import write_image

    clean, noisy = tmp_path / "clean", tmp_path / "noisy"
    write_image(clean / "a.png", _img(26, 30, 3))  # modcropped to 24x28 for x4
    write_image(noisy / "a.png", _img(6, 7, 3, seed=1))
    ckpt = _checkpoint(tmp_path, "srresnet", blocks=1)
    code, out, err = cli("eval", "--weights", str(ckpt), "--clean", str(clean), "--input", str(noisy),
                         "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["images"][0]["input_psnr"] is None  # LR input: no input PSNR
    write_image(noisy / "a.png", _img(8, 8, 3))
    code, _, err = cli("eval", "--weights", str(ckpt), "--clean", str(clean), "--input", str(noisy), "--device", "cpu")
    assert code == 2 and "degraded input is 8x8, expected 7x6" in err
    code, out, err = cli("eval", "--weights", str(ckpt), "--clean", str(clean), "--degrade", "bicubic:scale=4",
                         "--device", "cpu", "--csv")
    assert code == 0, err
    assert out.splitlines()[1].startswith("a.png,")
