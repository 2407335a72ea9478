"""benchmarks/moire_figure.py: spectra, layout, the missing-data path, and a tiny real run."""

import numpy as np
import pytest

from conftest import SHARED_DATA, load_script


def _load():
    return load_script("moire_figure")


fig = _load()


def test_spectrum_peak_sits_at_the_grating_frequency():
    # a red-only cosine grating of (fx, fy) = (8/64, -5/64) cycles per pixel: its centred FFT has
    # its peaks at (32 + 64 fy, 32 + 64 fx) and the mirror point, and only in the red channel
    n, fx, fy = 64, 8, -5
    yy, xx = np.mgrid[0:n, 0:n]
    img = np.full((n, n, 3), 0.5, np.float32)
    img[..., 0] += 0.4 * np.cos(2 * np.pi * (fx * xx + fy * yy) / n)
    s = fig.log_spectrum(img)
    assert s.shape == (n, n, 3) and s.dtype == np.float32 and 0 <= s.min() and s.max() <= 1
    want = [(32 + fy, 32 + fx), (32 - fy, 32 - fx)]
    top = np.argwhere(s[..., 0] >= 0.999)  # the brightest bins (saturated by the percentile scaling)
    assert len(top) and all(min(max(abs(p[0] - w[0]), abs(p[1] - w[1])) for w in want) <= 1 for p in top)
    for w in want:
        r, g, b = s[w]
        assert r >= 0.999 and g < 0.5 and b < 0.5  # a colour-specific peak shows in that colour


def test_compose_lays_out_bands_of_crops_and_spectra():
    rng = np.random.default_rng(0)
    bands = [("a", [("x", rng.random((24, 24, 3)))] * 3), ("b", [("y", rng.random((20, 24, 1)))] * 2)]
    canvas = fig.compose(bands, 24)
    assert canvas.dtype == np.uint8 and canvas.shape[2] == 3
    assert canvas.shape[0] == fig.GAP + 2 * (fig.LABEL_H + 2 * (24 + fig.GAP))
    assert canvas.shape[1] == max(fig.GAP + 3 * (24 + fig.GAP), 520)


def test_missing_data_skips_cleanly(tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert fig.main(["--data", str(tmp_path / "nothing"), "--out", str(out)]) == 0
    assert not out.exists() and "skipped" in capsys.readouterr().err


def test_figure_with_the_moire_plugin_on_tiny_crops(tmp_path):
    from imgrestore.registry import get_registry

    if not (SHARED_DATA / "moire").is_dir():
        pytest.skip(f"real moiré photos not present under {SHARED_DATA / 'moire'}")
    if "moire" not in get_registry().degradations:
        pytest.skip("the moire degradation plugin is not installed")
    out = tmp_path / "fig.png"
    assert fig.main(["--crop", "32", "--count", "2", "--real", "1", "--out", str(out), "--device", "cpu"]) == 0
    from imgrestore.io import read_image

    img = read_image(out)
    assert img.shape == (fig.GAP + 4 * (fig.LABEL_H + 2 * (32 + fig.GAP)), 520, 3)
    # the synthetic band really holds moiré crops: not blank, and not equal to their targets
    band = fig.GAP + 2 * (fig.LABEL_H + 2 * (32 + fig.GAP)) + fig.LABEL_H
    inp = img[band : band + 32, fig.GAP : fig.GAP + 32]
    tgt = img[band + 2 * (32 + fig.GAP) : band + 2 * (32 + fig.GAP) + 32, fig.GAP : fig.GAP + 32]
    assert inp.std() > 0 and np.abs(inp - tgt).mean() > 0.005
