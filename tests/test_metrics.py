"""imgrestore.metrics: PSNR/SSIM conventions against closed forms, scikit-image and MATLAB's formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import convolve2d
from skimage import data
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from imgrestore.metrics import mean_psnr, mean_ssim, psnr, rgb_to_y, ssim

RNG = np.random.default_rng(1234)


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 1).astype(img.dtype)


def _astronaut() -> np.ndarray:
    return data.astronaut().astype(np.float64) / 255


def _camera() -> np.ndarray:
    return data.camera().astype(np.float64)[:, :, None] / 255


# ------------------------------------------------------------------------------- rgb_to_y


def test_rgb_to_y_matches_skimage_bt601():
    # skimage's rgb2ycbcr uses the same BT.601 matrix and offset as MATLAB's rgb2ycbcr
    for shape in [(17, 23, 3), (4, 9, 11, 3)]:
        img = RNG.random(shape)
        y = rgb_to_y(img)
        assert y.shape == shape[:-1] + (1,)
        np.testing.assert_allclose(y[..., 0], rgb2ycbcr(img)[..., 0] / 255, rtol=0, atol=1e-12)


def test_rgb_to_y_closed_form_and_passthrough():
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0, 0] == pytest.approx(16 / 255)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0, 0] == pytest.approx(235 / 255)
    assert rgb_to_y(np.array([[[1.0, 0, 0]]]))[0, 0, 0] == pytest.approx((16 + 65.481) / 255)
    gray = RNG.random((5, 6, 1)).astype(np.float32)
    assert rgb_to_y(gray) is gray
    assert rgb_to_y(RNG.random((5, 6, 3)).astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError):
        rgb_to_y(RNG.random((5, 6, 4)))
    with pytest.raises(TypeError):
        rgb_to_y(np.zeros((5, 6, 3), np.uint8))


# ----------------------------------------------------------------------------------- PSNR


@pytest.mark.parametrize("shape", [(31, 29), (31, 29, 1), (31, 29, 3)])
def test_psnr_matches_skimage(shape):
    a = RNG.random(shape)
    b = np.clip(a + RNG.normal(0, 0.1, shape), 0, 1)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-10)
    assert psnr(a.astype(np.float32), b.astype(np.float32)) == pytest.approx(
        peak_signal_noise_ratio(a.astype(np.float32), b.astype(np.float32), data_range=1.0), abs=1e-4)
    assert psnr(a * 255, b * 255, data_range=255) == pytest.approx(psnr(a, b), abs=1e-10)


@pytest.mark.parametrize("d", [1 / 255, 0.01, 0.1])
def test_psnr_constant_offset_closed_form(d):
    a = np.full((20, 24, 3), 0.4)
    assert psnr(a, a + d) == pytest.approx(20 * math.log10(1 / d), abs=1e-9)


def test_psnr_crop_removes_exactly_the_border():
    a = np.full((30, 40, 3), 0.5)
    b = a + 0.02
    b[:4] = b[-4:] = b[:, :4] = b[:, -4:] = 0.0  # a wrong 4-pixel frame
    assert psnr(a, b, crop=4) == pytest.approx(20 * math.log10(1 / 0.02), abs=1e-9)
    assert psnr(a, b, crop=3) < psnr(a, b, crop=4) - 10
    with pytest.raises(ValueError, match="crop"):
        psnr(a, b, crop=15)
    with pytest.raises(ValueError, match="crop"):
        psnr(a, b, crop=-1)


def test_psnr_y_channel_closed_form():
    # the same offset d on R, G and B moves Y by d * (65.481 + 128.553 + 24.966) / 255 = d * 219/255
    a = np.full((16, 16, 3), 0.3)
    d = 0.05
    assert psnr(a, a + d, y_channel=True) == pytest.approx(20 * math.log10(255 / (219 * d)), abs=1e-9)
    # an error in blue only is weighted by 24.966/255
    b = a.copy()
    b[..., 2] += d
    assert psnr(a, b, y_channel=True) == pytest.approx(20 * math.log10(255 / (24.966 * d)), abs=1e-9)
    # gray input: Y is the image itself
    g = a[..., :1]
    assert psnr(g, g + d, y_channel=True) == pytest.approx(psnr(g, g + d), abs=1e-12)


def test_psnr_round_uint8_then_y_in_float():
    a = np.full((8, 8, 3), 10 / 255)
    b = a.copy()
    b[..., 0] += 0.6 / 255  # rounds to the next 8-bit level in R only
    # rounding: both become integer levels, R differs by exactly 1/255
    assert psnr(a, b, round_uint8=True) == pytest.approx(10 * math.log10(3 * 255**2), abs=1e-9)
    # Y is computed in float from the rounded RGB (not rounded again): dY = 65.481/255 /255
    assert psnr(a, b, round_uint8=True, y_channel=True) == pytest.approx(
        20 * math.log10(255 * 255 / 65.481), abs=1e-9)
    # a sub-level difference vanishes after rounding
    c = a + 0.3 / 255
    assert psnr(a, c, round_uint8=True) == math.inf
    assert psnr(a, c) < math.inf
    # values outside [0, 1] are clipped first, as when saving
    assert psnr(np.full((4, 4, 1), 1.2), np.ones((4, 4, 1)), round_uint8=True) == math.inf


def test_psnr_identical_and_input_checks():
    a = RNG.random((9, 9, 3))
    assert psnr(a, a) == math.inf
    assert psnr(a, a.copy(), y_channel=True, crop=2, round_uint8=True) == math.inf
    with pytest.raises(ValueError, match="shape"):
        psnr(a, a[:8])
    with pytest.raises(ValueError, match="mean_psnr"):
        psnr(a[None], a[None])
    with pytest.raises(TypeError):
        psnr((a * 255).astype(np.uint8), (a * 255).astype(np.uint8))


def test_mean_psnr_is_the_mean_of_per_image_values():
    a = [RNG.random((10, 12, 3)) for _ in range(3)]
    b = [np.clip(x + RNG.normal(0, s, x.shape), 0, 1) for x, s in zip(a, (0.01, 0.05, 0.1))]
    assert mean_psnr(a, b, crop=1) == pytest.approx(np.mean([psnr(x, y, crop=1) for x, y in zip(a, b)]))
    assert mean_psnr(np.stack(a), np.stack(b)) == pytest.approx(np.mean([psnr(x, y) for x, y in zip(a, b)]))
    with pytest.raises(ValueError):
        mean_psnr(a, b[:2])


# ----------------------------------------------------------------------------------- SSIM


def _fspecial_gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """MATLAB fspecial('gaussian', size, sigma), written out in 2-D."""
    r = (size - 1) / 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def _matlab_ssim_index(img1: np.ndarray, img2: np.ndarray) -> float:
    """Line-by-line NumPy transcription of Wang et al.'s ssim_index.m (2-D, [0, 255] scale)."""
    window = _fspecial_gaussian()
    C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filter2_valid(w, x):  # filter2 = correlation = convolution with the rotated kernel
        return convolve2d(x, np.rot90(w, 2), mode="valid")

    mu1, mu2 = filter2_valid(window, img1), filter2_valid(window, img2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = filter2_valid(window, img1 * img1) - mu1_sq
    sigma2_sq = filter2_valid(window, img2 * img2) - mu2_sq
    sigma12 = filter2_valid(window, img1 * img2) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + C1) * (2 * sigma12 + C2)) / ((mu1_sq + mu2_sq + C1) * (sigma1_sq + sigma2_sq + C2))
    return float(ssim_map.mean())


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image with the settings that match ssim_index (float64 on the 0-255 scale)."""
    return float(structural_similarity(
        a.astype(np.float64) * 255, b.astype(np.float64) * 255, data_range=255, gaussian_weights=True,
        sigma=1.5, use_sample_covariance=False, channel_axis=2))


def _cases():
    ast = _astronaut()[100:260, 150:330]
    cam = _camera()[200:330, 180:350]
    rnd = RNG.random((40, 37, 3))
    return {
        "astronaut_noise": (ast, _noisy(ast, 0.08, 1)),
        "astronaut_shift": (ast, np.roll(ast, 1, axis=1)),
        "camera_noise": (cam, _noisy(cam, 0.1, 2)),
        "random": (rnd, np.clip(rnd + RNG.normal(0, 0.2, rnd.shape), 0, 1)),
        "min_size": (rnd[:11, :11], rnd[:11, :11] ** 2),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_ssim_matches_matlab_ssim_index_and_skimage(name):
    a, b = _cases()[name]
    ours = ssim(a, b)
    matlab = float(np.mean([_matlab_ssim_index(a[..., c] * 255, b[..., c] * 255) for c in range(a.shape[2])]))
    assert ours == pytest.approx(matlab, abs=1e-6)
    assert abs(ours - matlab) < 1e-10  # in fact equal to rounding error
    # skimage filters the whole image with reflect padding, then averages the map without a
    # (win_size - 1) // 2 = 5 pixel border: exactly the pixels where the window fits, so the
    # same mean as MATLAB's 'valid' filtering
    assert ours == pytest.approx(_skimage_ssim(a, b), abs=1e-10)


def test_ssim_y_channel_crop_and_rounding_follow_psnr_conventions():
    a = _astronaut()[:120, :140]
    b = _noisy(a, 0.05, 3)
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    want = _matlab_ssim_index(ya[..., 0] * 255, yb[..., 0] * 255)
    assert ssim(a, b, y_channel=True) == pytest.approx(want, abs=1e-10)
    assert ssim(a, b, y_channel=True, crop=4) == pytest.approx(
        _matlab_ssim_index(ya[4:-4, 4:-4, 0] * 255, yb[4:-4, 4:-4, 0] * 255), abs=1e-10)
    ra, rb = (np.floor(np.clip(x, 0, 1) * 255 + 0.5) / 255 for x in (a, b))
    assert ssim(a, b, round_uint8=True) == pytest.approx(_skimage_ssim(ra, rb), abs=1e-10)
    assert ssim(a, b, round_uint8=True, y_channel=True) == pytest.approx(ssim(ra, rb, y_channel=True), abs=1e-12)


def test_ssim_colour_is_mean_of_channels_and_identity_is_one():
    a = _astronaut()[:64, :64]
    b = _noisy(a, 0.1, 4)
    assert ssim(a, b) == pytest.approx(np.mean([ssim(a[..., c], b[..., c]) for c in range(3)]), abs=1e-12)
    assert ssim(a, a) == 1.0
    assert ssim(a[..., 0], a[..., 0]) == 1.0
    assert ssim(a.astype(np.float32), a.astype(np.float32), y_channel=True, crop=3) == 1.0
    assert ssim(a, b) < 1.0
    assert mean_ssim([a, a], [a, b]) == pytest.approx((1 + ssim(a, b)) / 2)


def test_ssim_size_and_type_checks():
    a = RNG.random((20, 20, 1))
    with pytest.raises(ValueError, match="11x11"):
        ssim(a, a, crop=5)
    with pytest.raises(ValueError, match="shape"):
        ssim(a, a[:19])
    with pytest.raises(TypeError):
        ssim(np.zeros((20, 20), np.uint8), np.zeros((20, 20), np.uint8))


def test_ssim_against_an_independent_published_value():
    """camera vs its noisy copy: 0.357959091663361 by the IPOL imdiff implementation.

    Figure and recipe from scikit-image's test suite (test_gaussian_structural_similarity_vs_IPOL,
    value by G. Lee, scikit-image PR #4913): seed 5, sigma 20 on the 0-255 scale, clipped and
    truncated to uint8; Gaussian sigma 1.5 window, K1 = 0.01, K2 = 0.03, L = 255.
    """
    cam = data.camera()
    noise = np.random.RandomState(5).randn(*cam.shape)  # = np.random.seed(5); np.random.randn
    cam_noisy = np.clip(cam + 20.0 * noise, 0, 255).astype(cam.dtype)
    value = ssim(cam.astype(np.float64) / 255, cam_noisy.astype(np.float64) / 255)
    assert value == pytest.approx(0.357959091663361, abs=1e-5)
