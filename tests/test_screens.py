"""Screens rendered in code (imgrestore.sources.screens) and their use as synth's built-in content."""

import json
import subprocess
import sys

import numpy as np
import pytest

from imgrestore.sources import screen_assets, screen_items, screen_layout, screens
from imgrestore.chain import Chain
from imgrestore.degrade import Degradation
from imgrestore.io import read_image
from imgrestore.sources.source import SCREEN_COUNT, screen_sources
from imgrestore.synth import chain_content


class _ScreenShot(Degradation):
    """Test-only stage that asks for screen content (as the moire plugin does); halves the input."""

    name = "screenshot-test"
    summary = "test stage with default_content = screens"
    default_content = "screens"

    def apply(self, pair, drawn, ctx):
        pair.input = pair.input * np.float32(0.5)
        return pair


def _clear_caches():
    screen_layout._layout.cache_clear()
    screen_assets._fitted_photo.cache_clear()


def _hf_fraction(img: np.ndarray) -> float:
    """Share of the non-DC luminance power at frequencies above 1/4 cycle per pixel."""
    y = img.mean(axis=2)
    p = np.abs(np.fft.fft2(y - y.mean())) ** 2
    fy = np.abs(np.fft.fftfreq(y.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(y.shape[1]))[None, :]
    return float(p[np.maximum(fx, fy) > 0.25].sum() / p.sum())


def test_render_is_deterministic_in_range_and_seeded():
    a = screens.render_screen(3, 5, 120, 200)
    _clear_caches()
    b = screens.render_screen(3, 5, 120, 200)
    assert a.dtype == np.float32 and a.shape == (120, 200, 3)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, b)
    assert not np.array_equal(a, screens.render_screen(4, 5, 120, 200))


@pytest.mark.parametrize("index", range(6))
def test_box_equals_the_window_of_the_full_screen(index):
    full = screens.render_screen(0, index, 180, 320)
    _clear_caches()
    for y, x, h, w in [(0, 0, 64, 64), (37, 101, 50, 63), (116, 256, 64, 64), (0, 0, 180, 320)]:
        assert np.array_equal(screens.render_screen(0, index, 180, 320, box=(y, x, h, w)), full[y : y + h, x : x + w])


def test_tiny_and_odd_sizes_render():
    for h, w in [(1, 1), (8, 8), (16, 64), (64, 17)]:
        for i in range(5):
            assert screens.render_screen(0, i, h, w).shape == (h, w, 3)
    with pytest.raises(ValueError, match="box"):
        screens.render_screen(0, 0, 32, 32, box=(20, 0, 16, 16))


def test_screens_vary_and_carry_text_detail():
    imgs = [screens.render_screen(0, i, 135, 240) for i in range(8)]
    for i in range(8):
        for j in range(i + 1, 8):
            assert np.abs(imgs[i] - imgs[j]).mean() > 0.01, (i, j)
    # every layout draws text; text and 1-px lines put power at high frequencies, which a
    # smooth photo or a gradient lacks (scikit-image's photos average about 0.04 here)
    assert all(any(isinstance(it, screen_items._Text) for it in screens.screen_layout(0, i, 135, 240)) for i in range(8))
    big = [screens.render_screen(0, i, 270, 480) for i in range(8)]
    assert np.mean([_hf_fraction(im) for im in big]) > 0.06
    r2 = ((np.arange(64)[:, None] - 32.0) ** 2 + (np.arange(64)[None, :] - 32.0) ** 2) / 200.0
    blob = np.repeat(np.exp(-r2)[..., None], 3, axis=2).astype(np.float32)  # smooth content
    assert _hf_fraction(blob) < 0.001


def test_chain_content_follows_the_stages():
    table = {"screenshot-test": _ScreenShot, "awgn": Chain.parse("awgn").stages[0].__class__}
    assert Degradation.default_content == "photos"
    assert chain_content(Chain.parse("awgn", table)) == "photos"
    assert chain_content(Chain.parse("screenshot-test | awgn:sigma=5", table)) == "screens"
    srcs = screen_sources(7, (2000, 100))
    assert len(srcs) == SCREEN_COUNT and srcs[0].hw == (2000, 1920) and srcs[0].array is None
    assert srcs[3].name == f"screen-v{screens.RENDER_VERSION}:3"
    assert np.array_equal(srcs[3].render((5, 6, 8, 9)), screens.render_screen(7, 3, 2000, 1920, box=(5, 6, 8, 9)))


def test_synth_without_input_uses_screens_and_resumes(cli, tmp_path, monkeypatch):
    from imgrestore.registry import get_registry

    monkeypatch.setitem(get_registry().degradations, "screenshot-test", _ScreenShot)
    out = tmp_path / "pairs"
    args = ["synth", "screenshot-test", "--out", str(out), "--count", "5", "--patch", "32", "--seed", "2",
            "--device", "cpu", "--batch", "2"]
    code, _, err = cli(*args)
    assert code == 0, err
    lines = [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["index"] for e in lines] == list(range(5))
    for e in lines[:2]:
        assert e["source"].startswith(f"screen-v{screens.RENDER_VERSION}:")
        k = int(e["source"].split(":")[1])
        y, x, h, w = e["crop"]
        want = screens.render_screen(2, k, 1080, 1920, box=(y, x, h, w))
        assert np.abs(read_image(out / e["target"]) - want).max() <= 0.5 / 255 + 1e-6
        assert np.abs(read_image(out / e["input"]) - want * 0.5).max() <= 1 / 255 + 1e-6
    before = {p.name: p.read_bytes() for p in (out / "target").glob("*.png")}
    code, _, err = cli(*args[:5], "8", *args[6:])  # --count grows: a resume writes only 5..7
    assert code == 0, err
    assert "(5 already there" in err
    after = {p.name: p.read_bytes() for p in (out / "target").glob("*.png")}
    assert len(after) == 8 and all(after[n] == b for n, b in before.items())


def test_importing_screens_loads_no_image_library():
    code = ("import sys, imgrestore.sources.screens, imgrestore.synth\n"
            "print([m for m in ('PIL', 'skimage', 'torch') if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
