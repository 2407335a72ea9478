"""imgrestore.realism statistics against closed-form answers, and benchmarks/moire_realism.py runs."""

import json
import math

import numpy as np
import pytest
from scipy.special import ndtr

from conftest import SHARED_DATA, load_script
from imgrestore import realism as R


def _load():
    return load_script("moire_realism")


def _grid(n):
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    return yy, xx


def _chroma_grating(n, period, angle_deg, amp, gray=0.5):
    """R and G move against each other so that BT.601 luma stays exactly `gray`: Cr = 0.713 amp s,
    Cb = 0, Y = gray."""
    yy, xx = _grid(n)
    a = math.radians(angle_deg)
    s = np.sin(2 * np.pi * (xx * math.cos(a) + yy * math.sin(a)) / period)
    img = np.full((n, n, 3), gray)
    img[..., 0] += amp * s
    img[..., 1] -= amp * R.Y_WEIGHTS[0] / R.Y_WEIGHTS[1] * s
    return img


def test_ycbcr_matches_pillow():
    # JPEG's full-range YCbCr as Pillow (libjpeg's formulas) computes it, on random 8-bit colours
    from PIL import Image

    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(u8, "RGB").convert("YCbCr"), np.float64)
    y, cb, cr = R.ycbcr(u8 / 255.0)
    # Pillow works in 16-bit fixed point and truncates to 8 bits: ours - Pillow's lies in [0, 1)
    # up to its fixed-point error (a few hundredths)
    for ours, theirs in ((255 * y, ref[..., 0]), (255 * cb + 128, ref[..., 1]), (255 * cr + 128, ref[..., 2])):
        d = ours - theirs
        assert d.min() >= -0.05 and d.max() <= 1.05


def test_chroma_grating_lands_in_its_band_orientation_and_period():
    amp, period, angle = 0.1, 32.0, 30.0
    img = _chroma_grating(256, period, angle, amp)
    st = R.spectral_stats(R.spectra(img, 256))
    want = 255 * 0.713 * amp / math.sqrt(2)  # RMS of Cr = 0.713 amp sin(.)
    assert st["C_low"] == pytest.approx(want, rel=0.02)  # period 32 px: the 16-64 px band
    assert st["C_mid"] < 0.01 * want and st["C_high"] < 0.01 * want
    assert st["Y_low"] < 1e-6 and st["Y_mid"] < 1e-6  # luma untouched
    assert st["chroma_luma_ratio"] > 100
    assert st["chroma_period"] == pytest.approx(period, rel=0.08)  # one FFT bin is 1/256 cycles/px
    assert abs(st["chroma_angle"] - angle) <= 2.0
    assert st["chroma_orient_share"] > 0.95  # a single grating: all its energy in one sector


def test_luma_grating_in_the_fine_band_and_isotropic_noise_spread_over_angles():
    yy, xx = _grid(256)
    img = np.repeat((0.5 + 0.2 * np.cos(2 * np.pi * yy / 3.0))[..., None], 3, axis=2)  # period 3 px
    st = R.spectral_stats(R.spectra(img, 256))
    assert st["Y_high"] == pytest.approx(255 * 0.2 / math.sqrt(2), rel=0.02)
    assert st["C_high"] < 1e-6 and st["chroma_luma_ratio"] < 1e-3
    rng = np.random.default_rng(0)
    psd = R.mean_psd(rng.normal(0, 0.02, (512, 512)), 128)  # white: P = sigma^2 in every bin
    assert float(psd.mean()) == pytest.approx(0.02**2, rel=0.03)
    _, share = R.orientation(psd)
    assert share == pytest.approx(22.5 / 180, abs=0.03)


def test_fringe_contrast_of_a_chroma_sinusoid():
    amp, period = 0.05, 20.0
    img = _chroma_grating(256, period, 70.0, amp)
    fc = R.fringe_contrast(img)
    gain = 1 - math.exp(-2 * math.pi**2 * 16.0**2 / period**2)  # the Gaussian high-pass at sigma 16
    assert fc["chroma_pp"] == pytest.approx(255 * 2 * 0.713 * amp * gain, rel=0.03)
    assert fc["luma_pp"] < 0.01


@pytest.mark.parametrize("sigma", [2.0, 5.0])
def test_noise_sigma_of_white_noise(sigma):
    rng = np.random.default_rng(3)
    img = np.clip(0.5 + rng.normal(0, sigma / 255, (384, 384, 1)), 0, 1)
    assert R.noise_sigma(img) == pytest.approx(sigma, rel=0.04)


def test_noise_ignores_clipped_blocks_and_structure():
    rng = np.random.default_rng(4)
    img = 0.4 + rng.normal(0, 3 / 255, (256, 256, 3))
    img[:, :128] = 1.0  # a blown-out half: no noise can show there
    yy, xx = _grid(256)
    img[128:, 128:] += (0.3 * (np.sin(xx / 5.0) > 0))[128:, 128:, None]  # bars: content, not noise
    # independent noise of 3 levels per channel is 3 |w| in BT.601 luma (w the luma weights)
    want = 3.0 * math.sqrt(sum(c * c for c in R.Y_WEIGHTS))
    assert R.noise_sigma(np.clip(img, 0, 1)) == pytest.approx(want, rel=0.06)
    assert math.isnan(R.noise_sigma(np.ones((64, 64, 3))))


@pytest.mark.parametrize("sigma,angle", [(1.0, 0.0), (1.5, 30.0), (2.0, 45.0)])
def test_edge_width_of_a_gaussian_blurred_step(sigma, angle):
    # a step blurred by a Gaussian of sigma s rises from 10 % to 90 % over 2 x 1.2816 s
    yy, xx = _grid(256)
    a = math.radians(angle)
    d = (xx - 128.3) * math.cos(a) + (yy - 127.6) * math.sin(a)
    img = (0.2 + 0.6 * ndtr(d / sigma))[..., None]
    e = R.edge_width(img)
    assert e["edges"] >= 30
    assert e["edge_width"] == pytest.approx(2 * 1.2815516 * sigma, rel=0.05)


def test_exposure_counts_clipped_pixels_and_levels():
    img = np.full((100, 100, 3), 0.5)
    img[:10, :, 0] = 1.0  # 10 % red clipped
    img[:5, :, 1] = 254 / 255  # 5 % green at the threshold (inside the red rows)
    img[95:, :, 2] = 253 / 255  # below the threshold: not clipped
    ex = R.exposure(img)
    assert ex["clip"] == pytest.approx(0.10)
    assert ex["clip_R"] == pytest.approx(0.10) and ex["clip_G"] == pytest.approx(0.05) and ex["clip_B"] == 0
    flat = np.full((64, 64, 3), 200 / 255)
    ex = R.exposure(flat)
    assert ex["y_mean"] == pytest.approx(200) and ex["y_p99"] == pytest.approx(200)
    assert ex["white_level"] == pytest.approx(200)


def test_image_stats_has_every_table_row():
    bench = _load()
    rng = np.random.default_rng(5)
    st, psd = R.image_stats(rng.random((128, 128, 3)), tile=64)
    assert set(psd) == {"R", "G", "B", "Y", "Cb", "Cr", "C"} and psd["Y"].shape == (64, 64)
    assert {k for k, *_ in bench.ROWS} <= set(st)


def _tiny_data(root):
    """A fake data folder: two small 'photos' with a chroma grating, one 'defocused' one."""
    from imgrestore.io import write_image

    for k, (period, angle) in enumerate(((40.0, 10.0), (12.0, 100.0))):
        write_image(root / "realscreen" / "moire" / f"000{k + 1}.png", _chroma_grating(96, period, angle, 0.08))
    write_image(root / "realscreen" / "defocus_blur" / "0001.png", np.full((96, 96, 3), 0.6))
    return root


def test_script_on_tiny_inputs(tmp_path, capsys):
    from imgrestore.registry import get_registry

    if "moire" not in get_registry().degradations:
        pytest.skip("the moire degradation plugin is not installed")
    bench = _load()
    data = _tiny_data(tmp_path / "data")
    js, fig = tmp_path / "out" / "r.json", tmp_path / "out" / "r.png"
    rc = bench.main(["--data", str(data), "--count", "2", "--patch", "64", "--tile", "64", "--json", str(js),
                     "--figure", str(fig), "--calibrated", "moire:k=1.85-2.15"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "chroma RMS, periods 16-64 px" in out and "calibrated sim" in out
    doc = json.loads(js.read_text())
    assert doc["settings"]["calibrated"] == "moire:k=1.85-2.15"
    assert len(doc["images"]["default"]) == 2 and len(doc["images"]["calibrated"]) == 2
    assert len(doc["images"]["realscreen"]) == 2 and len(doc["images"]["defocus"]) == 1
    row = {e["key"]: e for e in doc["table"]}["C_low"]
    assert row["real"]["min"] <= row["real"]["median"] <= row["real"]["max"]
    assert row["default_flag"] in ("", "above", "below")
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in js.parent.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_script_without_data_skips_cleanly(tmp_path, capsys):
    bench = _load()
    js = tmp_path / "r.json"
    assert bench.main(["--data", str(tmp_path / "nothing"), "--json", str(js), "--no-figure"]) == 0
    assert not js.exists() and "skipped" in capsys.readouterr().err


def test_script_rejects_bad_options(tmp_path, capsys):
    bench = _load()
    data = _tiny_data(tmp_path / "data")
    assert bench.main(["--data", str(data), "--tile", "128", "--patch", "64"]) == 2
    assert "--tile 128" in capsys.readouterr().err
    assert bench.main(["--data", str(data), "--tile", "128", "--patch", "128"]) == 2  # photos of 96 px
    assert "smaller than --tile" in capsys.readouterr().err
    assert bench.main(["--data", str(data), "--count", "1", "--patch", "64", "--tile", "64", "--no-figure",
                       "--calibrated", "moire:nonsense=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moire_realism: error:") and "nonsense" in err and err.count("\n") == 1


def test_script_on_the_shared_photos(tmp_path, capsys):
    data = SHARED_DATA / "moire"
    if not (data / "realscreen" / "moire").is_dir():
        pytest.skip(f"real moiré photos not present under {data}")
    bench = _load()
    # the realscreen photos only (the 4032x3024 UHDM ones take a minute): a copy without uhdm_page
    import shutil

    shutil.copytree(data / "realscreen", tmp_path / "realscreen")
    js = tmp_path / "r.json"
    assert bench.main(["--data", str(tmp_path), "--count", "2", "--patch", "256", "--json", str(js),
                       "--no-figure"]) == 0
    doc = json.loads(js.read_text())
    assert len(doc["images"]["realscreen"]) == 5
    assert all(0 <= r["clip"] <= 100 for r in doc["images"]["realscreen"])
