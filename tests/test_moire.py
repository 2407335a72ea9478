"""The ``moire`` plugin: kernels against the NumPy oracle, reproducibility, sizes, bad input.

The physics (fringe frequencies, OLPF, alignment) is in ``test_moire_physics.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from imgrestore.chain import Chain
from imgrestore.errors import SpecError

FINISH_OFF = "exposure=1,gain=1,sharpen=0,chroma_denoise=0"  # the camera finishing of issue 12 off: capture physics only
QUIET = f"noise=false,jpeg=false,{FINISH_OFF}"


def _screen(shape, seed=0):
    """Screen-like test content: flat blocks, a gradient and fine random text-like detail."""
    r = np.random.default_rng(seed)
    h, w = shape
    img = np.empty((h, w, 3), np.float32)
    img[:] = r.random(3)
    img[: h // 2, : w // 2] = np.linspace(0, 1, w // 2)[None, :, None]
    img[h // 2 :, w // 3 :] = r.random((h - h // 2, w - w // 3, 3)) > 0.6
    return img


def _pack(chain: Chain, out_hw, src_hw, indices, seed=0):
    from imgrestore.kernels.camera_numpy import RED_SITE
    from imgrestore.kernels.moire import pack_batch
    from imgrestore.kernels.philox import sample_key
    from imgrestore.plugins.moire import PATTERNS

    stage = chain.stages[0]
    samples = []
    for i in indices:
        d = chain.draw(seed, i)[0]
        samples.append(dict(d, red=RED_SITE[PATTERNS.index(d["pattern"])] if d["cfa"] else (-1, -1),
                            shot=d["shot"] or 0.0, read=d["read"] or 0.0))
    return pack_batch(samples, out_hw, src_hw, stage.settings.values["ss"].value,
                      [sample_key(seed, i, 0) for i in indices])


@pytest.mark.parametrize("spec", [
    "moire:jpeg=false",  # defaults: CFA, bilinear, noise, denoise
    "moire:jpeg=false,demosaic=malvar,layout=pentile,vignette=0.4,ca=0.01,motion=3,glare=0.3,k1=-0.05",
    "moire:jpeg=false,cfa=false,layout=BGR,olpf=0,defocus=0.3,ss=2,k=0.7-1.5",
    "moire:jpeg=false,demosaic=none,fill_y=0.6,k=3-6",
])
def test_numba_equals_the_numpy_oracle(spec):
    from imgrestore.kernels.moire import moire_batch

    chain = Chain.parse(spec)
    out = (24, 20)
    src = chain.source_size(out)
    x = np.stack([_screen(src, s) for s in range(3)])
    b = _pack(chain, out, src, [0, 1, 2])
    dem = chain.stages[0].settings.values["demosaic"].value
    got, got_t = moire_batch(x, b, out, dem, backend="numba")
    ref, ref_t = moire_batch(x, b, out, dem, backend="numpy")
    assert got.shape == ref.shape == (3, 24, 20, 3)
    np.testing.assert_allclose(got_t, ref_t, rtol=0, atol=2e-6)
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)


@pytest.mark.parametrize("spec", ["moire", "moire:motion=6,ca=0.02,olpf=1.5,defocus=1,k1=-0.1,k=0.5-4,ss=4",
                                  "moire:layout=pentile,cfa=false,k=8-16,tilt=30,fov=60"])
def test_capture_reads_only_inside_the_decoded_support_boxes(spec):
    """The screenshot is decoded to linear light only inside each sample's support box: with NaN
    everywhere else, every output must still be finite (no read escapes the box)."""
    from imgrestore.kernels import moire_numba as k

    chain = Chain.parse(spec)
    out = (20, 24)
    src = chain.source_size(out)
    x = np.stack([_screen(src, s) for s in range(4)])
    b = _pack(chain, out, src, range(4))
    lin = np.full_like(x, np.nan)
    k.decode(x, b.boxes, lin)
    cap = np.empty((4, *out, 1 if b.cfa else 3), np.float32)
    gt = np.empty((4, *out, 3), np.float32)
    k.capture(lin, b.G, b.I, b.wts, cap, gt)
    assert np.isfinite(cap).all() and np.isfinite(gt).all()


def test_gaussian_denoise_is_scipys():
    from scipy.ndimage import gaussian_filter

    from imgrestore.kernels.moire_numpy import gaussian_blur

    img = np.random.default_rng(1).random((13, 17, 3)).astype(np.float32)
    for sigma in (0.3, 0.6, 1.7):
        want = gaussian_filter(img.astype(np.float64), (sigma, sigma, 0), mode="reflect")
        np.testing.assert_allclose(gaussian_blur(img, sigma), want, atol=2e-7)


def test_pairs_have_the_patch_size_and_record_every_draw():
    chain = Chain.parse("moire")
    src = chain.source_size((32, 32))
    assert chain.output_size(src) == (32, 32)
    x = np.stack([_screen(src, s) for s in range(2)])
    pair = chain(x, seed=3, indices=[4, 9])
    assert pair.input.shape == pair.target.shape == (2, 32, 32, 3)
    assert pair.input.dtype == pair.target.dtype == np.float32
    assert 0 <= pair.input.min() and pair.input.max() <= 1
    for rec in pair.params:
        d = rec[0]
        assert d["name"] == "moire" and 1.2 <= d["k"] <= 4 and abs(d["roll"]) <= 20 and abs(d["tilt"]) <= 20
        assert d["pattern"] in ("RGGB", "GRBG", "GBRG", "BGGR") and 70 <= d["quality"] <= 95
        assert {"k1", "k2", "olpf", "fill", "phase_x", "shot", "read", "denoise", "layout"} <= set(d)


def test_same_seed_and_index_give_the_same_pair_whatever_the_batch():
    chain = Chain.parse("moire")
    src = chain.source_size((24, 24))
    x = np.stack([_screen(src, s) for s in range(4)])
    full = chain(x, seed=7, indices=[0, 1, 2, 3])
    alone = chain(x[2:3], seed=7, indices=[2])
    swapped = chain(x[[3, 1]], seed=7, indices=[3, 1])
    np.testing.assert_array_equal(alone.input[0], full.input[2])
    np.testing.assert_array_equal(alone.target[0], full.target[2])
    np.testing.assert_array_equal(swapped.input[0], full.input[3])
    np.testing.assert_array_equal(swapped.input[1], full.input[1])
    assert alone.params[0] == full.params[2]
    other = chain(x[2:3], seed=8, indices=[2])
    assert not np.array_equal(other.input[0], full.input[2])


def test_signs_and_fixed_values_pin_the_pose():
    chain = Chain.parse("moire:k=1.7,roll=10,tilt=5,pan=3,signs=false,k1=0,cfa=false,demosaic=none,"
                        "noise=false,jpeg=false,olpf=0")
    d = chain.draw(0, 5)[0]
    assert (d["k"], d["roll"], d["tilt"], d["pan"], d["k1"], d["pattern"]) == (1.7, 10, 5, 3, 0, "none")
    signed = {np.sign(Chain.parse("moire:roll=10").draw(0, i)[0]["roll"]) for i in range(20)}
    assert signed == {-1.0, 1.0}


def test_grayscale_screens_come_back_gray():
    chain = Chain.parse(f"moire:{QUIET}")
    src = chain.source_size((16, 16))
    x = _screen(src)[None, ..., :1]
    pair = chain(x, 0, [0])
    assert pair.input.shape == pair.target.shape == (1, 16, 16, 1)


def test_flat_white_screen_target_is_white_and_photo_keeps_its_mean():
    chain = Chain.parse(f"moire:{QUIET},denoise=0,k=2.5")
    src = chain.source_size((32, 32))
    pair = chain(np.full((1, *src, 3), 0.5, np.float32), 0, [0])
    np.testing.assert_allclose(pair.target, 0.5, atol=1e-5)  # area-sampled flat screen
    from imgrestore.kernels.moire_numpy import srgb_decode

    lin = srgb_decode(pair.input[0]).mean()
    assert abs(lin / srgb_decode(np.float32(0.5)) - 1) < 0.05  # brightness matched to the source


def test_after_another_stage_the_target_is_its_clean_target_warped():
    """``awgn | moire``: the target is the clean screenshot under the moire geometry, whatever the
    stage before did to the input (it used to be the warped noisy input)."""
    src = Chain.parse(f"awgn | moire:{QUIET}").source_size((24, 24))
    x = np.stack([_screen(src, s) for s in range(2)])
    noisy = Chain.parse(f"awgn:sigma=25 | moire:{QUIET}")(x, 5, [3, 8])
    clean = Chain.parse(f"awgn:sigma=0 | moire:{QUIET}")(x, 5, [3, 8])  # same moire draws (stage 1)
    assert not np.array_equal(noisy.input, clean.input)
    np.testing.assert_array_equal(noisy.target, clean.target)
    flat = Chain.parse(f"awgn:sigma=25 | moire:{QUIET}")(np.full((1, *src, 3), 0.5, np.float32), 0, [0])
    np.testing.assert_allclose(flat.target, 0.5, atol=1e-5)
    with pytest.raises(SpecError) as err:  # a size change before moire: no single geometry
        chain = Chain.parse(f"bicubic:scale=2 | moire:{QUIET}")
        src = chain.source_size((24, 24))
        chain(np.zeros((1, *src, 3), np.float32), 0, [0])
    assert "\n" not in str(err.value) and "moire" in str(err.value) and "bicubic" in str(err.value)


@pytest.mark.parametrize("demosaic", ["bilinear", "malvar"])
@pytest.mark.parametrize("pattern", ["RGGB", "GRBG", "GBRG", "BGGR"])
def test_photo_border_demosaics_like_the_inside(demosaic, pattern):
    """A flat screen under a strong optical low-pass gives a flat raw; demosaiced, the patch
    must stay flat up to its border (the half-sample reflection of a bare demosaic puts a site
    of another colour beside the edge: bilinear red and blue came out 0.25-2.25x there, 0.24
    off in sRGB; Malvar happens to survive a flat raw and is here for coverage)."""
    chain = Chain.parse(f"moire:{QUIET},denoise=0,k=0.6,olpf=2,signs=false,tilt=0,pan=0,roll=5,k1=0,k2=0,"
                        f"pattern={pattern},demosaic={demosaic}")
    src = chain.source_size((20, 22))
    photo = chain(np.full((1, *src, 3), 0.5, np.float32), 0, [0]).input[0]
    inside = np.median(photo[4:-4, 4:-4], axis=(0, 1))
    assert np.abs(photo[4:-4, 4:-4] - inside).max() < 1e-3  # the raw really is flat
    assert np.abs(photo - inside).max() < 1e-3


def test_the_raw_saturates_with_or_without_noise():
    """Bright subpixels (3/fill times the pixel mean) clip at the sensor's full scale before the
    demosaic whether or not noise is added (a noise-free raw used to stay unclipped)."""
    spec = "moire:jpeg=false,denoise=0,k=3.7,olpf=0.1,fill=0.8,pattern=GRBG"
    src = Chain.parse(spec).source_size((24, 24))
    x = np.ones((1, *src, 3), np.float32)
    quiet = Chain.parse(f"{spec},noise=false")(x, 1, [2]).input
    tiny = Chain.parse(f"{spec},noise=true,shot=0,read=1e-9")(x, 1, [2]).input
    np.testing.assert_allclose(quiet, tiny, rtol=0, atol=1e-5)


@pytest.mark.parametrize("spec,words", [
    ("moire:k1=-0.3,k2=0", ("k1=-0.3", "folds")),
    ("moire:tilt=45,pan=45,fov=120", ("tilt=", "horizon")),
    ("moire:k=0", ("moire:k",)),
    ("moire:layout=RGBW", ("RGBW",)),
])
def test_bad_parameters_are_one_line_errors(spec, words):
    with pytest.raises(SpecError) as err:
        Chain.parse(spec)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words)


def test_too_small_screenshot_names_the_parameters():
    chain = Chain.parse("moire")
    with pytest.raises(SpecError, match=r"covers no photo pixel.*k=0\.7-2\.2"):
        chain(np.zeros((1, 10, 10, 3), np.float32), 0, [0])


@pytest.mark.parametrize("spec", ["moire:layout=pentile,ca=0.01,motion=2,vignette=0.3",
                                  "moire:cfa=false,layout=BGR",
                                  "moire:olpf=0,ss=2,fill_y=0.7,k=0.8-1.5,pattern=GBRG"])  # box footprints
def test_cuda_source_is_the_numba_twin_on_the_host(tmp_path, spec):
    """moire.cu compiled as host C++ (tests/cuda_host shim) equals the Numba kernels end to end:
    decode and capture, then the fused steps 6-8 (moire_develop) on the host capture, against
    moire_batch, with the launch shapes of moire_cuda.py and with the grid's sample dimension
    capped at 1, so the loops striding over samples run (moire_develop alone, on many shapes and
    modes: tests/test_cuda_host.py)."""
    from host_build import build_driver, call_driver
    from test_cuda_host import _host_develop

    exe = build_driver(tmp_path, "moire_driver", "moire.cu")
    from imgrestore.kernels import moire_numba as k
    from imgrestore.kernels.moire import moire_batch

    chain = Chain.parse(spec)
    out = (13, 11)
    src = chain.source_size(out)
    x = np.stack([_screen(src, s) for s in range(2)])
    b = _pack(chain, out, src, [0, 1])
    lin = np.zeros_like(x)  # as moire_batch: 0 outside the boxes
    k.decode(x, b.boxes, lin)
    nc = 1 if b.cfa else 3
    cap = np.empty((2, *out, nc), np.float32)
    gt = np.empty((2, *out, 3), np.float32)
    k.capture(lin, b.G, b.I, b.wts, cap, gt)
    dem = chain.stages[0].settings.values["demosaic"].value
    want, want_t = moire_batch(x, b, out, dem, backend="numba")
    for max_grid in (65535, 1):
        rep = call_driver(exe, ["capture", max_grid], [2, *src, *out, nc, b.wts.shape[1]], x,
                          b.boxes.astype(np.int32), b.G, b.I.astype(np.int32), b.wts)
        n_lin, n_cap = x.size, cap.size
        h_lin = np.frombuffer(rep, np.float32, n_lin).reshape(x.shape)
        h_cap = np.frombuffer(rep, np.float32, n_cap, offset=4 * n_lin).reshape(cap.shape)
        h_gt = np.frombuffer(rep, np.float32, gt.size, offset=4 * (n_lin + n_cap)).reshape(gt.shape)
        np.testing.assert_array_equal(h_lin, lin)  # 0 outside the boxes (the driver starts at -1)
        np.testing.assert_array_equal(h_cap, cap)
        np.testing.assert_array_equal(h_gt, gt)
        dev_cap = h_cap * b.gain() if b.gain() is not None else h_cap  # exposure, as moire_cuda.py applies it
        h_out, h_tgt = _host_develop(exe, dev_cap, h_gt, b, dem, max_grid, order=0)
        assert h_out.shape == h_tgt.shape == want.shape
        np.testing.assert_array_equal(h_out, want)
        np.testing.assert_array_equal(h_tgt, want_t)


@pytest.mark.gpu
@pytest.mark.parametrize("spec", ["moire:jpeg=false", "moire:jpeg=false,cfa=false,layout=pentile,ca=0.01,motion=2",
                                  "moire:jpeg=false,olpf=0,ss=2,demosaic=malvar,glare=0.3"])
def test_cuda_equals_numba(spec):
    import cupy

    from imgrestore.kernels.moire import moire_batch

    chain = Chain.parse(spec)
    out = (40, 36)
    src = chain.source_size(out)
    x = np.stack([_screen(src, s) for s in range(3)])
    b = _pack(chain, out, src, [0, 1, 2])
    dem = chain.stages[0].settings.values["demosaic"].value
    ref, ref_t = moire_batch(x, b, out, dem)
    got, got_t = moire_batch(cupy.asarray(x), b, out, dem)
    # bit for bit (--fmad=false, the same operation order, the same sRGB table; the host build of
    # moire.cu already equals Numba exactly, test_cuda_source_is_the_numba_twin_on_the_host)
    np.testing.assert_array_equal(cupy.asnumpy(got), ref)
    np.testing.assert_array_equal(cupy.asnumpy(got_t), ref_t)
