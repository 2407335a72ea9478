"""The JPEG round-trip kernels (NumPy oracle, Numba) against Pillow's libjpeg-turbo, byte for byte.

The reference is Pillow encode (``quality=q, subsampling=s``) -> decode of the uint8 image;
ours must give the same decoded bytes for every quality 1-100, each subsampling (4:4:4, 4:2:2,
4:2:0) and gray, on random and natural images of awkward sizes. Float batches go through
``clip(rint(x * 255), 0, 255)`` first and come back as ``u8 / 255`` in float32, the plugin's
conversion. ``WRAP_BLOCK`` is an 8x8 gray block found by search whose inverse DCT at quality 1
leaves [-512, 511] (-561): there libjpeg's portable C range-limit table (which wraps) and
libjpeg-turbo's SIMD code (which saturates) disagree, and Pillow saturates.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from imgrestore.errors import SpecError
from imgrestore.kernels import jpeg_numpy as J
from imgrestore.kernels.jpeg import roundtrip

SUBS = ("444", "422", "420")
SIZES = [(1, 1), (1, 2), (2, 1), (2, 2), (3, 5), (7, 9), (8, 8), (9, 17), (16, 16), (17, 33), (31, 47), (33, 100)]
MODES = [(3, s) for s in SUBS] + [(1, "420")]  # (channels, subsampling); gray ignores the subsampling
WRAP_BLOCK = [[195, 0, 255, 255, 177, 0, 224, 0], [0, 109, 55, 54, 255, 255, 255, 0],
              [120, 255, 166, 99, 25, 0, 198, 0], [0, 182, 255, 0, 255, 143, 255, 255],
              [255, 255, 129, 255, 164, 0, 112, 0], [255, 255, 0, 0, 0, 93, 30, 0],
              [255, 111, 0, 59, 187, 149, 255, 255], [255, 77, 0, 84, 207, 255, 0, 255]]


def pillow_u8(u8: np.ndarray, quality: int, subsampling: str) -> np.ndarray:
    """Pillow encode -> decode of an (H, W, 1|3) uint8 image."""
    from PIL import Image

    gray = u8.shape[2] == 1
    im = Image.fromarray(u8[..., 0] if gray else u8, mode="L" if gray else "RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(quality), subsampling={"444": 0, "422": 1, "420": 2}[subsampling])
    buf.seek(0)
    out = np.asarray(Image.open(buf))
    return out[..., None] if gray else out


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def natural(h: int, w: int, c: int, k: int = 0) -> np.ndarray:
    """A crop of a scikit-image sample (uint8)."""
    import skimage.data as sd

    img = [sd.astronaut, sd.coffee, sd.chelsea][k % 3]()
    y0, x0 = (37 * k) % (img.shape[0] - h + 1), (53 * k) % (img.shape[1] - w + 1)
    crop = img[y0:y0 + h, x0:x0 + w]
    return crop[..., :1] if c == 1 else crop


def assert_same(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    if not np.array_equal(ours, ref):
        d = np.abs(ours.astype(int) - ref.astype(int))
        pytest.fail(f"{what}: max diff {d.max()}, {np.mean(d > 0):.2%} of values differ")


# --- the oracle -------------------------------------------------------------------------------------


@pytest.mark.parametrize("c,sub", MODES)
def test_oracle_every_quality_small(c, sub):
    rng = np.random.default_rng(1)
    for q in range(1, 101):
        img = rng.integers(0, 256, (9, 17, c), dtype=np.uint8)
        assert_same(J.roundtrip_u8(img, q, sub), pillow_u8(img, q, sub), f"oracle c={c} {sub} q={q}")


@pytest.mark.parametrize("c,sub", MODES)
def test_oracle_awkward_sizes_random_and_natural(c, sub):
    rng = np.random.default_rng(2)
    for k, (h, w) in enumerate(SIZES + [(64, 80)]):
        for q in (1, 37, 75, 100):
            img = rng.integers(0, 256, (h, w, c), dtype=np.uint8) if q % 2 else natural(h, w, c, k)
            assert_same(J.roundtrip_u8(img, q, sub), pillow_u8(img, q, sub), f"oracle {h}x{w}x{c} {sub} q={q}")


def test_oracle_large_natural():
    for c, sub in MODES:
        img = natural(255, 257, c, 1)
        assert_same(J.roundtrip_u8(img, 50, sub), pillow_u8(img, 50, sub), f"oracle 255x257 {sub} c={c}")


def test_idct_saturates_like_pillow_beyond_the_table_range():
    """WRAP_BLOCK reaches -561 before the range limit: Pillow gives 0 there (saturation), the
    C table of jdmaster.c would give 255; ours must give Pillow's bytes."""
    block = np.array(WRAP_BLOCK, np.uint8)
    qt = J.quant_tables(1)[0]
    coef = J.quantize(J.fdct_islow(block.astype(np.int64) - 128), J.quant_divisors(qt))
    raw = J.idct_islow(coef, qt, limit=False)
    assert raw.min() < -512  # the case is really outside the table's exact range
    img = block[..., None]
    ref = pillow_u8(img, 1, "444")
    assert ref[raw < -512].max() == 0
    assert_same(J.roundtrip_u8(img, 1, "444"), ref, "oracle on WRAP_BLOCK")
    out = roundtrip(img[None].astype(np.float32) / 255, 1, "444")
    assert_same(to_u8(out[0]), ref, "numba on WRAP_BLOCK")


def test_quant_divisors_round_half_away_from_zero():
    """The reciprocal quantizer equals rounding x / (8 q) to nearest (halves away from 0)."""
    x = np.arange(-20000, 20001, dtype=np.int64)
    for q in (1, 2, 3, 7, 16, 99, 100, 128, 255):
        recip, corr, shift = (int(v) for v in J.quant_divisors(np.array([q]))[:, 0])
        got = np.sign(x) * (((np.abs(x) + corr) * recip) >> shift)
        want = np.sign(x) * ((2 * np.abs(x) + 8 * q) // (16 * q))
        assert np.array_equal(got, want), q


# --- Numba -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("c,sub", MODES)
def test_numba_every_quality_awkward_sizes(c, sub):
    rng = np.random.default_rng(3)
    qs = np.arange(1, 101)
    for k, (h, w) in enumerate(SIZES):
        u8 = rng.integers(0, 256, (100, h, w, c), dtype=np.uint8)
        if k % 2:
            u8[::2] = natural(h, w, c, k)
        out = roundtrip(u8.astype(np.float32) / np.float32(255), qs, sub)
        assert out.dtype == np.float32
        got = to_u8(out)
        assert np.array_equal(out, got.astype(np.float32) / np.float32(255))  # exactly u8 / 255
        for q in qs:
            assert_same(got[q - 1], pillow_u8(u8[q - 1], int(q), sub), f"numba {h}x{w}x{c} {sub} q={q}")


@pytest.mark.parametrize("c,sub", MODES)
def test_numba_off_grid_floats_convert_like_the_plugin(c, sub):
    rng = np.random.default_rng(4)
    x = (rng.random((6, 23, 41, c), dtype=np.float32) * 1.3 - 0.15).astype(np.float32)
    x[0, 0, 0] = 0.5 / 255  # a tie: rint rounds half to even
    qs = [1, 10, 50, 85, 95, 100]
    got = to_u8(roundtrip(x, qs, sub))
    for k, q in enumerate(qs):
        assert_same(got[k], pillow_u8(to_u8(x[k]), q, sub), f"numba floats {sub} q={q}")


def test_numba_larger_natural_and_random():
    rng = np.random.default_rng(5)
    for c, sub in MODES:
        u8 = np.stack([natural(255, 257, c, 2), rng.integers(0, 256, (255, 257, c), dtype=np.uint8)])
        for q in (1, 60, 95):
            x = u8.astype(np.float32) / 255
            got = to_u8(roundtrip(x, q, sub))  # one image per thread
            for k in range(2):
                assert_same(got[k], pillow_u8(u8[k], q, sub), f"numba 255x257 {sub} c={c} q={q}")
                assert np.array_equal(to_u8(roundtrip(x[k:k + 1], q, sub))[0], got[k])  # parallel over rows


@pytest.mark.slow
@pytest.mark.parametrize("c,sub", MODES)
def test_numba_every_quality_larger_sizes(c, sub):
    rng = np.random.default_rng(6)
    qs = np.arange(1, 101)
    for k, (h, w) in enumerate([(64, 64), (95, 129), (255, 257)]):
        u8 = rng.integers(0, 256, (100, h, w, c), dtype=np.uint8)
        u8[1::2] = natural(h, w, c, k)
        got = to_u8(roundtrip(u8.astype(np.float32) / 255, qs, sub))
        for q in qs:
            assert_same(got[q - 1], pillow_u8(u8[q - 1], int(q), sub), f"numba {h}x{w}x{c} {sub} q={q}")


def test_backends_agree_and_mixed_batches():
    """Per-sample qualities and subsamplings in one batch, quality 0 = an exact copy; the NumPy
    oracle backend and Numba give the same bits."""
    rng = np.random.default_rng(7)
    x = rng.random((6, 19, 26, 3), dtype=np.float32) * 1.2  # values off the 8-bit grid and > 1
    qs = [0, 5, 90, 0, 100, 33]
    subs = ["420", "444", "422", "444", "420", "422"]
    a = roundtrip(x, qs, subs)
    b = roundtrip(x, qs, subs, backend="numpy")
    assert np.array_equal(a, b)
    for k in (0, 3):
        assert np.array_equal(a[k], x[k])
    for k in (1, 2, 4, 5):
        assert_same(to_u8(a[k]), pillow_u8(to_u8(x[k]), qs[k], subs[k]), f"mixed batch sample {k}")
    g = rng.random((3, 10, 11, 1), dtype=np.float32)
    assert np.array_equal(roundtrip(g, [0, 7, 70], "444"), roundtrip(g, [0, 7, 70], ["420", "422", "444"]))
    assert np.array_equal(roundtrip(g, [0, 7, 70], "444")[0], g[0])


@pytest.mark.parametrize("quality,sub,needle", [(101, "420", "101"), (-1, "420", "-1"), (2.5, "420", "2.5"),
                                                (50, "411", "'411'"), (True, "420", "True"), ("50", "420", "'50'"),
                                                (50, 420, "420")])
def test_bad_quality_or_subsampling_is_a_one_line_spec_error(quality, sub, needle):
    x = np.zeros((1, 8, 8, 3), np.float32)
    with pytest.raises(SpecError) as e:
        roundtrip(x, quality, sub)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg and "jpeg" in msg


def test_bad_shape_and_backend():
    with pytest.raises(SpecError, match="batch"):
        roundtrip(np.zeros((8, 8, 3), np.float32), 50)
    with pytest.raises(SpecError, match="backend"):
        roundtrip(np.zeros((1, 8, 8, 3), np.float32), 50, backend="opencl")
    with pytest.raises(SpecError, match="for a batch of 2"):
        roundtrip(np.zeros((2, 8, 8, 3), np.float32), [50])


# --- the plugin ----------------------------------------------------------------------------------


def test_plugin_equals_pillow_per_drawn_parameters():
    from imgrestore.chain import Chain
    from imgrestore.plugins.jpeg import jpeg_roundtrip

    rng = np.random.default_rng(8)
    clean = rng.random((6, 21, 30, 3), dtype=np.float32)
    chain = Chain.parse("jpeg:quality=5-95,subsampling=420")
    pair = chain(clean, seed=1, indices=range(6))
    for k, p in enumerate(pair.params):
        d = p[0]
        ref = pillow_u8(to_u8(clean[k]), d["quality"], d["subsampling"]).astype(np.float32) / np.float32(255)
        assert np.array_equal(pair.input[k], ref)
        assert np.array_equal(jpeg_roundtrip(clean[k], d["quality"], d["subsampling"]), ref)
    gray = rng.random((17, 9, 1), dtype=np.float32)
    ref = pillow_u8(to_u8(gray), 40, "444").astype(np.float32) / np.float32(255)
    assert np.array_equal(jpeg_roundtrip(gray, 40, "444"), ref)
