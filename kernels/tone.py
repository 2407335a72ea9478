"""A phone camera's finishing steps after demosaic and denoise: highlight tone curve and sharpening.

Array-module generic (NumPy or CuPy, whichever holds the batch): both are a few elementwise
operations and one separable Gaussian, cheap beside the capture, so they need no kernel of
their own. They are not bit-identical across backends (``pow`` and the blur may differ in the
last bit), which is why the moiré plugin is not flagged ``same_on_every_backend``.

Exposure with headroom (see ``docs/moire-calibration.md``): the camera exposes the raw so that a
screen white (mean emission 1 per colour) reads ``e`` < 1, leaving room for the subpixel peaks
and fringes above it, then its tone curve maps scene level ``v = raw / e`` back: the identity up
to ``knee`` (mid-tones keep the screenshot's levels, so a network is not taught to brighten) and
an extended-Reinhard shoulder above it that reaches exactly 1 at the saturation level
``v = 1 / e``, with slope 1 at the knee (no kink).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imgrestore.backend import array_module

# BT.601 luma weights: sharpening acts on luma only, as camera pipelines do (no colour fringes)
LUMA = (0.299, 0.587, 0.114)


def srgb_decode(v: Any) -> Any:
    """sRGB-encoded -> linear light (IEC 61966-2-1), elementwise, in v's array module and dtype.
    The one statement of both curves: moire_numpy's float64 oracle and moire_numba's LUT use them."""
    xp = array_module(v)
    v = xp.clip(v, 0.0, 1.0)
    return xp.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(v.dtype, copy=False)


def srgb_encode(v: Any) -> Any:
    """Linear light -> sRGB-encoded (clipped to [0, 1] first), elementwise."""
    xp = array_module(v)
    v = xp.clip(v, 0.0, 1.0)
    return xp.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055).astype(v.dtype, copy=False)


def shoulder(v: Any, top: Any, knee: Any) -> Any:
    """Highlight roll-off of linear scene levels ``v`` in [0, top]: identity below ``knee``, above
    it knee + (1 - knee) u (1 + u / m^2) / (1 + u) with u = (v - knee) / (1 - knee) and m the u of
    ``top``, so S(top) = 1 and S'(knee) = 1. ``top`` <= 1 (or <= knee) gives the identity
    (clipped at 1). ``top`` and ``knee`` may be arrays broadcasting against ``v`` (one per sample)."""
    xp = array_module(v)
    kn = np.asarray(knee if xp is np else getattr(knee, "get", lambda: knee)())
    if kn.size and (kn.min() < 0.0 or kn.max() >= 1.0):
        raise ValueError(f"shoulder: knee must be in [0, 1), got {kn.min()}..{kn.max()}")
    top = xp.asarray(top, dtype=v.dtype)
    knee = xp.asarray(knee, dtype=v.dtype)
    m = (top - knee) / (1.0 - knee)
    m = xp.where(m > 1e-6, m, 1e-6)
    u = xp.where(v > knee, v - knee, 0.0) / (1.0 - knee)
    rolled = knee + (1.0 - knee) * u * (1.0 + u / (m * m)) / (1.0 + u)
    ident = top <= 1.0
    out = xp.where(v <= knee, v, xp.where(ident, v, rolled))
    return xp.clip(out, 0.0, 1.0).astype(v.dtype, copy=False)


def tone(img: Any, exposure: Any, knee: Any, gain: Any = 1.0) -> Any:
    """sRGB-encoded camera output of a raw exposed at ``exposure`` (N,) per sample -> the tone-mapped
    sRGB image: decode, v = raw / e, :func:`shoulder` (knee (N,) or scalar) up to 1 / e, times the
    output ``gain`` (N,) or scalar (the auto-exposure's brightness bias; > 1 clips the brightest
    whites as phones do), encode. Every e = 1 and gain = 1: unchanged."""
    xp = array_module(img)
    shape = (-1,) + (1,) * (img.ndim - 1)
    n = np.asarray(exposure).shape
    g = np.broadcast_to(np.asarray(gain, np.float32), n).reshape(shape)
    if bool(np.all(np.asarray(exposure) == 1)) and bool(np.all(g == 1)):
        return img
    e = xp.asarray(np.asarray(exposure, np.float32).reshape(shape))
    kn = np.broadcast_to(np.asarray(knee, np.float32), n).reshape(shape)
    lin = srgb_decode(img) / e
    lin = shoulder(lin, 1.0 / e, kn)  # host knee: shoulder checks it there, then uploads it
    if not bool(np.all(g == 1)):
        lin = lin * (g if xp is np else xp.asarray(g))
    return srgb_encode(lin)


def gaussian_blur(plane: Any, sigma: float) -> Any:
    """(H, W) plane blurred by a Gaussian of ``sigma`` pixels (mirror edges), in its array module."""
    xp = array_module(plane)
    if xp is np:
        from scipy.ndimage import gaussian_filter
    else:  # pragma: no cover - needs CuPy
        from cupyx.scipy.ndimage import gaussian_filter
    return gaussian_filter(plane, sigma, mode="mirror", truncate=3.0)


def _per_sample(img: Any, values: Any, step: Any) -> Any:
    """``step(image (H, W, 3), its luma (H, W), value)`` applied to every sample whose value is > 0
    (the others pass through unchanged), results clipped to [0, 1]; `img` itself when none is."""
    xp = array_module(img)
    values = np.asarray(values, np.float64).reshape(-1)
    if not np.any(values > 0):
        return img
    out = img.copy()
    w = xp.asarray(np.array(LUMA, np.float32))
    for s in np.flatnonzero(values > 0):
        out[s] = xp.clip(step(img[s], img[s] @ w, float(values[s])), 0.0, 1.0)
    return out


def chroma_denoise(img: Any, sigma: Any) -> Any:
    """Phone chroma noise reduction: the colour differences Cb, Cr of sRGB images (N, H, W, 3)
    blurred by a Gaussian of ``sigma`` (N,) pixels per sample (0: unchanged), luma kept. It is what
    leaves the soft, large colour blobs of real screen photos: fine colour fringes are averaged
    away, periods well above 2 pi sigma pass."""
    xp = array_module(img)

    def step(x: Any, y: Any, sig: float) -> Any:  # R - Y, G - Y, B - Y blurred = Cb and Cr blurred
        return xp.stack([y + gaussian_blur(x[..., c] - y, sig) for c in range(3)], axis=-1)

    return _per_sample(img, sigma, step)


def sharpen(img: Any, amount: Any, sigma: float) -> Any:
    """Unsharp mask of the luma of sRGB images (N, H, W, 3): img + a (Y - G_sigma * Y), per sample
    amount ``a`` (N,) (0: unchanged), clipped to [0, 1]. The pixels beside a step of height h
    overshoot by a h (1 - Phi(0.5 / sigma)) (0.31 a h at sigma 1; see tests): the halo phones leave."""
    return _per_sample(img, amount, lambda x, y, a: x + np.float32(a) * (y - gaussian_blur(y, sigma))[..., None])
