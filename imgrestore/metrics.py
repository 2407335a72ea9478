"""PSNR and SSIM with the conventions that reproduce published restoration tables.

Papers differ in four choices, all explicit here: RGB or the luma (Y) of MATLAB's ``rgb2ycbcr``
(BT.601, ``y_channel``); a border of `crop` pixels ignored (SR papers shave the scale factor);
whether both images are first rounded to uint8 as when they are saved (``round_uint8``); and,
for SSIM, MATLAB ``ssim_index`` (Wang et al. 2004): 11x11 Gaussian window with sigma 1.5,
K1 = 0.01, K2 = 0.03, L = 255, statistics only where the window fits inside the image ('valid'
filtering, no padding), mean of the SSIM map. Colour SSIM without ``y_channel`` is the mean of
the per-channel SSIMs. The SSIM itself is scikit-image's ``structural_similarity`` with the
settings that equal ``ssim_index``; this module is the wrapper (Y channel, crop, rounding).

Inputs are float images in [0, 1], H,W or H,W,C; all arithmetic is in float64.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from imgrestore.errors import UserError

# MATLAB rgb2ycbcr, BT.601 for 8-bit video range: Y = 16 + (65.481 R + 128.553 G + 24.966 B)
# with R, G, B in [0, 1] and Y on the 0-255 scale.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
_Y_OFFSET = 16.0 / 255.0

SSIM_WINDOW = 11  # the window skimage builds from sigma 1.5 (truncate 3.5: radius 5)
SSIM_SIGMA = 1.5


class SSIMSizeError(UserError, ValueError):
    """Images smaller than the SSIM window (after the crop): one line on the command line."""


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "__cuda_array_interface__") and hasattr(x, "get"):  # CuPy
        x = x.get()
    return np.asarray(x)


def _check_float(x: np.ndarray, what: str) -> None:
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{what}: expected float pixels in [0, 1], got {x.dtype} "
                        "(convert with imgrestore.io.from_uint)")


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma of MATLAB ``rgb2ycbcr`` on the [0, 1] scale: ``16/255 + (65.481 R + 128.553 G + 24.966 B)/255``.

    `img` is H,W,C or N,H,W,C with C = 3 (returns ...,1) or C = 1 (returned unchanged). The
    result keeps a float32 input's dtype; the weights are applied in float64.
    """
    img = _as_numpy(img)
    _check_float(img, "rgb_to_y")
    if img.ndim < 3 or img.shape[-1] not in (1, 3):
        raise ValueError(f"rgb_to_y: expected H,W,C or N,H,W,C with C = 1 or 3, got shape {img.shape}")
    if img.shape[-1] == 1:
        return img
    y = img.astype(np.float64, copy=False) @ _Y_WEIGHTS + _Y_OFFSET
    return y[..., None].astype(img.dtype, copy=False)


def _prepare(a: Any, b: Any, y_channel: bool, crop: int, round_uint8: bool, what: str,
             data_range: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 H,W,C after rounding, Y conversion and border crop."""
    from imgrestore.guards import metric_pair

    # torch/CuPy to NumPy; uint8, channels-first and 0-255 floats refused (imgrestore.guards)
    a, b = metric_pair(a, b, what, data_range)
    if a.shape != b.shape:
        raise ValueError(f"{what}: images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"{what}: expected one H,W or H,W,C image, got shape {a.shape} "
                         f"(use mean_{what} for a batch)")
    if not isinstance(crop, (int, np.integer)) or crop < 0:
        raise ValueError(f"{what}: crop={crop!r}: expected a non-negative number of pixels")
    h, w = a.shape[:2]
    if 2 * crop >= min(h, w):
        raise ValueError(f"{what}: crop={crop} leaves nothing of a {h}x{w} image")
    out = []
    for x in (a, b):
        x = x.astype(np.float64)
        if round_uint8:  # as saving to an 8-bit file: clip, then round half up to 1/255 levels
            x = np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5) / 255.0
        if y_channel:
            if x.shape[2] not in (1, 3):
                raise ValueError(f"{what}: y_channel needs 1 or 3 channels, got {x.shape[2]}")
            x = rgb_to_y(x)
        if crop:
            x = x[crop : h - crop, crop : w - crop]
        out.append(x)
    return out[0], out[1]


def psnr(
    a: np.ndarray,
    b: np.ndarray,
    *,
    y_channel: bool = False,
    crop: int = 0,
    round_uint8: bool = False,
    data_range: float = 1.0,
) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, MSE over all pixels
    and channels that remain after the border `crop`. Identical images give ``inf``.

    With `round_uint8` both images are clipped and rounded to 8-bit levels first; `y_channel`
    then compares the BT.601 luma computed in float from those levels (the MATLAB
    ``rgb2ycbcr(double(im)/255)`` convention of SR evaluation code).
    """
    x, y = _prepare(a, b, y_channel, crop, round_uint8, "psnr", data_range)
    mse = float(np.mean(np.square(x - y)))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(float(data_range) ** 2 / mse)


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    y_channel: bool = False,
    crop: int = 0,
    round_uint8: bool = False,
) -> float:
    """Mean SSIM by MATLAB ``ssim_index`` (Wang et al. 2004) on the [0, 255] scale.

    The window statistics are taken only where the 11x11 window lies inside the (cropped)
    image, so the map is (H - 10) x (W - 10); the images must be at least 11x11 after `crop`.
    Colour images without `y_channel` give the mean of the per-channel values.
    """
    x, y = _prepare(a, b, y_channel, crop, round_uint8, "ssim")
    if min(x.shape[:2]) < SSIM_WINDOW:
        raise SSIMSizeError(f"ssim: images must be at least {SSIM_WINDOW}x{SSIM_WINDOW} (the Gaussian window) "
                            f"after the crop, got {x.shape[0]}x{x.shape[1]}")
    from skimage.metrics import structural_similarity

    # skimage filters with reflect padding, then averages the map without a 5-pixel border:
    # exactly where the 11x11 window fits, i.e. MATLAB's 'valid' map (tests/test_metrics.py)
    return float(structural_similarity(x * 255.0, y * 255.0, data_range=255.0, gaussian_weights=True,
                                       sigma=SSIM_SIGMA, use_sample_covariance=False, channel_axis=2))


def _pairs(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray, what: str) -> Iterable[tuple[Any, Any]]:
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} images vs {len(b)} references")
    if len(a) == 0:
        raise ValueError(f"{what}: no images")
    return zip(a, b)


def mean_psnr(a: Sequence[np.ndarray] | np.ndarray, b: Sequence[np.ndarray] | np.ndarray, **kwargs: Any) -> float:
    """Mean over image pairs of :func:`psnr` (the per-image average that tables report).

    `a` and `b` are equally long sequences of images (or N,H,W,C batches); `kwargs` go to psnr.
    """
    return float(np.mean([psnr(x, y, **kwargs) for x, y in _pairs(a, b, "mean_psnr")]))


def mean_ssim(a: Sequence[np.ndarray] | np.ndarray, b: Sequence[np.ndarray] | np.ndarray, **kwargs: Any) -> float:
    """Mean over image pairs of :func:`ssim`; `kwargs` go to ssim."""
    return float(np.mean([ssim(x, y, **kwargs) for x, y in _pairs(a, b, "mean_ssim")]))
