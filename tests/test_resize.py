"""MATLAB-exact bicubic resize: kernels vs the NumPy oracle, independent checks, MATLAB's published figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from imgrestore.kernels.resize import imresize, imresize_numpy, output_size, plan, resize_weights

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

SCALES = [1 / 2, 1 / 3, 1 / 4, 0.37, 2, 3, 4, 1.5]
SHAPES = [(1, 1, 1, 3), (1, 2, 3, 1), (2, 5, 7, 3), (3, 16, 12, 1), (2, 33, 47, 3)]


def _rand(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


# --- Numba kernels vs the oracle ---------------------------------------------------------------

@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"{s:.4g}")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_numba_matches_numpy_oracle(scale, shape):
    x = _rand(shape)
    got, ref = imresize(x, scale), imresize_numpy(x, scale)
    n, h, w, c = shape
    assert got.shape == ref.shape == (n, output_size(h, scale), output_size(w, scale), c)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)


@pytest.mark.parametrize("scale", [(0.5, 0.25), (0.25, 0.5), (2, 0.5), (1.0, 1 / 3), (3, 1.0)])
def test_anisotropic_scales_and_pass_order(scale):
    x = _rand((2, 13, 17, 3), seed=1)
    np.testing.assert_allclose(imresize(x, scale), imresize_numpy(x, scale), rtol=0, atol=2e-6)
    # MATLAB resizes the dimension with the smaller scale first; rows first on a tie.
    first_axis = plan(x.shape[1:3], scale)[0][0]
    assert first_axis == (2 if scale[1] < scale[0] else 1)


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 3, (0.5, 0.25), (2, 0.5)], ids=str)
def test_float64_accumulation_is_the_oracle_rounded_once(scale):
    from imgrestore.kernels.resize_numba import resize_numba

    x = _rand((2, 19, 23, 3), seed=2)
    got = resize_numba(x, plan(x.shape[1:3], scale), np.float64)
    np.testing.assert_array_equal(got, imresize_numpy(x, scale))


def test_output_size_follows_matlab_and_survives_float_error():
    assert output_size(500, 1 / 4) == 125
    assert output_size(30, 0.1) == 3  # 30 * 0.1 == 3.0000000000000004 in floating point
    assert output_size(300, 1 / 3) == 100
    assert output_size(7, 0.5) == 4  # ceil(3.5)
    assert output_size(5, 1 / 3) == 2
    assert output_size(1, 0.25) == 1
    assert output_size(123, 4) == 492


def test_out_hw_and_noncontiguous_input():
    x = _rand((1, 20, 30, 3))[:, ::2, ::3]  # a strided view
    got = imresize(x, 0.5, out_hw=(4, 4))
    assert got.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(got, imresize_numpy(np.ascontiguousarray(x), 0.5, out_hw=(4, 4)), atol=2e-6)
    # scale=None: MATLAB's output-size form, scale = out / in per axis
    np.testing.assert_allclose(imresize(x, None, out_hw=(5, 20)), imresize_numpy(x, (0.5, 2.0)), atol=2e-6)


# --- Independent checks of the weights -----------------------------------------------------------

def _cubic_py(t: float) -> float:
    a = abs(t)
    if a <= 1:
        return 1.5 * a**3 - 2.5 * a**2 + 1
    if a <= 2:
        return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return 0.0


def _matlab_contributions_py(n_in: int, n_out: int, scale: float):
    """MATLAB's contributions(), transcribed in plain Python with 1-based indices, for comparison."""
    width = 4 / scale if scale < 1 else 4.0
    taps = math.ceil(width) + 2
    rows = []
    for x in range(1, n_out + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        ind = [left + k for k in range(taps)]
        w = [scale * _cubic_py(scale * (u - j)) if scale < 1 else _cubic_py(u - j) for j in ind]
        s = sum(w)
        aux = list(range(1, n_in + 1)) + list(range(n_in, 0, -1))
        rows.append(([aux[(j - 1) % (2 * n_in)] - 1 for j in ind], [v / s for v in w]))
    keep = [k for k in range(taps) if any(r[1][k] != 0 for r in rows)]
    return [[r[0][k] for k in keep] for r in rows], [[r[1][k] for k in keep] for r in rows]


# MATLAB's x2 antialiased bicubic kernel: 0.5 * cubic(0.5 * d) at d = +-0.5, +-1.5, +-2.5, +-3.5.
MATLAB_X2_TAPS = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]


def test_x2_downscale_weights_are_matlabs_kernel():
    idx, w = resize_weights(40, 20, 0.5)
    assert w.shape == (20, 8) and idx.dtype == np.int32
    for o in range(2, 18):  # away from the borders: no mirrored taps
        assert w[o].tolist() == MATLAB_X2_TAPS
        assert idx[o].tolist() == list(range(2 * o - 3, 2 * o + 5))
    # left border: taps at 0-based -3..-1 mirror (MATLAB symmetric padding) to 2, 1, 0
    assert idx[0].tolist() == [2, 1, 0, 0, 1, 2, 3, 4]


@pytest.mark.parametrize("n_in,n_out,scale", [(40, 20, 0.5), (48, 12, 0.25), (30, 10, 1 / 3), (27, 10, 0.37),
                                              (7, 28, 4), (5, 15, 3), (9, 14, 1.5), (1, 1, 0.25), (3, 2, 0.5)])
def test_weights_match_plain_python_transcription(n_in, n_out, scale):
    idx, w = resize_weights(n_in, n_out, scale)
    ref_idx, ref_w = _matlab_contributions_py(n_in, n_out, scale)
    assert idx.tolist() == ref_idx
    np.testing.assert_allclose(w, np.array(ref_w), rtol=0, atol=1e-15)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-14)


# --- Closed forms ----------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [2, 3, 4, 1.5, 0.5, 1 / 3, 0.25, 0.37], ids=lambda s: f"{s:.4g}")
def test_constant_image_stays_constant(scale):
    x = np.full((1, 24, 18, 3), 0.7, dtype=np.float32)
    np.testing.assert_array_equal(imresize_numpy(x, scale), np.float32(0.7))  # float64 sums: exact
    np.testing.assert_allclose(imresize(x, scale), 0.7, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4, 1.5], ids=str)
def test_upscaling_reproduces_a_linear_ramp_in_the_interior(scale):
    # Keys' cubic with a = -0.5 interpolates polynomials up to degree 2 exactly; a ramp is one.
    h, w = 20, 24
    hh, ww = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    x = (0.01 * hh + 0.02 * ww + 0.1).astype(np.float32)[None, :, :, None]
    y = imresize(x, scale)[0, :, :, 0]
    # output sample o sits at input position (o + 1) / scale + 0.5 * (1 - 1 / scale) (1-based)
    pos = lambda n: (np.arange(n) + 1) / scale + 0.5 * (1 - 1 / scale) - 1  # noqa: E731
    expect = 0.01 * pos(y.shape[0])[:, None] + 0.02 * pos(y.shape[1])[None, :] + 0.1
    m = int(math.ceil(3 * scale))  # outputs whose taps reach the mirrored border are left out
    np.testing.assert_allclose(y[m:-m, m:-m], expect[m:-m, m:-m], rtol=0, atol=2e-6)


# --- MATLAB's published figure -------------------------------------------------------------------

def _to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8 as MATLAB's im2uint8 (round half away from zero, saturate)."""
    return np.clip(np.floor(x.astype(np.float64) * 255 + 0.5), 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _y(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma (BT.601, [16, 235]) of a uint8 image, unrounded, in [0, 255] units."""
    v = rgb.astype(np.float64) / 255.0
    return 16 + 65.481 * v[..., 0] + 128.553 * v[..., 1] + 24.966 * v[..., 2]


def _baboon() -> np.ndarray:
    path = SHARED_DATA / "images" / "Set14" / "baboon.bmp"
    if not path.exists():
        pytest.skip(f"reference image {path} not present (../shared/data is not part of the repo)")
    import imageio.v3 as iio

    hr = iio.imread(path)
    return hr[: hr.shape[0] - hr.shape[0] % 12, : hr.shape[1] - hr.shape[1] % 12, :3]


def _down_up(hr: np.ndarray, protocol: str) -> np.ndarray:
    x = (hr.astype(np.float32) / 255)[None]
    if protocol == "uint8 per dimension":  # a rounding after each 1-D pass, rows first
        lr = _to_uint8(imresize(_to_uint8(imresize(x, (0.25, 1.0))) / np.float32(255), (1.0, 0.25)))
        sr = imresize(_to_uint8(imresize(lr / np.float32(255), (4.0, 1.0))) / np.float32(255), (1.0, 4.0))
    elif protocol == "uint8 LR":  # imresize(uint8) returns uint8: the LR image is rounded once
        sr = imresize(_to_uint8(imresize(x, 0.25)) / np.float32(255), 4)
    else:  # "float": no rounding until the end
        sr = imresize(imresize(x, 0.25), 4)
    return _to_uint8(sr[0])


def test_matlab_baboon_x4_figure():
    """Set14 baboon, x4 down then up, uint8, 4-pixel border: RGB 20.419710 dB, Y 22.441899 dB (MATLAB).

    Reproduced by rounding the LR image to uint8 between the two calls (what ``imresize`` on a
    uint8 image returns) and nowhere else; rounding after each 1-D pass, or not at all, misses.
    """
    hr = _baboon()
    assert hr.shape == (480, 492, 3)
    crop = (slice(4, -4), slice(4, -4))
    sr = _down_up(hr, "uint8 LR")
    assert abs(_psnr(sr[crop], hr[crop]) - 20.419710) < 1e-4
    assert abs(_psnr(_y(sr[crop]), _y(hr[crop])) - 22.441899) < 1e-4
    for other in ("float", "uint8 per dimension"):
        assert abs(_psnr(_down_up(hr, other)[crop], hr[crop]) - 20.419710) > 2e-4, other


# --- GPU twin --------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.37, 2, 4, 1.5, (0.5, 0.25), (2, 0.5)], ids=str)
def test_cupy_kernel_matches_numba(scale):
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device visible")
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        pytest.skip(f"no CUDA device visible: {exc}")
    for shape in [(1, 1, 1, 3), (2, 5, 7, 3), (3, 16, 12, 1), (2, 67, 45, 3), (1, 64, 48, 4)]:
        x = _rand(shape, seed=3)
        got = imresize(cupy.asarray(x), scale)
        assert isinstance(got, cupy.ndarray) and got.dtype == cupy.float32
        ref = imresize(x, scale)
        # same operations in the same order (no FMA contraction): expected bit-identical
        np.testing.assert_allclose(cupy.asnumpy(got), ref, rtol=0, atol=2e-6, err_msg=f"shape {shape}")
